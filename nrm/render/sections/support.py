"""Section 7, what this machine's runs support and contradict: the headline comparisons and
H1-H5, filed by the study's repeated verdicts where there are some."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.exceptions import NrmError
from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import heading, p_text
from nrm.render.sections.prediction import prediction_label, prediction_verdict
from nrm.render.text import num, pct, table
from nrm.stats.verdict import (
    DOES_NOT_HOLD,
    HOLDS,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    REFUTED,
    SUPPORTED,
    WITHIN_NOISE,
)

__all__ = ["section"]


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


def section(inp: PaperInputs) -> str:
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
        single = str(v.get(h, NOT_TESTABLE))
        if h in sv.index:
            r = sv.loc[h]
            text = (f"{name}: {r['verdict']} in the study ({r['statistic']}; 95 % CI {r['ci']}; "
                    f"n {r['n']}; deciding arms: {r['deciding_arms']}); one run, n = 1: "
                    f"{single}")
            {SUPPORTED: supported, REFUTED: contradicted, WITHIN_NOISE: noise}.get(
                str(r["verdict"]), untestable).append(text)
        elif single == SUPPORTED:
            supported.append(f"{name}: supported under the declared rules (one run, n = 1)")
        elif single == NOT_SUPPORTED:
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
    pred_verdict = prediction_verdict(same)
    pred_text = (f"the paper's falsifiable prediction ({prediction_label(inp).split(': ', 1)[-1]}"
                 f"): {pct(same['variance_reduction_pct'])} (95 % CI "
                 f"{num(same['variance_reduction_ci_low'])} to "
                 f"{num(same['variance_reduction_ci_high'])} %), p {p_text(same['levene_p'])}; one "
                 "run per arm (n = 1), its cycles the sample")
    if pred_verdict == HOLDS:
        supported.append(pred_text)
    elif pred_verdict == DOES_NOT_HOLD:
        contradicted.append(pred_text)
    else:
        undecided.append(pred_text + "; the interval contains the threshold")
    basis = ("Each claim is filed by the causal study's repeated measurement where the study "
             "tested it (Section 10; n and 95 % CI given), else by this build's single runs "
             "(n = 1)." if rep or not sv.empty else
             "No causal study was analysed at this scale: every verdict here rests on one run "
             "per experiment (n = 1), which cannot tell an effect from run-to-run noise.")
    out = (heading("7. What this machine's runs support and contradict")
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
