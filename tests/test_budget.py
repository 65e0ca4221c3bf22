"""The build budgets (nrm/build/budget.py): what is measured and how it is read against its target.

The budgets themselves are measured by ``make bench`` (a real, timed ``make paper``), never by a
timed test; these tests check the bookkeeping on hand-made build folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nrm.build.budget import TARGETS, check, measure, run_budget
from nrm.exceptions import ParameterError
from nrm.run.scales import get_scale


def _fake_build(out: Path, scale: str, run_s: float, sweep_s: float | None) -> None:
    for planned in get_scale(scale).runs:
        d = out / "data" / "runs" / scale / planned.name
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"status": "complete",
                                                "totals": {"runtime_s": run_s}}))
    if sweep_s is not None:
        d = out / "data" / "study" / scale
        d.mkdir(parents=True)
        (d / "study.json").write_text(json.dumps({"sweep_s": sweep_s, "runs_complete": 82,
                                                  "runs_planned": 82}))


def test_measure_sums_the_runs_and_reads_the_sweep(tmp_path: Path) -> None:
    _fake_build(tmp_path, "smoke", 2.5, 90.0)
    m = measure(tmp_path, "smoke", 200.0)
    n = len(get_scale("smoke").runs)
    assert m["runs_s"] == pytest.approx(2.5 * n) and len(m["runs"]) == n
    assert m["study_s"] == 90.0 and m["study_runs"] == 82 and m["whole_s"] == 200.0
    assert check(m) == {"study_s": "PASS (1.5 min, target <= 2 min)"}  # smoke: no whole target


def test_over_budget_and_missing_figures_are_said(tmp_path: Path) -> None:
    _fake_build(tmp_path, "default", 100.0, None)
    m = measure(tmp_path, "default", 1900.0)
    assert m["study_s"] is None
    v = check(m)
    assert v["study_s"] == "no figure"
    assert v["whole_s"].startswith("OVER (31.7 min") and TARGETS["default"]["whole_s"] == 1800


def test_bad_scale_and_an_existing_build_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="--budget"):
        run_budget("full")
    (tmp_path / "paper").mkdir()
    with pytest.raises(ParameterError, match="holds a build already"):
        run_budget("smoke", out=tmp_path)
