"""Section 9, reproducibility: how to rebuild, what was executed."""

from __future__ import annotations

from pathlib import Path

from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import heading

__all__ = ["section"]


def section(inp: PaperInputs) -> str:
    git = (inp.slow.meta.get("context") or {}).get("git") or {}
    runs = "\n".join(f"* `{n}`: `{inp.rel(r.path)}` (status {r.meta.get('status')}, started "
                     f"{r.meta.get('started_at')})" for n, r in inp.runs.items())
    executed = sorted(p.name for p in Path(inp.executed_dir).glob("*.ipynb")
                      if not p.name.startswith(".") and not p.name.endswith(".failed.ipynb"))
    if "render_paper.ipynb" not in executed:
        executed.append("render_paper.ipynb")  # the notebook writing this paper
    return (
        heading("9. Reproducibility")
        + f"\nRebuild this paper: `make paper SCALE={inp.scale}` (a second `make paper` with "
        "nothing changed does nothing). Presets: `nrm scales show`. Re-run one "
        "experiment with other parameters:\n\n"
        "```\n.venv/bin/papermill notebooks/run_experiment.ipynb data/executed/C256-5000.ipynb "
        "-p experiment C256 -p cycles 5000 -p output data/runs/custom/C256-5000\n```\n\n"
        f"Code: git commit `{git.get('commit', 'unknown')}`"
        f"{' with uncommitted changes' if git.get('dirty') else ''}. Run folders:\n\n{runs}\n\n"
        f"Run folders and notebooks are named relative to the build folder (`make paper`'s "
        f"`OUT`). Executed notebooks (`{inp.rel(inp.executed_dir)}`): "
        + (", ".join(f"`{e}`" for e in executed) if executed else "none yet") + ".\n"
    )
