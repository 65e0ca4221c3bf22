"""How a simulation is put together (shared by the runner and the benchmark).

Persistence follows the ``sqlite`` switch; :class:`~nrm.sim.model.Reality` wraps the metrics source,
the persistence and the trace; the :class:`~nrm.sim.model.Simulation` gets the cost switches (and
hands ``sampling`` to its Reality), so every switch reaches the model one way.
"""

from __future__ import annotations

from pathlib import Path

from nrm.sim.costs import CostSwitches
from nrm.sim.experiments import Experiment
from nrm.sim.metrics import MetricsSource, TraceWriter
from nrm.sim.model import DEFAULT_SEED, ModelParams, Reality, Simulation
from nrm.sim.persistence import NullPersistence, SqlitePersistence

Persistence = SqlitePersistence | NullPersistence


def open_persistence(costs: CostSwitches, folder: str | Path) -> Persistence:
    """The original's per-row SQLite commits in ``folder`` (``sqlite`` on), or nothing."""
    return SqlitePersistence(Path(folder)) if costs.sqlite else NullPersistence()


def new_reality(
    source: MetricsSource,
    persistence: Persistence,
    *,
    trace: TraceWriter | None = None,
    condition: str = "",
) -> Reality:
    return Reality(source, persistence=persistence, trace=trace, condition=condition)


def new_simulation(
    experiment: Experiment,
    condition: str,
    params: ModelParams,
    costs: CostSwitches,
    reality: Reality,
    seed: int = DEFAULT_SEED,
) -> Simulation:
    """One condition of ``experiment`` (not yet set up: :meth:`Simulation.setup`)."""
    return Simulation(experiment.mechanisms_for(condition), params, costs, reality, seed=seed)
