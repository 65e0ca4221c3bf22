"""Early prediction (the paper's research question 2): the total runtime from the first cycles.

From the first 10 % and 20 % of a run's cycles, the cumulative time T(k) after k cycles is
extrapolated to the run's full length N three ways:

- ``proportional``: T(m) · N / m, the constant-pace guess a user makes from a progress bar;
- ``linear``: least-squares T(k) = a + b k over k = 1..m, evaluated at N;
- ``quadratic``: T(k) = a + b k + c k², evaluated at N (follows a per-cycle time that drifts
  linearly, i.e. the paper's H5 shape).

Once the run is complete the table gives each prediction's error. No prediction interval is
given: T(k) is a running sum, its residuals are strongly autocorrelated, and an OLS interval on
it would be far too narrow. A multi-condition run is extrapolated from its first condition(s)
only, which is the honest early-phase position and the method's main weakness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nrm.exceptions import ParameterError
from nrm.instrument.reader import RunData
from nrm.stats._data import TimeSource, as_cycles, cumulative_time
from nrm.stats.variance import Baseline, expected_curve

__all__ = ["METHODS", "early_prediction", "extrapolate"]

METHODS = ("proportional", "linear", "quadratic")


def extrapolate(cum: np.ndarray, total: int, method: str) -> float:
    """Predicted cumulative time after ``total`` cycles from ``cum`` (T after 1..m cycles)."""
    m = cum.size
    if method == "proportional":
        return float(cum[-1] * total / m)
    degree = {"linear": 1, "quadratic": 2}.get(method)
    if degree is None:
        raise ParameterError(f"prediction method {method!r}; expected one of {', '.join(METHODS)}")
    if m <= degree:
        return math.nan
    k = np.arange(1, m + 1, dtype=float)
    scale = float(m)
    coef = np.polynomial.polynomial.polyfit(k / scale, cum, degree)
    return float(np.polynomial.polynomial.polyval(total / scale, coef))


def early_prediction(
    run: RunData | pd.DataFrame,
    fractions: Sequence[float] = (0.1, 0.2),
    *,
    baseline: Baseline | None = None,
    planned_steps: int | None = None,
    methods: Sequence[str] = METHODS,
    source: TimeSource = "auto",
) -> pd.DataFrame:
    """One row per (fraction, method): cycles used, predicted and actual total, error.

    With a ``baseline`` the prediction is also stated as a runtime variance % (predicted vs
    actual), which is the paper's question: can the variance be seen early?
    """
    df = as_cycles(run)
    cum, _ = cumulative_time(df, source)
    n = cum.size
    total = n if planned_steps is None else int(planned_steps)
    if total < n:
        raise ParameterError(f"planned_steps = {planned_steps}; the log already has {n} rows")
    complete = (run.complete if isinstance(run, RunData) else True) and n == total
    actual = float(cum[-1]) if complete else math.nan
    expected = (
        float(expected_curve(baseline, np.array([1.0]), source=source)[0][0])
        if baseline is not None
        else math.nan
    )
    rows = []
    for f in fractions:
        if not 0 < f < 1:
            raise ParameterError(f"prediction fraction {f}; expected a value in (0, 1)")
        m = round(f * total)
        for method in methods:
            pred = extrapolate(cum[:m], total, method) if 0 < m <= n else math.nan
            rows.append({
                "fraction": float(f),
                "method": method,
                "cycles_used": m,
                "predicted_s": pred,
                "actual_s": actual,
                "error_s": pred - actual,
                "error_pct": 100.0 * (pred - actual) / actual if actual > 0 else math.nan,
                "predicted_variance_pct": 100.0 * (pred - expected) / expected,
                "actual_variance_pct": 100.0 * (actual - expected) / expected,
            })
    return pd.DataFrame(rows)
