"""No cross-scale statement (issue #24): README, the paper's Summary and its Section 7 set no
number beside the paper's headline numbers without saying at which scale it was measured or
that it is predicted at the paper's parameters (:mod:`nrm.render.scalecheck`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nrm import paths
from nrm.render.scalecheck import section_text, statements, unscaled


def test_the_check_finds_a_measured_number_beside_the_papers_without_a_scale() -> None:
    bad = "* that C256 takes longer than C255 (the paper: +71.6 %): here +9.83 % (n = 1)\n"
    assert unscaled(bad) == [bad.strip("\n")]
    assert unscaled("* a 160–190× speedup: 3.17× here (n = 1)") != []


def test_a_scale_or_a_prediction_at_the_papers_parameters_passes() -> None:
    ok = [
        "* C256 vs C255 (the paper: +71.6 %): +9.8 % at 200 cycles x 15 agents (n = 1)",
        "* a 160–190× speedup, predicted at the paper's parameters (3000 cycles x 100 agents): "
        "15.9× (95 % CI 12.0–19.8×)",
        "The paper predicts a 160–190× speedup from caching.",  # no number of its own
        "* caching: 4.2× (95 % CI 4.1–4.3×) at 10 cycles x 10 agents",  # no paper number
    ]
    for text in ok:
        assert unscaled(text) == [], text


def test_a_table_reads_with_its_caption_or_header() -> None:
    scaled = ("| comparison | the paper | one run, 200 cycles x 15 agents |\n|---|---|---|\n"
              "| speedup | 160–190× | 4.01× |\n")
    assert unscaled(scaled) == []
    unscaled_table = ("| comparison | the paper | here |\n|---|---|---|\n"
                      "| speedup | 160–190× | 4.01× |\n")
    assert len(unscaled(unscaled_table)) == 1
    assert len(statements("a\n\n* b\n* c\n")) == 3


def test_readme_states_the_scale_of_every_number_it_sets_beside_the_papers() -> None:
    text = (paths.PACKAGE_PARENT / "README.md").read_text(encoding="utf-8")
    assert unscaled(text) == []


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_summary_and_section_7_state_their_scales(smoke_build: Path) -> None:
    md = (smoke_build / "paper" / "paper.md").read_text(encoding="utf-8")
    for heading in ("Summary", "7. "):
        sec = section_text(md, heading)
        assert sec.strip(), heading
        assert unscaled(sec) == [], (heading, unscaled(sec))
    sec7 = section_text(md, "7. ")
    assert "160–190× speedup (the paper's, at 3000 cycles x 100 agents)" in sec7
