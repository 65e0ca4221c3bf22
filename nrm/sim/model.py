"""The NRM simulator, as the C255-C260 experiments ran it.

Reference: ``../shared/reference/nrm-model-spec.md`` (rules, constants, order of operations).

The model's state (agents, the bridge's oscillators, the cluster registry, the random source for
cluster ids) lives in :class:`Simulation`; everything it reads from or writes to the outside world
goes through a :class:`Reality` (metrics samples, their trace, SQLite persistence). One call to
:meth:`Simulation.step` is one cycle, in the spec's order: pooling, sources, evolve, recovery,
spawn, death. Which of the original costs are paid is set by :class:`nrm.sim.costs.CostSwitches`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nrm.exceptions import ParameterError
from nrm.sim.costs import CostSwitches, Sampling
from nrm.sim.metrics import Metrics, MetricsSource, TraceWriter
from nrm.sim.persistence import NullPersistence, SqlitePersistence

TWO_PI = 2.0 * math.pi
PHI = (1.0 + math.sqrt(5.0)) / 2.0

MAX_ENERGY = 200.0
DECAY = 0.01
RECHARGE_RATE = 0.01
SOURCES_RATE = 0.005
RECOVERY_RATE = 0.01
RECOVERY_FACTOR = 2.0
POOL_FRACTION = 0.1
SPAWN_COST = 10.0
SPAWN_THRESHOLD = 10.0
DEATH_THRESHOLD = 1.0
RESONANCE_THRESHOLD = 0.85
ALIGNMENT_WEIGHT = 0.7
RATIO_WEIGHT = 0.3
#: bridge offset steps per evolve call
STEP_PI = 0.1 * math.pi
STEP_E = 0.1 * math.e / math.pi
STEP_PHI = 0.1 * PHI / math.e

MECHANISMS = ("pooling", "sources", "throttling", "recovery")

#: Cycles per condition in the paper's experiments (the other defaults are ModelParams').
DEFAULT_CYCLES = 3000
#: The seed of every random choice unless one is given (runs, studies, bootstraps).
DEFAULT_SEED = 0


@dataclass(frozen=True)
class ModelParams:
    """The model's parameters (defaults: the paper's experiments)."""

    max_agents: int = 100
    root_energy: float = 130.0
    cooldown: int = 100
    max_depth: int = 7
    resonance_threshold: float = RESONANCE_THRESHOLD

    def __post_init__(self) -> None:
        for name in ("max_agents", "cooldown", "max_depth"):
            v = getattr(self, name)
            if (
                not isinstance(v, int)
                or isinstance(v, bool)
                or v < (0 if name == "cooldown" else 1)
            ):
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")
        if not self.root_energy > 0:
            raise ParameterError(f"root_energy must be > 0, got {self.root_energy!r}")


@dataclass(frozen=True)
class Mechanisms:
    """Which model mechanisms are on in one condition."""

    pooling: bool = False
    sources: bool = False
    throttling: bool = False
    recovery: bool = False


def recharge_of(m: Metrics) -> float:
    """(100 - cpu%) + (100 - mem%): the idle headroom every energy rule scales with."""
    return (100.0 - m.cpu_percent) + (100.0 - m.mem_percent)


class PhaseState:
    """An agent's position on the (pi, e, phi) torus and its magnitude (Euclidean norm)."""

    def __init__(self, pi: float, e: float, phi: float, metrics: Metrics | None = None) -> None:
        self.pi = pi
        self.e = e
        self.phi = phi
        self.magnitude = math.sqrt(pi * pi + e * e + phi * phi)
        self.metrics = metrics

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.pi, self.e, self.phi)


class Agent:
    """One agent. ``children`` holds every child it ever spawned (never pruned)."""

    def __init__(
        self, agent_id: str, parent_id: str | None, depth: int, energy: float, phase: PhaseState
    ) -> None:
        self.id = agent_id
        self.parent_id = parent_id
        self.depth = depth
        self.energy = energy
        self.phase = phase
        self.children: list[Agent] = []
        self.memory: list[Any] = []
        self.last_spawn = -(10**9)  # set to -cooldown by Simulation


class Bridge:
    """Three global oscillators (pi, e, phi offsets) shared by every agent of a condition."""

    def __init__(self, threshold: float = RESONANCE_THRESHOLD) -> None:
        self.pi = 0.0
        self.e = 0.0
        self.phi = 0.0
        self.threshold = threshold

    def advance(self) -> None:
        self.pi = (self.pi + STEP_PI) % TWO_PI
        self.e = (self.e + STEP_E) % TWO_PI
        self.phi = (self.phi + STEP_PHI) % TWO_PI

    def phase_from_metrics(self, m: Metrics) -> PhaseState:
        cpu, mem, disk = m.cpu_percent / 100.0, m.mem_percent / 100.0, m.disk_percent / 100.0
        pi = ((TWO_PI * cpu) % TWO_PI + self.pi) % TWO_PI
        e = ((2.0 * math.e * mem) % TWO_PI + self.e) % TWO_PI
        phi = ((2.0 * PHI * disk) % TWO_PI + self.phi) % TWO_PI
        return PhaseState(pi, e, phi, metrics=m)


def similarity(a: PhaseState, b: PhaseState) -> float:
    """0.7 * cosine alignment + 0.3 * magnitude ratio (0 terms when a magnitude is 0)."""
    ma, mb = a.magnitude, b.magnitude
    if ma == 0.0 or mb == 0.0:
        return 0.0
    alignment = (a.pi * b.pi + a.e * b.e + a.phi * b.phi) / (ma * mb)
    ratio = min(ma, mb) / max(ma, mb)
    return ALIGNMENT_WEIGHT * alignment + RATIO_WEIGHT * ratio


def similarity_matrix(phases: list[PhaseState]) -> np.ndarray:
    """All pairwise similarities, with the same IEEE operations in the same order as
    :func:`similarity`,    so both give bit-identical values."""
    p = np.array([(s.pi, s.e, s.phi) for s in phases], dtype=float).reshape(-1, 3)
    mag = np.array([s.magnitude for s in phases], dtype=float)
    dot = p[:, 0, None] * p[None, :, 0] + p[:, 1, None] * p[None, :, 1]
    dot = dot + p[:, 2, None] * p[None, :, 2]
    mm = mag[:, None] * mag[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        alignment = dot / mm
        ratio = np.minimum(mag[:, None], mag[None, :]) / np.maximum(mag[:, None], mag[None, :])
    sim = ALIGNMENT_WEIGHT * alignment + RATIO_WEIGHT * ratio
    zero = mag == 0.0
    sim[zero, :] = 0.0
    sim[:, zero] = 0.0
    return sim


class Reality:
    """The model's window on the machine: metrics samples (counted, timed, traced) and persistence.

    With ``sampling='per_cycle'`` one sample is taken at the start of each cycle and serves every
    consumer in that cycle; with ``'per_call'`` (the default) every consumer takes its own. The
    :class:`Simulation` using it sets ``sampling`` from its cost switches (the one way a switch
    reaches the model).
    """

    def __init__(
        self,
        source: MetricsSource,
        *,
        persistence: SqlitePersistence | NullPersistence | None = None,
        trace: TraceWriter | None = None,
        condition: str = "",
    ) -> None:
        self.source = source
        self.sampling: Sampling = "per_call"
        self.persistence = persistence if persistence is not None else NullPersistence()
        self.trace = trace
        self.condition = condition
        self.samples = 0
        self.sample_s = 0.0
        self._cached: Metrics | None = None
        bind = getattr(source, "bind", None)  # a cycle-indexed replay starts this condition
        if bind is not None:
            bind(condition)

    def _take(self, persist: bool = True) -> Metrics:
        t0 = time.perf_counter()
        m = self.source.sample()
        self.sample_s += time.perf_counter() - t0
        self.samples += 1
        if self.trace is not None:
            self.trace.write(self.condition, m)
        if persist:
            self.persistence.sample(m)
        return m

    def baseline(self) -> Metrics:
        """The condition's set-up sample (taken in full, not persisted)."""
        return self._take(persist=False)

    def begin_cycle(self, cycle: int | None = None) -> None:
        at_cycle = getattr(self.source, "at_cycle", None)  # a cycle-indexed replay
        if at_cycle is not None and cycle is not None:
            at_cycle(cycle)
        if self.sampling == "per_cycle":
            self._cached = self._take()

    def end_cycle(self) -> None:
        """Forget the cycle's cached sample (``per_cycle``)."""
        self._cached = None

    def sample(self) -> Metrics:
        if self._cached is not None:
            return self._cached
        return self._take()


@dataclass
class StepStats:
    """What one cycle did (the runner logs these beside the probe's readings)."""

    population: int
    evolve_calls: int
    spawns: int
    deaths: int
    pairs_tested: int
    registry_size: int
    skipped_empty_clusters: int


@dataclass
class ConditionSummary:
    population_history: list[int] = field(default_factory=list)


class Simulation:
    """One condition of an experiment: fresh bridge, fresh registry, one root agent."""

    def __init__(
        self,
        mechanisms: Mechanisms,
        params: ModelParams,
        costs: CostSwitches,
        reality: Reality,
        seed: int = DEFAULT_SEED,
    ) -> None:
        self.mechanisms = mechanisms
        self.params = params
        self.costs = costs
        self.reality = reality  # takes its sampling from these costs (see the property)
        self.rng = random.Random(seed)
        self.bridge = Bridge(params.resonance_threshold)
        self.registry: dict[str, set[str]] = {}
        self.agents: list[Agent] = []
        self.cycle = 0
        self.population_history: list[int] = []
        self.evolve_calls = 0
        self.crash_cycle: int | None = None
        self.skipped_empty_clusters = 0
        self.setup_done = False

    # -- state that does not pickle (I/O) is re-attached by the runner on resume --------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_reality"] = None
        return state

    @property
    def reality(self) -> Reality:
        return self._reality

    @reality.setter
    def reality(self, reality: Reality) -> None:
        """Attach ``reality`` (also on resume), sampling as this run's costs say."""
        reality.sampling = self.costs.sampling
        self._reality = reality

    def setup(self) -> None:
        """Baseline sample (not persisted), then the root from one persisted sample."""
        self.reality.baseline()
        m = self.reality.sample()
        phase = self.bridge.phase_from_metrics(m)
        self.reality.persistence.phase("root", phase.as_tuple(), phase.magnitude, m)
        root = Agent("root", None, 0, float(self.params.root_energy), phase)
        root.last_spawn = -self.params.cooldown
        self.agents = [root]
        self.setup_done = True

    # -- one cycle -------------------------------------------------------------------------
    def step(self) -> StepStats:
        if not self.setup_done:
            self.setup()
        cycle = self.cycle
        self.reality.begin_cycle(cycle)
        pairs = 0
        if self.mechanisms.pooling:
            pairs = self._detect_clusters()
            self._pool(cycle)
        if self.mechanisms.sources:
            for ag in self.agents:
                m = self.reality.sample()
                ag.energy = min(ag.energy + SOURCES_RATE * recharge_of(m), MAX_ENERGY)
        calls_before = self.evolve_calls
        for ag in self.agents:
            self._evolve(ag)
        if self.mechanisms.recovery:
            for ag in self.agents:
                m = self.reality.sample()
                ag.energy = min(
                    ag.energy + RECOVERY_RATE * recharge_of(m) * RECOVERY_FACTOR, MAX_ENERGY
                )
        spawns = self._spawn(cycle)
        before = len(self.agents)
        self.agents = [ag for ag in self.agents if ag.energy >= DEATH_THRESHOLD]
        deaths = before - len(self.agents)
        self.population_history.append(len(self.agents))
        self.reality.end_cycle()
        self.cycle += 1
        return StepStats(
            population=len(self.agents),
            evolve_calls=self.evolve_calls - calls_before,
            spawns=spawns,
            deaths=deaths,
            pairs_tested=pairs,
            registry_size=len(self.registry),
            skipped_empty_clusters=self.skipped_empty_clusters,
        )

    def _evolve(self, ag: Agent) -> None:
        self.evolve_calls += 1
        b = self.bridge
        b.advance()
        ag.phase = PhaseState(b.pi, b.e, b.phi)
        m = self.reality.sample()
        energy = ag.energy - DECAY + RECHARGE_RATE * recharge_of(m)
        ag.energy = min(max(energy, 0.0), MAX_ENERGY)
        if self.costs.recursive_evolution:
            for child in ag.children:
                self._evolve(child)

    def _new_cluster_id(self) -> str:
        while True:
            cid = f"cluster_{self.rng.getrandbits(48):012x}"
            if cid not in self.registry:
                return cid

    def _resonant_pairs(self) -> tuple[list[tuple[int, int]], int]:
        agents = self.agents
        n = len(agents)
        thr = self.bridge.threshold
        if self.costs.resonance == "vectorized":
            if n < 2:
                return [], 0
            sim = similarity_matrix([a.phase for a in agents])
            ii, jj = np.nonzero(np.triu(sim >= thr, k=1))
            return list(zip(ii.tolist(), jj.tolist(), strict=True)), n * (n - 1) // 2
        persist = self.reality.persistence
        out: list[tuple[int, int]] = []
        for i in range(n):
            a = agents[i]
            for j in range(i + 1, n):
                b = agents[j]
                s = similarity(a.phase, b.phase)
                resonant = s >= thr
                persist.resonance(a.id, b.id, s, resonant)
                if resonant:
                    out.append((i, j))
        return out, n * (n - 1) // 2

    def _detect_clusters(self) -> int:
        if not self.costs.cumulative_registry:
            self.registry = {}
        pairs, tested = self._resonant_pairs()
        ids = [a.id for a in self.agents]
        seen: dict[str, str] = {}
        reg = self.registry
        for i, j in pairs:
            a, b = ids[i], ids[j]
            ca, cb = seen.get(a), seen.get(b)
            if ca is None and cb is None:
                cid = self._new_cluster_id()
                reg[cid] = {a, b}
                seen[a] = seen[b] = cid
            elif ca is None:
                assert cb is not None
                reg[cb].add(a)
                seen[a] = cb
            elif cb is None:
                reg[ca].add(b)
                seen[b] = ca
            elif ca != cb:
                moved = reg.pop(cb)
                reg[ca] |= moved
                for x in moved:
                    seen[x] = ca
        return tested

    def _pool(self, cycle: int) -> None:
        agents = self.agents
        for members_ids in self.registry.values():
            if len(members_ids) < 2:
                continue
            members = [ag for ag in agents if ag.id in members_ids]
            if not members:
                # The original divides by zero here and the whole script aborts.
                self.skipped_empty_clusters += 1
                if self.crash_cycle is None:
                    self.crash_cycle = cycle
                continue
            total = 0.0
            for ag in members:
                total += ag.energy
            share = POOL_FRACTION * total / len(members)
            for ag in members:
                ag.energy = min(ag.energy + share, MAX_ENERGY)

    def _spawn(self, cycle: int) -> int:
        p = self.params
        throttling = self.mechanisms.throttling
        spawns = 0
        agents = self.agents
        for ag in list(agents):
            if (
                ag.energy >= SPAWN_THRESHOLD
                and ag.depth < p.max_depth
                and len(agents) < p.max_agents
            ):
                if throttling and cycle - ag.last_spawn < p.cooldown:
                    continue
                m = self.reality.sample()
                phase = self.bridge.phase_from_metrics(m)
                child_id = f"{ag.id}_child_{cycle}"
                self.reality.persistence.phase(child_id, phase.as_tuple(), phase.magnitude, m)
                child = Agent(child_id, ag.id, ag.depth + 1, recharge_of(m), phase)
                child.last_spawn = -p.cooldown
                agents.append(child)
                ag.children.append(child)
                ag.energy -= SPAWN_COST
                ag.last_spawn = cycle
                spawns += 1
        return spawns
