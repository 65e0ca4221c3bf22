"""The drift of one watched series, read through the compendium's drift statistic.

Every drift ``nrm watch`` reports is :func:`nrm.stats.drift.drift` of a per-window series
against cumulative work (or elapsed hours): OLS with a Newey-West (Bartlett) HAC interval whose
lag follows Andrews' AR(1) plug-in, a Kiefer-Vogelsang fixed-b critical value, and the shape
of the series (flat, warm-up, step, ramp, accelerating). What this module adds is the view the
verdicts need: the fitted level at the first and at the last window, the change between them
and that change relative to the first level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fewest windows a drift is fitted on; fewer is "not testable: too short".
MIN_WINDOWS = 8


@dataclass(frozen=True)
class Drift:
    """Slope of ``y`` on ``x`` with its 95 % interval; levels at the first and last x."""

    n: int
    slope: float  # per unit of x
    ci_low: float
    ci_high: float
    start: float  # fitted y at the first x
    end: float  # fitted y at the last x
    shape: str = ""
    hac_lags: int = 0

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

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {
            "n": self.n, "slope": self.slope, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "start": self.start, "end": self.end, "change": self.change,
            "relative": self.relative, "shape": self.shape, "hac_lags": self.hac_lags,
        }


def fit_drift(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> Drift | None:
    """:func:`nrm.stats.drift.drift` of ``y`` against ``x`` (no work terms: the series is
    already per unit of work, or a share of time); ``None`` when fewer than
    :data:`MIN_WINDOWS` finite points remain or ``x`` does not vary."""
    from nrm.stats.drift import drift

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < MIN_WINDOWS or np.ptp(x) <= 0:
        return None
    if np.ptp(y) == 0:  # a constant series: no drift (the OLS slope is 0 up to rounding)
        return Drift(len(x), 0.0, 0.0, 0.0, float(y[0]), float(y[0]), "flat", 0)
    r = drift(y, index=x, per=1.0, level=level, min_cycles=MIN_WINDOWS)
    if not r.testable:
        return None
    mid = r.unit_cost("cycle").estimate  # the fitted level at the mean x
    xm = float(x.mean())
    low, high = r.drift_ci
    return Drift(n=r.n, slope=r.drift_s, ci_low=low, ci_high=high,
                 start=mid + r.drift_s * (float(x.min()) - xm),
                 end=mid + r.drift_s * (float(x.max()) - xm),
                 shape=r.shape, hac_lags=r.hac_lags)
