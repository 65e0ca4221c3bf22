"""``nrm check-lock``: is requirements.lock in step with pyproject.toml (and this environment)?"""

from __future__ import annotations

import argparse
from typing import Any

from nrm import paths
from nrm.exceptions import LockError
from nrm.lockfile import FIX, LOCK, installed_mismatches, out_of_step, read_lock


def _cmd_check(args: argparse.Namespace) -> int:
    problems = out_of_step(args.pyproject, args.lock)
    if problems:
        raise LockError("requirements.lock is out of step with pyproject.toml: "
                        + "; ".join(problems) + f"; {FIX}")
    n = len(read_lock(args.lock))
    msg = f"requirements.lock in step with pyproject.toml ({n} pinned lines)"
    if args.installed:
        wrong = installed_mismatches(args.lock)
        if wrong:
            raise LockError("this environment differs from requirements.lock: "
                            + "; ".join(wrong) + "; run `make setup`")
        msg += "; this environment holds exactly the locked versions"
    print(msg)
    return 0


def register(sub: Any) -> None:
    """``nrm check-lock [--installed]``."""
    p = sub.add_parser("check-lock", help="is requirements.lock in step with pyproject.toml "
                       "(and installed)?")
    p.add_argument("--installed", action="store_true",
                   help="also check that this environment holds exactly the locked versions")
    p.add_argument("--lock", default=str(LOCK), help=argparse.SUPPRESS)
    p.add_argument("--pyproject", default=str(paths.ROOT / "pyproject.toml"),
                   help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_check)
