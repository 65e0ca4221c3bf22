"""``nrm scales names SCALE | show [SCALE] | check SCALE --seed S --study 0|1 | retire RUN_DIR``:
the presets of ``make paper``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("scales", help="the SCALE presets of make paper (nrm/run/scales.py)")
    verbs = p.add_subparsers(dest="verb", required=True)
    names = verbs.add_parser("names", help="the planned run names of SCALE (make reads them)")
    names.add_argument("scale")
    names.set_defaults(handler=_names)
    show = verbs.add_parser("show", help="print the presets (of one scale, or all)")
    show.add_argument("scale", nargs="?", default=None)
    show.set_defaults(handler=_show)
    check = verbs.add_parser("check", help="check make paper's variables (one line on error)")
    check.add_argument("scale")
    check.add_argument("--seed", default="", help="SEED (empty: the scale's seeds)")
    check.add_argument("--study", default="1", help="STUDY (1 or 0)")
    check.add_argument("--out", default=".", help="OUT")
    check.set_defaults(handler=_check)
    retire = verbs.add_parser("retire", help="move an out-of-date run folder to .superseded/")
    retire.add_argument("run_dir")
    retire.set_defaults(handler=_retire)


def _names(args: argparse.Namespace) -> int:
    from nrm.run.scales import get_scale

    print(" ".join(get_scale(args.scale).names()))
    return 0


def _check(args: argparse.Namespace) -> int:
    from nrm.build.pipeline import Build

    Build.from_vars(args.scale, args.out, args.seed, args.study)
    return 0


def _show(args: argparse.Namespace) -> int:
    from nrm.run.scales import SCALES, describe, get_scale

    chosen = [get_scale(args.scale)] if args.scale is not None else list(SCALES.values())
    print("\n".join(describe(s) for s in chosen))
    return 0


def _retire(args: argparse.Namespace) -> int:
    from nrm.run.scales import retire

    moved = retire(args.run_dir)
    if moved is not None:
        print(f"moved out-of-date run {args.run_dir} to {moved}")
    return 0
