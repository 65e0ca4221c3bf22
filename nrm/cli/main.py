"""The ``nrm`` command. :func:`main` is the only place errors become exit codes.

Every subcommand lives in its own module under :mod:`nrm.cli` and registers itself with
``register(sub)``; its handler returns an exit code or raises an :class:`NrmError` (exit 2).
"""

from __future__ import annotations

import argparse
import sys

from nrm import __version__
from nrm.cli import (
    bench,
    check_html,
    check_lock,
    child,
    compare,
    contention,
    control,
    dbcurve,
    dbgrow,
    deps,
    listing,
    longrun,
    notebook,
    plan,
    predict,
    predict_step,
    readme,
    reproduce,
    run,
    scales,
    study,
    watch,
    why,
    workers,
)
from nrm.exceptions import NrmError, RunInterruptedError

#: The subcommand modules, in the order ``nrm --help`` lists them.
COMMANDS = (listing, run, notebook, scales, deps, bench, check_lock, plan, why, check_html,
            control, workers, dbgrow, dbcurve, contention, longrun, child, study, reproduce,
            compare, readme, watch, predict, predict_step)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nrm", description="NRM runtime-variance compendium")
    p.add_argument("--version", action="version", version=f"nrm {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its message
        return int(exc.code or 0)
    try:
        code: int = args.handler(args)
        return code
    except NrmError as exc:
        kind = "stopped" if isinstance(exc, RunInterruptedError) else "error"
        print(f"nrm: {kind}: {exc}", file=sys.stderr)
        # 2: refused before anything ran; a run that stopped: the status its run.json records
        return int(getattr(exc, "exit_status", 2))
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", "")
        print("nrm: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
