"""``nrm bench [--quick]``: simulator speed per preset and the probe's overhead (nrm/bench.py)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="speed and probe-overhead benchmarks (make bench)")
    p.add_argument("--quick", action="store_true",
                   help="fewer cycles (a minute instead of several)")
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from ..bench import run_all

    return run_all(quick=args.quick)
