"""The costs under study, as independent switches, and the named presets.

Each switch turns one of the original model's costs on or off, so an ablation can change one at
a time. ``unoptimized`` keeps every original cost; ``optimized`` is the paper's description of the
optimized scripts (one metrics sample per cycle, nothing else changed); ``lean`` turns every cost
off. Presets that differ only in sampling give identical dynamics on the same fixed metrics;
``recursive_evolution`` and ``cumulative_registry`` change the dynamics themselves (they are part
of the model as the original ran it), so ``lean`` is a different model, not a faster copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from .exceptions import ParameterError, UnknownExperimentError

Sampling = Literal["per_call", "per_cycle"]
Resonance = Literal["pairwise", "vectorized"]


@dataclass(frozen=True)
class CostSwitches:
    """One run's cost switches (see the module docstring)."""

    #: (a) a metrics sample on every call (original) or one per cycle, cached
    sampling: Sampling = "per_call"
    #: (b) seconds the CPU sample blocks (``psutil.cpu_percent(interval=...)``); 0 = non-blocking
    cpu_interval: float = 0.1
    #: (c) persist every sample, phase state and tested pair to SQLite, one connection+commit a row
    sqlite: bool = True
    #: (d) evolve every child ever spawned, recursively, living or dead
    recursive_evolution: bool = True
    #: (e) keep every cluster ever detected in the registry (original) or rebuild it each cycle
    cumulative_registry: bool = True
    #: implementation of the pair test: the original per-pair loop, or a numpy matrix (only
    #: possible without per-pair persistence; may differ from ``pairwise`` in the last ulp)
    resonance: Resonance = "pairwise"

    def __post_init__(self) -> None:
        if self.sampling not in ("per_call", "per_cycle"):
            raise ParameterError(
                f"sampling must be 'per_call' or 'per_cycle', got {self.sampling!r}"
            )
        if self.resonance not in ("pairwise", "vectorized"):
            raise ParameterError(
                f"resonance must be 'pairwise' or 'vectorized', got {self.resonance!r}"
            )
        if not (isinstance(self.cpu_interval, int | float) and self.cpu_interval >= 0):
            raise ParameterError(
                f"cpu_interval must be a number >= 0 seconds, got {self.cpu_interval!r}"
            )
        if self.sqlite and self.resonance == "vectorized":
            raise ParameterError(
                "resonance='vectorized' cannot persist one row per tested pair; "
                "use resonance='pairwise' with sqlite=True"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> CostSwitches:
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            valid = ", ".join(f.name for f in fields(self))
            raise ParameterError(f"unknown cost switch(es) {sorted(unknown)}; valid: {valid}")
        return replace(self, **changes)


PRESETS: dict[str, CostSwitches] = {
    "unoptimized": CostSwitches(),
    "optimized": CostSwitches(sampling="per_cycle"),
    "lean": CostSwitches(
        sampling="per_cycle",
        cpu_interval=0.0,
        sqlite=False,
        recursive_evolution=False,
        cumulative_registry=False,
        resonance="vectorized",
    ),
}

DESCRIPTIONS: dict[str, str] = {
    "unoptimized": "every original cost: a sample per call, 0.1 s blocking CPU sample, a SQLite "
    "commit per row, recursive child evolution, cumulative cluster registry",
    "optimized": "the paper's optimized scripts: one sample per cycle, nothing else changed",
    "lean": "every cost off: one non-blocking sample per cycle, no SQLite, no recursive "
    "evolution, registry rebuilt each cycle, vectorized pair test (different dynamics)",
}


def preset(name: str) -> CostSwitches:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownExperimentError(
            f"unknown variant {name!r}; valid: {', '.join(PRESETS)}"
        ) from None
