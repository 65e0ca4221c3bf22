"""``nrm run``: build one :class:`~nrm.run.spec.RunSpec` (from flags or a JSON file) and run it.

Flags left out take the scale's value (``--scale``, default
:data:`nrm.run.scales.DEFAULT_SCALE`), the
same values the run notebook takes with no parameters. The flags are :mod:`nrm.cli.runflags`'
(one per spec field). With an allocator the run happens in a child process that receives the
spec as JSON on its standard input (:mod:`nrm.run.child`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm.cli.runflags import FLAGS, add_run_flags, check_flags, given_flags, spec_from_flags
from nrm.exceptions import ParameterError


def register(sub: Any) -> None:
    r = sub.add_parser("run", help="run an experiment into a new run folder")
    add_run_flags(r)
    r.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue an interrupted run")
    r.add_argument("--force", action="store_true",
                   help="run even when the estimated output exceeds the free disk space")
    r.set_defaults(handler=run, resume_hint="resume with `nrm run --resume RUN_DIR`")


def run(args: argparse.Namespace) -> int:
    from nrm.run import child

    progress = not args.no_progress
    if args.resume is not None:
        check_resume_flags(args)
        if args.allocator is not None:
            return child.resume_in_child(Path(args.resume), args.allocator, progress=progress)
        meta = child.resume_run(Path(args.resume), progress=progress)
        print_summary(meta)
        return 0 if meta.get("status") == "complete" else 1
    spec = spec_from_args(args)  # every check happens here, before anything is written
    if not args.force:
        from nrm import paths
        from nrm.run.runner import default_run_name
        from nrm.run.safety import check_room

        check_room(spec, Path(args.out) if args.out else paths.RUNS / default_run_name(spec))
    return child.run(spec, args.out, progress=progress)


#: Flags a resume takes: the process's allocator (the run continues under it) and the progress bar.
RESUME_FLAGS = (FLAGS["allocator"][0], "--no-progress")


def check_resume_flags(args: argparse.Namespace) -> None:
    """``--resume`` continues the run as its run.json specifies it: refuse any flag that would
    change it (silently ignoring ``--cycles`` and the like was the old behaviour)."""
    check_flags(args)
    if not str(args.resume).strip():
        raise ParameterError("--resume is empty; name the run folder to continue")
    given = [f for f in given_flags(args) if f not in RESUME_FLAGS]
    if args.out is not None:
        given.append("--out")
    if args.spec is not None:
        given.insert(0, "--spec")
    if args.experiment:
        given.insert(0, args.experiment)
    if given:
        raise ParameterError(
            f"--resume continues the run as its run.json specifies it; drop {', '.join(given)} "
            f"(to change the run, start a new one)")


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~nrm.run.spec.RunSpec` the parsed ``nrm run`` arguments describe."""
    return spec_from_flags(args)


def parse_cost(items: list[str]) -> dict[str, Any]:
    """``SWITCH=VALUE`` items -> overrides, each parsed by its switch's type (nrm/sim/costs.py)."""
    from nrm.sim.costs import parse_cost_overrides

    return parse_cost_overrides(items)


def print_summary(meta: dict[str, Any]) -> None:
    from nrm.run.child import print_summary as _print

    _print(meta)
