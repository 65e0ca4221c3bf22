"""pymalloc arena statistics, read from ``sys._debugmallocstats()``.

CPython's small-object allocator (pymalloc) carves memory into arenas (1 MiB each on 3.10+),
arenas into 16 KiB pools and pools into fixed-size blocks. An arena goes back to the OS only
when every block in it is free, so a few long-lived objects can pin mostly-empty arenas: that
share of arena memory not in used blocks is what ``frag_ratio`` measures. Objects larger than
512 bytes bypass pymalloc and are not counted here.

``sys._debugmallocstats()`` prints to the C-level stderr (file descriptor 2), not to
``sys.stderr``; :func:`capture_debugmallocstats` points fd 2 at an in-memory file for the
duration of the call. Under ``PYTHONMALLOC=malloc`` pymalloc is off, the report has no arena
section and :func:`read_arena_stats` returns ``None``. A report that has the arena section
but not every line this parser needs raises :class:`ArenaStatsError` naming the missing lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass

from nrm.exceptions import ArenaStatsError

#: First line of the pymalloc section; absent when pymalloc is not the object allocator.
PYMALLOC_HEADER = "Small block threshold"

# "# arenas allocated total           =                   25"
# "7 arenas * 1048576 bytes/arena     =            7,340,032"
# "87 unused pools * 16384 bytes      =            1,425,408"
_LINE = re.compile(
    r"^(?P<label># [a-z ]+?|\d+ arenas \* (?P<size>\d+) bytes/arena|\d+ unused pools \* \d+ bytes)"
    r"\s*=\s*(?P<value>[\d,]+)[ \t]*$",
    re.MULTILINE,
)

#: Report label -> field name. Every label must be present in a pymalloc report.
_LABELS: dict[str, str] = {
    "# arenas allocated total": "arenas_allocated",
    "# arenas reclaimed": "arenas_reclaimed",
    "# arenas highwater mark": "arenas_highwater",
    "# arenas allocated current": "arenas_current",
    "# bytes in allocated blocks": "used_block_bytes",
    "# bytes in available blocks": "available_block_bytes",
    "# bytes lost to pool headers": "pool_header_bytes",
    "# bytes lost to quantization": "quantization_bytes",
    "# bytes lost to arena alignment": "alignment_bytes",
}


@dataclass(frozen=True)
class ArenaStats:
    """One reading of pymalloc's arena counters (bytes and counts as the interpreter reports)."""

    arenas_allocated: int  # cumulative since start
    arenas_reclaimed: int  # cumulative: arenas returned to the OS
    arenas_highwater: int  # most arenas held at once
    arenas_current: int  # arenas held now
    arena_size: int  # bytes per arena (1 MiB on 3.10+)
    arena_bytes: int  # arenas_current * arena_size
    used_block_bytes: int  # bytes in allocated (used) blocks
    available_block_bytes: int  # bytes in free blocks of used pools
    unused_pool_bytes: int  # bytes in pools with no used block
    pool_header_bytes: int
    quantization_bytes: int
    alignment_bytes: int

    @property
    def frag_ratio(self) -> float | None:
        """``1 - used_block_bytes / arena_bytes``; ``None`` when no arena is held."""
        if self.arena_bytes <= 0:
            return None
        return 1.0 - self.used_block_bytes / self.arena_bytes

    def as_row(self) -> dict[str, int | float | None]:
        """The ``arena`` group of ``cycles.csv`` (see ``nrm/instrument/columns.py``)."""
        return {
            "arenas_allocated": self.arenas_allocated,
            "arenas_reclaimed": self.arenas_reclaimed,
            "arenas_highwater": self.arenas_highwater,
            "arenas_current": self.arenas_current,
            "arena_bytes": self.arena_bytes,
            "used_block_bytes": self.used_block_bytes,
            "frag_ratio": self.frag_ratio,
        }

    def as_dict(self) -> dict[str, int | float | None]:
        return {**asdict(self), "frag_ratio": self.frag_ratio}


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def parse_debugmallocstats(text: str) -> ArenaStats | None:
    """Parse the text of ``sys._debugmallocstats()``.

    Returns ``None`` when the text has no pymalloc section (pymalloc is not in use). Raises
    :class:`ArenaStatsError` naming the missing lines when the section is there but incomplete.
    """
    if PYMALLOC_HEADER not in text:
        return None
    values: dict[str, int] = {}
    arena_size: int | None = None
    unused_pool_bytes = 0
    arena_section_total: int | None = None
    # Only the arena summary matters; skip the per-size-class table and the free lists.
    first = text.find("# arenas")
    section = text[first:] if first >= 0 else text
    last = section.find("\nTotal")
    if last >= 0:
        section = section[: section.find("\n", last + 1) + 1 or None]
    for m in _LINE.finditer(section):
        label = m["label"]
        if m["size"] is not None:
            if arena_size is None:
                arena_size = int(m["size"])
                arena_section_total = _int(m["value"])
        elif label.startswith("#"):
            key = _LABELS.get(label)
            if key is not None and key not in values:
                values[key] = _int(m["value"])
        else:
            unused_pool_bytes = _int(m["value"])
    missing = [label for label, key in _LABELS.items() if key not in values]
    if arena_size is None:
        missing.append("<n> arenas * <size> bytes/arena = <total>")
    if missing:
        raise ArenaStatsError(
            "sys._debugmallocstats() output lacks the line(s) "
            + ", ".join(repr(m) for m in missing)
            + f" (Python {sys.version.split()[0]}); the report format has changed: update "
            "nrm/instrument/arenas.py and its canned test data, or run the probe with arena_every=0"
        )
    assert arena_size is not None
    arena_bytes = values["arenas_current"] * arena_size
    if arena_section_total is not None and arena_section_total != arena_bytes:
        raise ArenaStatsError(
            f"sys._debugmallocstats(): {values['arenas_current']} current arenas * {arena_size} "
            f"bytes != reported {arena_section_total}; the report format has changed: update "
            "nrm/instrument/arenas.py"
        )
    return ArenaStats(
        arena_size=arena_size,
        arena_bytes=arena_bytes,
        unused_pool_bytes=unused_pool_bytes,
        **values,
    )


class _Capture:
    """Points fd 2 at a pipe (fast) while ``sys._debugmallocstats()`` runs.

    The report is a few KiB, far below a pipe's capacity (64 KiB or more); the write end is
    non-blocking so an oversized report cannot hang the process: when the pipe comes back
    full, the reading is repeated into an in-memory file instead.
    """

    def __init__(self) -> None:
        self.pid = -1
        self.read_fd = -1
        self.write_fd = -1
        self.capacity = 0

    def _open(self) -> None:
        import fcntl

        self.read_fd, self.write_fd = os.pipe()
        for fd in (self.read_fd, self.write_fd):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        try:
            self.capacity = fcntl.fcntl(self.write_fd, getattr(fcntl, "F_GETPIPE_SZ", 1032))
        except OSError:
            self.capacity = 4096  # POSIX minimum
        self.pid = os.getpid()

    def _drain(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self.read_fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _call_with_fd2(fd: int) -> None:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stderr.flush()  # pending Python-level output must not land in the capture
        saved = os.dup(2)
        try:
            os.dup2(fd, 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)

    def _via_file(self) -> bytes:
        with tempfile.TemporaryFile() as fh:
            self._call_with_fd2(fh.fileno())
            fh.seek(0)
            return fh.read()

    def run(self) -> str:
        try:
            if self.pid != os.getpid():
                self._open()
        except (ImportError, OSError):  # no fcntl / pipes: slow path every time
            return self._via_file().decode("utf-8", errors="replace")
        self._drain()
        self._call_with_fd2(self.write_fd)
        data = self._drain()
        if len(data) >= self.capacity:  # the pipe filled up: output may be cut short
            data = self._via_file()
        return data.decode("utf-8", errors="replace")


_capture = _Capture()


def capture_debugmallocstats() -> str:
    """Return what ``sys._debugmallocstats()`` prints (it writes to the C-level stderr).

    Not thread-safe with respect to other threads writing to fd 2 at the same moment: their
    output would end up in the capture (and then be ignored by the parser).
    """
    return _capture.run()


def read_arena_stats() -> ArenaStats | None:
    """Arena statistics of this interpreter now; ``None`` when pymalloc is not in use."""
    return parse_debugmallocstats(capture_debugmallocstats())


def pymalloc_active() -> bool:
    """Whether pymalloc serves small objects in this process (reads the allocator report)."""
    return PYMALLOC_HEADER in capture_debugmallocstats()
