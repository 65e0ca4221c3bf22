"""The paper's study section (nrm/render/sections/study.py) on edge-case tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from nrm import paths
from nrm.render.sections import study
from nrm.stats.verdict import NOT_TESTABLE_HERE


def test_no_block_counts_at_all_reads_no_complete_block(tmp_path: Path) -> None:
    """A partial study (only controls and long arms, say): every short arm not testable and no
    block count anywhere. The section says so instead of failing on int(NaN)."""
    folder = tmp_path / "study"
    shutil.copytree(paths.REFERENCE_BUILD / "study", folder)
    eff = pd.read_csv(folder / "effects.csv")
    eff["n"] = float("nan")
    eff["verdict"] = NOT_TESTABLE_HERE
    eff.to_csv(folder / "effects.csv", index=False)
    text, _ = study.section(folder, tmp_path / "paper")
    assert "With no complete block no effect can be read" in text


def test_few_blocks_are_counted(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    shutil.copytree(paths.REFERENCE_BUILD / "study", folder)
    eff = pd.read_csv(folder / "effects.csv")
    eff["n"] = 2
    eff["verdict"] = NOT_TESTABLE_HERE
    eff.to_csv(folder / "effects.csv", index=False)
    text, _ = study.section(folder, tmp_path / "paper")
    assert "With 2 blocks no effect can be read" in text
