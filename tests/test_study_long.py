"""The long fixed-workload arms (issue #23): the restart runner on real processes, and the
H2/H3/H5 drift verdicts on synthetic long-arm studies."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nrm.run.longrun import run_long
from nrm.run.spec import RunSpec
from nrm.stats.verdict import EQUIVALENT, NOT_TESTABLE, SUPPORTED, is_testable
from nrm.study import analysis as A
from nrm.study import long_analysis as L
from nrm.study import sweep as S
from nrm.study.long_arms import AA, BASE, METRICS_FIXED, REGISTRY_OFF, RESTART

# ------------------------------------------------------------------ restart on real processes
#: A test-only slowdown planted from outside the model (a sitecustomize on the hops' path
#: wraps Simulation.step; the model's code is not touched). "process": a list held by the
#: process grows every step and is scanned every step (lost at a restart, like heap state);
#: "workload": the same list kept on the simulation, so the checkpoint carries it over. The cost
#: paid per step is a sleep proportional to the list's length, so the load cannot blur it.
_PLANT = """
import os
import time
where = os.environ.get("NRM_TEST_PLANT")
if where:
    from nrm.sim import model as _m
    _held = []
    _step = _m.Simulation.step

    def step(self):
        held = _held if where == "process" else self.__dict__.setdefault("_planted", [])
        held.extend([None] * 1000)
        time.sleep(len(held) * 4e-6)
        return _step(self)

    _m.Simulation.step = step
"""


def _planted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> pd.DataFrame:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(_PLANT))
    monkeypatch.setenv("PYTHONPATH", f"{site}:{Path(__file__).resolve().parents[1]}")
    monkeypatch.setenv("NRM_TEST_PLANT", where)
    spec = RunSpec.from_dict(
        {
            "experiment": "C256",
            "variant": "lean",
            "cycles": 40,
            "max_agents": 2,
            "metrics": "fixed",
            "conditions": ["ON-ON"],
            "flush_every": 10,
        }
    )
    out = tmp_path / f"run-{where}"
    meta = run_long(spec, out, where="ram", restart_every=20)
    assert meta["status"] == "complete" and len(meta["hops"]) == 2
    assert meta["hops"][0]["exit"] == 75 and meta["hops"][0]["pause_at"] == 20
    return pd.read_csv(out / "cycles.csv")


@pytest.mark.slow
def test_restart_resets_a_process_state_slowdown_but_not_a_workload_slowdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jump = {}
    for where in ("process", "workload"):
        c = _planted_run(tmp_path, monkeypatch, where)
        assert list(c["cycle"]) == list(range(40))  # no cycle lost or repeated across the hop
        start = float(c.loc[c["cycle"].between(1, 5), "wall_s"].median())
        before = float(c.loc[c["cycle"].between(14, 19), "wall_s"].median())
        after = float(c.loc[c["cycle"].between(21, 26), "wall_s"].median())
        jump[where] = (start, before, after)
        assert before > 2 * start, (where, start, before)  # the planted slowdown is there
    start, before, after = jump["process"]
    assert after < 0.5 * before and after < 2 * start, jump  # reset to the start's level
    start, before, after = jump["workload"]
    assert after > 2 * start and after > 0.5 * before, jump  # not reset: the scan goes on
    assert jump["workload"][2] / jump["workload"][1] > 2 * jump["process"][2] / jump["process"][1]


def test_restart_every_is_checked_before_anything_runs(tmp_path: Path) -> None:
    from nrm.exceptions import ParameterError

    spec = RunSpec.from_dict(
        {
            "experiment": "C256",
            "variant": "lean",
            "cycles": 20,
            "max_agents": 2,
            "metrics": "fixed",
            "flush_every": 10,
        }
    )
    with pytest.raises(ParameterError, match="multiple of the run's flush_every"):
        run_long(spec, tmp_path / "r", restart_every=15)
    with pytest.raises(ParameterError, match="where"):
        run_long(spec, tmp_path / "r", where="tape")
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ synthetic long studies
def _frame(
    rng: np.random.Generator, cycles: int, drift_pct: float, registry_cost: float, registry: bool,
    agents: int = 2,
) -> pd.DataFrame:
    """One long run: 2 agents from cycle 0, per-cycle time = 10 ms + drift (% of 10 ms per
    1000 cycles) + the registry scan (registry x agents x unit cost), with noise; commit and
    sample latencies flat."""
    cyc = np.arange(cycles)
    reg = np.floor(0.85 * cyc) if registry else np.zeros(cycles)
    t = 0.010 * (1 + drift_pct / 100 * cyc / 1000) + registry_cost * reg * 2
    t = t * np.exp(rng.normal(0, 0.03, cycles))
    commits = np.full(cycles, 4)
    samples = np.full(cycles, 3)
    return pd.DataFrame(
        {
            "condition": "ON-ON",
            "cycle": cyc,
            "wall_s": t,
            "population": agents,
            "commits": commits,
            "samples": samples,
            "evolve_calls": 3,
            "registry_size": reg,
            "pairs_tested": 1,
            "spawns": 0,
            "commit_s": commits * 1e-3 * np.exp(rng.normal(0, 0.05, cycles)),
            "sample_s": samples * 2e-3 * np.exp(rng.normal(0, 0.05, cycles)),
        }
    )


def _long_study(
    tmp_path: Path,
    drifts: dict[str, float],
    *,
    blocks: int = 4,
    cycles: int = 3000,
    metrics: str = "live",
    seed: int = 5,
    registry_cost: float = 0.0,
    scale: str = "default",
    arm_metrics: dict[str, str] | None = None,
) -> A.StudyData:
    """A study folder holding only long-arm runs: ``drifts[arm]`` % per 1000 cycles at a
    fixed workload (block-to-block level drift shared by every arm of a block)."""
    plan = S.build_plan(scale, repeats=blocks)
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(blocks):
        level = math.exp(rng.normal(0, 0.3))
        for arm, d in drifts.items():
            name = S.run_name(arm, b)
            frame = _frame(
                rng, cycles, d + rng.normal(0, 0.5), registry_cost, registry=arm != REGISTRY_OFF,
                agents=plan.arm(BASE).max_agents,
            )
            frame["wall_s"] *= level
            folder = tmp_path / S.RUNS / name
            folder.mkdir(parents=True)
            frame.to_csv(folder / "cycles.csv", index=False)
            rows.append(
                {
                    "name": name,
                    "arm": arm,
                    "block": b,
                    "host": "h",
                    "cycles": cycles,
                    "cycle_time_s": float(frame["wall_s"].sum()),
                    "metrics": (arm_metrics or {}).get(arm, metrics),
                    "load_before": 1.0,
                    "concurrent_before": 0,
                }
            )
    return A.StudyData(tmp_path, plan, pd.DataFrame(rows), {}, {})


def _verdicts(data: A.StudyData) -> pd.DataFrame:
    rows = L.long_verdicts(data, A._row)
    return pd.DataFrame(list(rows.values())).set_index("hypothesis")


ARMS = (BASE, AA, RESTART, REGISTRY_OFF, "long-alloc-malloc", "long-alloc-mimalloc")


def test_no_drift_difference_reads_no_effect_larger_than_the_margin(tmp_path: Path) -> None:
    data = _long_study(tmp_path, dict.fromkeys(ARMS, 2.0))
    v = _verdicts(data)
    assert v.loc["H2", "verdict"] == EQUIVALENT, v.loc["H2"].to_dict()
    assert v.loc["H5", "verdict"] == EQUIVALENT
    assert v.loc["H3", "verdict"] == EQUIVALENT  # flat latencies
    assert "long-base: 3000 cycles, 2 agents" in v.loc["H2", "note"]
    assert f"margin m = {L.DRIFT_MARGIN_PCT:g}" in v.loc["H2", "note"]


def test_a_planted_drift_difference_is_supported(tmp_path: Path) -> None:
    drifts = dict.fromkeys(ARMS, 30.0)
    drifts[RESTART] = 0.0  # the restart removes the process-state drift
    v = _verdicts(_long_study(tmp_path, drifts))
    assert v.loc["H2", "verdict"] == SUPPORTED
    assert (
        "long-restart: -30" in v.loc["H2", "statistic"]
        or "long-restart: -2" in v.loc["H2", "statistic"]
    )
    assert v.loc["H2", "ci"].startswith("98.3 % CIs")  # Bonferroni over 3 arms


def test_registry_drives_the_raw_drift_h5(tmp_path: Path) -> None:
    data = _long_study(tmp_path, dict.fromkeys(ARMS, 0.0), registry_cost=2e-6)
    v = _verdicts(data)
    assert v.loc["H5", "verdict"] == SUPPORTED, v.loc["H5"].to_dict()
    share = float(v.loc["H5", "note"].split("the registry accounts for ")[1].split("%")[0])
    assert share > 80  # the registry's scan is the whole of the planted raw drift


def test_h2_and_h3_are_not_testable_when_the_psutil_source_is_replayed(tmp_path: Path) -> None:
    data = _long_study(tmp_path, dict.fromkeys(ARMS, 2.0), metrics="cycle-replay:t.csv")
    v = _verdicts(data)
    for h in ("H2", "H3"):
        assert v.loc[h, "verdict"].startswith(f"{NOT_TESTABLE}: every deciding arm replays")
    assert is_testable(v.loc["H5", "verdict"])  # the registry needs no psutil call


LONG_ARMS = (*ARMS, "long-alloc-jemalloc", "long-gc-freeze", METRICS_FIXED)


def test_the_long_scale_runs_the_fixed_metrics_arm_and_it_decides_h2(tmp_path: Path) -> None:
    plan = S.build_plan("long")
    arm = plan.arm(METRICS_FIXED)
    assert arm.spec().metrics == "fixed" and arm.changes_dynamics and arm.runner == "longrun"
    assert arm.cycles == plan.arm(BASE).cycles and arm.max_agents == plan.arm(BASE).max_agents
    assert METRICS_FIXED not in {a.label for a in S.build_plan("default").arms}  # its budget
    # psutil's objects drive the drift: the arm without them drifts less -> H2 supported
    drifts = dict.fromkeys(LONG_ARMS, 30.0)
    drifts[METRICS_FIXED] = 0.0
    data = _long_study(tmp_path / "a", drifts, scale="long",
                       arm_metrics={METRICS_FIXED: "fixed"})
    v = _verdicts(data)
    assert METRICS_FIXED in v.loc["H2", "deciding_arms"]
    assert v.loc["H2", "verdict"] == SUPPORTED, v.loc["H2"].to_dict()
    assert f"{METRICS_FIXED}: -" in v.loc["H2", "statistic"]
    k = len(v.loc["H2", "deciding_arms"].split(", "))  # jemalloc's arm runs where installed
    assert k >= 4 and v.loc["H2", "ci"].startswith(f"{100 * (1 - 0.05 / k):.1f} % CIs")
    # a fixed-metrics arm beside replaying arms does not make H2 testable
    v = _verdicts(_long_study(tmp_path / "b", dict.fromkeys(LONG_ARMS, 2.0), scale="long",
                              metrics="cycle-replay:t.csv", arm_metrics={METRICS_FIXED: "fixed"}))
    assert v.loc["H2", "verdict"].startswith(f"{NOT_TESTABLE}: every deciding arm replays")


def test_short_long_arms_and_too_few_blocks_are_not_testable(tmp_path: Path) -> None:
    v = _verdicts(_long_study(tmp_path / "a", dict.fromkeys(ARMS, 2.0), cycles=150))
    for h in ("H2", "H3", "H5"):
        assert v.loc[h, "verdict"].startswith(f"{NOT_TESTABLE}: too short"), h
    v = _verdicts(_long_study(tmp_path / "b", dict.fromkeys(ARMS, 2.0), blocks=2))
    assert v.loc["H2", "verdict"].startswith(NOT_TESTABLE)


def test_without_long_arms_the_short_arms_do_not_decide(tmp_path: Path) -> None:
    data = _long_study(tmp_path, {})
    v = _verdicts(data)
    for h in ("H2", "H3", "H5"):
        assert v.loc[h, "verdict"].startswith(f"{NOT_TESTABLE}: no long fixed-workload arm")


def test_default_plan_has_long_arms_and_no_ramp_only_allocator_arms() -> None:
    plan = S.build_plan("default")
    labels = {a.label for a in plan.arms}
    assert {BASE, AA, RESTART, REGISTRY_OFF} <= labels
    assert not any(x.startswith(("unoptimized-alloc-", "lean-gc-")) for x in labels)
    base = plan.arm(BASE)
    assert base.cycles >= 3000 and base.runner == "longrun" and base.repeats == 3
    spec = base.spec()
    assert spec.metrics == "live" and spec.costs.cpu_interval == 0.0 and spec.costs.sqlite
    assert sum(1 for b in plan.blocks if BASE in b) == 3
    assert "--restart-every" in plan.arm(RESTART).runner_args
    long = S.build_plan("long")
    assert long.arm(BASE).max_agents > base.max_agents and long.arm(BASE).cycles == 3000
