"""Database-growth arm: pre-grow a run's SQLite databases, and per-commit latency vs size.

The competing explanation of the unoptimized runs' growing per-cycle time is that their
databases grow: every sample, phase transformation and pair test is a row committed to
``workspace.db`` / ``bridge.db`` in the run folder. To separate database size from everything
else a long run accumulates, :func:`pregrow` fills the run's databases to a requested size
before the first cycle, quickly (rows shaped like the model's, inserted in bulk in one
transaction, generated inside SQLite by a recursive CTE, with the journal and fsync off for
that connection only), instead of
by running cycles. The model's own commits that follow use SQLite's defaults as always.

The bytes are split like the model's own growth in the faithful runs: half into
``workspace.db`` (``system_metrics``, one row per metrics sample), half into ``bridge.db``
(nine tenths ``resonance_events``, one row per pair tested, with its timestamp index; one tenth
``phase_transformations``, one row per spawn). Timestamps lie before the run's start, in
order, as if an earlier run had written them.

Per-commit latency: the runner already records, per cycle, ``commits``, ``commit_s`` (time in
connect + insert + commit + close) and ``db_bytes`` (both files); :func:`commit_latency`
reduces a run to latency against database size.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from nrm.exceptions import ParameterError
from nrm.sim.model import DEFAULT_SEED
from nrm.sim.persistence import SqlitePersistence

#: (database, table, share of the requested bytes)
SHARES: tuple[tuple[str, str, float], ...] = (
    ("workspace", "system_metrics", 0.5),
    ("bridge", "resonance_events", 0.45),
    ("bridge", "phase_transformations", 0.05),
)
#: the pre-grown size must be within this fraction of the request (tests check it)
TOLERANCE = 0.05
_BATCH = 20_000


#: Row generators inside SQLite (a recursive CTE: no Python objects per row), values of the
#: model's types and ranges from a multiplicative hash of the row number (deterministic).
_H = "((c.i * 2654435761 + :seed) % 1000003)"
_SELECT = {
    "system_metrics": (
        "INSERT INTO system_metrics (timestamp, cpu_percent, memory_percent, disk_percent, "
        "net_bytes_sent, net_bytes_recv, process_count) "
        "SELECT :t0 + c.i * 1e-3, ({h} % 1000) / 10.0, 20 + ({h} % 600) / 10.0, "
        "30 + ({h} % 400) / 10.0, 1000000 + {h} * 7919, 1000000 + {h} * 104729, 100 + {h} % 500 "
        "FROM c"
    ),
    "resonance_events": (
        "INSERT INTO resonance_events (timestamp, agent_a, agent_b, similarity, resonant) "
        "SELECT :t0 + c.i * 1e-3, 'root_child_' || (c.i % 3000) || '_child_' || "
        "((c.i * 7) % 3000), 'root_child_' || ((c.i * 13) % 3000), ({h} % 2000) / 1000.0 - 1.0, "
        "({h} % 100) >= 85 FROM c"
    ),
    "phase_transformations": (
        "INSERT INTO phase_transformations (timestamp, agent_id, pi_phase, e_phase, phi_phase, "
        "magnitude, cpu_percent, memory_percent, disk_percent) "
        "SELECT :t0 + c.i * 1e-3, 'root_child_' || (c.i % 3000) || '_child_' || "
        "((c.i * 7) % 3000), ({h} % 6283) / 1000.0, ({h} % 5281) / 1000.0, "
        "({h} % 4177) / 1000.0, ({h} % 9000) / 1000.0, ({h} % 1000) / 10.0, "
        "20 + ({h} % 600) / 10.0, 30 + ({h} % 400) / 10.0 FROM c"
    ),
}


def insert_rows(db: Path, table: str, n: int, start: int, t0: float, seed: int) -> None:
    """Insert ``n`` rows numbered from ``start`` into ``table`` in one transaction (journal and
    fsync off for this connection only; timestamps ``t0 + i / 1000``). Also used by the
    commit-latency curve (:mod:`nrm.run.dbcurve`), which grows a database in steps."""
    sql = (
        "WITH RECURSIVE c(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM c WHERE i < :stop) "
        + _SELECT[table].format(h=_H)
    )
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")  # this connection only (not WAL: not persistent)
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        con.execute(sql, {"start": start, "stop": start + n - 1, "t0": t0, "seed": seed})
        con.execute("COMMIT")
    finally:
        con.close()


def check_megabytes(megabytes: Any) -> float:
    """A requested size in MiB: a number >= 0 (0 = leave the databases empty)."""
    if isinstance(megabytes, bool) or not isinstance(megabytes, int | float):
        raise ParameterError(f"pregrow_db_mb must be a number of MiB, got {megabytes!r}")
    if not megabytes >= 0 or megabytes > 1_000_000:
        raise ParameterError(f"pregrow_db_mb must be in [0, 1e6] MiB, got {megabytes!r}")
    return float(megabytes)


def pregrow(folder: str | Path, megabytes: float, *, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Fill ``folder``'s ``workspace.db`` and ``bridge.db`` (created when missing, with the
    model's schema) until together they hold ``megabytes`` MiB (within :data:`TOLERANCE`).

    Writes nothing outside ``folder``. Returns what was done (recorded in run.json):
    requested and reached bytes, rows per table, seconds taken.
    """
    megabytes = check_megabytes(megabytes)
    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"{folder}: not a folder; pre-grow the databases of a run folder")
    t_start = time.perf_counter()
    pers = SqlitePersistence(folder)  # creates both files with the model's schema
    files = {"workspace": pers.workspace, "bridge": pers.bridge}
    target = int(megabytes * 2**20)
    t0 = time.time() - 86_400.0  # a day before now: earlier rows than the run's own
    rows_done: dict[str, int] = {table: 0 for _, table, _ in SHARES}
    if target > pers.db_bytes():
        # bytes each table should add; its own rows' size measured on a first batch
        base = {name: p.stat().st_size for name, p in files.items()}
        by_table: dict[str, int] = {}
        for _db, table, share in SHARES:
            by_table[table] = int(share * max(0, target - sum(base.values())))
        for db, table, _ in SHARES:
            want = by_table[table]
            path = files[db]
            size0 = path.stat().st_size
            n = min(_BATCH, max(100, want // 100))
            insert_rows(path, table, n, rows_done[table], t0, seed)
            rows_done[table] += n
            grown = path.stat().st_size - size0
            per_row = max(grown / n, 10.0)
            while path.stat().st_size - size0 < want * (1 - TOLERANCE / 4):
                left = want - (path.stat().st_size - size0)
                n = max(100, int(left / per_row))
                n = min(n, 5_000_000)
                insert_rows(path, table, n, rows_done[table], t0, seed)
                rows_done[table] += n
    reached = pers.db_bytes()
    return {
        "requested_bytes": target,
        "reached_bytes": reached,
        "rows": rows_done,
        "files": {name: p.stat().st_size for name, p in files.items()},
        "seconds": time.perf_counter() - t_start,
        "seed": seed,
    }


def commit_latency(run: Any, *, bins: int = 10) -> dict[str, Any]:
    """Per-commit latency against database size for one run (a path or RunData).

    Returns the overall mean latency (ms per commit), the database size at the start and end,
    and ``bins`` equal-count bins of cycles with their mean size and latency, plus the slope
    of latency on size (ms per MiB, ordinary least squares over cycles with commits).
    """
    from nrm.instrument.reader import RunData, load_run

    data = run if isinstance(run, RunData) else load_run(run)
    df = data.cycles
    if "commits" not in df or "commit_s" not in df:
        raise ParameterError(f"{data.name}: no commits/commit_s columns (was SQLite on?)")
    commits = df["commits"].to_numpy(dtype=float, na_value=np.nan)
    secs = df["commit_s"].to_numpy(dtype=float, na_value=np.nan)
    size = (
        df["db_bytes"].to_numpy(dtype=float, na_value=np.nan)
        if "db_bytes" in df
        else np.full(len(df), np.nan)
    )
    ok = np.isfinite(commits) & (commits > 0) & np.isfinite(secs)
    out: dict[str, Any] = {
        "run": data.name,
        "commits": int(np.nansum(commits[ok])),
        "mean_ms": float(secs[ok].sum() / commits[ok].sum() * 1000) if ok.any() else None,
        "db_mb_start": float(size[ok][0] / 2**20)
        if ok.any() and np.isfinite(size[ok][0])
        else None,
        "db_mb_end": float(size[ok][-1] / 2**20)
        if ok.any() and np.isfinite(size[ok][-1])
        else None,
        "pregrow": data.meta.get("db_pregrow"),
        "storage": ((data.meta.get("context") or {}).get("storage") or {}),
    }
    lat = np.where(ok, secs / np.where(ok, commits, 1) * 1000, np.nan)
    idx = np.flatnonzero(ok & np.isfinite(size))
    out["bins"] = [
        {
            "cycles": len(part),
            "db_mb": float(np.mean(size[part]) / 2**20),
            "ms_per_commit": float(secs[part].sum() / commits[part].sum() * 1000),
        }
        for part in np.array_split(idx, min(bins, max(1, len(idx))))
        if len(part)
    ]
    if len(idx) >= 3 and np.ptp(size[idx]) > 0:
        slope = np.polyfit(size[idx] / 2**20, lat[idx], 1)[0]
        out["slope_ms_per_mb"] = float(slope)
    else:
        out["slope_ms_per_mb"] = None
    return out
