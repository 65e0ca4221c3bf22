"""The analysis of the command arms of :mod:`nrm.study.control_arms` (issue #15).

:func:`verdict_rows` adds the controls' rows to the study's verdict table; :func:`write_tables`
writes ``controls.csv``, ``dbgrow.csv``, ``workers.csv`` and the figure ``controls.png`` next
to the study's tables, which :mod:`nrm.render.sections.controls` turns into the paper's section.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm.atomic import atomic_write_text
from nrm.stats.verdict import NOT_SUPPORTED, NOT_TESTABLE_HERE, SUPPORTED
from nrm.study.controls import H2_FLOOR
from nrm.study.sweep import RUNS


def control_rules() -> Any:
    """The default H2 rule plus a floor: net rise > :data:`H2_FLOOR` of the starting level.

    The default rule (as the paper's) has no effect size: in the negative control a ~0.3 MB
    (0.5 %) creep of RSS while the probe and log warm up can pass it. Both verdicts are
    reported; which one the paper should use is a decision about the rule, not the control.
    """
    from dataclasses import replace

    from nrm.stats import DEFAULT_RULES

    return replace(DEFAULT_RULES, h2_min_rel_rise=H2_FLOOR)


def summarize(run: Any) -> dict[str, Any]:
    """Measured numbers of one control run (a path or a :class:`nrm.instrument.reader.RunData`):
    frag
    ratio and RSS at the start, the shift and the end (mean of the first/last 10 % of rows),
    and the H2 verdict of :func:`nrm.stats.evaluate_hypotheses` with its evidence, under the
    default rules (``h2``) and with a floor on the rise (``h2_floor``, :func:`control_rules`)."""
    import numpy as np

    from nrm.instrument.reader import RunData, load_run
    from nrm.stats import evaluate_hypotheses

    data = run if isinstance(run, RunData) else load_run(run)
    df = data.cycles
    n = len(df)
    w = max(1, n // 10)

    def ends(name: str) -> tuple[float | None, float | None]:
        if name not in df:
            return None, None
        v = df[name].to_numpy(dtype=float, na_value=np.nan)
        first, last = v[:w], v[-w:]
        f = float(np.nanmean(first)) if np.isfinite(first).any() else None
        la = float(np.nanmean(last)) if np.isfinite(last).any() else None
        return f, la

    frag0, frag1 = ends("frag_ratio")
    rss0, rss1 = ends("rss_bytes")
    live0, live1 = ends("live_bytes")
    res = evaluate_hypotheses(data)
    v = res.verdicts.set_index("hypothesis").loc["H2"]
    floor = evaluate_hypotheses(data, control_rules()).verdicts.set_index("hypothesis")
    ctx = data.meta.get("context") or {}
    alloc = ctx.get("allocator") or {}
    return {
        "run": data.name,
        "control": data.meta.get("control"),
        "allocator": alloc.get("name") if isinstance(alloc, dict) else None,
        "allocator_requested": data.meta.get("allocator_requested"),
        "rows": n,
        "frag_start": frag0,
        "frag_end": frag1,
        "rss_start_mb": None if rss0 is None else rss0 / 2**20,
        "rss_end_mb": None if rss1 is None else rss1 / 2**20,
        "rss_growth_mb": None if rss0 is None or rss1 is None else (rss1 - rss0) / 2**20,
        "live_start_mb": None if live0 is None else live0 / 2**20,
        "live_end_mb": None if live1 is None else live1 / 2**20,
        "h2": str(v["verdict"]),
        "h2_evidence": str(v["evidence"]),
        "h2_floor": str(floor.loc["H2", "verdict"]),
        "runtime_s": (data.meta.get("totals") or {}).get("runtime_s"),
    }


def _meta(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def control_table(data: Any) -> pd.DataFrame:
    """One row per complete control run: allocator, frag ratio and RSS at start and end, H2
    with and without the floor (:func:`summarize`)."""
    cached = getattr(data, "_control_table", None)
    if cached is not None:
        return cached
    rows = []
    for _, r in data.runs.iterrows():
        if not str(r["arm"]).startswith("ctrl-"):
            continue
        s = summarize(Path(data.out) / RUNS / r["name"])
        rows.append({"arm": r["arm"], "block": r["block"], **{k: v for k, v in s.items()
                                                              if k != "h2_evidence"}})
    table = pd.DataFrame(rows)
    data._control_table = table  # the H2 tests run once per run, not per table
    return table


def dbgrow_table(data: Any) -> pd.DataFrame:
    """One row per complete database-growth run: where, pre-grown size, per-commit latency
    (mean, and its slope on database size within the run)."""
    from nrm.run.dbgrow import commit_latency
    rows = []
    for _, r in data.runs.iterrows():
        if not str(r["arm"]).startswith("dbgrow-"):
            continue
        run_dir = Path(data.out) / RUNS / r["name"]
        lat = commit_latency(run_dir)
        meta = _meta(run_dir)
        rows.append({
            "arm": r["arm"], "block": r["block"], "where": meta.get("storage_where"),
            "pregrow_mb": (meta.get("parameters") or {}).get("pregrow_db_mb"),
            "db_mb_start": lat["db_mb_start"], "db_mb_end": lat["db_mb_end"],
            "commits": lat["commits"], "ms_per_commit": lat["mean_ms"],
            "slope_ms_per_mb": lat["slope_ms_per_mb"], "cycle_time_s": r.get("cycle_time_s"),
        })
    return pd.DataFrame(rows)


def workers_table(data: Any) -> pd.DataFrame:
    """Per condition, worker arm vs single process (base-unoptimized): mean per-cycle time,
    its slope and RSS at the boundary, averaged over blocks."""
    from nrm.study.workers import boundary_table

    frames = []
    for arm in ("workers-unoptimized", "base-unoptimized"):
        for _, r in data.runs[data.runs["arm"] == arm].iterrows():
            t = boundary_table(Path(data.out) / RUNS / r["name"])
            frames.append(t.assign(arm=arm, block=r["block"]))
    if not frames:
        return pd.DataFrame()
    allr = pd.concat(frames)
    return (allr.groupby(["arm", "condition"], sort=False)
            .agg(n=("block", "nunique"), wall_ms_mean=("wall_ms_mean", "mean"),
                 wall_slope_ms_per_cycle=("wall_slope_ms_per_cycle", "mean"),
                 rss_start_mib=("rss_start_mib", "mean"), rss_end_mib=("rss_end_mib", "mean"))
            .reset_index())


def _share(frame: pd.DataFrame, col: str, value: str) -> tuple[int, int]:
    return int((frame[col] == value).sum()), len(frame)


def control_verdict(want: str, k: int, n: int) -> str:
    """The word for a control whose H2 test gave the expected answer (``want``) in ``k`` of
    ``n`` runs: every run as expected, or not."""
    if want == SUPPORTED:
        return "instrument sees it" if k == n else "instrument misses it"
    return "no false alarm" if k == n else "false alarm"


def verdict_rows(data: Any, effects: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of the study's verdict table for the H2 controls and the worker arm.

    A control's verdict shows both rules, the floored one first and the paper's (default) rule
    after it, so that the default rule's false alarms show; ``verdict_floor`` and
    ``verdict_paper_rule`` hold each alone."""
    ctrl = control_table(data)
    rows: list[dict[str, Any]] = []

    def row(h: str, name: str, verdict: str, statistic: str, n: Any, ci: str, arms: str,
            rule: str, note: str = "", **extra: str) -> None:
        rows.append({"hypothesis": h, "name": name, "verdict": verdict,
                     "statistic": statistic, "n": n, "ci": ci, "deciding_arms": arms,
                     "rule": rule, "note": note, **extra})

    rule = ("the H2 test of nrm.stats on each control run; the positive control must be "
            "called supported and the negative not, in every run (default rule / with a 5 % "
            "floor on the rise)")
    for arm, want, label in (("ctrl-fragmentation", SUPPORTED, "H2 control +"),
                             ("ctrl-no-fragmentation", NOT_SUPPORTED, "H2 control -")):
        sub = ctrl[ctrl["arm"] == arm] if not ctrl.empty else ctrl
        if sub.empty:
            row(label, f"instrument check ({arm})", NOT_TESTABLE_HERE, "-", 0, "-", arm, rule,
                "no complete run")
            continue
        k, n = _share(sub, "h2", want)
        kf, _ = _share(sub, "h2_floor", want)
        paper, floor = control_verdict(want, k, n), control_verdict(want, kf, n)
        frag = sub["frag_end"].astype(float)
        row(label, f"instrument check ({arm})",
            f"{floor} (5 % floor); {paper} (paper's rule, {k}/{n} as expected)",
            f"H2 as expected in {k}/{n} runs (default rule), {kf}/{n} (5 % floor); frag ratio "
            f"at the end {np.nanmean(frag):.3f}", n,
            f"frag end [{np.nanmin(frag):.3f}, {np.nanmax(frag):.3f}]", arm, rule,
            verdict_paper_rule=paper, verdict_floor=floor)
    eff = effects[effects["arm"] == "workers-unoptimized"] if not effects.empty else effects
    if not eff.empty:
        r = eff.iloc[0]
        row("H2/H5 workers", "restart workers (fresh process per condition)",
            str(r.get("g_verdict")),
            f"growth ratio {r['g_ratio']:.3f}, cycle-time ratio {r['ratio']:.3f} vs one process",
            r["n"], f"[{r['g_lo']:.3f}, {r['g_hi']:.3f}] (A/A [{r['g_band_lo']:.3f}, "
            f"{r['g_band_hi']:.3f}])", "workers-unoptimized",
            "the study's growth effect (late / early per-cycle time) of the worker arm against "
            "base-unoptimized, read against the A/A band")
    return rows


def write_tables(res: Any, folder: Path) -> None:
    """controls.csv, dbgrow.csv, workers.csv and controls.png beside the study's tables."""
    data = res.data
    tables = {"controls": control_table(data), "dbgrow": dbgrow_table(data),
              "workers": workers_table(data)}
    for name, frame in tables.items():
        atomic_write_text(folder / f"{name}.csv", frame.to_csv(index=False))
    from nrm.atomic import atomic_write_json

    share = explained_share(data, tables["dbgrow"])
    atomic_write_json(folder / "dbgrow_summary.json", {
        "explained_share": None if not math.isfinite(share) else share,
        "note": "share of base-unoptimized's rise in per-cycle time that database growth "
                "explains: latency slope on size (disk arms) x database growth over the run "
                "x commits per cycle / observed rise (median over blocks)",
    })
    fig = controls_figure(data)
    if fig is not None:
        from nrm.render.figures import save_png

        save_png(fig, folder / "controls.png")


def controls_figure(data: Any) -> Any:
    """(a) frag ratio per cycle of the positive and negative controls (first block);
    (b) RSS growth of the positive control per allocator; (c) ms per commit vs database
    size on disk and in RAM."""
    import matplotlib.pyplot as plt

    from nrm.instrument.reader import load_run
    runs = data.runs
    if runs.empty or not runs["arm"].astype(str).str.startswith(("ctrl-", "dbgrow-")).any():
        return None
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for arm, colour in (("ctrl-fragmentation", "tab:red"), ("ctrl-no-fragmentation", "tab:blue")):
        sub = runs[runs["arm"] == arm].sort_values("block")
        if not sub.empty:
            df = load_run(Path(data.out) / RUNS / sub.iloc[0]["name"]).cycles
            axes[0].plot(df["cycle"], df["frag_ratio"], color=colour, lw=1,
                         label=arm.removeprefix("ctrl-"))
    axes[0].set(xlabel="cycle", ylabel="arena fragmentation ratio",
                title="(a) H2 controls (pymalloc)")
    axes[0].legend(fontsize=7)
    ctrl = control_table(data)
    if not ctrl.empty:
        pos = ctrl[ctrl["arm"].str.startswith("ctrl-fragmentation")]
        labels = [a.removeprefix("ctrl-fragmentation").lstrip("-") or "pymalloc"
                  for a in pos["arm"]]
        axes[1].scatter(labels, pos["rss_growth_mb"], color="tab:red", s=12, label="positive")
        neg = ctrl[ctrl["arm"] == "ctrl-no-fragmentation"]
        axes[1].scatter(["pymalloc"] * len(neg), neg["rss_growth_mb"], color="tab:blue", s=12,
                        label="negative")
        axes[1].legend(fontsize=7)
    axes[1].set(ylabel="RSS growth over the run (MiB)", title="(b) positive control by allocator")
    db = dbgrow_table(data)
    if not db.empty:
        for where, marker in (("disk", "o"), ("ram", "s")):
            sub = db[db["where"] == where]
            axes[2].scatter(sub["db_mb_start"].astype(float).clip(lower=0.01),
                            sub["ms_per_commit"], marker=marker, s=14, label=where)
        axes[2].set_xscale("symlog", linthresh=1)
        axes[2].legend(fontsize=7)
    axes[2].set(xlabel="database size at the start (MiB)", ylabel="ms per commit",
                title="(c) per-commit latency vs size")
    fig.tight_layout()
    return fig


def explained_share(data: Any, db: pd.DataFrame) -> float:
    """Share of base-unoptimized's rise in per-cycle time that database growth explains:
    (latency slope on size, on disk) x (database growth over the run) x (commits per cycle),
    over the observed rise (slope x cycles). NaN when a part is missing."""
    from nrm.run.dbgrow import commit_latency
    disk = db[(db["where"] == "disk")] if not db.empty else db
    if disk.empty or "base-unoptimized" not in set(data.runs["arm"]):
        return math.nan
    # latency against size across the pre-grown sizes (ms per MiB)
    x, y = disk["db_mb_start"].astype(float), disk["ms_per_commit"].astype(float)
    if x.nunique() < 2:
        return math.nan
    lat_slope = float(np.polyfit(x, y, 1)[0])
    shares = []
    for _, r in data.runs[data.runs["arm"] == "base-unoptimized"].iterrows():
        lat = commit_latency(Path(data.out) / RUNS / r["name"])
        frame = data.cycles.get(r["name"])
        if frame is None or lat["db_mb_end"] is None or lat["db_mb_start"] is None:
            continue
        cycles = len(frame)
        per_cycle = lat["commits"] / cycles
        predicted_ms = lat_slope * (lat["db_mb_end"] - lat["db_mb_start"]) * per_cycle
        observed_ms = float(r["slope_s_per_cycle"]) * 1000 * cycles
        if observed_ms > 0:
            shares.append(predicted_ms / observed_ms)
    return float(np.median(shares)) if shares else math.nan
