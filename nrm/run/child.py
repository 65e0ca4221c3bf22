"""Running a spec in a child process under a chosen allocator (it must be set at start-up).

The child is ``nrm run --spec - --in-child``: it reads the :class:`~nrm.run.spec.RunSpec` as JSON on
its standard input, so every field reaches it as the parent resolved it (no argv round trip).
"""

from __future__ import annotations

from pathlib import Path

from nrm.exceptions import ParameterError
from nrm.instrument import allocator as _allocator
from nrm.run.spec import RunSpec


def run_in_child(spec: RunSpec, out: Path | None, *, progress: bool = True) -> int:
    """Run ``spec`` in a child process under ``spec.allocator``; returns its exit code."""
    if spec.allocator is None:
        raise ParameterError("run_in_child needs a spec with an allocator")
    argv = ["run", "--spec", "-", "--in-child"]
    if out is not None:
        argv += ["--out", str(out)]
    if not progress:
        argv.append("--no-progress")
    return _allocator.run_in_child(argv, spec.allocator, stdin=spec.to_json())


def resume_in_child(run_dir: Path, allocator: str, *, progress: bool = True) -> int:
    """Resume ``run_dir`` in a child process under ``allocator``; returns its exit code."""
    argv = ["run", "--resume", str(run_dir), "--in-child"]
    if not progress:
        argv.append("--no-progress")
    return _allocator.run_in_child(argv, allocator)
