"""nrm.stats.drift on synthetic series with known drift, work and noise; HAC checked against
statsmodels and a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from nrm.exceptions import ParameterError
from nrm.stats.drift import (
    MIN_CYCLES,
    andrews_lags,
    classify_shape,
    drift,
    drift_of_cycles,
    fixed_b_critical,
    ramp_end,
)


def ar1(n: int, phi: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise with innovation sd ``sd``."""
    e = rng.normal(0.0, sd, n)
    u = np.empty(n)
    u[0] = e[0] / math.sqrt(1 - phi**2)
    for i in range(1, n):
        u[i] = phi * u[i - 1] + e[i]
    return u


def covers(ci: tuple[float, float], value: float) -> bool:
    return ci[0] <= value <= ci[1]


# -- the three series the issue names ------------------------------------------------------

def test_ramp_then_flat_has_no_drift_and_the_ramp_is_left_out() -> None:
    rng = np.random.default_rng(11)
    n, cap = 800, 10
    cycle = np.arange(n)
    pop = np.minimum(cap, 1 + cycle // 12)  # reaches the cap at cycle 108
    wall = 0.01 * pop + ar1(n, 0.5, 0.002, rng)
    res = drift(wall, population=pop, cap=cap)
    assert res.testable and not res.workload_known
    assert res.ramp_end == int(np.flatnonzero(pop >= cap)[0])
    assert res.n == n - res.ramp_end
    assert covers(res.drift_ci, 0.0)
    assert res.shape == "flat"
    # the same series read from cycle 0 shows the ramp as a (spurious) upward drift
    naive = drift(wall)
    assert naive.drift_s > res.drift_ci[1]


def test_planted_five_percent_per_1000_cycles_is_detected() -> None:
    rng = np.random.default_rng(12)
    n, base, rate = 2000, 0.1, 0.05
    cycle = np.arange(n)
    wall = base * (1 + rate * cycle / 1000) + ar1(n, 0.5, 0.004, rng)
    res = drift(wall, index=cycle)
    planted_s = base * rate  # seconds per cycle gained per 1000 cycles
    assert res.drift_ci[0] > 0
    assert covers(res.drift_ci, planted_s)
    planted_pct = 100 * planted_s / float(np.mean(base * (1 + rate * cycle / 1000)))
    assert covers(res.drift_pct_ci, planted_pct)
    assert abs(res.drift_pct - 5.0) < 1.0
    assert res.shape == "ramp"
    assert "%" in res.describe() and "\n" not in res.describe()


def _growing_work_log(rng: np.random.Generator, n: int = 1500) -> tuple[pd.DataFrame, dict]:
    cycle = np.arange(n)
    pop = np.full(n, 10)
    costs = {"cycle": 0.004, "commits": 0.0015, "samples": 0.0004, "evolve_calls": 0.0002,
             "registry_x_agents": 2e-6}
    commits = rng.poisson(5 + cycle / 150)
    samples = rng.poisson(20 + cycle / 100)
    evolve = rng.poisson(40, n)
    registry = np.cumsum(rng.poisson(1.0, n))  # about one entry a cycle, not exactly
    work = (costs["commits"] * commits + costs["samples"] * samples
            + costs["evolve_calls"] * evolve + costs["registry_x_agents"] * registry * pop)
    wall = costs["cycle"] + work + ar1(n, 0.4, 0.002, rng)
    df = pd.DataFrame({"step": cycle, "condition": "OFF-OFF", "cycle": cycle, "wall_s": wall,
                       "population": pop, "commits": commits, "samples": samples,
                       "evolve_calls": evolve, "registry_size": registry})
    return df, costs


def test_growing_work_at_constant_unit_cost_is_not_drift() -> None:
    df, costs = _growing_work_log(np.random.default_rng(13))
    res = drift_of_cycles(df, cap=10)
    assert res.workload_known and res.testable
    assert res.ramp_end == 0
    assert covers(res.drift_ci, 0.0)
    assert res.drift_raw_ci[0] > 0  # the raw time does grow ...
    assert res.explained_share > 0.8  # ... and the work counters explain it
    for name, value in costs.items():
        c = res.unit_cost(name)
        assert covers((c.ci_low, c.ci_high), value), (name, c)
    assert res.shape == "flat"
    row = res.to_dict()
    assert row["cost_commits"] == res.unit_cost("commits").estimate
    assert row["drift_ci_low"] == res.drift_ci[0]
    # the same log without its counters: the growth reads as drift, flagged as unknown work
    raw = drift_of_cycles(df, cap=10, counters=None)
    assert not raw.workload_known and raw.drift_ci[0] > 0
    assert "workload unknown" in raw.describe()


def test_counters_that_cannot_be_separated_are_dropped_and_named() -> None:
    rng = np.random.default_rng(14)
    n = 300
    cycle = np.arange(n)
    df = pd.DataFrame({"cycle": cycle, "population": 10, "commits": 3, "samples":
                       rng.poisson(10, n), "registry_size": cycle + 5})
    df["wall_s"] = 0.01 + 0.001 * df["samples"] + 1e-5 * df["registry_size"] * 10 \
        + rng.normal(0, 5e-4, n)
    res = drift_of_cycles(df)
    dropped = dict(res.dropped)
    assert set(dropped) == {"commits", "registry_x_agents"}
    assert "constant" in dropped["commits"]
    assert "linear function" in dropped["registry_x_agents"]
    # the registry's cost, collinear with age, is in the drift: 1e-5 s x 10 agents per cycle
    assert covers(res.drift_ci, 1e-4 * 1000)
    assert "registry_x_agents" in res.to_dict()["dropped"]


# -- the interval keeps its level under autocorrelation --------------------------------------

def test_ar1_noise_does_not_make_the_drift_interval_under_cover() -> None:
    rng = np.random.default_rng(15)
    n, reps, phi = 300, 200, 0.5
    x = np.arange(n)
    X = sm.add_constant(x.astype(float))
    hac_hits = naive_hits = 0
    for _ in range(reps):
        y = 0.1 + ar1(n, phi, 0.003, rng)
        res = drift(y)
        hac_hits += covers(res.drift_ci, 0.0)
        lo, hi = sm.OLS(y, X).fit().conf_int()[1]
        naive_hits += lo <= 0 <= hi
    assert hac_hits / reps >= 0.90
    assert naive_hits / reps < hac_hits / reps  # iid errors under-cover here


def test_hac_standard_error_matches_statsmodels_and_a_hand_computation() -> None:
    rng = np.random.default_rng(16)
    n, lags = 250, 7
    x = np.arange(n, dtype=float)
    w = rng.poisson(8, n).astype(float)
    y = 0.02 + 0.003 * w + 1e-5 * x + ar1(n, 0.6, 0.001, rng)
    res = drift(y, work={"commits": w}, index=x, hac_lags=lags)
    xc = (x - x.mean()) / 1000
    X = np.column_stack([np.ones(n), xc, w])
    ref = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    assert res.drift_s == pytest.approx(ref.params[1], rel=1e-9)
    assert res.drift_se == pytest.approx(ref.bse[1], rel=1e-9)
    assert res.unit_cost("commits").se == pytest.approx(ref.bse[2], rel=1e-9)
    assert res.unit_cost("cycle").estimate == pytest.approx(ref.params[0], rel=1e-9)
    # by hand: bread (X'X)^-1, Bartlett-weighted meat of the scores
    e = y - X @ np.linalg.solve(X.T @ X, X.T @ y)
    s = X * e[:, None]
    meat = s.T @ s
    for j in range(1, lags + 1):
        g = s[j:].T @ s[:-j]
        meat += (1 - j / (lags + 1)) * (g + g.T)
    bread = np.linalg.inv(X.T @ X)
    assert res.drift_se == pytest.approx(math.sqrt((bread @ meat @ bread)[1, 1]), rel=1e-9)
    # the interval is estimate ± (t quantile x the Kiefer-Vogelsang factor) x se
    b = (lags + 1) / n
    crit = stats.t.ppf(0.975, n - 3) * (1 + (2.9694 * b + 0.416 * b**2 - 0.5324 * b**3) / 1.96)
    assert res.critical == pytest.approx(crit, rel=1e-12)
    assert res.drift_ci[1] - res.drift_s == pytest.approx(crit * ref.bse[1], rel=1e-9)


def test_andrews_lag_rule_by_hand() -> None:
    rng = np.random.default_rng(17)
    r = ar1(1000, 0.5, 1.0, rng)
    rho = float(r[1:] @ r[:-1] / (r @ r))
    alpha = 4 * rho**2 / ((1 - rho) ** 2 * (1 + rho) ** 2)
    assert andrews_lags(r) == math.ceil(1.1447 * (alpha * 1000) ** (1 / 3))
    white = rng.normal(size=1000)
    assert andrews_lags(white) == math.floor(4 * (1000 / 100) ** (2 / 9))  # NW floor
    assert andrews_lags(ar1(100, 0.99, 1.0, rng)) <= 25  # capped at n / 4
    assert fixed_b_critical(0.95, 10**6, 0, 10**6) == pytest.approx(1.959964, abs=1e-5)


# -- ramp, too short, shapes, errors -----------------------------------------------------

def test_ramp_rules() -> None:
    pop = np.array([1, 2, 4, 7, 9, 10, 9, 10, 10, 10])
    assert ramp_end(pop, cap=10) == 5
    assert ramp_end(pop, cap=None) == 4  # within max(1, 10 %) of the final level 10
    assert ramp_end(None) == 0
    assert ramp_end(np.array([1, 2, 3]), cap=10) is None


def test_not_testable_results_say_why() -> None:
    rng = np.random.default_rng(18)
    y = 0.1 + rng.normal(0, 0.001, 200)
    never = drift(y, population=np.full(200, 5), cap=10)
    assert not never.testable and "never reached its cap of 10" in never.reason
    pop = np.minimum(10, np.arange(200) // 18 + 1)  # cap at cycle 162: 38 rows left
    short = drift(y, population=pop, cap=10, min_cycles=50)
    assert not short.testable and short.reason.startswith("too short")
    assert short.ramp_end == 162 and short.n == 38
    assert math.isnan(short.drift_s)
    assert short.describe().startswith("drift not testable: too short")
    assert drift(y[: MIN_CYCLES - 1]).reason.startswith("too short")


@pytest.mark.parametrize("shape", ["flat", "warm-up", "step", "ramp", "accelerating"])
def test_shape_rules_on_clear_cases(shape: str) -> None:
    rng = np.random.default_rng(19)
    n = 600
    x = np.arange(n, dtype=float)
    level = {
        "flat": np.full(n, 0.1),
        "warm-up": 0.1 + 0.03 * np.exp(-x / 20),
        "step": 0.1 + 0.01 * (x >= 350),
        "ramp": 0.1 * (1 + 0.1 * x / 1000),
        "accelerating": 0.1 * (1 + 0.5 * (x / n) ** 3),
    }[shape]
    z = level + ar1(n, 0.3, 0.002, rng)
    assert classify_shape(z, x)[0] == shape
    assert drift(z, index=x).shape == shape


def test_elapsed_time_index_and_errors() -> None:
    rng = np.random.default_rng(20)
    t = np.cumsum(np.full(400, 0.5))  # elapsed seconds
    y = 0.5 * (1 + 0.02 * t / 1000) + rng.normal(0, 1e-3, 400)
    res = drift(y, index=t, index_unit="s")
    assert "per 1000 s " in res.describe() and covers(res.drift_ci, 0.01)
    two = pd.DataFrame({"condition": ["A", "B"] * 20, "cycle": range(40), "wall_s": 0.1})
    with pytest.raises(ParameterError, match="one condition at a time"):
        drift_of_cycles(two)
    with pytest.raises(ParameterError, match="work column 'commits'"):
        drift(np.ones(40), work={"commits": np.ones(39)})
    with pytest.raises(ParameterError, match="no 'wall_s' column"):
        drift_of_cycles(pd.DataFrame({"cycle": range(40)}))
