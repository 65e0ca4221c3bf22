"""How much of a long run's drift pymalloc arena fragmentation can explain at most (issue #23,
H2): the H2 controls' dose-response applied to the frag ratio change of ``long-base``.

Two measured pieces, each a t interval over blocks:

- **Dose-response** (the controls, :mod:`nrm.study.controls`): per block, ``ctrl-fragmentation``
  (survivors pin pymalloc pools) against ``ctrl-no-fragmentation`` (the same workload keeping no
  survivor) over the cycles from the shift on (``shift_cycle`` in the run's parameters: where
  the two differ; both do the same births and deaths each cycle, so time per cycle is time per
  unit of work; a block whose counts differ is dropped). The slope is
  ``(log mean cycle time of the positive − that of the negative) / (mean frag ratio of the
  positive − that of the negative)``: log-points of time per unit of frag ratio. A block whose
  frag ratios differ by less than :data:`MIN_CONTROL_FRAG_DIFF` gives no slope (a division by
  nearly 0).
- **Frag ratio change** (``long-base``, pymalloc): per block, the OLS slope of ``frag_ratio`` on
  the cycle index after the ramp, per 1000 cycles, from the probe's arena readings (every
  ``arena_every`` cycles; empty under another allocator). Fewer than
  :data:`MIN_FRAG_READINGS` readings after the ramp give no value.

The **bound** on the drift fragmentation can explain, in % of the mean cycle time per 1000 cycles
(100 × log-points, the footing of the H2 drift differences up to the log-linear approximation):
the largest and the smallest of the four products of the two intervals' ends (with both
intervals above 0: slope upper × change upper). Each interval is drawn at the Bonferroni level
1 − 0.05 / 2 so that both hold jointly with at least 95 %. Either piece unmeasurable (no
controls, no arena readings, fewer than :data:`MIN_BLOCKS` blocks) gives "not testable" with the
reason, never a number.

What it may change (docs/hypothesis-rules.md, "H2 memory fragmentation"): an H2 verdict
"within noise" from the drift differences becomes "no effect larger than m" when the bound's
whole interval lies inside (−m, m) (:func:`upgrade_verdict`); no other verdict changes. It bounds
fragmentation as ``frag_ratio`` measures it and at the controls' cost per unit of it; process
state other than the arenas (heap, GC, caches) is the drift differences' question.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm import paths
from nrm.exceptions import LogError
from nrm.instrument.runrecord import read_run_json
from nrm.stats.drift import ramp_end
from nrm.stats.intervals import bonferroni_level, ratio_interval
from nrm.stats.verdict import EQUIVALENT, WITHIN_NOISE, not_testable
from nrm.study.long_arms import BASE
from nrm.study.sweep import RUNS

__all__ = [
    "CONTROL_NEG",
    "CONTROL_POS",
    "MIN_BLOCKS",
    "MIN_CONTROL_FRAG_DIFF",
    "MIN_FRAG_READINGS",
    "FragBound",
    "bound_from_tables",
    "control_slopes",
    "frag_bound",
    "frag_change",
    "upgrade_verdict",
]

CONTROL_POS, CONTROL_NEG = "ctrl-fragmentation", "ctrl-no-fragmentation"
#: Fewest arena readings after the ramp for a run's frag ratio slope.
MIN_FRAG_READINGS = 5
#: Smallest frag ratio difference between the controls (window means) for a block's slope.
MIN_CONTROL_FRAG_DIFF = 0.05
#: Fewest blocks for each piece's t interval.
MIN_BLOCKS = 3
#: Joint level of the two intervals (each at the Bonferroni level over 2).
LEVEL = 0.95

RULE = (
    f"bound on the drift fragmentation can explain: per block the H2 controls' slope (log "
    f"cycle time of ctrl-fragmentation − ctrl-no-fragmentation from the shift on, over their "
    f"frag ratio difference) and long-base's frag ratio slope after the ramp per 1000 cycles "
    f"(arena readings), each a t interval over blocks at {100 * bonferroni_level(LEVEL, 2):g} %; "
    f"bound = the ends of their product, 100 × log-points per 1000 cycles; not testable "
    f"without the controls, with fewer than {MIN_FRAG_READINGS} arena readings after the ramp "
    f"or fewer than {MIN_BLOCKS} blocks of either; an H2 verdict within noise becomes no "
    f"effect larger than m when the bound lies inside (−m, m)"
)


def frag_change(frame: pd.DataFrame | None, cap: int | None) -> dict[str, Any]:
    """Frag ratio readings of one run's ``cycles.csv`` (first condition) after the ramp: their
    count, the first and last reading, and the OLS slope per 1000 cycles (NaN with fewer than
    :data:`MIN_FRAG_READINGS` readings)."""
    out: dict[str, Any] = {
        "frag_readings": 0,
        "frag_start": math.nan,
        "frag_end": math.nan,
        "frag_change_per_1000": math.nan,
    }
    if frame is None or frame.empty or "frag_ratio" not in frame or "cycle" not in frame:
        return out
    if "condition" in frame:
        frame = frame[frame["condition"] == frame["condition"].iloc[0]]
    start = 0
    if "population" in frame:
        pop = pd.to_numeric(frame["population"], errors="coerce").to_numpy(float)
        end = ramp_end(pop, cap)
        start = int(end) if end is not None else len(frame)
    sub = frame.iloc[start:]
    frag = pd.to_numeric(sub["frag_ratio"], errors="coerce").to_numpy(float)
    cyc = pd.to_numeric(sub["cycle"], errors="coerce").to_numpy(float)
    ok = np.isfinite(frag) & np.isfinite(cyc)
    frag, cyc = frag[ok], cyc[ok]
    out["frag_readings"] = int(frag.size)
    if frag.size:
        out["frag_start"], out["frag_end"] = float(frag[0]), float(frag[-1])
    if frag.size >= MIN_FRAG_READINGS and np.ptp(cyc) > 0:
        out["frag_change_per_1000"] = 1000 * float(np.polyfit(cyc, frag, 1)[0])
    return out


def _control_frame(data: Any, name: str) -> pd.DataFrame | None:
    frame = (getattr(data, "cycles", None) or {}).get(name)
    if frame is not None:
        return frame
    path = Path(data.out) / RUNS / name / paths.CYCLES_CSV
    return pd.read_csv(path) if path.is_file() else None


def _shift_cycle(data: Any, name: str) -> int:
    """The control run's ``shift_cycle`` (0, the whole run, when its run.json lacks it)."""
    try:
        meta = read_run_json(Path(data.out) / RUNS / name)
    except LogError:
        return 0
    return int((meta.get("parameters") or {}).get("shift_cycle") or 0)


def _window(frame: pd.DataFrame, shift: int) -> dict[str, float]:
    sub = frame[pd.to_numeric(frame["cycle"], errors="coerce") >= shift]
    wall = pd.to_numeric(sub["wall_s"], errors="coerce").to_numpy(float)
    frag = (
        pd.to_numeric(sub["frag_ratio"], errors="coerce").to_numpy(float)
        if "frag_ratio" in sub
        else np.full(len(sub), np.nan)
    )
    work = sum(
        float(pd.to_numeric(sub[c], errors="coerce").sum())
        for c in ("births", "deaths")
        if c in sub
    )
    return {
        "cycles": float(np.isfinite(wall).sum()),
        "time_s": float(np.nanmean(wall)) if np.isfinite(wall).any() else math.nan,
        "frag": float(np.nanmean(frag)) if np.isfinite(frag).any() else math.nan,
        "work": work,
    }


def control_slopes(data: Any) -> pd.DataFrame:
    """One row per block holding both H2 controls (pymalloc): the window's mean cycle time and
    mean frag ratio of each, and the slope (log-points of time per unit of frag ratio; NaN with
    the reason when the block cannot give one)."""
    runs = data.runs
    if runs.empty or "arm" not in runs:
        return pd.DataFrame()
    pos = runs[runs["arm"] == CONTROL_POS].set_index("block")["name"]
    neg = runs[runs["arm"] == CONTROL_NEG].set_index("block")["name"]
    rows = []
    for b in sorted(set(pos.index) & set(neg.index)):
        row: dict[str, Any] = {"block": b, "slope": math.nan, "reason": ""}
        fp, fn = _control_frame(data, pos[b]), _control_frame(data, neg[b])
        if fp is None or fn is None or fp.empty or fn.empty:
            rows.append({**row, "reason": "no cycle log"})
            continue
        shift = _shift_cycle(data, pos[b])
        wp, wn = _window(fp, shift), _window(fn, _shift_cycle(data, neg[b]))
        row.update(
            {
                "shift_cycle": shift,
                "cycles": min(wp["cycles"], wn["cycles"]),
                "time_pos_ms": 1e3 * wp["time_s"],
                "time_neg_ms": 1e3 * wn["time_s"],
                "frag_pos": wp["frag"],
                "frag_neg": wn["frag"],
            }
        )
        diff = wp["frag"] - wn["frag"]
        if not (math.isfinite(diff) and wp["time_s"] > 0 and wn["time_s"] > 0):
            row["reason"] = "no arena readings or cycle times"
        elif wp["work"] != wn["work"]:
            row["reason"] = f"births + deaths differ ({wp['work']:g} vs {wn['work']:g})"
        elif diff < MIN_CONTROL_FRAG_DIFF:
            row["reason"] = (
                f"frag ratio difference {diff:.3f} < {MIN_CONTROL_FRAG_DIFF:g}: no dose to scale"
            )
        else:
            row["slope"] = (math.log(wp["time_s"]) - math.log(wn["time_s"])) / diff
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FragBound:
    """The bound and its two pieces (see the module doc); ``reason`` is set when not testable."""

    reason: str
    level: float
    margin: float
    slope_n: int = 0
    slope: float = math.nan
    slope_lo: float = math.nan
    slope_hi: float = math.nan
    change_n: int = 0
    change: float = math.nan
    change_lo: float = math.nan
    change_hi: float = math.nan
    frag_start: float = math.nan
    frag_end: float = math.nan
    bound: float = math.nan
    bound_lo: float = math.nan
    bound_hi: float = math.nan

    @property
    def testable(self) -> bool:
        return not self.reason

    @property
    def inside_margin(self) -> bool:
        """Whether the bound's interval lies inside (−m, m)."""
        return self.testable and -self.margin < self.bound_lo and self.bound_hi < self.margin

    def text(self) -> str:
        """The bound in words, for the H2 row's note and the paper."""
        if not self.testable:
            measured = (
                f" (the controls' dose-response alone: {self.slope:+.3f} log-points per unit of "
                f"frag ratio [{self.slope_lo:+.3f}, {self.slope_hi:+.3f}], n = {self.slope_n} "
                "blocks)"
                if self.slope_n
                else ""
            )
            return f"fragmentation bound {not_testable(self.reason)}{measured}"
        return (
            f"fragmentation can explain at most {self.bound_hi:+.2f} %/1000 cycles (bound "
            f"[{self.bound_lo:+.2f}, {self.bound_hi:+.2f}], {100 * self.level:g} % joint; from "
            f"the controls' dose-response, {self.slope:+.3f} log-points per unit of frag ratio "
            f"[{self.slope_lo:+.3f}, {self.slope_hi:+.3f}], n = {self.slope_n} blocks, times "
            f"{BASE}'s frag ratio change {self.change:+.4f} per 1000 cycles "
            f"[{self.change_lo:+.4f}, {self.change_hi:+.4f}], n = {self.change_n} blocks, frag "
            f"ratio {self.frag_start:.3f} -> {self.frag_end:.3f}); "
            + ("inside" if self.inside_margin else "not inside")
            + f" ±m = {self.margin:g}"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(testable=self.testable, inside_margin=self.inside_margin, text=self.text())
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()
        }


def bound_from_tables(
    slopes: pd.DataFrame, changes: pd.DataFrame, *, margin: float, level: float = LEVEL
) -> FragBound:
    """The bound from the controls' per-block slopes (column ``slope``) and ``long-base``'s
    per-block frag ratio changes (columns ``frag_change_per_1000``, ``frag_readings``, and
    ``frag_start``/``frag_end`` when known)."""
    each = bonferroni_level(level, 2)

    def nt(reason: str) -> FragBound:
        return FragBound(reason, level, margin)

    if slopes.empty or "slope" not in slopes:
        return nt(f"no block with both H2 controls ({CONTROL_POS}, {CONTROL_NEG})")
    s = pd.to_numeric(slopes["slope"], errors="coerce").to_numpy(float)
    s = s[np.isfinite(s)]
    if s.size < MIN_BLOCKS:
        why = "; ".join(dict.fromkeys(str(r) for r in slopes.get("reason", []) if r))
        return nt(
            f"{s.size} block(s) with a controls' slope, fewer than {MIN_BLOCKS}"
            + (f" ({why})" if why else "")
        )
    si = ratio_interval(s, each)
    slope_part: dict[str, Any] = {
        "slope_n": si.n_blocks,
        "slope": si.mean_log,
        "slope_lo": si.log_low,
        "slope_hi": si.log_high,
    }

    def nt_change(reason: str) -> FragBound:  # the controls' slope measured, the change not
        return FragBound(reason, level, margin, **slope_part)

    if changes.empty or "frag_change_per_1000" not in changes:
        return nt_change(f"no {BASE} run")
    readings = pd.to_numeric(changes.get("frag_readings"), errors="coerce").fillna(0)
    if not (readings > 0).any():
        return nt_change(
            f"{BASE} has no arena readings (frag_ratio empty: pymalloc off or arena readings "
            "switched off)"
        )
    c = pd.to_numeric(changes["frag_change_per_1000"], errors="coerce").to_numpy(float)
    c = c[np.isfinite(c)]
    if c.size < MIN_BLOCKS:
        return nt_change(
            f"{c.size} {BASE} block(s) with {MIN_FRAG_READINGS} or more arena readings after "
            f"the ramp (at most {int(readings.max())} per run), fewer than {MIN_BLOCKS}"
        )
    ci = ratio_interval(c, each)
    corners = [100 * a * b for a in (si.log_low, si.log_high) for b in (ci.log_low, ci.log_high)]

    def mean_of(col: str) -> float:
        v = pd.to_numeric(changes.get(col, pd.Series(dtype=float)), errors="coerce")
        return float(v.mean()) if v.notna().any() else math.nan

    return FragBound(
        "",
        level,
        margin,
        **slope_part,
        change_n=ci.n_blocks,
        change=ci.mean_log,
        change_lo=ci.log_low,
        change_hi=ci.log_high,
        frag_start=mean_of("frag_start"),
        frag_end=mean_of("frag_end"),
        bound=100 * si.mean_log * ci.mean_log,
        bound_lo=min(corners),
        bound_hi=max(corners),
    )


def frag_bound(
    data: Any, drifts: pd.DataFrame, *, margin: float, slopes: pd.DataFrame | None = None
) -> FragBound:
    """:func:`bound_from_tables` on the study ``data``: the controls' slopes (``slopes``, else
    :func:`control_slopes`) and ``long-base``'s rows of the long arms' table ``drifts``
    (:func:`nrm.study.long_analysis.run_drifts`, which holds :func:`frag_change` per run)."""
    base = drifts[drifts["arm"] == BASE] if not drifts.empty and "arm" in drifts else pd.DataFrame()
    if slopes is None:
        slopes = control_slopes(data)
    return bound_from_tables(slopes, base, margin=margin)


def upgrade_verdict(verdict: str, bound: FragBound) -> tuple[str, bool]:
    """The H2 verdict after the bound: "within noise" becomes "no effect larger than m" when
    the bound lies inside (−m, m); every other verdict stays. Returns (verdict, changed)."""
    if verdict == WITHIN_NOISE and bound.inside_margin:
        return EQUIVALENT, True
    return verdict, False
