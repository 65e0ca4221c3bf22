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

from nrm import paths
from nrm.build import notebooks as N
from nrm.render.paper import BUILD_FIGURES, FIGURES
from nrm.render.text import duration, num
from nrm.run.scales import get_scale

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("make_paper")]

#: every figure of a smoke paper: the paper's own, then the causal study's (make paper runs
#: the study), its controls' figure and the prediction's speedup figure (Section 12)
ALL_FIGURES = len(BUILD_FIGURES)

def _make(out: Path, *args: str, scale: str = "smoke") -> subprocess.CompletedProcess[str]:
    from conftest import make_paper

    return make_paper(out, *args, scale=scale)


@pytest.fixture(scope="module")
def built(smoke_build: Path) -> Path:
    return smoke_build


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
    # every notebook, the study's included (make paper runs the causal study)
    assert runs | {f"{n}.ipynb" for n in N.NOTEBOOKS if n != "run_experiment"} == names
    assert "study.ipynb" in names
    assert not list(executed.glob("*.failed.ipynb"))
    for name in get_scale("smoke").names():
        assert (built / "data" / "runs" / "smoke" / name / "run.json").is_file()


def test_html_is_self_contained_and_embeds_every_figure(built: Path) -> None:
    html = (built / "paper" / "paper.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == ALL_FIGURES
    assert "<img" not in re.sub(r'<img [^>]*src="data:image/png;base64,', "", html)
    assert not re.search(r"<script[^>]*src=\"https?://", html)
    for stem in FIGURES:
        png = built / "figures" / f"{stem}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    assert len(re.findall(r"!\[Figure \d+\]", md)) == ALL_FIGURES


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


def _nan_safe(claims: dict) -> dict:
    """NaN never equals NaN; a claim that is NaN in both renders compares equal here."""
    def fix(v: object) -> object:
        if isinstance(v, tuple):
            return tuple(fix(x) for x in v)
        return "nan" if isinstance(v, float) and v != v else v
    return {k: fix(v) for k, v in claims.items()}


def test_paper_renders_with_statistic_labels_reworded(built: Path, tmp_path: Path) -> None:
    """The paper finds statistics by key: reworded labels and notes change only their text."""
    from nrm.render import paper as P
    from nrm.render import results as R

    req = N.check_parameters(
        "render_paper", None, scale="smoke", runs_dir=str(built / "data" / "runs" / "smoke"),
        analysis_dir=str(built / "data" / "analysis" / "smoke"),
        figures_dir=str(built / "figures"), paper_dir=str(tmp_path),
        executed_dir=str(built / "data" / "executed" / "smoke"))
    inp = P.load_inputs(req)
    figs = {name: built / "figures" / f"{name}.png" for name in FIGURES}
    claims, md = P.measured_claims(inp), P.compose(inp, figs, tmp_path)
    comparisons = [k for k in inp.phase1b if k != "summary"]
    summary = R.comparison_summary({k: inp.phase1b[k] for k in comparisons})
    for k in comparisons:
        t = inp.phase1b[k]
        t["statistic"] = "Reworded " + t["statistic"].astype(str).str.upper()
        t["note"] = "reworded note"
    tests = inp.phase1a["hypothesis_tests"]
    tests["y"] = "reworded " + tests["y"].astype(str)
    assert _nan_safe(P.measured_claims(inp)) == _nan_safe(claims)
    pd.testing.assert_frame_equal(
        R.comparison_summary({k: inp.phase1b[k] for k in comparisons}), summary)
    reworded = P.compose(inp, figs, tmp_path)
    assert "Reworded " in reworded and "Reworded " not in md
    # only the lines that print a label or a note changed
    changed = [a for a, b in zip(md.splitlines(), reworded.splitlines(), strict=True) if a != b]
    assert changed and all("|" in line or "prediction" in line for line in changed)


def test_second_make_does_no_work(built: Path) -> None:
    res = _make(built, "paper", "WHY=1")
    assert res.returncode == 0, res.stderr
    assert "nothing to redo" in res.stdout, res.stdout
    assert "would run" not in res.stdout


def test_bad_scale_fails_and_writes_nothing(tmp_path: Path) -> None:
    res = _make(tmp_path / "out", "paper", scale="huge")
    assert res.returncode != 0
    assert "unknown scale 'huge'" in res.stderr
    assert not (tmp_path / "out").exists()


def test_console_shows_a_line_and_a_progress_bar_per_run_and_a_summary(built: Path) -> None:
    console = (built / "make.console").read_text(encoding="utf-8").replace("\r", "\n")
    planned = get_scale("smoke").runs
    names = [r.name for r in planned]
    for i, (name, run) in enumerate(zip(names, planned, strict=True), 1):
        exp, variant = run.experiment, run.variant
        start = f"run {i}/{len(names)}: {exp} {variant} (scale smoke"
        assert start in console, f"no start line for {name}"
        # tqdm's bar for this run's cycles, finished, with elapsed time and rate
        assert re.search(rf"{exp} {variant}: 100%\|[^|]*\| 80/80 \[\d\d:\d\d<", console), name
        assert f"run {i}/{len(names)} done: {exp} {variant} took" in console
        assert re.search(rf"run {i}/{len(names)}  {name} +\d+ s  complete", console), name
    assert "total time in the runs:" in console
    for name in ("variance_hypotheses", "optimization", "render_paper"):
        assert f"notebook {name} done in" in console, name
    assert "without encryption" not in console  # Jupyter's transport warning is silenced
    # the bars went to the console, not into the executed notebooks
    nb = (built / "data" / "executed" / "smoke" / "run-C256-unoptimized.ipynb").read_text()
    assert "cycle/s" not in nb


def test_plan_runs_nothing_and_lists_every_run_with_an_estimate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    res = _make(out, "paper", "PLAN=1")
    assert res.returncode == 0, res.stderr
    names = get_scale("smoke").names()
    for i, name in enumerate(names, 1):
        assert re.search(rf"^run {i}/{len(names)}  {name} +~ *\d+(\.\d)? (s|min|h) ",
                         res.stdout, flags=re.M), (name, res.stdout)
    assert re.search(r"estimated time: ~\d+(\.\d)? (s|min|h) for the runs, ~\d", res.stdout)
    # make paper runs the causal study too: PLAN=1 lists it with its runs
    assert re.search(r"then the causal study \(nrm study, scale smoke\): \d+ runs = \d+ arms x 2 "
                     r"randomized blocks", res.stdout), res.stdout
    assert "SQLite row commit" in res.stdout and "Nothing was run" in res.stdout
    assert "nrm.build.notebooks" not in res.stdout
    assert list(out.iterdir()) == []  # nothing written (the calibration folder is removed)


def test_paper_names_no_absolute_path_of_the_build_machine(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    html = (built / "paper" / "paper.html").read_text(encoding="utf-8")
    for text in (md, html):
        assert str(built) not in text
        assert str(paths.ROOT) not in text
    assert not re.search(r"`/(tmp|home|root|work|Users|var)/", md)
    # the run folders are listed relative to the build folder
    for name in get_scale("smoke").names():
        assert f"`data/runs/smoke/{name}`" in md


def test_every_figure_names_its_colours_and_every_item_its_source(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    captions = re.findall(r"^\*Figure (\d+)\.\* (.*)$", md, flags=re.M)
    assert len(captions) == ALL_FIGURES
    by_n = dict(captions)
    # Figure 3 encodes the cost preset by colour: its caption names every colour ...
    for word in ("red unoptimized", "blue optimized", "green lean"):
        assert word in by_n["3"], by_n["3"]
    # ... and the figure carries a legend of them
    from nrm.instrument.reader import load_run
    from nrm.render import figures as F

    runs = [load_run(built / "data" / "runs" / "smoke" / n) for n in get_scale("smoke").names()]
    fig = F.optimization_impact(runs)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert labels == ["unoptimized", "optimized", "lean"]
    for n, caption in captions:
        if n != "5":  # Figure 5 is drawn from the paper's archive (data/reference/)
            assert "colour" in caption or "legend" in caption, (n, caption)
        assert "Data: `" in caption, (n, caption)
    tables = re.findall(r"^\*Table \d+\. (.*)\*$", md, flags=re.M)
    assert len(tables) >= 13
    for caption in tables:
        assert "Source: `" in caption, caption


def test_h5_panel_draws_the_whole_run_fit_its_verdict_tests(built: Path) -> None:
    from nrm.instrument.reader import load_run
    from nrm.render import figures as F
    from nrm.stats._regression import fit_line

    run = load_run(built / "data" / "runs" / "smoke" / "C256-unoptimized")
    fig = F.hypothesis_panels(run)
    h5 = next(ax for ax in fig.axes if ax.get_title() == "H5 emergent complexity")
    fits = [ln for ln in h5.get_lines() if "fit" in str(ln.get_label())]
    assert len(fits) == 1 and "whole-run" in fits[0].get_label()
    wall_ms = pd.to_numeric(run.cycles["wall_s"]).to_numpy() * 1e3
    steps = pd.to_numeric(run.cycles["step"]).to_numpy(dtype=float)
    x, y = fits[0].get_data()
    drawn = (y[-1] - y[0]) / (x[-1] - x[0])
    assert drawn == pytest.approx(fit_line(steps, wall_ms).slope, rel=1e-6)


def test_table_headers_are_words_with_units_not_code_names(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    headers = [ln for i, ln in enumerate(md.splitlines()[:-1])
               if ln.startswith("|") and re.match(r"^\|[:\- |]+\|$", md.splitlines()[i + 1])]
    assert headers
    for line in headers:
        for cell in line.strip("|").split("|"):
            assert not re.search(r"\b[a-z0-9]+_[a-z0-9_]+\b", cell), cell
    for raw in ("hac_maxlags", "cycles_used", "predicted_s"):
        assert raw not in md


def test_rates_per_hour_of_a_short_run_are_shown_as_meaningless(built: Path) -> None:
    md = (built / "paper" / "paper.md").read_text(encoding="utf-8")
    assert "not meaningful (run of" in md
    assert "Rates per hour are not given" in md
    assert not re.search(r"increment rate (rises|falls)", md)


def test_each_run_folder_holds_the_planned_experiment(built: Path) -> None:
    import json

    for run in get_scale("smoke").runs:  # C259-as-run-optimized is C259-as-run, not C259
        meta = json.loads((built / "data" / "runs" / "smoke" / run.name / "run.json").read_text())
        assert (meta["experiment"], meta["preset"]) == (run.experiment, run.variant), run.name
