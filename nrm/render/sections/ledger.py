"""Section 6, the claims ledger: every claim of the paper beside this build's value (Figure 5)."""

from __future__ import annotations

from collections.abc import Mapping

from nrm.render.inputs import PaperInputs
from nrm.render.measured import measured_claims
from nrm.render.sections.common import figure_line, heading
from nrm.render.text import table

__all__ = ["LEDGER_SHOWN", "section"]


def _snapshot_caption() -> str:
    from nrm.claims.figure import CAPTION

    return CAPTION


LEDGER_SHOWN = {"claim_id": "claim", "quantity": "quantity", "paper_value": "paper value",
                "provenance": "provenance", "recomputed": "recomputed from its sources",
                "status": "status", "measured_here": "this machine (measured)"}


def section(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    c = inp.claims
    led = c.ledger(measured=measured_claims(inp))
    counts = led["status"].value_counts()
    shown = led[list(LEDGER_SHOWN)].rename(columns=LEDGER_SHOWN)
    snaps = c.snapshot_table(display=True)[
        ["run", "label", "wall_as_noted", "cpu_as_printed", "cpu_min", "cpu_min_per_wall_h",
         "idle_pct", "read_in_notes_as", "rate_check"]].rename(columns={
            "wall_as_noted": "wall time noted", "cpu_as_printed": "ps TIME as printed",
            "cpu_min": "CPU-minutes", "cpu_min_per_wall_h": "CPU-min per wall-hour",
            "idle_pct": "off the CPU (%)", "read_in_notes_as": "read in the notes as",
            "rate_check": "rate check"})
    n_measured = int((led["measured_here"] != c.NOT_MEASURED).sum())
    mockups = led.set_index("claim_id").loc["fig.mockups", "paper_value"]
    return (
        heading("6. Claims ledger")
        + "\nEach claim of the paper (and a few facts from its archive that bear on them), "
        "where its number came from, what it becomes when recomputed from its own sources "
        f"(`data/reference/`, labelled as the paper's), and, for {n_measured} of the "
        f"{len(led)} claims, this machine's counterpart. Status: "
        + ", ".join(f"{int(counts.get(k, 0))} {k}" for k in c.STATUSES)
        + ". The measured counterparts come from runs at scale "
        f"`{inp.scale}`, so their magnitudes are not the paper's unless the scale is `full`.\n\n"
        f"The paper's figures ({mockups}) were mock-ups: a generator drew typed-in literals "
        "and seeded random numbers and labelled them as simulated data awaiting C256's "
        "completion. We do not reproduce them or treat them as evidence; every "
        "figure here is drawn from logged data.\n\n"
        "*Table [[ledger]]. Claims ledger; the last column from this build's analysis tables. "
        f"{inp.source('data/reference/paper_claims.csv', 'data/reference/archive_values.csv')}"
        f"*\n\n{table(shown)}\n\n"
        "*Table [[snapshots]]. The `ps` snapshots of the original runs recorded in the paper's "
        "archive (paper's data), read in their real units (recomputed). "
        f"{inp.source('data/reference/ps_snapshots.csv')}*\n\n{table(snaps)}\n\n"
        + figure_line("claims_snapshots", rel, 5, _snapshot_caption().rstrip()
               + " Data: `data/reference/ps_snapshots.csv`.")
        + f"\n**What the original evidence can and cannot support.** {c.evidence_statement()}"
        "\n\nIn short: the archive shows that C256 ran for many hours, mostly asleep or waiting "
        "for I/O, and never finished. It does not contain a completed runtime, a variance, an "
        "acceleration, a mechanism or a speedup, because none of these was measured; the one "
        "quantitative comparison the paper makes divides CPU minutes by wall-clock hours.\n"
    )
