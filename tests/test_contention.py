"""The contention arm (H1, issue #23): real competing processes, no orphans, the dose-response
statistic on planted data, and H1 "not testable" without the arm."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from nrm.run.spec import RunSpec
from nrm.stats.verdict import EQUIVALENT, NOT_TESTABLE, SUPPORTED
from nrm.study import analysis as A
from nrm.study import contention as C
from nrm.study import contention_analysis as CA
from nrm.study import sweep as S

linux = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG, affinity: Linux")


def _spec(tmp: Path, cycles: int = 300) -> Path:
    path = tmp / f"spec-{cycles}.json"
    path.write_text(
        RunSpec("C256", "lean", metrics="fixed", cycles=cycles, max_agents=10, seed=0).to_json(),
        encoding="utf-8",
    )
    return path


def _argv(spec: Path, out: Path, kind: str, n: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nrm.cli",
        "contention",
        "--spec",
        str(spec),
        "--out",
        str(out),
        "--no-progress",
        "--kind",
        kind,
        "--competitors",
        str(n),
        *extra,
    ]


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def _wait_gone(pids: list[int], timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _gone(pids):
            return True
        time.sleep(0.05)
    return _gone(pids)


def _per_unit(run: Path) -> tuple[float, float]:
    """Time per agent-cycle and the run's CPU-time share of its wall time."""
    c = pd.read_csv(run / "cycles.csv")
    return float(c["wall_s"].sum() / c["population"].sum()), float(
        c["cpu_s"].sum() / c["wall_s"].sum()
    )


@linux
def test_competing_busy_loops_on_the_runs_core_raise_its_time_per_unit(tmp_path: Path) -> None:
    """The run and its competitors pinned to one core: two busy loops take about two thirds of
    it, whatever else loads the machine (measured under load 15: 2.9-3.2 times the time per
    agent-cycle of the run alone on that core)."""
    cpu = min(os.sched_getaffinity(0))
    spec = _spec(tmp_path, 100)
    units: dict[int, list[float]] = {0: [], 2: []}
    shares: dict[int, list[float]] = {0: [], 2: []}
    for i, n in enumerate((0, 2, 2, 0)):  # ABBA: a steady change of the machine's load cancels
        out = tmp_path / f"r{n}-{i}"
        proc = subprocess.run(
            _argv(spec, out, "cpu", n, "--pin", str(cpu)),
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        unit, share = _per_unit(out)
        units[n].append(unit)
        shares[n].append(share)
    # alone with L other tasks on the core the run gets 1/(L+1) of it, beside two busy loops
    # 1/(L+3): at least 1.2 times the time per unit for any L <= 9
    assert sum(units[2]) > 1.2 * sum(units[0]), units
    assert sum(shares[2]) < sum(shares[0]), shares
    (tmp_path / "r2").symlink_to(tmp_path / "r2-1")
    meta = json.loads((tmp_path / "r2" / "run.json").read_text(encoding="utf-8"))
    rec = meta["contention"]
    assert rec["kind"] == "cpu" and rec["competitors"] == 2 and rec["pin"] == [cpu]
    procs = rec["processes"]
    assert [p["pid"] for p in procs] == rec["pids"] and all(p["alive"] for p in procs)
    run_cpu = meta["totals"]["cpu_s"]
    assert sum(p["cpu_s"] for p in procs) > run_cpu  # they took their share of the core
    assert _wait_gone(rec["pids"])  # and were stopped after the run


@linux
def test_no_competitor_survives_an_exception(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), C.Competitors("cpu", 2, tmp_path / "s") as comp:
        pids = comp.pids
        assert len(pids) == 2 and not comp.dead()
        raise RuntimeError("boom")
    assert _wait_gone(pids, timeout=5)
    scratch = tmp_path / "io"
    scratch.mkdir()
    with C.Competitors("io", 1, scratch) as comp:
        time.sleep(0.3)
        [reading] = comp.readings()
    assert reading["alive"] and reading["write_bytes"] is not None
    assert _wait_gone(comp.pids, timeout=5) and not scratch.exists()  # its file removed too


def _children_of(pid: int, n: int, timeout: float = 30.0) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            kids = [c.pid for c in psutil.Process(pid).children()]
        except psutil.NoSuchProcess:
            return []
        if len(kids) >= n:
            return kids
        time.sleep(0.02)
    raise AssertionError(f"the runner {pid} never started {n} competitors")


@linux
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_orphans_when_the_runner_is_stopped(tmp_path: Path, sig: int) -> None:
    """SIGTERM (a cancelled Dask task): the runner's ``finally`` kills them; SIGKILL: they die
    with it (PR_SET_PDEATHSIG)."""
    proc = subprocess.Popen(
        _argv(_spec(tmp_path, 100_000), tmp_path / "r", "cpu", 2),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        kids = _children_of(proc.pid, 2)
        time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert _wait_gone(kids), kids
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@linux
def test_a_competitor_that_dies_early_fails_the_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = subprocess.Popen(
        _argv(_spec(tmp_path, 1000), out, "io", 2),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        kids = _children_of(proc.pid, 2)
        end = time.monotonic() + 60
        while not (out / "run.json").is_file() and time.monotonic() < end:
            time.sleep(0.02)  # the run has begun
        os.kill(kids[0], signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert meta["status"] == "failed" and str(kids[0]) in meta["error"]
    assert not S.run_complete(out)  # the sweep will not count it
    assert _wait_gone(kids)


def test_bad_contention_flags_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    argv = _argv(_spec(tmp_path), tmp_path / "r", "cpu", -1)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "--competitors" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_the_plan_holds_the_contention_arms_with_their_runner(tmp_path: Path) -> None:
    plan = S.build_plan("smoke")
    arms = {a.label: a for a in plan.arms if a.group == C.PREFIX}
    assert set(arms) == {C.BASE, C.AA} | {f"contention-{k}-{n}" for k in C.KINDS for n in (1, 2, 4)}
    task = next(t for t in plan.tasks() if t.arm == "contention-io-4")
    argv = S.task_command(plan, task, tmp_path, tmp_path / "trace.csv")
    assert argv[3] == "contention" and argv[-4:] == ["--kind", "io", "--competitors", "4"]
    lean = plan.arm("base-lean")
    assert arms[C.BASE].cycles == lean.cycles and arms[C.BASE].run == lean.run


# ------------------------------------------------------------------------------ the statistic
def _synthetic(
    slope: dict[str, float], rise: float, *, blocks: int = 8, seed: int = 3, noise: float = 0.03
) -> A.StudyData:
    """Contention runs with a planted log slope per competitor (per kind) and base runs whose
    load1 rises by ``rise`` over the run; a large drift between blocks."""
    plan = S.build_plan("smoke", repeats=blocks)
    rng = np.random.default_rng(seed)
    rows, frames = [], {}
    pop = np.full(40, 6)
    for b in range(blocks):
        drift = math.exp(rng.normal(0, 0.3))
        arms = [(C.BASE, "cpu", 0), (C.AA, "cpu", 0)] + [
            (C.arm_label(k, n), k, n) for k in C.KINDS for n in C.DOSES[1:]
        ]
        for arm, kind, n in arms:
            name = S.run_name(arm, b)
            unit = 1e-4 * drift * math.exp(slope[kind] * n + rng.normal(0, noise))
            frames[name] = pd.DataFrame({"wall_s": unit * pop, "population": pop})
            rows.append({"name": name, "arm": arm, "block": b})
        for arm in ("base-lean", "base-unoptimized"):
            name = S.run_name(arm, b)
            level = 1 + rng.uniform(0, 2)
            load = level + rise * np.linspace(0, 1, 40) + rng.normal(0, 0.05, 40)
            frames[name] = pd.DataFrame(
                {"wall_s": np.full(40, 1e-3), "population": pop, "load1": load}
            )
            rows.append({"name": name, "arm": arm, "block": b})
    return A.StudyData(None, plan, pd.DataFrame(rows), frames, {})  # type: ignore[arg-type]


def test_a_planted_slope_is_recovered_within_its_interval() -> None:
    data = _synthetic({"cpu": 0.10, "io": 0.0}, rise=0.0)
    table = CA.slope_table(data).set_index("kind")
    cpu, io = table.loc["cpu"], table.loc["io"]
    assert cpu["n"] == 8 and cpu["slope_lo"] < 0.10 < cpu["slope_hi"] and cpu["slope_lo"] > 0.05
    assert io["slope_lo"] < 0 < io["slope_hi"]
    assert math.isclose(cpu["pct_per_competitor"], 100 * (math.exp(0.10) - 1), abs_tol=3)
    doses = CA.dose_effects(CA.dose_table(data)).set_index("arm")
    assert doses.loc["contention-cpu-4", "verdict"] == "slower"
    assert doses.loc["contention-io-4", "verdict"] == A.WITHIN_NOISE
    assert doses.loc[C.AA, "kind"] == "A/A"


def test_h1_weighs_the_slope_by_the_load_rise_of_the_base_runs() -> None:
    flat = CA.h1_row(_synthetic({"cpu": 0.10, "io": 0.01}, rise=0.0))
    assert flat["verdict"] == EQUIVALENT and flat["n"] == 8  # no rise: nothing to explain
    rising = CA.h1_row(_synthetic({"cpu": 0.10, "io": 0.01}, rise=2.0))
    assert rising["verdict"] == SUPPORTED, rising  # 2 more competitors x +10.5 % each
    assert "cpu: +10." in rising["statistic"] and "explained [" in rising["ci"]


def test_h1_is_not_testable_without_the_contention_arm_or_with_too_few_blocks() -> None:
    data = _synthetic({"cpu": 0.1, "io": 0.1}, rise=1.0)
    data.plan = S.build_plan("smoke", arms=["base-lean"])
    row = CA.h1_row(data)
    assert row["verdict"].startswith(f"{NOT_TESTABLE}: no contention arm")
    short = _synthetic({"cpu": 0.1, "io": 0.1}, rise=1.0, blocks=2)
    assert (
        CA.h1_row(short)["verdict"] == f"{NOT_TESTABLE}: too few blocks (2 complete; a "
        "verdict needs 3)"
    )
