"""Early prediction of the total runtime, checked on runs whose totals are known in closed form."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from synthlogs import make_cycles, times_only

from nrm.exceptions import ParameterError
from nrm.instrument.reader import RunData
from nrm.stats import early_prediction
from nrm.stats.prediction import extrapolate


def test_constant_pace_is_predicted_exactly_by_every_method() -> None:
    p = early_prediction(times_only(np.full(1000, 0.02)))
    assert len(p) == 6
    assert p["cycles_used"].tolist() == [100] * 3 + [200] * 3
    assert p["predicted_s"].tolist() == pytest.approx([20.0] * 6)
    assert p["error_pct"].abs().max() < 1e-8


def test_linear_drift_by_hand() -> None:
    # wall_i = a + b i: T(k) = a k + b k(k−1)/2, a quadratic in k, so the quadratic method is
    # exact; proportional uses T(m)·N/m, linear the least-squares line through T(1..m).
    a, b, n = 0.01, 1e-5, 2000
    run = times_only(a + b * np.arange(n))
    p = early_prediction(run, (0.1,)).set_index("method")

    def total(k: float) -> float:
        return a * k + b * k * (k - 1) / 2

    actual = total(n)
    assert p.loc["quadratic", "predicted_s"] == pytest.approx(actual, rel=1e-9)
    m = 200
    assert p.loc["proportional", "predicted_s"] == pytest.approx(total(m) * n / m, rel=1e-12)
    k = np.arange(1, m + 1)
    line = np.polyfit(k, total(k), 1)
    assert p.loc["linear", "predicted_s"] == pytest.approx(np.polyval(line, n), rel=1e-9)
    assert p.loc["proportional", "error_pct"] == pytest.approx(
        100 * (total(m) * n / m - actual) / actual, rel=1e-9
    )
    assert p.loc["proportional", "error_pct"] < -30  # a progress bar badly underestimates


def test_prediction_as_variance_with_baseline() -> None:
    run = times_only(np.full(100, 1.5))
    p = early_prediction(run, (0.2,), baseline=100.0, methods=("proportional",)).iloc[0]
    assert p["predicted_variance_pct"] == pytest.approx(50.0)
    assert p["actual_variance_pct"] == pytest.approx(50.0)


def test_incomplete_run_has_no_error() -> None:
    df = times_only(np.full(300, 1.0))
    run = RunData(path=Path("x"), meta={"status": "running"}, cycles=df, complete=False)
    p = early_prediction(run, (0.1,), planned_steps=1000).set_index("method")
    assert p.loc["proportional", "predicted_s"] == pytest.approx(1000.0)
    assert math.isnan(p.loc["proportional", "actual_s"])
    assert math.isnan(p.loc["proportional", "error_pct"])
    p = early_prediction(run, (0.5,), planned_steps=1000)
    assert p["predicted_s"].isna().all()  # 500 cycles needed, 300 recorded


def test_noisy_log_with_a_linear_drift() -> None:
    # per-cycle time drifting up (plus noise, AR(1) errors and set-up pauses): the quadratic
    # extrapolation lands within 10 %, the constant-pace guess misses by about half
    p = early_prediction(make_cycles(500, seed=2, wall="linear"))
    err = p.set_index(["fraction", "method"])["error_pct"]
    assert abs(err[(0.2, "quadratic")]) < 10
    assert err[(0.2, "proportional")] < -40
    assert abs(err[(0.1, "quadratic")]) < abs(err[(0.1, "linear")])


def test_bad_arguments() -> None:
    run = times_only(np.full(10, 1.0))
    with pytest.raises(ParameterError, match="fraction"):
        early_prediction(run, (1.5,))
    with pytest.raises(ParameterError, match="method"):
        extrapolate(np.ones(5), 10, "cubic")
