"""Flat: the same work every step; `nrm watch` must find no drift.

    python examples/slowdowns/flat.py [UNITS]
"""

from _common import fixed_work, mark, size

for _ in range(size(400)):
    fixed_work()
    mark()
