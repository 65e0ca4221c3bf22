"""Every folder of the compendium, in one place (nothing here creates folders)."""

from __future__ import annotations

import os
from pathlib import Path

#: The folder holding the ``nrm`` package (a source checkout's root; never overridden).
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
#: Repository root: the folder holding ``pyproject.toml``. ``NRM_ROOT`` overrides it.
ROOT = Path(os.environ.get("NRM_ROOT", Path(__file__).resolve().parent.parent))
DATA = ROOT / "data"
REFERENCE = DATA / "reference"
RUNS = DATA / "runs"
EXECUTED = DATA / "executed"
NOTEBOOKS = ROOT / "notebooks"
FIGURES = ROOT / "figures"
PAPER = ROOT / "paper"

# Names of the files inside one run folder.
RUN_JSON = "run.json"
CYCLES_CSV = "cycles.csv"
TRACE_CSV = "metrics_trace.csv"
WORKSPACE_DB = "workspace.db"
BRIDGE_DB = "bridge.db"
CHECKPOINT = "checkpoint.pkl"

# Name of the file listing an analysis folder's tables (nrm.render.results).
MANIFEST_JSON = "manifest.json"
