"""Phase 1B comparison: each statistic against statsmodels, scipy or a hand computation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind
from synthlogs import make_cycles, write_run

from nrm.exceptions import ParameterError
from nrm.instrument.reader import load_run
from nrm.stats import compare_runs, compare_times
from nrm.stats.comparison import block_bootstrap_sums, block_length, cohens_d


def _table(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index("statistic")


@pytest.fixture(scope="module")
def groups() -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(42)
    unopt = 0.040 + 0.010 * rng.standard_normal(1500) ** 2  # skewed, seconds
    opt = [0.004 + 0.001 * rng.random(600), 0.0045 + 0.001 * rng.random(500)]
    return unopt, opt


def test_welch_matches_statsmodels(groups) -> None:  # type: ignore[no-untyped-def]
    u, opt = groups
    t = _table(compare_times(u, opt, n_boot=200))
    o = np.concatenate(opt)
    tstat, p, df = sm_ttest_ind(u * 1000, o * 1000, usevar="unequal")
    assert t.loc["Welch t", "value"] == pytest.approx(tstat, rel=1e-9)
    assert t.loc["Welch t", "p_value"] == pytest.approx(p, rel=1e-6, abs=1e-300)
    assert f"df = {df:.1f}" in t.loc["Welch t", "note"]
    # Welch–Satterthwaite df by hand
    va, vb = (u * 1000).var(ddof=1) / u.size, (o * 1000).var(ddof=1) / o.size
    assert df == pytest.approx((va + vb) ** 2 / (va**2 / (u.size - 1) + vb**2 / (o.size - 1)))
    diff = t.loc["mean difference (ms)"]
    assert diff["value"] == pytest.approx(1000 * (u.mean() - o.mean()))
    q = stats.t.ppf(0.975, df)
    half = q * math.sqrt(va + vb)
    expected = (diff["value"] - half, diff["value"] + half)
    assert (diff["ci_low"], diff["ci_high"]) == pytest.approx(expected)


def test_cohens_d_by_hand() -> None:
    a = np.array([2, 4, 4, 4, 5, 5, 7, 9], dtype=float)  # mean 5, s² = 32/7
    b = np.array([1, 2, 3, 4, 5], dtype=float)  # mean 3, s² = 2.5
    # pooled s² = (7·32/7 + 4·2.5) / 11 = 42/11
    assert cohens_d(a, b) == pytest.approx(2 / math.sqrt(42 / 11), rel=1e-12)


def test_levene_and_brown_forsythe_are_anovas_of_deviations(groups) -> None:  # type: ignore[no-untyped-def]
    u, opt = groups
    o = np.concatenate(opt)
    t = _table(compare_times(u, opt, n_boot=200))
    um, om = u * 1000, o * 1000
    lev = stats.f_oneway(np.abs(um - um.mean()), np.abs(om - om.mean()))
    bf = stats.f_oneway(np.abs(um - np.median(um)), np.abs(om - np.median(om)))
    levene = t.loc["Levene W (center = mean)"]
    assert levene["value"] == pytest.approx(lev.statistic, rel=1e-9)
    assert levene["p_value"] == pytest.approx(lev.pvalue, rel=1e-6, abs=1e-300)
    brown = t.loc["Brown-Forsythe W (center = median)"]
    assert brown["value"] == pytest.approx(bf.statistic, rel=1e-9)
    assert brown["p_value"] == pytest.approx(bf.pvalue, rel=1e-6, abs=1e-300)
    assert t.loc["variance reduction (%)", "value"] == pytest.approx(
        100 * (1 - o.var(ddof=1) / u.var(ddof=1))
    )
    cv_u, cv_o = u.std(ddof=1) / u.mean(), o.std(ddof=1) / o.mean()
    assert t.loc["CV reduction (%)", "value"] == pytest.approx(100 * (1 - cv_o / cv_u))


def test_speedup_and_descriptives(groups) -> None:  # type: ignore[no-untyped-def]
    u, opt = groups
    t = _table(compare_times(u, opt, n_boot=500, seed=1))
    o = np.concatenate(opt)
    s = t.loc["speedup, mean per-cycle time (ratio)"]
    assert s["value"] == pytest.approx(u.mean() / o.mean())
    assert s["ci_low"] < s["value"] < s["ci_high"]
    assert t.loc["speedup, total time per run (ratio)", "value"] == pytest.approx(
        u.sum() / np.mean([r.sum() for r in opt])
    )
    assert t.loc["runs, optimized", "value"] == 2
    assert t.loc["cycles, optimized", "value"] == 1100
    sd = t.loc["SD per-cycle time, unoptimized (ms)", "value"]
    assert sd == pytest.approx(1000 * u.std(ddof=1))


def test_bootstrap_interval_matches_the_delta_method_for_independent_data() -> None:
    rng = np.random.default_rng(3)
    u = rng.gamma(4.0, 0.01, 3000)
    o = rng.gamma(4.0, 0.001, 3000)
    t = _table(compare_times(u, o, n_boot=4000, seed=2))
    s = t.loc["speedup, mean per-cycle time (ratio)"]
    r = u.mean() / o.mean()
    # delta method: var(ratio) ≈ r² (cv_u²/n_u + cv_o²/n_o)
    cv2_u, cv2_o = u.var(ddof=1) / u.mean() ** 2, o.var(ddof=1) / o.mean() ** 2
    se = r * math.sqrt(cv2_u / u.size + cv2_o / o.size)
    assert (s["ci_high"] - s["ci_low"]) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.1)
    assert "block length 1 (unoptimized) and 1 (optimized)" in s["note"]


def test_block_bootstrap_sums_equal_a_naive_loop() -> None:
    x = np.random.default_rng(0).normal(size=103)
    L, B = 7, 50
    s1, s2, m = block_bootstrap_sums(x, L, B, np.random.default_rng(9))
    k = round(103 / 7)
    assert m == k * L
    starts = np.random.default_rng(9).integers(0, 103 - L + 1, size=(B, k))
    for b in range(B):
        idx = np.concatenate([np.arange(s, s + L) for s in starts[b]])
        assert s1[b] == pytest.approx(x[idx].sum(), rel=1e-9, abs=1e-12)
        assert s2[b] == pytest.approx((x[idx] ** 2).sum(), rel=1e-9)


def test_block_length_rule() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    assert block_length(rng.normal(size=n)) == 1
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.8 * e[i - 1] + rng.normal()
    # (1.5 n)^(1/3) (2ρ/(1−ρ²))^(2/3) with ρ ≈ 0.8: 16.5 · 4.44^(2/3) ≈ 45
    assert 35 <= block_length(e) <= 55
    # a straight-line trend alone is not dependence
    assert block_length(0.01 * np.arange(n) + rng.normal(size=n)) == 1


def test_paper_prediction_holds_and_fails() -> None:
    rng = np.random.default_rng(5)
    u = 0.05 + 0.02 * rng.random(1000)
    small = 0.005 + 0.002 * rng.random(1000)  # 100× less variance
    t = compare_times(u, small, n_boot=200)
    row = t.iloc[-1]
    assert row["statistic"].startswith("paper's prediction")
    assert row["note"].startswith("holds")
    assert t.attrs["prediction_holds"] is True
    same = 0.05 + 0.02 * rng.random(1000)
    t = compare_times(u, same, n_boot=200)
    assert t.iloc[-1]["note"].startswith("does not hold")
    assert t.attrs["prediction_holds"] is False


def test_compare_runs_from_folders(tmp_path: Path) -> None:
    un = load_run(write_run(tmp_path / "C256", make_cycles(300, seed=1, wall="linear")))
    opts = [
        load_run(write_run(tmp_path / f"C25{i}", make_cycles(300, seed=i, wall_base_ms=1.0,
                                                             wall_noise_ms=0.1)))
        for i in (7, 8)
    ]
    t = compare_runs(un, opts, n_boot=300)
    assert t.attrs["optimized"] == ["C257", "C258"]
    tab = _table(t)
    assert tab.loc["sample calls per run, unoptimized", "value"] == un.cycles["samples"].sum()
    mean_opt = np.mean([r.cycles["samples"].sum() for r in opts])
    assert tab.loc["sample calls per run, optimized", "value"] == pytest.approx(mean_opt)
    assert tab.loc["sample-call reduction (ratio)", "value"] == pytest.approx(
        un.cycles["samples"].sum() / mean_opt
    )
    trend = tab.loc["per-cycle trend, unoptimized (ms/cycle)"]
    assert trend["value"] == pytest.approx(0.02, rel=0.05)
    assert trend["p_value"] < 1e-6
    assert tab.loc["per-cycle trend, optimized (ms/cycle)", "p_value"] > 0.001


def test_compare_without_samples_and_bad_input() -> None:
    t = _table(compare_times([0.01, 0.02, 0.03, 0.02], [0.001, 0.002, 0.001, 0.002], n_boot=100))
    assert math.isnan(t.loc["sample-call reduction (ratio)", "value"])
    with pytest.raises(ParameterError, match="at least 3 finite"):
        compare_times([0.01, np.nan, 0.02], [0.001, 0.002, 0.003])
    with pytest.raises(ParameterError, match="n_boot"):
        compare_times([0.01, 0.02, 0.03], [0.001, 0.002, 0.003], n_boot=10)
