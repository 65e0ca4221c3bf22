"""What lets a run be left alone for a week: stop signals taken at a cycle boundary (with a
checkpoint), a reserve of disk space so that a failure can still be written to run.json, and
one line for every way a run can end badly.

- :class:`StopSignals`: the first SIGTERM or SIGINT asks the run to stop after the cycle in
  progress (the runner then flushes, checkpoints and ends with ``interrupted``, exit status
  128 + the signal's number: 130 for SIGINT, 143 for SIGTERM); a second one stops at once
  (the last checkpoint stays valid).
- :func:`make_reserve` / :func:`drop_reserve`: ``.nrm-reserve`` in the run folder holds enough
  disk space for one more run.json; it is given back when the run ends, first of all when a
  write failed, so that ``failed`` and the error can still be recorded on a full disk.
- :func:`describe_failure`: the one-line message and exit status for an exception.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from nrm.atomic import storage_error
from nrm.exceptions import NrmError, ParameterError, StorageError

if TYPE_CHECKING:
    from nrm.run.spec import RunSpec

RESERVE_NAME = ".nrm-reserve"


class StopRequested(Exception):
    """Raised by the runner at a cycle boundary after a stop signal (checkpoint written)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class PauseRequested(StopRequested):
    """Raised by the runner at the checkpoint it was asked to pause at (``pause_at``): the run
    stops there on purpose, to be resumed in a fresh process (the restart arm)."""

    def __init__(self, step: int) -> None:
        super().__init__(0)
        self.step = step


#: Exit status of a run paused on purpose (EX_TEMPFAIL: resume it).
PAUSE_EXIT = 75


class HardStop(KeyboardInterrupt):
    """A second stop signal: stop where the run is (no new checkpoint)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopSignals:
    """Context manager: SIGTERM and SIGINT set :attr:`signum` (first) or raise
    :class:`HardStop` (second). Only in the main thread; elsewhere it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._armed = True
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None or not self._armed:
            self.signum = self.signum or signum
            return
        raise HardStop(signum)

    def disarm(self) -> None:
        """From now on signals are only noted (the run is writing its final state)."""
        self._armed = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def reserve_bytes(cycles: int, conditions: int, max_agents: int) -> int:
    """Room for one rewrite of a finished run.json (population histories and final energies
    dominate it; measured ~8 KiB for 4 x 25 cycles, 8 agents), with a margin."""
    return 32768 + 16 * cycles * conditions + 64 * max_agents * conditions


#: Bytes a cycle writes per condition, generously rounded up from the row format: a cycles.csv
#: row (46 columns, ~195 bytes measured on a lean smoke run) at 8 bytes a column, a
#: metrics_trace.csv row (~34 bytes measured) and, with SQLite, its rows of a cycle.
CSV_BYTES_PER_COLUMN = 8
TRACE_ROW_BYTES = 64
SQLITE_BYTES_PER_CYCLE = 256


def estimate_output_bytes(spec: RunSpec) -> int:
    """What ``spec`` writes, roughly: bytes per cycle (from the row format) x cycles x
    conditions, plus the space reserve."""
    from nrm.instrument.columns import COLUMNS

    per_cycle = CSV_BYTES_PER_COLUMN * len(COLUMNS) + TRACE_ROW_BYTES
    if spec.costs.sqlite:
        per_cycle += SQLITE_BYTES_PER_CYCLE
    n = len(spec.conditions)
    return per_cycle * spec.cycles * n + reserve_bytes(spec.cycles, n, spec.max_agents)


def check_room(spec: RunSpec, out: Path) -> None:
    """Refuse a run whose estimated output does not fit on ``out``'s file system (one line)."""
    need = estimate_output_bytes(spec)
    where = out.absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return  # the folder's own checks say why it cannot be written
    if need > free:
        raise ParameterError(
            f"{out}: this run would write about {_size(need)} ({spec.cycles} cycles x "
            f"{len(spec.conditions)} conditions) and {where} has {_size(free)} free; give fewer "
            "--cycles, free some space, or add --force to run anyway")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError  # pragma: no cover


def make_reserve(run_dir: Path, nbytes: int) -> bool:
    """Allocate ``nbytes`` of disk in ``run_dir/.nrm-reserve``; ``False`` if the disk has not
    that much room (the run goes on; a failure then may not reach run.json)."""
    path = run_dir / RESERVE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return False
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, nbytes)
        else:  # pragma: no cover - not Linux
            os.pwrite(fd, b"\0" * nbytes, 0)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return False
    finally:
        os.close(fd)


def drop_reserve(run_dir: Path) -> None:
    """Give the reserved space back (never raises)."""
    with contextlib.suppress(OSError):
        os.unlink(run_dir / RESERVE_NAME)


def describe_failure(exc: BaseException, run_dir: Path) -> tuple[str, bool]:
    """``(one-line message, expected)`` for an exception that ended a run: ``expected`` is
    ``True`` for what the user's machine or input caused (disk full, permissions, a bad trace:
    no traceback needed) and ``False`` for a bug (the caller re-raises it)."""
    if isinstance(exc, StorageError):
        return str(exc), True
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else run_dir
        return str(storage_error(where, exc)), True
    if isinstance(exc, sqlite3.OperationalError):
        return str(storage_error(run_dir / "*.db", exc)), True
    if isinstance(exc, NrmError):
        return str(exc), True
    return f"{type(exc).__name__}: {exc}", False
