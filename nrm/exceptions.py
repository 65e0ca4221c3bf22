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
    """A causal-study folder, plan or trace cannot be used as asked (nrm.study)."""
