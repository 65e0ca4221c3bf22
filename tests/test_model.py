"""The model's rules, each on a hand-made case (nrm-model-spec.md sections 2-4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nrm.sim.costs import PRESETS, CostSwitches
from nrm.sim.metrics import FixedSource, Metrics
from nrm.sim.model import (
    MAX_ENERGY,
    Agent,
    Bridge,
    Mechanisms,
    ModelParams,
    PhaseState,
    Reality,
    Simulation,
    similarity,
    similarity_matrix,
)

IDLE = Metrics(
    cpu_percent=20.0, mem_percent=40.0, disk_percent=50.0, net_sent=0, net_recv=0, n_pids=100
)
HEADROOM = (100 - 20.0) + (100 - 40.0)  # 140


def make_sim(
    mech: Mechanisms | None = None,
    costs: CostSwitches | None = None,
    params: ModelParams | None = None,
    metrics: Metrics = IDLE,
) -> Simulation:
    costs = costs or PRESETS["lean"]
    mech = mech or Mechanisms()
    reality = Reality(FixedSource(metrics))  # the Simulation sets its sampling
    return Simulation(mech, params or ModelParams(), costs, reality, seed=1)


def agent(
    aid: str,
    energy: float = 50.0,
    phase: tuple[float, float, float] = (1.0, 1.0, 1.0),
    depth: int = 0,
) -> Agent:
    a = Agent(aid, None, depth, energy, PhaseState(*phase))
    a.last_spawn = -100
    return a


# --- phase states and resonance ------------------------------------------------------------


def test_phase_from_metrics_follows_the_formulas() -> None:
    b = Bridge()
    ps = b.phase_from_metrics(IDLE)
    assert ps.pi == pytest.approx((2 * math.pi * 0.2) % (2 * math.pi))
    assert ps.e == pytest.approx((2 * math.e * 0.4) % (2 * math.pi))
    phi = (1 + 5**0.5) / 2
    assert ps.phi == pytest.approx((2 * phi * 0.5) % (2 * math.pi))
    assert ps.magnitude == pytest.approx(math.sqrt(ps.pi**2 + ps.e**2 + ps.phi**2))
    # shifted by the bridge's current offsets, mod 2 pi
    b.pi, b.e, b.phi = 6.0, 0.5, 0.0
    shifted = b.phase_from_metrics(IDLE)
    assert shifted.pi == pytest.approx((ps.pi + 6.0) % (2 * math.pi))
    assert shifted.e == pytest.approx(ps.e + 0.5)


def test_bridge_advances_by_constant_steps() -> None:
    b = Bridge()
    b.advance()
    phi = (1 + 5**0.5) / 2
    assert (b.pi, b.e, b.phi) == pytest.approx(
        (0.1 * math.pi, 0.1 * math.e / math.pi, 0.1 * phi / math.e)
    )
    for _ in range(19):
        b.advance()
    assert b.pi == pytest.approx(0.0, abs=1e-9) or b.pi == pytest.approx(
        2 * math.pi
    )  # 20 steps of pi/10


def test_similarity_hand_computed() -> None:
    a, b = PhaseState(1.0, 0.0, 0.0), PhaseState(2.0, 0.0, 0.0)
    # aligned (cos = 1), magnitude ratio 1/2: 0.7 + 0.15
    assert similarity(a, b) == pytest.approx(0.85)
    c = PhaseState(0.0, 1.0, 0.0)
    assert similarity(a, c) == pytest.approx(0.3)  # orthogonal, same magnitude
    assert similarity(a, PhaseState(0.0, 0.0, 0.0)) == 0.0


def test_vectorized_similarity_is_bit_identical_to_pairwise() -> None:
    rng = np.random.default_rng(3)
    phases = [PhaseState(*rng.uniform(0, 2 * math.pi, 3)) for _ in range(40)]
    phases.append(PhaseState(0.0, 0.0, 0.0))
    m = similarity_matrix(phases)
    for i in range(len(phases)):
        for j in range(i + 1, len(phases)):
            assert m[i, j] == similarity(phases[i], phases[j])


# --- clusters -----------------------------------------------------------------------------


def _cluster_case(resonance: str) -> Simulation:
    sim = make_sim(
        Mechanisms(pooling=True),
        costs=PRESETS["lean"].with_(resonance=resonance, cumulative_registry=True),
    )
    # a and b resonate; c and d resonate; b and d resonate -> merge d's cluster into a's
    x = (1.0, 0.0, 0.0)
    y = (0.0, 1.0, 0.0)
    sim.agents = [
        agent("a", phase=x),
        agent("c", phase=y),
        agent("b", phase=x),
        agent("d", phase=y),
        agent("e", phase=(0.0, 0.0, 1.0)),
    ]
    return sim


@pytest.mark.parametrize("resonance", ["pairwise", "vectorized"])
def test_cluster_detection_new_join_and_registry(resonance: str) -> None:
    sim = _cluster_case(resonance)
    tested = sim._detect_clusters()
    assert tested == 10
    clusters = sorted(sorted(v) for v in sim.registry.values())
    assert clusters == [["a", "b"], ["c", "d"]]
    # the registry is never cleared between cycles: a second call adds new entries
    sim._detect_clusters()
    assert len(sim.registry) == 4


@pytest.mark.parametrize("resonance", ["pairwise", "vectorized"])
def test_cluster_merge_moves_second_into_first(resonance: str) -> None:
    sim = make_sim(
        Mechanisms(pooling=True),
        costs=PRESETS["lean"].with_(resonance=resonance, cumulative_registry=True),
    )
    t = 0.4  # a~b, c~d, b~d resonate; a~c, a~d, c~b do not (checked below)
    ph = {"a": (1.0, 0.0, 0.0), "b": (1.0, t, 0.0), "d": (1.0, 2 * t, 0.0), "c": (1.0, 3 * t, 0.0)}
    res = {
        (x, y): similarity(PhaseState(*ph[x]), PhaseState(*ph[y])) >= 0.85 for x in ph for y in ph
    }
    assert res["a", "b"] and res["c", "d"] and res["b", "d"]
    assert not (res["a", "c"] or res["a", "d"] or res["c", "b"])
    sim.registry = {"older": {"x", "y"}}
    sim.agents = [agent(n, phase=ph[n]) for n in ("a", "c", "b", "d")]
    sim._detect_clusters()
    # (a,b) makes C1, (c,d) makes C2, (b,d) merges C2 into C1; the older entry is untouched
    assert len(sim.registry) == 2
    older, merged = list(sim.registry.items())
    assert older == ("older", {"x", "y"})
    assert merged[1] == {"a", "b", "c", "d"}


def test_registry_rebuilt_each_cycle_when_not_cumulative() -> None:
    sim = _cluster_case("vectorized")
    sim.costs = PRESETS["lean"]  # cumulative_registry=False
    sim._detect_clusters()
    sim._detect_clusters()
    assert len(sim.registry) == 2


# --- mechanisms ---------------------------------------------------------------------------


def test_pooling_shares_ten_percent_of_cluster_energy_in_place() -> None:
    sim = make_sim(Mechanisms(pooling=True))
    a, b, c = agent("a", 10.0), agent("b", 30.0), agent("c", 195.0)
    sim.agents = [a, b, c]
    sim.registry = {"k1": {"a", "b"}, "k2": {"b", "c"}, "gone": {"x", "y"}}
    sim._pool(cycle=7)
    # k1: sum 40 -> share 0.1*40/2 = 2 each: a 12, b 32; k2 uses b's raised energy:
    # sum 32+195 = 227 -> share 11.35: b 43.35, c capped at 200
    assert a.energy == pytest.approx(12.0)
    assert b.energy == pytest.approx(43.35)
    assert c.energy == MAX_ENERGY
    # a cluster whose members are all gone would have crashed the original: skipped and counted
    assert sim.skipped_empty_clusters == 1
    assert sim.crash_cycle == 7


def test_sources_and_recovery_bonuses() -> None:
    sim = make_sim(
        Mechanisms(sources=True, recovery=True),
        costs=PRESETS["lean"].with_(recursive_evolution=False),
    )
    sim.setup()
    root = sim.agents[0]
    root.energy = 50.0
    root.last_spawn = 0  # irrelevant: throttling off, so it spawns
    sim.params = ModelParams(max_agents=1)  # no spawn: agent cap reached
    sim.step()
    # sources 0.005*140 = 0.7; evolve -0.01 + 0.01*140 = 1.39; recovery 0.01*140*2 = 2.8
    assert root.energy == pytest.approx(50.0 + 0.7 + 1.39 + 2.8)


def test_evolve_decay_recharge_and_clamp() -> None:
    sim = make_sim(params=ModelParams(max_agents=1))
    sim.setup()
    root = sim.agents[0]
    assert root.energy == 130.0
    sim.step()
    assert root.energy == pytest.approx(130.0 - 0.01 + 1.4)
    root.energy = 199.5
    sim.step()
    assert root.energy == MAX_ENERGY
    # energy is clamped at 0 from below and the agent then dies (< 1)
    hot = Metrics(100.0, 100.0, 50.0, 0, 0, 1)
    sim2 = make_sim(params=ModelParams(max_agents=1), metrics=hot)
    sim2.setup()
    sim2.agents[0].energy = 0.005
    sim2.step()
    assert sim2.agents == []
    assert sim2.population_history == [0]


def test_spawn_cost_child_energy_ids_and_cap() -> None:
    sim = make_sim(params=ModelParams(max_agents=3))
    sim.step()  # cycle 0: root spawns root_child_0
    ids = [a.id for a in sim.agents]
    assert ids == ["root", "root_child_0"]
    root, child = sim.agents
    assert root.energy == pytest.approx(130.0 - 0.01 + 1.4 - 10.0)
    assert child.energy == pytest.approx(HEADROOM)
    assert child.depth == 1 and child.parent_id == "root"
    assert root.children == [child]
    sim.step()  # cycle 1: root spawns (3rd agent), then the cap of 3 stops root_child_0
    assert [a.id for a in sim.agents] == ["root", "root_child_0", "root_child_1"]
    sim.step()
    assert len(sim.agents) == 3


def test_spawn_needs_energy_ten() -> None:
    sim = make_sim(params=ModelParams(max_agents=5))
    sim.setup()
    sim.agents[0].energy = 8.0  # after evolve: 8 - 0.01 + 1.4 = 9.39 < 10
    sim.step()
    assert len(sim.agents) == 1


def test_depth_cap_seven() -> None:
    sim = make_sim(params=ModelParams(max_agents=100))
    sim.setup()
    deep = agent("deep", energy=150.0, depth=7)
    sim.agents = [deep]
    sim.step()
    assert [a.id for a in sim.agents] == ["deep"]
    sim.agents[0].depth = 6
    sim.step()
    assert len(sim.agents) == 2 and sim.agents[1].depth == 7


def test_throttling_enforces_cooldown_of_100() -> None:
    sim = make_sim(Mechanisms(throttling=True), params=ModelParams(max_agents=1000))
    sim.setup()
    root = sim.agents[0]
    spawn_cycles: list[int] = []
    for _ in range(250):
        n = len(root.children)
        sim.step()
        if len(root.children) > n:
            spawn_cycles.append(sim.cycle - 1)
    assert spawn_cycles == [0, 100, 200]


def test_death_below_one_keeps_order_and_parent_link() -> None:
    sim = make_sim(params=ModelParams(max_agents=3), metrics=Metrics(100.0, 100.0, 0.0, 0, 0, 1))
    sim.setup()
    a, b, c = agent("a", 50.0), agent("b", 0.5), agent("c", 50.0)
    a.children.append(b)
    sim.agents = [a, b, c]
    sim.step()
    assert [x.id for x in sim.agents] == ["a", "c"]
    assert a.children == [b]  # the dead child stays in its parent's list


def test_recursive_evolution_counts_subtrees_dead_included() -> None:
    costs = PRESETS["lean"].with_(recursive_evolution=True)
    sim = make_sim(costs=costs, params=ModelParams(max_agents=3))
    sim.setup()
    root = sim.agents[0]
    c1, c2 = agent("c1", 50.0, depth=1), agent("c2", 50.0, depth=2)
    root.children.append(c1)
    c1.children.append(c2)
    dead = agent("dead", 50.0, depth=2)
    c1.children.append(dead)  # a dead descendant: not in the list, still in c1's children
    sim.agents = [root, c1, c2]
    stats = sim.step()
    # subtree sizes: root 4 (root, c1, c2, dead) + c1 3 + c2 1 = 8
    assert stats.evolve_calls == 8
    # a live child is evolved once from the list and once through each living ancestor
    assert c2.energy == pytest.approx(50.0 + 3 * (-0.01 + 1.4))
