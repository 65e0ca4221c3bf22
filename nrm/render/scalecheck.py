"""No cross-scale statement: a number set beside the paper's must say at which scale it was
measured, or that it is predicted at the paper's parameters (issue #24).

The paper's headline numbers (C256 +71.6 % over C255, the 160-190x caching speedup) are about
runs of 3000 cycles x 100 agents; the compendium measures far smaller runs. :func:`unscaled`
splits a Markdown text into statements (a paragraph, a bullet, or a table with its caption)
and returns those that carry one of the paper's headline numbers *and* a number of their own
(a per cent or a ratio) but no scale: neither ``N cycles x M agents`` nor ``at the paper's
parameters``. README, the paper's Summary and its Section 7 must have none
(``tests/test_scale_text.py``).
"""

from __future__ import annotations

import re

__all__ = ["PAPER_NUMBERS", "SCALE", "section_text", "statements", "unscaled"]

#: The paper's headline numbers as texts write them.
PAPER_NUMBERS = re.compile(r"\+?71\.6\s?%|160\s?[–-]\s?190\s?(?:×|x|-fold)?")
#: A scale statement.
SCALE = re.compile(r"\d[\d,]*\s+cycles\s+x\s+\d+\s+agents|at the paper's parameters",
                   re.IGNORECASE)
#: A number of the text's own: a per cent or a ratio (after the paper's numbers and the
#: confidence levels are taken out).
OWN_NUMBER = re.compile(r"[−+-]?\d+(?:\.\d+)?\s?(?:%|×)")
_LEVEL = re.compile(r"\d+(?:\.\d+)?\s?%\s+(?:CI|interval|HAC)")
_BULLET = re.compile(r"^\s*(?:[*-]|\d+\.)\s+")


def statements(text: str) -> list[str]:
    """Paragraphs, bullets (each its own statement) and tables (with the paragraph before
    them, their caption or header)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        if not any(x.strip() for x in lines):
            continue
        if all(x.lstrip().startswith("|") for x in lines if x.strip()):
            if out:  # a table reads with its caption
                out[-1] = out[-1] + "\n" + block
            else:
                out.append(block)
            continue
        current: list[str] = []
        for line in lines:
            if _BULLET.match(line) and current:
                out.append("\n".join(current))
                current = []
            current.append(line)
        out.append("\n".join(current))
    return out


def unscaled(text: str) -> list[str]:
    """The statements of ``text`` that set a number of their own beside the paper's headline
    numbers without saying at which scale (module docstring)."""
    bad = []
    for st in statements(text):
        if not PAPER_NUMBERS.search(st) or SCALE.search(st):
            continue
        rest = _LEVEL.sub(" ", PAPER_NUMBERS.sub(" ", st))
        if OWN_NUMBER.search(rest):
            bad.append(st)
    return bad


def section_text(markdown: str, heading: str) -> str:
    """The text of the section whose ``## `` heading starts with ``heading`` (up to the next
    ``## `` heading); '' when there is none."""
    m = re.search(rf"(?m)^## {re.escape(heading)}.*$", markdown)
    if m is None:
        return ""
    nxt = re.search(r"(?m)^## ", markdown[m.end():])
    return markdown[m.end(): m.end() + nxt.start()] if nxt else markdown[m.end():]
