"""The paper's reported numbers as this build measured them (:func:`measured_claims`), keyed by
the claims ledger's ids (``data/reference/``)."""

from __future__ import annotations

import math

import pandas as pd

from nrm.instrument.reader import RunData
from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import too_short
from nrm.render.text import num
from nrm.render.wording import rate_meaningful

__all__ = ["measured_claims"]


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
    short = too_short(float(s["expected_s"]))
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
