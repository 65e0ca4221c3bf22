"""H2, H3 and H5 decided on the long fixed-workload arms (:mod:`nrm.study.long_arms`) by drift
of time per unit of work (docs/hypothesis-rules.md, "Long arms").

Per run: :func:`nrm.stats.drift.drift_of_cycles` after the ramp (the cycles before the
population reaches its cap are left out): the drift at a fixed workload in % of the mean cycle
time per 1000 cycles (``drift_pct``), the raw drift (work counters ignored, ``raw_pct``), the
share of the raw drift the work counters explain, and the drift of the per-call latency of a
SQLite commit and of a psutil sample (``commit_pct``, ``sample_pct``: % of the mean latency per
1000 cycles; at a fixed population the calls grow linearly with the cycle index).

Per arm: the per-block difference arm − ``long-base`` of the raw drift. The H2 arms (restart,
allocators, gc.freeze; fixed metrics, which removes psutil's calls, see below) run the base's
workload (same seed, same model: the same population, registry and calls; the dynamics table
checks it), so the difference of their raw drifts is a
difference at a fixed workload, and it does not depend on splitting the base's trend between
the index and the registry, which at a fixed population grows almost linearly with the index
(the joint fit then leaves that split, and so ``drift_pct``, poorly determined; it is reported,
not used for the verdict). The registry arm changes the workload on purpose (H5).
``long-metrics-fixed`` keeps the model's calls but puts constant values in place of psutil's:
the objects psutil allocates per sample (the paper's fragmentation source) and its latency go;
its lower mean cycle time raises its drift in % of its own mean, so "less drift" on it is a
conservative reading. Each difference: its mean over blocks with a t
interval on blocks − 1 degrees of freedom, read against the same difference of ``long-aa``
(the A/A): :func:`arm_verdict`. The verdicts use :func:`nrm.stats.intervals.equivalence_verdict`
(TOST against the declared margin first, then the side of 0) and then the A/A band.

H2 also gets an upper bound on the drift fragmentation can explain (:mod:`nrm.study.frag_bound`:
the H2 controls' dose-response times ``long-base``'s frag ratio change, whose per-run readings
are columns of the long arms' table); it may raise H2's "within noise" to "no effect larger
than m", nothing else.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm import paths
from nrm.stats.drift import drift, drift_of_cycles
from nrm.stats.intervals import bonferroni_level, equivalence_verdict, ratio_interval
from nrm.stats.verdict import (
    EQUIVALENT,
    NOT_TESTABLE,
    REFUTED,
    SUPPORTED,
    WITHIN_NOISE,
    not_testable,
)
from nrm.study.frag_bound import RULE as FRAG_BOUND_RULE
from nrm.study.frag_bound import control_slopes, frag_bound, frag_change, upgrade_verdict
from nrm.study.long_arms import AA, BASE, GC_FREEZE, GROUP, METRICS_FIXED, REGISTRY_OFF, RESTART

#: Margin of the drift verdicts (H2, H5): percentage points of the mean cycle time per 1000
#: cycles. A drift difference shown to be smaller than this either way is "no effect larger
#: than m" (3000 cycles at 5 %/1000 = 15 % slower at the end of the paper's run).
DRIFT_MARGIN_PCT = 5.0
#: Margin of the latency drift (H3): % of the mean per-call latency per 1000 cycles.
LATENCY_MARGIN_PCT = 10.0
#: Fewest cycles after the ramp for a drift verdict (a drift "per 1000 cycles" read on fewer
#: extrapolates).
MIN_FIXED_CYCLES = 1000
#: Fewest blocks for a verdict.
MIN_BLOCKS = 3

RULES = {
    "H2": (
        f"long arms (restart every K cycles, other allocators, gc.freeze and fixed metrics "
        f"where run; each but fixed metrics runs the base's workload, fixed metrics the same "
        f"calls without psutil's) on the drift of time after the ramp (arm − long-base per block, "
        f"% of the mean cycle time per 1000 cycles: at an equal workload, a difference per "
        f"unit of work): supported if one arm drifts less, its "
        f"Bonferroni t interval below 0 and outside the long-aa band; no effect larger than "
        f"m={DRIFT_MARGIN_PCT:g} if every arm's TOST passes; refuted if every arm drifts "
        f"more; within noise otherwise; not testable on replayed metrics, fewer than "
        f"{MIN_FIXED_CYCLES} cycles after the ramp or fewer than {MIN_BLOCKS} blocks; "
        f"{FRAG_BOUND_RULE}"
    ),
    "H3": (
        f"long-base: drift of the per-call latency of a SQLite commit (databases in RAM) and "
        f"of a live psutil sample against the cycle index (calls grow linearly with it at a "
        f"fixed population), % of the mean latency per 1000 cycles, one value per block: "
        f"supported if either t interval (Bonferroni over 2) lies above 0, no effect larger "
        f"than m={LATENCY_MARGIN_PCT:g} if both TOSTs pass, refuted if both below 0, within "
        f"noise otherwise; the disk's latency against database size is the dbgrow arms'"
    ),
    "H5": (
        f"long-registry-off on the raw drift (work counters ignored; arm − long-base per "
        f"block): supported if its t interval lies below 0 outside the long-aa band (the "
        f"model's one accumulator at a fixed population drives the slowdown); no effect "
        f"larger than m={DRIFT_MARGIN_PCT:g} by TOST; refuted if above; with the share of "
        f"long-base's raw drift the growing work counters explain"
    ),
}


def read_cycles(out: Path, name: str) -> pd.DataFrame | None:
    """The whole ``cycles.csv`` of run ``name`` of the study in ``out`` (None when missing)."""
    from nrm.study.sweep import RUNS

    path = out / RUNS / name / paths.CYCLES_CSV
    if not path.is_file():
        return None
    return pd.read_csv(path)


def _latency_pct(frame: pd.DataFrame, time_col: str, count_col: str, start: int) -> float:
    """Drift of the per-call latency (``time_col / count_col``) after row ``start``, % of the
    mean latency per 1000 cycles (NaN when not estimable)."""
    if time_col not in frame or count_col not in frame:
        return math.nan
    sub = frame.iloc[start:]
    calls = pd.to_numeric(sub[count_col], errors="coerce").to_numpy(float)
    secs = pd.to_numeric(sub[time_col], errors="coerce").to_numpy(float)
    ok = calls > 0
    if ok.sum() < 30:
        return math.nan
    res = drift(secs[ok] / calls[ok], index=sub["cycle"].to_numpy(float)[ok])
    return res.drift_pct if res.testable else math.nan


def run_drifts(data: Any) -> pd.DataFrame:
    """One row per complete run of a long arm: its drift statistics (see the module doc)."""
    rows = []
    runs = data.runs
    if runs.empty or "arm" not in runs:
        return pd.DataFrame()
    for arm in (a for a in data.plan.arms if a.group == GROUP):
        for _, r in runs[runs["arm"] == arm.label].iterrows():
            frame = read_cycles(data.out, r["name"])
            row: dict[str, Any] = {
                "name": r["name"],
                "arm": arm.label,
                "block": r["block"],
                "agents": arm.max_agents,
                "metrics": r.get("metrics"),
            }
            if frame is None or frame.empty:
                rows.append({**row, "testable": False, "reason": "no cycle log"})
                continue
            frame = frame[frame["condition"] == frame["condition"].iloc[0]]
            res = drift_of_cycles(frame, cap=arm.max_agents)
            frag = frag_change(frame, arm.max_agents)  # arena readings (pymalloc only)
            mean = res.mean_time_s
            start = res.ramp_end or 0
            rows.append(
                {
                    **row,
                    "cycles": len(frame),
                    "testable": res.testable,
                    "reason": res.reason,
                    "ramp_end": res.ramp_end,
                    "n": res.n,
                    "mean_ms": 1e3 * mean,
                    "drift_pct": res.drift_pct,
                    "drift_lo": res.drift_pct_ci[0],
                    "drift_hi": res.drift_pct_ci[1],
                    "raw_pct": 100 * res.drift_raw_s / mean if mean else math.nan,
                    "explained_share": res.explained_share,
                    "shape": res.shape,
                    "commit_pct": _latency_pct(frame, "commit_s", "commits", start),
                    "sample_pct": _latency_pct(frame, "sample_s", "samples", start),
                    **frag,
                }
            )
    return pd.DataFrame(rows)


def _diffs(drifts: pd.DataFrame, arm: str, base: str, col: str) -> np.ndarray:
    a = drifts[drifts["arm"] == arm].set_index("block")[col]
    b = drifts[drifts["arm"] == base].set_index("block")[col]
    both = sorted(set(a.index) & set(b.index))
    d = np.array([float(a[k]) - float(b[k]) for k in both], dtype=float)
    return d[np.isfinite(d)]


def arm_verdict(
    diffs: np.ndarray,
    aa_diffs: np.ndarray | None,
    *,
    margin: float,
    predicted: str,
    level: float = 0.95,
) -> dict[str, Any]:
    """The verdict on per-block differences ``diffs`` (arm − base, in %-points) against the
    margin and the A/A band (the A/A's interval at ``level``, mirrored around 0): TOST inside
    ±margin → "no effect larger than m"; interval on the predicted / opposite side of 0 →
    "supported" / "refuted", unless it overlaps the A/A band ("within noise")."""
    diffs = np.asarray(diffs, float)
    ci = ratio_interval(diffs, level)  # a t interval of a mean (the log scale is not used)
    out: dict[str, Any] = {
        "n": ci.n_blocks,
        "mean": ci.mean_log,
        "lo": ci.log_low,
        "hi": ci.log_high,
        "margin": margin,
        "level": level,
    }
    band = (math.nan, math.nan)
    if aa_diffs is not None and len(aa_diffs) >= 2:
        aa = ratio_interval(aa_diffs, level)
        band = (min(aa.log_low, -aa.log_high), max(aa.log_high, -aa.log_low))
    out["band_lo"], out["band_hi"] = band
    if ci.n_blocks < MIN_BLOCKS:
        out["verdict"] = not_testable(f"{ci.n_blocks} block(s), fewer than {MIN_BLOCKS}")
        return out
    eq = equivalence_verdict(
        diffs,
        margin,
        alpha=1 - level,
        predicted="decrease" if predicted == "decrease" else "increase",
    )
    v = eq.verdict
    if (
        v in (SUPPORTED, REFUTED)
        and math.isfinite(band[0])
        and not (ci.log_high < band[0] or ci.log_low > band[1])
    ):
        v = WITHIN_NOISE
    out["verdict"] = v
    return out


def _why_untestable(drifts: pd.DataFrame, arms: list[str], *, live: bool) -> str | None:
    sub = drifts[drifts["arm"].isin(arms)] if not drifts.empty else drifts
    if sub.empty:
        return (
            "no long fixed-workload arm ran in this study (the short arms are cost levels "
            "only and do not decide H2, H3 or H5)"
        )
    # the fixed-metrics arm makes no psutil call on purpose: it is read against live arms
    src = sub.loc[sub["arm"] != METRICS_FIXED, "metrics"].dropna().astype(str)
    if live and len(src) and (src.str.startswith("cycle-replay:") | (src == "fixed")).all():
        return (
            "every deciding arm replays its metrics (cycle-replay:) or holds them fixed, so no "
            "psutil call is made"
        )
    if not sub["testable"].any():
        return "drift not estimable: " + "; ".join(dict.fromkeys(map(str, sub["reason"])))
    n = int(pd.to_numeric(sub["n"], errors="coerce").min())
    if n < MIN_FIXED_CYCLES:
        return f"too short: {n} cycles after the ramp (a drift verdict needs {MIN_FIXED_CYCLES})"
    return None


def _fmt(arm: str, r: dict[str, Any], unit: str = "%/1000 cycles") -> tuple[str, str]:
    return (
        f"{arm}: {r['mean']:+.2f} {unit}",
        f"[{r['lo']:+.2f}, {r['hi']:+.2f}] (A/A band [{r['band_lo']:+.2f}, {r['band_hi']:+.2f}])",
    )


def _combine(verdicts: list[str]) -> str:
    if SUPPORTED in verdicts:
        return SUPPORTED
    if verdicts and all(v == EQUIVALENT for v in verdicts):
        return EQUIVALENT
    if verdicts and all(v == REFUTED for v in verdicts):
        return REFUTED
    return WITHIN_NOISE


def _context(drifts: pd.DataFrame, plan: Any) -> str:
    base = drifts[drifts["arm"] == BASE]
    if base.empty:
        return ""
    arm = plan.arm(BASE)
    return (
        f"{BASE}: {arm.cycles} cycles, {arm.max_agents} agents, {len(base)} blocks, "
        f"raw drift {base['raw_pct'].median():+.2f} %/1000 cycles (median of blocks; "
        f"{base['mean_ms'].median():.1f} ms a cycle)"
    )


def _registry_share(drifts: pd.DataFrame) -> str:
    """How much of long-base's raw drift the registry arm removes (median over blocks), and
    the joint fit's own split (unidentified when the registry grows in step with the index)."""
    base = drifts[drifts["arm"] == BASE].set_index("block")["raw_pct"]
    off = drifts[drifts["arm"] == REGISTRY_OFF].set_index("block")["raw_pct"]
    both = sorted(set(base.index) & set(off.index))
    base_raw = float(np.median([base[b] for b in both])) if both else math.nan
    off_raw = float(np.median([off[b] for b in both])) if both else math.nan
    share = 1 - off_raw / base_raw if base_raw else math.nan
    fit = drifts[drifts["arm"] == BASE]["explained_share"]
    return (
        f"raw drift {base_raw:+.2f} (long-base) vs {off_raw:+.2f} (registry off) %/1000 "
        f"cycles, medians of {len(both)} blocks: the registry accounts for {share:.0%} of "
        f"the base's raw drift; the work counters' share in the joint fit "
        f"{fit.median():.0%} (unidentified when the registry grows in step with the "
        f"cycle index)"
    )


def long_verdicts(data: Any, make_row: Any) -> dict[str, dict[str, Any]]:
    """Rows for H2, H3 and H5 (``make_row(h, verdict, statistic, n, ci, arms, note)``)."""
    drifts = run_drifts(data)
    labels = {a.label for a in data.plan.arms if a.group == GROUP and a.available}
    h2_arms = [
        x
        for x in sorted(labels)
        if x in (RESTART, GC_FREEZE, METRICS_FIXED) or x.startswith("long-alloc-")
    ]
    out: dict[str, dict[str, Any]] = {}
    ctx = _context(drifts, data.plan) if not drifts.empty else ""
    bound = frag_bound(data, drifts, margin=DRIFT_MARGIN_PCT)
    for h, arms, col, predicted, margin, live in (
        ("H2", h2_arms, "raw_pct", "decrease", DRIFT_MARGIN_PCT, True),
        (
            "H5",
            [REGISTRY_OFF] if REGISTRY_OFF in labels else [],
            "raw_pct",
            "decrease",
            DRIFT_MARGIN_PCT,
            False,
        ),
    ):
        why = (
            _why_untestable(drifts, [BASE, *arms], live=live)
            if arms
            else ("no deciding long arm in this study")
        )
        if why is not None:
            note = why + (f"; {bound.text()}" if h == "H2" else "")
            out[h] = make_row(h, not_testable(why), "-", 0, "-", ", ".join(arms) or "-", note)
            continue
        level = bonferroni_level(0.95, len(arms))
        aa = _diffs(drifts, AA, BASE, col)
        res = {
            a: arm_verdict(
                _diffs(drifts, a, BASE, col), aa, margin=margin, predicted=predicted, level=level
            )
            for a in arms
        }
        stats = [_fmt(a, r) for a, r in res.items()]
        v = _combine([r["verdict"] for r in res.values()])
        if any(r["verdict"].startswith(NOT_TESTABLE) for r in res.values()) and v != SUPPORTED:
            v = not_testable(f"fewer than {MIN_BLOCKS} paired blocks")
        note = f"{ctx}; margin m = {margin:g} %-points per 1000 cycles"
        if h == "H5":
            note += "; " + _registry_share(drifts)
        if h == "H2":
            v, raised = upgrade_verdict(v, bound)
            note += "; " + bound.text()
            if raised:
                note += (
                    f" (the drift differences alone: {WITHIN_NOISE}; the bound inside ±m "
                    f"makes it {v})"
                )
        out[h] = make_row(
            h,
            v,
            "drift difference " + "; ".join(s for s, _ in stats),
            ", ".join(f"{a}={r['n']}" for a, r in res.items()),
            f"{100 * level:.1f} % CIs: " + "; ".join(c for _, c in stats),
            ", ".join(arms),
            note,
        )
    # H3: per-call latency drift in long-base (one value per block)
    why = _why_untestable(drifts, [BASE], live=True)
    if why is not None:
        out["H3"] = make_row("H3", not_testable(why), "-", 0, "-", BASE, why)
        return out
    base = drifts[drifts["arm"] == BASE].sort_values("block")
    level = bonferroni_level(0.95, 2)
    res = {}
    for what, col in (("commit", "commit_pct"), ("psutil sample", "sample_pct")):
        vals = pd.to_numeric(base[col], errors="coerce").to_numpy(float)
        res[what] = arm_verdict(
            vals[np.isfinite(vals)],
            None,
            margin=LATENCY_MARGIN_PCT,
            predicted="increase",
            level=level,
        )
    stats = [_fmt(f"{w} latency drift", r, "%/1000 cycles") for w, r in res.items()]
    verdicts = [r["verdict"] for r in res.values()]
    v = (
        _combine(verdicts)
        if not any(x.startswith(NOT_TESTABLE) for x in verdicts)
        else (not_testable(f"fewer than {MIN_BLOCKS} blocks"))
    )
    out["H3"] = make_row(
        "H3",
        v,
        "; ".join(s for s, _ in stats),
        ", ".join(f"{w}={r['n']}" for w, r in res.items()),
        f"{100 * level:.1f} % CIs: " + "; ".join(c.split(" (A/A")[0] for _, c in stats),
        BASE,
        f"{ctx}; margin m = {LATENCY_MARGIN_PCT:g} % of the mean latency per "
        "1000 cycles; databases in RAM",
    )
    return out


#: The fragmentation bound's files beside ``long_drift.csv``: the controls' per-block slopes
#: and the bound itself (:mod:`nrm.study.frag_bound`).
FRAG_SLOPES_CSV, FRAG_BOUND_JSON = "frag_bound_controls.csv", "frag_bound.json"


def write_table(data: Any, folder: Path) -> pd.DataFrame:
    """``long_drift.csv``: :func:`run_drifts` (what the paper's figure and table read), with
    the fragmentation bound (``frag_bound.json``) and the controls' slopes it rests on
    (``frag_bound_controls.csv``)."""
    from nrm.atomic import atomic_write_json, atomic_write_text

    drifts = run_drifts(data)
    if not drifts.empty:
        atomic_write_text(folder / "long_drift.csv", drifts.to_csv(index=False))
    slopes = control_slopes(data)
    if not slopes.empty:
        atomic_write_text(folder / FRAG_SLOPES_CSV, slopes.to_csv(index=False))
    if not drifts.empty or not slopes.empty:
        bound = frag_bound(data, drifts, margin=DRIFT_MARGIN_PCT, slopes=slopes)
        atomic_write_json(folder / FRAG_BOUND_JSON, bound.to_dict())
    return drifts
