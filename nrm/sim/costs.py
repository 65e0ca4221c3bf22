"""The costs under study, as independent switches, and the named presets.

Each switch turns one of the original model's costs on or off, so an ablation can change one at
a time. ``unoptimized`` keeps every original cost; ``optimized`` is the paper's description of the
optimized scripts (one metrics sample per cycle, nothing else changed); ``lean`` turns every cost
off. Presets that differ only in sampling give identical dynamics on the same fixed metrics;
``recursive_evolution`` and ``cumulative_registry`` change the dynamics themselves (they are part
of the model as the original ran it), so ``lean`` is a different model, not a faster copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from nrm.exceptions import ParameterError, UnknownExperimentError

Sampling = Literal["per_call", "per_cycle"]
Resonance = Literal["pairwise", "vectorized"]

#: Longest CPU sample accepted, in seconds. The original blocks 0.1 s; a run samples thousands
#: of times a condition, so anything near this bound already means days of sleeping.
CPU_INTERVAL_MAX = 10.0
_BOOL_SWITCHES = ("sqlite", "recursive_evolution", "cumulative_registry")
_CHOICES: dict[str, tuple[str, ...]] = {
    "sampling": ("per_call", "per_cycle"),
    "resonance": ("pairwise", "vectorized"),
}
_TRUE = ("true", "on", "yes", "1")
_FALSE = ("false", "off", "no", "0")


def check_cpu_interval(value: object, name: str = "cpu_interval") -> float:
    """``value`` as seconds if it is a finite number within 0..CPU_INTERVAL_MAX, else a
    :class:`ParameterError` naming it."""
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value <= CPU_INTERVAL_MAX
    ):
        raise ParameterError(
            f"{name} must be a number of seconds from 0 to {CPU_INTERVAL_MAX:g}, got {value!r}"
        )
    return float(value)


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
        object.__setattr__(self, "cpu_interval", check_cpu_interval(self.cpu_interval))
        for name in _BOOL_SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(
                    f"cost switch {name} must be true or false, got {getattr(self, name)!r}"
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


def parse_switch(name: str, text: str) -> Any:
    """Parse one ``SWITCH=VALUE`` value strictly by the switch's type: ``true/false``
    (also on/off, yes/no, 1/0) for the on/off switches, a number of seconds for
    ``cpu_interval``, one of the named choices for ``sampling`` and ``resonance``."""
    key = name.strip().replace("-", "_")
    valid = [f.name for f in fields(CostSwitches)]
    if key not in valid:
        raise ParameterError(f"unknown cost switch {name!r}; valid: {', '.join(valid)}")
    value = text.strip()
    low = value.lower()
    if key in _BOOL_SWITCHES:
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ParameterError(f"--cost {key}={text!r}: expected true or false (on/off, yes/no, 1/0)")
    if key == "cpu_interval":
        try:
            seconds = float(value)
        except ValueError:
            raise ParameterError(
                f"--cost cpu_interval={text!r}: expected a number of seconds"
            ) from None
        return check_cpu_interval(seconds, "--cost cpu_interval")
    if low not in _CHOICES[key]:
        raise ParameterError(f"--cost {key}={text!r}: expected one of {', '.join(_CHOICES[key])}")
    return low


def parse_cost_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["sqlite=false", "cpu_interval=0.05"]`` -> ``{"sqlite": False, "cpu_interval": 0.05}``
    (each value parsed by :func:`parse_switch`; a switch given twice is an error)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"--cost takes SWITCH=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        key = name.strip().replace("-", "_")
        value = parse_switch(key, text)
        if key in out:
            raise ParameterError(f"--cost {key} is given twice")
        out[key] = value
    return out
