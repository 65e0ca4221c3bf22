"""Spearman rank correlation with a confidence interval and an autocorrelation-adjusted p.

The usual Spearman p-value (scipy's, a t approximation with n − 2 degrees of freedom) treats
the n rows as independent. Rows of a run log are consecutive cycles, and a sensor such as the
load average or a temperature moves slowly, so neighbouring rows repeat each other. The
adjusted p replaces n by an effective sample size (Bretherton et al. 1999, J. Climate 12:1990):
n_eff = n (1 − r_x r_y) / (1 + r_x r_y), r the lag-1 autocorrelations of the two rank
series. When x is the time axis itself (a trend test) r_x = 1 and r_y is taken from y's ranks
after removing the linear trend in time, so the trend being tested does not count as
autocorrelation. The interval is Fisher's z with the Bonett & Wright (2000, Psychometrika
65:23) standard error for Spearman, sqrt((1 + ρ²/2) / (n_eff − 3)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["SpearmanResult", "lag1", "spearman"]


def lag1(v: np.ndarray) -> float:
    """Lag-1 autocorrelation of a series around its mean (nan if constant or too short)."""
    v = np.asarray(v, dtype=float)
    if v.size < 3:
        return math.nan
    d = v - v.mean()
    ss = float(d @ d)
    return float(d[1:] @ d[:-1] / ss) if ss > 0 else math.nan


@dataclass(frozen=True)
class SpearmanResult:
    n: int
    rho: float
    p: float  # scipy's, rows treated as independent
    n_eff: float
    p_adj: float  # with the effective sample size
    ci_low: float
    ci_high: float
    constant: str | None = None  # "x" or "y" when one input does not vary


def _nan_result(n: int, constant: str | None = None) -> SpearmanResult:
    nan = math.nan
    return SpearmanResult(n, nan, nan, nan, nan, nan, nan, constant)


def spearman(
    x: np.ndarray, y: np.ndarray, *, x_is_time: bool = False, level: float = 0.95
) -> SpearmanResult:
    """Spearman ρ of (x, y) after dropping rows where either is missing."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 4:
        return _nan_result(n)
    if np.ptp(x) == 0:
        return _nan_result(n, "x")
    if np.ptp(y) == 0:
        return _nan_result(n, "y")
    res = stats.spearmanr(x, y)
    rho, p = float(res.statistic), float(res.pvalue)
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    if x_is_time:
        slope, icpt = np.polyfit(rx, ry, 1)
        r_x, r_y = 1.0, lag1(ry - (icpt + slope * rx))
    else:
        r_x, r_y = lag1(rx), lag1(ry)
    prod = r_x * r_y if np.isfinite(r_x * r_y) else 0.0
    prod = min(max(prod, 0.0), 0.999)  # only ever shrink n (negative products are rare noise)
    n_eff = max(n * (1 - prod) / (1 + prod), 4.0)
    if abs(rho) < 1:
        t = rho * math.sqrt((n_eff - 2) / (1 - rho**2))
        p_adj = float(2 * stats.t.sf(abs(t), n_eff - 2))
    else:
        p_adj = 0.0
    z = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12))
    se = math.sqrt((1 + rho**2 / 2) / (n_eff - 3))
    q = float(stats.norm.ppf(0.5 + level / 2))
    lo, hi = math.tanh(z - q * se), math.tanh(z + q * se)
    return SpearmanResult(n, rho, p, float(n_eff), p_adj, lo, hi)
