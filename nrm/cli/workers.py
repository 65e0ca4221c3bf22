"""``nrm workers``: one process per condition (the worker arm), and the run flags it shares."""

from __future__ import annotations

import argparse
from typing import Any

from nrm.study.workers import run_workers


def add_run_flags(p: Any) -> None:
    """The ``nrm run`` flags that build a spec (for commands that run specs their own way)."""
    p.add_argument("experiment", help="C255 ... C260 (C256 for the study)")
    p.add_argument("--out", required=True, help="new run folder")
    p.add_argument("--scale", default=None)
    p.add_argument("--variant", default=None)
    p.add_argument("--cycles", type=int, default=None)
    p.add_argument("--max-agents", type=int, default=None)
    p.add_argument("--cpu-interval", type=float, default=None)
    p.add_argument("--metrics", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--cost", action="append", default=None, metavar="SWITCH=VALUE")
    p.add_argument("--allocator", default=None)
    p.add_argument("--condition", action="append", default=None)
    p.add_argument("--no-progress", action="store_true")


def spec_from_flags(args: argparse.Namespace, **extra: Any) -> Any:
    """A :class:`nrm.run.spec.RunSpec` from :func:`add_run_flags`' flags (bad input raises)."""
    from nrm.cli.run import parse_cost
    from nrm.run.scales import DEFAULT_SCALE
    from nrm.run.spec import RunSpec

    kw: dict[str, Any] = {"scale": args.scale or DEFAULT_SCALE}
    for name in ("variant", "cycles", "max_agents", "cpu_interval", "metrics", "seed",
                 "allocator"):
        value = getattr(args, name)
        if value is not None:
            kw[name] = value
    if args.cost:
        kw["costs"] = parse_cost(args.cost)
    if args.condition:
        kw["conditions"] = tuple(args.condition)
    return RunSpec(args.experiment, **kw, **extra)


def register(sub: Any) -> None:
    """``nrm workers``: the worker-process arm."""
    p = sub.add_parser(
        "workers",
        help="run an experiment's conditions each in a fresh process (worker-process arm)",
        description="Each condition of the experiment runs as its own 'nrm run --spec' "
        "process, in the paper's order; the logs are merged into one run folder.",
    )
    add_run_flags(p)
    p.set_defaults(handler=_cmd_workers)


def _cmd_workers(args: argparse.Namespace) -> int:
    spec = spec_from_flags(args)  # bad input fails here, before anything is written
    meta = run_workers(spec, args.out, progress=not args.no_progress)
    pids = [w["pid"] for w in meta["workers"]]
    print(f"worker arm {meta['name']}: {meta['status']}, {len(pids)} processes (PIDs "
          f"{', '.join(map(str, pids))}), {meta['totals']['runtime_s']:.2f} s in conditions")
    return 0 if meta["status"] == "complete" else 1
