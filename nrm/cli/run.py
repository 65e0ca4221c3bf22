"""``nrm run``: build one :class:`~nrm.run.spec.RunSpec` (from flags or a JSON file) and run it.

Flags left out take the scale's value (``--scale``, default
:data:`nrm.run.scales.DEFAULT_SCALE`), the
same values the run notebook takes with no parameters. With an allocator the run happens in a
child process that receives the spec as JSON on its standard input (:mod:`nrm.run.child`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nrm.cli.argtypes import nonneg_float, positive_int
from nrm.exceptions import ParameterError
from nrm.run.spec import GC_MODES

#: Flags that build the spec (they cannot be combined with --spec).
_SPEC_FLAGS = ("experiment", "scale", "variant", "cycles", "max_agents", "condition",
               "cpu_interval", "metrics", "seed", "cost", "allocator", "flush_every",
               "arena_every", "checkpoint_every", "tracemalloc", "uss", "gc_mode",
               "pregrow_db_mb")


def register(sub: Any) -> None:
    r = sub.add_parser("run", help="run an experiment into a new run folder")
    r.add_argument(
        "experiment", nargs="?", help="C255 ... C260, or C259-as-run (see nrm experiments)"
    )
    r.add_argument("--spec", metavar="FILE.json", default=None,
                   help="the whole run specification as JSON ('-': standard input)")
    r.add_argument("--scale", default=None,
                   help="where unset values come from: smoke | default | full (default: default)")
    r.add_argument("--variant", default=None, help="unoptimized | optimized | lean")
    r.add_argument("--cycles", type=positive_int, default=None,
                   help="cycles per condition (the scale's)")
    r.add_argument("--max-agents", type=positive_int, default=None, help="agent cap (the scale's)")
    r.add_argument("--condition", action="append", default=None,
                   help="run only this condition (repeatable): OFF-OFF, ON-OFF, OFF-ON, ON-ON")
    r.add_argument("--cpu-interval", type=nonneg_float, default=None,
                   help="seconds the CPU sample blocks; same as --cost cpu_interval=S")
    r.add_argument("--metrics", default=None, help="live | fixed | replay:PATH (the scale's)")
    r.add_argument("--seed", type=int, default=None, help="seed for every random choice (0)")
    r.add_argument("--out", default=None,
                   help="new run folder (default data/runs/<exp>-<variant>-<time>)")
    r.add_argument("--cost", action="append", default=None, metavar="SWITCH=VALUE",
                   help="override one cost switch, e.g. --cost sqlite=false (variant 'custom')")
    r.add_argument("--allocator", default=None, help="pymalloc | malloc | jemalloc | mimalloc")
    r.add_argument("--gc-mode", default=None, choices=GC_MODES,
                   help="garbage collector after set-up: leave it, gc.disable() or gc.freeze()")
    r.add_argument("--pregrow-db", dest="pregrow_db_mb", type=float, default=None,
                   metavar="MB",
                   help="first fill the run's SQLite databases with MB MiB of model-shaped rows")
    r.add_argument("--flush-every", type=positive_int, default=None,
                   help="flush logs every K cycles (50)")
    r.add_argument("--arena-every", type=positive_int, default=None,
                   help="arena statistics every K cycles (100)")
    r.add_argument("--checkpoint-every", type=positive_int, default=None,
                   help="checkpoint every N cycles (a multiple of --flush-every; default: 30 s)")
    r.add_argument("--tracemalloc", action="store_true", default=None,
                   help="also record tracemalloc current/peak")
    r.add_argument("--uss", action="store_true", default=None, help="also record USS (slow)")
    r.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue an interrupted run")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)
    r.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nrm.run.runner import resume_run, run_experiment

    progress = not args.no_progress
    if args.resume is not None:
        if args.spec is not None or args.experiment:
            raise ParameterError("--resume continues a run as it was specified; "
                                 "give no experiment or --spec with it")
        if args.allocator is not None and not args.in_child:
            from nrm.run.child import resume_in_child

            return resume_in_child(Path(args.resume), args.allocator, progress=progress)
        meta = resume_run(Path(args.resume), progress=progress)
    else:
        spec = spec_from_args(args)  # every check happens here, before anything is written
        if spec.allocator is not None and not args.in_child:
            from nrm.run.child import run_in_child

            out = Path(args.out) if args.out is not None else None
            return run_in_child(spec, out, progress=progress)
        meta = run_experiment(spec, args.out, progress=progress)
    print_summary(meta)
    return 0 if meta.get("status") == "complete" else 1


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~nrm.run.spec.RunSpec` the parsed ``nrm run`` arguments describe."""
    from nrm.run.scales import DEFAULT_SCALE
    from nrm.run.spec import RunSpec

    if args.spec is not None:
        given = [f"--{n.replace('_', '-')}" for n in _SPEC_FLAGS
                 if n != "experiment" and getattr(args, n) is not None]
        if args.experiment or given:
            what = ", ".join(([args.experiment] if args.experiment else []) + given)
            raise ParameterError(f"--spec holds the whole specification; drop {what} "
                                 "(or edit the file)")
        if args.spec == "-":
            return RunSpec.from_json(sys.stdin.read(), source="standard input")
        return RunSpec.from_file(args.spec)
    if not args.experiment:
        raise ParameterError("nrm run needs an experiment (C255 ... C260), --spec FILE.json "
                             "or --resume RUN_DIR")
    kw: dict[str, Any] = {"scale": args.scale or DEFAULT_SCALE}
    for name in ("variant", "cycles", "max_agents", "cpu_interval", "metrics", "seed",
                 "allocator", "flush_every", "arena_every", "checkpoint_every", "tracemalloc",
                 "uss", "gc_mode", "pregrow_db_mb"):
        value = getattr(args, name)
        if value is not None:
            kw[name] = value
    if args.condition:
        kw["conditions"] = tuple(args.condition)
    if args.cost:
        kw["costs"] = parse_cost(args.cost)
    return RunSpec(args.experiment, **kw)


def parse_cost(items: list[str]) -> dict[str, Any]:
    """``SWITCH=VALUE`` items -> overrides, each parsed by its switch's type (nrm/sim/costs.py)."""
    from nrm.sim.costs import parse_cost_overrides

    return parse_cost_overrides(items)


def print_summary(meta: dict[str, Any]) -> None:
    print(f"run {meta.get('name')}: {meta.get('status')}")
    for cond, r in (meta.get("conditions") or {}).items():
        print(
            f"  {cond}: mean pop {r['mean']:.2f}, final {r['final']}, max {r['max']}, "
            f"runtime {r['runtime_s']:.2f} s, samples {r['samples']}, commits {r['commits']}"
        )
    syn = meta.get("synergy") or {}
    if syn.get("classification"):
        print(f"  synergy {syn['synergy']:+.3f} -> {syn['classification']}")
