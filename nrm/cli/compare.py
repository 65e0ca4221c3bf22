"""``nrm compare-builds A B``: compare the tables of two builds, table by table."""

from __future__ import annotations

import argparse
from typing import Any

from nrm.cli.argtypes import nonneg_int
from nrm.render import compare as _compare
from nrm.render.compare import compare_builds


def _handle(args: argparse.Namespace) -> int:
    cmp = compare_builds(args.a, args.b, scale=args.scale)
    print(cmp.report(max_cells=args.max_cells))
    return 0 if cmp.n_differences == 0 else 1


def register(sub: Any) -> None:
    """``nrm compare-builds A B``: exit 0 when the tables agree, 1 when they differ."""
    p = sub.add_parser("compare-builds", help="compare the tables of two builds, table by table",
                       description=_compare.__doc__.split("\n\n")[1] if _compare.__doc__ else None)
    p.add_argument("a", help="build folder A (OUT of make paper, data/analysis/<scale>, or "
                   "data/reference/build-default)")
    p.add_argument("b", help="build folder B")
    p.add_argument("--scale", default=None, help="which scale, when a folder holds several")
    p.add_argument("--max-cells", type=nonneg_int, default=20,
                   help="differing cells to list (20; 0 lists none)")
    p.set_defaults(handler=_handle)
