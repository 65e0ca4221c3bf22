"""Every folder of the compendium, in one place (nothing here creates folders)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The folder holding the ``nrm`` package (a source checkout's root; never overridden).
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
#: Repository root: the folder holding ``pyproject.toml``. ``NRM_ROOT`` overrides it.
ROOT = Path(os.environ.get("NRM_ROOT", Path(__file__).resolve().parent.parent))
DATA = ROOT / "data"
REFERENCE = DATA / "reference"
#: The shipped reference build (one make paper at nrm.run.scales.REFERENCE_SCALE).
REFERENCE_BUILD = REFERENCE / "build-default"
#: The shipped long-scale reference study (one make study SCALE=long; its study tables only).
REFERENCE_LONG = REFERENCE / "build-long"
#: The shipped commit-latency curve (one ``make dbcurve``; its CSV/JSON only, no database).
REFERENCE_DBCURVE = REFERENCE / "dbcurve"
RUNS = DATA / "runs"  # scale-less runs (nrm run without --out); per scale: Build(...).runs
BENCH = DATA / "bench"
WATCH = DATA / "watch"
NOTEBOOKS = ROOT / "notebooks"

# Names of the files inside one run folder.
RUN_JSON = "run.json"
CYCLES_CSV = "cycles.csv"
TRACE_CSV = "metrics_trace.csv"
WORKSPACE_DB = "workspace.db"
BRIDGE_DB = "bridge.db"
CHECKPOINT = "checkpoint.pkl"

# Names of the files of a commit-latency curve's folder (nrm.study.dbcurve): what was asked,
# every repeat's rows, the statistic and H3 piece, and the machine that finished it.
DBCURVE_CONFIG = "config.json"
DBCURVE_CSV = "dbcurve.csv"
DBCURVE_JSON = "dbcurve.json"
DBCURVE_MACHINE = "machine.json"

# Name of a study folder's plan (nrm.study.sweep).
PLAN_JSON = "plan.json"

# Name of the file listing an analysis folder's tables (nrm.render.results).
MANIFEST_JSON = "manifest.json"

#: Folder (inside a scale's run or study folder) that receives out-of-date folders moved aside.
SUPERSEDED = ".superseded"
#: Name of a build's doit state folder and file (``<root>/.make/doit-state.json``).
MAKE_STATE = ".make"
#: Name of the study's tables folder inside an analysis folder (``<analysis>/study``).
STUDY_ANALYSIS = "study"
#: Name of the prediction's tables folder inside an analysis folder (``<analysis>/predict``).
PREDICT_ANALYSIS = "predict"
STATE_FILE = "doit-state.json"


@dataclass(frozen=True)
class Build:
    """The folders of one build: ``<root>/data/{runs,executed,analysis,study}/<scale>`` and the
    shared ``figures/``, ``paper/`` and ``.make/``. Pure: nothing is checked or created."""

    root: Path
    scale: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def here(cls, scale: str) -> Build:
        """The compendium's own build at ``scale`` (root :data:`ROOT`)."""
        return cls(ROOT, scale)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        """One folder per planned run: ``data/runs/<scale>/<experiment>-<variant>``."""
        return self.data / "runs" / self.scale

    def run(self, name: str) -> Path:
        return self.runs / name

    @property
    def runs_superseded(self) -> Path:
        return self.runs / SUPERSEDED

    @property
    def executed(self) -> Path:
        """Executed notebooks (written only when every cell ran)."""
        return self.data / "executed" / self.scale

    @property
    def analyses(self) -> Path:
        """Every scale's analysis folder: ``data/analysis``."""
        return self.data / "analysis"

    @property
    def analysis(self) -> Path:
        """The tables the paper reads (``phase1a``, ``phase1b``, ``study``)."""
        return self.analyses / self.scale

    @property
    def study(self) -> Path:
        """The causal study's runs (``nrm study run --out``)."""
        return self.data / "study" / self.scale

    @property
    def study_superseded(self) -> Path:
        """Where a study of another plan or other code is moved (``<study>/../.superseded``)."""
        return self.study.parent / SUPERSEDED

    @property
    def study_analysis(self) -> Path:
        """The study's tables and figures (notebooks/study.ipynb)."""
        return self.analysis / STUDY_ANALYSIS

    @property
    def dbcurves(self) -> Path:
        """Every commit-latency curve of the build: ``data/dbcurve``."""
        return self.data / "dbcurve"

    def dbcurve(self, to_mb: float) -> Path:
        """H3's commit-latency curve up to ``to_mb`` MiB (``make dbcurve``): ``data/dbcurve/<MB>``
        (no scale: the curve's size is its own parameter)."""
        return self.dbcurves / f"{to_mb:g}"

    @property
    def predict_counts(self) -> Path:
        """The counting runs of the build's prediction step: ``data/predict/<scale>/counts``."""
        return self.data / "predict" / self.scale / "counts"

    @property
    def predict_analysis(self) -> Path:
        """The prediction's tables and figure (unit costs, the paper's comparisons)."""
        return self.analysis / PREDICT_ANALYSIS

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def paper(self) -> Path:
        return self.root / "paper"

    @property
    def make_dir(self) -> Path:
        return self.root / MAKE_STATE

    @property
    def state_file(self) -> Path:
        return self.make_dir / STATE_FILE

    @property
    def bench(self) -> Path:
        return self.data / "bench"

    @property
    def watch(self) -> Path:
        return self.data / "watch"
