"""The benchmark script's pieces run and report sane numbers (its targets are checked by
``make bench``, never here)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench():
    import nrm.build.bench as mod

    return mod


def test_preset_table_has_one_row_per_preset_with_positive_rates(bench, tmp_path):
    res = bench.bench_presets({"lean": (6, 10), "unoptimized": (3, 5)}, tmp_path, warmup=2)
    assert set(res) == {"lean/10", "unoptimized/5"}
    for row in res.values():
        assert row["cycles_per_s"] > 0
        assert row["early_ms"] > 0 and row["late_ms"] > 0
    assert res["unoptimized/5"]["cycles"] == 3


def test_probe_overhead_compares_bare_and_probed_runs_of_the_same_length(bench, tmp_path):
    r = bench.bench_probe_overhead("lean", 20, 10, 2, tmp_path, ("ON-ON",))
    assert r["repeats"] == 2 and r["conditions"] == ["ON-ON"]
    assert r["bare_s"] > 0 and r["probed_s"] > 0
    each = sorted(r["overhead_pct_each"])
    assert len(each) == 2 and r["overhead_pct"] == pytest.approx((each[0] + each[1]) / 2)
    assert r["periodic_us_per_cycle"] > 0


def test_paired_arms_do_the_same_work_and_the_probed_arm_writes_its_log(bench, tmp_path):
    bare, probed, periodic = bench._paired_factorial(
        "lean", 25, 10, tmp_path, ("OFF-ON",), block=10
    )
    assert bare > 0 and probed > 0
    assert 0 < periodic < probed  # the first row carries a system and an arena reading
    logs = list(tmp_path.rglob("cycles.csv"))
    assert len(logs) == 1 and len(logs[0].read_text().splitlines()) == 1 + 25
