"""The paper's section on the controls of the causal study (issue #15).

Reads the tables :mod:`nrm.study.control_arms` writes beside the study's (``controls.csv``,
``dbgrow.csv``, ``workers.csv``, ``controls.png`` in the study's analysis folder) and the
C259 runs of the build (as designed and as run). Every number comes from those files; when a
table is missing the section says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm.render.sections.tableio import read_table
from nrm.render.text import num, table
from nrm.stats.verdict import SUPPORTED

__all__ = ["c259_table", "section"]


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    frame = read_table(folder / f"{name}.csv")
    return frame if len(frame) else None


def c259_table(runs: Mapping[str, Any]) -> pd.DataFrame | None:
    """Mean population per condition of C259 as designed, C259 as run and C257 (the as-run
    C259's mechanisms), from the build's run folders (RunData by name)."""
    names = [("C259-optimized", "C259 as designed (sources x recovery)"),
             ("C259-as-run-optimized", "C259 as run (pooling x recovery)"),
             ("C257-optimized", "C257 (pooling x recovery)")]
    rows = []
    for name, label in names:
        run = runs.get(name)
        if run is None:
            continue
        conds = run.meta.get("conditions") or {}
        row: dict[str, Any] = {"run": label, "design": run.meta.get("design", "as designed")}
        for c, r in conds.items():
            row[f"mean population {c}"] = r.get("mean")
        syn = run.meta.get("synergy") or {}
        row["synergy class"] = syn.get("classification")
        rows.append(row)
    return pd.DataFrame(rows) if len(rows) >= 2 else None


def section(folder: str | Path, paper_dir: str | Path, *, runs: Mapping[str, Any] | None = None,
            first_figure: int = 1, heading: str = "## Controls: can the instruments see it?",
            rel: Any = None) -> tuple[str, dict[str, Path]]:
    """Markdown of the controls section and its figures (link relative to ``paper_dir`` ->
    PNG). ``rel(path)`` shows a file relative to the build folder in the sources."""
    folder = Path(folder)

    def src(*paths: Path) -> str:
        shown = [rel(p) if rel is not None else p.name for p in paths]
        return ", ".join(f"`{x}`" for x in shown)

    parts = [heading, ""]
    figs: dict[str, Path] = {}
    ctrl = _read(folder, "controls")
    if ctrl is None:
        parts.append(
            "No control runs were analysed for this build. `make study` runs them with the "
            "causal study (`nrm control fragmentation|no-fragmentation` runs one by hand).\n")
    else:
        parts.append(
            "A verdict of \"no fragmentation\" is worth something only if the instruments "
            "(pymalloc's arena fragmentation ratio, RSS, and the H2 test) see fragmentation "
            "where it is there. The positive control is a synthetic workload that pins "
            "pymalloc pools on purpose: a population of small records turns over, every "
            "16th retired record stays referenced, and the newcomers are of another size "
            "class, so the pinned pools cannot be reused. The negative control is the same "
            "workload keeping no retired record. Both ran in the study's randomized blocks, "
            "in fresh processes.\n")
        g = ctrl.groupby("arm", sort=False)
        summary = pd.DataFrame({
            "arm": list(g.groups),
            "n": g.size().to_numpy(),
            "allocator": g["allocator"].first().to_numpy(),
            "frag ratio start": g["frag_start"].mean().to_numpy(),
            "frag ratio end": g["frag_end"].mean().to_numpy(),
            "RSS growth (MiB)": g["rss_growth_mb"].mean().to_numpy(),
            "H2 supported (default rule)": [
                f"{int((s == SUPPORTED).sum())}/{len(s)}" for _, s in g["h2"]],
            "H2 supported (5 % floor)": [
                f"{int((s == SUPPORTED).sum())}/{len(s)}" for _, s in g["h2_floor"]],
        })
        parts.append("*Table [[controls]]. H2 controls: fragmentation ratio and RSS growth "
                     "(means over runs) and how often the H2 test called H2 supported, with "
                     "the declared rule and with a floor of 5 % on the net rise (measured). "
                     f"Source: {src(folder / 'controls.csv')}.*\n")
        parts.append(table(summary) + "\n")
        pos = ctrl[ctrl["arm"] == "ctrl-fragmentation"]
        neg = ctrl[ctrl["arm"] == "ctrl-no-fragmentation"]
        if len(pos) and len(neg):
            gap = float(pos["frag_end"].mean() - neg["frag_end"].mean())
            k_pos = int((pos["h2"] == SUPPORTED).sum())
            k_neg = int((neg["h2"] == SUPPORTED).sum())
            kf_neg = int((neg["h2_floor"] == SUPPORTED).sum())
            parts.append(
                f"The fragmentation ratio separates the two controls by {num(gap)} at the end "
                f"of the run. The H2 test called the positive control supported in {k_pos} of "
                f"{len(pos)} runs and the negative control in {k_neg} of {len(neg)} "
                f"({kf_neg} of {len(neg)} with the floor)."
                + (" The declared rule has no effect size: a creep of RSS by a few hundred "
                   "KiB while the probe and its log warm up can pass it, which is what the "
                   "negative control's false alarms are." if k_neg else "") + "\n")
        alloc = summary[summary["arm"].str.startswith("ctrl-fragmentation")]
        if len(alloc) > 1:
            base = float(alloc.loc[alloc["arm"] == "ctrl-fragmentation",
                                   "RSS growth (MiB)"].iloc[0]) if (
                alloc["arm"] == "ctrl-fragmentation").any() else np.nan
            words = []
            for _, r in alloc.iterrows():
                if r["arm"] == "ctrl-fragmentation":
                    continue
                g_mb = float(r["RSS growth (MiB)"])
                kept = g_mb / base if base and np.isfinite(base) else np.nan
                words.append(f"{r['arm'].removeprefix('ctrl-fragmentation-')}: RSS grows "
                             f"{num(g_mb)} MiB ({num(100 * kept)} % of pymalloc's)")
            parts.append(
                "Under the other allocators pymalloc is off, so there is no arena ratio and "
                "only RSS measures the effect: " + "; ".join(words) + ".\n")
    db = _read(folder, "dbgrow")
    if db is not None:
        t = (db.groupby(["where", "pregrow_mb"]).agg(
            n=("block", "size"), ms_per_commit=("ms_per_commit", "mean"),
            db_mb_start=("db_mb_start", "mean")).reset_index())
        t = t.rename(columns={"where": "folder on", "pregrow_mb": "pre-grown (MiB)",
                              "ms_per_commit": "ms per commit", "db_mb_start": "size (MiB)"})
        parts.append(
            "\nDatabase growth: C256 unoptimized with its databases pre-grown by `nrm dbgrow` "
            "before the first cycle, its run folder on disk or in RAM (/dev/shm).\n")
        parts.append("*Table [[dbgrow]]. Per-commit latency against database size, disk "
                     "and RAM (measured; mean over runs). "
                     f"Source: {src(folder / 'dbgrow.csv')}.*\n")
        parts.append(table(t) + "\n")
        summ = folder / "dbgrow_summary.json"
        if summ.is_file():
            import json

            share = json.loads(summ.read_text(encoding="utf-8")).get("explained_share")
            parts.append(
                "Share of the single-process unoptimized run's rise in per-cycle time that "
                "the growth of its databases explains (latency slope on size x growth x "
                "commits per cycle, over the observed rise): "
                + (f"{num(100 * share)} %." if share is not None else
                   "not estimable from these runs (too few sizes or no rise).") + "\n")
    wk = _read(folder, "workers")
    if wk is not None:
        parts.append(
            "\nWorker processes: C256 unoptimized with each condition in a fresh process "
            "against all four in one process (the study's base), same replayed metrics.\n")
        parts.append("*Table [[workers]]. Per-condition per-cycle time, its slope and RSS, "
                     "one process per condition vs one process for all (measured). "
                     f"Source: {src(folder / 'workers.csv')}.*\n")
        parts.append(table(wk.rename(columns={
            "n": "blocks", "wall_ms_mean": "mean wall per cycle (ms)",
            "wall_slope_ms_per_cycle": "slope of the wall per cycle (ms per cycle)",
            "rss_start_mib": "RSS at start (MiB)", "rss_end_mib": "RSS at end (MiB)"}))
            + "\n")
    png = folder / "controls.png"
    if png.is_file():
        link = os.path.relpath(png, paper_dir)
        parts.append(
            f"\n![Figure {first_figure}]({link})\n\n*Figure {first_figure}.* (a) Arena "
            "fragmentation ratio per cycle of the positive (red) and negative (blue) "
            "controls, first block; (b) RSS growth of the positive control by allocator (red) "
            "and of the negative control (blue); (c) per-commit latency against database "
            "size, disk and RAM (legend). Data: "
            f"{src(folder / 'controls.csv', folder / 'dbgrow.csv')}.\n")
        figs[link] = png
    if runs is not None:
        c259 = c259_table(runs)
        parts.append("\nC259 as designed and as run. The committed C259 script had no sources "
                     "step and its first flag switched on pooling: as run it repeated C257's "
                     "pooling x recovery. `nrm run C259-as-run` runs that variant.\n")
        if c259 is not None:
            files = [Path(r.path) / "run.json" for n, r in runs.items()
                     if n in ("C259-optimized", "C259-as-run-optimized", "C257-optimized")]
            parts.append("*Table [[c259]]. Mean population per condition, C259 as designed, "
                         "as run, and C257 (measured in this build). "
                         f"Source: {src(*files)}.*\n")
            parts.append(table(c259) + "\n")
        else:
            parts.append("(This build has no C259-as-run run to show.)\n")
    return "\n".join(parts), figs
