"""Long fixed-workload runs: a run in fresh child processes, its folder in RAM, optionally
restarted every K cycles (the study's ``long`` runner, ``nrm longrun``).

A long arm of the causal study reads the drift of time per unit of work over thousands of
cycles. Two things would hide or fake that drift, and this module removes them:

- **Commit latency of the disk.** Every metrics sample, pair test and spawn is a row committed
  to SQLite; on this machine's disk a commit costs milliseconds and drifts with the disk's own
  state. ``where="ram"`` puts the run folder under ``/dev/shm`` (the databases are in RAM; the
  commits, their count and their order stay the model's own), and copies everything but the
  databases to ``out`` afterwards (their final sizes are recorded in run.json). The growth of
  commit latency with database size *on disk* is the dbgrow arms' question, not this one's.
- **Process state.** ``restart_every=K`` runs the model in a fresh process every K cycles: the
  first hop runs the spec up to step K (``nrm child --pause-at K``: a checkpoint, then exit),
  each next hop resumes the checkpoint in a new interpreter up to the next multiple of K. The
  model's state (agents, registry, databases, RNG) is carried over in the checkpoint; the
  process's heap, pymalloc arenas, GC generations and caches are not. So a per-unit slowdown
  that resets at each restart lives in the process, one that does not lives in the workload.

Every hop is ``python -m nrm.cli child`` (:mod:`nrm.run.child`), so a run with and one without
restarts are started the same way (both in a child of the runner; an allocator arm's child
re-starts itself under the allocator, as everywhere).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.exceptions import ParameterError, RunFailedError
from nrm.instrument.runrecord import read_run_json, update_run_json
from nrm.run.child import ENTRY
from nrm.run.runner import prepare_run_dir
from nrm.run.safety import PAUSE_EXIT
from nrm.run.spec import RunSpec

__all__ = ["RAM_DIR", "WHERE", "run_long"]

#: RAM-backed folder for ``where="ram"``.
RAM_DIR = Path("/dev/shm")
WHERE = ("ram", "disk")


def _hop(argv: list[str], run_dir: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, *ENTRY[:-1], *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    meta = read_run_json(run_dir) if (run_dir / paths.RUN_JSON).is_file() else {}
    if proc.returncode not in (0, PAUSE_EXIT) or not meta:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise RunFailedError(
            f"{run_dir}: hop {' '.join(argv[:2])} exited {proc.returncode}: " + " | ".join(tail),
            proc.returncode or 1,
        )
    return proc.returncode, meta


def _run_hops(
    spec_file: Path, run_dir: Path, total: int, every: int | None
) -> list[dict[str, Any]]:
    """Run the hops into ``run_dir``; returns one record per hop (steps and seconds)."""
    hops: list[dict[str, Any]] = []
    target = every
    argv = [ENTRY[-1], str(spec_file), "--out", str(run_dir), "--no-progress"]
    while True:
        if target is not None and target < total:
            argv += ["--pause-at", str(target)]
        t0 = time.perf_counter()
        code, meta = _hop(argv, run_dir)
        hops.append(
            {
                "pause_at": target if code == PAUSE_EXIT else None,
                "exit": code,
                "status": meta.get("status"),
                "process_wall_s": time.perf_counter() - t0,
            }
        )
        if meta.get("status") == "complete":
            return hops
        if code != PAUSE_EXIT or every is None or target is None:
            raise RunFailedError(
                f"{run_dir}: hop ended {meta.get('status')!r} (exit {code}): {meta.get('error')}",
                code or 1,
            )
        target += every
        argv = [ENTRY[-1], "--resume", str(run_dir), "--no-progress"]


def run_long(
    spec: RunSpec, out: str | Path, *, where: str = "ram", restart_every: int | None = None
) -> dict[str, Any]:
    """Run ``spec`` into the new folder ``out`` in child processes (see the module doc):
    the folder in RAM (``where="ram"``) or on disk, a fresh process every ``restart_every``
    cycles (None: one process). Returns the final run.json content, which records
    ``storage_where``, ``db_files`` (final database sizes) and ``hops``."""
    if where not in WHERE:
        raise ParameterError(f"where must be one of {', '.join(WHERE)}, got {where!r}")
    if restart_every is not None:
        if (
            isinstance(restart_every, bool)
            or not isinstance(restart_every, int)
            or restart_every < 1
        ):
            raise ParameterError(f"restart_every must be a positive integer, got {restart_every!r}")
        if spec.allocator is not None:
            raise ParameterError("restart_every is for runs without --allocator")
        if restart_every % spec.flush_every:
            raise ParameterError(
                f"restart_every ({restart_every}) must be a multiple of the "
                f"run's flush_every ({spec.flush_every})"
            )
    if where == "ram" and not RAM_DIR.is_dir():
        raise ParameterError(f"{RAM_DIR} does not exist: no RAM-backed folder on this machine")
    final = prepare_run_dir(out)
    total = spec.cycles * len(spec.conditions)
    tmp = Path(
        tempfile.mkdtemp(prefix="nrm-long-", dir=RAM_DIR if where == "ram" else final.parent)
    )
    try:
        spec_file = tmp / "spec.json"
        spec_file.write_text(spec.to_json())
        run_dir = tmp / final.name
        hops = _run_hops(spec_file, run_dir, total, restart_every)
        dbs = {p.name: p.stat().st_size for p in run_dir.glob("*.db")}
        for p in run_dir.iterdir():
            if p.suffix != ".db" and p.name != paths.RUN_JSON and p.is_file():
                shutil.copy2(p, final / p.name)
        shutil.copy2(run_dir / paths.RUN_JSON, final / paths.RUN_JSON)  # last: marks complete
        note = (
            "databases in RAM (/dev/shm), removed after"
            if where == "ram"
            else "databases on disk, removed after (their sizes are in db_files)"
        )
        return update_run_json(
            final,
            storage_where=where,
            db_files=dbs,
            db_note=note,
            restart_every=restart_every,
            hops=hops,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
