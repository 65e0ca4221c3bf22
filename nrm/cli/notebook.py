"""``nrm notebook NOTEBOOK OUTPUT [-p NAME VALUE ...]``: execute a notebook, parameters checked."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    from nrm.build.notebooks import NOTEBOOKS

    p = sub.add_parser("notebook", help="execute a notebook with validated parameters",
                       description="execute a notebook with validated parameters (papermill)")
    p.add_argument("notebook", help=f"{' | '.join(NOTEBOOKS)} or a path to an .ipynb")
    p.add_argument("output", help="executed copy (under data/executed/ or paper/)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"))
    p.add_argument("--log-output", action="store_true", help="echo cell output")
    p.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    from nrm.build.notebooks import execute as run_notebook
    from nrm.build.notebooks import parse_value

    params = {k: parse_value(v) for k, v in args.parameter}
    out = run_notebook(args.notebook, args.output, params, log_output=args.log_output)
    print(f"executed {args.notebook} -> {out}")
    return 0
