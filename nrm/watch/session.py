"""One watch from start to verdicts: the run folder, the program or PID, signals, the end.

Order of events: every argument is checked (program found, PID readable, folder new) before
anything is written; then ``run.json`` (status ``running``) and ``cycles.csv`` are created, the
program is started with the inside tier's hook on its PYTHONPATH (or the PID is attached), the
sampler runs until the process ends or a signal stops the watch, and ``run.json`` gets the
status, the exit status, the verdicts and the watcher's own overhead, written atomically.

How a watch ends (``run.json`` status / ``nrm watch`` exit status):

- the program exits 0, or an attached process ends: ``complete`` / 0;
- the program exits non-zero (or is killed by a signal): ``failed`` / its status (128 + signal),
  the verdicts of what was gathered are still written, and ``error`` says so;
- SIGINT or SIGTERM to ``nrm watch``: ``interrupted`` / 130 or 143; a started program gets the
  signal passed on (then SIGKILL after ``grace_s``), an attached one is left running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nrm.exceptions import RunExistsError, WatchError
from nrm.instrument.runrecord import WATCH_FORMAT, RunRecord, now_iso
from nrm.study.cluster import set_pdeathsig
from nrm.watch import startup
from nrm.watch.procstat import ProcReader, check_pid
from nrm.watch.sampler import Console, InsideFeed, Sampler, new_log

HOOK_DIR = Path(__file__).resolve().parent / "hook"
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
CYCLES = "cycles.csv"


@dataclass
class WatchOptions:
    out: Path
    unique: bool = False  # out is a default name: take the first free NAME, NAME-2, NAME-3...
    hz: float = 1.0
    inside: bool = True
    arena_s: float = 5.0
    tracemalloc: bool = False
    smaps: bool = True
    gc_mode: str = ""  # "", "disable", "freeze" (the causal arms)
    env: Mapping[str, str] | None = None  # the program's environment (default: ours)
    console: bool = True
    grace_s: float = 5.0
    quiet: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # more run.json keys (arms)
    check_preload: bool = False  # record the allocator libraries mapped (/proc/PID/maps)
    cwd: Path | None = None  # the program's working folder (default: ours)
    die_with_parent: bool = False  # the program gets SIGTERM when its starter dies (Dask arms)
    output: Path | None = None  # the program's stdout and stderr into this file (default: ours)


@dataclass
class WatchResult:
    folder: Path
    status: str
    exit_status: int
    verdicts: Any
    pid: int
    overhead: dict[str, Any]
    error: str | None = None


def check_program(argv: Sequence[str], cwd: Path | None = None) -> str:
    """The program's path; a :class:`WatchError` when it (or a Python script) is missing.
    Relative paths are read from ``cwd`` (default: the current folder)."""
    if not argv:
        raise WatchError("no program given: nrm watch [OPTIONS] -- PROGRAM ARGS (or --pid PID)")
    here = cwd or Path.cwd()
    found = shutil.which(str(here / argv[0]) if os.sep in argv[0] else argv[0])
    if found is None:
        raise WatchError(f"program not found: {argv[0]!r} (not an executable file, nor on PATH)")
    if Path(argv[0]).name.startswith("python"):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script is not None and "-m" not in argv[1:] and "-c" not in argv[1:] \
                and not (here / script).is_file():
            raise WatchError(f"program not found: Python script {script!r} does not exist")
    return found


def check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunExistsError(f"{out} already exists and is not empty; watch folders are never "
                             "overwritten: choose another --out")


def default_folder(argv: Sequence[str] | None, pid: int | None) -> Path:
    """Where a watch writes without ``--out``: ``paths.WATCH/NAME-YYYYMMDDTHHMMSSZ`` (NAME: the
    script's stem, the module of ``-m``, ``python-c``, the program's name, or ``pidPID``; the
    time in UTC). :func:`claim_folder` makes
    it a new folder (``-2``, ``-3``... when a watch of the same second holds the name)."""
    from datetime import UTC, datetime

    from nrm import paths

    name = f"pid{pid}"
    if argv:
        name = Path(argv[0]).name
        rest = list(argv[1:])
        if name.startswith("python") and "-c" in rest:
            name = "python-c"
        elif name.startswith("python") and "-m" in rest[:-1]:
            name = rest[rest.index("-m") + 1]
        elif name.startswith("python"):
            name = Path(next((a for a in rest if not a.startswith("-")), name)).stem
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "program"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return paths.WATCH / f"{name}-{stamp}"


def claim_folder(base: Path) -> Path:
    """Create and return ``base``, or the first of ``base-2``, ``base-3``... that does not
    exist yet (``mkdir`` without ``exist_ok``: two watches never share a folder, and an
    earlier watch's folder is never written into)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def program_env(opts: WatchOptions) -> dict[str, str]:
    """The program's environment with the inside tier's hook on PYTHONPATH."""
    env = dict(os.environ if opts.env is None else opts.env)
    if not opts.inside:
        return env
    added = [str(HOOK_DIR), str(PACKAGE_PARENT)]
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in added]
    env["PYTHONPATH"] = os.pathsep.join(added + rest)
    env[startup.ENV_ADDED_PATH] = os.pathsep.join(added)
    env[startup.ENV_DIR] = str(opts.out.resolve())
    env[startup.ENV_PERIOD] = repr(min(0.5, 0.5 / opts.hz))
    env[startup.ENV_ARENA_S] = repr(opts.arena_s)
    if opts.tracemalloc:
        env[startup.ENV_TRACEMALLOC] = "1"
    if opts.gc_mode:
        env[startup.ENV_GC_MODE] = opts.gc_mode
    return env


class _Stop:
    """SIGINT/SIGTERM handler: the first stops the watch (passed on to a started program)."""

    def __init__(self, child: subprocess.Popen[bytes] | None) -> None:
        self.child = child
        self.signum: int | None = None
        self.event = threading.Event()
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signum)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _mapped(pid: int) -> dict[str, Any]:
    """Allocator libraries mapped into ``pid`` (the preload check of the causal arms)."""
    from nrm.instrument.allocator import mapped_allocator_libraries

    try:
        text = Path(f"/proc/{pid}/maps").read_text()
    except OSError as exc:
        return {"checked": False, "error": str(exc)}
    return {"checked": True, "libraries": mapped_allocator_libraries(text)}


def _context(argv: Sequence[str] | None, pid: int) -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "python": sys.version.split()[0],
            "argv": list(argv) if argv else None, "pid": pid, "cpus": os.cpu_count()}


def watch(argv: Sequence[str] | None, opts: WatchOptions, *, pid: int | None = None,
          stream: Any = None) -> WatchResult:
    """Watch a program started now (``argv``) or a running process (``pid``)."""
    if argv:
        check_program(argv, opts.cwd)
    elif pid is not None:
        check_pid(pid)
    else:
        raise WatchError("nothing to watch: give -- PROGRAM ARGS or --pid PID")
    if not 0.1 <= opts.hz <= 50:
        raise WatchError(f"--hz {opts.hz:g} is out of range; use 1-10 (0.1-50 accepted)")
    if opts.unique:
        opts.out = claim_folder(opts.out)
    else:
        check_out(opts.out)
        opts.out.mkdir(parents=True, exist_ok=True)
    stream = stream if stream is not None else sys.stderr
    inside = bool(argv) and opts.inside
    record = RunRecord.create(
        opts.out,
        {"experiment": "WATCH",
         "watch": {"mode": "program" if argv else "pid", "hz": opts.hz, "inside": inside,
                   "arena_s": opts.arena_s, "tracemalloc": opts.tracemalloc,
                   "gc_mode": opts.gc_mode or None, **opts.extra}},
        context=_context(argv, pid or -1), format=WATCH_FORMAT, clock=now_iso)
    log = new_log(opts.out / CYCLES)
    child: subprocess.Popen[bytes] | None = None
    if argv:
        opts.inside = inside
        output = opts.output.open("ab") if opts.output is not None else None
        try:
            child = subprocess.Popen(list(argv), env=program_env(opts), cwd=opts.cwd,
                                     stdout=output, stderr=subprocess.STDOUT if output else None,
                                     preexec_fn=set_pdeathsig if opts.die_with_parent else None)
        except OSError as exc:
            log.close()
            record.finish("failed", 1, f"cannot start {argv[0]!r}: {exc}")
            raise WatchError(f"cannot start {argv[0]!r}: {exc}") from None
        finally:
            if output is not None:
                output.close()
        pid = child.pid
        record.update(context=_context(argv, pid))
    assert pid is not None
    reader = ProcReader(pid, smaps=opts.smaps)
    console = Console(stream) if opts.console and not opts.quiet else None
    feed = InsideFeed(opts.out / startup.INSIDE_CSV) if inside else None
    sampler = Sampler(reader, log, inside=feed, console=console)
    period = 1.0 / opts.hz
    with _Stop(child) as stop:
        sampler.prime()
        deadline = time.monotonic() + period
        while not stop.event.is_set():
            stop.event.wait(max(0.0, deadline - time.monotonic()))
            deadline += period
            if stop.event.is_set():
                break
            if child is not None and child.poll() is not None:
                break
            if not sampler.tick():
                break
            if opts.check_preload and sampler.step == 1:
                record.update(preload=_mapped(pid))
        if child is not None:
            try:
                child.wait(timeout=opts.grace_s if stop.signum else None)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    if console is not None:
        console.close()
    if feed is not None:  # the last inside line (written at exit) into the run's record
        feed.poll()
    log.close()
    return _finish(opts, record, argv, pid, child, stop.signum, sampler, feed)


def _finish(opts: WatchOptions, record: RunRecord, argv: Sequence[str] | None, pid: int,
            child: subprocess.Popen[bytes] | None, signum: int | None, sampler: Sampler,
            feed: InsideFeed | None) -> WatchResult:
    from nrm.watch import verdict

    rows = verdict.load_rows(opts.out)
    v = verdict.evaluate(rows)
    over = verdict.overhead(rows)
    code = child.returncode if child is not None else 0
    error: str | None = None
    if signum is not None:
        status, exit_status = "interrupted", 128 + signum
        name = signal.Signals(signum).name
        error = (f"watch stopped by {name} after {sampler.step} samples; the verdicts are of "
                 "what was gathered" + ("" if child is not None else
                                        f"; process {pid} was left running"))
    elif code != 0:
        status = "failed"
        exit_status = code if code > 0 else 128 - code
        why = (f"exited with status {code}" if code > 0
               else f"was killed by {signal.Signals(-code).name}")
        error = f"the program {why}; the verdicts are of what was gathered before"
    else:
        status, exit_status = "complete", 0
    inside_info: dict[str, Any] = {}
    if feed is not None:
        last = feed.latest
        inside_info = {"seen": last is not None}
        if last is not None:
            inside_info.update(marks=int(last["marks"]), work=float(last["work"]),
                               hook_cpu_s=float(last["hook_cpu_s"]),
                               final_line=last["final"] == "1",
                               work_source=last["work_source"] or None)
    record.data.update(verdicts=v.as_dict(), overhead=over, inside=inside_info,
                       samples=sampler.step, program_exit=code if child is not None else None)
    record.finish(status, exit_status, error)
    if not opts.quiet:
        print(f"nrm watch: {opts.out}: {sampler.step} samples, status {status}", file=sys.stdout)
        print(v.text())
        share = over.get("core_share")
        if share is not None:
            print(f"overhead: the watcher used {100 * share:.2f} % of one core "
                  f"({over['watcher_cpu_s']:.3f} s CPU over {over['wall_s']:.1f} s)")
        if error:
            print(f"note: {error}")
    return WatchResult(opts.out, status, exit_status, v, pid, over, error)
