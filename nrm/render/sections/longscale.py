"""The shipped long-scale reference study (``data/reference/build-long/``) in the paper.

The default build's long fixed-workload arms run 3000 cycles at 2 agents in 3 blocks: enough to
show a drift, too few blocks for a tight A/A band. One ``make study SCALE=long`` (3000 cycles at
4 agents, 4 blocks of the long arms) was run once and its study tables shipped; when they are
present this subsection shows its long arms and verdicts beside this build's, labelled as that
build's: another machine and day than this build, its numbers not this build's measurements.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.render.sections.study import long_arms_table
from nrm.render.sections.tableio import read_table
from nrm.render.text import num, table

__all__ = ["HEADING", "section"]

HEADING = "### The long scale: the shipped reference study"


def _machine(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / "machine.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _conditions(m: dict[str, Any]) -> str:
    cpu = m.get("cpu") or {}
    sweep = m.get("study") or {}
    commit = str((m.get("git") or {}).get("commit") or "?")[:7]
    minutes = (f"{float(sweep['sweep_s']) / 60:.0f} min"
               if isinstance(sweep.get("sweep_s"), (int, float)) else "? min")
    load = m.get("load_avg_during")
    load_text = (f"; 1-min load average during the sweep {num(load['min'])}-{num(load['max'])}"
                 if isinstance(load, dict) and "min" in load else "")
    return (f"`make study SCALE=long` at commit `{commit}` on {cpu.get('model', '?')} "
            f"({cpu.get('logical', '?')} logical cores), {sweep.get('runs_complete', '?')} runs "
            f"in {minutes} on {sweep.get('workers', '?')} worker(s), finished "
            f"{sweep.get('updated_at', m.get('built_at', '?'))}{load_text}")


def section(reference: Path | None = None, *, this_verdicts: pd.DataFrame | None = None
            ) -> str:
    """The subsection (Markdown). ``this_verdicts``: this build's study verdicts, to say where
    the two agree."""
    folder = Path(reference) if reference is not None else paths.REFERENCE_LONG
    study = folder / "study"
    long_drift = read_table(study / "long_drift.csv")
    verdicts = read_table(study / "verdicts.csv")
    if long_drift.empty or verdicts.empty:
        return (f"{HEADING}\n\nNo long-scale reference study is shipped "
                "(`data/reference/build-long/`); `make study SCALE=long` runs one (3000 cycles x "
                "4 agents in the long arms, 4 blocks; 42 and 40 min on 2 quiet cores in the two "
                "studies made).\n")
    m = _machine(folder)
    cycles = int(long_drift["cycles"].max())
    agents = int(long_drift["agents"].max())
    blocks = int(long_drift.groupby("arm").size().max())
    tab, frag = long_arms_table(long_drift)
    where = (study.relative_to(paths.ROOT).as_posix() if study.is_relative_to(paths.ROOT)
             else study.as_posix())

    def src(name: str) -> str:
        return f"`{where}/{name}`"

    parts = [HEADING, "",
             f"These numbers are **not this build's**: they come from the long-scale reference "
             f"study shipped in `{where}/` ({_conditions(m)}). Its long arms run **{cycles} "
             f"cycles x {agents} agents** in up to {blocks} blocks; its verdicts follow the "
             "same rules as this build's (`docs/hypothesis-rules.md`).", "",
             "*Table [[long_reference_arms]]. The long-scale reference study's long arms: per "
             "arm the medians over blocks, as in this build's own long-arm table when it has a "
             "study (raw drift: time against "
             f"the cycle, % per 1000 cycles; latency: per call{frag}). Source: "
             f"{src('long_drift.csv')}.*", "", table(tab), ""]
    keep = verdicts[verdicts["hypothesis"].isin(["H1", "H2", "H3", "H4", "H5"])]
    vt = keep[["hypothesis", "name", "verdict", "statistic", "n", "ci"]].rename(
        columns={"ci": "CI"})
    parts += ["*Table [[long_reference_verdicts]]. H1-H5 as the long-scale reference study "
              f"decides them (n: blocks or runs per deciding arm). Source: {src('verdicts.csv')}.*",
              "", table(vt), ""]
    if this_verdicts is not None and not this_verdicts.empty:
        here = dict(zip(this_verdicts["hypothesis"], this_verdicts["verdict"], strict=True))
        same = [h for h in keep["hypothesis"] if here.get(h) == dict(
            zip(keep["hypothesis"], keep["verdict"], strict=True))[h]]
        differ = [f"{h} ({here.get(h, 'not decided')} here, {v} there)"
                  for h, v in zip(keep["hypothesis"], keep["verdict"], strict=True)
                  if h not in same]
        parts.append("Against this build's study: "
                     + (f"the same verdict for {', '.join(same)}" if same else "no verdict alike")
                     + (f"; different for {'; '.join(differ)}" if differ else "") + ".")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
