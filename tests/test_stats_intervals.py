"""nrm.stats.intervals against scipy and statsmodels, and its coverage on simulated A/A
studies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import DescrStatsW

from nrm.exceptions import ParameterError
from nrm.stats.intervals import (
    EQUIVALENT,
    NOT_TESTABLE,
    REFUTED,
    SUPPORTED,
    WITHIN_NOISE,
    block_log_ratios,
    bonferroni,
    bonferroni_level,
    equivalence_verdict,
    holm,
    log_margin,
    ratio_interval,
)


def test_t_interval_matches_scipy_and_statsmodels() -> None:
    rng = np.random.default_rng(1)
    base = rng.lognormal(0.0, 0.05, 6) * 10
    arm = base * rng.lognormal(0.03, 0.02, 6)
    lr = block_log_ratios(arm, base)
    np.testing.assert_allclose(lr, np.log(arm) - np.log(base))
    ci = ratio_interval(lr, 0.95)
    lo, hi = stats.t.interval(0.95, len(lr) - 1, loc=lr.mean(), scale=stats.sem(lr))
    assert (ci.log_low, ci.log_high) == pytest.approx((lo, hi), rel=1e-12)
    assert (ci.log_low, ci.log_high) == pytest.approx(DescrStatsW(lr).tconfint_mean(0.05),
                                                      rel=1e-12)
    assert ci.df == 5 and ci.n_blocks == 6
    assert ci.ratio == pytest.approx(math.exp(lr.mean()))
    assert (ci.ratio_low, ci.ratio_high) == pytest.approx((math.exp(lo), math.exp(hi)))
    assert "5 df" in ci.describe()
    assert math.isnan(ratio_interval([0.1]).log_low)


def test_aa_studies_with_known_noise_cover_1_at_95_percent() -> None:
    rng = np.random.default_rng(2)
    studies, blocks = 2000, 5
    # each block runs base and arm once; both carry a shared block effect and their own noise
    block = rng.lognormal(0.0, 0.10, (studies, blocks))
    base = 10 * block * rng.lognormal(0.0, 0.03, (studies, blocks))
    arm = 10 * block * rng.lognormal(0.0, 0.03, (studies, blocks))
    t_hits = z_hits = 0
    for a, b in zip(arm, base, strict=True):
        ci = ratio_interval(block_log_ratios(a, b), 0.95)
        t_hits += ci.covers(0.0)
        z_hits += abs(ci.mean_log) <= 1.959964 * ci.se_log
    coverage = t_hits / studies
    assert 0.93 <= coverage <= 0.97
    # a normal (z) interval on the same 5 blocks under-covers: the 4 df matter
    assert z_hits / studies < 0.92


def test_holm_and_bonferroni_match_statsmodels() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    np.testing.assert_allclose(bonferroni(p), multipletests(p, method="bonferroni")[1])
    assert holm([]).size == 0
    assert bonferroni_level(0.95, 4) == pytest.approx(0.9875)
    with pytest.raises(ParameterError):
        bonferroni_level(0.95, 0)


def test_tost_p_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    lr = rng.normal(0.01, 0.02, 8)
    m = log_margin(1.05)
    eq = equivalence_verdict(lr, m)
    p_ref = DescrStatsW(lr).ttost_mean(-m, m)[0]
    assert eq.p_tost == pytest.approx(p_ref, rel=1e-9)
    lo90, hi90 = DescrStatsW(lr).tconfint_mean(0.10)
    assert (eq.tost_low, eq.tost_high) == pytest.approx((lo90, hi90), rel=1e-12)
    assert (eq.verdict == EQUIVALENT) == (-m < lo90 and hi90 < m)


def _study(effect: float, sd: float, blocks: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = 10 * rng.lognormal(0.0, 0.1, blocks)
    arm = base * np.exp(effect + rng.normal(0.0, sd, blocks))
    return block_log_ratios(arm, base)


def test_equivalence_verdicts_on_synthetic_studies() -> None:
    m = log_margin(1.05)
    null = equivalence_verdict(_study(0.0, 0.01, 8, 4), m)
    assert null.verdict == EQUIVALENT
    assert -m < null.tost_low and null.tost_high < m
    slower = _study(math.log(1.2), 0.01, 8, 5)
    assert equivalence_verdict(slower, m).verdict == SUPPORTED
    assert equivalence_verdict(slower, m, predicted="decrease").verdict == REFUTED
    faster = _study(-math.log(1.2), 0.01, 8, 6)
    assert equivalence_verdict(faster, m).verdict == REFUTED
    assert equivalence_verdict(faster, m, predicted="decrease").verdict == SUPPORTED
    noisy = equivalence_verdict(_study(0.0, 0.2, 5, 7), m)
    assert noisy.verdict == WITHIN_NOISE
    assert noisy.interval.log_low < 0 < noisy.interval.log_high
    few = equivalence_verdict(_study(math.log(1.2), 0.01, 2, 8), m)
    assert few.verdict == NOT_TESTABLE and "fewer than the minimum 3" in few.reason
    # several arms: a Bonferroni alpha widens the interval
    wide = equivalence_verdict(_study(0.0, 0.01, 8, 4), m, alpha=0.05 / 4)
    assert wide.interval.log_high > null.interval.log_high
    row = null.to_dict()
    assert row["verdict"] == EQUIVALENT and "ci_ratio" in row
    assert null.describe().startswith(EQUIVALENT)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ParameterError, match="one value per block"):
        block_log_ratios([1.0, 2.0], [1.0])
    with pytest.raises(ParameterError, match="positive and finite"):
        block_log_ratios([1.0, -2.0], [1.0, 1.0])
    with pytest.raises(ParameterError, match="margin"):
        equivalence_verdict([0.1, 0.2, 0.3], 0.0)
    with pytest.raises(ParameterError, match="predicted"):
        equivalence_verdict([0.1, 0.2, 0.3], 0.05, predicted="up")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="margin ratio"):
        log_margin(0.95)
