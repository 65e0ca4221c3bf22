"""Worker-process arm: one fresh process per condition, merged into one ordinary run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nrm.instrument.reader import load_run
from nrm.run.runner import run_experiment
from nrm.run.spec import RunSpec
from nrm.sim.conditions import CONDITIONS
from nrm.study.workers import boundary_table

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--scale", "smoke", "--variant", "lean", "--cycles", "12", "--max-agents", "6",
         "--metrics", "fixed"]  # fmt: skip


@pytest.mark.slow
def test_worker_arm_runs_one_process_per_condition(tmp_path: Path) -> None:
    out = tmp_path / "workers"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "nrm.cli", "workers", "C256", *FLAGS, "--out", str(out),
         "--no-progress"], capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["arm"] == "worker-processes"
    workers = meta["workers"]
    assert [w["condition"] for w in workers] == list(CONDITIONS)  # the paper's order
    pids = [w["pid"] for w in workers]
    assert len(set(pids)) == 4 and meta["pid"] not in pids and all(isinstance(p, int) for p in pids)
    for w in workers:  # each PID is the one its own run recorded, running one condition
        child = json.loads((out / w["run_dir"] / "run.json").read_text())
        assert child["pid"] == w["pid"] and list(child["conditions"]) == [w["condition"]]
    run = load_run(out)
    assert run.complete and run.conditions == list(CONDITIONS)
    assert run.cycles["step"].tolist() == list(range(4 * 12))
    assert run.cycles["elapsed_s"].is_monotonic_increasing
    # same model, same metrics: the same populations as all four conditions in one process
    single = run_experiment(
        RunSpec("C256", "lean", scale="smoke", cycles=12, max_agents=6, metrics="fixed"),
        tmp_path / "single", progress=False,
    )
    for cond in CONDITIONS:
        assert (meta["conditions"][cond]["population_history"]
                == single["conditions"][cond]["population_history"])
    table = boundary_table(out)
    assert table["condition"].tolist() == list(CONDITIONS)
    assert (table["cycles"] == 12).all()
    assert table["rss_jump_at_boundary_mib"].iloc[1:].notna().all()
