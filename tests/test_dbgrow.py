"""Database-growth arm: pre-grown databases have the size asked for, stay in the run folder,
hold rows the model's schema accepts, and a run over them reports commit latency vs size."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from nrm.cli.main import main
from nrm.exceptions import ParameterError
from nrm.run.dbgrow import TOLERANCE, commit_latency, pregrow
from nrm.run.runner import RunSpec, run_experiment
from nrm.sim.persistence import TABLES, SqlitePersistence


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("mb", [1.0, 4.0])
def test_pregrown_size_and_place(tmp_path: Path, mb: float) -> None:
    run = tmp_path / "run"
    run.mkdir()
    before = _tree(tmp_path)
    info = pregrow(run, mb)
    size = (run / "workspace.db").stat().st_size + (run / "bridge.db").stat().st_size
    assert abs(size - mb * 2**20) <= TOLERANCE * mb * 2**20
    assert info["reached_bytes"] == size and info["requested_bytes"] == int(mb * 2**20)
    # only the two databases appeared, inside the run folder (no journal left behind)
    assert _tree(tmp_path) - before == {Path("run/workspace.db"), Path("run/bridge.db")}
    counts = SqlitePersistence(run).row_counts()
    assert set(counts) == set(TABLES) and all(n > 0 for n in counts.values())
    assert counts == info["rows"]
    con = sqlite3.connect(run / "bridge.db")
    try:
        (bad,) = con.execute("PRAGMA integrity_check").fetchone()
        assert bad == "ok"
        ts, a, _b, sim, res = con.execute(
            "SELECT timestamp, agent_a, agent_b, similarity, resonant FROM resonance_events "
            "WHERE id = 2"
        ).fetchone()
        assert isinstance(a, str) and a.startswith("root_child_") and -1 <= sim <= 1
        assert res in (0, 1) and isinstance(ts, float)
    finally:
        con.close()


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    for bad in (-1, "10", True, float("nan")):
        with pytest.raises(ParameterError):
            pregrow(tmp_path, bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="SQLite"):
        RunSpec("C256", variant="lean", pregrow_db_mb=1.0)
    out = tmp_path / "run"
    assert main(["run", "C256", "--variant", "lean", "--pregrow-db", "1", "--out", str(out)]) == 2
    assert not out.exists()


def test_run_over_a_pregrown_database(tmp_path: Path) -> None:
    out = tmp_path / "run"
    spec = RunSpec(
        "C256", variant="unoptimized", cycles=6, max_agents=5, metrics="fixed",
        cpu_interval=0.0, conditions=("OFF-OFF",), pregrow_db_mb=2.0,
    )  # fmt: skip
    meta = run_experiment(spec, out, progress=False)
    assert meta["status"] == "complete"
    on_disk = json.loads((out / "run.json").read_text())
    assert on_disk["parameters"]["pregrow_db_mb"] == 2.0
    assert abs(on_disk["db_pregrow"]["reached_bytes"] - 2 * 2**20) <= TOLERANCE * 2 * 2**20
    lat = commit_latency(out)
    assert lat["commits"] > 0 and lat["mean_ms"] > 0
    assert lat["db_mb_start"] >= 2 * (1 - TOLERANCE)
    assert lat["pregrow"]["requested_bytes"] == 2 * 2**20
    assert all(p.parent == out for p in out.rglob("*.db"))


@pytest.mark.parametrize("where", ["disk", "ram"])
def test_dbgrow_arm_on_disk_and_in_ram(tmp_path: Path, where: str) -> None:
    from nrm.cli.dbgrow import RAM_DIR, run_arm

    if where == "ram" and not RAM_DIR.is_dir():
        pytest.skip("no /dev/shm on this machine")
    before = set(RAM_DIR.glob("nrm-dbgrow-*")) if RAM_DIR.is_dir() else set()
    spec = RunSpec(
        "C256", variant="unoptimized", cycles=4, max_agents=4, metrics="fixed",
        cpu_interval=0.0, conditions=("OFF-OFF",), pregrow_db_mb=1.0,
    )  # fmt: skip
    out = tmp_path / "run"
    meta = run_arm(spec, out, where=where, drop_db=True)
    assert meta["status"] == "complete" and meta["storage_where"] == where
    assert sum(meta["db_files"].values()) >= (1 - TOLERANCE) * 2**20
    assert not list(out.glob("*.db"))  # dropped (disk) or never copied (RAM)
    assert (out / "cycles.csv").is_file()
    assert commit_latency(out)["commits"] > 0
    if RAM_DIR.is_dir():
        assert set(RAM_DIR.glob("nrm-dbgrow-*")) - before == set()  # the RAM folder is gone
