"""Every table and figure of a smoke build carries a provenance stamp whose runs exist, and
`nrm reproduce` re-makes an item from its recorded inputs and checks it against the stamp."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nrm import provenance as P
from nrm.build.reproduce import compare_frames
from nrm.cli import main as cli


def _prov(build: Path) -> dict[str, Any]:
    return json.loads((build / "paper" / "provenance.json").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_every_table_and_figure_is_stamped_and_its_runs_exist(smoke_build: Path) -> None:
    prov = _prov(smoke_build)
    items = prov["items"]
    md = (smoke_build / "paper" / "paper.md").read_text(encoding="utf-8")
    html = (smoke_build / "paper" / "paper.html").read_text(encoding="utf-8")
    n_tables = len(re.findall(r"^\*Table \d+\.", md, flags=re.M))
    tables = [i for i in items if i.startswith("table:")]
    figures = [i for i in items if i.startswith("figure:")]
    assert len(tables) == n_tables and n_tables >= 10
    from nrm.render.paper import BUILD_FIGURES

    # the paper's figures, the causal study's, its controls' and the prediction's
    assert sorted(figures) == sorted(f"figure:{s}" for s in BUILD_FIGURES)
    for item_id, rec in items.items():
        # one Markdown line and one collapsed HTML block per item
        assert md.count(f"<sub>Provenance `{item_id}`:") == 1, item_id
        assert html.count(f'<details class="provenance" id="prov-{item_id.replace(":", "-")}"') \
            == 1, item_id
        assert rec["scale"] == "smoke"
        assert rec["git"]["commit"] and "dirty" in rec["git"]
        assert len(rec["environment"]["hash"]) == 12
        assert rec["environment"]["python"] and rec["environment"]["packages"]["pandas"]
        assert rec["hosts"] and rec["date"]
        assert rec["notebooks"][-1]["notebook"] == "render_paper"
        assert rec["data_sha256"], item_id
        assert rec["n_runs"] == len(rec["runs"])
        for run in rec["runs"]:
            run_json = smoke_build / run["path"] / "run.json"
            assert run_json.is_file(), (item_id, run)
            assert P.file_sha256(run_json) == run["run_json_sha256"]
            meta = json.loads(run_json.read_text(encoding="utf-8"))
            assert meta["started_at"] == run["run_id"]
        for a in rec["analysis"]:
            assert P.file_sha256(smoke_build / a["file"]) == a["sha256"]
        if item_id.startswith("table:"):
            values = pd.read_csv(smoke_build / rec["values_file"])
            assert P.data_hash(values) == rec["data_sha256"]
    from nrm.run.scales import get_scale

    assert items["table:byrun"]["n_runs"] == len(get_scale("smoke").names())
    assert [r["name"] for r in items["table:hypotheses"]["runs"]] == ["C256-unoptimized"]


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_reproduce_a_table_gives_the_same_values(smoke_build: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["reproduce", "table:hypotheses", "--build", str(smoke_build)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "recomputed phase1a from the run folders" in out
    assert "every cell within tolerance" in out and "MATCHES" in out
    code = cli.main(["reproduce", "table:comparison", "--build", str(smoke_build)])
    out = capsys.readouterr().out
    assert code == 0 and "recomputed phase1b" in out, out
    # the headline table: single runs (recomputed) beside the study's repeats (its tables)
    code = cli.main(["reproduce", "table:headline", "--build", str(smoke_build)])
    out = capsys.readouterr().out
    assert code == 0 and "causal study's tables as the build left them" in out, out
    assert "MATCHES" in out
    items = json.loads((smoke_build / "paper" / "provenance.json").read_text())["items"]
    head = items["table:headline"]
    assert head["study_runs"]["n"] > 0 and head["n_runs"] == 4
    assert any(a["file"].endswith("study/headline.csv") for a in head["analysis"])


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_reproduce_a_figure_checks_its_plotted_data(smoke_build: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["reproduce", "figure:population_cost", "--build", str(smoke_build)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "matches the stamp" in out
    png = smoke_build / "figures" / "population_cost.reproduced.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_reproduce_reports_a_changed_table(smoke_build: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    copy = tmp_path / "build"
    shutil.copytree(smoke_build, copy, symlinks=True)
    prov = _prov(copy)
    runs_csv = copy / prov["items"]["table:runs"]["values_file"]
    df = pd.read_csv(runs_csv)
    df.loc[0, "runtime (s)"] = float(df.loc[0, "runtime (s)"]) * 1.01
    df.to_csv(runs_csv, index=False)
    # the copy's runs live in the copy (provenance paths are relative to the build)
    code = cli.main(["reproduce", "table:runs", "--build", str(copy)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "row 1, column 'runtime (s)'" in out, out
    assert "DOES NOT MATCH" in out


def test_unknown_item_names_the_valid_ones(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "provenance.json").write_text(json.dumps(
        {"items": {"table:runs": {}}}))
    assert cli.main(["reproduce", "table:nope", "--build", str(tmp_path)]) == 2
    assert "table:runs" in capsys.readouterr().err


def test_compare_frames_uses_the_tolerance() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0], "v": ["supported", "not supported"]})
    assert compare_frames(a, a.copy(), 1e-9, 1e-12) == []
    b = a.assign(x=[1.0, 2.0 * (1 + 1e-12)])
    assert compare_frames(a, b, 1e-9, 1e-12) == []
    c = a.assign(x=[1.0, 2.1])
    assert compare_frames(a, c, 1e-9, 1e-12) == ["row 2, column 'x': stamped 2.0, re-made 2.1"]
    d = a.assign(v=["supported", "supported"])
    assert len(compare_frames(a, d, 1e-9, 1e-12)) == 1


def test_stamps_are_one_markdown_line_and_a_collapsed_html_block() -> None:
    rec = {"id": "table:runs", "scale": "smoke", "reference": False,
           "runs": [{"name": "C256-unoptimized", "run_id": "2026-01-01T00:00:00+00:00"}],
           "git": {"commit": "0123456789abcdef", "dirty": True},
           "environment": {"hash": "abcdef012345"},
           "notebooks": [{"notebook": "render_paper", "parameters": {"scale": "smoke",
                                                                     "paper_dir": "/x"}}],
           "hosts": ["h1"], "date": "2026-01-01T00:00:00Z", "data_sha256": "f" * 64}
    md = P.markdown_stamp(rec)
    assert "\n" not in md
    for part in ("n = 1, scale smoke", "C256-unoptimized (2026-01-01", "commit 0123456789ab dirty",
                 "env abcdef012345", "render_paper(scale=smoke)", "host h1", "date 2026-01-01"):
        assert part in md, part
    assert "/x" not in md
    html = P.html_stamp(rec)
    assert html.startswith('<details class="provenance"') and " open" not in html
    assert "nrm reproduce table:runs" in html


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00binary", b"[1, 2]",
                                     b'{"items": {"table:runs": {"scale": 5}}}',
                                     b"[" * 100_000])
def test_reproduce_refuses_a_provenance_record_of_the_wrong_shape(
        tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "provenance.json").write_bytes(content)
    assert cli.main(["reproduce", "table:runs", "--build", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a provenance record" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["paper", "provenance.json"]
