"""analyse_run end to end: run folders in, every table out, consistent with the parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthlogs import make_cycles, times_only, write_run

from nrm.instrument.reader import load_run
from nrm.stats import (
    NOT_TESTABLE,
    SUPPORTED,
    RunAnalysis,
    analyse_run,
    evaluate_hypotheses,
    runtime_summary,
    to_latex,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("runs")
    base = load_run(write_run(root / "C255", make_cycles(500, seed=1)))
    slow = load_run(write_run(
        root / "C256",
        make_cycles(500, seed=2, wall="linear", wall_slope_ms=0.015, latency="linear"),
        meta={"experiment": "C256"},
    ))
    return base, slow


def test_every_table_is_there(runs) -> None:  # type: ignore[no-untyped-def]
    base, slow = runs
    a = analyse_run(slow, base)
    assert isinstance(a, RunAnalysis)
    assert list(a.as_dict()) == ["summary", "conditions", "milestones", "curve", "hypotheses",
                                 "hypothesis_tests", "prediction", "rules"]
    assert a["hypotheses"] is a.hypotheses
    assert len(a.milestones) == 4 and len(a.prediction) == 6 and len(a.hypotheses) == 5
    assert len(a.curve) == 1000  # thinned to curve_points
    assert a.curve["cycles"].iloc[-1] == 2000


def test_parts_agree(runs) -> None:  # type: ignore[no-untyped-def]
    base, slow = runs
    a = analyse_run(slow, base)
    s = a.summary.iloc[0]
    assert s["run"] == "C256"
    assert s["actual_s"] == pytest.approx(slow.cycles["elapsed_s"].iloc[-1])
    assert s["expected_s"] == pytest.approx(base.cycles["elapsed_s"].iloc[-1])
    assert a.milestones["variance_pct"].iloc[-1] == pytest.approx(s["variance_pct"])
    assert runtime_summary(slow, base).equals(a.summary)
    # the excess share is the H5 excess over the observed excess
    h = a.hypotheses.set_index("hypothesis")
    assert h.loc["H5", "verdict"] == SUPPORTED
    assert h.loc["H3", "verdict"] == SUPPORTED
    assert h.loc["H5", "excess_share"] == pytest.approx(h.loc["H5", "excess_s"] / s["variance_s"])
    # the synthetic drift of 0.015 ms/cycle over 2000 cycles adds 0.015·2000·1999/2 ms ≈ 30 s,
    # which is (nearly) all of the difference from the baseline
    assert h.loc["H5", "excess_s"] == pytest.approx(30.0, rel=0.1)
    assert 0.8 < h.loc["H5", "excess_share"] < 1.2
    ref = evaluate_hypotheses(slow, observed_excess_s=s["variance_s"])
    assert ref.verdicts.equals(a.hypotheses)


def test_baseline_as_a_number_and_no_baseline(runs) -> None:  # type: ignore[no-untyped-def]
    _, slow = runs
    a = analyse_run(slow, 10.0)
    assert a.summary.iloc[0]["expected_s"] == 10.0
    b = analyse_run(slow)
    assert np.isnan(b.summary.iloc[0]["variance_pct"])
    assert b.hypotheses["excess_share"].isna().all()


def test_user_log_with_missing_temperature(tmp_path: Path) -> None:
    df = make_cycles(300, None, seed=4, thermal="throttling").drop(columns=["cpu_temp_c"])
    a = analyse_run(load_run(write_run(tmp_path / "mine", df, status=None) / "cycles.csv"))
    h4 = a.hypotheses.set_index("hypothesis").loc["H4"]
    assert h4.verdict == NOT_TESTABLE
    assert "cpu_temp_c is not in the log" in h4.evidence


def test_bare_three_column_log(tmp_path: Path) -> None:
    csv = tmp_path / "loop.csv"
    times_only(0.01 + np.random.default_rng(0).normal(0, 1e-3, 500)).to_csv(csv, index=False)
    a = analyse_run(load_run(csv))
    assert a.summary.iloc[0]["time_source"] == "cumulative wall_s"
    assert (a.hypotheses["verdict"].iloc[:4] == NOT_TESTABLE).all()
    assert a.conditions["condition"].tolist() == ["whole run"]


def test_renders(runs) -> None:  # type: ignore[no-untyped-def]
    base, slow = runs
    a = analyse_run(slow, base)
    md = a.to_markdown()
    assert "### hypotheses" in md and "### curve" not in md
    assert "| H5 " in md
    tex = to_latex(a.milestones, caption="Milestones")
    assert "accel\\_paper\\_pct\\_per\\_h" in tex
