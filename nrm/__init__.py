"""nrm: the NRM simulator, its instrumentation, and the statistics of the compendium.

Modules, one concern each:

- ``model``        the simulator (agents, bridge, resonance, clusters, mechanisms, one cycle)
- ``costs``        the costs under study as independent switches, and the named presets
- ``metrics``      system-metrics sources: live (psutil), fixed, replay (recorded trace)
- ``persistence``  the original SQLite persistence (one connection + insert + commit per row)
- ``experiments``  the registry of C255-C260, conditions and the synergy analysis
- ``runner``       runs an experiment into a run folder (run.json, cycles.csv, checkpoints)
- ``probe``        per-cycle runtime/memory probe, usable on any Python loop
- ``arenas``       pymalloc arena statistics (parsed from sys._debugmallocstats)
- ``sysinfo``      run context: versions, allocator, CPU, OS, git commit
- ``runlog``       writing run logs (cycles.csv appender, run.json)
- ``reader``       reading and validating run logs into pandas
- ``allocator``    running a simulation in a child process under another allocator
- ``stats``        the paper's statistics (variance, H1-H5, optimization comparison, prediction)
- ``claims``       the claims ledger: the paper's numbers beside their provenance
- ``scales``       the SCALE presets of ``make paper`` (smoke, default, full)
- ``render``       figures and the paper
- ``notebooks``    papermill parameter validation and execution
- ``cli``          the ``nrm`` command
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # nrm.mark(work=N) (nrm watch's work marker), imported on first use so `import nrm` stays cheap
    if name == "mark":
        from nrm.watch.marker import mark

        return mark
    raise AttributeError(f"module 'nrm' has no attribute {name!r}")
