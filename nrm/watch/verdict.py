"""The verdicts of a watch: is there a drift, and which of H1-H5 explains it.

The run's rows (``cycles.csv``, one per sampling interval) are pooled into windows: of equal
work when the program marked its work (``nrm.mark``), else of equal time. In each window the
wall time is split into what the process did and what it waited for::

    wall = user CPU (garbage collection + the rest) + system CPU + blocked (incl. runqueue wait)

and every part is divided by the window's work (seconds per unit) or, without markers, by the
window's wall time (a share). A drift is the OLS slope of a series on cumulative work (per
1000 units) or on time (per hour) with the compendium's drift statistic
(:func:`nrm.stats.drift.drift`: HAC interval, fixed-b critical value, shape; :mod:`nrm.watch.fit`).

Verdicts (``supported`` / ``not supported`` / ``not testable: reason``). The floor of the
work mode is ``FLOOR`` of the program's own time per unit in the first quarter of the run
(wall minus run-queue wait), so a machine busy with other work does not raise the bar:

- **H1 contention**: the watched process's share of its runnable time spent waiting for a
  CPU (``/proc/PID/schedstat``; else its blocked share), against the run's own baseline (its
  first quarter): it rises by the last quarter by more than ``NOISE_K`` standard errors,
  and the wait it adds per unit beyond the baseline share is at least the floor. A host
  busy all along is not a cause; load that grows during the run is;
- **H2 fragmentation**: pymalloc's ``frag_ratio`` (inside tier) rises by at least
  ``FRAG_FLOOR`` (the compendium's H2 control floor);
- **H2-gc garbage collection**: GC time per unit (CPU time of the collections) grows by
  at least ``FLOOR`` (the paper's second H2 prediction: pauses lengthen);
- **H3 I/O accumulation**: bytes read and written per unit (``rchar + wchar``, page cache
  included) grow by at least ``IO_FLOOR`` and are at least ``IO_MIN_BYTES`` per unit at the end;
- **H4 thermal**: CPU frequency falls by 5 % or temperature rises by 5 degC (where exposed);
- **H5 growing work**: CPU time per unit other than GC grows by at least ``FLOOR``, which is
  what a step that does more work as the run goes on (a scan of a growing list) looks like.

Each supported hypothesis gets the share of the slowdown its part of the time explains
(``share_of_slowdown``) and the seconds per unit that part added (``added_s_per_unit``);
the one that added most is the primary cause. Without work markers every verdict carries
"workload unknown: a drift may be growing work", and H5 is not testable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm.stats.verdict import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, not_testable
from nrm.watch.fit import MIN_WINDOWS, Drift, fit_drift

FLOOR = 0.10
FRAG_FLOOR = 0.05
IO_FLOOR = 0.25
IO_MIN_BYTES = 4096.0
#: H1 needs a rise of more than this many standard errors (first vs last quarter).
NOISE_K = 3.0
TARGET_WINDOWS = 40
WORKLOAD_UNKNOWN = "workload unknown: a drift may be growing work"
TOO_SHORT = not_testable("too short")
NAMES = {
    "H1": "contention", "H2": "memory fragmentation", "H2-gc": "garbage collection",
    "H3": "I/O accumulation", "H4": "thermal throttling", "H5": "growing work",
}


@dataclass
class Verdicts:
    """Everything the end of a watch reports (also stored in run.json ``watch.verdicts``)."""

    mode: str  # "work" (nrm.mark seen) | "time" | "too short"
    windows: int
    headline: str
    drift: dict[str, Any] | None = None  # the time-per-unit (or CPU share) drift
    drift_per_hour: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    primary: str | None = None
    notes: list[str] = field(default_factory=list)
    gc_share: float | None = None

    def verdict(self, hypothesis: str) -> str:
        for row in self.rows:
            if row["hypothesis"] == hypothesis:
                return str(row["verdict"])
        raise KeyError(hypothesis)

    def supported(self) -> list[str]:
        return [r["hypothesis"] for r in self.rows if r["verdict"] == SUPPORTED]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "windows": self.windows, "headline": self.headline,
            "drift": self.drift, "drift_per_hour": self.drift_per_hour, "rows": self.rows,
            "primary": self.primary, "notes": self.notes, "gc_share": self.gc_share,
        }

    def text(self) -> str:
        lines = [f"verdict: {self.headline}"]
        for row in self.rows:
            share = row.get("share_of_slowdown")
            extra = f" (explains {100 * share:.0f} % of the slowdown)" if share else ""
            said = "" if row["verdict"].endswith(row["evidence"]) else f": {row['evidence']}"
            lines.append(f"  {row['hypothesis']:<6} {row['name']:<22} {row['verdict']}{extra}"
                         f"{said}")
        if self.primary:
            lines.append(f"primary cause: {self.primary} {NAMES[self.primary]}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def load_rows(folder: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / "cycles.csv")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df:
        return pd.to_numeric(df[name], errors="coerce")
    return pd.Series(np.nan, index=df.index)


def _marked(df: pd.DataFrame) -> bool:
    work = _col(df, "work").dropna()
    return len(work) > 1 and float(work.iloc[-1] - work.iloc[0]) > 0


def window_ids(df: pd.DataFrame, by_work: bool, target: int = TARGET_WINDOWS) -> np.ndarray:
    """Window number of each row: equal work (``by_work``) or equal row counts."""
    n = len(df)
    if not by_work:
        size = max(2, n // target)
        return np.arange(n) // size
    work = _col(df, "work").ffill().fillna(0.0).to_numpy()
    done = work - work[0]
    per = done[-1] / target
    ids = np.floor(done / per).clip(0, target - 1).astype(int)
    # a window must hold at least two rows (one row's work is quantised by the mark cadence)
    out = np.empty(n, dtype=int)
    current, start_row, label = ids[0], 0, 0
    for i in range(n):
        if ids[i] != current and i - start_row >= 2:
            label += 1
            current, start_row = ids[i], i
        out[i] = label
    return out


def windows(df: pd.DataFrame, by_work: bool) -> pd.DataFrame:
    """One row per window: sums of the interval quantities, means of the levels."""
    d = pd.DataFrame({
        "wall": _col(df, "wall_s"), "user": _col(df, "cpu_user_s"), "sys": _col(df, "cpu_sys_s"),
        "cpu": _col(df, "cpu_s"), "blocked": _col(df, "blocked_s"), "gc": _col(df, "gc_pause_s"),
        "wait": _col(df, "sched_wait_s"), "invol": _col(df, "ctx_switches_invol"),
        "io": _col(df, "io_rchar_bytes").fillna(0) + _col(df, "io_wchar_bytes").fillna(0),
        "major": _col(df, "major_faults"), "watcher": _col(df, "watcher_cpu_s"),
        "rss": _col(df, "rss_bytes"), "frag": _col(df, "frag_ratio").ffill(),
        "freq": _col(df, "cpu_freq_mhz"), "temp": _col(df, "cpu_temp_c"),
        "host": _col(df, "sys_cpu_pct"), "elapsed": _col(df, "elapsed_s"),
        "work": _col(df, "work").ffill(), "icpu": _col(df, "inside_cpu_s"),
    })
    d["win"] = window_ids(df, by_work)
    sums = ["wall", "user", "sys", "cpu", "blocked", "gc", "wait", "invol", "io", "major",
            "watcher", "icpu"]
    g = d.groupby("win")
    w = g[sums].sum(min_count=1)
    w = w.join(g[["rss", "frag", "freq", "temp", "host"]].mean())
    w["elapsed"] = g["elapsed"].last()
    w["hours"] = (g["elapsed"].first() + g["elapsed"].last()) / 2 / 3600.0
    start_work = d["work"].fillna(0.0).iloc[0]
    w["work_end"] = g["work"].last().fillna(0.0) - start_work
    w["dwork"] = w["work_end"].diff()
    w.loc[w.index[0], "dwork"] = w["work_end"].iloc[0]
    w["work_mid"] = w["work_end"] - w["dwork"] / 2
    return w.reset_index(drop=True)


def _fmt_s(value: float) -> str:
    a = abs(value)
    if a >= 1:
        return f"{value:.3g} s"
    if a >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} us"


def _drift_dict(d: Drift | None, scale: float, unit: str) -> dict[str, Any] | None:
    if d is None:
        return None
    out = d.as_dict()
    out.update(per=unit, slope_scaled=d.slope * scale, ci_low_scaled=d.ci_low * scale,
               ci_high_scaled=d.ci_high * scale)
    return out


def _grows(d: Drift | None, floor: float) -> bool:
    return d is not None and d.ci_low > 0 and d.change >= floor


def evaluate(df: pd.DataFrame) -> Verdicts:
    """The verdicts of one watch (rows as ``cycles.csv`` holds them)."""
    by_work = _marked(df)
    if len(df) < 2 * MIN_WINDOWS:
        return Verdicts("too short", 0, f"{TOO_SHORT} ({len(df)} samples; a drift needs at "
                        f"least {2 * MIN_WINDOWS}: watch longer or raise --hz)")
    w = windows(df, by_work)
    if by_work:
        w = w[w["dwork"] > 0].reset_index(drop=True)
    if len(w) < MIN_WINDOWS:
        return Verdicts("too short", len(w), f"{TOO_SHORT} ({len(w)} windows of work; a drift "
                        f"needs at least {MIN_WINDOWS})")
    inside = _col(df, "gc_pause_s").notna().any()
    total_wall = float(w["wall"].sum())
    gc_share = float(w["gc"].sum()) / total_wall if inside and total_wall > 0 else None
    v = Verdicts("work" if by_work else "time", len(w), "", gc_share=gc_share)
    if by_work:
        return _evaluate_work(w, v, inside)
    return _evaluate_time(w, v, inside)


def _per(w: pd.DataFrame, name: str) -> np.ndarray:
    return (w[name] / w["dwork"]).to_numpy(dtype=float)


def _evaluate_work(w: pd.DataFrame, v: Verdicts, inside: bool) -> Verdicts:
    x = w["work_mid"].to_numpy(dtype=float)
    hours = w["hours"].to_numpy(dtype=float)
    wall = fit_drift(x, _per(w, "wall"))
    assert wall is not None
    # levels are the run's own: the observed mean time per unit in its first and last
    # quarter (a fitted line can start below zero when the series curves)
    per_wall = _per(w, "wall")
    base, rise, _ = _baseline_rise(per_wall)
    last = base + rise
    # each cause must add FLOOR of the program's own time per unit in the first quarter
    # (wall minus run-queue wait: what a unit takes on an idle machine), so that a machine
    # busy with other work, which inflates the wall time, does not raise the bar
    own, _, _ = _baseline_rise(per_wall - np.nan_to_num(_per(w, "wait")))
    floor = FLOOR * (own if own > 0 else base)
    v.drift = _drift_dict(wall, 1000.0, "1000 units")
    v.drift_per_hour = _drift_dict(fit_drift(hours, per_wall), 1.0, "hour")
    rel = wall.change / base if base > 0 else None
    ci = (f"drift {_fmt_s(wall.slope * 1000)} per 1000 units (95 % CI "
          f"{_fmt_s(wall.ci_low * 1000)} to {_fmt_s(wall.ci_high * 1000)}, shape {wall.shape})")
    levels = f"time per unit {_fmt_s(base)} -> {_fmt_s(last)} (first to last quarter)"
    if wall.ci_low > 0 and rel is not None and rel >= FLOOR:
        v.headline = f"slowdown: {levels}, +{100 * rel:.0f} % over the run; {ci}"
    elif wall.ci_high < 0 and rel is not None and rel <= -FLOOR:
        v.headline = f"speed-up: {levels}; {ci}"
    else:
        v.headline = f"no drift: {levels}; {ci}; floor {100 * FLOOR:.0f} % over the run"
    slowdown = max(wall.change, 0.0)

    def share(change: float) -> float | None:
        return min(1.0, max(0.0, change) / slowdown) if slowdown > 0 else None

    added: dict[str, float] = {}  # seconds per unit each supported cause added over the run
    h1 = _contention_row(v, w, x, floor, share)
    if h1 is not None:
        added["H1"] = h1
    _frag_row(v, w, x, inside)
    if inside:
        gc = fit_drift(x, _per(w, "gc"))
        ok = _grows(gc, floor)
        if ok and gc:
            added["H2-gc"] = gc.change
        v.rows.append(_row("H2-gc", ok, gc, share(gc.change) if ok and gc else None,
                           f"GC time per unit {_quarters(_per(w, 'gc'), _fmt_s)}; "
                           f"{100 * (v.gc_share or 0):.1f} % of the wall time in GC"
                           if gc else "no data"))
    else:
        v.rows.append(_untestable("H2-gc", "no inside tier (attached by PID, or --no-inside)"))
    io = fit_drift(x, _per(w, "io"))
    ok = bool(io and io.ci_low > 0 and io.relative is not None and io.relative >= IO_FLOOR
              and io.end >= IO_MIN_BYTES)
    io_time = fit_drift(x, (w["sys"] + w["blocked"] - w["wait"].fillna(0)).to_numpy(float)
                        / w["dwork"].to_numpy(float))
    if ok and io_time:
        added["H3"] = io_time.change
    v.rows.append(_row("H3", ok, io, share(io_time.change) if ok and io_time else None,
                       f"bytes read + written per unit {_quarters(_per(w, 'io'), _bytes)}"
                       if io else "no data"))
    _thermal_row(v, w, x)
    cpu_col = "icpu" if w["icpu"].notna().all() else "user"  # the inside tier's clock: ns
    rest = fit_drift(x, _per(w, cpu_col) - np.nan_to_num(_per(w, "gc")))
    ok = _grows(rest, floor)
    if ok and rest:
        added["H5"] = rest.change
    v.rows.append(_row("H5", ok, rest, share(rest.change) if ok and rest else None,
                       "CPU time per unit other than GC "
                       f"{_quarters(_per(w, cpu_col) - np.nan_to_num(_per(w, 'gc')), _fmt_s)}"
                       if rest else "no data"))
    # the primary cause: the supported hypothesis whose part of the time per unit grew most
    # (ranked by seconds added, which shares capped at 100 % could not separate)
    for row in v.rows:
        row["added_s_per_unit"] = added.get(row["hypothesis"])
    if added:
        v.primary = max(added, key=lambda h: added[h])
    elif v.supported():
        v.primary = v.supported()[0]
    return v


def _wait_share(w: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Share of the time the process wanted a CPU that it spent waiting for one."""
    if w["wait"].notna().all():
        wait = w["wait"].to_numpy(float)
        return wait / np.maximum(wait + w["cpu"].to_numpy(float), 1e-12), "runqueue wait"
    blocked = w["blocked"].clip(lower=0).to_numpy(float)
    return blocked / w["wall"].to_numpy(float), "blocked time"


def _bytes(x: float) -> str:
    return f"{x:,.0f}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _quarters(series: np.ndarray, fmt: Any) -> str:
    """'first -> last (first to last quarter)': the observed means of the run's first and
    last quarter of windows, never a fitted line's ends (which can fall below zero where the
    series curves: 'bytes per unit 116 -> -17')."""
    base, rise, _ = _baseline_rise(series)
    return f"{fmt(base)} -> {fmt(base + rise)} (first to last quarter)"


def _baseline_rise(series: np.ndarray) -> tuple[float, float, float]:
    """(baseline mean, rise, z): the first quarter of the windows (at least 3) is the run's
    own baseline; the rise is the last quarter's mean minus the baseline's, and ``z`` the rise
    over its standard error (Welch, from the two quarters' spread between windows)."""
    s = np.asarray(series, dtype=float)
    s = s[np.isfinite(s)]
    k = max(3, len(s) // 4)
    base, late = s[:k], s[-k:]
    rise = float(late.mean() - base.mean())
    se = math.sqrt((np.var(base, ddof=1) + np.var(late, ddof=1)) / k)
    z = rise / se if se > 0 else (math.inf if rise > 0 else 0.0)
    return float(base.mean()), rise, z


def _contention_row(v: Verdicts, w: pd.DataFrame, x: np.ndarray, floor: float,
                    share: Any) -> float | None:
    """H1, judged against the run's own baseline. The series is the watched process's share
    of its runnable time spent waiting for a CPU (run-queue wait / (wait + CPU); else its
    blocked share of the wall time): a share, because under steady contention a unit that
    takes longer also waits longer. H1 is supported when the share rises from the first
    quarter of the run to the last by at least FLOOR (absolute) and by more than NOISE_K
    standard errors (the windows' own spread), and the wait it adds per unit, beyond what the
    baseline share gives the same CPU time, is at least FLOOR of the first quarter's time per
    unit. A machine busy all along raises the baseline, not the rise; load that grows during
    the run is a cause (a step, which a straight line fits badly, counts as much as a ramp).
    Returns the wait per unit added (None: not supported)."""
    ratio, label = _wait_share(w)
    d = fit_drift(x, ratio)
    invol = fit_drift(x, _per(w, "invol"))
    if d is None:
        v.rows.append(_untestable("H1", "no data"))
        return None
    base, rise, z = _baseline_rise(ratio)
    waited = _per(w, "wait") if label == "runqueue wait" else _per(w, "blocked")
    k = max(3, len(ratio) // 4)
    r0 = min(max(base, 0.0), 0.95)
    expected = (_per(w, "cpu") * r0 / (1 - r0) if label == "runqueue wait"
                else _per(w, "wall") * r0)
    added = float(np.nanmean(waited[-k:] - expected[-k:]))
    ok = z > NOISE_K and added >= floor
    text = (f"{label} {100 * base:.0f} % of the time runnable in the first quarter of the "
            f"run, {100 * (base + rise):.0f} % in the last (z = {z:.1f}); wait added per unit "
            f"{_fmt_s(added)}"
            + (f"; involuntary switches per unit "
               f"{_quarters(_per(w, 'invol'), lambda q: f'{q:.3g}')}"
               if invol else "") + f"; host CPU busy {w['host'].mean():.0f} %")
    v.rows.append(_row("H1", ok, d, share(added) if ok and share else None, text))
    return added if ok else None


def _evaluate_time(w: pd.DataFrame, v: Verdicts, inside: bool) -> Verdicts:
    hours = w["hours"].to_numpy(dtype=float)
    wall = w["wall"].to_numpy(dtype=float)
    cpu = fit_drift(hours, w["cpu"].to_numpy(float) / wall)
    assert cpu is not None
    v.drift_per_hour = _drift_dict(cpu, 1.0, "hour")
    v.headline = (f"{WORKLOAD_UNKNOWN} (no nrm.mark(work=N) seen); CPU share "
                  f"{_quarters(w['cpu'].to_numpy(float) / wall, _pct)}, drift "
                  f"{100 * cpu.slope:+.3g} points per hour (95 % CI {100 * cpu.ci_low:+.3g} to "
                  f"{100 * cpu.ci_high:+.3g})")
    ratio, label = _wait_share(w)
    wait = fit_drift(hours, ratio)
    _, rise, z = _baseline_rise(ratio)
    h1 = bool(wait and rise >= FLOOR and z > NOISE_K)
    v.rows.append(_row("H1", h1, wait, None,
                       f"{label} {_quarters(ratio, _pct)} of the time runnable" if wait
                       else "no data", unknown=True))
    _frag_row(v, w, hours, inside, unknown=True)
    if inside:
        gc = fit_drift(hours, w["gc"].to_numpy(float) / wall)
        v.rows.append(_row("H2-gc", _grows(gc, FLOOR), gc, None,
                           f"GC share {_quarters(w['gc'].to_numpy(float) / wall, _pct)}" if gc
                           else "no data", unknown=True))
    else:
        v.rows.append(_untestable("H2-gc", "no inside tier (attached by PID, or --no-inside)"))
    io = fit_drift(hours, w["io"].to_numpy(float) / wall)
    ok = bool(io and io.ci_low > 0 and io.relative is not None and io.relative >= IO_FLOOR
              and io.end >= IO_MIN_BYTES)
    v.rows.append(_row("H3", ok, io, None, "bytes read + written per second "
                       f"{_quarters(w['io'].to_numpy(float) / wall, _bytes)}" if io
                       else "no data", unknown=True))
    _thermal_row(v, w, hours)
    v.rows.append(_untestable("H5", "workload unknown: no nrm.mark(work=N) in the program"))
    v.notes.append(WORKLOAD_UNKNOWN)
    return v


def _row(h: str, ok: bool, d: Drift | None, share: float | None, evidence: str,
         unknown: bool = False) -> dict[str, Any]:
    if d is None:
        return _untestable(h, "no data")
    return {
        "hypothesis": h, "name": NAMES[h], "verdict": SUPPORTED if ok else NOT_SUPPORTED,
        "evidence": evidence + (f"; {WORKLOAD_UNKNOWN}" if unknown else ""),
        "drift": d.as_dict(), "share_of_slowdown": share,
    }


def _untestable(h: str, reason: str) -> dict[str, Any]:
    return {"hypothesis": h, "name": NAMES[h], "verdict": f"{NOT_TESTABLE}: {reason}",
            "evidence": reason, "drift": None, "share_of_slowdown": None}


def _frag_row(v: Verdicts, w: pd.DataFrame, x: np.ndarray, inside: bool,
              unknown: bool = False) -> None:
    rss = fit_drift(x, w["rss"].to_numpy(float))
    rss_text = (f"RSS {_quarters(w['rss'].to_numpy(float), lambda b: f'{b / 1e6:,.1f} MB')}"
                if rss else "")
    if w["frag"].notna().sum() < MIN_WINDOWS:
        why = ("no inside tier (attached by PID, or --no-inside)" if not inside else
               "no pymalloc arena readings (PYTHONMALLOC=malloc, or too few readings)")
        row = _untestable("H2", why)
        if rss_text:
            row["evidence"] = (f"{why}; {rss_text} (fragmentation, a leak or growing data "
                               "look alike from the outside)")
        v.rows.append(row)
        return
    frag = fit_drift(x, w["frag"].to_numpy(float))
    v.rows.append(_row("H2", _grows(frag, FRAG_FLOOR), frag, None,
                       "pymalloc frag_ratio "
                       f"{_quarters(w['frag'].to_numpy(float), lambda q: f'{q:.3f}')}; "
                       f"{rss_text}"
                       if frag else "no data", unknown=unknown))


def _thermal_row(v: Verdicts, w: pd.DataFrame, x: np.ndarray) -> None:
    if w["freq"].notna().sum() < MIN_WINDOWS and w["temp"].notna().sum() < MIN_WINDOWS:
        v.rows.append(_untestable("H4", "no CPU frequency or temperature exposed by this machine"))
        return
    freq = fit_drift(x, w["freq"].to_numpy(float))
    temp = fit_drift(x, w["temp"].to_numpy(float))
    ok = bool((freq and freq.ci_high < 0 and freq.relative is not None and freq.relative <= -0.05)
              or (temp and temp.ci_low > 0 and temp.change >= 5.0))
    parts = []
    if freq:
        parts.append("CPU frequency "
                     f"{_quarters(w['freq'].to_numpy(float), lambda f: f'{f:,.0f} MHz')}")
    if temp:
        parts.append("temperature "
                     f"{_quarters(w['temp'].to_numpy(float), lambda t: f'{t:.1f} degC')}")
    d = freq or temp
    v.rows.append(_row("H4", ok, d, None, "; ".join(parts)))


def overhead(df: pd.DataFrame) -> dict[str, float | None]:
    """The watcher's own CPU time as a share of one core over the watch."""
    wall = float(_col(df, "wall_s").sum())
    own = float(_col(df, "watcher_cpu_s").sum())
    return {"watcher_cpu_s": own, "wall_s": wall,
            "core_share": own / wall if wall > 0 else None}


def is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
