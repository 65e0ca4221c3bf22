"""The causal study in the paper: its figures (for the study notebook) and its section.

:func:`write_figures` draws the forest plot of effects with the A/A noise band and the per-cycle
time per arm into the study's analysis folder (``data/analysis/<scale>/study/``, written by
``notebooks/study.ipynb``). :func:`section` reads that folder and returns the paper's section
(Markdown) and its figures; when no study was analysed at this scale it says so and returns
no figure. Every number in the text comes from the tables; the words around a number are chosen
from the number.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm.render.sections import contention
from nrm.render.sections.tableio import read_table
from nrm.render.text import num, table
from nrm.stats.verdict import NOT_TESTABLE_HERE, WITHIN_NOISE

__all__ = ["FIGURES", "forest_plot", "long_drift_plot", "per_cycle_plot", "section",
           "write_figures"]

FIGURES = ("study_forest", "study_per_cycle", "study_long_drift")
#: H2's fragmentation bound and the controls' slopes it rests on, as
#: :func:`nrm.study.long_analysis.write_table` writes them.
FRAG_BOUND_JSON, FRAG_SLOPES_CSV = "frag_bound.json", "frag_bound_controls.csv"


# --------------------------------------------------------------------------- figures
def forest_plot(effects: pd.DataFrame, *, growth: bool = False) -> Any:
    """Each arm's ratio to its base (95 % CI) on a log axis, the A/A noise band shaded per row."""
    import matplotlib.pyplot as plt

    p = "g_" if growth else ""
    eff = effects[effects[f"{p}verdict"] != "A/A"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.28 * len(eff) + 1)))
    colours = {"faster": "tab:green", "slower": "tab:red", "less growth": "tab:green",
               "more growth": "tab:red", WITHIN_NOISE: "tab:gray"}
    for i, r in eff.iterrows():
        y = len(eff) - 1 - i
        if np.isfinite(r[f"{p}band_lo"]) and np.isfinite(r[f"{p}band_hi"]):
            ax.fill_betweenx([y - 0.4, y + 0.4], r[f"{p}band_lo"], r[f"{p}band_hi"],
                             color="0.85", lw=0)
        c = colours.get(r[f"{p}verdict"], "tab:blue")
        if np.isfinite(r[f"{p}ratio"]):
            lo = r[f"{p}lo"] if np.isfinite(r[f"{p}lo"]) else r[f"{p}ratio"]
            hi = r[f"{p}hi"] if np.isfinite(r[f"{p}hi"]) else r[f"{p}ratio"]
            ax.errorbar(r[f"{p}ratio"], y, xerr=[[r[f"{p}ratio"] - lo], [hi - r[f"{p}ratio"]]],
                        fmt="o", color=c, ms=4, capsize=2)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(eff)))
    ax.set_yticklabels([f"{a} (n={n})" for a, n in zip(eff["arm"][::-1], eff["n"][::-1],
                                                       strict=True)], fontsize=7)
    what = "growth of the per-cycle time (late / early half)" if growth else "cycle time"
    ax.set_xlabel(f"ratio to the arm's base: {what} (log scale); grey: A/A noise band")
    fig.tight_layout()
    return fig


def per_cycle_plot(cycles: dict[str, pd.DataFrame], runs: pd.DataFrame) -> Any:
    """Median per-cycle wall time (over an arm's runs and conditions) against the cycle."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for ax, family in zip(axes, ("unoptimized", "lean"), strict=True):
        for arm, grp in runs.groupby("arm"):
            arm = str(arm)
            fam = "lean" if "lean" in arm else "unoptimized"
            if fam != family:
                continue
            frames = [cycles[n] for n in grp["name"] if n in cycles]
            if not frames:
                continue
            per = pd.concat(frames).groupby("cycle")["wall_s"].median()
            if len(per) > 200:
                per = per.rolling(max(1, len(per) // 100), min_periods=1).median()
            style = "-" if arm.startswith(("base-", "aa-")) else "--"
            ax.plot(per.index, per.to_numpy() * 1e3, style, lw=1, label=arm)
        ax.set_yscale("log")
        ax.set_xlabel("cycle (within a condition)")
        ax.set_ylabel("median wall time per cycle (ms)")
        ax.set_title(f"arms from {family}" if family == "lean" else
                     "arms from unoptimized and the headline runs")
        ax.legend(fontsize=5, ncol=2)
    fig.tight_layout()
    return fig


def long_drift_plot(frames: dict[str, pd.DataFrame], runs: pd.DataFrame) -> Any:
    """Time per unit of work (ms per psutil sample + SQLite commit, the cycle's calls) against
    the cycle index for the long arms: base, restart, allocators (median over blocks, rolling
    median over 1 % of the run), one panel with every arm."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(9, 4))
    shown = [a for a in sorted(runs["arm"].unique()) if a in ("long-base", "long-restart")
             or str(a).startswith("long-alloc-")]
    colours = dict(zip(shown, sns.color_palette("tab10", len(shown)), strict=True))
    for arm in shown:
        per_block = []
        for name in runs.loc[runs["arm"] == arm, "name"]:
            f = frames.get(name)
            if f is None or not {"samples", "commits"} <= set(f.columns):
                continue
            calls = (f["samples"] + f["commits"]).where(lambda x: x > 0)
            per_block.append(pd.Series((f["wall_s"] / calls).to_numpy() * 1e3,
                                       index=f["cycle"].to_numpy()))
        if not per_block:
            continue
        per = pd.concat(per_block, axis=1).median(axis=1)
        per = per.rolling(max(1, len(per) // 100), min_periods=1).median()
        ax.plot(per.index, per.to_numpy(), lw=1.2 if arm == "long-base" else 0.9,
                color=colours[arm], label=f"{arm} ({len(per_block)} runs)")
    ax.set_xlabel("cycle")
    ax.set_ylabel("ms per call (psutil sample + SQLite commit)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_figures(res: Any, folder: str | Path) -> dict[str, Path]:
    """Draw the study's figures for ``res`` (:class:`nrm.study.analysis.StudyResults`)."""
    import matplotlib.pyplot as plt

    from nrm.render.figures import save_png

    folder = Path(folder)
    out = {}
    figs = {"study_forest": forest_plot(res.effects),
            "study_forest_growth": forest_plot(res.effects, growth=True),
            "study_per_cycle": per_cycle_plot(res.data.cycles, res.data.runs)}
    long_runs = res.data.runs[res.data.runs["arm"].astype(str).str.startswith("long-")] \
        if not res.data.runs.empty and "arm" in res.data.runs else pd.DataFrame()
    if len(long_runs):  # issue #23: time per unit of work along the long arms
        from nrm import paths

        frames = {}
        for n in long_runs["name"]:  # the whole log (the study's reader keeps a few columns)
            path = Path(res.data.out) / "runs" / n / paths.CYCLES_CSV
            if path.is_file():
                frames[n] = pd.read_csv(path)
        figs["study_long_drift"] = long_drift_plot(frames, long_runs)
    for stem, fig in figs.items():
        out[stem] = save_png(fig, folder / f"{stem}.png")
        plt.close(fig)
    out.update(contention.write_figure(folder))  # H1's dose-response (issue #23)
    return out


# --------------------------------------------------------------------------- the section
def frag_bound_sentence(folder: Path) -> str:
    """H2's fragmentation bound in words from ``frag_bound.json`` ("" when the study has none):
    the number, its interval, both pieces' n, and whether it lies inside ±m."""
    path = folder / FRAG_BOUND_JSON
    if not path.is_file():
        return ""
    b = json.loads(path.read_text(encoding="utf-8"))
    m = num(b["margin"])
    if not b.get("testable"):
        measured = (f" The controls' dose-response alone: {b['slope']:+.3f} log-points of cycle "
                    f"time per unit of frag ratio, interval [{b['slope_lo']:+.3f}, "
                    f"{b['slope_hi']:+.3f}], n = {b['slope_n']} blocks."
                    if b.get("slope_n") else "")
        return (f"*H2's fragmentation bound* (the H2 controls' dose-response applied to "
                f"`long-base`'s frag ratio change): not testable: {b.get('reason')}.{measured}")
    inside = bool(b.get("inside_margin"))
    return (
        f"*H2's fragmentation bound.* Fragmentation can explain at most "
        f"{b['bound_hi']:+.2f} %/1000 cycles of `long-base`'s drift (bound "
        f"[{b['bound_lo']:+.2f}, {b['bound_hi']:+.2f}], {100 * b['level']:g} % joint), from the "
        f"controls' dose-response ({b['slope']:+.3f} log-points of cycle time per unit of frag "
        f"ratio, interval [{b['slope_lo']:+.3f}, {b['slope_hi']:+.3f}], n = {b['slope_n']} "
        f"blocks) times `long-base`'s frag ratio change ({b['change']:+.4f} per 1000 cycles, "
        f"interval [{b['change_lo']:+.4f}, {b['change_hi']:+.4f}], n = {b['change_n']} blocks). "
        + (f"The bound lies inside ±m = {m} %-points per 1000 cycles, so an H2 verdict within "
           "noise from the drift differences reads no effect larger than m."
           if inside else
           f"The bound does not lie inside ±m = {m} %-points per 1000 cycles, so it leaves the "
           "H2 verdict of the drift differences as it is."))



def long_arms_table(long_drift: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The long fixed-workload arms, one row per arm (medians over blocks) from the study's
    ``long_drift.csv``, and the caption's clause for the frag-ratio column when it is there.
    Shared by this build's study and the shipped long-scale reference (``longscale``)."""
    g = long_drift.groupby("arm", sort=False)
    tab = pd.DataFrame({
        "arm": list(g.groups), "runs": g.size().to_numpy(),
        "cycles": g["cycles"].max().to_numpy(), "agents": g["agents"].max().to_numpy(),
        "ms a cycle": g["mean_ms"].median().to_numpy(),
        "raw drift %/1000 cycles": g["raw_pct"].median().to_numpy(),
        "range over blocks": [_ci(lo, hi) for lo, hi in zip(
            g["raw_pct"].min(), g["raw_pct"].max(), strict=True)],
        "work-adjusted drift": g["drift_pct"].median().to_numpy(),
        "commit latency drift": g["commit_pct"].median().to_numpy(),
        "sample latency drift": g["sample_pct"].median().to_numpy()})
    frag = ""
    if "frag_change_per_1000" in long_drift:  # arena readings (pymalloc arms only)
        tab["frag ratio change /1000 cycles"] = g["frag_change_per_1000"].median().to_numpy()
        frag = ("; frag ratio change: the slope of pymalloc's frag ratio after the ramp, "
                "empty under another allocator")
    return tab, frag

def _read(folder: Path, name: str) -> pd.DataFrame:
    return read_table(folder / f"{name}.csv")


def _ci(lo: Any, hi: Any) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return "—"
    return f"[{num(lo)}, {num(hi)}]"


def section(folder: str | Path, paper_dir: str | Path, *, first_figure: int = 1,
            heading: str = "## The causal study: one factor at a time, repeated"
            ) -> tuple[str, dict[str, Path]]:
    """The study's section of the paper and its figures (link relative to ``paper_dir`` ->
    PNG). Without an analysed study in ``folder`` the section says so and has no figure."""
    folder = Path(folder)
    summary_path = folder / "study_summary.json"
    if not summary_path.is_file():
        return (f"{heading}\n\nNo causal study has been analysed for this build (nothing in "
                f"`{folder.name}/` of the analysis folder). `make paper` runs it after the "
                "paper's runs (`make study SCALE=<scale>` runs it alone), and its notebook "
                "(`notebooks/study.ipynb`) writes the tables and figures this "
                "section shows.\n", {})
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    effects, verdicts = _read(folder, "effects"), _read(folder, "verdicts")
    shares, dynamics = _read(folder, "shares"), _read(folder, "dynamics")
    arms = summary.get("arms", [])
    n_runs = summary.get("runs", 0)

    def files_text(label: str, *files: Path) -> str:
        """'Source: `a`, `b`.' with paths relative to the build folder (paper_dir's parent)."""
        root = Path(paper_dir).parent
        return f"{label}: " + ", ".join(f"`{Path(os.path.relpath(f, root)).as_posix()}`"
                                        for f in files) + "."

    def src(*files: Path) -> str:
        return files_text("Source", *files)

    parts = [heading, ""]
    parts.append(
        f"Every verdict above rests on one run per experiment. This section repeats the "
        f"question with a design that can tell an effect from this machine's own noise: "
        f"{len([a for a in arms if a['available']])} arms over C256 (scale "
        f"`{summary['scale']}`), each a single change to a base run (`unoptimized` with every "
        f"original cost, or `lean` with none), run {summary['repeats']} times in fresh "
        f"processes in randomized blocks (one run of every arm per block, shuffled with seed "
        f"{summary['seed']}); {n_runs} runs in all. Every arm replays the same recorded metrics "
        "trace, one value per cycle, so arms differ only in the factor under test. The A/A arms "
        "(each base run again under a second label) measure how far two identical arms drift "
        "apart; an effect whose 95 % interval overlaps that A/A band is reported as within "
        "noise.")
    parts.append("")
    design = pd.DataFrame([{"arm": a["label"], "against": a["base"] or "—",
                            "change": a["factor"],
                            "scale vs the paper": a["scale_note"],
                            "status": "run" if a["available"] else a["note"]} for a in arms])
    parts += ["*Table [[study_design]]. The arms of the study, what each changes, and how its "
              f"run length relates to the paper's. {src(summary_path)}*", "", table(design)]
    if summary.get("skipped"):
        parts.append("")
        parts.append("Not run: " + "; ".join(f"`{s['label']}` ({s['reason']})"
                                             for s in summary["skipped"]) + ".")
    parts.append("")
    if not effects.empty:
        shown = effects[effects["verdict"] != "A/A"]
        tab = pd.DataFrame({
            "arm": shown["arm"], "vs": shown["base"], "n": shown["n"],
            "cycle-time ratio": shown["ratio"], "95 % CI": [
                _ci(lo, hi) for lo, hi in zip(shown["lo"], shown["hi"], strict=True)],
            "A/A band": [_ci(lo, hi) for lo, hi in zip(shown["band_lo"], shown["band_hi"],
                                                       strict=True)],
            "verdict": shown["verdict"], "growth ratio": shown["g_ratio"],
            "growth CI": [_ci(lo, hi) for lo, hi in zip(shown["g_lo"], shown["g_hi"],
                                                        strict=True)],
            "growth verdict": shown["g_verdict"]})
        parts += ["*Table [[study_effects]]. Each arm against its base: the ratio of the "
                  "time spent in cycles over the cycles both runs have (geometric mean of the "
                  "per-block ratios, 95 % t interval over blocks) and the ratio of the "
                  "growth of the per-cycle time (second half over first half), each read "
                  "against the A/A band of the same base. The short arms (a few cycles while "
                  "the population still ramps) are cost levels only: their growth ratios "
                  "read the ramp and decide no hypothesis (the long arms decide H2, H3 and "
                  f"H5). {src(folder / 'effects.csv')}*", "",
                  table(tab), ""]
        aa = effects[effects["verdict"] == "A/A"]
        for _, r in aa.iterrows():
            parts.append(f"The A/A arm `{r['arm']}` ran at {num(r['ratio'])} times its base "
                         f"(95 % CI {_ci(r['lo'], r['hi'])}, n = {r['n']}), so identical arms "
                         f"differ by up to {_ci(r['band_lo'], r['band_hi'])} here.")
        beyond = shown[shown["verdict"].isin(["faster", "slower"])]
        untestable = shown[shown["verdict"] == NOT_TESTABLE_HERE]
        if len(untestable) == len(shown):
            most = pd.to_numeric(shown["n"], errors="coerce").max()
            blocks = f"{int(most)} blocks" if pd.notna(most) else "no complete block"
            parts.append(f"With {blocks} no effect can be read against "
                         "the noise (a verdict needs at least 3); this build shows the "
                         "design, not a result.")
        elif beyond.empty:
            parts.append("No arm differs from its base beyond the A/A noise.")
        else:
            parts.append("Beyond the A/A noise: " + "; ".join(
                f"`{r['arm']}` {r['verdict']} ({num(r['ratio'])}, CI {_ci(r['lo'], r['hi'])}, "
                f"n = {r['n']})" for _, r in beyond.iterrows()) + ". Every other arm is "
                "within noise or not testable.")
        head = shown[shown["group"] == "headline"] if "group" in shown else shown.iloc[:0]
        if len(head):
            parts.append("")
            parts.append("The paper's comparisons, repeated in the same design: " + "; ".join(
                f"`{r['arm']}` vs `{r['base']}` cycle-time ratio {num(r['ratio'])} (95 % CI "
                f"{_ci(r['lo'], r['hi'])}, n = {r['n']} blocks, {r['verdict']})"
                for _, r in head.iterrows()) + ".")
        parts.append("")
    rel: dict[str, Path] = {}
    n_fig = first_figure

    def data(*files: Path) -> str:
        return files_text("Data", *files)

    study_runs = (Path(summary["study"]) / "runs" / "*" / "cycles.csv" if summary.get("study")
                  else folder / "runs.csv")

    for stem, caption in (
            ("study_forest", "Effects of every arm on the cycle time, as ratios to the arm's "
             "base with 95 % intervals (log scale), n = paired blocks in each label. Dot "
             "colours give the verdict: green faster, red slower, grey within noise, blue not "
             "testable (too few blocks); grey "
             "shading: the A/A noise band of the base. " + data(folder / "effects.csv")),
            ("study_per_cycle", "Median wall time per cycle of each arm (over its runs and "
             "conditions), log scale, one colour per arm as in the legend; solid lines: the "
             "bases and their A/A copies, dashed: the arms. Left the arms from `unoptimized`, "
             "right those from `lean`. " + data(study_runs)),
            ("study_long_drift", "The long fixed-workload arms: time per unit of work (ms per "
             "psutil sample + SQLite commit of the cycle) against the cycle index, median over "
             "blocks, rolling median over 1 % of the run; `long-restart` resumes in a fresh "
             "process every K cycles, the allocator arms run under their allocator. A line "
             "that falls back at each restart shows process state; one that does not, the "
             "workload. One colour per arm, as in the legend. " + data(study_runs)),
            (contention.FIGURE, "H1's contention arm: time per agent-cycle of C256 lean with "
             "1, 2 or 4 competing processes over that with none (95 % t intervals over blocks), "
             "one colour per kind, as in the legend; grey: the A/A band of the run with none. "
             + data(folder / contention.DOSES_CSV))):
        png = folder / f"{stem}.png"
        if png.is_file():
            link = os.path.relpath(png, paper_dir)
            rel[link] = png
            parts += [f"![Figure {n_fig}]({link})", "", f"*Figure {n_fig}.* {caption}", ""]
            n_fig += 1
    if not shares.empty:
        tab = shares.rename(columns={"share": "share of the cycle time"})
        tab["95 % CI"] = [_ci(lo, hi) for lo, hi in zip(shares["lo"], shares["hi"], strict=True)]
        parts += ["*Table [[study_shares]]. Share of the unoptimized run's cycle time each "
                  "cost accounts for (one minus the ratio of its switch-off arm); the leftover "
                  "is what the sum of the single switches leaves of the whole gap to `lean` "
                  "(interactions, and the pair-test switch that cannot be turned off alone). "
                  f"{src(folder / 'shares.csv')}*", "", table(tab.drop(columns=["lo", "hi"])),
                  ""]
    if not dynamics.empty:
        odd = dynamics[dynamics["unexpected"].astype(bool)]
        changed = dynamics[dynamics["changes_dynamics"].astype(bool)]
        text = (f"{len(odd)} arm(s) that should not change the model's dynamics produced "
                "population histories different from their base's: "
                + ", ".join(f"`{a}`" for a in odd["arm"]) + ".") if len(odd) else (
            "Every arm that should not change the model's dynamics reproduced its base's "
            "population histories exactly.")
        if len(changed):
            text += " Arms that change the dynamics: " + "; ".join(
                f"`{r['arm']}` mean population {num(r['mean_population_arm'])} vs "
                f"{num(r['mean_population_base'])} ({r['identical_histories']} of "
                f"{r['pairs']} histories identical)" for _, r in changed.iterrows()) + "."
        parts += [text, ""]
    long_drift = _read(folder, "long_drift")
    if not long_drift.empty:
        tab, frag = long_arms_table(long_drift)
        parts += ["*Table [[study_long]]. The long fixed-workload arms (live psutil metrics, "
                  "SQLite databases in RAM, population at its cap): per arm the medians over "
                  "blocks of the mean cycle time and of the drifts after the ramp, in % per "
                  "1000 cycles (raw: time against the cycle; work-adjusted: the joint fit on "
                  "the work counters, poorly determined when the registry grows in step with "
                  f"the cycle; latency: per call{frag}). These runs decide H2, H3 and H5. "
                  f"{src(folder / 'long_drift.csv')}*", "", table(tab), ""]
        bound = frag_bound_sentence(folder)
        if bound:
            files = [folder / f for f in (FRAG_BOUND_JSON, FRAG_SLOPES_CSV, "long_drift.csv")]
            parts += [bound + " " + src(*(f for f in files if f.is_file())), ""]
    parts += contention.paragraph(folder, src(folder / contention.DOSES_CSV,
                                              folder / contention.SLOPES_CSV))
    if not verdicts.empty:
        tab = verdicts[["hypothesis", "name", "verdict", "statistic", "n", "ci",
                        "deciding_arms"]].rename(columns={"ci": "95 % CI",
                                                          "deciding_arms": "deciding arms"})
        parts += ["*Table [[study_verdicts]]. The paper's runtime hypotheses H1-H5 decided by "
                  "the study's arms (rules in `nrm/study/analysis.py`, `VERDICT_RULES`). "
                  f"{src(folder / 'verdicts.csv')}*", "", table(tab), ""]
        for _, r in verdicts[verdicts["hypothesis"].isin(["H2", "H3", "H5"])].iterrows():
            parts.append(f"- **{r['hypothesis']}** ({r['name']}): {r['verdict']}; deciding "
                         f"arms {r['deciding_arms']}; {r['statistic']}; {r['ci']}. "
                         f"{r.get('note') if isinstance(r.get('note'), str) else ''}"
                         + (" This is H3's first piece of evidence; its second, the "
                            "commit-latency curve up to the full run's database size, and the "
                            "two read together are in the subsection *H3 at the full run's "
                            "size* below." if r["hypothesis"] == "H3" else ""))
        parts.append("")
        parts.append("In plain words: " + "; ".join(
            f"{r['hypothesis']} ({r['name']}) is {r['verdict']}"
            + (f" (n = {r['n']})" if str(r["n"]) not in ("0", "nan") else "")
            for _, r in verdicts.iterrows()) + ".")
    return "\n".join(parts).rstrip() + "\n", rel
