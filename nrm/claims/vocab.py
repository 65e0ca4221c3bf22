"""The ledger's shared vocabulary: file names, statuses, tolerances and empty-cell markers."""

from __future__ import annotations

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
