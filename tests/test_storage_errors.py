"""A failed write (disk full, read-only, permission) is one line naming the file and the cause,
and never leaves a torn row behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import nrm.instrument.runlog
import nrm.sim.metrics
from nrm.atomic import atomic_write_text
from nrm.exceptions import StorageError
from nrm.instrument.runlog import CycleLog
from nrm.sim.metrics import DEFAULT_FIXED, TraceWriter


def _half_then_enospc(real_write):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[: max(1, len(data) // 2)]))
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def test_cycle_log_cut_back_to_whole_rows_on_enospc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cycles.csv"
    log = CycleLog(path, flush_every=100)
    for i in range(3):
        log.append({"step": i, "cycle": i, "wall_s": 0.5})
    log.flush()
    before = path.read_bytes()
    for i in range(3, 9):
        log.append({"step": i, "cycle": i, "wall_s": 0.5})
    monkeypatch.setattr(nrm.instrument.runlog.os, "write", _half_then_enospc(os.write))
    with pytest.raises(StorageError) as err:
        log.flush()
    assert str(err.value) == f"cannot write {path}: No space left on device (ENOSPC)"
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert path.read_bytes() == before  # the half-written chunk was cut back
    assert log.abort() == 6  # the queued rows are dropped, the file closed, nothing raised


def test_trace_writer_cut_back_on_enospc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metrics_trace.csv"
    tw = TraceWriter(path)
    tw.write("OFF-OFF", DEFAULT_FIXED)
    tw.flush()
    before = path.read_bytes()
    for _ in range(5):
        tw.write("OFF-OFF", DEFAULT_FIXED)
    monkeypatch.setattr(nrm.sim.metrics.os, "write", _half_then_enospc(os.write))
    with pytest.raises(StorageError, match=r"metrics_trace.csv: No space left on device"):
        tw.flush()
    assert path.read_bytes() == before
    tw.abort()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_permission_denied_names_the_file(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StorageError, match=r"cannot write .*cycles.csv: Permission denied"):
            CycleLog(ro / "cycles.csv")
        with pytest.raises(StorageError, match=r"cannot write .*run.json: Permission denied"):
            atomic_write_text(ro / "run.json", "{}")
    finally:
        ro.chmod(0o700)


def test_atomic_write_failure_names_the_target_not_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "run.json"
    target.write_text("old")

    def no_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(StorageError, match=rf"^cannot write {target}: Input/output error \(EIO\)$"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temp file left
