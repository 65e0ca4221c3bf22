"""A per-cycle runtime and memory probe for any long-running Python loop.

The loop calls the probe once per cycle; the probe returns one row (a read-only mapping keyed by
the ``cycles.csv`` columns of ``nrm/instrument/columns.py``) and, when given a
:class:`~nrm.instrument.runlog.CycleLog`, appends it there. This module does not import the
simulator::

    with CycleLog(run_dir / "cycles.csv") as log, Probe(log) as probe:
        for i in range(n):
            with probe.cycle(cycle=i) as c:
                population = step()
                c.add(population=population)

Every cycle: wall time, process CPU time (user, system, total), blocked time (wall - CPU:
asleep, blocked or waiting for I/O; negative when several threads ran in parallel), context
switches (voluntary; involuntary = the CPU was taken away), page faults, RSS, garbage-collector
collections per generation and pause time (``gc.callbacks``), storage bytes read/written
(``getrusage`` block counts x 512, Linux). Every ``io_calls_every`` cycles (default 100):
read/write syscalls of that cycle (``/proc/self/io``, two reads). At most once per
``system_every_s`` seconds (default 1): system CPU %, load average, CPU frequency and
temperature. Every ``arena_every`` cycles (default 1000): pymalloc arena statistics
(``nrm.instrument.arenas``, 0.1-0.4 ms a reading, more for a large heap),
``sys.getallocatedblocks()``
and, when asked for, tracemalloc's current/peak and the USS. Cells not measured in a row stay
empty; no value is ever carried forward from an earlier row.

What a cycle costs the loop: ``begin_cycle``/``end_cycle`` take only the readings (two
``getrusage`` calls, one ``pread`` of ``/proc/self/statm``, two clock reads) and keep them in a
:class:`CycleRow`; the arithmetic and the CSV formatting happen when the row is first read or
when the log writes its batch (every 50 rows by default), where that code runs warm. On a
2-vCPU VM, inside the ``lean`` simulator loop: ~4.5 us for the readings, ~1.5 us for the rest
of the per-cycle work and ~4 us for the row's share of the batch (``make bench``).

``sys.getallocatedblocks()`` is on the periodic list because on CPython 3.11 it walks every
pymalloc pool: 0.3 us for a small heap but ~35 us at 2 million live objects and ~170 us at 10
million, touching one header per 16 KiB pool (cache and TLB misses inside the loop being
measured). Under ``PYTHONMALLOC=malloc`` it returns 0, so it is left empty there.

Precision notes: ``cpu_s`` comes from ``getrusage`` (microsecond resolution, exact sum); the
kernel derives the user/system split from tick sampling, so ``cpu_user_s``/``cpu_sys_s`` of a
sub-millisecond cycle are approximate. ``io_read_bytes``/``io_write_bytes`` count storage I/O
the process caused (page-cache hits read nothing; written pages count when dirtied), the
same quantity as ``read_bytes``/``write_bytes`` of ``/proc/self/io``. The probe's own
``/proc`` reads are not counted in ``io_read_calls``. GC collections and probe work between
``end_cycle`` and the next ``begin_cycle`` are not attributed to any cycle.

A probe belongs to the process that called :meth:`Probe.start`; start a new one after fork.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from nrm import paths
from nrm.exceptions import ProbeError
from nrm.instrument.arenas import read_arena_stats

if TYPE_CHECKING:
    from nrm.instrument.runlog import CycleLog

Row = dict[str, Any]

_perf = time.perf_counter
_unix = time.time
_getrusage = resource.getrusage
_RUSAGE_SELF = resource.RUSAGE_SELF
_blocks = sys.getallocatedblocks
_pread = os.pread
#: Positions of the getrusage fields in its result (a struct sequence; also a plain tuple).
_RU = {name: i for i, name in enumerate(resource.struct_rusage.__match_args__)}
assert _RU["ru_utime"] == 0 and _RU["ru_stime"] == 1
_MINFLT, _MAJFLT, _INBLOCK, _OUBLOCK, _NVCSW, _NIVCSW = (
    _RU[f"ru_{name}"] for name in ("minflt", "majflt", "inblock", "oublock", "nvcsw", "nivcsw")
)
_LINUX = sys.platform.startswith("linux")
#: Cycles ended by every Probe of this process: ``nrm watch``'s inside tier reads it, so a
#: program that measures its loop with a Probe is normalised per cycle without nrm.mark.
cycles_ended = 0

#: Sensor groups of ``psutil.sensors_temperatures()`` that measure the CPU package or cores.
CPU_SENSORS: tuple[str, ...] = (
    "coretemp",
    "k10temp",
    "zenpower",
    "cpu_thermal",
    "cpu-thermal",
    "soc_thermal",
    "acpitz",
)


#: ``Probe()`` without a log (rows are only returned), told apart from ``Probe(None)``.
_NO_LOG: Any = object()


# --- slow, periodic readings (module functions so tests can call and patch them) -------------


def cpu_temperature() -> float | None:
    """Highest CPU temperature sensor in degrees C; ``None`` where none exists (never raises)."""
    try:
        import psutil

        read = getattr(psutil, "sensors_temperatures", None)
        if read is None:
            return None
        groups = read() or {}
    except Exception:  # a missing or broken sensor is "not measured"
        return None
    best: float | None = None
    for name in CPU_SENSORS:
        for entry in groups.get(name, ()):
            current = getattr(entry, "current", None)
            if isinstance(current, int | float) and current > -273.0:
                best = current if best is None else max(best, current)
        if best is not None:
            break
    return None if best is None else float(best)


def cpu_frequency() -> float | None:
    """Current CPU frequency in MHz (mean over CPUs); ``None`` when not reported."""
    try:
        import psutil

        freq = psutil.cpu_freq()
    except Exception:  # not reported on this OS/VM
        return None
    if freq is None or not freq.current or freq.current <= 0:
        return None
    return float(freq.current)


def _cpu_busy_total() -> tuple[float, float] | None:
    """System-wide (busy, total) CPU seconds, psutil's definition (iowait counts as idle).

    Read directly instead of ``psutil.cpu_percent(interval=None)``, whose "since last call"
    state is shared with every other caller in the thread (the simulator samples it too).
    """
    try:
        import psutil

        t = psutil.cpu_times()
    except Exception:
        return None
    total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
    busy = total - t.idle - getattr(t, "iowait", 0.0)
    return busy, total


def _uss_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.Process().memory_full_info().uss)
    except Exception:  # needs /proc/<pid>/smaps; not everywhere
        return None


# --- fast /proc readers ----------------------------------------------------------------------


class _ProcFile:
    """A ``/proc/self`` file kept open and re-read with ``pread`` (~1 us instead of ~8 us)."""

    def __init__(self, path: str) -> None:
        self.fd: int | None
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            os.pread(self.fd, 4096, 0)
        except OSError:
            self.fd = None

    def read(self) -> bytes:
        assert self.fd is not None
        return os.pread(self.fd, 4096, 0)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


#: Leading fields of /proc/self/io; syscr and syscw are tokens 5 and 7 of ``text.split()``.
_IO_FIELDS = [b"rchar:", b"wchar:", b"syscr:", b"syscw:"]


#: Columns every row has, in the order :meth:`CycleRow.csv_values` gives their values.
MEASURED: tuple[str, ...] = (
    "step", "cycle", "wall_s", "cpu_user_s", "cpu_sys_s", "cpu_s", "blocked_s", "elapsed_s",
    "t_unix", "ctx_switches_vol", "ctx_switches_invol", "rss_bytes", "minor_faults",
    "major_faults", "gc0", "gc1", "gc2", "gc_pause_s",
) + (("io_read_bytes", "io_write_bytes") if _LINUX else ())  # fmt: skip
_IO_CALLS: tuple[str, ...] = ("io_read_calls", "io_write_calls")


class _Constants(NamedTuple):
    t0: float  # perf_counter() value at which elapsed_s is 0
    page: int  # bytes per page (statm counts pages)


class CycleRow(Mapping[str, Any]):
    """One cycle's row: a read-only mapping of ``cycles.csv`` columns to values.

    It holds the raw readings (two ``getrusage`` results, two clock values, the ``statm``
    text, gc counters, ...) and works the values out on first access, or when the log writes
    the row. Columns not measured in this cycle are absent.
    """

    __slots__ = ("_dict", "_raw")
    _raw: tuple[Any, ...]
    _dict: Row

    def csv_values(self) -> tuple[tuple[Any, ...], Hashable]:
        """The values in :meth:`csv_keys` order and the row's shape (keys and value types)."""
        const, n, w0, w1, r0, r1, mem, g0, g1, unix, io0, io1, extra, fields = self._raw
        # r0/r1: getrusage() results, or tuples of them (indexes: _RU); utime/stime are exact to
        # the microsecond +- float noise: the log writes 6 decimals, the mapping rounds them
        du = r1[0] - r0[0]
        ds = r1[1] - r0[1]
        cpu = du + ds
        wall = w1 - w0
        values: tuple[Any, ...] = (
            n, n, wall, du, ds, cpu, wall - cpu, w1 - const.t0, unix,
            r1[_NVCSW] - r0[_NVCSW], r1[_NIVCSW] - r0[_NIVCSW],
            int(mem.split()[1]) * const.page if mem.__class__ is bytes else mem,
            r1[_MINFLT] - r0[_MINFLT], r1[_MAJFLT] - r0[_MAJFLT],
            g1[0] - g0[0], g1[1] - g0[1], g1[2] - g0[2], g1[3] - g0[3],
        )  # fmt: skip
        if _LINUX:  # Linux reports storage I/O in 512-byte units here
            values += ((r1[_INBLOCK] - r0[_INBLOCK]) * 512, (r1[_OUBLOCK] - r0[_OUBLOCK]) * 512)
        if io1 is not None:
            v0 = io0.split()
            v1 = io1.split()
            # minus 1: the begin-of-cycle read of /proc/self/io is itself a read syscall
            values += (int(v1[5]) - int(v0[5]) - 1, int(v1[7]) - int(v0[7]))
        extra_types: Hashable = None
        if extra:
            extra_values = tuple(extra.values())
            values += extra_values
            extra_types = (tuple(extra), tuple(map(type, extra_values)))
        field_values = tuple(fields.values())
        return values + field_values, (
            values[11].__class__,
            io1 is None,
            extra_types,
            tuple(fields),
            tuple(map(type, field_values)),
        )

    def csv_keys(self) -> tuple[str, ...]:
        """The keys of :meth:`csv_values` (a later key replaces an earlier one)."""
        io1, extra, fields = self._raw[-3:]
        keys = MEASURED + (_IO_CALLS if io1 is not None else ())
        return keys + tuple(extra or ()) + tuple(fields)

    def _row(self) -> Row:
        try:
            return self._dict
        except AttributeError:
            values, _ = self.csv_values()
            row = self._dict = dict(zip(self.csv_keys(), values, strict=True))
            # getrusage has microsecond resolution: round away float subtraction noise
            du = row["cpu_user_s"] = round(values[3], 6)
            ds = row["cpu_sys_s"] = round(values[4], 6)
            cpu = row["cpu_s"] = round(du + ds, 6)
            row["blocked_s"] = values[2] - cpu
            for key in ("cpu_user_s", "cpu_sys_s", "cpu_s", "blocked_s"):  # a field wins
                if key in self._raw[-1]:
                    row[key] = self._raw[-1][key]
            return row

    def __getitem__(self, key: str) -> Any:
        return self._row()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._row())

    def __len__(self) -> int:
        return len(self._row())

    def __repr__(self) -> str:
        return f"CycleRow({self._row()!r})"


_new_row = object.__new__



class _Cycle:
    """What ``with probe.cycle(...) as c`` yields: ``c.add(**counters)``, then ``c.row``."""

    __slots__ = ("_fields", "_probe", "row")

    def __init__(self, probe: Probe, fields: dict[str, Any]) -> None:
        self._probe = probe
        self._fields = fields
        self.row: CycleRow | None = None

    def add(self, **counters: Any) -> None:
        """Set loop counters of this cycle's row (population=..., commits=..., ...)."""
        self._fields.update(counters)

    def __enter__(self) -> _Cycle:
        self._probe.begin_cycle()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.row = self._probe.end_cycle(**self._fields)
        else:
            self._probe.abandon_cycle()  # a failed cycle leaves no row


class Probe:
    """Measures each cycle of a loop. See the module docstring for what and how often.

    ``arena_every``: cycles between pymalloc readings (arena statistics and allocated blocks,
    0.1-0.4 ms each, growing with the heap; 0 disables). The runner reads every 100 cycles.
    ``system_every_s``: minimum seconds between system readings (CPU %, load, MHz, degrees C;
    ~0.2 ms each).
    ``io_calls_every``: cycles between syscall counts (``/proc/self/io`` read at the start and
    end of that cycle, ~4 us; 1 = every cycle, 0 = off; Linux only). Storage bytes come from
    ``getrusage`` every cycle regardless.
    ``tracemalloc`` / ``uss``: also record these on arena rows (tracemalloc slows the loop
    several-fold; USS reads ``smaps``, ~0.2 ms+). ``elapsed_offset_s`` is added to
    ``elapsed_s`` (a resumed run continues its clock).
    """

    def __init__(
        self,
        log: CycleLog | None = _NO_LOG,  # type: ignore[assignment]
        *,
        arena_every: int = 1000,
        system_every_s: float = 1.0,
        io_calls_every: int = 100,
        tracemalloc: bool = False,
        uss: bool = False,
        elapsed_offset_s: float = 0.0,
    ) -> None:
        for name, value in (
            ("arena_every", arena_every),
            ("io_calls_every", io_calls_every),
            ("system_every_s", system_every_s),
        ):
            if not value >= 0:
                raise ProbeError(f"{name} must be >= 0 (0 = every time or off), got {value!r}")
        if log is _NO_LOG:
            log = None
        elif log is None:
            raise ProbeError(
                "Probe(None): the log is missing, so rows would go nowhere; pass a CycleLog, "
                "or call Probe() without a log to only get the rows back"
            )
        elif not callable(getattr(log, "append_deferred", None)):
            raise ProbeError(
                f"Probe(log): expected a nrm.instrument.runlog.CycleLog, got {type(log).__name__}"
            )
        elif getattr(log, "closed", False):
            raise ProbeError(f"Probe(log): {log!r} is closed; rows could not be written")
        self.log = log
        self.arena_every = int(arena_every)
        self.system_every_s = float(system_every_s)
        self.io_calls_every = int(io_calls_every)
        self.tracemalloc = tracemalloc
        self.uss = uss
        self.elapsed_offset_s = float(elapsed_offset_s)
        self.cycles = 0  # rows produced since start()
        # the probe's own cost that no row shows: periodic readings, taken after a cycle ends
        self.periodic_readings = 0
        self.periodic_s = 0.0
        self._started = False
        self._in_cycle = False
        # the last row's step, condition and cycle: each row's must follow them
        self._last: tuple[int, Any, int] = (-1, _NO_LOG, -1)
        # cumulative [gen0, gen1, gen2, pause_s], updated by the gc callback
        self._gc: list[Any] = [0, 0, 0, 0.0]
        self._gc_callback: Callable[[str, dict[str, Any]], None] | None = None
        self._statm: _ProcFile | None = None
        self._procio: _ProcFile | None = None
        self._statm_fd = -1  # their file descriptors while started, else -1
        self._io_fd = -1
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._psutil_process: Any = None
        self._arena_ok = False
        self._tracemalloc_started = False
        self._next_system = 0.0
        self._last_cpu: tuple[float, float] | None = None
        self._t_start = 0.0
        # begin-of-cycle snapshot
        self._w0 = 0.0
        self._ru0: Any = None
        self._gc0: tuple[Any, ...] = (0, 0, 0, 0.0)
        self._constants = _Constants(0.0, self._page)
        self._io0: bytes | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The probe's settings, for ``run.json`` (``probe``)."""
        out: dict[str, Any] = {
            "arena_every": self.arena_every,
            "system_every_s": self.system_every_s,
            "io_calls_every": self.io_calls_every,
            "tracemalloc": self.tracemalloc,
            "uss": self.uss,
        }
        if self.log is not None:
            out["flush_every"] = self.log.flush_every
            out["flush_every_s"] = self.log.flush_every_s
            out["extra_columns"] = list(self.log.extra_columns)
        return out

    def start(self) -> Probe:
        """Install the gc callback, open the /proc readers, take the baselines.

        Reads the arena statistics once, so a changed report format fails here, before the
        loop runs, rather than hours into it.
        """
        if self._started:
            raise ProbeError("Probe.start() called twice; call stop() first")
        if self.arena_every:
            self._arena_ok = read_arena_stats() is not None  # raises on a changed format
        gc_state = self._gc
        perf = _perf
        t0 = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                t0[0] = perf()
            else:
                gc_state[3] += perf() - t0[0]
                gc_state[info["generation"]] += 1

        self._gc_callback = on_gc
        gc.callbacks.append(on_gc)
        self._statm = _ProcFile("/proc/self/statm")
        if self._statm.fd is None:
            self._statm = None
            try:
                import psutil

                self._psutil_process = psutil.Process()
            except Exception:
                self._psutil_process = None
        if self.io_calls_every:
            self._procio = _ProcFile("/proc/self/io")
            if self._procio.fd is None or self._procio.read().split()[0:8:2] != _IO_FIELDS:
                self._procio.close()
                self._procio = None
        if self.tracemalloc:
            import tracemalloc

            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self._tracemalloc_started = True
        self._last_cpu = _cpu_busy_total()
        self._t_start = _perf()
        self._constants = _Constants(self._t_start - self.elapsed_offset_s, self._page)
        self._next_system = self._t_start  # the first row carries a system reading
        self._statm_fd = -1 if self._statm is None or self._statm.fd is None else self._statm.fd
        self._io_fd = -1 if self._procio is None or self._procio.fd is None else self._procio.fd
        self.cycles = 0
        self.periodic_readings = 0
        self.periodic_s = 0.0
        self._last = (-1, _NO_LOG, -1)
        self._started = True
        return self

    def stop(self) -> None:
        """Remove the gc callback, close readers, flush the log (which stays open)."""
        if not self._started:
            return
        self._started = False
        self._in_cycle = False
        if self._gc_callback in gc.callbacks:
            gc.callbacks.remove(self._gc_callback)
        self._gc_callback = None
        for f in (self._statm, self._procio):
            if f is not None:
                f.close()
        self._statm = self._procio = None
        self._statm_fd = self._io_fd = -1
        self._io0 = None
        if self._tracemalloc_started:
            import tracemalloc

            tracemalloc.stop()
            self._tracemalloc_started = False
        if self.log is not None and not self.log.closed:
            self.log.flush()

    def __enter__(self) -> Probe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- per cycle --------------------------------------------------------------------------

    def begin_cycle(self) -> None:
        """Mark the start of a cycle."""
        if not self._started:
            raise ProbeError("begin_cycle() before start(); use 'with Probe(...) as probe:'")
        self._in_cycle = True
        self._gc0 = tuple(self._gc)
        if self._io_fd >= 0 and self.cycles % self.io_calls_every == 0:
            self._io0 = _pread(self._io_fd, 4096, 0)
        self._w0 = _perf()
        self._ru0 = _getrusage(_RUSAGE_SELF)

    def abandon_cycle(self) -> None:
        """Forget the cycle in progress (it raised); no row is produced."""
        self._in_cycle = False
        self._io0 = None

    def end_cycle(self, **fields: Any) -> CycleRow:
        """End the cycle; return its row (and append it to the log).

        ``fields``: the identity columns (``step``, ``condition``, ``cycle``; ``step`` and
        ``cycle`` default to the count of rows since start) and the loop's counters
        (``population``, ``samples``, ``commits``, ``commit_s``, ``db_bytes``, ..., or any
        extra column the log declares); a field named like a measured column replaces it.

        Only the readings are taken here; the row's values are worked out when the row is
        first read or when the log writes it (see :class:`CycleRow`), so that the loop being
        measured pays for the readings, not for arithmetic and formatting. Field values are
        read then too: pass numbers and strings, not objects the loop changes afterwards.
        """
        ru = _getrusage(_RUSAGE_SELF)
        w1 = _perf()
        io0 = self._io0
        io1 = _pread(self._io_fd, 4096, 0) if io0 is not None else None
        if not self._in_cycle:
            raise ProbeError("end_cycle() without begin_cycle()")
        self._in_cycle = False
        self._io0 = None
        n = self.cycles
        get = fields.get
        step, cond, cycle = get("step", n), get("condition"), get("cycle", n)
        last_step, last_cond, last_cycle = self._last
        if (
            type(step) is not int
            or type(cycle) is not int
            or step <= last_step
            or (cycle <= last_cycle and cond == last_cond)
        ):
            self._refuse(step, cond, cycle)
        self._last = (step, cond, cycle)
        mem = _pread(self._statm_fd, 4096, 0) if self._statm_fd >= 0 else self._rss_fallback()
        unix = _unix()
        extra: Row | None = None
        if w1 >= self._next_system or (self.arena_every and n % self.arena_every == 0):
            extra = self._periodic(w1, n)
        row = _new_row(CycleRow)
        row._raw = (
            self._constants, n, self._w0, w1, self._ru0, ru, mem, self._gc0, tuple(self._gc),
            unix, io0, io1, extra, fields,
        )  # fmt: skip
        self.cycles = n + 1
        global cycles_ended
        cycles_ended += 1
        if self.log is not None:
            self.log.append_deferred(row, fields)
        return row

    def _refuse(self, step: Any, cond: Any, cycle: Any) -> None:
        """Raise the ProbeError for a row whose step or cycle would make the log ambiguous
        (returns for integer types other than ``int`` that are in order, e.g. numpy's)."""
        last_step, _, last_cycle = self._last
        for name, value in (("step", step), ("cycle", cycle)):
            try:
                if isinstance(value, bool):
                    raise TypeError
                operator.index(value)
            except TypeError:
                raise ProbeError(
                    f"end_cycle({name}={value!r}): {name} must be an integer"
                ) from None
        if step <= last_step:
            raise ProbeError(
                f"end_cycle(step={step}) after step {last_step}: steps must increase, or rows "
                "of the log would repeat or go back"
            )
        if cycle <= last_cycle and cond == self._last[1]:
            raise ProbeError(
                f"end_cycle(cycle={cycle}) after cycle {last_cycle} of condition {cond!r}: "
                "cycle numbers must increase within a condition"
            )

    def _rss_fallback(self) -> int | None:
        if self._psutil_process is not None:
            return int(self._psutil_process.memory_info().rss)
        return None

    def cycle(self, **fields: Any) -> _Cycle:
        """``with probe.cycle(step=..., cycle=...) as c: ...; c.add(population=...)``."""
        return _Cycle(self, fields)

    # --- periodic readings ------------------------------------------------------------------

    def _periodic(self, w1: float, n: int) -> Row:
        t0 = _perf()
        extra: Row = {}
        if w1 >= self._next_system:
            self._system(extra)
            self._next_system = w1 + self.system_every_s
        if self.arena_every and n % self.arena_every == 0:
            self._arena(extra)
        self.periodic_readings += 1
        self.periodic_s += _perf() - t0
        return extra

    def own_cost(self) -> dict[str, float | int]:
        """What the probe spent outside the cycles it measured, since :meth:`start`:
        ``periodic_s`` seconds in ``periodic_readings`` periodic readings (system, arenas,
        tracemalloc, USS). The per-cycle readings are too cheap to time themselves without
        adding to their cost; ``make bench`` measures them side by side."""
        return {
            "cycles": self.cycles,
            "periodic_readings": self.periodic_readings,
            "periodic_s": self.periodic_s,
        }

    def _system(self, row: Row) -> None:
        now = _cpu_busy_total()
        last = self._last_cpu
        if now is not None and last is not None and now[1] > last[1]:
            row["sys_cpu_pct"] = 100.0 * (now[0] - last[0]) / (now[1] - last[1])
        if now is not None:
            self._last_cpu = now
        if hasattr(os, "getloadavg"):
            with contextlib.suppress(OSError):
                row["load1"] = os.getloadavg()[0]
        row["cpu_freq_mhz"] = cpu_frequency()
        row["cpu_temp_c"] = cpu_temperature()

    def _arena(self, row: Row) -> None:
        if self._arena_ok:
            stats = read_arena_stats()
            if stats is None:  # pymalloc switched off under us: stop asking
                self._arena_ok = False
            else:
                row["allocated_blocks"] = _blocks()
                row.update(stats.as_row())
        if self.tracemalloc:
            import tracemalloc

            if tracemalloc.is_tracing():
                current, peak = tracemalloc.get_traced_memory()
                row["tracemalloc_current_bytes"] = current
                row["tracemalloc_peak_bytes"] = peak
        if self.uss:
            row["uss_bytes"] = _uss_bytes()


# --- overhead micro-benchmark ----------------------------------------------------------------


def _busy_body(n_objects: int) -> int:
    """Synthetic cycle body: allocates and drops small objects like an agent simulation."""
    items = [{"id": i, "energy": float(i), "links": [i, i + 1]} for i in range(n_objects)]
    total = 0
    for item in items:
        total += item["id"] ^ len(item["links"])
    return total


def measure_overhead(
    cycles: int = 20_000,
    *,
    repeat: int = 5,
    body_objects: int = 3000,
    log: bool = True,
    breakdown: bool = True,
    **probe_options: Any,
) -> dict[str, Any]:
    """Measure what the probe adds per cycle (for ``nrm bench``; nothing is asserted).

    Each number is the median of ``repeat`` runs, in wall time (``*_us``) and in process CPU
    time (``*_cpu_us``, which other processes on the machine disturb less):

    - ``per_cycle_us``: ``begin_cycle`` + ``end_cycle`` around an empty body, with the log
      (``log=True``: a CycleLog in a temp folder, default flushing), arena, syscall and
      system readings at their cadence: the full amortised cost of one probed cycle;
    - ``overhead_us`` / ``overhead_pct``: the slowdown of a loop whose body allocates
      ``body_objects`` small objects (~0.5-1 ms a cycle), probe on vs off, interleaved. This
      includes the gc callback's cost (about 1 us per collection) and cache effects;
    - ``breakdown`` (optional): the empty-cycle cost with parts switched off, so the cost of
      each part is a difference of two entries;
    - the cost of one arena reading and of one system reading.
    """
    from nrm.instrument.runlog import CycleLog

    def run(
        n: int,
        body: Callable[[], Any] | None,
        probed: bool,
        folder: Path,
        with_log: bool = log,
        **options: Any,
    ) -> tuple[float, float]:
        cycle_log = CycleLog(folder / paths.CYCLES_CSV) if (probed and with_log) else None
        if probed:
            with Probe(*([cycle_log] if cycle_log is not None else []), **options) as probe:
                w0, c0 = _perf(), time.process_time()
                for i in range(n):
                    probe.begin_cycle()
                    if body is not None:
                        body()
                    probe.end_cycle(cycle=i, population=i)
                if cycle_log is not None:
                    cycle_log.flush()
                w1, c1 = _perf(), time.process_time()
        else:
            w0, c0 = _perf(), time.process_time()
            for _ in range(n):
                if body is not None:
                    body()
            w1, c1 = _perf(), time.process_time()
        if cycle_log is not None:
            cycle_log.close()
            (folder / paths.CYCLES_CSV).unlink()
        return (w1 - w0) / n * 1e6, (c1 - c0) / n * 1e6

    def body() -> None:
        _busy_body(body_objects)

    def median(runs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    out: dict[str, Any] = {"cycles": cycles, "repeat": repeat, "log": log}
    out["probe_options"] = probe_options
    with tempfile.TemporaryDirectory(prefix="nrm-probe-bench-") as tmp:
        folder = Path(tmp)
        empty = [run(cycles, None, True, folder, **probe_options) for _ in range(repeat)]
        out["per_cycle_us"] = median(empty, 0)
        out["per_cycle_cpu_us"] = median(empty, 1)
        n_body = max(200, cycles // 20)
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        for _ in range(repeat):
            off.append(run(n_body, body, False, folder))
            on.append(run(n_body, body, True, folder, **probe_options))
        for i, suffix in ((0, "us"), (1, "cpu_us")):
            base, probed = median(off, i), median(on, i)
            out[f"body_cycle_{suffix}"] = base
            out[f"body_cycle_probed_{suffix}"] = probed
            out[f"overhead_{suffix}"] = probed - base
            out[f"overhead_{suffix.replace('us', 'pct')}"] = 100.0 * (probed - base) / base
        if breakdown:
            quiet = {"arena_every": 0, "io_calls_every": 0, "system_every_s": 1e9}
            io_every = probe_options.get("io_calls_every", 10)
            arena_every = probe_options.get("arena_every", 100)
            variants: dict[str, tuple[bool, dict[str, Any]]] = {
                "every-cycle readings only, no log": (False, quiet),
                "+ syscall counts": (False, {**quiet, "io_calls_every": io_every}),
                "+ arena readings": (False, {**quiet, "arena_every": arena_every}),
                "+ log (CSV rows)": (True, quiet),
            }
            out["breakdown_cpu_us"] = {
                name: median(
                    [run(cycles, None, True, folder, wl, **opts) for _ in range(repeat)], 1
                )
                for name, (wl, opts) in variants.items()
            }
    t = _perf()
    for _ in range(50):
        read_arena_stats()
    out["arena_reading_us"] = (_perf() - t) / 50 * 1e6
    scratch: Row = {}
    probe = Probe()
    t = _perf()
    for _ in range(20):
        probe._system(scratch)
    out["system_reading_us"] = (_perf() - t) / 20 * 1e6
    return out


if __name__ == "__main__":  # python -m nrm.instrument.probe: print the overhead numbers
    import json

    print(json.dumps(measure_overhead(), indent=2))
