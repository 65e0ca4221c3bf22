"""Section 3, the runtime hypotheses H1-H5 under the declared rules (Figure 2)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import figure_line, heading, runs_source
from nrm.render.text import table

__all__ = ["PAPER_STANCE", "section"]


#: The paper's stance on each runtime hypothesis (§3.2 tiers, §4.1, the abstract), in our words.
#: Text, not numbers: the paper's numbers are in data/reference/.
PAPER_STANCE = {
    "H1": "tier 3, 'possible' (§3.2)",
    "H2": "primary mechanism, 'strongly supported' by the literature (§3.2, §4.1)",
    "H3": "tier 2; with H2 'validated' by the speedup (abstract)",
    "H4": "tier 3, 'possible'; 'not thermal' (§3.2)",
    "H5": "tier 2, 'plausible' (§3.2, §3.4)",
}


def section(inp: PaperInputs, rel: Mapping[str, str]) -> str:
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
        heading("3. Runtime hypotheses H1–H5")
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
        + figure_line("hypothesis_tests", rel, 2,
               "The quantity behind each runtime hypothesis on C256 unoptimized. H1: load "
               "average and system CPU utilisation against time; H2: resident set size and the "
               "unused share of pymalloc arena memory against the cycle, with linear and "
               "quadratic least-squares fits; H3: time per metrics sample against the "
               "cumulative number of samples; H4: CPU frequency (and temperature where a "
               "sensor exists) against time; H5: per-cycle wall time (blue) with the one "
               "whole-run least-squares line that the H5 test fits (red, its slope in the "
               "legend). Fitted lines: linear red, quadratic green dashed; on twin axes each "
               "axis label has its series' colour. "
               + runs_source(inp, [R.SLOW]))
    )
