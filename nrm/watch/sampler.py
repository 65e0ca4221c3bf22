"""The outside tier's loop: one row of ``cycles.csv`` per sampling interval, and the live line.

Each tick reads the watched process (:class:`~nrm.watch.procstat.ProcReader`) and the host,
turns the cumulative counters into per-interval deltas and writes one row with
:class:`nrm.instrument.runlog.CycleLog` (registry columns where the meaning is the same: ``wall_s``,
``cpu_user_s``, ``rss_bytes``, ``gc_pause_s``, ``frag_ratio``...; the rest as declared extra
columns, :data:`EXTRA_COLUMNS`). The inside tier's latest line (``inside.csv``, cumulative
counters) is read incrementally and merged into the same row, so one file holds the run.
The watcher's own CPU time per interval is a column too (``watcher_cpu_s``): its overhead.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

from nrm.instrument.runlog import CycleLog
from nrm.watch.procstat import HostReader, HostSample, ProcReader, ProcSample, own_cpu_s
from nrm.watch.startup import COLUMNS as INSIDE_COLUMNS

CONDITION = "watch"
EXTRA_COLUMNS: tuple[str, ...] = (
    "t_mono", "anon_bytes", "swap_bytes", "pss_bytes", "threads", "io_rchar_bytes",
    "io_wchar_bytes", "sched_wait_s", "work", "inside_cpu_s", "gc2_pause_max_s", "watcher_cpu_s",
)


class InsideFeed:
    """Reads the lines the inside tier appends to ``inside.csv``, keeping the latest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.latest: dict[str, str] | None = None
        self.first: dict[str, str] | None = None

    def poll(self) -> dict[str, str] | None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return self.latest
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in reversed(lines):
            cells = raw.decode("ascii", errors="replace").split(",")
            if len(cells) == len(INSIDE_COLUMNS) and cells[0] != "t_mono":
                self.latest = dict(zip(INSIDE_COLUMNS, cells, strict=True))
                if self.first is None:
                    self.first = self.latest
                break
        return self.latest


def _num(cell: str | None) -> float | None:
    if cell is None or cell == "":
        return None
    return float(cell)


def _delta(now: float | int | None, before: float | int | None) -> Any:
    if now is None or before is None:
        return None
    return now - before


class Sampler:
    """One row per :meth:`tick`; ``None`` from the reader (process gone) ends the watch."""

    def __init__(self, reader: ProcReader, log: CycleLog, *, host: HostReader | None = None,
                 inside: InsideFeed | None = None, console: Console | None = None) -> None:
        self.reader = reader
        self.host = host or HostReader()
        self.log = log
        self.inside = inside
        self.console = console
        self.step = 0
        self._prev: ProcSample | None = None
        self._prev_host: HostSample | None = None
        self._prev_inside: dict[str, str] | None = None
        self._own = own_cpu_s()
        self.t_start: float | None = None
        self.watcher_cpu_s = 0.0
        self.last: dict[str, Any] = {}

    def prime(self) -> bool:
        """Take the first reading (no row); False when the process is already gone."""
        self._prev = self.reader.read()
        self._prev_host = self.host.read()
        if self.inside is not None:
            self._prev_inside = self.inside.poll()
        self._own = own_cpu_s()
        if self._prev is None:
            return False
        self.t_start = self._prev.t_mono
        return True

    def tick(self) -> bool:
        s = self.reader.read()
        if s is None:
            return False
        h = self.host.read()
        p, ph = self._prev, self._prev_host
        assert p is not None and ph is not None and self.t_start is not None
        wall = s.t_mono - p.t_mono
        user = s.cpu_user_s - p.cpu_user_s
        sys_ = s.cpu_sys_s - p.cpu_sys_s
        dtotal = h.total - ph.total
        row: dict[str, Any] = {
            "step": self.step, "condition": CONDITION, "cycle": self.step,
            "wall_s": wall, "cpu_user_s": user, "cpu_sys_s": sys_, "cpu_s": user + sys_,
            "blocked_s": wall - (user + sys_), "elapsed_s": s.t_mono - self.t_start,
            "t_unix": s.t_unix, "t_mono": s.t_mono,
            "ctx_switches_vol": s.ctx_vol - p.ctx_vol,
            "ctx_switches_invol": s.ctx_invol - p.ctx_invol,
            "rss_bytes": s.rss_bytes, "anon_bytes": s.anon_bytes, "swap_bytes": s.swap_bytes,
            "pss_bytes": s.pss_bytes, "threads": s.threads,
            "minor_faults": s.minor_faults - p.minor_faults,
            "major_faults": s.major_faults - p.major_faults,
            "io_read_bytes": _delta(s.io_read_bytes, p.io_read_bytes),
            "io_write_bytes": _delta(s.io_write_bytes, p.io_write_bytes),
            "io_rchar_bytes": _delta(s.io_rchar, p.io_rchar),
            "io_wchar_bytes": _delta(s.io_wchar, p.io_wchar),
            "sched_wait_s": _delta(s.sched_wait_s, p.sched_wait_s),
            "sys_cpu_pct": 100.0 * (h.busy - ph.busy) / dtotal if dtotal > 0 else None,
            "load1": h.load1, "cpu_freq_mhz": h.cpu_freq_mhz, "cpu_temp_c": h.cpu_temp_c,
        }
        if self.inside is not None:
            row.update(self._inside_cells(self.inside.poll()))
        own = own_cpu_s()
        row["watcher_cpu_s"] = own - self._own
        self.watcher_cpu_s += own - self._own
        self._own = own
        self.log.append(row)
        self.last = row
        self._prev, self._prev_host = s, h
        self.step += 1
        if self.console is not None:
            self.console.update(row)
        return True

    def _inside_cells(self, now: dict[str, str] | None) -> dict[str, Any]:
        before = self._prev_inside
        self._prev_inside = now
        if now is None:
            return {}
        cells: dict[str, Any] = {"work": _num(now["work"])}
        for key in ("arenas_current", "arena_bytes", "used_block_bytes"):
            value = _num(now[key])
            cells[key] = None if value is None else int(value)
        cells["frag_ratio"] = _num(now["frag_ratio"])
        traced = _num(now["tracemalloc_bytes"])
        cells["tracemalloc_current_bytes"] = None if traced is None else int(traced)
        cells["gc2_pause_max_s"] = _num(now["gc2_max_s"])
        if before is not None:
            for gen in range(3):
                cells[f"gc{gen}"] = int(now[f"gc{gen}_n"]) - int(before[f"gc{gen}_n"])
            cells["inside_cpu_s"] = float(now["cpu_s"]) - float(before["cpu_s"])
            cells["gc_pause_s"] = sum(
                float(now[f"gc{g}_s"]) - float(before[f"gc{g}_s"]) for g in range(3)
            )
        return cells


def new_log(path: Path) -> CycleLog:
    """The watch's ``cycles.csv`` (flushed every 10 rows or 5 s)."""
    return CycleLog(path, flush_every=10, flush_every_s=5.0, extra_columns=EXTRA_COLUMNS)


class Console:
    """The live line: elapsed, rate (units/s when marked, else CPU share), RSS, GC share.

    On a terminal it is redrawn in place at most once a second; otherwise one line every
    ``every_s`` seconds (logs stay short).
    """

    def __init__(self, stream: IO[str] | None = None, every_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s if every_s is not None else (1.0 if self.tty else 10.0)
        self._next = time.monotonic() + self.every_s
        self._window: list[tuple[float, float | None, float, float]] = []
        self.drew = False

    def update(self, row: dict[str, Any]) -> None:
        self._window.append((row["elapsed_s"], row.get("work"), row.get("gc_pause_s") or 0.0,
                             row["wall_s"]))
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        self.stream.write(("\r" if self.tty else "") + self.text(row) + ("" if self.tty else "\n"))
        self.stream.flush()
        self.drew = True
        self._window = self._window[-1:]

    def text(self, row: dict[str, Any]) -> str:
        first, last = self._window[0], self._window[-1]
        span = last[0] - first[0]
        if last[1] is not None and first[1] is not None and span > 0:
            rate = f"rate {(last[1] - first[1]) / span:,.3g} units/s"
        else:
            share = row["cpu_s"] / row["wall_s"] if row["wall_s"] > 0 else 0.0
            rate = f"CPU {100 * share:.0f} % (no nrm.mark: rate unknown)"
        gc_s = sum(w[2] for w in self._window[1:])
        wall = sum(w[3] for w in self._window[1:])
        gc = f"GC {100 * gc_s / wall:.1f} %" if wall > 0 and row.get("gc_pause_s") is not None \
            else "GC -"
        return (f"nrm watch: {row['elapsed_s']:8.1f} s  {rate}  "
                f"RSS {row['rss_bytes'] / 1e6:,.1f} MB  {gc}")

    def close(self) -> None:
        if self.tty and self.drew:
            self.stream.write("\n")
            self.stream.flush()
