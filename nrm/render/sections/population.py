"""Section 5, population dynamics and per-cycle cost (Figure 4)."""

from __future__ import annotations

from collections.abc import Mapping

from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import figure_line, heading, runs_source
from nrm.render.text import num, table
from nrm.render.wording import human

__all__ = ["section"]


def section(inp: PaperInputs, rel: Mapping[str, str]) -> str:
    cd = inp.phase1a["cost_drivers"]
    slow = cd[cd["run"] == R.SLOW].copy()
    slow = slow.rename(columns={"quantity": "per-cycle quantity", "spearman_rho": "Spearman ρ"})
    if len(slow):
        top = slow.loc[slow["Spearman ρ"].abs().idxmax()]
        lead = (f"In C256 the per-cycle time follows `{top['per-cycle quantity']}` most closely "
                f"(Spearman ρ = {num(top['Spearman ρ'])}).")
    else:
        lead = "No per-cycle quantity of C256 varied enough to be correlated with its time."
    return (
        heading("5. Population dynamics and per-cycle cost")
        + "\nThe paper links its slowdown to the model's emergent complexity (H5). The "
        "per-cycle cost of the unoptimized model is set by the work a cycle does: every evolve "
        "call samples the system and writes a row, and recursive evolution makes the number of "
        f"calls grow with every child ever spawned. {lead}\n\n"
        "*Table [[drivers]]. Spearman correlation of per-cycle wall time with per-cycle "
        "quantities, C256 unoptimized (measured; the paper reports none). "
        f"{inp.source('phase1a/cost_drivers')}*\n\n"
        f"{table(human(slow[['per-cycle quantity', 'n', 'Spearman ρ', 'p']]))}\n\n"
        + figure_line("population_cost", rel, 4,
               "Population and per-cycle cost of C256 unoptimized. (a) Agents alive (green, "
               "left axis) and per-cycle wall time (blue, right axis; thin every cycle, thick a "
               "rolling mean) against the cycle. (b) Per-cycle wall time against the number of "
               "agent evolve calls in the cycle, one colour per condition (legend). "
               + runs_source(inp, [R.SLOW]))
    )
