"""Issue #15's arms in the causal study: planned at every scale, runnable command lines, and
a paper section that says so when nothing was run."""

from __future__ import annotations

from pathlib import Path

from nrm.render.sections.controls import section
from nrm.run.scales import SCALES
from nrm.run.spec import RunSpec
from nrm.study import sweep as S
from nrm.study.control_arms import CONTROL_ALLOCATORS


def test_arms_are_planned_with_the_study(tmp_path: Path) -> None:
    plan = S.build_plan("smoke", repeats=2, seed=1)
    labels = {a.label for a in plan.arms}
    assert {"ctrl-fragmentation", "ctrl-no-fragmentation", "workers-unoptimized"} <= labels
    assert {f"ctrl-fragmentation-{a}" for a in CONTROL_ALLOCATORS} <= labels
    for mb in SCALES["smoke"].db_sizes:
        assert {f"dbgrow-{mb:g}mb-disk", f"dbgrow-{mb:g}mb-ram"} <= labels
    default = {a.label for a in S.build_plan("default").arms}
    assert {"dbgrow-300mb-disk", "dbgrow-100mb-ram"} <= default
    # every available arm runs once per block, like the others
    for block in plan.blocks:
        assert "ctrl-fragmentation" in block and "workers-unoptimized" in block
    workers = plan.arm("workers-unoptimized")
    assert (workers.base, workers.aa) == ("base-unoptimized", "aa-unoptimized")
    task = next(t for t in plan.tasks() if t.arm == "workers-unoptimized")
    out = tmp_path / "study"
    argv = S.task_command(plan, task, out, Path("/x/trace.csv"))
    assert argv[1:4] == ["-m", "nrm.cli", "workers"] and str(out / "runs" / task.name) in argv
    spec = RunSpec.from_file(argv[argv.index("--spec") + 1])
    assert spec.metrics == "cycle-replay:/x/trace.csv" and spec.cycles == plan.scale.short_cycles
    db = next(t for t in plan.tasks() if t.arm == "dbgrow-2mb-ram")
    argv = S.task_command(plan, db, out, Path("/x/trace.csv"))
    assert argv[3] == "dbgrow" and argv[-3:] == ["--where", "ram", "--drop-db"]
    assert RunSpec.from_file(argv[argv.index("--spec") + 1]).pregrow_db_mb == 2.0
    ctrl = next(t for t in plan.tasks() if t.arm == "ctrl-fragmentation")
    argv = S.task_command(plan, ctrl, out, Path("/x/t"))
    assert argv[1:4] == ["-m", "nrm.cli", "control"] and str(out / "runs" / ctrl.name) in argv


def test_section_without_study_says_so(tmp_path: Path) -> None:
    md, figs = section(tmp_path / "study", tmp_path / "paper")
    assert figs == {} and "No control runs were analysed" in md and "make study" in md
