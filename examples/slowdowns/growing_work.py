"""Growing work (H5): every step scans a list that grows by a constant amount per step, so the
time per step rises in a straight line while nothing else changes.

    python examples/slowdowns/growing_work.py [UNITS]
"""

from _common import fixed_work, mark, size

items: list[int] = []
for step in range(size(600)):
    fixed_work(5_000)
    items.extend(range(step * 400, step * 400 + 400))
    hits = sum(1 for x in items if x % 97 == 0)  # a scan of everything seen so far
    mark()
