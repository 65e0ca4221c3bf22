"""Commit latency against database size, one repeat of the curve (issue #23, H3).

H3 says the paper's runs slowed because their I/O accumulated. The long arms measure the
drift of a commit's latency over a run whose databases stay small (tens of MiB); the paper's
full C256 run wrote about 3.5 GB of rows. This module measures what a commit costs as the
databases grow to that size: it grows a folder's ``workspace.db`` and ``bridge.db`` (the
model's schema, :class:`nrm.sim.persistence.SqlitePersistence`) in steps, in the model's row
mix, and at each checkpoint times a batch of the model's own per-row commits (the same
persistence methods the faithful model calls: one connect + insert + commit + close per row).

Growth between checkpoints is bulk (:func:`nrm.run.dbgrow.insert_rows`: rows generated inside
SQLite, one transaction, journal and fsync off for that connection), so a 3.5 GB database takes
minutes, not the paper's 34 hours; only the timed commits use SQLite's defaults. Before each
batch the caller's ``settle`` (the study's :func:`nrm.study.settle.settle_disk`) lets the
kernel write the growth back, so the batch times a commit at that size, not the write-back of
the bulk insert. Each checkpoint records the kernel's ``Dirty`` and ``Writeback`` before the
settle, at the batch's start and at its end.

:func:`measure_repeat` is one repeat in one process; the study's :mod:`nrm.study.dbcurve`
starts a fresh process per repeat, checks the space first and writes the tables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nrm.exceptions import ParameterError
from nrm.run.dbgrow import insert_rows
from nrm.sim.metrics import Metrics
from nrm.sim.model import DEFAULT_CYCLES, DEFAULT_SEED
from nrm.sim.persistence import TABLES, SqlitePersistence

__all__ = ["BATCH", "DEFAULT_CHECKPOINTS_MB", "MEMINFO", "batch_schedule", "checkpoints",
           "measure_repeat", "meminfo_kib"]

#: The checkpoints of a full curve, MiB of both databases together (the lead's plan: up to the
#: size the paper's full C256 run reaches, about 3.5 GB).
DEFAULT_CHECKPOINTS_MB: tuple[float, ...] = (0, 50, 100, 250, 500, 1000, 2000, 3500)
#: Commits timed at each checkpoint.
BATCH = 500
#: The size the paper's full C256 run's databases reach, MiB (issue #23: "about 3.5 GB"; the
#: curve's summary also gives the size the full run's row counts imply at its bytes per row).
#: Here, not in :mod:`nrm.study.dbcurve_analysis`, so that ``nrm dbcurve``'s parser can name it
#: without importing the statistics.
FULL_RUN_MB = 3500.0
#: Cycles of the paper's full run (3000 cycles x 100 agents): the model's own default.
FULL_RUN_CYCLES = DEFAULT_CYCLES
#: Untimed commits before each batch (the first commits after a settle or a process start warm
#: SQLite's and the kernel's caches; the model commits continuously).
WARMUP = 10
#: A checkpoint is reached when both files hold at least this fraction of it.
REACHED = 0.99
#: Rows per bulk insert at most (a progress update each; ~10-60 MiB of rows).
CHUNK_ROWS = 500_000
#: Bytes per row before the first chunk has measured it (both tables' rows with the index).
FIRST_GUESS_BYTES_PER_ROW = 80.0
MEMINFO = Path("/proc/meminfo")


def checkpoints(to_mb: float, given: Sequence[float] | None = None) -> tuple[float, ...]:
    """The checkpoint sizes (MiB) of a curve up to ``to_mb``: ``given`` (sorted, each in
    [0, to_mb]) or :data:`DEFAULT_CHECKPOINTS_MB` below ``to_mb``, then ``to_mb``; a curve
    with fewer than 4 points that way gets 5 evenly spaced ones from 0."""
    if isinstance(to_mb, bool) or not isinstance(to_mb, int | float) or not to_mb > 0 \
            or not np.isfinite(to_mb):
        raise ParameterError(f"--to-mb must be a number of MiB > 0, got {to_mb!r}")
    if given is not None:
        pts = sorted(float(x) for x in given)
        if not pts or pts[0] < 0 or pts[-1] > to_mb or len(set(pts)) != len(pts):
            raise ParameterError(
                f"checkpoints must be distinct sizes in [0, {to_mb:g}] MiB, got {list(given)}")
        if len(pts) < 3:
            raise ParameterError(f"a curve needs at least 3 checkpoints, got {len(pts)}")
        return tuple(pts)
    pts = [float(x) for x in DEFAULT_CHECKPOINTS_MB if x < to_mb] + [float(to_mb)]
    if len(pts) < 4:
        pts = [round(float(x), 3) for x in np.linspace(0.0, to_mb, 5)]
    return tuple(pts)


def batch_schedule(mix: Mapping[str, float], n: int) -> list[str]:
    """``n`` table names in the proportions of ``mix`` (largest remainder), spread evenly
    through the batch (each table's commits at equal spacing, merged by position): the
    order the model interleaves them in, to the batch's resolution."""
    if n < 1:
        raise ParameterError(f"a batch needs at least 1 commit, got {n}")
    unknown = set(mix) - set(TABLES)
    if unknown or not mix or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ParameterError(f"mix must give shares >= 0 of {sorted(TABLES)}, got {dict(mix)}")
    total = sum(mix.values())
    exact = {t: n * v / total for t, v in mix.items()}
    counts = {t: int(np.floor(x)) for t, x in exact.items()}
    for t in sorted(exact, key=lambda t: counts[t] - exact[t])[: n - sum(counts.values())]:
        counts[t] += 1
    slots = [((i + 0.5) / k, t) for t, k in counts.items() for i in range(k)]
    return [t for _, t in sorted(slots)]


def meminfo_kib(meminfo: Path = MEMINFO) -> dict[str, int | None]:
    """The kernel's ``Dirty`` and ``Writeback`` (KiB; None where /proc/meminfo is unreadable)."""
    out: dict[str, int | None] = {"Dirty": None, "Writeback": None}
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in out:
            out[key] = int(rest.split()[0])
    return out


class _Grower:
    """Grows a folder's two databases in the model's row mix, numbering rows on from the last
    chunk (timestamps rise through the whole curve, as a run's would)."""

    def __init__(self, pers: SqlitePersistence, mix: Mapping[str, float], seed: int) -> None:
        total = sum(mix.values())
        self.pers = pers
        self.mix = {t: v / total for t, v in mix.items() if v > 0}
        self.seed = seed
        self.t0 = time.time() - 10 * 86_400.0  # before the timed commits' own timestamps
        self.rows = {t: 0 for t in TABLES}
        self.grown_bytes = 0
        self.grown_rows = 0

    def _db(self, table: str) -> Path:
        return self.pers.workspace if TABLES[table] == "workspace" else self.pers.bridge

    def grow_to(self, target: int, tick: Callable[[int], None] | None = None) -> tuple[int, float]:
        """Insert rows until both files hold ``REACHED * target`` bytes; (rows, seconds)."""
        t_start = time.perf_counter()
        added = 0
        while (size := self.pers.db_bytes()) < REACHED * target:
            per_row = (self.grown_bytes / self.grown_rows if self.grown_rows
                       else FIRST_GUESS_BYTES_PER_ROW)
            n = int(min(CHUNK_ROWS, max(1000, (target - size) / max(per_row, 10.0))))
            chunk = 0
            for table, share in self.mix.items():
                k = max(1, round(n * share)) if share >= 0.01 else round(n * share)
                if k:
                    insert_rows(self._db(table), table, k, self.rows[table], self.t0, self.seed)
                    self.rows[table] += k
                    chunk += k
            after = self.pers.db_bytes()
            added += chunk
            self.grown_bytes += after - size
            self.grown_rows += chunk
            if tick is not None:
                tick(after - size)
        return added, time.perf_counter() - t_start


def _metrics(rng: np.random.Generator) -> Metrics:
    return Metrics(cpu_percent=float(rng.uniform(0, 100)), mem_percent=float(rng.uniform(20, 80)),
                   disk_percent=float(rng.uniform(30, 70)), net_sent=int(rng.integers(1e6, 1e9)),
                   net_recv=int(rng.integers(1e6, 1e9)), n_pids=int(rng.integers(100, 600)))


def _agent(rng: np.random.Generator) -> str:
    return f"root_child_{int(rng.integers(0, 3000))}_child_{int(rng.integers(0, 3000))}"


def _time_batch(pers: SqlitePersistence, schedule: Sequence[str],
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seconds per commit, by table: each commit through the model's own persistence method."""
    secs: dict[str, list[float]] = {t: [] for t in TABLES}
    for table in schedule:
        m = _metrics(rng)
        if table == "system_metrics":
            t0 = time.perf_counter()
            pers.sample(m)
        elif table == "resonance_events":
            a, b, s = _agent(rng), _agent(rng), float(rng.uniform(-1, 1))
            t0 = time.perf_counter()
            pers.resonance(a, b, s, s >= 0.7)
        else:
            phases = (float(rng.uniform(0, 6.28)), float(rng.uniform(0, 5.28)),
                      float(rng.uniform(0, 4.18)))
            t0 = time.perf_counter()
            pers.phase(_agent(rng), phases, float(rng.uniform(0, 9)), m)
        secs[table].append(time.perf_counter() - t0)
    return {t: np.asarray(v, dtype=float) for t, v in secs.items()}


def _ms(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q) * 1000) if values.size else float("nan")


def measure_repeat(folder: str | Path, sizes_mb: Sequence[float], *,
                   mix: Mapping[str, float], batch: int = BATCH, seed: int = DEFAULT_SEED,
                   settle: Callable[[], Mapping[str, Any]] | None = None,
                   progress: bool = False, label: str = "") -> list[dict[str, Any]]:
    """One repeat of the curve in ``folder`` (empty or missing; the databases are created
    there): for each size in ``sizes_mb`` (rising) grow the databases to it, ``settle()``,
    then time ``batch`` commits (after :data:`WARMUP` untimed ones) in the proportions of
    ``mix`` (rows per table, e.g. the full C256 run's). One row per checkpoint: size, grow
    time and rate, median / p90 / mean latency (ms) overall and per table, the kernel's dirty
    and writeback pages, the settle.
    Leaves the databases in ``folder`` (the caller removes them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.glob("*.db")):
        raise ParameterError(f"{folder}: already holds databases; a curve starts empty")
    sizes = [float(x) for x in sizes_mb]
    if sizes != sorted(sizes):
        raise ParameterError(f"checkpoint sizes must rise, got {sizes}")
    rng = np.random.default_rng(seed)
    pers = SqlitePersistence(folder)
    grower = _Grower(pers, mix, seed)
    schedule = batch_schedule(mix, batch)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(sizes[-1], 1), unit="MiB", desc=f"dbcurve {label}".strip(),
                   mininterval=0.5, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} MiB "
                   "[{elapsed}<{remaining}]")
    rows: list[dict[str, Any]] = []
    try:
        for cp in sizes:
            added, grow_s = grower.grow_to(
                int(cp * 2**20),
                (lambda b: bar.update(min(b / 2**20, bar.total - bar.n))) if bar else None)
            before = meminfo_kib()
            settled = dict(settle()) if settle is not None else {}
            _time_batch(pers, schedule[:WARMUP], rng)
            start = meminfo_kib()
            t_batch = time.perf_counter()
            secs = _time_batch(pers, schedule, rng)
            batch_s = time.perf_counter() - t_batch
            end = meminfo_kib()
            every = np.concatenate([v for v in secs.values() if v.size])
            row: dict[str, Any] = {
                "checkpoint_mb": cp,
                "db_bytes": pers.db_bytes(),
                "workspace_bytes": pers.workspace.stat().st_size,
                "bridge_bytes": pers.bridge.stat().st_size,
                "rows_grown": sum(grower.rows.values()),
                "grow_rows": added,
                "grow_s": round(grow_s, 4),
                "grow_rows_per_s": round(added / grow_s, 1) if added and grow_s > 0 else None,
                "warmup_commits": min(WARMUP, len(schedule)),
                "commits": int(every.size),
                "median_ms": _ms(every, 0.5),
                "p90_ms": _ms(every, 0.9),
                "mean_ms": float(every.mean() * 1000),
                "batch_s": round(batch_s, 4),
                "dirty_kib_before": before["Dirty"], "writeback_kib_before": before["Writeback"],
                "dirty_kib_start": start["Dirty"], "writeback_kib_start": start["Writeback"],
                "dirty_kib_end": end["Dirty"], "writeback_kib_end": end["Writeback"],
                "settle_wait_s": settled.get("wait_s"), "settled": settled.get("settled"),
                "pid": os.getpid(),
            }
            for table, v in secs.items():
                row[f"commits_{table}"] = int(v.size)
                row[f"median_ms_{table}"] = _ms(v, 0.5)
            rows.append(row)
            if bar is not None:
                bar.set_postfix_str(f"{row['median_ms']:.3f} ms/commit", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return rows
