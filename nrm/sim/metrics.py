"""System-metrics sources: ``live`` (psutil), ``fixed`` (constant), ``replay`` (a trace) and
``cycle-replay`` (a trace indexed by cycle, so runs that sample differently see the same values).

A source's :meth:`sample` returns one :class:`Metrics`. Every sample the model is fed can be
written, in order, to ``metrics_trace.csv`` (:class:`TraceWriter`); :class:`ReplaySource` feeds
that file back, so a replayed run reproduces the recorded one bit for bit. Floats are written
with ``repr`` so they round-trip exactly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import time
from pathlib import Path
from typing import NamedTuple, Protocol

from nrm import paths
from nrm.atomic import append_whole, storage_error
from nrm.exceptions import ParameterError, TraceError
from nrm.sim.conditions import CONDITIONS


class Metrics(NamedTuple):
    cpu_percent: float
    mem_percent: float
    disk_percent: float
    net_sent: int
    net_recv: int
    n_pids: int


TRACE_FIELDS = ("seq", "condition", *Metrics._fields)

#: An idle machine, used by ``fixed`` when no values are given.
DEFAULT_FIXED = Metrics(
    cpu_percent=20.0, mem_percent=40.0, disk_percent=50.0, net_sent=0, net_recv=0, n_pids=200
)


class MetricsSource(Protocol):
    name: str

    def sample(self) -> Metrics: ...

    def describe(self) -> dict[str, object]: ...


class LiveSource:
    """psutil, as the original sampled: CPU %, memory %, disk % of ``disk_path``, net, pids."""

    name = "live"

    def __init__(self, cpu_interval: float = 0.1, disk_path: str | Path = ".") -> None:
        import psutil  # local: fixed/replay runs need no psutil call

        self._psutil = psutil
        self.cpu_interval = float(cpu_interval)
        self.disk_path = str(disk_path)
        if self.cpu_interval == 0:
            psutil.cpu_percent(interval=None)  # prime the non-blocking counter

    def sample(self) -> Metrics:
        ps = self._psutil
        cpu = ps.cpu_percent(interval=self.cpu_interval if self.cpu_interval > 0 else None)
        mem = ps.virtual_memory().percent
        disk = ps.disk_usage(self.disk_path).percent
        net = ps.net_io_counters()
        sent, recv = (net.bytes_sent, net.bytes_recv) if net is not None else (0, 0)
        return Metrics(float(cpu), float(mem), float(disk), int(sent), int(recv), len(ps.pids()))

    def describe(self) -> dict[str, object]:
        return {"source": "live", "cpu_interval": self.cpu_interval, "disk_path": self.disk_path}


class FixedSource:
    """Constant values. ``cpu_interval`` > 0 sleeps that long per sample, emulating the cost of the
    original blocking CPU sample (the values stay constant)."""

    name = "fixed"

    def __init__(self, values: Metrics = DEFAULT_FIXED, cpu_interval: float = 0.0) -> None:
        self.values = values
        self.cpu_interval = float(cpu_interval)

    def sample(self) -> Metrics:
        if self.cpu_interval > 0:
            time.sleep(self.cpu_interval)
        return self.values

    def describe(self) -> dict[str, object]:
        return {
            "source": "fixed",
            "values": self.values._asdict(),
            "cpu_interval": self.cpu_interval,
        }


class ReplaySource:
    """Feeds back a recorded ``metrics_trace.csv`` in order (optionally sleeping ``cpu_interval``).

    The trace is checked on load: a corrupt line is reported with its file and line number.
    Running past the end, or reaching a sample recorded for another condition, is an error
    (the trace was recorded with different parameters or another variant).
    """

    name = "replay"

    def __init__(self, path: str | Path, cpu_interval: float = 0.0, start: int = 0) -> None:
        self.path = Path(path)
        self.cpu_interval = float(cpu_interval)
        self.rows: list[tuple[str, Metrics]] = _read_trace(self.path)
        self.pos = start
        self.expected_condition: str | None = None

    def sample(self) -> Metrics:
        if self.pos >= len(self.rows):
            raise TraceError(
                f"{self.path}: trace exhausted after {len(self.rows)} samples; it was recorded "
                "with fewer cycles, another variant or other parameters than this run"
            )
        cond, m = self.rows[self.pos]
        if self.expected_condition is not None and cond != self.expected_condition:
            raise TraceError(
                f"{self.path}:{self.pos + 2}: sample recorded for condition {cond!r} but the run "
                f"is in condition {self.expected_condition!r}; the trace comes from a run with "
                "other parameters or another variant"
            )
        self.pos += 1
        if self.cpu_interval > 0:
            time.sleep(self.cpu_interval)
        return m

    def describe(self) -> dict[str, object]:
        return {
            "source": "replay",
            "path": str(self.path),
            "samples": len(self.rows),
            "cpu_interval": self.cpu_interval,
        }


class CycleReplaySource:
    """Feeds back a trace recorded with one sample per cycle, indexed by (condition, cycle).

    Used by the causal study (:mod:`nrm.study.sweep`) so that arms which take different numbers of
    samples (a sample per call or per cycle, recursive evolution or not) all see the same value
    in the same cycle: every sample taken in cycle ``k`` of a condition returns that condition's
    recorded row for cycle ``k``. The trace layout is the one a ``per_cycle`` run writes: per
    condition the set-up's two samples (baseline, root), then one sample per cycle. Before the
    first cycle the first set-up sample is returned once, then the second. A sample in a cycle
    the trace does not hold is an error (the trace is shorter than the run).
    """

    name = "cycle-replay"

    def __init__(self, path: str | Path, cpu_interval: float = 0.0) -> None:
        self.path = Path(path)
        self.cpu_interval = float(cpu_interval)
        self.by_condition: dict[str, list[Metrics]] = {}
        for cond, m in _read_trace(self.path):
            self.by_condition.setdefault(cond, []).append(m)
        self.condition: str | None = None
        self.cycle: int | None = None
        self._setup_taken = 0

    def bind(self, condition: str) -> None:
        """Start ``condition`` (called by :class:`nrm.sim.model.Reality`)."""
        if condition not in self.by_condition:
            raise TraceError(
                f"{self.path}: no samples recorded for condition {condition!r} "
                f"(the trace holds {', '.join(self.by_condition) or 'none'})"
            )
        self.condition = condition
        self.cycle = None
        self._setup_taken = 0

    def at_cycle(self, cycle: int) -> None:
        """Every later sample is the recorded one of ``cycle`` (until the next call)."""
        self.cycle = cycle

    def cycles_available(self, condition: str) -> int:
        return max(0, len(self.by_condition.get(condition, ())) - 2)

    def sample(self) -> Metrics:
        if self.condition is None:
            cond = next(iter(self.by_condition), None)
            if cond is None:
                raise TraceError(f"{self.path}: the trace holds no samples")
            self.bind(cond)
        rows = self.by_condition[self.condition]  # type: ignore[index]
        if self.cycle is None:
            idx = min(self._setup_taken, 1)
            self._setup_taken += 1
        else:
            idx = 2 + self.cycle
        if idx >= len(rows):
            raise TraceError(
                f"{self.path}: no sample for condition {self.condition!r} cycle {self.cycle} "
                f"(the trace holds {self.cycles_available(self.condition or '')} cycles); "
                "record a longer trace"
            )
        if self.cpu_interval > 0:
            time.sleep(self.cpu_interval)
        return rows[idx]

    def describe(self) -> dict[str, object]:
        return {
            "source": "cycle-replay",
            "path": str(self.path),
            "cycles": {c: self.cycles_available(c) for c in self.by_condition},
            "cpu_interval": self.cpu_interval,
        }


#: Columns of a trace holding a percentage (0-100) and a count (an integer >= 0).
PERCENT_FIELDS = ("cpu_percent", "mem_percent", "disk_percent")
COUNT_FIELDS = ("net_sent", "net_recv", "n_pids")


#: The largest count a trace may hold: what SQLite's INTEGER (and the run's counters) hold.
COUNT_MAX = 2**63 - 1


def _read_trace(path: Path) -> list[tuple[str, Metrics]]:
    """Read and check a whole trace: UTF-8 text, the header, then on every line a sequence
    number that counts from 0, a known condition, finite percentages within 0-100 and counts
    that are integers >= 0. Any problem is a :class:`TraceError` naming ``file:line``."""
    if not path.is_file():
        raise TraceError(
            f"{path}: no such metrics trace (expected a run's {path.name or 'metrics_trace.csv'})"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the metrics trace ({exc.strerror})") from None
    nl = b"\n"
    nul = data.find(b"\x00")
    if nul >= 0:
        raise TraceError(
            f"{path}:{data.count(nl, 0, nul) + 1}: binary data (a NUL byte); a metrics trace "
            "is the CSV text file metrics_trace.csv that nrm run writes"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(
            f"{path}:{data.count(nl, 0, exc.start) + 1}: not UTF-8 text (byte "
            f"0x{data[exc.start]:02x}); a metrics trace is the CSV text file that nrm run writes"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or tuple(header) != TRACE_FIELDS:
            shown = header if header is None else ",".join(header)[:80]
            raise TraceError(f"{path}:1: bad header {shown!r}; expected {','.join(TRACE_FIELDS)}")
        rows: list[tuple[str, Metrics]] = []
        conditions = frozenset(CONDITIONS)
        isfinite = math.isfinite
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(TRACE_FIELDS):
                raise TraceError(
                    f"{path}:{lineno}: expected {len(TRACE_FIELDS)} fields, found {len(row)} "
                    "(truncated or corrupt line)"
                )
            try:
                seq = int(row[0])
                m = Metrics(
                    float(row[2]),
                    float(row[3]),
                    float(row[4]),
                    int(row[5]),
                    int(row[6]),
                    int(row[7]),
                )
            except ValueError as exc:
                raise TraceError(f"{path}:{lineno}: not a number ({exc})") from None
            if seq != lineno - 2:
                raise TraceError(f"{path}:{lineno}: sequence number {seq}, expected {lineno - 2}")
            if row[1] not in conditions:
                raise TraceError(
                    f"{path}:{lineno}: unknown condition {row[1][:40]!r}; expected one of "
                    + ", ".join(CONDITIONS)
                )
            for name, value in zip(PERCENT_FIELDS, m[:3], strict=True):
                if not (isfinite(value) and 0.0 <= value <= 100.0):
                    raise TraceError(
                        f"{path}:{lineno}: {name} {value!r} is not a percentage (0-100)"
                    )
            for name, count in zip(COUNT_FIELDS, m[3:], strict=True):
                if count < 0:
                    raise TraceError(f"{path}:{lineno}: {name} {count} is negative")
                if count > COUNT_MAX:
                    raise TraceError(f"{path}:{lineno}: {name} {count} is larger than a "
                                     f"64-bit counter holds ({COUNT_MAX})")
            rows.append((row[1], m))
    except csv.Error as exc:
        raise TraceError(f"{path}:{reader.line_num}: not a CSV line ({exc})") from None
    if not rows:
        raise TraceError(f"{path}: holds no samples (only a header)")
    return rows


def check_trace_plan(
    path: str | Path,
    rows: list[tuple[str, Metrics]],
    *,
    conditions: tuple[str, ...],
    cycles: int,
    sampling: str,
) -> None:
    """Check, before a run starts, that a trace can feed every planned cycle.

    The trace must hold the run's conditions, in the run's order, one block each. With
    ``per_cycle`` sampling a condition takes exactly 2 samples at set-up and one a cycle, so
    each block must hold ``cycles + 2``; with ``per_call`` the number depends on the dynamics,
    so only the minimum (3) is checked here and a trace that runs out later stops the run with
    a :class:`TraceError`.
    """
    blocks: list[tuple[str, int, int]] = []  # condition, samples, first line
    for i, (cond, _) in enumerate(rows):
        if blocks and blocks[-1][0] == cond:
            blocks[-1] = (cond, blocks[-1][1] + 1, blocks[-1][2])
        else:
            blocks.append((cond, 1, i + 2))
    planned = list(conditions)
    recorded = [b[0] for b in blocks]
    if recorded != planned:
        raise TraceError(
            f"{path}: recorded for conditions {recorded} (in that order), but this run plans "
            f"{planned}; replay a trace recorded with the same conditions"
        )
    for cond, n, line in blocks:
        if sampling == "per_cycle":
            need = cycles + 2
            if n != need:
                what = "too short for" if n < need else "longer than"
                raise TraceError(
                    f"{path}:{line}: {n} samples for {cond}, {what} the {cycles} planned cycles "
                    f"(per_cycle sampling takes {need}: 2 at set-up, 1 a cycle); it was "
                    "recorded with other cycles or another variant"
                )
        elif n < 3:
            raise TraceError(
                f"{path}:{line}: {n} samples for {cond}; a condition takes at least 3 (2 at "
                "set-up, 1 in its first cycle)"
            )


class TraceWriter:
    """Appends every sample fed to the model to ``metrics_trace.csv`` (flushed on demand).

    Like :class:`~nrm.instrument.runlog.CycleLog`, each flush is one append; a failed write is cut
    back
    to the last whole line and raised as a :class:`StorageError` naming the file.
    """

    def __init__(self, path: str | Path, start: int = 0) -> None:
        self.path = Path(path)
        try:
            self._fd: int | None = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
            )
        except OSError as exc:
            raise storage_error(self.path, exc) from exc
        self.seq = start
        self._buf: list[str] = []
        if os.fstat(self._fd).st_size == 0:
            self._append((",".join(TRACE_FIELDS) + "\n").encode())

    def write(self, condition: str, m: Metrics) -> None:
        self._buf.append(
            f"{self.seq},{condition},{m.cpu_percent!r},{m.mem_percent!r},{m.disk_percent!r},"
            f"{m.net_sent},{m.net_recv},{m.n_pids}\n"
        )
        self.seq += 1

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        append_whole(self._fd, data, self.path)

    def flush(self) -> None:
        if self._buf and self._fd is not None:
            self._append("".join(self._buf).encode())
            self._buf.clear()

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = None

    def abort(self) -> None:
        """Close without writing the buffered samples (never raises)."""
        self._buf.clear()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def truncate_trace(path: str | Path, keep: int) -> None:
    """Keep the header and the first ``keep`` samples of a trace (used by resume)."""
    from nrm.atomic import atomic_write_text

    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if len(lines) - 1 < keep:
        raise TraceError(f"{path}: holds {len(lines) - 1} samples, the checkpoint needs {keep}")
    atomic_write_text(path, "".join(lines[: keep + 1]))


def parse_source_spec(spec: str) -> tuple[str, str | None]:
    """``live`` | ``fixed`` | ``replay:PATH`` | ``cycle-replay:PATH`` -> (kind, path)."""
    if spec in ("live", "fixed"):
        return spec, None
    for kind in ("replay", "cycle-replay"):
        if spec.startswith(kind + ":") and len(spec) > len(kind) + 1:
            return kind, spec[len(kind) + 1 :]
    raise ParameterError(
        f"unknown metrics source {spec!r}; valid: live, fixed, replay:PATH, cycle-replay:PATH"
    )


def make_source(spec: str, *, cpu_interval: float, disk_path: str | Path) -> MetricsSource:
    kind, path = parse_source_spec(spec)
    if kind == "live":
        return LiveSource(cpu_interval=cpu_interval, disk_path=disk_path)
    if kind == "fixed":
        return FixedSource(cpu_interval=cpu_interval)
    assert path is not None
    p = Path(path)
    if p.is_dir():
        p = p / paths.TRACE_CSV
    if kind == "cycle-replay":
        return CycleReplaySource(p, cpu_interval=cpu_interval)
    return ReplaySource(p, cpu_interval=cpu_interval)
