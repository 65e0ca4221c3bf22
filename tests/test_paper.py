"""`make paper SCALE=smoke` end to end, in a temporary folder (OUT=...): every notebook runs
through papermill, the HTML embeds every figure, every table is filled, the claims ledger is
there, the numbers in the text are the numbers in the analysis files, and a second make does
nothing."""

from __future__ import annotations

import io
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from nrm import notebooks as N
from nrm import paths
from nrm.render.paper import FIGURES
from nrm.render.text import duration, num
from nrm.scales import get_scale

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("make_paper")]

STAMP = ".venv/.installed-stamp"  # never re-install from a test (make -o: treat as up to date)


def _make(out: Path, *args: str, scale: str = "smoke") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(paths.ROOT), "-o", STAMP, *args, f"SCALE={scale}",
                           f"OUT={out}"], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("paper-smoke")
    res = _make(out, "paper")
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    return out


class _Tables(HTMLParser):
    """Every <table> of a page as a list of rows (header row first) of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(html: str) -> list[list[list[str]]]:
    p = _Tables()
    p.feed(html)
    return p.tables


_NUMBER = re.compile(r"\d")


def test_every_notebook_ran_through_papermill(built: Path) -> None:
    executed = built / "data" / "executed" / "smoke"
    names = {p.name for p in executed.glob("*.ipynb")}
    runs = {f"run-{n}.ipynb" for n in get_scale("smoke").names()}
    # the study notebook runs with `make study` (its section says so when absent)
    skip = ("run_experiment", "study")
    assert runs | {f"{n}.ipynb" for n in N.NOTEBOOKS if n not in skip} == names
    assert not list(executed.glob("*.failed.ipynb"))
    for name in get_scale("smoke").names():
        assert (built / "data" / "runs" / "smoke" / name / "run.json").is_file()


def test_html_is_self_contained_and_embeds_every_figure(built: Path) -> None:
    html = (built / "paper" / "paper.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == len(FIGURES)
    assert "<img" not in re.sub(r'<img [^>]*src="data:image/png;base64,', "", html)
    assert not re.search(r"<script[^>]*src=\"https?://", html)
    for stem in FIGURES:
        png = built / "figures" / f"{stem}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    assert len(re.findall(r"!\[Figure \d+\]", md)) == len(FIGURES)


def test_every_table_is_filled_with_numbers(built: Path) -> None:
    html = (built / "paper" / "paper.html").read_text(encoding="utf-8")
    tables = _tables(html)
    assert len(tables) >= 10
    for t in tables:
        assert len(t) >= 2, t  # a header and at least one row
        cells = [c for row in t[1:] for c in row]
        assert all(c != "" for c in cells), t[0]
        assert not any(c.lower() in ("nan", "none", "<na>", "inf") for c in cells), t[0]
        assert any(_NUMBER.search(c) for c in cells), t[0]


def test_tables_put_the_papers_values_beside_the_measured_ones(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    for caption in ("The paper's Table 1 (reported)", "H1–H5 on C256 unoptimized: the paper's "
                    "claim beside", "Optimization impact: the paper's prediction beside",
                    "Runtime variance: the paper's reported value"):
        assert re.search(r"\*Table \d+\. " + re.escape(caption), md), caption
    numbers = [int(n) for n in re.findall(r"^\*Table (\d+)\.", md, flags=re.M)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert "[[" not in md
    html = (built / "paper" / "paper.html").read_text(encoding="utf-8")
    headers = [" ".join(t[0]) for t in _tables(html)]
    assert sum("(paper" in h for h in headers) >= 3
    assert sum("(measured)" in h for h in headers) >= 2


def test_claims_ledger_section_has_every_row_filled(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    assert "## 6. Claims ledger" in md
    section = md.split("## 6. Claims ledger", 1)[1].split("\n## ", 1)[0]
    assert "mock-up" in section
    html = (built / "paper" / "paper.html").read_text(encoding="utf-8")
    ledger = next(t for t in _tables(html) if "status" in " ".join(t[0]).lower()
                  and "provenance" in " ".join(t[0]).lower())
    assert len(ledger) > 10
    assert all(c not in ("", "nan") for row in ledger[1:] for c in row)


def test_numbers_in_the_text_come_from_the_analysis_files(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    runs = pd.read_csv(built / "data" / "analysis" / "smoke" / "phase1a" / "runs.csv")
    summary = pd.read_csv(io.StringIO(
        (built / "data" / "analysis" / "smoke" / "phase1b" / "summary.csv").read_text()))
    c256 = runs.set_index("run").loc["C256-unoptimized"]
    assert f"C256 unoptimized ran {duration(c256['runtime_s'])}" in md
    same = summary.set_index("comparison").loc["same_experiment"]
    assert f"speedup of {num(same['speedup'])}×" in md
    assert "Scale **smoke**" in md
    assert not re.search(r"\{[^}]*\}", md), "an f-string placeholder was not filled in"


def test_second_make_does_no_work(built: Path) -> None:
    res = _make(built, "-n", "paper")
    assert res.returncode == 0, res.stderr
    assert "nrm.notebooks" not in res.stdout and "nrm.scales retire" not in res.stdout


def test_bad_scale_fails_and_writes_nothing(tmp_path: Path) -> None:
    res = _make(tmp_path / "out", "paper", scale="huge")
    assert res.returncode != 0
    assert "unknown scale 'huge'" in res.stderr
    assert not (tmp_path / "out").exists()
