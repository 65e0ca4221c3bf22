"""The original model's SQLite persistence: one connection, one insert, one commit per row.

This is deliberately slow: it is one of the costs the paper's runs paid and the compendium
studies. ``workspace.db`` holds ``system_metrics`` (no index, as the original); ``bridge.db``
holds ``phase_transformations`` and ``resonance_events``, each with a timestamp index (every
insert also updates a B-tree). Both live in the run folder and are shared by its conditions.
:class:`NullPersistence` is the switch turned off. Both count commits and the time spent.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
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
        for table, which in TABLES.items():
            db = self.workspace if which == "workspace" else self.bridge
            con = sqlite3.connect(db)
            try:
                counts[table] = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
        return counts

    def truncate(self, counts: dict[str, int]) -> None:
        """Drop rows written after a checkpoint (resume): keep the first ``counts[table]`` rows."""
        for table, keep in counts.items():
            db = self.workspace if TABLES[table] == "workspace" else self.bridge
            try:
                con = sqlite3.connect(db)
                try:
                    con.execute(
                        f"DELETE FROM {table} WHERE id NOT IN "
                        f"(SELECT id FROM {table} ORDER BY id LIMIT ?)",
                        (keep,),
                    )
                    con.commit()
                finally:
                    con.close()
            except sqlite3.OperationalError as exc:
                raise storage_error(db, exc) from exc

    def __getstate__(self) -> dict[str, object]:
        return self.__dict__.copy()
