"""The per-cycle probe: columns, units, blocked time, GC, I/O, periodic readings, missing data."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pandas as pd
import psutil
import pytest

import nrm.instrument.probe as probe_mod
from nrm.instrument.columns import BY_NAME, NAMES
from nrm.instrument.probe import Probe, ProbeError, cpu_frequency, cpu_temperature
from nrm.instrument.runlog import CycleLog

EVERY_CYCLE = {
    "step", "cycle", "wall_s", "cpu_user_s", "cpu_sys_s", "cpu_s", "blocked_s", "elapsed_s",
    "t_unix", "ctx_switches_vol", "ctx_switches_invol", "rss_bytes", "minor_faults",
    "major_faults", "gc0", "gc1", "gc2", "gc_pause_s", "io_read_bytes", "io_write_bytes",
}  # fmt: skip


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def test_rows_have_registry_columns_and_types() -> None:
    with Probe(arena_every=2, io_calls_every=1) as p:
        rows = []
        for i in range(4):
            p.begin_cycle()
            _spin(0.001)
            rows.append(p.end_cycle(condition="ON-OFF", population=5 + i))
    for i, row in enumerate(rows):
        assert set(row) <= set(NAMES)
        assert EVERY_CYCLE | {"io_read_calls", "io_write_calls"} <= set(row)
        assert row["step"] == row["cycle"] == i
        assert row["condition"] == "ON-OFF" and row["population"] == 5 + i
        for name, value in row.items():
            if value is None:
                continue
            dtype = BY_NAME[name].dtype
            expected = {"int": int, "float": (int, float), "str": str}[dtype]
            assert isinstance(value, expected), (name, value)
    # units: seconds are seconds (the body spun ~1 ms), bytes are bytes
    r = rows[1]
    assert 0.0009 < r["wall_s"] < 1.0
    assert r["cpu_s"] == pytest.approx(r["cpu_user_s"] + r["cpu_sys_s"], abs=2e-6)
    assert r["blocked_s"] == pytest.approx(r["wall_s"] - r["cpu_s"])
    assert r["rss_bytes"] == pytest.approx(psutil.Process().memory_info().rss, rel=0.2)
    assert abs(r["t_unix"] - time.time()) < 60
    assert rows[3]["elapsed_s"] > rows[0]["elapsed_s"] > 0
    # arena readings on cycles 0 and 2 only; empty (absent) in between, never carried forward
    assert "frag_ratio" in rows[0] and "frag_ratio" in rows[2]
    assert "frag_ratio" not in rows[1] and "allocated_blocks" not in rows[3]
    assert rows[0]["allocated_blocks"] > 0
    # the first row carries a system reading; the next ones (within 1 s) do not
    assert "load1" in rows[0] and "load1" not in rows[1]


def test_cycles_csv_written_by_probe(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path, flush_every=4, extra_columns=("spawns",)) as log, Probe(log) as p:
        for i in range(10):
            with p.cycle(step=100 + i, condition="OFF-OFF", cycle=i) as c:
                c.add(population=i, spawns=2 * i, commits=1, commit_s=0.002)
            assert c.row is not None and c.row["step"] == 100 + i
    df = pd.read_csv(path)
    assert list(df.columns) == [*NAMES, "spawns"]
    assert df["step"].tolist() == list(range(100, 110))
    assert df["spawns"].tolist() == [2 * i for i in range(10)]
    assert df["commit_s"].tolist() == [0.002] * 10
    assert (df["wall_s"] > 0).all() and df["rss_bytes"].gt(0).all()
    # periodic columns: arena row 0 only (arena_every=100), empty elsewhere
    assert df["frag_ratio"].notna().tolist() == [True] + [False] * 9
    assert df["wall_s"].dtype == float and df["rss_bytes"].dtype == "int64"


_SLEEP_SPIN_SCRIPT = """
import json, time
from nrm.instrument.probe import Probe

with Probe(arena_every=0) as p:
    p.begin_cycle()
    t0 = time.thread_time()
    time.sleep(0.1)
    mine = time.thread_time() - t0
    asleep = p.end_cycle()
    p.begin_cycle()
    end = time.process_time() + 0.1
    while time.process_time() < end:
        pass
    busy = p.end_cycle()
print(json.dumps({"asleep": dict(asleep), "busy": dict(busy), "mine": mine}))
"""


def test_blocked_time_large_when_sleeping_small_when_computing() -> None:
    # the probe reads the whole process's CPU time, and in a pytest-xdist worker another thread
    # (left by an earlier test) may compute while this one sleeps (clean-clone CI: 0.05 s of CPU
    # in a 0.1 s sleep); so, like the I/O test below, the cycles run in a fresh, single-threaded
    # interpreter where all the process's CPU time is the cycle's own
    out = subprocess.run([sys.executable, "-c", _SLEEP_SPIN_SCRIPT], capture_output=True,
                         text=True, check=True)
    got = json.loads(out.stdout)
    asleep, busy, mine = got["asleep"], got["busy"], got["mine"]
    assert mine < 0.05, got  # the sleeping thread itself did not compute
    assert asleep["blocked_s"] > 0.05 and asleep["cpu_s"] < 0.05, got
    assert asleep["ctx_switches_vol"] >= 1  # it gave the CPU away to sleep
    assert busy["cpu_s"] >= 0.1
    assert busy["blocked_s"] == pytest.approx(busy["wall_s"] - busy["cpu_s"])
    # Computing blocks only when other processes take the CPU away (involuntary switches);
    # when nothing did, wall and CPU time agree to well under a millisecond.
    assert busy["blocked_s"] / busy["wall_s"] < asleep["blocked_s"] / asleep["wall_s"]
    if busy["ctx_switches_invol"] == 0:
        assert abs(busy["blocked_s"]) < 0.005


def test_blocked_time_of_a_blocking_cpu_percent_sample() -> None:
    # what the original simulator's metric sampling does each cycle
    with Probe(arena_every=0) as p:
        p.begin_cycle()
        psutil.cpu_percent(interval=0.1)
        row = p.end_cycle()
    assert row["blocked_s"] > 0.05


def test_gc_collections_and_pause_are_seen() -> None:
    with Probe(arena_every=0) as p:
        p.begin_cycle()
        junk = []
        for i in range(2000):  # cycles of garbage for the collector to find
            a: list = [i]
            a.append(a)
            junk.append(a)
        del junk
        gc.collect()
        row = p.end_cycle()
        p.begin_cycle()
        quiet = p.end_cycle()
    assert row["gc2"] >= 1
    assert row["gc_pause_s"] > 0
    assert quiet["gc2"] == 0 and quiet["gc_pause_s"] == 0.0
    # the callback is removed on stop
    assert all(getattr(cb, "__name__", "") != "on_gc" for cb in gc.callbacks)


def test_gc_generation_counts_match_gc_get_stats() -> None:
    gc.disable()  # only the explicit collections below happen
    try:
        before = [s["collections"] for s in gc.get_stats()]
        with Probe(arena_every=0) as p:
            p.begin_cycle()
            gc.collect(0)
            gc.collect(1)
            gc.collect(1)
            gc.collect(2)
            row = p.end_cycle()
        after = [s["collections"] for s in gc.get_stats()]
    finally:
        gc.enable()
    assert [row["gc0"], row["gc1"], row["gc2"]] == [1, 2, 1]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 2, 1]


_IO_SCRIPT = """
import json, os, sys
from pathlib import Path
from nrm.instrument.probe import Probe

def proc_io():
    text = Path("/proc/self/io").read_text()
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}

target = sys.argv[1]
with Probe(arena_every=0, io_calls_every=1) as p:
    p.begin_cycle()
    idle = p.end_cycle()
    p.begin_cycle()
    before = proc_io()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT)
    for _ in range(4):
        os.write(fd, b"x" * 65536)
    os.fsync(fd)
    os.close(fd)
    after = proc_io()
    busy = p.end_cycle()
print(json.dumps({"idle": dict(idle), "busy": dict(busy), "before": before, "after": after}))
"""


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_io_counters_match_proc_self_io(tmp_path: Path) -> None:
    # /proc/self/io counts every thread of the process; under pytest-xdist the worker's
    # channel thread reads its pipe at any moment, so the cycles run in a fresh,
    # single-threaded interpreter where every syscall is the cycle's own.
    out = subprocess.run(
        [sys.executable, "-c", _IO_SCRIPT, str(tmp_path / "blob.bin")],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    idle, busy, before, after = got["idle"], got["busy"], got["before"], got["after"]
    assert idle["io_read_calls"] == 0 and idle["io_write_calls"] == 0  # probe reads excluded
    assert busy["io_write_calls"] == after["syscw"] - before["syscw"] == 4
    # storage bytes (0 on tmpfs, 256 KiB on a disk) agree with the kernel's own counter
    assert busy["io_write_bytes"] == after["write_bytes"] - before["write_bytes"]


def test_io_calls_sampled_every_k_cycles() -> None:
    with Probe(arena_every=0, io_calls_every=3) as p:
        rows = []
        for _ in range(7):
            p.begin_cycle()
            rows.append(p.end_cycle())
    have = ["io_read_calls" in r for r in rows]
    if Path("/proc/self/io").exists():
        assert have == [True, False, False, True, False, False, True]
    assert all("io_write_bytes" in r for r in rows) == os.path.exists("/proc/self")


def test_temperature_missing_is_an_empty_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict:
        raise AttributeError("no sensors on this platform")

    monkeypatch.setattr(psutil, "sensors_temperatures", broken, raising=False)
    assert cpu_temperature() is None
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {}, raising=False)
    assert cpu_temperature() is None
    monkeypatch.delattr(psutil, "sensors_temperatures", raising=False)
    assert cpu_temperature() is None
    monkeypatch.setattr(psutil, "cpu_freq", lambda: None)
    assert cpu_frequency() is None
    with Probe(arena_every=0) as p:
        p.begin_cycle()
        row = p.end_cycle()
    assert row["cpu_temp_c"] is None and row["cpu_freq_mhz"] is None


def test_temperature_picks_highest_cpu_sensor(monkeypatch: pytest.MonkeyPatch) -> None:
    shwtemp = namedtuple("shwtemp", "label current high critical")  # psutil's entry layout
    sensors = {
        "nvme": [shwtemp("Composite", 70.0, None, None)],  # not a CPU sensor: ignored
        "coretemp": [shwtemp("Core 0", 51.0, 80.0, 100.0), shwtemp("Core 1", 56.5, 80.0, 100.0)],
    }
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: sensors, raising=False)
    assert cpu_temperature() == 56.5


def test_system_cpu_pct_is_own_delta_not_psutil_shared_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings = iter([(10.0, 100.0), (40.0, 200.0)])  # 30 busy of 100 -> 30 %
    monkeypatch.setattr(probe_mod, "_cpu_busy_total", lambda: next(readings))
    with Probe(arena_every=0) as p:
        p.begin_cycle()
        row = p.end_cycle()
    assert row["sys_cpu_pct"] == pytest.approx(30.0)


def test_tracemalloc_and_uss_on_arena_rows() -> None:
    import tracemalloc

    assert not tracemalloc.is_tracing()
    with Probe(arena_every=2, tracemalloc=True, uss=True) as p:
        rows = []
        for _ in range(3):
            p.begin_cycle()
            keep = [str(i) for i in range(1000)]
            rows.append(p.end_cycle())
            del keep
    assert not tracemalloc.is_tracing()  # stopped again: we started it
    assert rows[2]["tracemalloc_peak_bytes"] >= rows[2]["tracemalloc_current_bytes"] > 0
    assert "tracemalloc_current_bytes" not in rows[1]
    if rows[0]["uss_bytes"] is not None:
        assert 0 < rows[0]["uss_bytes"] <= rows[0]["rss_bytes"] * 2


def test_misuse_is_a_clear_error(tmp_path: Path) -> None:
    p = Probe(arena_every=0)
    with pytest.raises(ProbeError, match="before start"):
        p.begin_cycle()
    with p:
        with pytest.raises(ProbeError, match="without begin_cycle"):
            p.end_cycle()
        with pytest.raises(ProbeError, match="twice"):
            p.start()
    with pytest.raises(ProbeError, match="arena_every"):
        Probe(arena_every=-1)
    with CycleLog(tmp_path / "c.csv") as log, Probe(log, arena_every=0) as p:
        p.begin_cycle()
        with pytest.raises(Exception, match="extra_columns"):
            p.end_cycle(my_counter=1)


def test_changed_arena_format_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from nrm.instrument.arenas import ArenaStatsError

    def changed() -> None:
        raise ArenaStatsError("sys._debugmallocstats() output lacks the line(s) '# arenas ...'")

    monkeypatch.setattr(probe_mod, "read_arena_stats", changed)
    callbacks = list(gc.callbacks)
    with pytest.raises(ArenaStatsError, match="lacks"):
        Probe(arena_every=10).start()
    assert gc.callbacks == callbacks  # nothing left installed
    with Probe(arena_every=0) as p:  # arena readings off: the probe still works
        p.begin_cycle()
        assert "frag_ratio" not in p.end_cycle()


def test_failed_cycle_leaves_no_row(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path) as log, Probe(log, arena_every=0) as p:
        with p.cycle(cycle=0):
            pass
        with pytest.raises(ZeroDivisionError), p.cycle(cycle=1):
            _ = 1 / 0
        with p.cycle(cycle=2):
            pass
    assert pd.read_csv(path)["cycle"].tolist() == [0, 2]


def test_settings_for_run_json(tmp_path: Path) -> None:
    with CycleLog(tmp_path / "c.csv", flush_every=7, extra_columns=("x",)) as log:
        s = Probe(log, arena_every=25).settings()
    assert s["arena_every"] == 25 and s["flush_every"] == 7 and s["extra_columns"] == ["x"]


def test_own_cost_counts_the_periodic_readings() -> None:
    p = Probe(arena_every=2, system_every_s=3600.0)
    t0 = time.perf_counter()
    with p:
        for _ in range(5):
            p.begin_cycle()
            p.end_cycle()
    elapsed = time.perf_counter() - t0
    cost = p.own_cost()
    # cycles 0, 2 and 4 read the arenas (cycle 0 the system too); 1 and 3 read nothing extra
    assert cost["cycles"] == 5 and cost["periodic_readings"] == 3
    assert 0 < cost["periodic_s"] < elapsed
    with p:  # start() begins a new count
        assert p.own_cost() == {"cycles": 0, "periodic_readings": 0, "periodic_s": 0.0}


def test_measure_overhead_reports_numbers() -> None:
    r = probe_mod.measure_overhead(200, repeat=1, body_objects=10, breakdown=False)
    assert r["per_cycle_us"] > 0 and r["arena_reading_us"] > 0
    assert {"overhead_pct", "overhead_cpu_pct", "system_reading_us"} <= set(r)
