"""Assemble the paper: figures into ``figures/``, ``paper/paper.md`` and ``paper/paper.html``.

:func:`build` reads one scale's run folders, the Phase 1A/1B tables
(:mod:`nrm.render.results`) and the paper's reported numbers and claims ledger
(``data/reference/`` through :mod:`nrm.claims`), draws every figure, writes the Markdown
source, and converts it with nbconvert into one self-contained HTML file (figures embedded as
base64, no external scripts). Every number in the text comes from those files; the prose around
a number is chosen from what the number is (for instance "slower" or "faster"), never the other
way round.
"""

from __future__ import annotations

import base64
import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_text
from nrm.exceptions import LogError, NrmError
from nrm.instrument.reader import RunData
from nrm.render import figures as F
from nrm.render import results as R
from nrm.render.text import duration, num, pct, table
from nrm.render.wording import RULE_LABELS, human, rate_meaningful, trend
from nrm.run.scales import PAPER_SCALE, get_scale
from nrm.stats.verdict import VERDICTS, threshold_verdict

__all__ = ["FIGURES", "PaperInputs", "build", "compose", "draw_figures", "load_inputs",
           "measured_claims", "to_html"]

#: Figure file stems, in the order the paper shows them.
FIGURES = ("runtime_timeline", "hypothesis_tests", "optimization_impact", "population_cost",
           "claims_snapshots")


@dataclass
class PaperInputs:
    scale: str
    runs: dict[str, RunData]
    phase1a: dict[str, pd.DataFrame]
    phase1b: dict[str, pd.DataFrame]
    manifests: dict[str, Any]
    claims: Any  # nrm.claims module (its functions read data/reference/)
    executed_dir: Path
    analysis_dir: Path | None = None  # the Phase 1A/1B tables (named in captions)
    root: Path | None = None  # the build folder (make's OUT); paths in the paper are relative

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the build folder (never the build machine's absolute path)."""
        base = self.root if self.root is not None else Path.cwd()
        return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()

    def source(self, *files: str) -> str:
        """'Source: `data/analysis/<scale>/phase1a/x.csv`' for tables of the analysis folder
        (``phase/table`` names) or any other file of the build."""
        shown = []
        for f in files:
            if "/" in f and not f.startswith(("data/", "../")) and self.analysis_dir is not None:
                shown.append(self.rel(Path(self.analysis_dir) / f"{f}.csv"))
            else:
                shown.append(f)
        return "Source: " + ", ".join(f"`{x}`" for x in shown) + "."

    @property
    def slow(self) -> RunData:
        return self.runs[R.SLOW]

    @property
    def baseline(self) -> RunData:
        return self.runs[R.BASELINE]

    def run_row(self, name: str) -> pd.Series:
        t = self.phase1a["runs"]
        return t[t["run"] == name].iloc[0]

    @property
    def study_dir(self) -> Path | None:
        """The causal study's analysis folder (``notebooks/study.ipynb`` writes it)."""
        return (None if self.analysis_dir is None
                else Path(self.analysis_dir) / paths.STUDY_ANALYSIS)

    @functools.cached_property
    def study(self) -> dict[str, Any]:
        """The headline comparisons as the study repeated them ({} without a study):
        :func:`nrm.render.headline.load`."""
        from nrm.render.headline import load

        return load(self.study_dir)

    @functools.cached_property
    def study_verdicts(self) -> pd.DataFrame:
        """The study's H1-H5 verdicts (``verdicts.csv``; empty without a study)."""
        from nrm.render.study_section import _read

        v = pd.DataFrame() if self.study_dir is None else _read(self.study_dir, "verdicts")
        if "hypothesis" not in v:
            return pd.DataFrame()
        return v[v["hypothesis"].isin(["H1", "H2", "H3", "H4", "H5"])].reset_index(drop=True)


def load_inputs(request: Any) -> PaperInputs:
    """Everything the paper reads, for a validated render request (nrm.build.notebooks)."""
    from nrm import claims

    runs = R.load_runs(request.runs)
    res = R.load_results(request.dirs["analysis"])
    for phase in ("phase1a", "phase1b"):
        used = set(res["manifests"][phase]["runs"])
        if not used <= set(runs):
            raise LogError(f"{request.dirs['analysis']}/{phase} was computed from runs "
                           f"{sorted(used)}, not this scale's; re-run the analysis notebooks")
    return PaperInputs(request.scale, runs, res["phase1a"], res["phase1b"], res["manifests"],
                       claims, request.dirs["executed"], Path(request.dirs["analysis"]),
                       Path(request.dirs["paper"]).parent)


# --------------------------------------------------------------------------- figures


def _order(inp: PaperInputs) -> list[str]:
    return [n for n in get_scale(inp.scale).names() if n in inp.runs]


def _speedups(inp: PaperInputs) -> pd.DataFrame:
    summary = inp.phase1b["summary"]
    return pd.DataFrame({
        "comparison": [_comparison_label(c) for c in summary["comparison"]],
        "speedup": summary["speedup"], "ci_low": summary["ci_low"],
        "ci_high": summary["ci_high"],
    })


def figure_data(inp: PaperInputs, stem: str) -> dict[str, pd.DataFrame]:
    """The data frames figure ``stem`` plots (its provenance hashes them)."""
    if stem == "claims_snapshots":
        return {"snapshots": inp.claims.snapshot_table()}
    if stem.startswith("study") and inp.analysis_dir is not None:  # the causal study's tables
        folder = Path(inp.analysis_dir) / paths.STUDY_ANALYSIS
        return {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))
                if p.stat().st_size > 0}
    names = _order(inp) if stem in ("runtime_timeline", "optimization_impact") else [R.SLOW]
    frames = {n: inp.runs[n].cycles for n in names}
    if stem == "optimization_impact":
        frames["speedups"] = _speedups(inp)
    return frames


def draw_figures(inp: PaperInputs, figures_dir: str | Path,
                 only: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Draw and save every figure (or those in ``only``); returns stem -> PNG path."""
    from nrm.claims.figure import plot_snapshots

    out = Path(figures_dir)
    runs = inp.runs
    order = _order(inp)
    makers = {
        "runtime_timeline": lambda: F.runtime_timeline(
            [runs[n] for n in order],
            highlight=[F.run_label(inp.baseline), F.run_label(inp.slow)]),
        "hypothesis_tests": lambda: F.hypothesis_panels(inp.slow),
        "optimization_impact": lambda: F.optimization_impact([runs[n] for n in order],
                                                             _speedups(inp)),
        "population_cost": lambda: F.population_cost(inp.slow),
        "claims_snapshots": plot_snapshots,
    }
    chosen = FIGURES if only is None else only
    return {name: F.save_png(makers[name](), out / f"{name}.png") for name in chosen}


def _comparison_label(name: str) -> str:
    return {"paper_design": "C256 unopt. vs C257-C260 opt.",
            "same_experiment": "C256 unopt. vs C256 opt."}.get(name, name)


# --------------------------------------------------------------------------- measured values


def _test_estimate(inp: PaperInputs, hyp: str, variable: str, column: str = "estimate") -> float:
    """A whole-run criterion test's value from Phase 1A (NaN when the test was not possible),
    found by the log column it tests (``variable``), not by its label."""
    t = inp.phase1a["hypothesis_tests"]
    hit = t[(t["hypothesis"] == hyp) & (t["role"] == "criterion") & (t["scope"] == "whole run")
            & (t["variable"] == variable)]
    return float(hit[column].iloc[0]) if len(hit) else math.nan


def _runtime(seconds: float) -> tuple[float, str]:
    """A runtime in the unit that reads best (s, min or h)."""
    if seconds >= 7200:
        return seconds / 3600, "h"
    if seconds >= 120:
        return seconds / 60, "min"
    return seconds, "s"


def _share(num_col: str, run: RunData) -> float:
    df = run.cycles
    if num_col not in df:
        return math.nan
    part = pd.to_numeric(df[num_col], errors="coerce").sum()
    wall = pd.to_numeric(df["wall_s"], errors="coerce").sum()
    return float(100 * part / wall) if wall > 0 else math.nan


def _last(run: RunData, col: str) -> float:
    if col not in run.cycles:
        return math.nan
    v = pd.to_numeric(run.cycles[col], errors="coerce").dropna()
    return float(v.iloc[-1]) if len(v) else math.nan


def measured_claims(inp: PaperInputs) -> dict[str, tuple[float, str, str]]:
    """This machine's counterpart of each claim of the paper that has one:
    ``{claim_id: (value, unit, note)}`` for :func:`nrm.claims.ledger`."""
    s = inp.phase1a["summary"].iloc[0]
    slow, base = inp.run_row(R.SLOW), inp.run_row(R.BASELINE)
    sm = inp.phase1b["summary"].set_index("comparison")
    same, design = sm.loc["same_experiment"], sm.loc["paper_design"]
    opt_names = R.COMPARISONS["paper_design"][1]
    opt_rt = sum(float(inp.run_row(n)["runtime_s"]) for n in opt_names) / len(opt_names)
    c256_opt = inp.run_row("C256-optimized")
    sc = f"scale {inp.scale}"
    inc = inp.phase1a["milestones"]["increment_pct_per_h"].dropna()
    paper_rate = inp.phase1a["milestones"]["accel_paper_pct_per_h"].dropna()
    pred = inp.phase1a["prediction"]
    best = pred.loc[pred["error_pct"].abs().idxmin()]
    rt_base, rt_slow = _runtime(float(base["runtime_s"])), _runtime(float(slow["runtime_s"]))
    rt_opt = _runtime(opt_rt)
    cpu_share = 100 * float(slow["cpu_s"]) / float(slow["runtime_s"])
    c257 = inp.run_row("C257-optimized")
    rss = pd.to_numeric(inp.slow.cycles.get("rss_bytes"), errors="coerce")
    ctx = inp.slow.meta.get("context") or {}
    cpu = ctx.get("cpu") or {}
    mem = ctx.get("memory_total_bytes")
    lean = inp.run_row("C256-lean")
    rates_ok = rate_meaningful(float(s["expected_s"]))
    short = _too_short(float(s["expected_s"]))
    values: dict[str, tuple[float, str, str]] = {
        "T1.c255_20h": (*rt_base, f"C255 unoptimized, completed, wall clock, {sc}"),
        "T1.c256_34h": (float(slow["cpu_s"]), "s",
                        f"C256 unoptimized CPU time, completed run ({num(slow['runtime_s'])} s "
                        f"wall), {sc}"),
        "T1.var_72": (float(s["variance_pct"]), "%", f"C256 over C255, wall clock, {sc}"),
        "abs.var73": (float(s["variance_pct"]), "%", "same measurement as T1.var_72"),
        "s3.1.excess_14h": (float(s["variance_s"]), "s", f"C256 minus C255, {sc}"),
        "T1.accel_356": (float(paper_rate.iloc[-1]) if len(paper_rate) and rates_ok
                         else math.nan, "%/h",
                         "the paper's ratio at the end of C256" if rates_ok else short),
        "s3.1.accel_nonlinear": (float(inc.iloc[-1]) if len(inc) and rates_ok else math.nan,
                                 "%/h", "last increment between milestones; all: "
                                 + ", ".join(num(x) for x in inc) if rates_ok else short),
        "abs.duration_34h": (*rt_slow, f"C256 unoptimized, wall clock, {sc}"),
        "s3.3.runtime_2070": (float(slow["runtime_s"]) / 60, "min",
                              f"C256 unoptimized, wall clock, {sc}"),
        "s2.1.calls_per_cycle": (float(slow["samples_per_cycle"]), "samples/cycle",
                                 f"C256 unoptimized, counted, at most {int(slow['max_agents'])} "
                                 "agents"),
        "s2.1.calls_total": (float(slow["samples"]), "samples",
                             f"C256 unoptimized, counted over {int(slow['cycles'])} cycles"),
        "s3.4.total_cycles": (float(slow["cycles"]), "cycles", sc),
        "s2.4.calls_opt": (float(c256_opt["samples"]), "samples", "C256 optimized, counted"),
        "s2.4.call_reduction_90x": (float(same["sample_call_reduction"]), "×",
                                    "C256 unoptimized / optimized, counted"),
        "s2.4.call_reduction_99pct": (100 * (1 - float(c256_opt["samples"])
                                             / float(slow["samples"])), "%", "counted"),
        "s2.1.opt_runtime": (*rt_opt, f"mean of C257-C260 optimized, {sc}"),
        "s3.3.speedup": (float(design["speedup"]), "×",
                         f"C256 unoptimized vs C257-C260 optimized, mean per-cycle time, 95 % CI "
                         f"{num(design['ci_low'])}-{num(design['ci_high'])}"),
        "abs.speedup_achieved": (float(same["speedup"]), "×",
                                 f"same experiment (C256 both ways), 95 % CI "
                                 f"{num(same['ci_low'])}-{num(same['ci_high'])}"),
        "s3.2.cpu_4_5pct": (cpu_share, "% CPU", "C256 unoptimized, CPU time / wall time"),
        "s2.2.h5_threshold": (_test_estimate(inp, "H5", "wall_s"), "ms/cycle",
                              "C256 unoptimized, slope of per-cycle time"),
        "s2.2.h3_threshold": (_test_estimate(inp, "H3", "sample_s"), "ms per 1000 calls",
                              "C256 unoptimized, slope of sample latency"),
        "fig2.h2_refuted": (_test_estimate(inp, "H2", "rss_bytes", "delta_r2"), "Delta R^2",
                            "C256 unoptimized, RSS vs cycle (real data)"),
        "fig2.h1_validated": (_test_estimate(inp, "H1", "load1", "p_robust"), "p",
                              "C256 unoptimized, load vs time (real data)"),
        "s4.2.alloc_factor": (float(slow["runtime_s"]) / float(base["runtime_s"]), "×",
                              "C256 / C255 runtime"),
        "s4.2.early_phase": (float(best["error_pct"]), "% error",
                             f"best prediction of C256's total from the first "
                             f"{num(100 * best['fraction'])} % ({best['method']})"),
        "s4.4.hardware": (float(cpu.get("logical") or math.nan), "cores",
                          f"{cpu.get('model', '?')}, "
                          f"{num(mem / 2**30) + ' GiB RAM' if mem else 'RAM unknown'}, "
                          f"{(ctx.get('os') or {}).get('system', '?')}"),
        "arch.rss_flat": (float(rss.max()) / 1e6 if rss is not None else math.nan, "MB",
                          f"largest RSS of C256 unoptimized (smallest "
                          f"{num(float(rss.min()) / 1e6) if rss is not None else '?'} MB)"),
        "arch.c257_iowait": (100 - 100 * float(c257["cpu_s"]) / float(c257["runtime_s"]), "%",
                             "C257 optimized: share of wall time off the CPU"),
        "arch.bridge_db": (_last(inp.slow, "db_bytes") / 1e9, "GB",
                           "both databases of C256 unoptimized at the end of the run"),
        "arch.nodb_rewrite": (float(lean["runtime_s"]), "s",
                              f"C256 lean (no database, every cost off), {int(lean['cycles'])} "
                              "cycles"),
        "arch.profile_99pct": (_share("commit_s", inp.slow), "% of cycle time",
                               "C256 unoptimized, time inside SQLite commits"),
    }
    return values


def _p(p: Any) -> str:
    from nrm.stats.tables import format_p

    return format_p(float(p))


#: The paper's stance on each runtime hypothesis (§3.2 tiers, §4.1, the abstract), in our words.
#: Text, not numbers: the paper's numbers are in data/reference/.
PAPER_STANCE = {
    "H1": "tier 3, 'possible' (§3.2)",
    "H2": "primary mechanism, 'strongly supported' by the literature (§3.2, §4.1)",
    "H3": "tier 2; with H2 'validated' by the speedup (abstract)",
    "H4": "tier 3, 'possible'; 'not thermal' (§3.2)",
    "H5": "tier 2, 'plausible' (§3.2, §3.4)",
}


# --------------------------------------------------------------------------- markdown


def _h(text: str, level: int = 2) -> str:
    return f"{'#' * level} {text}\n"


def _too_short(seconds: float) -> str:
    return f"not meaningful (run of {duration(seconds)})"


def _runs_source(inp: PaperInputs, names: list[str]) -> str:
    """'Data: `data/runs/<scale>/<run>/cycles.csv`' for the runs a figure draws."""
    paths_ = [inp.rel(Path(inp.runs[n].path) / paths.CYCLES_CSV) for n in names if n in inp.runs]
    if len(paths_) > 2:
        folder = inp.rel(Path(inp.runs[names[0]].path).parent)
        return f"Data: `{folder}/*/cycles.csv` ({len(paths_)} runs)."
    return "Data: " + ", ".join(f"`{x}`" for x in paths_) + "."


def _fig(stem: str, rel: Mapping[str, str], n: int, caption: str) -> str:
    return f"![Figure {n}]({rel[stem]})\n\n*Figure {n}.* {caption}\n"


_STAMP = re.compile(r"<!--nrm-stamp:([a-z]+:[a-z0-9_\-]+)-->")
_FIGURE = re.compile(r"!\[Figure \d+\]\(([^)\s]+)\)\n\n\*Figure \d+\.\*[^\n]*\n")
_CAPTION = re.compile(r"\*Table \[\[([a-z0-9_]+)\]\]\.")


def _stamp_figures(text: str) -> str:
    """A stamp placeholder after every figure's caption (keyed by the image's file stem)."""
    return _FIGURE.sub(lambda m: f"{m.group(0)}\n<!--nrm-stamp:figure:{Path(m.group(1)).stem}-->\n",
                       text)
_TABLE_MARK = re.compile(r"<!--nrm-table:(\d+)-->\n")


@dataclass
class Composed:
    """The paper's Markdown with a placeholder where each stamp goes, and what it stamps."""

    text: str
    tables: dict[str, pd.DataFrame]  # "table:key" -> the values shown
    items: list[tuple[str, int, str]]  # (id, number, caption) in page order

    def render(self, stamps: Mapping[str, str]) -> str:
        """The text with each placeholder replaced by ``stamps[id]``."""
        return _STAMP.sub(lambda m: stamps[m.group(1)], self.text)


def _attach_tables(text: str, frames: list[pd.DataFrame]) -> tuple[str, dict[str, pd.DataFrame]]:
    """Swap each table marker for a stamp placeholder, keyed by the table's caption: the
    paragraph right before the table or, when that is none, the one right after it (the stamp
    then follows the caption)."""
    tables: dict[str, pd.DataFrame] = {}
    for m in reversed(list(_TABLE_MARK.finditer(text))):
        end = text.find("\n\n", m.end())
        end = len(text) if end < 0 else end
        before = text[:m.start()].rstrip("\n").rsplit("\n\n", 1)[-1].lstrip("\n")
        after_start = end + 2
        after = text[after_start:].split("\n\n", 1)[0]
        cap_before, cap_after = _CAPTION.match(before), _CAPTION.match(after)
        if cap_before:
            key, at = cap_before.group(1), end
        elif cap_after:
            key, at = cap_after.group(1), min(len(text), after_start + len(after))
        else:
            raise LogError("a table of the paper has no caption (*Table [[key]]. ...*) right "
                           f"before or after it: {before[:80]!r}")
        item = f"table:{key}"
        if item in tables:
            raise LogError(f"two tables share the caption key {key!r}")
        tables[item] = frames[int(m.group(1))]
        text = (text[:m.start()] + text[m.end():at] + f"\n\n<!--nrm-stamp:{item}-->"
                + text[at:])
    return text, tables


def _items(text: str) -> list[tuple[str, int, str]]:
    """(id, number, caption) of every stamped table and figure, in page order."""
    out = []
    for m in _STAMP.finditer(text):
        item = m.group(1)
        kind, key = item.split(":", 1)
        word = "Table" if kind == "table" else "Figure"
        caps = list(re.finditer(rf"\*{word} (\d+)\.\*? ?([^\n]*)", text[:m.start()]))
        if caps:
            number = int(caps[-1].group(1))
            caption = caps[-1].group(2).strip().rstrip("*").strip()
        else:
            number, caption = 0, key
        out.append((item, number, caption))
    return out


def compose(inp: PaperInputs, fig_paths: Mapping[str, Path], paper_dir: str | Path,
            extra: tuple[str, ...] = ()) -> str:
    """The paper as Markdown (figures referenced relative to ``paper_dir``), without stamps;
    ``extra`` sections (e.g. the causal study's) go at the end."""
    return _STAMP.sub("", compose_items(inp, fig_paths, paper_dir, extra).text)


def compose_items(inp: PaperInputs, fig_paths: Mapping[str, Path], paper_dir: str | Path,
                  extra: tuple[str, ...] = (), rec: Any = None) -> Composed:
    """The paper as Markdown with stamp placeholders, and the values of every table.

    ``rec``: an active :class:`nrm.provenance.Recorder` that already holds the tables of the
    ``extra`` sections (their table markers index into it); None: one is opened here.
    """
    from nrm.provenance import recording

    rel = {k: os.path.relpath(v, paper_dir) for k, v in fig_paths.items()}
    if rec is None:
        with recording() as own:
            text = _compose_text(inp, rel, extra)
        frames = own.frames
    else:
        text = _compose_text(inp, rel, extra)
        frames = rec.frames
    text, tables = _attach_tables(_stamp_figures(text), frames)
    text = _number_tables(text)
    return Composed(text, tables, _items(text))


def _compose_text(inp: PaperInputs, rel: Mapping[str, str], extra: tuple[str, ...] = ()) -> str:
    from nrm.render.reference_section import section as reference_section

    parts = [
        _title(inp),
        _summary(inp),
        _methods(inp),
        _variance(inp, rel),
        _hypotheses(inp, rel),
        _optimization(inp, rel),
        _population(inp, rel),
        _ledger(inp, rel),
        _verdict(inp),
        _limitations(inp),
        _reproducibility(inp),
        *extra,
    ]
    numbers = [int(n) for p in parts for n in re.findall(r"(?m)^## (\d+)\.", p)]
    parts.append(reference_section(inp, number=max(numbers, default=0) + 1))
    return "\n".join(p.rstrip() + "\n" for p in parts)


_TABLE_REF = re.compile(r"\[\[([a-z0-9_]+)\]\]")


def _number_tables(text: str) -> str:
    """Replace ``[[key]]`` by table numbers, in the order the captions (``*Table [[key]].``)
    appear; a reference to a table without a caption is an error."""
    order: dict[str, int] = {}
    for key in re.findall(r"\*Table \[\[([a-z0-9_]+)\]\]\.", text):
        order.setdefault(key, len(order) + 1)

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in order:
            raise LogError(f"the paper refers to table {m.group(1)!r}, which has no caption")
        return str(order[m.group(1)])

    return _TABLE_REF.sub(sub, text)


def _title(inp: PaperInputs) -> str:
    sc = get_scale(inp.scale)
    return (
        "# Runtime variance in a long Python simulation, re-measured\n\n"
        "*A reproducible re-run of the NRM experiments C255–C260 and a test of the runtime "
        "hypotheses of \"Memory Fragmentation as Runtime Variance Source in Extended Python "
        "Simulations\".*\n\n"
        f"Scale **{inp.scale}**: {sc.description}. Generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `make paper SCALE={inp.scale}`; "
        "every number below is read from a file this build wrote.\n"
    )


def _n_text(n: Any) -> str:
    """The study's n: '205 runs', or 'n = 5 blocks' for one arm, '5 blocks x 6 arms' for
    several with the same n ('arm=5, arm=4' otherwise)."""
    text = str(n)
    if "=" not in text:
        return f"n = {text} runs"
    parts = [p.rsplit("=", 1) for p in text.split(", ")]
    values = {v.strip() for _, v in parts}
    if len(values) == 1:
        v = values.pop()
        return f"n = {v} blocks" + (f" x {len(parts)} arms" if len(parts) > 1 else "")
    return "n: " + text


def _study_h_text(inp: PaperInputs) -> str:
    sv = inp.study_verdicts
    return "; ".join(f"{r['hypothesis']} {r['verdict']} ({_n_text(r['n'])})"
                     for _, r in sv.iterrows())


def _repeated_bullets(inp: PaperInputs) -> str:
    """The Summary's lead: the headline comparisons and H1-H5 as the study repeated them."""
    rep = inp.study
    if not rep:
        return ("*No causal study was analysed at this scale, so every number below rests on "
                "one run per experiment (n = 1), like the paper's; `make paper` runs the study "
                "(Section 10).*\n\n")
    out = ("**Repeated** (the causal study, Section 10: each run in its own fresh process, in "
           "randomized interleaved blocks, read against an A/A arm; n = paired blocks):\n\n")
    for key in ("variance", "speedup_same", "speedup_design"):
        if key in rep:
            out += f"* {rep[key].label}: {rep[key].text()}.\n"
    if not inp.study_verdicts.empty:
        out += f"* The runtime hypotheses, tested by the study's arms: {_study_h_text(inp)}.\n"
    return out + "\n**Single runs** (one run per experiment, n = 1, as in the paper):\n\n"


def _summary(inp: PaperInputs) -> str:
    s = inp.phase1a["summary"].iloc[0]
    base, slow = inp.run_row(R.BASELINE), inp.run_row(R.SLOW)
    sm = inp.phase1b["summary"].set_index("comparison")
    same, design = sm.loc["same_experiment"], sm.loc["paper_design"]
    v = inp.phase1a["hypotheses"].set_index("hypothesis")["verdict"]
    direction = "longer" if float(s["variance_pct"]) > 0 else "shorter"
    verdicts = "; ".join(f"{h} {v[h]}" for h in v.index)
    held = {"holds": "held", "does not hold": "did not hold",
            "undecided": "is undecided (its 95 % interval contains the threshold)"}[
        _prediction_verdict(same)]
    k = inp.claims.key_numbers()
    return (
        _h("Summary")
        + "\nThe paper reports that an unoptimized run of experiment C256 took "
        f"{num(k.get('cutoff_reading'))} h against a {num(k.get('baseline'))} h expectation "
        "taken from C255, attributes the excess to pymalloc memory fragmentation, and predicts "
        f"a {num(k.get('speedup_lo'))}–{num(k.get('speedup_hi'))}-fold speedup from caching the "
        "system metrics. "
        "We rebuilt the simulator from its specification, re-ran all six experiments on this "
        "machine with a per-cycle probe (wall and CPU time, memory, arenas, garbage collector, "
        "I/O, load, metrics samples, SQLite commits), applied the paper's own tests, and "
        "repeated the comparisons that decide its claims in a randomized design calibrated "
        "against the machine's own noise.\n\n"
        + _repeated_bullets(inp)
        + f"* C256 unoptimized ran {duration(slow['runtime_s'])} against "
        f"{duration(base['runtime_s'])} for C255: a runtime {pct(s['variance_pct'])} "
        f"({direction}) relative to the C255 baseline (n = 1).\n"
        f"* The runtime hypotheses on C256 (rules in Table [[rules]]; n = 1 run): {verdicts}.\n"
        f"* Caching the metrics (same experiment, C256) gave a speedup of "
        f"{num(same['speedup'])}× (n = 1 run per arm; 95 % CI over its cycles "
        f"{num(same['ci_low'])}–{num(same['ci_high'])}); the "
        f"paper's design, C256 against C257–C260, gives {num(design['speedup'])}×. The paper's "
        f"falsifiable prediction ({_prediction_label(inp).split(': ', 1)[-1]}) {held} "
        f"for the same-experiment comparison (reduction {pct(same['variance_reduction_pct'])}, "
        f"95 % CI {num(same['variance_reduction_ci_low'])} to "
        f"{num(same['variance_reduction_ci_high'])} %, Levene p {_p(same['levene_p'])}; "
        "n = 1 run per arm, its cycles the sample).\n"
        "* The paper's runtime figures trace back to mis-read `ps` snapshots and estimates, and "
        "its figures were mock-ups generated without data (Section 6).\n"
    )


def _repeated_note(inp: PaperInputs, *keys: str) -> str:
    """' Repeated in the causal study: ...' for the comparisons ``keys`` (or why not)."""
    rep = inp.study
    got = [rep[k] for k in keys if k in rep]
    if not got:
        return (" This is one run per arm (n = 1); no causal study was analysed at this scale "
                "to repeat it.")
    return (" That is one run per arm (n = 1). Repeated in the causal study (Section 10, Table "
            "[[headline]]): " + "; ".join(f"{r.label}, {r.text()}" for r in got) + ".")


def _machine(inp: PaperInputs) -> str:
    ctx = inp.slow.meta.get("context") or {}
    py = ctx.get("python", {})
    cpu = ctx.get("cpu", {})
    os_ = ctx.get("os", {})
    alloc = ctx.get("allocator", {})
    git = ctx.get("git") or {}
    mem = ctx.get("memory_total_bytes")
    return (
        f"Machine: {cpu.get('model', '?')} ({cpu.get('logical', '?')} logical cores"
        f"{', virtualised' if cpu.get('hypervisor') else ''}), "
        f"{num(mem / 2**30) + ' GiB RAM' if mem else 'RAM unknown'}, "
        f"{os_.get('distribution') or os_.get('system', '?')} (kernel {os_.get('release', '?')}), "
        f"{py.get('implementation', 'Python')} {py.get('version', '?')}, allocator "
        f"{alloc.get('name', '?')} over {alloc.get('c_malloc', '?')}; code at git commit "
        f"`{str(git.get('commit', 'unknown'))[:12]}`"
        f"{' (with uncommitted changes)' if git.get('dirty') else ''}."
    )


def _methods(inp: PaperInputs) -> str:
    runs = inp.phase1a["runs"].copy()
    from nrm.sim.experiments import get_experiment

    runs["paper ran it"] = [get_experiment(e).paper_variant for e in runs["experiment"]]
    runs["paper: cycles × agents"] = [
        f"{get_experiment(e).cycles} × {get_experiment(e).max_agents}" for e in runs["experiment"]
    ]
    cols = {
        "run": "run", "mechanisms": "mechanisms",
        "paper ran it": "paper ran this experiment (paper)",
        "paper: cycles × agents": "paper: cycles × agents (paper)",
        "cycles_per_condition": "cycles per condition", "max_agents": "agents (max)",
        "metrics": "metrics", "cpu_interval_s": "CPU sample blocks (s)",
        "runtime_s": "runtime (s)", "cpu_s": "CPU time (s)", "samples": "metrics samples",
        "commits": "SQLite commits", "mean_population": "mean population",
    }
    tab = runs[list(cols)].rename(columns=cols)
    rules = inp.phase1a["rules"].copy()
    if "rule" in rules:
        rules["rule"] = [RULE_LABELS.get(str(r), str(r).replace("_", " ")) for r in rules["rule"]]
    crashed = runs[runs["crashed_conditions"] > 0] if "crashed_conditions" in runs else runs[:0]
    crash_note = (
        "In no condition of these runs did every member of a registry cluster die, so none "
        "would have hit the original code's division by zero (which aborted a whole experiment)."
        if crashed.empty else
        "In " + ", ".join(f"{r.run} ({int(r.crashed_conditions)} condition(s))"
                          for r in crashed.itertuples())
        + " a registry cluster lost every member: the original code divides by zero there and "
        "aborts the whole experiment, so its results would not exist. These runs skipped such "
        "clusters and went on; run.json records the first cycle at which the original would "
        "have stopped (`crash_cycle`)."
    )
    return (
        _h("1. What was run")
        + "\nThe model is the NRM multi-agent simulator as the original scripts ran it: agents "
        "with phase states drawn from live system metrics, a bridge of three oscillators, "
        "pairwise resonance tests that form clusters in a registry that is never cleared, and "
        "four mechanisms switched on and off in 2×2 factorial experiments (`pooling`, `sources`, "
        "`throttling`, `recovery`; conditions OFF-OFF, ON-OFF, OFF-ON, ON-ON run in order in one "
        "process). The *unoptimized* preset keeps every cost of the original: a system-metrics "
        "sample on every agent evolve call, spawn and bonus, each written to SQLite with its "
        "own connection and commit, one SQLite row per tested pair, recursive evolution of every "
        "child ever spawned, and a cumulative cluster registry. The *optimized* preset is the "
        "paper's description of its optimization: one cached sample per cycle, nothing else "
        "changed. *Lean* turns every cost off (a different model, shown for reference).\n\n"
        f"Scale `{inp.scale}` ({get_scale(inp.scale).description}). Each run is a separate "
        "process-level run, executed one after another so that no two runs compete for the "
        "cores. The paper's own parameters are shown beside ours (labelled *paper*).\n\n"
        f"*Table [[runs]]. The runs of this build. {inp.source('phase1a/runs')}*\n\n"
        f"{table(tab)}\n\n"
        f"{_machine(inp)}\n\n{crash_note}\n\n"
        "The runtime hypotheses are tested under one declared rule set (the paper's scripts "
        "carry five mutually inconsistent ones); p-values are autocorrelation-robust where the "
        "rule says so:\n\n"
        f"*Table [[rules]]. The rule set for H1–H5. {inp.source('phase1a/rules')}*\n\n"
        f"{table(rules)}\n"
    )


def _claims_by_id(inp: PaperInputs, measured: Mapping[str, Any] | None = None) -> pd.DataFrame:
    return inp.claims.ledger(measured=measured).set_index("claim_id")


def _variance(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    s = inp.phase1a["summary"].iloc[0]
    ms = inp.phase1a["milestones"]
    pred = inp.phase1a["prediction"]
    led = _claims_by_id(inp, measured_claims(inp))
    head = pd.DataFrame([
        {"quantity": led.loc[cid, "quantity"], "paper (reported)": led.loc[cid, "paper_value"],
         "paper, recomputed from its sources": led.loc[cid, "recomputed"],
         "this machine (measured)": led.loc[cid, "measured_here"]}
        for cid in ("T1.c255_20h", "T1.c256_34h", "T1.var_72", "abs.var73", "T1.accel_356",
                    "s3.1.accel_nonlinear")
    ])
    paper = inp.claims.corrected_table1(display=True)[
        ["phase", "paper_time", "paper_variance", "paper_rate", "ps_reading", "cpu_min",
         "wall_h", "elapsed_vs_c255_pct", "note"]].rename(columns={
            "phase": "phase (paper)", "paper_time": "time (paper)",
            "paper_variance": "variance (paper)", "paper_rate": "'acceleration' (paper)",
            "ps_reading": "ps reading behind it", "cpu_min": "CPU-minutes (recomputed)",
            "wall_h": "implied wall time, h (recomputed)",
            "elapsed_vs_c255_pct": "elapsed vs C255, % (recomputed)", "note": "note"})
    mt = human(ms, {"fraction": "fraction of run"})
    inc = ms["increment_pct_per_h"].dropna()
    meaningful = rate_meaningful(float(s["expected_s"]))
    if meaningful:
        mt["increment rate (%/h)"] = [num(v) if pd.notna(v) else "— (no earlier milestone)"
                                      for v in mt["increment rate (%/h)"]]
        rates = (f"Between milestones the increment rate {trend(list(inc))} "
                 f"({', '.join(num(x) for x in inc)} %/h).")
    else:
        short = _too_short(float(s["expected_s"]))
        for col in ("paper-style rate (%/h)", "increment rate (%/h)"):
            mt[col] = short
        rates = (f"Rates per hour are not given: the baseline run lasted "
                 f"{duration(s['expected_s'])}, and a change of a few per cent in seconds, "
                 "scaled up to an hour, says nothing about how a run of hours behaves; the "
                 "variance at each milestone is in Table [[milestones]].")
    best = pred.loc[pred["error_pct"].abs().idxmin()]
    return (
        _h("2. Runtime variance")
        + "\nThe paper measures variance as the excess of C256's runtime over C255's, and "
        "reads an \"acceleration\" from the cumulative variance divided by the expected hours. "
        "That ratio rises whenever a run is late, whatever the trend, so we show it beside the "
        "increment of the variance between consecutive milestones, which is what a change of "
        "rate would have to mean. Milestones are fractions of the run, so runs of any length "
        "share one table.\n\n"
        f"On this machine C256 took {num(s['actual_s'])} s against an expected "
        f"{num(s['expected_s'])} s ({s['expected_from']}): variance "
        f"{pct(s['variance_pct'])}.{_repeated_note(inp, 'variance')} {rates}\n\n"
        "*Table [[variance]]. Runtime variance: the paper's reported value, the same value "
        "recomputed from the paper's own sources (`data/reference/`), and this machine's "
        "measurement. "
        f"{inp.source('data/reference/paper_claims.csv', 'phase1a/summary')}*\n\n"
        f"{table(head)}\n\n"
        "*Table [[milestones]]. Runtime variance at milestones of C256, this machine "
        f"(measured). {inp.source('phase1a/milestones')}*\n\n"
        f"{table(mt)}\n\n"
        "*Table [[table1]]. The paper's Table 1 (reported), with the `ps` reading behind each "
        "number read in its real unit (CPU minutes) and the wall time it implies (recomputed). "
        f"{inp.source('data/reference/paper_table1.csv', 'data/reference/ps_snapshots.csv')}*"
        f"\n\n{table(paper)}\n\n"
        f"The paper suggests that the {led.loc['s4.2.early_phase', 'paper_value']} of a run "
        "predicts its variance (it fitted no model). The best early prediction here "
        f"({best['method']}, from "
        f"{num(100 * best['fraction'])} % of the cycles) misses C256's total by "
        f"{pct(best['error_pct'])}.\n\n"
        "*Table [[prediction]]. Early prediction of C256's total runtime (measured). "
        f"{inp.source('phase1a/prediction')}*\n\n"
        f"{table(human(pred))}\n\n"
        + _fig("runtime_timeline", rel, 1,
               "Runtime of every run of this build. (a) Wall-clock time since the start of the "
               "run against the cycle, log scale. (b) Per-cycle wall time of C255 and C256 "
               "unoptimized, every cycle (thin) and a rolling mean (thick), one colour per run "
               "as in the legend; dotted lines mark the start of each condition. "
               + _runs_source(inp, list(inp.runs)))
    )


def _hypotheses(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    hyp = inp.phase1a["hypotheses"].copy()
    hyp["paper's claim (paper)"] = [PAPER_STANCE.get(h, "—") for h in hyp["hypothesis"]]
    cols = ["hypothesis", "name", "paper's claim (paper)", "criterion", "verdict", "evidence"]
    t = hyp[cols].rename(columns={"verdict": "verdict here (measured, one run: n = 1)"})
    byrun = inp.phase1a["verdicts_by_run"].pivot(index="run", columns="hypothesis",
                                                 values="verdict").reset_index()
    byrun = byrun[["run", *[h for h in ("H1", "H2", "H3", "H4", "H5") if h in byrun]]]
    paper_row = {"run": "paper's claim (paper)",
                 **{h: PAPER_STANCE.get(h, "—").split(",")[0] for h in byrun.columns
                    if h != "run"}}
    byrun = pd.concat([pd.DataFrame([paper_row]), byrun], ignore_index=True)
    byrun.columns = [c if c == "run" else f"{c} (measured)" for c in byrun.columns]
    return (
        _h("3. Runtime hypotheses H1–H5")
        + "\nThe paper names five possible mechanisms of its slowdown: H1 resource contention, "
        "H2 memory fragmentation, H3 I/O accumulation, H4 thermal throttling and H5 emergent "
        "complexity. It ranks H2 first on the strength of a blog post and calls H2 and H3 "
        "validated by a speedup it never measured. We test each on C256's per-cycle log with "
        "the rules of Table [[rules]]; a hypothesis is *not testable* when this machine does not "
        "expose the quantity (for example a CPU temperature sensor in a virtual machine) or "
        "the run is too short for the test. These verdicts rest on one run (n = 1); the "
        "causal study decides H1–H5 again from repeated arms (Section 10), and Section 7 "
        "files each claim by the study's verdict where there is one.\n\n"
        "*Table [[hypotheses]]. H1–H5 on C256 unoptimized: the paper's claim beside this "
        f"machine's verdict. {inp.source('phase1a/hypotheses')}*\n\n{table(t)}\n\n"
        "*Table [[byrun]]. H1–H5 verdicts on every run of this build (first row: the paper's "
        f"claim). {inp.source('phase1a/verdicts_by_run')}*\n\n{table(byrun)}\n\n"
        + _fig("hypothesis_tests", rel, 2,
               "The quantity behind each runtime hypothesis on C256 unoptimized. H1: load "
               "average and system CPU utilisation against time; H2: resident set size and the "
               "unused share of pymalloc arena memory against the cycle, with linear and "
               "quadratic least-squares fits; H3: time per metrics sample against the "
               "cumulative number of samples; H4: CPU frequency (and temperature where a "
               "sensor exists) against time; H5: per-cycle wall time (blue) with the one "
               "whole-run least-squares line that the H5 test fits (red, its slope in the "
               "legend). Fitted lines: linear red, quadratic green dashed; on twin axes each "
               "axis label has its series' colour. "
               + _runs_source(inp, [R.SLOW]))
    )


def _optimization(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    sm = inp.phase1b["summary"].set_index("comparison")
    same, design = sm.loc["same_experiment"], sm.loc["paper_design"]
    led = _claims_by_id(inp)
    slow = inp.run_row(R.SLOW)
    opt_names = R.COMPARISONS["paper_design"][1]
    rows = [
        ("speedup of the optimized runs", led.loc["s3.3.speedup", "paper_value"],
         f"{num(same['speedup'])}× [{num(same['ci_low'])}, {num(same['ci_high'])}]",
         f"{num(design['speedup'])}× [{num(design['ci_low'])}, {num(design['ci_high'])}]"),
        ("reduction of metrics samples", led.loc["s2.4.call_reduction_90x", "paper_value"],
         f"{num(same['sample_call_reduction'])}×", f"{num(design['sample_call_reduction'])}×"),
        ("metrics samples per cycle, unoptimized", led.loc["s2.1.calls_per_cycle", "paper_value"],
         f"{num(slow['samples_per_cycle'])}", f"{num(slow['samples_per_cycle'])}"),
        ("runtime of an optimized run", led.loc["s2.1.opt_runtime", "paper_value"],
         duration(inp.run_row("C256-optimized")["runtime_s"]),
         duration(sum(float(inp.run_row(n)["runtime_s"]) for n in opt_names) / len(opt_names))
         + " (mean)"),
        (_prediction_label(inp), "optimization eliminates the variance (§2.4, §4.1)",
         _prediction_cell(same), _prediction_cell(design)),
    ]
    t = pd.DataFrame(rows, columns=[
        "quantity", "paper (predicted)", "C256 unopt. vs C256 opt. (measured)",
        "C256 unopt. vs C257–C260 opt. (measured)"])
    detail = inp.phase1b["same_experiment"][["statistic", "value", "ci_low", "ci_high",
                                             "p_value", "note"]]
    detail = detail.assign(ci_low=detail["ci_low"].map(_dash), ci_high=detail["ci_high"].map(_dash),
                           p_value=detail["p_value"].map(lambda p: _dash(p, _p)),
                           note=detail["note"].fillna("").map(lambda x: x or "—"))
    return (
        _h("4. Optimization impact")
        + "\nThe paper's optimization test compares C256 (unoptimized) with C257–C260 "
        "(optimized), which are different experiments: any difference mixes the optimization "
        "with the mechanisms each experiment switches on. We report that comparison and a "
        "same-experiment one (C256 run both ways). Intervals (in brackets) are 95 % "
        "moving-block bootstrap intervals over consecutive cycles; the t and Levene p-values "
        "treat cycles as independent.\n\n"
        "*Table [[optimization]]. Optimization impact: the paper's prediction beside this "
        f"machine's measurements. {inp.source('phase1b/summary', 'phase1a/runs')}*\n\n"
        f"{table(t)}\n\n"
        f"Same experiment: speedup {num(same['speedup'])}×, variance reduction "
        f"{pct(same['variance_reduction_pct'])} (95 % interval "
        f"{num(same['variance_reduction_ci_low'])} to {num(same['variance_reduction_ci_high'])}"
        f" %), coefficient of variation "
        f"{'reduced' if same['cv_reduction_pct'] > 0 else 'increased'} by "
        f"{num(abs(same['cv_reduction_pct']))} %. A smaller variance after a speedup is "
        "expected from the change of scale alone; the coefficient of variation shows whether "
        "the spread *relative to the mean* shrank."
        f"{_repeated_note(inp, 'speedup_same', 'speedup_design')}\n\n"
        "*Table [[comparison]]. Every statistic of the same-experiment comparison (measured). "
        f"{inp.source('phase1b/same_experiment')}*\n\n"
        f"{table(human(detail))}\n\n"
        + _fig("optimization_impact", rel, 3,
               "Optimization impact. Colours mark the cost preset (legend): red unoptimized, "
               "blue optimized, green lean. (a) Distribution of per-cycle wall time of every "
               "run, log scale (box: quartiles, whiskers: 1.5 × IQR, dots: cycles beyond). "
               "(b) Total cycle time per run, log scale. (c) Speedup of the mean per-cycle "
               "time, unoptimized over optimized (dot), with 95 % block-bootstrap intervals "
               "(bars); the dotted line is no speedup. "
               + _runs_source(inp, list(inp.runs)) + " "
               + inp.source("phase1b/summary"))
    )


def _dash(v: Any, fmt: Any = None) -> str:
    """``fmt(v)`` for a number, '—' when missing; without ``fmt``, :func:`num` at 4 digits."""
    if fmt is None:
        return num(v, 4)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—" if v is None else str(v)
    return "—" if math.isnan(x) else fmt(x)


#: The paper's prediction: variance reduction above this many per cent (§2.4).
PREDICTION_THRESHOLD = 80.0


def _prediction_label(inp: PaperInputs) -> str:
    row = R.stat(inp.phase1b["same_experiment"], "prediction")
    return str(row["statistic"]).replace("paper's prediction: ", "prediction: ")


def _prediction_verdict(row: pd.Series) -> str:
    """holds / does not hold / undecided (decided by the variance reduction's 95 % CI)."""
    v = row.get("prediction_verdict")
    if isinstance(v, str) and v in VERDICTS:
        return v
    return threshold_verdict(float(row["variance_reduction_pct"]),
                             float(row["variance_reduction_ci_low"]),
                             float(row["variance_reduction_ci_high"]), PREDICTION_THRESHOLD,
                             p=float(row["levene_p"]))


def _prediction_cell(row: pd.Series) -> str:
    return (f"{_prediction_verdict(row)}: reduction {pct(row['variance_reduction_pct'])} "
            f"(95 % CI {num(row['variance_reduction_ci_low'])} to "
            f"{num(row['variance_reduction_ci_high'])} %), Levene p {_p(row['levene_p'])}")


def _population(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    cd = inp.phase1a["cost_drivers"]
    slow = cd[cd["run"] == R.SLOW].copy()
    slow = slow.rename(columns={"quantity": "per-cycle quantity", "spearman_rho": "Spearman ρ"})
    if len(slow):
        top = slow.loc[slow["Spearman ρ"].abs().idxmax()]
        lead = (f"In C256 the per-cycle time follows `{top['per-cycle quantity']}` most closely "
                f"(Spearman ρ = {num(top['Spearman ρ'])}).")
    else:
        lead = "No per-cycle quantity of C256 varied enough to be correlated with its time."
    return (
        _h("5. Population dynamics and per-cycle cost")
        + "\nThe paper links its slowdown to the model's emergent complexity (H5). The "
        "per-cycle cost of the unoptimized model is set by the work a cycle does: every evolve "
        "call samples the system and writes a row, and recursive evolution makes the number of "
        f"calls grow with every child ever spawned. {lead}\n\n"
        "*Table [[drivers]]. Spearman correlation of per-cycle wall time with per-cycle "
        "quantities, C256 unoptimized (measured; the paper reports none). "
        f"{inp.source('phase1a/cost_drivers')}*\n\n"
        f"{table(human(slow[['per-cycle quantity', 'n', 'Spearman ρ', 'p']]))}\n\n"
        + _fig("population_cost", rel, 4,
               "Population and per-cycle cost of C256 unoptimized. (a) Agents alive (green, "
               "left axis) and per-cycle wall time (blue, right axis; thin every cycle, thick a "
               "rolling mean) against the cycle. (b) Per-cycle wall time against the number of "
               "agent evolve calls in the cycle, one colour per condition (legend). "
               + _runs_source(inp, [R.SLOW]))
    )


def _snapshot_caption() -> str:
    from nrm.claims.figure import CAPTION

    return CAPTION


LEDGER_SHOWN = {"claim_id": "claim", "quantity": "quantity", "paper_value": "paper value",
                "provenance": "provenance", "recomputed": "recomputed from its sources",
                "status": "status", "measured_here": "this machine (measured)"}


def _ledger(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    c = inp.claims
    led = c.ledger(measured=measured_claims(inp))
    counts = led["status"].value_counts()
    shown = led[list(LEDGER_SHOWN)].rename(columns=LEDGER_SHOWN)
    snaps = c.snapshot_table(display=True)[
        ["run", "label", "wall_as_noted", "cpu_as_printed", "cpu_min", "cpu_min_per_wall_h",
         "idle_pct", "read_in_notes_as", "rate_check"]].rename(columns={
            "wall_as_noted": "wall time noted", "cpu_as_printed": "ps TIME as printed",
            "cpu_min": "CPU-minutes", "cpu_min_per_wall_h": "CPU-min per wall-hour",
            "idle_pct": "off the CPU (%)", "read_in_notes_as": "read in the notes as",
            "rate_check": "rate check"})
    n_measured = int((led["measured_here"] != c.NOT_MEASURED).sum())
    mockups = led.set_index("claim_id").loc["fig.mockups", "paper_value"]
    return (
        _h("6. Claims ledger")
        + "\nEach claim of the paper (and a few facts from its archive that bear on them), "
        "where its number came from, what it becomes when recomputed from its own sources "
        f"(`data/reference/`, labelled as the paper's), and, for {n_measured} of the "
        f"{len(led)} claims, this machine's counterpart. Status: "
        + ", ".join(f"{int(counts.get(k, 0))} {k}" for k in c.STATUSES)
        + ". The measured counterparts come from runs at scale "
        f"`{inp.scale}`, so their magnitudes are not the paper's unless the scale is `full`.\n\n"
        f"The paper's figures ({mockups}) were mock-ups: a generator drew typed-in literals "
        "and seeded random numbers and labelled them as simulated data awaiting C256's "
        "completion. We do not reproduce them or treat them as evidence; every "
        "figure here is drawn from logged data.\n\n"
        "*Table [[ledger]]. Claims ledger; the last column from this build's analysis tables. "
        f"{inp.source('data/reference/paper_claims.csv', 'data/reference/archive_values.csv')}"
        f"*\n\n{table(shown)}\n\n"
        "*Table [[snapshots]]. The `ps` snapshots of the original runs recorded in the paper's "
        "archive (paper's data), read in their real units (recomputed). "
        f"{inp.source('data/reference/ps_snapshots.csv')}*\n\n{table(snaps)}\n\n"
        + _fig("claims_snapshots", rel, 5, _snapshot_caption().rstrip()
               + " Data: `data/reference/ps_snapshots.csv`.")
        + f"\n**What the original evidence can and cannot support.** {c.evidence_statement()}"
        "\n\nIn short: the archive shows that C256 ran for many hours, mostly asleep or waiting "
        "for I/O, and never finished. It does not contain a completed runtime, a variance, an "
        "acceleration, a mechanism or a speedup, because none of these was measured; the one "
        "quantitative comparison the paper makes divides CPU minutes by wall-clock hours.\n"
    )


def _headline_table(inp: PaperInputs) -> str:
    """Table [[headline]]: the paper's number, this build's single run, and the repeats."""
    rep = inp.study
    if not rep:
        return ""
    k = inp.claims.key_numbers()
    s = inp.phase1a["summary"].iloc[0]
    sm = inp.phase1b["summary"].set_index("comparison")
    single = {"variance": f"{pct(s['variance_pct'])}",
              "speedup_same": f"{num(sm.loc['same_experiment', 'speedup'])}×",
              "speedup_design": f"{num(sm.loc['paper_design', 'speedup'])}×"}
    paper = {"variance": f"{pct(k.get('var_cutoff'))}",
             "speedup_same": f"{num(k.get('speedup_lo'))}–{num(k.get('speedup_hi'))}× "
                             "(predicted)",
             "speedup_design": f"{num(k.get('speedup_lo'))}–{num(k.get('speedup_hi'))}× "
                               "(predicted)"}
    rows = []
    for key, r in rep.items():
        rows.append({"comparison": r.label, "paper (reported)": paper[key],
                     "this build, one run (n = 1)": single[key],
                     "repeated (measured)": r.value_text(), "n (blocks)": r.n,
                     "95 % CI": r.range_text(r.lo, r.hi),
                     "A/A noise band": r.range_text(r.band_lo, r.band_hi),
                     "verdict": r.finding})
    src = inp.source(inp.rel(Path(inp.study_dir or ".") / "headline.csv"), "phase1a/summary",
                     "phase1b/summary", "data/reference/paper_claims.csv")
    return ("*Table [[headline]]. The paper's headline comparisons: the paper's number, this "
            "build's single run, and the causal study's repeats (runs at the study's scale, "
            "Section 10; cycle time over the cycles both arms ran). "
            f"{src}*\n\n{table(pd.DataFrame(rows))}\n\n")


def _study_size(inp: PaperInputs, rep: Any) -> str:
    """' (at most 10 agents, 10 cycles per condition)' for a repeated comparison."""
    import json

    try:
        from nrm.run.scales import get_study_scale

        summary = json.loads((Path(inp.study_dir or ".") / "study_summary.json")
                             .read_text(encoding="utf-8"))
        agents = get_study_scale(str(summary.get("scale"))).max_agents
    except (OSError, ValueError, NrmError):
        return ""
    cycles = "" if not math.isfinite(rep.cycles) else f", {int(rep.cycles)} cycles per condition"
    return f" (at most {agents} agents{cycles})"


def _verdict(inp: PaperInputs) -> str:
    s = inp.phase1a["summary"].iloc[0]
    v = inp.phase1a["hypotheses"].set_index("hypothesis")["verdict"]
    sm = inp.phase1b["summary"].set_index("comparison")
    same = sm.loc["same_experiment"]
    slow = inp.run_row(R.SLOW)
    k = inp.claims.key_numbers()
    rep = inp.study
    sv = (inp.study_verdicts.set_index("hypothesis") if not inp.study_verdicts.empty
          else pd.DataFrame())
    supported: list[str] = []
    contradicted: list[str] = []
    undecided: list[str] = []
    noise: list[str] = []
    untestable: list[str] = []
    var = rep.get("variance")
    claim = f"that C256 takes longer than C255 (the paper: {pct(k.get('var_cutoff'))})"
    if var is not None and var.testable:
        text = (f"{claim}: repeated, {var.text()}; one run here: {pct(s['variance_pct'])} "
                "(n = 1); C255 and C256 are different experiments")
        (noise if var.within_noise else supported if var.value > 0 else contradicted).append(text)
    else:
        (supported if float(s["variance_pct"]) > 0 else contradicted).append(
            f"{claim}: here {pct(s['variance_pct'])} (one run, n = 1; not repeated at this "
            "scale); note that C255 and C256 are different experiments")
    for h, name in (("H2", "memory fragmentation (H2), the paper's primary mechanism"),
                    ("H3", "I/O accumulation (H3)"), ("H5", "emergent complexity (H5)"),
                    ("H1", "resource contention (H1)"), ("H4", "thermal throttling (H4)")):
        single = str(v.get(h, "not testable"))
        if h in sv.index:
            r = sv.loc[h]
            text = (f"{name}: {r['verdict']} in the study ({r['statistic']}; 95 % CI {r['ci']}; "
                    f"n {r['n']}; deciding arms: {r['deciding_arms']}); one run, n = 1: "
                    f"{single}")
            {"supported": supported, "refuted": contradicted, "within noise": noise}.get(
                str(r["verdict"]), untestable).append(text)
        elif single == "supported":
            supported.append(f"{name}: supported under the declared rules (one run, n = 1)")
        elif single == "not supported":
            contradicted.append(f"{name}: not supported under the declared rules (one run, "
                                "n = 1)")
        else:
            untestable.append(f"{name}: {single} (one run, n = 1; no study verdict)")
    sp = float(same["speedup"])
    lo, hi = k.get("speedup_lo", math.nan), k.get("speedup_hi", math.nan)
    rs = rep.get("speedup_same")
    if rs is not None and rs.testable:
        text = (f"that caching the metrics speeds the model up: repeated, {rs.text()}; one run "
                f"here: {num(sp)}× (n = 1)")
        (noise if rs.within_noise else supported if rs.value > 1 else contradicted).append(text)
        overlap = rs.hi >= lo and rs.lo <= hi
        (supported if overlap else contradicted).append(
            f"a {num(lo)}–{num(hi)}× speedup: repeated, {num(rs.value)}× (95 % CI "
            f"{num(rs.lo)}–{num(rs.hi)}×, n = {rs.n}) at the study's scale"
            f"{_study_size(inp, rs)}; a speedup from caching grows with the samples per cycle "
            "(with the number of agents) and with the cost of one sample (the paper's 0.1 s "
            "blocking CPU sample is scaled down here)")
    else:
        (supported if float(same["ci_low"]) > 1 else contradicted).append(
            f"that caching the metrics speeds the model up: {num(sp)}× here (one run per arm, "
            f"n = 1; 95 % interval over its cycles {num(same['ci_low'])}–"
            f"{num(same['ci_high'])})")
        overlap = float(same["ci_high"]) >= lo and float(same["ci_low"]) <= hi
        (supported if overlap else contradicted).append(
            f"a {num(lo)}–{num(hi)}× speedup: {num(sp)}× here (n = 1); a speedup from caching "
            f"grows with the samples per cycle ({num(slow['samples_per_cycle'])} here, with at "
            f"most {int(slow['max_agents'])} agents) and with the cost of one sample")
    pred_verdict = _prediction_verdict(same)
    pred_text = (f"the paper's falsifiable prediction ({_prediction_label(inp).split(': ', 1)[-1]}"
                 f"): {pct(same['variance_reduction_pct'])} (95 % CI "
                 f"{num(same['variance_reduction_ci_low'])} to "
                 f"{num(same['variance_reduction_ci_high'])} %), p {_p(same['levene_p'])}; one "
                 "run per arm (n = 1), its cycles the sample")
    if pred_verdict == "holds":
        supported.append(pred_text)
    elif pred_verdict == "does not hold":
        contradicted.append(pred_text)
    else:
        undecided.append(pred_text + "; the interval contains the threshold")
    basis = ("Each claim is filed by the causal study's repeated measurement where the study "
             "tested it (Section 10; n and 95 % CI given), else by this build's single runs "
             "(n = 1)." if rep or not sv.empty else
             "No causal study was analysed at this scale: every verdict here rests on one run "
             "per experiment (n = 1), which cannot tell an effect from run-to-run noise.")
    out = (_h("7. What this machine's runs support and contradict")
           + f"\nAt scale `{inp.scale}`, on this machine. {basis}\n\n"
           + _headline_table(inp)
           + "**Consistent with the paper here:**\n\n"
           + ("".join(f"* {x}\n" for x in supported) or "* nothing\n")
           + "\n**Not supported or contradicted here:**\n\n"
           + ("".join(f"* {x}\n" for x in contradicted) or "* nothing\n")
           + ("\n**Within this machine's noise** (the 95 % CI overlaps the A/A band: no "
              "effect can be told from the machine's own spread):\n\n"
              + "".join(f"* {x}\n" for x in noise) if noise else "")
           + ("\n**Undecided here** (the 95 % interval contains the threshold):\n\n"
              + "".join(f"* {x}\n" for x in undecided) if undecided else ""))
    if untestable:
        out += ("\n**Not testable here** (the quantity is not exposed on this machine, or the "
                "runs are too few or too short; see Table [[hypotheses]] and Section 10):\n\n"
                + "".join(f"* {x}\n" for x in untestable))
    return out


def _limitations(inp: PaperInputs) -> str:
    full = inp.scale == PAPER_SCALE
    paper = get_scale(PAPER_SCALE).runs[0]
    ctx = inp.slow.meta.get("context") or {}
    system = (ctx.get("os") or {}).get("system", "this OS")
    vm = " in a virtual machine" if (ctx.get("cpu") or {}).get("hypervisor") else ""
    return (
        _h("8. Limitations")
        + "\n* "
        + ("This build used the paper's parameters." if full else
           f"This build ran at scale `{inp.scale}`, smaller than the paper's {paper.cycles} "
           f"cycles per condition and {paper.max_agents} agents; absolute runtimes, samples "
           "per cycle and speedups scale with the "
           "number of agents and cycles and are not the paper's magnitudes. "
           "`make paper SCALE=full` runs the paper's parameters (days for the unoptimized "
           "runs).")
        + "\n* The paper's runs (Sections 2–5) are one run per experiment and variant (n = 1, "
        "as in the paper); differences between them include run-to-run noise that a single "
        "run cannot estimate. The causal study repeats the deciding comparisons in fresh "
        "processes against an A/A arm, but at its own, shorter run lengths (Section 10): "
        "its arms with per-row commits or recursive evolution run few cycles, "
        "so they measure the level of those costs, not their growth over a long run.\n"
        "* The simulator is rebuilt from a behavioural specification of the original scripts, "
        "not the original code; C259 is built as designed (sources × recovery), not as the "
        "original script ran it.\n"
        "* The original ran on macOS with databases that had grown across many runs; here the "
        f"databases start empty in each run folder, on {system}{vm}, where CPU "
        "temperature is usually not exposed.\n"
        "* p-values that treat consecutive cycles as independent are optimistic when the "
        "cycles are autocorrelated; the tables say where.\n"
    )


def _reproducibility(inp: PaperInputs) -> str:
    git = (inp.slow.meta.get("context") or {}).get("git") or {}
    runs = "\n".join(f"* `{n}`: `{inp.rel(r.path)}` (status {r.meta.get('status')}, started "
                     f"{r.meta.get('started_at')})" for n, r in inp.runs.items())
    executed = sorted(p.name for p in Path(inp.executed_dir).glob("*.ipynb")
                      if not p.name.startswith(".") and not p.name.endswith(".failed.ipynb"))
    if "render_paper.ipynb" not in executed:
        executed.append("render_paper.ipynb")  # the notebook writing this paper
    return (
        _h("9. Reproducibility")
        + f"\nRebuild this paper: `make paper SCALE={inp.scale}` (a second `make paper` with "
        "nothing changed does nothing). Presets: `nrm scales show`. Re-run one "
        "experiment with other parameters:\n\n"
        "```\n.venv/bin/papermill notebooks/run_experiment.ipynb data/executed/C256-5000.ipynb "
        "-p experiment C256 -p cycles 5000 -p output data/runs/custom/C256-5000\n```\n\n"
        f"Code: git commit `{git.get('commit', 'unknown')}`"
        f"{' with uncommitted changes' if git.get('dirty') else ''}. Run folders:\n\n{runs}\n\n"
        f"Run folders and notebooks are named relative to the build folder (`make paper`'s "
        f"`OUT`). Executed notebooks (`{inp.rel(inp.executed_dir)}`): "
        + (", ".join(f"`{e}`" for e in executed) if executed else "none yet") + ".\n"
    )


# --------------------------------------------------------------------------- html

_IMG = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.I)


def to_html(markdown: str, images: Mapping[str, Path], *, title: str) -> str:
    """Markdown -> one self-contained HTML page (nbconvert, lab template).

    ``images`` maps each image link used in the Markdown to its PNG file; every image is
    embedded as a base64 attachment, and remote scripts (MathJax, require.js, unused here)
    are dropped, so the page needs no network and no other file.
    """
    import nbformat
    from nbconvert import HTMLExporter

    chunks = re.split(r"(?m)^(?=## )", markdown)
    cells = []
    for chunk in chunks:
        attachments: dict[str, dict[str, str]] = {}

        def embed(m: re.Match[str], attachments: dict[str, dict[str, str]] = attachments) -> str:
            link = m.group(2)
            if link not in images:
                raise LogError(f"the paper links {link}, which this build did not draw")
            name = Path(link).name
            data = base64.b64encode(Path(images[link]).read_bytes()).decode("ascii")
            attachments[name] = {"image/png": data}
            return f"![{m.group(1)}](attachment:{name})"

        src = _IMG.sub(embed, chunk)
        cell = nbformat.v4.new_markdown_cell(src)
        if attachments:
            cell["attachments"] = attachments
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"title": title})
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return _REMOTE_SCRIPT.sub("", body).replace("</head>", PAGE_CSS + "</head>", 1)


#: Reading on a narrow screen (tables scroll in their own box, images shrink), provenance
#: stamps as small collapsed notes, and a print stylesheet (no chrome, stamps expanded, no
#: figure or table split across pages).
PAGE_CSS = """<style>
details.provenance { font-size: 0.8em; color: #555; margin: 0.2em 0 1.2em 0; }
details.provenance summary { cursor: pointer; }
details.provenance ul { margin: 0.3em 0 0 1.2em; padding: 0; }
.jp-RenderedHTMLCommon table { display: block; max-width: 100%; overflow-x: auto; }
.jp-RenderedHTMLCommon img { max-width: 100%; height: auto; }
@media (max-width: 700px) {
  body, .jp-Notebook, .jp-Cell { padding: 0 !important; margin: 0 !important; }
  .jp-RenderedHTMLCommon { font-size: 15px; padding: 0 6px; overflow-wrap: anywhere; }
  .jp-RenderedHTMLCommon pre { white-space: pre-wrap; }
}
@media print {
  @page { margin: 1.5cm; }
  body { background: #fff; color: #000; }
  .jp-InputPrompt, .jp-OutputPrompt, .jp-Collapser { display: none !important; }
  .jp-RenderedHTMLCommon table { display: table; overflow: visible; font-size: 8pt; }
  table, img, figure { break-inside: avoid; page-break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  details.provenance > *:not(summary) { display: block; }
  a { color: #000; text-decoration: none; }
}
</style>
"""


# --------------------------------------------------------------------------- build


def provenance_records(inp: PaperInputs, comp: Composed, paper_dir: Path,
                       root: Path) -> dict[str, dict[str, Any]]:
    """Write each table's values to ``paper/tables/<key>.csv`` and return the stamp records."""
    from nrm import paths
    from nrm import provenance as P
    from nrm.instrument.sysinfo import git_info

    values_files: dict[str, str] = {}
    data: dict[str, str] = {}
    for item, df in comp.tables.items():
        path = paper_dir / "tables" / f"{item.split(':', 1)[1]}.csv"
        atomic_write_text(path, P.frame_csv(df))
        values_files[item] = os.path.relpath(path, root)
        data[item] = P.data_hash(P.read_csv_text(P.frame_csv(df)))
    for item, _, _ in comp.items:
        if item.startswith("figure:"):
            data[item] = P.data_hash(figure_data(inp, item.split(":", 1)[1]))
    git = git_info(paths.ROOT) or {}
    run_commits = sorted({str((r.meta.get("context") or {}).get("git", {}).get("commit"))
                          for r in inp.runs.values()} - {"None"})
    if run_commits:
        git = {**git, "runs_commits": run_commits}
    return P.build_records(
        comp.items, runs=inp.runs, scale=inp.scale,
        analysis_dir=inp.analysis_dir or paper_dir, executed_dir=Path(inp.executed_dir),
        root=root, data=data, values_files=values_files, git=git)


def study_sections(inp: PaperInputs, paper_dir: Path, n_figures: int
                   ) -> tuple[tuple[str, str], dict[str, Path]]:
    """Sections 10 and 11 (the causal study and its controls; each says so when there is no
    study) and their images, numbered after the paper's ``n_figures`` figures."""
    from nrm.render.controls_section import section as controls_section  # issue #15
    from nrm.render.study_section import section as study_section

    folder = inp.study_dir if inp.study_dir is not None else paper_dir / "no-study"
    study_md, study_images = study_section(
        folder, paper_dir, first_figure=n_figures + 1,
        heading=_h("10. The causal study: one factor at a time, repeated").strip())
    controls_md, controls_images = controls_section(
        folder, paper_dir, runs=inp.runs, rel=inp.rel,
        first_figure=n_figures + len(study_images) + 1,
        heading=_h("11. Controls: can the instruments see what they look for?").strip())
    return (study_md, controls_md), study_images | controls_images


def build(request: Any) -> dict[str, Any]:
    """Draw the figures and write paper.md, paper.html and paper/provenance.json (with the
    values of every table in paper/tables/) for a validated render request."""
    from nrm.atomic import atomic_write_json
    from nrm.provenance import html_stamp, markdown_stamp

    inp = load_inputs(request)
    fig_paths = draw_figures(inp, request.dirs["figures"])
    paper_dir = Path(request.dirs["paper"])
    from nrm.provenance import recording

    root = paper_dir.parent

    with recording() as rec:
        extra, extra_images = study_sections(inp, paper_dir, len(fig_paths))
        comp = compose_items(inp, fig_paths, paper_dir, extra=extra, rec=rec)
    records = provenance_records(inp, comp, paper_dir, root)
    md = comp.render({k: markdown_stamp(r) for k, r in records.items()})
    md_path = atomic_write_text(paper_dir / "paper.md", md)
    images = {os.path.relpath(p, paper_dir): p for p in fig_paths.values()} | extra_images
    html = to_html(comp.render({k: html_stamp(r) for k, r in records.items()}), images,
                   title=f"NRM runtime variance, re-measured ({inp.scale})")
    html_path = atomic_write_text(paper_dir / "paper.html", html)
    first = next(iter(records.values()), {})
    prov = atomic_write_json(paper_dir / "provenance.json", {
        "schema": 1,
        "scale": inp.scale,
        "created_at": first.get("date"),
        "git": first.get("git"),
        "environment": first.get("environment"),
        "analysis_dir": os.path.relpath(inp.analysis_dir, root) if inp.analysis_dir else None,
        "items": records,
    })
    return {"figures": fig_paths, "markdown": md_path, "html": html_path, "provenance": prov}
