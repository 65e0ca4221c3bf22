"""The claims ledger: every number of the paper beside its provenance and a recomputation.

The numbers live in ``data/reference/`` (``README.md`` there describes every column); all of them
are the paper's or the original archive's, none is ours. This module only reads them, recomputes
what can be derived from them and says, claim by claim, whether the paper's value survives:

- ``consistent``: the recomputed value matches the paper's within the tolerance stored with the
  claim (the rounding of its stated digits) or the logical check passes;
- ``inconsistent``: it does not (the recomputed value is reported beside it);
- ``unverifiable``: an input is missing, or the claim has no derivation (a guess, a record the
  archive does not hold, a mock-up figure).

What each row checks is stated in its ``check`` column: a row can be consistent *as arithmetic*
while its inputs are inconsistent; the inputs' own rows say so.

Public API: :func:`load_claims`, :func:`load_archive_values`, :func:`load_snapshots`,
:func:`load_table1`, :func:`recompute`, :func:`ledger`, :func:`snapshot_table`,
:func:`run_rates`, :func:`corrected_table1`, :func:`key_numbers`, :func:`evidence_statement`,
:func:`interpreter_facts`; the figure is in :mod:`nrm.claims_figure`.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.exceptions import LogError, ParameterError

CLAIMS_CSV = "paper_claims.csv"
ARCHIVE_CSV = "archive_values.csv"
SNAPSHOTS_CSV = "ps_snapshots.csv"
TABLE1_CSV = "paper_table1.csv"

CONSISTENT = "consistent"
INCONSISTENT = "inconsistent"
UNVERIFIABLE = "unverifiable"
STATUSES = (CONSISTENT, INCONSISTENT, UNVERIFIABLE)

#: A snapshot whose CPU-minutes per wall-hour differ from its run's median rate by more than this
#: fraction is flagged inconsistent. The rates of the fully recorded C256 pairs differ from one
#: another by about 5 %; wall labels rounded to the hour ("~27 h" for 26.3 h) move a rate by a few
#: per cent more. 20 % leaves room for both and still catches a label that is wrong by hours.
RATE_TOLERANCE = 0.20

#: The ``measured_here`` cell of a claim that this compendium does not measure.
NOT_MEASURED = "— (not measured here)"
EMPTY = "—"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# --------------------------------------------------------------------------------------------
# Parsing of the hand-copied readings
# --------------------------------------------------------------------------------------------


def parse_ps_time(text: str) -> float:
    """CPU minutes from a macOS ``ps`` TIME field: ``"17:30.22"`` is 17 min 30.22 s = 17.504.

    macOS prints accumulated CPU time as minutes:seconds[.hundredths], with the minutes growing
    past 59 (``"63:32"``); that is the format the original notes copied. A bare number is taken
    as already in minutes.
    """
    s = str(text).strip()
    m = re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", s)
    if m:
        seconds = float(m.group(2))
        if seconds >= 60:
            raise ParameterError(
                f"ps TIME {text!r}: seconds must be below 60; expected minutes:seconds such as "
                "'17:30.22'"
            )
        return int(m.group(1)) + seconds / 60.0
    try:
        value = float(s)
    except ValueError:
        raise ParameterError(
            f"ps TIME {text!r} is not minutes:seconds (e.g. '17:30.22') nor a number of minutes"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"ps TIME {text!r} must be a finite, non-negative number of minutes")
    return value


def parse_wall(text: str, fmt: str) -> float:
    """Wall-clock minutes from a noted elapsed time; ``fmt`` is hours, minutes or h:mm:ss."""
    s = str(text).strip()
    if fmt == "h:mm:ss":
        m = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", s)
        if not m or int(m.group(2)) >= 60 or float(m.group(3)) >= 60:
            raise ParameterError(f"wall time {text!r} is not h:mm:ss (e.g. '10:07:53')")
        return int(m.group(1)) * 60 + int(m.group(2)) + float(m.group(3)) / 60
    if fmt not in ("hours", "minutes"):
        raise ParameterError(
            f"wall time format {fmt!r} is unknown; expected one of: hours, minutes, h:mm:ss"
        )
    try:
        value = float(s)
    except ValueError:
        raise ParameterError(f"wall time {text!r} is not a number of {fmt}") from None
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"wall time {text!r} must be a finite, non-negative number")
    return value * 60 if fmt == "hours" else value


def _decimals(a: float) -> int:
    if a >= 100:
        return 1
    if a >= 10:
        return 2
    if a >= 1 or a == 0:
        return 3
    return max(3, 2 - math.floor(math.log10(a)))  # three significant digits below 1


def fmt_num(x: float | None, unit: str = "") -> str:
    """A number as the ledger prints it: about four significant digits, no trailing zeros,
    thousands separated (``1080000`` -> ``1,080,000``; ``20.124`` -> ``20.12``; ``0.5`` -> ``0.5``).
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return EMPTY
    a = abs(x)
    if a >= 1000:
        s = f"{x:,.2f}".rstrip("0").rstrip(".")
    else:
        s = f"{x:.{_decimals(a)}f}"
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        if s in ("-0", ""):
            s = "0"
    return f"{s} {unit}".strip() if unit else s


def _fmt_range(lo: float, hi: float | None, unit: str = "") -> str:
    if hi is None or math.isclose(lo, hi, rel_tol=1e-9, abs_tol=1e-12):
        return fmt_num(lo, unit)
    return f"{fmt_num(lo)}–{fmt_num(hi, unit)}"


# --------------------------------------------------------------------------------------------
# Reading and validating the reference files
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Facts of the interpreter running the check (pymalloc constants)
# --------------------------------------------------------------------------------------------


def parse_debugmallocstats(text: str) -> dict[str, float]:
    """Arena size and small-block threshold from ``sys._debugmallocstats()`` output (may be {})."""
    out: dict[str, float] = {}
    m = re.search(r"arenas \* (\d+) bytes/arena", text)
    if m:
        out["arena_bytes"] = float(m.group(1))
    m = re.search(r"Small block threshold = (\d+)", text)
    if m:
        out["small_threshold"] = float(m.group(1))
    return out


@functools.lru_cache(maxsize=1)
def interpreter_facts() -> dict[str, Any]:
    """pymalloc constants of this interpreter, read from ``sys._debugmallocstats()``.

    Run in a child of the same executable (the stats go to the C-level stderr). ``PYTHONMALLOC``
    is dropped from its environment so the child reports pymalloc's constants even when this
    process runs under another allocator. Keys: ``version`` always; ``arena_bytes`` and
    ``small_threshold`` when pymalloc reported them.
    """
    facts: dict[str, Any] = {"version": ".".join(map(str, sys.version_info[:3]))}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import sys; sys._debugmallocstats()"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        facts.update(parse_debugmallocstats(proc.stderr + proc.stdout))
        facts["source"] = "sys._debugmallocstats()"
    except (OSError, subprocess.SubprocessError):
        facts["source"] = "unavailable"
    return facts


# --------------------------------------------------------------------------------------------
# Inputs of the recomputations
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Derivations: one function per kind of recomputation; the CSV says which inputs each uses
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The ledger
# --------------------------------------------------------------------------------------------


def _agree(row: dict[str, Any], out: _Outcome) -> bool:
    """Does the recomputed value match the paper's within the claim's tolerance?"""
    tol = row["tolerance"] + 1e-9
    s_lo = _paper(row)
    s_hi = None if math.isnan(row["value_high"]) else float(row["value_high"])
    r_lo, r_hi = out.value, out.high
    assert r_lo is not None
    if s_hi is None and r_hi is None:
        return abs(s_lo - r_lo) <= tol
    if s_hi is not None and r_hi is not None:
        if out.mode == "within":
            return s_lo - tol <= r_lo and r_hi <= s_hi + tol
        return abs(s_lo - r_lo) <= tol and abs(s_hi - r_hi) <= tol
    if s_hi is not None:  # stated range, one recomputed value
        return s_lo - tol <= r_lo <= s_hi + tol
    return r_lo - tol <= s_lo <= (r_hi if r_hi is not None else r_lo) + tol


def _inputs(
    reference_dir: str | Path | None, interpreter: Mapping[str, Any] | None
) -> tuple[list[dict[str, Any]], _Inputs]:
    claims = _claim_records(reference_dir)
    snaps = _snapshot_records(reference_dir)
    inp = _Inputs(
        claims={c["claim_id"]: c for c in claims},
        archive=_archive_records(reference_dir),
        snaps={s["snapshot_id"]: s for s in snaps},
        runs=_run_summary(snaps),
        interpreter=interpreter_facts() if interpreter is None else interpreter,
    )
    return claims, inp


RECOMPUTE_COLUMNS = (
    "claim_id", "role", "origin", "section", "quantity", "stated", "paper_value",
    "paper_value_high", "unit_stated", "unit_established", "kind", "tolerance",
    "tolerance_basis", "provenance", "check", "derivation", "inputs", "recomputed",
    "recomputed_high", "recomputed_text", "working", "status", "note",
)  # fmt: skip


def recompute(
    reference_dir: str | Path | None = None, *, interpreter: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """One row per claim (and paper input): the paper's value, our recomputation and a status.

    ``interpreter`` replaces :func:`interpreter_facts` (keys ``arena_bytes``,
    ``small_threshold``, ``version``); pass ``{}`` to use only documented constants.
    """
    claims, inp = _inputs(reference_dir, interpreter)
    rows = []
    for c in claims:
        d = DERIVATIONS[c["derivation"]]
        try:
            out = d.fn(c, c["refs"], inp)
            status = out.status
            if status is None:
                status = CONSISTENT if _agree(c, out) else INCONSISTENT
            note = out.note
        except _Missing as miss:
            out = _Outcome(text=f"{EMPTY} (input missing: {miss.ref})")
            status = UNVERIFIABLE
            note = f"cannot recompute: {miss.ref} — {miss.why}"
        if status == UNVERIFIABLE and c["derivation"] in ("none", "mock"):
            note = c["check"]
        notes = [n for n in (c["problem"], note) if n]
        rows.append(
            {
                "claim_id": c["claim_id"],
                "role": c["role"],
                "origin": c["origin"],
                "section": c["section"],
                "quantity": c["quantity"],
                "stated": c["stated"],
                "paper_value": c["value"],
                "paper_value_high": c["value_high"],
                "unit_stated": c["unit_stated"],
                "unit_established": c["unit_established"],
                "kind": c["kind"],
                "tolerance": c["tolerance"],
                "tolerance_basis": c["tolerance_basis"],
                "provenance": c["provenance"],
                "check": c["check"],
                "derivation": c["derivation"],
                "inputs": "; ".join(c["refs"]),
                "recomputed": math.nan if out.value is None else out.value,
                "recomputed_high": math.nan if out.high is None else out.high,
                "recomputed_text": out.text,
                "working": out.working,
                "status": status,
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows, columns=list(RECOMPUTE_COLUMNS))


LEDGER_COLUMNS = (
    "claim_id", "origin", "section", "quantity", "paper_value", "unit_stated", "unit_established",
    "provenance", "recomputed", "working", "status", "measured_here", "note",
)  # fmt: skip

Measured = Mapping[str, tuple[float, str, str]]


def _measured_cell(entry: tuple[float, str, str]) -> str:
    value, unit, note = entry
    if value is None or (isinstance(value, float) and math.isnan(value)):
        text = f"{EMPTY} (not measured in this run)"
    else:
        text = fmt_num(float(value), unit)
    return f"{text} ({note})" if note else text


def ledger(
    measured: Measured | None = None,
    *,
    roles: tuple[str, ...] = ("claim",),
    reference_dir: str | Path | None = None,
    interpreter: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The claims ledger as strings, every cell filled: the table the paper shows.

    ``measured`` maps a claim id to this compendium's counterpart ``(value, unit, note)``; claims
    without one read ``"— (not measured here)"``. ``roles`` selects claims (default) and/or the
    paper's design inputs and decision rules (``"input"``).
    """
    bad_roles = [r for r in roles if r not in ROLES]
    if bad_roles:
        raise ParameterError(f"roles {bad_roles} are unknown; valid: {', '.join(ROLES)}")
    df = recompute(reference_dir, interpreter=interpreter)
    measured = dict(measured or {})
    unknown = sorted(set(measured) - set(df["claim_id"]))
    if unknown:
        raise ParameterError(
            f"measured values given for unknown claim id(s) {unknown}; valid ids are in "
            f"{CLAIMS_CSV} (e.g. {', '.join(df['claim_id'].head(4))})"
        )
    for key, entry in measured.items():
        if not (isinstance(entry, tuple) and len(entry) == 3):
            raise ParameterError(
                f"measured[{key!r}] is {entry!r}; expected a tuple (value, unit, note)"
            )
    df = df[df["role"].isin(roles)]
    out = pd.DataFrame(
        {
            "claim_id": df["claim_id"],
            "origin": df["origin"],
            "section": df["section"],
            "quantity": df["quantity"],
            "paper_value": df["stated"],
            "unit_stated": df["unit_stated"],
            "unit_established": df["unit_established"],
            "provenance": df["provenance"],
            "recomputed": df["recomputed_text"],
            "working": df["working"],
            "status": df["status"],
            "measured_here": [
                _measured_cell(measured[c]) if c in measured else NOT_MEASURED
                for c in df["claim_id"]
            ],
            "note": df["note"],
        },
        columns=list(LEDGER_COLUMNS),
    ).reset_index(drop=True)
    return out.map(lambda v: EMPTY if v is None or not str(v).strip() else str(v))


# --------------------------------------------------------------------------------------------
# The ps snapshots and the corrected Table 1
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
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
