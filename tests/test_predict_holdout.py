"""The prediction validated on held-out runs in the build's prediction step (issue #24 item 3),
smoke-sized: unit costs fitted on a few tiny "study" runs, a tiny "paper" run at a scale the fit
never saw predicted from its own logged counters, the error checked by hand."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nrm import paths
from nrm.instrument.reader import load_run
from nrm.predict.counts import count_run
from nrm.predict.holdout import (
    NEEDED,
    TARGET,
    VALIDATION_CSV,
    _with_setup,
    band,
    fit_reason,
    held_out_reason,
    holdout_step,
    logged_counts,
    outside_fit,
    verdict,
)
from nrm.predict.model import SMOKE_TOLERANCE, predict
from nrm.predict.unitcosts import Fit, fit_unit_costs
from nrm.render.sections.atscale import NO_VALIDATION, section
from nrm.render.text import num
from nrm.run.runner import run_experiment
from nrm.run.spec import RunSpec

SAMPLE = 0.001
FIT = [("C256", "unoptimized", 5), ("C256", "optimized", 5), ("C255", "unoptimized", 6)]
HELD_AGENTS, HELD_CYCLES, FIT_CYCLES = 8, 30, 20
REFERENCE_PREDICT = paths.REFERENCE / "build-default" / "predict"


def _spec(experiment: str, variant: str, agents: int, cycles: int,
          metrics: str = "fixed") -> RunSpec:
    return RunSpec(experiment, variant, scale="smoke", cycles=cycles, max_agents=agents,
                   cpu_interval=SAMPLE, metrics=metrics)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runs/`` (the held-out "paper" runs: one with fixed metrics, one live) and
    ``study/runs/`` (the fit's runs, at other scales), interleaved in time."""
    root = tmp_path_factory.mktemp("holdout")
    (root / "study" / "runs").mkdir(parents=True)
    e, v, a = FIT[0]
    run_experiment(_spec(e, v, a, FIT_CYCLES), root / "study" / "runs" / f"{e}-{v}-{a}",
                   progress=False)
    run_experiment(_spec("C256", "unoptimized", HELD_AGENTS, HELD_CYCLES),
                   root / "runs" / "C256-unoptimized", progress=False)
    run_experiment(_spec("C256", "optimized", HELD_AGENTS, HELD_CYCLES, metrics="live"),
                   root / "runs" / "C256-optimized-live", progress=False)
    for e, v, a in FIT[1:]:
        run_experiment(_spec(e, v, a, FIT_CYCLES), root / "study" / "runs" / f"{e}-{v}-{a}",
                       progress=False)
    return root


@pytest.fixture(scope="module")
def step(build: Path) -> dict:
    return holdout_step(build / "runs", build / "study", build / "out")


def test_the_held_out_runs_error_is_predicted_over_measured(build: Path, step: dict) -> None:
    table = pd.read_csv(build / "out" / VALIDATION_CSV).set_index("run")
    assert list(table.index) == ["C256-optimized-live", "C256-unoptimized"]
    assert step["n"] == 2 and step["fit_runs"] == len(FIT)
    # a scale the fit never saw: the fit's are 20 cycles x 5 or 6 agents
    assert step["fit_scales"] == ["20 cycles x 5 agents", "20 cycles x 6 agents"]
    assert step["held_scales"] == ["30 cycles x 8 agents"] and step["unseen"]
    assert not table["scale_in_fit"].any()
    row = table.loc["C256-unoptimized"]
    run_json = json.loads((build / "runs" / "C256-unoptimized" / "run.json").read_text())
    measured = run_json["totals"]["runtime_s"]
    assert row["measured_s"] == pytest.approx(measured, rel=1e-12)
    # the prediction, independently: a counting run of the spec x a fit of the study's runs
    uc = fit_unit_costs(sorted((build / "study" / "runs").iterdir()))
    spec = _spec("C256", "unoptimized", HELD_AGENTS, HELD_CYCLES)
    p = predict(count_run(spec), uc, medium=row["medium"], metrics="fixed")
    assert row["predicted_s"] == pytest.approx(p.seconds, rel=1e-9)
    assert row["error_pct"] == pytest.approx(100 * (p.seconds / measured - 1), rel=1e-9)
    assert row["ci_low"] < row["predicted_s"] < row["ci_high"]
    assert row["error_low_pct"] == pytest.approx(100 * (row["ci_low"] / measured - 1))
    assert row["covered"] == (row["ci_low"] <= measured <= row["ci_high"])
    assert pd.isna(row["substituted"])  # fixed metrics on disk: fitted from the study's runs
    # the parts add up: to the prediction, and (the run's own timers) to the measured runtime
    parts = ("samples", "commits", "model", "outside")
    assert sum(row[f"{k}_predicted_s"] for k in parts) == pytest.approx(row["predicted_s"])
    assert sum(row[f"{k}_measured_s"] for k in parts) == pytest.approx(measured)
    assert row["commits_measured_s"] == pytest.approx(
        load_run(build / "runs" / "C256-unoptimized").cycles["commit_s"].sum())
    # n = 2: the median of the two absolute errors is their mean
    errs = table["error_pct"].abs()
    assert step["median_abs_error_pct"] == pytest.approx(errs.mean())
    assert step["verdict"] in ("within", "exceeds", "undecided")
    lo, hi = step["band_pct"]
    assert lo <= step["median_abs_error_pct"] <= hi
    # the verdict is read from the bootstrap interval (nrm.predict.errorci), not from the band
    ci_lo, ci_hi = step["ci_pct"]
    assert 0 <= ci_lo <= ci_hi and "bootstrap" in step["ci_method"]
    assert step["verdict"] == verdict(ci_lo / 100, ci_hi / 100)
    # with the run's own commit and sample costs, what is left (the counts and the other unit
    # costs) is within the suite's stated tolerance; the raw error also carries the change of
    # a commit's latency between runs on a shared disk (found 4x beside a running study)
    assert abs(row["error_own_costs_pct"]) <= 100 * SMOKE_TOLERANCE, table.to_string()


def test_a_cost_the_study_cannot_give_is_labelled(build: Path, step: dict) -> None:
    table = pd.read_csv(build / "out" / VALIDATION_CSV).set_index("run")
    live = table.loc["C256-optimized-live"]
    assert live["metrics"] == "live"
    assert "no live metrics sample with commits on disk" in live["substituted"]
    assert "fixed@disk" in live["substituted"]
    assert step["substituted"] == [live["substituted"]]  # one label, not cut at its comma


def test_logged_counts_are_a_counting_runs(build: Path) -> None:
    run = load_run(build / "runs" / "C256-unoptimized")
    logged = logged_counts(run)
    counted = count_run(_spec("C256", "unoptimized", HELD_AGENTS, HELD_CYCLES))
    pd.testing.assert_frame_equal(logged.frame(), counted.frame(), check_dtype=False)
    assert [(c.setup_samples, c.setup_commits) for c in logged.conditions] == [
        (c.setup_samples, c.setup_commits) for c in counted.conditions]


def test_the_band_and_verdict_by_hand() -> None:
    errors = pd.DataFrame({"error": [0.05, -0.20, 0.08], "error_low": [-0.01, -0.30, 0.02],
                           "error_high": [0.12, -0.10, 0.15]})
    med, lo, hi = band(errors)
    # |errors| 0.05 0.20 0.08; lower bounds 0 (straddles 0), 0.10, 0.02; upper 0.12 0.30 0.15
    assert (med, lo, hi) == pytest.approx((0.08, 0.02, 0.15))
    assert TARGET == 0.10
    assert verdict(lo, hi) == "undecided"
    assert verdict(0.02, 0.09) == "within" and verdict(0.11, 0.2) == "exceeds"


class _Run:
    def __init__(self, costs: dict, metrics: str = "fixed", **meta: object) -> None:
        spec = RunSpec("C256", "unoptimized", scale="smoke", cycles=1, max_agents=2).to_dict()
        self.meta = {"parameters": {**spec, "costs": {**spec["costs"], **costs},
                                    "metrics": metrics}, **meta}
        self.complete = True
        self.cycles = pd.DataFrame({c: [0] for c in NEEDED})
        self.path = Path("x")


def test_which_study_runs_the_fit_uses() -> None:
    assert fit_reason(_Run({"resonance": "pairwise"}, "cycle-replay:t.csv")) is None  # type: ignore[arg-type]
    assert fit_reason(_Run({}, "live")) is None  # type: ignore[arg-type]
    assert "vectorized" in str(fit_reason(_Run({"resonance": "vectorized"})))  # type: ignore[arg-type]
    assert "contention" in str(fit_reason(_Run({}, contention={"competitors": 2})))  # type: ignore[arg-type]
    pregrown = _Run({})
    pregrown.meta["parameters"]["pregrow_db_mb"] = 100
    assert "pre-grown" in str(fit_reason(pregrown))  # type: ignore[arg-type]
    # outside the paper runs' runtime: the arms' effects, not the paper runs' costs
    for key, value, word in (("allocator", "jemalloc", "allocator"),
                             ("gc_mode", "freeze", "collector")):
        other = _Run({})
        other.meta["parameters"][key] = value
        assert word in str(fit_reason(other))  # type: ignore[arg-type]
    pym = _Run({})
    pym.meta["parameters"]["allocator"] = "pymalloc"  # the short arms' explicit default
    assert fit_reason(pym) is None  # type: ignore[arg-type]
    assert "restarted" in str(fit_reason(_Run({}, restart_every=500)))  # type: ignore[arg-type]
    assert held_out_reason(_Run({}, "cycle-replay:t.csv")) == "replayed metrics"  # type: ignore[arg-type]
    control = _Run({})
    control.cycles = pd.DataFrame({"cycle": [0], "rss": [1]})  # a control's own workload
    assert "not a model run" in str(fit_reason(control))  # type: ignore[arg-type]
    nospec = _Run({})
    nospec.meta["parameters"] = {"costs": {}}
    assert "not a model run" in str(fit_reason(nospec))  # type: ignore[arg-type]


def test_without_a_study_nothing_is_validated(build: Path, tmp_path: Path) -> None:
    s = holdout_step(build / "runs", None, tmp_path)
    assert s["verdict"] == "none" and "no study" in s["reason"]
    assert pd.read_csv(tmp_path / VALIDATION_CSV).empty


def _src(*files: Path) -> str:
    return ", ".join(f"`{p.name}`" for p in files)


def test_the_paper_section_without_and_with_a_validation(build: Path, step: dict,
                                                         tmp_path: Path) -> None:
    older = tmp_path / "older"  # a build whose prediction step predates the validation
    shutil.copytree(REFERENCE_PREDICT, older)
    (older / VALIDATION_CSV).unlink(missing_ok=True)
    summ = json.loads((older / "predict_summary.json").read_text(encoding="utf-8"))
    summ.pop("validation", None)
    (older / "predict_summary.json").write_text(json.dumps(summ), encoding="utf-8")
    md, _ = section(older, tmp_path)
    assert NO_VALIDATION in md
    folder = tmp_path / "predict"
    shutil.copytree(REFERENCE_PREDICT, folder)
    shutil.copy(build / "out" / VALIDATION_CSV, folder / VALIDATION_CSV)
    summ["validation"] = step
    (folder / "predict_summary.json").write_text(json.dumps(summ), encoding="utf-8")
    md, _ = section(folder, tmp_path)
    assert NO_VALIDATION not in md
    med = f"{step['median_abs_error_pct']:.3g}"
    assert f"Median absolute error of the held-out predictions: {med}" in md
    assert "n = 2 runs at 30 cycles x 8 agents, fitted at 20 cycles x 5 agents" in md
    assert "10 % target" in md and "C256-optimized-live" in md
    assert "Where the error is, summed over the 2 runs: " in md
    for raw in ("predicted_s", "error_pct"):
        assert raw not in md
    lines = md.splitlines()
    headers = [ln for i, ln in enumerate(lines[:-1])
               if ln.startswith("|") and re.match(r"^\|[:\- |]+\|$", lines[i + 1])]
    assert any("measured (s)" in h for h in headers)
    for line in headers:
        assert not re.search(r"\b[a-z0-9]+_[a-z0-9_]+\b", line), line
    ci = step["ci_pct"]
    assert f"95 % CI {num(ci[0])} to {num(ci[1])} %" in md
    assert "The runs' own prediction intervals give a wider band" in md


def test_the_shipped_reference_builds_validation_reads_as_its_summary(tmp_path: Path) -> None:
    """The reference build's held-out validation, when it ships one, is shown from its files
    (its verdict read from the interval, not the band)."""
    summ = json.loads((REFERENCE_PREDICT / "predict_summary.json").read_text(encoding="utf-8"))
    v = summ.get("validation") or {}
    if not (REFERENCE_PREDICT / VALIDATION_CSV).exists():
        pytest.skip("the shipped reference build predates the held-out validation")
    assert v["verdict"] == verdict(v["ci_pct"][0] / 100, v["ci_pct"][1] / 100)
    md, _ = section(REFERENCE_PREDICT, tmp_path)
    assert NO_VALIDATION not in md
    assert ("Median absolute error of the held-out predictions: "
            f"{num(v['median_abs_error_pct'])} %") in md
    table = pd.read_csv(REFERENCE_PREDICT / VALIDATION_CSV)
    assert len(table) == v["n"] and not table["scale_in_fit"].any()


class _Cond:
    """A run with conditions of given lengths whose time outside the cycles is planted."""

    def __init__(self, lengths: list[int], setup: float, per_cycle: float,
                 noise: list[float]) -> None:
        frames, conds = [], {}
        for i, (n, eps) in enumerate(zip(lengths, noise, strict=True)):
            frames.append(pd.DataFrame({"condition": f"c{i}", "wall_s": np.full(n, 0.01)}))
            conds[f"c{i}"] = {"runtime_s": 0.01 * n + setup + per_cycle * n + eps}
        self.cycles = pd.concat(frames, ignore_index=True)
        self.meta = {"conditions": conds}


def test_the_time_outside_the_cycles_is_a_setup_plus_a_cost_per_cycle() -> None:
    exact = outside_fit([_Cond([10, 10, 1000, 3000], 0.05, 2e-4, [0, 0, 0, 0])])  # type: ignore[list-item]
    assert exact is not None and exact.names == ("cycle", "setup")
    assert exact.coef("setup") == pytest.approx(0.05) and exact.coef("cycle") == pytest.approx(2e-4)
    # noisy: the OLS line through (10, 0.052 + 0.003), (10, 0.052 - 0.003), (1000, 0.25),
    # (3000, 0.65) by hand: mean n 1005, mean y 0.2385; slope = Sxy / Sxx
    noisy = outside_fit([_Cond([10, 10, 1000, 3000], 0.05, 2e-4, [3e-3, -3e-3, 0, 0])])  # type: ignore[list-item]
    n = np.array([10, 10, 1000, 3000.0])
    y = np.array([0.055, 0.049, 0.25, 0.65])
    slope = ((n - n.mean()) * (y - y.mean())).sum() / ((n - n.mean()) ** 2).sum()
    assert noisy is not None and noisy.coef("cycle") == pytest.approx(slope)
    assert noisy.coef("setup") == pytest.approx(y.mean() - slope * n.mean())
    assert outside_fit([_Cond([10, 10, 10], 0.05, 2e-4, [0, 0, 0])]) is None  # type: ignore[list-item]


def test_a_prediction_adds_one_setup_per_condition(build: Path) -> None:
    uc = fit_unit_costs(sorted((build / "study" / "runs").iterdir()))
    counts = logged_counts(load_run(build / "runs" / "C256-unoptimized"))
    b, a = 3e-4, 0.02
    split = Fit(None, ("cycle", "setup"), np.array([b, a]), np.zeros((2, 2)), 0.0, 0.0)
    flat = Fit(None, ("cycle",), np.array([b]), np.zeros((1, 1)), 0.0, 0.0)
    with_setup = _with_setup(predict(counts, replace(uc, outside=split)), counts).seconds
    without = predict(counts, replace(uc, outside=flat)).seconds
    assert with_setup - without == pytest.approx(len(counts.conditions) * a)


def test_the_build_step_writes_the_validation(build: Path, tmp_path: Path) -> None:
    from nrm.predict.buildstep import count_step, outputs, predict_step

    count_step("smoke", tmp_path / "counts", shared_cache=None, shipped=None)
    s = predict_step("smoke", build / "runs", tmp_path / "counts", tmp_path / "out",
                     study_dir=build / "study")
    assert tmp_path / "out" / VALIDATION_CSV in outputs(tmp_path / "out")
    assert all(p.is_file() for p in outputs(tmp_path / "out"))
    v = json.loads((tmp_path / "out" / "predict_summary.json").read_text())["validation"]
    assert v == json.loads(json.dumps(s["validation"]))
    assert v["n"] == 2 and v["fit_runs"] == len(FIT) and v["target_pct"] == 10
    assert [r["run"] for r in v["fit_record"] if r["used"]] == sorted(
        f"{e}-{v_}-{a}" for e, v_, a in FIT)
