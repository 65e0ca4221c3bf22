"""One exception hierarchy for the whole package.

Every error a user can cause (a bad parameter, an unknown experiment, a corrupt log, an existing
run folder) is an :class:`NrmError`; its message names the bad item, what was expected and, where
there is one, the fix. Only :func:`nrm.cli.main` turns these into exit codes.
"""

from __future__ import annotations


class NrmError(Exception):
    """Root of every error raised on purpose by ``nrm``."""


class ParameterError(NrmError, ValueError):
    """A parameter is unknown, of the wrong type, or out of range."""


class UnknownExperimentError(ParameterError):
    """An experiment, variant or condition name is not in the registry."""


class RunExistsError(NrmError, FileExistsError):
    """A run folder already holds data; runs never overwrite earlier runs."""


class TraceError(NrmError):
    """A recorded metrics trace is missing, corrupt or exhausted (names file and line)."""


class LogError(NrmError):
    """A run log (cycles.csv / run.json) is malformed or truncated (names file and problem)."""


class AllocatorError(NrmError):
    """The requested memory allocator cannot be used on this machine."""


class CheckpointError(NrmError):
    """A run cannot be resumed (no checkpoint, or the checkpoint does not match the run)."""


class StudyError(NrmError):
    """A causal-study folder, plan or trace cannot be used as asked (nrm.study.sweep)."""


class RunLockedError(NrmError):
    """Another live process is writing this run folder (names its PID and host)."""


class StorageError(NrmError, OSError):
    """Writing a file failed (disk full, permission denied, read-only file system, ...).

    The message names the file and the cause; ``errno`` and ``filename`` are set as on the
    :class:`OSError` it replaces.
    """

    def __init__(self, message: str, errno: int | None = None, filename: str | None = None):
        OSError.__init__(self, message)
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0])


class RunFailedError(NrmError):
    """A run stopped on an error after its folder was created; run.json says ``failed`` and
    holds the same message. ``exit_status`` is the one run.json records."""

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class RunInterruptedError(RunFailedError):
    """A run stopped on SIGINT or SIGTERM (after a checkpoint where one could be taken);
    ``exit_status`` is 128 + the signal number, as run.json records."""


class NotebookError(NrmError):
    """A notebook cannot be executed (missing, no parameters cell, or it failed in a cell)."""


class ArenaStatsError(NrmError):
    """``sys._debugmallocstats()`` output is not in the format this parser knows."""


class ProbeError(NrmError):
    """The probe was used out of order (e.g. ``end_cycle`` without ``begin_cycle``)."""


class LockError(NrmError):
    """requirements.lock is missing, malformed, or out of step with pyproject.toml."""


class WatchError(NrmError):
    """``nrm watch`` cannot watch as asked (program not found, PID not found or not readable,
    a watch folder that cannot be read)."""
