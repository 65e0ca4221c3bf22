"""The paper's section on the paper's own scale: runtimes predicted from measured unit costs.

Reads the tables the build's prediction step writes (:mod:`nrm.predict.buildstep`, in
``<analysis>/predict``): the unit costs fitted on this build's runs, the paper's comparisons
predicted at the counting scale (the paper's 3000 cycles x 100 agents except at smoke), the
speedup grid and its figure. The paper's own numbers come from ``data/reference/`` (the
claims table). Every predicted number is labelled as predicted and carries its scale; when a
table is missing the section says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.render.sections.tableio import read_table
from nrm.render.text import num, table

__all__ = ["Predicted", "load_predicted", "section"]

#: Rows of the comparisons table the section shows (keys of nrm.predict.paper.comparisons).
SHOWN = (
    "c256_vs_c255_pct",
    "speedup_same",
    "speedup_design",
    "runtime_h_C255",
    "runtime_h_C256",
    "share_sample_blocking",
    "share_commits",
)
UNIT_COSTS_SHOWN = (
    "commit_disk",
    "commit_ram",
    "sample_rest_live@disk",
    "sample_rest_fixed@disk",
    "sample_rest_live@ram",
    "sample_rest_fixed@ram",
    "evolve_calls",
    "samples",
    "pairs_tested",
    "cycle",
    "outside",
)


def _read(path: Path) -> pd.DataFrame | None:
    frame = read_table(path)
    return frame if len(frame) else None


def scale_words(summary: dict[str, Any]) -> str:
    """``at the paper's parameters (3000 cycles x 100 agents, ...)`` or the smaller scale."""
    cs = summary.get("count_scale") or {}
    where = f"{cs.get('cycles')} cycles x {cs.get('max_agents')} agents, a 0.1 s CPU sample"
    return (
        f"at the paper's parameters ({where})"
        if cs.get("paper")
        else f"at a counting scale of {where} (this build's scale counts small; the paper's "
        "are 3000 cycles x 100 agents)"
    )


@dataclass(frozen=True)
class Predicted:
    """The paper's comparisons as the build's prediction step answered them (one medium)."""

    rows: dict[str, pd.Series]
    where: str  # "at the paper's parameters (3000 cycles x 100 agents, ...)" or the smaller
    medium: str
    paper_scale: bool

    def text(self, key: str) -> str:
        """'+2.7 % (95 % CI -17.0 to +23.0 %)' or '4.2× (95 % CI 3.9–4.5×)'."""
        r = self.rows[key]
        if key.endswith("_pct"):
            return f"{r['value']:+.1f} % (95 % CI {r['ci_low']:+.1f} to {r['ci_high']:+.1f} %)"
        return f"{num(r['value'])}× (95 % CI {num(r['ci_low'])}–{num(r['ci_high'])}×)"

    @property
    def short(self) -> str:
        """'predicted at the paper's parameters' or 'predicted at 30 cycles x 8 agents'."""
        if self.paper_scale:
            return "predicted at the paper's parameters"
        r = next(iter(self.rows.values()))
        return f"predicted at {str(r['scale']).split(',', 1)[0]}"

    @property
    def label(self) -> str:
        """'predicted at the paper's parameters (...), commits on disk' or the smaller scale."""
        return f"predicted {self.where}, commits on {self.medium}"


def load_predicted(folder: str | Path | None) -> Predicted | None:
    """The prediction step's comparisons (disk commits when fitted), or None without them."""
    if folder is None:
        return None
    comp = _read(Path(folder) / "comparisons.csv")
    summ = Path(folder) / "predict_summary.json"
    if comp is None or not summ.is_file():
        return None
    summary = json.loads(summ.read_text(encoding="utf-8"))
    medium = "disk" if (comp["medium"] == "disk").any() else str(comp["medium"].iloc[0])
    rows = {str(r["key"]): r for _, r in comp[comp["medium"] == medium].iterrows()}
    return Predicted(
        rows, scale_words(summary), medium, bool((summary.get("count_scale") or {}).get("paper"))
    )


def _ci(row: Any) -> str:
    return f"{num(row['ci_low'])} to {num(row['ci_high'])}"


def section(
    folder: str | Path,
    paper_dir: str | Path,
    *,
    first_figure: int = 1,
    heading: str = "## At the paper's parameters",
    rel: Any = None,
) -> tuple[str, dict[str, Path]]:
    """Markdown of the section and its figure (link relative to ``paper_dir`` -> PNG)."""
    folder = Path(folder)

    def src(*files: Path) -> str:
        return ", ".join(f"`{rel(p) if rel is not None else p.name}`" for p in files)

    parts = [heading, ""]
    figs: dict[str, Path] = {}
    summ_path = folder / "predict_summary.json"
    comp = _read(folder / "comparisons.csv")
    if comp is None or not summ_path.is_file():
        parts.append(
            "This build has no prediction tables (the build's `analysis:<scale>/predict` "
            "step writes them; `nrm predict C256 --compare` prints them by hand).\n"
        )
        return "\n".join(parts), figs
    summary = json.loads(summ_path.read_text(encoding="utf-8"))
    label = str(summary.get("label", "predicted from measured unit costs"))
    where = scale_words(summary)
    counts = summary.get("counts") or {}
    entries = counts.get("counts") or []
    counted = [e for e in entries if e.get("source") == "counted"]
    parts.append(
        "The runs of this build are far smaller than the paper's, and a runtime does not "
        "scale in proportion: the work per cycle grows with the agents and the cycles, and "
        "the blocking CPU sample, the SQLite commits and the model's own work grow at "
        "different rates. This section therefore states no measured number against the "
        f"paper's. It answers the paper's comparisons {where}, {label}: the model's work "
        "counts at that scale (a counting run: the model's dynamics with the costs counted "
        "instead of paid, fixed metrics) times the seconds per unit of work fitted on this "
        "build's runs (per commit, per metrics sample beyond its blocking interval, per "
        "evolve call, per pair tested, per cycle; OLS with HAC intervals). "
        f"The counts: {len(entries)} counting runs, {len(counted)} counted in this build "
        f"({num(sum(float(e.get('count_s') or 0) for e in counted))} s of counting)"
        + (
            f", {len(entries) - len(counted)} taken from the cache of an earlier count of the "
            "same model (same spec, same source)"
            if len(counted) < len(entries)
            else ""
        )
        + ". The unit costs: "
        f"{summary.get('fit_runs')} runs of this build on {summary.get('machine_label')}"
        + "".join(f"; {n}" for n in summary.get("notes", []) if "extrapolated" in n)
        + ".\n"
    )
    uc = _read(folder / "unit_costs.csv")
    if uc is not None:
        shown = uc[uc["name"].isin(UNIT_COSTS_SHOWN)].copy()
        shown["ms"] = 1e3 * shown["estimate"]
        shown["95 % CI (ms)"] = [
            f"{num(1e3 * a)} to {num(1e3 * b)}"
            for a, b in zip(shown["ci_low"], shown["ci_high"], strict=True)
        ]
        parts.append(
            f"*Table [[predict_unit_costs]]. Unit costs fitted on this build's runs "
            f"(measured, at this build's scale). Source: "
            f"{src(folder / 'unit_costs.csv')}.*\n"
        )
        parts.append(
            table(
                shown[["label", "ms", "95 % CI (ms)"]].rename(
                    columns={"label": "unit of work", "ms": "seconds x 1000"}
                )
            )
            + "\n"
        )
    medium = "disk" if (comp["medium"] == "disk").any() else str(comp["medium"].iloc[0])
    rows = comp[comp["key"].isin(SHOWN)].copy()
    rows["95 % CI"] = [_ci(r) for _, r in rows.iterrows()]
    rows["the paper's (data/reference/)"] = [
        str(v) if isinstance(v, str) and v else "not stated" for v in rows["paper"]
    ]
    rows["commits on"] = rows["medium"]
    rows["order"] = rows["key"].map({k: i for i, k in enumerate(SHOWN)})
    rows = rows.sort_values(["medium", "order"])
    parts.append(
        f"*Table [[predict_comparisons]]. The paper's comparisons {where}, {label} "
        "(95 % CIs from the fits' covariances and the spread between runs; the "
        "paper's numbers as the paper states them, from data/reference/paper_claims.csv"
        f"). Source: {src(folder / 'comparisons.csv')}.*\n"
    )
    parts.append(
        table(
            rows[
                ["statistic", "commits on", "value", "95 % CI", "the paper's (data/reference/)"]
            ].rename(columns={"value": "predicted"})
        )
        + "\n"
    )
    parts.append(_reading(comp, medium, where) + "\n")
    grid = _read(folder / "speedup_grid.csv")
    png = folder / "atscale_speedup.png"
    if grid is not None and png.is_file():
        link = os.path.relpath(png, paper_dir)
        parts.append(
            f"\n![Figure {first_figure}]({link})\n\n*Figure {first_figure}.* The caching "
            f"speedup of C256 (unoptimized / optimized), {label}, against the agent cap, one "
            "line per cost of a commit (legend: this build's measured cost and what-ifs), with the "
            "paper's 160-190x band; shading: 95 % CI of the other unit costs. "
            f"{grid['cycles'].iloc[0]} cycles, {num(grid['cpu_interval'].iloc[0])} s CPU sample. "
            f"Data: {src(folder / 'speedup_grid.csv')}.\n"
        )
        figs[link] = png
        parts.append(_band_words(grid) + "\n")
    parts.append(validation_section(folder, summary, src))
    return "\n".join(parts), figs


#: The held-out validation's table (nrm.predict.holdout writes it; render reads files only).
VALIDATION_CSV = "validation.csv"
NO_VALIDATION = "No held-out validation in this build"


def _pct(v: Any) -> str:
    return f"{float(v):+.1f}"


def _kinds(keys: list[str]) -> str:
    """``['live@ram', 'cycle-replay@disk']`` -> 'live metrics with commits on ram, ...'."""
    out = []
    for k in keys:
        kind, _, medium = str(k).partition("@")
        out.append(f"{kind} metrics with commits on {medium or '?'}")
    return ", ".join(out) or "no runs"


PART_WORDS = {"samples": "the metrics samples", "commits": "the commits",
              "model": "the model's own work", "outside": "the time outside the cycles' timers"}


def _parts_words(v: dict[str, Any]) -> str:
    """'Where the error is, summed over the n runs: the commits predicted 10.5 s against
    4.6 s measured, ...' (largest difference first), or nothing without the parts."""
    parts = v.get("parts") or {}
    if not parts:
        return ""
    order = sorted(parts, key=lambda k: -abs(parts[k]["predicted_s"] - parts[k]["measured_s"]))
    said = [f"{PART_WORDS.get(k, k)} predicted {num(parts[k]['predicted_s'])} s against "
            f"{num(parts[k]['measured_s'])} s measured" for k in order]
    return f"Where the error is, summed over the {v.get('n')} runs: " + "; ".join(said) + ". "


def validation_section(folder: Path, summary: dict[str, Any], src: Any) -> str:
    """The held-out validation (issue #24): the paper runs predicted by unit costs fitted on
    the study's runs alone, and the median absolute error against the target; one line when
    the build has none (an older build's tables, or a build without a study)."""
    v = summary.get("validation") or {}
    path = folder / VALIDATION_CSV
    frame = _read(path) if path.is_file() else None
    if frame is None or v.get("verdict", "none") == "none":
        why = v.get("reason") or "its prediction step predates the validation"
        return f"{NO_VALIDATION} ({why}).\n"
    target = float(v.get("target_pct", 10.0))
    fit_scales = ", ".join(v.get("fit_scales") or []) or "?"
    held_scales = ", ".join(v.get("held_scales") or []) or "?"
    lo, hi = (v.get("band_pct") or [float("nan")] * 2)[:2]
    ci = v.get("ci_pct")
    shown = pd.DataFrame({
        "run": frame["run"],
        "scale (held out)": frame["scale"],
        "measured (s)": frame["measured_s"],
        "predicted (s)": frame["predicted_s"],
        "95 % CI (s)": [f"{num(a)} to {num(b)}" for a, b in zip(frame["ci_low"],
                                                                frame["ci_high"], strict=True)],
        "error (%)": [_pct(e) for e in frame["error_pct"]],
        "error bounds (%)": [f"{_pct(a)} to {_pct(b)}" for a, b in
                             zip(frame["error_low_pct"], frame["error_high_pct"], strict=True)],
        "error, the run's own commit and sample costs (%)":
            [_pct(e) for e in frame["error_own_costs_pct"]],
        "unit costs not fitted from the study's runs": [
            str(x) if isinstance(x, str) and x else "none" for x in frame["substituted"]],
    })
    unseen = ("a scale none of the study's runs has" if v.get("unseen") else
              "a scale some of the study's runs also have")
    words = {"within": f"within the {target:g} % target",
             "exceeds": f"above the {target:g} % target",
             "undecided": f"undecided against the {target:g} % target (the "
                          f"{'interval' if ci else 'band'} straddles it)"}
    if ci:  # the verdict's interval (nrm.predict.errorci), then the runs' band for the reader
        spread = (f"95 % CI {num(ci[0])} to {num(ci[1])} % by "
                  f"{v.get('ci_method', 'bootstrap')}; it covers the fitted unit costs and which "
                  f"runs were held out, not another machine or day")
        band_words = (f" The runs' own prediction intervals give a wider band, {num(lo)} to "
                      f"{num(hi)} % (the median of their absolute-error bounds): it also holds "
                      f"how far one more run's commit and sample costs may stray, which these "
                      f"runs' measured times already show.")
    else:  # an older build's summary: the verdict was read from the band
        spread = (f"band {num(lo)} to {num(hi)} % from the runs' 95 % CIs, the median of their "
                  f"absolute-error bounds, not itself a 95 % interval")
        band_words = ""
    return "\n".join([
        f"*Table [[predict_validation]]. Held-out validation: the unit costs fitted on the "
        f"study's runs alone (n = {v.get('fit_runs')} runs at {fit_scales}; "
        f"{_kinds(v.get('fit_kinds') or [])}), each "
        f"of this build's faithful paper runs (n = {v.get('n')}, at {held_scales}: {unseen}) "
        f"predicted from {v.get('counts', 'its counts')} and compared with its measured runtime "
        f"(measured, this build's machine). Error = predicted / measured - 1; its bounds from "
        f"the prediction's 95 % CI. Source: {src(path)}.*\n",
        table(shown) + "\n",
        f"Median absolute error of the held-out predictions: {num(v['median_abs_error_pct'])} % "
        f"(n = {v.get('n')} runs at {held_scales}, fitted at {fit_scales}; {spread}): "
        f"{words.get(str(v['verdict']), v['verdict'])}.{band_words} "
        f"With each run's own mean commit and sample costs in place of the fitted ones: "
        f"{num(v['median_abs_error_own_costs_pct'])} % (the rest of the error is the counts and "
        f"the other unit costs; the difference is what the fitted commit and sample costs get "
        f"wrong for these runs: their latency that day, or the fits' split between a cost per "
        f"cycle and a cost per commit or sample). " + _parts_words(v) +
        f"{v.get('covered')} of {v.get('n')} measured runtimes lie in their prediction's CI. "
        + (f"The held-out fit takes {v['outside']}"
           + (f" (with the build's per-cycle definition the median absolute error is "
              f"{num(v['median_abs_error_outside_per_cycle_pct'])} %)"
              if "median_abs_error_outside_per_cycle_pct" in v else "") + "."
           if v.get("outside") else "")
        + ("" if not v.get("substituted") else
           " Unit costs the study's runs cannot give, taken from the nearest measured fit: "
           + "; ".join(v["substituted"]) + ".")
        + "\n",
    ])


def _reading(comp: pd.DataFrame, medium: str, where: str) -> str:
    c = comp[comp["medium"] == medium].set_index("key")
    out = []
    if "c256_vs_c255_pct" in c.index:
        r = c.loc["c256_vs_c255_pct"]
        word = "slower" if r["value"] > 0 else "faster"
        if r["ci_low"] <= 0 <= r["ci_high"]:
            word = "undecided (the CI includes no difference)"
        out.append(
            f"C256 against C255 (commits on {medium}, {where}): predicted "
            f"{num(r['value'])} % (95 % CI {_ci(r)}), {word}; the paper's "
            f"{r['paper']}."
        )
    for key, what in (
        ("speedup_same", "the same experiment"),
        ("speedup_design", "the paper's design"),
    ):
        if key in c.index:
            r = c.loc[key]
            out.append(
                f"Caching speedup, {what}: predicted {num(r['value'])}x (95 % CI "
                f"{_ci(r)}) against the paper's {r['paper']}."
            )
    return " ".join(out)


def _band_words(grid: pd.DataFrame) -> str:
    """Which commit costs reach the paper's band at the largest agent cap (from the grid)."""
    from nrm.claims.reference import load_claims

    claims = load_claims().set_index("claim_id")
    lo = float(claims.loc["s3.3.speedup", "value"])
    top = grid[grid["agents"] == grid["agents"].max()]
    reach = top[top["speedup"] >= lo]
    n = int(top["agents"].iloc[0])
    if reach.empty:
        best = top.sort_values("speedup").iloc[-1]
        return (
            f"At {n} agents no commit cost in the figure reaches the paper's lower bound of "
            f"{lo:g}x (the largest: {num(best['speedup'])}x with "
            f"{num(1e3 * best['commit_s'])} ms a commit; predicted)."
        )
    worst = reach.sort_values("commit_s").iloc[-1]
    return (
        f"At {n} agents the predicted speedup reaches the paper's lower bound of {lo:g}x "
        f"only with commits of at most {num(1e3 * worst['commit_s'])} ms among the costs "
        "shown (predicted)."
    )
