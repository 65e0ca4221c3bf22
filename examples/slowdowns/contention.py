"""Contention (H1): the same work every step, pinned to one CPU; a third of the way through,
two competing processes start on the same CPU and take most of it.

    python examples/slowdowns/contention.py [UNITS]
"""

import os
import subprocess
import sys

from _common import fixed_work, mark, size

cpu = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpu})
units = size(800)
rivals: list[subprocess.Popen[bytes]] = []
BUSY = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
try:
    for step in range(units):
        if step == units // 3:
            rivals = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
        fixed_work(25_000)
        mark()
finally:
    for rival in rivals:
        rival.kill()
        rival.wait()
