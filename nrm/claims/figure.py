"""The snapshot figure: CPU time against wall time for the original runs, units corrected.

Every point is a hand-copied ``ps`` reading from the original archive (``data/reference/
ps_snapshots.csv``); nothing here was measured by this compendium. The figure is drawn on a
plain :class:`matplotlib.figure.Figure` (no pyplot state, any backend, Agg included).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nrm import claims
from nrm.atomic import atomic_write_bytes
from nrm.exceptions import ParameterError

CAPTION = (
    "Hand-copied ps readings of the original runs (from the archive; not measured here). "
    "ps TIME is read as minutes:seconds. Lines through the origin: C256's median rate over its "
    "fully recorded pairs, and the paper's reading, which took the printed TIME as hours of "
    "runtime (CPU time = wall time). Table 1's readings, noted without a wall time, are placed "
    "at the wall time the rate implies."
)


def plot_snapshots(ax: Axes | None = None, *, reference_dir: str | Path | None = None) -> Figure:
    """Draw CPU-minutes against wall-hours for C256 and C257 and return the figure."""
    snaps = claims.snapshot_table(reference_dir)
    rates = claims.run_rates(reference_dir).set_index("run")
    table1 = claims.corrected_table1(reference_dir)
    if ax is None:
        fig = Figure(figsize=(7.5, 5.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()
    pal = sns.color_palette("colorblind")
    colour = {"C256": pal[0], "C257": pal[2]}
    marker = {"C256": "o", "C257": "s"}

    paired = snaps[snaps["cpu_min"].notna() & snaps["wall_h"].notna()]
    good = paired[paired["rate_check"] == claims.CONSISTENT]
    bad = paired[paired["rate_check"] == claims.INCONSISTENT]
    x_max = max(float(snaps["wall_h"].max(skipna=True) or 0), float(table1["wall_h"].max() or 0))
    x_max = 1.08 * (x_max if math.isfinite(x_max) and x_max > 0 else 1.0)

    for run, rows in good.groupby("run", sort=True):
        label = "C256 ps readings" if run == "C256" else f"{run} ps readings (labelled optimized)"
        ax.scatter(
            rows["wall_h"], rows["cpu_min"], s=46, marker=marker.get(run, "D"),
            color=colour.get(run, pal[4]), zorder=3, label=label,
        )  # fmt: skip
    for run in rates.index:
        if run not in colour:
            continue
        rate = float(rates.loc[run, "cpu_min_per_wall_h"])
        x_end = x_max if run == "C256" else float(good[good["run"] == run]["wall_h"].max())
        ax.plot(
            [0, x_end], [0, rate * x_end], color=colour[run],
            lw=1.4 if run == "C256" else 1.0, ls="-" if run == "C256" else ":",
            label=f"{run} median rate: {rate:.2f} CPU-min per wall-h",
        )  # fmt: skip
    if not bad.empty:
        ax.scatter(
            bad["wall_h"], bad["cpu_min"], s=70, marker="X", color=pal[3], zorder=4,
            label="reading placed at an estimated wall time that contradicts the rate",
        )  # fmt: skip
    implied = table1[table1["cpu_min"].notna() & table1["wall_h"].notna()]
    if not implied.empty:
        ax.scatter(
            implied["wall_h"], implied["cpu_min"], s=52, facecolors="none",
            edgecolors=colour["C256"], linewidths=1.3, zorder=4,
            label="Table 1 readings at the implied wall time",
        )  # fmt: skip
        # Labels in one column below-right of the group, highest reading on top, so that the
        # connectors do not cross.
        x_text = float(implied["wall_h"].max()) + 0.07 * x_max
        y_top = float(implied["cpu_min"].min()) - 0.09 * float(implied["cpu_min"].max())
        step = 0.06 * float(implied["cpu_min"].max())
        ordered = implied.sort_values("cpu_min", ascending=False)
        for i, (_, r) in enumerate(ordered.iterrows()):
            ax.annotate(
                f"paper: '{r['paper_time']}'", (r["wall_h"], r["cpu_min"]),
                xytext=(x_text, y_top - i * step), textcoords="data", ha="left", va="center",
                fontsize=7.5, color="0.25",
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.6"},
            )  # fmt: skip
    ax.plot(
        [0, x_max], [0, x_max], color="0.45", ls="--", lw=1.1,
        label="paper's reading: TIME taken as hours (CPU time = wall time)",
    )  # fmt: skip
    c255 = snaps[(snaps["run"] == "C255") & snaps["wall_h"].notna()]
    for _, r in c255.iterrows():
        ax.axvline(
            r["wall_h"], color="0.6", ls=":", lw=1.0,
            label="C255 wall time when noted (run unfinished, no CPU time)",
        )  # fmt: skip

    y_max = max(float(paired["cpu_min"].max() if not paired.empty else 1.0), x_max)
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, 1.08 * y_max)
    ax.set_xlabel("wall-clock time elapsed (h)")
    ax.set_ylabel("CPU time printed by ps (CPU-minutes)")
    ax.set_title(
        "Original runs: ps CPU time vs wall time, units corrected\n"
        "(hand-copied ps readings from the original archive, not measured here)",
        fontsize=10,
    )
    ax.grid(True, color="0.9", lw=0.6)
    ax.legend(loc="upper left", fontsize=7.5, frameon=False)
    return fig


def save_snapshot_figure(
    path: str | Path, *, reference_dir: str | Path | None = None, dpi: int = 150
) -> Path:
    """Write the snapshot figure to ``path`` (format from the suffix: png, pdf, svg), atomically."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf", "svg"):
        raise ParameterError(
            f"figure path {path} has suffix {path.suffix!r}; expected .png, .pdf or .svg"
        )
    fig = plot_snapshots(reference_dir=reference_dir)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue())
