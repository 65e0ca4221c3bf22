"""The work a run does, cycle by cycle, from the model's dynamics alone (a *counting run*).

A counting run executes the model exactly as :func:`nrm.run.runner.run_experiment` would, with
the costs taken out and counted instead of paid:

- the SQLite persistence is replaced by :class:`CountingPersistence`, which counts the rows the
  faithful run would commit (one per persisted sample, per phase and, with the per-pair test,
  per tested pair) and writes nothing;
- the metrics source never blocks (``cpu_interval`` 0): the values are the same, so are the
  dynamics;
- the pair test may use the vectorized matrix (``fast=True``), which gives the same
  similarities (:func:`nrm.sim.model.similarity_matrix`) and so the same decisions; the rows
  the per-pair test would have committed are added from ``pairs_tested``.

Where a cost switch changes the dynamics (and so the counts): ``recursive_evolution`` (every
child ever spawned is evolved again, dead or alive: more evolve calls, more samples, energy
changes) and ``cumulative_registry`` (clusters are never forgotten, so pooling touches more
agents) are part of the model; a counting run keeps them as the run has them. ``sampling``
changes only how many samples are taken when the metrics are fixed or replayed by cycle
(``fixed``, ``cycle-replay``); with ``live`` metrics each sample is a different value, so a
sample per call also changes the dynamics, and no counting run can reproduce a live run: it
counts under the fixed metrics instead (``metrics_used`` says so). ``sqlite``,
``cpu_interval`` and ``resonance`` change only the time a cycle takes, never the dynamics.

Counts are per condition: the set-up's samples and commits, then per cycle ``samples``,
``commits``, ``pairs_tested``, ``evolve_calls``, ``spawns``, ``deaths``, ``registry_size``
and ``population`` (the ``cycles.csv`` counters a faithful run logs, see
:mod:`nrm.instrument.columns`). :func:`cached_counts` keeps them in ``data/predict/counts/``
with their provenance (the spec, the hash of the model's source, the time the count took) and
runs a missing one on demand.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_json, atomic_write_text
from nrm.exceptions import ParameterError
from nrm.run.scales import PAPER_SCALE
from nrm.run.spec import RunSpec
from nrm.sim.costs import CostSwitches
from nrm.sim.experiments import get_experiment
from nrm.sim.metrics import FixedSource, MetricsSource, make_source, parse_source_spec
from nrm.sim.model import MAX_ENERGY, POOL_FRACTION, Simulation
from nrm.sim.persistence import CountingPersistence
from nrm.sim.wiring import new_reality

__all__ = ["COUNTERS", "ConditionCounts", "CountingPersistence", "RunCounts", "cached_counts",
           "count_run", "counting_costs"]

#: The per-cycle counters of a counting run (also columns of a faithful run's cycles.csv).
COUNTERS = ("samples", "commits", "pairs_tested", "evolve_calls", "spawns", "deaths",
            "registry_size", "population")
#: Where cached counts live (generated, not committed).
CACHE_DIR = paths.DATA / "predict" / "counts"
FORMAT = "nrm-counts/1"


class CountingSimulation(Simulation):
    """:class:`~nrm.sim.model.Simulation` with a faster pooling step that gives the same bits.

    The original pools cluster by cluster, each cluster's members found by a scan of every
    agent and their energies summed left to right. Here each cluster's members' positions (in
    agent order) are kept while the agents and the cluster stay the same (a cluster is only
    added to in the cycle that made it; the positions are found again when it grew or an
    agent was born or died), the sum is ``np.add.accumulate`` (strictly left to
    right, so the same float as the loop) and the update ``np.minimum(e + share, MAX)`` (the
    same elementwise operations). Clusters are still pooled one after another, so a later one
    sees the earlier ones' updates. ``tests/test_predict_counts.py`` checks the energies
    against the original's bit for bit.
    """

    _agents_key: tuple[str, ...] | None = None
    _members: dict[str, tuple[int, np.ndarray]] | None = None

    def _pool(self, cycle: int) -> None:
        agents = self.agents
        key = tuple(ag.id for ag in agents)
        if key != self._agents_key or self._members is None:
            self._agents_key, self._members = key, {}
        cache = self._members
        pos: dict[str, int] | None = None
        energy = np.fromiter((ag.energy for ag in agents), dtype=float, count=len(agents))
        for cid, members_ids in self.registry.items():
            size = len(members_ids)
            if size < 2:
                continue
            hit = cache.get(cid)
            if hit is None or hit[0] != size:  # a cluster only grows (in its own cycle)
                if pos is None:
                    pos = {a: i for i, a in enumerate(key)}
                hit = (size, np.array(sorted(pos[i] for i in members_ids if i in pos),
                                      dtype=np.intp))
                cache[cid] = hit
            sel = hit[1]
            if not sel.size:
                self.skipped_empty_clusters += 1
                if self.crash_cycle is None:
                    self.crash_cycle = cycle
                continue
            e = energy[sel]
            total = float(np.add.accumulate(e)[-1])
            share = POOL_FRACTION * total / sel.size
            energy[sel] = np.minimum(e + share, MAX_ENERGY)
        for ag, value in zip(agents, energy.tolist(), strict=True):
            ag.energy = value


def counting_costs(costs: CostSwitches, *, fast: bool = True) -> CostSwitches:
    """``costs`` with every cost that does not change the dynamics taken out: no SQLite, no
    blocking sample, and (``fast``) the vectorized pair test."""
    return costs.with_(sqlite=False, cpu_interval=0.0,
                       resonance="vectorized" if fast else "pairwise")


@dataclass
class ConditionCounts:
    """One condition's counts: its set-up and one row per cycle (:data:`COUNTERS`)."""

    condition: str
    setup_samples: int
    setup_commits: int
    cycles: pd.DataFrame  # columns: cycle, *COUNTERS

    def total(self, name: str) -> int:
        setup = {"samples": self.setup_samples, "commits": self.setup_commits}.get(name, 0)
        return int(setup + self.cycles[name].sum())


@dataclass
class RunCounts:
    """A counting run of one spec: its conditions' counts and provenance."""

    spec: RunSpec
    conditions: list[ConditionCounts]
    provenance: dict[str, Any] = field(default_factory=dict)

    def condition(self, name: str) -> ConditionCounts:
        for c in self.conditions:
            if c.condition == name:
                return c
        raise ParameterError(f"no counts for condition {name!r}")

    def frame(self) -> pd.DataFrame:
        """All cycles, one row each, with a ``condition`` column."""
        parts = [c.cycles.assign(condition=c.condition) for c in self.conditions]
        return pd.concat(parts, ignore_index=True)[["condition", "cycle", *COUNTERS]]


def _source_for(spec: RunSpec) -> tuple[Callable[[], MetricsSource], str]:
    """A factory of the spec's metrics source that never blocks, and what it is."""
    kind, _ = parse_source_spec(spec.metrics)
    if kind == "live":
        return (lambda: FixedSource(cpu_interval=0.0)), "fixed (the run's metrics are live)"
    if kind == "replay":
        raise ParameterError(
            "a counting run cannot follow a sample-ordered replay trace with other costs; "
            "use fixed or cycle-replay:PATH metrics")
    return (lambda: make_source(spec.metrics, cpu_interval=0.0, disk_path=".")), spec.metrics


def count_run(spec: RunSpec, *, fast: bool = True, progress: bool = False,
              conditions: Iterable[str] | None = None) -> RunCounts:
    """Run ``spec``'s conditions with the costs counted instead of paid (module docstring)."""
    exp = get_experiment(spec.experiment)
    costs = counting_costs(spec.costs, fast=fast)
    # rows of the per-pair test that the vectorized test does not call persistence for
    pair_rows = spec.costs.resonance == "pairwise" and costs.resonance == "vectorized"
    factory, used = _source_for(spec)
    conds = list(conditions) if conditions is not None else list(spec.conditions)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.cycles * len(conds), desc=f"counting {spec.experiment} "
                   f"{spec.variant} {spec.cycles}x{spec.max_agents}", unit="cycle")
    t0 = time.perf_counter()
    out: list[ConditionCounts] = []
    try:
        for cond in conds:
            persistence = CountingPersistence()
            reality = new_reality(factory(), persistence, condition=cond)  # type: ignore[arg-type]
            sim = CountingSimulation(exp.mechanisms_for(cond), spec.model_params(), costs,
                                     reality, seed=spec.seed)
            sim.setup()
            setup_samples, setup_commits = reality.samples, persistence.commits
            rows = np.zeros((spec.cycles, len(COUNTERS) + 1), dtype=np.int64)
            prev_s, prev_c = reality.samples, persistence.commits
            for k in range(spec.cycles):
                st = sim.step()
                rowsk = persistence.commits - prev_c + (st.pairs_tested if pair_rows else 0)
                rows[k] = (k, reality.samples - prev_s, rowsk, st.pairs_tested,
                           st.evolve_calls, st.spawns, st.deaths, st.registry_size,
                           st.population)
                prev_s, prev_c = reality.samples, persistence.commits
                if bar is not None:
                    bar.update(1)
            frame = pd.DataFrame(rows, columns=["cycle", *COUNTERS])
            if not spec.costs.sqlite:
                frame["commits"] = 0
                setup_commits = 0
            out.append(ConditionCounts(cond, int(setup_samples), int(setup_commits), frame))
    finally:
        if bar is not None:
            bar.close()
    prov = {"format": FORMAT, "spec": spec.to_dict(), "metrics_used": used, "fast": fast,
            "model_source_sha256": model_source_hash(), "count_s": time.perf_counter() - t0,
            "counted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return RunCounts(spec, out, prov)


def model_source_hash() -> str:
    """SHA-256 of the simulator's source (nrm/sim/*.py): cached counts of another model are
    stale."""
    h = hashlib.sha256()
    for p in sorted((paths.PACKAGE_PARENT / "nrm" / "sim").glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def count_key(spec: RunSpec) -> str:
    """What the counts depend on: the experiment, the model's parameters, the switches that
    change the counts, the seed, the metrics and the conditions."""
    c = spec.costs
    relevant = {"experiment": spec.experiment, "cycles": spec.cycles,
                "max_agents": spec.max_agents, "root_energy": spec.root_energy,
                "cooldown": spec.cooldown, "seed": spec.seed, "metrics": spec.metrics,
                "conditions": list(spec.conditions), "sampling": c.sampling, "sqlite": c.sqlite,
                "recursive_evolution": c.recursive_evolution,
                "cumulative_registry": c.cumulative_registry}
    text = json.dumps(relevant, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stem_of(spec: RunSpec) -> str:
    """The file name (without suffix) of ``spec``'s cached counts."""
    return f"{spec.experiment}-{spec.cycles}x{spec.max_agents}-{count_key(spec)}"


def _paths(spec: RunSpec, cache_dir: Path) -> tuple[Path, Path]:
    stem = stem_of(spec)
    return cache_dir / f"{stem}.csv", cache_dir / f"{stem}.json"


def load_cached(spec: RunSpec, cache_dir: str | Path | None = None) -> RunCounts | None:
    """The cached counts of ``spec`` if present and counted with this model's source."""
    csv_path, json_path = _paths(spec, Path(cache_dir) if cache_dir else CACHE_DIR)
    if not (csv_path.is_file() and json_path.is_file()):
        return None
    try:
        prov = json.loads(json_path.read_text(encoding="utf-8"))
        frame = pd.read_csv(csv_path)
    except (OSError, ValueError):
        return None
    if prov.get("model_source_sha256") != model_source_hash() or prov.get("format") != FORMAT:
        return None
    setup = prov.get("setup", {})
    conds = []
    for cond in spec.conditions:
        part = frame[frame["condition"] == cond].drop(columns="condition").reset_index(drop=True)
        if len(part) != spec.cycles or cond not in setup:
            return None
        conds.append(ConditionCounts(cond, int(setup[cond][0]), int(setup[cond][1]), part))
    return RunCounts(spec, conds, prov)


def save_counts(counts: RunCounts, cache_dir: str | Path | None = None) -> Path:
    csv_path, json_path = _paths(counts.spec, Path(cache_dir) if cache_dir else CACHE_DIR)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(csv_path, counts.frame().to_csv(index=False))
    prov = dict(counts.provenance)
    prov["setup"] = {c.condition: [c.setup_samples, c.setup_commits] for c in counts.conditions}
    atomic_write_json(json_path, prov)
    return csv_path


def cached_counts(spec: RunSpec, *, cache_dir: str | Path | None = None,
                  progress: bool = True, fast: bool = True) -> RunCounts:
    """``spec``'s counts from the cache, counted (and cached) on demand."""
    hit = load_cached(spec, cache_dir)
    if hit is not None:
        return hit
    counts = count_run(spec, fast=fast, progress=progress)
    save_counts(counts, cache_dir)
    return counts


def resample(counts: RunCounts, sampling: str) -> RunCounts:
    """The counts of the same run with ``sampling`` instead of its own, without running it.

    Exact when the metrics are fixed or replayed by cycle (the dynamics do not depend on how
    many samples are taken, module docstring): with ``per_cycle`` each cycle takes one sample,
    with ``per_call`` one per consumer; every sample of a cycle is persisted, so a cycle
    commits ``samples + spawns (phase rows) + pairs_tested (per-pair rows)`` rows when SQLite
    is on. The set-up is the same in both. ``per_call`` counts cannot be derived from
    ``per_cycle`` ones (the consumers are not counted there)."""
    spec = counts.spec
    if sampling == spec.costs.sampling:
        return counts
    if sampling != "per_cycle":
        raise ParameterError("only per_call counts can be resampled (to per_cycle)")
    if parse_source_spec(spec.metrics)[0] == "live":
        raise ParameterError("counts under live metrics cannot be resampled")
    new_spec = RunSpec.from_dict({**spec.to_dict(),
                                  "costs": spec.costs.with_(sampling=sampling).to_dict(),
                                  "variant": "optimized" if spec.variant == "unoptimized"
                                  else spec.variant})
    pair_rows = spec.costs.sqlite and spec.costs.resonance == "pairwise"
    conds = []
    for c in counts.conditions:
        f = c.cycles.copy()
        f["samples"] = 1
        if spec.costs.sqlite:
            f["commits"] = 1 + f["spawns"] + (f["pairs_tested"] if pair_rows else 0)
        conds.append(ConditionCounts(c.condition, c.setup_samples, c.setup_commits, f))
    prov = {**counts.provenance, "resampled_from": spec.costs.sampling}
    return RunCounts(new_spec, conds, prov)


def paper_spec(experiment: str, variant: str = "unoptimized", **overrides: Any) -> RunSpec:
    """The paper's run of ``experiment`` (scale ``full``: 3000 cycles, 100 agents, 0.1 s
    sample) as a counting run sees it: fixed metrics (a live run cannot be replayed)."""
    kw: dict[str, Any] = {"scale": PAPER_SCALE, "metrics": "fixed", **overrides}
    return RunSpec(experiment, variant, **kw)


def paper_counts(experiments: Iterable[str], *, cache_dir: str | Path | None = None,
                 progress: bool = True) -> dict[str, RunCounts]:
    """The unoptimized counts of ``experiments`` at the paper's scale (cached; counted on
    demand, with a progress bar). The pooling conditions dominate: their cumulative registry
    grows by about one cluster of ~100 members a cycle, so a cycle's pooling work grows with
    the cycle. With :class:`CountingSimulation` an experiment took 5-7 minutes on a 2-vCPU VM
    shared with other jobs (load ~13); with the model's own pooling step it ran at ~2 cycles/s
    by cycle 1700 of a pooling condition (about an hour an experiment)."""
    return {e: cached_counts(paper_spec(e), cache_dir=cache_dir, progress=progress)
            for e in experiments}
