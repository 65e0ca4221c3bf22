"""Words the paper puts around numbers, each computed from the numbers it describes.

Every sentence of the paper that says a series rises or falls, that a value exceeds a
threshold or that a prediction holds takes its verb from a function here, and each function is
tested on cases where it must say the opposite (``tests/test_wording.py``). Also the paper's
human column headers (:data:`HEADERS`, :func:`human`), so no table shows a raw code name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

import pandas as pd

from nrm.stats.verdict import threshold_verdict

__all__ = ["HEADERS", "MIN_RATE_HOURS", "RULE_LABELS", "human", "rate_meaningful",
           "threshold_verdict", "trend"]


def _finite(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x):
            out.append(x)
    return out


def trend(values: Sequence[Any]) -> str:
    """The verb for a series: "rises" only when every value exceeds the one before, "falls"
    only when every value is below it, "stays level" when all are equal; any other series
    "does not rise" (it goes up and down). Fewer than two values: "cannot be judged"."""
    xs = _finite(values)
    if len(xs) < 2:
        return "cannot be judged (fewer than two values)"
    steps = [b - a for a, b in pairwise(xs)]
    if all(s > 0 for s in steps):
        return "rises"
    if all(s < 0 for s in steps):
        return "falls"
    if all(s == 0 for s in steps):
        return "stays level"
    return "does not rise (it goes up and down)"


#: A rate "per hour" from a run shorter than this many hours is an extrapolation, not a
#: measurement: the paper's rates came from runs of tens of hours.
MIN_RATE_HOURS = 1.0


def rate_meaningful(run_seconds: float) -> bool:
    """Whether a %/h rate read from a run of ``run_seconds`` means anything."""
    try:
        return float(run_seconds) / 3600.0 >= MIN_RATE_HOURS
    except (TypeError, ValueError):
        return False


#: Raw column names of the analysis files -> the paper's headers (with units).
HEADERS: dict[str, str] = {
    "fraction": "fraction of the run",
    "method": "method",
    "cycles_used": "cycles used",
    "predicted_s": "predicted total (s)",
    "actual_s": "actual total (s)",
    "error_s": "error (s)",
    "error_pct": "error (%)",
    "predicted_variance_pct": "predicted variance (%)",
    "actual_variance_pct": "actual variance (%)",
    "statistic": "statistic",
    "value": "value",
    "ci_low": "95 % CI, low",
    "ci_high": "95 % CI, high",
    "p_value": "p",
    "note": "note",
    "n": "cycles (n)",
    "p": "p",
    "rule": "rule",
    "elapsed_s": "elapsed (s)",
    "expected_s": "expected from C255 (s)",
    "variance_pct": "variance (%)",
    "accel_paper_pct_per_h": "paper-style rate (%/h)",
    "increment_pct_per_h": "increment rate (%/h)",
    "cycles": "cycles",
}

#: Rule names of nrm.stats.HypothesisRules -> what they mean, with units.
RULE_LABELS: dict[str, str] = {
    "alpha": "significance level α",
    "p_value": "p-values used for the verdicts",
    "rho_threshold": "H1, H4: |Spearman ρ| must exceed",
    "h1_variables": "H1: columns tested",
    "h2_variables": "H2: columns tested",
    "h2_min_delta_r2": "H2: minimum R² gain, quadratic over linear",
    "h2_require_growth": "H2: memory must also grow",
    "h2_min_rel_rise": "H2: smallest net rise, as a fraction of the start (0 = any rise)",
    "h3_calls": "H3: (call count, call time) columns",
    "h3_min_slope_ms_per_1000_calls": "H3: minimum slope (ms per 1000 calls)",
    "h3_min_r2": "H3: minimum R² (— = none)",
    "h4_temperature": "H4: temperature column",
    "h4_frequency": "H4: frequency column",
    "h5_min_slope_ms_per_cycle": "H5: minimum slope (ms per cycle)",
    "h5_min_r2": "H5: minimum R²",
    "min_points": "fewest usable rows for a test (else not testable)",
    "hac_maxlags": "Newey–West lags (— = floor(4 (n/100)^(2/9)))",
    "autocorr_note": "residual lag-1 autocorrelation above which OLS p is flagged",
}


def human(df: pd.DataFrame, extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``df`` with raw column names replaced by the paper's headers."""
    names = {**HEADERS, **(extra or {})}
    return df.rename(columns={c: names[c] for c in df.columns if c in names})
