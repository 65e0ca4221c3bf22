"""The paper's "against the reference build" section: this build's tables beside the shipped
reference build's (``data/reference/build-default/``), table by table
(:mod:`nrm.render.compare`)."""

from __future__ import annotations

import json
from typing import Any

from nrm import paths
from nrm.render.text import num
from nrm.run.scales import REFERENCE_SCALE

__all__ = ["REFERENCE_BUILD", "section"]

REFERENCE_BUILD = paths.REFERENCE_BUILD


def _machine() -> str:
    try:
        m = json.loads((REFERENCE_BUILD / "machine.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "machine not described"
    cpu = m.get("cpu") or {}
    mem = m.get("memory_total_bytes")
    return (f"{cpu.get('model', '?')}, {cpu.get('logical', '?')} logical cores, "
            f"{num(mem / 2**30) + ' GiB' if mem else '? GiB'} RAM, Python "
            f"{(m.get('python') or {}).get('version', '?')}, allocator "
            f"{(m.get('allocator') or {}).get('name', '?')}, commit "
            f"`{str((m.get('git') or {}).get('commit', '?'))[:12]}`, "
            f"built {m.get('built_at', '?')}")


def section(inp: Any, number: int = 10) -> str:
    """The section (Markdown), numbered ``number``; ``inp`` needs ``analysis_dir``, ``scale``."""
    from nrm.render.compare import compare_builds

    head = f"## {number}. Against the reference build\n"
    if not (REFERENCE_BUILD / "phase1a").is_dir():
        return head + ("\nNo reference build is shipped (`data/reference/build-default/`), so "
                       "this build is not compared with one.\n")
    if inp.analysis_dir is None:
        return head + "\nThis build's tables were not located; nothing compared.\n"
    cmp = compare_builds(REFERENCE_BUILD, inp.analysis_dir)
    t = cmp.summary[["table", "rows", "rows_only_in_one", "cells", "cells_differing",
                     "median_ratio", "min_ratio", "max_ratio", "verdicts_agree",
                     "within_noise"]].rename(columns={
                         "rows": "rows in both", "rows_only_in_one": "rows in one build only",
                         "cells": "numeric cells", "cells_differing": "differing",
                         "median_ratio": "median ratio (this / reference)",
                         "min_ratio": "smallest ratio", "max_ratio": "largest ratio",
                         "verdicts_agree": "verdicts agreeing", "within_noise": "within A/A noise"})
    from nrm.render.text import table

    noise = ("The noise floor is unknown: neither build records an A/A arm (two identical arms "
             "whose spread bounds what a difference between builds can mean), so no difference "
             "below is called significant or insignificant."
             if cmp.noise is None else
             f"A ratio is within the combined A/A noise when |log ratio| <= {num(cmp.noise)}.")
    ref_scale = REFERENCE_SCALE
    same_scale = inp.scale == ref_scale
    verdict_diff = cmp.cells[(cmp.cells["column"].isin(["verdict", "prediction_holds"]))
                             & cmp.cells["differs"]]
    vtxt = ("Every verdict agrees with the reference build." if verdict_diff.empty else
            f"{len(verdict_diff)} verdict(s) differ from the reference build"
            + (" (the first 8)" if len(verdict_diff) > 8 else "") + ": "
            + "; ".join(f"{r.table} {r.row}: {r.a} there, {r.b} here"
                        for r in verdict_diff.head(8).itertuples()) + ".")
    return (
        head
        + "\nThe project ships the tables of one default-scale build made on a named reference "
        f"machine ({_machine()}). Each of this build's analysis tables is compared with the "
        "reference's cell by cell: the ratio this build / reference for every numeric cell, and "
        "whether each verdict agrees. "
        + ("Both are default-scale builds, so the ratios measure this machine against the "
           "reference machine (and run-to-run noise)." if same_scale else
           f"This build ran at scale `{inp.scale}`, the reference at `{ref_scale}`: runtimes and "
           "counts scale with the run length, so the ratios mostly show the change of scale, "
           "not a disagreement.")
        + f" {noise} `nrm compare-builds A B` makes the same comparison for any two builds.\n\n"
        f"{vtxt}\n\n"
        "*Table [[reference]]. This build against the reference build, table by table. "
        + f"Source: `data/reference/build-default/`, `data/analysis/{inp.scale}/`."
        + "*\n\n"
        f"{table(t)}\n"
    )
