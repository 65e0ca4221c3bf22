"""The README's findings section is the generator's output for the shipped reference build, and
its numbers are the build's, recomputed here independently (pandas, by hand)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nrm import paths
from nrm.build import readme_findings as R
from nrm.cli.main import main
from nrm.exceptions import NrmError

BUILD = paths.REFERENCE / "build-default"


@pytest.fixture(scope="module")
def block() -> str:
    return R.findings_markdown()


@pytest.fixture(scope="module")
def flat(block: str) -> str:
    """The block with its line wrapping undone."""
    return " ".join(block.split())


def test_readme_block_is_the_generators_output(block: str) -> None:
    text = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    assert R.current_block(text) == block, "README findings are stale: run make readme"
    assert main(["readme", "--check"]) == 0


def test_every_number_states_its_scale_and_never_the_papers(flat: str) -> None:
    runs = pd.read_csv(BUILD / "phase1a" / "runs.csv")
    assert runs["cycles_per_condition"].nunique() == 1 and runs["max_agents"].nunique() == 1
    run_scale = f"{runs['cycles_per_condition'][0]} cycles x {runs['max_agents'][0]} agents"
    assert run_scale == "200 cycles x 15 agents"  # the default scale of the shipped build
    assert flat.count(run_scale) >= 3  # the one-run column, the prediction, the intro
    assert "10 cycles x 10 agents" in flat and "1000 cycles x 10 agents" in flat
    # the paper's scale appears only where the block says it did not run it
    assert flat.count("3000 cycles x 100 agents") == 1
    assert "did not run" in flat
    assert "n = 1" in flat and "n = 5" in flat


def test_headline_numbers_match_an_independent_computation(block: str) -> None:
    h = pd.read_csv(BUILD / "study" / "headline.csv").set_index("arm")
    c255 = h.loc["C255-unoptimized"]
    # how much longer C256 ran than C255, from the ratio C255 / C256, and its CI flipped
    var = 100 / c255["ratio"] - 100
    assert f"{var:+.1f} %".replace("-", "−") in block
    assert f"(−{100 - 100 / c255['hi']:.1f} to −{100 - 100 / c255['lo']:.1f} %)" in block
    same = h.loc["C256-optimized"]
    assert f"{1 / same['ratio']:.2f}× ({1 / same['hi']:.2f}–{1 / same['lo']:.2f}×)" in block
    # one run: the runtimes of the two faithful runs
    runs = pd.read_csv(BUILD / "phase1a" / "runs.csv").set_index("run")["runtime_s"]
    one = (runs["C256-unoptimized"] / runs["C255-unoptimized"] - 1) * 100
    assert f"| {one:+.1f} % |".replace("-", "−") in block
    # the paper's own rendered headline table says the same
    paper = pd.read_csv(BUILD / "paper_tables" / "headline.csv")
    for cell in paper["repeated (measured)"]:  # the paper's cell adds "at <its scale>"
        assert cell.split(" at ")[0].replace("-", "−") in block
    assert paper["paper (reported)"][0] in block  # +71.6 %, from the claims, not typed


def test_hypotheses_and_controls_come_from_the_verdicts(flat: str) -> None:
    v = pd.read_csv(BUILD / "study" / "verdicts.csv").set_index("hypothesis")
    for h in ("H1", "H2", "H3", "H4", "H5"):
        assert f"| **{h}** {v.loc[h, 'name']} | **{v.loc[h, 'verdict']}** |" in flat
    # the long arms' drift rows, numbers as the verdicts table has them (true minus signs)
    h5 = re.sub(r"(?<![\w.])-(?=\d)", "−", v.loc["H5", "statistic"])
    assert h5.startswith("drift difference long-registry-off: ") and h5 in flat
    assert "blocks at 3000 cycles x 2 agents; margin m = 5 %-points per 1000 cycles" in flat
    # the controls' counts, as their rows in the verdicts table give them (not always 5/5)
    for row in ("H2 control +", "H2 control -"):
        got = re.search(r"as expected in (\d+/\d+) runs", str(v.loc[row, "statistic"]))
        assert got, v.loc[row, "statistic"]
        assert f"H2 as expected in {got.group(1)} runs" in flat


def test_cost_shares_and_prediction(flat: str) -> None:
    shares = pd.read_csv(BUILD / "study" / "shares.csv").set_index("cost")["share"]
    assert f"sampling {shares['sampling'] * 100:.0f} %" in flat
    arms = pd.read_csv(BUILD / "study" / "arms.csv").set_index("arm")
    assert f"{arms.loc['base-unoptimized', 'cpu_share'] * 100:.0f} % of its cycle time" in flat
    s = pd.read_csv(BUILD / "phase1b" / "summary.csv").set_index("comparison")
    same = s.loc["same_experiment"]
    assert f"{same['variance_reduction_pct']:.1f} %" in flat
    assert same["prediction_verdict"] in flat and "more than 80 %" in flat


def test_write_rewrites_only_the_block(tmp_path: Path, block: str) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{R.BEGIN}\ntyped by hand\n{R.END}\nafter\n")
    assert R.write_readme(readme) is True
    text = readme.read_text()
    assert text == f"# x\n\nbefore\n{R.BEGIN}\n{block}{R.END}\nafter\n"
    assert R.write_readme(readme) is False
    assert main(["readme", "--check", "--readme", str(readme)]) == 0


def test_bad_input_gives_one_line_errors(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(NrmError, match="markers"):
        R.write_readme(readme)
    assert readme.read_text() == "no markers\n"  # nothing written
    with pytest.raises(R.ReadmeError, match=r"missing .*study/headline\.csv"):
        R.findings_markdown(tmp_path)
    build = tmp_path / "build"
    shutil.copytree(BUILD, build)
    (build / "phase1a" / "runs.csv").write_text(
        pd.read_csv(BUILD / "phase1a" / "runs.csv").assign(
            max_agents=lambda d: range(len(d))).to_csv(index=False))
    with pytest.raises(R.ReadmeError, match="differ in scale"):
        R.findings_markdown(build)
    assert main(["readme", "--build", str(build)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nrm: error: ") and err.count("\n") == 1


def test_the_long_scale_reference_gets_one_bullet_with_its_scale(tmp_path: Path) -> None:
    """A shipped long-scale study (here the default study's tables stand in for one) adds one
    bullet, labelled as not this build, with its scale, blocks and every verdict; none when
    it is absent."""
    import json

    long = tmp_path / "build-long"
    shutil.copytree(BUILD / "study", long / "study")
    (long / "machine.json").write_text(json.dumps({
        "built_at": "2026-12-07", "study": {"sweep_s": 2580.0, "runs_complete": 217}}))
    flat = " ".join(R.findings_markdown(long=long).split())
    drift = pd.read_csv(long / "study" / "long_drift.csv")
    v = pd.read_csv(long / "study" / "verdicts.csv").set_index("hypothesis")
    scale = f"**{drift['cycles'].max()} cycles x {drift['agents'].max()} agents**"
    bullet = flat.split("* **At the long scale** (not this build:")[1].split("* **")[0]
    assert scale in bullet and "43 min for 217 runs" in bullet
    assert f"in {drift.groupby('arm').size().max()} blocks" in bullet
    for h in ("H1", "H2", "H3", "H4", "H5"):
        assert f"{h} {v.loc[h, 'verdict']}" in bullet
    assert "At the long scale" not in R.findings_markdown(long=tmp_path / "absent")
