"""Drift at a fixed workload, per unit of work: how per-cycle time changes with process age.

A long loop can slow down because it does more work each cycle (more agents, a longer registry
to scan) or because the process itself ages (heap, arenas, GC, caches). To tell them apart the
per-cycle time is fitted *jointly* on the logged work counters and on the cycle index::

    time_i = c0 + Σ_j c_j · work_ij + d · (index_i − mean index) / 1000 + e_i

``c_j`` are the unit costs (seconds per commit, per metrics sample, per evolve call, per
registry entry × agent, ...), ``c0`` the fixed cost of one cycle at the window's mean age, and
``d`` the **drift**: seconds per cycle gained per 1000 cycles at a fixed workload. The drift is
also given relative to the window's mean cycle time (% per 1000 cycles), and beside it the
*raw* drift (``time ~ 1 + index`` on the same cycles) and the share of the raw drift the work
counters explain.

Why one joint fit rather than "fit on work, then trend the residuals": when a counter grows
with age (the cumulative registry gains about one entry a cycle) a two-stage fit hands the
counter all of the shared trend and biases the drift towards zero, with standard errors that
ignore the first stage. The joint fit splits the trend by the data and its interval says how
well the split is determined. A counter that is constant in the window, or an exact linear
combination of the intercept, the index and the counters before it, cannot be separated from
them: it is left out of the fit and reported as dropped (its cost then sits in the intercept or
the drift, which the note says).

Inference: OLS estimates with a Newey–West (Bartlett) HAC covariance, because per-cycle
residuals are autocorrelated. The lag is Andrews' (1991) AR(1) plug-in for the Bartlett kernel,
``L = ceil(1.1447 (α̂ n)^(1/3))`` with ``α̂ = 4ρ̂² / ((1 − ρ̂)² (1 + ρ̂)²)`` and ``ρ̂`` the lag-1
autocorrelation of the OLS residuals (clipped to ±0.95), never below the Newey–West rule of
thumb ``floor(4 (n/100)^(2/9))`` and never above n/4: it grows with the persistence the data
show, which a fixed rule of thumb does not. The critical value is Student t on n − k degrees of
freedom scaled by the Kiefer–Vogelsang (2005) fixed-b correction for the Bartlett kernel
(``1 + (2.9694 b + 0.4160 b² − 0.5324 b³) / 1.96`` with ``b = (L + 1) / n``; exact at the 95 %
level, a proportional approximation at others), which repairs most of the under-coverage a HAC
interval has with a bandwidth that is not small next to n.

The ramp: cycles before the population first reaches its cap (or, without a cap, before it
first comes within max(1, 10 %) of its final level, the median of the last quarter of the run)
are reported (``ramp_end``) and left out of the fit. Fewer than ``min_cycles`` (30) cycles left
gives a "not testable" result. The run's shape (flat, warm-up, step, ramp, accelerating) is
classified on the work-adjusted series by the rules in :func:`classify_shape`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nrm.exceptions import ParameterError
from nrm.stats._regression import _ols, newey_west_lags
from nrm.stats.verdict import not_testable

__all__ = [
    "MIN_CYCLES",
    "SHAPES",
    "UNIT_LABELS",
    "DriftResult",
    "UnitCost",
    "andrews_lags",
    "classify_shape",
    "drift",
    "drift_of_cycles",
    "fixed_b_critical",
    "ramp_end",
]

#: Fewest cycles after the ramp for a drift to be estimated.
MIN_CYCLES = 30
#: The shapes :func:`classify_shape` returns (plus "" when the run is not testable).
SHAPES = ("flat", "warm-up", "step", "ramp", "accelerating")

#: The unit each work term is costed in (``cycles.csv`` names; ``registry_x_agents`` is
#: ``registry_size × population``; the intercept is ``cycle``).
UNIT_LABELS: dict[str, str] = {
    "cycle": "per cycle",
    "commits": "per commit",
    "samples": "per metrics sample",
    "evolve_calls": "per evolve call",
    "registry_x_agents": "per registry entry x agent",
    "pairs_tested": "per pair tested",
    "spawns": "per spawn",
}
#: Work counters read from ``cycles.csv`` (in this order, which is also the order in which a
#: collinear counter is dropped: a later one gives way to an earlier one).
CYCLE_COUNTERS = ("commits", "samples", "evolve_calls", "registry_x_agents", "pairs_tested",
                  "spawns")

_COLLINEAR_TOL = 1e-6
_RHO_CLIP = 0.95


@dataclass(frozen=True)
class UnitCost:
    """The fitted cost of one unit of a work term, in seconds, with its interval."""

    name: str
    label: str
    estimate: float
    ci_low: float
    ci_high: float
    se: float


def andrews_lags(resid: np.ndarray) -> int:
    """HAC lag for the Bartlett kernel from Andrews' (1991) AR(1) plug-in (see module doc)."""
    r = np.asarray(resid, dtype=float)
    n = r.size
    if n < 4:
        return 0
    ss = float(r @ r)
    rho = float(r[1:] @ r[:-1] / ss) if ss > 0 else 0.0
    rho = max(-_RHO_CLIP, min(_RHO_CLIP, rho))
    alpha = 4 * rho**2 / ((1 - rho) ** 2 * (1 + rho) ** 2)
    lags = math.ceil(1.1447 * (alpha * n) ** (1 / 3)) if alpha > 0 else 0
    return int(min(max(lags, newey_west_lags(n)), n // 4))


def fixed_b_critical(level: float, df: int, lags: int, n: int) -> float:
    """Two-sided critical value: t(df) scaled by the Kiefer–Vogelsang fixed-b factor."""
    b = (lags + 1) / n if lags > 0 else 0.0
    factor = 1.0 + (2.9694 * b + 0.4160 * b**2 - 0.5324 * b**3) / 1.96
    return float(stats.t.ppf(0.5 + level / 2, df)) * factor


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    se: np.ndarray
    rss: float
    df: int
    lags: int


def _fit(design: np.ndarray, y: np.ndarray, lags: int | None) -> _Fit:
    """OLS with HAC standard errors; ``lags=None``: Andrews' lag from this fit's residuals."""
    if lags is None:
        lags = andrews_lags(_ols(design, y, 0).resid)
    f = _ols(design, y, lags)
    se = np.sqrt(np.clip(np.diag(f.cov_hac), 0.0, None))
    return _Fit(f.beta, se, f.rss, f.df, f.lags)


def ramp_end(population: np.ndarray | None, cap: int | None = None) -> int | None:
    """Position of the first cycle past the ramp: the first row whose population reaches
    ``cap``, or (no cap) the first within max(1, 10 %) of the median of the last quarter.
    0 without a population; None when the population never gets there."""
    if population is None:
        return 0
    pop = np.asarray(population, dtype=float)
    if pop.size == 0 or not np.isfinite(pop).any():
        return 0
    if cap is not None:
        hit = np.flatnonzero(pop >= cap)
    else:
        tail = pop[-max(1, pop.size // 4):]
        final = float(np.nanmedian(tail))
        tol = max(1.0, 0.1 * abs(final))
        hit = np.flatnonzero(np.abs(pop - final) <= tol)
    return int(hit[0]) if hit.size else None


def classify_shape(z: np.ndarray, x: np.ndarray, *, lags: int | None = None,
                   level: float = 0.95,
                   early: float = 0.1, trend: int | None = None) -> tuple[str, str]:
    """Shape of a (work-adjusted) per-cycle series ``z`` against its index ``x``.

    The rules, decided in this order; "significant" means |t| above the fixed-b HAC critical
    value at ``level`` of that fit, whose lag is Andrews' rule on its own residuals (a model
    that misses the shape has residuals made persistent by it, so one lag for all fits would
    be too long for the right one) unless ``lags`` fixes it:

    1. **warm-up**: the first ``early`` share of the window (at least 5 cycles) is
       significantly *slower* than the rest (dummy in ``z ~ 1 + x + early``) and the rest has
       no significant linear trend;
    2. **step**: there is a trend, a single step (split searched over the middle 80 % for
       the least squared error of two means) is significant beyond the line
       (``z ~ 1 + x + 1[i >= k]``), and within each segment the fitted line rises or falls
       by less than half the jump (a steady ramp split in two has segment rises equal to
       the jump, so it never passes);
    3. **accelerating**: a rising trend, the x² term of ``z ~ 1 + x + x²`` positive and
       significant, and the quadratic fits better than the best step;
    4. **ramp**: a trend (steady drift, either sign);
    5. **flat**: none of the above.

    "A trend" is a significant slope of ``z ~ 1 + x``, or, when ``trend`` is given, its sign
    (+1 / −1; 0 = no trend): :func:`drift` passes its own drift interval's verdict so that
    the shape never contradicts the drift. The step search picks the best of many splits, so
    its test is optimistic; the segment condition and the required trend guard it.

    Returns (shape, a short note with the deciding numbers).
    """
    z = np.asarray(z, dtype=float)
    n = z.size
    xs = (np.asarray(x, dtype=float) - float(np.mean(x)))
    scale = float(np.std(xs)) or 1.0
    xs = xs / scale
    one = np.ones(n)

    def sig(fit: _Fit, j: int) -> tuple[bool, float]:
        t = float(fit.beta[j] / fit.se[j]) if fit.se[j] > 0 else (
            math.inf * np.sign(fit.beta[j]) if fit.beta[j] != 0 else 0.0)
        return abs(t) > fixed_b_critical(level, fit.df, fit.lags, fit.df + fit.beta.size), t

    line = _fit(np.column_stack([one, xs]), z, lags)
    slope_sig, slope_t = sig(line, 1)
    trend_sig = slope_sig if trend is None else trend != 0
    trend_up = slope_t > 0 if trend is None else trend > 0

    k_early = max(5, round(early * n))
    if n - k_early >= 10:
        dummy = np.zeros(n)
        dummy[:k_early] = 1.0
        warm = _fit(np.column_stack([one, xs, dummy]), z, lags)
        w_sig, w_t = sig(warm, 2)
        rest = _fit(np.column_stack([one[k_early:], xs[k_early:]]), z[k_early:], lags)
        r_sig, r_t = sig(rest, 1)
        if w_sig and w_t > 0 and not r_sig:
            return "warm-up", (f"first {k_early} cycles slower (t={w_t:.1f}); "
                               f"no trend after (t={r_t:.1f})")

    lo, hi = max(2, int(0.1 * n)), min(n - 2, int(0.9 * n))
    ks = np.arange(lo, hi + 1)
    csum, csum2 = np.cumsum(z), np.cumsum(z**2)
    a, a2 = csum[ks - 1], csum2[ks - 1]
    rss_k = (a2 - a * a / ks) + ((csum2[-1] - a2) - (csum[-1] - a) ** 2 / (n - ks))
    best_k = int(ks[int(np.argmin(rss_k))]) if ks.size else -1
    best_rss = float(rss_k.min()) if ks.size else math.inf
    if trend_sig and best_k > 0:
        after = (np.arange(n) >= best_k).astype(float)
        stepfit = _fit(np.column_stack([one, xs, after]), z, lags)
        s_sig, s_t = sig(stepfit, 2)
        jump = float(z[best_k:].mean() - z[:best_k].mean())
        rises = []
        for part in (slice(0, best_k), slice(best_k, n)):
            seg = np.column_stack([one[part], xs[part]])
            coef, *_ = np.linalg.lstsq(seg, z[part], rcond=None)
            rises.append(abs(float(coef[1]) * float(xs[part][-1] - xs[part][0])))
        if s_sig and max(rises) < abs(jump) / 2:
            return "step", (f"one step of {jump:+.3g} s at window position {best_k} "
                            f"(t={s_t:.1f} beyond the line)")

    quad = _fit(np.column_stack([one, xs, xs**2]), z, lags)
    q_sig, q_t = sig(quad, 2)
    if trend_sig and trend_up and q_sig and q_t > 0 and quad.rss < best_rss:
        return "accelerating", f"rising trend, x² term t={q_t:.1f}"
    if trend_sig:
        return "ramp", f"steady {'rising' if trend_up else 'falling'} trend"
    return "flat", "no significant trend, step or early excess"


@dataclass(frozen=True)
class DriftResult:
    """Drift per ``per`` index units at a fixed workload, with the unit costs behind it."""

    testable: bool
    reason: str  # why not testable ("" when testable)
    workload_known: bool
    n_total: int
    ramp_end: int | None  # position of the first analysed row (None: never left the ramp)
    ramp_end_index: float  # the index value there (NaN when none)
    n: int  # rows analysed
    index_unit: str
    per: float
    level: float
    mean_time_s: float
    drift_s: float  # seconds per cycle gained per `per` index units, at a fixed workload
    drift_ci: tuple[float, float]
    drift_se: float  # its HAC standard error (the interval is drift_s ± critical · drift_se)
    drift_pct: float  # the same, in % of the window's mean cycle time
    drift_pct_ci: tuple[float, float]
    drift_raw_s: float  # time ~ 1 + index on the same rows (the work counters ignored)
    drift_raw_ci: tuple[float, float]
    explained_share: float  # 1 - drift / raw drift (NaN without work or a raw drift of 0)
    unit_costs: tuple[UnitCost, ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()  # (work term, why it was left out)
    hac_lags: int = 0
    critical: float = math.nan
    resid_lag1: float = math.nan
    shape: str = ""
    shape_note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def unit_cost(self, name: str) -> UnitCost:
        for c in self.unit_costs:
            if c.name == name:
                return c
        raise ParameterError(f"no unit cost {name!r}; have {[c.name for c in self.unit_costs]}")

    def to_dict(self) -> dict[str, Any]:
        """A flat dict (one table row): the fields, the intervals as ``*_ci_low/high``, each
        unit cost as ``cost_<name>``, ``cost_<name>_ci_low``, ``cost_<name>_ci_high``."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if k in ("unit_costs", "dropped", "extra"):
                continue
            if isinstance(v, tuple):
                out[f"{k}_low"], out[f"{k}_high"] = v
            else:
                out[k] = v
        for c in self.unit_costs:
            out[f"cost_{c.name}"] = c.estimate
            out[f"cost_{c.name}_ci_low"] = c.ci_low
            out[f"cost_{c.name}_ci_high"] = c.ci_high
        out["dropped"] = "; ".join(f"{n}: {why}" for n, why in self.dropped)
        return out

    def describe(self) -> str:
        """One line: the drift with its interval, the shape and the window."""
        if not self.testable:
            return f"drift {not_testable(self.reason)}"
        unit = f"{self.per:g} {self.index_unit}".rstrip()
        unit += "s" if self.index_unit == "cycle" else ""
        lo, hi = self.drift_pct_ci
        what = "at a fixed workload" if self.workload_known else "of raw time (workload unknown)"
        return (f"drift {what}: {self.drift_pct:+.2f} % per {unit} "
                f"({self.level:.0%} CI {lo:+.2f} to {hi:+.2f} %; "
                f"{self.drift_s * 1e3:+.3g} ms), shape {self.shape}, "
                f"{self.n} of {self.n_total} rows after the ramp")


def _nan_ci() -> tuple[float, float]:
    return (math.nan, math.nan)


def _untestable(reason: str, *, workload_known: bool, n_total: int, end: int | None,
                end_index: float, n: int, index_unit: str, per: float,
                level: float) -> DriftResult:
    nan = math.nan
    return DriftResult(False, reason, workload_known, n_total, end, end_index, n, index_unit,
                       per, level, nan, nan, _nan_ci(), nan, nan, _nan_ci(), nan, _nan_ci(),
                       nan)


def drift(time: np.ndarray | pd.Series, *,
          work: pd.DataFrame | Mapping[str, np.ndarray] | None = None,
          index: np.ndarray | pd.Series | None = None,
          population: np.ndarray | pd.Series | None = None,
          cap: int | None = None,
          index_unit: str = "cycle",
          per: float = 1000.0,
          level: float = 0.95,
          min_cycles: int = MIN_CYCLES,
          hac_lags: int | None = None) -> DriftResult:
    """Drift of ``time`` (seconds per interval) against ``index`` (default 0, 1, 2, ...), per
    ``per`` index units, adjusted for the named ``work`` columns (none: drift of raw time,
    ``workload_known=False``). ``population`` and ``cap`` set the ramp (see :func:`ramp_end`).
    ``hac_lags`` overrides the Andrews lag. Rows with a NaN in time, index or work are left
    out after the ramp is found."""
    y_all = np.asarray(time, dtype=float)
    if y_all.ndim != 1:
        raise ParameterError(f"time must be one-dimensional, got shape {y_all.shape}")
    n_total = int(y_all.size)
    x_all = np.arange(n_total, dtype=float) if index is None else np.asarray(index, dtype=float)
    if x_all.shape != y_all.shape:
        raise ParameterError(f"index has {x_all.size} values, time {n_total}")
    if not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1), got {level}")
    if not per > 0:
        raise ParameterError(f"per must be > 0, got {per}")
    names: list[str] = []
    cols: list[np.ndarray] = []
    if work is not None:
        for name, col in work.items():
            arr = np.asarray(col, dtype=float)
            if arr.shape != y_all.shape:
                raise ParameterError(f"work column {name!r} has {arr.size} values, time {n_total}")
            names.append(str(name))
            cols.append(arr)
    workload_known = bool(names)
    pop = None if population is None else np.asarray(population, dtype=float)
    if pop is not None and pop.shape != y_all.shape:
        raise ParameterError(f"population has {pop.size} values, time {n_total}")
    end = ramp_end(pop, cap)
    common = dict(workload_known=workload_known, n_total=n_total, index_unit=index_unit,
                  per=per, level=level)
    if end is None:
        why = (f"the population never reached its cap of {cap}" if cap is not None
               else "the population never stabilised")
        return _untestable(why, end=None, end_index=math.nan, n=0, **common)
    end_index = float(x_all[end]) if end < n_total else math.nan
    W = np.column_stack(cols) if cols else np.empty((n_total, 0))
    ok = np.isfinite(y_all) & np.isfinite(x_all) & np.isfinite(W).all(axis=1)
    ok[:end] = False
    y, x, W = y_all[ok], x_all[ok], W[ok]
    n = int(y.size)
    if n < min_cycles:
        return _untestable(f"too short: {n} rows after the ramp (minimum {min_cycles})",
                           end=end, end_index=end_index, n=n, **common)

    xc = (x - x.mean()) / per
    design_cols = [np.ones(n), xc]
    kept: list[str] = []
    dropped: list[tuple[str, str]] = []
    for j, name in enumerate(names):
        col = W[:, j]
        centred = col - col.mean()
        norm = float(np.linalg.norm(centred))
        if norm == 0:
            dropped.append((name, "constant after the ramp (its cost is in the per-cycle term)"))
            continue
        basis = np.column_stack(design_cols)
        coef, *_ = np.linalg.lstsq(basis, col, rcond=None)
        if float(np.linalg.norm(col - basis @ coef)) < _COLLINEAR_TOL * norm:
            dropped.append((name, "a linear function of the index and earlier terms "
                                  "(its cost is in the drift or those terms)"))
            continue
        design_cols.append(col)
        kept.append(name)
    design = np.column_stack(design_cols)
    if n <= design.shape[1] + 1:
        return _untestable(f"too short: {n} rows for {design.shape[1]} terms",
                           end=end, end_index=end_index, n=n, **common)
    first = _ols(design, y, 0)
    lags = andrews_lags(first.resid) if hac_lags is None else max(0, min(int(hac_lags), n - 1))
    fit = _fit(design, y, lags)
    crit = fixed_b_critical(level, fit.df, lags, n)
    resid = y - design @ fit.beta
    ss = float(resid @ resid)
    r1 = float(resid[1:] @ resid[:-1] / ss) if ss > 0 else math.nan

    def ci(j: int, f: _Fit = fit, c: float = crit) -> tuple[float, float]:
        return (float(f.beta[j] - c * f.se[j]), float(f.beta[j] + c * f.se[j]))

    d = float(fit.beta[1])
    d_ci = ci(1)
    mean_t = float(y.mean())
    pct = 100.0 / mean_t if mean_t != 0 else math.nan
    costs = [UnitCost("cycle", UNIT_LABELS["cycle"], float(fit.beta[0]), *ci(0),
                      float(fit.se[0]))]
    for j, name in enumerate(kept, start=2):
        costs.append(UnitCost(name, UNIT_LABELS.get(name, f"per unit of {name}"),
                              float(fit.beta[j]), *ci(j), float(fit.se[j])))

    if workload_known:
        raw = _fit(design[:, :2], y, lags)
        raw_crit = fixed_b_critical(level, raw.df, lags, n)
        raw_d, raw_ci = float(raw.beta[1]), ci(1, raw, raw_crit)
        share = 1.0 - d / raw_d if raw_d != 0 else math.nan
        z = y - design[:, 2:] @ fit.beta[2:]
    else:
        raw_d, raw_ci, share, z = d, d_ci, math.nan, y
    trend = 0 if d_ci[0] <= 0 <= d_ci[1] else (1 if d > 0 else -1)
    shape, note = classify_shape(z, x, lags=hac_lags, level=level, trend=trend)
    return DriftResult(
        testable=True, reason="", workload_known=workload_known, n_total=n_total,
        ramp_end=end, ramp_end_index=end_index, n=n, index_unit=index_unit, per=per,
        level=level, mean_time_s=mean_t, drift_s=d, drift_ci=d_ci, drift_se=float(fit.se[1]),
        drift_pct=d * pct,
        drift_pct_ci=(d_ci[0] * pct, d_ci[1] * pct), drift_raw_s=raw_d, drift_raw_ci=raw_ci,
        explained_share=share, unit_costs=tuple(costs), dropped=tuple(dropped),
        hac_lags=lags, critical=crit, resid_lag1=r1, shape=shape, shape_note=note,
    )


def drift_of_cycles(cycles: pd.DataFrame, *, cap: int | None = None,
                    counters: tuple[str, ...] | None = CYCLE_COUNTERS,
                    time_column: str = "wall_s", **kwargs: Any) -> DriftResult:
    """:func:`drift` of one run and condition as ``cycles.csv`` holds it: time ``wall_s``,
    index ``cycle``, population ``population``, and the work counters in ``counters`` that
    the log has (``registry_x_agents`` = ``registry_size × population``). ``counters=None``
    ignores the work (drift of raw time). Other keywords go to :func:`drift`."""
    if time_column not in cycles:
        raise ParameterError(f"cycles has no {time_column!r} column")
    if "condition" in cycles and cycles["condition"].nunique(dropna=True) > 1:
        found = sorted(map(str, cycles["condition"].dropna().unique()))
        raise ParameterError(f"one condition at a time; got {len(found)}: {', '.join(found)}")
    index = cycles.get("cycle", None)
    pop = cycles.get("population", None)
    work: dict[str, np.ndarray] = {}
    for name in counters or ():
        if name == "registry_x_agents":
            if "registry_size" in cycles and pop is not None:
                work[name] = (cycles["registry_size"].to_numpy(dtype=float)
                              * pop.to_numpy(dtype=float))
        elif name in cycles:
            work[name] = cycles[name].to_numpy(dtype=float)
    return drift(cycles[time_column], work=work or None, index=index, population=pop,
                 cap=cap, **kwargs)
