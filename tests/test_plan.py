"""nrm plan: the calibration and the estimate's arithmetic, and the closing summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nrm.build import estimate as P
from nrm.cli.main import main
from nrm.run.scales import get_scale


def test_extend_keeps_measured_cycles_and_follows_a_rising_trend() -> None:
    series = np.arange(10, dtype=float)  # 0, 1, ..., 9: one more per cycle
    assert P._extend(series, 10) == pytest.approx(45.0)
    assert P._extend(series, 5) == pytest.approx(10.0)
    assert P._extend(series, 20) == pytest.approx(sum(range(20)))  # the trend goes on


def test_extend_never_extrapolates_below_the_measured_mean() -> None:
    falling = np.array([10.0, 8, 6, 4, 2, 1])
    total = P._extend(falling, 100)
    assert total >= falling.sum() + 94 * falling.mean() - 1e-9


def test_calibration_measures_commits_in_a_folder_it_removes(tmp_path: Path) -> None:
    cal = P.calibrate(tmp_path, seconds=0.05)
    assert cal.commit_s > 0 and cal.commits_measured >= 20
    assert cal.sample_overhead_s >= 0
    assert list(tmp_path.iterdir()) == []


def test_estimate_counts_the_faithful_commits_and_none_for_lean(tmp_path: Path) -> None:
    cal = P.Calibration(commit_s=0.001, commits_measured=20, sample_overhead_s=0.0,
                        folder=str(tmp_path))
    smoke = get_scale("smoke")
    faithful = P.estimate_run(smoke.get("C256-unoptimized"), cal, budget_s=0.2)
    lean = P.estimate_run(smoke.get("C256-lean"), cal, budget_s=0.2)
    assert faithful.cycles == 80 and not faithful.extrapolated  # smoke: every cycle timed
    assert faithful.commits > 100 and lean.commits == 0
    # the commits alone make the faithful run longer than the lean one
    assert faithful.seconds >= P.NOTEBOOK_START_S + faithful.commits * cal.commit_s
    assert lean.seconds < faithful.seconds


def test_summary_reads_each_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "C255-unoptimized"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "complete", "started_at": "t0",
                                              "totals": {"runtime_s": 12.0}}))
    assert main(["plan", "--scale", "smoke", "--summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    n = len(get_scale("smoke").runs)
    assert f"run 1/{n}  C255-unoptimized        12 s  complete" in out
    assert "C256-unoptimized" in out and "(no run.json)" in out
    assert "total time in the runs: 12 s" in out
    assert "causal study" not in out  # no study beside these runs


def test_summary_adds_the_study_beside_the_runs(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "data" / "runs" / "smoke"
    runs.mkdir(parents=True)
    study = tmp_path / "data" / "study" / "smoke"
    study.mkdir(parents=True)
    (study / "study.json").write_text(json.dumps({"runs_complete": 82, "runs_planned": 82,
                                                  "ran_this_sweep": 82, "sweep_s": 95.0}))
    assert main(["plan", "--scale", "smoke", "--summary", str(runs)]) == 0
    assert "causal study: 82/82 runs complete; last sweep 95 s for 82 runs" in \
        capsys.readouterr().out


def test_bad_scale_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--scale", "huge"]) == 2
    assert "unknown scale 'huge'" in capsys.readouterr().err


def test_plan_uses_the_prediction_model_of_nrm_predict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One model for estimates (#24): a faithful run's estimate is nrm predict's prediction
    (its counts x the calibration's unit costs) plus the notebook's start-up, with its CI;
    the lean run (vectorized pair test, no fitted unit cost) keeps the first-cycles estimate."""
    from test_predict_unitcosts import synthetic_run

    from nrm.predict.counts import count_run
    from nrm.predict.model import predict
    from nrm.predict.unitcosts import fit_unit_costs
    from nrm.run.spec import RunSpec

    uc = fit_unit_costs([synthetic_run(s, agents=8, cycles=60) for s in (1, 2)])
    smoke = get_scale("smoke")
    planned = smoke.get("C256-unoptimized")
    est = P.predict_run(planned, uc)
    direct = predict(count_run(RunSpec(**planned.spec_kwargs())), uc, medium="disk",
                     metrics="fixed")
    assert est.method == "prediction model"
    assert est.seconds == pytest.approx(direct.seconds + P.NOTEBOOK_START_S)
    assert est.ci is not None and est.ci[0] <= est.seconds <= est.ci[1]
    assert est.commits == direct.totals["commits"] > 100
    cal = P.Calibration(commit_s=0.001, commits_measured=20, sample_overhead_s=0.0,
                        folder=str(tmp_path))
    lean = P.best_estimate(smoke.get("C256-lean"), uc, cal, budget_s=0.1)
    assert lean.method == "first cycles" and lean.ci is None
    monkeypatch.setattr(P, "calibrate", lambda *a, **k: cal)
    monkeypatch.setattr(P, "calibration_run", lambda *a, **k: (uc, 1.0))
    text = P.plan_text("smoke", tmp_path, budget_s=0.1, study=False)
    assert text.count("(prediction model, 95 % CI") == len(smoke.runs) - 1
    assert "then the prediction (nrm predict-step): 5 counting runs" in text
