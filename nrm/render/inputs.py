"""What the paper reads: one scale's run folders, its Phase 1A/1B tables, the claims ledger and
(when there is one) the causal study's analysis (:class:`PaperInputs`)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.exceptions import LogError
from nrm.instrument.reader import RunData
from nrm.render import results as R

__all__ = ["PaperInputs", "load_inputs"]


@dataclass
class PaperInputs:
    scale: str
    runs: dict[str, RunData]
    phase1a: dict[str, pd.DataFrame]
    phase1b: dict[str, pd.DataFrame]
    manifests: dict[str, Any]
    claims: Any  # nrm.claims module (its functions read data/reference/)
    executed_dir: Path
    analysis_dir: Path | None = None  # the Phase 1A/1B tables (named in captions)
    root: Path | None = None  # the build folder (make's OUT); paths in the paper are relative

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the build folder (never the build machine's absolute path)."""
        base = self.root if self.root is not None else Path.cwd()
        return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()

    def source(self, *files: str) -> str:
        """'Source: `data/analysis/<scale>/phase1a/x.csv`' for tables of the analysis folder
        (``phase/table`` names) or any other file of the build."""
        shown = []
        for f in files:
            if "/" in f and not f.startswith(("data/", "../")) and self.analysis_dir is not None:
                shown.append(self.rel(Path(self.analysis_dir) / f"{f}.csv"))
            else:
                shown.append(f)
        return "Source: " + ", ".join(f"`{x}`" for x in shown) + "."

    @property
    def slow(self) -> RunData:
        return self.runs[R.SLOW]

    @property
    def baseline(self) -> RunData:
        return self.runs[R.BASELINE]

    def run_row(self, name: str) -> pd.Series:
        t = self.phase1a["runs"]
        return t[t["run"] == name].iloc[0]

    @property
    def study_dir(self) -> Path | None:
        """The causal study's analysis folder (``notebooks/study.ipynb`` writes it)."""
        return (None if self.analysis_dir is None
                else Path(self.analysis_dir) / paths.STUDY_ANALYSIS)

    @property
    def predict_dir(self) -> Path | None:
        """The prediction's tables (the build's ``analysis:<scale>/predict`` step)."""
        return (None if self.analysis_dir is None
                else Path(self.analysis_dir) / paths.PREDICT_ANALYSIS)

    @functools.cached_property
    def study(self) -> dict[str, Any]:
        """The headline comparisons as the study repeated them ({} without a study):
        :func:`nrm.render.headline.load`."""
        from nrm.render.headline import load

        return load(self.study_dir)

    @functools.cached_property
    def study_verdicts(self) -> pd.DataFrame:
        """The study's H1-H5 verdicts (``verdicts.csv``; empty without a study)."""
        from nrm.render.sections.study import _read

        v = pd.DataFrame() if self.study_dir is None else _read(self.study_dir, "verdicts")
        if "hypothesis" not in v:
            return pd.DataFrame()
        return v[v["hypothesis"].isin(["H1", "H2", "H3", "H4", "H5"])].reset_index(drop=True)


def load_inputs(request: Any) -> PaperInputs:
    """Everything the paper reads, for a validated render request (nrm.build.notebooks)."""
    from nrm import claims

    runs = R.load_runs(request.runs)
    res = R.load_results(request.dirs["analysis"])
    for phase in ("phase1a", "phase1b"):
        used = set(res["manifests"][phase]["runs"])
        if not used <= set(runs):
            raise LogError(f"{request.dirs['analysis']}/{phase} was computed from runs "
                           f"{sorted(used)}, not this scale's; re-run the analysis notebooks")
    return PaperInputs(request.scale, runs, res["phase1a"], res["phase1b"], res["manifests"],
                       claims, request.dirs["executed"], Path(request.dirs["analysis"]),
                       Path(request.dirs["paper"]).parent)
