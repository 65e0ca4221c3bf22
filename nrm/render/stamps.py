"""The paper's tables and figures as items: a provenance stamp placeholder after each, tables
numbered by caption, and the records the stamps show (``paper/provenance.json``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_text
from nrm.exceptions import LogError
from nrm.render.inputs import PaperInputs
from nrm.render.paper_figures import figure_data

__all__ = ["STAMP", "Composed", "attach_tables", "number_tables", "provenance_records",
           "stamp_figures", "stamped_items"]


STAMP = re.compile(r"<!--nrm-stamp:([a-z]+:[a-z0-9_\-]+)-->")
_FIGURE = re.compile(r"!\[Figure \d+\]\(([^)\s]+)\)\n\n\*Figure \d+\.\*[^\n]*\n")
_CAPTION = re.compile(r"\*Table \[\[([a-z0-9_]+)\]\]\.")


def stamp_figures(text: str) -> str:
    """A stamp placeholder after every figure's caption (keyed by the image's file stem)."""
    return _FIGURE.sub(lambda m: f"{m.group(0)}\n<!--nrm-stamp:figure:{Path(m.group(1)).stem}-->\n",
                       text)


_TABLE_MARK = re.compile(r"<!--nrm-table:(\d+)-->\n")


@dataclass
class Composed:
    """The paper's Markdown with a placeholder where each stamp goes, and what it stamps."""

    text: str
    tables: dict[str, pd.DataFrame]  # "table:key" -> the values shown
    items: list[tuple[str, int, str]]  # (id, number, caption) in page order

    def render(self, stamps: Mapping[str, str]) -> str:
        """The text with each placeholder replaced by ``stamps[id]``."""
        return STAMP.sub(lambda m: stamps[m.group(1)], self.text)


def attach_tables(text: str, frames: list[pd.DataFrame]) -> tuple[str, dict[str, pd.DataFrame]]:
    """Swap each table marker for a stamp placeholder, keyed by the table's caption: the
    paragraph right before the table or, when that is none, the one right after it (the stamp
    then follows the caption)."""
    tables: dict[str, pd.DataFrame] = {}
    for m in reversed(list(_TABLE_MARK.finditer(text))):
        end = text.find("\n\n", m.end())
        end = len(text) if end < 0 else end
        before = text[:m.start()].rstrip("\n").rsplit("\n\n", 1)[-1].lstrip("\n")
        after_start = end + 2
        after = text[after_start:].split("\n\n", 1)[0]
        cap_before, cap_after = _CAPTION.match(before), _CAPTION.match(after)
        if cap_before:
            key, at = cap_before.group(1), end
        elif cap_after:
            key, at = cap_after.group(1), min(len(text), after_start + len(after))
        else:
            raise LogError("a table of the paper has no caption (*Table [[key]]. ...*) right "
                           f"before or after it: {before[:80]!r}")
        item = f"table:{key}"
        if item in tables:
            raise LogError(f"two tables share the caption key {key!r}")
        tables[item] = frames[int(m.group(1))]
        text = (text[:m.start()] + text[m.end():at] + f"\n\n<!--nrm-stamp:{item}-->"
                + text[at:])
    return text, tables


def stamped_items(text: str) -> list[tuple[str, int, str]]:
    """(id, number, caption) of every stamped table and figure, in page order."""
    out = []
    for m in STAMP.finditer(text):
        item = m.group(1)
        kind, key = item.split(":", 1)
        word = "Table" if kind == "table" else "Figure"
        caps = list(re.finditer(rf"\*{word} (\d+)\.\*? ?([^\n]*)", text[:m.start()]))
        if caps:
            number = int(caps[-1].group(1))
            caption = caps[-1].group(2).strip().rstrip("*").strip()
        else:
            number, caption = 0, key
        out.append((item, number, caption))
    return out


_TABLE_REF = re.compile(r"\[\[([a-z0-9_]+)\]\]")


def number_tables(text: str) -> str:
    """Replace ``[[key]]`` by table numbers, in the order the captions (``*Table [[key]].``)
    appear; a reference to a table without a caption is an error."""
    order: dict[str, int] = {}
    for key in re.findall(r"\*Table \[\[([a-z0-9_]+)\]\]\.", text):
        order.setdefault(key, len(order) + 1)

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in order:
            raise LogError(f"the paper refers to table {m.group(1)!r}, which has no caption")
        return str(order[m.group(1)])

    return _TABLE_REF.sub(sub, text)


def provenance_records(inp: PaperInputs, comp: Composed, paper_dir: Path,
                       root: Path) -> dict[str, dict[str, Any]]:
    """Write each table's values to ``paper/tables/<key>.csv`` and return the stamp records."""
    from nrm import provenance as P
    from nrm.instrument.sysinfo import git_info

    values_files: dict[str, str] = {}
    data: dict[str, str] = {}
    for item, df in comp.tables.items():
        path = paper_dir / "tables" / f"{item.split(':', 1)[1]}.csv"
        atomic_write_text(path, P.frame_csv(df))
        values_files[item] = os.path.relpath(path, root)
        data[item] = P.data_hash(P.read_csv_text(P.frame_csv(df)))
    for item, _, _ in comp.items:
        if item.startswith("figure:"):
            data[item] = P.data_hash(figure_data(inp, item.split(":", 1)[1]))
    git = git_info(paths.ROOT) or {}
    run_commits = sorted({str((r.meta.get("context") or {}).get("git", {}).get("commit"))
                          for r in inp.runs.values()} - {"None"})
    if run_commits:
        git = {**git, "runs_commits": run_commits}
    return P.build_records(
        comp.items, runs=inp.runs, scale=inp.scale,
        analysis_dir=inp.analysis_dir or paper_dir, executed_dir=Path(inp.executed_dir),
        root=root, data=data, values_files=values_files, git=git)
