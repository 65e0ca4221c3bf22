"""``nrm bench [--quick] [--budget SCALE]``: simulator speed, probe overhead, build budgets."""

from __future__ import annotations

import argparse
from typing import Any

from nrm.run.scales import SCALES


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="speed and probe-overhead benchmarks (make bench)")
    p.add_argument("--quick", action="store_true",
                   help="fewer cycles (a minute instead of several)")
    p.add_argument("--budget", choices=[n for n, s in SCALES.items() if s.budget], default=None,
                   help="instead: time a whole first make paper at this scale against its "
                        "budget (smoke study <= 2 min; default study <= 22 min, whole <= 30 "
                        "min; nrm/build/budget.py)")
    p.add_argument("--budget-out", default=None, metavar="DIR",
                   help="with --budget: build into DIR (kept) instead of a temporary folder")
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    if args.budget is not None:
        from nrm.build.budget import run_budget

        return run_budget(args.budget, out=args.budget_out)
    from nrm.build.bench import run_all

    return run_all(quick=args.quick)
