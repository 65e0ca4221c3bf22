"""``nrm check-html PAGE.html``: open the paper in headless Chromium and check what a reader
sees (``make check-html``); exit 1 when a check fails."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("check-html", help="check paper.html in headless Chromium as a reader "
                       "sees it (screenshots beside the page)")
    p.add_argument("page", help="the HTML page, e.g. paper/paper.html")
    p.set_defaults(handler=_check)


def _check(args: Any) -> int:
    from nrm.build.htmlcheck import check_html

    res = check_html(args.page)
    print(res.report())
    return 0 if res.ok else 1
