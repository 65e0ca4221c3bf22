"""A run's specification: one frozen value, resolved once, written to JSON, read back identically.

Every door into a run (``nrm run``, ``nrm run --spec FILE.json``, the run notebook, the scale
presets of ``make paper``, the allocator child) builds a :class:`RunSpec` and hands the object on.

Defaults, in one place each:

- cycles, agent cap, metrics source, seed and the CPU sample's blocking time come from a *scale*
  (:mod:`nrm.run.scales`). ``nrm run`` and the run notebook both use
  :data:`nrm.run.scales.DEFAULT_SCALE` when none is named; a ``RunSpec`` built with
  ``scale=None`` takes the model's own parameters (the paper's, the same as the ``full`` scale).
- the cost switches come from the named preset (:mod:`nrm.sim.costs`), with the scale's CPU-sample
  time where the scale sets one. ``costs`` overrides single switches; ``cpu_interval=`` is sugar
  for ``costs={"cpu_interval": ...}``. The resolved :class:`~nrm.sim.costs.CostSwitches` is stored.
  A run whose switches differ from that named preset is recorded as variant ``"custom"``, with
  the differing switches (:meth:`RunSpec.custom_switches`).
- everything else (log cadences, checkpoints, optional probes) has its default in the signature
  of :meth:`RunSpec.__init__`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from nrm.exceptions import ParameterError
from nrm.run.checks import check_run_values
from nrm.sim.conditions import CONDITIONS, check_condition
from nrm.sim.costs import CostSwitches, preset
from nrm.sim.experiments import get_experiment
from nrm.sim.metrics import parse_source_spec
from nrm.sim.model import DEFAULT_CYCLES, DEFAULT_SEED, ModelParams

#: What the cyclic garbage collector does once the run is set up (imports, folder, logs, probe;
#: before the first condition):
#: ``default`` leaves it alone, ``disable`` calls ``gc.disable()``, ``freeze`` ``gc.freeze()``.
GC_DEFAULT = "default"  # a GC mode, not a scale
GC_MODES: tuple[str, ...] = (GC_DEFAULT, "disable", "freeze")


#: Fields that no command-line flag (:mod:`nrm.cli.runflags`) and no run-notebook parameter
#: sets, and why: ``--spec FILE.json`` (or ``RunSpec(...)``) sets them.
INTERNAL_FIELDS: dict[str, str] = {
    "root_energy": "a constant of the model (ModelParams), not a run setting",
    "cooldown": "a constant of the model (ModelParams), not a run setting",
    "io_calls_every": "the probe's syscall-count cadence (10)",
    "checkpoint_interval_s": "the time-based checkpoint cadence (30 s)",
}


@dataclass(frozen=True, init=False)
class RunSpec:
    """Everything that defines a run (recorded in run.json, validated on construction)."""

    experiment: str
    variant: str  # the named cost preset
    scale: str | None  # where cycles, agents, metrics, seed and CPU-sample time came from
    cycles: int
    max_agents: int
    root_energy: float
    cooldown: int
    conditions: tuple[str, ...]
    seed: int
    metrics: str
    costs: CostSwitches  # resolved: the preset (at the scale) with any overrides
    flush_every: int
    arena_every: int  # the probe's arena and syscall-count cadences for runs (the
    io_calls_every: int  # Probe's own defaults are sparser: 1000 and 100)
    checkpoint_every: int | None  # cycles; None: time-based (checkpoint_interval_s)
    checkpoint_interval_s: float
    tracemalloc: bool
    uss: bool
    allocator: str | None  # requested allocator (recorded; the CLI spawns the child)
    gc_mode: str  # GC_MODES: what the garbage collector does after set-up
    pregrow_db_mb: float  # MiB of rows put into the run's databases first (nrm.run.dbgrow)

    def __init__(
        self,
        experiment: str,
        variant: str = "unoptimized",
        *,
        scale: str | None = None,
        cycles: int | None = None,
        max_agents: int | None = None,
        root_energy: float | None = None,
        cooldown: int | None = None,
        conditions: tuple[str, ...] | list[str] = CONDITIONS,
        seed: int | None = None,
        metrics: str | None = None,
        costs: CostSwitches | Mapping[str, Any] | None = None,
        cpu_interval: float | None = None,
        flush_every: int = 50,
        arena_every: int = 100,
        io_calls_every: int = 10,
        checkpoint_every: int | None = None,
        checkpoint_interval_s: float = 30.0,
        tracemalloc: bool = False,
        uss: bool = False,
        allocator: str | None = None,
        gc_mode: str = GC_DEFAULT,
        pregrow_db_mb: float = 0.0,
    ) -> None:
        """``None`` means "the scale's value" (or the model's, without a scale)."""
        exp = get_experiment(experiment)
        base = scale_defaults(scale, exp.id, variant)
        resolved = _resolve_costs(base["costs"], costs, cpu_interval)
        values: dict[str, Any] = {
            "experiment": exp.id,
            "variant": variant,
            "scale": scale,
            "cycles": base["cycles"] if cycles is None else cycles,
            "max_agents": base["max_agents"] if max_agents is None else max_agents,
            "root_energy": ModelParams.root_energy if root_energy is None else root_energy,
            "cooldown": ModelParams.cooldown if cooldown is None else cooldown,
            "conditions": _conditions(conditions),
            "seed": base["seed"] if seed is None else seed,
            "metrics": base["metrics"] if metrics is None else metrics,
            "costs": resolved,
            "flush_every": flush_every,
            "arena_every": arena_every,
            "io_calls_every": io_calls_every,
            "checkpoint_every": checkpoint_every,
            "checkpoint_interval_s": checkpoint_interval_s,
            "tracemalloc": tracemalloc,
            "uss": uss,
            "allocator": allocator,
            "gc_mode": gc_mode,
            "pregrow_db_mb": pregrow_db_mb,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        for name in ("cycles", "max_agents"):
            _positive_int(name, getattr(self, name))
        if not isinstance(self.cooldown, int) or self.cooldown < 0:
            raise ParameterError(f"cooldown must be an integer >= 0, got {self.cooldown!r}")
        check_run_values(self)  # ranges, finiteness, strict types, relations between fields
        for name in ("root_energy", "checkpoint_interval_s"):  # checked numbers, JSON-stable
            object.__setattr__(self, name, float(getattr(self, name)))
        parse_source_spec(self.metrics)
        if self.gc_mode not in GC_MODES:
            raise ParameterError(
                f"gc_mode must be one of {', '.join(GC_MODES)}, got {self.gc_mode!r}"
            )
        if self.allocator is not None:
            from nrm.instrument.allocator import ALLOCATORS

            if self.allocator not in ALLOCATORS:
                raise ParameterError(
                    f"unknown allocator {self.allocator!r}; valid: {', '.join(ALLOCATORS)}"
                )
        from nrm.run.dbgrow import check_megabytes

        object.__setattr__(self, "pregrow_db_mb", check_megabytes(self.pregrow_db_mb))
        if self.pregrow_db_mb and not self.costs.sqlite:
            raise ParameterError(
                f"pregrow_db_mb={self.pregrow_db_mb:g} needs the SQLite persistence, which the "
                f"{self.variant!r} preset (or a --cost override) switches off"
            )
        ModelParams(self.max_agents, self.root_energy, self.cooldown)

    # ------------------------------------------------------------------ derived views

    @property
    def cpu_interval(self) -> float:
        """Seconds the CPU sample blocks (a cost switch; read-only view of ``costs``)."""
        return self.costs.cpu_interval

    def cost_switches(self) -> CostSwitches:
        return self.costs

    def preset_costs(self) -> CostSwitches:
        """The named preset's switches at this spec's scale (what "not custom" means)."""
        costs: CostSwitches = scale_defaults(self.scale, self.experiment, self.variant)["costs"]
        return costs

    def custom_switches(self) -> dict[str, dict[str, Any]]:
        """Switches that differ from the named preset: ``{name: {"value": v, "preset": p}}``."""
        ours, named = self.costs.to_dict(), self.preset_costs().to_dict()
        return {k: {"value": v, "preset": named[k]} for k, v in ours.items() if v != named[k]}

    @property
    def variant_label(self) -> str:
        """The preset's name, or ``"custom"`` when any switch differs from it."""
        return "custom" if self.custom_switches() else self.variant

    def model_params(self) -> ModelParams:
        return ModelParams(self.max_agents, self.root_energy, self.cooldown)

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-safe; :meth:`from_dict` rebuilds an equal spec."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["conditions"] = list(self.conditions)
        d["costs"] = self.costs.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        if not isinstance(data, Mapping):
            raise ParameterError(f"a run specification is a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        odd = [k for k in data if not isinstance(k, str)]
        if odd:
            raise ParameterError(f"run specification field names are strings, got {odd[0]!r}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(
                f"unknown run specification field(s) {unknown}; valid: {', '.join(sorted(known))}"
            )
        if "experiment" not in data:
            raise ParameterError("a run specification needs 'experiment' (C255 ... C260)")
        for name, value in data.items():
            _check_json_type(name, value)
        kw = dict(data)
        if isinstance(kw.get("conditions"), list):
            kw["conditions"] = tuple(kw["conditions"])
        costs = kw.get("costs")
        if costs is not None and not isinstance(costs, Mapping | CostSwitches):
            raise ParameterError(f"'costs' must be an object of switches, got {costs!r}")
        return cls(**kw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str, *, source: str = "run specification") -> RunSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"{source}: not valid JSON ({exc})") from None
        except RecursionError:
            raise ParameterError(f"{source}: JSON nested too deeply to be a run specification"
                                 ) from None
        return cls.from_dict(data)

    @classmethod
    def from_stdin(cls) -> RunSpec:
        """The spec on standard input (``--spec -``), read as bytes and checked like a file."""
        import sys

        source = "standard input"
        return cls.from_json(decode_text(sys.stdin.buffer.read(), source), source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> RunSpec:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ParameterError(f"cannot read run specification {path}: {exc.strerror}") from None
        return cls.from_json(decode_text(data, str(path)), source=str(path))


#: The JSON type of each field :meth:`RunSpec.from_dict` accepts (``None``: may be null).
_JSON_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "experiment": ((str,), "a string"),
    "variant": ((str,), "a string"),
    "scale": ((str, type(None)), "a string or null"),
    "cycles": ((int,), "an integer"),
    "max_agents": ((int,), "an integer"),
    "root_energy": ((int, float), "a number"),
    "cooldown": ((int,), "an integer"),
    "conditions": ((list, tuple), "a list of condition names"),
    "seed": ((int,), "an integer"),
    "metrics": ((str,), "a string"),
    "costs": ((Mapping, CostSwitches, type(None)), "an object of switches or null"),
    "flush_every": ((int,), "an integer"),
    "arena_every": ((int,), "an integer"),
    "io_calls_every": ((int,), "an integer"),
    "checkpoint_every": ((int, type(None)), "an integer or null"),
    "checkpoint_interval_s": ((int, float), "a number"),
    "tracemalloc": ((bool,), "true or false"),
    "uss": ((bool,), "true or false"),
    "allocator": ((str, type(None)), "a string or null"),
    "gc_mode": ((str,), "a string"),
    "pregrow_db_mb": ((int, float), "a number"),
}


def _check_json_type(name: str, value: object) -> None:
    """One line when a field's value has the wrong JSON type (``true`` is not a number)."""
    types, what = _JSON_TYPES[name]
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise ParameterError(f"{name} must be {what} in a run specification, "
                             f"got {_shown(value)}")
    if name == "conditions":
        for c in value:  # type: ignore[attr-defined]
            if not isinstance(c, str):
                raise ParameterError(f"conditions holds condition names, got {_shown(c)}")
    if name == "costs" and isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise ParameterError(f"costs switch names are strings, got {_shown(k)}")


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | type(None)) \
        else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def decode_text(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text, or one line saying it is binary (a NUL byte) or not UTF-8."""
    if b"\x00" in data:
        raise ParameterError(f"{source}: binary data (a NUL byte); a run specification is "
                             "a JSON text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                             f"offset {exc.start}); a run specification is a JSON text file"
                             ) from None


def scale_defaults(scale: str | None, experiment: str, variant: str) -> dict[str, Any]:
    """The values a spec takes when it names none: from ``scale``, or the model's own."""
    named = preset(variant)  # a clear error for an unknown variant
    if scale is None:
        return {"cycles": DEFAULT_CYCLES, "max_agents": ModelParams.max_agents,
                "metrics": "live", "seed": DEFAULT_SEED, "costs": named}
    from nrm.run.scales import get_scale

    planned = get_scale(scale).base(experiment, variant)
    costs = named if planned.cpu_interval is None else named.with_(
        cpu_interval=float(planned.cpu_interval)
    )
    return {"cycles": planned.cycles, "max_agents": planned.max_agents,
            "metrics": planned.metrics, "seed": planned.seed, "costs": costs}


def _resolve_costs(
    base: CostSwitches,
    costs: CostSwitches | Mapping[str, Any] | None,
    cpu_interval: float | None,
) -> CostSwitches:
    if isinstance(costs, CostSwitches):
        resolved = costs
    elif costs is None:
        resolved = base
    elif isinstance(costs, Mapping):
        resolved = base.with_(**costs)
    else:
        raise ParameterError(f"costs must be CostSwitches or a mapping of switches, got {costs!r}")
    if cpu_interval is not None:
        given = costs.get("cpu_interval") if isinstance(costs, Mapping) else None
        if given is not None and given != cpu_interval:
            raise ParameterError(
                f"cpu_interval given twice ({cpu_interval!r} and costs cpu_interval={given!r})"
            )
        if not isinstance(cpu_interval, int | float) or isinstance(cpu_interval, bool):
            raise ParameterError(f"cpu_interval must be a number >= 0, got {cpu_interval!r}")
        resolved = resolved.with_(cpu_interval=cpu_interval)
    if isinstance(resolved.cpu_interval, int) and not isinstance(resolved.cpu_interval, bool):
        resolved = resolved.with_(cpu_interval=float(resolved.cpu_interval))
    return resolved


def _conditions(conditions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(conditions, str) or not isinstance(conditions, tuple | list):
        raise ParameterError(f"conditions must be a list of condition names, got {conditions!r}")
    conds = tuple(check_condition(c) for c in conditions)
    if not conds:
        raise ParameterError("conditions must name at least one of " + ", ".join(CONDITIONS))
    if len(set(conds)) != len(conds):
        raise ParameterError(f"conditions repeat: {list(conds)}")
    return tuple(c for c in CONDITIONS if c in conds)


def _positive_int(name: str, v: object) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ParameterError(f"{name} must be a positive integer, got {v!r}")
