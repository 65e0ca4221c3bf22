"""The one entry of every process hop: ``python -m nrm.cli child SPEC.json --out DIR``
(:mod:`nrm.cli.child` parses it; this module runs it and builds its command line).

Every run that happens in a process of its own reads its :class:`~nrm.run.spec.RunSpec` from a
file (``-``: standard input), so every field reaches it as the parent resolved it (no command
line round trip): the allocator child of ``nrm run --allocator``, each run of the causal study,
each condition of the worker arm (:mod:`nrm.study.workers`), the study's trace recording and the
start-up timing of ``nrm plan``.

``--resume RUN_DIR`` (instead of a spec) continues an interrupted run as it was specified.

A spec with an allocator first re-starts this entry under that allocator (it must be set at
start-up; :func:`nrm.instrument.allocator.child_env` marks the child, so it runs there once).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nrm.exceptions import ParameterError
from nrm.instrument import allocator as _allocator
from nrm.run.runner import resume_run, run_experiment
from nrm.run.spec import RunSpec

__all__ = ["ENTRY", "command", "print_summary", "read_spec", "resume_in_child", "resume_run",
           "run", "run_in_child"]  # resume_run: the runner's, re-exported for nrm.cli

#: The child entry: ``python -m nrm.cli child`` (:mod:`nrm.cli.child`).
ENTRY = ("-m", "nrm.cli", "child")


def command(spec_file: str | Path, out: str | Path | None = None, *, progress: bool = False
            ) -> list[str]:
    """The command line of one hop: this interpreter running :func:`main` on ``spec_file``."""
    argv = [sys.executable, *ENTRY, str(spec_file)]
    if out is not None:
        argv += ["--out", str(out)]
    if not progress:
        argv.append("--no-progress")
    return argv


def _under(allocator: str) -> bool:
    """Whether this process already runs under ``allocator`` (set by its parent)."""
    return os.environ.get(_allocator.REQUEST_ENV) == allocator


def run_in_child(spec: RunSpec, out: Path | None, *, progress: bool = True) -> int:
    """Run ``spec`` in a child process under ``spec.allocator``; returns its exit code."""
    if spec.allocator is None:
        raise ParameterError("run_in_child needs a spec with an allocator")
    argv = command("-", out, progress=progress)[3:]  # after python -m nrm.cli
    return _allocator.run_in_child(argv, spec.allocator, stdin=spec.to_json())


def resume_in_child(run_dir: Path, allocator: str, *, progress: bool = True) -> int:
    """Resume ``run_dir`` in a child process under ``allocator``; returns its exit code."""
    argv = [ENTRY[-1], "--resume", str(run_dir)]
    if not progress:
        argv.append("--no-progress")
    return _allocator.run_in_child(argv, allocator)


def read_spec(source: str) -> RunSpec:
    if source == "-":
        return RunSpec.from_stdin()
    return RunSpec.from_file(source)


def run(spec: RunSpec, out: str | Path | None, *, progress: bool = True,
        pause_at: int | None = None) -> int:
    """Run ``spec`` here (or under its allocator in a child); returns the exit code.
    ``pause_at``: see :func:`nrm.run.runner.run_experiment` (not with an allocator)."""
    if spec.allocator is not None and not _under(spec.allocator):
        if pause_at is not None:
            raise ParameterError("--pause-at is for in-process runs, not under --allocator")
        return run_in_child(spec, Path(out) if out is not None else None, progress=progress)
    meta = run_experiment(spec, out, progress=progress, pause_at=pause_at)
    print_summary(meta)
    return 0 if meta.get("status") == "complete" else 1


def print_summary(meta: dict[str, object]) -> None:
    print(f"run {meta.get('name')}: {meta.get('status')}")
    for cond, r in (meta.get("conditions") or {}).items():  # type: ignore[attr-defined]
        print(
            f"  {cond}: mean pop {r['mean']:.2f}, final {r['final']}, max {r['max']}, "
            f"runtime {r['runtime_s']:.2f} s, samples {r['samples']}, commits {r['commits']}"
        )
    syn = meta.get("synergy") or {}
    if syn.get("classification"):  # type: ignore[attr-defined]
        print(f"  synergy {syn['synergy']:+.3f} -> {syn['classification']}")  # type: ignore[index]
