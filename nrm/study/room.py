"""Whether a study's runs fit before its sweep starts (issue #23): the bytes its pending runs
would write on the study folder's file system, and in RAM (``/dev/shm``) for the arms whose run
folder lives there (the long arms, the dbgrow arms in RAM), against what is free. A study that
cannot fit is refused with one line naming the space it needs, before anything is written.

Estimates use :func:`nrm.run.safety.estimate_output_bytes` per run (cycle log, trace, SQLite
rows, the space reserve) plus the pre-grown databases; the dbgrow arms drop their databases
after each run and the long arms copy only their logs back, so their databases count once per
worker (they exist one run at a time on each)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nrm.exceptions import ParameterError
from nrm.run.safety import estimate_output_bytes

__all__ = ["RAM_DIR", "check_study_room", "study_needs"]

RAM_DIR = Path("/dev/shm")


def _in_ram(runner_args: tuple[str, ...]) -> bool:
    args = list(runner_args)
    return "--where" in args and args.index("--where") + 1 < len(args) and \
        args[args.index("--where") + 1] == "ram"


def study_needs(plan: Any, pending: list[Any], workers: int = 1) -> tuple[int, int]:
    """(bytes on the study folder's file system, bytes in RAM) that ``pending`` runs need."""
    kept, disk_once, ram_once = 0, [], []
    for task in pending:
        arm = plan.arm(task.arm)
        spec = plan.task_spec(task)
        if spec is None:  # a command arm (the H2 controls): a cycle log, no databases
            continue
        out = estimate_output_bytes(spec)
        dbs = int(float(spec.pregrow_db_mb or 0.0) * 2**20)
        ram = _in_ram(arm.runner_args)
        if arm.runner == "dbgrow":  # databases dropped after the run
            (ram_once if ram else disk_once).append(out + dbs)
            kept += 0 if ram else out
        elif arm.runner == "longrun" and ram:  # run folder in RAM; its logs copied back
            ram_once.append(out)
            kept += out
        else:
            kept += out + dbs
    n = max(1, int(workers))
    return kept + sum(sorted(disk_once)[-n:]), sum(sorted(ram_once)[-n:])


def _free(path: Path) -> tuple[Path, int] | None:
    where = path.absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return where, shutil.disk_usage(where).free
    except OSError:
        return None


def human_size(n: float) -> str:
    """Bytes as B, KiB, MiB or GiB (one decimal above B)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def check_study_room(plan: Any, out: Path, pending: list[Any], *, workers: int = 1,
                     force: bool = False) -> tuple[int, int]:
    """Refuse (:class:`ParameterError`, one line) a study whose ``pending`` runs do not fit on
    ``out``'s file system or, for the arms run in RAM, in ``/dev/shm``; ``force`` skips it.
    Returns the estimate (disk bytes, RAM bytes)."""
    disk, ram = study_needs(plan, pending, workers)
    if force:
        return disk, ram
    checks = [(out, disk, "write")]
    if ram and RAM_DIR.is_dir():
        checks.append((RAM_DIR, ram, "hold in RAM"))
    for path, need, verb in checks:
        free = _free(path)
        if free is not None and need > free[1]:
            raise ParameterError(
                f"study {out}: its {len(pending)} runs to go would {verb} about {human_size(need)} "
                f"and {free[0]} has {human_size(free[1])} free; plan fewer blocks "
                "(nrm study plan --repeats N), free space, or pass --force")
    return disk, ram
