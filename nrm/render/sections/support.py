"""Section 7, what this machine's runs support and contradict: the headline comparisons and
H1-H5, filed by the study's repeated verdicts where there are some."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.render.inputs import PaperInputs
from nrm.render.sections.atscale import load_predicted
from nrm.render.sections.common import heading, p_text, run_scale, study_scale
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
    one = f"this build, one run (n = 1), {run_scale(inp)}"
    for key, r in rep.items():
        size = study_scale(inp, r.cycles)
        rows.append({"comparison": r.label, "paper (reported)": paper[key], one: single[key],
                     "repeated (measured)": r.value_text()
                     + (f" at {size}" if size else ""), "n (blocks)": r.n,
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
    """' (10 cycles x 10 agents)' for a repeated comparison ('' when unknown)."""
    size = study_scale(inp, rep.cycles)
    return f" ({size})" if size else ""


def section(inp: PaperInputs) -> str:
    s = inp.phase1a["summary"].iloc[0]
    v = inp.phase1a["hypotheses"].set_index("hypothesis")["verdict"]
    sm = inp.phase1b["summary"].set_index("comparison")
    same = sm.loc["same_experiment"]
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
    here = run_scale(inp)
    pr = load_predicted(inp.predict_dir)
    claim = f"that C256 takes longer than C255 (the paper: {pct(k.get('var_cutoff'))})"
    if var is not None and var.testable:
        text = (f"{claim}: repeated at this build's study scale{_study_size(inp, var)}, "
                f"{var.text()}; one run here at {here}: {pct(s['variance_pct'])} "
                "(n = 1); C255 and C256 are different experiments")
        (noise if var.within_noise else supported if var.value > 0 else contradicted).append(text)
    else:
        (supported if float(s["variance_pct"]) > 0 else contradicted).append(
            f"{claim}: here {pct(s['variance_pct'])} at {here} (one run, n = 1; not repeated "
            "at this scale); note that C255 and C256 are different experiments")
    if pr is not None and "c256_vs_c255_pct" in pr.rows:
        r = pr.rows["c256_vs_c255_pct"]
        text = (f"{claim}, {pr.label} (Section 12; the model's work counts times this build's "
                f"unit costs): {pr.text('c256_vs_c255_pct')}")
        if not pr.paper_scale:
            untestable.append(text + "; this build counts below the paper's scale")
        elif float(r["ci_low"]) > 0:
            supported.append(text)
        elif float(r["ci_high"]) < 0:
            contradicted.append(text)
        else:
            undecided.append(text + "; the interval contains no difference")
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
        text = (f"that caching the metrics speeds the model up: repeated at the study's scale"
                f"{_study_size(inp, rs)}, {rs.text()}; one run here at {here}: {num(sp)}× "
                "(n = 1)")
        (noise if rs.within_noise else supported if rs.value > 1 else contradicted).append(text)
    else:
        (supported if float(same["ci_low"]) > 1 else contradicted).append(
            f"that caching the metrics speeds the model up: {num(sp)}× here at {here} (one run "
            f"per arm, n = 1; 95 % interval over its cycles {num(same['ci_low'])}–"
            f"{num(same['ci_high'])})")
    band = f"a {num(lo)}–{num(hi)}× speedup (the paper's, at 3000 cycles x 100 agents)"
    if pr is not None and "speedup_same" in pr.rows:
        r = pr.rows["speedup_same"]
        text = (f"{band}, {pr.label} (Section 12): {pr.text('speedup_same')}, same experiment"
                + (f"; the paper's design (C256 unopt. / C257 opt.): "
                   f"{pr.text('speedup_design')}" if "speedup_design" in pr.rows else "")
                + "; the speedup depends on the agents and on the cost of a commit (the "
                "per-pair commits survive caching), Figure in Section 12")
        if not pr.paper_scale:
            untestable.append(text + "; this build counts below the paper's scale")
        elif float(r["ci_high"]) >= lo and float(r["ci_low"]) <= hi:
            supported.append(text)
        elif float(r["ci_high"]) < lo or float(r["ci_low"]) > hi:
            contradicted.append(text)
        else:
            undecided.append(text)
    else:
        measured = (f"{num(rs.value)}× at the study's scale{_study_size(inp, rs)}"
                    if rs is not None and rs.testable else f"{num(sp)}× at {here} (n = 1)")
        untestable.append(f"{band}: not testable from runs this small (measured {measured}; "
                          "no prediction at the paper's parameters in this build)")
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
