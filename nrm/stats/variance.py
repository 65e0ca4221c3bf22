"""Runtime variance (the paper's §3.1): expected vs actual runtime, milestones, curves.

"Expected" comes from a baseline: another run's cumulative-time curve (C255 for C256 in the
paper), or a bare expected total in seconds. Everything is placed on the run's own scale:
a milestone is a fraction of the run's cycles, and the expected time at that milestone is the
baseline's cumulative time at the same fraction of *its* cycles (or total × fraction when only
a total is known). So a 3-minute smoke run and a 30-hour run get the same table.

The milestone table shows the paper's "acceleration rate" exactly as the paper defines it
(cumulative variance % ÷ expected total hours: it rises whenever the run is late, whatever the
trend), beside the increment rate between consecutive milestones (change of variance % per
elapsed hour), which is what a rate of acceleration would have to mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nrm.exceptions import ParameterError
from nrm.instrument.reader import RunData
from nrm.stats._data import TimeSource, as_cycles, column, cumulative_time

__all__ = [
    "Baseline",
    "condition_summary",
    "expected_curve",
    "milestone_table",
    "runtime_curve",
    "runtime_summary",
]

#: A baseline: another run (its cumulative-time curve) or an expected total in seconds.
Baseline = RunData | pd.DataFrame | float | int


def _progress(
    cycles: pd.DataFrame, planned_steps: int | None, source: TimeSource
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(k, cumulative seconds after k cycles with k = 0..n, planned total N, time source)."""
    cum, label = cumulative_time(cycles, source)
    n = cum.size
    total = n if planned_steps is None else int(planned_steps)
    if total < n:
        raise ParameterError(f"planned_steps = {planned_steps}; the log already has {n} rows")
    k = np.arange(n + 1, dtype=float)
    return k, np.concatenate([[0.0], cum]), total, label


def expected_curve(
    baseline: Baseline, fractions: np.ndarray, *, source: TimeSource = "auto"
) -> tuple[np.ndarray, str]:
    """Expected cumulative seconds at each fraction of the run, and how it was obtained."""
    fractions = np.asarray(fractions, dtype=float)
    if isinstance(baseline, (RunData, pd.DataFrame)):
        df = as_cycles(baseline)
        k, cum, n, label = _progress(df, None, source)
        name = baseline.name if isinstance(baseline, RunData) else "baseline"
        how = f"{name}: cumulative time ({label}) at the same fraction of its {n} cycles"
        return np.interp(fractions * n, k, cum), how
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        if not (math.isfinite(baseline) and baseline > 0):
            raise ParameterError(f"baseline total {baseline!r}; expected seconds > 0")
        return float(baseline) * fractions, f"baseline total {float(baseline):g} s × fraction"
    raise ParameterError(
        f"baseline of type {type(baseline).__name__}; expected a RunData, a cycles DataFrame "
        "or an expected total in seconds"
    )


def _actual_at(fractions: np.ndarray, k: np.ndarray, cum: np.ndarray, total: int) -> np.ndarray:
    pos = fractions * total
    out = np.interp(pos, k, cum)
    out[pos > k[-1] + 1e-9] = np.nan  # beyond the recorded part of an incomplete run
    return out


def runtime_summary(
    run: RunData | pd.DataFrame,
    baseline: Baseline | None = None,
    *,
    planned_steps: int | None = None,
    source: TimeSource = "auto",
) -> pd.DataFrame:
    """One row: cycles, actual runtime, expected runtime, variance (s and %)."""
    df = as_cycles(run)
    _, cum, total, label = _progress(df, planned_steps, source)
    n = df.shape[0]
    complete = run.complete if isinstance(run, RunData) else True
    frac = n / total
    actual = float(cum[-1])
    if baseline is not None:
        expected_arr, how = expected_curve(baseline, np.array([frac]), source=source)
        expected = float(expected_arr[0])
    else:
        expected, how = math.nan, "no baseline given"
    row = {
        "run": run.name if isinstance(run, RunData) else "run",
        "cycles": n,
        "planned_cycles": total,
        "complete": bool(complete and n == total),
        "time_source": label,
        "actual_s": actual,
        "cpu_s": float(np.nansum(column(df, "cpu_s"))) if "cpu_s" in df else math.nan,
        "expected_s": expected,
        "expected_from": how,
        "variance_s": actual - expected,
        "variance_pct": 100.0 * (actual - expected) / expected if expected > 0 else math.nan,
    }
    return pd.DataFrame([row])


def milestone_table(
    run: RunData | pd.DataFrame,
    baseline: Baseline | None = None,
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    *,
    planned_steps: int | None = None,
    source: TimeSource = "auto",
) -> pd.DataFrame:
    """Elapsed vs expected time at fractions of the run, the variance, and both rates.

    ``accel_paper_pct_per_h`` = variance % ÷ expected total hours (the paper's definition);
    ``increment_pct_per_h`` = Δ variance % ÷ Δ elapsed hours since the previous milestone.
    """
    f = np.asarray(sorted(float(x) for x in fractions), dtype=float)
    if f.size == 0 or f[0] <= 0 or f[-1] > 1:
        raise ParameterError(f"milestone fractions {list(fractions)}; expected values in (0, 1]")
    df = as_cycles(run)
    k, cum, total, _ = _progress(df, planned_steps, source)
    elapsed = _actual_at(f, k, cum, total)
    if baseline is not None:
        expected, _ = expected_curve(baseline, f, source=source)
        expected_total = float(expected_curve(baseline, np.array([1.0]), source=source)[0][0])
    else:
        expected = np.full(f.size, np.nan)
        expected_total = math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = 100.0 * (elapsed - expected) / expected
        accel_paper = variance / (expected_total / 3600.0)
        increment = np.concatenate(
            [[np.nan], np.diff(variance) / (np.diff(elapsed) / 3600.0)]
        )
    return pd.DataFrame({
        "fraction": f,
        "cycles": np.round(f * total).astype(int),
        "elapsed_s": elapsed,
        "expected_s": expected,
        "variance_pct": variance,
        "accel_paper_pct_per_h": accel_paper,
        "increment_pct_per_h": increment,
    })


def runtime_curve(
    run: RunData | pd.DataFrame,
    baseline: Baseline | None = None,
    *,
    points: int | None = None,
    planned_steps: int | None = None,
    source: TimeSource = "auto",
) -> pd.DataFrame:
    """Cumulative runtime after each cycle (or ``points`` evenly spaced ones) beside the
    baseline's at the same fraction: columns fraction, cycles, actual_s, expected_s, ratio."""
    df = as_cycles(run)
    _, cum, total, _ = _progress(df, planned_steps, source)
    n = df.shape[0]
    idx = np.arange(1, n + 1)
    if points is not None and points < n:
        idx = np.unique(np.round(np.linspace(1, n, max(points, 2))).astype(int))
    frac = idx / total
    actual = cum[idx]
    expected = (
        expected_curve(baseline, frac, source=source)[0]
        if baseline is not None
        else np.full(idx.size, np.nan)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = actual / expected
    return pd.DataFrame({
        "fraction": frac,
        "cycles": idx,
        "actual_s": actual,
        "expected_s": expected,
        "ratio": ratio,
    })


def condition_summary(run: RunData | pd.DataFrame, *, edge: float = 0.1) -> pd.DataFrame:
    """Per condition (and the whole run): cycles, total and per-cycle time statistics, and the
    mean of the last ``edge`` share of cycles over the first (a model-free slowdown ratio)."""
    df = as_cycles(run)
    groups: list[tuple[str, pd.DataFrame]] = []
    if "condition" in df and df["condition"].nunique() > 1:
        groups = [(str(c), df[df["condition"] == c]) for c in pd.unique(df["condition"].dropna())]
    groups.append(("whole run", df))
    rows = []
    for label, sub in groups:
        w = column(sub, "wall_s") * 1000.0
        m = max(1, round(edge * w.size))
        first, last = float(w[:m].mean()), float(w[-m:].mean())
        sd = float(w.std(ddof=1)) if w.size > 1 else math.nan
        mean = float(w.mean())
        rows.append({
            "condition": label,
            "cycles": int(w.size),
            "wall_total_s": float(w.sum() / 1000.0),
            "mean_ms": mean,
            "median_ms": float(np.median(w)),
            "sd_ms": sd,
            "cv": sd / mean if mean > 0 else math.nan,
            "first_mean_ms": first,
            "last_mean_ms": last,
            "last_over_first": last / first if first > 0 else math.nan,
        })
    return pd.DataFrame(rows)
