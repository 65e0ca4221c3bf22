"""Property-based fuzzing (Hypothesis) of what a user hands ``nrm run``: replay traces and flag
values. For every input: no traceback, and either a run (valid input) or a one-line error with
exit status 2 and no run folder (invalid input)."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nrm.cli.main import main
from nrm.sim.metrics import TRACE_FIELDS

pytestmark = pytest.mark.slow

CYCLES = 2
BASE = ["run", "C256", "--variant", "lean", "--cycles", str(CYCLES), "--max-agents", "3",
        "--condition", "OFF-OFF", "--metrics", "fixed", "--cpu-interval", "0", "--flush-every",
        "1", "--no-progress"]
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
_N = itertools.count()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _nrm(root: Path, argv: list[str]) -> tuple[int, str, Path]:
    """Run ``nrm`` in this process into a fresh --out; returns (exit, stderr, out)."""
    out = root / f"run{next(_N)}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main([*argv, "--out", str(out)])  # any exception here fails the test
    return rc, err.getvalue(), out


def _check(rc: int, err: str, out: Path) -> None:
    assert "Traceback" not in err
    if rc == 0:
        return
    assert rc == 2, err
    lines = err.strip().splitlines()
    # our errors are one line; argparse's own are its usage line plus one error line
    assert lines and lines[-1].startswith(("nrm: error:", "nrm run: error:")), err
    assert len(lines) == 1 or lines[0].startswith("usage:"), err
    assert not out.exists(), f"{out} created for an invalid input: {err}"


# --- replay traces --------------------------------------------------------------------------

_GOOD = ["20.0", "40.0", "50.0", "0", "0", "200"]
_cell = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-5e300", "1e309", "100.5", "-0.1", "", " ", "1.5",
                     "0x10", "NaN", "1_000", "−3", "\u00a0", '"', "a,b", "20.0\n1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=6),
)


@st.composite
def traces(draw: st.DrawFn) -> bytes:
    """A valid 4-sample trace for the plan, then one or more mutations."""
    rows = [[str(i), "OFF-OFF", *_GOOD] for i in range(CYCLES + 2)]
    header = ",".join(TRACE_FIELDS)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["cell", "drop", "extra", "cond", "seq", "header"]))
        i = draw(st.integers(0, len(rows) - 1)) if rows else 0
        if kind == "cell" and rows:
            rows[i][draw(st.integers(2, 7))] = draw(_cell)
        elif kind == "drop" and rows:
            rows.pop(i)
        elif kind == "extra":
            rows.append([str(len(rows)), "OFF-OFF", *_GOOD])
        elif kind == "cond" and rows:
            rows[i][1] = draw(st.sampled_from(["ON-ON", "off-off", "", "OFF-OFF "]))
        elif kind == "seq" and rows:
            rows[i][0] = draw(_cell)
        elif kind == "header":
            header = draw(st.sampled_from(["", "seq,condition", header.upper(), header + ",x"]))
    text = "\n".join([header, *(",".join(r) for r in rows)]) + "\n"
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):  # sometimes binary garbage somewhere
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]
    return data


@FUZZ
@given(data=traces())
def test_fuzzed_replay_traces(root: Path, data: bytes) -> None:
    path = root / f"trace{next(_N)}.csv"
    path.write_bytes(data)
    rc, err, out = _nrm(root, [*BASE, "--variant", "optimized", "--metrics", f"replay:{path}"])
    _check(rc, err, out)


# --- flag values ----------------------------------------------------------------------------

_value = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "1e309", "-1", "0", "1", "7", "50", "1e6", "0x10",
                     "", " ", "true", "maybe", "2**64", "18446744073709551617", "0.0001"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=8),
)
_FLAGS = ["--cpu-interval", "--flush-every", "--checkpoint-every", "--arena-every", "--seed",
          "--cycles", "--max-agents", "--cost", "--condition", "--variant", "--metrics"]
_SWITCHES = ["sqlite", "cpu_interval", "sampling", "resonance", "recursive_evolution", "bogus"]


def _quick_if_valid(flag: str, value: str) -> bool:
    """Keep a valid value from making the run long (cycles, agents, blocking samples)."""
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return True
    if flag in ("--cycles", "--max-agents"):
        return not (math.isfinite(number) and number > 5)
    if flag == "--cpu-interval" or value.startswith("cpu_interval="):
        return not (math.isfinite(number) and number > 0.001)
    return True


@FUZZ
@given(picks=st.lists(st.tuples(st.sampled_from(_FLAGS), _value, st.sampled_from(_SWITCHES)),
                      min_size=1, max_size=3))
def test_fuzzed_flag_values(root: Path, picks: list[tuple[str, str, str]]) -> None:
    extra: list[str] = []
    for flag, value, switch in picks:
        if flag == "--cost":
            value = f"{switch}={value}"
            assume(switch != "cpu_interval" or _quick_if_valid("--cpu-interval",
                                                               value.split("=", 1)[1]))
        assume(_quick_if_valid(flag, value))
        extra.append(f"{flag}={value}")  # '=' so that a value like '-5' reaches the check
    rc, err, out = _nrm(root, [*BASE, *extra])
    _check(rc, err, out)
