"""Every bad value is refused up front with one line: cost switches by type, finite numbers in
range, flag relations, replay traces read and checked in full, the probe's order of rows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nrm.exceptions import ParameterError, TraceError
from nrm.instrument.probe import Probe, ProbeError
from nrm.instrument.runlog import CycleLog
from nrm.run.runner import RunSpec
from nrm.sim.costs import CPU_INTERVAL_MAX, CostSwitches, parse_cost_overrides, parse_switch
from nrm.sim.metrics import TRACE_FIELDS, ReplaySource, check_trace_plan

# --- cost switches ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item, expected",
    [
        ("sqlite=false", {"sqlite": False}),
        ("sqlite=ON", {"sqlite": True}),
        ("recursive-evolution=0", {"recursive_evolution": False}),
        ("cpu_interval=0.05", {"cpu_interval": 0.05}),
        ("cpu_interval=0", {"cpu_interval": 0.0}),
        ("sampling=per_cycle", {"sampling": "per_cycle"}),
        ("resonance=Vectorized", {"resonance": "vectorized"}),
    ],
)
def test_cost_values_parsed_by_type(item: str, expected: dict) -> None:
    assert parse_cost_overrides([item]) == expected


@pytest.mark.parametrize(
    "item, fragment",
    [
        ("sqlite=maybe", "expected true or false"),
        ("sqlite=", "expected true or false"),
        ("cumulative_registry=2", "expected true or false"),
        ("cpu_interval=inf", "from 0 to"),
        ("cpu_interval=nan", "from 0 to"),
        ("cpu_interval=-0.1", "from 0 to"),
        (f"cpu_interval={CPU_INTERVAL_MAX * 2}", "from 0 to"),
        ("cpu_interval=off", "number of seconds"),
        ("sampling=sometimes", "per_call, per_cycle"),
        ("speed=fast", "unknown cost switch"),
        ("sqlite", "SWITCH=VALUE"),
    ],
)
def test_bad_cost_values_refused(item: str, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment) as err:
        parse_cost_overrides([item])
    assert "\n" not in str(err.value)


def test_cost_switch_twice_is_refused() -> None:
    with pytest.raises(ParameterError, match="twice"):
        parse_cost_overrides(["sqlite=false", "sqlite=true"])
    with pytest.raises(ParameterError, match="unknown cost switch"):
        parse_switch("nope", "1")


@pytest.mark.parametrize(
    "changes",
    [
        {"sqlite": "maybe"},
        {"sqlite": 1},
        {"recursive_evolution": None},
        {"cpu_interval": math.inf},
        {"cpu_interval": math.nan},
        {"cpu_interval": True},
        {"cpu_interval": "0.1"},
        {"cpu_interval": CPU_INTERVAL_MAX + 1},
    ],
)
def test_cost_switches_refuse_wrong_types(changes: dict) -> None:
    with pytest.raises(ParameterError):
        CostSwitches().with_(**changes)


# --- RunSpec --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, fragment",
    [
        ({"cpu_interval": math.inf}, "cpu_interval"),
        ({"cpu_interval": -1.0}, "cpu_interval"),
        ({"cpu_interval": "abc"}, "cpu_interval"),
        ({"checkpoint_every": 7, "flush_every": 50}, "multiple of flush_every"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"checkpoint_interval_s": 0.0}, "checkpoint_interval_s"),
        ({"checkpoint_interval_s": math.nan}, "checkpoint_interval_s"),
        ({"root_energy": math.inf}, "root_energy"),
        ({"root_energy": -5e300}, "root_energy"),
        ({"io_calls_every": -1}, "io_calls_every"),
        ({"flush_every": True}, "flush_every"),
        ({"seed": 2**80}, "seed"),
        ({"tracemalloc": "yes"}, "tracemalloc"),
        ({"costs": {"sqlite": "maybe"}}, "sqlite"),
        ({"metrics": 3}, "metrics"),
    ],
)
def test_runspec_refuses_bad_values(kw: dict, fragment: str) -> None:
    with pytest.raises(ParameterError, match=fragment) as err:
        RunSpec(**{"experiment": "C256", **kw})
    assert "\n" not in str(err.value)


def test_runspec_accepts_a_checkpoint_cadence_that_is_a_multiple() -> None:
    assert RunSpec("C256", flush_every=5, checkpoint_every=10).checkpoint_every == 10


# --- replay traces --------------------------------------------------------------------------

HEADER = ",".join(TRACE_FIELDS)


def _trace(tmp_path: Path, lines: list[str], *, header: str = HEADER) -> Path:
    path = tmp_path / "metrics_trace.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def _rows(cond: str, n: int, start: int = 0) -> list[str]:
    return [f"{start + i},{cond},20.0,40.0,50.0,0,0,200" for i in range(n)]


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("1,OFF-OFF,nan,40.0,50.0,0,0,200", "cpu_percent nan is not a percentage"),
        ("1,OFF-OFF,-5e300,40.0,50.0,0,0,200", r"cpu_percent -5e\+300 is not a percentage"),
        ("1,OFF-OFF,20.0,inf,50.0,0,0,200", "mem_percent inf"),
        ("1,OFF-OFF,20.0,40.0,100.5,0,0,200", "disk_percent 100.5"),
        ("1,OFF-OFF,20.0,40.0,50.0,-1,0,200", "net_sent -1 is negative"),
        ("1,OFF-OFF,20.0,40.0,50.0,0,0,1.5", "not a number"),
        ("1,OFF-OFF,20.0,40.0", "expected 8 fields, found 4"),
        ("7,OFF-OFF,20.0,40.0,50.0,0,0,200", "sequence number 7, expected 1"),
        ("1,SIDEWAYS,20.0,40.0,50.0,0,0,200", "unknown condition"),
    ],
)
def test_trace_fields_checked_with_file_and_line(tmp_path: Path, bad: str, fragment: str) -> None:
    path = _trace(tmp_path, [*_rows("OFF-OFF", 1), bad, *_rows("OFF-OFF", 1, start=2)])
    with pytest.raises(TraceError, match=fragment) as err:
        ReplaySource(path)
    assert str(err.value).startswith(f"{path}:3: ")
    assert "\n" not in str(err.value)


def test_trace_encoding_and_header(tmp_path: Path) -> None:
    path = tmp_path / "metrics_trace.csv"
    path.write_bytes(HEADER.encode() + b"\n0,OFF-OFF,20.0,40.0,50.0,0,0,200\n\xff\xfe\n")
    with pytest.raises(TraceError, match=r"metrics_trace.csv:3: not UTF-8 text \(byte 0xff\)"):
        ReplaySource(path)
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    with pytest.raises(TraceError, match=r":1: binary data"):
        ReplaySource(path)
    with pytest.raises(TraceError, match=r":1: bad header"):
        ReplaySource(_trace(tmp_path, _rows("OFF-OFF", 3), header="a,b,c"))
    with pytest.raises(TraceError, match="holds no samples"):
        ReplaySource(_trace(tmp_path, []))
    path.write_text(HEADER + '\n0,"OFF-OFF\n')
    with pytest.raises(TraceError, match=r"metrics_trace\.csv:"):
        ReplaySource(path)


def test_trace_plan_conditions_order_and_length(tmp_path: Path) -> None:
    conds = ("OFF-OFF", "ON-OFF")
    ok = [*_rows("OFF-OFF", 7), *_rows("ON-OFF", 7, start=7)]
    src = ReplaySource(_trace(tmp_path, ok))
    check_trace_plan(src.path, src.rows, conditions=conds, cycles=5, sampling="per_cycle")
    check_trace_plan(src.path, src.rows, conditions=conds, cycles=500, sampling="per_call")
    with pytest.raises(TraceError, match=r":2: 7 samples for OFF-OFF, too short for the 6 "):
        check_trace_plan(src.path, src.rows, conditions=conds, cycles=6, sampling="per_cycle")
    with pytest.raises(TraceError, match="longer than the 4 planned"):
        check_trace_plan(src.path, src.rows, conditions=conds, cycles=4, sampling="per_cycle")
    with pytest.raises(TraceError, match=r"plans \['ON-OFF'\]"):
        check_trace_plan(src.path, src.rows, conditions=("ON-OFF",), cycles=5,
                         sampling="per_cycle")
    back = [*_rows("OFF-OFF", 3), *_rows("ON-OFF", 3, start=3), *_rows("OFF-OFF", 3, start=6)]
    src = ReplaySource(_trace(tmp_path, back))
    with pytest.raises(TraceError, match="in that order"):
        check_trace_plan(src.path, src.rows, conditions=conds, cycles=1, sampling="per_call")
    src = ReplaySource(_trace(tmp_path, _rows("OFF-OFF", 2)))
    with pytest.raises(TraceError, match="at least 3"):
        check_trace_plan(src.path, src.rows, conditions=("OFF-OFF",), cycles=1,
                         sampling="per_call")


# --- the probe's API ------------------------------------------------------------------------


def test_probe_refuses_a_missing_or_closed_log(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"Probe\(None\): the log is missing"):
        Probe(None)
    with pytest.raises(ProbeError, match=r"expected a nrm\.instrument\.runlog\.CycleLog"):
        Probe(tmp_path / "cycles.csv")  # type: ignore[arg-type]
    log = CycleLog(tmp_path / "cycles.csv")
    log.close()
    with pytest.raises(ProbeError, match="is closed"):
        Probe(log)
    Probe()  # no log at all: rows are only returned


@pytest.mark.parametrize(
    "rows, fragment",
    [
        ([{"cycle": 0}, {"cycle": 0}], "cycle numbers must increase"),
        ([{"cycle": 3}, {"cycle": 2}], "cycle numbers must increase"),
        ([{"step": 5, "cycle": 0}, {"step": 5, "cycle": 1}], "steps must increase"),
        ([{"step": 5}, {"step": 4}], "steps must increase"),
        ([{"cycle": "1"}], "cycle must be an integer"),
        ([{"step": 1.0}], "step must be an integer"),
        ([{"step": True}], "step must be an integer"),
    ],
)
def test_probe_refuses_rows_out_of_order(tmp_path: Path, rows: list[dict], fragment: str) -> None:
    log = CycleLog(tmp_path / "cycles.csv", flush_every=1)
    with log, Probe(log, arena_every=0) as p, pytest.raises(ProbeError, match=fragment):
        for fields in rows:
            p.begin_cycle()
            p.end_cycle(condition="OFF-OFF", **fields)
    assert log.rows_written == len(rows) - 1  # the refused row is not in the log


def test_probe_cycles_restart_in_a_new_condition(tmp_path: Path) -> None:
    import numpy as np

    with Probe(arena_every=0) as p:
        for step, (cond, cycle) in enumerate([("OFF-OFF", 0), ("OFF-OFF", 1), ("ON-OFF", 0)]):
            p.begin_cycle()
            row = p.end_cycle(step=step, condition=cond, cycle=cycle)
            assert row["cycle"] == cycle
        p.begin_cycle()
        p.end_cycle(step=np.int64(10), condition="ON-OFF", cycle=np.int64(1))  # numpy ints ok
