"""Issue #15's arms in the causal study: planned at every scale, runnable command lines, and
a paper section that says so when nothing was run."""

from __future__ import annotations

from pathlib import Path

from nrm.render.controls_section import section
from nrm.run.scales import SCALES
from nrm.study import sweep as S
from nrm.study.control_arms import CONTROL_ALLOCATORS


def test_arms_are_planned_with_the_study() -> None:
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
    argv = workers.argv(Path("/x/run"), Path("/x/trace.csv"), seed=4)
    assert argv[1:5] == ["-m", "nrm.cli", "workers", "C256"]
    assert "cycle-replay:/x/trace.csv" in argv and "/x/run" in argv and "4" in argv
    ctrl = plan.arm("ctrl-fragmentation-jemalloc").argv(Path("/x/r"), Path("/x/t"))
    assert ctrl[ctrl.index("--allocator") + 1] == "jemalloc"


def test_section_without_study_says_so(tmp_path: Path) -> None:
    md, figs = section(tmp_path / "study", tmp_path / "paper")
    assert figs == {} and "No control runs were analysed" in md and "make study" in md
