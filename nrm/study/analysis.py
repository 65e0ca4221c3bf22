"""Analysis of a causal study (:mod:`nrm.study.sweep`): per-arm measurements, effects against each
arm's base calibrated by the A/A arm, cost shares, dynamics checks and the H1-H5 verdicts.

Everything is computed from the study folder; DataFrames in, DataFrames out.

- Per run (``runs``): cycle time (sum of the per-cycle wall times, so process start-up is left
  out; start-up is ``process_wall_s``), CPU and blocked time, the per-cycle time's slope and
  curvature (least squares of ``wall_s`` on cycle and cycle², one intercept per condition),
  RSS slope, mean arena fragmentation and its slope, mean CPU frequency.
- Effects (:func:`effect`): the ratio arm / base of the cycle time over the cycles both have
  (an arm shorter than its base is compared with the base's first cycles), as the geometric
  mean of the per-block ratios, with a 95 % t interval on the per-block log ratios (blocks - 1
  degrees of freedom; each block's arm and base runs stay paired, so drift between blocks
  cancels). The A/A arm's ratio to the same base, of the same process kind (in-process or
  child), gives the noise interval: an effect whose interval overlaps it is "within noise";
  otherwise "faster" or "slower". A statsmodels OLS of log time on arm and block
  (and host, when there are several) gives a second estimate.
- Shares: how much of the unoptimized run's cycle time each cost accounts for
  (1 − ratio of its switch-off arm) and the leftover: the whole gap to ``lean`` minus the sum.
- Dynamics: arms that should not change the model's dynamics must reproduce their base's
  population histories exactly (same trace, same seed); arms flagged as changing them
  (recursive evolution, registry, other experiments) have their histories compared.
- Verdicts for H1-H5 (:data:`VERDICT_RULES` says how each is decided; docs/hypothesis-rules.md
  gives the rules with their margins): H2, H3 and H5 on the long fixed-workload arms by drift
  (:mod:`nrm.study.long_analysis`), never on the short arms (cost levels). A hypothesis whose
  deciding arms cannot show its mechanism reads "not testable: REASON".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_json, atomic_write_text
from nrm.exceptions import StudyError
from nrm.instrument.runrecord import read_run_json
from nrm.run.scales import DEFAULT_SEED
from nrm.stats.intervals import ratio_interval
from nrm.stats.verdict import (
    HYPOTHESES,
    NOT_TESTABLE_HERE,
    REFUTED,
    SUPPORTED,
    WITHIN_NOISE,
)
from nrm.study.contention_analysis import RULE as H1_RULE
from nrm.study.contention_analysis import h1_row
from nrm.study.long_analysis import RULES as LONG_RULES
from nrm.study.long_analysis import long_verdicts

#: How each verdict is decided (printed beside the table).
VERDICT_RULES = {
    "H1": H1_RULE,  # the contention arm's dose-response (nrm.study.contention_analysis)
    "H2": LONG_RULES["H2"],
    "H3": LONG_RULES["H3"],
    "H4": "OLS of log cycle time on the mean CPU frequency (arm, block factors): supported if "
          "the slope's CI lies below 0 (slower clock, longer run); not testable without "
          "frequency variation or temperature sensors",
    "H5": LONG_RULES["H5"],
}


# ------------------------------------------------------------------------------ loading
def _fit_poly(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Slope and curvature of y on x and x² with one intercept per group (least squares)."""
    ok = np.isfinite(y)
    x, y, groups = x[ok], y[ok], groups[ok]
    levels = list(dict.fromkeys(groups.tolist()))
    if len(y) < len(levels) + 2:
        return math.nan, math.nan
    cols = [(groups == g).astype(float) for g in levels]
    X = np.column_stack([*cols, x, x * x])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(coef[-2]), float(coef[-1])


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y) & np.isfinite(x)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return math.nan
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def _cycles(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / paths.CYCLES_CSV
    if not path.is_file():
        return None
    cols = ["condition", "cycle", "step", "wall_s", "cpu_s", "blocked_s", "rss_bytes",
            "frag_ratio", "cpu_freq_mhz", "cpu_temp_c"]
    frame = pd.read_csv(path, usecols=lambda c: c in cols)
    for c in cols[1:]:
        if c in frame:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return frame


@dataclass
class StudyData:
    """A study folder read into memory."""

    out: Path
    plan: Any  # nrm.study.sweep.StudyPlan
    runs: pd.DataFrame  # one row per complete run
    cycles: dict[str, pd.DataFrame]  # run name -> cycles.csv
    histories: dict[str, dict[str, list[int]]]  # run name -> condition -> population history


def load_study(out: str | Path) -> StudyData:
    from nrm.study.sweep import RUNS, load_plan, load_records, run_complete

    out = Path(out)
    plan = load_plan(out)
    recs = {r["name"]: r for r in load_records(out) if "arm" in r}
    rows, cycles, histories = [], {}, {}
    for t in plan.tasks():
        run_dir = out / RUNS / t.name
        if not run_complete(run_dir):
            continue
        meta = read_run_json(run_dir)
        rec = recs.get(t.name, {})
        row: dict[str, Any] = {
            "name": t.name, "arm": t.arm, "block": t.block, "position": t.position,
            "host": rec.get("host"), "process_wall_s": rec.get("process_wall_s"),
            "load_before": (rec.get("load_before") or [math.nan])[0],
            "load_after": (rec.get("load_after") or [math.nan])[0],
            "concurrent_before": rec.get("concurrent_before"),
            "started_at": rec.get("started_at") or meta.get("started_at"),
        }
        row["metrics"] = (meta.get("parameters") or {}).get("metrics")
        conds = meta.get("conditions") or {}
        histories[t.name] = {c: list(r.get("population_history", [])) for c, r in conds.items()}
        frame = _cycles(run_dir)
        if frame is not None and len(frame):
            cycles[t.name] = frame
            x = frame["cycle"].to_numpy(float)
            g = frame["condition"].astype(str).to_numpy()
            slope, curv = _fit_poly(x, frame["wall_s"].to_numpy(float), g)
            step = frame["step"].to_numpy(float) if "step" in frame else np.arange(len(frame))
            row.update({
                "cycles": int(frame.groupby("condition")["cycle"].max().min() + 1),
                "cycle_time_s": float(frame["wall_s"].sum()),
                "cpu_s": float(frame["cpu_s"].sum()),
                "blocked_s": float(frame["blocked_s"].sum()),
                "slope_s_per_cycle": slope,
                "curvature_s_per_cycle2": curv,
                "rss_slope_bytes_per_cycle": _slope(step, frame["rss_bytes"].to_numpy(float)),
                "rss_max_bytes": float(frame["rss_bytes"].max()),
                "frag_mean": float(frame["frag_ratio"].mean()) if "frag_ratio" in frame
                else math.nan,
                "frag_slope_per_cycle": _slope(step, frame["frag_ratio"].to_numpy(float))
                if "frag_ratio" in frame else math.nan,
                "cpu_freq_mhz": float(frame["cpu_freq_mhz"].mean())
                if "cpu_freq_mhz" in frame else math.nan,
                "cpu_temp_c": float(frame["cpu_temp_c"].mean())
                if "cpu_temp_c" in frame else math.nan,
            })
        else:  # a command arm without a cycle log: its run.json totals
            tot = meta.get("totals") or {}
            row.update({"cycle_time_s": tot.get("runtime_s", math.nan),
                        "cpu_s": tot.get("cpu_s", math.nan)})
        rows.append(row)
    runs = pd.DataFrame(rows)
    return StudyData(out, plan, runs, cycles, histories)


# ------------------------------------------------------------------------------ effects
def _time_over(data: StudyData, name: str, n_cycles: int | None) -> float:
    """Cycle time of run ``name`` over its first ``n_cycles`` cycles per condition."""
    frame = data.cycles.get(name)
    if frame is None:
        row = data.runs.loc[data.runs["name"] == name]
        return float(row["cycle_time_s"].iloc[0]) if len(row) else math.nan
    if n_cycles is None:
        return float(frame["wall_s"].sum())
    return float(frame.loc[frame["cycle"] < n_cycles, "wall_s"].sum())


def _growth_over(data: StudyData, name: str, n_cycles: int | None) -> float:
    """Late over early: cycle time of the second half of the first ``n_cycles`` cycles of each
    condition over that of the first half (1 = no growth)."""
    frame = data.cycles.get(name)
    if frame is None:
        return math.nan
    n = int(frame["cycle"].max()) + 1 if n_cycles is None else n_cycles
    if n < 2:
        return math.nan
    cyc = frame["cycle"]
    early = float(frame.loc[cyc < n // 2, "wall_s"].sum())
    late = float(frame.loc[(cyc >= n // 2) & (cyc < 2 * (n // 2)), "wall_s"].sum())
    return late / early if early > 0 else math.nan


def paired(data: StudyData, arm: str, base: str, limit: int | None = None) -> pd.DataFrame:
    """Per block: the arm's and the base's cycle time over the cycles both runs have (and at
    most ``limit`` cycles per condition)."""
    runs = data.runs
    if runs.empty:
        return pd.DataFrame(columns=["block", "arm", "base"])
    a = runs[runs["arm"] == arm].set_index("block")
    b = runs[runs["arm"] == base].set_index("block")
    rows = []
    for block in sorted(set(a.index) & set(b.index)):
        ca, cb = a.loc[block], b.loc[block]
        n = None
        if "cycles" in runs and not (pd.isna(ca.get("cycles")) or pd.isna(cb.get("cycles"))):
            n = int(min(ca["cycles"], cb["cycles"]))
        if limit is not None:
            n = limit if n is None else min(n, limit)
        rows.append({"block": block, "arm": _time_over(data, ca["name"], n),
                     "base": _time_over(data, cb["name"], n), "cycles": n,
                     "arm_growth": _growth_over(data, ca["name"], n),
                     "base_growth": _growth_over(data, cb["name"], n)})
    return pd.DataFrame(rows)


def block_ratio(arm: np.ndarray, base: np.ndarray, *, level: float = 0.95
                ) -> tuple[float, float, float]:
    """Geometric-mean ratio arm/base over paired blocks and its t interval at ``level`` (95 %
    by default): the mean of the per-block log ratios with a Student t interval on blocks - 1
    degrees of freedom (:func:`nrm.stats.intervals.ratio_interval`). Each block's pair stays
    together, so drift between blocks cancels. Non-positive or missing blocks are dropped;
    one block gives the ratio without an interval."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    arm, base = np.asarray(arm, float), np.asarray(base, float)
    ok = np.isfinite(arm) & np.isfinite(base) & (arm > 0) & (base > 0)
    ci = ratio_interval(np.log(arm[ok] / base[ok]), level)
    return ci.ratio, ci.ratio_low, ci.ratio_high


def noise_band(aa_lo: float, aa_hi: float) -> tuple[float, float]:
    """The A/A interval mirrored around 1: two copies of one arm differed by up to that factor,
    so an effect of that size either way is what the machine does on its own."""
    if math.isnan(aa_lo) or math.isnan(aa_hi) or aa_lo <= 0:
        return math.nan, math.nan
    return min(aa_lo, 1 / aa_hi, 1.0), max(aa_hi, 1 / aa_lo, 1.0)


#: Fewer paired blocks than this: no verdict (a t interval on 1 degree of freedom is 12.7
#: standard errors wide either way).
MIN_BLOCKS = 3


def classify(lo: float, hi: float, aa_lo: float, aa_hi: float, *, n: int = MIN_BLOCKS,
             below: str = "faster", above: str = "slower") -> str:
    """"within noise" when [lo, hi] overlaps the A/A noise band (:func:`noise_band`), else
    ``below`` / ``above``; "not testable here" with fewer than :data:`MIN_BLOCKS` blocks."""
    band_lo, band_hi = noise_band(aa_lo, aa_hi)
    if n < MIN_BLOCKS or any(math.isnan(v) for v in (lo, hi, band_lo, band_hi)):
        return NOT_TESTABLE_HERE
    if hi < band_lo:
        return below
    if lo > band_hi:
        return above
    return WITHIN_NOISE


def process_kind(data: StudyData, arm: str | None) -> str:
    """How an arm's runs are started: ``"child"`` for an arm run under ``--allocator`` (the CLI
    spawns a child process with the allocator preloaded), ``"in-process"`` otherwise. An effect
    is read against the A/A noise of its own process kind only."""
    if arm is None:
        return "in-process"
    try:
        planned = data.plan.arm(arm)
    except Exception:
        return "in-process"
    if planned.runner == "longrun":  # every long arm runs in child processes of one runner
        return "child"
    return "child" if (planned.run or {}).get("allocator") else "in-process"


def effect(data: StudyData, arm: str, base: str, aa: str | None, *, n_boot: int = 2000,
           seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """One arm's effect against its base, calibrated by the A/A arm of that base.

    Intervals are t intervals on the per-block log ratios (:func:`block_ratio`); ``n_boot``
    and ``seed`` are accepted for callers of the bootstrap era and not used. The A/A arm must
    be of the arm's process kind (:func:`process_kind`): a child-process allocator arm read
    against an in-process A/A has no noise band, and its verdict is "not testable here"."""
    del n_boot, seed
    pa = paired(data, arm, base)
    out: dict[str, Any] = {"arm": arm, "base": base, "aa": aa, "n": len(pa),
                           "cycles": None if pa.empty else pa["cycles"].iloc[0]}
    aa_base = aa_base_of(data, aa)
    kind, aa_kind = process_kind(data, arm), process_kind(data, aa)
    same_kind = aa is None or kind == aa_kind
    pq = pd.DataFrame()
    if aa is not None and aa_base is not None and same_kind:
        limit = None if pa.empty or pd.isna(pa["cycles"].iloc[0]) else int(pa["cycles"].iloc[0])
        pq = paired(data, aa, aa_base, limit)  # the noise over the same number of cycles
    out["n_aa"] = len(pq)
    out["process_kind"] = kind
    out["note"] = "" if same_kind else (
        f"no A/A of the same process kind: {arm} runs in a {kind} process, its A/A {aa} "
        f"{aa_kind}")
    for prefix, a_col, b_col, below, above in (
            ("", "arm", "base", "faster", "slower"),
            ("g_", "arm_growth", "base_growth", "less growth", "more growth")):
        est, lo, hi = block_ratio(pa.get(a_col, []), pa.get(b_col, []))
        _, aa_lo, aa_hi = block_ratio(pq.get(a_col, []), pq.get(b_col, []))
        band = noise_band(aa_lo, aa_hi)
        out.update({f"{prefix}ratio": est, f"{prefix}lo": lo, f"{prefix}hi": hi,
                    f"{prefix}aa_lo": aa_lo, f"{prefix}aa_hi": aa_hi,
                    f"{prefix}band_lo": band[0], f"{prefix}band_hi": band[1],
                    f"{prefix}verdict": "A/A" if arm == aa else classify(
                        lo, hi, aa_lo, aa_hi, n=min(len(pa), len(pq)), below=below,
                        above=above)})
    return out


def aa_base_of(data: StudyData, aa: str | None) -> str | None:
    if aa is None:
        return None
    try:
        return data.plan.arm(aa).base
    except Exception:
        return None


def ols_effects(data: StudyData, arms: Iterable[str], base: str) -> pd.DataFrame:
    """statsmodels OLS of log cycle time on arm (reference: ``base``) and block (and host when
    there are several), over the runs of ``base`` and ``arms`` of equal length."""
    import statsmodels.formula.api as smf

    runs = data.runs
    want = [base, *arms]
    sub = runs[runs["arm"].isin(want)].copy()
    if sub.empty or sub["arm"].nunique() < 2 or sub["block"].nunique() < 2:
        return pd.DataFrame(columns=["arm", "ols_ratio", "ols_lo", "ols_hi", "ols_p"])
    sub["log_t"] = np.log(sub["cycle_time_s"].astype(float))
    formula = f"log_t ~ C(arm, Treatment({base!r})) + C(block)"
    if sub["host"].nunique() > 1:
        formula += " + C(host)"
    fit = smf.ols(formula, data=sub).fit()
    ci = fit.conf_int()
    rows = []
    for name in fit.params.index:
        if not name.startswith("C(arm"):
            continue
        arm = name.split("[T.", 1)[1].rstrip("]")
        rows.append({"arm": arm, "ols_ratio": float(np.exp(fit.params[name])),
                     "ols_lo": float(np.exp(ci.loc[name, 0])),
                     "ols_hi": float(np.exp(ci.loc[name, 1])),
                     "ols_p": float(fit.pvalues[name])})
    return pd.DataFrame(rows)


def effects_table(data: StudyData, *, n_boot: int = 2000, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    rows = []
    for a in data.plan.arms:
        if a.base is None or not a.available:
            continue
        rows.append({**effect(data, a.label, a.base, a.aa, n_boot=n_boot, seed=seed),
                     "group": a.group, "factor": a.factor,
                     "changes_dynamics": a.changes_dynamics})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    ols = []
    for base, grp in table.groupby("base"):
        # equal-length arms only: the OLS compares whole cycle times
        arms = [x for x in grp["arm"] if _same_length(data, x, str(base))]
        ols.append(ols_effects(data, arms, str(base)))
    ols_frame = pd.concat(ols) if ols else pd.DataFrame(columns=["arm"])
    return table.merge(ols_frame, on="arm", how="left") if len(ols_frame) else table


def _same_length(data: StudyData, a: str, b: str) -> bool:
    try:
        return data.plan.arm(a).cycles == data.plan.arm(b).cycles
    except Exception:
        return False


def arm_summary(data: StudyData) -> pd.DataFrame:
    runs = data.runs
    if runs.empty:
        return pd.DataFrame()
    cols = [c for c in ("cycle_time_s", "cpu_s", "blocked_s", "process_wall_s",
                        "slope_s_per_cycle", "curvature_s_per_cycle2",
                        "rss_slope_bytes_per_cycle", "rss_max_bytes", "frag_mean",
                        "frag_slope_per_cycle") if c in runs]
    g = runs.groupby("arm")
    out = g[cols].median()
    out.insert(0, "n", g.size())
    if "cycles" in runs:
        out.insert(1, "cycles", g["cycles"].first())
    if "cpu_s" in out and "cycle_time_s" in out:
        out["cpu_share"] = out["cpu_s"] / out["cycle_time_s"]
    return out.reset_index()


def cost_shares(data: StudyData, effects: pd.DataFrame, *, n_boot: int = 2000,
                seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Share of the unoptimized run's cycle time each cost accounts for, and the leftover."""
    if effects.empty:
        return pd.DataFrame()
    off = effects[(effects["group"] == "switch-off") & (effects["base"] == "base-unoptimized")]
    rows = [{"cost": r["arm"].removeprefix("unoptimized-off-"), "share": 1 - r["ratio"],
             "lo": 1 - r["hi"], "hi": 1 - r["lo"], "n": r["n"]} for _, r in off.iterrows()]
    lean = paired(data, "base-lean", "base-unoptimized")
    if len(lean) and rows:
        est, lo, hi = block_ratio(lean["arm"], lean["base"])
        total = 1 - est
        rows.append({"cost": "all costs (lean vs unoptimized)", "share": total, "lo": 1 - hi,
                     "hi": 1 - lo, "n": len(lean)})
        rows.append({"cost": "leftover: interactions and the resonance switch",
                     "share": total - sum(r["share"] for r in rows[:-1]), "lo": math.nan,
                     "hi": math.nan, "n": len(lean)})
    return pd.DataFrame(rows)


def dynamics_check(data: StudyData) -> pd.DataFrame:
    """Population histories of every arm against its base's, block by block."""
    rows = []
    for a in data.plan.arms:
        if a.base is None:
            continue
        pa = data.runs[data.runs["arm"] == a.label]
        pb = data.runs[data.runs["arm"] == a.base].set_index("block")
        identical, diffs, mean_a, mean_b, n = 0, [], [], [], 0
        for _, r in pa.iterrows():
            if r["block"] not in pb.index:
                continue
            ha, hb = data.histories.get(r["name"], {}), data.histories.get(
                pb.loc[r["block"], "name"], {})
            n += 1
            common = [c for c in ha if c in hb]
            same = all(ha[c][: len(hb[c])] == hb[c][: len(ha[c])] for c in common)
            identical += int(same)
            for c in common:
                k = min(len(ha[c]), len(hb[c]))
                if k:
                    diffs.append(max(abs(x - y) for x, y in zip(ha[c][:k], hb[c][:k],
                                                                 strict=True)))
                    mean_a.append(float(np.mean(ha[c][:k])))
                    mean_b.append(float(np.mean(hb[c][:k])))
        if n == 0:
            continue
        rows.append({"arm": a.label, "base": a.base, "changes_dynamics": a.changes_dynamics,
                     "pairs": n, "identical_histories": identical,
                     "max_abs_population_diff": max(diffs) if diffs else math.nan,
                     "mean_population_arm": float(np.mean(mean_a)) if mean_a else math.nan,
                     "mean_population_base": float(np.mean(mean_b)) if mean_b else math.nan,
                     "unexpected": (not a.changes_dynamics) and identical < n})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ verdicts
def _row(h: str, verdict: str, statistic: str, n: Any, ci: str, arms: str,
         note: str = "") -> dict[str, Any]:
    return {"hypothesis": h, "name": HYPOTHESES[h], "verdict": verdict, "statistic": statistic,
            "n": n, "ci": ci, "deciding_arms": arms, "rule": VERDICT_RULES[h], "note": note}


def _ols_covariate(runs: pd.DataFrame, column: str) -> tuple[float, float, float, int] | None:
    import statsmodels.formula.api as smf

    if runs.empty or column not in runs:
        return None
    sub = runs[["arm", "block", "cycle_time_s", column]].dropna()
    sub = sub[sub["cycle_time_s"] > 0]
    # a covariate that varies only in its last bits (the per-run mean of a constant reading:
    # 2445.432 and 2445.4320000000002) does not vary: rounded to 1e-6 of its scale first,
    # else an OLS on float noise gives a "refuted" H4 (seen on the long-scale study)
    scale = max(float(sub[column].abs().max()), 1.0) if len(sub) else 1.0
    if (len(sub) < 6 or (sub[column] / scale).round(6).nunique() < 3
            or float(sub[column].std()) <= 1e-9 * scale):
        return None
    sub = sub.assign(log_t=np.log(sub["cycle_time_s"].astype(float)))
    terms = ["C(arm)"] if sub["arm"].nunique() > 1 else []
    if sub["block"].nunique() > 1:
        terms.append("C(block)")
    fit = smf.ols("log_t ~ " + " + ".join([*terms, column]), data=sub).fit()
    if not np.isfinite(fit.bse[column]) or fit.df_resid < 1:
        return None
    lo, hi = fit.conf_int().loc[column]
    return float(fit.params[column]), float(lo), float(hi), len(sub)


def verdicts(data: StudyData, effects: pd.DataFrame) -> pd.DataFrame:
    rows = []
    rows.append(h1_row(data, H1_RULE))  # H1: the contention arm's dose-response (issue #23)
    # issue #23: H2, H3 and H5 are decided by the long fixed-workload arms only (the short
    # arms are cost levels, in the effects table)
    long = long_verdicts(data, _row)
    rows += [long["H2"], long["H3"]]
    temp = data.runs["cpu_temp_c"] if "cpu_temp_c" in data.runs else pd.Series(dtype=float)
    cov = _ols_covariate(data.runs, "cpu_freq_mhz")
    if cov is None and temp.dropna().empty:
        rows.append(_row("H4", NOT_TESTABLE_HERE, "-", len(data.runs), "-", "all arms",
                         "no CPU temperature readings and no CPU frequency variation (a VM "
                         "usually exposes neither)"))
    elif cov is None:
        rows.append(_row("H4", NOT_TESTABLE_HERE, "-", len(data.runs), "-", "all arms",
                         "no CPU frequency variation across runs"))
    else:
        b, lo, hi, n = cov
        v = SUPPORTED if hi < 0 else REFUTED if lo > 0 else WITHIN_NOISE
        rows.append(_row("H4", v, f"log cycle time per MHz {b:+.2e}", n,
                         f"[{lo:+.2e}, {hi:+.2e}]", "all arms (CPU frequency covariate)"))
    rows.append(long["H5"])
    from nrm.study.control_analysis import (
        verdict_rows,  # issue #15: the H2 controls, the worker arm
    )

    rows += verdict_rows(data, effects)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ entry point
@dataclass
class StudyResults:
    data: StudyData
    arms: pd.DataFrame
    effects: pd.DataFrame
    shares: pd.DataFrame
    dynamics: pd.DataFrame
    verdicts: pd.DataFrame
    headline: pd.DataFrame


def analyse(data: StudyData, *, n_boot: int = 2000, seed: int = DEFAULT_SEED) -> StudyResults:
    eff = effects_table(data, n_boot=n_boot, seed=seed)
    head = eff[eff["group"] == "headline"] if not eff.empty else eff
    return StudyResults(data, arm_summary(data), eff,
                        cost_shares(data, eff, n_boot=n_boot, seed=seed),
                        dynamics_check(data), verdicts(data, eff), head)


def analyse_study(out: str | Path, *, to: str | Path | None = None, n_boot: int = 2000,
                  seed: int = DEFAULT_SEED) -> StudyResults:
    """Analyse the study in ``out`` and write its tables to ``to`` (default ``OUT/analysis``)."""
    data = load_study(out)
    if data.runs.empty:
        raise StudyError(f"{out}: no complete run yet; run `nrm study run --out {out}` first")
    res = analyse(data, n_boot=n_boot, seed=seed)
    write_tables(res, Path(to) if to is not None else Path(out) / "analysis")
    return res


def write_tables(res: StudyResults, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("arms", "effects", "shares", "dynamics", "verdicts", "headline"):
        frame: pd.DataFrame = getattr(res, name)
        atomic_write_text(folder / f"{name}.csv", frame.to_csv(index=False))
    atomic_write_text(folder / "runs.csv", res.data.runs.to_csv(index=False))
    plan = res.data.plan
    atomic_write_json(folder / "study_summary.json", {
        "study": str(res.data.out), "scale": plan.scale.name, "seed": plan.seed,
        "repeats": plan.repeats, "runs": len(res.data.runs),
        "arms": [{"label": a.label, "group": a.group, "base": a.base, "factor": a.factor,
                  "available": a.available, "note": a.note, "scale_note": plan.scale_note(a)}
                 for a in plan.arms],
        "skipped": [{"label": s.label, "reason": s.reason} for s in plan.skipped],
        "verdicts": res.verdicts.to_dict(orient="records"),
    })
    from nrm.study.control_analysis import write_tables as write_control_tables

    write_control_tables(res, folder)  # issue #15: controls, dbgrow and workers tables
    from nrm.study.contention_analysis import write_tables as write_contention_tables
    from nrm.study.long_analysis import write_table as write_long_table

    write_contention_tables(res.data, folder)  # issue #23: the H1 contention arm
    write_long_table(res.data, folder)  # issue #23: drift of every long run


def format_verdicts(res: StudyResults) -> str:
    lines = [f"{len(res.data.runs)} complete runs; effects on cycle time and on its growth "
             "(arm / base, 95 % block-bootstrap CI; A/A noise band):"]
    for _, r in res.effects.iterrows():
        lines.append(
            f"  {r['arm']:<36} n={r['n']:<3} time {r['ratio']:.3f} [{r['lo']:.3f}, "
            f"{r['hi']:.3f}] band [{r['band_lo']:.3f}, {r['band_hi']:.3f}] {r['verdict']}; "
            f"growth {r['g_ratio']:.3f} [{r['g_lo']:.3f}, {r['g_hi']:.3f}] {r['g_verdict']}")
    lines.append("verdicts:")
    for _, r in res.verdicts.iterrows():
        lines.append(f"  {r['hypothesis']} {r['name']}: {r['verdict']} ({r['statistic']}; "
                     f"n {r['n']}; CI {r['ci']})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ budget
def estimate_budget(data: StudyData, target: Any) -> pd.DataFrame:
    """Estimated run time of every run of the plan ``target`` from a measured study ``data``
    (normally the smoke study): per arm, the measured start-up (process time minus cycle time)
    plus the measured time per cycle scaled to the target's cycles and agents (by the square of
    the agent ratio for arms that test and commit every pair, linearly otherwise). The per-cycle
    time is taken as constant, so arms whose cycles grow costlier are underestimated. An
    estimate, never a measurement."""
    runs = data.runs
    if runs.empty or "cycles" not in runs:
        raise StudyError(f"{data.out}: no complete run with a cycle log to estimate from")
    rows = []
    for arm in target.arms:
        if not arm.available:
            continue
        got = runs[runs["arm"] == arm.label]
        try:
            measured_arm = data.plan.arm(arm.label)
        except Exception:
            measured_arm = None
        if got.empty or measured_arm is None:
            rows.append({"arm": arm.label, "runs": target.repeats, "estimate_s": math.nan,
                         "basis": "not in the measured study"})
            continue
        conds = 4
        per_cycle = float((got["cycle_time_s"] / (got["cycles"] * conds)).median())
        startup = float((got["process_wall_s"] - got["cycle_time_s"]).clip(lower=0).median())
        costs = arm.cost_switches()
        pairwise = costs is not None and costs.resonance == "pairwise"
        m_agents = measured_arm.max_agents or 1
        k = (arm.max_agents or m_agents) / m_agents
        scale = k * k if pairwise else k
        one = startup + per_cycle * scale * (arm.cycles or 0) * conds
        rows.append({"arm": arm.label, "runs": target.repeats, "per_run_s": one,
                     "estimate_s": one * target.repeats,
                     "basis": f"{len(got)} measured runs, {int(got['cycles'].iloc[0])} cycles, "
                              f"{m_agents} agents; agent factor {scale:.2f}"})
    return pd.DataFrame(rows)
