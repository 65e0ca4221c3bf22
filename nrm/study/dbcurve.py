"""The commit-latency curve (issue #23, H3): commit latency against database size up to the size
the paper's full C256 run reaches, on disk and in RAM (``nrm dbcurve``, ``make dbcurve``).

:func:`run_curve` checks the space first (refused with one line before anything is written),
then runs ``repeats`` repeats per medium, each in a fresh process (``python -m
nrm.study.dbcurve CONFIG``: :func:`nrm.run.dbcurve.measure_repeat`, settling the disk with
:func:`nrm.study.settle.settle_disk` before each timed batch), the media alternating (disk, RAM,
RAM, disk, ...). A repeat's databases live in a work folder on the output folder's disk
(``disk``) or in ``/dev/shm`` (``ram``) and are removed when the repeat ends, on every exit
path; only the timings are kept:

* ``OUT/config.json``: what was asked (sizes, batch, row mix and its source, seed);
* ``OUT/repeats/<medium>-<r>.json``: one repeat's rows (written by its process, atomically);
* ``OUT/dbcurve.csv``: every repeat's rows (``medium``, ``repeat``, ``order`` first);
* ``OUT/dbcurve.json``: the statistic and the H3 piece (:mod:`nrm.study.dbcurve_analysis`);
* ``OUT/machine.json``: the machine and checkout that finished the curve
  (:func:`nrm.instrument.sysinfo.collect_context`, with the output folder's file system) and
  each repeat's start, end and 1-min load average before and after it.

The same command again runs only the repeats without their JSON (a stopped 3.5 GB curve
resumes); a different configuration in the same folder is refused.

The row mix of the growth and of the timed batches is the full C256 run's (3000 cycles x 100
agents): its commits per table counted by ``nrm predict`` and shipped in
``data/reference/counts`` (system_metrics: the psutil samples; resonance_events: the pairs
tested; phase_transformations: the spawns).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_json, atomic_write_text, dumps_json
from nrm.exceptions import ParameterError, StudyError
from nrm.instrument.sysinfo import collect_context
from nrm.run.dbcurve import BATCH, checkpoints, measure_repeat
from nrm.sim.model import DEFAULT_SEED
from nrm.study.dbcurve_analysis import FULL_RUN_MB, MEDIA, curve_verdict
from nrm.study.room import human_size
from nrm.study.settle import settle_disk

__all__ = ["CONFIG_JSON", "CSV", "MACHINE_JSON", "RAM_DIR", "SUMMARY_JSON", "check_room",
           "machine_record", "model_mix", "room_needed", "run_curve"]

RAM_DIR = Path("/dev/shm")
CONFIG_JSON = paths.DBCURVE_CONFIG
CSV = paths.DBCURVE_CSV
SUMMARY_JSON = paths.DBCURVE_JSON
MACHINE_JSON = paths.DBCURVE_MACHINE
REPEATS_DIR = "repeats"
#: The full C256 run's counted commits (nrm predict; 3000 cycles x 100 agents).
COUNTS_GLOB = "C256-3000x100-*.csv.gz"
#: Room a repeat needs beyond its largest checkpoint: the last chunk's overshoot (measured
#: under 1 %), page slack, the rollback journal of a commit, the tables written beside it.
ROOM_FACTOR = 1.05
ROOM_EXTRA = 64 * 2**20
#: The longest a repeat waits for the kernel to write its growth back before a timed batch
#: (a 1.5 GiB step on a slow disk takes minutes; past it the batch runs and its row says so).
SETTLE_TIMEOUT_S = 600.0
#: RAM left to everything else when a curve lives in /dev/shm (tmpfs pages are memory).
RAM_HEADROOM = 1 * 2**30
MEMINFO = Path("/proc/meminfo")


def model_mix(counts_dir: Path = paths.REFERENCE / "counts") -> tuple[dict[str, float], str]:
    """Rows per table of the full C256 run, from its counted commits, and the file read."""
    found = sorted(counts_dir.glob(COUNTS_GLOB))
    if not found:
        raise ParameterError(f"{counts_dir}: no {COUNTS_GLOB} (the full C256 run's counted "
                             "commits, shipped in data/reference/counts)")
    df = pd.read_csv(found[0], usecols=["samples", "pairs_tested", "spawns"])
    return ({"system_metrics": float(df["samples"].sum()),
             "resonance_events": float(df["pairs_tested"].sum()),
             "phase_transformations": float(df["spawns"].sum())},
            str(found[0].relative_to(paths.ROOT)) if found[0].is_relative_to(paths.ROOT)
            else str(found[0]))


def room_needed(to_mb: float) -> int:
    """Bytes one repeat holds at its largest checkpoint (one repeat exists at a time)."""
    return int(to_mb * 2**20 * ROOM_FACTOR) + ROOM_EXTRA


def _mem_available(meminfo: Path = MEMINFO) -> int | None:
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def free_space(medium: str, out: Path) -> tuple[Path, int]:
    """(where, bytes free) for a repeat on ``medium``: the free space of ``out``'s file system
    (disk), or of /dev/shm capped by the memory available less :data:`RAM_HEADROOM` (ram)."""
    if medium == "ram":
        if not RAM_DIR.is_dir():
            raise ParameterError(f"{RAM_DIR} does not exist: no RAM-backed folder for --medium ram")
        free = shutil.disk_usage(RAM_DIR).free
        avail = _mem_available()
        if avail is not None:
            free = min(free, max(0, avail - RAM_HEADROOM))
        return RAM_DIR, free
    where = out.absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    return where, shutil.disk_usage(where).free


def check_room(out: Path, to_mb: float, media: Sequence[str], *,
               free: Callable[[str, Path], tuple[Path, int]] | None = None) -> int:
    """Refuse (:class:`ParameterError`, one line) a curve whose largest database does not fit
    on each medium (``free``: the space probe, :func:`free_space` by default); returns the
    bytes a repeat needs."""
    free = free or free_space
    need = room_needed(to_mb)
    for medium in media:
        where, avail = free(medium, out)
        if need > avail:
            kind = "in RAM" if medium == "ram" else "on disk"
            raise ParameterError(
                f"dbcurve {out}: a {to_mb:g} MiB curve {kind} needs about {human_size(need)} and "
                f"{where} has {human_size(avail)} free; ask for a smaller --to-mb or free space")
    return need


def _order(media: Sequence[str], repeats: int) -> list[tuple[str, int]]:
    """Repeats in alternating order (A B, B A, ...): neither medium always goes first."""
    out: list[tuple[str, int]] = []
    for r in range(repeats):
        seq = list(media) if r % 2 == 0 else list(reversed(media))
        out += [(m, r) for m in seq]
    return out


def _config(to_mb: float, sizes: Sequence[float], media: Sequence[str], repeats: int,
            batch: int, seed: int, full_mb: float, settle_timeout_s: float) -> dict[str, Any]:
    mix, source = model_mix()
    return {"format": "nrm-dbcurve/1", "to_mb": float(to_mb), "checkpoints_mb": list(sizes),
            "media": list(media), "repeats": int(repeats), "batch": int(batch), "seed": int(seed),
            "full_mb": float(full_mb), "mix": mix, "mix_source": source,
            "settle_timeout_s": float(settle_timeout_s),
            "python": sys.version.split()[0]}


def _same(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = ("to_mb", "checkpoints_mb", "media", "batch", "seed", "mix")
    return [k for k in keys if old.get(k) != new.get(k)]


def _run_one(out: Path, cfg: dict[str, Any], medium: str, rep: int, order: int,
             position: str, progress: bool) -> Path:
    """One repeat in a fresh process; its work folder is removed whatever happens."""
    result = out / REPEATS_DIR / f"{medium}-{rep}.json"
    if medium == "ram":
        work = Path(tempfile.mkdtemp(prefix="nrm-dbcurve-", dir=RAM_DIR))
    else:
        work = Path(tempfile.mkdtemp(prefix=".work-", dir=out))
    job = {"folder": str(work), "sizes_mb": cfg["checkpoints_mb"], "mix": cfg["mix"],
           "batch": cfg["batch"], "seed": cfg["seed"] * 1000 + rep, "result": str(result),
           "progress": progress, "label": f"{medium} {position}", "medium": medium, "repeat": rep,
           "order": order, "settle_timeout_s": cfg["settle_timeout_s"]}
    try:
        job_file = work / "job.json"
        job_file.write_text(dumps_json(job), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "nrm.study.dbcurve", str(job_file)],
                              check=False)
        if proc.returncode != 0 or not result.is_file():
            raise StudyError(f"dbcurve {medium} repeat {rep}: its process ended with status "
                             f"{proc.returncode} and no result; the same command resumes")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def collect(out: Path) -> pd.DataFrame:
    """Every finished repeat's rows in ``out``, in run order."""
    rows = []
    for p in sorted((out / REPEATS_DIR).glob("*.json")):
        rec = json.loads(p.read_text(encoding="utf-8"))
        for row in rec["rows"]:
            rows.append({"medium": rec["medium"], "repeat": rec["repeat"],
                         "order": rec["order"], **row})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.sort_values(["order", "checkpoint_mb"], kind="stable").reset_index(drop=True)
    return frame


def run_curve(out: str | Path, *, to_mb: float, media: Sequence[str] = MEDIA,
              repeats: int = 5, sizes: Sequence[float] | None = None, batch: int = BATCH,
              seed: int = DEFAULT_SEED, full_mb: float = FULL_RUN_MB, progress: bool = True,
              force: bool = False, settle_timeout_s: float = SETTLE_TIMEOUT_S,
              free: Callable[[str, Path], tuple[Path, int]] | None = None) -> dict[str, Any]:
    """Measure the curve into ``out`` (see the module doc) and return its summary (also in
    ``OUT/dbcurve.json``). ``force`` skips the space check; ``free`` is the space probe (tests
    pass a small one); ``settle_timeout_s`` caps each wait for the write-back."""
    out = Path(out)
    media = tuple(dict.fromkeys(media))
    if not media or any(m not in MEDIA for m in media):
        raise ParameterError(f"--medium must be among {MEDIA}, got {list(media)}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ParameterError(f"--repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 10:
        raise ParameterError(f"--batch must be an integer >= 10, got {batch!r}")
    pts = checkpoints(to_mb, sizes)
    cfg = _config(to_mb, pts, media, repeats, batch, seed, full_mb, settle_timeout_s)
    old_file = out / CONFIG_JSON
    if old_file.is_file():
        diff = _same(json.loads(old_file.read_text(encoding="utf-8")), cfg)
        if diff:
            raise ParameterError(f"{out} holds a curve with another {', '.join(diff)}; "
                                 "give another --out or remove it")
    elif out.exists() and any(out.iterdir()):
        raise ParameterError(f"{out} exists and is not a dbcurve folder; give another --out")
    if not force:
        check_room(out, to_mb, media, free=free)
    for stale in out.glob(".work-*"):  # a repeat whose parent was killed outright
        shutil.rmtree(stale, ignore_errors=True)
    (out / REPEATS_DIR).mkdir(parents=True, exist_ok=True)
    atomic_write_json(old_file, cfg)
    plan = _order(media, repeats)
    for i, (medium, rep) in enumerate(plan):
        if (out / REPEATS_DIR / f"{medium}-{rep}.json").is_file():
            continue
        _run_one(out, cfg, medium, rep, i, f"{i + 1}/{len(plan)}", progress)
        # the table after every repeat: a stopped curve keeps what it measured
        atomic_write_text(out / CSV, collect(out).to_csv(index=False))
    frame = collect(out)
    atomic_write_text(out / CSV, frame.to_csv(index=False))
    summary = summarise(frame, cfg)
    atomic_write_json(out / MACHINE_JSON, machine_record(out))
    atomic_write_json(out / SUMMARY_JSON, summary)
    return summary


def machine_record(out: Path) -> dict[str, Any]:
    """What ``OUT/machine.json`` holds: the context of the machine and checkout finishing the
    curve (CPU, memory, OS, Python, git commit, the output folder's file system) and, per
    repeat, its start, end and 1-min load average before and after (from its JSON; None for a
    repeat written before they were recorded)."""
    reps = []
    for p in sorted((out / REPEATS_DIR).glob("*.json")):
        rec = json.loads(p.read_text(encoding="utf-8"))
        reps.append({k: rec.get(k) for k in ("medium", "repeat", "order", "started_at",
                                             "finished_at", "load_avg_start", "load_avg_end")})
    reps.sort(key=lambda r: r["order"] if r["order"] is not None else -1)
    starts = sorted(str(r["started_at"]) for r in reps if r["started_at"])
    ends = sorted(str(r["finished_at"]) for r in reps if r["finished_at"])
    return {"what": "the machine and checkout that finished the commit-latency curve",
            "context": collect_context(out), "repeats": reps,
            "first_started_at": starts[0] if starts else None,
            "last_finished_at": ends[-1] if ends else None}


def summarise(frame: pd.DataFrame, cfg: dict[str, Any]) -> dict[str, Any]:
    """The curve's statistic and H3 piece, with the size the full run's rows imply at the
    bytes per row the curve measured and the growth rate per medium (rows/s, MiB/s)."""
    verdict = curve_verdict(frame, full_mb=cfg["full_mb"], media=tuple(cfg["media"]))
    rates: dict[str, Any] = {}
    for medium, g in frame.groupby("medium") if len(frame) else []:
        grown = g[g["grow_rows"] > 0]
        secs = float(grown["grow_s"].sum())
        rates[str(medium)] = {
            "rows_per_s": float(grown["grow_rows"].sum() / secs) if secs > 0 else None,
            "mib_per_s": float(g.groupby("repeat")["db_bytes"].max().sum() / 2**20 / secs)
            if secs > 0 else None,
            "grow_s_per_repeat": secs / g["repeat"].nunique(),
            "batch_s_per_repeat": float(g["batch_s"].sum()) / g["repeat"].nunique(),
        }
    implied = None
    if len(frame):
        last = frame.loc[frame["db_bytes"].idxmax()]
        if last["rows_grown"] > 0:
            bytes_per_row = float(last["db_bytes"]) / float(last["rows_grown"])
            implied = {"bytes_per_row": bytes_per_row,
                       "full_run_rows": sum(cfg["mix"].values()),
                       "full_run_mib": bytes_per_row * sum(cfg["mix"].values()) / 2**20}
    return {"config": cfg, "rows": len(frame), "growth": rates,
            "full_run_size_implied": implied, "h3": verdict}


def _child(argv: list[str]) -> int:
    """One repeat (the fresh process :func:`_run_one` starts)."""
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    started, load_start = _now(), _load1()
    rows = measure_repeat(
        Path(job["folder"]) / "db", job["sizes_mb"], mix=job["mix"], batch=job["batch"],
        seed=job["seed"], settle=lambda: settle_disk(timeout_s=job["settle_timeout_s"]).to_dict(),
        progress=job["progress"], label=job["label"])
    atomic_write_json(job["result"], {"medium": job["medium"], "repeat": job["repeat"],
                                      "order": job["order"], "started_at": started,
                                      "finished_at": _now(), "load_avg_start": load_start,
                                      "load_avg_end": _load1(), "rows": rows})
    return 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load1() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
