"""Contention (H1): the same work every step, pinned to one CPU; a third of the way through,
four competing processes start on the same CPU and take four fifths of it.

    python examples/slowdowns/contention.py [UNITS]
"""

import os
import subprocess
import sys

from _common import fixed_work, mark, size

cpu = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpu})
units = size(800)
RIVALS = 4  # each takes a share of the one CPU: the wait grows far above any noise
rivals: list[subprocess.Popen[bytes]] = []
BUSY = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
try:
    for step in range(units):
        if step == units // 3:
            rivals = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(RIVALS)]
        fixed_work(25_000)
        mark()
finally:
    for rival in rivals:
        rival.kill()
        rival.wait()
