"""The original runs' ``ps`` snapshots re-read with units corrected, and the corrected Table 1."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.claims.derive import _pct_over, _run_summary
from nrm.claims.reference import _claim_records, _snapshot_records, _table1_records
from nrm.claims.units import fmt_num
from nrm.claims.vocab import (
    CONSISTENT,
    EMPTY,
    INCONSISTENT,
    RATE_TOLERANCE,
    SNAPSHOTS_CSV,
    UNVERIFIABLE,
)

SNAPSHOT_TABLE_COLUMNS = (
    "snapshot_id", "run", "label", "wall_as_noted", "wall_h", "wall_is_estimate",
    "cpu_as_printed", "cpu_min", "cpu_min_per_wall_h", "cpu_pct", "idle_pct", "ps_pcpu",
    "read_in_notes_as", "cpu_h_per_wall_h_as_read", "rate_check", "rate_check_note", "note",
)  # fmt: skip


def _wall_as_noted(s: dict[str, Any]) -> str:
    if not s["wall_elapsed"]:
        return ""
    unit = {"hours": " h", "minutes": " min", "h:mm:ss": " (h:mm:ss)"}[s["wall_format"]]
    est = " (estimate)" if s["estimate"] else ""
    return f"{s['wall_elapsed']}{unit}{est}"


def _display(df: pd.DataFrame) -> pd.DataFrame:
    def cell(v: Any) -> str:
        if v is None:
            return EMPTY
        if isinstance(v, float):
            return fmt_num(v)
        s = str(v)
        return s if s.strip() else EMPTY

    return df.map(cell)


def snapshot_table(
    reference_dir: str | Path | None = None, *, display: bool = False
) -> pd.DataFrame:
    """The recorded ``ps`` snapshots with the units corrected, one row per snapshot.

    ``cpu_min`` is the ps TIME read as minutes:seconds; ``cpu_min_per_wall_h`` its rate of growth;
    ``cpu_pct`` = CPU time / wall time (the lifetime CPU share) and ``idle_pct`` = 100 − cpu_pct
    (asleep, blocked or waiting). ``cpu_h_per_wall_h_as_read`` is what the notes' reading (TIME as
    hours) implies: CPU-hours per wall-hour, i.e. cores kept busy by a single-threaded script.
    ``rate_check`` compares a row's rate with its run's median rate (``RATE_TOLERANCE``).
    ``display=True`` returns strings with "—" for missing values.
    """
    snaps = _snapshot_records(reference_dir)
    runs = _run_summary(snaps)
    rows = []
    for s in snaps:
        rate = s["rate"]
        run = runs.get(s["run"])
        if math.isnan(s["cpu_min"]):
            check, why = UNVERIFIABLE, "no CPU time recorded"
        elif math.isnan(s["wall_min"]):
            check, why = UNVERIFIABLE, "wall time not recorded with the reading"
        elif run is None:
            check, why = UNVERIFIABLE, "no fully recorded snapshot of this run to compare with"
        else:
            dev = rate / run["rate"] - 1
            ok = abs(dev) <= RATE_TOLERANCE
            check = CONSISTENT if ok else INCONSISTENT
            why = (
                f"{fmt_num(rate)} vs the run's {fmt_num(run['rate'])} CPU-min per wall-h "
                f"({dev * 100:+.0f} %)"
            )
            if s["estimate"]:
                why += "; wall time is an estimate in the notes"
        share = rate / 60 * 100 if not math.isnan(rate) else math.nan
        rows.append(
            {
                "snapshot_id": s["snapshot_id"],
                "run": s["run"],
                "label": s["label"],
                "wall_as_noted": _wall_as_noted(s),
                "wall_h": s["wall_h"],
                "wall_is_estimate": s["wall_is_estimate"],
                "cpu_as_printed": s["cpu_time"],
                "cpu_min": s["cpu_min"],
                "cpu_min_per_wall_h": rate,
                "cpu_pct": share,
                "idle_pct": 100 - share,
                "ps_pcpu": s["ps_pcpu"],
                "read_in_notes_as": s["read_in_notes_as"],
                "cpu_h_per_wall_h_as_read": rate,
                "rate_check": check,
                "rate_check_note": why,
                "note": s["note"],
            }
        )
    df = pd.DataFrame(rows, columns=list(SNAPSHOT_TABLE_COLUMNS))
    return _display(df) if display else df


RUN_RATE_COLUMNS = (
    "run", "pairs", "cpu_min_per_wall_h", "rate_min", "rate_max", "cpu_pct_min", "cpu_pct_max",
    "idle_pct_min", "idle_pct_max",
)  # fmt: skip


def run_rates(reference_dir: str | Path | None = None) -> pd.DataFrame:
    """Per run: the median CPU-minutes per wall-hour over its fully recorded, non-estimated
    snapshot pairs (the "consensus rate"), their range, and the CPU and idle shares they imply."""
    runs = _run_summary(_snapshot_records(reference_dir))
    rows = [
        {
            "run": run,
            "pairs": int(r["n"]),
            "cpu_min_per_wall_h": r["rate"],
            "rate_min": r["rate_min"],
            "rate_max": r["rate_max"],
            "cpu_pct_min": r["share_min"],
            "cpu_pct_max": r["share_max"],
            "idle_pct_min": r["idle_min"],
            "idle_pct_max": r["idle_max"],
        }
        for run, r in runs.items()
    ]
    return pd.DataFrame(rows, columns=list(RUN_RATE_COLUMNS))


TABLE1_OUT_COLUMNS = (
    "phase", "paper_time", "paper_variance", "paper_rate", "ps_reading", "cpu_min", "wall_h",
    "wall_h_low", "wall_h_high", "wall_basis", "elapsed_vs_c255_pct", "note",
)  # fmt: skip


def corrected_table1(
    reference_dir: str | Path | None = None, *, display: bool = False
) -> pd.DataFrame:
    """The paper's Table 1 beside its readings with the units corrected.

    For each milestone: the paper's printed numbers, the ps reading behind them in CPU-minutes,
    the wall time they imply at C256's rate (``wall_h``; ``wall_h_low``–``wall_h_high`` over the
    range of the recorded pairs' rates), and the elapsed wall time relative to C255's 20.1 h,
    which was itself an elapsed time of an unfinished run, not a completed runtime.
    """
    layout = _table1_records(reference_dir)
    claims = {c["claim_id"]: c for c in _claim_records(reference_dir)}
    snaps = {s["snapshot_id"]: s for s in _snapshot_records(reference_dir)}
    runs = _run_summary(list(snaps.values()))
    base_row = next(
        (r for r in layout if snaps.get(r["snapshot_id"], {}).get("run") == "C255"), None
    )
    base_h = snaps[base_row["snapshot_id"]]["wall_h"] if base_row else math.nan

    def stated(cid: str) -> str:
        return claims[cid]["stated"] if cid in claims else ""

    rows = []
    for r in layout:
        s = snaps.get(r["snapshot_id"])
        cpu = s["cpu_min"] if s else math.nan
        run = runs.get(s["run"]) if s else None
        wall = lo = hi = math.nan
        basis, note = "", ""
        if s is None:
            note = f"no ps reading {r['snapshot_id']!r} in {SNAPSHOTS_CSV}"
        elif s["run"] == "C255":
            wall = s["wall_h"]
            basis = "recorded (C255, unfinished)"
            note = f"ps %CPU {fmt_num(s['ps_pcpu'])} at the time; no CPU time recorded"
        elif not math.isnan(cpu) and run is not None:
            wall, lo, hi = cpu / run["rate"], cpu / run["rate_max"], cpu / run["rate_min"]
            basis = f"implied at {s['run']}'s rate of {fmt_num(run['rate'])} CPU-min per wall-h"
            if not math.isnan(s["wall_h"]):
                note = (
                    f"the notes put this reading at {_wall_as_noted(s)}, which the rate contradicts"
                    if abs(s["rate"] / run["rate"] - 1) > RATE_TOLERANCE
                    else f"recorded wall time {fmt_num(s['wall_h'], 'h')}"
                )
            else:
                note = "wall time not recorded with the reading"
        rows.append(
            {
                "phase": r["phase"],
                "paper_time": stated(r["time_claim"]),
                "paper_variance": stated(r["variance_claim"]),
                "paper_rate": stated(r["rate_claim"]),
                "ps_reading": s["cpu_time"] if s else "",
                "cpu_min": cpu,
                "wall_h": wall,
                "wall_h_low": lo,
                "wall_h_high": hi,
                "wall_basis": basis,
                "elapsed_vs_c255_pct": math.nan
                if s is None or s["run"] == "C255"
                else _pct_over(wall, base_h),
                "note": note,
            }
        )
    df = pd.DataFrame(rows, columns=list(TABLE1_OUT_COLUMNS))
    return _display(df) if display else df


