"""`nrm compare-builds A B`: table by table, cell by cell, verdicts and the A/A noise floor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nrm import paths
from nrm.cli import main as cli
from nrm.exceptions import ParameterError
from nrm.render.compare import compare_builds, resolve_build


def _build(root: Path, runtime: float, verdict: str, noise: float | None = None) -> Path:
    a = root / "phase1a"
    a.mkdir(parents=True)
    pd.DataFrame({"run": ["C255-unoptimized", "C256-unoptimized"],
                  "runtime_s": [10.0, runtime], "samples": [100, 200]}).to_csv(
        a / "runs.csv", index=False)
    pd.DataFrame({"hypothesis": ["H1", "H2"], "verdict": ["supported", verdict],
                  "evidence": ["rho 0.5", "delta 0.1"]}).to_csv(a / "hypotheses.csv", index=False)
    if noise is not None:
        (root / "study").mkdir()
        (root / "study" / "noise.json").write_text(json.dumps({"aa_log_ratio_halfwidth": noise}))
    return root


def test_a_build_against_itself_has_no_differences(tmp_path: Path) -> None:
    a = _build(tmp_path / "a", 20.0, "supported")
    cmp = compare_builds(a, a)
    assert cmp.n_differences == 0
    assert "no differences" in cmp.report()
    assert "noise floor: unknown" in cmp.report()


def test_differences_ratios_and_verdicts_are_reported(tmp_path: Path) -> None:
    a = _build(tmp_path / "a", 20.0, "supported")
    b = _build(tmp_path / "b", 30.0, "not supported")
    cmp = compare_builds(a, b)
    runs = cmp.summary.set_index("table").loc["phase1a/runs"]
    assert runs["cells"] == 4 and runs["cells_differing"] == 1
    assert runs["max_ratio"] == pytest.approx(1.5)
    hyp = cmp.summary.set_index("table").loc["phase1a/hypotheses"]
    assert hyp["verdicts_agree"] == "1/2"
    diff = cmp.cells[cmp.cells["differs"]]
    assert set(diff["row"]) == {"C256-unoptimized", "H2"}
    assert cmp.n_differences == 2
    assert runs["within_noise"] == "unknown"


def test_within_noise_uses_both_builds_aa_arms(tmp_path: Path) -> None:
    a = _build(tmp_path / "a", 20.0, "supported", noise=0.3)
    b = _build(tmp_path / "b", 22.0, "supported", noise=0.3)
    cmp = compare_builds(a, b)
    assert cmp.noise == pytest.approx((0.3**2 * 2) ** 0.5)
    runs = cmp.summary.set_index("table").loc["phase1a/runs"]
    assert runs["within_noise"] == "4/4"  # log(1.1) = 0.095 < 0.42


def test_build_folders_resolve_to_their_tables(tmp_path: Path) -> None:
    tables = _build(tmp_path / "out" / "data" / "analysis" / "smoke", 1.0, "supported")
    assert resolve_build(tmp_path / "out") == tables
    assert resolve_build(tmp_path / "out", "smoke") == tables
    with pytest.raises(ParameterError, match="no tables for scale 'full'"):
        resolve_build(tmp_path / "out", "full")
    with pytest.raises(ParameterError, match="does not exist"):
        resolve_build(tmp_path / "nowhere")


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _build(tmp_path / "a", 20.0, "supported")
    b = _build(tmp_path / "b", 25.0, "supported")
    assert cli.main(["compare-builds", str(a), str(a)]) == 0
    assert cli.main(["compare-builds", str(a), str(b)]) == 1
    assert "1 differences" in capsys.readouterr().out
    assert cli.main(["compare-builds", str(a), str(tmp_path / "none")]) == 2


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_two_smoke_builds_with_different_seeds_differ(smoke_build: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import make_paper

    other = tmp_path / "seed1"
    res = make_paper(other, "paper", extra=("SEED=1", "STUDY=0"))  # the tables, not the study
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    prov = json.loads((other / "paper" / "provenance.json").read_text(encoding="utf-8"))
    assert {r["seed"] for r in prov["items"]["table:runs"]["runs"]} == {1}
    assert cli.main(["compare-builds", str(smoke_build), str(other)]) == 1
    out = capsys.readouterr().out
    assert "phase1a/runs" in out and "differing cells" in out
    cmp = compare_builds(smoke_build, other)
    assert cmp.summary["cells_differing"].sum() > 0
    assert cli.main(["compare-builds", str(smoke_build), str(smoke_build)]) == 0
    assert "no differences" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_the_paper_section_compares_with_the_reference_build(
        smoke_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from nrm.render.sections import reference as RS

    tables = smoke_build / "data" / "analysis" / "smoke"
    monkeypatch.setattr(RS, "REFERENCE_BUILD", tables)  # a build compared with itself
    md = RS.section(SimpleNamespace(analysis_dir=tables, scale="smoke"))
    assert "*Table [[reference]]. This build against the reference build" in md
    assert "Every verdict agrees with the reference build." in md
    # make paper runs the study, whose A/A arm gives the noise floor
    assert "A ratio is within the combined A/A noise when |log ratio| <=" in md
    assert "scale `smoke`, the reference at `default`" in md
    monkeypatch.setattr(RS, "REFERENCE_BUILD", smoke_build / "no-such-folder")
    assert "No reference build is shipped" in RS.section(SimpleNamespace(analysis_dir=tables,
                                                                          scale="smoke"))


def test_the_study_aa_band_gives_the_noise_floor(tmp_path: Path) -> None:
    a = _build(tmp_path / "a", 20.0, "supported")
    b = _build(tmp_path / "b", 20.0, "supported")
    for root in (a, b):
        (root / "study").mkdir()
        pd.DataFrame({"arm": ["x", "y"], "band_lo": [0.9, 0.8], "band_hi": [1.1, 1.25]}).to_csv(
            root / "study" / "effects.csv", index=False)
    cmp = compare_builds(a, b)
    import math

    h = (math.log(1 / 0.9) + math.log(1.25)) / 2  # median of the two arms' half-widths
    assert cmp.noise == pytest.approx(math.hypot(h, h))


def test_a_binary_table_or_a_negative_cell_count_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = paths.REFERENCE / "build-default"
    bad = tmp_path / "bad"
    shutil.copytree(ref, bad)
    (bad / "phase1a" / "runs.csv").write_bytes(bytes(range(256)) * 8)
    assert cli.main(["compare-builds", str(ref), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs.csv: not a readable CSV table" in err
    assert cli.main(["compare-builds", str(ref), str(ref), "--max-cells", "-1"]) == 2
    assert "expected an integer >= 0" in capsys.readouterr().err
