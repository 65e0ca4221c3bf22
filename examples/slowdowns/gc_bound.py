"""GC-bound (H2-gc): a cache of long-lived containers grows, and a library-style
``gc.collect()`` after every few batches (as many frameworks do per batch or epoch) walks all
of it, so the time in garbage collection per step grows with the cache.

    python examples/slowdowns/gc_bound.py [UNITS]
"""

import gc

from _common import fixed_work, mark, size

cache: list[dict[str, int]] = []
for step in range(size(500)):
    fixed_work(10_000)
    cache.extend({"step": step, "i": i} for i in range(1_500))  # long-lived containers
    if step % 3 == 2:
        gc.collect()
    mark()
