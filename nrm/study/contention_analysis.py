"""The contention arm's statistic and the H1 verdict (docs/hypothesis-rules.md, "H1 in the
causal study").

Per run of a contention arm (:mod:`nrm.study.contention`): time per unit of work = cycle time
(sum of ``wall_s``) over agent-cycles (sum of ``population``); every dose runs the same
workload (same spec, seed and metrics), which :func:`dose_table` checks.

1. **Dose-response** (per kind, cpu and io): in each block, the least-squares slope of
   log(time per agent-cycle) on the number of competitors (0, 1, 2, 4; the 0 is
   ``contention-0``); the slope's mean over blocks with a t interval on blocks - 1 degrees of
   freedom. ``exp(slope) - 1`` is the slowdown per competitor. The A/A (``contention-0-aa`` /
   ``contention-0``, per block) gives the noise band each dose is read against.
2. **What contention could explain in the base arms**: the 1-minute load average the base runs
   logged (``load1`` in their cycles.csv), its rise over each run (mean over the late half of
   the rows minus the early half), counted as competitors (one always-runnable process adds 1
   to the load average at steady state). Per block, ``slope x rise`` is the log slowdown that
   contention of the kind could explain in that block's base runs; its mean over blocks with a
   t interval is the statistic the verdict is on. The rise counts the run's own climb of the
   1-min average as contention too, so it is an upper bound.
3. **Verdict** (:func:`h1_row`): :func:`nrm.stats.intervals.equivalence_verdict` on the
   per-block explained log slowdowns against the margin :data:`MARGIN`, at alpha 0.05/2 per kind
   (Bonferroni over the two kinds): "supported" if either kind's interval lies above 0, "no
   effect larger than m" if both lie inside the margin (TOST), "refuted" if both lie below 0,
   "within noise" otherwise; "not testable" without the contention arm, with fewer than
   :data:`~nrm.stats.intervals.MIN_BLOCKS` complete blocks, or without load readings in the
   base runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_text
from nrm.stats.intervals import MIN_BLOCKS, equivalence_verdict, log_margin, ratio_interval
from nrm.stats.verdict import EQUIVALENT, REFUTED, SUPPORTED, WITHIN_NOISE, not_testable
from nrm.study.contention import AA, BASE, DOSES, KINDS, PREFIX

if TYPE_CHECKING:
    from nrm.study.analysis import StudyData

#: The margin: contention that could explain less than 5 % more time per unit of work over a
#: base run is immaterial (the paper's slowdown is +73 %, 20.1 h -> 34.5 h).
MARGIN = 1.05
#: Family-wise level of the H1 verdict, split over the two kinds (Bonferroni).
ALPHA = 0.05
RULE = (
    "contention arm (C256 lean with 0, 1, 2, 4 competing busy loops or fsync'ing "
    "writers): per block, the slope of log time per agent-cycle on the number of "
    "competitors times the rise of the 1-min load average over that block's base runs is "
    "the log slowdown contention could explain; t interval over blocks at 1 - 0.05/2 per "
    f"kind; supported if either kind's lies above 0, no effect larger than m (m = "
    f"{MARGIN - 1:.0%}) if both lie inside ±m (TOST), refuted if both below 0, within noise "
    f"otherwise; not testable without the contention arm or with fewer than {MIN_BLOCKS} "
    "complete blocks"
)


def _kind_dose(arm: Any) -> tuple[str, int] | None:
    args = list(getattr(arm, "runner_args", ()) or ())
    if getattr(arm, "runner", None) != PREFIX or "--kind" not in args:
        return None
    return args[args.index("--kind") + 1], int(args[args.index("--competitors") + 1])


def _frame(data: StudyData, name: str) -> pd.DataFrame | None:
    """The run's cycle log with ``population`` and ``load1`` (read from its folder when the
    study's in-memory log lacks them)."""
    frame = data.cycles.get(name)
    if frame is not None and {"population", "load1"} <= set(frame.columns):
        return frame
    if data.out is None:
        return frame
    from nrm.study.sweep import RUNS

    path = Path(data.out) / RUNS / name / paths.CYCLES_CSV
    if not path.is_file():
        return frame
    return pd.read_csv(
        path, usecols=lambda c: c in ("condition", "cycle", "step", "wall_s", "population", "load1")
    )


def _record(data: StudyData, name: str) -> dict[str, Any]:
    if data.out is None:
        return {}
    from nrm.study.sweep import RUNS

    try:
        meta = json.loads((Path(data.out) / RUNS / name / paths.RUN_JSON).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return meta.get("contention") or {}


def dose_table(data: StudyData) -> pd.DataFrame:
    """One row per complete run of a contention arm: kind, dose, cycle time, agent-cycles, time
    per agent-cycle, the competitors' CPU time and share of the run's wall time (the dose
    delivered), mean load1 during the run."""
    arms = {a.label: kd for a in data.plan.arms if (kd := _kind_dose(a)) is not None}
    runs = data.runs
    if runs.empty or not arms:
        return pd.DataFrame()
    rows = []
    for _, r in runs[runs["arm"].isin(list(arms))].iterrows():
        kind, dose = arms[r["arm"]]
        frame = _frame(data, r["name"])
        if frame is None or "population" not in frame:
            continue
        wall = float(pd.to_numeric(frame["wall_s"], errors="coerce").sum())
        work = float(pd.to_numeric(frame["population"], errors="coerce").sum())
        rec = _record(data, r["name"])
        procs = rec.get("processes") or []
        cpu = [p["cpu_s"] for p in procs if p.get("cpu_s") is not None]
        load = pd.to_numeric(frame.get("load1", pd.Series(dtype=float)), errors="coerce")
        run_s = rec.get("run_s")
        rows.append(
            {
                "name": r["name"],
                "arm": r["arm"],
                "block": int(r["block"]),
                "kind": kind,
                "dose": dose,
                "cycle_time_s": wall,
                "agent_cycles": work,
                "time_per_unit_s": wall / work if work > 0 else math.nan,
                "competitor_cpu_s": float(sum(cpu)) if procs else 0.0,
                "competitor_share": (float(sum(cpu)) / run_s if procs and run_s else 0.0),
                "competitor_pids": " ".join(str(p["pid"]) for p in procs),
                "load1_mean": float(load.mean()) if load.notna().any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


def block_slopes(doses: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Per block with every dose of ``kind`` (and ``contention-0``): the least-squares slope of
    log time per agent-cycle on the number of competitors."""
    if doses.empty:
        return pd.DataFrame(columns=["block", "slope"])
    want = [BASE] + [f"{PREFIX}-{kind}-{n}" for n in DOSES[1:]]
    sub = doses[doses["arm"].isin(want) & (doses["time_per_unit_s"] > 0)]
    rows = []
    for block, grp in sub.groupby("block"):
        if set(grp["arm"]) != set(want):
            continue
        x = grp["dose"].to_numpy(float)
        y = np.log(grp["time_per_unit_s"].to_numpy(float))
        rows.append({"block": int(block), "slope": float(np.polyfit(x, y, 1)[0])})
    return pd.DataFrame(rows, columns=["block", "slope"])


def dose_effects(doses: pd.DataFrame) -> pd.DataFrame:
    """Per dose (and the A/A): time per agent-cycle over ``contention-0``'s, geometric mean of
    the per-block ratios with a 95 % t interval, read against the A/A band; and the dose
    delivered (competitors' CPU seconds per second of the run)."""
    if doses.empty:
        return pd.DataFrame()
    base = doses[doses["arm"] == BASE].set_index("block")["time_per_unit_s"]
    aa = _ratio(doses, AA, base)
    band = (min(aa.ratio_low, 1 / aa.ratio_high, 1.0), max(aa.ratio_high, 1 / aa.ratio_low, 1.0))
    rows = []
    for (arm, kind, dose), grp in doses.groupby(["arm", "kind", "dose"], sort=False):
        if arm == BASE:
            continue
        ci = _ratio(doses, str(arm), base)
        if ci.n_blocks < MIN_BLOCKS or not all(map(math.isfinite, band)):
            verdict = not_testable(f"{ci.n_blocks} paired blocks, a verdict needs {MIN_BLOCKS}")
        elif ci.ratio_low > band[1]:
            verdict = "slower"
        elif ci.ratio_high < band[0]:
            verdict = "faster"
        else:
            verdict = WITHIN_NOISE
        rows.append(
            {
                "arm": arm,
                "kind": "A/A" if arm == AA else kind,
                "competitors": dose,
                "n": ci.n_blocks,
                "ratio": ci.ratio,
                "lo": ci.ratio_low,
                "hi": ci.ratio_high,
                "band_lo": band[0],
                "band_hi": band[1],
                "verdict": verdict,
                "competitor_share": float(grp["competitor_share"].mean()),
                "load1_mean": float(grp["load1_mean"].mean()),
            }
        )
    return pd.DataFrame(rows).sort_values(["kind", "competitors"], ignore_index=True)


def _ratio(doses: pd.DataFrame, arm: str, base: pd.Series) -> Any:
    a = doses[doses["arm"] == arm].set_index("block")["time_per_unit_s"]
    common = sorted(set(a.index) & set(base.index))
    return ratio_interval(np.log(a.loc[common].to_numpy(float) / base.loc[common].to_numpy(float)))


def base_load(data: StudyData) -> pd.DataFrame:
    """Per run of the study's base arms (group ``base``): mean load1 and its rise over the run:
    from the run's cycle log (mean of the late half of its load1 readings minus the early half)
    when it holds at least 4 readings (one a second), else the sweep's readings before and after
    the run (``load_after - load_before``)."""
    labels = [a.label for a in data.plan.arms if a.group == "base"]
    runs = data.runs
    rows = []
    for _, r in runs[runs["arm"].isin(labels)].iterrows() if not runs.empty else []:
        frame = _frame(data, r["name"])
        load = np.array([])
        if frame is not None and "load1" in frame:
            load = pd.to_numeric(frame["load1"], errors="coerce").dropna().to_numpy(float)
        if len(load) >= 4:
            half = len(load) // 2
            mean, rise = float(load.mean()), float(load[-half:].mean() - load[:half].mean())
            source = f"cycles.csv ({len(load)} readings)"
        else:
            before = float(r.get("load_before", math.nan))
            after = float(r.get("load_after", math.nan))
            mean, rise, source = (before + after) / 2, after - before, "sweep before/after"
        if math.isfinite(rise):
            rows.append(
                {
                    "name": r["name"],
                    "arm": r["arm"],
                    "block": int(r["block"]),
                    "load1_mean": mean,
                    "load1_rise": rise,
                    "source": source,
                }
            )
    return pd.DataFrame(
        rows, columns=["name", "arm", "block", "load1_mean", "load1_rise", "source"]
    )


def slope_table(data: StudyData, doses: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per kind: the slope per competitor (log and as a percentage) with its 95 % t interval
    over blocks, and the log slowdown it could explain in the base runs (slope x load rise per
    block) with its interval at 1 - 0.05/2 and its equivalence verdict against :data:`MARGIN`."""
    doses = dose_table(data) if doses is None else doses
    load = base_load(data)
    rise = load.groupby("block")["load1_rise"].mean() if not load.empty else pd.Series(dtype=float)
    rows = []
    for kind in KINDS:
        sl = block_slopes(doses, kind)
        ci = ratio_interval(sl["slope"].to_numpy(float))
        both = sl[sl["block"].isin(rise.index)]
        explained = both["slope"].to_numpy(float) * rise.loc[both["block"]].to_numpy(float)
        eq = equivalence_verdict(explained, log_margin(MARGIN), alpha=ALPHA / len(KINDS))
        rows.append(
            {
                "kind": kind,
                "n": ci.n_blocks,
                "slope_log": ci.mean_log,
                "slope_lo": ci.log_low,
                "slope_hi": ci.log_high,
                "pct_per_competitor": 100 * (ci.ratio - 1),
                "pct_lo": 100 * (ci.ratio_low - 1),
                "pct_hi": 100 * (ci.ratio_high - 1),
                "n_explained": eq.interval.n_blocks,
                "load1_rise": float(rise.loc[both["block"]].mean()) if len(both) else math.nan,
                "explained_pct": 100 * (eq.interval.ratio - 1),
                "explained_lo": 100 * (eq.interval.ratio_low - 1),
                "explained_hi": 100 * (eq.interval.ratio_high - 1),
                "verdict": eq.verdict,
                "reason": eq.reason,
            }
        )
    return pd.DataFrame(rows)


def _pct(x: float) -> str:
    return f"{x:+.1f} %" if math.isfinite(x) else "n/a"


def h1_row(data: StudyData, rule: str = RULE) -> dict[str, Any]:
    """The H1 row of the study's verdict table (see the module doc)."""
    from nrm.stats.verdict import HYPOTHESES

    def row(verdict: str, statistic: str, n: Any, ci: str, note: str) -> dict[str, Any]:
        return {
            "hypothesis": "H1",
            "name": HYPOTHESES["H1"],
            "verdict": verdict,
            "statistic": statistic,
            "n": n,
            "ci": ci,
            "deciding_arms": f"{PREFIX}-* (0, 1, 2, 4 competitors; cpu, io)",
            "rule": rule,
            "note": note,
        }

    if not any(_kind_dose(a) is not None for a in data.plan.arms):
        why = "no contention arm in this study (the contention-* arms make the contention)"
        return row(not_testable(why), "-", 0, "-", why)
    doses = dose_table(data)
    n_blocks = (
        0
        if doses.empty
        else int(
            doses.groupby("block")["arm"].nunique().eq(len(KINDS) * (len(DOSES) - 1) + 2).sum()
        )
    )
    if n_blocks < MIN_BLOCKS:
        why = f"too few blocks ({n_blocks} complete; a verdict needs {MIN_BLOCKS})"
        return row(not_testable(why), "-", n_blocks, "-", why)
    table = slope_table(data, doses)
    if table["n_explained"].min() < MIN_BLOCKS:
        why = "no load1 readings in the base runs' cycle logs to apply the slope to"
        return row(not_testable(why), "-", n_blocks, "-", why)
    verdicts = set(table["verdict"])
    if SUPPORTED in verdicts:
        v = SUPPORTED
    elif verdicts == {EQUIVALENT}:
        v = EQUIVALENT
    elif verdicts == {REFUTED}:
        v = REFUTED
    else:
        v = WITHIN_NOISE
    stat = "; ".join(
        f"{r['kind']}: {_pct(r['pct_per_competitor'])} time per agent-cycle per "
        f"competitor, explains {_pct(r['explained_pct'])} in the base runs"
        for _, r in table.iterrows()
    )
    ci = "; ".join(
        f"{r['kind']}: per competitor [{_pct(r['pct_lo'])}, {_pct(r['pct_hi'])}], "
        f"explained [{_pct(r['explained_lo'])}, {_pct(r['explained_hi'])}]"
        for _, r in table.iterrows()
    )
    note = (
        f"base runs' load1 rise {table['load1_rise'].iloc[0]:+.2f} (1 unit = 1 competitor; "
        f"mean load1 {base_load(data)['load1_mean'].mean():.2f}; "
        f"the run's own climb included, so an upper bound); explained intervals at "
        f"{100 * (1 - ALPHA / len(KINDS)):.1f} % (Bonferroni over {len(KINDS)} kinds); "
        + "; ".join(f"{r['kind']}: {r['reason']}" for _, r in table.iterrows())
    )
    return row(v, stat, n_blocks, ci, note)


def write_tables(data: StudyData, folder: Path) -> None:
    """``contention_doses.csv`` and ``contention_slopes.csv`` (empty without the arm)."""
    doses = dose_table(data)
    atomic_write_text(folder / "contention_runs.csv", doses.to_csv(index=False))
    atomic_write_text(folder / "contention_doses.csv", dose_effects(doses).to_csv(index=False))
    slopes = slope_table(data, doses) if not doses.empty else pd.DataFrame()
    atomic_write_text(folder / "contention_slopes.csv", slopes.to_csv(index=False))
