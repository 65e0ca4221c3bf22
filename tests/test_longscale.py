"""The paper's long-scale reference subsection (nrm/render/sections/longscale.py): shown from
the shipped study tables, labelled as another build's, with its scale; absent, it says how to
make one."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd

from nrm import paths
from nrm.render.sections import longscale

SHIPPED = paths.REFERENCE_BUILD / "study"  # a real study's tables stand in for a long one


def _fake_reference(tmp_path: Path) -> Path:
    ref = tmp_path / "build-long"
    shutil.copytree(SHIPPED, ref / "study")
    (ref / "machine.json").write_text(json.dumps({
        "cpu": {"model": "AMD EPYC", "logical": 2}, "git": {"commit": "abcdef123456"},
        "study": {"runs_complete": 217, "sweep_s": 4800.0, "workers": 1,
                  "updated_at": "2026-12-07T13:50:00+00:00"},
        "load_avg_during": {"min": 1.0, "max": 3.5}}))
    return ref


def test_absent_reference_says_how_to_make_one(tmp_path: Path) -> None:
    text = longscale.section(tmp_path / "nothing")
    assert text.startswith(longscale.HEADING) and "make study SCALE=long" in text
    assert "[[" not in text  # no table without its data


def test_present_reference_is_labelled_and_scaled(tmp_path: Path) -> None:
    ref = _fake_reference(tmp_path)
    drift = pd.read_csv(ref / "study" / "long_drift.csv")
    verdicts = pd.read_csv(ref / "study" / "verdicts.csv")
    mine = verdicts.copy()
    h5 = verdicts.set_index("hypothesis").loc["H5", "verdict"]
    other = "supported" if h5 != "supported" else "within noise"  # one verdict differs
    mine.loc[mine["hypothesis"] == "H5", "verdict"] = other
    text = longscale.section(ref, this_verdicts=mine)
    assert "**not this build's**" in text
    cycles, agents = int(drift["cycles"].max()), int(drift["agents"].max())
    assert f"**{cycles} cycles x {agents} agents**" in text
    assert "commit `abcdef1`" in text and "217 runs in 80 min on 1 worker" in text
    assert "*Table [[long_reference_arms]]." in text
    assert "*Table [[long_reference_verdicts]]." in text
    for arm in drift["arm"].unique():
        assert re.search(rf"^\| {re.escape(arm)}\s+\|", text, flags=re.M), arm
    assert f"H5 ({other} here, {h5} there)" in text
    assert "the same verdict for H1, H2, H3, H4" in text
