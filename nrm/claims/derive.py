"""The derivations: how each claim is recomputed from its inputs (one registered function per
``derivation`` name in ``paper_claims.csv``).
"""

from __future__ import annotations

import itertools
import math
import statistics
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nrm.claims.units import _fmt_range, fmt_num
from nrm.claims.vocab import (
    ARCHIVE_CSV,
    CLAIMS_CSV,
    CONSISTENT,
    EMPTY,
    INCONSISTENT,
    SNAPSHOTS_CSV,
    UNVERIFIABLE,
)


class _Missing(Exception):
    def __init__(self, ref: str, why: str) -> None:
        super().__init__(f"{ref} ({why})")
        self.ref = ref
        self.why = why


def _run_summary(snaps: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per run: median CPU-minutes per wall-hour over the fully recorded, non-estimated rows."""
    out: dict[str, dict[str, float]] = {}
    runs = dict.fromkeys(s["run"] for s in snaps)
    for run in runs:
        rates = [
            s["rate"]
            for s in snaps
            if s["run"] == run and not s["estimate"] and not math.isnan(s["rate"])
        ]
        if not rates:
            continue
        rate = statistics.median(rates)
        out[run] = {
            "rate": rate,
            "rate_min": min(rates),
            "rate_max": max(rates),
            "share_min": min(rates) / 60 * 100,
            "share_max": max(rates) / 60 * 100,
            "idle_min": 100 - max(rates) / 60 * 100,
            "idle_max": 100 - min(rates) / 60 * 100,
            "n": float(len(rates)),
        }
    return out


@dataclass
class _Inputs:
    claims: dict[str, dict[str, Any]]
    archive: dict[str, dict[str, Any]]
    snaps: dict[str, dict[str, Any]]
    runs: dict[str, dict[str, float]]
    interpreter: Mapping[str, Any]

    def num(self, ref: str) -> float:
        kind, _, rest = ref.partition(":")
        if kind == "lit":
            return float(rest)
        if kind in ("claim", "arch"):
            key, _, field = rest.partition(":")
            table = self.claims if kind == "claim" else self.archive
            if key not in table:
                where = CLAIMS_CSV if kind == "claim" else ARCHIVE_CSV
                raise _Missing(ref, f"no row {key!r} in {where}")
            rec = table[key]
            col = {"claim": ("value", "value_high"), "arch": ("number", "number_high")}[kind]
            v = rec[col[1] if field == "high" else col[0]]
            if v is None or math.isnan(v):
                raise _Missing(ref, "value is empty")
            return float(v)
        if kind == "ps":
            key, field = rest.split(":")
            if key not in self.snaps:
                raise _Missing(ref, f"no snapshot {key!r} in {SNAPSHOTS_CSV}")
            v = self.snaps[key][field]
            if math.isnan(v):
                raise _Missing(ref, "not recorded")
            return float(v)
        if kind == "psrun":
            run, field = rest.split(":")
            if run not in self.runs:
                raise _Missing(ref, f"no fully recorded snapshot of {run} in {SNAPSHOTS_CSV}")
            return self.runs[run][field]
        if kind == "py":
            v = self.interpreter.get(rest)
            if v is None:
                raise _Missing(ref, "not reported by this interpreter")
            return float(v)
        raise _Missing(ref, "unknown reference")  # pragma: no cover - refused at load time

    def text(self, ref: str) -> str:
        kind, _, key = ref.partition(":")
        if kind == "arch":
            if key not in self.archive or not self.archive[key]["value"]:
                raise _Missing(ref, f"no value {key!r} in {ARCHIVE_CSV}")
            return str(self.archive[key]["value"])
        if kind == "py" and self.interpreter.get(key) is not None:
            return str(self.interpreter[key])
        raise _Missing(ref, "no text value")

    def optional(self, ref: str) -> float | None:
        try:
            return self.num(ref)
        except _Missing:
            return None


@dataclass
class _Outcome:
    value: float | None = None
    high: float | None = None
    text: str = ""
    working: str = ""
    status: str | None = None  # None: compare with the paper's value within the tolerance
    note: str = ""
    mode: str = "endpoints"  # or "within": the recomputed range must lie in the stated range


_Fn = Callable[[dict[str, Any], list[str], _Inputs], _Outcome]


@dataclass(frozen=True)
class Derivation:
    fn: _Fn
    min_inputs: int
    max_inputs: int
    needs_tolerance: bool
    description: str


DERIVATIONS: dict[str, Derivation] = {}


def _derivation(name: str, n: int | tuple[int, int], *, compare: bool, description: str):
    lo, hi = (n, n) if isinstance(n, int) else n

    def register(fn: _Fn) -> _Fn:
        DERIVATIONS[name] = Derivation(fn, lo, hi, compare, description)
        return fn

    return register


def _paper(row: dict[str, Any]) -> float:
    v = row["value"]
    if math.isnan(v):
        raise _Missing(f"claim:{row['claim_id']}", "the paper's value is empty")
    return float(v)


def _unit(row: dict[str, Any]) -> str:
    u = row["unit_stated"]
    return "" if u in ("", EMPTY) else u


def _pct_over(t: float, base: float) -> float:
    return (t - base) / base * 100


@_derivation("none", 0, compare=False, description="no derivation: unverifiable")
def _d_none(row, refs, inp):
    return _Outcome(text=f"{EMPTY} (nothing to recompute)", status=UNVERIFIABLE)


@_derivation("mock", 0, compare=False, description="a mock-up figure: unverifiable")
def _d_mock(row, refs, inp):
    return _Outcome(text=f"{EMPTY} (mock-up, not data)", status=UNVERIFIABLE)


def _mock_rule(row, refs, inp, *, passes_if_greater: bool) -> _Outcome:
    v, thr = _paper(row), inp.num(refs[0])
    passes = v > thr if passes_if_greater else v < thr
    rel = (">" if v > thr else "≤") if passes_if_greater else ("<" if v < thr else "≥")
    verdict = "passes" if passes else "fails"
    return _Outcome(
        text=f"{EMPTY} (mock-up, not data)",
        working=f"{fmt_num(v)} {rel} {fmt_num(thr)}: the typed-in value {verdict} the paper's rule",
        status=UNVERIFIABLE,
    )


@_derivation("mock_vs_rule_gt", 1, compare=False, description="mock value vs a '>' rule")
def _d_mock_gt(row, refs, inp):
    return _mock_rule(row, refs, inp, passes_if_greater=True)


@_derivation("mock_vs_rule_lt", 1, compare=False, description="mock value vs a '<' rule")
def _d_mock_lt(row, refs, inp):
    return _mock_rule(row, refs, inp, passes_if_greater=False)


@_derivation("value_of", 1, compare=True, description="the value of one input")
def _d_value_of(row, refs, inp):
    v = inp.num(refs[0])
    return _Outcome(value=v, text=fmt_num(v, _unit(row)), working=f"{refs[0]} = {fmt_num(v)}")


@_derivation("elapsed_fraction", 3, compare=True, description="elapsed time of an unfinished run")
def _d_elapsed_fraction(row, refs, inp):
    wall_h = inp.num(refs[0])
    c_lo, c_hi = inp.num(refs[1]), inp.num(refs[2])
    whole_lo, whole_hi = wall_h / (c_hi / 100), wall_h / (c_lo / 100)
    matches = abs(wall_h - _paper(row)) <= row["tolerance"] + 1e-9
    finished = c_hi >= 100
    return _Outcome(
        value=wall_h,
        text=f"{fmt_num(wall_h, 'h')} of wall time, in a run {_fmt_range(c_lo, c_hi, '%')} done",
        working=(
            f"{fmt_num(wall_h * 60)} min / 60 = {fmt_num(wall_h)} h; at {fmt_num(c_lo)}–"
            f"{fmt_num(c_hi)} % done the whole run ≈ {_fmt_range(whole_lo, whole_hi, 'h')}"
        ),
        status=CONSISTENT if matches and finished else INCONSISTENT,
    )


@_derivation("ps_as_hours", 2, compare=True, description="a ps reading in CPU-hours")
def _d_ps_as_hours(row, refs, inp):
    cpu_min, rate = inp.num(refs[0]), inp.num(refs[1])
    wall = cpu_min / rate
    return _Outcome(
        value=cpu_min / 60,
        text=f"{fmt_num(cpu_min / 60, 'CPU-h')} "
        f"({fmt_num(cpu_min, 'CPU-min')}, ≈ {fmt_num(wall, 'h')} wall)",
        working=(
            f"{fmt_num(cpu_min)} CPU-min / 60 = {fmt_num(cpu_min / 60)} CPU-h; wall ≈ "
            f"{fmt_num(cpu_min)} / {fmt_num(rate)} CPU-min per h = {fmt_num(wall)} h"
        ),
    )


@_derivation("excess_pct", 2, compare=True, description="(T - base) / base x 100")
def _d_excess_pct(row, refs, inp):
    t, b = inp.num(refs[0]), inp.num(refs[1])
    v = _pct_over(t, b)
    return _Outcome(
        value=v,
        text=fmt_num(v, "%"),
        working=f"({fmt_num(t)} − {fmt_num(b)}) / {fmt_num(b)} × 100 = {fmt_num(v)} %",
    )


@_derivation("difference", 2, compare=True, description="a - b")
def _d_difference(row, refs, inp):
    a, b = inp.num(refs[0]), inp.num(refs[1])
    return _Outcome(
        value=a - b,
        text=fmt_num(a - b, _unit(row)),
        working=f"{fmt_num(a)} − {fmt_num(b)} = {fmt_num(a - b)}",
    )


@_derivation("pct_per_hour", 2, compare=True, description="(T - base) / base x 100 / base")
def _d_pct_per_hour(row, refs, inp):
    t, b = inp.num(refs[0]), inp.num(refs[1])
    v = _pct_over(t, b) / b
    return _Outcome(
        value=v,
        text=fmt_num(v, "%/h"),
        working=f"({fmt_num(t)} − {fmt_num(b)}) / {fmt_num(b)} × 100 / {fmt_num(b)} "
        f"= {fmt_num(v)} %/h",
    )


@_derivation("pct_per_hour_range", 3, compare=True, description="first and last of pct_per_hour")
def _d_pct_per_hour_range(row, refs, inp):
    t1, t2, b = inp.num(refs[0]), inp.num(refs[1]), inp.num(refs[2])
    lo, hi = _pct_over(t1, b) / b, _pct_over(t2, b) / b
    return _Outcome(
        value=lo,
        high=hi,
        text=_fmt_range(lo, hi, "%/h"),
        working=f"{fmt_num(_pct_over(t1, b))} / {fmt_num(b)} = {fmt_num(lo)}; "
        f"{fmt_num(_pct_over(t2, b))} / {fmt_num(b)} = {fmt_num(hi)}",
    )


@_derivation("increments", (3, 999), compare=False, description="growth of the variance per hour")
def _d_increments(row, refs, inp):
    base = inp.num(refs[0])
    ts = [inp.num(r) for r in refs[1:]]
    pcts = [_pct_over(t, base) for t in ts]
    incs = []
    for (t0, p0), (t1, p1) in itertools.pairwise(zip(ts, pcts, strict=True)):
        if t1 == t0:
            raise _Missing(refs[0], "two milestones share the same time; no increment")
        incs.append((p1 - p0) / (t1 - t0))
    tol = row["tolerance"]
    accelerating = len(incs) >= 2 and all(b - a > tol for a, b in itertools.pairwise(incs))
    const = 100 / base
    return _Outcome(
        value=min(incs),
        high=max(incs),
        text=f"{', '.join(fmt_num(i) for i in incs)} %/h between milestones",
        working=f"Δ variance / Δ T; for any T, d/dT[(T − {fmt_num(base)}) / {fmt_num(base)} × 100] "
        f"= 100 / {fmt_num(base)} = {fmt_num(const)} %/h",
        status=CONSISTENT if accelerating else INCONSISTENT,
        note="the increments do not grow: no acceleration" if not accelerating else "",
    )


@_derivation("product", (2, 999), compare=True, description="product of the inputs")
def _d_product(row, refs, inp):
    xs = [inp.num(r) for r in refs]
    v = math.prod(xs)
    return _Outcome(
        value=v,
        text=fmt_num(v, _unit(row)),
        working=" × ".join(fmt_num(x) for x in xs) + f" = {fmt_num(v)}",
    )


@_derivation("product_plus", (3, 999), compare=True, description="product of all but last + last")
def _d_product_plus(row, refs, inp):
    xs = [inp.num(r) for r in refs]
    v = math.prod(xs[:-1]) + xs[-1]
    return _Outcome(
        value=v,
        text=fmt_num(v, _unit(row)),
        working=" × ".join(fmt_num(x) for x in xs[:-1]) + f" + {fmt_num(xs[-1])} = {fmt_num(v)}",
    )


@_derivation("ratio", 2, compare=True, description="a / b")
def _d_ratio(row, refs, inp):
    a, b = inp.num(refs[0]), inp.num(refs[1])
    return _Outcome(
        value=a / b,
        text=fmt_num(a / b, _unit(row)),
        working=f"{fmt_num(a)} / {fmt_num(b)} = {fmt_num(a / b)}",
    )


@_derivation("ratio_within", 2, compare=True, description="a / b inside the stated range")
def _d_ratio_within(row, refs, inp):
    out = _d_ratio(row, refs, inp)
    out.mode = "within"
    return out


@_derivation("reduction_pct", 2, compare=True, description="(1 - b / a) x 100")
def _d_reduction_pct(row, refs, inp):
    a, b = inp.num(refs[0]), inp.num(refs[1])
    v = (1 - b / a) * 100
    return _Outcome(
        value=v,
        text=fmt_num(v, "%"),
        working=f"(1 − {fmt_num(b)} / {fmt_num(a)}) × 100 = {fmt_num(v)} %",
    )


@_derivation("sum", (2, 999), compare=True, description="sum of the inputs")
def _d_sum(row, refs, inp):
    xs = [inp.num(r) for r in refs]
    return _Outcome(
        value=sum(xs),
        text=fmt_num(sum(xs), _unit(row)),
        working=" + ".join(fmt_num(x) for x in xs) + f" = {fmt_num(sum(xs))}",
    )


@_derivation("hours_to_minutes", 1, compare=True, description="h x 60")
def _d_hours_to_minutes(row, refs, inp):
    h = inp.num(refs[0])
    return _Outcome(
        value=h * 60, text=fmt_num(h * 60, "min"), working=f"{fmt_num(h)} × 60 = {fmt_num(h * 60)}"
    )


@_derivation("speedup_range", 3, compare=True, description="a / high and a / low")
def _d_speedup_range(row, refs, inp):
    a, lo, hi = inp.num(refs[0]), inp.num(refs[1]), inp.num(refs[2])
    return _Outcome(
        value=a / hi,
        high=a / lo,
        text=_fmt_range(a / hi, a / lo, "×"),
        working=f"{fmt_num(a)} / {fmt_num(hi)} = {fmt_num(a / hi)}; "
        f"{fmt_num(a)} / {fmt_num(lo)} = {fmt_num(a / lo)}",
        note="no two measured runtimes enter the ratio",
    )


@_derivation("sleep_floor", (5, 6), compare=False, description="time blocked in CPU samples")
def _d_sleep_floor(row, refs, inp):
    cond, cyc, per, init, block_s = (inp.num(r) for r in refs[:5])
    samples = cond * cyc * per + init
    floor_min = samples * block_s / 60
    est_hi = row["value_high"] if not math.isnan(row["value_high"]) else _paper(row)
    possible = est_hi + row["tolerance"] >= floor_min
    seen = inp.optional(refs[5]) if len(refs) > 5 else None
    note = ""
    if seen is not None:
        note = f"C257 was unfinished at {fmt_num(seen, 'min')} of wall time"
    return _Outcome(
        value=floor_min,
        text=f"≥ {fmt_num(floor_min, 'min')} (blocked in CPU samples alone)",
        working=f"({fmt_num(cond)} × {fmt_num(cyc)} × {fmt_num(per)} + {fmt_num(init)}) samples × "
        f"{fmt_num(block_s)} s = {fmt_num(samples * block_s)} s = {fmt_num(floor_min)} min",
        status=CONSISTENT if possible else INCONSISTENT,
        note=note,
    )


@_derivation("cpu_share", (2, 4), compare=True, description="CPU share from ps snapshot pairs")
def _d_cpu_share(row, refs, inp):
    lo, hi = inp.num(refs[0]), inp.num(refs[1])
    note = f"off the CPU {fmt_num(100 - hi)}–{fmt_num(100 - lo)} % of the time"
    if len(refs) >= 4:
        p_lo, p_hi = inp.optional(refs[2]), inp.optional(refs[3])
        if p_lo is not None and p_hi is not None:
            note += f"; the ps %CPU column read {_fmt_range(p_lo, p_hi, '%')}"
    return _Outcome(
        value=lo,
        high=hi,
        text=f"{_fmt_range(lo, hi, '%')} (ps TIME / elapsed)",
        working=f"CPU-minutes per wall-hour / 60 × 100 = {_fmt_range(lo, hi, '%')}",
        mode="within",
        note=note,
    )


@_derivation("idle_range", 2, compare=True, description="off-CPU share from ps snapshot pairs")
def _d_idle_range(row, refs, inp):
    lo, hi = inp.num(refs[0]), inp.num(refs[1])
    return _Outcome(
        value=lo,
        high=hi,
        text=_fmt_range(lo, hi, "%"),
        working=f"1 − CPU time / wall time = {_fmt_range(lo, hi, '%')}",
        mode="within",
    )


@_derivation("drift_total", 3, compare=False, description="time added by a linear drift")
def _d_drift_total(row, refs, inp):
    slope = _paper(row)
    per, n, excess_h = (inp.num(r) for r in refs)
    total_ms = 0.5 * (slope / per) * n**2
    total_min = total_ms / 60_000
    gap_min = excess_h * 60
    share = total_min / gap_min * 100
    enough = total_min + 1e-9 >= gap_min
    per_txt = "" if per == 1 else f" / {fmt_num(per)}"
    return _Outcome(
        value=total_min,
        text=f"{fmt_num(total_min, 'min')} ({fmt_num(share)} % of the {fmt_num(gap_min)} min gap)",
        working=f"½ × ({fmt_num(slope)} ms{per_txt}) × {fmt_num(n)}² = {fmt_num(total_ms)} ms = "
        f"{fmt_num(total_min)} min",
        status=CONSISTENT if enough else INCONSISTENT,
    )


@_derivation("slope_needed", 2, compare=True, description="slope s with s N^2 / 2 = excess")
def _d_slope_needed(row, refs, inp):
    excess_h, n = inp.num(refs[0]), inp.num(refs[1])
    ms = excess_h * 3_600_000
    s = 2 * ms / n**2
    return _Outcome(
        value=s,
        text=fmt_num(s, "ms/cycle"),
        working=f"2 × {fmt_num(ms)} ms / {fmt_num(n)}² = {fmt_num(s)} ms/cycle",
    )


@_derivation("arena", 3, compare=True, description="pymalloc arena size (KiB)")
def _d_arena(row, refs, inp):
    before, since = inp.num(refs[1]), inp.num(refs[2])
    version = inp.interpreter.get("version") or ".".join(map(str, sys.version_info[:3]))
    arena = inp.optional(refs[0])
    note = ""
    if arena is not None:
        kib = arena / 1024
        return _Outcome(
            value=kib,
            text=f"{fmt_num(kib, 'KiB')} (measured, CPython {version})",
            working=f"sys._debugmallocstats(): {fmt_num(arena)} bytes/arena / 1024 "
            f"= {fmt_num(kib)} KiB",
            note=note,
        )
    major, minor = (int(x) for x in str(version).split(".")[:2])
    kib = since if (major, minor) >= (3, 10) else before
    return _Outcome(
        value=kib,
        text=f"{fmt_num(kib, 'KiB')} (documented for CPython {major}.{minor}, not measured)",
        working="pymalloc did not report its constants here; documented constant for this version",
        note=note,
    )


@_derivation("max_elapsed_by_date", (2, 4), compare=False, description="time between two dates")
def _d_max_elapsed(row, refs, inp):
    start = datetime.strptime(inp.text(refs[0]), "%Y-%m-%d %H:%M")
    day_end = datetime.strptime(inp.text(refs[1]), "%Y-%m-%d") + timedelta(days=1)
    max_h = (day_end - start).total_seconds() / 3600
    possible = _paper(row) <= max_h + row["tolerance"]
    note = "same time zone assumed"
    if len(refs) == 4:
        cpu, rate = inp.optional(refs[2]), inp.optional(refs[3])
        if cpu is not None and rate is not None:
            note += (
                f"; the cutoff reading ({fmt_num(cpu)} CPU-min) came after ≈ "
                f"{fmt_num(cpu / rate, 'h')} of wall time"
            )
    return _Outcome(
        value=max_h,
        text=f"≤ {fmt_num(max_h, 'h')} of wall time by the end of the paper's date",
        working=f"{day_end:%Y-%m-%d %H:%M} − {start:%Y-%m-%d %H:%M} = {fmt_num(max_h)} h",
        status=CONSISTENT if possible else INCONSISTENT,
        note=note,
    )


def _norm(s: str) -> str:
    return " ".join(s.casefold().replace(" x ", " × ").split())


@_derivation("same_text", 1, compare=False, description="the stated text against the archive's")
def _d_same_text(row, refs, inp):
    got = inp.text(refs[0])
    same = _norm(got) == _norm(row["stated"])
    return _Outcome(
        text=f"as run: {got}",
        working=f"paper: {row['stated']}; archive: {got}",
        status=CONSISTENT if same else INCONSISTENT,
    )


@_derivation("requires_completed_runs", 1, compare=False, description="needs a finished run")
def _d_requires_completed(row, refs, inp):
    n = inp.num(refs[0])
    if n == 0:
        return _Outcome(
            value=0.0,
            text="no optimized run finished",
            working=f"{refs[0]} = 0",
            status=INCONSISTENT,
            note="nothing was achieved that could validate H2 or H3",
        )
    return _Outcome(
        value=n,
        text=f"{fmt_num(n)} optimized runs finished; their runtimes are not in the reference data",
        status=UNVERIFIABLE,
    )
