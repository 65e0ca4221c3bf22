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
