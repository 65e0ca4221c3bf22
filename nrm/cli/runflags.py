"""The run flags: one parser for every command that builds a :class:`~nrm.run.spec.RunSpec`
(``nrm run``, ``nrm workers``, ``nrm dbgrow``), one flag per spec field.

:data:`FLAGS` maps each ``RunSpec`` field to its flag; :data:`INTERNAL` names the fields that
have none, and why (``--spec FILE.json`` sets them). tests/test_runflags.py checks that every
field is in exactly one of the two.

One rule for repeats: a flag that takes one value (every flag but ``--condition`` and ``--cost``,
which collect) is refused when given twice, as ``--cost`` refuses a switch given twice
(:func:`check_flags`).
"""

from __future__ import annotations

import argparse
from typing import Any

from nrm.cli.argtypes import nonneg_float, positive_int
from nrm.exceptions import ParameterError
from nrm.run.scales import DEFAULT_SCALE, SCALES
from nrm.run.spec import GC_MODES, INTERNAL_FIELDS, RunSpec
from nrm.sim.conditions import CONDITIONS

#: RunSpec field -> (flag, argparse keywords). ``costs`` has two: --cost and --cpu-interval.
FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "scale": ("--scale", {"help": f"where unset values come from: {' | '.join(SCALES)} "
                                  f"(default: {DEFAULT_SCALE})"}),
    "variant": ("--variant", {"help": "unoptimized | optimized | lean"}),
    "cycles": ("--cycles", {"type": positive_int, "help": "cycles per condition (the scale's)"}),
    "max_agents": ("--max-agents", {"type": positive_int, "help": "agent cap (the scale's)"}),
    "conditions": ("--condition", {"action": "append", "dest": "condition",
                                   "help": "run only this condition (repeatable): "
                                           + ", ".join(CONDITIONS)}),
    "metrics": ("--metrics", {"help": "live | fixed | replay:PATH | cycle-replay:PATH "
                                      "(the scale's)"}),
    "seed": ("--seed", {"type": int, "help": "seed for every random choice (the scale's)"}),
    "costs": ("--cost", {"action": "append", "dest": "cost", "metavar": "SWITCH=VALUE",
                         "help": "override one cost switch, e.g. --cost sqlite=false "
                                 "(variant 'custom')"}),
    "allocator": ("--allocator", {"help": "pymalloc | malloc | jemalloc | mimalloc"}),
    "gc_mode": ("--gc-mode", {"choices": GC_MODES,
                              "help": "garbage collector after set-up: leave it, gc.disable() "
                                      "or gc.freeze()"}),
    "pregrow_db_mb": ("--pregrow-db", {"type": nonneg_float, "metavar": "MB",
                                       "help": "first fill the run's SQLite databases with MB "
                                               "MiB of model-shaped rows"}),
    "flush_every": ("--flush-every", {"type": positive_int,
                                      "help": "flush logs every K cycles (50)"}),
    "arena_every": ("--arena-every", {"type": positive_int,
                                      "help": "arena statistics every K cycles (100)"}),
    "checkpoint_every": ("--checkpoint-every", {
        "type": positive_int,
        "help": "checkpoint every N cycles (a multiple of --flush-every; default: 30 s)"}),
    "tracemalloc": ("--tracemalloc", {"action": "store_true",
                                      "help": "also record tracemalloc current/peak"}),
    "uss": ("--uss", {"action": "store_true", "help": "also record USS (slow)"}),
}
#: Sugar for ``--cost cpu_interval=S`` (a field of ``costs``).
CPU_INTERVAL = ("--cpu-interval", {"type": nonneg_float,
                                   "help": "seconds the CPU sample blocks; same as --cost "
                                           "cpu_interval=S"})
#: Fields without a flag (set them with --spec FILE.json): the experiment is the positional
#: argument, the rest are :data:`nrm.run.spec.INTERNAL_FIELDS`.
INTERNAL: dict[str, str] = {"experiment": "the positional argument", **INTERNAL_FIELDS}


#: Where the parse records a single-valued flag given more than once (see :func:`check_flags`).
_REPEATED = "_run_flags_repeated"
_SEEN = "_run_flags_seen"


def _once(base: type[argparse.Action]) -> type[argparse.Action]:
    """``base`` that also notes a second use of its flag (refused later, in one line)."""

    class Once(base):  # type: ignore[valid-type, misc]
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            seen: set[str] = namespace.__dict__.setdefault(_SEEN, set())
            if self.dest in seen:
                repeated: list[str] = namespace.__dict__.setdefault(_REPEATED, [])
                if option_string not in repeated:
                    repeated.append(str(option_string))
            seen.add(self.dest)
            super().__call__(parser, namespace, values, option_string)

    return Once


_STORE = _once(argparse._StoreAction)
_STORE_TRUE = _once(argparse._StoreTrueAction)


def _single(kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` with its action replaced by the repeat-noting one (collecting flags unchanged)."""
    action = kw.get("action", "store")
    if action == "store":
        return {**kw, "action": _STORE}
    if action == "store_true":
        return {**kw, "action": _STORE_TRUE}
    return kw


def check_flags(args: argparse.Namespace) -> None:
    """Refuse a single-valued flag given twice, and an empty ``--out`` (one line each)."""
    repeated = getattr(args, _REPEATED, [])
    if repeated:
        raise ParameterError(f"{', '.join(repeated)} given more than once; give each flag once "
                             "(--condition and --cost collect: give them once per value)")
    if getattr(args, "out", None) is not None and not str(args.out).strip():
        raise ParameterError("--out is empty; name the new run folder (or leave --out out)")


def given_flags(args: argparse.Namespace) -> list[str]:
    """The spec flags set on the command line (``--cpu-interval`` included), in FLAGS order."""
    given = [FLAGS[f][0] for f in FLAGS if getattr(args, _dest(f)) not in (None, False)]
    if args.cpu_interval is not None:
        given.append(CPU_INTERVAL[0])
    return given


def _dest(field: str) -> str:
    flag, kw = FLAGS[field]
    return str(kw.get("dest", flag.lstrip("-").replace("-", "_")))


def add_run_flags(p: argparse.ArgumentParser, *, out_required: bool = False) -> None:
    """The experiment, ``--spec``, a flag per :data:`FLAGS` field, ``--out``, ``--no-progress``."""
    p.add_argument("experiment", nargs="?",
                   help="C255 ... C260, or C259-as-run (see nrm experiments)")
    p.add_argument("--spec", metavar="FILE.json", default=None, action=_STORE,
                   help="the whole run specification as JSON ('-': standard input)")
    for field, (flag, kw) in FLAGS.items():
        p.add_argument(flag, default=None, **_single(kw))
        if field == "costs":
            p.add_argument(CPU_INTERVAL[0], default=None, **_single(CPU_INTERVAL[1]))
    p.add_argument("--out", required=out_required, default=None, action=_STORE,
                   help="new run folder" + ("" if out_required else
                                            " (default data/runs/<exp>-<variant>-<time>)"))
    p.add_argument("--no-progress", action=_STORE_TRUE, help="no progress bar")


def spec_from_flags(args: argparse.Namespace) -> RunSpec:
    """The :class:`RunSpec` the parsed flags describe (bad input raises, nothing is written)."""
    check_flags(args)
    given = given_flags(args)
    if args.spec is not None:
        if args.experiment or given:
            what = ", ".join(([args.experiment] if args.experiment else []) + given)
            raise ParameterError(f"--spec holds the whole specification; drop {what} "
                                 "(or edit the file)")
        if args.spec == "-":
            return RunSpec.from_stdin()
        return RunSpec.from_file(args.spec)
    if not args.experiment:
        raise ParameterError("give an experiment (C255 ... C260) or --spec FILE.json")
    kw: dict[str, Any] = {"scale": args.scale or DEFAULT_SCALE}
    for field in FLAGS:
        value = getattr(args, _dest(field))
        if value is None or field == "scale":
            continue
        if field == "conditions":
            value = tuple(value)
        elif field == "costs":
            from nrm.sim.costs import parse_cost_overrides

            value = parse_cost_overrides(value)
        kw[field] = value
    if args.cpu_interval is not None:
        kw["cpu_interval"] = args.cpu_interval
    return RunSpec(args.experiment, **kw)
