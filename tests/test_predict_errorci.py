"""The interval of the held-out median absolute error (nrm.predict.errorci), against values
worked out by hand and against scipy's own bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nrm.exceptions import ParameterError
from nrm.predict.errorci import median_error_interval
from nrm.predict.model import Linear
from nrm.predict.unitcosts import Fit


def _fit(beta: list[float], cov: list[list[float]], critical: float = 1.959963984540054,
         names: tuple[str, ...] = ("cycle",)) -> Fit:
    return Fit(None, names, np.array(beta, float), np.array(cov, float), 0.0, critical)


def _lin(const: float, a: float, key: str = "k", name: str = "cycle") -> Linear:
    out = Linear(constant=const)
    out.add(key, name, a)
    return out


def test_exact_coefficients_and_equal_errors_give_a_point() -> None:
    fits = {"k": _fit([2.0], [[0.0]])}
    # every run predicted 10 % high: T = 1 + 10 x 2 = 21 s against 21 / 1.1 s measured
    totals = [_lin(1.0, 10.0) for _ in range(5)]
    lo, hi = median_error_interval(totals, fits, [21 / 1.1] * 5)
    assert (lo, hi) == pytest.approx((0.10, 0.10))


def test_one_run_one_coefficient_by_hand() -> None:
    # T = 100 x beta, beta = 1.2 +- se 0.01 with a critical value of 2.5 (a fixed-b fit's):
    # the error is 100 beta / 100 - 1 = beta - 1, 0.2, its interval 0.2 +- 2.5 x 0.01
    fits = {"k": _fit([1.2], [[1e-4]], critical=2.5)}
    lo, hi = median_error_interval([_lin(0.0, 100.0)], fits, [100.0], reps=20000)
    assert lo == pytest.approx(0.175, abs=0.002) and hi == pytest.approx(0.225, abs=0.002)


def test_exact_coefficients_match_scipys_percentile_bootstrap() -> None:
    errors = np.array([0.02, -0.05, 0.08, 0.01, -0.12, 0.04, 0.03, -0.02])
    meas = np.full(errors.size, 50.0)
    fits = {"k": _fit([1.0], [[0.0]])}
    totals = [_lin(0.0, 50.0 * (1 + e)) for e in errors]
    lo, hi = median_error_interval(totals, fits, meas, reps=20000, seed=1)
    ref = stats.bootstrap((np.abs(errors),), np.median, n_resamples=20000, method="percentile",
                          random_state=np.random.default_rng(7)).confidence_interval
    # the median of 8 values takes few distinct values: both land on the same ones
    assert lo == pytest.approx(ref.low, abs=0.006) and hi == pytest.approx(ref.high, abs=0.006)


def test_a_correlation_within_a_fit_is_kept() -> None:
    # T = b1 - b2 with b1, b2 perfectly correlated (same se): the difference has no spread
    f = _fit([3.0, 1.0], [[1e-2, 1e-2], [1e-2, 1e-2]], names=("cycle", "x"))
    total = Linear()
    total.add("k", "cycle", 1.0)
    total.add("k", "x", -1.0)
    lo, hi = median_error_interval([total], {"k": f}, [2.0])
    assert lo == pytest.approx(0.0, abs=1e-6) and hi == pytest.approx(0.0, abs=1e-6)


def test_bad_input_is_refused() -> None:
    fits = {"k": _fit([1.0], [[0.0]])}
    with pytest.raises(ParameterError, match="2 measured"):
        median_error_interval([_lin(0, 1)], fits, [1.0, 2.0])
    with pytest.raises(ParameterError, match="positive"):
        median_error_interval([_lin(0, 1)], fits, [0.0])
    with pytest.raises(ParameterError, match="replicates"):
        median_error_interval([_lin(0, 1)], fits, [1.0], reps=5)
