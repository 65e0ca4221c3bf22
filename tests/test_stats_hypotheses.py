"""H1-H5 verdicts on synthetic logs with known trends, and every number against an
independent computation (scipy, statsmodels, numpy, or a hand formula)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from synthlogs import make_cycles, times_only

from nrm.exceptions import ParameterError
from nrm.stats import (
    DEFAULT_RULES,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    HypothesisRules,
    evaluate_hypotheses,
)
from nrm.stats._regression import newey_west_lags

N = 750  # cycles per condition: 3000 rows in all


@pytest.fixture(scope="module")
def flat() -> pd.DataFrame:
    return make_cycles(N, seed=11)


@pytest.fixture(scope="module")
def linear() -> pd.DataFrame:
    return make_cycles(N, seed=12, wall="linear", rss="linear", latency="linear",
                       load="rising", thermal="throttling")


@pytest.fixture(scope="module")
def quadratic() -> pd.DataFrame:
    return make_cycles(N, seed=13, wall="quadratic", rss="quadratic")


def _run_row(res, hyp: str, y: str) -> pd.Series:  # type: ignore[no-untyped-def]
    t = res.tests
    sel = t[(t.hypothesis == hyp) & (t.scope == "whole run") & (t.role == "criterion") & (t.y == y)]
    assert len(sel) == 1, (hyp, y)
    return sel.iloc[0]


# ---- verdicts on known truths ------------------------------------------------------------
def test_flat_log_supports_nothing(flat: pd.DataFrame) -> None:
    res = evaluate_hypotheses(flat)
    assert res.verdicts["verdict"].tolist() == [NOT_SUPPORTED] * 5
    assert res.verdicts["hypothesis"].tolist() == ["H1", "H2", "H3", "H4", "H5"]


def test_linear_log(linear: pd.DataFrame) -> None:
    res = evaluate_hypotheses(linear)
    v = dict(zip(res.verdicts.hypothesis, res.verdicts.verdict, strict=True))
    # rising load, rising latency, temperature up / frequency down, per-cycle time up: all
    # supported; memory grows in a straight line, which is not H2's non-linear growth.
    assert v == {"H1": SUPPORTED, "H2": NOT_SUPPORTED, "H3": SUPPORTED, "H4": SUPPORTED,
                 "H5": SUPPORTED}
    # the generator's slopes are recovered: 0.02 ms/cycle, 0.005 and 0.01 ms per 1000 calls
    assert _run_row(res, "H5", "wall_s (ms)").estimate == pytest.approx(0.02, rel=0.02)
    assert _run_row(res, "H3", "sample_s per call (ms)").estimate == pytest.approx(0.005, rel=0.05)
    assert _run_row(res, "H3", "commit_s per call (ms)").estimate == pytest.approx(0.01, rel=0.1)
    assert _run_row(res, "H2", "rss_bytes").delta_r2 < 0.01
    row = res.verdicts.set_index("hypothesis").loc["H5"]
    assert row.conditions_meeting == "4 of 4"


def test_quadratic_log(quadratic: pd.DataFrame) -> None:
    res = evaluate_hypotheses(quadratic)
    assert res.verdict("H2") == SUPPORTED
    assert res.verdict("H5") == SUPPORTED  # convex per-cycle time still has a rising slope
    assert res.verdict("H1") == NOT_SUPPORTED
    assert res.verdict("H3") == NOT_SUPPORTED
    row = _run_row(res, "H2", "rss_bytes")
    assert row.delta_r2 > 0.1
    assert row.quad_coef > 0
    assert "convex" in row.note


def test_delta_r2_rule_cannot_see_acceleration_from_the_start() -> None:
    # y = x² from x = 0: a straight line already explains 15/16 of the variance.
    n = 3000
    df = times_only(np.full(n, 0.01))
    df["rss_bytes"] = (30e6 + 20e6 * (np.arange(n) / n) ** 2).astype(np.int64)
    res = evaluate_hypotheses(df)
    row = _run_row(res, "H2", "rss_bytes")
    assert row.r2 == pytest.approx(15 / 16, abs=1e-3)
    assert row.delta_r2 == pytest.approx(1 / 16, abs=1e-3)
    assert res.verdict("H2") == NOT_SUPPORTED


# ---- not testable ------------------------------------------------------------------------
def test_missing_temperature_column(flat: pd.DataFrame) -> None:
    res = evaluate_hypotheses(flat.drop(columns=["cpu_temp_c"]))
    row = res.verdicts.set_index("hypothesis").loc["H4"]
    assert row.verdict == NOT_TESTABLE
    assert "cpu_temp_c is not in the log" in row.evidence
    assert "temperature and frequency" in row.evidence
    assert res.verdict("H5") == NOT_SUPPORTED  # the rest still runs


def test_empty_temperature_and_constant_frequency(linear: pd.DataFrame) -> None:
    df = linear.assign(cpu_temp_c=np.nan)
    ev = evaluate_hypotheses(df).verdicts.set_index("hypothesis").loc["H4"]
    assert ev.verdict == NOT_TESTABLE
    assert "cpu_temp_c has no values" in ev.evidence
    df = linear.assign(cpu_freq_mhz=2400.0)
    ev = evaluate_hypotheses(df).verdicts.set_index("hypothesis").loc["H4"]
    assert ev.verdict == NOT_TESTABLE
    assert "cpu_freq_mhz is constant (2400)" in ev.evidence


def test_minimal_user_log() -> None:
    rng = np.random.default_rng(0)
    wall = 0.01 + 2e-5 * np.arange(2000) + rng.normal(0, 1e-3, 2000)  # +0.02 ms a cycle
    res = evaluate_hypotheses(times_only(wall))
    v = dict(zip(res.verdicts.hypothesis, res.verdicts.verdict, strict=True))
    assert v["H1"] == v["H2"] == v["H3"] == v["H4"] == NOT_TESTABLE
    assert v["H5"] == SUPPORTED
    assert set(res.tests["scope"]) == {"whole run"}
    assert res.verdicts.set_index("hypothesis").loc["H5", "conditions_meeting"] == "—"
    ev = res.verdicts.set_index("hypothesis").loc["H3", "evidence"]
    assert "samples and sample_s not in the log" in ev


def test_one_usable_variable_is_enough_for_any_rules(linear: pd.DataFrame) -> None:
    res = evaluate_hypotheses(linear.drop(columns=["sys_cpu_pct"]))
    assert res.verdict("H1") == SUPPORTED
    assert "(not testable: sys_cpu_pct is not in the log)" in res.verdicts.evidence.iloc[0]


# ---- numbers against independent computations -------------------------------------------
def test_h5_numbers_match_statsmodels(linear: pd.DataFrame) -> None:
    row = _run_row(evaluate_hypotheses(linear), "H5", "wall_s (ms)")
    x = linear["step"].to_numpy(float)
    y = linear["wall_s"].to_numpy() * 1000
    L = newey_west_lags(len(x))
    hac = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HAC", cov_kwds={"maxlags": L}, use_t=True)
    assert row.estimate == pytest.approx(hac.params[1], rel=1e-9)
    assert row.r2 == pytest.approx(hac.rsquared, rel=1e-9)
    assert (row.ci_low, row.ci_high) == pytest.approx(tuple(hac.conf_int()[1]), rel=1e-9)
    assert row.robust_method == f"Newey-West HAC, {L} lags"
    # excess time: b · Σ(step − 0) ms = b · n(n−1)/2 ms
    n = len(x)
    assert row.excess_s == pytest.approx(hac.params[1] * n * (n - 1) / 2 / 1000, rel=1e-9)
    assert row.excess_at_threshold_s == pytest.approx(0.01 * n * (n - 1) / 2 / 1000)


def test_threshold_excess_matches_the_claims_arithmetic() -> None:
    # 0.01 ms/cycle over 12,000 cycles adds ½·0.01·12000² ms ≈ 12 min
    n = 12000
    df = times_only(0.01 + np.random.default_rng(0).normal(0, 1e-4, n))
    row = evaluate_hypotheses(df).verdicts.set_index("hypothesis").loc["H5"]
    assert row.excess_at_threshold_s / 60 == pytest.approx(12.0, rel=1e-3)


def test_h1_and_h4_match_scipy(linear: pd.DataFrame) -> None:
    res = evaluate_hypotheses(linear)
    t = linear["elapsed_s"].to_numpy()
    for hyp, col in (("H1", "load1"), ("H1", "sys_cpu_pct"), ("H4", "cpu_temp_c"),
                     ("H4", "cpu_freq_mhz")):
        ref = stats.spearmanr(t, linear[col].to_numpy())
        row = _run_row(res, hyp, col)
        assert row.estimate == pytest.approx(ref.statistic, rel=1e-12)
        assert row.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert _run_row(res, "H4", "cpu_freq_mhz").estimate < -0.9


def test_h2_numbers_match_numpy(quadratic: pd.DataFrame) -> None:
    row = _run_row(evaluate_hypotheses(quadratic), "H2", "frag_ratio")
    ok = quadratic["frag_ratio"].notna().to_numpy()
    x = quadratic["step"].to_numpy(float)[ok]
    y = quadratic["frag_ratio"].to_numpy(float)[ok]

    def r2(deg: int) -> float:
        resid = y - np.polyval(np.polyfit(x, y, deg), x)
        return 1 - resid @ resid / np.sum((y - y.mean()) ** 2)

    assert row.n == ok.sum() == 60
    assert row.r2 == pytest.approx(r2(1), rel=1e-9)
    assert row.delta_r2 == pytest.approx(r2(2) - r2(1), rel=1e-7)
    f = (r2(2) - r2(1)) / ((1 - r2(2)) / (len(x) - 3))
    assert row.f_stat == pytest.approx(f, rel=1e-6)
    assert row.p == pytest.approx(stats.f.sf(f, 1, len(x) - 3), rel=1e-5)


def test_h3_numbers_match_linregress(linear: pd.DataFrame) -> None:
    row = _run_row(evaluate_hypotheses(linear), "H3", "commit_s per call (ms)")
    calls = linear["commits"].to_numpy(float)
    x = np.cumsum(calls) / 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(calls > 0, linear["commit_s"].to_numpy() / calls * 1000, np.nan)
    ok = np.isfinite(y)
    ref = stats.linregress(x[ok], y[ok])
    assert row.n == ok.sum()
    assert row.estimate == pytest.approx(ref.slope, rel=1e-9)
    assert row.p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    # excess: Σ calls_i · b · (k_i − k_0)/1000 ms, k in calls
    k = np.cumsum(calls)
    k0 = k[ok][0]
    w = calls * np.clip(k - k0, 0, None)
    assert row.excess_s == pytest.approx(ref.slope * w.sum() / 1000 / 1000, rel=1e-9)


def test_h3_threshold_excess_matches_the_claims_arithmetic() -> None:
    # 90 calls a cycle over 12,000 cycles = 1.08 M calls; 0.001 ms per 1000 calls adds
    # ≈ 0.001 · N² / 2000 ms ≈ 9.7 min
    n = 12000
    rng = np.random.default_rng(1)
    df = times_only(np.full(n, 0.01), samples=np.full(n, 90))
    df["sample_s"] = 90 * (1e-4 + rng.normal(0, 1e-6, n))
    row = evaluate_hypotheses(df).verdicts.set_index("hypothesis").loc["H3"]
    assert row.excess_at_threshold_s / 60 == pytest.approx(9.7, abs=0.05)


# ---- scopes ------------------------------------------------------------------------------
def test_condition_breakdown_uses_cycle_within_condition() -> None:
    # each condition flat, later conditions slower: a run-level trend, no within-condition one
    df = make_cycles(N, seed=21, wall_noise_ms=0.5, wall_phi=0.0)
    level = df["condition"].map({"OFF-OFF": 0, "ON-OFF": 10, "OFF-ON": 20, "ON-ON": 30})
    df = df.assign(wall_s=df["wall_s"] + level.to_numpy() / 1000)
    res = evaluate_hypotheses(df)
    assert res.verdict("H5") == SUPPORTED
    row = res.verdicts.set_index("hypothesis").loc["H5"]
    assert row.conditions_meeting == "0 of 4"
    sub = res.tests[(res.tests.hypothesis == "H5") & (res.tests.scope == "ON-OFF")].iloc[0]
    assert sub.x == "cycle"
    part = df[df.condition == "ON-OFF"]
    ref = stats.linregress(part["cycle"].to_numpy(float), part["wall_s"].to_numpy() * 1000)
    assert sub.estimate == pytest.approx(ref.slope, rel=1e-9)


# ---- the rule set ------------------------------------------------------------------------
def test_robust_p_decides_against_a_spurious_trend() -> None:
    # flat per-cycle time with persistent noise: OLS finds a "significant" slope, HAC does not
    df = make_cycles(500, None, seed=3, wall_noise_ms=1.0, wall_phi=0.9)
    loose = dataclasses.replace(DEFAULT_RULES, h5_min_slope_ms_per_cycle=0.0, h5_min_r2=0.0)
    robust = evaluate_hypotheses(df, loose)
    naive = evaluate_hypotheses(df, dataclasses.replace(loose, p_value="naive"))
    row = _run_row(robust, "H5", "wall_s (ms)")
    assert row.p < 0.01 < 0.1 < row.p_robust
    assert "OLS p of the slope is optimistic" in row.note
    assert robust.verdict("H5") == NOT_SUPPORTED
    assert naive.verdict("H5") == SUPPORTED


def test_custom_thresholds_move_the_verdict(linear: pd.DataFrame) -> None:
    strict = dataclasses.replace(DEFAULT_RULES, h5_min_slope_ms_per_cycle=0.05)
    res = evaluate_hypotheses(linear, strict)
    assert res.verdict("H5") == NOT_SUPPORTED
    assert "> 0.05 ms/cycle" in res.verdicts.set_index("hypothesis").loc["H5", "criterion"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("alpha", 0), ("alpha", 1.5), ("p_value", "hac"), ("rho_threshold", 1.2),
     ("min_points", 2), ("h3_calls", (("samples",),))],
)
def test_invalid_rules(field: str, value: object) -> None:
    with pytest.raises(ParameterError, match=field):
        HypothesisRules(**{field: value})


def test_rules_are_frozen_and_tabulated() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_RULES.alpha = 0.1  # type: ignore[misc]
    table = DEFAULT_RULES.to_frame().set_index("rule")["value"]
    assert table["rho_threshold"] == "0.3"
    assert table["h3_calls"] == "samples/sample_s, commits/commit_s"


def test_h2_hump_is_not_growth_unless_the_rule_allows_it() -> None:
    """RSS that rises then falls back bends strongly (large ΔR²) but does not grow."""
    rng = np.random.default_rng(5)
    n = 1500
    x = np.arange(n)
    wall = 0.01 + rng.normal(0, 1e-4, n)
    df = times_only(wall)
    hump = 30e6 + 8e6 * np.sin(np.pi * x / (n - 1)) + rng.normal(0, 2e5, n)
    df["rss_bytes"] = hump.astype(np.int64)
    row = _run_row(evaluate_hypotheses(df), "H2", "rss_bytes")
    assert row.delta_r2 > 0.5  # the paper's ΔR² rule alone would call this fragmentation
    assert evaluate_hypotheses(df).verdict("H2") == NOT_SUPPORTED
    assert "not growth" in row.note
    lenient = dataclasses.replace(DEFAULT_RULES, h2_require_growth=False)
    assert evaluate_hypotheses(df, lenient).verdict("H2") == SUPPORTED
    # an upward-bending rise is growth either way
    df["rss_bytes"] = (30e6 + 8e6 * (x / n) ** 3 + rng.normal(0, 2e5, n)).astype(np.int64)
    assert evaluate_hypotheses(df).verdict("H2") == SUPPORTED
