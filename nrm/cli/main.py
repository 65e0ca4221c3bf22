"""The ``nrm`` command. :func:`main` is the only place errors become exit codes.

Every subcommand lives in its own module under :mod:`nrm.cli` and registers itself with
``register(sub)``; its handler returns an exit code or raises an :class:`NrmError` (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nrm import __version__
from nrm.exceptions import NrmError, RunInterruptedError

#: The subcommand modules (``nrm.cli.<name>``), in the order ``nrm --help`` lists them; each is
#: imported when the parser is built.
COMMANDS = ("listing", "run", "notebook", "scales", "deps", "bench", "check_lock", "plan", "why",
            "check_html", "control", "workers", "dbgrow", "dbcurve", "contention", "longrun",
            "child", "study", "reproduce", "compare", "readme", "watch", "predict",
            "predict_step")
#: The process hop (``nrm child``): every run of a study, every allocator arm and every worker
#: is one fresh process running it, so it is parsed alone; the other commands' modules would add
#: their imports (pandas, the statistics) to every hop: 0.95 s of imports against 0.11 s in one
#: ``python -X importtime`` reading of a hop each (2026-12-07, 2-vCPU VM).
HOP = "child"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``nrm`` parser with every subcommand, or with ``only`` that one."""
    p = argparse.ArgumentParser(prog="nrm", description="NRM runtime-variance compendium")
    p.add_argument("--version", action="version", version=f"nrm {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in (only,) if only else COMMANDS:
        importlib.import_module(f"nrm.cli.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(HOP if argv[:1] == [HOP] else None)
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
