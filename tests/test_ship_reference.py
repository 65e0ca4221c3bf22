"""scripts/ship_reference.py: a finished default build's tables and its machine, or nothing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from nrm import paths
from nrm.exceptions import ParameterError
from nrm.run.scales import get_scale

_spec = importlib.util.spec_from_file_location("ship_reference",
                                               paths.ROOT / "scripts" / "ship_reference.py")
assert _spec and _spec.loader
ship_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ship_reference)


def _build(root: Path, status: str = "complete") -> Path:
    ctx = {"hostname": "ref-host", "cpu": {"model": "Test CPU", "logical": 2},
           "memory_total_bytes": 8 * 2**30, "python": {"version": "3.11.7"},
           "allocator": {"name": "pymalloc"}, "storage": {"fs_type": "ext4"},
           "git": {"commit": "abc", "dirty": False}}
    for i, name in enumerate(get_scale("default").names()):
        d = root / "data" / "runs" / "default" / name
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({
            "status": status if i == 1 else "complete", "started_at": f"2026-01-0{1 + i % 8}",
            "ended_at": "2026-01-09", "totals": {"runtime_s": 10.0}, "context": ctx}))
    for phase in ("phase1a", "phase1b"):
        d = root / "data" / "analysis" / "default" / phase
        d.mkdir(parents=True)
        (d / "summary.csv").write_text("a,b\n1,2\n")
        (d / "manifest.json").write_text("{}")
    return root


def test_ships_the_tables_and_the_machine(tmp_path: Path) -> None:
    build = _build(tmp_path / "build")
    dest = tmp_path / "reference" / "build-default"
    files = ship_reference.ship(build, dest)
    assert {f.name for f in files} == {"summary.csv", "manifest.json"}
    machine = json.loads((dest / "machine.json").read_text())
    assert machine["cpu"]["model"] == "Test CPU" and machine["hostname"] == "ref-host"
    assert machine["storage"]["fs_type"] == "ext4" and machine["git"]["commit"] == "abc"
    assert machine["built_at"] == "2026-01-01"
    assert (dest / "phase1b" / "summary.csv").read_text() == "a,b\n1,2\n"


def test_the_study_tables_and_its_sweep_are_shipped(tmp_path: Path) -> None:
    build = _build(tmp_path / "build")
    study = build / "data" / "analysis" / "default" / "study"
    study.mkdir()
    (study / "headline.csv").write_text("arm,ratio\nC255-unoptimized,0.9\n")
    (study / "study_forest.png").write_bytes(b"\x89PNG")  # figures stay out
    sweep = build / "data" / "study" / "default"
    sweep.mkdir(parents=True)
    (sweep / "study.json").write_text(json.dumps({"runs_complete": 205, "runs_planned": 205,
                                                  "sweep_s": 700.0, "seed": 0}))
    dest = tmp_path / "reference" / "build-default"
    ship_reference.ship(build, dest)
    assert (dest / "study" / "headline.csv").read_text().startswith("arm,ratio")
    assert not (dest / "study" / "study_forest.png").exists()
    machine = json.loads((dest / "machine.json").read_text())
    assert machine["study"]["runs_complete"] == 205 and machine["study"]["sweep_s"] == 700.0
    assert "study/" in (dest / "README.md").read_text()


def test_an_incomplete_build_ships_nothing(tmp_path: Path) -> None:
    build = _build(tmp_path / "build", status="running")
    dest = tmp_path / "reference" / "build-default"
    with pytest.raises(ParameterError, match="not complete"):
        ship_reference.ship(build, dest)
    assert not dest.exists() and not dest.with_name("build-default.partial").exists()
