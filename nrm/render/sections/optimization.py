"""Section 4, optimization impact: the speedups and the falsifiable prediction (Figure 3)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import (
    claims_by_id,
    dash,
    figure_line,
    heading,
    p_text,
    repeated_note,
    runs_source,
)
from nrm.render.sections.prediction import prediction_cell, prediction_label
from nrm.render.text import duration, num, pct, table
from nrm.render.wording import human

__all__ = ["section"]


def section(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    sm = inp.phase1b["summary"].set_index("comparison")
    same, design = sm.loc["same_experiment"], sm.loc["paper_design"]
    led = claims_by_id(inp)
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
        (prediction_label(inp), "optimization eliminates the variance (§2.4, §4.1)",
         prediction_cell(same), prediction_cell(design)),
    ]
    t = pd.DataFrame(rows, columns=[
        "quantity", "paper (predicted)", "C256 unopt. vs C256 opt. (measured)",
        "C256 unopt. vs C257–C260 opt. (measured)"])
    detail = inp.phase1b["same_experiment"][["statistic", "value", "ci_low", "ci_high",
                                             "p_value", "note"]]
    detail = detail.assign(ci_low=detail["ci_low"].map(dash), ci_high=detail["ci_high"].map(dash),
                           p_value=detail["p_value"].map(lambda p: dash(p, p_text)),
                           note=detail["note"].fillna("").map(lambda x: x or "—"))
    return (
        heading("4. Optimization impact")
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
        f"{repeated_note(inp, 'speedup_same', 'speedup_design')}\n\n"
        "*Table [[comparison]]. Every statistic of the same-experiment comparison (measured). "
        f"{inp.source('phase1b/same_experiment')}*\n\n"
        f"{table(human(detail))}\n\n"
        + figure_line("optimization_impact", rel, 3,
               "Optimization impact. Colours mark the cost preset (legend): red unoptimized, "
               "blue optimized, green lean. (a) Distribution of per-cycle wall time of every "
               "run, log scale (box: quartiles, whiskers: 1.5 × IQR, dots: cycles beyond). "
               "(b) Total cycle time per run, log scale. (c) Speedup of the mean per-cycle "
               "time, unoptimized over optimized (dot), with 95 % block-bootstrap intervals "
               "(bars); the dotted line is no speedup. "
               + runs_source(inp, list(inp.runs)) + " "
               + inp.source("phase1b/summary"))
    )
