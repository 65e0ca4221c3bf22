"""Reading one process from the outside: ``/proc/PID/{stat,status,io,schedstat,smaps_rollup}``
and the host (``/proc/stat``, ``/proc/loadavg``, CPU frequency and temperature under ``/sys``).

Nothing here needs the watched program's cooperation; everything is a plain read of a small
text file the kernel formats on demand (a few tens of microseconds each). ``smaps_rollup`` is
the exception: while the kernel walks the process's mappings it holds the target's mmap lock,
so :class:`ProcReader` reads it at most once a second and only while RSS is below a limit.

Errors a user can cause (a PID that does not exist, a process of another user whose ``io`` is
not readable) raise :class:`~nrm.exceptions.WatchError` with one line naming the PID.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

from nrm.exceptions import WatchError

PROC = Path("/proc")
#: Clock ticks per second of the utime/stime fields of /proc/PID/stat.
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: smaps_rollup is skipped above this RSS (its walk holds the target's mmap lock).
SMAPS_RSS_LIMIT = 4 << 30
SMAPS_MIN_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process: cumulative counters as the kernel keeps them, levels now."""

    t_mono: float  # time.monotonic() when read (CLOCK_MONOTONIC: the same in every process)
    t_unix: float
    cpu_user_s: float  # cumulative
    cpu_sys_s: float  # cumulative
    minor_faults: int  # cumulative
    major_faults: int  # cumulative
    threads: int
    rss_bytes: int
    anon_bytes: int | None
    swap_bytes: int | None
    ctx_vol: int  # cumulative voluntary context switches (all threads' sum is not exposed here)
    ctx_invol: int  # cumulative involuntary context switches
    io_read_bytes: int | None  # cumulative, storage layer
    io_write_bytes: int | None
    io_rchar: int | None  # cumulative, every read() (page cache included)
    io_wchar: int | None
    pss_bytes: int | None = None  # from smaps_rollup, when read this time
    sched_run_s: float | None = None  # cumulative time on a CPU (/proc/PID/schedstat)
    sched_wait_s: float | None = None  # cumulative time runnable but waiting for a CPU


@dataclass(frozen=True)
class HostSample:
    """Host-wide readings: busy jiffies, load average, CPU frequency and temperature."""

    busy: int  # cumulative busy jiffies of all CPUs
    total: int  # cumulative jiffies of all CPUs
    load1: float | None
    cpu_freq_mhz: float | None
    cpu_temp_c: float | None


def _read(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read()


def parse_stat(text: str) -> dict[str, int]:
    """Fields of ``/proc/PID/stat`` used here (the command name may hold spaces and ')')."""
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); fields are numbered from 1 in proc(5)
    return {
        "zombie": int(rest[0] in ("Z", "X")),
        "minflt": int(rest[7]),
        "majflt": int(rest[9]),
        "utime": int(rest[11]),
        "stime": int(rest[12]),
        "num_threads": int(rest[17]),
        "rss_pages": int(rest[21]),
    }


def parse_kv(text: str) -> dict[str, int]:
    """``Key:  value [kB]`` lines (status, io, smaps_rollup) -> ints, kB turned into bytes."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        parts = value.split()
        if not parts or not parts[0].isdigit():
            continue
        n = int(parts[0])
        out[key.strip()] = n * 1024 if len(parts) > 1 and parts[1] == "kB" else n
    return out


def check_pid(pid: int, root: Path = PROC) -> None:
    """Raise :class:`WatchError` unless ``pid`` is a live process whose counters can be read."""
    base = root / str(pid)
    if pid <= 0 or not base.is_dir():
        raise WatchError(f"PID {pid} not found: no process with that id (is it still running?)")
    for name in ("stat", "status", "io"):
        try:
            _read(base / name)
        except FileNotFoundError:
            raise WatchError(f"PID {pid} not found: the process has exited") from None
        except PermissionError:
            raise WatchError(
                f"PID {pid} is not readable: /proc/{pid}/{name} is permission denied (a "
                "process of another user; run nrm watch as that user)"
            ) from None


class ProcReader:
    """Reads one process; :meth:`read` returns ``None`` once the process is gone."""

    def __init__(self, pid: int, *, root: Path = PROC, smaps: bool = True,
                 smaps_rss_limit: int = SMAPS_RSS_LIMIT) -> None:
        self.pid = pid
        self.base = root / str(pid)
        self.smaps = smaps
        self.smaps_rss_limit = smaps_rss_limit
        self._last_smaps = -float("inf")
        self._io_ok = True
        self._sched_ok = True

    def read(self) -> ProcSample | None:
        try:
            stat = parse_stat(_read(self.base / "stat"))
            status = parse_kv(_read(self.base / "status"))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            return None
        if stat["zombie"]:  # exited, not yet reaped by its parent: gone for the watch
            return None
        io: dict[str, int] = {}
        if self._io_ok:
            try:
                io = parse_kv(_read(self.base / "io"))
            except FileNotFoundError:
                return None
            except PermissionError:
                self._io_ok = False
        now = time.monotonic()
        rss = status.get("VmRSS", stat["rss_pages"] * PAGE)
        pss = None
        if self.smaps and now - self._last_smaps >= SMAPS_MIN_INTERVAL_S \
                and rss <= self.smaps_rss_limit:
            self._last_smaps = now
            try:
                pss = parse_kv(_read(self.base / "smaps_rollup")).get("Pss")
            except OSError:
                self.smaps = False
        run_s = wait_s = None
        if self._sched_ok:
            try:
                run_ns, wait_ns = _read(self.base / "schedstat").split()[:2]
                run_s, wait_s = int(run_ns) / 1e9, int(wait_ns) / 1e9
            except (OSError, ValueError):
                self._sched_ok = False
        return ProcSample(
            sched_run_s=run_s,
            sched_wait_s=wait_s,
            t_mono=now,
            t_unix=time.time(),
            cpu_user_s=stat["utime"] / CLK_TCK,
            cpu_sys_s=stat["stime"] / CLK_TCK,
            minor_faults=stat["minflt"],
            major_faults=stat["majflt"],
            threads=stat["num_threads"],
            rss_bytes=rss,
            anon_bytes=status.get("RssAnon"),
            swap_bytes=status.get("VmSwap"),
            ctx_vol=status.get("voluntary_ctxt_switches", 0),
            ctx_invol=status.get("nonvoluntary_ctxt_switches", 0),
            io_read_bytes=io.get("read_bytes"),
            io_write_bytes=io.get("write_bytes"),
            io_rchar=io.get("rchar"),
            io_wchar=io.get("wchar"),
            pss_bytes=pss,
        )


def _first_number(paths: list[Path], scale: float) -> float | None:
    for path in paths:
        try:
            return int(_read(path).split()[0]) / scale
        except (OSError, ValueError, IndexError):
            continue
    return None


class HostReader:
    """Host CPU busy share (``/proc/stat``), load average, frequency and temperature."""

    def __init__(self, root: Path = PROC, sys_root: Path = Path("/sys")) -> None:
        self.root = root
        cpu = sys_root / "devices/system/cpu"
        self._freq = sorted(cpu.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))
        self._temp = sorted((sys_root / "class/thermal").glob("thermal_zone*/temp"))

    def read(self) -> HostSample:
        busy = total = 0
        try:
            line = _read(self.root / "stat").splitlines()[0].split()
            ticks = [int(v) for v in line[1:9]]
            total = sum(ticks)
            busy = total - ticks[3] - ticks[4]  # idle, iowait
        except (OSError, ValueError, IndexError):
            pass
        try:
            load1: float | None = float(_read(self.root / "loadavg").split()[0])
        except (OSError, ValueError, IndexError):
            load1 = None
        freqs = [f for f in (_first_number([p], 1000.0) for p in self._freq) if f is not None]
        return HostSample(
            busy=busy,
            total=total,
            load1=load1,
            cpu_freq_mhz=sum(freqs) / len(freqs) if freqs else None,
            cpu_temp_c=_first_number(self._temp, 1000.0),
        )


def own_cpu_s() -> float:
    """CPU seconds (user + system) of the calling process so far (the watcher's own cost)."""
    t = os.times()
    return t.user + t.system


SAMPLE_FIELDS = tuple(f.name for f in fields(ProcSample))
