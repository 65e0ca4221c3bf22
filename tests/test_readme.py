"""The README's copy-paste commands stay true: its Python snippets run, its papermill one-liner
names valid parameters, and the make targets it names exist."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nrm import paths
from nrm.build import notebooks as N
from nrm.exceptions import ParameterError

README = (paths.ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_snippets_run_in_order(tmp_path: Path) -> None:
    code = "\n".join(_blocks("python"))
    assert "Probe(" in code and "evaluate_hypotheses" in code
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "H5" in res.stdout
    assert (tmp_path / "my-run" / "cycles.csv").stat().st_size > 0


def _papermill_lines() -> list[list[str]]:
    lines = [ln for b in _blocks("") for ln in b.splitlines() if "papermill " in ln]
    return [shlex.split(ln.split("#")[0]) for ln in lines]


def test_papermill_one_liner_reruns_c256_with_5000_cycles(tmp_path: Path) -> None:
    commands = _papermill_lines()
    good = [c for c in commands if "cyles" not in c and "notebooks/run_experiment.ipynb" in c]
    assert good, "README lost its papermill one-liner"
    argv = good[0]
    assert argv[1] == "notebooks/run_experiment.ipynb"
    params = {argv[i + 1]: N._parse_value(argv[i + 2]) for i, a in enumerate(argv) if a == "-p"}
    assert params["experiment"] == "C256" and params["cycles"] == 5000
    params["output"] = str(tmp_path / "run")  # the README's folder may exist on this machine
    req = N.check_parameters("run_experiment", None, **params)
    assert req.spec.experiment == "C256" and req.spec.cycles == 5000


def test_papermill_bad_parameter_example_is_rejected() -> None:
    bad = [c for c in _papermill_lines() if "cyles" in c]
    assert bad
    params = {bad[0][i + 1]: N._parse_value(bad[0][i + 2])
              for i, a in enumerate(bad[0]) if a == "-p"}
    with pytest.raises(ParameterError, match="unknown parameter 'cyles'"):
        N.check_parameters("run_experiment", None, **params)


def test_make_targets_named_in_the_readme_exist() -> None:
    makefile = (paths.ROOT / "Makefile").read_text(encoding="utf-8")
    for target in set(re.findall(r"^make ([a-z-]+)", README, flags=re.M)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target


def test_analysis_papermill_example_names_valid_parameters() -> None:
    lines = [c for c in _papermill_lines() if "notebooks/variance_hypotheses.ipynb" in c]
    assert lines, "README lost its example of pointing the analysis notebooks at other runs"
    params = {lines[0][i + 1]: lines[0][i + 2] for i, a in enumerate(lines[0]) if a == "-p"}
    assert set(params) <= set(N.NOTEBOOKS["variance_hypotheses"].names)
    assert "runs_dir" in params and "output_dir" in params


BUILDING = (paths.ROOT / "docs" / "building.md").read_text(encoding="utf-8")


def test_every_make_target_is_in_the_docs_table_and_in_make_help() -> None:
    makefile = (paths.ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, flags=re.M)
    assert phony
    public = [t for t in phony.group(1).split() if t != "paper-build"]
    res = subprocess.run(["make", "-s", "-C", str(paths.ROOT), "help"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    for target in public:
        assert f"| `make {target}` |" in BUILDING, (
            f"make {target} is missing from the table in docs/building.md")
        assert f"make {target}" in res.stdout, f"make {target} is missing from make help"


@pytest.mark.slow
def test_make_lab_starts_jupyterlab_in_the_project_kernel() -> None:
    import signal
    import time

    proc = subprocess.Popen(
        ["make", "-s", "-C", str(paths.ROOT), "-o", ".venv/.installed-stamp", "lab",
         "LAB_ARGS=--no-browser --port=0 --ServerApp.token=nrm-test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "http://127.0.0.1:" in line or "http://localhost:" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    text = "".join(seen)
    assert "/lab?token=" in text, text[-2000:]
    assert "allow-root" not in text  # as root, make lab passed --allow-root itself
