"""The paper's title block."""

from __future__ import annotations

from datetime import UTC, datetime

from nrm.render.inputs import PaperInputs
from nrm.run.scales import get_scale

__all__ = ["section"]


def section(inp: PaperInputs) -> str:
    sc = get_scale(inp.scale)
    return (
        "# Runtime variance in a long Python simulation, re-measured\n\n"
        "*A reproducible re-run of the NRM experiments C255–C260 and a test of the runtime "
        "hypotheses of \"Memory Fragmentation as Runtime Variance Source in Extended Python "
        "Simulations\".*\n\n"
        f"Scale **{inp.scale}**: {sc.description}. Generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `make paper SCALE={inp.scale}`; "
        "every number below is read from a file this build wrote.\n"
    )
