"""``nrm why``: what ``make paper`` would redo, and why (``make paper WHY=1``), running nothing."""

from __future__ import annotations

import os
from typing import Any

from nrm import paths


def register(sub: Any) -> None:
    p = sub.add_parser("why", help="list every step of make paper: up to date, or why it would "
                       "re-run (which file, parameter or package)")
    p.add_argument("--scale", default=None, help="the build's scale (default: the default scale)")
    p.add_argument("--out", default=".", help="the build's folder (default: this folder)")
    p.add_argument("--seed", default="", help="the build's SEED (empty: each run's own)")
    p.add_argument("--study", default="1", help="1: with the causal study; 0: without")
    p.add_argument("--files", action="store_true",
                   help="list every step's input files instead of the reasons")
    p.set_defaults(handler=_why)


def _why(args: Any) -> int:
    from nrm.build.pipeline import Build, format_why, tasks, why
    from nrm.run.scales import DEFAULT_SCALE

    out = os.path.abspath(args.out)
    os.chdir(paths.ROOT)  # doit's file keys are relative to the project root
    b = Build.from_vars(args.scale or DEFAULT_SCALE, out, args.seed, args.study)
    if args.files:
        for d in tasks(b):
            print(f"{d['basename']}:{d['name']}")
            print("".join(f"    {f}\n" for f in d["file_dep"]), end="")
        return 0
    print(format_why(why(b)))
    return 0
