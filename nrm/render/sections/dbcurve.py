"""H3's commit-latency curve in the paper (``make dbcurve``; :mod:`nrm.study.dbcurve`).

The long arms decide the study's H3 row on databases of a few MiB; the curve asks what a commit
costs as the databases grow to the full C256 run's ~3.5 GB, on disk and in RAM. This subsection
(Section 10, after the long-scale reference) shows a curve when there is one:

1. this build's own, the largest finished curve in ``data/dbcurve/<MB>/``
   (:attr:`nrm.paths.Build.dbcurves`);
2. otherwise the shipped reference curve (``data/reference/dbcurve/``,
   ``scripts/ship_reference.py --dbcurve DIR``), labelled as not this build's, with its
   machine, commit, date, repeats and conditions;
3. otherwise one line saying how to make one.

It draws median commit latency against database size (one line per repeat, the median over
repeats), tabulates per medium the latency at the first and last checkpoint and the change
with its interval against the ±30 % margin, states the full run's size from its counted
commits, and reads H3 from both pieces of evidence (the long arms and the curve) by
:func:`nrm.stats.verdict.combine_pieces` (docs/hypothesis-rules.md, "H3 from both pieces"),
without touching the study's own verdict table.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.render.sections.tableio import read_table
from nrm.render.text import num, table
from nrm.stats.verdict import NOT_TESTABLE, combine_pieces, not_testable

__all__ = ["FIGURE", "FIGURE_REFERENCE", "HEADING", "Curve", "build_curve", "choose",
           "curve_plot", "figure_frames", "h3_pieces", "load", "section", "shipped_figures"]

HEADING = "### H3 at the full run's size: commit latency against database size"
#: Figure stems (and table caption keys): this build's curve, or the shipped reference's.
FIGURE = "dbcurve"
FIGURE_REFERENCE = "dbcurve_reference"
MEDIUM_TEXT = {"disk": "disk (the output folder's file system)", "ram": "RAM (/dev/shm)"}


@dataclass
class Curve:
    """One finished curve: its folder, whether it is the shipped reference, its tables."""

    folder: Path
    reference: bool
    frame: pd.DataFrame
    summary: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return FIGURE_REFERENCE if self.reference else FIGURE

    @property
    def h3(self) -> dict[str, Any]:
        return dict(self.summary.get("h3") or {})

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.summary.get("config") or {})


def _json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def finished(folder: Path) -> bool:
    """Whether ``folder`` holds a finished curve (its summary and its table)."""
    return (folder / paths.DBCURVE_JSON).is_file() and (folder / paths.DBCURVE_CSV).is_file()


def load(folder: Path, *, reference: bool = False) -> Curve | None:
    """The curve in ``folder`` (None when it is not finished or its tables are unreadable)."""
    folder = Path(folder)
    if not finished(folder):
        return None
    summary = _json(folder / paths.DBCURVE_JSON)
    frame = read_table(folder / paths.DBCURVE_CSV)
    if not summary.get("h3") or frame.empty or "median_ms" not in frame:
        return None
    return Curve(folder, reference, frame, summary, _json(folder / paths.DBCURVE_MACHINE))


def _size_key(p: Path) -> float:
    try:
        return float(p.name)
    except ValueError:
        return -1.0


def build_curve(root: Path, scale: str) -> Curve | None:
    """This build's own curve: the finished curve of the largest size under
    ``<root>/data/dbcurve/`` (``make dbcurve`` writes ``data/dbcurve/<TO_MB>``)."""
    base = paths.Build(root, scale).dbcurves
    if not base.is_dir():
        return None
    for folder in sorted((p for p in base.iterdir() if p.is_dir()), key=_size_key,
                         reverse=True):
        curve = load(folder)
        if curve is not None:
            return curve
    return None


def choose(root: Path, scale: str, reference: Path | None = None) -> Curve | None:
    """This build's curve if it has one, else the shipped reference's, else None."""
    return build_curve(root, scale) or load(
        Path(reference) if reference is not None else paths.REFERENCE_DBCURVE, reference=True)


def shipped_figures(reference: Path | None = None) -> tuple[str, ...]:
    """The figure a build without its own curve shows: the shipped reference's, when shipped."""
    folder = Path(reference) if reference is not None else paths.REFERENCE_DBCURVE
    return (FIGURE_REFERENCE,) if load(folder, reference=True) is not None else ()


def figure_frames(root: Path, scale: str, stem: str) -> dict[str, pd.DataFrame]:
    """The data frame figure ``stem`` plots (its provenance hashes it); {} without one."""
    curve = (build_curve(root, scale) if stem == FIGURE
             else load(paths.REFERENCE_DBCURVE, reference=True))
    return {"dbcurve": curve.frame} if curve is not None else {}


# --------------------------------------------------------------------------- figure
def _medians(g: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint: the median over repeats of the size (MiB) and of the batch median."""
    by = g.groupby("checkpoint_mb", sort=True)
    return pd.DataFrame({"mib": by["db_bytes"].median() / 2**20,
                         "median_ms": by["median_ms"].median(),
                         "repeats": by["repeat"].nunique()}).reset_index()


def curve_plot(frame: pd.DataFrame, *, full_mb: float, media: tuple[str, ...]) -> Any:
    """Median commit latency of each checkpoint's batch against the databases' size, one panel
    per medium (log y): one thin line per repeat, the median over repeats thick; the full run's
    size dashed when the curve reaches half of it."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda y, _: num(y))  # 0.3, 8: not 3 x 10^-1
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):  # no global theme
        fig, axes = plt.subplots(1, len(media), figsize=(5.2 * len(media), 3.8),
                                 squeeze=False)
    colours = dict(zip(("disk", "ram"), sns.color_palette("tab10", 2), strict=True))
    for ax, medium in zip(axes[0], media, strict=True):
        g = frame[frame["medium"] == medium]
        colour = colours.get(medium, "tab:gray")
        for i, (_, rep) in enumerate(g.groupby("repeat", sort=True)):
            rep = rep.sort_values("db_bytes")
            ax.plot(rep["db_bytes"] / 2**20, rep["median_ms"], "-", lw=0.8, alpha=0.55,
                    color=colour, label="one repeat (a fresh process)" if i == 0 else None)
        if len(g):
            med = _medians(g)
            ax.plot(med["mib"], med["median_ms"], "o-", lw=2.0, ms=4, color="k",
                    label=f"median over {int(g['repeat'].nunique())} repeats")
            if g["db_bytes"].max() / 2**20 >= 0.5 * full_mb:
                ax.axvline(full_mb, color="0.4", ls="--", lw=0.8,
                           label=f"the full run's size ({full_mb:g} MiB)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.set_xlabel("size of both databases (MiB)")
        ax.set_ylabel("median commit latency of a batch (ms, log)")
        ax.set_title(MEDIUM_TEXT.get(medium, medium))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_figure(curve: Curve, figures_dir: Path) -> Path:
    """Draw the curve's figure into ``figures_dir/<stem>.png``."""
    import matplotlib.pyplot as plt

    from nrm.render.figures import save_png

    media = tuple(curve.config.get("media") or sorted(curve.frame["medium"].unique()))
    fig = curve_plot(curve.frame, full_mb=float(curve.h3.get("full_mb", 3500.0)), media=media)
    try:
        return save_png(fig, Path(figures_dir) / f"{curve.stem}.png")
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- tables and text
def _ci(lo: Any, hi: Any) -> str:
    lo, hi = float(lo), float(hi)
    if math.isnan(lo) or math.isnan(hi):
        return "—"
    return f"[{lo:+.1f} %, {hi:+.1f} %]"


def _pct(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def medium_table(curve: Curve) -> pd.DataFrame:
    """One row per medium: n repeats, the size every repeat reached, the latency at the first
    and the last checkpoint (median over repeats of each batch's median), the change from empty
    to the full run's size with its interval (over the measured range only, and said so, when
    the curve is short of 90 % of it), the endpoints' check and the verdict against the margin."""
    h3 = curve.h3
    full = float(h3.get("full_mb", math.nan))
    margin = float(h3.get("margin_pct", math.nan))
    pts = [float(x) for x in curve.config.get("checkpoints_mb") or []] or [math.nan]
    rows = []
    for medium, m in (h3.get("media") or {}).items():
        g = curve.frame[curve.frame["medium"] == medium]
        med = _medians(g) if len(g) else pd.DataFrame({"median_ms": [math.nan]})
        reached = float(m.get("reached_mib", 0.0))
        short = not reached >= 0.9 * full
        key = "measured_change" if short else "change"
        rows.append({
            "medium": MEDIUM_TEXT.get(medium, medium),
            "repeats": int(m.get("repeats", 0)),
            "reached (MiB)": reached,
            f"ms at {pts[0]:g} MiB": float(med["median_ms"].iloc[0]),
            f"ms at {pts[-1]:g} MiB": float(med["median_ms"].iloc[-1]),
            "change (%)": _pct(m.get(f"{key}_pct")),
            f"{100 * float(m.get('level', math.nan)):.1f} % CI": _ci(
                m.get(f"{key}_low_pct"), m.get(f"{key}_high_pct")),
            "read over": (f"0 to {reached:.0f} MiB (short of the full size)" if short
                          else f"0 to {full:g} MiB"),
            "endpoints last/first (%)": _pct(m.get("endpoint_change_pct")),
            f"verdict vs ±{margin:.0f} %": str(m.get("verdict", "")),
        })
    return pd.DataFrame(rows)


def _where(path: Path, root: Path) -> str:
    """``path`` relative to the build folder, else to the compendium's root, else as is."""
    path = Path(path).resolve()
    for base in (Path(root).resolve(), paths.ROOT.resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.as_posix()


def conditions(curve: Curve) -> str:
    """Machine, commit, dates, repeats and conditions of a curve, in one sentence."""
    cfg, m = curve.config, curve.machine
    ctx = m.get("context") or {}
    cpu = ctx.get("cpu") or {}
    disk = ctx.get("storage") or {}
    git = ctx.get("git") or {}
    mem = ctx.get("memory_total_bytes")
    commit = str(git.get("commit") or "?")[:7] + (" (dirty)" if git.get("dirty") else "")
    loads = [float(x) for r in m.get("repeats") or []
             for x in (r.get("load_avg_start"), r.get("load_avg_end")) if x is not None]
    load = (f"; 1-min load average at the repeats' starts and ends {num(min(loads))} to "
            f"{num(max(loads))}" if loads else "")
    machine = (f"on {cpu.get('model', '?')} ({cpu.get('logical', '?')} logical cores"
               + (f", {mem / 2**30:.1f} GiB RAM" if isinstance(mem, (int, float)) else "")
               + f"), disk {disk.get('fs_type', '?')} on {disk.get('device', '?')}, at commit "
               f"`{commit}`, from {m.get('first_started_at') or '?'} to "
               f"{m.get('last_finished_at') or '?'}{load}") if ctx else \
        "(machine, commit and dates not recorded: a curve made before they were)"
    pts = ", ".join(f"{float(x):g}" for x in cfg.get("checkpoints_mb") or [])
    return (f"`nrm dbcurve --to-mb {float(cfg.get('to_mb', math.nan)):g}` {machine}: "
            f"{cfg.get('repeats', '?')} repeat(s) per medium ({', '.join(cfg.get('media') or [])}"
            f"; alternating, each a fresh process growing the databases from empty), checkpoints "
            f"{pts} MiB, {cfg.get('batch', '?')} of the model's per-row commits timed at each")


def scale_statement(curve: Curve) -> str:
    """The full C256 run's database size from its counted commits at the curve's bytes a row."""
    s, cfg = curve.summary, curve.config
    full = float(curve.h3.get("full_mb", math.nan))
    mix = cfg.get("mix") or {}
    total = sum(float(v) for v in mix.values())
    shares = ", ".join(f"{num(100 * float(v) / total)} % `{k}`" for k, v in
                       sorted(mix.items(), key=lambda kv: -float(kv[1]))) if total else "?"
    implied = s.get("full_run_size_implied") or {}
    size = (f"at the {implied['bytes_per_row']:.0f} bytes a row this curve measured at its "
            f"largest database they fill {implied['full_run_mib']:,.0f} MiB "
            f"({implied['full_run_mib'] / 1024:.1f} GiB)"
            if implied.get("bytes_per_row") else "the curve measured no bytes a row")
    return (f"*Scale.* The paper's full C256 run commits {total:,.0f} rows (its counted commits, "
            f"`{cfg.get('mix_source', '?')}`: {shares}); {size}. The change is read at "
            f"{full:g} MiB, the size the paper's full run reaches (about 3.5 GB); a curve short "
            f"of 90 % of it is not testable and reports its change over the range it measured.")


def h3_pieces(verdicts: pd.DataFrame, curve: Curve | None, *, curve_label: str = "the curve"
              ) -> dict[str, Any]:
    """H3's two pieces and their combination: the long arms' row of the study's
    ``verdicts.csv`` (``verdicts``; empty: not testable) and the curve's piece (None: not
    testable), combined by :func:`nrm.stats.verdict.combine_pieces`."""
    row = (verdicts[verdicts["hypothesis"] == "H3"] if "hypothesis" in verdicts
           else pd.DataFrame())
    if row.empty:
        arms = {"verdict": not_testable("no causal study analysed for this build"),
                "statistic": "-", "n": "0"}
    else:
        r = row.iloc[0]
        arms = {"verdict": str(r["verdict"]), "statistic": str(r.get("statistic", "-")),
                "n": str(r.get("n", "?"))}
    if curve is None:
        piece = {"verdict": not_testable("no commit-latency curve (make dbcurve)"),
                 "why": "no curve"}
    else:
        piece = {"verdict": str(curve.h3.get("verdict", NOT_TESTABLE)),
                 "why": str(curve.h3.get("why", ""))}
    verdict, reason = combine_pieces({"the long arms": arms["verdict"],
                                      curve_label: piece["verdict"]})
    return {"arms": arms, "curve": piece, "verdict": verdict, "reason": reason}


def h3_text(verdicts: pd.DataFrame, curve: Curve | None) -> str:
    label = "the curve" if curve is None or not curve.reference else "the reference curve"
    p = h3_pieces(verdicts, curve, curve_label=label)
    arms, piece = p["arms"], p["curve"]
    margin = (f"±{float(curve.h3['margin_pct']):.0f} %" if curve is not None
              and "margin_pct" in curve.h3 else "±30 %")
    full = f"{float(curve.h3['full_mb']):g} MiB" if curve is not None and "full_mb" in \
        curve.h3 else "the full run's size"
    where = "" if curve is None or not curve.reference else \
        "; the shipped reference's, another machine and day than this build's long arms"
    return (
        "**H3 from both pieces** (`docs/hypothesis-rules.md`, \"H3 from both pieces\": supported "
        "if either piece is; otherwise not testable if either is; no effect larger than m only "
        "if both pieces' equivalence tests pass; refuted if both are; within noise otherwise). "
        f"*The long arms* (latency drift of a SQLite commit in RAM at small databases and of a "
        f"live psutil sample against the process's age; this build's study): "
        f"{arms['verdict']} ({arms['statistic']}; blocks: {arms['n']}). "
        f"*The commit-latency curve* (change of a commit's latency from empty to {full}, disk "
        f"and RAM, margin {margin}{where}): {piece['verdict']} ({piece['why']}). "
        f"**H3 from both: {p['verdict']}** ({p['reason']}). The study's verdict table keeps "
        "the long arms' verdict; this paragraph adds the curve beside it.")


def section(root: Path, scale: str, figures_dir: Path, paper_dir: Path, *,
            first_figure: int, verdicts: pd.DataFrame | None = None,
            reference: Path | None = None) -> tuple[str, dict[str, Path]]:
    """The subsection (Markdown) and its figure (link relative to ``paper_dir`` -> PNG).
    ``root``: the build folder (its ``data/dbcurve/``); ``verdicts``: this build's study
    verdicts (the long arms' H3 row); ``reference``: the shipped curve's folder."""
    verdicts = verdicts if verdicts is not None else pd.DataFrame()
    ref_folder = Path(reference) if reference is not None else paths.REFERENCE_DBCURVE
    curve = choose(root, scale, ref_folder)
    if curve is None:
        return (f"{HEADING}\n\nNo commit-latency curve: this build has none "
                f"(`data/dbcurve/`) and none is shipped (`data/reference/dbcurve/`); "
                "`make dbcurve` makes one (the model's databases grown to the full run's "
                "3.5 GB on disk and in RAM, 5 repeats per medium by default; it checks the "
                "space first).\n\n"
                + h3_text(verdicts, None) + "\n", {})
    where = _where(curve.folder, root)
    csv = f"`{where}/{paths.DBCURVE_CSV}`"
    summ = f"`{where}/{paths.DBCURVE_JSON}`"
    if curve.reference:
        intro = (f"These numbers are **not this build's**: they come from the commit-latency "
                 f"curve shipped in `{where}/` ({conditions(curve)}). This build has no curve of "
                 "its own (`make dbcurve` makes one, and the paper then shows it instead).")
    else:
        intro = f"This build's commit-latency curve, in `{where}/` ({conditions(curve)})."
    png = write_figure(curve, figures_dir)
    link = os.path.relpath(png, paper_dir)
    n = first_figure
    tab = medium_table(curve)
    level = next((c for c in tab.columns if c.endswith(" CI")), "95 % CI")
    media = list(curve.config.get("media") or [])
    panels = " and ".join(f"{'on disk' if x == 'disk' else 'in RAM' if x == 'ram' else x}"
                          + (f" ({side})" if len(media) == 2 else "")
                          for x, side in zip(media, ("left", "right"), strict=False))
    whose = "The shipped reference curve" if curve.reference else "This build's curve"
    parts = [HEADING, "",
             "The long arms decide the study's H3 row on databases that stay small; the paper's "
             "full C256 run's grow to about 3.5 GB. The commit-latency curve asks what one of "
             "the model's commits costs as the databases grow to that size, on disk and in RAM "
             "(`nrm dbcurve`; rule in `docs/hypothesis-rules.md`, \"H3: the commit-latency "
             "curve\").", "", intro, "",
             f"![Figure {n}]({link})", "",
             f"*Figure {n}.* {whose}: median latency of each checkpoint's batch of "
             f"{curve.config.get('batch', '?')} of the model's per-row commits (connect + insert "
             f"+ commit + close, SQLite's defaults) against the size of both databases, "
             f"{panels}, log scale; thin lines in the medium's colour (blue disk, orange RAM): "
             "one repeat each (a fresh process growing the databases from empty); black: the "
             "median over the repeats at each checkpoint; dashed grey (when the curve reaches "
             "half of it): the full run's size; each panel's legend names its lines. "
             f"Data: {csv}.", "",
             f"*Table [[{curve.stem}]]. {whose} per medium: n repeats, the largest size every "
             "repeat reached, the latency at the first and last checkpoint (median over repeats "
             "of each batch's median, ms), the change of the latency from empty to the full "
             "run's size (exp(slope x size) - 1 of the OLS slope of log latency on size, mean "
             f"over repeats, {level.split(' CI')[0]} t interval, Bonferroni over the media; "
             "over the measured range only when the curve is short of 90 % of the full size), "
             "the endpoints' ratio as a check on the straight line, and the verdict against "
             f"the margin. Source: {summ}, {csv}.*", "",
             table(tab), "",
             scale_statement(curve), "",
             h3_text(verdicts, curve), ""]
    return "\n".join(parts).rstrip() + "\n", {link: png}
