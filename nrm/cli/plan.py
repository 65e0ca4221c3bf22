"""``nrm plan``: make paper's planned runs with an estimated time for this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.build.estimate import plan_text, summary
from nrm.exceptions import NrmError
from nrm.run.scales import DEFAULT_SCALE, SCALES


def _cmd_plan(args: argparse.Namespace) -> int:
    if args.summary is not None:
        print(summary(args.scale, args.summary))
        return 0
    if args.budget <= 0:
        raise NrmError(f"--budget must be > 0 seconds, got {args.budget}")
    runs_dir = args.runs_dir
    if runs_dir is None and args.out is not None:
        runs_dir = str(paths.Build(Path(args.out), args.scale).runs)
    print(plan_text(args.scale, runs_dir, budget_s=args.budget, study=not args.no_study),
          flush=True)
    return 0


def register(sub: Any) -> None:
    """``nrm plan [--scale S] [--out DIR | --runs-dir DIR] [--summary RUNS_DIR]``."""
    p = sub.add_parser("plan", help="list make paper's planned runs with an estimated time for "
                       "this machine (nothing is run)")
    p.add_argument("--scale", default=DEFAULT_SCALE, help=" | ".join(SCALES))
    p.add_argument("--out", default=None, help="make paper's OUT (the commit latency is "
                   "measured on its file system)")
    p.add_argument("--runs-dir", default=None, help="folder that will hold the run folders")
    p.add_argument("--budget", type=float, default=0.6,
                   help="seconds of model execution per planned run for the calibration")
    p.add_argument("--no-study", action="store_true",
                   help="leave out the causal study (make paper STUDY=0)")
    p.add_argument("--summary", metavar="RUNS_DIR", default=None,
                   help="instead: the time each planned run in RUNS_DIR took")
    p.set_defaults(handler=_cmd_plan)
