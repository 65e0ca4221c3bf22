"""Phase 1A: the paper's five runtime hypotheses H1-H5 tested on one run log.

Each hypothesis gets the criterion of the declared rule set (nrm/stats/rules.py,
docs/hypothesis-rules.md) and a verdict: supported, not supported, or not testable (with the
reason, e.g. a column the machine could not measure). Every test reports its effect size with a
95 % interval, the textbook p and an autocorrelation-robust p, and says when the two disagree
because consecutive cycles are correlated.

Scopes: the verdict comes from the whole run (x = ``step``, i.e. time across all conditions);
the same tests are repeated within each condition (x = ``cycle``) and reported as a breakdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nrm.instrument.reader import RunData
from nrm.stats._correlation import SpearmanResult, spearman
from nrm.stats._data import RUN_SCOPE, as_cycles, column, cumulative_time, scopes, usable
from nrm.stats._regression import LinearFit, fit_line, fit_quadratic
from nrm.stats.rules import DEFAULT_RULES, HypothesisRules
from nrm.stats.verdict import (
    HYPOTHESES,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    not_testable,
)

__all__ = ["TEST_COLUMNS", "VERDICT_COLUMNS", "HypothesisResults", "evaluate_hypotheses"]

TEST_COLUMNS = (
    "hypothesis", "role", "scope", "variable", "y", "x", "n", "statistic", "estimate", "ci_low",
    "ci_high", "p", "p_robust", "robust_method", "r2", "delta_r2", "f_stat", "quad_coef",
    "durbin_watson", "resid_lag1", "excess_s", "excess_at_threshold_s", "meets", "note",
)
VERDICT_COLUMNS = (
    "hypothesis", "name", "verdict", "criterion", "evidence", "conditions_meeting",
    "excess_s", "excess_at_threshold_s", "excess_share",
)


@dataclass(frozen=True)
class HypothesisResults:
    """``verdicts``: one row per hypothesis; ``tests``: every test behind them."""

    verdicts: pd.DataFrame
    tests: pd.DataFrame
    rules: HypothesisRules

    def verdict(self, hypothesis: str) -> str:
        return str(self.verdicts.set_index("hypothesis").loc[hypothesis, "verdict"])


def evaluate_hypotheses(
    data: RunData | pd.DataFrame,
    rules: HypothesisRules = DEFAULT_RULES,
    *,
    observed_excess_s: float | None = None,
) -> HypothesisResults:
    """Test H1-H5 on a run log. ``observed_excess_s`` (actual − expected runtime, when a
    baseline is known) turns each excess-time estimate into a share of the observed excess."""
    df = as_cycles(data).reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    for label, sub in scopes(df):
        is_run = label == RUN_SCOPE
        ctx = _Scope(label, sub, df, is_run, rules)
        rows += ctx.h1() + ctx.h2() + ctx.h3() + ctx.h4() + ctx.h5()
    tests = pd.DataFrame(rows, columns=list(TEST_COLUMNS))
    tests["meets"] = tests["meets"].astype("boolean")
    verdicts = _verdicts(tests, rules, observed_excess_s)
    return HypothesisResults(verdicts=verdicts, tests=tests, rules=rules)


# --------------------------------------------------------------------------------------------
class _Scope:
    def __init__(
        self, label: str, df: pd.DataFrame, full: pd.DataFrame, is_run: bool, rules: HypothesisRules
    ):
        self.label, self.df, self.full, self.is_run, self.rules = label, df, full, is_run, rules
        self.x_name = "step" if is_run else "cycle"
        self.x = column(df, self.x_name)
        self.time, self.time_name = cumulative_time(df)
        self.robust = rules.p_value == "robust"

    # ---- helpers -------------------------------------------------------------------------
    def _row(self, hyp: str, y: str, x: str, **kw: Any) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, math.nan)
        # variable: the log column tested (a stable key; ``y`` is its label for readers)
        row.update(hypothesis=hyp, role="criterion", scope=self.label, variable=y, y=y, x=x, n=0,
                   statistic="", robust_method="", meets=None, note="")
        row.update(kw)
        return row

    def _untestable(self, hyp: str, y: str, x: str, reason: str, statistic: str) -> dict[str, Any]:
        return self._row(hyp, y, x, statistic=statistic, note=not_testable(reason))

    def _p(self, naive: float, robust: float) -> float:
        return robust if self.robust else naive

    def _spearman_row(
        self,
        hyp: str,
        name: str,
        sign: int,
        *,
        role: str = "criterion",
        x: np.ndarray | None = None,
        x_name: str | None = None,
    ) -> dict[str, Any]:
        r = self.rules
        x_is_time = x is None
        xv = self.time if x is None else x
        xl = f"elapsed time ({self.time_name})" if x_name is None else x_name
        values, reason = usable(self.df, name, r.min_points)
        if values is None:
            row = self._untestable(hyp, name, xl, reason or "", "Spearman rho")
            return row | {"role": role}
        s: SpearmanResult = spearman(xv, values, x_is_time=x_is_time)
        if s.constant:
            row = self._untestable(hyp, name, xl, f"{xl} is constant", "Spearman rho")
            return row | {"role": role}
        p = self._p(s.p, s.p_adj)
        meets = None
        if role == "criterion":
            meets = bool(sign * s.rho > r.rho_threshold and p < r.alpha)
        notes = []
        if s.n_eff < 0.8 * s.n:
            notes.append(
                f"autocorrelated: effective n {s.n_eff:.0f} of {s.n}; scipy's p is optimistic"
            )
        ci = (s.ci_low, s.ci_high)
        return self._row(
            hyp, name, xl, role=role, n=s.n, statistic="Spearman rho", estimate=s.rho,
            ci_low=ci[0], ci_high=ci[1], p=s.p, p_robust=s.p_adj,
            robust_method=f"effective n = {s.n_eff:.0f}", meets=meets, note="; ".join(notes),
        )

    def _line_row(
        self, hyp: str, y_name: str, x_name: str, x: np.ndarray, y: np.ndarray, *, statistic: str,
        min_slope: float, min_r2: float | None, role: str = "criterion",
    ) -> tuple[dict[str, Any], LinearFit | None]:
        r = self.rules
        ok = np.isfinite(x) & np.isfinite(y)
        k = int(ok.sum())
        if k < r.min_points:
            rows = "row" if k == 1 else "rows"
            why = f"only {k} {rows} with {y_name} (at least {r.min_points} needed)"
            return self._untestable(hyp, y_name, x_name, why, statistic) | {"role": role}, None
        if np.ptp(y[ok]) == 0:
            why = f"{y_name} is constant over this part"
            return self._untestable(hyp, y_name, x_name, why, statistic) | {"role": role}, None
        f = fit_line(x, y, hac_lags=r.hac_maxlags)
        p = self._p(f.p_ols, f.p_hac)
        lo, hi = f.ci(robust=self.robust)
        meets = None
        if role == "criterion":
            meets = bool(f.slope > min_slope and p < r.alpha and (min_r2 is None or f.r2 > min_r2))
        return self._row(
            hyp, y_name, x_name, role=role, n=f.n, statistic=statistic, estimate=f.slope,
            ci_low=lo, ci_high=hi, p=f.p_ols, p_robust=f.p_hac,
            robust_method=f"Newey-West HAC, {f.hac_lags} lags", r2=f.r2,
            durbin_watson=f.durbin_watson, resid_lag1=f.resid_lag1, meets=meets,
            note=self._autocorr_note(
                f.resid_lag1, f.durbin_watson, "OLS p of the slope", "HAC p"
            ),
        ), f

    def _autocorr_note(self, r1: float, dw: float, naive: str, robust: str) -> str:
        if np.isfinite(r1) and r1 > self.rules.autocorr_note:
            used = f"the verdict uses the {robust}" if self.robust else "the verdict uses it anyway"
            return (
                f"residual lag-1 autocorrelation {r1:.2f} (Durbin-Watson {dw:.2f}): the {naive} "
                f"is optimistic; {used}"
            )
        return ""

    # ---- H1 resource contention ----------------------------------------------------------
    def h1(self) -> list[dict[str, Any]]:
        rows = [self._spearman_row("H1", v, +1) for v in self.rules.h1_variables]
        if self.is_run:
            rows += [self._vs_wall("H1", v) for v in self.rules.h1_variables if v in self.df]
        return rows

    def _vs_wall(self, hyp: str, name: str) -> dict[str, Any]:
        """Supplementary: Spearman ρ of per-cycle time against the variable (no verdict)."""
        values = column(self.df, name)
        row = self._spearman_row(hyp, "wall_s", 0, role="supplementary", x=values, x_name=name)
        row["note"] = (row["note"] + "; " if row["note"] else "") + (
            f"does per-cycle time rise with {name}? (not part of the verdict)"
        )
        return row

    # ---- H2 memory fragmentation ---------------------------------------------------------
    def h2(self) -> list[dict[str, Any]]:
        r = self.rules
        rows = []
        stat = "delta R2 (quadratic - linear)"
        for name in r.h2_variables:
            values, reason = usable(self.df, name, r.min_points)
            if values is None:
                rows.append(self._untestable("H2", name, self.x_name, reason or "", stat))
                continue
            q = fit_quadratic(self.x, values, hac_lags=r.hac_maxlags)
            p = self._p(q.p_f, q.p_quad_hac)
            # growth: memory ends higher (quadratic fit) and the linear trend is upward with
            # p < alpha (the same p flavour as the verdict), so noise on a hump is not growth
            lin_p = self._p(q.linear.p_ols, q.linear.p_hac)
            finite = values[np.isfinite(values)]
            level0 = float(np.mean(finite[: max(1, finite.size // 10)]))
            material = q.rise > r.h2_min_rel_rise * abs(level0)
            grows = bool(q.rise > 0 and material and q.linear.slope > 0 and lin_p < r.alpha)
            meets = bool(
                q.delta_r2 > r.h2_min_delta_r2 and p < r.alpha
                and (grows or not r.h2_require_growth)
            )
            shape = (
                "convex (growth speeds up)" if q.convex else "concave (growth slows or reverses)"
            )
            notes = [f"curvature {shape}", f"net change over the run {_fmt(q.rise)}",
                     f"linear trend {_fmt(q.linear.slope)} per cycle (p {_fmt(lin_p)})"]
            if r.h2_min_rel_rise > 0:
                rel = q.rise / abs(level0) if level0 else math.nan
                notes.append(f"net rise {_fmt(100 * rel)} % of the starting level "
                             f"(floor {100 * r.h2_min_rel_rise:g} %)")
            if r.h2_require_growth and not grows:
                notes.append("no significant net rise of memory over the run: not growth")
            ac = self._autocorr_note(
                q.resid_lag1, q.durbin_watson, "F-test p", "HAC p of the x² term"
            )
            if ac:
                notes.append(ac)
            rows.append(self._row(
                "H2", name, self.x_name, n=q.n, statistic=stat, estimate=q.delta_r2,
                p=q.p_f, p_robust=q.p_quad_hac,
                robust_method=f"HAC Wald test of x² ({q.linear.hac_lags} lags)",
                r2=q.linear.r2, delta_r2=q.delta_r2, f_stat=q.f_stat, quad_coef=q.quad_coef,
                durbin_watson=q.durbin_watson, resid_lag1=q.resid_lag1, meets=meets,
                note="; ".join(notes),
            ))
        if self.is_run and "gc_pause_s" in self.df:
            y = column(self.df, "gc_pause_s") * 1000
            row, _ = self._line_row(
                "H2", "gc_pause_s", self.x_name, self.x, y, statistic="slope (ms/cycle)",
                min_slope=0.0, min_r2=None, role="supplementary",
            )
            row["note"] = (
                "do GC pauses lengthen? (the paper's second H2 prediction; not part of the verdict)"
            )
            rows.append(row)
        return rows

    # ---- H3 I/O accumulation -------------------------------------------------------------
    def h3(self) -> list[dict[str, Any]]:
        r = self.rules
        rows = []
        stat = "slope (ms per 1000 calls)"
        full = self.full
        for count_col, time_col in r.h3_calls:
            y_name = f"{time_col} per call (ms)"
            x_name = f"cumulative {count_col} (thousands)"
            missing = [c for c in (count_col, time_col) if c not in self.df]
            if missing:
                why = f"{' and '.join(missing)} not in the log"
                rows.append(self._untestable("H3", y_name, x_name, why, stat)
                            | {"variable": time_col})
                continue
            # Cumulative calls over the whole run (the process's history), restricted to the
            # scope's rows: the databases and samplers persist across conditions.
            counts_all = np.nan_to_num(column(full, count_col), nan=0.0)
            cum_all = pd.Series(np.cumsum(counts_all), index=full.index)
            cum = cum_all.loc[self.df.index].to_numpy() / 1000.0
            counts = column(self.df, count_col)
            t = column(self.df, time_col)
            with np.errstate(divide="ignore", invalid="ignore"):
                lat = np.where(counts > 0, t / counts * 1000.0, np.nan)
            if not np.isfinite(lat).any():
                why = f"{count_col} is 0 or missing on every cycle: no calls to time"
                rows.append(self._untestable("H3", y_name, x_name, why, stat)
                            | {"variable": time_col})
                continue
            row, f = self._line_row(
                "H3", y_name, x_name, cum, lat, statistic=stat,
                min_slope=r.h3_min_slope_ms_per_1000_calls, min_r2=r.h3_min_r2,
            )
            row["variable"] = time_col
            if f is not None:
                # latency rises b ms per 1000 calls: a call made after k calls costs b·k/1000 ms
                # more than the first one; summed over this scope's calls.
                k0 = np.nanmin(cum[np.isfinite(lat)])
                w = np.nan_to_num(counts, nan=0.0) * np.clip(cum - k0, 0, None)
                row["excess_s"] = f.slope * float(w.sum()) / 1000.0
                row["excess_at_threshold_s"] = (
                    r.h3_min_slope_ms_per_1000_calls * float(w.sum()) / 1000.0
                )
            rows.append(row)
        return rows

    # ---- H4 thermal throttling -----------------------------------------------------------
    def h4(self) -> list[dict[str, Any]]:
        r = self.rules
        rows = [self._spearman_row("H4", r.h4_temperature, +1),
                self._spearman_row("H4", r.h4_frequency, -1)]
        if self.is_run:
            sensors = (r.h4_temperature, r.h4_frequency)
            rows += [self._vs_wall("H4", v) for v in sensors if v in self.df]
        return rows

    # ---- H5 emergent complexity ----------------------------------------------------------
    def h5(self) -> list[dict[str, Any]]:
        r = self.rules
        y = column(self.df, "wall_s") * 1000.0
        row, f = self._line_row(
            "H5", "wall_s (ms)", self.x_name, self.x, y, statistic="slope (ms/cycle)",
            min_slope=r.h5_min_slope_ms_per_cycle, min_r2=r.h5_min_r2,
        )
        row["variable"] = "wall_s"
        if f is not None:
            # per-cycle time rising b ms a cycle adds b·(x − x0) ms to cycle x: b·n²/2 in all.
            span = float(np.clip(self.x - np.nanmin(self.x), 0, None).sum())
            row["excess_s"] = f.slope * span / 1000.0
            row["excess_at_threshold_s"] = r.h5_min_slope_ms_per_cycle * span / 1000.0
        return [row]


# --------------------------------------------------------------------------------------------
def _decide(hyp: str, rows: pd.DataFrame) -> tuple[str, str]:
    """Verdict and evidence for one hypothesis in one scope (criterion rows only)."""
    rows = rows[rows["role"] == "criterion"]
    testable = rows[rows["meets"].notna()]
    untestable = rows[rows["meets"].isna()]
    reasons = "; ".join(str(n).removeprefix(not_testable("")) for n in untestable["note"])
    if hyp == "H4" and len(untestable):
        return NOT_TESTABLE, f"the AND rule needs temperature and frequency; {reasons}"
    if testable.empty:
        return NOT_TESTABLE, reasons or "no test could be run"
    parts = [_evidence(r) for r in testable.itertuples()]
    if len(untestable):
        parts.append(f"({not_testable(reasons)})")
    if hyp == "H4":
        verdict = SUPPORTED if bool(testable["meets"].all()) else NOT_SUPPORTED
    else:
        verdict = SUPPORTED if bool(testable["meets"].any()) else NOT_SUPPORTED
    return verdict, "; ".join(parts)


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "nan"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.3g}"


def _evidence(r: Any) -> str:
    mark = "meets" if bool(r.meets) else "fails"
    p = f"p {_fmt(r.p)}, robust p {_fmt(r.p_robust)}"
    if r.hypothesis in ("H1", "H4"):
        est = f"ρ = {_fmt(r.estimate)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
    elif r.hypothesis == "H2":
        est = f"ΔR² = {_fmt(r.delta_r2)} (linear R² {_fmt(r.r2)})"
        p = f"F-test p {_fmt(r.p)}, HAC p(x²) {_fmt(r.p_robust)}"
    else:
        unit = "ms/cycle" if r.hypothesis == "H5" else "ms/1000 calls"
        ci = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
        est = f"slope {_fmt(r.estimate)} {unit} {ci}, R² {_fmt(r.r2)}"
    return f"{r.y}: {est}, {p} → {mark}"


def _verdicts(
    tests: pd.DataFrame, rules: HypothesisRules, observed_excess_s: float | None
) -> pd.DataFrame:
    criteria = rules.criteria()
    out = []
    cond_labels = [s for s in pd.unique(tests["scope"]) if s != RUN_SCOPE]
    for hyp, name in HYPOTHESES.items():
        t = tests[tests["hypothesis"] == hyp]
        run = t[t["scope"] == RUN_SCOPE]
        verdict, evidence = _decide(hyp, run)
        if cond_labels:
            decided = [_decide(hyp, t[t["scope"] == c])[0] for c in cond_labels]
            testable = [d for d in decided if d != NOT_TESTABLE]
            meeting = (
                f"{sum(d == SUPPORTED for d in testable)} of {len(testable)}"
                if testable else NOT_TESTABLE
            )
        else:
            meeting = "—"
        crit = run[run["role"] == "criterion"]
        excess = float(crit["excess_s"].sum(min_count=1)) if len(crit) else math.nan
        at_thr = float(crit["excess_at_threshold_s"].sum(min_count=1)) if len(crit) else math.nan
        share = (
            excess / observed_excess_s
            if observed_excess_s and np.isfinite(excess) and observed_excess_s > 0
            else math.nan
        )
        out.append({
            "hypothesis": hyp, "name": name, "verdict": verdict, "criterion": criteria[hyp],
            "evidence": evidence, "conditions_meeting": meeting, "excess_s": excess,
            "excess_at_threshold_s": at_thr, "excess_share": share,
        })
    return pd.DataFrame(out, columns=list(VERDICT_COLUMNS))
