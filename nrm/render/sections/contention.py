"""The contention arm (H1) in the study's section: its dose-response figure and paragraph.

Reads the tables :mod:`nrm.study.contention_analysis` writes into the study's analysis folder
(``contention_doses.csv``, ``contention_slopes.csv``); without them (a study made before the
arm, or without it) it draws nothing and says nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.render.sections.tableio import read_table
from nrm.render.text import num, table

__all__ = ["FIGURE", "dose_plot", "paragraph", "write_figure"]

FIGURE = "study_contention"
DOSES_CSV = "contention_doses.csv"
SLOPES_CSV = "contention_slopes.csv"


_read = read_table


def dose_plot(doses: pd.DataFrame) -> Any:
    """Time per agent-cycle over that with no competitor (95 % CI) against the number of
    competitors, one line per kind; the A/A band of the 0-competitor run shaded."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    band = doses[["band_lo", "band_hi"]].dropna()
    if len(band):
        ax.axhspan(
            band["band_lo"].iloc[0],
            band["band_hi"].iloc[0],
            color="0.88",
            lw=0,
            label="A/A band (0 competitors twice)",
        )
    for kind, colour, dx in (("cpu", "tab:red", -0.05), ("io", "tab:blue", 0.05)):
        sub = doses[doses["kind"] == kind].sort_values("competitors")
        if sub.empty:
            continue
        x = [dx + v for v in (0, *sub["competitors"])]
        y = [1.0, *sub["ratio"]]
        lo = [0.0, *(sub["ratio"] - sub["lo"]).fillna(0)]
        hi = [0.0, *(sub["hi"] - sub["ratio"]).fillna(0)]
        what = "busy loops" if kind == "cpu" else "fsync'ing writers"
        ax.errorbar(
            x, y, yerr=[lo, hi], fmt="o-", color=colour, ms=4, capsize=3, label=f"{kind}: {what}"
        )
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=2))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([0, 1, 2, 4])
    ax.set_xlabel("competing processes")
    ax.set_ylabel("time per agent-cycle / with none (log)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_figure(folder: str | Path) -> dict[str, Path]:
    """Draw :data:`FIGURE` from the folder's doses table (nothing without one)."""
    import matplotlib.pyplot as plt

    from nrm.render.figures import save_png

    folder = Path(folder)
    doses = _read(folder / DOSES_CSV)
    if doses.empty:
        return {}
    fig = dose_plot(doses)
    try:
        return {FIGURE: save_png(fig, folder / f"{FIGURE}.png")}
    finally:
        plt.close(fig)


def _pct(x: Any) -> str:
    x = float(x)
    return f"{x:+.1f} %" if math.isfinite(x) else "n/a"


def paragraph(folder: str | Path, src: str) -> list[str]:
    """The dose-response table and one sentence per kind (``src``: the source note)."""
    folder = Path(folder)
    slopes = _read(folder / SLOPES_CSV)
    doses = _read(folder / DOSES_CSV)
    if slopes.empty and doses.empty:
        return []
    parts = []
    if not doses.empty:
        tab = pd.DataFrame(
            {
                "competitors": [f"{r['kind']} x{r['competitors']}" for _, r in doses.iterrows()],
                "n": doses["n"],
                "time per agent-cycle vs none": doses["ratio"],
                "95 % CI": [
                    f"[{num(a)}, {num(b)}]" for a, b in zip(doses["lo"], doses["hi"], strict=True)
                ],
                "verdict vs A/A": doses["verdict"],
                "competitors' CPU s per s": doses["competitor_share"],
            }
        )
        parts += [
            "*Table [[study_contention]]. H1's contention arm: C256 lean with 0, 1, 2 or 4 "
            "competing busy loops (cpu) or fsync'ing writers (io) started before the run "
            "and stopped after it; time per agent-cycle against the run with none "
            "(geometric mean of per-block ratios, 95 % t interval), and the dose "
            f"delivered (the competitors' CPU seconds per second of the run). {src}*",
            "",
            table(tab),
            "",
        ]
    sentences = [
        f"Per {r['kind']} competitor the time per agent-cycle changes by "
        f"{_pct(r['pct_per_competitor'])} (95 % CI {_pct(r['pct_lo'])} to "
        f"{_pct(r['pct_hi'])}, n = {int(r['n'])} blocks); applied to the rise of the load "
        f"average over the base runs ({num(r['load1_rise'])}), contention of this kind "
        f"could explain {_pct(r['explained_pct'])} of time per unit of work "
        f"({_pct(r['explained_lo'])} to {_pct(r['explained_hi'])}): {r['verdict']}."
        for _, r in slopes.iterrows()
    ]
    if sentences:
        parts.append(" ".join(sentences))
    parts.append("")
    return parts
