"""The paper's numbers as data: reading and checking ``data/reference/``.

Every file read here holds the paper's or the original archive's numbers, none of ours;
``data/reference/README.md`` describes every column.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.claims.derive import DERIVATIONS
from nrm.claims.units import parse_ps_time, parse_wall
from nrm.claims.vocab import (
    ARCHIVE_CSV,
    CLAIMS_CSV,
    SNAPSHOTS_CSV,
    TABLE1_CSV,
)
from nrm.exceptions import LogError, ParameterError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


CLAIM_COLUMNS = (
    "claim_id", "role", "origin", "section", "quantity", "stated", "value", "value_high",
    "unit_stated", "unit_established", "kind", "tolerance", "tolerance_basis", "derivation",
    "inputs", "check", "provenance", "problem",
)  # fmt: skip
ARCHIVE_COLUMNS = ("value_id", "kind", "value", "value_high", "unit", "source")
SNAPSHOT_COLUMNS = (
    "snapshot_id", "run", "label", "wall_elapsed", "wall_format", "wall_is_estimate", "cpu_time",
    "cpu_format", "ps_pcpu", "read_in_notes_as", "note",
)  # fmt: skip
TABLE1_COLUMNS = ("phase_id", "phase", "time_claim", "variance_claim", "rate_claim", "snapshot_id")

ROLES = ("claim", "input")
ARCHIVE_KINDS = ("number", "text", "date", "datetime")


def _ref_dir(reference_dir: str | Path | None) -> Path:
    return Path(reference_dir) if reference_dir is not None else paths.REFERENCE


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a reference CSV as (line number, {column: stripped text}), checked for shape."""
    if not path.is_file():
        raise LogError(
            f"reference file {path} is missing; expected the compendium's data/reference/ files "
            "(restore it from the repository)"
        )
    rows: list[tuple[int, dict[str, str]]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise LogError(f"{path}: the file is empty; expected a header line") from None
        except csv.Error as exc:
            raise LogError(f"{path}: line 1: unreadable CSV ({exc})") from None
        header = [h.strip() for h in header]
        missing = [c for c in columns if c not in header]
        unknown = [h for h in header if h not in columns]
        if missing or unknown or len(set(header)) != len(header):
            raise LogError(
                f"{path}: line 1: header {header} does not match; expected the columns "
                f"{list(columns)} (missing: {missing or 'none'}, unknown: {unknown or 'none'})"
            )
        try:
            for raw in reader:
                if not raw or all(not f.strip() for f in raw):
                    continue
                if len(raw) != len(header):
                    raise LogError(
                        f"{path}: line {reader.line_num}: {len(raw)} fields, expected "
                        f"{len(header)} ({', '.join(header)}); quote fields that contain commas"
                    )
                fields = {h: f.strip() for h, f in zip(header, raw, strict=True)}
                rows.append((reader.line_num, fields))
        except csv.Error as exc:
            raise LogError(f"{path}: line {reader.line_num}: unreadable CSV ({exc})") from None
    return rows


def _float(path: Path, line: int, column: str, text: str, *, empty_ok: bool = True) -> float:
    if text == "":
        if empty_ok:
            return math.nan
        raise LogError(f"{path}: line {line}: column {column!r} is empty; expected a number")
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        raise LogError(
            f"{path}: line {line}: column {column!r} holds {text!r}; expected a number "
            "(or an empty cell)"
        ) from None
    if not math.isfinite(value):
        raise LogError(
            f"{path}: line {line}: column {column!r} holds {text!r}; expected a finite number"
        )
    return value


def _check_id(path: Path, line: int, column: str, value: str, seen: set[str]) -> None:
    if not _ID.match(value):
        raise LogError(
            f"{path}: line {line}: {column} {value!r} is not a valid id; expected letters, digits, "
            "'.', '_' or '-'"
        )
    if value in seen:
        raise LogError(f"{path}: line {line}: {column} {value!r} appears twice; ids must be unique")
    seen.add(value)


_REF = re.compile(
    r"^(?:claim:[^:\s]+(?::high)?|arch:[^:\s]+(?::high)?|ps:[^:\s]+:(?:wall_min|wall_h|cpu_min|rate)"
    r"|psrun:[^:\s]+:(?:rate|rate_min|rate_max|share_min|share_max|idle_min|idle_max)"
    r"|py:(?:arena_bytes|small_threshold|version)|lit:-?\d+(?:\.\d+)?)$"
)


def _split_refs(text: str) -> list[str]:
    return [r.strip() for r in text.split(";") if r.strip()]


def _claim_records(reference_dir: str | Path | None) -> list[dict[str, Any]]:
    path = _ref_dir(reference_dir) / CLAIMS_CSV
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for line, r in _read_rows(path, CLAIM_COLUMNS):
        _check_id(path, line, "claim_id", r["claim_id"], seen)
        if r["role"] not in ROLES:
            raise LogError(
                f"{path}: line {line}: role {r['role']!r} is unknown; expected one of {ROLES}"
            )
        for col in ("quantity", "stated", "check", "provenance", "section", "origin"):
            if not r[col]:
                raise LogError(
                    f"{path}: line {line}: column {col!r} is empty; every claim needs it"
                )
        rec: dict[str, Any] = dict(r)
        rec["line"] = line
        rec["value"] = _float(path, line, "value", r["value"])
        rec["value_high"] = _float(path, line, "value_high", r["value_high"])
        rec["tolerance"] = _float(path, line, "tolerance", r["tolerance"])
        if not math.isnan(rec["value_high"]) and (
            math.isnan(rec["value"]) or rec["value_high"] < rec["value"]
        ):
            raise LogError(
                f"{path}: line {line}: value_high {r['value_high']!r} needs a value below it "
                f"(value is {r['value']!r})"
            )
        if not math.isnan(rec["tolerance"]) and rec["tolerance"] < 0:
            raise LogError(f"{path}: line {line}: tolerance must be >= 0, found {r['tolerance']!r}")
        name = r["derivation"]
        if name not in DERIVATIONS:
            raise LogError(
                f"{path}: line {line}: derivation {name!r} is unknown; expected one of "
                f"{sorted(DERIVATIONS)}"
            )
        d = DERIVATIONS[name]
        refs = _split_refs(r["inputs"])
        bad = [x for x in refs if not _REF.match(x)]
        if bad:
            raise LogError(
                f"{path}: line {line}: input reference(s) {bad} are malformed; expected "
                "claim:ID[:high], arch:ID[:high], ps:SNAPSHOT:FIELD, psrun:RUN:FIELD, py:KEY or "
                "lit:NUMBER"
            )
        if not d.min_inputs <= len(refs) <= d.max_inputs:
            want = (
                str(d.min_inputs)
                if d.min_inputs == d.max_inputs
                else f"{d.min_inputs} to {'any' if d.max_inputs > 99 else d.max_inputs}"
            )
            raise LogError(
                f"{path}: line {line}: derivation {name!r} takes {want} inputs, found {len(refs)}"
            )
        if d.needs_tolerance and math.isnan(rec["tolerance"]):
            raise LogError(
                f"{path}: line {line}: derivation {name!r} compares with the paper's value and "
                "needs a tolerance (e.g. half a unit of the last stated digit)"
            )
        rec["refs"] = refs
        out.append(rec)
    return out


def _archive_records(reference_dir: str | Path | None) -> dict[str, dict[str, Any]]:
    path = _ref_dir(reference_dir) / ARCHIVE_CSV
    seen: set[str] = set()
    out: dict[str, dict[str, Any]] = {}
    for line, r in _read_rows(path, ARCHIVE_COLUMNS):
        _check_id(path, line, "value_id", r["value_id"], seen)
        kind = r["kind"]
        if kind not in ARCHIVE_KINDS:
            raise LogError(
                f"{path}: line {line}: kind {kind!r} is unknown; expected one of {ARCHIVE_KINDS}"
            )
        rec: dict[str, Any] = dict(r)
        rec["line"] = line
        rec["number"] = math.nan
        rec["number_high"] = math.nan
        if kind == "number":
            rec["number"] = _float(path, line, "value", r["value"])
            rec["number_high"] = _float(path, line, "value_high", r["value_high"])
        elif kind in ("date", "datetime") and r["value"]:
            pattern = "%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%M"
            try:
                datetime.strptime(r["value"], pattern)
            except ValueError:
                raise LogError(
                    f"{path}: line {line}: {kind} {r['value']!r} does not match {pattern}"
                ) from None
        out[r["value_id"]] = rec
    return out


def _snapshot_records(reference_dir: str | Path | None) -> list[dict[str, Any]]:
    path = _ref_dir(reference_dir) / SNAPSHOTS_CSV
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for line, r in _read_rows(path, SNAPSHOT_COLUMNS):
        _check_id(path, line, "snapshot_id", r["snapshot_id"], seen)
        if not r["run"]:
            raise LogError(f"{path}: line {line}: column 'run' is empty; expected e.g. C256")
        if r["wall_is_estimate"] not in ("", "yes", "no"):
            raise LogError(
                f"{path}: line {line}: wall_is_estimate {r['wall_is_estimate']!r}; expected yes, "
                "no or empty"
            )
        rec: dict[str, Any] = dict(r)
        rec["line"] = line
        try:
            rec["wall_min"] = (
                parse_wall(r["wall_elapsed"], r["wall_format"]) if r["wall_elapsed"] else math.nan
            )
            if r["cpu_time"] and r["cpu_format"] not in ("ps_time", "minutes"):
                raise ParameterError(
                    f"cpu_format {r['cpu_format']!r} is unknown; expected ps_time or minutes"
                )
            rec["cpu_min"] = parse_ps_time(r["cpu_time"]) if r["cpu_time"] else math.nan
        except ParameterError as exc:
            raise LogError(f"{path}: line {line}: {exc}") from None
        rec["ps_pcpu"] = _float(path, line, "ps_pcpu", r["ps_pcpu"])
        rec["wall_h"] = rec["wall_min"] / 60
        rec["estimate"] = r["wall_is_estimate"] == "yes"
        rec["rate"] = (
            rec["cpu_min"] / rec["wall_h"]
            if rec["wall_h"] > 0 and not math.isnan(rec["cpu_min"])
            else math.nan
        )
        out.append(rec)
    return out


def _table1_records(reference_dir: str | Path | None) -> list[dict[str, Any]]:
    path = _ref_dir(reference_dir) / TABLE1_CSV
    seen: set[str] = set()
    out = []
    for line, r in _read_rows(path, TABLE1_COLUMNS):
        _check_id(path, line, "phase_id", r["phase_id"], seen)
        if not r["time_claim"] or not r["phase"]:
            raise LogError(f"{path}: line {line}: 'phase' and 'time_claim' must not be empty")
        out.append({**r, "line": line})
    return out


def load_claims(reference_dir: str | Path | None = None) -> pd.DataFrame:
    """``paper_claims.csv`` as a DataFrame (numbers parsed; empty numbers are NaN), validated."""
    recs = _claim_records(reference_dir)
    return pd.DataFrame(
        [{k: v for k, v in r.items() if k not in ("line", "refs")} for r in recs],
        columns=list(CLAIM_COLUMNS),
    )


def load_archive_values(reference_dir: str | Path | None = None) -> pd.DataFrame:
    """``archive_values.csv``: numbers, texts and dates of the original archive, validated."""
    recs = _archive_records(reference_dir)
    return pd.DataFrame(
        [{c: r[c] for c in ARCHIVE_COLUMNS} for r in recs.values()], columns=list(ARCHIVE_COLUMNS)
    )


def load_snapshots(reference_dir: str | Path | None = None) -> pd.DataFrame:
    """``ps_snapshots.csv`` plus parsed ``wall_min``, ``wall_h``, ``cpu_min`` (NaN: not noted)."""
    recs = _snapshot_records(reference_dir)
    cols = [*SNAPSHOT_COLUMNS, "wall_min", "wall_h", "cpu_min"]
    return pd.DataFrame([{c: r[c] for c in cols} for r in recs], columns=cols)


def load_table1(reference_dir: str | Path | None = None) -> pd.DataFrame:
    """``paper_table1.csv``: the layout of the paper's Table 1 (claim ids, no numbers)."""
    return pd.DataFrame(
        [{c: r[c] for c in TABLE1_COLUMNS} for r in _table1_records(reference_dir)],
        columns=list(TABLE1_COLUMNS),
    )
