"""Section 2, runtime variance: C256 against C255 and the runtime over the run (Figure 1)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from nrm.render.inputs import PaperInputs
from nrm.render.measured import measured_claims
from nrm.render.sections.common import (
    claims_by_id,
    figure_line,
    heading,
    repeated_note,
    runs_source,
    too_short,
)
from nrm.render.text import duration, num, pct, table
from nrm.render.wording import human, rate_meaningful, trend

__all__ = ["section"]


def section(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    s = inp.phase1a["summary"].iloc[0]
    ms = inp.phase1a["milestones"]
    pred = inp.phase1a["prediction"]
    led = claims_by_id(inp, measured_claims(inp))
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
        short = too_short(float(s["expected_s"]))
        for col in ("paper-style rate (%/h)", "increment rate (%/h)"):
            mt[col] = short
        rates = (f"Rates per hour are not given: the baseline run lasted "
                 f"{duration(s['expected_s'])}, and a change of a few per cent in seconds, "
                 "scaled up to an hour, says nothing about how a run of hours behaves; the "
                 "variance at each milestone is in Table [[milestones]].")
    best = pred.loc[pred["error_pct"].abs().idxmin()]
    return (
        heading("2. Runtime variance")
        + "\nThe paper measures variance as the excess of C256's runtime over C255's, and "
        "reads an \"acceleration\" from the cumulative variance divided by the expected hours. "
        "That ratio rises whenever a run is late, whatever the trend, so we show it beside the "
        "increment of the variance between consecutive milestones, which is what a change of "
        "rate would have to mean. Milestones are fractions of the run, so runs of any length "
        "share one table.\n\n"
        f"On this machine C256 took {num(s['actual_s'])} s against an expected "
        f"{num(s['expected_s'])} s ({s['expected_from']}): variance "
        f"{pct(s['variance_pct'])}.{repeated_note(inp, 'variance')} {rates}\n\n"
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
        + figure_line("runtime_timeline", rel, 1,
               "Runtime of every run of this build. (a) Wall-clock time since the start of the "
               "run against the cycle, log scale. (b) Per-cycle wall time of C255 and C256 "
               "unoptimized, every cycle (thin) and a rolling mean (thick), one colour per run "
               "as in the legend; dotted lines mark the start of each condition. "
               + runs_source(inp, list(inp.runs)))
    )
