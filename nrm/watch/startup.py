"""The inside tier of ``nrm watch``: runs in the watched program, started by ``hook/``.

What it records, with no edit of the program:

- every garbage collection, per generation (``gc.callbacks``), and their durations (CPU time
  of the collecting thread): every full collection timed, young ones sampled (one in
  :data:`YOUNG_STRIDE`, scaled; see :meth:`Recorder._gc_callback`);
- pymalloc's arenas (``sys._debugmallocstats()`` parsed by :mod:`nrm.instrument.arenas`) every
  ``NRM_WATCH_ARENA_S`` seconds (default 5; 0: never), because one reading walks every arena;
- optionally tracemalloc's traced bytes (``NRM_WATCH_TRACEMALLOC=1``; it slows allocation);
- the work marked with :func:`nrm.mark` (``nrm.watch.marker``), or, in a program that marks
  nothing but measures its loop with :class:`nrm.instrument.probe.Probe`, the Probe's cycles
  (each cycle one unit of work; ``work_source`` says which).

A daemon thread appends one line of cumulative counters to ``inside.csv`` in the watch folder
every ``NRM_WATCH_PERIOD`` seconds (one ``write`` call per line) and a last line at exit. Only
the first Python process of the watched tree claims the file (``O_EXCL``); the hook's
variables are then taken out of the environment so the program's own children run unwatched.
The thread's own CPU time is recorded (``hook_cpu_s``): the inside tier's measured overhead.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
import time
from typing import Any

# Imported at start-up, in the main thread before the program's own code: imported lazily by
# the recording thread, this import (some 35 ms of CPU in a bare interpreter: dataclasses,
# tempfile) was the larger part of the thread's CPU in a short watched program and was counted
# as steady-state overhead (1.5 % of a 3 s program's CPU, 12 blocks, quiet machine).
from nrm.instrument.arenas import read_arena_stats

ENV_DIR = "NRM_WATCH_DIR"
ENV_PERIOD = "NRM_WATCH_PERIOD"
ENV_ARENA_S = "NRM_WATCH_ARENA_S"
ENV_TRACEMALLOC = "NRM_WATCH_TRACEMALLOC"
ENV_ADDED_PATH = "NRM_WATCH_ADDED_PATH"
ENV_GC_MODE = "NRM_WATCH_GC"
INSIDE_CSV = "inside.csv"
#: One young (generation 0 or 1) collection in this many is timed; every full one is.
YOUNG_STRIDE = 32

COLUMNS: tuple[str, ...] = (
    "t_mono", "pid", "work", "marks", "cpu_s", "gc0_n", "gc1_n", "gc2_n", "gc0_s", "gc1_s",
    "gc2_s", "gc2_max_s", "arenas_current", "arena_bytes", "used_block_bytes", "frag_ratio",
    "tracemalloc_bytes", "hook_cpu_s", "work_source", "final",
)


def work_done() -> tuple[float, int, str]:
    """(work, marks, source): ``nrm.mark``'s counters, else the cycles ended by any
    :class:`~nrm.instrument.probe.Probe` of this process (only if the program imported it),
    else nothing marked."""
    from nrm.watch import marker

    if marker.marks:
        return float(marker.work_total), marker.marks, "mark"
    probe = sys.modules.get("nrm.instrument.probe")
    cycles = int(getattr(probe, "cycles_ended", 0)) if probe is not None else 0
    if cycles:
        return float(cycles), cycles, "probe"
    return 0.0, 0, ""


class Recorder:
    """GC timings (from ``gc.callbacks``) and the periodic line writer."""

    def __init__(self, fd: int, period: float, arena_s: float, tracemalloc_on: bool) -> None:
        self.fd = fd
        self.period = period
        self.arena_s = arena_s
        self.tracemalloc_on = tracemalloc_on
        self.n = [0, 0, 0]
        self.s = [0.0, 0.0, 0.0]
        self.gc2_max = 0.0
        self._arena: Any = None
        self._arena_next = 0.0
        self._arenas_ok = arena_s > 0
        self._thread_cpu = 0.0
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self.on_gc = self._gc_callback()

    def _gc_callback(self) -> Any:
        """The ``gc.callbacks`` entry: counts every collection; times every full (generation 2)
        collection and, per young generation, one collection in :data:`YOUNG_STRIDE` (the 1st,
        33rd, ...), each timed young one standing for ``YOUNG_STRIDE`` (an unbiased estimate
        of the young collections' time, kept cumulative and never decreasing). Reading the
        thread's CPU clock is a system call (4-9 us on this loaded VM), and young collections
        can run several times per millisecond: timing each cost 14.4 us per collection (min of
        9 loops of direct calls, load 28), this callback 2.4 us. CPU time of the collecting
        thread, not wall time: a collection during which the program was descheduled by other
        load does not look longer. A closure over locals: the cheapest Python callback."""
        n, s = self.n, self.s
        clock = time.thread_time
        stride = YOUNG_STRIDE
        # collections started per generation (counted apart: in one count, generation 1's
        # place in CPython's cycle of 11 gen-0 and 1 gen-1 collections never met the stride),
        # and the timed one's start (-1: not timed)
        seen = [0, 0, 0]
        state = [-1.0]
        rec = self

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            gen = info["generation"]
            if phase == "start":
                if gen == 2:
                    state[0] = clock()
                else:
                    k = seen[gen] + 1
                    seen[gen] = k
                    state[0] = clock() if k % stride == 1 else -1.0
                return
            n[gen] += 1
            t0 = state[0]
            if t0 >= 0.0:
                dt = clock() - t0
                if gen == 2:
                    s[2] += dt
                    if dt > rec.gc2_max:
                        rec.gc2_max = dt
                else:
                    s[gen] += dt * stride

        return on_gc

    def _arenas(self, now: float) -> None:
        if not self._arenas_ok or now < self._arena_next:
            return
        self._arena_next = now + self.arena_s
        try:
            self._arena = read_arena_stats()
        except Exception:
            self._arena = None
        if self._arena is None:  # pymalloc not in use (PYTHONMALLOC=malloc): stop asking
            self._arenas_ok = False

    def line(self, final: bool = False) -> str:
        work, marks, source = work_done()
        a = self._arena
        traced = ""
        if self.tracemalloc_on:
            import tracemalloc

            if tracemalloc.is_tracing():
                traced = str(tracemalloc.get_traced_memory()[0])
        frag = "" if a is None or a.frag_ratio is None else repr(a.frag_ratio)
        cells = (
            repr(time.monotonic()), str(os.getpid()), repr(work),
            str(marks), repr(time.process_time()), *map(str, self.n),
            *map(repr, self.s), repr(self.gc2_max),
            "" if a is None else str(a.arenas_current), "" if a is None else str(a.arena_bytes),
            "" if a is None else str(a.used_block_bytes), frag, traced,
            repr(self._thread_cpu), source, "1" if final else "0",
        )
        self.gc2_max = 0.0
        return ",".join(cells) + "\n"

    def write(self, final: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):
                os.write(self.fd, self.line(final).encode())
            if final:
                self._closed = True
                with contextlib.suppress(OSError):
                    os.close(self.fd)

    def loop(self) -> None:
        while not self._stop.wait(self.period):
            t0 = time.thread_time()
            self._arenas(time.monotonic())
            self.write()
            self._thread_cpu += time.thread_time() - t0

    def at_exit(self) -> None:
        self._stop.set()
        self.write(final=True)

    def after_fork_in_child(self) -> None:
        """A forked child is not the watched process: stop recording there, silently."""
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self.on_gc)


def _clean_environment() -> None:
    """Take the hook out of the environment the program's children inherit."""
    added = os.environ.pop(ENV_ADDED_PATH, "")
    drop = {p for p in added.split(os.pathsep) if p}
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in drop]
    if parts:
        os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    else:
        os.environ.pop("PYTHONPATH", None)
    for name in (ENV_DIR, ENV_PERIOD, ENV_ARENA_S, ENV_TRACEMALLOC, ENV_GC_MODE):
        os.environ.pop(name, None)


_recorder: Recorder | None = None


def start() -> Recorder | None:
    """Start recording in this process when ``nrm watch`` asked for it (idempotent)."""
    global _recorder
    folder = os.environ.get(ENV_DIR)
    if not folder or _recorder is not None:
        return _recorder
    try:
        fd = os.open(os.path.join(folder, INSIDE_CSV),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
    except FileExistsError:  # another process of the tree was first
        return None
    period = float(os.environ.get(ENV_PERIOD, "0.5"))
    arena_s = float(os.environ.get(ENV_ARENA_S, "5"))
    traced = os.environ.get(ENV_TRACEMALLOC) == "1"
    gc_mode = os.environ.get(ENV_GC_MODE, "")
    _clean_environment()
    os.write(fd, (",".join(COLUMNS) + "\n").encode())
    rec = Recorder(fd, period, arena_s, traced)
    if traced:
        import tracemalloc

        tracemalloc.start()
    gc.callbacks.append(rec.on_gc)
    if gc_mode == "disable":
        gc.disable()
    elif gc_mode == "freeze":  # freeze what exists at start-up and after the first second
        gc.freeze()
        timer = threading.Timer(1.0, gc.freeze)
        timer.daemon = True
        timer.start()
    os.register_at_fork(after_in_child=rec.after_fork_in_child)
    atexit.register(rec.at_exit)
    rec.write()
    threading.Thread(target=rec.loop, name="nrm-watch", daemon=True).start()
    _recorder = rec
    return rec
