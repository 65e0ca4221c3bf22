"""Synthetic run logs with known trends, for the reader and statistics tests.

The logs follow nrm/instrument/columns.py and docs/run-folder.md and look like real ones:
``wall_s`` of a
few to a few hundred milliseconds with autocorrelated noise, ``rss_bytes`` of 30-60 MB in whole
pages, arena columns filled every ``arena_every`` rows, system columns with sensor noise.
Every trend is a switch, so a test knows the truth it checks a verdict against. Seeded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

Trend = Literal["flat", "linear", "quadratic"]
CONDITIONS = ("OFF-OFF", "ON-OFF", "OFF-ON", "ON-ON")
MB = 1024 * 1024


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """AR(1) noise with stationary standard deviation ``sd`` (vectorised via lfilter)."""
    from scipy.signal import lfilter

    e = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = lfilter([1.0], [1.0, -phi], e)
    out[0] = rng.normal(0.0, sd)
    return out


def make_cycles(
    n_per_condition: int = 750,
    conditions: Sequence[str] | None = CONDITIONS,
    *,
    seed: int = 0,
    wall: Trend = "flat",
    wall_base_ms: float = 10.0,
    wall_slope_ms: float = 0.02,
    wall_noise_ms: float = 1.0,
    wall_phi: float = 0.5,
    rss: Trend = "flat",
    latency: Literal["flat", "linear"] = "flat",
    load: Literal["flat", "rising"] = "flat",
    thermal: Literal["flat", "throttling"] = "flat",
    arena_every: int = 50,
    drop: Sequence[str] = (),
) -> pd.DataFrame:
    """A cycles table. ``wall``: per-cycle time trend over the whole run (``step``):
    linear adds ``wall_slope_ms`` per step, quadratic is convex with the same end value.
    ``rss``: linear grows 30 → 50 MB; quadratic is U-shaped (minimum at 30 % of the run) and
    ends at 55 MB. ``latency`` linear: +0.005 ms per sample and +0.01 ms per commit for every
    1000 calls made so far. ``load`` rising: load1 0.5 → 2 and sys_cpu_pct 20 → 60.
    ``thermal`` throttling: temperature 50 → 80 °C and frequency 3000 → 2200 MHz."""
    rng = np.random.default_rng(seed)
    labels = list(conditions) if conditions else [None]
    n = n_per_condition * len(labels)
    step = np.arange(n)
    x = step / max(n - 1, 1)

    trend_ms = {
        "flat": np.zeros(n),
        "linear": wall_slope_ms * step,
        "quadratic": wall_slope_ms * (n - 1) * x**2,
    }[wall]
    wall_ms = wall_base_ms + trend_ms + _ar1(rng, n, wall_phi, wall_noise_ms)
    wall_s = np.clip(wall_ms, 0.2 * wall_base_ms, None) / 1000.0

    samples = rng.poisson(20, n)
    commits = rng.poisson(5, n)
    cum_samples = np.cumsum(samples)
    cum_commits = np.cumsum(commits)
    slope_on = 1.0 if latency == "linear" else 0.0
    sample_lat_ms = 0.05 + slope_on * 0.005 * cum_samples / 1000 + rng.normal(0, 0.01, n)
    commit_lat_ms = 0.2 + slope_on * 0.01 * cum_commits / 1000 + rng.normal(0, 0.03, n)
    sample_s = samples * np.clip(sample_lat_ms, 0.001, None) / 1000
    commit_s = commits * np.clip(commit_lat_ms, 0.001, None) / 1000

    cpu_s = wall_s * rng.uniform(0.85, 0.98, n)
    cpu_user_s = cpu_s * 0.9
    overhead = np.full(n, 1e-4)
    first_rows = np.arange(0, n, n_per_condition)
    overhead[first_rows] += 0.5  # condition set-up
    elapsed_s = np.cumsum(wall_s + overhead)

    rss_curve = {
        "flat": 40 * MB + np.zeros(n),
        "linear": 30 * MB + 20 * MB * x,
        "quadratic": 30 * MB + 25 * MB * ((x - 0.3) / 0.7) ** 2,
    }[rss]
    rss_bytes = (np.round((rss_curve + rng.normal(0, 0.2 * MB, n)) / 4096) * 4096).astype(np.int64)
    frag_curve = {
        "flat": 0.2 + np.zeros(n),
        "linear": 0.1 + 0.2 * x,
        "quadratic": 0.1 + 0.3 * ((x - 0.3) / 0.7) ** 2,
    }[rss]
    frag = np.clip(frag_curve + rng.normal(0, 0.01, n), 0, 0.99)

    rising = 1.0 if load == "rising" else 0.0
    load1 = np.clip(1.0 + rising * (1.5 * x - 0.5) + _ar1(rng, n, 0.9, 0.1), 0, None)
    sys_cpu = np.clip(30 + rising * (40 * x - 10) + rng.normal(0, 5, n), 0, 100)
    thr = 1.0 if thermal == "throttling" else 0.0
    temp = 55 + thr * (30 * x - 5) + _ar1(rng, n, 0.8, 1.0)
    freq = 2400 + thr * (600 - 800 * x) + rng.normal(0, 20, n)

    arena_rows = (step % arena_every) == 0
    arena_bytes = (rss_bytes * 0.6).astype(np.int64)
    used = (arena_bytes * (1 - frag)).astype(np.int64)
    arenas = arena_bytes // MB

    def sparse(v: np.ndarray) -> pd.Series:
        return pd.Series(np.where(arena_rows, v, np.nan)).astype("Int64")

    cols: dict[str, Any] = {"step": step}
    if labels[0] is not None:
        cols["condition"] = np.repeat(labels, n_per_condition)
    cols |= {
        "cycle": np.tile(np.arange(n_per_condition), len(labels)),
        "wall_s": wall_s,
        "cpu_user_s": cpu_user_s,
        "cpu_sys_s": cpu_s - cpu_user_s,
        "cpu_s": cpu_s,
        "blocked_s": wall_s - cpu_s,
        "elapsed_s": elapsed_s,
        "t_unix": 1.76e9 + elapsed_s,
        "rss_bytes": rss_bytes,
        "allocated_blocks": (rss_bytes // 64).astype(np.int64),
        "gc0": rng.poisson(3, n),
        "gc1": rng.poisson(0.3, n),
        "gc2": rng.poisson(0.01, n),
        "gc_pause_s": rng.gamma(2.0, 1e-5, n),
        "sys_cpu_pct": sys_cpu,
        "load1": load1,
        "cpu_freq_mhz": freq,
        "cpu_temp_c": temp,
        "arenas_allocated": sparse(arenas + step // 100),
        "arenas_reclaimed": sparse(step // 100),
        "arenas_highwater": sparse(arenas + 2),
        "arenas_current": sparse(arenas),
        "arena_bytes": sparse(arena_bytes),
        "used_block_bytes": sparse(used),
        "frag_ratio": np.where(arena_rows, 1 - used / arena_bytes, np.nan),
        "population": rng.integers(1, 100, n),
        "evolve_calls": rng.integers(1, 500, n),
        "registry_size": np.tile(np.arange(n_per_condition) // 3, len(labels)),
        "samples": samples,
        "sample_s": sample_s,
        "commits": commits,
        "commit_s": commit_s,
        "db_bytes": 4096 * (1 + cum_commits // 10),
    }
    df = pd.DataFrame(cols)
    return df.drop(columns=list(drop))


def write_run(
    folder: Path,
    cycles: pd.DataFrame,
    *,
    status: str | None = "complete",
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``cycles.csv`` (and ``run.json`` unless ``status`` is None) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cycles.to_csv(folder / "cycles.csv", index=False, lineterminator="\n")
    if status is not None:
        data = {"format": "nrm-run/1", "name": folder.name, "status": status} | (meta or {})
        (folder / "run.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def times_only(wall_s: np.ndarray, *, samples: np.ndarray | None = None) -> pd.DataFrame:
    """A minimal user log: just the required columns (and optionally ``samples``)."""
    n = len(wall_s)
    df = pd.DataFrame({"step": np.arange(n), "cycle": np.arange(n), "wall_s": wall_s})
    if samples is not None:
        df["samples"] = samples
    return df
