"""The causal study's arms over C256: each a small delta of a run spec (or, for the arms of
:mod:`nrm.study.control_arms`, a command line), with the arm its effect is read against and the
A/A arm that gives its noise floor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nrm.exceptions import ParameterError
from nrm.run.scales import DEFAULT_SEED, StudyScale
from nrm.run.spec import RunSpec
from nrm.sim.costs import PRESETS, CostSwitches

EXPERIMENT = "C256"
BASES = ("unoptimized", "lean")


#: The study's metrics source in a planned spec: the sweep puts the study's trace in its place
#: (:func:`nrm.study.sweep.task_spec`), recorded or given, once it is known.
TRACE_METRICS = "cycle-replay:STUDY_TRACE"
#: How a spec arm's run is made: ``run`` (:mod:`nrm.run.child`), ``workers`` (each condition in
#: a fresh process, :mod:`nrm.study.workers`), ``dbgrow`` (databases pre-grown, the run folder
#: on disk or in RAM, :mod:`nrm.run.dbgrow`), ``longrun`` (a long run in child processes, its
#: folder in RAM, optionally restarted every K cycles, :mod:`nrm.run.longrun`) or
#: ``contention`` (competing processes beside it, :mod:`nrm.study.contention`).
RUNNERS = ("run", "workers", "dbgrow", "longrun", "contention")


@dataclass(frozen=True)
class Arm:
    """One arm: a :class:`~nrm.run.spec.RunSpec` delta (``run``) or a command line (``command``).

    ``run`` holds the fields that differ from C256 unoptimized at the model's own parameters
    (``cpu_interval`` is sugar for that cost switch); ``cycles`` and ``max_agents`` are the
    study scale's. :meth:`spec` makes the full spec, checked when the plan is made.
    ``runner`` says how the spec is run (:data:`RUNNERS`, with ``runner_args``); ``repeats``
    caps the blocks the arm runs in (the long arms run in the first ``repeats`` blocks only).
    ``command`` (the H2 controls) is a list of arguments with the placeholders ``{python}``
    (this interpreter), ``{out}`` (the run folder, which the command must create and finish with
    a ``run.json`` whose ``status`` is ``complete``), ``{trace}`` (the study's metrics trace)
    and ``{seed}``. ``base`` names the arm its effect is read against; ``aa`` the A/A arm giving
    its noise floor.
    """

    label: str
    group: str
    factor: str
    base: str | None = None
    aa: str | None = None
    run: dict[str, Any] | None = None
    command: tuple[str, ...] | None = None
    available: bool = True
    note: str = ""
    changes_dynamics: bool = False
    cycles: int | None = None
    max_agents: int | None = None
    runner: str = "run"
    runner_args: tuple[str, ...] = ()
    repeats: int | None = None  # blocks this arm runs in (None: every block of the plan)

    def __post_init__(self) -> None:
        if (self.run is None) == (self.command is None):
            raise ParameterError(f"arm {self.label!r}: give exactly one of run= or command=")
        if not self.label or "/" in self.label or "__" in self.label:
            raise ParameterError(f"arm label {self.label!r}: non-empty, no '/' and no '__'")
        if self.runner not in RUNNERS:
            raise ParameterError(f"arm {self.label!r}: runner {self.runner!r}; valid: "
                                 + ", ".join(RUNNERS))

    def spec(self, seed: int = DEFAULT_SEED, metrics: str = TRACE_METRICS) -> RunSpec | None:
        """The arm's full run specification (None for a command arm); bad deltas raise."""
        if self.run is None:
            return None
        r = dict(self.run)
        costs = self.cost_switches()
        assert costs is not None
        overrides = dict(r.pop("costs", None) or {})
        # always explicit: the arm's CPU-sample time, never a preset's or a scale's
        overrides["cpu_interval"] = float(costs.cpu_interval)
        r.pop("cpu_interval", None)
        metrics = r.pop("metrics", metrics)  # a long arm's own (live); else the study trace
        d: dict[str, Any] = {"experiment": EXPERIMENT, "variant": "unoptimized", **r,
                             "costs": overrides, "metrics": metrics, "seed": seed}
        if self.cycles is not None:
            d["cycles"] = self.cycles
        if self.max_agents is not None:
            d["max_agents"] = self.max_agents
        return RunSpec.from_dict(d)  # scale None: unset values are the model's own (the paper's)

    def cost_switches(self) -> CostSwitches | None:
        if self.run is None:
            return None
        costs = PRESETS[self.run.get("variant", "unoptimized")]
        if self.run.get("costs"):
            costs = costs.with_(**self.run["costs"])
        if self.run.get("cpu_interval") is not None:
            costs = costs.with_(cpu_interval=float(self.run["cpu_interval"]))
        return costs

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["command"] = list(self.command) if self.command is not None else None
        d["runner_args"] = list(self.runner_args)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arm:
        d = dict(d)
        if d.get("command") is not None:
            d["command"] = tuple(d["command"])
        d["runner_args"] = tuple(d.get("runner_args") or ())
        return cls(**d)


def _expensive(costs: CostSwitches) -> bool:
    """Whether a run with these costs needs the short run length (see :class:`StudyScale`)."""
    return costs.sqlite or costs.recursive_evolution or costs.cumulative_registry


def _switch_values(base: str, scale: StudyScale) -> dict[str, Any]:
    """The value each switch takes when flipped away from ``base``."""
    if base == "unoptimized":  # turn a cost off: take lean's value
        flipped = PRESETS["lean"].to_dict()
        flipped["cpu_interval"] = 0.0
    else:  # turn a cost on: take unoptimized's value (the blocking sample at this scale)
        flipped = PRESETS["unoptimized"].to_dict()
        flipped["cpu_interval"] = scale.cpu_interval
    return flipped


@dataclass(frozen=True)
class Skipped:
    label: str
    reason: str


def core_arms(scale: StudyScale) -> tuple[list[Arm], list[Skipped]]:
    """The study's arms over C256 at ``scale`` (available or not) and the combinations skipped:
    bases, A/A, cost switches, allocators, GC modes and the paper's headline pairs. The
    command arms of :mod:`nrm.study.control_arms` join them in
    :func:`nrm.study.sweep.build_arms`."""
    from nrm.instrument.allocator import ALLOCATORS, DEBIAN_PACKAGES, available

    avail = available()
    arms: list[Arm] = []
    skipped: list[Skipped] = []

    def base_run(base: str) -> dict[str, Any]:
        cpu = scale.cpu_interval if base == "unoptimized" else None
        return {"experiment": EXPERIMENT, "variant": base, "cpu_interval": cpu}

    def cycles_for(run: dict[str, Any]) -> int:
        probe = Arm("probe", "probe", "", run=run)
        costs = probe.cost_switches()
        assert costs is not None
        return scale.short_cycles if _expensive(costs) else scale.long_cycles

    for base in BASES:
        aa = f"aa-{base}"
        common = {"base": f"base-{base}", "aa": aa, "max_agents": scale.max_agents}
        run0 = base_run(base)
        arms.append(Arm(f"base-{base}", "base", f"C256 {base}", aa=aa, run=run0,
                        cycles=cycles_for(run0), max_agents=scale.max_agents))
        arms.append(Arm(aa, "aa", f"C256 {base} again (A/A)", base=f"base-{base}", aa=aa,
                        run=run0, cycles=cycles_for(run0), max_agents=scale.max_agents))
        base_costs = PRESETS[base].to_dict()
        base_costs["cpu_interval"] = scale.cpu_interval if base == "unoptimized" else 0.0
        flipped = _switch_values(base, scale)
        for switch, value in flipped.items():
            verb = "off" if base == "unoptimized" else "on"
            label = f"{base}-{verb}-{switch.replace('_', '-')}"
            if value == base_costs[switch]:
                skipped.append(Skipped(label, f"{switch} is {value!r} in the base at this scale "
                                              "already (no delta to test)"))
                continue
            run = dict(run0)
            if switch == "cpu_interval":
                run["cpu_interval"] = value
            else:
                run["costs"] = {switch: value}
            try:
                costs = Arm(label, "probe", "", run=run).cost_switches()
            except ParameterError as exc:
                skipped.append(Skipped(label, f"CostSwitches refuses it: {exc}"))
                continue
            assert costs is not None
            arms.append(Arm(
                label, f"switch-{verb}", f"{switch}={value!r} alone (from {base})", run=run,
                changes_dynamics=switch in ("recursive_evolution", "cumulative_registry"),
                cycles=cycles_for(run), **common))
        if base == "unoptimized":
            # the paper's runs sample live; the study replays a trace so that its arms share one
            # population. This arm samples live on disk with the blocking interval: its cost per
            # sample is what the held-out prediction of the paper's runs needs (live@disk), and
            # its effect is live metrics' cost and dynamics against the trace
            run = {**run0, "metrics": "live"}
            arms.append(Arm(f"{base}-metrics-live", "metrics",
                            f"live psutil metrics instead of the study's trace ({base})",
                            run=run, changes_dynamics=True, cycles=cycles_for(run), **common))
        if not scale.ramp_arms:  # issue #23: the long arms decide H2; these re-measure the ramp
            skipped.append(Skipped(f"{base}-alloc-*, {base}-gc-*", (
                f"short allocator and GC arms left out at this scale: at {scale.short_cycles} "
                "cycles they only re-measure the population's ramp; the long fixed-workload "
                "arms (group long-run) read allocators on drift per unit of work")))
            continue
        for alloc in ALLOCATORS:
            run = {**run0, "allocator": alloc}
            ok = avail.get(alloc, False)
            note = "" if ok else (f"not available: library missing (apt-get install "
                                  f"{DEBIAN_PACKAGES.get(alloc, alloc)})")
            # pymalloc under --allocator runs in a child process like the others: it is their
            # base, and the in-process base is its own
            against = {**common, "base": f"base-{base}" if alloc == "pymalloc"
                       else f"{base}-alloc-pymalloc"}
            arms.append(Arm(f"{base}-alloc-{alloc}", "allocator",
                            f"allocator {alloc} (from {base})", run=run, available=ok,
                            note=note, cycles=cycles_for(run), **against))
        for mode in ("disable", "freeze"):
            run = {**run0, "gc_mode": mode}
            arms.append(Arm(f"{base}-gc-{mode}", "gc", f"gc.{mode}() after set-up ({base})",
                            run=run, cycles=cycles_for(run), **common))
    # the headline pairs of the paper, in the same design
    uo = {"base": "base-unoptimized", "aa": "aa-unoptimized", "max_agents": scale.max_agents,
          "cycles": scale.short_cycles}
    arms.append(Arm("C255-unoptimized", "headline", "C255 vs C256 (the paper's variance)",
                    run={"experiment": "C255", "variant": "unoptimized",
                         "cpu_interval": scale.cpu_interval}, changes_dynamics=True, **uo))
    for exp in ("C256", "C257"):
        arms.append(Arm(
            f"{exp}-optimized", "headline",
            f"{exp} optimized (one sample per cycle) vs C256 unoptimized (the paper's speedup)",
            run={"experiment": exp, "variant": "optimized", "cpu_interval": scale.cpu_interval},
            changes_dynamics=exp != "C256", **uo))
    return arms, skipped
