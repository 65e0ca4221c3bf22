"""Assemble the paper: figures into ``figures/``, ``paper/paper.md`` and ``paper/paper.html``.

:func:`build` reads one scale's run folders, the Phase 1A/1B tables
(:mod:`nrm.render.results`) and the paper's reported numbers and claims ledger
(``data/reference/`` through :mod:`nrm.claims`), draws every figure, writes the Markdown
source, and converts it with nbconvert into one self-contained HTML file (figures embedded as
base64, no external scripts). Every number in the text comes from those files; the prose around
a number is chosen from what the number is (for instance "slower" or "faster"), never the other
way round.

The sections are in :mod:`nrm.render.sections` (one module each), what they read in
:mod:`nrm.render.inputs`, the figures in :mod:`nrm.render.paper_figures`, the provenance stamps
in :mod:`nrm.render.stamps` and the HTML page in :mod:`nrm.render.html`; this module composes
them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nrm.atomic import atomic_write_text
from nrm.render.html import to_html
from nrm.render.inputs import PaperInputs, load_inputs
from nrm.render.measured import measured_claims
from nrm.render.paper_figures import FIGURES, draw_figures, figure_data
from nrm.render.sections import (
    atscale,
    contention,
    controls,
    dbcurve,
    hypotheses,
    ledger,
    limitations,
    longscale,
    methods,
    optimization,
    population,
    reference,
    reproducibility,
    study,
    summary,
    support,
    title,
    variance,
)
from nrm.render.sections.common import heading
from nrm.render.sections.tableio import read_table
from nrm.render.stamps import (
    STAMP,
    Composed,
    attach_tables,
    number_tables,
    provenance_records,
    stamp_figures,
    stamped_items,
)

#: Every figure a build's paper shows when its causal study ran: the single runs' (``FIGURES``),
#: the study's, its contention arm's, the H2 controls' and the prediction at the paper's scale.
#: A build without a commit-latency curve of its own shows the shipped reference's figure when
#: one is shipped (``data/reference/dbcurve/``, fixed in a checkout); a build with its own curve
#: shows ``dbcurve`` in its place.
BUILD_FIGURES: tuple[str, ...] = (*FIGURES, *study.FIGURES, contention.FIGURE,
                                  *dbcurve.shipped_figures(), "controls", "atscale_speedup")

__all__ = ["BUILD_FIGURES", "FIGURES", "PaperInputs", "build", "compose", "compose_items",
           "draw_figures", "figure_data", "load_inputs", "measured_claims", "study_sections",
           "to_html"]


def compose(inp: PaperInputs, fig_paths: Mapping[str, Path], paper_dir: str | Path,
            extra: tuple[str, ...] = ()) -> str:
    """The paper as Markdown (figures referenced relative to ``paper_dir``), without stamps;
    ``extra`` sections (e.g. the causal study's) go at the end."""
    return STAMP.sub("", compose_items(inp, fig_paths, paper_dir, extra).text)


def compose_items(inp: PaperInputs, fig_paths: Mapping[str, Path], paper_dir: str | Path,
                  extra: tuple[str, ...] = (), rec: Any = None) -> Composed:
    """The paper as Markdown with stamp placeholders, and the values of every table.

    ``rec``: an active :class:`nrm.provenance.Recorder` that already holds the tables of the
    ``extra`` sections (their table markers index into it); None: one is opened here.
    """
    from nrm.provenance import recording

    rel = {k: os.path.relpath(v, paper_dir) for k, v in fig_paths.items()}
    if rec is None:
        with recording() as own:
            text = _compose_text(inp, rel, extra)
        frames = own.frames
    else:
        text = _compose_text(inp, rel, extra)
        frames = rec.frames
    text, tables = attach_tables(stamp_figures(text), frames)
    text = number_tables(text)
    return Composed(text, tables, stamped_items(text))


def _compose_text(inp: PaperInputs, rel: Mapping[str, str], extra: tuple[str, ...] = ()) -> str:
    parts = [
        title.section(inp),
        summary.section(inp),
        methods.section(inp),
        variance.section(inp, rel),
        hypotheses.section(inp, rel),
        optimization.section(inp, rel),
        population.section(inp, rel),
        ledger.section(inp, rel),
        support.section(inp),
        limitations.section(inp),
        reproducibility.section(inp),
        *extra,
    ]
    numbers = [int(n) for p in parts for n in re.findall(r"(?m)^## (\d+)\.", p)]
    parts.append(reference.section(inp, number=max(numbers, default=0) + 1))
    return "\n".join(p.rstrip() + "\n" for p in parts)


def study_sections(inp: PaperInputs, paper_dir: Path, n_figures: int, *,
                   build_root: Path | None = None) -> tuple[tuple[str, ...], dict[str, Path]]:
    """Sections 10, 11 and 12 (the causal study with the long-scale reference and H3's
    commit-latency curve, its controls, and the paper's comparisons predicted at the paper's
    parameters; each says so when its tables are missing) and their images, numbered after the
    paper's ``n_figures`` figures. ``build_root``: the build folder holding ``data/dbcurve/``
    (default: ``paper_dir``'s parent); the curve's figure goes to ``paper_dir``'s sibling
    ``figures/``."""
    folder = inp.study_dir if inp.study_dir is not None else paper_dir / "no-study"
    study_md, study_images = study.section(
        folder, paper_dir, first_figure=n_figures + 1,
        heading=heading("10. The causal study: one factor at a time, repeated").strip())
    this_verdicts = read_table(folder / "verdicts.csv")
    curve_md, curve_images = dbcurve.section(
        build_root if build_root is not None else paper_dir.parent, inp.scale,
        paper_dir.parent / "figures", paper_dir,
        first_figure=n_figures + len(study_images) + 1, verdicts=this_verdicts)
    study_md = (study_md.rstrip("\n") + "\n\n" + longscale.section(this_verdicts=this_verdicts)
                .rstrip("\n") + "\n\n" + curve_md)
    study_images = study_images | curve_images
    controls_md, controls_images = controls.section(
        folder, paper_dir, runs=inp.runs, rel=inp.rel,
        first_figure=n_figures + len(study_images) + 1,
        heading=heading("11. Controls: can the instruments see what they look for?").strip())
    n_before = n_figures + len(study_images) + len(controls_images)
    predict_md, predict_images = atscale.section(
        inp.predict_dir if inp.predict_dir is not None else paper_dir / "no-predict",
        paper_dir, first_figure=n_before + 1, rel=inp.rel,
        heading=heading("12. At the paper's parameters: runtimes predicted from measured unit "
                        "costs").strip())
    return ((study_md, controls_md, predict_md),
            study_images | controls_images | predict_images)


def build(request: Any) -> dict[str, Any]:
    """Draw the figures and write paper.md, paper.html and paper/provenance.json (with the
    values of every table in paper/tables/) for a validated render request."""
    from nrm.atomic import atomic_write_json
    from nrm.provenance import html_stamp, markdown_stamp

    inp = load_inputs(request)
    fig_paths = draw_figures(inp, request.dirs["figures"])
    paper_dir = Path(request.dirs["paper"])
    from nrm.provenance import recording

    root = paper_dir.parent

    with recording() as rec:
        extra, extra_images = study_sections(inp, paper_dir, len(fig_paths))
        comp = compose_items(inp, fig_paths, paper_dir, extra=extra, rec=rec)
    records = provenance_records(inp, comp, paper_dir, root)
    md = comp.render({k: markdown_stamp(r) for k, r in records.items()})
    md_path = atomic_write_text(paper_dir / "paper.md", md)
    images = {os.path.relpath(p, paper_dir): p for p in fig_paths.values()} | extra_images
    html = to_html(comp.render({k: html_stamp(r) for k, r in records.items()}), images,
                   title=f"NRM runtime variance, re-measured ({inp.scale})")
    html_path = atomic_write_text(paper_dir / "paper.html", html)
    first = next(iter(records.values()), {})
    prov = atomic_write_json(paper_dir / "provenance.json", {
        "schema": 1,
        "scale": inp.scale,
        "created_at": first.get("date"),
        "git": first.get("git"),
        "environment": first.get("environment"),
        "analysis_dir": os.path.relpath(inp.analysis_dir, root) if inp.analysis_dir else None,
        "items": records,
    })
    return {"figures": fig_paths, "markdown": md_path, "html": html_path, "provenance": prov}
