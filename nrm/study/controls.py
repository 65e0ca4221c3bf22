"""Positive and negative controls for H2 (memory fragmentation): a workload that fragments
pymalloc's arenas on purpose, and the same workload without the objects that do it.

A verdict "no fragmentation" is only worth something if the instruments (``frag_ratio`` and
``rss_bytes`` in ``cycles.csv``, the H2 test of :mod:`nrm.stats.hypotheses`) are shown to see
fragmentation where it is there. Both controls run under the :class:`~nrm.instrument.probe.Probe`
into
an ordinary run folder (``cycles.csv`` + ``run.json`` with the run context, status
``complete``), so :func:`nrm.instrument.reader.load_run` and :func:`nrm.stats.evaluate_hypotheses`
read
them unchanged.

The workload (one process, ``cycles`` cycles):

- a population of ``population`` small records (tuples of 7 cached ints: 96 bytes, pymalloc
  size class 96) is built before the first cycle;
- every cycle ``churn`` temporaries (small dicts) are made, used and dropped;
- from cycle ``shift_at * cycles`` on, the population turns over: each cycle its
  ``turnover`` oldest records retire (first in, first out, i.e. in the order their memory was
  handed out) and bigger records join (tuples of 10: 120 bytes, size class 128), as when a
  program's records gain fields; 3 join for every 4 that retired ``JOIN_LAG`` cycles before,
  so the bytes of pymalloc blocks in use stay level (3 x 128 = 4 x 96) and the pools the
  retirees emptied are free by the time the newcomers need pools. The turnover is set so
  that the last of the small records retires in the last cycle;
- **fragmentation** (positive control): every ``keep_every``-th retired record stays
  referenced for the rest of the run (a registry that is never pruned). Before the shift the
  newcomers reuse the holes next to these survivors (same size class); after it they cannot:
  pymalloc hands a pool to another size class only when the pool is entirely free, and an
  arena back to the OS only when all its pools are. Every 16 KiB pool of the small size class
  keeps ~ 170 / ``keep_every`` survivors, so the pools and their arenas stay allocated while
  the blocks in use fall, and the newcomers need new arenas: ``frag_ratio`` and RSS rise from
  the shift on.
- **no-fragmentation** (negative control): the same, keeping no retired record. Retired
  pools empty completely and are reused by the newcomers (or their arenas are released); the
  memory in use and the arenas held stay level.

The positive control's fragmentation grows non-linearly over the run (level, then rising from
the shift on) because that is the shape H2's criterion looks for (quadratic minus linear R²);
a control whose fragmentation rose in a straight line would be missed by that criterion by
construction, which would say something about the criterion, not the instrument.

Before the first cycle the workload fills CPython's free lists (freed tuples, floats, lists
and dicts kept for reuse, which pymalloc counts as used) so that their filling does not show
as a creeping rise of memory. What remains in the negative control is a ~0.3 MB rise of RSS
while the probe and its log warm up; the default H2 rule has no effect size and sometimes
calls that "supported", so :func:`nrm.study.control_analysis.summarize` also reports the
verdict with a floor on the rise (:func:`nrm.study.control_analysis.control_rules`).

Under ``PYTHONMALLOC=malloc`` (``--allocator malloc|jemalloc|mimalloc``) pymalloc is off: the
arena columns stay empty and only RSS (and the workload's own ``live_bytes``) measure the
effect. ``live_bytes`` is what the records and survivors occupy by ``sys.getsizeof``
(excluding the interpreter and the probe), the same under every allocator.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.exceptions import ParameterError

KINDS: tuple[str, ...] = ("fragmentation", "no-fragmentation")
#: run.json ``experiment`` of each control (not one of C255-C260; labelled as a control).
EXPERIMENT_IDS: dict[str, str] = {
    "fragmentation": "CTRL-FRAG",
    "no-fragmentation": "CTRL-NOFRAG",
}
EXTRA_COLUMNS: tuple[str, ...] = ("births", "deaths", "pinned", "live_bytes")
#: The floor on H2's growth the controls are also judged with (see summarize()).
H2_FLOOR = 0.05

#: fields of a small and of a big record (tuples): 96 and 120 bytes on 64-bit CPython 3.11
#: (GC header included), pymalloc size classes 96 and 128, which the probe's own per-cycle
#: objects (held until the log's next flush) do not use
SMALL_FIELDS = 7
BIG_FIELDS = 10
_SMALL_BYTES = sys.getsizeof(tuple(range(SMALL_FIELDS)))
_BIG_BYTES = sys.getsizeof(tuple(range(BIG_FIELDS)))
#: big records joining per small record retiring after the shift (blocks of 128 and 96 bytes)
BIG_PER_SMALL: tuple[int, int] = (3, 4)
#: newcomers replace the records retired this many cycles earlier
JOIN_LAG = 6


@dataclass(frozen=True)
class ControlSpec:
    """Parameters of one control run (recorded in run.json ``parameters``)."""

    kind: str
    cycles: int = 400
    population: int = 200_000
    keep_every: int = 16
    shift_at: float = 0.5
    churn: int = 200
    arena_every: int = 1
    flush_every: int = 50
    allocator: str | None = None  # requested (recorded; the CLI spawns the child)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(
                f"unknown control {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        for name in ("cycles", "population", "keep_every", "arena_every", "flush_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.churn, int) or self.churn < 0:
            raise ParameterError(f"churn must be an integer >= 0, got {self.churn!r}")
        if not 0.0 <= self.shift_at < 1.0:
            raise ParameterError(f"shift_at must be in [0, 1), got {self.shift_at!r}")
        if self.cycles < 20:
            raise ParameterError(
                f"cycles must be >= 20 (the H2 test needs rows before and after the shift), "
                f"got {self.cycles}"
            )
        if self.keep_every < 2:
            raise ParameterError(f"keep_every must be >= 2, got {self.keep_every}")

    @property
    def shift_cycle(self) -> int:
        return int(self.shift_at * self.cycles)

    @property
    def turnover(self) -> int:
        """Records retiring (and joining) each cycle: the small ones are all gone at the end."""
        return max(1, math.ceil(self.population / max(1, self.cycles - self.shift_cycle)))

    @property
    def pins(self) -> bool:
        return self.kind == "fragmentation"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["turnover"] = self.turnover
        d["shift_cycle"] = self.shift_cycle
        return d


class Workload:
    """The controls' loop body; :meth:`step` is one cycle (see the module docstring)."""

    def __init__(self, spec: ControlSpec) -> None:
        self.spec = spec
        self.records: deque[tuple[int, ...]] = deque()
        self.pinned: list[tuple[int, ...]] = []
        self.retired = 0
        self.retired_log: list[int] = []
        self.big = 0
        self.cycle = 0
        self.live_bytes = 0
        self.checksum = 0

    def setup(self) -> None:
        # pymalloc keeps one entirely free arena instead of returning it (the last one on its
        # list of usable arenas). Make it exist from the start, so that the first arena the
        # retirees empty is returned instead of becoming the spare, a one-arena step that is
        # not fragmentation
        warm = [bytes(60) + i.to_bytes(4, "little") for i in range(40_000)]  # ~4 MiB, no freelist
        del warm
        # CPython keeps up to 2000 freed tuples of each length below 20 (and a few floats,
        # lists, dicts) for reuse: blocks pymalloc counts as used. Fill those free lists now,
        # or their slow filling by the loop and the probe shows as a creeping rise of memory
        for n in range(1, 20):
            warm = [tuple(range(i, i + n)) for i in range(2_100)]
            del warm
        warm = [([i], {i: i}, float(i)) for i in range(200)]
        del warm
        append = self.records.append
        for i in range(self.spec.population):
            append((i & 255, 1, 2, 3, 4, 5, 6))
        self.live_bytes = self.spec.population * _SMALL_BYTES

    def step(self) -> dict[str, int]:
        spec = self.spec
        c = self.cycle
        # temporaries: made, used and dropped within the cycle
        tmp = [{"id": i, "v": i * 0.5} for i in range(spec.churn)]
        self.checksum ^= sum(d["id"] for d in tmp) & 0xFFFF
        del tmp
        if c < spec.shift_cycle:  # before the shift the population only lives
            self.cycle += 1
            return {
                "population": len(self.records),
                "births": 0,
                "deaths": 0,
                "pinned": len(self.pinned),
                "live_bytes": self.live_bytes,
            }
        # turnover: the oldest records retire (FIFO, i.e. in the order their memory was
        # handed out), newcomers join
        n = min(spec.turnover, spec.population - self.retired)  # only small records retire
        popleft = self.records.popleft
        k = spec.keep_every
        pin = self.pinned.append if spec.pins else None
        freed = 0
        for _ in range(n):
            rec = popleft()
            self.retired += 1
            if pin is not None and self.retired % k == 0:
                pin(rec)
            else:
                freed += sys.getsizeof(rec)
        # as many bytes of pymalloc blocks join as retired JOIN_LAG cycles earlier: 5 big
        # records (128-byte blocks) for every 4 small ones (96-byte blocks), so the memory in
        # use stays level and the pools the retirees emptied are free before they are needed
        self.retired_log.append(self.retired)
        joined_for = self.retired_log[-1 - JOIN_LAG] if len(self.retired_log) > JOIN_LAG else 0
        births = joined_for * BIG_PER_SMALL[0] // BIG_PER_SMALL[1] - self.big
        self.big += births
        append = self.records.append
        for i in range(births):
            append(((c + i) & 255, 1, 2, 3, 4, 5, 6, 7, 8, 9))
        self.live_bytes += births * _BIG_BYTES - freed
        self.cycle += 1
        return {
            "population": len(self.records),
            "births": births,
            "deaths": n,
            "pinned": len(self.pinned),
            "live_bytes": self.live_bytes,
        }


def default_out(spec: ControlSpec) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    alloc = f"-{spec.allocator}" if spec.allocator else ""
    return paths.RUNS / f"control-{spec.kind}{alloc}-{stamp}"


def run_control(
    spec: ControlSpec,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one control into a new run folder; returns its run.json content.

    The folder must not exist or be empty (runs never replace earlier runs).
    """
    from nrm.instrument.probe import Probe
    from nrm.instrument.runlog import CycleLog
    from nrm.instrument.runrecord import RunRecord
    from nrm.run.runner import prepare_run_dir

    run_dir = prepare_run_dir(out if out is not None else default_out(spec))
    record = RunRecord.create(
        run_dir,
        {
            "kind": "control",
            "experiment": EXPERIMENT_IDS[spec.kind],
            "control": spec.kind,
            "variant": "control",
            "experiment_note": (
                "H2 positive control: survivors pin pymalloc pools; newcomers change size "
                "class at the shift"
                if spec.pins
                else "H2 negative control: the same workload keeping no retired record"
            ),
            "parameters": spec.to_dict(),
            "allocator_requested": spec.allocator,
            "pid": os.getpid(),
        },
        context=context,
    )
    meta = record.data
    log = CycleLog(
        run_dir / paths.CYCLES_CSV, flush_every=spec.flush_every, extra_columns=EXTRA_COLUMNS
    )
    probe = Probe(log, arena_every=spec.arena_every)
    meta["probe"] = probe.settings()
    work = Workload(spec)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=spec.cycles, desc=f"control {spec.kind}", unit="cycle", mininterval=1.0)
    status, exit_status, error = "complete", 0, None
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        work.setup()
        probe.start()
        for cycle in range(spec.cycles):
            probe.begin_cycle()
            fields = work.step()
            probe.end_cycle(step=cycle, cycle=cycle, condition=spec.kind, **fields)
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        status, exit_status, error = "interrupted", 130, "interrupted by signal"
        raise
    except BaseException as exc:
        status, exit_status, error = "failed", 1, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if probe._started:
            probe.stop()
        log.close()
        if bar is not None:
            bar.close()
        meta["probe_cost"] = probe.own_cost()
        meta["totals"] = {
            "cycles": work.cycle,
            "runtime_s": time.perf_counter() - w0,
            "cpu_s": time.process_time() - c0,
            "pinned": len(work.pinned),
            "live_bytes": work.live_bytes,
            "checksum": work.checksum,
        }
        record.finish(status, exit_status, error)
    return meta


# --- summary --------------------------------------------------------------------------------


# --- CLI: nrm control {fragmentation,no-fragmentation} ---------------------------------------
