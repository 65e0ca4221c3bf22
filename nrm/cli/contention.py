"""``nrm contention``: the contention arm's command (H1; :mod:`nrm.study.contention`)."""

from __future__ import annotations

import argparse
from typing import Any

from nrm.exceptions import ParameterError
from nrm.study.contention import KINDS, run_contention


def _cpus(text: str) -> tuple[int, ...]:
    try:
        cpus = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: CPU numbers, e.g. 0 or 0,1") from None
    if not cpus or min(cpus) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: CPU numbers >= 0, e.g. 0 or 0,1")
    return cpus


def register(sub: Any) -> None:
    """``nrm contention``: the contention arm."""
    from nrm.cli.runflags import add_run_flags

    p = sub.add_parser(
        "contention",
        help="run with competing CPU-bound or I/O-bound processes beside it (H1 arm)",
        description="Start N competing processes (a busy loop, or a writer that fsyncs 64 KiB "
        "blocks), run the experiment in this process, stop them; run.json records each "
        "competitor's PID and CPU time. A competitor that dies early fails the run.",
    )
    add_run_flags(p, out_required=True)
    p.add_argument("--kind", choices=KINDS, required=True, help="the competitors' kind")
    p.add_argument(
        "--competitors",
        type=int,
        required=True,
        metavar="N",
        help="number of competing processes (0: none, the arm's A/A level)",
    )
    p.add_argument(
        "--pin",
        type=_cpus,
        default=None,
        metavar="CPUS",
        help="confine the run and its competitors to these CPUs (e.g. 0)",
    )
    p.set_defaults(handler=_cmd_contention)


def _cmd_contention(args: argparse.Namespace) -> int:
    from nrm.cli.runflags import spec_from_flags

    if args.competitors < 0:
        raise ParameterError(f"--competitors {args.competitors}: give a number >= 0")
    spec = spec_from_flags(args)  # bad input fails here, before anything is written
    meta = run_contention(
        spec,
        args.out,
        kind=args.kind,
        competitors=args.competitors,
        pin=args.pin,
        progress=not args.no_progress,
    )
    c = meta.get("contention") or {}
    cpu = [p.get("cpu_s") for p in c.get("processes", [])]
    print(
        f"contention {args.kind} x{args.competitors}: {meta.get('status')}, "
        f"{(meta.get('totals') or {}).get('runtime_s', float('nan')):.3f} s in conditions; "
        f"competitors' CPU s {', '.join(f'{x:.2f}' for x in cpu if x is not None) or '-'}"
    )
    return 0 if meta.get("status") == "complete" else 1
