"""H2's fragmentation bound (issue #23, :mod:`nrm.study.frag_bound`): the controls' dose-response
times long-base's frag ratio change, on synthetic tables and synthetic study folders, checked
against values worked out by hand (t quantiles from a printed t table, not scipy)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_study_long import ARMS, _long_study

from nrm.render.sections import study as R
from nrm.stats.verdict import EQUIVALENT, NOT_TESTABLE, REFUTED, SUPPORTED, WITHIN_NOISE
from nrm.study import analysis as A
from nrm.study import frag_bound as F
from nrm.study import long_analysis as L
from nrm.study import sweep as S
from nrm.study.long_arms import BASE, RESTART

#: Student t, 2 df, upper 1.25 % point (the 97.5 % two-sided interval each piece is drawn at, so
#: that both hold jointly at 95 %), from a printed t table.
T_2DF_9875 = 6.2053
M = L.DRIFT_MARGIN_PCT


def _hand_interval(values: list[float]) -> tuple[float, float, float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = T_2DF_9875 * sd / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _changes(values: list[float], readings: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block": range(len(values)),
            "frag_change_per_1000": values,
            "frag_readings": readings,
            "frag_start": 0.05,
            "frag_end": [0.05 + 3 * v for v in values],
        }
    )


# ------------------------------------------------------------------ the bound on tables
def test_bound_on_synthetic_tables_matches_the_hand_computed_value() -> None:
    slopes = pd.DataFrame({"block": range(3), "slope": [1.0, 1.2, 0.8]})
    b = F.bound_from_tables(slopes, _changes([0.01, 0.02, 0.03]), margin=M)
    assert b.testable and b.slope_n == 3 and b.change_n == 3
    s, slo, shi = _hand_interval([1.0, 1.2, 0.8])  # 1.0 ± 6.2053 x 0.2 / sqrt 3
    c, clo, chi = _hand_interval([0.01, 0.02, 0.03])  # 0.02 ± 6.2053 x 0.01 / sqrt 3
    assert (slo, shi) == pytest.approx((0.28347, 1.71653), abs=1e-4)
    assert (b.slope_lo, b.slope_hi) == pytest.approx((slo, shi), rel=1e-4)
    assert (b.change_lo, b.change_hi) == pytest.approx((clo, chi), rel=1e-4)
    # both pieces above 0 at the top: slope upper x change upper; the change's interval
    # reaches below 0, so the lower end is slope upper x change lower
    assert b.bound == pytest.approx(100 * s * c)  # 2.0 %/1000 cycles
    assert b.bound_hi == pytest.approx(100 * shi * chi, rel=1e-4)  # 9.58
    assert b.bound_lo == pytest.approx(100 * shi * clo, rel=1e-4)  # -2.72
    assert b.bound_hi == pytest.approx(9.583, abs=0.01)
    assert not b.inside_margin  # 9.58 > m = 5
    assert "fragmentation can explain at most +9.58 %/1000 cycles" in b.text()
    assert "n = 3 blocks" in b.text()


def test_a_small_frag_change_gives_a_bound_inside_the_margin() -> None:
    slopes = pd.DataFrame({"slope": [1.0, 1.2, 0.8]})
    b = F.bound_from_tables(slopes, _changes([0.001, 0.002, 0.003]), margin=M)
    _, _, shi = _hand_interval([1.0, 1.2, 0.8])
    _, clo, chi = _hand_interval([0.001, 0.002, 0.003])
    assert b.bound_hi == pytest.approx(100 * shi * chi, rel=1e-4)  # 0.96
    assert b.bound_lo == pytest.approx(100 * shi * clo, rel=1e-4)
    assert b.inside_margin


def test_not_testable_pieces_give_a_reason_never_a_number() -> None:
    slopes = pd.DataFrame({"slope": [1.0, 1.2, 0.8]})
    none = _changes([math.nan] * 3, readings=0)  # e.g. long-base under another allocator
    b = F.bound_from_tables(slopes, none, margin=M)
    assert not b.testable and "no arena readings" in b.reason
    assert math.isnan(b.bound_hi) and "not testable" in b.text() and "%/1000" not in b.text()
    assert b.slope_n == 3 and "dose-response alone: +1.000" in b.text()  # the measured piece
    assert b.to_dict()["bound_hi"] is None and json.dumps(b.to_dict())
    few = _changes([math.nan] * 3, readings=1)  # a 100-cycle smoke run: one reading
    b = F.bound_from_tables(slopes, few, margin=M)
    assert not b.testable and "at most 1 per run" in b.reason
    b = F.bound_from_tables(slopes.iloc[:2], _changes([0.01, 0.02, 0.03]), margin=M)
    assert not b.testable and "2 block(s) with a controls' slope" in b.reason
    b = F.bound_from_tables(pd.DataFrame(), _changes([0.01, 0.02, 0.03]), margin=M)
    assert not b.testable and "no block with both H2 controls" in b.reason


@pytest.mark.parametrize(
    ("verdict", "changes", "want"),
    [
        (WITHIN_NOISE, [0.001, 0.002, 0.003], EQUIVALENT),  # bound 0.96 < m: raised
        (WITHIN_NOISE, [0.01, 0.02, 0.03], WITHIN_NOISE),  # bound 9.58 > m: stays
        (SUPPORTED, [0.001, 0.002, 0.003], SUPPORTED),  # only "within noise" is raised
        (REFUTED, [0.001, 0.002, 0.003], REFUTED),
        (f"{NOT_TESTABLE}: too short", [0.001, 0.002, 0.003], f"{NOT_TESTABLE}: too short"),
    ],
)
def test_the_verdict_is_raised_only_from_within_noise_and_only_inside_m(
    verdict: str, changes: list[float], want: str
) -> None:
    b = F.bound_from_tables(pd.DataFrame({"slope": [1.0, 1.2, 0.8]}), _changes(changes), margin=M)
    v, raised = F.upgrade_verdict(verdict, b)
    assert v == want and raised == (v != verdict)


def test_a_falling_frag_ratio_below_minus_m_is_not_inside_the_margin() -> None:
    # the upper end is below m, but fragmentation could "explain" a speed-up beyond m
    b = F.bound_from_tables(
        pd.DataFrame({"slope": [1.0, 1.2, 0.8]}), _changes([-0.01, -0.02, -0.03]), margin=M
    )
    assert b.bound_hi < M and b.bound_lo < -M and not b.inside_margin
    assert F.upgrade_verdict(WITHIN_NOISE, b) == (WITHIN_NOISE, False)


# ------------------------------------------------------------------ the pieces on run logs
def test_frag_change_is_the_slope_after_the_ramp_from_the_arena_readings() -> None:
    cyc = np.arange(1000)
    frag = np.where(cyc % 100 == 0, 0.1 + 0.004 * cyc / 1000, np.nan)
    frag[0] = 0.9  # a reading during the ramp: left out
    pop = np.where(cyc < 50, 1, 2)
    got = F.frag_change(pd.DataFrame({"cycle": cyc, "frag_ratio": frag, "population": pop}), 2)
    assert got["frag_readings"] == 9  # cycles 100..900
    assert got["frag_change_per_1000"] == pytest.approx(0.004)
    assert got["frag_start"] == pytest.approx(0.1004) and got["frag_end"] == pytest.approx(0.1036)
    few = F.frag_change(pd.DataFrame({"cycle": cyc[:100], "frag_ratio": frag[:100]}), None)
    assert few["frag_readings"] == 1 and math.isnan(few["frag_change_per_1000"])


def _control_frame(
    wall_pre: float, wall_post: float, frag_post: np.ndarray, cycles: int = 100, shift: int = 50
) -> pd.DataFrame:
    cyc = np.arange(cycles)
    post = cyc >= shift
    frag = np.full(cycles, 0.02)
    frag[post] = frag_post
    return pd.DataFrame(
        {
            "condition": "c",
            "cycle": cyc,
            "wall_s": np.where(post, wall_post, wall_pre),
            "frag_ratio": frag,
            "births": np.where(post, 3, 0),
            "deaths": np.where(post, 4, 0),
        }
    )


def _add_controls(data: A.StudyData, slopes: list[float]) -> None:
    """The two H2 controls in each block: from the shift (cycle 50) on the positive's frag ratio
    rises 0.02 -> 0.38 (mean 0.20) and its cycle time is exp(slope x 0.18) times the negative's;
    before the shift the positive runs 3x slower (outside the window: must not count)."""
    rows = []
    for b, s in enumerate(slopes):
        for arm, frame in (
            (F.CONTROL_POS, _control_frame(3e-3, 1e-3 * math.exp(s * 0.18),
                                           np.linspace(0.02, 0.38, 50))),
            (F.CONTROL_NEG, _control_frame(1e-3, 1e-3, np.full(50, 0.02))),
        ):  # fmt: skip
            name = S.run_name(arm, b)
            folder = data.out / S.RUNS / name
            folder.mkdir(parents=True)
            (folder / "run.json").write_text(json.dumps({"parameters": {"shift_cycle": 50}}))
            data.cycles[name] = frame
            rows.append({"name": name, "arm": arm, "block": b})
    data.runs = pd.concat([data.runs, pd.DataFrame(rows)], ignore_index=True)


def test_control_slopes_read_the_window_from_the_shift_on(tmp_path: Path) -> None:
    data = A.StudyData(tmp_path, S.build_plan("default", repeats=3), pd.DataFrame(
        columns=["name", "arm", "block"]), {}, {})  # fmt: skip
    _add_controls(data, [1.0, 1.2, 0.8])
    got = F.control_slopes(data)
    assert list(got["slope"]) == pytest.approx([1.0, 1.2, 0.8])
    assert list(got["frag_pos"]) == pytest.approx([0.20] * 3)
    # a block whose controls did different work gives no slope, with the reason
    name = S.run_name(F.CONTROL_NEG, 1)
    data.cycles[name] = data.cycles[name].assign(deaths=5)
    got = F.control_slopes(data).set_index("block")
    assert math.isnan(got.loc[1, "slope"]) and "births + deaths differ" in got.loc[1, "reason"]


# ------------------------------------------------------------------ in the H2 verdict
def _with_frag_readings(data: A.StudyData, per_block: list[float]) -> None:
    """Arena readings every 100 cycles in long-base's logs: frag ratio 0.05 rising by
    ``per_block[b]`` per 1000 cycles."""
    for b, d in enumerate(per_block):
        path = data.out / S.RUNS / S.run_name(BASE, b) / "cycles.csv"
        frame = pd.read_csv(path)
        cyc = frame["cycle"].to_numpy()
        frame["frag_ratio"] = np.where(cyc % 100 == 0, 0.05 + d * cyc / 1000, np.nan)
        frame.to_csv(path, index=False)


def _noisy_restart(data: A.StudyData, planted: list[float]) -> None:
    """long-restart drifts ``planted[b]`` %/1000 cycles more than it did in block b: a mean
    near 0 with a wide interval (H2 within noise from the drift differences)."""
    for b, d in enumerate(planted):
        path = data.out / S.RUNS / S.run_name(RESTART, b) / "cycles.csv"
        frame = pd.read_csv(path)
        frame["wall_s"] *= 1 + d / 100 * frame["cycle"] / 1000
        frame.to_csv(path, index=False)


def _h2(data: A.StudyData) -> dict[str, str]:
    return L.long_verdicts(data, A._row)["H2"]


@pytest.mark.parametrize(
    ("frag", "want"),
    [([0.001, 0.002, 0.003], EQUIVALENT), ([0.01, 0.02, 0.03], WITHIN_NOISE)],
)
def test_the_h2_verdict_is_raised_by_a_bound_inside_m_only(
    tmp_path: Path, frag: list[float], want: str
) -> None:
    data = _long_study(tmp_path, dict.fromkeys(ARMS, 2.0), blocks=3)
    _noisy_restart(data, [40.0, -40.0, 2.0])
    _add_controls(data, [1.0, 1.2, 0.8])
    _with_frag_readings(data, frag)
    row = _h2(data)
    assert row["verdict"] == want, row
    assert "fragmentation can explain at most" in row["note"]
    assert ("the drift differences alone: within noise" in row["note"]) == (want == EQUIVALENT)
    drifts = L.run_drifts(data)
    base = drifts[drifts["arm"] == BASE].sort_values("block")
    assert list(base["frag_readings"]) == [30, 30, 30]
    assert list(base["frag_change_per_1000"]) == pytest.approx(frag)
    # the long arms' table and the bound's files
    (tmp_path / "analysis").mkdir()
    L.write_table(data, tmp_path / "analysis")
    saved = json.loads((tmp_path / "analysis" / R.FRAG_BOUND_JSON).read_text())
    assert saved["testable"] and saved["inside_margin"] == (want == EQUIVALENT)
    assert (tmp_path / "analysis" / R.FRAG_SLOPES_CSV).is_file()
    sentence = R.frag_bound_sentence(tmp_path / "analysis")
    assert f"at most {saved['bound_hi']:+.2f} %/1000 cycles" in sentence
    assert "n = 3 blocks" in sentence
    # the paper: the long arms' table has the frag ratio change, the bound follows it
    (tmp_path / "analysis" / "study_summary.json").write_text(
        json.dumps({"study": str(tmp_path), "scale": "default", "repeats": 3, "seed": 1,
                    "arms": [], "runs": 0})
    )
    md, _ = R.section(tmp_path / "analysis", tmp_path / "paper")
    table_at, bound_at = md.index("*Table [[study_long]]."), md.index("*H2's fragmentation bound.*")
    assert table_at < bound_at and "frag ratio change /1000 cycles" in md[table_at:bound_at]


def test_h2_bound_is_not_testable_when_long_base_has_no_arena_readings(tmp_path: Path) -> None:
    data = _long_study(tmp_path, dict.fromkeys(ARMS, 2.0), blocks=3)
    _noisy_restart(data, [40.0, -40.0, 2.0])
    _add_controls(data, [1.0, 1.2, 0.8])  # the controls alone cannot bound the long run
    row = _h2(data)
    assert row["verdict"] == WITHIN_NOISE
    assert "fragmentation bound not testable: long-base has no arena readings" in row["note"]
    (tmp_path / "analysis").mkdir()
    L.write_table(data, tmp_path / "analysis")
    sentence = R.frag_bound_sentence(tmp_path / "analysis")
    assert "not testable: long-base has no arena readings" in sentence and "%/1000" not in sentence
    # the piece that was measured is still reported, with its n
    assert "dose-response alone: +1.000 log-points" in sentence and "n = 3 blocks" in sentence


def test_the_paper_reads_the_files_the_analysis_writes() -> None:
    assert (R.FRAG_BOUND_JSON, R.FRAG_SLOPES_CSV) == (L.FRAG_BOUND_JSON, L.FRAG_SLOPES_CSV)
