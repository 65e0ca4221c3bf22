"""nrm: the NRM simulator, its instrumentation, the causal study and the statistics of the
compendium. The sub-packages are its layers, lowest first (tests/test_architecture.py keeps the
imports pointing down):

- leaves        ``exceptions``, ``paths``, ``atomic``, ``deps``, ``lockfile``, ``provenance``
- ``instrument``  the probe, the run log (cycles.csv, run.json) and its columns, arenas,
                  allocators, the run's context, the reader of run folders
- ``sim``         the simulator: model, costs, conditions, metrics sources, SQLite persistence,
                  the experiments C255-C260 and their wiring
- ``run``         one run: its specification, checks, scales (the paper's and the study's),
                  the runner, the allocator child, lock, safety, database pre-growth
- ``stats``       the paper's statistics, drift at a fixed workload, block intervals
- ``claims``      the claims ledger: the paper's numbers beside their provenance
- ``render``      figures, the paper and its sections, build comparison
- ``study``       the causal study: arms, plan and sweep on Dask, controls, worker arms, analysis
- ``watch``       ``nrm watch``: why any long Python program slows down
- ``build``       the doit pipeline, estimates, budgets, benchmarks, reproduction, notebooks
- ``cli``         the ``nrm`` command, one module per subcommand
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # nrm.mark(work=N) (nrm watch's work marker), imported on first use so `import nrm` stays cheap
    if name == "mark":
        from nrm.watch.marker import mark

        return mark
    raise AttributeError(f"module 'nrm' has no attribute {name!r}")
