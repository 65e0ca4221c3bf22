"""Section 8, limitations."""

from __future__ import annotations

from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import heading
from nrm.run.scales import PAPER_SCALE, get_scale

__all__ = ["section"]


def section(inp: PaperInputs) -> str:
    full = inp.scale == PAPER_SCALE
    paper = get_scale(PAPER_SCALE).runs[0]
    ctx = inp.slow.meta.get("context") or {}
    system = (ctx.get("os") or {}).get("system", "this OS")
    vm = " in a virtual machine" if (ctx.get("cpu") or {}).get("hypervisor") else ""
    return (
        heading("8. Limitations")
        + "\n* "
        + ("This build used the paper's parameters." if full else
           f"This build ran at scale `{inp.scale}`, smaller than the paper's {paper.cycles} "
           f"cycles per condition and {paper.max_agents} agents; absolute runtimes, samples "
           "per cycle and speedups scale with the "
           "number of agents and cycles and are not the paper's magnitudes. "
           "`make paper SCALE=full` runs the paper's parameters (days for the unoptimized "
           "runs).")
        + "\n* The paper's runs (Sections 2–5) are one run per experiment and variant (n = 1, "
        "as in the paper); differences between them include run-to-run noise that a single "
        "run cannot estimate. The causal study repeats the deciding comparisons in fresh "
        "processes against an A/A arm, but at its own, shorter run lengths (Section 10): "
        "its arms with per-row commits or recursive evolution run few cycles, "
        "so they measure the level of those costs, not their growth over a long run.\n"
        "* The simulator is rebuilt from a behavioural specification of the original scripts, "
        "not the original code; C259 is built as designed (sources × recovery), not as the "
        "original script ran it.\n"
        "* The original ran on macOS with databases that had grown across many runs; here the "
        f"databases start empty in each run folder, on {system}{vm}, where CPU "
        "temperature is usually not exposed.\n"
        "* p-values that treat consecutive cycles as independent are optimistic when the "
        "cycles are autocorrelated; the tables say where.\n"
    )
