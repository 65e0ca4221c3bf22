"""Put a run's SQLite databases back to the state they had at a checkpoint (resume), byte for
byte: ids, ``sqlite_sequence``, page count and the file change counter included, so a resumed
run goes on as if it had never been stopped (issue #26).

A ``DELETE`` of the later rows would leave their pages on the free list (the file keeps its size,
so ``db_bytes`` differs) and ``sqlite_sequence`` at the highest id given (a gap in the ids).
Instead each database is rebuilt beside itself from its kept rows, in the order they were first
inserted: ``leading[table]`` rows of each table first, table by table (the pre-grown rows,
:mod:`nrm.run.dbgrow`), then all tables' rows merged by timestamp (they were committed in that
order); the file's change counter is set back by one per dropped row (each was one commit) and
the copy replaces the database atomically. SQLite's B-tree operations depend only on this
sequence of inserts, not on how they were grouped into transactions, so the copy equals the file
at the checkpoint. A database with nothing to drop is left untouched. What cannot be equal is
the stored ``timestamp`` of each row: no two runs share those.

This lives in the run layer, not beside :class:`~nrm.sim.persistence.SqlitePersistence`: it is
the resume's concern, and the simulator's source (whose hash keys the shipped work counts,
:func:`nrm.predict.counts.model_source_hash`) stays as the model ran.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from nrm import paths

# the schema and table map the model's persistence writes with
from nrm.sim.persistence import _BRIDGE_SCHEMA, _WORKSPACE_SCHEMA, TABLES, storage_error

__all__ = ["rollback_to"]


def rollback_to(
    run_dir: Path, counts: dict[str, int], *, leading: dict[str, int] | None = None
) -> None:
    """Rebuild ``run_dir``'s two databases holding the first ``counts[table]`` rows of each
    table, ``leading[table]`` of them pre-grown (see the module's docstring)."""
    for name, schema, which in (
        (paths.WORKSPACE_DB, _WORKSPACE_SCHEMA, "workspace"),
        (paths.BRIDGE_DB, _BRIDGE_SCHEMA, "bridge"),
    ):
        keep = {t: n for t, n in counts.items() if TABLES[t] == which}
        if keep:
            _rollback(Path(run_dir) / name, schema, keep, leading or {})


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
    included, in the order they were inserted (see :func:`rollback_to`)."""
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
