"""``run.json``: one run folder's record through its lifecycle (docs/run-folder.md).

A :class:`RunRecord` is created ``"running"`` with what the run is and the machine's context,
updated as the run goes (each condition's results, a resumed segment), and marked ``complete``,
``failed`` or ``interrupted`` at the end; every write is atomic, so a killed run stays visibly
``"running"``. Every writer of run.json (a run, a control, a worker-process arm, a watch) goes
through it, and :func:`read_run_json` is the one reader.

Its first keys are always, in this order: ``format``, ``name``, ``status``, ``exit_status``,
``error``, ``started_at``, ``ended_at``; then the writer's own fields; then ``context``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.atomic import atomic_write_json
from nrm.exceptions import LogError

__all__ = [
    "EXIT_STATUS",
    "FORMAT",
    "STATUSES",
    "WATCH_FORMAT",
    "RunRecord",
    "is_complete",
    "mark_status",
    "now_iso",
    "now_s",
    "read_run_json",
    "run_json_path",
    "update_run_json",
    "write_run_json",
]

#: The format of a run's run.json (a run, a control, a worker-process arm).
FORMAT = "nrm-run/1"
#: The format of a watch's run.json (``nrm watch``: its own fields, the same lifecycle).
WATCH_FORMAT = "nrm-watch/1"
STATUSES: tuple[str, ...] = ("running", "complete", "failed", "interrupted")
#: Exit status that goes with each status (docs/run-folder.md); the runner records 128 + the
#: signal's number for an interrupted run (130 SIGINT, 143 SIGTERM).
EXIT_STATUS: dict[str, int | None] = {
    "running": None,
    "complete": 0,
    "failed": 1,
    "interrupted": 130,
}

Clock = Callable[[], str]


def now_iso() -> str:
    """Current time, ISO 8601 UTC to the millisecond (a watch's ``started_at``/``ended_at``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_s() -> str:
    """Current time, ISO 8601 UTC to the second (a run's, control's and worker arm's times)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_json_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / paths.RUN_JSON


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise LogError(f"unknown run status {status!r}; expected one of {', '.join(STATUSES)}")


class RunRecord:
    """The run.json of ``run_dir``, kept in memory (:attr:`data`) and written atomically."""

    def __init__(self, run_dir: str | Path, data: dict[str, Any], *, clock: Clock = now_s):
        self.run_dir = Path(run_dir)
        self.data = data
        self._clock = clock

    @property
    def path(self) -> Path:
        return run_json_path(self.run_dir)

    @classmethod
    def create(
        cls,
        run_dir: str | Path,
        fields: Mapping[str, Any],
        *,
        context: Mapping[str, Any] | None = None,
        collect_context: bool = True,
        format: str = FORMAT,
        clock: Clock = now_s,
        write: bool = True,
    ) -> RunRecord:
        """A new record, ``"running"`` since now, with ``fields`` and the machine's ``context``
        (collected in ``run_dir`` when not given; none with ``collect_context=False``);
        written at once unless ``write=False``."""
        run_dir = Path(run_dir)
        data: dict[str, Any] = {
            "format": format,
            "name": run_dir.name,
            "status": "running",
            "exit_status": None,
            "error": None,
            "started_at": clock(),
            "ended_at": None,
            **fields,
        }
        if context is None and collect_context:
            from nrm.instrument.sysinfo import collect_context as collect

            context = collect(run_dir)
        if context is not None:
            data["context"] = context
        record = cls(run_dir, data, clock=clock)
        if write:
            record.write()
        return record

    @classmethod
    def open(cls, run_dir: str | Path, *, clock: Clock = now_s) -> RunRecord:
        """The record a run folder holds (:func:`read_run_json`)."""
        return cls(run_dir, read_run_json(run_dir), clock=clock)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def status(self) -> str:
        return str(self.data.get("status"))

    def write(self) -> Path:
        """Write run.json atomically (``format`` is added when absent)."""
        return write_run_json(self.run_dir, self.data)

    def update(self, **fields: Any) -> dict[str, Any]:
        """Set top-level keys and write (a checkpoint of the record); returns the record."""
        self.data.update(fields)
        self.write()
        return self.data

    def resume(self, from_step: int) -> None:
        """Back to ``"running"`` for a resumed segment (noted in ``resumes``); not written."""
        self.data["status"] = "running"
        self.data["exit_status"] = None
        self.data["error"] = None
        self.data.setdefault("resumes", []).append({"at": self._clock(), "from_step": from_step})

    def finish(
        self,
        status: str,
        exit_status: int | None = None,
        error: str | None = None,
        *,
        write: bool = True,
    ) -> dict[str, Any]:
        """Set ``status``, ``exit_status`` (default: the one that goes with ``status``),
        ``error`` and ``ended_at`` (``None`` while running) and write; returns the record."""
        _check_status(status)
        self.data["status"] = status
        self.data["exit_status"] = EXIT_STATUS[status] if exit_status is None else exit_status
        self.data["error"] = error
        self.data["ended_at"] = None if status == "running" else self._clock()
        if write:
            self.write()
        return self.data


def write_run_json(run_dir: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``run.json`` atomically (``format`` is added when absent)."""
    record = {"format": FORMAT, **data}
    return atomic_write_json(run_json_path(run_dir), record)


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """Read a run's ``run.json`` (give the run folder or the file): the one reader of run.json.

    A missing, unreadable, corrupt or non-object file is a :class:`LogError` naming the file.
    """
    path = Path(run_dir)
    if path.name != paths.RUN_JSON or path.is_dir():
        path = run_json_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LogError(
            f"{path}: missing; not a run folder (expected the run's {paths.RUN_JSON})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LogError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"corrupt JSON at line {exc.lineno}: run.json is written atomically, so the file was "
            "edited or damaged by hand. Restore it, or analyse the bare cycles.csv instead"
        ) from None
    if not isinstance(data, dict):
        raise LogError(
            f"{path}: expected a JSON object at the top level, found {type(data).__name__}"
        )
    return data


def update_run_json(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Set top-level keys of a run folder's ``run.json`` (read, merge, atomic write)."""
    return RunRecord.open(run_dir).update(**fields)


def mark_status(
    run_dir: str | Path,
    status: str,
    exit_status: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """:meth:`RunRecord.finish` on a run folder's ``run.json`` (times to the millisecond)."""
    _check_status(status)
    return RunRecord.open(run_dir, clock=now_iso).finish(status, exit_status, error)


def is_complete(meta: Mapping[str, Any]) -> bool:
    """Whether a run finished normally; a killed run still says ``"running"``."""
    return meta.get("status") == "complete"
