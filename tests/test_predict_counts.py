"""A counting run does the faithful run's work, cycle by cycle (issue #24)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nrm.instrument.reader import load_run
from nrm.predict.counts import (
    COUNTERS,
    cached_counts,
    count_run,
    load_cached,
    resample,
)
from nrm.run.runner import run_experiment
from nrm.run.spec import RunSpec

SMOKE = {"scale": "smoke", "cycles": 16, "max_agents": 8, "cooldown": 4}


def _faithful(spec: RunSpec, out: Path) -> pd.DataFrame:
    run_experiment(spec, out, progress=False)
    return load_run(out).cycles


def _assert_same(counts_frame: pd.DataFrame, logged: pd.DataFrame) -> None:
    assert len(counts_frame) == len(logged) > 0
    for name in COUNTERS:
        got = counts_frame[name].to_numpy()
        want = logged[name].to_numpy()
        assert (got == want).all(), f"{name} differs at rows {list((got != want).nonzero()[0])}"


@pytest.mark.parametrize("experiment,variant,fast", [("C256", "unoptimized", True),
                                                     ("C255", "optimized", False)])
def test_counts_equal_a_faithful_run_cycle_by_cycle(tmp_path: Path, experiment: str,
                                                    variant: str, fast: bool) -> None:
    spec = RunSpec(experiment, variant, **SMOKE)  # type: ignore[arg-type]
    assert spec.costs.sqlite and spec.metrics == "fixed"
    logged = _faithful(spec, tmp_path / "run")
    counts = count_run(spec, fast=fast)
    _assert_same(counts.frame(), logged)
    assert counts.frame()["commits"].sum() > counts.frame()["samples"].sum() > 0
    results = load_run(tmp_path / "run").meta["conditions"]  # set-up included
    for c in counts.conditions:
        assert c.total("samples") == results[c.condition]["samples"]
        assert c.total("commits") == results[c.condition]["commits"]


def test_counts_follow_a_replayed_trace(tmp_path: Path) -> None:
    """Under the same cycle-indexed trace (recorded live) the counts are the faithful run's,
    and differ from the counts under fixed metrics."""
    rec = RunSpec("C256", "optimized", **{**SMOKE, "metrics": "live"})  # type: ignore[arg-type]
    run_experiment(rec, tmp_path / "rec", progress=False)
    spec = RunSpec("C256", "unoptimized",  # type: ignore[arg-type]
                   **{**SMOKE, "metrics": f"cycle-replay:{tmp_path / 'rec'}"})
    logged = _faithful(spec, tmp_path / "run")
    counts = count_run(spec)
    _assert_same(counts.frame(), logged)
    assert counts.provenance["metrics_used"] == spec.metrics


def test_resampled_counts_equal_a_counting_run_of_the_optimized_variant() -> None:
    unopt = count_run(RunSpec("C256", "unoptimized", **SMOKE))  # type: ignore[arg-type]
    opt = count_run(RunSpec("C256", "optimized", **SMOKE))  # type: ignore[arg-type]
    derived = resample(unopt, "per_cycle")
    assert derived.spec.costs == opt.spec.costs
    pd.testing.assert_frame_equal(derived.frame(), opt.frame())
    assert [c.setup_commits for c in derived.conditions] == [
        c.setup_commits for c in opt.conditions]


def test_a_switch_that_changes_the_dynamics_changes_the_counts() -> None:
    base = RunSpec("C256", "unoptimized", **SMOKE)  # type: ignore[arg-type]
    flat = RunSpec("C256", "unoptimized", costs={"recursive_evolution": False},  # type: ignore[arg-type]
                   **SMOKE)
    blocking = RunSpec("C256", "unoptimized", cpu_interval=0.5, **SMOKE)  # type: ignore[arg-type]
    a, b = count_run(base).frame(), count_run(flat).frame()
    assert a["evolve_calls"].sum() > b["evolve_calls"].sum()
    pd.testing.assert_frame_equal(a, count_run(blocking).frame())  # never sleeps either


def test_counts_are_cached_with_provenance(tmp_path: Path) -> None:
    spec = RunSpec("C255", "unoptimized", **SMOKE)  # type: ignore[arg-type]
    assert load_cached(spec, tmp_path) is None
    first = cached_counts(spec, cache_dir=tmp_path, progress=False)
    again = load_cached(spec, tmp_path)
    assert again is not None
    pd.testing.assert_frame_equal(first.frame(), again.frame())
    assert again.provenance["spec"]["experiment"] == "C255"
    assert len(again.provenance["model_source_sha256"]) == 64
    assert [c.setup_samples for c in again.conditions] == [c.setup_samples
                                                           for c in first.conditions]


@pytest.mark.parametrize("experiment,condition", [("C255", "ON-OFF"), ("C257", "ON-ON")])
def test_the_counting_pool_gives_the_originals_bits(experiment: str, condition: str) -> None:
    """The counting run's faster pooling step against the model's own, past the cap (where
    the cumulative registry makes pooling the model's main work)."""
    from nrm.predict.counts import CountingPersistence, CountingSimulation, counting_costs
    from nrm.sim.experiments import get_experiment
    from nrm.sim.metrics import FixedSource
    from nrm.sim.model import Simulation
    from nrm.sim.wiring import new_reality

    spec = RunSpec(experiment, "unoptimized", scale="smoke", cycles=120, max_agents=40)
    exp = get_experiment(experiment)
    out = []
    for cls in (Simulation, CountingSimulation):
        reality = new_reality(FixedSource(), CountingPersistence(),  # type: ignore[arg-type]
                              condition=condition)
        sim = cls(exp.mechanisms_for(condition), spec.model_params(),
                  counting_costs(spec.costs), reality, seed=0)
        for _ in range(spec.cycles):
            sim.step()
        out.append(([a.energy for a in sim.agents], sim.population_history,
                    list(sim.registry), sim.skipped_empty_clusters))
    assert out[0] == out[1]
    assert len(out[0][2]) > 50 and max(out[0][1]) == 40
