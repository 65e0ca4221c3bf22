"""``nrm.mark(work=N)``: the one optional line that tells ``nrm watch`` how much work was done.

Call it once per unit of work (a batch, a request, a step) with the units done since the last
call; ``nrm watch`` then reports time per unit of work instead of per second, which tells a
program that slows down from one whose work per step grows. Outside ``nrm watch`` the call
only adds to a counter (about 50 ns), so it can stay in the program.
"""

from __future__ import annotations

#: Units of work marked so far, and the number of calls (read by nrm.watch.startup).
work_total: float = 0.0
marks: int = 0


def mark(work: float = 1) -> None:
    """Record ``work`` units of work done since the previous call (default 1)."""
    global work_total, marks
    work_total += work
    marks += 1
