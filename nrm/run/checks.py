"""Checks of a run's values that no single field's type can make: finite numbers within range,
strict types (a bool is not a number, a string is not a switch), relations between flags.

:func:`check_run_values` is called when a :class:`~nrm.run.spec.RunSpec` is built, so every door
(CLI, notebooks, scales, a spec read from JSON) refuses a bad value with one
:class:`~nrm.exceptions.ParameterError` before any run folder exists. :func:`check_replay`
reads a replay trace in full and checks it against the planned run, also before the folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nrm.exceptions import ParameterError
from nrm.sim.costs import check_cpu_interval

if TYPE_CHECKING:
    from nrm.run.spec import RunSpec

#: Upper bound of the periodic cadences and of the flush size (rows held in memory).
MAX_EVERY = 1_000_000
#: Upper bound of the time-based checkpoint interval (a week-long run must checkpoint).
MAX_CHECKPOINT_INTERVAL_S = 24 * 3600.0
#: Upper bound of the seed (what random.Random and numpy both take without surprise).
MAX_SEED = 2**63 - 1


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_in(name: str, v: object, lo: int, hi: int) -> None:
    if not _is_int(v) or not lo <= v <= hi:  # type: ignore[operator]
        raise ParameterError(f"{name} must be an integer from {lo} to {hi}, got {v!r}")


def _finite(name: str, v: object, lo: float, hi: float, *, lo_open: bool = False) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (lo < v if lo_open else lo <= v) and v <= hi  # type: ignore[operator]
    if not ok:
        low = f"above {lo:g}" if lo_open else f"from {lo:g}"
        raise ParameterError(f"{name} must be a finite number {low} to {hi:g}, got {v!r}")
    return float(v)  # type: ignore[arg-type]


def check_run_values(spec: RunSpec) -> None:
    """Every numeric and flag field of ``spec`` (see the module docstring)."""
    _int_in("flush_every", spec.flush_every, 1, MAX_EVERY)
    _int_in("arena_every", spec.arena_every, 1, MAX_EVERY)
    _int_in("io_calls_every", spec.io_calls_every, 0, MAX_EVERY)
    _int_in("seed", spec.seed, -MAX_SEED, MAX_SEED)
    _finite("root_energy", spec.root_energy, 0.0, 1e12, lo_open=True)
    check_cpu_interval(spec.cpu_interval)
    if spec.checkpoint_every is not None:
        _int_in("checkpoint_every", spec.checkpoint_every, 1, 10**12)
        if spec.checkpoint_every % spec.flush_every:
            raise ParameterError(
                f"checkpoint_every ({spec.checkpoint_every}) must be a multiple of flush_every "
                f"({spec.flush_every}): a checkpoint is taken when the logs are flushed"
            )
    _finite(
        "checkpoint_interval_s", spec.checkpoint_interval_s, 0.0, MAX_CHECKPOINT_INTERVAL_S,
        lo_open=True,
    )
    for name in ("tracemalloc", "uss"):
        if not isinstance(getattr(spec, name), bool):
            raise ParameterError(f"{name} must be true or false, got {getattr(spec, name)!r}")
    if not isinstance(spec.metrics, str):
        raise ParameterError(f"metrics must be live, fixed or replay:PATH, got {spec.metrics!r}")
    if spec.allocator is not None and not isinstance(spec.allocator, str):
        raise ParameterError(f"allocator must be a name, got {spec.allocator!r}")


def check_replay(spec: RunSpec, source: Any) -> None:
    """If ``source`` replays a trace, check it can feed every planned cycle of ``spec``
    (:func:`nrm.sim.metrics.check_trace_plan`); the trace itself was checked line by line when
    the source read it."""
    from nrm.sim.metrics import ReplaySource, check_trace_plan

    if not isinstance(source, ReplaySource):
        return
    path = Path(source.path)
    sampling = spec.cost_switches().sampling
    check_trace_plan(
        path, source.rows, conditions=spec.conditions, cycles=spec.cycles, sampling=sampling
    )
    if sampling == "per_call":
        _check_recorded_run(spec, path)


#: What decides how many samples a ``per_call`` run takes (with the same metrics values).
_SAMPLE_COUNT_PARAMETERS = ("experiment", "cycles", "max_agents", "root_energy", "cooldown",
                            "seed")
_SAMPLE_COUNT_SWITCHES = ("sampling", "recursive_evolution", "cumulative_registry", "resonance")


def _check_recorded_run(spec: RunSpec, trace: Path) -> None:
    """A ``per_call`` run takes as many samples as its dynamics ask for, so it can replay only
    a trace recorded with the same settings; where the recording run's run.json is beside the
    trace, compare them (without it, a mismatch shows when the trace runs out)."""
    from nrm.exceptions import LogError, TraceError
    from nrm.instrument.runrecord import read_run_json

    try:
        recorded = read_run_json(trace.parent)
        params, costs = recorded["parameters"], recorded["costs"]
    except (LogError, KeyError, TypeError):
        return
    mine, my_costs = spec.to_dict(), spec.cost_switches().to_dict()
    diffs = [f"{k} {params.get(k)!r} (this run: {mine[k]!r})"
             for k in _SAMPLE_COUNT_PARAMETERS if params.get(k) != mine[k]]
    diffs += [f"{k} {costs.get(k)!r} (this run: {my_costs[k]!r})"
              for k in _SAMPLE_COUNT_SWITCHES if costs.get(k) != my_costs[k]]
    if diffs:
        raise TraceError(
            f"{trace}: recorded with {', '.join(diffs)}; a run that samples per call replays "
            "only a trace recorded with the same settings (it takes as many samples as its "
            "dynamics ask for)"
        )
