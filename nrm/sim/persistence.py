"""The original model's SQLite persistence: one connection, one insert, one commit per row.

This is deliberately slow: it is one of the costs the paper's runs paid and the compendium
studies. ``workspace.db`` holds ``system_metrics`` (no index, as the original); ``bridge.db``
holds ``phase_transformations`` and ``resonance_events``, each with a timestamp index (every
insert also updates a B-tree). Both live in the run folder and are shared by its conditions.
:class:`NullPersistence` is the switch turned off. Both count commits and the time spent.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from nrm import paths
from nrm.atomic import storage_error
from nrm.sim.metrics import Metrics

_WORKSPACE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS system_metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "timestamp REAL, cpu_percent REAL, memory_percent REAL, disk_percent REAL, "
    "net_bytes_sent INTEGER, net_bytes_recv INTEGER, process_count INTEGER)",
)
_BRIDGE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS phase_transformations (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "timestamp REAL, agent_id TEXT, pi_phase REAL, e_phase REAL, phi_phase REAL, magnitude REAL, "
    "cpu_percent REAL, memory_percent REAL, disk_percent REAL)",
    "CREATE INDEX IF NOT EXISTS idx_phase_ts ON phase_transformations(timestamp)",
    "CREATE TABLE IF NOT EXISTS resonance_events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "timestamp REAL, agent_a TEXT, agent_b TEXT, similarity REAL, resonant INTEGER)",
    "CREATE INDEX IF NOT EXISTS idx_resonance_ts ON resonance_events(timestamp)",
)
TABLES = {
    "system_metrics": "workspace",
    "phase_transformations": "bridge",
    "resonance_events": "bridge",
}


class NullPersistence:
    """Persistence switched off: nothing is written."""

    enabled = False

    def __init__(self) -> None:
        self.commits = 0
        self.commit_s = 0.0

    def sample(self, m: Metrics) -> None:
        return None

    def phase(
        self, agent_id: str, phases: tuple[float, float, float], magnitude: float, m: Metrics
    ) -> None:
        return None

    def resonance(self, a: str, b: str, similarity: float, resonant: bool) -> None:
        return None

    def db_bytes(self) -> int:
        return 0

    def row_counts(self) -> dict[str, int]:
        return {}


class CountingPersistence(NullPersistence):
    """Stands in for :class:`SqlitePersistence`: counts the rows a faithful run would commit
    and writes nothing (the estimates of ``nrm plan`` and the counting runs of ``nrm predict``)."""

    def sample(self, m: Metrics) -> None:
        self.commits += 1

    def phase(
        self, agent_id: str, phases: tuple[float, float, float], magnitude: float, m: Metrics
    ) -> None:
        self.commits += 1

    def resonance(self, a: str, b: str, similarity: float, resonant: bool) -> None:
        self.commits += 1


class SqlitePersistence:
    """One new connection + insert + commit + close per row, as the original code did."""

    enabled = True

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.workspace = folder / paths.WORKSPACE_DB
        self.bridge = folder / paths.BRIDGE_DB
        for db, schema in ((self.workspace, _WORKSPACE_SCHEMA), (self.bridge, _BRIDGE_SCHEMA)):
            try:
                con = sqlite3.connect(db)
                try:
                    for stmt in schema:
                        con.execute(stmt)
                    con.commit()
                finally:
                    con.close()
            except sqlite3.OperationalError as exc:  # full disk, read-only, no permission
                raise storage_error(db, exc) from exc
        self.commits = 0
        self.commit_s = 0.0

    def _commit_row(self, db: Path, sql: str, params: tuple[object, ...]) -> None:
        t0 = time.perf_counter()
        try:
            con = sqlite3.connect(db)
            try:
                con.execute(sql, params)
                con.commit()
            finally:
                con.close()
        except sqlite3.OperationalError as exc:  # full disk, read-only, no permission
            raise storage_error(db, exc) from exc
        self.commit_s += time.perf_counter() - t0
        self.commits += 1

    def sample(self, m: Metrics) -> None:
        self._commit_row(
            self.workspace,
            "INSERT INTO system_metrics (timestamp, cpu_percent, memory_percent, disk_percent, "
            "net_bytes_sent, net_bytes_recv, process_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                m.cpu_percent,
                m.mem_percent,
                m.disk_percent,
                m.net_sent,
                m.net_recv,
                m.n_pids,
            ),
        )

    def phase(
        self, agent_id: str, phases: tuple[float, float, float], magnitude: float, m: Metrics
    ) -> None:
        self._commit_row(
            self.bridge,
            "INSERT INTO phase_transformations (timestamp, agent_id, pi_phase, e_phase, phi_phase, "
            "magnitude, cpu_percent, memory_percent, disk_percent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                agent_id,
                *phases,
                magnitude,
                m.cpu_percent,
                m.mem_percent,
                m.disk_percent,
            ),
        )

    def resonance(self, a: str, b: str, similarity: float, resonant: bool) -> None:
        self._commit_row(
            self.bridge,
            "INSERT INTO resonance_events (timestamp, agent_a, agent_b, similarity, resonant) "
            "VALUES (?, ?, ?, ?, ?)",
            (time.time(), a, b, similarity, int(resonant)),
        )

    def db_bytes(self) -> int:
        total = 0
        for p in (self.workspace, self.bridge):
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def row_counts(self) -> dict[str, int]:
        counts = {}
        for table in TABLES:
            db = self._db(table)
            con = sqlite3.connect(db)
            try:
                counts[table] = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
        return counts

    def rollback_to(self, counts: dict[str, int], *, leading: dict[str, int] | None = None) -> None:
        """Put both databases back to the state they had at a checkpoint that held
        ``counts[table]`` rows (resume), byte for byte: ids, ``sqlite_sequence`` and page count
        included, so the run goes on as if it had never been stopped.

        A ``DELETE`` of the later rows would leave their pages on the free list (the file keeps
        its size, so ``db_bytes`` differs) and ``sqlite_sequence`` at the highest id given (a
        gap in the ids). Instead each database is rebuilt beside itself from its kept rows, in
        the order they were first inserted: ``leading[table]`` rows of each table first, table
        by table (the pre-grown rows, :mod:`nrm.run.dbgrow`), then all tables' rows merged by
        timestamp (they were committed in that order); the file's change counter is set back by
        one per dropped row (each was one commit) and the copy replaces the database
        atomically. SQLite's B-tree operations depend only on this sequence of inserts, not on
        how they were grouped into transactions, so the copy equals the file at the checkpoint.
        A database with nothing to drop is left untouched."""
        for db, schema in ((self.workspace, _WORKSPACE_SCHEMA), (self.bridge, _BRIDGE_SCHEMA)):
            keep = {t: n for t, n in counts.items() if self._db(t) == db}
            if keep:
                _rollback(db, schema, keep, leading or {})

    def _db(self, table: str) -> Path:
        return self.workspace if TABLES[table] == "workspace" else self.bridge

    def __getstate__(self) -> dict[str, object]:
        return self.__dict__.copy()


#: Offsets of the file change counter and of its copy, "version-valid-for", in the header.
_CHANGE_COUNTER, _VALID_FOR = 24, 92


def _rollback(
    db: Path, schema: tuple[str, ...], keep: dict[str, int], leading: dict[str, int]
) -> None:
    """Rebuild ``db`` holding the first ``keep[table]`` rows of each table (see
    :meth:`SqlitePersistence.rollback_to`)."""
    tmp = db.with_name(f".{db.name}.rollback.tmp")
    try:
        src = sqlite3.connect(db)  # a hot journal left by a kill is rolled back here
        try:
            held = {t: src.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in keep}
            dropped = sum(held[t] - min(n, held[t]) for t, n in keep.items())
            if not dropped:
                return
            counter = max(0, _read_counter(db) - dropped)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                dst.execute("PRAGMA journal_mode=OFF")  # a scratch copy: no journal, no fsync
                dst.execute("PRAGMA synchronous=OFF")
                for stmt in schema:  # one transaction each, as SqlitePersistence() made them
                    dst.execute(stmt)
                dst.execute("BEGIN")
                for sql, row in _rows_in_insert_order(src, keep, leading):
                    dst.execute(sql, row)
                dst.execute("COMMIT")
            finally:
                dst.close()
        finally:
            src.close()
        with tmp.open("r+b") as fh:
            for offset in (_CHANGE_COUNTER, _VALID_FOR):
                fh.seek(offset)
                fh.write(counter.to_bytes(4, "big"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, db)
    except (sqlite3.Error, OSError) as exc:  # full disk, read-only, no permission
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise storage_error(db, exc) from exc


def _read_counter(db: Path) -> int:
    with db.open("rb") as fh:
        fh.seek(_CHANGE_COUNTER)
        return int.from_bytes(fh.read(4), "big")


def _rows_in_insert_order(
    src: sqlite3.Connection, keep: dict[str, int], leading: dict[str, int]
) -> Iterator[tuple[str, tuple[object, ...]]]:
    """``(INSERT statement, row)`` for the first ``keep[table]`` rows of each table, ids
    included, in the order they were inserted (see :meth:`SqlitePersistence.rollback_to`)."""
    cursors: dict[str, Iterator[tuple[object, ...]]] = {}
    inserts: dict[str, str] = {}
    stamp: dict[str, int] = {}
    for table, n in keep.items():
        cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
        inserts[table] = (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        )
        stamp[table] = cols.index("timestamp")
        cursors[table] = src.cursor().execute(f"SELECT * FROM {table} ORDER BY id LIMIT ?", (n,))
    for table, n in leading.items():
        if table in cursors:
            for row in itertools.islice(cursors[table], n):
                yield inserts[table], row

    def tagged(table: str) -> Iterator[tuple[float, str, tuple[object, ...]]]:
        at, sql = stamp[table], inserts[table]
        return ((row[at], sql, row) for row in cursors[table])  # type: ignore[misc]

    for _, sql, row in heapq.merge(*map(tagged, cursors), key=lambda x: x[0]):
        yield sql, row
