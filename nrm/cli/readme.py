"""``nrm readme [--write|--check]``: README.md's findings section, generated from the shipped
reference build (``make readme`` rewrites it; the test suite checks it is current)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    from nrm.build import readme_findings as R

    p = sub.add_parser("readme", help="print, rewrite (--write) or check (--check) README.md's "
                       "findings section from the reference build")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="rewrite README.md's findings block")
    g.add_argument("--check", action="store_true",
                   help="exit 1 when README.md's block differs from the reference build's")
    p.add_argument("--build", type=Path, default=R.BUILD,
                   help="the build folder (default: the shipped reference build)")
    p.add_argument("--readme", type=Path, default=R.README)
    p.set_defaults(handler=_readme)


def _readme(args: Any) -> int:
    from nrm.build import readme_findings as R

    if args.write:
        changed = R.write_readme(args.readme, args.build)
        print(f"{args.readme}: findings {'rewritten' if changed else 'already up to date'}")
    elif args.check:
        text = args.readme.read_text(encoding="utf-8")
        if R.current_block(text) != R.findings_markdown(args.build):
            print(f"{args.readme}: findings block is stale: run make readme", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(R.findings_markdown(args.build))
    return 0
