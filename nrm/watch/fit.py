"""The drift fit: ``y = a + b x`` by least squares, with an autocorrelation-robust interval.

Consecutive windows of a long run are correlated (a slow patch lasts), so the slope's
interval uses Newey-West (HAC) standard errors (statsmodels ``OLS(...).fit(cov_type="HAC")``,
Bartlett kernel, ``floor(4 (n/100)^(2/9))`` lags, t distribution). This is a small private
fit: the compendium's shared drift module (``nrm/stats/drift.py``) had not landed when
``nrm watch`` was written; swap it in when it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Fewest windows a drift is fitted on; fewer is "not testable: too short".
MIN_WINDOWS = 8


def hac_lags(n: int) -> int:
    """Newey-West's rule of thumb for the number of lags."""
    return max(1, math.floor(4 * (n / 100.0) ** (2.0 / 9.0)))


@dataclass(frozen=True)
class Drift:
    """Slope of ``y`` on ``x`` with its 95 % HAC interval; levels at the first and last x."""

    n: int
    slope: float
    ci_low: float
    ci_high: float
    p: float
    start: float  # fitted y at the first x
    end: float  # fitted y at the last x

    @property
    def change(self) -> float:
        """Fitted change of ``y`` over the run (end - start)."""
        return self.end - self.start

    @property
    def relative(self) -> float | None:
        """Fitted change over the run as a share of the start level (None if start <= 0)."""
        return self.change / self.start if self.start > 0 else None

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "n": self.n, "slope": self.slope, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "p": self.p, "start": self.start, "end": self.end, "change": self.change,
            "relative": self.relative,
        }


def fit_drift(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> Drift | None:
    """Fit the drift; ``None`` when fewer than :data:`MIN_WINDOWS` finite points remain or
    ``x`` does not vary."""
    import statsmodels.api as sm

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    if n < MIN_WINDOWS or np.ptp(x) <= 0:
        return None
    design = sm.add_constant(x, has_constant="add")
    if np.ptp(y) == 0:  # a constant series: no drift, an exact zero interval
        return Drift(n, 0.0, 0.0, 0.0, 1.0, float(y[0]), float(y[0]))
    res = sm.OLS(y, design).fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags(n)}, use_t=True)
    low, high = res.conf_int(alpha=1 - level)[1]
    a, b = float(res.params[0]), float(res.params[1])
    return Drift(
        n=n, slope=b, ci_low=float(low), ci_high=float(high), p=float(res.pvalues[1]),
        start=a + b * float(x.min()), end=a + b * float(x.max()),
    )
