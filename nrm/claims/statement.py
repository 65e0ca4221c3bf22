"""Key numbers and the plain statement of what the original evidence can and cannot support."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nrm.claims.derive import _Missing
from nrm.claims.ledger import _inputs, recompute
from nrm.claims.units import fmt_num
from nrm.claims.vocab import STATUSES

# Key numbers and the plain statement
# --------------------------------------------------------------------------------------------


def key_numbers(
    reference_dir: str | Path | None = None, *, interpreter: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """The numbers the statement and the paper quote, all recomputed from the reference data.

    A number whose inputs are missing is left out (callers test membership).
    """
    df = recompute(reference_dir, interpreter=interpreter).set_index("claim_id")
    _claims, inp = _inputs(reference_dir, interpreter)
    out: dict[str, float] = {}

    def put(key: str, getter: Callable[[], float]) -> None:
        try:
            v = getter()
        except (_Missing, KeyError):
            return
        if v is not None and not math.isnan(v):
            out[key] = float(v)

    def rec(cid: str, col: str = "recomputed") -> float:
        return float(df.loc[cid, col])

    claims_only = df[df["role"] == "claim"]
    out["n_claims"] = float(len(claims_only))
    for st in STATUSES:
        out[f"n_{st}"] = float((claims_only["status"] == st).sum())
    for field in ("rate", "rate_min", "rate_max", "idle_min", "idle_max", "share_min", "share_max"):
        put(f"c256_{field}", lambda f=field: inp.num(f"psrun:C256:{f}"))
        put(f"c257_{field}", lambda f=field: inp.num(f"psrun:C257:{f}"))
    put("c256_pairs", lambda: inp.runs["C256"]["n"])
    put("cutoff_reading", lambda: inp.num("claim:T1.c256_34h"))
    put("cutoff_cpu_min", lambda: inp.num("ps:c256.m34:cpu_min"))
    put("cutoff_wall_h", lambda: inp.num("ps:c256.m34:cpu_min") / inp.num("psrun:C256:rate"))
    put("c255_wall_h", lambda: inp.num("ps:c255.mid:wall_h"))
    put("c255_done_lo", lambda: inp.num("arch:c255.completion"))
    put("c255_done_hi", lambda: inp.num("arch:c255.completion:high"))
    put("c255_whole_lo", lambda: out["c255_wall_h"] / (out["c255_done_hi"] / 100))
    put("c255_whole_hi", lambda: out["c255_wall_h"] / (out["c255_done_lo"] / 100))
    put("baseline", lambda: inp.num("claim:T1.c255_20h"))
    put("var_cutoff", lambda: rec("T1.var_72"))
    put("var_abstract", lambda: inp.num("claim:abs.var73"))
    put("increment", lambda: rec("s3.1.accel_nonlinear"))
    put("increment_high", lambda: rec("s3.1.accel_nonlinear", "recomputed_high"))
    put("speedup_lo", lambda: inp.num("claim:s3.3.speedup"))
    put("speedup_hi", lambda: inp.num("claim:s3.3.speedup:high"))
    put("opt_est_lo", lambda: inp.num("claim:s2.1.opt_runtime"))
    put("opt_est_hi", lambda: inp.num("claim:s2.1.opt_runtime:high"))
    put("opt_floor_min", lambda: rec("s2.1.opt_runtime"))
    put("sample_block_s", lambda: inp.num("arch:sample.cpu_interval_s"))
    put("c257_last_wall_min", lambda: inp.num("ps:c257.last:wall_min"))
    put("h5_total_min", lambda: rec("s2.2.h5_threshold"))
    put("h3_total_min", lambda: rec("s2.2.h3_threshold"))
    put("excess_h", lambda: inp.num("claim:s3.1.excess_14h"))
    put("slope_needed", lambda: rec("fact.slope_needed"))
    put("db_gb_lo", lambda: inp.num("claim:arch.bridge_db"))
    put("db_gb_hi", lambda: inp.num("claim:arch.bridge_db:high"))
    put("nodb_total_s", lambda: rec("arch.nodb_rewrite"))
    put("total_cycles", lambda: rec("s3.4.total_cycles"))
    put("arena_kib_here", lambda: rec("s3.2.arena_256kb"))
    put("arena_kib_paper", lambda: inp.num("claim:s3.2.arena_256kb"))
    return out


def evidence_statement(
    reference_dir: str | Path | None = None, *, interpreter: Mapping[str, Any] | None = None
) -> str:
    """A short plain paragraph on what the original evidence can and cannot support.

    Every number in it comes from :func:`key_numbers`; a sentence whose numbers cannot be
    recomputed (an input removed from the reference data) is left out rather than guessed.
    """
    k = key_numbers(reference_dir, interpreter=interpreter)
    f = fmt_num

    def have(*keys: str) -> bool:
        return all(key in k for key in keys)

    parts = [
        "The archive behind the paper holds no per-cycle timing, memory or system log of C256, "
        "no finished optimized run, and figures drawn from typed-in literals and seeded random "
        "draws rather than data, so "
        "none of the runtime hypotheses H1–H5 was ever tested on measurements.",
        f"Of the {k['n_claims']:.0f} claims in the ledger, {k['n_consistent']:.0f} recompute "
        f"consistently (most of them as arithmetic on the paper's own inputs), "
        f"{k['n_inconsistent']:.0f} do not, and {k['n_unverifiable']:.0f} cannot be checked.",
    ]
    if have("c256_rate", "c256_rate_min", "c256_rate_max", "cutoff_reading", "cutoff_wall_h"):
        idle = 100 - k["c256_rate"] / 60 * 100
        parts.append(
            "The runtimes of Table 1 are hand-copied ps CPU times, printed as minutes:seconds "
            "and read as hours. Set against the wall-clock times noted beside them, they grow "
            f"by {k['c256_rate']:.2f} CPU-minutes per wall-hour ({k['c256_rate_min']:.2f}–"
            f"{k['c256_rate_max']:.2f} over the recorded pairs), so the paper's cutoff of "
            f"{f(k['cutoff_reading'])} h is {f(k['cutoff_reading'])} CPU-minutes, reached after "
            f"about {k['cutoff_wall_h']:.1f} h of wall time by a process off the CPU about "
            f"{idle:.0f} % of the time. Read as hours, the same readings would have a "
            f"single-threaded script use {k['c256_rate']:.1f} CPU-hours per wall-hour."
        )
    if have("baseline", "c255_done_lo", "c255_done_hi", "c255_whole_lo", "c255_whole_hi"):
        parts.append(
            f"The {f(k['baseline'])} h baseline is the elapsed wall time of a C255 run an "
            f"estimated {k['c255_done_lo']:.0f}–{k['c255_done_hi']:.0f} % complete (a whole run "
            f"of roughly {k['c255_whole_lo']:.0f}–{k['c255_whole_hi']:.0f} h at that pace), so "
            "the variance percentages divide CPU-minutes by an unfinished wall-clock time."
        )
    if have("var_cutoff", "var_abstract", "increment", "baseline"):
        parts.append(
            f"The abstract's +{f(k['var_abstract'])} % is not what the paper's own formula "
            f"gives ({k['var_cutoff']:.1f} %), and its 'acceleration' is that cumulative "
            f"percentage divided by {f(k['baseline'])}: between milestones the percentage grows "
            f"by a constant {k['increment']:.2f} points per hour."
        )
    speedup_keys = ("speedup_lo", "speedup_hi", "opt_est_lo", "opt_est_hi", "opt_floor_min")
    if have(*speedup_keys, "sample_block_s", "c257_last_wall_min"):
        parts.append(
            f"The {f(k['speedup_lo'])}–{f(k['speedup_hi'])}× speedup divides the misread figure "
            f"by an estimate ({f(k['opt_est_lo'])}–{f(k['opt_est_hi'])} min) that no run "
            f"produced: one blocking {f(k['sample_block_s'])} s CPU sample per cycle alone puts "
            f"the optimized design at {k['opt_floor_min']:.0f} min or more, and a run labelled "
            f"optimized was still unfinished after {k['c257_last_wall_min']:.0f} min of wall "
            "time."
        )
    if have("h5_total_min", "h3_total_min", "excess_h", "slope_needed"):
        parts.append(
            f"A per-cycle drift at the H5 threshold would add {k['h5_total_min']:.1f} min over "
            f"the run and a latency drift at the H3 threshold {k['h3_total_min']:.1f} min, "
            f"against a gap of {f(k['excess_h'])} h; a linear drift would need about "
            f"{f(k['slope_needed'])} ms per cycle to close it."
        )
    if have("c256_idle_min", "db_gb_lo", "db_gb_hi", "nodb_total_s", "total_cycles"):
        parts.append(
            "What the original evidence does support is narrower: the processes spent most of "
            f"their wall time (at least {k['c256_idle_min']:.0f} % for C256) asleep or waiting "
            "rather than computing, and the archive's own notes, which the paper does not cite, "
            f"point to a bridge database that grew to {f(k['db_gb_lo'])}, later "
            f"{f(k['db_gb_hi'])} GB, and to a rewrite without it that ran all "
            f"{k['total_cycles']:,.0f} cycles in {f(k['nodb_total_s'])} s. That is a lead this "
            "compendium measures, not a result it assumes."
        )
    return " ".join(parts)
