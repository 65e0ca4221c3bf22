"""Causal re-runs: the program under each arm, in randomized blocks, with an A/A arm, on Dask.

``--arms allocator=malloc,jemalloc,mimalloc gc=freeze,disable --repeats N`` runs, in each of N
blocks, the baseline twice (arms ``A`` and ``A'``: the A/A arm, whose difference is the noise
floor) and every other arm once, in a random order per block (seeded,
:func:`nrm.study.sweep.randomized_blocks`). The runs execute on the study's Dask machinery
(:mod:`nrm.study.cluster`): a LocalCluster of ``--workers`` single-threaded workers (default 1:
runs never share a core) or an existing scheduler (``--scheduler ADDRESS``), submitted in the
blocks' order, never more at once than the cluster has threads. Each run is an ordinary watch
folder ``OUT/bK-ARM`` (the program's output in its ``program.log``), watched by the worker
that ran it; the program runs in the folder ``nrm watch`` was started from and dies with its
worker.

What is compared is the drift (time per 1000 units, or the CPU share per hour without
markers), not the mean: a cause of the slowdown changes the slope. Per arm and block the drift
minus the baseline A's in the same block, with a t interval over blocks; the A/A arm (A' minus
A) is the noise band.

An allocator arm runs with :func:`nrm.instrument.allocator.child_env` (``PYTHONMALLOC=malloc`` and
``LD_PRELOAD`` of jemalloc/mimalloc); its run counts only when the library shows in
``/proc/PID/maps`` (the preload check). An arm whose library is missing reads "not available"
and the other arms go on. GC arms set the inside tier's ``gc.disable()`` or ``gc.freeze()``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from nrm.atomic import atomic_write_json
from nrm.exceptions import AllocatorError, RunInterruptedError, WatchError
from nrm.instrument.allocator import ALLOCATORS, child_env, find_library
from nrm.run.scales import DEFAULT_SEED
from nrm.watch.session import WatchOptions, check_out, check_program, claim_folder, watch

GC_MODES = ("disable", "freeze")
BASE = ("A", "A'")
ARMS_JSON = "arms.json"
FORMAT = "nrm-watch-arms/2"
PROGRAM_LOG = "program.log"


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
            if (key, value) not in arms:
                arms.append((key, value))
    return arms


def folder_name(label: str, block: int) -> str:
    return f"b{block}-{label.replace('=', '-').replace(chr(39), 'prime')}"


def drift_slope(verdicts: dict[str, Any]) -> float | None:
    """The drift a run's verdicts report: per 1000 units with markers, else per hour."""
    d = verdicts.get("drift") if verdicts.get("mode") == "work" else verdicts.get(
        "drift_per_hour")
    if not d:
        return None
    return float(d.get("slope_scaled", d["slope"]))


def run_arm(task: dict[str, Any]) -> dict[str, Any]:
    """One run of one arm (on a Dask worker): watch ``task["argv"]`` under the arm into
    ``task["folder"]`` and return its summary. A complete folder (a task retried after its
    worker died at the end) is read back; a half-written one is moved aside first."""
    from nrm.instrument.runrecord import read_run_json
    from nrm.run.scales import retire
    from nrm.study.cluster import worker_address

    label, block = task["arm"], task["block"]
    folder = Path(task["folder"])
    key, _, value = label.partition("=")
    run: dict[str, Any] = {"arm": label, "block": block, "folder": str(folder),
                           "host": os.uname().nodename, "worker": worker_address()}
    if folder.exists():
        done = (folder / "run.json").is_file() and read_run_json(folder).get("status") in (
            "complete", "failed")
        if not done:
            run["retired"] = str(retire(folder))
    opts = WatchOptions(out=folder, hz=task["hz"], quiet=True, console=False,
                        extra={"arm": label, "block": block}, cwd=Path(task["cwd"]),
                        die_with_parent=True, output=folder / PROGRAM_LOG)
    if key == "allocator":
        try:
            opts.env = child_env(value)
        except AllocatorError as exc:
            return {**run, "status": "not available", "slope": None,
                    "reason": f"not available on {run['host']}: {exc}"}
        opts.check_preload = value in ("jemalloc", "mimalloc")
    elif key == "gc":
        opts.gc_mode = value
    if not folder.exists():
        watch(task["argv"], opts)
    record = read_run_json(folder)
    verdicts = record.get("verdicts") or {}
    run.update(status=record.get("status"), exit_status=record.get("exit_status"),
               slope=drift_slope(verdicts), mode=verdicts.get("mode"),
               drift_text=(verdicts.get("headline") or ""))
    if opts.check_preload:
        mapped = (record.get("preload") or {}).get("libraries", [])
        run["preload_ok"] = any(value in lib for lib in mapped)
        if not run["preload_ok"]:
            run["slope"] = None  # a run whose allocator was not loaded does not count
            run["reason"] = (f"{value} was not found in /proc/PID/maps: the run does not count"
                             if (record.get("preload") or {}).get("checked") else
                             "the preload could not be checked (the program ended before the "
                             "first sample): the run does not count")
    if run["status"] != "complete":
        run["slope"] = None  # a failed program's drift is not compared
    return run


def run_arms(argv: list[str], arms: list[tuple[str, str]], *, out: Path, unique: bool = False,
             repeats: int = 3,
             hz: float = 1.0, seed: int = DEFAULT_SEED, quiet: bool = False,
             workers: int = 1, scheduler: str | None = None) -> int:
    """Every arm's runs on Dask; ``OUT/arms.json`` with the drift differences. Everything is
    checked (program, folder, repeats, workers or the scheduler answering) before anything is
    written."""
    from nrm.study.cluster import check_workers, connect_scheduler, signals_stop
    from nrm.study.sweep import randomized_blocks

    cwd = Path.cwd()
    check_program(argv)
    if not 0.1 <= hz <= 50:
        raise WatchError(f"--hz {hz:g} is out of range; use 1-10 (0.1-50 accepted)")
    if repeats < 1:
        raise WatchError(f"--repeats must be >= 1, got {repeats}")
    out = Path(out).resolve()
    if not unique:
        check_out(out)
    check_workers(workers)
    remote = connect_scheduler(scheduler) if scheduler is not None else None
    labels = [*BASE, *(f"{k}={v}" for k, v in arms)]
    unavailable: dict[str, str] = {}
    for key, value in arms:
        if key == "allocator" and value in ("jemalloc", "mimalloc") and find_library(value) is None:
            unavailable[f"{key}={value}"] = f"not available: the {value} library is not installed"
    blocks = randomized_blocks(labels, repeats, seed)
    order = [(b, label) for b, block in enumerate(blocks) for label in block
             if label not in unavailable]
    try:
        out = claim_folder(out) if unique else out
        out.mkdir(parents=True, exist_ok=True)
    except OSError:
        if remote is not None:
            remote.close()
        raise
    meta: dict[str, Any] = {"format": FORMAT, "argv": argv, "cwd": str(cwd), "repeats": repeats,
                            "seed": seed, "hz": hz, "blocks": blocks,
                            "where": scheduler or f"LocalCluster ({workers} worker(s), 127.0.0.1)"}
    runs: list[dict[str, Any]] = []
    status = "complete"
    try:
        with signals_stop() as stopped:
            try:
                _sweep(argv, order, out, cwd, hz, remote, workers, quiet, runs)
            except KeyboardInterrupt:
                status = "interrupted"
                signum = stopped.signum or signal.SIGINT
                raise RunInterruptedError(
                    f"nrm watch --arms {out}: stopped with {len(list(out.glob('b*/run.json')))}"
                    f" of {len(order)} runs written; {ARMS_JSON} holds what was gathered",
                    exit_status=128 + int(signum)) from None
    finally:
        for r in runs:
            if r.get("status") == "not available" and r["arm"] not in unavailable:
                unavailable[r["arm"]] = r["reason"]
        summary = summarize(labels, runs, unavailable)
        atomic_write_json(out / ARMS_JSON, {**meta, "status": status, "runs": runs,
                                            "arms": summary})
    if not quiet:
        print(f"nrm watch --arms: {out} ({len(runs)} runs, {repeats} blocks; drift per 1000 "
              "units, or per hour without nrm.mark)")
        for label, s in summary.items():
            print(f"  {label:<22} {s['text']}")
    return 0


def _sweep(argv: list[str], order: list[tuple[int, str]], out: Path, cwd: Path, hz: float,
           remote: Any, workers: int, quiet: bool, runs: list[dict[str, Any]]) -> None:
    """The runs of ``order`` on the cluster, appended to ``runs`` as each ends (so that an
    interrupted sweep keeps what it gathered)."""
    from nrm.study.cluster import close_quietly, in_order, open_client

    client, cluster = (remote, None) if remote is not None else open_client(workers, None)
    try:
        jobs = ((folder_name(label, b), run_arm,
                 ({"arm": label, "block": b, "argv": argv, "cwd": str(cwd), "hz": hz,
                   "folder": str(out / folder_name(label, b))},))
                for b, label in order)
        for name, run, exc in in_order(client, jobs, key="nrm-watch-arm", retries=1):
            if exc is not None:
                b, label = next((b, lab) for b, lab in order if folder_name(lab, b) == name)
                run = {"arm": label, "block": b, "folder": str(out / name), "slope": None,
                       "status": f"task failed ({type(exc).__name__}: {exc})"}
            runs.append(run)
            if not quiet:
                slope = run.get("slope")
                print(f"nrm watch: block {run['block']} arm {run['arm']}: {run['status']}, "
                      f"drift {'n/a' if slope is None else f'{slope:.4g}'}", flush=True)
    finally:
        close_quietly(client, cluster)


def _interval(values: list[float]) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    entry: dict[str, Any] = {"n": len(values), "diffs": values}
    if len(values) >= 2:
        mean = float(np.mean(values))
        half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1)
                     / np.sqrt(len(values)))
        entry.update(mean_diff=mean, ci_low=mean - half, ci_high=mean + half)
    return entry


def summarize(labels: list[str], runs: list[dict[str, Any]],
              unavailable: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per arm: its drift minus the baseline A's in the same block, with a t interval, and a
    verdict read against the A/A arm (A' minus A)."""
    import numpy as np

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
                          "text": "baseline" + (f": drift {np.mean(slopes):+.4g} (n="
                                                f"{len(slopes)})" if slopes else ": no drift")}
            continue
        diffs = [r["slope"] - base[r["block"]] for r in runs
                 if r["arm"] == label and r["slope"] is not None and r["block"] in base]
        out[label] = {"available": True, **_interval(diffs)}
    aa = out.get("A'", {})
    for label, entry in out.items():
        if label == "A" or not entry.get("available"):
            continue
        entry["verdict"] = _verdict(entry, aa if label != "A'" else None)
        if "mean_diff" in entry:
            entry["text"] = (f"drift minus A's: {entry['mean_diff']:+.4g} (95 % CI "
                             f"{entry['ci_low']:+.4g} to {entry['ci_high']:+.4g}, n="
                             f"{entry['n']}): {entry['verdict']}")
        else:
            entry["text"] = f"drift minus A's: n={entry['n']}: {entry['verdict']}"
    return out


def _verdict(entry: dict[str, Any], aa: dict[str, Any] | None) -> str:
    """"changes the drift" only when its interval excludes 0 and lies outside the A/A band."""
    if "ci_low" not in entry:
        return "undecided: a CI needs 2 or more counted blocks (--repeats >= 2)"
    lo, hi = entry["ci_low"], entry["ci_high"]
    if lo <= 0 <= hi:
        return "within noise (the interval holds 0)"
    if aa is None:
        return "the A/A arm differs from 0: the noise is larger than the intervals say"
    if "ci_low" not in aa:
        return "undecided: the A/A arm has no interval to compare with"
    if not aa["ci_low"] <= 0 <= aa["ci_high"]:
        return "undecided: the A/A arm itself differs from 0"
    if aa["ci_low"] <= entry["mean_diff"] <= aa["ci_high"]:
        return "within the A/A band (its mean lies inside the A/A arm's interval)"
    return f"{'raises' if lo > 0 else 'lowers'} the drift (interval excludes 0 and the A/A band)"
