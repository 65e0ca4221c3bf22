"""The contention arm (H1): the study's C256 run with competing processes beside it.

H1 says contention for the machine slows the run. The study's sweep runs one run at a time, so
by itself it has no contention to detect; this arm makes some. Each run of the arm starts ``n``
competitors of one kind, each a real subprocess, before the measured run and stops them after:

- ``cpu``: a busy loop (``while True: pass``), always runnable: on a 2-core machine two of them
  take a core's worth each, four oversubscribe;
- ``io``: a writer that writes 64 KiB blocks to a 1 MiB file on the run folder's disk and
  ``fsync`` s after each (the kind of I/O the run's own SQLite commits do).

The measured run is :func:`nrm.run.runner.run_experiment` in this process (a fresh process, as
the study's in-process arms). ``run.json`` gets ``contention``: the kind, the dose, and per
competitor its PID, CPU time (user + system, read just before it is stopped), bytes written and
whether it was still alive at the end, so the dose can be checked. A competitor that died before
the run ended makes the run ``failed`` (it does not count).

Every competitor is killed on every exit path: a ``finally`` stops them after the run (an
exception or an interrupted run included); SIGTERM (a cancelled Dask task's worker) is turned
into an exception so that the ``finally`` runs; and each competitor is started with
``PR_SET_PDEATHSIG`` = SIGKILL, so it dies with this process even when this process is killed
outright.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from nrm.exceptions import ParameterError, RunFailedError

#: The two kinds of competitor.
KINDS = ("cpu", "io")
#: The doses (number of competitors) of the study's contention arms.
DOSES = (0, 1, 2, 4)
#: Seconds the competitors run before the measured run starts (so that they are running).
WARMUP_S = 0.1
#: Bytes each I/O competitor writes before each fsync, and the size its file wraps at.
IO_BLOCK = 64 * 1024
IO_FILE = 1024 * 1024

_CPU_CODE = "while True: pass"
_IO_CODE = (
    "import os, sys\n"
    f"b = os.urandom({IO_BLOCK})\n"
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)\n"
    "n = 0\n"
    "while True:\n"
    "    os.write(fd, b)\n"
    "    os.fsync(fd)\n"
    "    n += 1\n"
    f"    if n % {IO_FILE // IO_BLOCK} == 0:\n"
    "        os.lseek(fd, 0, 0)\n"
)


def _child_setup(cpus: tuple[int, ...] | None) -> None:  # pragma: no cover - runs in the child
    """In the competitor before exec: die with the parent (SIGKILL), pin to ``cpus``."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


class Competitors:
    """``n`` competing processes of ``kind`` (see the module doc); use as a context manager:
    entering starts them, leaving (by any path) kills them and removes their files."""

    def __init__(self, kind: str, n: int, scratch: Path, *, pin: Sequence[int] | None = None):
        if kind not in KINDS:
            raise ParameterError(f"competitor kind {kind!r}; valid: {', '.join(KINDS)}")
        if not isinstance(n, int) or n < 0:
            raise ParameterError(f"competitors must be a whole number >= 0, got {n!r}")
        self.kind, self.n, self.scratch = kind, n, Path(scratch)
        self.pin = tuple(pin) if pin else None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started: list[float] = []

    def start(self) -> None:
        code = _CPU_CODE if self.kind == "cpu" else _IO_CODE
        for i in range(self.n):
            argv = [sys.executable, "-S", "-c", code]
            if self.kind == "io":
                argv.append(str(self.scratch / f"io-{i}.dat"))
            self.procs.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    close_fds=True,
                    preexec_fn=partial(_child_setup, self.pin) if sys.platform == "linux" else None,
                )
            )
            self.started.append(time.monotonic())

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def dead(self) -> list[tuple[int, int]]:
        """(PID, exit code) of every competitor that is no longer running."""
        return [(p.pid, rc) for p in self.procs if (rc := p.poll()) is not None]

    def readings(self) -> list[dict[str, Any]]:
        """Per competitor: PID, CPU time so far, bytes written, seconds alive, alive or not."""
        import psutil

        out = []
        now = time.monotonic()
        for p, t0 in zip(self.procs, self.started, strict=True):
            row: dict[str, Any] = {
                "pid": p.pid,
                "kind": self.kind,
                "alive": p.poll() is None,
                "exit_code": p.poll(),
                "seconds": now - t0,
                "cpu_s": None,
                "write_bytes": None,
            }
            with contextlib.suppress(psutil.Error, OSError):
                proc = psutil.Process(p.pid)
                t = proc.cpu_times()
                row["cpu_s"] = float(t.user + t.system)
                with contextlib.suppress(psutil.Error, OSError, AttributeError):
                    row["write_bytes"] = int(proc.io_counters().write_bytes)
            out.append(row)
        return out

    def stop(self) -> None:
        """Kill every competitor and reap it (idempotent), then remove their files."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> Competitors:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here (so ``finally`` blocks run and the competitors are
    killed); the run's own handlers take over while it runs and give it back after."""
    if sys.platform != "linux" or not _main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_contention(
    spec: Any,
    out: str | Path,
    *,
    kind: str,
    competitors: int,
    pin: Sequence[int] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run ``spec`` into ``out`` with ``competitors`` processes of ``kind`` beside it (``pin``:
    the CPUs this process and its competitors are confined to). Returns run.json's content;
    raises :class:`RunFailedError` when a competitor died before the run ended."""
    from nrm.instrument.runrecord import mark_status, update_run_json
    from nrm.run.runner import run_experiment

    if kind not in KINDS:
        raise ParameterError(f"--kind {kind!r}; valid: {', '.join(KINDS)}")
    if not isinstance(competitors, int) or competitors < 0:
        raise ParameterError(f"--competitors must be a whole number >= 0, got {competitors!r}")
    if pin:
        bad = set(pin) - os.sched_getaffinity(0)
        if bad:
            raise ParameterError(
                f"--pin {sorted(bad)}: not CPUs this process may use "
                f"({sorted(os.sched_getaffinity(0))})"
            )
        os.sched_setaffinity(0, set(pin))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.contention-", dir=out.parent))
    record: dict[str, Any] = {
        "kind": kind,
        "competitors": competitors,
        "warmup_s": WARMUP_S,
        "pin": sorted(pin) if pin else None,
        "runner_pid": os.getpid(),
    }
    with _sigterm_raises(), Competitors(kind, competitors, scratch, pin=pin) as comp:
        record["pids"] = comp.pids
        if competitors:
            time.sleep(WARMUP_S)
        early = comp.dead()
        t0 = time.monotonic()
        meta = run_experiment(spec, out, progress=progress) if not early else None
        record["run_s"] = time.monotonic() - t0
        record["processes"] = comp.readings()
        early = comp.dead()
    if meta is None:  # a competitor died before the run: nothing ran
        raise RunFailedError(f"competitor(s) {early} exited before the run started")
    update_run_json(out, contention=record)
    if early:
        error = (
            "competitor(s) exited before the run ended (PID, exit code): "
            + ", ".join(f"{pid} ({rc})" for pid, rc in early)
            + "; the dose was not delivered, the run does not count"
        )
        mark_status(out, "failed", 1, error)
        raise RunFailedError(error)
    return update_run_json(out)


# ------------------------------------------------------------------------------ the arms
#: The label prefix of the contention arms; ``contention-0`` is their base, ``contention-0-aa``
#: its A/A, ``contention-<kind>-<n>`` the doses.
PREFIX = "contention"
BASE = f"{PREFIX}-0"
AA = f"{PREFIX}-0-aa"


def arm_label(kind: str, n: int) -> str:
    return BASE if n == 0 else f"{PREFIX}-{kind}-{n}"


def build_arms(scale: Any) -> list[Any]:
    """The contention arms at ``scale`` (a :class:`nrm.run.scales.StudyScale`): C256 lean (the
    study's ``base-lean``) with 0 competitors twice (base and A/A) and 1, 2, 4 competitors of
    each kind, run by ``nrm contention`` (runner ``contention``), at base-lean's length and
    population (at the default scale 1000 cycles per condition at 10 agents: about 0.7 s of
    cycle time on a quiet core, so the arm's 40 runs take about a minute)."""
    from nrm.study.arms import Arm

    run = {"experiment": "C256", "variant": "lean", "cpu_interval": None}
    size = {"cycles": scale.long_cycles, "max_agents": scale.max_agents}  # as base-lean
    arms = [
        Arm(
            BASE,
            PREFIX,
            "C256 lean, no competitor (contention arms' base)",
            aa=AA,
            run=run,
            runner=PREFIX,
            runner_args=("--kind", "cpu", "--competitors", "0"),
            **size,
        ),
        Arm(
            AA,
            PREFIX,
            "C256 lean, no competitor, again (A/A)",
            base=BASE,
            aa=AA,
            run=run,
            runner=PREFIX,
            runner_args=("--kind", "cpu", "--competitors", "0"),
            **size,
        ),
    ]
    for kind in KINDS:
        what = "busy loops" if kind == "cpu" else "fsync'ing writers"
        for n in DOSES[1:]:
            arms.append(
                Arm(
                    arm_label(kind, n),
                    PREFIX,
                    f"{n} competing {what} (H1 dose)",
                    base=BASE,
                    aa=AA,
                    run=run,
                    runner=PREFIX,
                    runner_args=("--kind", kind, "--competitors", str(n)),
                    **size,
                )
            )
    return arms
