"""The compendium's notebooks: their declared parameters, validation, and papermill execution.

Papermill only warns about a parameter the notebook does not declare; a misspelt ``cyles``
would silently run the default and give a wrong paper. Here it is an error, raised before
anything is written, on both paths into a notebook:

- :func:`execute` (used by ``make paper`` and ``nrm notebook``) checks the names
  against the notebook's ``parameters`` cell and the values against ``nrm`` *before* papermill
  starts, then executes into a temporary file that is renamed to ``output`` only on success
  (a failed execution is kept as ``<output stem>.failed.ipynb``).
- ``papermill`` called directly bypasses that, so the first code cell after the parameters
  calls :func:`check_parameters` with the notebook's ``globals()``: every plain value defined
  by the parameters cell or injected by papermill must be a declared parameter, of the right
  type and value, or the cell raises :class:`~nrm.exceptions.ParameterError` before the next
  cell runs.

The declarations below (:data:`NOTEBOOKS`) mirror each notebook's ``parameters`` cell;
``tests/test_notebooks.py`` keeps the two in step.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from nrm import paths
from nrm.build.kernelstart import is_start_failure, tee_kernel_manager
from nrm.exceptions import NotebookError, NrmError, ParameterError, RunExistsError
from nrm.run.scales import DEFAULT_SCALE, SCALES

if TYPE_CHECKING:
    from nrm.run.spec import RunSpec

__all__ = [
    "KERNEL",
    "NOTEBOOKS",
    "NotebookError",
    "NotebookSpec",
    "Param",
    "RunRequest",
    "check_parameters",
    "declared_parameters",
    "execute",
    "notebook_path",
    "run",
]

#: The kernel every notebook runs in: the ipykernel of the interpreter running nrm (the venv's).
KERNEL = "python3"


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Param:
    """One declared parameter: name, accepted types, default (as in the cell), help."""

    name: str
    types: tuple[type, ...]
    default: Any
    help: str
    optional: bool = False  # None allowed ("use the scale's / the default value")

    def check_type(self, notebook: str, value: Any) -> None:
        if value is None and self.optional:
            return
        ok = isinstance(value, self.types) and not (
            isinstance(value, bool) and bool not in self.types
        )
        if not ok:
            expected = " or ".join(t.__name__ for t in self.types)
            if self.optional:
                expected += " or None"
            raise ParameterError(
                f"parameter {self.name!r} of notebook {notebook} must be {expected}, got "
                f"{value!r} ({type(value).__name__}); {self.help}"
            )


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    description: str
    params: tuple[Param, ...]
    resolve: Callable[[dict[str, Any]], Any] = field(repr=False)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    @property
    def path(self) -> Path:
        return paths.NOTEBOOKS / f"{self.name}.ipynb"


def _s(name: str, default: Any, help: str, optional: bool = False) -> Param:
    return Param(name, (str,), default, help, optional)


def _i(name: str, default: Any, help: str, optional: bool = False) -> Param:
    return Param(name, (int,), default, help, optional)


_SCALE = _s("scale", DEFAULT_SCALE, f"one of {', '.join(SCALES)} (nrm/run/scales.py)")
_RUNS_DIR = _s("runs_dir", None, "folder holding the scale's run folders "
               "(default data/runs/<scale>)", optional=True)


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class RunRequest:
    """A validated request to run one experiment (what the run_experiment notebook does)."""

    spec: RunSpec
    out: Path
    allocator: str | None
    progress: bool
    scale: str

    def describe(self) -> str:
        s = self.spec
        custom = s.custom_switches()
        changed = (", custom switches: " + ", ".join(f"{k}={v['value']}" for k, v in custom.items())
                   if custom else "")
        return (f"{s.experiment} {s.variant} (scale {self.scale}): {s.cycles} cycles x "
                f"{len(s.conditions)} conditions, at most {s.max_agents} agents, metrics "
                f"{s.metrics}, CPU sample blocking {s.cpu_interval:g} s, seed {s.seed}, "
                f"allocator {self.allocator or 'default'}{changed}\n-> {self.out}")


#: The run notebook's parameters that are RunSpec fields besides experiment, variant and scale
#: (``cpu_interval`` is the cost switch's sugar, as in ``nrm run``).
_RUN_FIELDS = ("cycles", "max_agents", "metrics", "cpu_interval", "seed", "allocator", "gc_mode",
               "costs", "conditions", "pregrow_db_mb", "flush_every", "arena_every",
               "checkpoint_every", "tracemalloc", "uss")


def _resolve_run(v: dict[str, Any]) -> RunRequest:
    from nrm.run.runner import default_run_name
    from nrm.run.spec import RunSpec

    # None means "the scale's value" (or RunSpec's default): RunSpec resolves it (the same way
    # `nrm run` does)
    kw = {k: v[k] for k in _RUN_FIELDS if v[k] is not None}
    if "conditions" in kw:
        kw["conditions"] = tuple(kw["conditions"])
    spec = RunSpec(v["experiment"], v["variant"], scale=v["scale"], **kw)
    if spec.allocator is not None:
        from nrm.exceptions import AllocatorError
        from nrm.instrument.allocator import DEBIAN_PACKAGES, available

        if not available().get(spec.allocator, False):
            pkg = DEBIAN_PACKAGES.get(spec.allocator, "")
            raise AllocatorError(f"allocator {spec.allocator!r} is not installed on this machine; "
                                 f"install it with `make allocators` (Debian package {pkg}) or "
                                 "choose allocator None")
    out = Path(v["output"]) if v["output"] else paths.RUNS / default_run_name(spec)
    out = out.expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunExistsError(f"output {out} already exists and is not empty; runs never overwrite "
                             "earlier runs: choose another output folder")
    return RunRequest(spec, out, spec.allocator, bool(v["progress"]), v["scale"])


@dataclass(frozen=True)
class AnalysisRequest:
    """A validated request to analyse (or render) one scale's run folders."""

    scale: str
    runs: dict[str, Path]  # planned run name -> run folder (all present)
    dirs: dict[str, Path]  # output folders by role (analysis, figures, paper, executed)
    options: dict[str, Any]


def _scale_runs(v: dict[str, Any], notebook: str) -> tuple[str, dict[str, Path]]:
    from nrm.run.scales import get_scale

    scale = get_scale(v["scale"])
    base = (Path(v["runs_dir"]).expanduser() if v["runs_dir"]
            else paths.Build.here(scale.name).runs)
    runs = {name: (base / name).resolve() for name in scale.names()}
    missing = [str(p) for p in runs.values() if not (p / paths.RUN_JSON).is_file()]
    if missing:
        raise ParameterError(
            f"notebook {notebook} needs every run of scale {scale.name!r}; missing: "
            + ", ".join(missing)
            + f". Run them first: make paper SCALE={scale.name} (or the run_experiment notebook)"
        )
    return scale.name, runs


def _dir(value: str | None, default: Path) -> Path:
    return (Path(value).expanduser() if value else default).resolve()


def _resolve_analysis(notebook: str) -> Callable[[dict[str, Any]], AnalysisRequest]:
    def resolve(v: dict[str, Any]) -> AnalysisRequest:
        scale, runs = _scale_runs(v, notebook)
        out = _dir(v["output_dir"], paths.Build.here(scale).analysis)
        return AnalysisRequest(scale, runs, {"analysis": out}, {})

    return resolve


def _resolve_render(v: dict[str, Any]) -> AnalysisRequest:
    scale, runs = _scale_runs(v, "render_paper")
    dirs = {
        "analysis": _dir(v["analysis_dir"], paths.Build.here(scale).analysis),
        "figures": _dir(v["figures_dir"], paths.Build.here(scale).figures),
        "paper": _dir(v["paper_dir"], paths.Build.here(scale).paper),
        "executed": _dir(v["executed_dir"], paths.Build.here(scale).executed),
    }
    return AnalysisRequest(scale, runs, dirs, {})


def _resolve_study(v: dict[str, Any]) -> AnalysisRequest:
    from nrm.run.scales import get_study_scale

    scale = get_study_scale(v["scale"]).name
    study = _dir(v["study_dir"], paths.Build.here(scale).study)
    if not (study / paths.PLAN_JSON).is_file():
        raise ParameterError(f"notebook study needs a study folder with {paths.PLAN_JSON}; "
                             f"{study} has none. Run it first: nrm study run --scale {scale} "
                             f"--out {study} (or make study SCALE={scale})")
    if not isinstance(v["n_boot"], int) or v["n_boot"] < 100:
        raise ParameterError(f"n_boot must be an integer >= 100, got {v['n_boot']!r}")
    out = _dir(v["output_dir"], paths.Build.here(scale).study_analysis)
    return AnalysisRequest(scale, {}, {"study": study, "analysis": out},
                           {"n_boot": v["n_boot"]})


NOTEBOOKS: dict[str, NotebookSpec] = {
    nb.name: nb
    for nb in (
        NotebookSpec(
            "run_experiment",
            "run one experiment into a new run folder",
            (
                _s("experiment", "C256", "one of C255 ... C260, or C259-as-run"),
                _s("variant", "unoptimized", "unoptimized, optimized or lean (nrm/sim/costs.py)"),
                _SCALE,
                _i("cycles", None, "cycles per condition (None: the scale's)", optional=True),
                _i("max_agents", None, "agent cap (None: the scale's)", optional=True),
                _s("metrics", None, "live, fixed or replay:PATH (None: the scale's)",
                   optional=True),
                Param("cpu_interval", (float, int), None, "seconds the CPU sample blocks, >= 0 "
                      "(None: the scale's)", optional=True),
                _i("seed", None, "seed of every random choice (None: the scale's, 0)",
                   optional=True),
                _s("allocator", None, "pymalloc, malloc, jemalloc or mimalloc (None: default; "
                   "runs in a child process)", optional=True),
                _s("gc_mode", None, "default, disable or freeze: the garbage collector after "
                   "set-up (None: default)", optional=True),
                Param("costs", (dict,), None, "cost switches overriding the variant's, e.g. "
                      "{'sqlite': False} (nrm/sim/costs.py; the run is then 'custom')",
                      optional=True),
                Param("conditions", (list, tuple), None, "run only these conditions, e.g. "
                      "['OFF-OFF', 'ON-ON'] (None: all four)", optional=True),
                Param("pregrow_db_mb", (float, int), None, "MiB of model-shaped rows put into "
                      "the run's SQLite databases first (None: 0)", optional=True),
                _i("flush_every", None, "flush logs every K cycles (None: 50)", optional=True),
                _i("arena_every", None, "arena statistics every K cycles (None: 100)",
                   optional=True),
                _i("checkpoint_every", None, "checkpoint every N cycles (None: every 30 s)",
                   optional=True),
                Param("tracemalloc", (bool,), None, "also record tracemalloc current/peak",
                      optional=True),
                Param("uss", (bool,), None, "also record USS (slow)", optional=True),
                _s("output", None, "new run folder (None: data/runs/<exp>-<variant>-<time>)",
                   optional=True),
                Param("progress", (bool,), False, "show a progress bar"),
            ),
            _resolve_run,
        ),
        NotebookSpec(
            "variance_hypotheses",
            "runtime variance milestones, early prediction and the H1-H5 tests (Phase 1A)",
            (_SCALE, _RUNS_DIR,
             _s("output_dir", None, "where the results go (default data/analysis/<scale>)",
                optional=True)),
            _resolve_analysis("variance_hypotheses"),
        ),
        NotebookSpec(
            "optimization",
            "unoptimized vs optimized: speedup, variance, samples (Phase 1B)",
            (_SCALE, _RUNS_DIR,
             _s("output_dir", None, "where the results go (default data/analysis/<scale>)",
                optional=True)),
            _resolve_analysis("optimization"),
        ),
        NotebookSpec(
            "render_paper",
            "every table and figure, and paper/paper.md + paper/paper.html",
            (_SCALE, _RUNS_DIR,
             _s("analysis_dir", None, "results of the two analysis notebooks "
                "(default data/analysis/<scale>)", optional=True),
             _s("figures_dir", None, "PNG figures (default figures/)", optional=True),
             _s("paper_dir", None, "paper.md and paper.html (default paper/)", optional=True),
             _s("executed_dir", None, "executed notebooks, cited in the paper "
                "(default data/executed/<scale>)", optional=True)),
            _resolve_render,
        ),
        NotebookSpec(
            "study",
            "the causal study: effects with A/A noise band, cost shares, H1-H5 verdicts",
            (_s("scale", DEFAULT_SCALE, f"one of {', '.join(SCALES)} (nrm/run/scales.py)"),
             _s("study_dir", None, "the study folder (default data/study/<scale>)",
                optional=True),
             _s("output_dir", None, "tables and figures (default data/analysis/<scale>/study)",
                optional=True),
             _i("n_boot", 2000, "bootstrap resamples (>= 100)")),
            _resolve_study,
        ),
    )
}


def get_notebook(name: str) -> NotebookSpec:
    if name not in NOTEBOOKS:
        raise ParameterError(f"unknown notebook {name!r}; valid: {', '.join(NOTEBOOKS)}")
    return NOTEBOOKS[name]


# --------------------------------------------------------------------------- validation

#: Names IPython puts in a kernel's namespace (besides _-prefixed ones).
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})

#: First line of the cell papermill injects (its ``translate_parameters`` comment).
_INJECTED_HEADER = "# Parameters"


def _user_values(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The plain values defined in ``namespace`` (not modules, classes, functions, IPython's)."""
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in _IPYTHON_NAMES
        and not isinstance(v, ModuleType | type)
        and not callable(v)
    }


def _assigned_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _candidate_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names the caller set as parameters.

    In a kernel (``In`` holds the executed cells) these are the names assigned in papermill's
    injected cell, so variables a researcher defines later in the session are not mistaken for
    parameters. In a plain mapping, every plain value counts.
    """
    history = namespace.get("In")
    if isinstance(history, list):
        names: list[str] = []
        for src in history:
            if isinstance(src, str) and src.splitlines()[:1] == [_INJECTED_HEADER]:
                names += _assigned_names(src)
        return names
    return list(_user_values(namespace))


def _unknown_message(notebook: str, unknown: list[str], valid: list[str]) -> str:
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"unknown parameter {name!r}{hint}")
    return (f"{'; '.join(parts)}; valid: {', '.join(sorted(valid))} "
            f"(notebook {notebook}; nothing was run)")


def check_parameters(notebook: str, namespace: Mapping[str, Any] | None = None,
                     /, **given: Any) -> Any:
    """Validate a notebook's parameters and return the resolved request.

    ``namespace`` is the notebook's ``globals()`` (every plain value in it must be a declared
    parameter); ``given`` are explicit values (missing ones take the declared default). Raises
    :class:`ParameterError` (or another :class:`NrmError`) before anything is written. In a
    kernel (papermill called directly) the error is also written as one line to the terminal
    papermill was started from, so it comes before papermill's traceback, not only at its end.
    """
    try:
        return _check_parameters(notebook, namespace, given)
    except NrmError as exc:
        if namespace is not None and isinstance(namespace.get("In"), list):
            _tell_the_terminal(notebook, exc)
        raise


def _check_parameters(notebook: str, namespace: Mapping[str, Any] | None,
                      given: dict[str, Any]) -> Any:
    nb = get_notebook(notebook)
    names = set(_candidate_names(namespace)) if namespace is not None else set()
    unknown = sorted((names | set(given)) - set(nb.names))
    if unknown:
        raise ParameterError(_unknown_message(notebook, unknown, nb.names))
    values = {k: namespace[k] for k in nb.names if namespace is not None and k in namespace}
    values.update(given)
    merged = {**nb.defaults(), **values}
    for p in nb.params:
        p.check_type(notebook, merged[p.name])
    return nb.resolve(merged)


def _tell_the_terminal(notebook: str, exc: NrmError) -> None:
    """Papermill shows a failed cell only at the end of its own traceback: say it first."""
    stream = _terminal_stream()
    if stream is None:
        return
    with stream:
        stream.write(
            f"\nnrm: error: {exc}\n(papermill's traceback below ends with the same error; "
            f"`nrm notebook {notebook} OUTPUT.ipynb -p NAME VALUE` checks the parameters "
            "before it starts a kernel and prints this line alone)\n"
        )


def declared_parameters(notebook: str | Path) -> dict[str, Any]:
    """The parameters a notebook's ``parameters`` cell declares, with their literal defaults."""
    path = notebook_path(notebook)
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise NotebookError(f"{path} has no cell tagged 'parameters'; papermill needs one "
                            "(Jupyter: View > Cell toolbar > Tags)")
    out: dict[str, Any] = {}
    tree = ast.parse(cells[0].source)
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    try:
                        out[t.id] = ast.literal_eval(node.value) if node.value else None
                    except ValueError:
                        out[t.id] = ast.unparse(node.value) if node.value else None
    return out


def notebook_path(notebook: str | Path) -> Path:
    """A registered notebook's name (``run_experiment``) or a path to an ``.ipynb`` file."""
    if isinstance(notebook, str) and notebook in NOTEBOOKS:
        return NOTEBOOKS[notebook].path
    path = Path(notebook)
    if not path.is_file():
        raise NotebookError(f"notebook {notebook} not found; registered notebooks: "
                            f"{', '.join(NOTEBOOKS)} (in {paths.NOTEBOOKS})")
    return path


def _registered_name(path: Path) -> str | None:
    for name, nb in NOTEBOOKS.items():
        try:
            if nb.path.resolve() == path.resolve():
                return name
        except OSError:
            continue
    return None


# --------------------------------------------------------------------------- execution


def execute(notebook: str | Path, output: str | Path, parameters: Mapping[str, Any] | None = None,
            *, kernel_name: str = KERNEL, cwd: str | Path | None = None,
            log_output: bool = False, timeout: float | None = None) -> Path:
    """Validate ``parameters``, then execute ``notebook`` with papermill into ``output``.

    Nothing is written when a parameter is unknown or invalid. ``output`` must not be inside
    the notebooks folder (executed copies go under data/ or paper/). The executed notebook
    appears at ``output`` only when every cell succeeded; a failure leaves
    ``<stem>.failed.ipynb`` beside it and raises :class:`NotebookError`.
    """
    import papermill as pm

    params = dict(parameters or {})
    src = notebook_path(notebook)
    declared = declared_parameters(src)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ParameterError(_unknown_message(src.stem, unknown, list(declared)))
    name = _registered_name(src)
    request = check_parameters(name, None, **params) if name is not None else None
    out = Path(output).expanduser().resolve()
    if out.suffix != ".ipynb":
        raise ParameterError(f"output {out} must be an .ipynb file")
    if out == src.resolve() or out.is_relative_to(paths.NOTEBOOKS.resolve()):
        raise ParameterError(f"output {out} is inside {paths.NOTEBOOKS}; executed copies go under "
                             "data/executed/ or paper/, never over the sources")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.partial.ipynb")
    failed = out.with_name(f"{out.stem}.failed.ipynb")
    for stale in (partial, failed):
        stale.unlink(missing_ok=True)
    console = isinstance(request, RunRequest) and _console_progress_wanted()
    if console:
        _announce(request)
    elif name is not None and _console_progress_wanted():  # an analysis: a line at each end
        print(f"notebook {name}: {NOTEBOOKS[name].description} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    managers = tee_kernel_manager()
    for attempt in (1, 2):
        try:
            with _kernel_env(NRM_CONSOLE_PROGRESS="1" if console else None, **_columns()):
                pm.execute_notebook(
                    str(src), str(partial), parameters=params, kernel_name=kernel_name,
                    cwd=str(cwd if cwd is not None else paths.ROOT), progress_bar=False,
                    log_output=log_output, execution_timeout=timeout,
                    extra_arguments=list(KERNEL_ARGS), start_timeout=KERNEL_START_TIMEOUT_S,
                    kernel_manager_class=managers,
                )
            break
        except pm.PapermillExecutionError as exc:
            os.replace(partial, failed)
            raise NotebookError(
                f"{src.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
                f"(executed copy: {failed})"
            ) from None
        except BaseException as exc:
            if is_start_failure(exc):  # no cell ran (nrm.build.kernelstart says why it happens)
                tee, managers.last_tee = managers.last_tee, None
                said = (tee.last_line() if tee is not None else "") or "nothing"
                if attempt == 1:
                    print(f"nrm: the kernel for {src.name} did not start ({exc}; the kernel's "
                          f"stderr ended with: {said}); starting it once more", file=sys.stderr,
                          flush=True)
                    continue
                partial.unlink(missing_ok=True)
                raise NotebookError(
                    f"{src.name}: the kernel did not start, twice ({exc}); the kernel's stderr "
                    f"ended with: {said}"
                ) from exc
            if partial.exists():
                os.replace(partial, failed)
            raise
    os.replace(partial, out)
    if console:
        _done(request, time.perf_counter() - t0)
    elif name is not None and _console_progress_wanted():
        print(f"notebook {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr,
              flush=True)
    return out


# --------------------------------------------------------------------------- console progress

#: Kernel options: the kernel's own log ("Kernel is running over TCP without encryption" for a
#: kernel papermill binds to localhost, "KeyboardInterrupt caught" at its shutdown) is noise on
#: a build's console; a failing cell still fails the notebook with its error.
KERNEL_ARGS = ("--IPKernelApp.log_level=CRITICAL",)

#: Seconds a kernel may take to answer its first request (papermill's default is 60; the imports
#: of a kernel on a machine loaded by other jobs take a good part of that).
KERNEL_START_TIMEOUT_S = 180


def _columns() -> dict[str, str | None]:
    """The terminal's width for the kernel's progress bars (its stderr is a pipe,
    :mod:`nrm.build.kernelstart`), unless ``COLUMNS`` is set already."""
    if os.environ.get("COLUMNS") or not os.isatty(2):
        return {}
    try:
        return {"COLUMNS": str(os.get_terminal_size(2).columns)}
    except OSError:
        return {}

#: Environment switch: ``NRM_PROGRESS=0`` turns the console lines and bars off.
PROGRESS_ENV = "NRM_PROGRESS"


def _console_progress_wanted() -> bool:
    return os.environ.get(PROGRESS_ENV, "1") not in ("0", "false", "no", "off")


@contextlib.contextmanager
def _kernel_env(**values: str | None) -> Iterator[None]:
    """Set environment variables for the kernel papermill starts (it inherits them)."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _plan_position(request: RunRequest) -> str:
    from nrm.run.scales import get_scale

    names = get_scale(request.scale).names()
    name = f"{request.spec.experiment}-{request.spec.variant}"
    if name in names and request.out.name == name:
        return f"run {names.index(name) + 1}/{len(names)}"
    return "run"


def _announce(request: RunRequest) -> None:
    s = request.spec
    print(f"{_plan_position(request)}: {s.experiment} {s.variant} (scale {request.scale}, "
          f"{s.cycles} cycles x {len(s.conditions)} conditions, at most {s.max_agents} agents, "
          f"metrics {s.metrics}) -> {request.out}", file=sys.stderr, flush=True)


def _done(request: RunRequest, seconds: float) -> None:
    from nrm.instrument.runrecord import read_run_json

    try:
        meta = read_run_json(request.out)
        ran = f"{float(meta['totals']['runtime_s']):.1f} s in the run, "
    except (NrmError, OSError, KeyError, TypeError, ValueError):
        ran = ""
    print(f"{_plan_position(request)} done: {request.spec.experiment} {request.spec.variant} "
          f"took {seconds:.1f} s ({ran}the rest starting the notebook)", file=sys.stderr,
          flush=True)


def _console_stream() -> IO[str] | None:
    """A text stream to the terminal papermill was started from, when running in its kernel.

    ipykernel replaces fd 2 by a pipe into the notebook, but ``sys.stderr.fileno()`` returns
    its copy of the original fd, which the kernel inherited from ``make``: writing there
    reaches the console and leaves the executed notebook clean.
    """
    if os.environ.get("NRM_CONSOLE_PROGRESS") != "1":
        return None
    return _terminal_stream()


def _terminal_stream() -> IO[str] | None:
    """A text stream to the terminal the kernel's parent was started from (see
    :func:`_console_stream`), or ``None``."""
    # without fd capture (ipykernel skips it under pytest) fd 2 itself is still the console
    for stream in (sys.stderr, sys.__stderr__):
        try:
            fd = os.dup(stream.fileno())  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            continue
        # ASCII: a build tool that reads its commands' output a byte at a time (to show the
        # bar's carriage-return updates live) never cuts a character in two; tqdm then draws #
        return open(fd, "w", buffering=1, encoding="ascii", errors="replace", closefd=True)
    return None


# --------------------------------------------------------------------------- the run notebook


def run(request: RunRequest) -> dict[str, Any]:
    """Carry out a validated :class:`RunRequest`; returns the run's run.json content.

    With an allocator the run happens in a child process that receives the spec as JSON
    (:mod:`nrm.run.child`); otherwise in this process.
    """
    if request.allocator is not None:
        from nrm.instrument.runrecord import read_run_json
        from nrm.run.child import run_in_child

        code = run_in_child(request.spec, request.out, progress=request.progress)
        if code != 0:
            raise NotebookError(f"the {request.allocator} child running {request.spec.experiment} "
                                f"into {request.out} exited with status {code}")
        return read_run_json(request.out)
    from nrm.run.runner import run_experiment

    console = None if request.progress else _console_stream()
    if console is None:
        return run_experiment(request.spec, request.out, progress=request.progress)
    with console, contextlib.redirect_stderr(console):  # the run's tqdm bar goes to the console
        return run_experiment(request.spec, request.out, progress=True)


# --------------------------------------------------------------------------- command line


def parse_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value, read the way papermill's CLI reads it."""
    low = text.strip()
    if low in ("None", "none", "null"):
        return None
    if low in ("True", "true"):
        return True
    if low in ("False", "false"):
        return False
    for conv in (int, float):
        try:
            return conv(low)
        except ValueError:
            pass
    return text


_parse_value = parse_value
