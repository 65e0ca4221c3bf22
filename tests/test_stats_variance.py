"""Runtime variance, milestones and curves, on logs whose answers can be worked by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthlogs import make_cycles, times_only, write_run

from nrm.exceptions import ParameterError
from nrm.instrument.reader import load_run
from nrm.stats import condition_summary, milestone_table, runtime_curve, runtime_summary

HOUR = 3600.0


def test_constant_slowdown_by_hand() -> None:
    run = times_only(np.full(100, 1.5))  # 150 s in all
    base = times_only(np.full(200, 0.5))  # 100 s in all, twice the cycles
    m = milestone_table(run, base)
    assert m["fraction"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert m["cycles"].tolist() == [25, 50, 75, 100]
    assert m["elapsed_s"].tolist() == pytest.approx([37.5, 75, 112.5, 150])
    assert m["expected_s"].tolist() == pytest.approx([25, 50, 75, 100])
    assert m["variance_pct"].tolist() == pytest.approx([50.0] * 4)
    # the paper's "rate": 50 % ÷ (100 s in hours) is the same at every milestone
    assert m["accel_paper_pct_per_h"].tolist() == pytest.approx([50 / (100 / HOUR)] * 4)
    # the increment rate: variance does not change, so 0
    assert math.isnan(m["increment_pct_per_h"].iloc[0])
    assert m["increment_pct_per_h"].iloc[1:].tolist() == pytest.approx([0, 0, 0], abs=1e-9)


def test_drifting_run_by_hand() -> None:
    # wall_i = 1 + 0.01 i s, i = 0..99: after k cycles T(k) = k + 0.01 k(k−1)/2
    run = times_only(1 + 0.01 * np.arange(100))
    m = milestone_table(run, 100.0, fractions=(0.5, 1.0))
    t50, t100 = 50 + 0.01 * 50 * 49 / 2, 100 + 0.01 * 100 * 99 / 2  # 62.25, 149.5
    assert m["elapsed_s"].tolist() == pytest.approx([t50, t100])
    assert m["expected_s"].tolist() == pytest.approx([50, 100])
    v50, v100 = 100 * (t50 - 50) / 50, 100 * (t100 - 100) / 100  # 24.5 %, 49.5 %
    assert m["variance_pct"].tolist() == pytest.approx([v50, v100])
    assert m["accel_paper_pct_per_h"].iloc[1] == pytest.approx(v100 / (100 / HOUR))
    assert m["increment_pct_per_h"].iloc[1] == pytest.approx((v100 - v50) / ((t100 - t50) / HOUR))


def test_paper_definition_reproduces_its_first_row() -> None:
    # the paper: 30.0 h against an expected 20.1 h → +49.3 %, "2.45 %/h" = 49.3 / 20.1
    run = times_only(np.full(1000, 30.0 * HOUR / 1000))
    m = milestone_table(run, 20.1 * HOUR, fractions=(1.0,))
    assert m["variance_pct"].iloc[0] == pytest.approx(49.25, abs=0.01)
    assert m["accel_paper_pct_per_h"].iloc[0] == pytest.approx(2.45, abs=0.005)


def test_summary_prefers_elapsed_s(tmp_path: Path) -> None:
    df = make_cycles(100, seed=1)
    run = load_run(write_run(tmp_path / "r", df))
    s = runtime_summary(run, 10.0).iloc[0]
    assert s["time_source"] == "elapsed_s"
    assert s["actual_s"] == pytest.approx(df["elapsed_s"].iloc[-1])
    assert s["expected_s"] == 10.0
    assert s["variance_pct"] == pytest.approx(100 * (df["elapsed_s"].iloc[-1] - 10) / 10)
    assert s["cpu_s"] == pytest.approx(df["cpu_s"].sum())
    s2 = runtime_summary(run, 10.0, source="wall_s").iloc[0]
    assert s2["actual_s"] == pytest.approx(df["wall_s"].sum())
    assert s2["time_source"] == "cumulative wall_s"
    assert runtime_summary(run).iloc[0]["expected_from"] == "no baseline given"


def test_incomplete_run_with_planned_length() -> None:
    run = times_only(np.full(60, 1.0))  # 60 of 100 planned cycles
    m = milestone_table(run, 100.0, planned_steps=100)
    assert m["elapsed_s"].iloc[:2].tolist() == pytest.approx([25, 50])
    assert m["elapsed_s"].iloc[2:].isna().all()
    s = runtime_summary(run, 100.0, planned_steps=100).iloc[0]
    assert not s["complete"]
    assert s["expected_s"] == pytest.approx(60.0)  # the baseline at the same fraction (60 %)
    with pytest.raises(ParameterError, match="planned_steps"):
        milestone_table(run, 100.0, planned_steps=10)


def test_curve_against_baseline_curve() -> None:
    run = times_only(np.full(10, 2.0))
    base = times_only(np.arange(1, 21, dtype=float))  # cumulative k(k+1)/2
    c = runtime_curve(run, base)
    assert c["cycles"].tolist() == list(range(1, 11))
    assert c["actual_s"].tolist() == pytest.approx(2.0 * np.arange(1, 11))
    # run fraction k/10 ↔ baseline cycle 2k: T_b(2k) = 2k(2k+1)/2
    k = np.arange(1, 11)
    assert c["expected_s"].tolist() == pytest.approx(k * (2 * k + 1))
    short = runtime_curve(run, base, points=3)
    assert short["cycles"].tolist() == [1, 6, 10]


def test_condition_summary_matches_groupby() -> None:
    df = make_cycles(200, seed=5, wall="linear")
    s = condition_summary(df).set_index("condition")
    ms = df.assign(ms=df["wall_s"] * 1000).groupby("condition", sort=False)["ms"]
    assert s.loc["ON-OFF", "mean_ms"] == pytest.approx(ms.mean()["ON-OFF"])
    assert s.loc["ON-OFF", "sd_ms"] == pytest.approx(ms.std()["ON-OFF"])
    assert s.loc["ON-OFF", "median_ms"] == pytest.approx(ms.median()["ON-OFF"])
    part = df[df.condition == "OFF-ON"]["wall_s"].to_numpy() * 1000
    assert s.loc["OFF-ON", "last_over_first"] == pytest.approx(part[-20:].mean() / part[:20].mean())
    assert s.loc["whole run", "cycles"] == 800
    assert s.loc["whole run", "wall_total_s"] == pytest.approx(df["wall_s"].sum())


def test_bad_baseline_and_fractions() -> None:
    run = times_only(np.full(10, 1.0))
    with pytest.raises(ParameterError, match="baseline"):
        milestone_table(run, "20 h")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="baseline total"):
        milestone_table(run, -5.0)
    with pytest.raises(ParameterError, match="fractions"):
        milestone_table(run, 10.0, fractions=(0.0, 0.5))
    out = milestone_table(run)  # no baseline: elapsed only
    assert out["expected_s"].isna().all() and out["elapsed_s"].iloc[-1] == 10.0
    assert isinstance(out, pd.DataFrame)
