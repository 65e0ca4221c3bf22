"""``nrm watch``: watch a program (or a running PID) and say why it slowed down.

    nrm watch [--out DIR] [--hz N] -- python script.py ARGS
    nrm watch --pid PID [--out DIR]
    nrm watch report DIR
    nrm watch --arms allocator=malloc,jemalloc gc=freeze,disable --repeats 3 \
        [--workers N | --scheduler ADDRESS] -- python ...
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm.cli.argtypes import positive_int
from nrm.exceptions import WatchError
from nrm.run.scales import DEFAULT_SEED


def register(sub: Any) -> None:
    p = sub.add_parser(
        "watch",
        help="why did my long Python run slow down? watch any program, verdicts H1-H5",
        description="Watch a program (after --) or a running process (--pid) from /proc and, "
        "for a Python program it starts, from the inside (GC, arenas, nrm.mark work "
        "markers); write a run folder and print the drift and the H1-H5 verdicts. "
        "`nrm watch report DIR` renders a watch folder as HTML.",
    )
    p.add_argument("--out", type=Path, default=None,
                   help="folder to create (new or empty; default: a new folder "
                   "data/watch/NAME-YYYYMMDDTHHMMSSZ of the compendium (NRM_ROOT), -2, -3... "
                   "when taken)")
    p.add_argument("--hz", type=float, default=1.0, help="samples per second (1-10; default 1)")
    p.add_argument("--pid", type=int, default=None, help="attach to this running process")
    p.add_argument("--no-inside", action="store_true",
                   help="do not load the inside tier into the program (outside only)")
    p.add_argument("--arena-every", type=float, default=5.0, metavar="S",
                   help="seconds between pymalloc arena readings (0: never; default 5)")
    p.add_argument("--tracemalloc", action="store_true", help="also trace allocations (slow)")
    p.add_argument("--arms", nargs="+", default=None, metavar="KEY=V1,V2",
                   help="causal re-runs: allocator=malloc,jemalloc,mimalloc gc=freeze,disable")
    p.add_argument("--repeats", type=positive_int, default=3,
                   help="blocks of the arms (default 3)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None,
                       help="--arms: single-threaded workers of the LocalCluster (default 1: "
                            "runs never share a core)")
    where.add_argument("--scheduler", default=None,
                       help="--arms: address of an existing Dask scheduler, e.g. "
                            "tcp://host:8786")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the arms' random order")
    p.add_argument("--quiet", action="store_true", help="no live line, no printed verdicts")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- PROGRAM ARGS, or: report DIR")
    p.set_defaults(handler=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    rest = list(args.command)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if rest[:1] == ["report"] and args.pid is None:
        if len(rest) != 2:
            raise WatchError("usage: nrm watch report DIR")
        from nrm.watch.report import write_report

        page = write_report(Path(rest[1]))
        print(page)
        return 0
    if args.pid is not None and rest:
        raise WatchError("give either --pid PID or -- PROGRAM ARGS, not both")
    if args.pid is None and not rest:
        raise WatchError("nothing to watch: nrm watch [OPTIONS] -- PROGRAM ARGS, or --pid PID")
    from nrm.watch.session import WatchOptions, default_folder, watch

    out = args.out if args.out is not None else default_folder(rest or None, args.pid)
    if args.arms:
        if args.pid is not None:
            raise WatchError("--arms re-runs a program: give -- PROGRAM ARGS, not --pid")
        from nrm.watch.arms import parse_arms, run_arms

        return run_arms(rest, parse_arms(args.arms), out=out, unique=args.out is None,
                        repeats=args.repeats, hz=args.hz, seed=args.seed, quiet=args.quiet,
                        workers=args.workers or 1, scheduler=args.scheduler)
    if args.workers is not None or args.scheduler is not None:
        raise WatchError("--workers and --scheduler run the causal arms: give --arms too")
    opts = WatchOptions(out=out, unique=args.out is None, hz=args.hz, inside=not args.no_inside,
                        arena_s=args.arena_every, tracemalloc=args.tracemalloc,
                        quiet=args.quiet)
    result = watch(rest or None, opts, pid=args.pid)
    return result.exit_status
