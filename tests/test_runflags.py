"""One parser for the run flags (nrm.cli.runflags) and one child entry (nrm.run.child)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from nrm import paths
from nrm.cli import runflags
from nrm.cli.main import build_parser
from nrm.exceptions import ParameterError
from nrm.run import child
from nrm.run.spec import RunSpec


def test_every_runspec_field_has_a_flag_or_is_internal() -> None:
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    assert set(runflags.FLAGS) | set(runflags.INTERNAL) == fields
    assert not set(runflags.FLAGS) & set(runflags.INTERNAL)


@pytest.mark.parametrize("command", ["run", "workers", "dbgrow"])
def test_every_run_command_has_every_flag(command: str) -> None:
    p = build_parser()
    argv = [command, "C256", "--out", "/x", "--scale", "smoke", "--variant", "lean",
            "--cycles", "3", "--max-agents", "4", "--condition", "ON-ON", "--metrics", "fixed",
            "--seed", "5", "--cost", "cumulative_registry=false", "--cpu-interval", "0.001",
            "--allocator", "malloc", "--gc-mode", "freeze", "--flush-every", "1",
            "--arena-every", "2", "--checkpoint-every", "3", "--tracemalloc", "--uss"]
    spec = runflags.spec_from_flags(p.parse_args(argv))
    want = RunSpec("C256", "lean", scale="smoke", cycles=3, max_agents=4,
                   conditions=("ON-ON",), metrics="fixed", seed=5,
                   costs={"cumulative_registry": False}, cpu_interval=0.001, allocator="malloc",
                   gc_mode="freeze", flush_every=1, arena_every=2, checkpoint_every=3,
                   tracemalloc=True, uss=True)
    assert spec == want


def test_flags_are_typed_and_spec_excludes_them() -> None:
    p = build_parser()
    with pytest.raises(SystemExit):
        p.parse_args(["workers", "C256", "--out", "/x", "--cycles", "0"])
    with pytest.raises(SystemExit):
        p.parse_args(["run", "C256", "--gc-mode", "sometimes"])
    args = p.parse_args(["run", "--spec", "s.json", "--cycles", "3"])
    with pytest.raises(ParameterError, match="--cycles"):
        runflags.spec_from_flags(args)


def test_the_child_entry_runs_a_spec_file(tmp_path: Path) -> None:
    spec = RunSpec("C256", "lean", cycles=2, max_agents=3, metrics="fixed",
                   conditions=("ON-ON",))
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    out = tmp_path / "r"
    argv = child.command(spec_file, out)
    assert argv[1:5] == ["-m", "nrm.cli", "child", str(spec_file)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / paths.RUN_JSON).read_text())
    assert meta["status"] == "complete" and RunSpec.from_dict(meta["parameters"]) == spec


def test_the_child_entry_refuses_a_bad_spec_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"experiment": "C256", "cycles": 0}))
    proc = subprocess.run(child.command(bad, tmp_path / "r"), capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cycles" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_the_run_notebook_sets_every_runspec_field(tmp_path: Path) -> None:
    from nrm.build.notebooks import NOTEBOOKS, check_parameters, declared_parameters
    from nrm.run.spec import INTERNAL_FIELDS

    names = set(NOTEBOOKS["run_experiment"].names)
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    assert fields - set(INTERNAL_FIELDS) <= names
    assert set(declared_parameters("run_experiment")) == names  # the cell and the table agree
    req = check_parameters("run_experiment", scale="smoke", gc_mode="freeze",
                           costs={"sqlite": False}, conditions=["ON-ON"], tracemalloc=True,
                           output=str(tmp_path / "r"))
    assert req.spec == RunSpec("C256", scale="smoke", gc_mode="freeze", costs={"sqlite": False},
                               conditions=("ON-ON",), tracemalloc=True)
    with pytest.raises(ParameterError, match="gc_mode"):
        check_parameters("run_experiment", gc_mode="sometimes", output=str(tmp_path / "s"))
