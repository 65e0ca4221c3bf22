"""The causal study's plan and sweep (nrm/study/sweep.py): arms, order, shared trace, restarts,
Dask."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from nrm.cli.main import main as cli_main
from nrm.exceptions import NrmError, ParameterError
from nrm.sim.costs import CostSwitches
from nrm.sim.metrics import CycleReplaySource
from nrm.sim.model import Reality
from nrm.study import sweep as S
from nrm.study.arms import TRACE_METRICS
from nrm.study.cluster import CONNECT_TIMEOUT_S


def _write_trace(path: Path, conditions: dict[str, int]) -> None:
    """A per-cycle trace: per condition 2 set-up rows then one row per cycle, cpu = index."""
    lines = ["seq,condition,cpu_percent,mem_percent,disk_percent,net_sent,net_recv,n_pids"]
    seq = 0
    for cond, cycles in conditions.items():
        for i in range(cycles + 2):
            lines.append(f"{seq},{cond},{float(i)!r},40.0,50.0,0,0,200")
            seq += 1
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------ plan
def test_plan_has_every_switch_allocator_gc_aa_and_headline_arm() -> None:
    plan = S.build_plan("smoke")
    labels = {a.label for a in plan.arms}
    skipped = {s.label for s in plan.skipped}
    switches = [f for f in CostSwitches.__dataclass_fields__]
    for base, verb in (("unoptimized", "off"), ("lean", "on")):
        assert {f"base-{base}", f"aa-{base}", f"{base}-gc-disable", f"{base}-gc-freeze"} <= labels
        for alloc in ("pymalloc", "malloc", "jemalloc", "mimalloc"):
            assert f"{base}-alloc-{alloc}" in labels
        for sw in switches:
            label = f"{base}-{verb}-{sw.replace('_', '-')}"
            assert (label in labels) != (label in skipped), label
    # the combinations CostSwitches refuses are listed with the reason
    reasons = {s.label: s.reason for s in plan.skipped}
    assert "refuses" in reasons["unoptimized-off-resonance"]
    assert "refuses" in reasons["lean-on-sqlite"]
    assert {"C255-unoptimized", "C256-optimized", "C257-optimized"} <= labels
    aa = plan.arm("aa-lean")
    assert aa.run == plan.arm("base-lean").run and aa.cycles == plan.arm("base-lean").cycles
    assert plan.arm("unoptimized-off-recursive-evolution").changes_dynamics
    # an effect is read against its base; allocators against pymalloc in a child as well
    assert plan.arm("lean-alloc-jemalloc").base == "lean-alloc-pymalloc"
    assert plan.arm("lean-alloc-pymalloc").base == "base-lean"


def test_missing_allocator_is_not_available_and_never_replaced(monkeypatch) -> None:
    import nrm.instrument.allocator as A

    monkeypatch.setattr(A, "available", lambda: {"pymalloc": True, "malloc": True,
                                                 "jemalloc": False, "mimalloc": True})
    plan = S.build_plan("smoke")
    arm = plan.arm("unoptimized-alloc-jemalloc")
    assert not arm.available and "not available" in arm.note
    assert arm.run["allocator"] == "jemalloc"
    assert all("unoptimized-alloc-jemalloc" not in b for b in plan.blocks)
    assert "NOT AVAILABLE" in S.format_plan(plan)


def test_randomized_order_is_reproducible_from_its_seed() -> None:
    a, b = S.build_plan("smoke", seed=7), S.build_plan("smoke", seed=7)
    assert a.blocks == b.blocks and a.tasks() == b.tasks()
    c = S.build_plan("smoke", seed=8)
    assert c.blocks != a.blocks
    for i, block in enumerate(a.blocks):  # every block: every available arm exactly once,
        # the long arms (``repeats``) only in the first blocks
        labels = sorted(x.label for x in a.arms
                        if x.available and (x.repeats is None or i < x.repeats))
        assert sorted(block) == labels
    assert any(x.repeats for x in a.arms) and len(set(map(len, a.blocks))) > 1
    assert a.blocks[0] != a.blocks[1]  # shuffled per block
    d = S.StudyPlan.from_dict(json.loads(json.dumps(a.to_dict())))
    assert d.blocks == a.blocks and d.to_dict() == a.to_dict()


def test_plan_rejects_bad_input() -> None:
    with pytest.raises(ParameterError):
        S.build_plan("huge")
    with pytest.raises(ParameterError):
        S.build_plan("smoke", repeats=0)
    with pytest.raises(ParameterError):
        S.build_plan("smoke", arms=["no-such-arm"])


def test_command_arms_take_placeholders(tmp_path: Path) -> None:
    arm = S.Arm("ctl", "control", "a control", command=("{python}", "-m", "x", "--out", "{out}",
                                                        "--trace", "{trace}"))
    plan = S.build_plan("smoke", arms=["base-lean"])
    plan = replace(plan, arms=(*plan.arms, arm))
    argv = S.task_command(plan, S.RunTask("ctl__b00", "ctl", 0, 0), tmp_path, tmp_path / "t.csv")
    assert argv[0] == sys.executable and argv[4] == str(tmp_path / "runs" / "ctl__b00")
    assert argv[-1] == str(tmp_path / "t.csv")
    with pytest.raises(ParameterError):
        S.Arm("bad__label", "x", "y", run={})


def test_a_bad_arm_delta_is_refused_when_the_plan_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = S.Arm("bad", "switch-off", "no such switch", base="base-lean", aa="aa-lean",
                run={"experiment": "C256", "variant": "lean", "costs": {"no_such": True}})
    real = S.build_arms
    monkeypatch.setattr(S, "build_arms", lambda sc: (real(sc)[0] + [bad], real(sc)[1]))
    with pytest.raises(ParameterError, match="arm 'bad'"):
        S.build_plan("smoke")


def test_plan_json_holds_every_runs_full_spec() -> None:
    from nrm.run.spec import RunSpec

    plan = S.build_plan("smoke", model_seed=7)
    d = plan.to_dict()
    assert [r["name"] for r in d["runs"]] == [t.name for t in plan.tasks()]
    for r in d["runs"]:
        arm = plan.arm(r["arm"])
        if arm.run is None:
            assert r["spec"] is None
            continue
        spec = RunSpec.from_dict(r["spec"])
        assert spec.to_dict() == r["spec"] and spec.seed == 7
        # the long arms (issue #23) sample live metrics: psutil is their mechanism; so does the
        # metrics-live arm (issue #24: the live sample's cost on disk)
        live = arm.runner == "longrun" or arm.label == "unoptimized-metrics-live"
        want = "live" if live else TRACE_METRICS
        assert spec.metrics == want and spec.scale is None
        assert (spec.cycles, spec.max_agents) == (arm.cycles, arm.max_agents)
    assert S.StudyPlan.from_dict(d).to_dict() == d


# ------------------------------------------------------------------------ cycle replay
def test_cycle_replay_gives_every_sample_of_a_cycle_the_recorded_value(tmp_path: Path) -> None:
    trace = tmp_path / "metrics_trace.csv"
    _write_trace(trace, {"OFF-OFF": 5, "ON-ON": 5})
    src = CycleReplaySource(trace)
    reality = Reality(src, condition="ON-ON")  # per_call unless a Simulation says
    assert [reality.baseline().cpu_percent, reality.sample().cpu_percent,
            reality.sample().cpu_percent] == [0.0, 1.0, 1.0]
    for cycle in range(5):
        reality.begin_cycle(cycle)
        assert {reality.sample().cpu_percent for _ in range(7)} == {float(cycle + 2)}
    reality.begin_cycle(5)
    with pytest.raises(NrmError, match="no sample for condition"):
        reality.sample()
    with pytest.raises(NrmError, match="no samples recorded"):
        Reality(src, condition="OFF-ON")


def test_arms_that_sample_differently_see_the_same_values(tmp_path: Path) -> None:
    from nrm.run.runner import RunSpec, run_experiment

    trace = tmp_path / "metrics_trace.csv"
    conds = {c: 8 for c in ("OFF-OFF", "ON-OFF", "OFF-ON", "ON-ON")}
    _write_trace(trace, conds)
    seen = {}
    for variant in ("unoptimized", "optimized"):
        spec = RunSpec("C256", variant=variant, cycles=8, max_agents=5, cpu_interval=0.0,
                       metrics=f"cycle-replay:{trace}")
        run_experiment(spec, tmp_path / variant, progress=False,
                       context={"note": "test"})
        rows = (tmp_path / variant / "metrics_trace.csv").read_text().splitlines()[1:]
        seen[variant] = sorted({(r.split(",")[1], r.split(",")[2]) for r in rows})
    counts = {v: len((tmp_path / v / "metrics_trace.csv").read_text().splitlines())
              for v in seen}
    assert counts["unoptimized"] > counts["optimized"]  # per call: more samples
    assert seen["unoptimized"] == seen["optimized"]  # ... of the same recorded values


# ------------------------------------------------------------------------------ sweeps
@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[S.StudyPlan, Path, dict]:
    """Every arm of the smoke study once (repeats=1) through a real LocalCluster."""
    out = tmp_path_factory.mktemp("study") / "smoke"
    plan = S.build_plan("smoke", repeats=1, seed=3)
    summary = S.run_study(plan, out, workers=1, progress=False)
    return plan, out, summary


@pytest.mark.slow
@pytest.mark.xdist_group("study_smoke")  # one smoke study per test run
def test_smoke_study_through_a_local_cluster_produces_every_arm(smoke_study) -> None:
    plan, out, summary = smoke_study
    available = [a for a in plan.arms if a.available]
    assert summary["runs_complete"] == summary["runs_planned"] == len(available)
    for a in available:
        meta = json.loads((out / "runs" / S.run_name(a.label, 0) / "run.json").read_text())
        assert meta["status"] == "complete", a.label
    recs = {r["name"]: r for r in S.load_records(out)}
    for t in plan.tasks():  # what every run records about its circumstances
        r = recs[t.name]
        assert r["block"] == 0 and r["position"] == t.position and r["host"]
        assert len(r["load_before"]) == 3 and len(r["load_after"]) == 3
        assert r["concurrent_before"] == 0  # one single-threaded worker: runs never overlap
        assert set(r["disk_settle"]) == {"pending_before_kib", "pending_after_kib", "wait_s",
                                         "settled"}
        assert r["started_at"] and r["exit_code"] == 0
    order = sorted(recs.values(), key=lambda r: r["t_start"])
    assert [r["position"] for r in order] == list(range(len(order)))  # ran in the plan's order
    assert (out / "runs.csv").is_file() and (out / "study.json").is_file()


@pytest.mark.slow
@pytest.mark.xdist_group("study_smoke")  # one smoke study per test run
def test_arms_share_one_metrics_trace(smoke_study) -> None:
    plan, out, _ = smoke_study
    trace = out / "trace" / "metrics_trace.csv"
    recorded = {}
    for line in trace.read_text().splitlines()[1:]:
        f = line.split(",")
        recorded.setdefault(f[1], set()).add(tuple(f[2:]))
    for a in plan.arms:
        if not a.available or a.run is None:
            continue
        run = out / "runs" / S.run_name(a.label, 0)
        meta = json.loads((run / "run.json").read_text())
        if a.runner == "longrun":  # the long arms sample live (issue #23), databases in RAM
            assert meta["parameters"]["metrics"] == "live", a.label
            assert meta["storage_where"] == "ram" and not list(run.glob("*.db")), a.label
            continue
        if a.label == "unoptimized-metrics-live":  # live, on disk, with the blocking sample
            assert meta["parameters"]["metrics"] == "live" and list(run.glob("*.db")), a.label
            assert meta["costs"]["cpu_interval"] > 0, a.label
            continue
        assert meta["parameters"]["metrics"] == f"cycle-replay:{trace}", a.label
        # the worker arm's samples are its conditions' (workers/<condition>/)
        conds = meta["parameters"]["conditions"]
        traces = ([run / "workers" / c / "metrics_trace.csv" for c in conds]
                  if a.runner == "workers" else [run / "metrics_trace.csv"])
        for line in (x for p in traces for x in p.read_text().splitlines()[1:]):
            f = line.split(",")
            assert tuple(f[2:]) in recorded[f[1]], (a.label, line)


@pytest.mark.slow
@pytest.mark.xdist_group("study_smoke")  # one smoke study per test run
def test_allocator_arm_proves_from_inside_the_run_its_allocator(smoke_study) -> None:
    plan, out, _ = smoke_study
    for a in plan.arms:
        if a.group != "allocator" or not a.available:
            continue
        meta = json.loads((out / "runs" / S.run_name(a.label, 0) / "run.json").read_text())
        alloc = meta["context"]["allocator"]  # nrm.instrument.allocator.in_force(), read in the run
        want = a.run["allocator"]
        assert alloc["requested"] == want and alloc["matches_request"] is True, alloc
        assert alloc["name"] == want
        assert alloc["pymalloc"] is (want == "pymalloc")
        if want in ("jemalloc", "mimalloc"):
            assert want in (alloc["malloc_library"] or "")


@pytest.mark.slow
@pytest.mark.xdist_group("study_smoke")  # one smoke study per test run
def test_gc_arm_records_its_mode(smoke_study) -> None:
    _plan, out, _ = smoke_study
    meta = json.loads((out / "runs" / S.run_name("lean-gc-freeze", 0) / "run.json").read_text())
    assert meta["gc"]["mode"] == "freeze" and meta["gc"]["frozen"] > 0
    meta = json.loads((out / "runs" / S.run_name("lean-gc-disable", 0) / "run.json").read_text())
    assert meta["gc"]["mode"] == "disable" and meta["gc"]["enabled"] is False


@pytest.mark.slow
def test_restarted_sweep_runs_only_the_missing_runs(tmp_path: Path) -> None:
    out = tmp_path / "st"
    plan = S.build_plan("smoke", repeats=2, arms=["lean-on-sampling"])
    S.run_study(plan, out, progress=False)
    tasks = plan.tasks()
    assert len(tasks) == 6  # the arm, its base and its A/A arm, twice
    started = {t.name: json.loads((out / "runs" / t.name / "run.json").read_text())["started_at"]
               for t in tasks}
    mtimes = {t.name: (out / "records" / f"{t.name}.json").stat().st_mtime_ns for t in tasks}
    # stopped half-way: two runs never started, one left half-written
    gone = [tasks[3].name, tasks[5].name]
    for name in gone:
        (out / "runs" / name).rename(tmp_path / name)
    half = tasks[4].name
    meta_path = out / "runs" / half / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["status"] = "running"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(S.StudyError):  # another plan in the same folder is refused
        S.run_study(S.build_plan("smoke", repeats=3, arms=["lean-on-sampling"]), out,
                    progress=False)
    summary = S.run_study(plan, out, progress=False)
    assert summary["ran_this_sweep"] == 3 and summary["runs_complete"] == 6
    for t in tasks:
        rec = out / "records" / f"{t.name}.json"
        if t.name in [*gone, half]:
            assert rec.stat().st_mtime_ns > mtimes[t.name]
        else:  # untouched: not run again
            assert rec.stat().st_mtime_ns == mtimes[t.name]
            assert json.loads((out / "runs" / t.name / "run.json").read_text())[
                "started_at"] == started[t.name]
    moved = list((out / "runs" / ".superseded").iterdir())
    assert [m.name.startswith(half) for m in moved] == [True]  # moved aside, not deleted
    summary = S.run_study(plan, out, progress=False)  # nothing left to do
    assert summary["ran_this_sweep"] == 0


def test_a_study_made_by_other_code_is_refused_or_moved_aside(tmp_path: Path) -> None:
    out = tmp_path / "st"
    plan = S.build_plan("smoke", repeats=2, arms=["lean-on-sampling"])
    S.ensure_plan(plan, out)
    code = json.loads((out / S.CODE_JSON).read_text())
    assert "nrm/run/runner.py" in code["files"] and "nrm/study/sweep.py" in code["files"]
    assert not any(f.startswith(("nrm/stats/", "nrm/render/")) for f in code["files"])
    S.ensure_plan(plan, out)  # same plan, same code: continues
    code["files"]["nrm/run/runner.py"] = "0" * 32  # as if the simulator had been edited since
    (out / S.CODE_JSON).write_text(json.dumps(code))
    (out / "runs").mkdir()
    (out / "runs" / "keep-me").mkdir()
    with pytest.raises(S.StudyError, match=r"nrm/run/runner\.py changed.*--retire-stale"):
        S.ensure_plan(plan, out)
    assert (out / "runs" / "keep-me").is_dir()  # refused: nothing touched
    S.ensure_plan(plan, out, retire_stale=True)
    moved = list((tmp_path / ".superseded").iterdir())
    assert len(moved) == 1 and (moved[0] / "runs" / "keep-me").is_dir()  # moved, not deleted
    assert not (out / "runs").exists() and S.stale_reasons(plan, out) == []


def test_another_plan_is_named_in_the_refusal(tmp_path: Path) -> None:
    out = tmp_path / "st"
    S.ensure_plan(S.build_plan("smoke", repeats=2, arms=["lean-on-sampling"]), out)
    with pytest.raises(S.StudyError, match=r"another study plan .*repeats"):
        S.ensure_plan(S.build_plan("smoke", repeats=3, arms=["lean-on-sampling"]), out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sweep_on_a_real_scheduler_survives_a_killed_worker(
        tmp_path: Path, dask_pair: Callable[[int], tuple[str, list[subprocess.Popen]]]) -> None:
    addr, workers = dask_pair(2)
    out = tmp_path / "st"
    driver = subprocess.Popen(
        [sys.executable, "-m", "nrm.cli", "study", "run", "--scale", "smoke", "--repeats",
         "3", "--arm", "lean-on-sampling", "--scheduler", addr, "--out", str(out),
         "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # kill the worker running a study run as soon as one is under way (after >= 1 done)
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and time.monotonic() < deadline and driver.poll() is None:
        done = list((out / "records").glob("*.json")) if (out / "records").exists() else []
        claims = list((out / "claims").glob("*.json")) if (out / "claims").exists() else []
        for c in claims if done else []:
            try:
                pid = json.loads(c.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                continue
            for w in workers:
                try:
                    if killed is None and os.getpgid(pid) == w.pid:
                        os.killpg(w.pid, signal.SIGKILL)  # one worker only
                        killed = c.stem
                except ProcessLookupError:
                    pass
        time.sleep(0.05)
    assert killed is not None, "no run was under way to kill its worker"
    try:
        output, _ = driver.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        driver.kill()
        output, _ = driver.communicate()
        pytest.fail("the sweep did not finish after a worker was killed:\n" + output[-4000:])
    assert driver.returncode == 0, output
    plan = S.load_plan(out)
    names = [t.name for t in plan.tasks()]
    complete = [p.parent.name for p in (out / "runs").glob("*/run.json")
                if S.run_complete(p.parent)]
    assert sorted(complete) == sorted(names)  # every run exactly once
    superseded = out / "runs" / ".superseded"
    retired = list(superseded.iterdir()) if superseded.exists() else []
    assert all(not S.run_complete(r) for r in retired)  # no second complete copy
    assert all(r.name.startswith(killed) for r in retired)
    recs = S.load_records(out)
    assert sorted(r["name"] for r in recs) == sorted(names)
    assert all(r["complete"] for r in recs)


# ------------------------------------------------------------------------ paper section
def test_paper_section_says_so_when_there_is_no_study(tmp_path: Path) -> None:
    from nrm.render.sections.study import section

    md, figs = section(tmp_path / "study", tmp_path / "paper")
    assert figs == {} and "No causal study has been analysed" in md and "make study" in md


@pytest.mark.slow
@pytest.mark.xdist_group("study_smoke")  # one smoke study per test run
def test_study_notebook_and_paper_section_from_the_smoke_study(smoke_study,
                                                               tmp_path: Path) -> None:
    import pandas as pd

    from nrm.build import notebooks as N
    from nrm.render.sections.study import section

    plan, out, _ = smoke_study
    analysis = tmp_path / "analysis"
    N.execute("study", tmp_path / "executed" / "study.ipynb",
              {"scale": "smoke", "study_dir": str(out), "output_dir": str(analysis),
               "n_boot": 200})
    for name in ("arms", "effects", "shares", "dynamics", "verdicts"):
        assert (analysis / f"{name}.csv").is_file(), name
    for stem in ("study_forest", "study_per_cycle", "study_contention"):
        assert (analysis / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
    effects = pd.read_csv(analysis / "effects.csv")
    assert set(effects["arm"]) == {a.label for a in plan.arms if a.base and a.available}
    verdicts = pd.read_csv(analysis / "verdicts.csv")
    assert list(verdicts["hypothesis"])[:5] == ["H1", "H2", "H3", "H4", "H5"]
    # the controls of issue #15 follow: the instrument sees fragmentation where it is there
    rows = verdicts.set_index("hypothesis")
    assert rows.loc["H2 control +", "verdict_floor"] == "instrument sees it"
    # ... and not where it is not: one smoke run of the negative control (400 cycles) can creep
    # past the 5 % floor (a clean-clone CI run saw it), so the check is the separation of the
    # two controls' end-of-run frag ratio, which no warm-up creep reaches
    assert rows.loc["H2 control -", "verdict_floor"] in ("no false alarm", "false alarm")
    frag = {k: float(re.search(r"frag ratio at the end ([\d.]+)", rows.loc[k, "statistic"])[1])
            for k in ("H2 control +", "H2 control -")}
    assert frag["H2 control -"] < frag["H2 control +"] / 3, frag
    for label in ("H2 control +", "H2 control -"):  # both rules shown, the floored first
        r = rows.loc[label]
        assert r["verdict"].startswith(f"{r['verdict_floor']} (5 % floor); "
                                       f"{r['verdict_paper_rule']} (paper's rule")
    # one block: no effect can be read against the noise, and the verdicts say so
    assert set(effects.loc[effects["verdict"] != "A/A", "verdict"]) == {"not testable here"}
    dyn = pd.read_csv(analysis / "dynamics.csv")
    assert not dyn["unexpected"].any()  # same trace, same seed: same populations
    md, figs = section(analysis, tmp_path / "paper", first_figure=6)
    # the forest plot, the per-cycle times, the long arms' time per unit of work, contention
    assert len(figs) == 4 and all(f"![Figure {k}]" in md for k in (6, 7, 8, 9))
    assert "*Table [[study_long]]. " in md and "- **H2** (memory fragmentation): " in md
    assert "*Table [[study_contention]]. " in md
    v = verdicts.set_index("hypothesis")
    for h in ("H2", "H3", "H5"):  # the smoke long arms run 100 cycles: honest about it
        assert v.loc[h, "verdict"].startswith("not testable: too short: 100 cycles"), h
    assert "*Table [[study_effects]]. " in md and "*Table [[study_verdicts]]. " in md
    assert f"{len(plan.tasks())} runs in all" in md
    assert "no effect can be read against the noise" in md


def test_every_run_arm_states_its_whole_spec(tmp_path: Path) -> None:
    """An arm's spec takes no scale's values: the study scale's sizes, the arm's own CPU-sample
    time, the study's trace and seed."""
    from nrm.run.spec import RunSpec

    plan = S.build_plan("smoke")
    for task in plan.tasks():
        arm = plan.arm(task.arm)
        if arm.run is None:
            continue
        argv = S.task_command(plan, task, tmp_path, tmp_path / "trace.csv")
        spec = RunSpec.from_file(argv[argv.index("--spec") + 1] if "--spec" in argv
                                 else argv[4])
        # the long arms sample live (issue #23), and the metrics-live arm (issue #24)
        live = arm.runner == "longrun" or arm.label == "unoptimized-metrics-live"
        assert spec.scale is None and spec.metrics == (
            "live" if live else f"cycle-replay:{tmp_path / 'trace.csv'}")
        assert (spec.cycles, spec.max_agents) == (arm.cycles, arm.max_agents), arm.label
        want = arm.cost_switches()
        got = spec.costs.cpu_interval
        assert got == want.cpu_interval, arm.label
        if arm.label == "base-lean":
            assert got == 0.0
            spec = RunSpec("C256", "lean", cpu_interval=got, scale="default")
            assert spec.costs.cpu_interval == 0.0


def test_execute_records_failures_and_moves_half_written_runs_aside(tmp_path: Path) -> None:
    task = {"name": "x__b00", "arm": "x", "block": 0, "position": 0, "seed": 0}
    rec = S.execute(task, str(tmp_path), [sys.executable, "-c", "import sys; sys.exit(3)"])
    assert rec["exit_code"] == 3 and rec["complete"] is False
    assert rec["status"] == "failed (exit 3)" and (tmp_path / "records" / "x__b00.json").is_file()
    half = tmp_path / "runs" / "x__b00"
    half.mkdir(parents=True)
    (half / "run.json").write_text('{"status": "running"}')
    script = ("import json, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.mkdir(); "
              "(p / 'run.json').write_text(json.dumps({'status': 'complete'}))")
    rec = S.execute(task, str(tmp_path), [sys.executable, "-c", script, str(half)])
    assert rec["complete"] and rec["exit_code"] == 0
    assert json.loads((Path(rec["retired"]) / "run.json").read_text())["status"] == "running"
    assert S.execute(task, str(tmp_path), ["false"])["status"] == "already complete"
    assert not list((tmp_path / "claims").glob("*.json"))  # no claim left behind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("address", ["garbage", "", "http://127.0.0.1:8786", "tcp://host",
                                     "tcp://127.0.0.1:99999"])
def test_a_malformed_scheduler_address_is_one_line_and_writes_nothing(
        tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "st"
    code = cli_main(["study", "run", "--scale", "smoke", "--out", str(out), "--scheduler",
                     address, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "tcp://HOST:PORT" in err
    assert not out.exists()


def test_an_unreachable_or_foreign_scheduler_is_refused_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "st"
    t0 = time.monotonic()
    code = cli_main(["study", "run", "--scale", "smoke", "--out", str(out), "--scheduler",
                     f"tcp://127.0.0.1:{_free_port()}", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no Dask scheduler answered" in err and err.count("\n") == 1
    assert time.monotonic() - t0 < CONNECT_TIMEOUT_S + 15 and not out.exists()
    port = _free_port()  # an HTTP server answers there: not the scheduler protocol
    srv = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                            "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        code = cli_main(["study", "run", "--scale", "smoke", "--out", str(out), "--scheduler",
                         f"tcp://127.0.0.1:{port}", "--no-progress"])
    finally:
        srv.terminate()
        srv.wait(10)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    assert "not a Dask scheduler" in err or "not as a Dask scheduler" in err


def test_study_folder_and_worker_count_are_checked_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    for out, words in ((afile, "is a file"), (afile / "sub", "is a file"),
                       (full, "holds no study")):
        assert cli_main(["study", "run", "--scale", "smoke", "--out", str(out),
                         "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1
    assert sorted(p.name for p in full.iterdir()) == ["mine.txt"]
    assert cli_main(["study", "run", "--scale", "smoke", "--out", str(tmp_path / "w"),
                     "--workers", "100000", "--no-progress"]) == 2
    assert "at most" in capsys.readouterr().err and not (tmp_path / "w").exists()
    assert cli_main(["study", "run", "--scale", "smoke", "--out", str(tmp_path / "w"),
                     "--workers", "1", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_sweep_with_one_line_even_if_sigint_was_ignored(
        tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "st"

    def ignore_sigint() -> None:  # as a background job of a non-interactive shell starts it
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-m", "nrm.cli", "study", "run", "--scale", "smoke", "--repeats", "2",
         "--arm", "lean-on-sampling", "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "records").is_dir() and any((out / "records").glob("*.json")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be stopped"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + int(sig), err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"stopped by {sig.name}" in lines[0], err
    assert "run the same command again" in lines[0] and "Traceback" not in err


def test_the_studys_code_record_needs_no_exclude_list() -> None:
    """The code that makes a study's data imports no statistics, analysis or renderer, so
    editing them never invalidates a study's runs."""
    files = set(S.code_record()["files"])
    assert {"nrm/study/sweep.py", "nrm/run/child.py", "nrm/cli/child.py", "nrm/run/runner.py",
            "nrm/study/controls.py", "nrm/cli/workers.py"} <= files
    assert not any(f.startswith(("nrm/stats/", "nrm/render/", "nrm/claims/"))
                   or f in ("nrm/study/analysis.py", "nrm/study/control_analysis.py")
                   for f in files)
