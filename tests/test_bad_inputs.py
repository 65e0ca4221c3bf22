"""Issue #26: every bad input one line (exit 2, nothing written), every promise kept."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from nrm.cli.main import main
from nrm.run.runner import run_experiment
from nrm.run.spec import RunSpec


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nrm: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def done_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "r"
    spec = RunSpec("C256", "lean", cycles=3, max_agents=4, metrics="fixed",
                   conditions=("ON-ON",))
    assert run_experiment(spec, out, progress=False)["status"] == "complete"
    return out


# ---------------------------------------------------------------- 1. run flags

@pytest.mark.parametrize("flags, named", [
    (["--cycles", "9"], "--cycles"),
    (["--metrics", "live"], "--metrics"),
    (["--seed", "3"], "--seed"),
    (["--cost", "sqlite=false"], "--cost"),
    (["--out", "elsewhere"], "--out"),
    (["--scale", "smoke"], "--scale"),
    (["--max-agents", "7"], "--max-agents"),
    (["--variant", "lean"], "--variant"),
    (["--condition", "ON-ON"], "--condition"),
    (["--cpu-interval", "0"], "--cpu-interval"),
    (["--spec", "s.json"], "--spec"),
    (["--seed", "3", "--cycles", "2"], "--cycles, --seed"),
])
def test_a_resume_refuses_flags_that_would_change_the_run(
        done_run: Path, flags: list[str], named: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(done_run)
    assert main(["run", "--resume", str(done_run), *flags, "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"drop {named}" in line and "run.json" in line
    assert _snapshot(done_run) == before


def test_a_resume_refuses_flags_in_a_real_process(done_run: Path) -> None:
    before = _snapshot(done_run)
    proc = subprocess.run([sys.executable, "-m", "nrm.cli", "run", "--resume", str(done_run),
                           "--cycles", "100"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "drop --cycles" in _one_line(proc.stderr)
    assert _snapshot(done_run) == before


@pytest.mark.parametrize("argv, named", [
    (["run", "C256", "--out", ""], "--out is empty"),
    (["run", "C256", "--out", "  "], "--out is empty"),
    (["run", "--resume", ""], "--resume is empty"),
    (["run", "C256", "--cycles", "2", "--cycles", "3"], "--cycles given more than once"),
    (["run", "C256", "--seed", "1", "--seed", "1"], "--seed given more than once"),
    (["run", "C256", "--uss", "--uss"], "--uss given more than once"),
    (["run", "C256", "--out", "a", "--out", "b"], "--out given more than once"),
    (["run", "C256", "--variant", "lean", "--variant", "lean"], "--variant given"),
    (["run", "C256", "--cpu-interval", "0", "--cpu-interval", "0"], "--cpu-interval given"),
    (["run", "--spec", "a.json", "--spec", "b.json"], "--spec given more than once"),
    (["workers", "C256", "--out", "x", "--scale", "smoke", "--scale", "full"],
     "--scale given more than once"),
    (["dbgrow", "C256", "--out", "x", "--pregrow-db", "1", "--pregrow-db", "2"],
     "--pregrow-db given more than once"),
    (["run", "C256", "--cost", "sqlite=false", "--cost", "sqlite=true"], "sqlite is given twice"),
    (["run", "C256", "--condition", "ON-ON", "--condition", "ON-ON"], "conditions repeat"),
])
def test_one_rule_for_repeated_flags_and_empty_folders(
        argv: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert named in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_collecting_flags_still_collect() -> None:
    from nrm.cli import runflags
    from nrm.cli.main import build_parser

    args = build_parser().parse_args(["run", "C256", "--condition", "ON-ON", "--condition",
                                      "OFF-OFF", "--cost", "sqlite=false", "--cost",
                                      "cumulative_registry=false"])
    spec = runflags.spec_from_flags(args)
    assert set(spec.conditions) == {"ON-ON", "OFF-OFF"}
    assert not spec.costs.sqlite and not spec.costs.cumulative_registry
