"""nrm.stats._regression against statsmodels, scipy and hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.stattools import durbin_watson

from nrm.stats._regression import fit_line, fit_quadratic, newey_west_lags


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    out = np.empty(n)
    out[0] = e[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


def test_textbook_line() -> None:
    # x = 1..5, y = 2,4,5,4,5: Sxy = 6, Sxx = 10 -> slope 0.6, intercept 2.2, R² = 3.6/6 = 0.6
    f = fit_line(np.array([1, 2, 3, 4, 5]), np.array([2, 4, 5, 4, 5]))
    assert f.slope == pytest.approx(0.6)
    assert f.intercept == pytest.approx(2.2)
    assert f.r2 == pytest.approx(0.6)
    # residual SS = 6 - 3.6 = 2.4, sigma² = 2.4/3 = 0.8, se = sqrt(0.8/10)
    assert f.se_ols == pytest.approx(math.sqrt(0.08))


def test_newey_west_lags_by_hand() -> None:
    assert newey_west_lags(12000) == 11  # 4 * 120^(2/9) = 11.59
    assert newey_west_lags(3000) == 8  # 4 * 30^(2/9) = 8.52
    assert newey_west_lags(100) == 4


@pytest.mark.parametrize("lags", [None, 0, 5])
def test_line_matches_statsmodels_ols_and_hac(lags: int | None) -> None:
    n = 800
    x = np.arange(n, dtype=float) * 3.0 + 100
    y = 5 + 0.002 * x + _ar1(n, 0.7, seed=1)
    f = fit_line(x, y, hac_lags=lags)
    L = newey_west_lags(n) if lags is None else lags
    X = sm.add_constant(x)
    ols = sm.OLS(y, X).fit()
    hac = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": L}, use_t=True)
    assert f.hac_lags == L
    assert f.intercept == pytest.approx(ols.params[0], rel=1e-9)
    assert f.slope == pytest.approx(ols.params[1], rel=1e-9)
    assert f.se_ols == pytest.approx(ols.bse[1], rel=1e-9)
    assert f.p_ols == pytest.approx(ols.pvalues[1], rel=1e-6, abs=1e-300)
    assert f.r2 == pytest.approx(ols.rsquared, rel=1e-9)
    assert f.se_hac == pytest.approx(hac.bse[1], rel=1e-9)
    assert f.p_hac == pytest.approx(hac.pvalues[1], rel=1e-6, abs=1e-300)
    lo, hi = f.ci()
    assert (lo, hi) == pytest.approx(tuple(hac.conf_int()[1]), rel=1e-9)
    assert f.ci(robust=False) == pytest.approx(tuple(ols.conf_int()[1]), rel=1e-9)
    assert f.durbin_watson == pytest.approx(durbin_watson(ols.resid), rel=1e-9)
    r = ols.resid
    assert f.resid_lag1 == pytest.approx(float(r[1:] @ r[:-1] / (r @ r)), rel=1e-9)


def test_line_matches_scipy_linregress() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 10, 300)
    y = 1.5 - 0.3 * x + rng.normal(0, 2, 300)
    f = fit_line(x, y)
    ref = stats.linregress(x, y)
    assert f.slope == pytest.approx(ref.slope, rel=1e-10)
    assert f.intercept == pytest.approx(ref.intercept, rel=1e-10)
    assert f.se_ols == pytest.approx(ref.stderr, rel=1e-9)
    assert f.p_ols == pytest.approx(ref.pvalue, rel=1e-6)
    assert f.r2 == pytest.approx(ref.rvalue**2, rel=1e-9)


def test_line_drops_missing_rows_and_handles_tiny_input() -> None:
    f = fit_line(np.array([0, 1, 2, np.nan, 4]), np.array([1, 3, 5, 7, np.nan]))
    assert f.n == 3
    assert f.slope == pytest.approx(2.0)
    assert math.isnan(fit_line(np.array([1.0, 2.0]), np.array([1.0, 2.0])).slope)


def test_autocorrelation_makes_ols_optimistic_and_hac_corrects_it() -> None:
    # No trend, AR(1) errors: how often does each p fall below 0.05? (seeded Monte Carlo)
    n, sims = 400, 200
    x = np.arange(n, dtype=float)
    reject_ols = reject_hac = 0
    for s in range(sims):
        f = fit_line(x, _ar1(n, 0.8, seed=100 + s))
        reject_ols += f.p_ols < 0.05
        reject_hac += f.p_hac < 0.05
    assert reject_ols / sims > 0.4  # far above the nominal 5 %
    assert reject_hac / sims < 0.3
    assert reject_hac < reject_ols / 2


def test_quadratic_matches_statsmodels() -> None:
    n = 600
    x = np.arange(n, dtype=float)
    y = 3e7 + 2e3 * x + 40.0 * (x - 200) ** 2 + 1e5 * _ar1(n, 0.5, seed=2)
    q = fit_quadratic(x, y)
    X1 = sm.add_constant(x)
    X2 = np.column_stack([np.ones(n), x, x**2])
    m1 = sm.OLS(y, X1).fit()
    m2 = sm.OLS(y, X2).fit()
    f, p, _ = m2.compare_f_test(m1)
    assert q.r2_linear == pytest.approx(m1.rsquared, rel=1e-9)
    assert q.r2_quadratic == pytest.approx(m2.rsquared, rel=1e-9)
    assert q.delta_r2 == pytest.approx(m2.rsquared - m1.rsquared, rel=1e-7)
    assert q.f_stat == pytest.approx(f, rel=1e-6)
    assert q.p_f == pytest.approx(p, rel=1e-6, abs=1e-300)
    assert q.quad_coef == pytest.approx(m2.params[2], rel=1e-6)
    assert q.quad_coef == pytest.approx(np.polyfit(x, y, 2)[0], rel=1e-6)
    assert q.se_quad_ols == pytest.approx(m2.bse[2], rel=1e-6)
    # one restriction: F is the square of the t statistic of the x² term
    assert q.f_stat == pytest.approx((m2.params[2] / m2.bse[2]) ** 2, rel=1e-6)
    L = newey_west_lags(n)
    h2 = sm.OLS(y, X2).fit(cov_type="HAC", cov_kwds={"maxlags": L}, use_t=True)
    assert q.se_quad_hac == pytest.approx(h2.bse[2], rel=1e-6)
    assert q.p_quad_hac == pytest.approx(h2.pvalues[2], rel=1e-5, abs=1e-300)
    assert q.convex


def test_quadratic_of_a_straight_line_has_no_gain() -> None:
    x = np.arange(100, dtype=float)
    y = 2 * x + 1 + np.random.default_rng(0).normal(0, 1, 100)
    q = fit_quadratic(x, y)
    assert 0 <= q.delta_r2 < 0.001
    assert q.p_f > 0.05
