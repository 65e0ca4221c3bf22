"""Phase 1B: an unoptimized run against one or more optimized runs, on per-cycle wall times.

Reported (one row each, in a long table with value, interval, p and a note):

- speedup of the mean per-cycle time with a moving-block bootstrap percentile interval, and the
  ratio of run totals;
- Welch's t-test and the mean difference with its Welch interval; Cohen's d (pooled SD) with
  the Hedges & Olkin large-sample interval;
- Levene's test (center = mean) and the Brown–Forsythe variant (center = median) on the
  per-cycle times, the variance reduction % = 100 (1 − var_opt / var_unopt) with a bootstrap
  interval, and the same comparison on log times (relative spread), since shrinking every
  cycle tenfold shrinks the variance a hundredfold without changing anything about stability;
- the coefficient of variation of each group, the per-cycle trend in each group (HAC);
- the sample-call reduction ratio from the ``samples`` totals;
- the paper's falsifiable prediction (variance reduction > 80 % and Levene p < 0.05).

Why a block bootstrap: consecutive cycles are correlated, and resampling single cycles
pretends they are not, giving intervals that are too narrow. Blocks of L consecutive cycles
keep the short-range dependence. L comes from an AR(1) plug-in rule of the Carlstein (1986)
type, L = (3n/2)^(1/3) (2ρ / (1 − ρ²))^(2/3), ρ the lag-1 autocorrelation of the run after
removing a straight-line trend (L = 1, the plain bootstrap, when ρ ≈ 0), at most n/4. Blocks
never cross from one run to another; each run contributes round(n/L) blocks. The t, Levene and
Brown–Forsythe p-values treat cycles as independent and are optimistic when ρ is large; the
note says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from nrm.exceptions import LogError, ParameterError
from nrm.instrument.reader import RunData
from nrm.sim.model import DEFAULT_SEED
from nrm.stats._correlation import lag1
from nrm.stats._data import as_cycles, column
from nrm.stats._regression import fit_line
from nrm.stats.tables import format_p
from nrm.stats.verdict import HOLDS, threshold_verdict

__all__ = [
    "block_bootstrap_sums",
    "block_length",
    "cohens_d",
    "compare_runs",
    "compare_times",
    "detrended_lag1",
]


def detrended_lag1(x: np.ndarray) -> float:
    """Lag-1 autocorrelation after removing a straight-line trend (short-range dependence
    only: a trend alone would make any series look perfectly autocorrelated)."""
    x = np.asarray(x, dtype=float)
    if x.size < 4:
        return math.nan
    t = np.arange(x.size, dtype=float)
    slope, icpt = np.polyfit(t, x, 1)
    return lag1(x - (icpt + slope * t))


def block_length(x: np.ndarray) -> int:
    """AR(1) plug-in block length (see module docstring) from the detrended lag-1
    autocorrelation; 1 for uncorrelated data."""
    x = np.asarray(x, dtype=float)
    n = x.size
    rho = detrended_lag1(x)
    if not np.isfinite(rho) or rho <= 0.01 or n < 8:
        return 1
    rho = min(rho, 0.95)
    L = (1.5 * n) ** (1 / 3) * (2 * rho / (1 - rho**2)) ** (2 / 3)
    return int(max(1, min(math.ceil(L), n // 4)))


def block_bootstrap_sums(
    x: np.ndarray, L: int, n_boot: int, rng: np.random.Generator, *, chunk: int = 2_000_000
) -> tuple[np.ndarray, np.ndarray, int]:
    """Moving-block bootstrap of one series: for each of ``n_boot`` resamples of k = round(n/L)
    blocks of length L (starts uniform over the n − L + 1 possible), the sum of x, the sum of
    x², and the resample length k·L. Vectorised through prefix sums."""
    x = np.asarray(x, dtype=float)
    n = x.size
    L = max(1, min(int(L), n))
    k = max(1, round(n / L))
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    s1 = np.empty(n_boot)
    s2 = np.empty(n_boot)
    per = max(1, chunk // k)
    for lo in range(0, n_boot, per):
        hi = min(n_boot, lo + per)
        starts = rng.integers(0, n - L + 1, size=(hi - lo, k))
        s1[lo:hi] = (c1[starts + L] - c1[starts]).sum(axis=1)
        s2[lo:hi] = (c2[starts + L] - c2[starts]).sum(axis=1)
    return s1, s2, k * L


def _group_boot(
    runs: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator, L: int | None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Bootstrap mean and variance of a pooled group; each run resampled on its own."""
    s1 = np.zeros(n_boot)
    s2 = np.zeros(n_boot)
    m = 0
    lengths = []
    for x in runs:
        b = block_length(x) if L is None else L
        lengths.append(b)
        a1, a2, k = block_bootstrap_sums(x, b, n_boot, rng)
        s1 += a1
        s2 += a2
        m += k
    mean = s1 / m
    var = (s2 - m * mean**2) / (m - 1)
    return mean, var, lengths


def _percentiles(values: np.ndarray, q: tuple[float, float]) -> tuple[float, float]:
    """Percentile interval over the finite resamples (a degenerate resample, e.g. zero
    variance in a tiny group, is left out)."""
    v = values[np.isfinite(values)]
    if v.size < 0.9 * values.size:
        return math.nan, math.nan
    lo, hi = np.percentile(v, q)
    return float(lo), float(hi)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a − mean b) / pooled SD, pooled SD = sqrt(((na−1)sa² + (nb−1)sb²)/(na+nb−2))."""
    na, nb = a.size, b.size
    sp = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    return float((a.mean() - b.mean()) / sp) if sp > 0 else math.nan


def _row(key: str, stat: str, value: float, lo: float = math.nan, hi: float = math.nan,
         p: float = math.nan, note: str = "", verdict: str | None = None) -> dict[str, object]:
    """One statistic. ``key`` is its stable name (code reads rows by it: :func:`stat_row`);
    ``stat`` and ``note`` are for readers and may be reworded freely. A row that tests a
    prediction has a ``verdict`` (one of :data:`~nrm.stats.verdict.VERDICTS`) and the flag
    ``holds``; other rows have None in both."""
    return {"key": key, "statistic": stat, "value": value, "ci_low": lo, "ci_high": hi,
            "p_value": p, "note": note, "verdict": verdict,
            "holds": None if verdict is None else verdict == HOLDS}


def stat_row(table: pd.DataFrame, key: str) -> pd.Series:
    """The row of a :func:`compare_times` table with stable ``key`` (e.g. ``speedup_mean``)."""
    hit = table[table["key"] == key]
    if hit.empty:
        raise LogError(f"comparison table has no statistic {key!r}; it has: "
                       + ", ".join(table["key"].astype(str)))
    return hit.iloc[0]


def _as_runs(x: np.ndarray | Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    if (isinstance(x, np.ndarray) and x.ndim == 1) or all(np.ndim(r) == 0 for r in x):
        runs = [np.asarray(x, dtype=float)]
    else:
        runs = [np.asarray(r, dtype=float) for r in x]
    for r in runs:
        if r.size < 3 or not np.isfinite(r).all():
            raise ParameterError(
                f"{what}: every run needs at least 3 finite per-cycle times (got {r.size}, "
                f"{int((~np.isfinite(r)).sum())} not finite)"
            )
    return runs


def compare_times(
    unoptimized: np.ndarray | Sequence[np.ndarray],
    optimized: np.ndarray | Sequence[np.ndarray],
    *,
    samples_unoptimized: Sequence[float] | None = None,
    samples_optimized: Sequence[float] | None = None,
    n_boot: int = 2000,
    block: int | None = None,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
    alpha: float = 0.05,
    min_variance_reduction_pct: float = 80.0,
) -> pd.DataFrame:
    """Compare per-cycle wall times in seconds (one array per run in each group).

    ``samples_*``: total metrics samples of each run, for the call-reduction ratio. ``block``
    fixes the bootstrap block length (default: the plug-in rule per run).
    """
    if n_boot < 100:
        raise ParameterError(f"n_boot = {n_boot}; expected at least 100 resamples")
    u_runs = [r * 1000.0 for r in _as_runs(unoptimized, "unoptimized")]
    o_runs = [r * 1000.0 for r in _as_runs(optimized, "optimized")]
    u, o = np.concatenate(u_runs), np.concatenate(o_runs)
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    rows: list[dict[str, object]] = []

    for label, runs, x in (("unoptimized", u_runs, u), ("optimized", o_runs, o)):
        rows.append(_row(f"runs_{label}", f"runs, {label}", float(len(runs))))
        rows.append(_row(f"cycles_{label}", f"cycles, {label}", float(x.size)))
        per_run = float(np.mean([r.sum() for r in runs]) / 1000)
        rows.append(_row(f"total_time_per_run_s_{label}", f"total time per run, {label} (s)",
                         per_run))
        rows.append(_row(f"mean_cycle_ms_{label}", f"mean per-cycle time, {label} (ms)",
                         float(x.mean())))
        rows.append(_row(f"sd_cycle_ms_{label}", f"SD per-cycle time, {label} (ms)",
                         float(x.std(ddof=1))))
        rows.append(_row(f"cv_cycle_{label}", f"CV per-cycle time, {label}",
                         float(x.std(ddof=1) / x.mean())))

    rng = np.random.default_rng(seed)
    u_mean, u_var, u_L = _group_boot(u_runs, n_boot, rng, block)
    o_mean, o_var, o_L = _group_boot(o_runs, n_boot, rng, block)
    r1 = max(detrended_lag1(r) for r in [*u_runs, *o_runs])
    boot_note = (
        f"moving-block bootstrap, {n_boot} resamples, seed {seed}, block length "
        f"{'/'.join(map(str, u_L))} (unoptimized) and {'/'.join(map(str, o_L))} (optimized)"
    )
    speed = u.mean() / o.mean()
    lo, hi = _percentiles(u_mean / np.where(o_mean > 0, o_mean, np.nan), q)
    rows.append(_row("speedup_mean", "speedup, mean per-cycle time (ratio)", float(speed), lo, hi,
                     note=boot_note))
    tot = np.mean([r.sum() for r in u_runs]) / np.mean([r.sum() for r in o_runs])
    rows.append(_row("speedup_total", "speedup, total time per run (ratio)", float(tot),
                     note="cycle time only; set-up between cycles not included"))

    indep = (
        f"cycles treated as independent; lag-1 autocorrelation (detrended) up to {r1:.2f}, so "
        "this p is optimistic"
        if r1 > 0.2
        else "cycles treated as independent"
    )
    w = stats.ttest_ind(u, o, equal_var=False)
    ci = w.confidence_interval(level)
    rows.append(_row("welch_t", "Welch t", float(w.statistic), p=float(w.pvalue),
                     note=f"df = {w.df:.1f}; {indep}"))
    rows.append(_row("mean_difference_ms", "mean difference (ms)", float(u.mean() - o.mean()),
                     float(ci.low),
                     float(ci.high), p=float(w.pvalue), note="Welch interval"))
    d = cohens_d(u, o)
    na, nb = u.size, o.size
    se_d = math.sqrt((na + nb) / (na * nb) + d**2 / (2 * (na + nb)))
    z = stats.norm.ppf(0.5 + level / 2)
    rows.append(_row("cohens_d", "Cohen's d (pooled SD)", d, d - z * se_d, d + z * se_d,
                     note="Hedges-Olkin large-sample interval"))

    lev = stats.levene(u, o, center="mean")
    bf = stats.levene(u, o, center="median")
    rows.append(
        _row("levene_w", "Levene W (center = mean)", float(lev.statistic), p=float(lev.pvalue),
             note=indep)
    )
    rows.append(_row("brown_forsythe_w", "Brown-Forsythe W (center = median)", float(bf.statistic),
                     p=float(bf.pvalue), note=indep))
    vr = 100.0 * (1.0 - o.var(ddof=1) / u.var(ddof=1))
    lo, hi = _percentiles(100.0 * (1.0 - o_var / np.where(u_var > 0, u_var, np.nan)), q)
    rows.append(_row("variance_reduction_pct", "variance reduction (%)", float(vr), lo, hi,
                     note=boot_note))
    cv_u, cv_o = u.std(ddof=1) / u.mean(), o.std(ddof=1) / o.mean()
    rows.append(_row("cv_reduction_pct", "CV reduction (%)", float(100 * (1 - cv_o / cv_u)),
                     note="scale-free: spread relative to the mean"))
    lu, lo_ = np.log(u), np.log(o)
    loglev = stats.levene(lu, lo_, center="median")
    rows.append(_row("brown_forsythe_w_log", "Brown-Forsythe W on log times",
                     float(loglev.statistic),
                     p=float(loglev.pvalue), note="relative spread; " + indep))

    for label, runs in (("unoptimized", u_runs), ("optimized", o_runs)):
        # within-run slope: x and y centred in each run, so run-to-run level shifts drop out
        xs = np.concatenate([np.arange(r.size, dtype=float) - (r.size - 1) / 2 for r in runs])
        ys = np.concatenate([r - r.mean() for r in runs])
        f = fit_line(xs, ys)
        flo, fhi = f.ci(level)
        note = f"within-run OLS slope, Newey-West HAC ({f.hac_lags} lags)"
        rows.append(
            _row(f"trend_ms_per_cycle_{label}", f"per-cycle trend, {label} (ms/cycle)", f.slope,
                 flo, fhi, p=f.p_hac, note=note)
        )

    if samples_unoptimized is not None and samples_optimized is not None:
        su = float(np.mean(samples_unoptimized))
        so = float(np.mean(samples_optimized))
        rows.append(_row("sample_calls_unoptimized", "sample calls per run, unoptimized", su))
        rows.append(_row("sample_calls_optimized", "sample calls per run, optimized", so))
        rows.append(_row("sample_call_reduction", "sample-call reduction (ratio)",
                         su / so if so > 0 else math.inf))
    else:
        rows.append(_row("sample_call_reduction", "sample-call reduction (ratio)", math.nan,
                         note="samples column missing"))

    # decided by the interval: a 95 % CI that contains the threshold is "undecided"
    verdict = threshold_verdict(vr, lo, hi, min_variance_reduction_pct, p=float(lev.pvalue),
                                alpha=alpha)
    rows.append(_row(
        "prediction",
        f"paper's prediction: variance reduction > {min_variance_reduction_pct:g} % and "
        f"Levene p < {alpha:g}",
        float(vr), lo, hi, p=float(lev.pvalue),
        note=f"{verdict} (variance reduction {vr:.1f} %, 95 % CI {lo:.1f} to {hi:.1f} %, "
        f"Levene p {format_p(float(lev.pvalue))})",
        verdict=verdict,
    ))
    out = pd.DataFrame(rows)
    out.attrs["prediction_holds"] = verdict == HOLDS
    out.attrs["prediction_verdict"] = verdict
    return out


def _wall(run: RunData) -> np.ndarray:
    w = column(as_cycles(run), "wall_s")
    if not np.isfinite(w).all():
        raise LogError(f"{run.path}: wall_s has missing values")
    return w


def compare_runs(
    unoptimized: RunData | Sequence[RunData],
    optimized: RunData | Sequence[RunData],
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`compare_times` on run logs: ``wall_s`` of every cycle, ``samples`` totals.
    Several runs in a group are pooled (each resampled on its own in the bootstrap)."""
    us = [unoptimized] if isinstance(unoptimized, RunData) else list(unoptimized)
    os_ = [optimized] if isinstance(optimized, RunData) else list(optimized)
    if not us or not os_:
        raise ParameterError("compare_runs needs at least one run in each group")

    def samples(runs: list[RunData]) -> list[float] | None:
        if all("samples" in r.cycles for r in runs):
            return [float(np.nansum(column(r.cycles, "samples"))) for r in runs]
        return None

    out = compare_times(
        [_wall(r) for r in us],
        [_wall(r) for r in os_],
        samples_unoptimized=samples(us),
        samples_optimized=samples(os_),
        **kwargs,  # type: ignore[arg-type]
    )
    out.attrs["unoptimized"] = [r.name for r in us]
    out.attrs["optimized"] = [r.name for r in os_]
    return out
