"""Notebook parameters: declarations in step with the notebooks, validation before anything is
written (through nrm.build.notebooks.execute and through papermill called directly), execution."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nrm import paths
from nrm.build import notebooks as N
from nrm.cli.main import main
from nrm.exceptions import ParameterError, RunExistsError, UnknownExperimentError

HERE = Path(__file__).parent / "notebooks"
PAPERMILL = Path(sys.executable).with_name("papermill")


# --------------------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("name", list(N.NOTEBOOKS))
def test_declarations_match_the_parameters_cell(name: str) -> None:
    declared = N.declared_parameters(name)
    spec = N.NOTEBOOKS[name]
    assert list(declared) == spec.names
    assert declared == spec.defaults()


@pytest.mark.parametrize("name", list(N.NOTEBOOKS))
def test_notebooks_are_stored_without_outputs_and_validate_first(name: str) -> None:
    nb = nbformat.read(N.NOTEBOOKS[name].path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    # the first cell after the parameters validates them, before any cell can write
    assert f'check_parameters("{name}", globals())' in code[1].source
    assert nb.metadata.kernelspec.name == N.KERNEL


# --------------------------------------------------------------------------- validation


def test_unknown_parameter_names_the_valid_ones_and_a_close_match() -> None:
    with pytest.raises(ParameterError) as err:
        N.check_parameters("run_experiment", None, cyles=10)
    msg = str(err.value)
    assert "unknown parameter 'cyles' (did you mean 'cycles'?)" in msg
    assert "valid: allocator, arena_every, checkpoint_every, conditions, costs, cpu_interval" in msg


def test_wrong_type_and_bad_value_fail_with_the_parameter_named(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="parameter 'cycles' of notebook run_experiment must "
                                             "be int or None, got 'ten'"):
        N.check_parameters("run_experiment", None, cycles="ten")
    with pytest.raises(ParameterError, match=r"'max_agents' .* got True"):
        N.check_parameters("run_experiment", None, max_agents=True)
    with pytest.raises(UnknownExperimentError, match="unknown experiment 'C999'"):
        N.check_parameters("run_experiment", None, experiment="C999", output=str(tmp_path / "r"))
    with pytest.raises(ParameterError, match="cycles must be a positive integer, got -5"):
        N.check_parameters("run_experiment", None, cycles=-5, output=str(tmp_path / "r"))
    with pytest.raises(ParameterError, match="unknown scale 'tiny'"):
        N.check_parameters("run_experiment", None, scale="tiny", output=str(tmp_path / "r"))
    with pytest.raises(ParameterError, match="unknown allocator 'tcmalloc'"):
        N.check_parameters("run_experiment", None, allocator="tcmalloc", output=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_existing_run_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text("{}")
    with pytest.raises(RunExistsError, match="already exists and is not empty"):
        N.check_parameters("run_experiment", None, output=str(tmp_path / "r"))


def test_resolution_takes_the_scale_then_the_explicit_values(tmp_path: Path) -> None:
    req = N.check_parameters("run_experiment", None, scale="smoke", cycles=7, cpu_interval=0,
                             output=str(tmp_path / "r"))
    assert (req.spec.cycles, req.spec.max_agents, req.spec.metrics) == (7, 8, "fixed")
    assert req.spec.cpu_interval == 0.0 and isinstance(req.spec.cpu_interval, float)
    assert req.out == (tmp_path / "r").resolve()
    # an allocator child receives the spec as JSON (it replaced RunRequest.cli_argv)
    sent = json.loads(req.spec.to_json())
    assert sent["experiment"] == "C256" and sent["cycles"] == 7
    assert type(req.spec).from_dict(sent) == req.spec


def test_kernel_namespace_only_papermills_injected_names_count() -> None:
    # what a kernel holds after the parameters cell, papermill's injected cell, and a variable a
    # researcher defined later in the session
    ns = {
        "In": ["", 'experiment = "C256"\ncycles = None', "# Parameters\ncyles = 10\n", "x = 1"],
        "Out": {}, "get_ipython": print, "experiment": "C256", "cycles": None, "cyles": 10,
        "x": 1, "_i1": "", "json": json,
    }
    with pytest.raises(ParameterError, match="unknown parameter 'cyles'"):
        N.check_parameters("run_experiment", ns)
    ns["In"][2] = "# Parameters\ncycles = 10\nscale = 'smoke'\n"
    ns.update(cycles=10, scale="smoke", output=None)
    del ns["cyles"]
    req = N.check_parameters("run_experiment", ns)  # "x" is not a parameter, and not flagged
    assert req.spec.cycles == 10


def test_plain_mapping_every_value_must_be_declared() -> None:
    with pytest.raises(ParameterError, match="unknown parameter 'runs'"):
        N.check_parameters("optimization", {"scale": "smoke", "runs": "x"})


def test_analysis_notebooks_need_every_run(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"needs every run of scale 'smoke'; missing: .*"
                                             "C255-unoptimized"):
        N.check_parameters("variance_hypotheses", None, scale="smoke", runs_dir=str(tmp_path))


def test_execute_refuses_before_writing_anything(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.ipynb"
    with pytest.raises(ParameterError, match="unknown parameter 'cyles'"):
        N.execute("run_experiment", out, {"cyles": 10})
    with pytest.raises(ParameterError, match="unknown parameter 'wrod' \\(did you mean 'word'"):
        N.execute(HERE / "ok.ipynb", out, {"wrod": "x"})
    with pytest.raises(ParameterError, match="never over the sources"):
        N.execute("run_experiment", paths.NOTEBOOKS / "copy.ipynb", {"scale": "smoke"})
    with pytest.raises(N.NotebookError, match="no cell tagged 'parameters'"):
        N.execute(HERE / "no_parameters.ipynb", out, {})
    with pytest.raises(N.NotebookError, match="not found"):
        N.execute(tmp_path / "absent.ipynb", out, {})
    assert not (tmp_path / "sub").exists()
    assert not (paths.NOTEBOOKS / "copy.ipynb").exists()


def test_cli_reports_a_bad_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["notebook", "run_experiment", str(tmp_path / "o.ipynb"), "-p", "cyles", "10"])
    assert code == 2
    assert "unknown parameter 'cyles'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert N._parse_value("10") == 10 and N._parse_value("0.5") == 0.5
    assert N._parse_value("None") is None and N._parse_value("C256") == "C256"


# --------------------------------------------------------------------------- execution


@pytest.mark.slow
def test_execute_writes_the_output_only_on_success(tmp_path: Path) -> None:
    out = N.execute(HERE / "ok.ipynb", tmp_path / "ok.ipynb", {"n": 3})
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata.papermill.parameters == {"n": 3}
    assert "okokok" in nb.cells[-1].outputs[0]["text"]
    with pytest.raises(N.NotebookError, match="ValueError: broken on purpose \\(n = 5\\)"):
        N.execute(HERE / "broken.ipynb", tmp_path / "broken.ipynb", {"n": 5})
    assert not (tmp_path / "broken.ipynb").exists()
    assert (tmp_path / "broken.failed.ipynb").is_file()
    assert not list(tmp_path.glob(".*partial*"))


def _papermill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PAPERMILL), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_papermill_directly_bad_parameter_fails_and_writes_no_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = _papermill(str(N.NOTEBOOKS["run_experiment"].path), str(tmp_path / "out.ipynb"),
                     "-p", "cyles", "10", "-p", "scale", "smoke", "-p", "output", str(run),
                     cwd=tmp_path)
    assert res.returncode != 0
    assert "unknown parameter 'cyles' (did you mean 'cycles'?)" in res.stdout + res.stderr
    assert not run.exists()
    first = next(ln for ln in res.stderr.splitlines() if ln.startswith(("nrm: error:", "Trace")))
    assert "unknown parameter 'cyles'" in first  # the error line before papermill's traceback


@pytest.mark.slow
@pytest.mark.parametrize("notebook, params, message", [
    ("run_experiment", ["-p", "cycles", "abc"], "parameter 'cycles' of notebook run_experiment "
                                                "must be int or None, got 'abc'"),
    ("variance_hypotheses", ["-p", "scale", "huge"], "unknown scale 'huge'"),
])
def test_papermill_directly_says_the_error_before_its_traceback(
    tmp_path: Path, notebook: str, params: list[str], message: str
) -> None:
    """Papermill's own traceback ends with the notebook's message; the message also comes
    first, as one line, with a pointer to `nrm notebook` (which says it alone)."""
    res = _papermill(str(N.NOTEBOOKS[notebook].path), str(tmp_path / "out.ipynb"), *params,
                     cwd=tmp_path)
    assert res.returncode != 0
    err = res.stderr.splitlines()
    first = next(i for i, line in enumerate(err) if line.startswith("nrm: error: "))
    assert message in err[first], res.stderr
    assert f"`nrm notebook {notebook} OUTPUT.ipynb -p NAME VALUE`" in err[first + 1]
    traceback = err.index("Traceback (most recent call last):")
    assert first < traceback  # papermill's traceback keeps the message at its end too
    assert message in "\n".join(err[traceback:])


@pytest.mark.slow
def test_papermill_directly_runs_the_experiment_at_smoke_scale(tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = _papermill(str(N.NOTEBOOKS["run_experiment"].path), str(tmp_path / "out.ipynb"),
                     "-p", "experiment", "C255", "-p", "scale", "smoke", "-p", "cycles", "6",
                     "-p", "output", str(run), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "complete" and meta["experiment"] == "C255"
    assert meta["parameters"]["cycles"] == 6 and meta["metrics"]["source"] == "fixed"
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) == 1


@pytest.mark.slow
def test_allocator_runs_in_a_child_process(tmp_path: Path) -> None:
    req = N.check_parameters("run_experiment", None, scale="smoke", cycles=3, allocator="malloc",
                             output=str(tmp_path / "r"))
    meta = N.run(req)
    assert meta["status"] == "complete"
    assert meta["context"]["allocator"]["pymalloc"] is False
