"""Study analysis on synthetic studies: the A/A calibration, planted effects, missing data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nrm.stats.verdict import NOT_TESTABLE, NOT_TESTABLE_HERE
from nrm.study import analysis as A
from nrm.study import sweep as S


def _synthetic(effects: dict[str, tuple[float, float]], *, blocks: int = 8, seed: int = 1,
               cycles: int = 100, noise: float = 0.03, load: bool = True,
               metrics: str = "live", frag: bool = True) -> A.StudyData:
    """Runs of the named arms: per-cycle times rising linearly, a large drift between blocks
    (every arm of a block shares it), a small noise per run and per cycle.
    ``effects[arm] = (level factor, growth factor)`` relative to the base; ``metrics`` is the
    runs' recorded metrics source (``cycle-replay:...`` replays it: no psutil call); ``frag``
    whether an arena fragmentation slope could be estimated."""
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
                         "concurrent_before": 0, "metrics": metrics,
                         "frag_slope_per_cycle": 1e-5 if frag else math.nan,
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
    h3 = res.verdicts.set_index("hypothesis").loc["H3"]  # short arms are cost levels only
    assert h3["verdict"].startswith(f"{NOT_TESTABLE}: no long fixed-workload arm")


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


def test_planted_growth_reduction_shows_in_the_effects_but_decides_no_hypothesis() -> None:
    """A short arm's growth ratio reads the ramp (issue #23): it stays in the effects table as a
    cost level, and H2, H3 and H5 wait for the long arms."""
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (1, 0.2)})
    res = A.analyse(data, n_boot=1000)
    row = res.effects.set_index("arm").loc[ARM]
    assert row["g_verdict"] == "less growth" and row["g_ratio"] < 0.9
    v = res.verdicts.set_index("hypothesis")
    for h in ("H2", "H3", "H5"):
        assert v.loc[h, "verdict"].startswith(f"{NOT_TESTABLE}: no long fixed-workload arm"), h


def test_verdict_is_not_testable_when_its_data_are_missing() -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (1, 1)}, load=False)
    v = A.analyse(data, n_boot=200).verdicts.set_index("hypothesis")
    for h in ("H2", "H3", "H5"):  # no long arm ran
        assert v.loc[h, "verdict"].startswith(f"{NOT_TESTABLE}: no long fixed-workload arm"), h
    # the contention arm has no complete run: too few blocks to read its dose-response
    assert v.loc["H1", "verdict"].startswith(f"{NOT_TESTABLE}: too few blocks (0 complete")
    assert v.loc["H4", "verdict"] == NOT_TESTABLE_HERE  # constant clock, no temperatures
    # without the A/A arm no effect can be read against the noise
    data = _synthetic({BASE: (1, 1), ARM: (1.5, 0.2)})
    eff = A.effect(data, ARM, BASE, AA, n_boot=200)
    assert eff["verdict"] == NOT_TESTABLE_HERE


def test_too_few_blocks_give_no_verdict() -> None:
    data = _synthetic({BASE: (1, 1), AA: (1, 1), ARM: (2, 0.2)}, blocks=2)
    eff = A.effect(data, ARM, BASE, AA, n_boot=200)
    assert eff["verdict"] == NOT_TESTABLE_HERE and eff["n"] == 2


def test_block_ratio_keeps_pairs() -> None:
    base = np.array([1.0, 2.0, 4.0, 8.0])  # huge drift between blocks
    est, lo, hi = A.block_ratio(base * 1.1, base)
    assert est == pytest.approx(1.1) and lo == pytest.approx(1.1) and hi == pytest.approx(1.1)
    assert A.noise_band(0.95, 1.02) == (pytest.approx(0.95), pytest.approx(1 / 0.95))


def test_a_higher_level_gives_an_interval_that_holds_the_95_percent_one() -> None:
    rng = np.random.default_rng(4)
    base = np.exp(rng.normal(0, 0.3, 6))
    arm = base * np.exp(rng.normal(0.05, 0.05, 6))
    _, lo95, hi95 = A.block_ratio(arm, base)
    _, lo99, hi99 = A.block_ratio(arm, base, level=1 - 0.05 / 6)
    assert lo99 < lo95 < hi95 < hi99
    # the t interval on 5 df, not a bootstrap bounded by the range of the block ratios
    logr = np.log(arm / base)
    half = float(np.log(hi95 / lo95)) / 2
    assert half == pytest.approx(2.5706 * logr.std(ddof=1) / math.sqrt(6), rel=1e-3)
    with pytest.raises(ValueError, match="level"):
        A.block_ratio(arm, base, level=1.0)


def test_the_effect_interval_keeps_its_level_on_simulated_a_a_studies() -> None:
    """5-block A/A comparisons with lognormal noise and block drift: the 95 % interval of the
    ratio holds 1 in at least 93 % of 2000 simulated studies (the 5-block percentile
    bootstrap it replaces held it in about 85 %)."""
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(2000):
        drift = np.exp(rng.normal(0, 0.4, 5))
        a = drift * np.exp(rng.normal(0, 0.03, 5))
        b = drift * np.exp(rng.normal(0, 0.03, 5))
        _, lo, hi = A.block_ratio(a, b)
        hits += lo <= 1 <= hi
    assert hits / 2000 >= 0.93


MALLOC, PYMALLOC = "unoptimized-alloc-malloc", "unoptimized-alloc-pymalloc"


def test_a_child_allocator_arm_needs_a_child_a_a() -> None:
    """The allocator arms run in a child process; the plan's A/A runs in-process: no band of
    the same process kind, so the arm's effect is not testable (the planted effect
    notwithstanding)."""
    data = _synthetic({BASE: (1, 1), AA: (1, 1), PYMALLOC: (1, 1), MALLOC: (1, 0.2)})
    assert A.process_kind(data, MALLOC) == "child" and A.process_kind(data, AA) == "in-process"
    eff = A.effect(data, MALLOC, PYMALLOC, AA)
    assert eff["g_verdict"] == NOT_TESTABLE_HERE and eff["n_aa"] == 0
    assert "no A/A of the same process kind" in eff["note"]


def test_h1_obeys_the_minimum_blocks_and_needs_the_contention_arm() -> None:
    """H1 is decided by the contention arm (tests/test_contention.py); without its runs, or
    without the arm, it is not testable, whatever the load did across runs."""
    v = A.analyse(_synthetic({BASE: (1, 1), AA: (1, 1)}, blocks=2), n_boot=200).verdicts
    assert v.set_index("hypothesis").loc["H1", "verdict"] == (
        f"{NOT_TESTABLE}: too few blocks (0 complete; a verdict needs {A.MIN_BLOCKS})")
    varied = _synthetic({BASE: (1, 1), AA: (1, 1)})  # load 0-4 across runs: not the arm
    varied.plan = S.build_plan("smoke", repeats=8, arms=[BASE])
    h1 = A.analyse(varied, n_boot=200).verdicts.set_index("hypothesis").loc["H1"]
    assert h1["verdict"].startswith(f"{NOT_TESTABLE}: no contention arm")


def test_the_controls_verdict_shows_the_papers_rule_and_the_floored_one() -> None:
    """Two negative-control runs the default rule calls H2 supported (a false alarm each) and
    the floored rule does not: the verdict shows both, so the false alarms are not hidden."""
    from types import SimpleNamespace

    from nrm.study.control_analysis import verdict_rows

    ctrl = pd.DataFrame({
        "arm": ["ctrl-fragmentation"] * 2 + ["ctrl-no-fragmentation"] * 2,
        "h2": ["supported", "supported", "supported", "supported"],
        "h2_floor": ["supported", "supported", "not supported", "not supported"],
        "frag_end": [0.38, 0.40, 0.05, 0.06]})
    data = SimpleNamespace(_control_table=ctrl)
    rows = {r["hypothesis"]: r for r in verdict_rows(data, pd.DataFrame())}
    neg, pos = rows["H2 control -"], rows["H2 control +"]
    assert neg["verdict_floor"] == "no false alarm" and neg["verdict_paper_rule"] == "false alarm"
    assert neg["verdict"] == ("no false alarm (5 % floor); false alarm (paper's rule, 0/2 as "
                              "expected)")
    assert pos["verdict"] == ("instrument sees it (5 % floor); instrument sees it (paper's "
                              "rule, 2/2 as expected)")


def test_a_frequency_constant_but_for_float_noise_leaves_h4_not_testable() -> None:
    """The per-run mean of a constant clock reading differs from run to run in its last bits
    only; an OLS on that noise once called H4 "refuted" on the long-scale study."""
    from nrm.study.analysis import _ols_covariate

    rng = np.random.default_rng(0)
    n = 40
    freq = 2445.432 + rng.choice([0.0, 4.5e-13, -4.5e-13, 9.1e-13], size=n)
    runs = pd.DataFrame({"arm": ["a", "b"] * (n // 2), "block": np.repeat(range(n // 4), 4),
                         "cycle_time_s": rng.uniform(0.01, 0.02, n), "cpu_freq_mhz": freq})
    assert runs["cpu_freq_mhz"].nunique() >= 3  # what the old check counted as variation
    assert _ols_covariate(runs, "cpu_freq_mhz") is None
    # a real variation (a clock that drops by 10 % in some runs) is still fitted
    runs["cpu_freq_mhz"] = 2445.432 * rng.choice([1.0, 0.95, 0.9], size=n)
    got = _ols_covariate(runs, "cpu_freq_mhz")
    assert got is not None and got[3] == n
