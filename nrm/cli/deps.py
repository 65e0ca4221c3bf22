"""``nrm deps MODULE...``: the nrm source files those modules import, transitively (one a line)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("deps", help="source files an nrm module depends on (from its imports)")
    p.add_argument("modules", nargs="+", metavar="MODULE",
                   help="e.g. nrm.run.runner nrm.build.notebooks")
    p.add_argument("--absolute", action="store_true",
                   help="absolute paths (default: relative to the current folder when inside)")
    p.set_defaults(handler=_deps)


def _deps(args: argparse.Namespace) -> int:
    from nrm.deps import source_files

    here = Path.cwd().resolve()
    for path in source_files(args.modules):
        if not args.absolute and path.is_relative_to(here):
            print(os.path.relpath(path, here))
        else:
            print(path)
    return 0
