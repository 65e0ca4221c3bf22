"""``nrm workers``: one process per condition (the worker arm)."""

from __future__ import annotations

import argparse
from typing import Any

from nrm.cli.runflags import add_run_flags, spec_from_flags
from nrm.study.workers import run_workers


def register(sub: Any) -> None:
    """``nrm workers``: the worker-process arm."""
    p = sub.add_parser(
        "workers",
        help="run an experiment's conditions each in a fresh process (worker-process arm)",
        description="Each condition of the experiment runs as its own process (nrm child "
        "SPEC.json), in the paper's order; the logs are merged into one run folder.",
    )
    add_run_flags(p, out_required=True)
    p.set_defaults(handler=_cmd_workers)


def _cmd_workers(args: argparse.Namespace) -> int:
    spec = spec_from_flags(args)  # bad input fails here, before anything is written
    meta = run_workers(spec, args.out, progress=not args.no_progress)
    pids = [w["pid"] for w in meta["workers"]]
    print(f"worker arm {meta['name']}: {meta['status']}, {len(pids)} processes (PIDs "
          f"{', '.join(map(str, pids))}), {meta['totals']['runtime_s']:.2f} s in conditions")
    return 0 if meta["status"] == "complete" else 1
