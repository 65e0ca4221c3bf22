"""The arms of issue #15 in the causal study (:mod:`nrm.study.sweep`) and their analysis.

Arms (command arms, joined to the core arms by :func:`nrm.study.sweep.build_arms`; same blocks, same
randomized order and repeats as every other arm):

- ``ctrl-fragmentation`` / ``ctrl-no-fragmentation``: the H2 positive and negative controls
  (:mod:`nrm.study.controls`), under pymalloc;
- ``ctrl-fragmentation-<allocator>``: the positive control under malloc, jemalloc, mimalloc
  (pymalloc off: only RSS measures the effect there);
- ``workers-unoptimized``: C256 unoptimized with each condition in a fresh process
  (:mod:`nrm.study.workers`), read against ``base-unoptimized`` (all four in one process) with the
  study's effects and A/A band;
- ``dbgrow-<size>-<disk|ram>``: C256 unoptimized with its databases pre-grown
  (:mod:`nrm.run.dbgrow`), the run folder on disk or in RAM (/dev/shm).

Their analysis is :mod:`nrm.study.control_analysis`.
"""

from __future__ import annotations

from typing import Any

from nrm.run.scales import get_scale
from nrm.study.arms import Arm

CONTROL_ALLOCATORS = ("malloc", "jemalloc", "mimalloc")


def build_arms(scale: Any) -> list[Any]:
    """The arms of issue #15 at ``scale`` (a :class:`nrm.run.scales.StudyScale`)."""
    from nrm.instrument.allocator import DEBIAN_PACKAGES, available

    table = get_scale(scale.name)  # the scale owns its control and database sizes
    cycles, population = table.control_size
    ctrl = ("{python}", "-m", "nrm.cli", "control")
    size = ("--cycles", str(cycles), "--population", str(population), "--out", "{out}",
            "--no-progress")  # fmt: skip
    arms = [
        Arm("ctrl-fragmentation", "control", "H2 positive control (pymalloc)",
            command=(*ctrl, "fragmentation", *size),
            note="survivors pin pymalloc pools; its H2 verdict must be supported"),
        Arm("ctrl-no-fragmentation", "control", "H2 negative control (pymalloc)",
            command=(*ctrl, "no-fragmentation", *size),
            note="the same workload keeping no survivor; its H2 verdict must not be supported"),
    ]  # fmt: skip
    avail = available()
    for alloc in CONTROL_ALLOCATORS:
        ok = avail.get(alloc, False)
        arms.append(Arm(
            f"ctrl-fragmentation-{alloc}", "control", f"H2 positive control under {alloc}",
            command=(*ctrl, "fragmentation", *size, "--allocator", alloc), available=ok,
            note="" if ok else f"not available: apt-get install {DEBIAN_PACKAGES.get(alloc)}"))
    run = {"experiment": "C256", "variant": "unoptimized", "cpu_interval": scale.cpu_interval}
    arms.append(Arm(
        "workers-unoptimized", "workers", "each condition in a fresh process (unoptimized)",
        base="base-unoptimized", aa="aa-unoptimized", run=run, runner="workers",
        cycles=scale.short_cycles, max_agents=scale.max_agents,
        note="the paper's 'restart workers': four processes vs the base's one"))
    for mb in table.db_sizes:
        for where in ("disk", "ram"):
            label = f"dbgrow-{mb:g}mb-{where}"
            arms.append(Arm(
                label, "dbgrow", f"databases pre-grown to {mb:g} MiB, run folder in {where}",
                base="dbgrow-0mb-disk" if label != "dbgrow-0mb-disk" else None,
                run={**run, "pregrow_db_mb": float(mb)}, runner="dbgrow",
                runner_args=("--where", where, "--drop-db"),
                cycles=scale.short_cycles, max_agents=scale.max_agents))
    return arms


# ------------------------------------------------------------------------------ analysis
