"""Study analysis on synthetic studies: the A/A calibration, planted effects, missing data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nrm.stats.verdict import NOT_TESTABLE, NOT_TESTABLE_HERE, is_testable
from nrm.study import analysis as A
from nrm.study import sweep as S


def _synthetic(effects: dict[str, tuple[float, float]], *, blocks: int = 8, seed: int = 1,
               cycles: int = A.MIN_GROWTH_CYCLES, noise: float = 0.03, load: bool = True,
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
    # the contention arm has no complete run: too few blocks to read its dose-response
    assert v.loc["H1", "verdict"].startswith(f"{NOT_TESTABLE}: too few blocks (0 complete")
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


def test_a_hypothesis_decided_by_several_arms_reads_bonferroni_intervals() -> None:
    rec, reg = "unoptimized-off-recursive-evolution", "unoptimized-off-cumulative-registry"
    data = _synthetic({BASE: (1, 1), AA: (1, 1), rec: (1, 0.2), reg: (1, 1)})
    res = A.analyse(data, n_boot=1000)
    h5 = res.verdicts.set_index("hypothesis").loc["H5"]
    assert h5["verdict"] == A.SUPPORTED  # a planted growth reduction survives the correction
    assert h5["ci"].startswith("97.5 % CIs (Bonferroni over 2 arms)")
    assert "Bonferroni over 2 arms" in h5["note"]
    for _, r in res.effects[res.effects["arm"].isin([rec, reg])].iterrows():
        adj = A._adjusted(data, r, 0.975)
        assert adj["g_lo"] <= r["g_lo"] and adj["g_hi"] >= r["g_hi"]  # wider, never narrower
    # one arm: its own 95 % interval (no correction to make)
    h3 = res.verdicts.set_index("hypothesis").loc["H3"]
    assert "Bonferroni" not in str(h3["ci"]) and "Bonferroni" not in str(h3["note"])


MALLOC, PYMALLOC = "unoptimized-alloc-malloc", "unoptimized-alloc-pymalloc"


def _h2(data: A.StudyData) -> pd.Series:
    return A.analyse(data, n_boot=200).verdicts.set_index("hypothesis").loc["H2"]


def test_h2_is_not_testable_when_its_psutil_source_is_replayed(monkeypatch) -> None:
    """A planted growth reduction in the allocator arm: with live metrics and a child A/A it
    would decide H2; replayed, no psutil call is made and H2 reads "not testable"."""
    monkeypatch.setattr(A, "process_kind", lambda data, arm: "child")  # a child A/A exists
    arms = {BASE: (1, 1), AA: (1, 1), PYMALLOC: (1, 1), MALLOC: (1, 0.2)}
    live = _h2(_synthetic(arms))
    assert live["verdict"] == A.SUPPORTED and "unoptimized-alloc-malloc" in live["statistic"]
    h2 = _h2(_synthetic(arms, metrics="cycle-replay:/study/trace/metrics_trace.csv"))
    assert not is_testable(h2["verdict"]) and h2["verdict"].startswith(f"{NOT_TESTABLE}: ")
    assert "replays its metrics" in h2["verdict"] and "no psutil call" in h2["note"]
    h3 = A.analyse(_synthetic({BASE: (1, 1), AA: (1, 1), ARM: (1, 0.2)},
                              metrics="cycle-replay:t.csv"), n_boot=200).verdicts
    assert h3.set_index("hypothesis").loc["H3", "verdict"].startswith(f"{NOT_TESTABLE}: ")


def test_h2_and_h3_are_not_testable_on_arms_too_short_to_show_growth(monkeypatch) -> None:
    monkeypatch.setattr(A, "process_kind", lambda data, arm: "child")
    arms = {BASE: (1, 1), AA: (1, 1), PYMALLOC: (1, 1), MALLOC: (1, 0.2), ARM: (1, 0.2)}
    v = A.analyse(_synthetic(arms, cycles=40), n_boot=200).verdicts.set_index("hypothesis")
    for h in ("H2", "H3"):
        assert v.loc[h, "verdict"].startswith(f"{NOT_TESTABLE}: the deciding arms are too "
                                              "short"), h
        assert f"fewer than the minimum {A.MIN_GROWTH_CYCLES}" in v.loc[h, "note"]
    h2 = _h2(_synthetic(arms, frag=False))  # long enough, but no arena reading taken twice
    assert "no arena reading taken twice" in h2["verdict"]


def test_a_child_allocator_arm_needs_a_child_a_a() -> None:
    """The allocator arms run in a child process; the plan's A/A runs in-process: no band of
    the same process kind, so the arm's effect and H2 are not testable (the planted effect
    notwithstanding)."""
    data = _synthetic({BASE: (1, 1), AA: (1, 1), PYMALLOC: (1, 1), MALLOC: (1, 0.2)})
    assert A.process_kind(data, MALLOC) == "child" and A.process_kind(data, AA) == "in-process"
    eff = A.effect(data, MALLOC, PYMALLOC, AA)
    assert eff["g_verdict"] == NOT_TESTABLE_HERE and eff["n_aa"] == 0
    assert "no A/A of the same process kind" in eff["note"]
    h2 = _h2(data)
    assert h2["verdict"] == NOT_TESTABLE_HERE and "same process kind" in h2["note"]


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
