"""``nrm dbgrow``: the database-growth arm's command (the run folder on disk or in RAM).

Kept apart from :mod:`nrm.run.dbgrow` (which the run spec imports) so that the run's code does
not depend on the command-line modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nrm.exceptions import ParameterError
from nrm.run.dbgrow import commit_latency

#: RAM-backed folder for --where ram
RAM_DIR = Path("/dev/shm")


def run_arm(spec: Any, out: str | Path, *, where: str, progress: bool = False,
            drop_db: bool = False) -> dict[str, Any]:
    """Run ``spec`` (with its ``pregrow_db_mb``) with the run folder on disk (``out``) or in
    RAM (a folder under /dev/shm; afterwards everything but the databases is copied to
    ``out`` and the RAM folder removed). run.json records ``storage_where`` and the
    databases' final sizes."""
    import shutil
    import tempfile

    from nrm import paths
    from nrm.instrument.runrecord import update_run_json
    from nrm.run.runner import prepare_run_dir, run_experiment

    if where not in ("disk", "ram"):
        raise ParameterError(f"--where must be 'disk' or 'ram', got {where!r}")
    if where == "disk":
        meta = run_experiment(spec, out, progress=progress)
        dbs = {p.name: p.stat().st_size for p in Path(out).glob("*.db")}
        note = None
        if drop_db and meta["status"] == "complete":  # the study keeps sizes, not gigabytes
            for p in Path(out).glob("*.db"):
                p.unlink()
            note = "databases removed after the run (--drop-db); their sizes are in db_files"
        return update_run_json(out, storage_where="disk", db_files=dbs, db_note=note)
    if not RAM_DIR.is_dir():
        raise ParameterError(f"{RAM_DIR} does not exist: no RAM-backed folder on this machine")
    final = prepare_run_dir(out)
    tmp = Path(tempfile.mkdtemp(prefix="nrm-dbgrow-", dir=RAM_DIR))
    try:
        ram_run = tmp / final.name
        run_experiment(spec, ram_run, progress=progress)
        dbs = {p.name: p.stat().st_size for p in ram_run.glob("*.db")}
        for p in ram_run.iterdir():
            if p.suffix != ".db" and p.name != paths.RUN_JSON and p.is_file():
                shutil.copy2(p, final / p.name)
        shutil.copy2(ram_run / paths.RUN_JSON, final / paths.RUN_JSON)  # last: marks complete
        return update_run_json(final, storage_where="ram", ram_folder=str(ram_run),
                               db_files=dbs, db_note="databases were in RAM, removed after")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def register(sub: Any) -> None:
    """``nrm dbgrow``: the database-growth arm."""
    from nrm.cli.runflags import add_run_flags

    p = sub.add_parser(
        "dbgrow",
        help="run with the databases pre-grown, on disk or in RAM (database-growth arm)",
    )
    add_run_flags(p, out_required=True)  # --pregrow-db MB: the spec's pregrow_db_mb
    p.add_argument("--where", choices=("disk", "ram"), default="disk")
    p.add_argument("--drop-db", action="store_true",
                   help="remove the databases after a complete run (sizes stay in run.json)")
    p.set_defaults(handler=_cmd_dbgrow)


def _cmd_dbgrow(args: Any) -> int:
    from nrm.cli.runflags import spec_from_flags

    spec = spec_from_flags(args)
    meta = run_arm(spec, args.out, where=args.where, progress=not args.no_progress,
                   drop_db=args.drop_db)
    lat = commit_latency(args.out)
    print(f"dbgrow {args.where} {spec.pregrow_db_mb:g} MiB: {meta.get('status')}, "
          f"{lat['commits']} commits, {lat['mean_ms'] or float('nan'):.3f} ms per commit")
    return 0 if meta.get("status") == "complete" else 1
