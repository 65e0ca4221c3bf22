"""``nrm watch``: why did a long Python run slow down? A verdict for any program.

Modules, one concern each (nothing is imported here, so ``nrm.mark`` stays cheap):

- ``procstat``  reading ``/proc/PID/{stat,status,io,smaps_rollup,schedstat}`` and the host
- ``startup``   the inside tier: a start-up hook in the watched program (GC, arenas, marks)
- ``hook/``     the ``sitecustomize`` that loads ``startup`` without an edit of the program
- ``marker``    ``nrm.mark(work=N)``: the one optional line that normalises time per unit
- ``sampler``   the outside loop (1-10 Hz) writing ``cycles.csv``, and the live console line
- ``fit``       a series's drift through the compendium's ``nrm.stats.drift.drift``
- ``verdict``   the H1-H5 verdicts from the gathered series
- ``session``   one watch from start to verdicts: run folder, program or PID, signals
- ``report``    the HTML page of a watch folder
- ``arms``      causal re-runs under other allocators or GC modes, with an A/A arm
- ``command``   the ``nrm watch`` subcommand
"""
