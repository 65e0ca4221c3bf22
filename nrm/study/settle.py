"""Let the disk settle before a timed run.

A run that writes hundreds of MiB (the database-growth arms) leaves dirty pages that the kernel
writes back for seconds after the run has ended. A disk-committing run timed during that
writeback is slowed by it: in the 2026-12-07 reference study one A/A run took 7.77 s against
~4.3 s for its siblings because it ran right after a 300 MiB database-growth arm, which widened
the short arms' A/A band to -36/+56 %. So the sweep flushes (``os.sync``) and waits until the
kernel's ``Dirty`` + ``Writeback`` pages fall below a small threshold before it starts a run,
and records how long that took and how much was pending.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

MEMINFO = Path("/proc/meminfo")
#: Dirty + writeback pages left that count as settled (KiB). Background writers (logs, the
#: other worker's run) keep a few MiB dirty at any time on a quiet machine.
SETTLED_KIB = 16 * 1024
#: The longest the sweep waits; past it the run starts anyway and its record says so.
TIMEOUT_S = 60.0
POLL_S = 0.1


def pending_writeback_kib(meminfo: Path = MEMINFO) -> int | None:
    """``Dirty`` + ``Writeback`` from /proc/meminfo in KiB, or None where it is not readable."""
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return None
    total, seen = 0, 0
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Dirty", "Writeback"):
            total += int(rest.split()[0])
            seen += 1
    return total if seen else None


@dataclass(frozen=True)
class Settled:
    """What settling found: pending KiB before the sync and at the end, the wait, and whether
    the threshold was reached within the timeout."""

    pending_before_kib: int | None
    pending_after_kib: int | None
    wait_s: float
    settled: bool

    def to_dict(self) -> dict[str, object]:
        return {"pending_before_kib": self.pending_before_kib,
                "pending_after_kib": self.pending_after_kib,
                "wait_s": round(self.wait_s, 3), "settled": self.settled}


def settle_disk(*, threshold_kib: int = SETTLED_KIB, timeout_s: float = TIMEOUT_S,
                meminfo: Path = MEMINFO) -> Settled:
    """``os.sync()``, then poll until dirty + writeback pages are below ``threshold_kib`` or
    ``timeout_s`` has passed. Where /proc/meminfo is unreadable only the sync is done."""
    t0 = time.perf_counter()
    before = pending_writeback_kib(meminfo)
    os.sync()
    now = pending_writeback_kib(meminfo)
    while now is not None and now > threshold_kib and time.perf_counter() - t0 < timeout_s:
        time.sleep(POLL_S)
        now = pending_writeback_kib(meminfo)
    return Settled(before, now, time.perf_counter() - t0,
                   now is None or now <= threshold_kib)
