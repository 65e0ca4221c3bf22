"""The paper's figures, each a seaborn/matplotlib plot of logged per-cycle data.

Every function takes run logs (:class:`nrm.instrument.reader.RunData`, from
:func:`nrm.instrument.reader.load_run`)
and returns a :class:`matplotlib.figure.Figure` built without pyplot (so the Agg canvas is used
whatever backend a notebook has). :func:`save_png` writes one atomically. Lines drawn through
data are ordinary least-squares fits, drawn for the eye; the tests themselves are in
``nrm.stats`` and the paper's tables. Nothing here invents a value: a panel whose column was not
measured says so instead of plotting.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nrm.atomic import atomic_write_bytes
from nrm.instrument.reader import RunData

__all__ = [
    "DPI",
    "hypothesis_panels",
    "optimization_impact",
    "population_cost",
    "run_label",
    "runtime_timeline",
    "save_png",
    "to_image",
]

DPI = 120
_MIB = 2.0**20


def _theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.05)


def _figure(width: float, height: float) -> Figure:
    _theme()
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically) and return the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())


def to_image(fig: Figure, *, dpi: int = DPI) -> Any:
    """The figure as an ``IPython.display.Image`` (shows in any notebook, whatever backend)."""
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return Image(data=buf.getvalue(), format="png")


def run_label(run: RunData) -> str:
    """``C256 unoptimized`` from run.json (or the run's name)."""
    exp, variant = run.meta.get("experiment"), run.meta.get("variant")
    return f"{exp} {variant}" if exp and variant else run.name


def _num(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _frame(run: RunData, label: str | None = None) -> pd.DataFrame:
    """The columns the figures use, as floats, with the run's label and the condition."""
    df = run.cycles
    out = pd.DataFrame({
        "step": _num(df, "step"),
        "cycle": _num(df, "cycle"),
        "wall_ms": _num(df, "wall_s") * 1e3,
        "elapsed_min": _num(df, "elapsed_s") / 60.0,
    })
    if not np.isfinite(out["elapsed_min"]).all():
        out["elapsed_min"] = np.nancumsum(out["wall_ms"].to_numpy()) / 6e4
    for name in ("rss_bytes", "frag_ratio", "samples", "sample_s", "load1", "sys_cpu_pct",
                 "cpu_freq_mhz", "cpu_temp_c", "population", "evolve_calls", "registry_size",
                 "commits", "commit_s"):
        out[name] = _num(df, name)
    out["condition"] = (df["condition"].astype(str).to_numpy() if "condition" in df
                        else np.full(len(df), "run"))
    out["run"] = label or run_label(run)
    return out


def _condition_edges(ax: Axes, frame: pd.DataFrame, x: str = "step") -> None:
    """Dotted vertical lines where a new condition starts, labelled at the top."""
    cond = frame["condition"].to_numpy()
    starts = [0, *list(np.flatnonzero(cond[1:] != cond[:-1]) + 1)]
    xs = frame[x].to_numpy()
    for i in starts:
        if i > 0:
            ax.axvline(xs[i], color="0.5", lw=0.8, ls=":")
        ax.annotate(cond[i], (xs[i], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -10), textcoords="offset points", fontsize=7, color="0.35")


def _not_measured(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}\nnot measured on this machine", ha="center", va="center",
            transform=ax.transAxes, fontsize=9, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _fit_lines(ax: Axes, x: np.ndarray, y: np.ndarray, *, quadratic: bool = False,
               label: str | None = "linear fit") -> None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return
    xs = np.linspace(x[ok].min(), x[ok].max(), 200)
    lin = np.polyfit(x[ok], y[ok], 1)
    ax.plot(xs, np.polyval(lin, xs), color="C3", lw=1.3, label=label)
    if quadratic and ok.sum() >= 4:
        quad = np.polyfit(x[ok], y[ok], 2)
        ax.plot(xs, np.polyval(quad, xs), color="C2", lw=1.3, ls="--", label="quadratic fit")


def _sparse(ax: Axes, f: pd.DataFrame, x: str, y: str, *, color: str, label: str | None = None,
            alpha: float = 1.0) -> None:
    """Plot only the rows where ``y`` was measured (periodic columns are empty in between)."""
    ok = np.isfinite(f[y].to_numpy(dtype=float))
    ax.plot(f.loc[ok, x], f.loc[ok, y], "o-", color=color, ms=2.5, lw=0.8, alpha=alpha,
            label=label)


def _plain_numbers(ax: Axes) -> None:
    """No '1e-11 + 33.97' offset labels on nearly constant series."""
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")


def _rolling(y: pd.Series, n: int) -> pd.Series:
    window = max(3, min(50, n // 20))
    return y.rolling(window, center=True, min_periods=1).mean()


# --------------------------------------------------------------------------- figure 1


def runtime_timeline(runs: Sequence[RunData], *, highlight: Sequence[str] = ()) -> Figure:
    """Cumulative wall time vs cycle for every run (log scale), and per-cycle time with a
    rolling mean for the runs named in ``highlight`` (run labels; default: the first two)."""
    frames = [_frame(r) for r in runs]
    fig = _figure(11, 4.4)
    ax1, ax2 = fig.subplots(1, 2)
    data = pd.concat(frames, ignore_index=True)
    data["elapsed_s"] = data["elapsed_min"] * 60.0
    sns.lineplot(data=data, x="step", y="elapsed_s", hue="run", ax=ax1, lw=1.4)
    ax1.set_yscale("log")
    ax1.set_xlabel("cycle of the run (all four conditions, in order)")
    ax1.set_ylabel("cumulative wall-clock time (s, log scale)")
    ax1.set_title("(a) Wall-clock time since the run started")
    ax1.legend(title=None, fontsize=7, ncol=2)
    chosen = list(highlight) or [f["run"].iloc[0] for f in frames[:2]]
    picked = [f for f in frames if f["run"].iloc[0] in chosen]
    for i, f in enumerate(picked):
        ax2.plot(f["step"], f["wall_ms"], color=f"C{i}", lw=0.5, alpha=0.35)
        ax2.plot(f["step"], _rolling(f["wall_ms"], len(f)), color=f"C{i}", lw=1.6,
                 label=f"{f['run'].iloc[0]} (rolling mean)")
    if picked:
        _condition_edges(ax2, picked[0])
    ax2.set_yscale("log")
    ax2.set_xlabel("cycle of the run (all four conditions, in order)")
    ax2.set_ylabel("wall-clock time per cycle (ms, log scale)")
    ax2.set_title("(b) Per-cycle time, thin: every cycle")
    ax2.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------- figure 2


def hypothesis_panels(run: RunData) -> Figure:
    """One panel per runtime hypothesis, on one run's log: H1 load, H2 RSS and arena
    fragmentation, H3 sample latency vs cumulative samples, H4 CPU frequency/temperature,
    H5 per-cycle time."""
    f = _frame(run)
    fig = _figure(12, 7.2)
    axes = fig.subplots(2, 3)
    (a1, a2, a3), (a4, a5, a6) = axes

    # H1: system load over time
    if np.isfinite(f["load1"]).any() or np.isfinite(f["sys_cpu_pct"]).any():
        _sparse(a1, f, "elapsed_min", "load1", color="C0", label="1-min load average")
        a1.set_ylabel("load average (runnable tasks)")
        tw = a1.twinx()
        _sparse(tw, f, "elapsed_min", "sys_cpu_pct", color="C1", alpha=0.6)
        tw.set_ylabel("system CPU utilisation (%)", color="C1")
        tw.grid(False)
        a1.legend(fontsize=7, loc="upper left")
    else:
        _not_measured(a1, "load average and CPU utilisation")
    a1.set_xlabel("wall-clock time (min)")
    a1.set_title("H1 resource contention")

    # H2: RSS vs cycle with linear and quadratic fits
    rss = f["rss_bytes"] / _MIB
    if np.isfinite(rss).any():
        a2.plot(f["step"], rss, color="C0", lw=0.8, label="RSS")
        _fit_lines(a2, f["step"].to_numpy(), rss.to_numpy(), quadratic=True)
        a2.legend(fontsize=7)
    else:
        _not_measured(a2, "resident set size")
    _plain_numbers(a2)
    if np.isfinite(rss).any() and np.nanmax(rss) - np.nanmin(rss) < 1.0:
        mid = float(np.nanmean(rss))
        a2.set_ylim(mid - 1.0, mid + 1.0)  # a flat line stays flat, not noise blown up
    a2.set_xlabel("cycle of the run")
    a2.set_ylabel("resident set size (MiB)")
    a2.set_title("H2 memory: RSS")

    fr = f[np.isfinite(f["frag_ratio"])]
    if len(fr):
        a3.plot(fr["step"], fr["frag_ratio"], "o-", color="C4", ms=3, lw=0.8,
                label="unused share of arena memory")
        _fit_lines(a3, fr["step"].to_numpy(), fr["frag_ratio"].to_numpy(), quadratic=True)
        a3.set_ylim(0, max(1.0, float(fr["frag_ratio"].max()) * 1.05))
        a3.legend(fontsize=7)
    else:
        _not_measured(a3, "pymalloc arena statistics")
    a3.set_xlabel("cycle of the run")
    a3.set_ylabel("fragmentation ratio (1 − used/arena bytes)")
    a3.set_title("H2 memory: pymalloc arenas")

    # H3: per-sample latency vs cumulative samples
    s = f[(f["samples"] > 0) & np.isfinite(f["sample_s"])]
    if len(s):
        cum_k = np.cumsum(f["samples"].fillna(0).to_numpy())[s.index.to_numpy()] / 1e3
        lat_ms = (s["sample_s"] / s["samples"] * 1e3).to_numpy()
        a4.scatter(cum_k, lat_ms, s=4, alpha=0.5, color="C0", label="cycle mean")
        _fit_lines(a4, cum_k, lat_ms)
        a4.legend(fontsize=7)
    else:
        _not_measured(a4, "metrics-sample latency")
    a4.set_xlabel("cumulative metrics samples (thousands)")
    a4.set_ylabel("time per metrics sample (ms)")
    a4.set_title("H3 I/O accumulation")

    # H4: frequency / temperature
    has_f, has_t = np.isfinite(f["cpu_freq_mhz"]).any(), np.isfinite(f["cpu_temp_c"]).any()
    if has_f or has_t:
        if has_f:
            _sparse(a5, f, "elapsed_min", "cpu_freq_mhz", color="C0", label="CPU frequency")
            a5.set_ylabel("CPU frequency (MHz)")
            a5.legend(fontsize=7, loc="upper left")
        if has_t:
            tw5 = a5.twinx() if has_f else a5
            _sparse(tw5, f, "elapsed_min", "cpu_temp_c", color="C3")
            tw5.set_ylabel("CPU temperature (°C)", color="C3")
            tw5.grid(False)
        if not has_t:
            a5.text(0.98, 0.04, "no temperature sensor", ha="right", transform=a5.transAxes,
                    fontsize=7, color="0.4")
    else:
        _not_measured(a5, "CPU frequency and temperature")
    a5.set_xlabel("wall-clock time (min)")
    a5.set_title("H4 thermal throttling")

    # H5: per-cycle time vs cycle, with the one whole-run line the H5 test fits (its slope)
    a6.plot(f["step"], f["wall_ms"], color="C0", lw=0.5, alpha=0.6, label="per-cycle time")
    x6, y6 = f["step"].to_numpy(), f["wall_ms"].to_numpy()
    ok6 = np.isfinite(x6) & np.isfinite(y6)
    if ok6.sum() >= 3 and np.ptp(x6[ok6]) > 0:
        slope = float(np.polyfit(x6[ok6], y6[ok6], 1)[0])
        _fit_lines(a6, x6, y6, label=f"whole-run linear fit ({slope:.3g} ms/cycle)")
    _condition_edges(a6, f)
    a6.set_xlabel("cycle of the run")
    a6.set_ylabel("wall-clock time per cycle (ms)")
    a6.set_title("H5 emergent complexity")
    a6.legend(fontsize=7, loc="center left")
    fig.suptitle(f"Runtime hypotheses on {run_label(run)}", fontsize=11)
    return fig


# --------------------------------------------------------------------------- figure 3


def optimization_impact(runs: Sequence[RunData], speedups: pd.DataFrame | None = None) -> Figure:
    """Per-cycle time distributions of every run (log scale), total runtime per run, and the
    speedup of optimized over unoptimized with its confidence interval (``speedups``: rows with
    ``comparison``, ``speedup``, ``ci_low``, ``ci_high``)."""
    data = pd.concat([_frame(r) for r in runs], ignore_index=True)
    data["variant"] = [str(v) for v in data["run"].str.split(" ").str[-1]]
    panels = 3 if speedups is not None and len(speedups) else 2
    fig = _figure(13.5 if panels == 3 else 10, 4.6)
    axes = fig.subplots(1, panels, width_ratios=[1.25, 1.0, 1.0][:panels])
    order = list(dict.fromkeys(data["run"]))
    palette = {"unoptimized": "C3", "optimized": "C0", "lean": "C2", "custom": "C7"}
    pal = {r: palette.get(r.split(" ")[-1], "C7") for r in order}
    sns.boxplot(data=data, y="run", x="wall_ms", hue="run", palette=pal, order=order, ax=axes[0],
                log_scale=True, fliersize=1, linewidth=0.8, legend=False)
    axes[0].set_xlabel("wall-clock time per cycle (ms, log scale)")
    axes[0].set_ylabel("")
    axes[0].set_title("(a) Per-cycle time")
    totals = pd.DataFrame({
        "run": [r for r in order],
        "runtime_s": [float(np.nansum(data.loc[data["run"] == r, "wall_ms"])) / 1e3
                      for r in order],
    })
    sns.barplot(data=totals, y="run", x="runtime_s", hue="run", palette=pal, order=order,
                ax=axes[1], legend=False)
    # the colours encode the cost preset: say so in a legend of the figure
    from matplotlib.patches import Patch

    variants = list(dict.fromkeys(r.split(" ")[-1] for r in order))
    fig.legend(handles=[Patch(color=palette.get(v, "C7"), label=v) for v in variants],
               title="cost preset", loc="outside lower center", ncol=len(variants), fontsize=8)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("total cycle time of the run (s, log scale)")
    axes[1].set_ylabel("")
    axes[1].set_yticklabels([])
    axes[1].set_title("(b) Runtime")
    if panels == 3:
        ax = axes[2]
        sp = speedups.reset_index(drop=True)
        y = np.arange(len(sp))
        lo = (sp["speedup"] - sp["ci_low"]).clip(lower=0).to_numpy(dtype=float)
        hi = (sp["ci_high"] - sp["speedup"]).clip(lower=0).to_numpy(dtype=float)
        ax.errorbar(sp["speedup"], y, xerr=[lo, hi], fmt="o", color="C0", capsize=3)
        ax.set_yticks(y, [str(c).replace(" vs ", "\nvs ") for c in sp["comparison"]],
                      fontsize=8)
        ax.set_ylim(-0.6, len(sp) - 0.4)
        ax.axvline(1.0, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("speedup (×, log scale)")
        ax.set_title("(c) Speedup of the mean per-cycle time, 95 % CI", fontsize=9)
    return fig


# --------------------------------------------------------------------------- figure 4


def population_cost(run: RunData) -> Figure:
    """Population and per-cycle cost over the run (twin axes), and per-cycle time against the
    work the model did in the cycle (evolve calls), coloured by condition."""
    f = _frame(run)
    fig = _figure(11, 4.4)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(f["step"], f["population"], color="C2", lw=1.2, label="population")
    ax1.set_xlabel("cycle of the run")
    ax1.set_ylabel("agents alive", color="C2")
    tw = ax1.twinx()
    tw.plot(f["step"], f["wall_ms"], color="C0", lw=0.5, alpha=0.4)
    tw.plot(f["step"], _rolling(f["wall_ms"], len(f)), color="C0", lw=1.4)
    tw.set_ylabel("wall-clock time per cycle (ms)", color="C0")
    tw.grid(False)
    _condition_edges(ax1, f)
    ax1.set_title("(a) Population and per-cycle time")
    x = "evolve_calls" if np.isfinite(f["evolve_calls"]).any() else "population"
    sns.scatterplot(data=f, x=x, y="wall_ms", hue="condition", s=10, alpha=0.6, ax=ax2,
                    linewidth=0)
    ax2.set_xlabel("agent evolve calls in the cycle" if x == "evolve_calls" else "agents alive")
    ax2.set_ylabel("wall-clock time per cycle (ms)")
    ax2.set_title("(b) Per-cycle time vs work done")
    ax2.legend(title="condition", fontsize=7)
    fig.suptitle(f"Population dynamics and per-cycle cost, {run_label(run)}", fontsize=11)
    return fig

