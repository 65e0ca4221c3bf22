"""Column access shared by the statistics: numeric arrays, usability checks, scopes, time axis."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from nrm.exceptions import LogError, ParameterError
from nrm.instrument.reader import RunData

__all__ = ["RUN_SCOPE", "TimeSource", "as_cycles", "column", "cumulative_time", "scopes", "usable"]

RUN_SCOPE = "whole run"
TimeSource = Literal["auto", "elapsed_s", "wall_s"]


def as_cycles(data: RunData | pd.DataFrame) -> pd.DataFrame:
    """The cycles table of a RunData, or the frame itself (checked for the required columns)."""
    df = data.cycles if isinstance(data, RunData) else data
    if not isinstance(df, pd.DataFrame):
        raise ParameterError(f"expected a RunData or a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in ("step", "cycle", "wall_s") if c not in df]
    if missing:
        raise LogError(
            f"cycles table lacks required column(s) {', '.join(missing)}; load logs with "
            "nrm.instrument.reader.load_run"
        )
    if len(df) == 0:
        raise LogError("cycles table has no rows; nothing to analyse")
    return df


def column(df: pd.DataFrame, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing values (nullable ints included)."""
    s = df[name]
    if not pd.api.types.is_numeric_dtype(s.dtype):
        s = pd.to_numeric(s, errors="coerce")
    return s.to_numpy(dtype=float, na_value=np.nan)


def usable(df: pd.DataFrame, name: str, min_points: int) -> tuple[np.ndarray | None, str | None]:
    """(values, None) if the column can be tested, else (None, the reason in words)."""
    if name not in df:
        return None, f"{name} is not in the log"
    v = column(df, name)
    k = int(np.isfinite(v).sum())
    if k == 0:
        return None, f"{name} has no values (not measured on this machine)"
    if k < min_points:
        values = "value" if k == 1 else "values"
        return None, f"{name} has only {k} {values} (at least {min_points} needed)"
    finite = v[np.isfinite(v)]
    if np.ptp(finite) == 0:
        return None, f"{name} is constant ({finite[0]:g}) over this part: nothing to correlate"
    return v, None


def scopes(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The whole run first, then each condition in order of appearance (if there are >1)."""
    out: list[tuple[str, pd.DataFrame]] = [(RUN_SCOPE, df)]
    if "condition" in df:
        labels = pd.unique(df["condition"].dropna())
        if len(labels) > 1:
            cond = df["condition"]
            out += [(str(c), df[cond == c]) for c in labels]
    return out


def cumulative_time(df: pd.DataFrame, source: TimeSource = "auto") -> tuple[np.ndarray, str]:
    """Seconds since the start after each row, and which column it came from.

    ``elapsed_s`` (wall clock since the run started: set-up between conditions included) when
    it is complete and non-decreasing; otherwise the running sum of ``wall_s`` (cycle time
    only). ``source`` forces one.
    """
    if source not in ("auto", "elapsed_s", "wall_s"):
        raise ParameterError(f"time source {source!r}; expected 'auto', 'elapsed_s' or 'wall_s'")
    if source in ("auto", "elapsed_s") and "elapsed_s" in df:
        e = column(df, "elapsed_s")
        if np.isfinite(e).all() and (np.diff(e) >= 0).all():
            return e, "elapsed_s"
        if source == "elapsed_s":
            raise LogError("elapsed_s has missing or decreasing values; use time source 'wall_s'")
    elif source == "elapsed_s":
        raise LogError("time source 'elapsed_s' requested but the log has no elapsed_s column")
    return np.cumsum(column(df, "wall_s")), "cumulative wall_s"
