"""``nrm longrun --spec FILE --out DIR``: one long fixed-workload run in child processes, its
folder in RAM, optionally a fresh process every K cycles (:mod:`nrm.run.longrun`; the study's
long arms)."""

from __future__ import annotations

import argparse
from typing import Any

from nrm.cli.argtypes import positive_int


def register(sub: Any) -> None:
    p = sub.add_parser(
        "longrun",
        help="a long run in child processes, its databases in RAM, "
        "optionally restarted every K cycles (study long arms)",
    )
    p.add_argument("--spec", required=True, help="the RunSpec as JSON")
    p.add_argument("--out", required=True, help="new run folder")
    p.add_argument(
        "--where",
        choices=("ram", "disk"),
        default="ram",
        help="run folder (and so the SQLite databases) in RAM or on disk",
    )
    p.add_argument(
        "--restart-every",
        type=positive_int,
        default=None,
        metavar="K",
        help="resume the run in a fresh process every K cycles",
    )
    p.add_argument("--no-progress", action="store_true", help="(no progress bar either way)")
    p.set_defaults(handler=_cmd_longrun)


def _cmd_longrun(args: argparse.Namespace) -> int:
    from nrm.run.longrun import run_long
    from nrm.run.spec import RunSpec

    spec = RunSpec.from_file(args.spec)
    meta = run_long(spec, args.out, where=args.where, restart_every=args.restart_every)
    hops = meta.get("hops") or []
    print(
        f"longrun {args.where}: {meta.get('status')}, {len(hops)} process(es), "
        f"{sum(h['process_wall_s'] for h in hops):.1f} s"
    )
    return 0 if meta.get("status") == "complete" else 1
