"""The build pipeline (pydoit): code dependencies derived from imports, and `make paper WHY=1`
saying what would re-run and why, decided by content (never by file times)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nrm import paths
from nrm.build.pipeline import RUN_CODE, Build, source_files, tasks
from nrm.deps import notebook_modules
from nrm.exceptions import ParameterError


def test_source_files_follow_imports_including_lazy_ones() -> None:
    files = source_files(["nrm.run.runner"])
    for f in ("nrm/run/runner.py", "nrm/sim/model.py", "nrm/sim/persistence.py",
              "nrm/instrument/rowformat.py",
              "nrm/paths.py", "nrm/exceptions.py", "nrm/__init__.py", "nrm/instrument/sysinfo.py"):
        assert f in files  # sysinfo is imported inside a function of runner
    cut = source_files(["nrm.run.runner"], ("nrm.cli",))
    assert "nrm/sim/model.py" in cut and not any(f.startswith(("nrm/stats/", "nrm/render/"))
                                             for f in cut)


def test_importing_a_submodule_counts_its_packages() -> None:
    files = source_files(["nrm.stats.variance"])
    assert "nrm/stats/__init__.py" in files and "nrm/__init__.py" in files


def test_unknown_module_is_an_error() -> None:
    with pytest.raises(ParameterError, match=r"nrm\.modle"):
        source_files(["nrm.modle"])


def test_notebook_imports_are_read_from_its_code_cells() -> None:
    mods = notebook_modules(paths.NOTEBOOKS / "variance_hypotheses.ipynb")
    assert {"nrm.build.notebooks", "nrm.render.results", "nrm.stats"} <= set(mods)


def test_the_run_step_reads_the_simulator_and_never_the_statistics() -> None:
    run_code = source_files(RUN_CODE)  # no exclude list
    assert {"nrm/sim/model.py", "nrm/run/runner.py", "nrm/sim/persistence.py",
            "nrm/instrument/rowformat.py",
            "nrm/run/spec.py", "nrm/cli/child.py", "nrm/run/child.py"} <= set(run_code)
    assert not any(f.startswith(("nrm/stats/", "nrm/render/", "nrm/claims/", "nrm/study/"))
                   for f in run_code)
    assert "nrm/cli/main.py" not in run_code  # the dispatcher, which imports every subcommand


def test_every_step_lists_its_inputs_and_outputs(tmp_path: Path) -> None:
    b = Build.from_vars("smoke", str(tmp_path))
    steps = {f"{t['basename']}:{t['name']}": t for t in tasks(b)}
    from nrm.run.scales import get_scale

    assert len([s for s in steps if s.startswith("run:")]) == len(get_scale("smoke").names())
    render = steps["render:paper"]
    assert "nrm/render/paper.py" in render["file_dep"]
    assert any(f.endswith("phase1a/manifest.json") for f in render["file_dep"])
    assert str(tmp_path / "paper" / "provenance.json") in render["targets"]
    analysis = steps["analysis:smoke/variance_hypotheses"]
    assert "nrm/stats/hypotheses.py" in analysis["file_dep"]
    assert not (tmp_path / ".make").exists()  # listing the steps writes nothing


def test_make_paper_runs_the_study_after_the_runs_and_the_paper_reads_it(tmp_path: Path) -> None:
    from nrm.build.pipeline import study_outputs

    b = Build.from_vars("smoke", str(tmp_path))
    steps = {f"{t['basename']}:{t['name']}": t for t in tasks(b)}
    sweep = steps["study:smoke/sweep"]
    last_run = [s for s in steps if s.startswith("run:")][-1]
    assert sweep["task_dep"] == [last_run]  # never timed at the same time as a paper run
    assert str(b.study_dir / "study.json") in sweep["targets"]
    # the sweep's inputs: the code that makes the study's data, not the analysis or the paper
    assert {"nrm/study/sweep.py", "nrm/run/runner.py", "nrm/sim/model.py"} <= set(sweep["file_dep"])
    assert not any(f.startswith(("nrm/stats/", "nrm/render/")) or f == "nrm/study/analysis.py"
                   for f in sweep["file_dep"])
    analysis = steps["analysis:smoke/study"]
    assert str(b.study_dir / "study.json") in analysis["file_dep"]
    assert "nrm/study/analysis.py" in analysis["file_dep"]
    assert set(study_outputs(b)) <= set(analysis["targets"])
    assert set(study_outputs(b)) <= set(steps["render:paper"]["file_dep"])
    assert "--retire-stale" in sweep["actions"][0].action  # a study of older code moves aside


def test_study_0_leaves_the_study_out_of_the_build(tmp_path: Path) -> None:
    b = Build.from_vars("smoke", str(tmp_path), "", "0")
    steps = {f"{t['basename']}:{t['name']}": t for t in tasks(b)}
    assert not [s for s in steps if s.startswith("study:") or s.endswith("/study")]
    assert not [f for f in steps["render:paper"]["file_dep"] if f.startswith(str(tmp_path))
                and "/study/" in f]
    assert Build.from_vars("smoke", str(tmp_path), "", "").study  # default: with the study
    with pytest.raises(ParameterError, match="STUDY must be 1"):
        Build.from_vars("smoke", str(tmp_path), "", "no")


def test_bad_seed_is_refused() -> None:
    with pytest.raises(ParameterError, match="SEED"):
        Build.from_vars("smoke", ".", "one")


@pytest.mark.parametrize("seed", ["one", "1.5", "1" * 26, "--3", " "])
def test_make_paper_checks_seed_in_one_line_before_doit(seed: str, tmp_path: Path) -> None:
    """The Makefile's first step of `make paper` is `nrm scales check` (before doit starts)."""
    make = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert '@$(BIN)/nrm scales check $(SCALE) --seed="$(SEED)"' in make.split("paper: setup")[1]
    proc = subprocess.run([sys.executable, "-m", "nrm.cli", "scales", "check", "smoke",
                           f"--seed={seed}", f"--out={tmp_path}"],
                          capture_output=True, text=True, check=False)
    if not seed.strip():
        assert proc.returncode == 0 and not proc.stderr
        return
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "SEED must be an integer" in proc.stderr


def test_seed_reaches_the_studys_runs(tmp_path: Path) -> None:
    b = Build.from_vars("smoke", str(tmp_path), "7")
    sweep = next(t for t in tasks(b) if t["basename"] == "study")
    argv = sweep["actions"][0]._action
    assert argv[argv.index("--model-seed") + 1] == "7"
    plan = sweep["uptodate"][0].config["plan"]
    assert plan["model_seed"] == 7
    assert {r["spec"]["seed"] for r in plan["runs"] if r["spec"]} == {7}


# ------------------------------------------------------------------ against a real build


_COPY = ("nrm", "notebooks", "data/reference", "dodo.py", "pyproject.toml", "Makefile")


def _project_copy(dest: Path) -> Path:
    """The project's sources in another folder (a 'fresh clone' of the working tree)."""
    for item in _COPY:
        src = paths.ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / item)
    return dest


def _why(project: Path, build: Path, *extra: str) -> str:
    env = {**os.environ, "NRM_ROOT": str(project)}
    res = subprocess.run([sys.executable, "-m", "nrm.cli", "why", "--scale", "smoke",
                          "--out", str(build), *extra], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_touch_and_a_fresh_copy_redo_nothing_an_edited_stats_function_redoes_its_steps(
        smoke_build: Path, tmp_path: Path) -> None:
    project = _project_copy(tmp_path / "clone")
    later = time.time() + 3600
    for p in project.rglob("*"):
        if p.is_file():
            os.utime(p, (later, later))  # touch every source
    for p in smoke_build.rglob("*"):
        if p.is_file():
            os.utime(p, (later, later))  # and every output
    out = _why(project, smoke_build)
    assert "nothing to redo" in out, out
    assert "would run" not in out

    stats = project / "nrm" / "stats" / "variance.py"
    text = stats.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\ndef ")
    assert sep
    name = rest.split("(", 1)[0]
    body_start = rest.index(":\n", rest.index(")")) + 2
    edited = head + sep + rest[:body_start] + "    _edited = True  # noqa: F841\n" + \
        rest[body_start:]
    stats.write_text(edited, encoding="utf-8")
    out = _why(project, smoke_build)
    would = [line.split(":")[0] + ":" + line.split(":")[1] for line in out.splitlines()
             if line.endswith(": would run")]
    assert "analysis:smoke/variance_hypotheses" in would, out
    assert "analysis:smoke/optimization" in would, out
    assert "render:paper" in would, out
    assert not [w for w in would if w.startswith("run:")], (name, out)
    # the study's runs do not depend on the statistics: its sweep stays, its analysis reruns
    # only if the study notebook imports the edited module
    assert not [w for w in would if w.startswith("study:")], (name, out)
    assert "file changed: nrm/stats/variance.py" in out


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_why_names_a_changed_parameter(smoke_build: Path) -> None:
    out = _why(paths.ROOT, smoke_build, "--seed", "7")
    assert "run:smoke/C256-unoptimized: would run" in out
    assert "parameter changed: parameters.seed: 0 -> 7" in out, out
