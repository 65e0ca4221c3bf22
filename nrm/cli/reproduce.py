"""``nrm reproduce ID [--build DIR]``: re-make one table or figure, check it against its stamp.

The work is in :mod:`nrm.build.reproduce`, imported by name when the command runs: ``nrm.cli``
imports every command module, so a plain import here would make the paper's renderer a
dependency of everything the import walk (:mod:`nrm.deps`, the build) reaches through the
command line, the runs included, though a run never executes this command.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("reproduce", help="re-make one table or figure and check it against its "
                       "provenance stamp")
    p.add_argument("id", help="item id from paper/provenance.json, e.g. table:runs or "
                   "figure:runtime_timeline")
    p.add_argument("--build", default=".", help="the build folder (make paper's OUT; default .)")
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    module = importlib.import_module("nrm.build.reproduce")
    code: int = module.handle(args)
    return code
