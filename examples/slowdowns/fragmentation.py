"""Fragmentation (H2): the compendium's H2 positive control (nrm/study/controls.py) as a plain loop.
Small records retire first in, first out while every 16th stays referenced, and bigger records
join: pymalloc cannot reuse the pinned pools for the new size class, so its arenas stay
allocated while the blocks in use fall (frag_ratio rises from the middle of the run on).

    python examples/slowdowns/fragmentation.py [UNITS]
"""

from _common import fixed_work, mark, size

from nrm.study.controls import ControlSpec, Workload

work = Workload(ControlSpec("fragmentation", cycles=max(20, size(800)), population=200_000))
work.setup()
for _ in range(work.spec.cycles):
    fixed_work(20_000)
    work.step()
    mark()
