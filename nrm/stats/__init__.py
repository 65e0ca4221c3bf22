"""The paper's statistics, computed from run logs (DataFrames in, DataFrames out).

Modules, one concern each:

- ``verdict``      the verdict words and HYPOTHESES, defined once; threshold verdicts
- ``rules``        the one declared rule set for H1-H5 (a frozen dataclass of thresholds)
- ``hypotheses``   Phase 1A: H1-H5 tests and verdicts (supported / not supported / not testable)
- ``variance``     runtime variance vs a baseline, milestone table, cumulative-runtime curve
- ``prediction``   early prediction of the total runtime from the first 10 % / 20 % of cycles
- ``comparison``   Phase 1B: unoptimized vs optimized runs (speedup, Welch, d, Levene, ...)
- ``tables``       number formatting and Markdown / LaTeX rendering
- ``_regression``, ``_correlation``, ``_data``   numerical helpers

Entry points for the notebooks: :func:`analyse_run` and :func:`compare_runs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd

from nrm.instrument.reader import RunData
from nrm.stats._data import TimeSource, as_cycles
from nrm.stats.comparison import compare_runs, compare_times
from nrm.stats.hypotheses import HypothesisResults, evaluate_hypotheses
from nrm.stats.prediction import early_prediction
from nrm.stats.rules import DEFAULT_RULES, HypothesisRules
from nrm.stats.tables import format_table, to_latex, to_markdown
from nrm.stats.variance import (
    Baseline,
    condition_summary,
    milestone_table,
    runtime_curve,
    runtime_summary,
)
from nrm.stats.verdict import HYPOTHESES, NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED

__all__ = [
    "DEFAULT_RULES",
    "HYPOTHESES",
    "NOT_SUPPORTED",
    "NOT_TESTABLE",
    "SUPPORTED",
    "HypothesisResults",
    "HypothesisRules",
    "RunAnalysis",
    "analyse_run",
    "compare_runs",
    "compare_times",
    "condition_summary",
    "early_prediction",
    "evaluate_hypotheses",
    "format_table",
    "milestone_table",
    "runtime_curve",
    "runtime_summary",
    "to_latex",
    "to_markdown",
]


@dataclass(frozen=True)
class RunAnalysis:
    """Every table of one run's analysis (see :func:`analyse_run`)."""

    summary: pd.DataFrame  # expected vs actual runtime, variance
    conditions: pd.DataFrame  # per-condition per-cycle time statistics
    milestones: pd.DataFrame  # fractions of the run: elapsed, expected, variance, both rates
    curve: pd.DataFrame  # cumulative runtime vs the baseline's
    hypotheses: pd.DataFrame  # H1-H5 verdicts
    hypothesis_tests: pd.DataFrame  # every test behind the verdicts, with the breakdown
    prediction: pd.DataFrame  # early prediction of the total runtime
    rules: pd.DataFrame  # the rule set used

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.as_dict()[name]

    def to_markdown(self, *, skip: Sequence[str] = ("curve", "hypothesis_tests")) -> str:
        """All tables (except the long ones in ``skip``) as Markdown sections."""
        parts = []
        for name, df in self.as_dict().items():
            if name not in skip:
                parts.append(f"### {name}\n\n{to_markdown(df)}\n")
        return "\n".join(parts)


def planned_steps_of(run: RunData | pd.DataFrame) -> int | None:
    """The cycles an incomplete nrm run meant to log (``cycles`` x conditions in run.json);
    None for a complete run or a log without that metadata."""
    if not isinstance(run, RunData) or run.complete:
        return None
    params = run.meta.get("parameters") or {}
    try:
        planned = int(params["cycles"]) * len(params["conditions"])
    except (KeyError, TypeError, ValueError):
        return None
    return planned if planned >= len(run.cycles) else None


def analyse_run(
    run: RunData | pd.DataFrame,
    baseline: Baseline | None = None,
    rules: HypothesisRules = DEFAULT_RULES,
    *,
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    prediction_fractions: Sequence[float] = (0.1, 0.2),
    planned_steps: int | None = None,
    curve_points: int | None = 1000,
    time_source: TimeSource = "auto",
) -> RunAnalysis:
    """The paper's statistics for one run: runtime variance vs ``baseline`` (a RunData, or an
    expected total in seconds), milestones, the cumulative curve, H1-H5 under ``rules``, and
    the early prediction. ``planned_steps``: the intended number of cycles of an incomplete run
    (otherwise fractions are of the recorded cycles)."""
    as_cycles(run)
    if planned_steps is None:
        planned_steps = planned_steps_of(run)
    summary = runtime_summary(run, baseline, planned_steps=planned_steps, source=time_source)
    excess = float(summary["variance_s"].iloc[0])
    hyp = evaluate_hypotheses(run, rules, observed_excess_s=excess if excess > 0 else None)
    return RunAnalysis(
        summary=summary,
        conditions=condition_summary(run),
        milestones=milestone_table(
            run, baseline, fractions, planned_steps=planned_steps, source=time_source
        ),
        curve=runtime_curve(
            run, baseline, points=curve_points, planned_steps=planned_steps, source=time_source
        ),
        hypotheses=hyp.verdicts,
        hypothesis_tests=hyp.tests,
        prediction=early_prediction(
            run, prediction_fractions, baseline=baseline, planned_steps=planned_steps,
            source=time_source,
        ),
        rules=rules.to_frame(),
    )
