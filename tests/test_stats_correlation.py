"""nrm.stats._correlation: Spearman ρ, its interval and the effective-sample-size p."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nrm.stats._correlation import lag1, spearman


def test_textbook_example() -> None:
    # The classic IQ vs hours-of-TV example: Σd² = 194, ρ = 1 − 6·194/(10·99) = −29/165.
    iq = np.array([106, 100, 86, 101, 99, 103, 97, 113, 112, 110])
    tv = np.array([7, 27, 2, 50, 28, 29, 20, 12, 6, 17])
    r = spearman(iq, tv)
    assert r.rho == pytest.approx(-29 / 165, abs=1e-12)
    # t approximation by hand: t = ρ sqrt((n−2)/(1−ρ²)), two-sided with 8 df
    t = (-29 / 165) * math.sqrt(8 / (1 - (29 / 165) ** 2))
    assert r.p == pytest.approx(2 * stats.t.sf(abs(t), 8), rel=1e-9)
    assert r.p == pytest.approx(0.6272, abs=1e-4)


def test_matches_pandas_with_ties() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 20, 500).astype(float)
    y = x + rng.integers(0, 10, 500)
    r = spearman(x, y)
    ref = pd.Series(x).corr(pd.Series(y), method="spearman")
    assert r.rho == pytest.approx(ref, rel=1e-12)


def test_effective_n_by_hand() -> None:
    rng = np.random.default_rng(5)
    n = 1000
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.9 * e[i - 1] + rng.normal()
    t = np.arange(n, dtype=float)
    y = 0.01 * t + e
    r = spearman(t, y, x_is_time=True)
    # independent statement of the rule: lag-1 autocorrelation of y's ranks after a linear fit
    # on the time ranks, n_eff = n (1 − r)/(1 + r), then the usual t with n_eff − 2 df
    ry = stats.rankdata(y)
    resid = ry - np.polyval(np.polyfit(t + 1, ry, 1), t + 1)
    d = resid - resid.mean()
    r1 = float(np.sum(d[1:] * d[:-1]) / np.sum(d * d))
    n_eff = n * (1 - r1) / (1 + r1)
    assert r.n_eff == pytest.approx(n_eff, rel=1e-9)
    tstat = r.rho * math.sqrt((n_eff - 2) / (1 - r.rho**2))
    assert r.p_adj == pytest.approx(2 * stats.t.sf(abs(tstat), n_eff - 2), rel=1e-9)
    assert r.p_adj > r.p
    # Bonett–Wright interval at n_eff
    se = math.sqrt((1 + r.rho**2 / 2) / (n_eff - 3))
    z = math.atanh(r.rho)
    assert r.ci_low == pytest.approx(math.tanh(z - 1.959963984540054 * se), rel=1e-9)
    assert r.ci_high == pytest.approx(math.tanh(z + 1.959963984540054 * se), rel=1e-9)


def test_no_positive_autocorrelation_leaves_p_unchanged() -> None:
    t = np.arange(200, dtype=float)
    y = t + 50 * (-1.0) ** t  # residual alternates: negative lag-1 autocorrelation
    r = spearman(t, y, x_is_time=True)
    assert r.n_eff == 200
    assert r.p_adj == pytest.approx(r.p, rel=1e-9)


def test_two_random_series_use_both_autocorrelations() -> None:
    rng = np.random.default_rng(9)
    x = np.cumsum(rng.normal(size=300))
    y = np.cumsum(rng.normal(size=300))
    r = spearman(x, y)
    rx, ry = lag1(stats.rankdata(x)), lag1(stats.rankdata(y))
    assert r.n_eff == pytest.approx(max(300 * (1 - rx * ry) / (1 + rx * ry), 4.0), rel=1e-9)


def test_adjusted_p_controls_false_positives_on_persistent_noise() -> None:
    n, sims = 300, 200
    t = np.arange(n, dtype=float)
    naive = adjusted = 0
    for s in range(sims):
        rng = np.random.default_rng(1000 + s)
        e = np.zeros(n)
        for i in range(1, n):
            e[i] = 0.9 * e[i - 1] + rng.normal()
        r = spearman(t, e, x_is_time=True)
        naive += r.p < 0.05
        adjusted += r.p_adj < 0.05
    assert naive / sims > 0.5
    assert adjusted / sims < 0.2


def test_constant_and_missing_inputs() -> None:
    r = spearman(np.arange(10.0), np.full(10, 3.0))
    assert r.constant == "y" and math.isnan(r.rho)
    r = spearman(np.array([1.0, 2, np.nan, 4, 5, 6]), np.array([2.0, 1, 3, np.nan, 5, 6]))
    assert r.n == 4
