"""Statistics rows carry stable keys: rewording a label or a note changes nothing the code reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nrm.exceptions import LogError
from nrm.render.results import comparison_summary, stat
from nrm.stats import compare_times


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    unopt = 0.040 + 0.010 * rng.standard_normal(300) ** 2
    opt = 0.004 + 0.001 * rng.random(300)
    slow = 0.040 + 0.020 * rng.standard_normal(300) ** 2  # more spread: no reduction
    same = compare_times(unopt, opt, n_boot=200, samples_unoptimized=[900.0],
                         samples_optimized=[300.0])
    return {"same_experiment": same,
            "paper_design": compare_times(unopt, slow, n_boot=200)}


def _reworded(t: pd.DataFrame) -> pd.DataFrame:
    out = t.copy()
    out["statistic"] = "Reworded: " + out["statistic"].astype(str).str.upper()
    # a note that says the opposite of the flag: the flag decides, never the text
    out["note"] = np.where(out["holds"] == True, "does not hold (reworded)",  # noqa: E712
                           "holds (reworded)")
    return out


def test_every_row_has_a_unique_key(tables: dict[str, pd.DataFrame]) -> None:
    for t in tables.values():
        assert t["key"].is_unique and t["key"].notna().all()
        assert t.loc[t["key"] == "prediction", "holds"].isin([True, False]).all()


def test_summary_is_the_same_with_every_label_and_note_reworded(
    tables: dict[str, pd.DataFrame],
) -> None:
    before = comparison_summary(tables)
    after = comparison_summary({k: _reworded(v) for k, v in tables.items()})
    pd.testing.assert_frame_equal(before, after)
    # the two comparisons differ in their verdicts, so the flag is really read per table
    assert before.set_index("comparison")["prediction_holds"].to_dict() == {
        "same_experiment": True, "paper_design": False}


def test_flags_survive_a_csv_round_trip(tables: dict[str, pd.DataFrame], tmp_path) -> None:
    t = tables["same_experiment"]
    t.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")
    assert comparison_summary({"x": back})["prediction_holds"].iloc[0] == bool(
        stat(t, "prediction")["holds"])


def test_an_unknown_key_names_the_known_ones(tables: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(LogError, match=r"no statistic 'speedup'.*speedup_mean"):
        stat(tables["same_experiment"], "speedup")
