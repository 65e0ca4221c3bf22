"""H3 on the commit-latency curve (issue #23; docs/hypothesis-rules.md, "H3: the commit-latency
curve"): does a commit get slower as the databases grow to the size of the paper's full run?

Per repeat (one fresh process that grew its databases from 0 through the checkpoints,
:mod:`nrm.study.dbcurve`): the OLS slope of log(median commit latency) on the databases' size in
GiB (:func:`log_slope`). Per medium (disk, RAM): the mean of the repeats' slopes with a Student t
interval on repeats − 1 df, and the change it implies from an empty database to the full run's
size ``full_gib``: ``exp(slope × full_gib) − 1`` with the interval mapped the same way. The
verdict is :func:`nrm.stats.intervals.equivalence_verdict` on the per-repeat log changes
``slope_r × full_gib`` against the margin :data:`CURVE_MARGIN_LOG`, at α = 0.05 / 2 per medium
(Bonferroni over the two media). A curve that did not reach :data:`MIN_REACH` of the full size is
**not testable** (its slope would be extrapolated); its numbers are still reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from nrm.exceptions import ParameterError
from nrm.run.dbcurve import FULL_RUN_CYCLES, FULL_RUN_MB
from nrm.stats.intervals import bonferroni_level, equivalence_verdict, ratio_interval
from nrm.stats.verdict import EQUIVALENT, NOT_TESTABLE, REFUTED, SUPPORTED, WITHIN_NOISE
from nrm.study.long_analysis import LATENCY_MARGIN_PCT

__all__ = ["CURVE_MARGIN_LOG", "FULL_RUN_CYCLES", "FULL_RUN_MB", "MEDIA", "MIN_REACH",
           "MIN_REPEATS", "RULE", "curve_verdict", "log_slope", "repeat_slopes"]

MEDIA = ("disk", "ram")
#: The H3 margin of the long arms (10 % of the mean latency per 1000 cycles) over the full run:
#: a change of the per-commit latency by more than 30 % between an empty database and the full
#: run's matters; on the log scale, ``log(1.30)``.
CURVE_MARGIN_LOG = math.log1p(FULL_RUN_CYCLES / 1000 * LATENCY_MARGIN_PCT / 100)
#: The curve must reach this fraction of the full size for a verdict (no extrapolation).
MIN_REACH = 0.9
#: Fewest repeats per medium for a verdict (a t interval on 2 df).
MIN_REPEATS = 3
ALPHA = 0.05

RULE = (
    f"commit-latency curve (nrm dbcurve): per repeat (a fresh process growing the model's "
    f"databases from 0 in the model's row mix), the OLS slope of log(median latency of a batch "
    f"of the model's per-row commits) on the databases' size in GiB; per medium (disk, RAM) "
    f"the change from 0 to the full run's size, exp(slope x size) - 1, mean over repeats with a "
    f"t interval (Bonferroni over the 2 media): supported if either medium's interval lies "
    f"above 0, no effect larger than m = {math.expm1(CURVE_MARGIN_LOG):.0%} (the long arms' "
    f"{LATENCY_MARGIN_PCT:g} % per 1000 cycles over the full run's {FULL_RUN_CYCLES} cycles) if "
    f"both media's TOSTs pass, refuted if both lie below 0, within noise otherwise; not "
    f"testable with fewer than {MIN_REPEATS} repeats of a medium or a curve short of "
    f"{MIN_REACH:.0%} of the full size"
)


def log_slope(size_gib: np.ndarray | pd.Series, latency_ms: np.ndarray | pd.Series) -> float:
    """OLS slope of ``log(latency)`` on size (per GiB); NaN with fewer than 3 usable points
    or no spread in size."""
    x = np.asarray(size_gib, dtype=float)
    y = np.asarray(latency_ms, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
    if ok.sum() < 3 or np.ptp(x[ok]) <= 0:
        return math.nan
    return float(np.polyfit(x[ok], np.log(y[ok]), 1)[0])


def repeat_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (medium, repeat) of a curve table: the log-latency slope per GiB, the
    points, the largest size reached (GiB), and the latency at the first and last checkpoint
    with their log ratio (the endpoints, a check on the straight line)."""
    need = {"medium", "repeat", "db_bytes", "median_ms"}
    if not need <= set(frame.columns):
        raise ParameterError(f"a curve table needs the columns {sorted(need)}; "
                             f"got {sorted(frame.columns)}")
    rows = []
    for (medium, rep), g in frame.groupby(["medium", "repeat"], sort=True):
        g = g.sort_values("db_bytes")
        gib = g["db_bytes"].to_numpy(float) / 2**30
        lat = g["median_ms"].to_numpy(float)
        rows.append({
            "medium": medium, "repeat": int(rep), "points": len(g),
            "max_gib": float(gib.max()) if len(g) else math.nan,
            "slope_log_per_gib": log_slope(gib, lat),
            "first_ms": float(lat[0]), "last_ms": float(lat[-1]),
            "endpoint_log_ratio": float(np.log(lat[-1] / lat[0]))
            if lat[0] > 0 and lat[-1] > 0 else math.nan,
        })
    return pd.DataFrame(rows)


#: exp() of more than this overflows a float: such a change is +inf % (a 2-repeat curve's
#: t interval on 1 df, extrapolated 1000-fold from a 2 MiB curve, reaches it).
_MAX_LOG = math.log(float.fromhex("0x1.fffffffffffffp+1023"))


def _pct(log_value: float) -> float:
    if math.isnan(log_value):
        return math.nan
    return 100 * math.expm1(log_value) if log_value < _MAX_LOG else math.inf


def _medium(slopes: pd.DataFrame, full_gib: float, alpha: float) -> dict[str, Any]:
    s = slopes["slope_log_per_gib"].to_numpy(float)
    s = s[np.isfinite(s)]
    reach = float(slopes["max_gib"].min()) if len(slopes) else 0.0
    eq = equivalence_verdict(s * full_gib, CURVE_MARGIN_LOG, alpha=alpha, predicted="increase",
                             min_blocks=MIN_REPEATS)
    per_gib = ratio_interval(s, 1 - alpha)
    measured = ratio_interval(s * reach, 1 - alpha)  # over the range every repeat measured
    verdict, reason = eq.verdict, eq.reason
    if verdict != NOT_TESTABLE and reach < MIN_REACH * full_gib:
        verdict = NOT_TESTABLE
        reason = (f"the curve reached {reach * 1024:.0f} MiB, short of {MIN_REACH:.0%} of the "
                  f"full run's {full_gib * 1024:.0f} MiB (the change at full size would be "
                  "extrapolated)")
    return {
        "repeats": int(s.size),
        "reached_mib": reach * 1024,
        "slope_log_per_gib": per_gib.mean_log,
        "slope_low": per_gib.log_low, "slope_high": per_gib.log_high,
        "change_pct": _pct(eq.interval.mean_log),
        "change_low_pct": _pct(eq.interval.log_low),
        "change_high_pct": _pct(eq.interval.log_high),
        "measured_change_pct": _pct(measured.mean_log),
        "measured_change_low_pct": _pct(measured.log_low),
        "measured_change_high_pct": _pct(measured.log_high),
        "level": 1 - alpha,
        "endpoint_change_pct": _pct(float(np.nanmean(slopes["endpoint_log_ratio"])))
        if len(slopes) else math.nan,
        "verdict": verdict, "reason": reason, "tost_p": eq.p_tost,
    }


def curve_verdict(frame: pd.DataFrame, *, full_mb: float = FULL_RUN_MB,
                  media: tuple[str, ...] = MEDIA) -> dict[str, Any]:
    """The H3 piece of the curve table ``frame`` (columns of :mod:`nrm.run.dbcurve`'s rows plus
    ``medium`` and ``repeat``): per medium the slope, the change from 0 to ``full_mb`` with its
    interval and the verdict; then the H3 verdict over ``media`` (see the module doc)."""
    if not full_mb > 0:
        raise ParameterError(f"full_mb must be > 0, got {full_mb}")
    slopes = repeat_slopes(frame) if len(frame) else pd.DataFrame(
        columns=["medium", "repeat", "points", "max_gib", "slope_log_per_gib",
                 "endpoint_log_ratio"])
    full_gib = full_mb / 1024
    alpha = 1 - bonferroni_level(1 - ALPHA, len(media))
    per = {m: _medium(slopes[slopes["medium"] == m], full_gib, alpha) for m in media}
    verdicts = [p["verdict"] for p in per.values()]
    if NOT_TESTABLE in verdicts:
        verdict = NOT_TESTABLE
        why = "; ".join(f"{m}: {p['reason']}" for m, p in per.items()
                        if p["verdict"] == NOT_TESTABLE)
    elif SUPPORTED in verdicts:
        verdict, why = SUPPORTED, "a medium's change lies above 0"
    elif all(v == EQUIVALENT for v in verdicts):
        verdict, why = EQUIVALENT, "every medium's TOST passes"
    elif all(v == REFUTED for v in verdicts):
        verdict, why = REFUTED, "every medium's change lies below 0"
    else:
        verdict, why = WITHIN_NOISE, "neither shown nor ruled out"
    return {"hypothesis": "H3", "full_mb": full_mb, "margin_log": CURVE_MARGIN_LOG,
            "margin_pct": 100 * math.expm1(CURVE_MARGIN_LOG), "alpha_per_medium": alpha,
            "media": per, "verdict": verdict, "why": why, "rule": RULE,
            "repeats": slopes.to_dict(orient="records")}
