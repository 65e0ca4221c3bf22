"""The paper's five figures: the data each draws (:func:`figure_data`, also what its
provenance stamp hashes) and drawing them all (:func:`draw_figures`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nrm import paths
from nrm.render import figures as F
from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections import dbcurve
from nrm.run.scales import get_scale

__all__ = ["FIGURES", "draw_figures", "figure_data"]


#: Figure file stems, in the order the paper shows them.
FIGURES = ("runtime_timeline", "hypothesis_tests", "optimization_impact", "population_cost",
           "claims_snapshots")


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
    if stem in (dbcurve.FIGURE, dbcurve.FIGURE_REFERENCE):  # H3's commit-latency curve
        return dbcurve.figure_frames(Path(inp.root or Path.cwd()), inp.scale, stem)
    if stem == "atscale_speedup" and inp.predict_dir is not None:  # the prediction's grid
        grid = Path(inp.predict_dir) / "speedup_grid.csv"
        return {"speedup_grid": pd.read_csv(grid)} if grid.is_file() else {}
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
