"""The paper's words about numbers are computed from the numbers, and say the opposite when
the numbers do."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nrm.render.wording import HEADERS, RULE_LABELS, human, rate_meaningful, trend
from nrm.stats.rules import HypothesisRules
from nrm.stats.verdict import threshold_verdict


def test_trend_of_the_issue_example_does_not_rise() -> None:
    # the increments of a 10-minute default build: last > first, but not a rise
    assert trend((-413, 8.46, -76.1)).startswith("does not rise")


@pytest.mark.parametrize(("values", "word"), [
    ((1, 2, 3), "rises"),
    ((-413, -76.1, 8.46), "rises"),
    ((3, 2, 1), "falls"),
    ((8.46, -76.1, -413), "falls"),
    ((2, 2, 2), "stays level"),
    ((1, 3, 2), "does not rise"),
    ((3, 1, 2), "does not rise"),
    ((5,), "cannot be judged"),
    ((), "cannot be judged"),
    ((1, math.nan, 3), "rises"),  # missing values are skipped, not read as zero
])
def test_trend_words(values: tuple[float, ...], word: str) -> None:
    assert trend(values).startswith(word)


def test_a_ci_straddling_the_threshold_is_undecided_never_holds() -> None:
    # the issue's case: 80.2 % reduction, 95 % CI 59.3-92.8 %, against the paper's 80 %
    assert threshold_verdict(80.2, 59.3, 92.8, 80.0, p=0.001) == "undecided"
    assert threshold_verdict(80.2, 59.0, 93.0, 80.0) == "undecided"


@pytest.mark.parametrize(("value", "lo", "hi", "p", "verdict"), [
    (95.0, 90.0, 98.0, 0.001, "holds"),
    (95.0, 90.0, 98.0, 0.2, "does not hold"),  # the Levene half of the prediction fails
    (50.0, 30.0, 70.0, 0.001, "does not hold"),
    (79.0, 70.0, 80.0, 0.001, "does not hold"),  # at most the threshold: not above it
    (81.0, 79.9, 85.0, 0.001, "undecided"),
    (81.0, math.nan, math.nan, 0.001, "undecided"),  # no interval, no decision
])
def test_threshold_verdicts(value: float, lo: float, hi: float, p: float, verdict: str) -> None:
    assert threshold_verdict(value, lo, hi, 80.0, p=p) == verdict


def test_threshold_below() -> None:
    assert threshold_verdict(0.5, 0.4, 0.6, 1.0, above=False) == "holds"
    assert threshold_verdict(1.5, 1.2, 1.8, 1.0, above=False) == "does not hold"
    assert threshold_verdict(1.0, 0.8, 1.2, 1.0, above=False) == "undecided"


def test_rates_per_hour_need_a_run_of_hours() -> None:
    assert not rate_meaningful(600)  # a 10-minute default build
    assert not rate_meaningful(16.2)
    assert rate_meaningful(20.1 * 3600)  # the paper's C255
    assert not rate_meaningful(float("nan"))


def test_every_rule_has_a_human_label_and_raw_headers_are_translated() -> None:
    rules = set(HypothesisRules.__dataclass_fields__)
    assert rules <= set(RULE_LABELS), rules - set(RULE_LABELS)
    df = pd.DataFrame(columns=["cycles_used", "predicted_s", "error_pct", "ci_low", "run"])
    out = list(human(df).columns)
    assert out == [HEADERS["cycles_used"], "predicted total (s)", "error (%)", "95 % CI, low",
                   "run"]
