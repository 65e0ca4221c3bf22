"""Causal re-runs: the program under each arm, in randomized blocks, with an A/A arm.

``--arms allocator=malloc,jemalloc,mimalloc gc=freeze,disable --repeats N`` runs, in each of N
blocks, the baseline twice (arms ``A`` and ``A'``: the A/A arm, whose difference is the noise
floor) and every other arm once, in a random order per block (seeded). Each run is an ordinary
watch folder ``OUT/bK-ARM``. What is compared is the drift (time per 1000 units, or the CPU
share per hour without markers), not the mean: a cause of the slowdown changes the slope.

An allocator arm runs with :func:`nrm.instrument.allocator.child_env` (``PYTHONMALLOC=malloc`` and
``LD_PRELOAD`` of jemalloc/mimalloc); its run counts only when the library shows in
``/proc/PID/maps`` (the preload check). An arm whose library is missing reads "not available"
and the other arms go on. GC arms set the inside tier's ``gc.disable()`` or ``gc.freeze()``.

The arms run one after the other in this process (not yet on the study's Dask sweep).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from nrm.atomic import atomic_write_json
from nrm.exceptions import AllocatorError, WatchError
from nrm.instrument.allocator import ALLOCATORS, child_env, find_library
from nrm.run.scales import DEFAULT_SEED
from nrm.watch.session import WatchOptions, check_out, check_program, watch

GC_MODES = ("disable", "freeze")
BASE = ("A", "A'")


def parse_arms(specs: list[str]) -> list[tuple[str, str]]:
    """``["allocator=malloc,jemalloc", "gc=freeze"]`` -> ``[("allocator", "malloc"), ...]``."""
    arms: list[tuple[str, str]] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not values:
            raise WatchError(f"--arms {spec!r}: expected KEY=V1,V2 (allocator=... or gc=...)")
        for value in values.split(","):
            if key == "allocator" and value not in ALLOCATORS:
                raise WatchError(f"--arms allocator={value!r}: expected one of "
                                 f"{', '.join(ALLOCATORS)}")
            if key == "gc" and value not in GC_MODES:
                raise WatchError(f"--arms gc={value!r}: expected one of {', '.join(GC_MODES)}")
            if key not in ("allocator", "gc"):
                raise WatchError(f"--arms {key!r}: expected allocator or gc")
            arms.append((key, value))
    return arms


def _slope(result: Any) -> float | None:
    v = result.verdicts
    d = v.drift if v.mode == "work" else v.drift_per_hour
    return None if d is None else float(d.get("slope_scaled", d["slope"]))


def run_arms(argv: list[str], arms: list[tuple[str, str]], *, out: Path, repeats: int = 3,
             hz: float = 1.0, seed: int = DEFAULT_SEED, quiet: bool = False) -> int:
    check_program(argv)
    check_out(out)
    if repeats < 1:
        raise WatchError(f"--repeats must be >= 1, got {repeats}")
    labels = [*BASE, *(f"{k}={v}" for k, v in arms)]
    unavailable: dict[str, str] = {}
    for key, value in arms:
        if key == "allocator" and value in ("jemalloc", "mimalloc") and find_library(value) is None:
            unavailable[f"{key}={value}"] = f"not available: the {value} library is not installed"
    rng = random.Random(seed)
    runs: list[dict[str, Any]] = []
    for block in range(repeats):
        order = labels[:]
        rng.shuffle(order)
        for label in order:
            if label in unavailable:
                continue
            key, _, value = label.partition("=")
            opts = WatchOptions(out=out / f"b{block}-{label.replace('=', '-')}", hz=hz,
                                quiet=True, console=False, extra={"arm": label, "block": block})
            if key == "allocator":
                try:
                    opts.env = child_env(value)
                except AllocatorError as exc:
                    unavailable[label] = f"not available: {exc}"
                    continue
                opts.check_preload = value in ("jemalloc", "mimalloc")
            elif key == "gc":
                opts.gc_mode = value
            result = watch(argv, opts)
            run = {"arm": label, "block": block, "folder": str(result.folder),
                   "status": result.status, "slope": _slope(result),
                   "mode": result.verdicts.mode}
            if opts.check_preload:
                from nrm.instrument.runrecord import read_run_json

                mapped = read_run_json(result.folder).get("preload", {}).get("libraries", [])
                run["preload_ok"] = any(value in lib for lib in mapped)
                if not run["preload_ok"]:
                    run["slope"] = None  # a run whose allocator was not loaded does not count
            runs.append(run)
            if not quiet:
                print(f"nrm watch: block {block} arm {label}: {result.status}, drift "
                      f"{run['slope']}")
    summary = _summary(labels, runs, unavailable)
    atomic_write_json(out / "arms.json", {"format": "nrm-watch-arms/1", "argv": argv,
                                          "repeats": repeats, "seed": seed, "runs": runs,
                                          "arms": summary})
    if not quiet:
        for label, s in summary.items():
            print(f"  {label:<22} {s['text']}")
    return 0


def _summary(labels: list[str], runs: list[dict[str, Any]],
             unavailable: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per arm: its drift minus the baseline A's in the same block, with a t interval."""
    import numpy as np
    from scipy import stats

    base = {r["block"]: r["slope"] for r in runs if r["arm"] == "A" and r["slope"] is not None}
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        if label in unavailable:
            out[label] = {"available": False, "text": unavailable[label]}
            continue
        if label == "A":
            slopes = [r["slope"] for r in runs if r["arm"] == "A" and r["slope"] is not None]
            out[label] = {"available": True, "n": len(slopes),
                          "mean_drift": float(np.mean(slopes)) if slopes else None,
                          "text": "baseline"}
            continue
        diffs = [r["slope"] - base[r["block"]] for r in runs
                 if r["arm"] == label and r["slope"] is not None and r["block"] in base]
        entry: dict[str, Any] = {"available": True, "n": len(diffs), "diffs": diffs}
        if len(diffs) >= 2:
            mean = float(np.mean(diffs))
            half = float(stats.t.ppf(0.975, len(diffs) - 1) * np.std(diffs, ddof=1)
                         / np.sqrt(len(diffs)))
            entry.update(mean_diff=mean, ci_low=mean - half, ci_high=mean + half)
            entry["text"] = (f"drift minus A's: {mean:+.4g} (95 % CI {mean - half:+.4g} to "
                             f"{mean + half:+.4g}, n={len(diffs)})")
        else:
            entry["text"] = f"drift minus A's: n={len(diffs)} (a CI needs --repeats >= 2)"
        out[label] = entry
    return out
