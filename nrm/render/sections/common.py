"""Helpers the paper's sections share: headings, figure and source lines, p values, notes on
the study's repeated numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.render.inputs import PaperInputs
from nrm.render.text import duration, num

__all__ = ["claims_by_id", "dash", "figure_line", "heading", "n_text", "p_text", "repeated_note",
           "runs_source", "too_short"]


def p_text(p: Any) -> str:
    from nrm.stats.tables import format_p

    return format_p(float(p))


def heading(text: str, level: int = 2) -> str:
    return f"{'#' * level} {text}\n"


def too_short(seconds: float) -> str:
    return f"not meaningful (run of {duration(seconds)})"


def runs_source(inp: PaperInputs, names: list[str]) -> str:
    """'Data: `data/runs/<scale>/<run>/cycles.csv`' for the runs a figure draws."""
    paths_ = [inp.rel(Path(inp.runs[n].path) / paths.CYCLES_CSV) for n in names if n in inp.runs]
    if len(paths_) > 2:
        folder = inp.rel(Path(inp.runs[names[0]].path).parent)
        return f"Data: `{folder}/*/cycles.csv` ({len(paths_)} runs)."
    return "Data: " + ", ".join(f"`{x}`" for x in paths_) + "."


def figure_line(stem: str, rel: Mapping[str, str], n: int, caption: str) -> str:
    return f"![Figure {n}]({rel[stem]})\n\n*Figure {n}.* {caption}\n"


def n_text(n: Any) -> str:
    """The study's n: '205 runs', or 'n = 5 blocks' for one arm, '5 blocks x 6 arms' for
    several with the same n ('arm=5, arm=4' otherwise)."""
    text = str(n)
    if "=" not in text:
        return f"n = {text} runs"
    parts = [p.rsplit("=", 1) for p in text.split(", ")]
    values = {v.strip() for _, v in parts}
    if len(values) == 1:
        v = values.pop()
        return f"n = {v} blocks" + (f" x {len(parts)} arms" if len(parts) > 1 else "")
    return "n: " + text


def repeated_note(inp: PaperInputs, *keys: str) -> str:
    """' Repeated in the causal study: ...' for the comparisons ``keys`` (or why not)."""
    rep = inp.study
    got = [rep[k] for k in keys if k in rep]
    if not got:
        return (" This is one run per arm (n = 1); no causal study was analysed at this scale "
                "to repeat it.")
    return (" That is one run per arm (n = 1). Repeated in the causal study (Section 10, Table "
            "[[headline]]): " + "; ".join(f"{r.label}, {r.text()}" for r in got) + ".")


def claims_by_id(inp: PaperInputs, measured: Mapping[str, Any] | None = None) -> pd.DataFrame:
    return inp.claims.ledger(measured=measured).set_index("claim_id")


def dash(v: Any, fmt: Any = None) -> str:
    """``fmt(v)`` for a number, '—' when missing; without ``fmt``, :func:`num` at 4 digits."""
    if fmt is None:
        return num(v, 4)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—" if v is None else str(v)
    return "—" if math.isnan(x) else fmt(x)


def run_scale(inp: PaperInputs) -> str:
    """'200 cycles x 15 agents': the scale of this build's single runs (C256 unoptimized's)."""
    p = inp.slow.meta.get("parameters") or {}
    return f"{p.get('cycles')} cycles x {p.get('max_agents')} agents"


def study_scale(inp: PaperInputs, cycles: float = math.nan) -> str:
    """'10 cycles x 10 agents' (the study's faithful arms; ``cycles``: the cycles a repeated
    comparison was read over), '' when the study's scale is unknown."""
    import json

    from nrm.exceptions import NrmError
    from nrm.run.scales import get_study_scale

    try:
        summary = json.loads((Path(inp.study_dir or ".") / "study_summary.json")
                             .read_text(encoding="utf-8"))
        sc = get_study_scale(str(summary.get("scale")))
    except (OSError, ValueError, NrmError):
        return ""
    n = int(cycles) if math.isfinite(cycles) else sc.short_cycles
    return f"{n} cycles x {sc.max_agents} agents"
