"""Study analysis on synthetic studies: the A/A calibration, planted effects, missing data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nrm.stats.verdict import NOT_TESTABLE_HERE
from nrm.study import analysis as A
from nrm.study import sweep as S


def _synthetic(effects: dict[str, tuple[float, float]], *, blocks: int = 8, seed: int = 1,
               cycles: int = 40, noise: float = 0.03, load: bool = True) -> A.StudyData:
    """Runs of the named arms: per-cycle times rising linearly, a large drift between blocks
    (every arm of a block shares it), a small noise per run and per cycle.
    ``effects[arm] = (level factor, growth factor)`` relative to the base."""
    plan = S.build_plan("smoke", repeats=blocks)
    rng = np.random.default_rng(seed)
    rows, frames, hist = [], {}, {}
    for b in range(blocks):
        drift = math.exp(rng.normal(0, 0.4))  # the machine is 1.5x slower in some blocks
        for arm, (level, growth) in effects.items():
            name = S.run_name(arm, b)
            per_run = math.exp(rng.normal(0, noise))
            cyc = np.arange(cycles)
            parts = []
            for cond in ("OFF-OFF", "ON-ON"):
                wall = 0.01 * level * drift * per_run * (1 + 0.02 * growth * cyc)
                wall = wall * np.exp(rng.normal(0, noise, cycles))
                parts.append(pd.DataFrame({"condition": cond, "cycle": cyc, "wall_s": wall,
                                           "cpu_s": wall * 0.5, "blocked_s": wall * 0.5}))
            frame = pd.concat(parts, ignore_index=True)
            frames[name] = frame
            hist[name] = {"OFF-OFF": [1] * cycles}
            rows.append({"name": name, "arm": arm, "block": b, "host": "h", "cycles": cycles,
                         "cycle_time_s": float(frame["wall_s"].sum()),
                         "load_before": float(rng.uniform(0, 4)) if load else 1.0,
                         "cpu_freq_mhz": 2600.0})
    return A.StudyData(None, plan, pd.DataFrame(rows), frames, hist)  # type: ignore[arg-type]


BASE, AA, ARM = "base-unoptimized", "aa-unoptimized", "unoptimized-off-sqlite"


def test_no_effect_is_within_noise() -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (1, 1)})
    eff = A.effect(data, ARM, BASE, AA, n_boot=1000)
    assert eff["n"] == 8 and eff["n_aa"] == 8
    assert abs(math.log(eff["ratio"])) < 0.05  # the interval alone may miss 1: the A/A decides
    assert eff["verdict"] == A.WITHIN_NOISE and eff["g_verdict"] == A.WITHIN_NOISE
    res = A.analyse(data, n_boot=1000)
    h3 = res.verdicts.set_index("hypothesis").loc["H3"]
    assert h3["verdict"] == A.WITHIN_NOISE and "unoptimized-off-sqlite" in h3["deciding_arms"]


@pytest.mark.parametrize("factor, expected", [(1.2, "slower"), (1 / 1.2, "faster")])
def test_a_planted_20_percent_effect_is_found(factor: float, expected: str) -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (factor, 1)})
    eff = A.effect(data, ARM, BASE, AA, n_boot=1000)
    assert eff["verdict"] == expected
    assert abs(math.log(eff["ratio"] / factor)) < 0.05  # the planted ratio is recovered
    assert eff["g_verdict"] == A.WITHIN_NOISE  # the level moved, the growth did not
    ols = A.ols_effects(data, [AA, ARM], BASE).set_index("arm")
    assert abs(math.log(ols.loc[ARM, "ols_ratio"] / factor)) < 0.05
    assert ols.loc[ARM, "ols_lo"] > 1.05 or ols.loc[ARM, "ols_hi"] < 0.95


def test_planted_growth_reduction_supports_h3() -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (1, 0.2)})
    res = A.analyse(data, n_boot=1000)
    row = res.effects.set_index("arm").loc[ARM]
    assert row["g_verdict"] == "less growth" and row["g_ratio"] < 0.9
    h3 = res.verdicts.set_index("hypothesis").loc["H3"]
    assert h3["verdict"] == A.SUPPORTED and "growth ratio" in h3["statistic"]


def test_verdict_is_not_testable_when_its_data_are_missing() -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (1, 1)}, load=False)
    v = A.analyse(data, n_boot=200).verdicts.set_index("hypothesis")
    for h in ("H2", "H5"):  # no allocator or recursive-evolution / registry runs
        assert v.loc[h, "verdict"] == NOT_TESTABLE_HERE, h
        assert "no complete paired runs" in v.loc[h, "note"]
    assert v.loc["H1", "verdict"] == NOT_TESTABLE_HERE  # the load never varied
    assert v.loc["H4", "verdict"] == NOT_TESTABLE_HERE  # constant clock, no temperatures
    assert v.loc["H3", "verdict"] == A.WITHIN_NOISE
    # without the A/A arm no effect can be read against the noise
    data = _synthetic({BASE: (1, 1), ARM: (1.5, 0.2)})
    v = A.analyse(data, n_boot=200).verdicts.set_index("hypothesis")
    assert v.loc["H3", "verdict"] == NOT_TESTABLE_HERE


def test_too_few_blocks_give_no_verdict() -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (2, 0.2)}, blocks=2)
    eff = A.effect(data, ARM, BASE, AA, n_boot=200)
    assert eff["verdict"] == NOT_TESTABLE_HERE and eff["n"] == 2
    h3 = A.analyse(data, n_boot=200).verdicts.set_index("hypothesis").loc["H3"]
    assert h3["verdict"] == NOT_TESTABLE_HERE and "only 2 paired blocks" in h3["note"]


def test_block_bootstrap_keeps_pairs() -> None:
    base = np.array([1.0, 2.0, 4.0, 8.0])  # huge drift between blocks
    est, lo, hi = A.block_bootstrap_ratio(base * 1.1, base, n_boot=500)
    assert est == pytest.approx(1.1) and lo == pytest.approx(1.1) and hi == pytest.approx(1.1)
    assert A.noise_band(0.95, 1.02) == (pytest.approx(0.95), pytest.approx(1 / 0.95))


def test_a_higher_level_gives_an_interval_that_holds_the_95_percent_one() -> None:
    rng = np.random.default_rng(4)
    base = np.exp(rng.normal(0, 0.3, 6))
    arm = base * np.exp(rng.normal(0.05, 0.05, 6))
    _, lo95, hi95 = A.block_bootstrap_ratio(arm, base, n_boot=2000)
    _, lo99, hi99 = A.block_bootstrap_ratio(arm, base, n_boot=2000, level=1 - 0.05 / 6)
    assert lo99 <= lo95 < hi95 <= hi99 and (lo99, hi99) != (lo95, hi95)
    with pytest.raises(ValueError, match="level"):
        A.block_bootstrap_ratio(arm, base, level=1.0)


def test_a_hypothesis_decided_by_several_arms_reads_bonferroni_intervals() -> None:
    rec, reg = "unoptimized-off-recursive-evolution", "unoptimized-off-cumulative-registry"
    data = _synthetic({BASE: (1, 1), AA: (1, 1), rec: (1, 0.2), reg: (1, 1)})
    res = A.analyse(data, n_boot=1000)
    h5 = res.verdicts.set_index("hypothesis").loc["H5"]
    assert h5["verdict"] == A.SUPPORTED  # a planted growth reduction survives the correction
    assert h5["ci"].startswith("97.5 % CIs (Bonferroni over 2 arms)")
    assert "Bonferroni over 2 arms" in h5["note"]
    for _, r in res.effects[res.effects["arm"].isin([rec, reg])].iterrows():
        adj = A._adjusted(data, r, 0.975, 1000, 0)
        assert adj["g_lo"] <= r["g_lo"] and adj["g_hi"] >= r["g_hi"]  # wider, never narrower
    # one arm: its own 95 % interval (no correction to make)
    h3 = res.verdicts.set_index("hypothesis").loc["H3"]
    assert "Bonferroni" not in str(h3["ci"]) and "Bonferroni" not in str(h3["note"])
