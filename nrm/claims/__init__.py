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
:func:`interpreter_facts`; the figure is in :mod:`nrm.claims.figure` (imported on its own, so
reading the ledger does not load matplotlib).

Where things are: :mod:`~nrm.claims.reference` reads and checks ``data/reference/``;
:mod:`~nrm.claims.derive` holds one function per derivation; :mod:`~nrm.claims.ledger`
runs them claim by claim; :mod:`~nrm.claims.snapshots` re-reads the ``ps`` snapshots and
corrects Table 1; :mod:`~nrm.claims.statement` gives the key numbers and the plain statement.
"""

from __future__ import annotations

from nrm.claims.derive import DERIVATIONS, Derivation
from nrm.claims.interpreter import interpreter_facts, parse_debugmallocstats
from nrm.claims.ledger import LEDGER_COLUMNS, RECOMPUTE_COLUMNS, Measured, ledger, recompute
from nrm.claims.reference import (
    ARCHIVE_COLUMNS,
    ARCHIVE_KINDS,
    CLAIM_COLUMNS,
    ROLES,
    SNAPSHOT_COLUMNS,
    TABLE1_COLUMNS,
    load_archive_values,
    load_claims,
    load_snapshots,
    load_table1,
)
from nrm.claims.snapshots import (
    RUN_RATE_COLUMNS,
    SNAPSHOT_TABLE_COLUMNS,
    TABLE1_OUT_COLUMNS,
    corrected_table1,
    run_rates,
    snapshot_table,
)
from nrm.claims.statement import evidence_statement, key_numbers
from nrm.claims.units import fmt_num, parse_ps_time, parse_wall
from nrm.claims.vocab import (
    ARCHIVE_CSV,
    CLAIMS_CSV,
    CONSISTENT,
    EMPTY,
    INCONSISTENT,
    NOT_MEASURED,
    RATE_TOLERANCE,
    SNAPSHOTS_CSV,
    STATUSES,
    TABLE1_CSV,
    UNVERIFIABLE,
)

__all__ = [
    "ARCHIVE_COLUMNS",
    "ARCHIVE_CSV",
    "ARCHIVE_KINDS",
    "CLAIMS_CSV",
    "CLAIM_COLUMNS",
    "CONSISTENT",
    "DERIVATIONS",
    "EMPTY",
    "INCONSISTENT",
    "LEDGER_COLUMNS",
    "NOT_MEASURED",
    "RATE_TOLERANCE",
    "RECOMPUTE_COLUMNS",
    "ROLES",
    "RUN_RATE_COLUMNS",
    "SNAPSHOTS_CSV",
    "SNAPSHOT_COLUMNS",
    "SNAPSHOT_TABLE_COLUMNS",
    "STATUSES",
    "TABLE1_COLUMNS",
    "TABLE1_CSV",
    "TABLE1_OUT_COLUMNS",
    "UNVERIFIABLE",
    "Derivation",
    "Measured",
    "corrected_table1",
    "evidence_statement",
    "fmt_num",
    "interpreter_facts",
    "key_numbers",
    "ledger",
    "load_archive_values",
    "load_claims",
    "load_snapshots",
    "load_table1",
    "parse_debugmallocstats",
    "parse_ps_time",
    "parse_wall",
    "recompute",
    "run_rates",
    "snapshot_table",
]
