"""The long fixed-workload arms of the causal study (group ``long-run``): C256 faithful (the
unoptimized costs), condition ON-ON, at an agent cap the population reaches within its first
cycles, for ``fixed_cycles`` cycles (3000 at the default scale), with **live** psutil metrics
(the paper's short-lived objects, H2, and its psutil call latency, H3, occur) and the SQLite
databases in RAM (``nrm longrun``, :mod:`nrm.run.longrun`: commit latency on this machine's
disk does not swamp the drift; the disk's latency against database size is the dbgrow arms'
question). The CPU sample blocks ``fixed_cpu_interval`` seconds (0 at every scale: a sleep
cannot accumulate).

Every long arm runs in child processes of the same runner, so they are of one process kind and
``long-aa`` (the base again) gives every long arm's noise band. Arms: ``long-base``,
``long-aa``, ``long-restart`` (a fresh process every ``restart_every`` cycles), ``long-registry-
off`` (the model's one accumulator at a fixed population removed; changes the dynamics),
``long-alloc-<name>`` for each allocator of the scale and, where the scale asks,
``long-gc-freeze`` and ``long-metrics-fixed`` (live metrics against fixed ones: no psutil call,
so neither the short-lived objects the paper blames for fragmentation nor psutil's latency;
fixed values change the model's inputs, so the dynamics may change). They decide H2, H3 and H5
(:mod:`nrm.study.long_analysis`)."""

from __future__ import annotations

from typing import Any

from nrm.run.scales import StudyScale
from nrm.study.arms import EXPERIMENT, Arm

GROUP = "long-run"
BASE, AA, RESTART, REGISTRY_OFF = "long-base", "long-aa", "long-restart", "long-registry-off"
GC_FREEZE, METRICS_FIXED = "long-gc-freeze", "long-metrics-fixed"
CONDITION = "ON-ON"


def long_arms(scale: StudyScale) -> list[Arm]:
    """The long arms at ``scale`` (none when its ``fixed_cycles`` is 0)."""
    from nrm.instrument.allocator import DEBIAN_PACKAGES, available

    if scale.fixed_cycles <= 0:
        return []
    run0: dict[str, Any] = {
        "experiment": EXPERIMENT,
        "variant": "unoptimized",
        "cpu_interval": scale.fixed_cpu_interval,
        "metrics": "live",
        "conditions": [CONDITION],
    }
    common: dict[str, Any] = {
        "cycles": scale.fixed_cycles,
        "max_agents": scale.fixed_agents,
        "runner": "longrun",
        "repeats": scale.fixed_repeats,
    }
    ram = ("--where", "ram")
    what = f"C256 unoptimized {CONDITION}, live metrics, databases in RAM"

    def against_base(label: str, text: str, run: dict[str, Any], **extra: Any) -> Arm:
        """An arm read against ``long-base`` with ``long-aa`` as its noise band."""
        return Arm(label, GROUP, text, run=run, base=BASE, aa=AA,
                   **{"runner_args": ram, **extra}, **common)

    arms = [
        Arm(BASE, GROUP, f"{what} (long base)", aa=AA, run=run0, runner_args=ram, **common),
        against_base(AA, f"{what}, again (A/A)", run0),
        against_base(RESTART, f"{what}, a fresh process every {scale.restart_every} cycles",
                     run0, runner_args=(*ram, "--restart-every", str(scale.restart_every))),
        against_base(REGISTRY_OFF, f"{what}, without the cumulative registry",
                     {**run0, "costs": {"cumulative_registry": False}}, changes_dynamics=True),
    ]
    avail = available()
    for alloc in scale.fixed_allocators:
        ok = avail.get(alloc, False)
        note = "" if ok else (f"not available: library missing (apt-get install "
                              f"{DEBIAN_PACKAGES.get(alloc, alloc)})")
        arms.append(against_base(f"long-alloc-{alloc}", f"{what}, allocator {alloc}",
                                 {**run0, "allocator": alloc}, available=ok, note=note))
    if scale.fixed_gc_freeze:
        arms.append(against_base(GC_FREEZE, f"{what}, gc.freeze() after set-up",
                                 {**run0, "gc_mode": "freeze"}))
    if scale.fixed_metrics_arm:
        arms.append(against_base(
            METRICS_FIXED,
            f"C256 unoptimized {CONDITION}, fixed metrics (no psutil call), databases in RAM",
            {**run0, "metrics": "fixed"}, changes_dynamics=True))
    return arms
