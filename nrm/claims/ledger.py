"""The ledger: every claim with its recomputation, status and our measured counterpart."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.claims.derive import DERIVATIONS, _Inputs, _Missing, _Outcome, _paper, _run_summary
from nrm.claims.interpreter import interpreter_facts
from nrm.claims.reference import ROLES, _archive_records, _claim_records, _snapshot_records
from nrm.claims.units import fmt_num
from nrm.claims.vocab import CLAIMS_CSV, CONSISTENT, EMPTY, INCONSISTENT, NOT_MEASURED, UNVERIFIABLE
from nrm.exceptions import ParameterError


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
    if (value is None or (isinstance(value, float) and math.isnan(value))) and note.startswith(
            "not meaningful"):
        return f"{EMPTY} ({note})"  # measured, but meaningless at this scale
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
