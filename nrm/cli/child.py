"""``nrm child SPEC.json --out DIR`` (``python -m nrm.cli child``): the one entry of every
process hop, which reads its :class:`~nrm.run.spec.RunSpec` from a file (:mod:`nrm.run.child`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm.cli.argtypes import positive_int
from nrm.exceptions import ParameterError


def register(sub: Any) -> None:
    p = sub.add_parser("child", help="run one RunSpec file (the entry of every process hop)",
                       description="run one RunSpec file (every process hop: the allocator "
                                   "child, the study's runs, the worker arm's conditions)")
    p.add_argument("spec", nargs="?", help="the RunSpec as JSON ('-': standard input)")
    p.add_argument("--out", default=None, help="new run folder")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run as it was specified")
    p.add_argument("--pause-at", metavar="STEP", type=positive_int, default=None,
                   help="stop at the first checkpoint at or after STEP (run.json "
                        "'interrupted', exit status 75) to resume in a fresh process")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_cmd_child)


def _cmd_child(args: argparse.Namespace) -> int:
    from nrm.run import child

    progress = not args.no_progress
    if args.resume is not None:
        if args.spec is not None:
            raise ParameterError("--resume continues a run as it was specified; give no spec")
        meta = child.resume_run(Path(args.resume), progress=progress, pause_at=args.pause_at)
        child.print_summary(meta)
        return 0 if meta.get("status") == "complete" else 1
    if args.spec is None:
        raise ParameterError("give a RunSpec file (or '-') or --resume RUN_DIR")
    return child.run(child.read_spec(args.spec), args.out, progress=progress,
                     pause_at=args.pause_at)
