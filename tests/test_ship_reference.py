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


def _long_build(root: Path, complete: int = 3, planned: int = 3) -> Path:
    """A finished long study's layout: sweep summary, records, a long-base run.json, and the
    study analysis's tables (copied from the shipped default study as stand-ins)."""
    import shutil

    out = root / "data" / "study" / "long"
    (out / "records").mkdir(parents=True)
    (out / "study.json").write_text(json.dumps({
        "scale": "long", "seed": 0, "repeats": 5, "runs_planned": planned,
        "runs_complete": complete, "sweep_s": 4812.0, "workers": 1,
        "updated_at": "2026-12-07T13:50:00+00:00"}))
    for i, load in enumerate((0.5, 1.5, 3.0)):
        (out / "records" / f"r{i}.json").write_text(json.dumps({
            "name": f"r{i}", "load_before": [load, 1, 1],
            "started_at": f"2026-12-07T12:2{i}:00+00:00",
            "ended_at": f"2026-12-07T12:2{i}:30+00:00"}))
    run = out / "runs" / "long-base__b00"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"context": {
        "hostname": "long-host", "cpu": {"model": "Test CPU", "logical": 2},
        "git": {"commit": "def456", "dirty": False}}}))
    shutil.copytree(paths.REFERENCE_BUILD / "study",
                    root / "data" / "analysis" / "long" / "study")
    return root


def test_long_study_ships_its_tables_machine_and_load(tmp_path: Path) -> None:
    build = _long_build(tmp_path / "b")
    dest = tmp_path / "build-long"
    assert ship_reference.main([str(build), "--scale", "long", "--dest", str(dest)]) == 0
    assert (dest / "study" / "verdicts.csv").read_bytes() == (
        paths.REFERENCE_BUILD / "study" / "verdicts.csv").read_bytes()
    m = json.loads((dest / "machine.json").read_text())
    assert m["hostname"] == "long-host" and m["git"]["commit"] == "def456"
    assert m["load_avg_during"] == {"min": 0.5, "max": 3.0, "mean": 5.0 / 3, "n": 3}
    assert m["study"]["runs_complete"] == 3 and m["study"]["sweep_s"] == 4812.0
    text = (dest / "README.md").read_text()
    assert "make study SCALE=long" in text and "80.2 min" in text and "not the paper's" in \
        text.lower()


def test_unfinished_long_study_ships_nothing(tmp_path: Path) -> None:
    build = _long_build(tmp_path / "b", complete=2, planned=3)
    dest = tmp_path / "build-long"
    with pytest.raises(ParameterError, match="2 of 3 runs complete"):
        ship_reference.ship_long(build, dest)
    assert not dest.exists() and not dest.with_name("build-long.partial").exists()
