"""The repeated headline comparisons: the study's ratios turned into the paper's quantities."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nrm.render.headline import load


def _write(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "headline.csv", index=False)
    return folder


def test_ratios_become_the_papers_variance_and_speedups_with_ci_bounds_swapped(
        tmp_path: Path) -> None:
    rows = [  # ratio = arm cycle time / C256 unoptimized cycle time
        {"arm": "C255-unoptimized", "n": 5, "n_aa": 5, "cycles": 10, "ratio": 0.8, "lo": 0.5,
         "hi": 1.25, "band_lo": 0.8, "band_hi": 1.25, "verdict": "within noise"},
        {"arm": "C256-optimized", "n": 5, "n_aa": 5, "cycles": 10, "ratio": 0.25, "lo": 0.2,
         "hi": 0.5, "band_lo": 0.8, "band_hi": 1.25, "verdict": "faster"},
        {"arm": "C257-optimized", "n": 2, "n_aa": 2, "cycles": 10, "ratio": 0.5, "lo": 0.4,
         "hi": 0.625, "band_lo": float("nan"), "band_hi": float("nan"),
         "verdict": "not testable here"},
    ]
    rep = load(_write(tmp_path / "study", rows))
    var = rep["variance"]
    # C256 / C255 = 1 / 0.8 = 1.25: C256 25 % longer; CI from 1/1.25 - 1 = -20 % to 1/0.5 - 1
    assert var.value == pytest.approx(25.0)
    assert (var.lo, var.hi) == (pytest.approx(-20.0), pytest.approx(100.0))
    assert (var.band_lo, var.band_hi) == (pytest.approx(-20.0), pytest.approx(25.0))
    assert var.finding == "within noise" and var.n == 5
    assert "n = 5 blocks" in var.text() and "+25.0 %" in var.text()
    same = rep["speedup_same"]
    assert same.value == pytest.approx(4.0) and same.lo == pytest.approx(2.0)
    assert same.hi == pytest.approx(5.0) and same.finding == "faster"
    design = rep["speedup_design"]
    assert not design.testable and design.finding.startswith("not testable")


def test_no_study_gives_nothing(tmp_path: Path) -> None:
    assert load(None) == {} and load(tmp_path) == {}
    (tmp_path / "headline.csv").write_text("")
    assert load(tmp_path) == {}
    (tmp_path / "headline.csv").write_text("x,y\n1,2\n")
    assert load(tmp_path) == {}


def test_the_studys_n_is_stated_in_words() -> None:
    from nrm.render.sections.common import n_text

    assert n_text(205) == "n = 205 runs"  # H1, H4: a covariate over every run
    assert n_text("unoptimized-off-sqlite=5") == "n = 5 blocks"
    assert n_text("a=5, b=5, c=5") == "n = 5 blocks x 3 arms"
    assert n_text("a=5, b=4") == "n: a=5, b=4"  # unequal: each arm's own
