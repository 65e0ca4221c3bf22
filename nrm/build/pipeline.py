"""The paper's build steps on pydoit: what each step reads, and why it would re-run.

``make paper`` runs ``doit`` on ``dodo.py``, which loads the steps from here:

- ``run:<scale>/<run>``: one planned run (nrm/run/scales.py) through the run notebook;
- ``analysis:<scale>/<notebook>``: the Phase 1A / 1B notebooks over the scale's runs;
- ``study:<scale>/sweep``: the causal study's runs (``nrm study run``, :mod:`nrm.study.sweep`), a
  restartable Dask sweep that runs only the runs without a complete ``run.json``;
- ``analysis:<scale>/study``: the study notebook (effects, CIs, verdicts, the repeated
  headline comparisons) over the sweep;
- ``predict:<scale>/counts``: the counting runs of the experiments the paper compares, at the
  paper's 3000 cycles x 100 agents (smaller at smoke; :mod:`nrm.predict.buildstep`);
- ``analysis:<scale>/predict``: unit costs fitted from this build's runs, the paper's
  comparisons predicted at the paper's parameters and the speedup figure;
- ``render:paper``: figures, paper.md, paper.html and paper/provenance.json (it also reads the
  shipped ``data/reference/`` and the build's own commit-latency curves, ``data/dbcurve/``).

A step is up to date when the MD5 of every file it reads (doit's ``file_dep``: the notebook,
the ``nrm`` sources it imports, the run logs and tables it reads) and its recorded
configuration (parameters, package versions, Python, allocator; doit's ``config_changed``)
are what they were when it last succeeded, and its outputs exist. File times play no part:
``touch``, a fresh clone or a checkout of the same commit redo nothing. The code a step
depends on is derived from imports (:func:`nrm.deps.source_files`), never listed by hand.
The run step's code is what makes a run's data (``nrm.build.notebooks``, which resolves and carries
out the run, and everything it imports); the display cells of the run notebook that only
show the result (figures, tables) are not part of it.

doit keeps its state in ``<OUT>/.make/doit-state.json``. ``python -m nrm.build.pipeline why``
(``make
paper WHY=1``) prints every step with "up to date" or the exact reasons it would re-run (which
file, which parameter, which package), without running anything.

Runs never overwrite runs: before a run step executes, the old run folder is moved to
``data/runs/<scale>/.superseded/`` (:func:`nrm.run.scales.retire`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doit.action import CmdAction
from doit.tools import config_changed

from nrm import paths
from nrm.deps import notebook_modules
from nrm.deps import source_files as _source_files
from nrm.exceptions import ParameterError
from nrm.run.checks import MAX_SEED
from nrm.run.scales import get_scale

__all__ = ["RUN_CODE", "Build", "RecordedConfig", "dbcurve_outputs", "study_outputs", "tasks",
           "why"]

#: The modules that make a run's data: the run notebook calls nrm.build.notebooks.run, which runs
#: nrm.run.runner in the kernel or, with an allocator, ``python -m nrm.cli child`` in a child
#: process (nrm.instrument.allocator, nrm.run.child; the command's handler is nrm.cli.child).
RUN_CODE = ("nrm.build.notebooks", "nrm.run.runner", "nrm.instrument.allocator", "nrm.run.child",
            "nrm.cli.child")
#: The walk needs no exclude list: none of these imports the dispatcher nrm.cli.main, the study,
#: the statistics or the renderer (tests/test_pipeline.py checks it).
ANALYSES = {"variance_hypotheses": "phase1a", "optimization": "phase1b"}
STATE = paths.STATE_FILE


#: The study's analysis files the paper reads (written by notebooks/study.ipynb).
STUDY_TABLES = ("arms", "effects", "shares", "dynamics", "verdicts", "headline", "runs",
                "controls", "dbgrow", "workers")
STUDY_PNGS = ("study_forest", "study_forest_growth", "study_per_cycle")


@dataclass(frozen=True)
class Build:
    """One ``make paper`` invocation: scale, output folder and an optional seed override."""

    scale: str
    out: Path
    seed: int | None = None
    study: bool = True  # STUDY=0: the paper's runs only (a study already analysed is shown)

    @classmethod
    def from_vars(cls, scale: str, out: str, seed: str = "", study: str = "1") -> Build:
        get_scale(scale)
        s = str(seed).strip()
        if s and re.fullmatch(r"-?[0-9]+", s) is None:
            raise ParameterError(f"SEED must be an integer, got {seed!r}")
        if s and abs(int(s)) > MAX_SEED:
            raise ParameterError(f"SEED must be an integer in [-{MAX_SEED}, {MAX_SEED}], "
                                 f"got {s} ({len(s.lstrip('-'))} digits)")
        st = str(study).strip() or "1"
        if st not in ("0", "1"):
            raise ParameterError(f"STUDY must be 1 (run the causal study) or 0 (skip it), "
                                 f"got {study!r}")
        return cls(scale, Path(out).expanduser().resolve(), int(s) if s else None, st == "1")

    @property
    def layout(self) -> paths.Build:
        """The build's folders (:class:`nrm.paths.Build`)."""
        return paths.Build(self.out, self.scale)

    @property
    def runs_dir(self) -> Path:
        return self.layout.runs

    @property
    def exec_dir(self) -> Path:
        return self.layout.executed

    @property
    def analysis_dir(self) -> Path:
        return self.layout.analysis

    @property
    def study_dir(self) -> Path:
        """The causal study's runs (``nrm study run --out``)."""
        return self.layout.study

    @property
    def figures_dir(self) -> Path:
        return self.layout.figures

    @property
    def paper_dir(self) -> Path:
        return self.layout.paper

    @property
    def state_file(self) -> Path:
        return self.layout.state_file

    def doit_config(self) -> dict[str, Any]:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        return {"dep_file": str(self.state_file), "backend": "json", "check_file_uptodate": "md5",
                "verbosity": 2, "default_tasks": ["render"]}


def source_files(modules: Any, exclude: tuple[str, ...] = ()) -> list[str]:
    """:func:`nrm.deps.source_files` as paths relative to the project root (doit's keys, the
    same in every clone)."""
    return [str(p.relative_to(paths.PACKAGE_PARENT)) for p in _source_files(modules, exclude)]


def environment_record() -> dict[str, Any]:
    from nrm.provenance import environment

    return environment()


class RecordedConfig(config_changed):  # type: ignore[misc]
    """doit's ``config_changed`` that also saves the configuration itself, so
    :func:`why` can say which parameter or package changed (doit stores only a digest)."""

    def configure_task(self, task: Any) -> None:
        super().configure_task(task)
        task.value_savers.append(lambda: {"_config_record": self.config})


def _py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _nb(notebook: str, output: Path, params: Mapping[str, Any]) -> list[str]:
    cmd = _py("nrm.cli", "notebook", notebook, str(output))
    for k, v in params.items():
        cmd += ["-p", k, str(v)]
    return cmd


def _run_files(b: Build, name: str) -> list[str]:
    d = b.runs_dir / name
    return [str(d / paths.RUN_JSON), str(d / paths.CYCLES_CSV)]


def _complete(run_json: str) -> bool:
    try:
        return json.loads(Path(run_json).read_text(encoding="utf-8")).get("status") == "complete"
    except (OSError, ValueError):
        return False


def _paper_scale_is(b: Build) -> bool:
    """paper/ is shared by every scale: up to date only if it holds this scale's build."""
    try:
        prov = json.loads((b.paper_dir / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(prov.get("scale") == b.scale)


def _reference_files() -> list[str]:
    ref = paths.REFERENCE
    return sorted(str(p.relative_to(paths.ROOT)) for p in ref.rglob("*") if p.is_file())


def study_outputs(b: Build) -> list[str]:
    """The causal study's tables and figures, which the paper's sections 7, 10 and 11 read."""
    folder = b.layout.study_analysis
    return ([str(folder / "study_summary.json")]
            + [str(folder / f"{t}.csv") for t in STUDY_TABLES]
            + [str(folder / f"{f}.png") for f in STUDY_PNGS])


def dbcurve_outputs(b: Build) -> list[str]:
    """The build's own commit-latency curves' tables (``make dbcurve``: data/dbcurve/<MB>/),
    which the paper's Section 10 shows when present: the files that exist (a curve made or
    removed later adds or drops them, and doit re-runs the paper for either)."""
    base = b.layout.dbcurves
    names = (paths.DBCURVE_CONFIG, paths.DBCURVE_CSV, paths.DBCURVE_JSON, paths.DBCURVE_MACHINE)
    return sorted(str(f) for name in names for f in base.glob(f"*/{name}") if f.is_file())


def _study_done(study_json: str) -> bool:
    """Whether the sweep's summary says every planned run is complete."""
    try:
        d = json.loads(Path(study_json).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(d.get("runs_planned")) and d.get("runs_complete") == d.get("runs_planned")


def study_tasks(b: Build, env: Mapping[str, Any], after: list[str]) -> Iterator[dict[str, Any]]:
    """The study's sweep and its analysis. The sweep re-runs when the code that makes the study's
    data changes (:data:`nrm.study.sweep.STUDY_CODE`); ``--retire-stale`` then moves the old study
    to
    ``data/study/.superseded/`` instead of mixing two versions of the code in one study. An
    interrupted sweep continues where it stopped."""
    from nrm.study.sweep import STUDY_CODE, STUDY_JSON, build_plan

    model_seed = {} if b.seed is None else {"model_seed": b.seed}
    plan = build_plan(b.scale, **model_seed)
    study_json = str(b.study_dir / STUDY_JSON)
    yield {
        "basename": "study", "name": f"{b.scale}/sweep",
        "doc": f"the causal study at scale {b.scale}: {len(plan.tasks())} runs on Dask",
        "file_dep": source_files(STUDY_CODE),
        "targets": [study_json],
        "task_dep": after,  # after the paper's runs: never two timed things at once
        "uptodate": [RecordedConfig({"plan": plan.to_dict(), "environment": env}),
                     (_study_done, [study_json], {})],
        "actions": [CmdAction(_py("nrm.cli", "study", "run", "--scale", b.scale, "--out",
                                  str(b.study_dir), "--workers", "1", "--retire-stale",
                                  *(["--model-seed", str(b.seed)] if b.seed is not None else [])),
                              shell=False, buffering=1)],
        "verbosity": 2,
    }
    src = "notebooks/study.ipynb"
    target = b.exec_dir / "study.ipynb"
    params = {"scale": b.scale, "study_dir": str(b.study_dir),
              "output_dir": str(b.layout.study_analysis)}
    yield {
        "basename": "analysis", "name": f"{b.scale}/study",
        "doc": f"study notebook over the {b.scale} study's runs",
        "file_dep": [src, *source_files(notebook_modules(paths.ROOT / src)), study_json],
        "targets": [str(target), *study_outputs(b)],
        "uptodate": [RecordedConfig({"parameters": params, "environment": env})],
        "actions": [_nb("study", target, params)],
        "verbosity": 2,
    }


#: The code of the prediction's two steps (the counts' imports include the simulator).
PREDICT_COUNT_CODE = ("nrm.predict.buildstep", "nrm.predict.counts", "nrm.cli.predict_step")
PREDICT_FIT_CODE = ("nrm.predict.buildstep", "nrm.predict.paper", "nrm.predict.model",
                    "nrm.predict.unitcosts", "nrm.predict.holdout", "nrm.cli.predict_step")


def predict_outputs(b: Build) -> list[str]:
    """The prediction's tables and figure, which the paper's prediction section reads."""
    from nrm.predict.buildstep import outputs

    return [str(p) for p in outputs(b.layout.predict_analysis)]


def predict_tasks(b: Build, env: Mapping[str, Any], after: list[str], run_files: list[str]
                  ) -> Iterator[dict[str, Any]]:
    """The counting runs (after every timed step: they would load the cores) and the fit of
    unit costs on the build's runs with the paper's comparisons. The counts re-run only when
    the model's code or the counted specs change; at default and full scale a count already in
    ``data/predict/counts`` (same spec, same model source) is copied, not counted again."""
    from nrm.predict.buildstep import COUNTS_JSON, count_scale, count_specs

    counts_dir = b.layout.predict_counts
    counts_json = str(counts_dir / COUNTS_JSON)
    specs = [s.to_dict() for s in count_specs(b.scale)]
    from nrm.run.scales import SMOKE_SCALE

    shared = [] if b.scale != SMOKE_SCALE else ["--no-shared-cache"]  # smoke: nothing outside OUT
    yield {
        "basename": "predict", "name": f"{b.scale}/counts",
        "doc": f"counting runs at {count_scale(b.scale).cycles} cycles x "
               f"{count_scale(b.scale).max_agents} agents ({len(specs)} specs)",
        "file_dep": source_files(PREDICT_COUNT_CODE),
        "targets": [counts_json],
        "task_dep": after,
        "uptodate": [RecordedConfig({"specs": specs, "environment": env})],
        "actions": [CmdAction(_py("nrm.cli", "predict-step", "counts", "--scale", b.scale,
                                  "--out", str(counts_dir), "--no-progress", *shared),
                              shell=False, buffering=1)],
        "verbosity": 2,
    }
    study = ["--study-dir", str(b.study_dir)] if b.study else []
    params = {"scale": b.scale, "runs_dir": str(b.runs_dir), "counts": str(counts_dir),
              "out": str(b.layout.predict_analysis), "study": bool(b.study)}
    yield {
        "basename": "analysis", "name": f"{b.scale}/predict",
        "doc": "unit costs from this build's runs; the paper's comparisons at the paper's "
               "parameters, predicted",
        "file_dep": [*source_files(PREDICT_FIT_CODE), counts_json, *run_files,
                     *([str(b.study_dir / "study.json")] if b.study else [])],
        "targets": predict_outputs(b),
        "uptodate": [RecordedConfig({"parameters": params, "environment": env})],
        "actions": [CmdAction(_py("nrm.cli", "predict-step", "fit", "--scale", b.scale,
                                  "--runs-dir", str(b.runs_dir), "--counts", str(counts_dir),
                                  "--out", str(b.layout.predict_analysis), *study),
                              shell=False, buffering=1)],
        "verbosity": 2,
    }


def tasks(b: Build) -> Iterator[dict[str, Any]]:
    """Every doit task of the build, in order."""
    env = environment_record()
    scale = get_scale(b.scale)
    run_nb = "notebooks/run_experiment.ipynb"
    run_code = source_files(RUN_CODE)
    all_run_files: list[str] = []
    run_nbs: list[str] = []
    previous: list[str] = []
    for planned in scale.runs:
        name = planned.name
        out = b.runs_dir / name
        target = b.exec_dir / f"run-{name}.ipynb"
        params: dict[str, Any] = {"experiment": planned.experiment, "variant": planned.variant,
                                  "scale": b.scale, "output": str(out)}
        if b.seed is not None:
            params["seed"] = b.seed
        files = _run_files(b, name)
        all_run_files += files
        run_nbs.append(str(target))
        yield {
            "basename": "run", "name": f"{b.scale}/{name}",
            "doc": f"run {name} at scale {b.scale}",
            "file_dep": [run_nb, *run_code],
            "targets": [str(target), *files],
            "task_dep": previous,  # the planned order, one run at a time
            "uptodate": [RecordedConfig({"parameters": {**planned.to_dict(), **params},
                                         "environment": env}),
                         (_complete, [files[0]], {})],
            # read a byte at a time: the run's progress bar (ASCII) updates with carriage
            # returns, which a line-buffered reader would hold until the run ends
            "actions": [_py("nrm.cli", "scales", "retire", str(out)),
                        CmdAction(_nb("run_experiment", target, params), shell=False,
                                  buffering=1)],
            "verbosity": 2,
        }
        previous = [f"run:{b.scale}/{name}"]
    if b.study:
        yield from study_tasks(b, env, previous)
        previous = [f"study:{b.scale}/sweep"]
    yield from predict_tasks(b, env, previous, all_run_files)
    manifests: list[str] = []
    analysis_nbs: list[str] = []
    for nb, phase in ANALYSES.items():
        src = f"notebooks/{nb}.ipynb"
        target = b.exec_dir / f"{nb}.ipynb"
        manifest = b.analysis_dir / phase / "manifest.json"
        manifests.append(str(manifest))
        analysis_nbs.append(str(target))
        params = {"scale": b.scale, "runs_dir": str(b.runs_dir), "output_dir": str(b.analysis_dir)}
        yield {
            "basename": "analysis", "name": f"{b.scale}/{nb}",
            "doc": f"{nb} notebook ({phase}) over the {b.scale} runs",
            "file_dep": [src, *source_files(notebook_modules(paths.ROOT / src)), *all_run_files],
            "targets": [str(target), str(manifest)],
            "uptodate": [RecordedConfig({"parameters": params, "environment": env})],
            "actions": [_nb(nb, target, params)],
            "verbosity": 2,
        }
    src = "notebooks/render_paper.ipynb"
    params = {"scale": b.scale, "runs_dir": str(b.runs_dir), "analysis_dir": str(b.analysis_dir),
              "figures_dir": str(b.figures_dir), "paper_dir": str(b.paper_dir),
              "executed_dir": str(b.exec_dir)}
    yield {
        "basename": "render", "name": "paper",
        "doc": "figures, paper.md, paper.html and paper/provenance.json",
        "file_dep": [src, *source_files(notebook_modules(paths.ROOT / src)), *all_run_files,
                     *manifests, *analysis_nbs, *_reference_files(),
                     *(study_outputs(b) if b.study else []), *predict_outputs(b),
                     *dbcurve_outputs(b)],
        "targets": [str(b.paper_dir / f) for f in ("paper.md", "paper.html", "provenance.json")],
        "uptodate": [RecordedConfig({"parameters": params, "environment": env}),
                     (_paper_scale_is, [b], {})],
        "actions": [_nb("render_paper", b.exec_dir / "render_paper.ipynb", params)],
        "verbosity": 2,
    }


# --------------------------------------------------------------------------- why


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(k), new.get(k), f"{prefix}{'.' if prefix else ''}{k}")
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def _label(path: str) -> str:
    return path


def why(b: Build) -> list[tuple[str, str, list[str]]]:
    """``[(task, "up to date" | "would run", [reasons])]`` for every step; runs nothing."""
    from doit.dependency import Dependency, JsonDB, MD5Checker
    from doit.loader import load_tasks

    def task_paper() -> Iterator[dict[str, Any]]:
        yield from tasks(b)

    task_list = load_tasks({"task_paper": task_paper})
    real = [t for t in task_list if t.actions]
    by_name = {t.name: t for t in task_list}
    state = b.state_file
    dep = Dependency(JsonDB, str(state), checker_cls=MD5Checker) if state.exists() else None
    rerun: set[str] = set()
    out: list[tuple[str, str, list[str]]] = []
    producers = {tgt: t.name for t in real for tgt in t.targets}
    for t in real:
        reasons: list[str] = []
        if dep is None:
            reasons.append(f"never built into {b.out} (no {state})")
        else:
            st = dep.get_status(t, by_name, get_log=True)
            r = st.reasons
            for utd, args, _ in r.get("uptodate_false", []):
                if isinstance(utd, RecordedConfig):
                    old = dep.get_values(t.name).get("_config_record")
                    if old is None:
                        reasons.append("configuration never recorded (first build)")
                    else:
                        changes = _diff(old, utd.config)
                        reasons += [("package/Python changed: " if c.startswith("environment")
                                     else "parameter changed: ") + c for c in changes]
                        if not changes:
                            reasons.append("configuration changed")
                elif utd is _complete:
                    reasons.append(f"run {Path(args[0]).parent} is missing or incomplete")
                elif utd is _study_done:
                    reasons.append(f"study {Path(args[0]).parent} has runs missing or "
                                   "incomplete")
                elif utd is _paper_scale_is:
                    reasons.append("paper/ holds another scale's build")
                else:
                    reasons.append(f"{utd!r} says out of date")
            for key, what in (("changed_file_dep", "file changed"),
                              ("missing_file_dep", "file missing"),
                              ("added_file_dep", "file added to its inputs"),
                              ("removed_file_dep", "file no longer among its inputs"),
                              ("missing_target", "output missing")):
                entries = r.get(key) or []
                if isinstance(entries, str):
                    entries = [entries]
                if key == "changed_file_dep":  # a file new to the inputs is named once, as added
                    added = r.get("added_file_dep") or []
                    entries = [e for e in entries if e not in added]
                reasons += [f"{what}: {_label(e)}" for e in entries]
            if r.get("checker_changed"):
                reasons.append("doit's file checker changed")
        upstream = sorted({producers[f] for f in t.file_dep if producers.get(f) in rerun})
        if upstream:
            reasons.append("inputs made by steps that will re-run: " + ", ".join(upstream))
        if reasons:
            rerun.add(t.name)
        out.append((t.name, "would run" if reasons else "up to date", reasons))
    return out


def format_why(rows: list[tuple[str, str, list[str]]]) -> str:
    lines = []
    for name, status, reasons in rows:
        lines.append(f"{name}: {status}")
        lines += [f"    - {r}" for r in reasons]
    n = sum(1 for _, s, _ in rows if s != "up to date")
    lines.append(f"{n} of {len(rows)} steps would run" if n else
                 f"nothing to redo ({len(rows)} steps up to date)")
    return "\n".join(lines)
