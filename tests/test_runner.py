"""Runs end to end: run folder, counts against the spec's formulas, replay, CLI errors, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nrm.cli.main import main
from nrm.exceptions import ParameterError, RunExistsError, TraceError, UnknownExperimentError
from nrm.run.runner import RunSpec, resume_run, run_experiment

SMALL = dict(cycles=25, max_agents=8, cpu_interval=0.0, flush_every=5, arena_every=5)


def _run(tmp_path: Path, name: str, **kw: object) -> dict:
    spec = RunSpec(**{"experiment": "C256", **SMALL, **kw})  # type: ignore[arg-type]
    return run_experiment(spec, tmp_path / name, progress=False)


def _cycles(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "cycles.csv")


def test_run_folder_contents_and_run_json(tmp_path: Path) -> None:
    meta = _run(tmp_path, "r", metrics="fixed")
    d = tmp_path / "r"
    assert {"run.json", "cycles.csv", "metrics_trace.csv", "workspace.db", "bridge.db"} <= {
        p.name for p in d.iterdir()
    }
    on_disk = json.loads((d / "run.json").read_text())
    assert on_disk["status"] == "complete" and on_disk["exit_status"] == 0
    assert on_disk["experiment"] == "C256" and on_disk["seed"] == 0
    assert list(on_disk["conditions"]) == ["OFF-OFF", "ON-OFF", "OFF-ON", "ON-ON"]
    for cond, r in on_disk["conditions"].items():
        hist = r["population_history"]
        assert len(hist) == 25
        assert r["mean"] == pytest.approx(sum(hist) / 25)
        assert r["final"] == hist[-1] and r["max"] == max(hist)
        assert r["runtime_s"] > 0
        assert r["samples"] > 0 and r["commits"] > 0, cond
    assert on_disk["synergy"]["classification"] in {"SYNERGISTIC", "ANTAGONISTIC", "ADDITIVE"}
    assert meta["context"]["python"]
    cost = on_disk["probe_cost"]  # arena readings every 5 of the 100 cycles, at least
    assert cost["cycles"] == 100 and cost["periodic_readings"] >= 20
    assert 0 < cost["periodic_s"] < on_disk["totals"]["runtime_s"]
    cyc = _cycles(d)
    assert len(cyc) == 100
    assert cyc["step"].tolist() == list(range(100))
    # the population column is the run.json history, condition by condition
    for cond, r in on_disk["conditions"].items():
        assert cyc.loc[cyc.condition == cond, "population"].tolist() == r["population_history"]


@pytest.mark.parametrize("variant", ["unoptimized", "optimized"])
def test_counts_match_the_spec_formulas(tmp_path: Path, variant: str) -> None:
    """Samples and commits per cycle equal the spec's formulas (section 5)."""
    meta = _run(tmp_path, variant, metrics="fixed", variant=variant, experiment="C255")
    cyc = _cycles(tmp_path / variant)
    mech = {
        "OFF-OFF": (False, False),
        "ON-OFF": (True, False),
        "OFF-ON": (False, True),
        "ON-ON": (True, True),
    }
    for cond, g in cyc.groupby("condition", sort=False):
        pooling, sources = mech[cond]
        n_start = [1, *g["population"].tolist()[:-1]]
        for n, (_, row) in zip(n_start, g.iterrows(), strict=True):
            pairs = n * (n - 1) // 2 if pooling else 0
            assert row.pairs_tested == pairs
            if variant == "unoptimized":
                samples = row.evolve_calls + (n if sources else 0) + row.spawns
            else:
                samples = 1
            assert row.samples == samples
            # every sample persisted, one phase row per child, one resonance row per pair
            assert row.commits == samples + row.spawns + pairs
        r = meta["conditions"][cond]
        assert r["setup_samples"] == 2  # baseline (not persisted) + the root's sample
        assert r["samples"] == g["samples"].sum() + 2
        assert r["commits"] == g["commits"].sum() + 2  # root's sample + its phase row


def test_optimized_and_unoptimized_same_dynamics_on_fixed_metrics(tmp_path: Path) -> None:
    a = _run(tmp_path, "u", metrics="fixed", variant="unoptimized")
    b = _run(tmp_path, "o", metrics="fixed", variant="optimized")
    for cond in a["conditions"]:
        assert (
            a["conditions"][cond]["population_history"]
            == b["conditions"][cond]["population_history"]
        )
        assert a["conditions"][cond]["final_energies"] == b["conditions"][cond]["final_energies"]
    # but the costs differ: per-call sampling takes many more samples
    assert a["totals"]["samples"] > 5 * b["totals"]["samples"]


def test_live_run_replays_bit_for_bit(tmp_path: Path) -> None:
    live = _run(tmp_path, "live", metrics="live", experiment="C255")
    rep = _run(tmp_path, "replay", metrics=f"replay:{tmp_path / 'live'}", experiment="C255")
    assert rep["metrics"]["source"] == "replay"
    for cond in live["conditions"]:
        lc, rc = live["conditions"][cond], rep["conditions"][cond]
        assert lc["population_history"] == rc["population_history"]
        assert lc["final_energies"] == rc["final_energies"]  # exact float equality
    assert (tmp_path / "live" / "metrics_trace.csv").read_bytes() == (
        tmp_path / "replay" / "metrics_trace.csv"
    ).read_bytes()


def test_replay_with_another_variant_is_a_clear_error(tmp_path: Path) -> None:
    _run(tmp_path, "opt", metrics="fixed", variant="optimized")
    with pytest.raises(TraceError, match=r"metrics_trace\.csv"):
        _run(tmp_path, "bad", metrics=f"replay:{tmp_path / 'opt'}", variant="unoptimized")


def test_corrupt_trace_names_file_and_line(tmp_path: Path) -> None:
    _run(tmp_path, "src", metrics="fixed", variant="optimized")
    trace = tmp_path / "src" / "metrics_trace.csv"
    lines = trace.read_text().splitlines()
    lines[5] = "4,OFF-OFF,20.0,not-a-number,50.0,0,0,200"
    trace.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"metrics_trace.csv:6: not a number"):
        _run(tmp_path, "x", metrics=f"replay:{trace}", variant="optimized")
    assert not (tmp_path / "x").exists()


def test_existing_run_folder_is_never_overwritten(tmp_path: Path) -> None:
    _run(tmp_path, "r", metrics="fixed", variant="lean")
    before = (tmp_path / "r" / "run.json").read_bytes()
    with pytest.raises(RunExistsError, match="not empty"):
        _run(tmp_path, "r", metrics="fixed", variant="lean")
    assert (tmp_path / "r" / "run.json").read_bytes() == before


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"experiment": "C999"}, UnknownExperimentError),
        ({"variant": "fast"}, UnknownExperimentError),
        ({"conditions": ("ON-MAYBE",)}, UnknownExperimentError),
        ({"cycles": 0}, ParameterError),
        ({"max_agents": -3}, ParameterError),
        ({"metrics": "psutil"}, ParameterError),
    ],
)
def test_bad_spec_is_rejected_before_anything_runs(kw: dict, err: type) -> None:
    with pytest.raises(err):
        RunSpec(**{"experiment": "C256", **kw})


def test_cli_errors_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x"
    assert main(["run", "C999", "--out", str(out), "--no-progress"]) == 2
    assert "unknown experiment 'C999'" in capsys.readouterr().err
    assert main(["run", "C256", "--condition", "ON-MAYBE", "--out", str(out)]) == 2
    assert "unknown condition" in capsys.readouterr().err
    assert main(["run", "C256", "--cycles", "0", "--out", str(out)]) == 2
    assert "positive integer" in capsys.readouterr().err
    assert main(["run", "C256", "--metrics", f"replay:{tmp_path / 'nope'}", "--out", str(out)]) == 2
    assert "no such metrics trace" in capsys.readouterr().err
    assert not out.exists()


def test_cli_run_and_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiments"]) == 0
    listing = capsys.readouterr().out
    assert all(f"C25{i}" in listing for i in range(5, 10)) and "C260" in listing
    assert "pooling x throttling" in listing
    out = tmp_path / "cli"
    rc = main(
        [
            "run",
            "C258",
            "--variant",
            "lean",
            "--cycles",
            "12",
            "--max-agents",
            "6",
            "--metrics",
            "fixed",
            "--seed",
            "7",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 7 and meta["parameters"]["cycles"] == 12
    assert "synergy" in capsys.readouterr().out


def _wait_rows(path: Path, rows: int, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists():
            with path.open() as fh:
                if sum(1 for _ in fh) - 1 >= rows:
                    return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {rows} rows")


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _run(tmp_path, "src", metrics="fixed", variant="optimized", cycles=60)
    ref = _run(tmp_path, "ref", metrics=f"replay:{src}", variant="optimized", cycles=60)
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "nrm.cli",
        "run",
        "C256",
        "--variant",
        "optimized",
        "--cycles",
        "60",
        "--max-agents",
        "8",
        "--cpu-interval",
        "0.004",
        "--metrics",
        f"replay:{src}",
        "--flush-every",
        "5",
        "--checkpoint-every",
        "10",
        "--out",
        str(killed),
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_rows(killed / "cycles.csv", 95)  # into the second condition
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    meta = json.loads((killed / "run.json").read_text())
    assert meta["status"] == "running"  # killed: visibly incomplete
    rows = list(csv.DictReader((killed / "cycles.csv").open()))
    assert len(rows) % 5 == 0 and len(rows) < 240  # whole flushed chunks only
    res = resume_run(killed, progress=False)
    assert res["status"] == "complete" and len(res["resumes"]) == 1
    # the killed segment never got to write its probe cost; the resumed one did
    assert 0 < res["probe_cost"]["cycles"] < 240
    for cond in ref["conditions"]:
        assert (
            res["conditions"][cond]["population_history"]
            == ref["conditions"][cond]["population_history"]
        )
        assert (
            res["conditions"][cond]["final_energies"] == ref["conditions"][cond]["final_energies"]
        )
    cyc = _cycles(killed)
    assert cyc["step"].tolist() == list(range(240))  # no cycle lost or duplicated
    assert (killed / "metrics_trace.csv").read_bytes() == (
        tmp_path / "ref" / "metrics_trace.csv"
    ).read_bytes()


@pytest.mark.parametrize("allocator", ["malloc", "jemalloc"])
def test_run_records_the_allocator_the_child_really_used(tmp_path: Path, allocator: str) -> None:
    from nrm.instrument.allocator import find_library

    if allocator == "jemalloc" and find_library("jemalloc") is None:
        pytest.skip("libjemalloc2 not installed (make allocators)")
    out = tmp_path / allocator
    rc = main(["run", "C258", "--variant", "lean", "--cycles", "5", "--max-agents", "5",
               "--metrics", "fixed", "--allocator", allocator, "--out", str(out), "--no-progress"])
    assert rc == 0
    meta = json.loads((out / "run.json").read_text())
    alloc = meta["context"]["allocator"]
    assert meta["parameters"]["allocator"] == allocator
    assert alloc["name"] == allocator and alloc["matches_request"] is True
    assert alloc["pymalloc"] is False and alloc["PYTHONMALLOC"] == "malloc"


def test_missing_allocator_is_an_error_before_the_run(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import nrm.instrument.allocator

    monkeypatch.setattr(nrm.instrument.allocator, "find_library", lambda name: None)
    out = tmp_path / "x"
    rc = main(["run", "C258", "--variant", "lean", "--cycles", "5", "--metrics", "fixed",
               "--allocator", "mimalloc", "--out", str(out), "--no-progress"])
    assert rc == 2
    assert "mimalloc" in capsys.readouterr().err
    assert not out.exists()
