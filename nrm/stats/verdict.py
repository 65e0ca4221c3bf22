"""Threshold verdicts decided by the confidence interval, not the point estimate."""

from __future__ import annotations

import math

__all__ = ["VERDICTS", "threshold_verdict"]

#: The three answers to "does the value exceed the threshold?".
VERDICTS = ("holds", "does not hold", "undecided")


def threshold_verdict(value: float, ci_low: float, ci_high: float, threshold: float, *,
                      above: bool = True, p: float | None = None,
                      alpha: float = 0.05) -> str:
    """"holds", "does not hold" or "undecided" for a prediction "value > threshold" (or
    "< threshold" with ``above=False``), and "p < alpha" when ``p`` is given.

    The interval decides, not the point estimate: it holds only when the whole 95 % interval
    lies on the predicted side (and p < alpha); it does not hold when the whole interval lies
    on the other side, or p >= alpha with the interval on the predicted side; an interval that
    contains the threshold is "undecided". Without an interval (NaN bounds): "undecided".
    """
    lo, hi = float(ci_low), float(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)) or not math.isfinite(float(value)):
        return "undecided"
    lo, hi = min(lo, hi), max(lo, hi)
    t = float(threshold)
    on_side = lo > t if above else hi < t
    off_side = hi <= t if above else lo >= t
    if off_side:
        return "does not hold"
    if on_side:
        if p is not None and not (math.isfinite(float(p)) and float(p) < alpha):
            return "does not hold"
        return "holds"
    return "undecided"
