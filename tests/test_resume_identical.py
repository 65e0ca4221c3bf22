"""A resumed faithful run's databases equal an uninterrupted run's (issue 26): rows and their
AUTOINCREMENT ids, ``sqlite_sequence``, page count and change counter, and the ``db_bytes``
column of cycles.csv; and the roll-back to a checkpoint gives that checkpoint's files byte for
byte (with and without pre-grown rows).

Byte-identical to a *separate* uninterrupted run the files cannot be: every row holds
``time.time()`` when it was committed, which no two runs share. Everything else is compared."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nrm.run.runner as runner
from nrm.cli.main import main
from nrm.run.dbrollback import rollback_to
from nrm.run.runner import RunSpec, run_experiment
from nrm.sim.persistence import TABLES, SqlitePersistence

pytestmark = pytest.mark.slow  # real processes, a few seconds each

# a faithful (unoptimized) smoke run cut to one condition with resonance rows, 10 cycles
FAITHFUL = [
    "C256",
    "--variant",
    "unoptimized",
    "--scale",
    "smoke",
    "--condition",
    "ON-OFF",
    "--cycles",
    "10",
    "--flush-every",
    "2",
    "--checkpoint-every",
    "2",
    "--no-progress",
]
DBS = {
    "workspace.db": ["system_metrics"],
    "bridge.db": ["phase_transformations", "resonance_events"],
}

# Runs nrm; after the N-th checkpoint, 25 more SQLite rows are committed, then it pauses (the
# test kills it there with SIGKILL: rows after the checkpoint that a resume must drop).
HOOK = r"""
import os, sys, time
import nrm.run.runner as R
from nrm.sim.persistence import SqlitePersistence

mark, after = os.environ["NRM_TEST_MARK"], int(os.environ["NRM_TEST_CHECKPOINTS"])
seen = {"checkpoints": 0, "rows": None}
orig_checkpoint, orig_commit = R._checkpoint, SqlitePersistence._commit_row

def checkpoint(*a):
    orig_checkpoint(*a)
    seen["checkpoints"] += 1
    if seen["checkpoints"] == after:
        seen["rows"] = 0

def commit(self, *a):
    orig_commit(self, *a)
    if seen["rows"] is not None:
        seen["rows"] += 1
        if seen["rows"] == 25:
            open(mark, "w").close()
            time.sleep(600)

R._checkpoint, SqlitePersistence._commit_row = checkpoint, commit
from nrm.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _rows(db: Path, table: str) -> list[tuple[object, ...]]:
    """Every row with its id, the commit time left out (it differs between any two runs)."""
    con = sqlite3.connect(db)
    try:
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] != "timestamp"]
        return con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id").fetchall()
    finally:
        con.close()


def _shape(db: Path) -> dict[str, object]:
    con = sqlite3.connect(db)
    try:
        out = {
            "sqlite_sequence": con.execute("SELECT * FROM sqlite_sequence").fetchall(),
            "page_count": con.execute("PRAGMA page_count").fetchone()[0],
            "freelist_count": con.execute("PRAGMA freelist_count").fetchone()[0],
            "integrity": con.execute("PRAGMA integrity_check").fetchone()[0],
        }
    finally:
        con.close()
    head = db.read_bytes()[:100]
    return {
        **out,
        "bytes": db.stat().st_size,
        "change_counter": head[24:28],
        "valid_for": head[92:96],
    }


def _db_bytes(run_dir: Path) -> list[tuple[int, str]]:
    with (run_dir / "cycles.csv").open() as fh:
        return [(int(r["step"]), r["db_bytes"]) for r in csv.DictReader(fh)]


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() - t0 < timeout, "timed out waiting for the pause"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted faithful run."""
    ref = tmp_path_factory.mktemp("ref") / "ref"
    assert main(["run", *FAITHFUL, "--out", str(ref)]) == 0
    return ref


def _run_and_kill(out: Path, mark: Path, checkpoints: int) -> None:
    """The faithful run into ``out``, killed (SIGKILL) 25 SQLite rows after its
    ``checkpoints``-th checkpoint."""
    env = {**os.environ, "NRM_TEST_MARK": str(mark), "NRM_TEST_CHECKPOINTS": str(checkpoints)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOOK, "run", *FAITHFUL, "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(mark, proc)
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("checkpoints", [2, 4])
def test_sigkill_after_a_checkpoint_resumes_to_the_uninterrupted_databases(
    tmp_path: Path, reference: Path, checkpoints: int
) -> None:
    ref, out, mark = reference, tmp_path / "k", tmp_path / "mark"
    _run_and_kill(out, mark, checkpoints)
    with (out / "checkpoint.pkl").open("rb") as fh:
        at_checkpoint = pickle.load(fh).db_rows
    killed = {t: len(_rows(out / db, t)) for db, ts in DBS.items() for t in ts}
    assert sum(killed.values()) == sum(at_checkpoint.values()) + 25  # rows a resume must drop

    res = subprocess.run(
        [sys.executable, "-m", "nrm.cli", "run", "--resume", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr

    for db, tables in DBS.items():
        for table in tables:
            got, want = _rows(out / db, table), _rows(ref / db, table)
            assert got == want, (db, table)  # ids included: no gap where rows were dropped
        assert _shape(out / db) == _shape(ref / db), db
    assert _db_bytes(out) == _db_bytes(ref)
    assert not list(out.glob(".*.rollback.tmp"))


def _faithful(**kw: object) -> RunSpec:
    """FAITHFUL as a RunSpec (in-process runs), with ``kw`` changed."""
    return RunSpec(
        "C256",
        variant="unoptimized",
        scale="smoke",
        conditions=("ON-OFF",),
        flush_every=2,
        **kw,  # type: ignore[arg-type]
    )


def test_a_resume_of_a_run_without_dropped_rows_leaves_the_databases_untouched(
    tmp_path: Path,
) -> None:
    run_experiment(_faithful(cycles=4), tmp_path / "r", progress=False)
    before = {db: (tmp_path / "r" / db).stat() for db in DBS}
    rollback_to(tmp_path / "r", SqlitePersistence(tmp_path / "r").row_counts())
    for db, st in before.items():
        now = (tmp_path / "r" / db).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


@pytest.mark.parametrize("pregrow_mb", [0.0, 0.3])
def test_roll_back_gives_the_checkpoints_files_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pregrow_mb: float
) -> None:
    """Copies of both databases taken at the 4th checkpoint equal, byte for byte, the finished
    run's databases rolled back to that checkpoint's row counts."""
    out, snap = tmp_path / "r", tmp_path / "snap"
    snap.mkdir()
    taken: dict[str, int] = {}
    orig = runner._checkpoint

    def checkpoint(run_dir: Path, state: runner._State, *a: object) -> None:
        orig(run_dir, state, *a)  # type: ignore[arg-type]
        taken["n"] = taken.get("n", 0) + 1
        if taken["n"] == 4:
            taken.update(state.db_rows)
            for db in DBS:
                shutil.copyfile(run_dir / db, snap / db)

    monkeypatch.setattr(runner, "_checkpoint", checkpoint)
    meta = run_experiment(
        _faithful(cycles=10, checkpoint_every=2, pregrow_db_mb=pregrow_mb), out, progress=False
    )
    counts = {t: taken[t] for t in TABLES}
    assert counts["resonance_events"] > 0
    finished = {t: len(_rows(out / db, t)) for db, ts in DBS.items() for t in ts}
    assert all(finished[t] >= counts[t] for t in TABLES) and finished != counts
    pregrown = (meta.get("db_pregrow") or {}).get("rows")
    assert bool(pregrown) == bool(pregrow_mb)
    rollback_to(out, counts, leading=pregrown)
    for db in DBS:
        assert (out / db).read_bytes() == (snap / db).read_bytes(), db


# --- a resume on a full disk: run.json "failed", exit 1 (docs/run-folder.md) ----------------


@pytest.fixture(scope="module")
def killed_and_reference(
    tmp_path_factory: pytest.TempPathFactory, reference: Path
) -> tuple[Path, Path]:
    """A faithful run killed 25 rows after its 2nd checkpoint, and the uninterrupted run."""
    base = tmp_path_factory.mktemp("killed")
    _run_and_kill(base / "k", base / "mark", 2)
    return base / "k", reference


def _fill(disk: Path, free: int, name: str = "filler") -> Path:
    """Fill ``disk`` (a tmpfs) but for ``free`` bytes."""
    filler = disk / name
    with filler.open("wb") as fh:
        chunk = b"\0" * 65536
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - free))
    return filler


def _resume(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nrm.cli", "run", "--resume", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("free_k", [0, 8, 24, 64, 160])
def test_a_resume_on_a_full_disk_ends_failed_with_exit_1(
    tmp_path: Path, killed_and_reference: tuple[Path, Path], free_k: int
) -> None:
    killed, ref = killed_and_reference
    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = disk / "k"
        shutil.copytree(killed, out)
        fillers = [_fill(disk, free_k * 1024)]
        # twice: after a kill (run.json "running", the reserve still there), then after the
        # failure of the first attempt (run.json "failed", the reserve given back and that
        # space taken by another file, so the same free space again)
        for attempt in (1, 2):
            if attempt == 2:
                fillers.append(_fill(disk, free_k * 1024, "filler2"))
            res = _resume(out)
            meta = json.loads((out / "run.json").read_text())
            assert meta["status"] in ("failed", "complete"), (attempt, meta["status"], res.stderr)
            if meta["status"] == "complete":
                assert res.returncode == 0, res.stderr
                break
            assert (res.returncode, meta["exit_status"]) == (1, 1), res.stderr
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
            assert "run.json: failed" in lines[0] and "could not be updated" not in lines[0]
            # run.json holds this line's cause, or (not one byte free and no reserve left to
            # give back) still the last attempt's failure, and the line says so
            assert meta["error"] in lines[0] or "no room to rewrite it" in lines[0]
        if free_k <= 24:
            assert meta["status"] == "failed"
        for filler in fillers:  # space is back
            filler.unlink()  # the resume finishes the uninterrupted run
        if meta["status"] != "complete":
            res = _resume(out)
            assert res.returncode == 0, res.stderr
        for db, tables in DBS.items():
            for table in tables:
                assert _rows(out / db, table) == _rows(ref / db, table), (db, table)
            assert _shape(out / db) == _shape(ref / db), db
        assert _db_bytes(out) == _db_bytes(ref)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.parametrize("with_run_json", [True, False])
def test_no_room_for_the_reserve_is_failed_before_anything_is_cut(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    killed_and_reference: tuple[Path, Path],
    with_run_json: bool,
) -> None:
    out = tmp_path / "k"
    shutil.copytree(killed_and_reference[0], out)
    if not with_run_json:
        (out / "run.json").unlink()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name.endswith((".db", ".csv"))}
    monkeypatch.setattr(runner, "make_reserve", lambda run_dir, nbytes: False)
    with pytest.raises(runner.RunFailedError) as info:
        runner.resume_run(out, progress=False)
    msg = str(info.value)
    assert info.value.exit_status == 1 and "no room for the run's space reserve" in msg
    assert before == {n: (out / n).read_bytes() for n in before}  # nothing cut back
    if with_run_json:
        meta = json.loads((out / "run.json").read_text())
        assert (meta["status"], meta["exit_status"]) == ("failed", 1) and meta["error"] in msg
    else:
        assert "nothing was resumed" in msg and not (out / "run.json").exists()
