"""Intervals that keep their level: per-block log ratios, t intervals, Holm / Bonferroni, TOST.

A study compares an arm with its base in b blocks (each block runs both, so block-to-block
drift cancels in the ratio). The per-block log ratio ``log(arm_i / base_i)`` is the unit of
analysis: its mean over blocks, with a Student t interval on b − 1 degrees of freedom, is the
effect; the ratio is ``exp(mean)`` with interval ``exp(t interval)``. With few blocks (5 is
typical) a percentile bootstrap of the mean under-covers and cannot reach past the range of
the block ratios; the t interval keeps its level when the block log ratios are roughly normal
(lognormal timing noise), which the A/A coverage test checks.

Several arms deciding one hypothesis: :func:`holm` (step-down, controls the family-wise error
and is never less powerful than Bonferroni) for p-values, :func:`bonferroni_level` for the
per-arm interval level.

:func:`equivalence_verdict` answers "is there an effect, and is it larger than the margin m?"
on the log-ratio scale with two one-sided tests (TOST). The verdicts, in the order checked:

1. ``"not testable"``: fewer than ``min_blocks`` (3) finite block log ratios;
2. ``"no effect larger than m"``: TOST rejects both |effect| ≥ m at α, i.e. the (1 − 2α)
   t interval lies inside (−m, m). This is checked first: an effect shown to be smaller than
   the declared margin is immaterial by declaration, even when it is different from 0;
3. ``"supported"``: the (1 − α) t interval lies wholly on the predicted side of 0
   (above 0 for a predicted slowdown, ``predicted="increase"``);
4. ``"refuted"``: it lies wholly on the other side of 0 (a significant opposite effect);
5. ``"within noise"``: otherwise (the interval holds 0 and reaches past the margin: the data
   can neither show the effect nor rule out one of size m).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from nrm.exceptions import ParameterError
from nrm.stats.verdict import EQUIVALENT, NOT_TESTABLE, REFUTED, SUPPORTED, WITHIN_NOISE

__all__ = [
    "EQUIVALENT",
    "MIN_BLOCKS",
    "NOT_TESTABLE",
    "REFUTED",
    "SUPPORTED",
    "VERDICTS",
    "WITHIN_NOISE",
    "Equivalence",
    "RatioInterval",
    "block_log_ratios",
    "bonferroni",
    "bonferroni_level",
    "equivalence_verdict",
    "holm",
    "log_margin",
    "ratio_interval",
]

VERDICTS = (SUPPORTED, REFUTED, EQUIVALENT, WITHIN_NOISE, NOT_TESTABLE)
#: Fewest blocks for a verdict (b − 1 = 2 degrees of freedom).
MIN_BLOCKS = 3


def block_log_ratios(arm: Sequence[float] | np.ndarray,
                     base: Sequence[float] | np.ndarray) -> np.ndarray:
    """``log(arm_i / base_i)`` per block; both must be positive, finite and of equal length."""
    a = np.asarray(arm, dtype=float)
    b = np.asarray(base, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ParameterError(f"arm and base need one value per block; got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all() and (a > 0).all() and (b > 0).all()):
        raise ParameterError("block values must be positive and finite (times or rates)")
    return np.log(a / b)


def log_margin(ratio: float) -> float:
    """A margin given as a ratio (1.05: 5 % either way) on the log-ratio scale."""
    if not (math.isfinite(ratio) and ratio > 1):
        raise ParameterError(f"a margin ratio must be > 1, got {ratio}")
    return math.log(ratio)


@dataclass(frozen=True)
class RatioInterval:
    """Mean block log ratio with its t interval, and the same as a ratio."""

    n_blocks: int
    level: float
    mean_log: float
    sd_log: float
    se_log: float
    df: int
    t_crit: float
    log_low: float
    log_high: float

    @property
    def ratio(self) -> float:
        return math.exp(self.mean_log) if math.isfinite(self.mean_log) else math.nan

    @property
    def ratio_low(self) -> float:
        return math.exp(self.log_low) if math.isfinite(self.log_low) else math.nan

    @property
    def ratio_high(self) -> float:
        return math.exp(self.log_high) if math.isfinite(self.log_high) else math.nan

    def covers(self, log_value: float = 0.0) -> bool:
        return bool(self.log_low <= log_value <= self.log_high)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "ratio_low": self.ratio_low,
                "ratio_high": self.ratio_high}

    def describe(self) -> str:
        if not math.isfinite(self.log_low):
            return f"ratio not estimable from {self.n_blocks} block(s)"
        return (f"ratio {self.ratio:.4f} ({self.level:.0%} CI {self.ratio_low:.4f}-"
                f"{self.ratio_high:.4f}; t on {self.df} df, {self.n_blocks} blocks)")


def ratio_interval(log_ratios: Sequence[float] | np.ndarray, level: float = 0.95) -> RatioInterval:
    """t interval of the mean log ratio on blocks − 1 degrees of freedom (NaN rows dropped;
    fewer than 2 blocks: NaN bounds)."""
    if not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level}")
    v = np.asarray(log_ratios, dtype=float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    nan = math.nan
    if n == 0:
        return RatioInterval(0, level, nan, nan, nan, 0, nan, nan, nan)
    mean = float(v.mean())
    if n < 2:
        return RatioInterval(n, level, mean, nan, nan, 0, nan, nan, nan)
    sd = float(v.std(ddof=1))
    se = sd / math.sqrt(n)
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return RatioInterval(n, level, mean, sd, se, n - 1, t, mean - t * se, mean + t * se)


def bonferroni(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bonferroni-adjusted p-values: min(1, m · p)."""
    p = np.asarray(pvalues, dtype=float)
    return np.minimum(1.0, p * p.size)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, in the input order."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


def bonferroni_level(level: float, arms: int) -> float:
    """Per-arm interval level so that ``arms`` intervals hold jointly at ``level``."""
    if arms < 1:
        raise ParameterError(f"arms must be >= 1, got {arms}")
    return 1.0 - (1.0 - level) / arms


@dataclass(frozen=True)
class Equivalence:
    """An equivalence verdict with everything it was decided on (see the module doc)."""

    verdict: str
    margin: float  # on the log-ratio scale
    alpha: float
    predicted: str
    interval: RatioInterval  # the (1 - alpha) interval
    tost_low: float  # the (1 - 2 alpha) interval: TOST passes when inside (-m, m)
    tost_high: float
    p_tost: float  # max of the two one-sided p-values
    reason: str

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "interval"}
        d.update({f"ci_{k}": v for k, v in self.interval.to_dict().items()})
        return d

    def describe(self) -> str:
        return f"{self.verdict}: {self.reason}"


def equivalence_verdict(log_ratios: Sequence[float] | np.ndarray, margin: float, *,
                        alpha: float = 0.05,
                        predicted: Literal["increase", "decrease"] = "increase",
                        min_blocks: int = MIN_BLOCKS) -> Equivalence:
    """The verdict on per-block log ratios against the margin ``margin`` (log scale, > 0);
    ``predicted`` is the direction the hypothesis predicts. Use :func:`bonferroni_level`'s
    alpha (``alpha / arms``) when several arms decide one hypothesis."""
    if not (math.isfinite(margin) and margin > 0):
        raise ParameterError(f"margin must be > 0 on the log-ratio scale, got {margin}")
    if not 0 < alpha < 0.5:
        raise ParameterError(f"alpha must be in (0, 0.5), got {alpha}")
    if predicted not in ("increase", "decrease"):
        raise ParameterError(f"predicted must be 'increase' or 'decrease', got {predicted!r}")
    ci = ratio_interval(log_ratios, 1 - alpha)
    m = margin
    if ci.n_blocks < max(2, min_blocks):
        return Equivalence(NOT_TESTABLE, m, alpha, predicted, ci, math.nan, math.nan, math.nan,
                           f"{ci.n_blocks} block(s), fewer than the minimum {min_blocks}")
    if ci.se_log > 0:
        t_lo = (ci.mean_log + m) / ci.se_log
        t_hi = (ci.mean_log - m) / ci.se_log
        p_tost = float(max(stats.t.sf(t_lo, ci.df), stats.t.cdf(t_hi, ci.df)))
    else:
        p_tost = 0.0 if abs(ci.mean_log) < m else 1.0
    t2 = float(stats.t.ppf(1 - alpha, ci.df))
    lo2, hi2 = ci.mean_log - t2 * ci.se_log, ci.mean_log + t2 * ci.se_log
    sign = 1.0 if predicted == "increase" else -1.0
    lo, hi = sorted((sign * ci.log_low, sign * ci.log_high))
    shown = f"ratio {ci.ratio:.4f}, {1 - alpha:.0%} CI {ci.ratio_low:.4f}-{ci.ratio_high:.4f}"
    if p_tost < alpha:
        verdict = EQUIVALENT
        reason = (f"{1 - 2 * alpha:.0%} CI {math.exp(lo2):.4f}-{math.exp(hi2):.4f} inside "
                  f"the margin {math.exp(-m):.4f}-{math.exp(m):.4f} (TOST p={p_tost:.3g})")
    elif lo > 0:
        verdict, reason = SUPPORTED, f"{shown} on the predicted side ({predicted})"
    elif hi < 0:
        verdict, reason = REFUTED, f"{shown} on the opposite side of the prediction ({predicted})"
    else:
        verdict = WITHIN_NOISE
        reason = f"{shown} holds 1 and reaches past the margin ±{m:.4g} (log)"
    return Equivalence(verdict, m, alpha, predicted, ci, lo2, hi2, p_tost, reason)
