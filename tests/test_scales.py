"""The SCALE presets: one place, the paper's design, valid run specs, retiring old runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from nrm.cli.main import main as cli_main
from nrm.exceptions import ParameterError
from nrm.run.runner import RunSpec
from nrm.run.scales import SCALES, SUPERSEDED, get_scale, retire, run_dir
from nrm.sim.experiments import EXPERIMENTS


def test_every_scale_runs_the_six_experiments_as_the_paper_did() -> None:
    for scale in SCALES.values():
        paper = {r.experiment: r.variant for r in scale.runs if r.role == "paper"}
        assert paper == {e.id: e.paper_variant for e in EXPERIMENTS.values()}
        # the same-experiment comparison the paper lacks
        assert scale.find("C256", "optimized") is not None
        assert len(set(scale.names())) == len(scale.names())


def test_full_scale_is_the_papers_parameters() -> None:
    for r in get_scale("full").runs:
        spec = RunSpec(**r.spec_kwargs())
        assert (spec.cycles, spec.max_agents, spec.metrics) == (3000, 100, "live")
        if spec.variant != "lean":  # the paper's code blocked 0.1 s in every CPU sample
            assert spec.cost_switches().cpu_interval == 0.1


def test_smoke_is_small_and_machine_independent() -> None:
    for r in get_scale("smoke").runs:
        spec = RunSpec(**r.spec_kwargs())
        assert spec.cycles <= 50 and spec.max_agents <= 10
        assert spec.metrics == "fixed" and spec.cost_switches().cpu_interval == 0.0


def test_default_is_between_smoke_and_full() -> None:
    s, d, f = (get_scale(n).runs[0] for n in ("smoke", "default", "full"))
    assert s.cycles < d.cycles < f.cycles
    assert s.max_agents < d.max_agents <= f.max_agents


def test_unknown_scale_names_the_valid_ones() -> None:
    with pytest.raises(ParameterError,
                       match="unknown scale 'huge'; valid: smoke, default, long, full"):
        get_scale("huge")


def test_unplanned_pair_takes_the_scales_settings() -> None:
    base = get_scale("smoke").base("C258", "unoptimized")
    assert (base.experiment, base.variant, base.role) == ("C258", "unoptimized", "custom")
    assert base.cycles == get_scale("smoke").runs[0].cycles
    with pytest.raises(ParameterError, match="has no run 'C999-x'"):
        get_scale("smoke").get("C999-x")


def test_run_dir_puts_the_scale_in_the_path(tmp_path: Path) -> None:
    assert run_dir("smoke", "C256-unoptimized", tmp_path) == (
        tmp_path / "data" / "runs" / "smoke" / "C256-unoptimized")


def test_retire_moves_a_run_aside_and_never_deletes(tmp_path: Path) -> None:
    d = tmp_path / "C256-unoptimized"
    d.mkdir()
    (d / "run.json").write_text("{}")
    moved = retire(d)
    assert moved is not None and not d.exists()
    assert moved.parent == tmp_path / SUPERSEDED and (moved / "run.json").read_text() == "{}"
    d.mkdir()
    second = retire(d)
    assert second is not None and second != moved and moved.exists()
    assert retire(tmp_path / "absent") is None


def test_cli_names_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["scales", "names", "smoke"]) == 0
    assert capsys.readouterr().out.split() == get_scale("smoke").names()
    assert cli_main(["scales", "names", "nope"]) == 2
    assert "unknown scale 'nope'" in capsys.readouterr().err
    assert cli_main(["scales", "show"]) == 0
    assert "full:" in capsys.readouterr().out
