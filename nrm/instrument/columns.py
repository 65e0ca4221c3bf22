"""The documented columns of ``cycles.csv`` (one row per cycle of a long-running loop).

This registry is the contract between the writer (``nrm.instrument.probe`` /
``nrm.instrument.runlog``), the reader
(``nrm.instrument.reader``) and the statistics (``nrm.stats``). A log from any simulation can be
analysed
if it has the *required* columns; every other column is optional and a statistic that needs a
missing one reports "not testable" rather than failing. Units are in the names: ``_s`` seconds,
``_bytes`` bytes, ``_pct`` percent (0-100), ``_mhz`` MHz, ``_c`` degrees Celsius. Empty cells
mean "not measured" (not available on this OS, or not a sampling cycle for the periodic
columns).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    dtype: str  # "int", "float" or "str"
    group: str
    description: str
    required: bool = False


_C = Column

COLUMNS: tuple[Column, ...] = (
    # identity
    _C(
        "step",
        "cycle",
        "int",
        "identity",
        "0-based index of the row in the whole run (all conditions)",
        True,
    ),
    _C(
        "condition",
        "-",
        "str",
        "identity",
        "label of the part of the run (e.g. OFF-OFF); one value for a plain loop",
    ),
    _C("cycle", "cycle", "int", "identity", "0-based cycle index within the condition", True),
    # timing (per cycle)
    _C("wall_s", "s", "float", "timing", "wall-clock time of the cycle (perf_counter)", True),
    _C("cpu_user_s", "s", "float", "timing", "process user CPU time spent in the cycle"),
    _C("cpu_sys_s", "s", "float", "timing", "process system CPU time spent in the cycle"),
    _C("cpu_s", "s", "float", "timing", "process CPU time (user + system) spent in the cycle"),
    _C(
        "blocked_s",
        "s",
        "float",
        "timing",
        "wall_s - cpu_s: time asleep, blocked or waiting for I/O",
    ),
    _C(
        "elapsed_s",
        "s",
        "float",
        "timing",
        "wall-clock seconds since the run started, at the end of the cycle",
    ),
    _C("t_unix", "s", "float", "timing", "Unix time at the end of the cycle"),
    _C(
        "ctx_switches_vol",
        "count",
        "int",
        "timing",
        "voluntary context switches during the cycle (the process slept or waited)",
    ),
    _C(
        "ctx_switches_invol",
        "count",
        "int",
        "timing",
        "involuntary context switches during the cycle (CPU taken away: contention)",
    ),
    # memory
    _C("rss_bytes", "bytes", "int", "memory", "resident set size at the end of the cycle"),
    _C(
        "allocated_blocks",
        "blocks",
        "int",
        "memory",
        "sys.getallocatedblocks() at the end of the cycle (every K cycles; empty without pymalloc)",
    ),
    _C(
        "minor_faults",
        "count",
        "int",
        "memory",
        "minor page faults during the cycle (pages mapped without disk I/O)",
    ),
    _C(
        "major_faults",
        "count",
        "int",
        "memory",
        "major page faults during the cycle (pages read from disk)",
    ),
    # garbage collector
    _C("gc0", "count", "int", "gc", "generation-0 collections during the cycle"),
    _C("gc1", "count", "int", "gc", "generation-1 collections during the cycle"),
    _C("gc2", "count", "int", "gc", "generation-2 collections during the cycle"),
    _C(
        "gc_pause_s", "s", "float", "gc", "time spent inside the garbage collector during the cycle"
    ),
    # process I/O (Linux /proc/self/io; empty elsewhere)
    _C(
        "io_read_bytes",
        "bytes",
        "int",
        "io",
        "bytes read by the process during the cycle (storage layer)",
    ),
    _C(
        "io_write_bytes",
        "bytes",
        "int",
        "io",
        "bytes written by the process during the cycle (storage layer)",
    ),
    _C("io_read_calls", "count", "int", "io", "read syscalls during the cycle"),
    _C("io_write_calls", "count", "int", "io", "write syscalls during the cycle"),
    # system
    _C(
        "sys_cpu_pct",
        "%",
        "float",
        "system",
        "system-wide CPU utilisation since the previous row (non-blocking)",
    ),
    _C("load1", "tasks", "float", "system", "1-minute load average"),
    _C(
        "cpu_freq_mhz",
        "MHz",
        "float",
        "system",
        "current CPU frequency (empty where the OS does not report it)",
    ),
    _C(
        "cpu_temp_c",
        "degC",
        "float",
        "system",
        "highest CPU temperature sensor (empty where none exists)",
    ),
    # pymalloc arenas (every K cycles; empty in between)
    _C("arenas_allocated", "count", "int", "arena", "arenas allocated since start (cumulative)"),
    _C(
        "arenas_reclaimed",
        "count",
        "int",
        "arena",
        "arenas returned to the OS since start (cumulative)",
    ),
    _C("arenas_highwater", "count", "int", "arena", "most arenas held at once"),
    _C("arenas_current", "count", "int", "arena", "arenas held now"),
    _C("arena_bytes", "bytes", "int", "arena", "bytes held in arenas now"),
    _C("used_block_bytes", "bytes", "int", "arena", "bytes in used pymalloc blocks"),
    _C(
        "frag_ratio",
        "ratio",
        "float",
        "arena",
        "1 - used_block_bytes / arena_bytes: share of arena memory not in use",
    ),
    _C(
        "tracemalloc_current_bytes",
        "bytes",
        "int",
        "arena",
        "tracemalloc current traced size (optional)",
    ),
    _C(
        "tracemalloc_peak_bytes", "bytes", "int", "arena", "tracemalloc peak traced size (optional)"
    ),
    _C("uss_bytes", "bytes", "int", "arena", "unique set size (optional; slow to measure)"),
    # counters handed in by the loop (the NRM simulator fills these)
    _C("population", "agents", "int", "loop", "agents alive after the cycle"),
    _C(
        "evolve_calls",
        "count",
        "int",
        "loop",
        "agent evolve calls in the cycle (recursive ones included)",
    ),
    _C(
        "registry_size",
        "clusters",
        "int",
        "loop",
        "entries in the cluster registry after the cycle",
    ),
    _C("samples", "count", "int", "loop", "system-metrics samples taken in the cycle"),
    _C("sample_s", "s", "float", "loop", "total time spent taking those samples"),
    _C("commits", "count", "int", "loop", "SQLite commits in the cycle"),
    _C(
        "commit_s",
        "s",
        "float",
        "loop",
        "total time spent in those commits (connect + insert + commit + close)",
    ),
    _C(
        "db_bytes",
        "bytes",
        "int",
        "loop",
        "total size of the run's SQLite databases after the cycle",
    ),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
REQUIRED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)

#: How ``cycles.csv`` writes the floats of these columns (others: ``repr``, exact). Durations
#: in seconds to the nanosecond (``perf_counter`` resolution); ``getrusage`` CPU times and the
#: Unix time to the microsecond (their resolution). Shorter and faster to write than ``repr``.
FLOAT_FORMATS: dict[str, str] = {
    **{c.name: "%.9f" for c in COLUMNS if c.dtype == "float" and c.unit == "s"},
    "cpu_user_s": "%.6f",
    "cpu_sys_s": "%.6f",
    "cpu_s": "%.6f",
    "t_unix": "%.6f",
}


def markdown_table() -> str:
    """The registry as a Markdown table (used by docs and the paper's appendix)."""
    lines = ["| column | unit | group | required | description |", "|---|---|---|---|---|"]
    for c in COLUMNS:
        lines.append(
            f"| `{c.name}` | {c.unit} | {c.group} | {'yes' if c.required else ''} "
            f"| {c.description} |"
        )
    return "\n".join(lines)
