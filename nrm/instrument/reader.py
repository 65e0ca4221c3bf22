"""Reading and validating a run log (a run folder, or a bare ``cycles.csv``) into pandas.

``load_run(path)`` accepts a run folder (``cycles.csv`` + ``run.json``, see docs/run-folder.md)
or a path to a CSV file with the documented columns (nrm/instrument/columns.py), so a log from any
loop can
be analysed. Every problem raises :class:`nrm.exceptions.LogError` naming the file, the line
and the column where it applies, what was expected and the fix.

Types: registry columns get the registry's dtype (``int`` → nullable ``Int64``, ``float`` →
``float64``, ``str`` → ``str``); empty cells (and ``nan``/``NA``) are missing values ("not
measured"). Columns that are not in the registry are kept: numeric if every value parses,
text otherwise.

Truncation: a run that was killed can leave a last line with fewer fields, or without its
newline. When ``run.json`` says the run is not ``complete`` that one line is dropped with a
warning and ``RunData.complete`` is False; in a complete run (or a bare CSV) a short last line
is an error.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm.exceptions import LogError
from nrm.instrument.columns import BY_NAME, REQUIRED
from nrm.paths import CYCLES_CSV, RUN_JSON

__all__ = ["NONNEGATIVE", "RunData", "TruncatedLogWarning", "load_run", "read_cycles", "read_meta"]

#: Columns that can never be negative (durations, counts, sizes). ``blocked_s`` (wall − cpu) is
#: left out on purpose: timer granularity can make it slightly negative.
NONNEGATIVE: frozenset[str] = frozenset(
    c.name
    for c in BY_NAME.values()
    if c.dtype != "str"
    and c.name != "blocked_s"
    and (c.unit in {"s", "bytes", "count", "blocks", "agents", "clusters", "cycle"})
)

_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})


class TruncatedLogWarning(UserWarning):
    """The last line of an incomplete run's cycles.csv was cut off and has been dropped."""


@dataclass
class RunData:
    """One run log in memory.

    ``path`` is what was passed to :func:`load_run`; ``meta`` is run.json (``{}`` for a bare
    CSV); ``cycles`` one row per cycle; ``complete`` is False when run.json's status is not
    ``complete`` or a truncated last line was dropped.
    """

    path: Path
    meta: dict[str, Any]
    cycles: pd.DataFrame
    complete: bool
    csv_path: Path | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """run.json's ``name``, else the folder name (or the CSV's stem for a bare CSV)."""
        if isinstance(self.meta.get("name"), str) and self.meta["name"]:
            return self.meta["name"]
        p = self.path
        if p.is_dir():
            return p.name
        return p.parent.name if p.name in (CYCLES_CSV, RUN_JSON) else p.stem

    @property
    def conditions(self) -> list[str]:
        """Condition labels in order of first appearance (one unnamed group if no column)."""
        if "condition" not in self.cycles:
            return []
        return [str(c) for c in pd.unique(self.cycles["condition"].dropna())]


def load_run(path: str | Path) -> RunData:
    """Read a run folder or a cycles.csv file; validate it; return a :class:`RunData`.

    A CSV file named ``cycles.csv`` with a ``run.json`` beside it is read as its run folder.
    """
    p = Path(path)
    if p.name == RUN_JSON and p.is_file():  # run.json given: read its folder
        p = p.parent
    if not p.exists():
        raise LogError(
            f"{p}: no such file or folder; expected a run folder holding {CYCLES_CSV} "
            f"(and {RUN_JSON}) or the path of a cycles CSV file"
        )
    if p.is_dir():
        csv_path = p / CYCLES_CSV
        json_path: Path | None = p / RUN_JSON
        if not csv_path.is_file():
            raise LogError(
                f"{csv_path}: missing; a run folder must hold {CYCLES_CSV} (see "
                "docs/run-folder.md). Pass the folder the run wrote, or the CSV file itself"
            )
    else:
        csv_path = p
        json_path = p.parent / RUN_JSON if p.name == CYCLES_CSV else None

    has_json = json_path is not None and json_path.is_file()
    meta: dict[str, Any] = read_meta(json_path) if has_json and json_path else {}
    # run.json: only status "complete" is complete. A bare CSV carries no status: it is taken
    # as complete (a short last line is then an error).
    complete = meta.get("status") == "complete" if has_json else True
    cycles, dropped = read_cycles(
        csv_path, allow_truncated_tail=not complete, status=meta.get("status")
    )
    return RunData(
        path=p, meta=meta, cycles=cycles, complete=complete and not dropped, csv_path=csv_path
    )


def read_meta(path: str | Path) -> dict[str, Any]:
    """Parse run.json (:func:`nrm.instrument.runrecord.read_run_json`: its one reader)."""
    from nrm.instrument.runrecord import read_run_json

    return read_run_json(path)


def read_cycles(
    path: str | Path, *, allow_truncated_tail: bool = False, status: str | None = None
) -> tuple[pd.DataFrame, bool]:
    """Read and validate a cycles CSV. Returns ``(frame, dropped_truncated_last_line)``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise LogError(f"{path}: missing; expected the cycles CSV of a run") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LogError(
            f"{path}: not UTF-8 text (bad byte at offset {exc.start}); expected a CSV file"
        ) from exc
    lines = text.removeprefix("\ufeff").splitlines()  # a BOM is not part of the first name
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise LogError(f"{path}: empty file; expected a header line naming the columns")
    ends_with_newline = text.rstrip(" \t").endswith(("\n", "\r"))

    header = next(csv.reader([lines[0]]))
    header = [h.strip() for h in header]
    _check_header(path, header)
    ncol = len(header)

    rows = list(csv.reader(lines[1:]))
    line_no = np.arange(2, len(rows) + 2)
    dropped = False
    if rows:
        last = len(rows[-1])
        if last > ncol:
            raise LogError(
                f"{path}: line {line_no[-1]} has {last} fields, expected {ncol} (the header's); "
                "the line is corrupt"
            )
        if last < ncol or not ends_with_newline:
            if allow_truncated_tail:
                why = f"{last} of {ncol} fields" if last < ncol else "no final newline"
                warnings.warn(
                    f"{path}: dropped the truncated last line {line_no[-1]} ({why}); the run is "
                    f"incomplete (run.json status {status!r})",
                    TruncatedLogWarning,
                    stacklevel=3,
                )
                rows.pop()
                line_no = line_no[:-1]
                dropped = True
            elif last < ncol:
                raise LogError(
                    f"{path}: line {line_no[-1]} is truncated ({last} of {ncol} fields) but the "
                    "run is marked complete (or has no run.json). Re-run, or if the run was "
                    "interrupted set run.json status to 'interrupted' so the line is dropped"
                )
    if not rows:
        raise LogError(f"{path}: has a header but no data rows; expected one row per cycle")

    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(lengths != ncol)
    if bad.size:
        i = int(bad[0])
        what = "is empty" if lengths[i] == 0 else f"has {lengths[i]} fields, expected {ncol}"
        raise LogError(
            f"{path}: line {line_no[i]} {what} (the header has {ncol} columns); "
            f"{bad.size} such line(s) in all. The file is corrupt"
        )

    body = "\n".join([lines[0], *lines[1 : 1 + len(rows)]])
    str_cols = {h: str for h in header if h in BY_NAME and BY_NAME[h].dtype == "str"}
    try:
        parsed = pd.read_csv(io.StringIO(body), dtype=str_cols, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as exc:  # pragma: no cover - caught above
        raise LogError(f"{path}: cannot be parsed as CSV ({exc})") from exc
    parsed.columns = header
    frame = pd.DataFrame({name: _convert(path, name, parsed[name], line_no) for name in header})
    _check_values(path, frame, line_no)
    return frame, dropped


def _check_header(path: Path, header: list[str]) -> None:
    empty = [i + 1 for i, h in enumerate(header) if not h]
    if empty:
        raise LogError(f"{path}: header field(s) {empty} are empty; every column needs a name")
    seen: set[str] = set()
    dups = sorted({h for h in header if h in seen or seen.add(h)})
    if dups:
        raise LogError(f"{path}: header names these columns more than once: {', '.join(dups)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise LogError(
            f"{path}: missing required column(s) {', '.join(missing)}; a cycles CSV needs "
            f"{', '.join(REQUIRED)} (see nrm/instrument/columns.py). Found: {', '.join(header)}"
        )


def _convert(path: Path, name: str, s: pd.Series, line_no: np.ndarray) -> pd.Series:
    col = BY_NAME.get(name)
    if col is not None and col.dtype == "str":
        return s.astype("str")
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        text = s.astype(object).where(s.notna(), "").astype(str).str.strip()
        missing = text.str.lower().isin(_MISSING_TOKENS).to_numpy()
        values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
        unparsed = np.isnan(values) & ~missing
        if unparsed.any():
            if col is None:  # an extra column of text: keep it as text
                return s.astype("str")
            i = int(np.flatnonzero(unparsed)[0])
            raise LogError(
                f"{path}: line {line_no[i]}, column {name!r}: {text.iloc[i]!r} is not a number "
                f"(expected {col.dtype} in {col.unit}); {int(unparsed.sum())} such value(s) in "
                "the column"
            )
    else:
        values = s.to_numpy(dtype=float)
    if col is None:
        return pd.Series(values, dtype="float64", name=name)
    infinite = np.isinf(values)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise LogError(
            f"{path}: line {line_no[i]}, column {name!r}: {values[i]} is not finite; "
            "expected a measured value or an empty cell"
        )
    if col.dtype == "int":
        frac = ~np.isnan(values) & (values != np.round(values))
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise LogError(
                f"{path}: line {line_no[i]}, column {name!r}: {values[i]!r} is not a whole "
                f"number (expected an integer {col.unit})"
            )
        return pd.Series(values, name=name).astype("Int64")
    return pd.Series(values, dtype="float64", name=name)


def _check_values(path: Path, frame: pd.DataFrame, line_no: np.ndarray) -> None:
    for name in REQUIRED:
        isna = frame[name].isna().to_numpy()
        if isna.any():
            i = int(np.flatnonzero(isna)[0])
            raise LogError(
                f"{path}: line {line_no[i]}, column {name!r} is empty; the required columns "
                f"({', '.join(REQUIRED)}) must have a value on every line"
            )
    for name in frame.columns:
        if name not in NONNEGATIVE:
            continue
        v = frame[name].to_numpy(dtype=float, na_value=np.nan)
        neg = v < 0
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            kind = "duration" if BY_NAME[name].unit == "s" else "count/size"
            raise LogError(
                f"{path}: line {line_no[i]}, column {name!r}: {v[i]:g} is negative; a {kind} "
                f"cannot be negative ({int(neg.sum())} such value(s))"
            )
    step = frame["step"].to_numpy(dtype=np.int64)
    nonincr = np.flatnonzero(np.diff(step) <= 0)
    if nonincr.size:
        i = int(nonincr[0]) + 1
        what = "repeats" if step[i] == step[i - 1] else "goes back from"
        raise LogError(
            f"{path}: line {line_no[i]}, column 'step': {step[i]} {what} {step[i - 1]} on line "
            f"{line_no[i - 1]}; 'step' must increase strictly (one row per cycle, in order). "
            "The log was appended twice or rows were reordered"
        )
