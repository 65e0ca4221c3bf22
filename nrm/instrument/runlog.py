"""Writing run logs: the ``cycles.csv`` appender (run.json: :mod:`nrm.instrument.runrecord`).

``cycles.csv`` (columns: ``nrm/instrument/columns.py`` plus any declared extras) is appended in
chunks:
rows are kept in memory and written every ``flush_every`` rows (or ``flush_every_s`` seconds),
each chunk with a single ``write`` call on a file opened for appending, so a process killed at
any moment leaves the header and whole rows up to the last flush. A write that fails (disk
full, I/O error) is cut back to the last whole row and raised as a
:class:`~nrm.exceptions.StorageError` naming the file; a torn last line that still gets through
(a machine crash mid-write) is dropped by :meth:`CycleLog.truncate`. Rows reach the kernel on each
flush; ``fsync`` happens on :meth:`CycleLog.close` (and on every flush with ``fsync=True``).
Lines are made by :class:`nrm.instrument.rowformat.RowFormatter` (what :mod:`csv` writes, with the
time
columns at fixed decimals); the probe's rows are worked out only then (:meth:`append_deferred`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nrm.atomic import append_whole, atomic_write_text, storage_error
from nrm.exceptions import LogError
from nrm.instrument.columns import BY_NAME, NAMES
from nrm.instrument.rowformat import DeferredRow, RowFormatter

_EXTRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _csv_text(rows: Iterable[Iterable[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _check_extra(extra_columns: Iterable[str]) -> tuple[str, ...]:
    extras = tuple(extra_columns)
    for name in extras:
        if name in BY_NAME:
            raise LogError(
                f"extra column {name!r} is already a documented column of cycles.csv; "
                "pass only names not in nrm/instrument/columns.py as extra_columns"
            )
        if not _EXTRA_NAME.match(name):
            raise LogError(
                f"extra column name {name!r} is not a plain identifier; use letters, digits "
                "and '_' (units in the name, e.g. 'queue_s', 'cache_bytes')"
            )
    if len(set(extras)) != len(extras):
        raise LogError(f"extra_columns {extras!r} name a column twice")
    return extras


class CycleLog:
    """Appends one row per cycle to ``cycles.csv``.

    ``extra_columns`` declares counters beyond the registry (a user's own loop counters);
    they come after the registry's columns. A row with any other key is refused with a
    :class:`LogError` naming the key. An existing file is appended to if its header matches
    (resume); call :meth:`truncate` first to drop rows past the checkpoint.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        flush_every: int = 50,
        flush_every_s: float | None = 10.0,
        extra_columns: Iterable[str] = (),
        fsync: bool = False,
    ) -> None:
        if flush_every < 1:
            raise LogError(f"flush_every must be >= 1 row, got {flush_every!r}")
        self.path = Path(path)
        self.flush_every = int(flush_every)
        self.flush_every_s = flush_every_s
        self.extra_columns = _check_extra(extra_columns)
        self.columns: tuple[str, ...] = NAMES + self.extra_columns
        self._known = frozenset(self.columns)
        self._fsync = fsync
        self._format = RowFormatter(self.columns)
        self._pending: list[tuple[tuple[str, ...], tuple[Any, ...]] | DeferredRow] = []
        self._deadline = self._next_deadline()
        self.rows_written = 0
        self._fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error(self.path, exc) from exc
        try:
            self._check_existing()
            self._fd = fd
            if os.fstat(fd).st_size == 0:
                self._write(_csv_text([self.columns]).encode())
        except BaseException:
            os.close(fd)
            self._fd = None
            raise

    def _next_deadline(self) -> float:
        if self.flush_every_s is None:
            return float("inf")
        return time.perf_counter() + self.flush_every_s

    def _check_existing(self) -> None:
        with open(self.path, "rb") as fh:
            first = fh.readline()
            if not first:
                return
            fh.seek(-1, os.SEEK_END)
            last_byte = fh.read(1)
        header = first.decode("utf-8", errors="replace").rstrip("\r\n")
        expected = ",".join(self.columns)
        if header != expected:
            have = header.split(",")
            missing = [c for c in self.columns if c not in have]
            unexpected = [c for c in have if c not in self._known]
            raise LogError(
                f"{self.path}: header does not match the columns of this log "
                f"(missing {missing}, unexpected {unexpected}, or a different order); "
                "append only to a log written with the same nrm version and extra_columns, "
                "or start a new run folder"
            )
        if last_byte != b"\n":
            raise LogError(
                f"{self.path}: the last line is incomplete (the writer was killed mid-write); "
                "drop it with CycleLog.truncate(path, keep_steps_below=N) before appending"
            )

    # --- writing ----------------------------------------------------------------------------

    def append(self, row: Mapping[str, Any]) -> None:
        """Queue one row (missing columns stay empty); writes when a flush is due.

        The row's values are taken now (later changes to ``row`` do not reach the log).
        """
        self._check_keys(row)
        keys = tuple(row)
        self._pending.append((keys, tuple(map(row.__getitem__, keys))))
        if len(self._pending) >= self.flush_every or time.perf_counter() >= self._deadline:
            self.flush()

    def append_deferred(self, row: DeferredRow, new_keys: Iterable[str]) -> None:
        """Queue a row whose cells are worked out when it is written
        (:class:`nrm.instrument.probe.Probe`
        does this, so that a cycle pays only for its readings). ``new_keys``: the row's keys
        that may not be columns (the caller's own); they are checked now."""
        if not self._known.issuperset(new_keys):
            self._check_keys(new_keys)
        self._pending.append(row)
        if len(self._pending) >= self.flush_every or time.perf_counter() >= self._deadline:
            self.flush()

    def _check_keys(self, keys: Iterable[str]) -> None:
        if not self._known.issuperset(keys):
            unknown = sorted(set(keys) - self._known)
            raise LogError(
                f"{self.path}: row has undeclared column(s) {unknown}; declare them when the "
                f"log is created: CycleLog(path, extra_columns={tuple(unknown)!r})"
            )

    def flush(self) -> None:
        """Write every queued row to the file in one ``write`` call."""
        if self._fd is None:
            if self._pending:
                raise LogError(f"{self.path}: log is closed; {len(self._pending)} rows unwritten")
            return
        if self._pending:
            self._write(self._format.text(self._pending).encode())
            self.rows_written += len(self._pending)
            self._pending.clear()
            if self._fsync:
                self._sync()
        self._deadline = self._next_deadline()

    def _sync(self) -> None:
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise storage_error(self.path, exc) from exc

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole (:func:`nrm.atomic.append_whole`): a failed write (disk full,
        I/O error) is cut back, so the file never ends in a torn row."""
        assert self._fd is not None
        append_whole(self._fd, data, self.path)

    @property
    def pending(self) -> int:
        """Rows queued but not yet written."""
        return len(self._pending)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        """Flush, fsync and close (idempotent)."""
        if self._fd is None:
            return
        try:
            self.flush()
            self._sync()
        finally:
            os.close(self._fd)
            self._fd = None

    def abort(self) -> int:
        """Close without writing the queued rows (after a failed write, or when the run stops
        on an error and the rows past the last checkpoint would be dropped on resume anyway).
        Returns the number of rows dropped. Never raises."""
        dropped = len(self._pending)
        self._pending.clear()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        return dropped

    def __enter__(self) -> CycleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"CycleLog({str(self.path)!r}, rows_written={self.rows_written}, "
            f"pending={self.pending})"
        )

    # --- resume -----------------------------------------------------------------------------

    @staticmethod
    def truncate(path: str | Path, keep_steps_below: int) -> int:
        """Rewrite ``path`` atomically keeping the header and the rows with ``step`` below
        ``keep_steps_below`` (and dropping a torn last line). Returns the rows kept."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise LogError(f"{path}: no cycles.csv to truncate") from None
        end = data.rfind(b"\n")
        if end < 0:
            raise LogError(f"{path}: no complete header line; the log is unusable, rerun")
        reader = csv.reader(io.StringIO(data[: end + 1].decode("utf-8")))
        header = next(reader)
        if "step" not in header:
            raise LogError(f"{path}: header has no 'step' column; not a cycles.csv")
        i = header.index("step")
        kept: list[list[str]] = [header]
        for lineno, fields in enumerate(reader, start=2):
            try:
                step = int(fields[i])
            except (IndexError, ValueError):
                raise LogError(
                    f"{path}, line {lineno}: 'step' is not an integer ({fields[i:i + 1]!r}); "
                    "the log is corrupt"
                ) from None
            if step < keep_steps_below:
                kept.append(fields)
        atomic_write_text(path, _csv_text(kept))
        return len(kept) - 1
