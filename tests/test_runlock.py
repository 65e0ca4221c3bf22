"""One writer per run folder: the lock is exclusive, names its holder, and dies with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nrm.exceptions import RunLockedError
from nrm.run.lock import LOCK_NAME, RunLock, check_not_locked

_HOLD = (
    "import sys, time; from nrm.run.lock import RunLock; "
    "lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)"
)


def _holder(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_lock_fails_at_once_naming_pid_and_host(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        t0 = time.monotonic()
        with pytest.raises(RunLockedError) as err:
            RunLock(tmp_path).acquire()
        assert time.monotonic() - t0 < 30  # no waiting for the holder (generous: slow CI)
        msg = str(err.value)
        assert f"PID {proc.pid}" in msg and socket.gethostname() in msg
        assert "\n" not in msg and "--resume" in msg
        with pytest.raises(RunLockedError, match=f"PID {proc.pid}"):
            check_not_locked(tmp_path)
    finally:
        proc.kill()
        proc.wait()


def test_lock_released_by_the_os_when_the_holder_is_killed(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    check_not_locked(tmp_path)  # the dead holder's line is still in the file, but no lock
    with RunLock(tmp_path) as lock:
        assert lock.held
        text = (tmp_path / LOCK_NAME).read_text()
        assert f"pid={os.getpid()} " in text and f"host={socket.gethostname()}" in text
    assert not lock.held
    assert (tmp_path / LOCK_NAME).exists()  # never deleted: another process may wait on it


def test_release_and_reacquire_in_one_process(tmp_path: Path) -> None:
    a = RunLock(tmp_path).acquire()
    assert a.acquire() is a  # idempotent
    a.release()
    a.release()
    with RunLock(tmp_path):
        pass
    check_not_locked(tmp_path / "no-such-folder")  # nothing to look at: not locked
