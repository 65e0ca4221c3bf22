"""The SCALE presets of ``make paper``: which runs, with which parameters (one place).

A scale lists planned runs. Each planned run fixes everything that differs between scales:
experiment, cost preset (variant), cycles per condition, agent cap, metrics source and the
seconds the CPU sample blocks. The six experiments run as the paper ran them (C255 and C256
unoptimized, C257-C260 optimized); two extra runs of C256 (optimized, and lean with every cost
off) give a same-experiment comparison the paper's design lacks, and C259-as-run is C259 as the
original script ran it (pooling x recovery), shown next to C259 as designed.

- ``smoke``: seconds; for the test suite (fixed metrics, nothing blocks).
- ``default``: a laptop-sized replication; the whole ``make paper`` fits in 20 minutes on two
  cores and keeps the costs under study (a sample per call, a SQLite commit per row). The CPU
  sample still blocks, for 2 ms instead of 0.1 s: with a non-blocking sample the per-call
  sampling cost the paper blamed would vanish and only the per-pair commits would remain.
- ``full``: the paper's parameters (3000 cycles, 100 agents, live metrics, the blocking 0.1 s
  CPU sample); the unoptimized runs take days.

Run folders live in ``data/runs/<scale>/<experiment>-<variant>/`` (:func:`run_dir`), so the
scale is part of every run's path.

``nrm scales names SCALE`` prints the planned run names (the Makefile reads them);
``nrm scales show [SCALE]`` prints the presets; ``nrm scales retire DIR`` moves an out-of-date
run folder aside (the Makefile calls it before re-running). ``nrm run --scale NAME`` and the run
notebook's ``scale`` take their unset values from here (:func:`nrm.run.spec.scale_defaults`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.exceptions import ParameterError
from nrm.sim.costs import CostSwitches
from nrm.sim.model import DEFAULT_CYCLES, DEFAULT_SEED, ModelParams

__all__ = [
    "DEFAULT_SCALE",
    "DEFAULT_SEED",
    "PAPER_SCALE",
    "REFERENCE_SCALE",
    "SCALES",
    "STUDY_SCALES",
    "SUPERSEDED",
    "PlannedRun",
    "Scale",
    "StudyScale",
    "describe",
    "get_scale",
    "get_study_scale",
    "retire",
    "run_dir",
]

#: The scale ``nrm run``, ``nrm study``, ``make paper`` and the notebooks use when none is named.
DEFAULT_SCALE = "default"
#: The scale with the paper's own parameters (the model's defaults).
PAPER_SCALE = "full"
#: The test suite's scale: seconds per run, fixed metrics.
SMOKE_SCALE = "smoke"
#: The scale of the shipped reference build (data/reference/build-<scale>).
REFERENCE_SCALE = DEFAULT_SCALE

#: Folder (inside a scale's run folder) that receives out-of-date runs moved aside by make.
SUPERSEDED = paths.SUPERSEDED


@dataclass(frozen=True)
class PlannedRun:
    """One run of a scale: what :class:`nrm.run.spec.RunSpec` gets."""

    experiment: str
    variant: str
    cycles: int
    max_agents: int
    metrics: str
    cpu_interval: float | None  # None: the variant's own (0.1 s for unoptimized/optimized)
    seed: int = DEFAULT_SEED
    role: str = "paper"  # "paper": as the paper ran it; "extra": added by this compendium

    @property
    def name(self) -> str:
        return f"{self.experiment}-{self.variant}"

    def spec_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`nrm.run.spec.RunSpec` for this run."""
        return {
            "experiment": self.experiment,
            "variant": self.variant,
            "cycles": self.cycles,
            "max_agents": self.max_agents,
            "metrics": self.metrics,
            "cpu_interval": self.cpu_interval,
            "seed": self.seed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name}


#: The paper's parameters (the model's own defaults), for the study plan's "scale relative to
#: the paper" column.
PAPER_CYCLES = DEFAULT_CYCLES
PAPER_AGENTS = ModelParams.max_agents
PAPER_CPU_INTERVAL = CostSwitches.cpu_interval


@dataclass(frozen=True)
class StudyScale:
    """Run lengths of one study scale.

    ``short_cycles`` is used by every arm whose costs include a per-row SQLite commit, recursive
    evolution or the cumulative registry (seconds to minutes per cycle at the paper's size);
    ``long_cycles`` by the cheap arms, so that their per-cycle slope and curvature rest on
    thousands of cycles. An effect is always read over the cycles both runs have.
    """

    name: str
    repeats: int
    max_agents: int
    short_cycles: int
    long_cycles: int
    cpu_interval: float  # seconds the CPU sample blocks where the original's 0.1 s applies
    description: str
    #: The long fixed-workload arms (:mod:`nrm.study.long_arms`): cycles (0: none), agent cap,
    #: blocks, the restart arm's K, the allocators tried, the CPU sample's blocking seconds.
    fixed_cycles: int = 0
    fixed_agents: int = 2
    fixed_repeats: int = 3
    restart_every: int = 500
    fixed_allocators: tuple[str, ...] = ("malloc", "mimalloc")
    fixed_cpu_interval: float = 0.0
    fixed_gc_freeze: bool = False
    #: Whether ``long-metrics-fixed`` runs (the long base with fixed metrics: no psutil call).
    fixed_metrics_arm: bool = False
    #: Whether the short allocator and GC arms run (they only re-measure the ramp: cost levels).
    ramp_arms: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed_allocators", tuple(self.fixed_allocators))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fixed_allocators"] = list(self.fixed_allocators)
        return d



@dataclass(frozen=True)
class Scale:
    """One scale: the paper's planned runs, the causal study's sizes, the H2 controls' workload,
    the pre-grown database sizes and the build's time budget (one row of :data:`SCALES`)."""

    name: str
    description: str
    runs: tuple[PlannedRun, ...]
    study: StudyScale
    control_size: tuple[int, int]  # the H2 controls' (cycles, population)
    db_sizes: tuple[float, ...]  # MiB the dbgrow arms pre-grow the databases to
    budget: dict[str, float | None] | None = None  # seconds: study_s, whole_s (nrm bench)

    def names(self) -> list[str]:
        return [r.name for r in self.runs]

    def get(self, name: str) -> PlannedRun:
        for r in self.runs:
            if r.name == name:
                return r
        raise ParameterError(
            f"scale {self.name!r} has no run {name!r}; planned: {', '.join(self.names())}"
        )

    def find(self, experiment: str, variant: str) -> PlannedRun | None:
        for r in self.runs:
            if r.experiment == experiment and r.variant == variant:
                return r
        return None

    def base(self, experiment: str, variant: str) -> PlannedRun:
        """The planned run, or one built from this scale's settings for an unplanned pair."""
        found = self.find(experiment, variant)
        if found is not None:
            return found
        template = self.find("C256", variant) or self.runs[0]
        return replace(template, experiment=experiment, variant=variant, role="custom")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "runs": [r.to_dict() for r in self.runs]}


#: (experiment, variant, role) of every scale, in the order make runs them.
_PLAN: tuple[tuple[str, str, str], ...] = (
    ("C255", "unoptimized", "paper"),
    ("C256", "unoptimized", "paper"),
    ("C257", "optimized", "paper"),
    ("C258", "optimized", "paper"),
    ("C259", "optimized", "paper"),
    ("C260", "optimized", "paper"),
    ("C256", "optimized", "extra"),
    ("C256", "lean", "extra"),
    ("C259-as-run", "optimized", "extra"),
)


def _scale(name: str, description: str, *, cycles: int, max_agents: int, metrics: str,
           cpu_interval: float | None, study: tuple[Any, ...], control_size: tuple[int, int],
           db_sizes: tuple[float, ...], budget: dict[str, float | None] | None = None,
           fixed: dict[str, Any] | None = None) -> Scale:
    runs = tuple(
        PlannedRun(exp, variant, cycles, max_agents, metrics, cpu_interval, DEFAULT_SEED, role)
        for exp, variant, role in _PLAN
    )
    return Scale(name, description, runs, StudyScale(name, *study, **(fixed or {})),
                 control_size, db_sizes, budget)


# Pre-growing the databases costs about 45 s per GiB here, so at default scale (a 15-min
# budget) the largest is 300 MiB: in the default study of 2026-12-06 (5 blocks, 10 cycles x 10
# agents) 1000 MiB took 41-45 s per run to pre-grow, 7.5 of its 18.7 min, and its commits were no
# slower than at 0 MiB (1.38-1.64 vs 1.35-1.53 ms on disk). The full study keeps 1000 MiB.
SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        _scale("smoke", "seconds, for the test suite: 20 cycles, 8 agents, fixed metrics, "
               "no blocking sample", cycles=20, max_agents=8, metrics="fixed", cpu_interval=0.0,
               study=(2, 6, 3, 40, 0.001,
                      "seconds per run, for the test suite: 2 blocks, 6 agents, 3 or 40 cycles "
                      "per condition, the CPU sample blocking 1 ms"),
               control_size=(400, 200_000), db_sizes=(0.0, 2.0, 8.0),
               budget={"study_s": 120.0, "whole_s": None},
               fixed={"fixed_cycles": 100, "fixed_agents": 2, "fixed_repeats": 1,
                      "restart_every": 50, "fixed_allocators": ("malloc",)}),
        _scale("default", "laptop-sized: 200 cycles per condition, 15 agents, live metrics, "
               "the blocking CPU sample scaled from 0.1 s to 2 ms; every other cost of the "
               "original kept", cycles=200, max_agents=15, metrics="live", cpu_interval=0.002,
               study=(5, 10, 10, 1000, 0.002,
                      "5 blocks, 10 agents, 10 cycles per condition for the arms with per-row "
                      "SQLite commits, recursive evolution or the cumulative registry (the level "
                      "of their costs, not their long-run growth: cost levels), 1000 for the "
                      "cheap ones, the CPU sample blocking 2 ms; plus the long fixed-workload "
                      "arms (3000 cycles, 2 agents, live metrics, databases in RAM, 3 blocks); "
                      "budgeted at 22 min on 2 quiet cores (an estimate: nrm study plan "
                      "--estimate-from A_SMOKE_STUDY)"),
               control_size=(1000, 400_000), db_sizes=(0.0, 100.0, 300.0),
               budget={"study_s": 1320.0, "whole_s": 1800.0},
               fixed={"fixed_cycles": 3000, "fixed_agents": 2, "fixed_repeats": 3,
                      "restart_every": 500, "fixed_allocators": ("malloc", "mimalloc"),
                      "ramp_arms": False}),
        _scale("long", "the default scale's paper runs, with the causal study's long "
               "fixed-workload arms at the paper's length and a larger population",
               cycles=200, max_agents=15, metrics="live", cpu_interval=0.002,
               study=(5, 10, 10, 1000, 0.002,
                      "the default study's arms (5 blocks), plus long fixed-workload arms of "
                      "3000 cycles at 4 agents in 4 blocks: base, A/A, restart every 500 "
                      "cycles, registry off, malloc, jemalloc, mimalloc, gc.freeze, fixed "
                      "metrics; 42 and 40 min on 2 quiet cores in the two studies made (the "
                      "shipped one's conditions: data/reference/build-long/README.md); a "
                      "stopped sweep resumes"),
               control_size=(1000, 400_000), db_sizes=(0.0, 100.0, 300.0),
               budget={"study_s": 5400.0, "whole_s": None},
               fixed={"fixed_cycles": 3000, "fixed_agents": 4, "fixed_repeats": 4,
                      "restart_every": 500,
                      "fixed_allocators": ("malloc", "jemalloc", "mimalloc"),
                      "fixed_gc_freeze": True, "fixed_metrics_arm": True,
                      "ramp_arms": False}),
        _scale("full", "the paper's parameters: 3000 cycles per condition, 100 agents, live "
               "metrics, the blocking 0.1 s CPU sample (unoptimized runs take days)",
               cycles=DEFAULT_CYCLES, max_agents=ModelParams.max_agents, metrics="live",
               cpu_interval=None,
               study=(5, PAPER_AGENTS, PAPER_CYCLES, PAPER_CYCLES, PAPER_CPU_INTERVAL,
                      "the paper's parameters for every arm (3000 cycles per condition, 100 "
                      "agents, 0.1 s blocking CPU sample): a cluster job, see README"),
               control_size=(1000, 400_000), db_sizes=(0.0, 100.0, 1000.0)),
    )
}
#: The causal study's scales (one per scale of :data:`SCALES`).
STUDY_SCALES: dict[str, StudyScale] = {name: sc.study for name, sc in SCALES.items()}


def get_scale(name: str) -> Scale:
    if not isinstance(name, str) or name not in SCALES:
        raise ParameterError(
            f"unknown scale {name!r}; valid: {', '.join(SCALES)} (e.g. make paper SCALE=smoke)"
        )
    return SCALES[name]


def run_dir(scale: str, run: PlannedRun | str, root: str | Path | None = None) -> Path:
    """``<root>/data/runs/<scale>/<name>`` (``root`` defaults to the compendium's root)."""
    get_scale(scale)
    name = run.name if isinstance(run, PlannedRun) else run
    return paths.Build(paths.ROOT if root is None else Path(root), scale).run(name)


def retire(folder: str | Path) -> Path | None:
    """Move an existing run folder into ``<its parent>/.superseded/<name>-<UTC time>/``.

    Runs never overwrite earlier runs, so when make decides a run is out of date (its notebook
    or the simulator changed) the old folder is moved aside, not deleted. Returns the new
    location, or None when there was nothing to move.
    """
    folder = Path(folder)
    if not folder.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    dest = folder.parent / SUPERSEDED / f"{folder.name}-{stamp}"
    n = 1
    while dest.exists():
        n += 1
        dest = folder.parent / SUPERSEDED / f"{folder.name}-{stamp}-{n}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(dest)
    return dest


def describe(scale: Scale) -> str:
    """The scale's planned runs, one a line (``nrm scales show``)."""
    lines = [f"{scale.name}: {scale.description}"]
    for r in scale.runs:
        cpu = "variant's own" if r.cpu_interval is None else f"{r.cpu_interval:g} s"
        lines.append(f"  {r.name:<18} {r.role:<6} cycles={r.cycles} max_agents={r.max_agents} "
                     f"metrics={r.metrics} cpu_interval={cpu} seed={r.seed}")
    return "\n".join(lines)




def get_study_scale(name: str) -> StudyScale:
    if name not in STUDY_SCALES:
        raise ParameterError(f"unknown study scale {name!r}; valid: {', '.join(STUDY_SCALES)}")
    return STUDY_SCALES[name]
