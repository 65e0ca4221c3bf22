"""The commit-latency curve (issue #23, H3): a smoke-sized curve has the table's columns and
rising sizes and leaves no database behind; a curve that cannot fit is refused before anything is
written; the log-latency slope matches scipy's regression; a planted growth of the latency with
size is found and a flat curve is not."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nrm.cli.main import main
from nrm.exceptions import ParameterError
from nrm.run.dbcurve import batch_schedule, checkpoints
from nrm.stats.verdict import EQUIVALENT, NOT_TESTABLE, SUPPORTED
from nrm.study import dbcurve
from nrm.study.dbcurve_analysis import (
    CURVE_MARGIN_LOG,
    curve_verdict,
    log_slope,
    repeat_slopes,
)

COLUMNS = {
    "medium", "repeat", "order", "checkpoint_mb", "db_bytes", "workspace_bytes", "bridge_bytes",
    "rows_grown", "grow_rows", "grow_s", "grow_rows_per_s", "commits", "median_ms", "p90_ms",
    "mean_ms", "batch_s", "dirty_kib_before", "writeback_kib_before", "dirty_kib_start",
    "writeback_kib_start", "dirty_kib_end", "writeback_kib_end", "settle_wait_s", "settled",
    "median_ms_system_metrics", "median_ms_resonance_events",
}


def _shm() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("nrm-dbcurve-*")} if shm.is_dir() else set()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm")
def test_smoke_curve_table_and_cleanup(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "curve"
    shm_before = _shm()
    summary = dbcurve.run_curve(out, to_mb=2, media=("disk", "ram"), repeats=1,
                                sizes=(0, 1, 2), batch=20, progress=False,
                                settle_timeout_s=5.0)
    frame = pd.read_csv(out / dbcurve.CSV)
    assert set(frame.columns) >= COLUMNS
    assert len(frame) == 2 * 3 and set(frame["medium"]) == {"disk", "ram"}
    for _, g in frame.groupby(["medium", "repeat"]):
        assert list(g["checkpoint_mb"]) == [0.0, 1.0, 2.0]
        sizes = g["db_bytes"].to_numpy()
        assert (np.diff(sizes) > 0).all()  # monotone sizes
        # each checkpoint reached (REACHED of it) and not overshot by more than 5 %
        assert (sizes[1:] >= 0.99 * g["checkpoint_mb"].to_numpy()[1:] * 2**20).all()
        assert (sizes[1:] <= 1.05 * g["checkpoint_mb"].to_numpy()[1:] * 2**20 + 65536).all()
        assert (g["commits"] == 20).all() and (g["median_ms"] > 0).all()
        assert (g["p90_ms"] >= g["median_ms"]).all()
        # the model's mix: mostly resonance rows, some metrics rows
        assert (g["median_ms_resonance_events"] > 0).all()
    assert frame.groupby(["medium", "repeat"])["pid"].nunique().eq(1).all()
    assert frame["pid"].nunique() == 2  # a fresh process per repeat
    # only the timings are kept: no database in the folder or in /dev/shm
    assert not list(out.rglob("*.db")) and not list(out.glob(".work-*"))
    assert _shm() == shm_before
    saved = json.loads((out / dbcurve.SUMMARY_JSON).read_text())
    assert saved["h3"]["verdict"] == NOT_TESTABLE == summary["h3"]["verdict"]
    assert saved["growth"]["disk"]["rows_per_s"] > 0
    # the same command again runs nothing new; another configuration is refused
    (out / ".work-killed").mkdir()  # left by a parent killed outright: removed on resume
    (out / ".work-killed" / "bridge.db").write_bytes(b"x")
    assert main(["dbcurve", "--to-mb", "2", "--checkpoints", "0,1,2", "--batch", "20",
                 "--repeats", "1", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "dbcurve disk: 1 repeat(s) to 2 MiB" in printed and "change 0 -> 2 MiB" in printed
    assert "H3 (curve, margin ±30 %): not testable" in printed
    assert pd.read_csv(out / dbcurve.CSV)["pid"].nunique() == 2
    assert not (out / ".work-killed").exists()
    with pytest.raises(ParameterError, match="another batch"):
        dbcurve.run_curve(out, to_mb=2, media=("disk", "ram"), repeats=1, sizes=(0, 1, 2),
                          batch=30, progress=False)


@pytest.mark.parametrize("medium", ["disk", "ram"])
def test_refused_before_writing(tmp_path: Path, medium: str,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny limit on one medium: one line naming it, exit 2, nothing written."""

    def tiny(m: str, out: Path) -> tuple[Path, int]:
        return (Path("/limited"), 10 * 2**20) if m == medium else (Path("/big"), 2**40)

    out = tmp_path / "curve"
    with pytest.raises(ParameterError) as err:
        dbcurve.run_curve(out, to_mb=50, media=("disk", "ram"), free=tiny)
    msg = str(err.value)
    assert "\n" not in msg and "/limited has 10.0 MiB free" in msg
    assert ("in RAM" if medium == "ram" else "on disk") in msg
    assert not out.exists()
    monkeypatch.setattr(dbcurve, "free_space", tiny)
    assert main(["dbcurve", "--to-mb", "50", "--medium", medium, "--out", str(out)]) == 2
    assert "needs about 116.5 MiB" in capsys.readouterr().err
    assert not out.exists()
    assert dbcurve.room_needed(50) == int(50 * 2**20 * 1.05) + 64 * 2**20


def test_checkpoints_and_schedule() -> None:
    assert checkpoints(3500) == (0, 50, 100, 250, 500, 1000, 2000, 3500)
    assert checkpoints(300) == (0, 50, 100, 250, 300)
    assert checkpoints(20) == (0, 5, 10, 15, 20)
    with pytest.raises(ParameterError):
        checkpoints(10, (0, 20, 5))
    mix, source = dbcurve.model_mix()
    assert "C256-3000x100" in source and mix["resonance_events"] > mix["system_metrics"] > 0
    sched = batch_schedule(mix, 500)
    share = mix["resonance_events"] / sum(mix.values())
    assert len(sched) == 500 and abs(sched.count("resonance_events") - 500 * share) <= 1
    # interleaved, not in blocks: the metrics commits spread over the whole batch
    pos = [i for i, t in enumerate(sched) if t == "system_metrics"]
    assert pos[0] < 25 and pos[-1] > 475


def test_slope_against_scipy() -> None:
    rng = np.random.default_rng(3)
    x = np.array([0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.5])
    y = 4.0 * np.exp(0.08 * x) * rng.lognormal(0, 0.05, x.size)
    ref = stats.linregress(x, np.log(y))
    assert log_slope(x, y) == pytest.approx(ref.slope, rel=1e-10)
    # by hand: cov(x, log y) / var(x)
    ly = np.log(y)
    hand = ((x - x.mean()) * (ly - ly.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert log_slope(x, y) == pytest.approx(hand, rel=1e-10)
    assert math.isnan(log_slope(x[:2], y[:2]))
    frame = pd.DataFrame({"medium": "disk", "repeat": 0, "db_bytes": x * 2**30, "median_ms": y})
    row = repeat_slopes(frame).iloc[0]
    assert row["slope_log_per_gib"] == pytest.approx(ref.slope, rel=1e-10)
    assert row["endpoint_log_ratio"] == pytest.approx(np.log(y[-1] / y[0]))


def _synthetic(growth_per_gib: dict[str, float], *, repeats: int = 4, to_gib: float = 3.5,
               noise: float = 0.03, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.array([0, 50, 100, 250, 500, 1000, 2000, 3500]) / 3500 * to_gib
    rows = []
    for medium, g in growth_per_gib.items():
        base = 8.0 if medium == "disk" else 0.3
        for r in range(repeats):
            lat = base * np.exp(g * sizes) * rng.lognormal(0, noise, sizes.size)
            rows += [{"medium": medium, "repeat": r, "db_bytes": s * 2**30, "median_ms": v}
                     for s, v in zip(sizes, lat, strict=True)]
    return pd.DataFrame(rows)


def test_planted_growth_found_flat_not() -> None:
    # +0.15 log per GiB: x1.69 at 3.5 GiB, past the 30 % margin
    grown = curve_verdict(_synthetic({"disk": 0.15, "ram": 0.0}))
    assert grown["media"]["disk"]["verdict"] == SUPPORTED and grown["verdict"] == SUPPORTED
    assert grown["media"]["disk"]["change_low_pct"] > 0
    assert grown["media"]["disk"]["change_pct"] == pytest.approx(100 * math.expm1(0.525), abs=8)
    flat = curve_verdict(_synthetic({"disk": 0.0, "ram": 0.0}))
    assert flat["verdict"] == EQUIVALENT
    for m in flat["media"].values():
        assert m["verdict"] == EQUIVALENT
        assert m["change_low_pct"] < 0 < m["change_high_pct"]
    assert flat["margin_pct"] == pytest.approx(100 * math.expm1(CURVE_MARGIN_LOG))
    assert flat["margin_pct"] == pytest.approx(30.0)
    # a curve short of the full size decides nothing (its slope would be extrapolated)
    short = curve_verdict(_synthetic({"disk": 0.15, "ram": 0.0}, to_gib=0.05))
    assert short["verdict"] == NOT_TESTABLE and "short of 90%" in short["why"]
    # too few repeats
    few = curve_verdict(_synthetic({"disk": 0.15, "ram": 0.0}, repeats=2))
    assert few["verdict"] == NOT_TESTABLE


def test_false_and_true_alarm_rates() -> None:
    """Over 200 simulated curves (4 repeats, 8 checkpoints, 10 % noise on a checkpoint's
    median): a flat curve reads "supported" at most at the Bonferroni rate (2 x 2.5 %, one
    side each), a planted x1.69 growth on one medium is found in nearly all."""
    flat = [curve_verdict(_synthetic({"disk": 0.0, "ram": 0.0}, noise=0.1, seed=s))["verdict"]
            for s in range(200)]
    grown = [curve_verdict(_synthetic({"disk": 0.15, "ram": 0.0}, noise=0.1, seed=s))["verdict"]
             for s in range(200)]
    assert flat.count(SUPPORTED) <= 10  # expected <= 2 x 0.025 x 200 = 10 at most
    assert grown.count(SUPPORTED) >= 190
