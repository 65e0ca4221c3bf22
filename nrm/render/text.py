"""Small text helpers for notebooks and the paper: run summaries and number formatting."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["condition_table", "duration", "num", "pct", "table"]


def condition_table(meta: dict[str, Any]) -> pd.DataFrame:
    """One row per condition of a run, from its run.json content."""
    rows = []
    for cond, r in (meta.get("conditions") or {}).items():
        rows.append({
            "condition": cond,
            "mean population": r.get("mean"),
            "final population": r.get("final"),
            "max population": r.get("max"),
            "runtime (s)": r.get("runtime_s"),
            "CPU time (s)": r.get("cpu_s"),
            "metrics samples": r.get("samples"),
            "SQLite commits": r.get("commits"),
            "evolve calls": r.get("evolve_calls"),
            "original would crash at cycle": r.get("crash_cycle"),
        })
    return pd.DataFrame(rows)


def num(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (thousands separated); '—' if missing."""
    if v is None:
        return "—"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def pct(v: Any, digits: int = 3) -> str:
    """A signed percentage: +5.49 %."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    s = num(v, digits)
    return f"{'+' if float(v) > 0 else ''}{s} %"


def duration(seconds: Any) -> str:
    """Seconds as '12.3 s', '4.5 min' or '2.1 h'."""
    if seconds is None:
        return "—"
    s = float(seconds)
    if math.isnan(s):
        return "—"
    if s < 120:
        return f"{num(s)} s"
    if s < 7200:
        return f"{num(s / 60)} min"
    return f"{num(s / 3600)} h"


def table(df: pd.DataFrame, *, digits: int = 4) -> str:
    """A DataFrame as a Markdown pipe table, cells formatted by ``nrm.stats.tables`` and made
    safe for a pipe table (``|`` escaped, line breaks removed)."""
    from nrm.stats.tables import format_table

    text = format_table(df, digits=digits)
    for c in text.columns:
        text[c] = [str(v).replace("|", "\\|").replace("\n", " ") for v in text[c]]
    numeric = [pd.api.types.is_numeric_dtype(df[c].dtype)
               and not pd.api.types.is_bool_dtype(df[c].dtype) for c in df.columns]
    align = ["right" if n else "left" for n in numeric]
    md = text.to_markdown(index=False, colalign=align)
    from nrm.provenance import active

    rec = active()  # the paper records each table's values for its provenance stamp
    return md if rec is None else f"{rec.add(df)}\n{md}"
