"""Runs that cannot be corrupted (issue 13), end to end with real processes at tiny scale:
one writer per folder, resumable from the first moment, a full disk and stop signals recorded in
run.json with one line and the same exit status, every bad value refused before the folder."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nrm.cli.main import main
from nrm.exceptions import CheckpointError, RunLockedError
from nrm.run.runner import RunSpec, resume_run, run_experiment
from nrm.sim.metrics import TRACE_FIELDS

pytestmark = pytest.mark.slow  # real processes, a few seconds each

CYCLES = 30
TINY = dict(variant="optimized", cycles=CYCLES, max_agents=6, cpu_interval=0.0, flush_every=5,
            metrics="fixed")
TINY_ARGS = ["C256", "--variant", "optimized", "--cycles", str(CYCLES), "--max-agents", "6",
             "--metrics", "fixed", "--flush-every", "5", "--cpu-interval", "0", "--no-progress"]


def tiny(*extra: str) -> list[str]:
    """TINY_ARGS with the flags ``extra`` gives replaced by its values (a flag given twice is
    refused, so a test that changes one of TINY_ARGS' values must not repeat the flag)."""
    given = {e for e in extra if e.startswith("--")}
    out: list[str] = []
    it = iter(TINY_ARGS)
    for a in it:
        if a in given:
            if a != "--no-progress":
                next(it)
            continue
        out.append(a)
    return [*out, *extra]

# Runs the nrm command with a pause at a chosen moment, so a test can kill it exactly there.
HOOKED = r"""
import os, sys, time
import nrm.sim.model, nrm.run.runner

mark, where = os.environ["NRM_TEST_MARK"], os.environ["NRM_TEST_PAUSE"]

def pause():
    open(mark, "w").close()
    time.sleep(600)

if where in ("setup-start", "setup-end"):
    orig = nrm.sim.model.Simulation.setup
    def setup(self):
        if where == "setup-start":
            pause()
        orig(self)
        if where == "setup-end":
            pause()
    nrm.sim.model.Simulation.setup = setup
elif where == "before-first-checkpoint":
    nrm.run.runner._write_checkpoint = lambda run_dir, state: pause()
from nrm.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every interrupted one must end up identical to."""
    out = tmp_path_factory.mktemp("ref") / "ref"
    run_experiment(RunSpec("C256", **TINY), out, progress=False)  # type: ignore[arg-type]
    return out


def _nrm(args: list[str], **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nrm.cli", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw,  # type: ignore[call-overload]
    )


def _hooked(args: list[str], where: str, mark: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "NRM_TEST_MARK": str(mark), "NRM_TEST_PAUSE": where}
    return subprocess.Popen(
        [sys.executable, "-c", HOOKED, *args], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(cond: object, what: str, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open() as fh:
        return max(0, sum(1 for _ in fh) - 1)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _db_counts(run_dir: Path) -> dict[str, int]:
    out = {}
    for db, tables in (("workspace.db", ["system_metrics"]),
                       ("bridge.db", ["phase_transformations", "resonance_events"])):
        con = sqlite3.connect(run_dir / db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            for t in tables:
                out[t] = con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        finally:
            con.close()
    return out


def _assert_same_result(run_dir: Path, ref: Path) -> None:
    got, want = _meta(run_dir), _meta(ref)
    assert got["status"] == "complete" and got["exit_status"] == 0 and got["error"] is None
    for cond, r in want["conditions"].items():
        assert got["conditions"][cond]["population_history"] == r["population_history"], cond
        assert got["conditions"][cond]["final_energies"] == r["final_energies"], cond
        for key in ("samples", "commits", "evolve_calls"):
            assert got["conditions"][cond][key] == r[key], (cond, key)
    with (run_dir / "cycles.csv").open() as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh)]
    assert steps == list(range(4 * CYCLES))  # no cycle lost or duplicated
    assert (run_dir / "metrics_trace.csv").read_bytes() == (ref / "metrics_trace.csv").read_bytes()
    assert _db_counts(run_dir) == _db_counts(ref)
    assert not (run_dir / ".nrm-reserve").exists()


# --- one writer per folder ------------------------------------------------------------------


def test_two_concurrent_writers_one_runs_the_other_fails_with_the_lock(tmp_path: Path) -> None:
    out, n = tmp_path / "cc", 150  # ~4.5 s of blocking samples: the two surely overlap
    args = [*tiny("--condition", "OFF-OFF", "--cycles", str(n), "--cpu-interval", "0.03"),
            "--out", str(out)]
    a, b = _nrm(["run", *args]), _nrm(["run", *args])
    try:
        _wait_for(lambda: _rows(out / "cycles.csv") >= 5 or None not in (a.poll(), b.poll()),
                  "one writer to start")
        # a resume of the live run is refused at once, and changes nothing
        with pytest.raises(RunLockedError, match="is being written by PID"):
            resume_run(out, progress=False)
        errs = [p.communicate(timeout=300)[1] for p in (a, b)]
        assert sorted([a.returncode, b.returncode]) == [0, 2], (a.returncode, b.returncode, errs)
        winner, loser_err = (b, errs[0]) if a.returncode else (a, errs[1])
    finally:
        for p in (a, b):
            if p.poll() is None:
                _kill(p)
    lines = loser_err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in loser_err, loser_err
    assert f"is being written by PID {winner.pid} on host {socket.gethostname()}" in lines[0]
    meta = _meta(out)
    assert meta["status"] == "complete" and meta["resumes"] == []
    assert meta["conditions"]["OFF-OFF"]["cycles"] == n
    with (out / "cycles.csv").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == list(range(n))
    trace = (out / "metrics_trace.csv").read_text().splitlines()
    assert trace.count(",".join(TRACE_FIELDS)) == 1 and len(trace) == 1 + n + 2


# --- resumable from the first moment -------------------------------------------------------


@pytest.mark.parametrize("where", ["setup-start", "setup-end"])
def test_kill_during_set_up_resumes_to_the_uninterrupted_result(
    tmp_path: Path, reference: Path, where: str
) -> None:
    out, mark = tmp_path / "k", tmp_path / "mark"
    proc = _hooked(["run", *TINY_ARGS, "--out", str(out)], where, mark)
    try:
        _wait_for(mark.exists, f"the run to reach {where}")
    finally:
        _kill(proc)
    assert (out / "checkpoint.pkl").exists() and _meta(out)["status"] == "running"
    meta = resume_run(out, progress=False)
    assert meta["resumes"][0]["from_step"] == 0
    _assert_same_result(out, reference)


def test_kill_during_a_resume_then_resume_again(tmp_path: Path, reference: Path) -> None:
    out, mark = tmp_path / "k", tmp_path / "mark"
    proc = _hooked(["run", *TINY_ARGS, "--out", str(out)], "setup-end", mark)
    try:
        _wait_for(mark.exists, "the run to reach the end of its set-up")
    finally:
        _kill(proc)
    mark.unlink()
    proc = _hooked(["run", "--resume", str(out), "--no-progress"], "setup-end", mark)
    try:
        _wait_for(mark.exists, "the resume to reach the end of its set-up")
        with pytest.raises(RunLockedError, match=f"PID {proc.pid} "):
            resume_run(out, progress=False)  # the live resume holds the folder
    finally:
        _kill(proc)
    meta = resume_run(out, progress=False)
    assert len(meta["resumes"]) == 2
    _assert_same_result(out, reference)


def test_kill_after_a_database_pregrow_resumes_to_the_same_databases(
    tmp_path: Path
) -> None:
    """A run killed between the pre-grow (nrm.run.dbgrow) and its first cycle starts over from the
    checkpoint written before anything else: the same rows, not the pre-grown ones twice."""
    ref = tmp_path / "ref"
    run_experiment(RunSpec("C256", **TINY, pregrow_db_mb=0.2), ref, progress=False)  # type: ignore[arg-type]
    out, mark = tmp_path / "k", tmp_path / "mark"
    proc = _hooked(["run", *TINY_ARGS, "--pregrow-db", "0.2", "--out", str(out)], "setup-end",
                   mark)
    try:
        _wait_for(mark.exists, "the run to reach the end of its set-up")
    finally:
        _kill(proc)
    resume_run(out, progress=False)
    _assert_same_result(out, ref)


def test_kill_before_anything_was_written_frees_the_folder(
    tmp_path: Path, reference: Path
) -> None:
    out, mark = tmp_path / "k", tmp_path / "mark"
    proc = _hooked(["run", *TINY_ARGS, "--out", str(out)], "before-first-checkpoint", mark)
    try:
        _wait_for(mark.exists, "the run to claim its folder")
    finally:
        _kill(proc)
    # the lock, and the disk space reserve a run takes before its first write
    assert sorted(p.name for p in out.iterdir()) == [".nrm-reserve", "run.lock"]
    with pytest.raises(CheckpointError, match="stopped before it wrote anything"):
        resume_run(out, progress=False)
    # no circle: the same --out is accepted again and runs to the same result
    assert main(["run", *TINY_ARGS, "--out", str(out)]) == 0
    _assert_same_result(out, reference)


def test_kill_in_the_first_second_with_the_default_checkpoint_cadence(
    tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "k"
    # default cadence: time-based, every 30 s; the kill comes long before that
    proc = _nrm(["run", *tiny("--cpu-interval", "0.005"), "--out", str(out)])
    try:
        _wait_for(lambda: _rows(out / "cycles.csv") >= 5 or proc.poll() is not None,
                  "the first rows")
    finally:
        _kill(proc)
    assert _meta(out)["status"] == "running"
    meta = resume_run(out, progress=False)
    assert len(meta["resumes"]) == 1 and meta["resumes"][0]["from_step"] < 4 * CYCLES
    _assert_same_result(out, reference)


# --- stop signals ----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_checkpoints_prints_one_line_and_exits_as_run_json_says(
    tmp_path: Path, reference: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "s"
    proc = _nrm(["run", *tiny("--cpu-interval", "0.01"), "--out", str(out)])
    _wait_for(lambda: _rows(out / "cycles.csv") >= 10 or proc.poll() is not None, "rows")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 128 + sig, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"interrupted by {sig.name} at step" in lines[0] and "checkpoint written" in lines[0]
    meta = _meta(out)
    assert (meta["status"], meta["exit_status"]) == ("interrupted", proc.returncode)
    assert meta["error"].startswith(f"interrupted by {sig.name}")
    with (out / "cycles.csv").open() as fh:  # the checkpoint is at the last row written
        assert sum(1 for _ in csv.DictReader(fh)) == int(meta["error"].split("step ")[1].split()[0])
    resume_run(out, progress=False)
    _assert_same_result(out, reference)


# --- full disk, read-only file system --------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the injected-error test always runs)")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _check_failed_meta(out: Path, message: str) -> None:
    meta = _meta(out)
    assert (meta["status"], meta["exit_status"]) == ("failed", 1)
    assert meta["error"] in message
    assert (out / "cycles.csv").read_bytes().endswith(b"\n")  # no torn row


def test_full_disk_on_a_small_tmpfs_fails_cleanly_and_resumes(
    tmp_path: Path, reference: Path
) -> None:
    with _tmpfs(tmp_path / "disk", "size=200k") as disk:
        out = disk / "r"
        proc = _nrm(["run", *TINY_ARGS, "--checkpoint-every", "10", "--out", str(out)])
        _, err = proc.communicate(timeout=300)
        lines = err.strip().splitlines()
        assert proc.returncode == 1, err
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "No space left on device" in lines[0] or "disk is full" in lines[0]
        assert f"cannot write {out}/" in lines[0] and "run.json: failed" in lines[0]
        _check_failed_meta(out, lines[0])
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        resume_run(out, progress=False)
        _assert_same_result(out, reference)


def test_read_only_file_system_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        assert main(["run", *TINY_ARGS, "--out", str(ro / "x")]) == 2
        err = capsys.readouterr().err
        assert err.strip() == (
            f"nrm: error: cannot create {ro / 'x'}: Read-only file system (EROFS)"
        )
        assert not (ro / "x").exists()


def test_injected_enospc_fails_cleanly_and_resumes(
    tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 41:  # after the set-up and some rows, mid-run: half a chunk, then
            return real_write(fd, bytes(data[: len(data) // 2]))
        if calls["n"] > 41:  # the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    out = tmp_path / "r"
    rc = main(["run", *TINY_ARGS, "--checkpoint-every", "10", "--out", str(out)])
    monkeypatch.setattr(os, "write", real_write)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1, err
    assert "No space left on device (ENOSPC)" in err and f"cannot write {out}/" in err
    _check_failed_meta(out, err)
    assert not (out / ".nrm-reserve").exists()
    resume_run(out, progress=False)  # space is back
    _assert_same_result(out, reference)


# --- every bad value refused before the folder exists ---------------------------------------


def _valid_trace(path: Path) -> Path:
    lines = [",".join(TRACE_FIELDS)]
    seq = 0
    for cond in ("OFF-OFF", "ON-OFF", "OFF-ON", "ON-ON"):
        for _ in range(CYCLES + 2):
            lines.append(f"{seq},{cond},20.0,40.0,50.0,0,0,200")
            seq += 1
    path.write_text("\n".join(lines) + "\n")
    return path


def _mutated_trace(tmp_path: Path, kind: str) -> Path:
    path = _valid_trace(tmp_path / "metrics_trace.csv")
    lines = path.read_text().splitlines()
    if kind == "nan":
        lines[7] = "6,OFF-OFF,nan,40.0,50.0,0,0,200"
    elif kind == "huge":
        lines[7] = "6,OFF-OFF,-5e300,40.0,50.0,0,0,200"
    elif kind == "short":
        lines = lines[:-3]
    elif kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        return path
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--cost", "sqlite=maybe"], "expected true or false"),
        (["--checkpoint-every", "7", "--flush-every", "50"], "multiple of flush_every"),
        (["--cpu-interval", "inf"], "cpu_interval"),
        (["--cpu-interval", "1e6"], "cpu_interval"),
        (["--metrics", "replay:{nan}"], "cpu_percent nan is not a percentage"),
        (["--metrics", "replay:{huge}"], "is not a percentage"),
        (["--metrics", "replay:{short}"], "too short for the 30 planned cycles"),
        (["--metrics", "replay:{binary}"], "binary data"),
    ],
)
def test_values_from_the_issue_are_refused_before_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    traces = {k: _mutated_trace(tmp_path / k, k) for k in ("nan", "huge", "short", "binary")
              if (tmp_path / k).mkdir() is None}
    extra = [e.format(**traces) for e in extra]
    out = tmp_path / "x"
    assert main(["run", *tiny(*extra), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not out.exists()
