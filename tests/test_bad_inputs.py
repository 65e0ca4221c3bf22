"""Issue #26: every bad input one line (exit 2, nothing written), every promise kept."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from nrm.cli.main import main
from nrm.run.runner import run_experiment
from nrm.run.spec import RunSpec


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nrm: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def done_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "r"
    spec = RunSpec("C256", "lean", cycles=3, max_agents=4, metrics="fixed",
                   conditions=("ON-ON",))
    assert run_experiment(spec, out, progress=False)["status"] == "complete"
    return out


# ---------------------------------------------------------------- 1. run flags

@pytest.mark.parametrize("flags, named", [
    (["--cycles", "9"], "--cycles"),
    (["--metrics", "live"], "--metrics"),
    (["--seed", "3"], "--seed"),
    (["--cost", "sqlite=false"], "--cost"),
    (["--out", "elsewhere"], "--out"),
    (["--scale", "smoke"], "--scale"),
    (["--max-agents", "7"], "--max-agents"),
    (["--variant", "lean"], "--variant"),
    (["--condition", "ON-ON"], "--condition"),
    (["--cpu-interval", "0"], "--cpu-interval"),
    (["--spec", "s.json"], "--spec"),
    (["--seed", "3", "--cycles", "2"], "--cycles, --seed"),
])
def test_a_resume_refuses_flags_that_would_change_the_run(
        done_run: Path, flags: list[str], named: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(done_run)
    assert main(["run", "--resume", str(done_run), *flags, "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"drop {named}" in line and "run.json" in line
    assert _snapshot(done_run) == before


def test_a_resume_refuses_flags_in_a_real_process(done_run: Path) -> None:
    before = _snapshot(done_run)
    proc = subprocess.run([sys.executable, "-m", "nrm.cli", "run", "--resume", str(done_run),
                           "--cycles", "100"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "drop --cycles" in _one_line(proc.stderr)
    assert _snapshot(done_run) == before


@pytest.mark.parametrize("argv, named", [
    (["run", "C256", "--out", ""], "--out is empty"),
    (["run", "C256", "--out", "  "], "--out is empty"),
    (["run", "--resume", ""], "--resume is empty"),
    (["run", "C256", "--cycles", "2", "--cycles", "3"], "--cycles given more than once"),
    (["run", "C256", "--seed", "1", "--seed", "1"], "--seed given more than once"),
    (["run", "C256", "--uss", "--uss"], "--uss given more than once"),
    (["run", "C256", "--out", "a", "--out", "b"], "--out given more than once"),
    (["run", "C256", "--variant", "lean", "--variant", "lean"], "--variant given"),
    (["run", "C256", "--cpu-interval", "0", "--cpu-interval", "0"], "--cpu-interval given"),
    (["run", "--spec", "a.json", "--spec", "b.json"], "--spec given more than once"),
    (["workers", "C256", "--out", "x", "--scale", "smoke", "--scale", "full"],
     "--scale given more than once"),
    (["dbgrow", "C256", "--out", "x", "--pregrow-db", "1", "--pregrow-db", "2"],
     "--pregrow-db given more than once"),
    (["run", "C256", "--cost", "sqlite=false", "--cost", "sqlite=true"], "sqlite is given twice"),
    (["run", "C256", "--condition", "ON-ON", "--condition", "ON-ON"], "conditions repeat"),
])
def test_one_rule_for_repeated_flags_and_empty_folders(
        argv: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert named in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_collecting_flags_still_collect() -> None:
    from nrm.cli import runflags
    from nrm.cli.main import build_parser

    args = build_parser().parse_args(["run", "C256", "--condition", "ON-ON", "--condition",
                                      "OFF-OFF", "--cost", "sqlite=false", "--cost",
                                      "cumulative_registry=false"])
    spec = runflags.spec_from_flags(args)
    assert set(spec.conditions) == {"ON-ON", "OFF-OFF"}
    assert not spec.costs.sqlite and not spec.costs.cumulative_registry


# ---------------------------------------------------------------- 2. specifications, traces

def _spec_files(root: Path) -> dict[str, Path]:
    files = {
        "null-experiment": b'{"experiment": null}',
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "deep-object": b'{"experiment": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
        "binary": bytes(range(256)),
        "not-utf8": b'\xff\xfe{"experiment": "C256"}',
        "bool-cycles": b'{"experiment": "C256", "cycles": true}',
        "list-variant": b'{"experiment": "C256", "variant": ["lean"]}',
        "number-condition": b'{"experiment": "C256", "conditions": [1]}',
    }
    for name, data in files.items():
        (root / f"{name}.json").write_bytes(data)
    return {name: root / f"{name}.json" for name in files}


@pytest.mark.parametrize("name, fragment", [
    ("null-experiment", "experiment must be a string in a run specification, got null"),
    ("deep", "nested too deeply"),
    ("deep-object", "nested too deeply"),
    ("binary", "binary data"),
    ("not-utf8", "not UTF-8 text"),
    ("bool-cycles", "cycles must be an integer in a run specification, got true"),
    ("list-variant", "variant must be a string in a run specification, got list"),
    ("number-condition", "conditions holds condition names, got 1"),
])
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_bad_spec_files_are_one_line(tmp_path: Path, name: str, fragment: str, how: str) -> None:
    path = _spec_files(tmp_path)[name]
    out = tmp_path / "r"
    argv = [sys.executable, "-m", "nrm.cli", "run", "--spec",
            str(path) if how == "file" else "-", "--out", str(out)]
    proc = subprocess.run(argv, input=path.read_bytes() if how == "stdin" else None,
                          capture_output=True, check=False, timeout=120)
    assert proc.returncode == 2
    assert fragment in _one_line(proc.stderr.decode())
    assert not out.exists()


def _trace(path: Path, count: int, samples: int) -> Path:
    from nrm.sim.metrics import TRACE_FIELDS

    lines = [",".join(TRACE_FIELDS)]
    for seq in range(samples):
        lines.append(f"{seq},ON-ON,20.0,40.0,50.0,{count if seq == 3 else 0},0,200")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("variant", ["lean", "unoptimized"])
@pytest.mark.parametrize("count", [2**63, 2**64, 10**30])
def test_a_trace_counter_beyond_64_bits_is_refused(tmp_path: Path, variant: str, count: int,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    trace = _trace(tmp_path / "t.csv", count, 100)
    out = tmp_path / "r"
    assert main(["run", "C256", "--variant", variant, "--cycles", "5", "--max-agents", "4",
                 "--condition", "ON-ON", "--metrics", f"replay:{trace}", "--cpu-interval", "0",
                 "--out", str(out), "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "t.csv:5" in line and str(count) in line and "64-bit" in line
    assert not out.exists()


@pytest.mark.parametrize("variant", ["lean", "unoptimized"])
def test_the_largest_64_bit_counter_replays(tmp_path: Path, variant: str) -> None:
    base = dict(cycles=5, max_agents=4, conditions=("ON-ON",), cpu_interval=0.0)
    first = tmp_path / "first"
    run_experiment(RunSpec("C256", variant, metrics="fixed", **base), first, progress=False)
    lines = (first / "metrics_trace.csv").read_text().splitlines()
    row = lines[4].split(",")
    row[5] = str(2**63 - 1)
    lines[4] = ",".join(row)
    trace = tmp_path / "t.csv"
    trace.write_text("\n".join(lines) + "\n")
    spec = RunSpec("C256", variant, metrics=f"replay:{trace}", **base)
    assert run_experiment(spec, tmp_path / "r", progress=False)["status"] == "complete"


# ---------------------------------------------------------------- 3. property: a spec or one line

_FIELD_NAMES = ["experiment", "variant", "scale", "cycles", "max_agents", "root_energy",
                "cooldown", "conditions", "seed", "metrics", "costs", "flush_every",
                "arena_every", "io_calls_every", "checkpoint_every", "checkpoint_interval_s",
                "tracemalloc", "uss", "allocator", "gc_mode", "pregrow_db_mb", "bogus"]


def _json_values() -> object:
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["C256", "C259-as-run", "lean", "optimized", "unoptimized", "smoke",
                         "full", "ON-ON", "OFF-OFF", "fixed", "live", "replay:/nonexistent",
                         "pymalloc", "freeze", "sqlite", "cpu_interval", ""]),
        st.text(max_size=6),
    )
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["sqlite", "cpu_interval", "sampling", "x"]), inner,
                        max_size=3)), max_leaves=6)


def test_property_from_dict_gives_a_spec_or_one_error_line() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from nrm.exceptions import NrmError

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(_FIELD_NAMES), _json_values(), max_size=6),
           st.booleans())
    def check(data: dict[str, object], with_experiment: bool) -> None:
        if with_experiment:
            data = {"experiment": "C256", **data}
        try:
            spec = RunSpec.from_dict(data)
        except NrmError as exc:
            assert "\n" not in str(exc) and str(exc)
        else:
            assert RunSpec.from_dict(spec.to_dict()) == spec

    check()


def test_property_run_flags_give_a_spec_or_one_error_line() -> None:
    import argparse

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from nrm.cli import runflags
    from nrm.exceptions import NrmError

    flags = ["--scale", "--variant", "--cycles", "--max-agents", "--condition", "--metrics",
             "--seed", "--cost", "--cpu-interval", "--allocator", "--gc-mode", "--pregrow-db",
             "--flush-every", "--arena-every", "--checkpoint-every", "--out", "--spec"]
    switches = st.booleans()
    words = st.one_of(
        st.sampled_from(["C256", "smoke", "lean", "ON-ON", "fixed", "0", "1", "-1", "3", "1e309",
                         "nan", "", "sqlite=false", "cpu_interval=0", "sampling=x", "=",
                         "malloc", "freeze", "2**64", "18446744073709551617"]),
        st.text(max_size=6))
    parser = argparse.ArgumentParser(exit_on_error=False)
    runflags.add_run_flags(parser)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.none(), st.sampled_from(["C256", "C999", ""])),
           st.lists(st.tuples(st.sampled_from(flags), words), max_size=4),
           st.lists(st.sampled_from(["--tracemalloc", "--uss", "--no-progress"]), max_size=2),
           switches)
    def check(experiment: str | None, pairs: list[tuple[str, str]], bare: list[str],
              spec_first: bool) -> None:
        argv = [] if experiment is None else [experiment]
        for flag, value in pairs:
            if flag == "--spec" and value == "-":
                value = "/nonexistent.json"  # standard input is the test's, not ours
            argv.append(f"{flag}={value}")
        argv += bare
        try:
            args = parser.parse_args(argv)
        except (argparse.ArgumentError, SystemExit):
            return  # argparse's own refusal (its usage line), before any of ours
        try:
            spec = runflags.spec_from_flags(args)
        except NrmError as exc:
            assert "\n" not in str(exc) and str(exc)
        else:
            assert isinstance(spec, RunSpec)

    check()


# ---------------------------------------------------------------- 4. runs that cannot fit or end

@pytest.mark.parametrize("variant", ["lean", "unoptimized"])
def test_a_run_larger_than_the_free_space_is_refused(tmp_path: Path, variant: str) -> None:
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "nrm.cli", "run", "C256", "--variant", variant,
                           "--scale", "smoke", "--cycles", "100000000000000", "--out", str(out)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2
    line = _one_line(proc.stderr)
    assert "PiB" in line and "free" in line and "--force" in line
    assert not out.exists()


@pytest.mark.parametrize("margin, refused", [(-1, True), (0, False), (10**6, False)])
def test_the_room_check_compares_the_estimate_with_the_free_space(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, margin: int, refused: bool) -> None:
    import shutil

    from nrm.exceptions import ParameterError
    from nrm.run import safety

    spec = RunSpec("C256", "lean", scale="smoke", cycles=1000)
    need = safety.estimate_output_bytes(spec)
    assert need > 1000 * 4 * 200  # at least the measured ~230 bytes a cycle and condition
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda _p: usage._replace(free=need + margin))
    if refused:
        with pytest.raises(ParameterError, match="fewer --cycles"):
            safety.check_room(spec, tmp_path / "new" / "r")
    else:
        safety.check_room(spec, tmp_path / "new" / "r")


def test_force_skips_the_room_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from nrm.run import child

    seen: list[RunSpec] = []
    monkeypatch.setattr(child, "run", lambda spec, out, progress: seen.append(spec) or 0)
    argv = ["run", "C256", "--variant", "lean", "--cycles", "100000000000000",
            "--out", str(tmp_path / "r")]
    assert main([*argv, "--force"]) == 0 and seen[0].cycles == 10**14
    assert main(argv) == 2 and len(seen) == 1


@pytest.mark.parametrize("repeats, code", [("1000000000", 2), ("1001", 2), ("3", 0)])
def test_study_plan_repeats_are_bounded(repeats: str, code: int,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "plan", "--scale", "smoke", "--repeats", repeats]) == code
    if code:
        assert "at most 1000" in _one_line(capsys.readouterr().err)


# ------------------------------------------------------- 5. a full disk: "failed" or refused

@pytest.mark.parametrize("size_k", [12, 24, 48, 100, 200])
def test_a_small_disk_gives_run_json_failed_or_a_refusal(tmp_path: Path, size_k: int) -> None:
    import json
    import os

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_k}k",
                                            "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = mnt / "r"
        proc = subprocess.run([sys.executable, "-m", "nrm.cli", "run", "C256", "--variant",
                               "unoptimized", "--cycles", "300", "--max-agents", "8",
                               "--metrics", "fixed", "--cpu-interval", "0", "--out", str(out),
                               "--no-progress", "--force"], capture_output=True, text=True,
                              check=False,
                              timeout=300)
        run_json = out / "run.json"
        if run_json.exists():
            assert json.loads(run_json.read_text())["status"] in ("failed", "complete")
            status = json.loads(run_json.read_text())["status"]
            assert proc.returncode == (0 if status == "complete" else 1), proc.stderr
        else:
            assert proc.returncode == 2 and "reserve" in _one_line(proc.stderr)
            assert not out.exists()
        if proc.returncode:
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
