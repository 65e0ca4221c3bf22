"""One writer per run folder: an exclusive ``flock`` on ``run.lock`` inside the folder.

The writer (a new run or a resume) takes the lock before it writes anything and holds it for its
whole life; the operating system releases it when the process ends in any way (exit, exception,
SIGKILL, a crash), so a dead writer never leaves a stale lock behind. The lock file records the
holder's PID, host and start time for the error a second writer gets::

    with RunLock(run_dir):            # RunLockedError at once if another process writes there
        ...                           # write the run

The lock file itself is never replaced or deleted (another process may be waiting on that very
inode); its content is rewritten in place by each new holder. ``flock`` locks are reliable on
local file systems; on NFS they depend on the server (Linux maps them to POSIX locks there).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from nrm.exceptions import RunLockedError

#: Name of the lock file inside a run folder.
LOCK_NAME = "run.lock"


def lock_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LOCK_NAME


def _holder(path: Path, wait_s: float = 1.0) -> str:
    """``PID n on host h (since t)`` from the lock file; waits briefly for a holder that has
    the lock but has not yet written its line."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
        if "pid" in fields or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    if "pid" not in fields:
        return "another process (its PID and host are not recorded yet)"
    since = f", since {fields['started']}" if "started" in fields else ""
    return f"PID {fields['pid']} on host {fields.get('host', '?')}{since}"


def _locked_message(run_dir: Path, holder: str) -> str:
    return (
        f"{run_dir} is being written by {holder}; one writer per run folder "
        "(wait for it to end, or stop that process, then resume with "
        f"`nrm run --resume {run_dir}`)"
    )


class RunLock:
    """Exclusive lock of one run folder (see the module docstring).

    :meth:`acquire` never waits: if another process holds the lock it raises
    :class:`~nrm.exceptions.RunLockedError` naming that process's PID and host.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = lock_path(self.run_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(_locked_message(self.run_dir, _holder(self.path))) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            started = datetime.now(UTC).isoformat(timespec="seconds")
            line = f"pid={os.getpid()} host={socket.gethostname()} started={started}\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, line.encode(), 0)
        except OSError:
            pass  # a full disk must not stop the lock itself; the holder is then unnamed
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the file stays; see the module docstring). Idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a lock dropped without release() must not leak its descriptor
        with contextlib.suppress(Exception):
            self.release()


def check_not_locked(run_dir: str | Path) -> None:
    """Raise :class:`RunLockedError` if a live process holds ``run_dir``'s lock; write nothing.

    Used where a folder is only looked at (e.g. before refusing an existing folder), so that
    the user hears about the live writer rather than a less precise error.
    """
    path = lock_path(run_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(_locked_message(Path(run_dir), _holder(path))) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
