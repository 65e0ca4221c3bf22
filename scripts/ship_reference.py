"""Ship a finished default-scale build's tables as the reference build (data/reference/).

    .venv/bin/python scripts/ship_reference.py BUILD_DIR [--dest data/reference/build-default]

Copies ``BUILD_DIR/data/analysis/default/phase1a|phase1b/*.csv`` and their manifests (small
CSV/JSON), the paper's own tables when the build wrote them (``paper/tables/*.csv``), the
causal study's tables (``data/analysis/default/study/``: effects with their A/A bands, verdicts,
the repeated headline comparisons; not its run folders), and writes ``machine.json``: the
machine the runs ran on, read from the runs' own ``run.json``
context (nrm.instrument.sysinfo: CPU, cores, memory, Python, allocator, disk, git commit) and the
dates
of the runs. Refuses a build that is not default scale or has an incomplete run; writes
nothing then.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nrm.atomic import atomic_write_json  # noqa: E402
from nrm.exceptions import NrmError, ParameterError  # noqa: E402
from nrm.run.scales import get_scale  # noqa: E402

SCALE = "default"


def machine(build: Path) -> dict[str, Any]:
    runs_dir = build / "data" / "runs" / SCALE
    metas = {}
    for name in get_scale(SCALE).names():
        p = runs_dir / name / "run.json"
        if not p.is_file():
            raise ParameterError(f"{p} missing: the build is not complete")
        meta = json.loads(p.read_text(encoding="utf-8"))
        if meta.get("status") != "complete":
            raise ParameterError(f"{p}: status {meta.get('status')!r}, not complete")
        metas[name] = meta
    ctx = metas["C256-unoptimized"].get("context") or {}
    starts = sorted(str(m.get("started_at")) for m in metas.values())
    ends = sorted(str(m.get("finished_at") or m.get("ended_at") or "") for m in metas.values())
    return {
        "what": "the machine that made the reference build (from the runs' run.json context)",
        "hostname": ctx.get("hostname"),
        "cpu": ctx.get("cpu"),
        "memory_total_bytes": ctx.get("memory_total_bytes"),
        "os": ctx.get("os"),
        "cgroup": ctx.get("cgroup"),
        "python": ctx.get("python"),
        "allocator": ctx.get("allocator"),
        "packages": ctx.get("packages"),
        "storage": ctx.get("storage"),
        "git": ctx.get("git"),
        "load_avg_at_start": ctx.get("load_avg_at_start"),
        "runs": {n: {"started_at": m.get("started_at"),
                     "runtime_s": (m.get("totals") or {}).get("runtime_s"),
                     "git": ((m.get("context") or {}).get("git"))} for n, m in metas.items()},
        "first_run_started_at": starts[0],
        "last_run_finished_at": ends[-1] or None,
        "built_at": starts[0][:10],
    }


def readme(desc: dict[str, Any]) -> str:
    cpu = desc.get("cpu") or {}
    mem = desc.get("memory_total_bytes")
    py = desc.get("python") or {}
    alloc = desc.get("allocator") or {}
    disk = desc.get("storage") or {}
    git = desc.get("git") or {}
    ram = f"{mem / 2**30:.1f} GiB" if mem else "? GiB"
    vm = "virtualised" if cpu.get("hypervisor") else "hypervisor not reported"
    dirty = " (dirty)" if git.get("dirty") else ""
    first, last = desc.get("first_run_started_at"), desc.get("last_run_finished_at")
    return f"""# data/reference/build-default: this compendium's reference build (measured, ours)

Not the paper's numbers: the analysis tables of one `make paper` at scale `default` made by this
compendium, shipped so that every new build can compare its numbers with them (the paper's last
section, and `nrm compare-builds data/reference/build-default OTHER`). One build: n = 1 run per
experiment and variant, so differences from it include run-to-run noise; the causal study's
A/A arms (`study/effects.csv`) give the noise floor that `nrm compare-builds` reads such
differences against. Tables are matched by file and
rows by their labels (run, hypothesis, statistic, ...): rows that later code labels differently,
and runs it adds, show up as "only in one build" rather than as differences.

- `phase1a/`, `phase1b/`: the CSV tables and manifests of `data/analysis/default/`
- `study/`: the causal study's tables (effects and A/A bands, H1-H5 verdicts, the headline
  comparisons repeated, the runs' records) of `data/analysis/default/study/`
- `predict/`: the unit costs fitted on the build's runs and the prediction at the paper's
  parameters (`data/analysis/default/predict/`)
- `machine.json`: the machine, from the runs' own `run.json` context (nrm.instrument.sysinfo), and
the
  study's sweep (runs, seconds, seed)

Machine: {cpu.get("model", "?")}, {cpu.get("logical", "?")} logical cores
({vm}), {ram} RAM; Python {py.get("version", "?")}, allocator {alloc.get("name", "?")};
disk {disk.get("fs_type", "?")} on {disk.get("device", "?")}; code at git commit
`{git.get("commit", "?")}`{dirty}; runs from {first} to {last}.
Made with `scripts/ship_reference.py BUILD_DIR`.
"""


def ship(build: Path, dest: Path) -> list[Path]:
    build = build.resolve()
    tables = build / "data" / "analysis" / SCALE
    if not (tables / "phase1a" / "manifest.json").is_file() or \
            not (tables / "phase1b" / "manifest.json").is_file():
        raise ParameterError(f"{tables} has no finished phase1a/phase1b tables")
    desc = machine(build)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    written = []
    for phase in ("phase1a", "phase1b"):
        (tmp / phase).mkdir(parents=True)
        for f in sorted((tables / phase).glob("*")):
            if f.suffix in (".csv", ".json"):
                written.append(Path(shutil.copy2(f, tmp / phase / f.name)))
    paper_tables = build / "paper" / "tables"
    if paper_tables.is_dir():
        (tmp / "paper_tables").mkdir()
        for f in sorted(paper_tables.glob("*.csv")):
            written.append(Path(shutil.copy2(f, tmp / "paper_tables" / f.name)))
    study = tables / "study"
    if study.is_dir():
        (tmp / "study").mkdir()
        for f in sorted(study.glob("*")):
            if f.suffix in (".csv", ".json"):
                written.append(Path(shutil.copy2(f, tmp / "study" / f.name)))
        try:
            sweep = json.loads((build / "data" / "study" / SCALE / "study.json")
                               .read_text(encoding="utf-8"))
            desc["study"] = {k: sweep.get(k) for k in ("scale", "seed", "repeats", "runs_planned",
                                                       "runs_complete", "sweep_s", "workers",
                                                       "not_available", "updated_at")}
        except (OSError, ValueError):
            desc["study"] = None
    predict = tables / "predict"  # unit costs and the prediction (nrm compare-builds reads them)
    if predict.is_dir():
        (tmp / "predict").mkdir()
        for f in sorted(predict.glob("*")):
            if f.suffix in (".csv", ".json"):
                written.append(Path(shutil.copy2(f, tmp / "predict" / f.name)))
    atomic_write_json(tmp / "machine.json", desc)
    (tmp / "README.md").write_text(readme(desc), encoding="utf-8")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return written


LONG = "long"


def long_machine(build: Path) -> dict[str, Any]:
    """The machine and the sweep of a long-scale study (``make study SCALE=long``): context
    from its runs' ``run.json``, the sweep's summary, and the 1-min load average before each
    run (from the sweep's records). Refuses an unfinished study."""
    from nrm.study.sweep import load_records

    out = build / "data" / "study" / LONG
    try:
        sweep = json.loads((out / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{out / 'study.json'} unreadable: the study did not finish") from exc
    if not sweep.get("runs_planned") or sweep.get("runs_complete") != sweep.get("runs_planned"):
        raise ParameterError(f"{out}: {sweep.get('runs_complete')} of "
                             f"{sweep.get('runs_planned')} runs complete")
    ctx: dict[str, Any] = {}
    for p in sorted((out / "runs").glob("long-base__b*/run.json")):
        ctx = (json.loads(p.read_text(encoding="utf-8")).get("context") or {})
        if ctx:
            break
    records = load_records(out)
    loads = [float(r["load_before"][0]) for r in records if r.get("load_before")]
    starts = sorted(str(r.get("started_at")) for r in records if r.get("started_at"))
    ends = sorted(str(r.get("ended_at")) for r in records if r.get("ended_at"))
    return {
        "what": "the machine that made the long-scale reference study (from its runs' run.json "
                "context and the sweep's records)",
        **{k: ctx.get(k) for k in ("hostname", "cpu", "memory_total_bytes", "os", "cgroup",
                                   "python", "allocator", "packages", "storage", "git")},
        "load_avg_during": ({"min": min(loads), "max": max(loads),
                             "mean": sum(loads) / len(loads), "n": len(loads)}
                            if loads else None),
        "first_run_started_at": starts[0] if starts else None,
        "last_run_finished_at": ends[-1] if ends else None,
        "built_at": starts[0][:10] if starts else None,
        "study": {k: sweep.get(k) for k in ("scale", "seed", "repeats", "runs_planned",
                                            "runs_complete", "sweep_s", "workers",
                                            "not_available", "updated_at")},
    }


def long_readme(desc: dict[str, Any]) -> str:
    cpu = desc.get("cpu") or {}
    git = desc.get("git") or {}
    sweep = desc.get("study") or {}
    load = desc.get("load_avg_during") or {}
    minutes = (f"{float(sweep['sweep_s']) / 60:.1f} min"
               if isinstance(sweep.get("sweep_s"), (int, float)) else "?")
    return f"""# data/reference/build-long: the long-scale reference study (measured, ours)

Not the paper's numbers: the causal study's tables of one `make study SCALE=long` made by this
compendium (the long fixed-workload arms at 3000 cycles x 4 agents in 4 blocks, beside the
default study's arms), shipped so that the paper can show H2, H3 and H5 decided by longer, more
repeated arms than a default build runs (the paper's subsection "The long scale"). One study:
its intervals cover the noise within it, not between machines or days.

- `study/`: the study's tables (`data/analysis/long/study/`): long arms' drift
  (`long_drift.csv`), H1-H5 verdicts, effects with their A/A bands, controls, contention
- `machine.json`: the machine (from the runs' `run.json` context), the sweep, and the 1-min load
  average before each run

Machine: {cpu.get("model", "?")}, {cpu.get("logical", "?")} logical cores; code at git commit
`{git.get("commit", "?")}`; {sweep.get("runs_complete", "?")} runs in {minutes} on
{sweep.get("workers", "?")} worker(s), from {desc.get("first_run_started_at")} to
{desc.get("last_run_finished_at")}; load average before the runs {load.get("min", "?")} to
{load.get("max", "?")} (mean {load.get("mean", "?")}).
Made with `scripts/ship_reference.py BUILD_DIR --scale long`.
"""


def ship_long(build: Path, dest: Path) -> list[Path]:
    """Ship a finished long-scale study's tables (``--scale long``); writes nothing on error."""
    build = build.resolve()
    study = build / "data" / "analysis" / LONG / "study"
    for name in ("verdicts.csv", "long_drift.csv", "study_summary.json"):
        if not (study / name).is_file():
            raise ParameterError(f"{study / name} missing: the long study was not analysed")
    desc = long_machine(build)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "study").mkdir(parents=True)
    written = [Path(shutil.copy2(f, tmp / "study" / f.name)) for f in sorted(study.glob("*"))
               if f.suffix in (".csv", ".json")]
    atomic_write_json(tmp / "machine.json", desc)
    (tmp / "README.md").write_text(long_readme(desc), encoding="utf-8")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("build", type=Path)
    p.add_argument("--scale", choices=(SCALE, LONG), default=SCALE,
                   help="default: a whole make paper; long: a make study SCALE=long (its "
                        "study tables only)")
    p.add_argument("--dest", type=Path, default=None,
                   help="default: data/reference/build-default or build-long")
    args = p.parse_args(argv)
    if args.dest is None:
        args.dest = ROOT / "data" / "reference" / f"build-{args.scale}"
    try:
        files = (ship_long if args.scale == LONG else ship)(args.build, args.dest)
    except NrmError as exc:
        print(f"ship_reference: error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in args.dest.rglob("*") if f.is_file())
    print(f"shipped {len(files)} tables to {args.dest} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
