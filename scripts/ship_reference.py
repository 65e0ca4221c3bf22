"""Ship a finished default-scale build's tables as the reference build (data/reference/).

    .venv/bin/python scripts/ship_reference.py BUILD_DIR [--dest data/reference/build-default]
    .venv/bin/python scripts/ship_reference.py BUILD_DIR --scale long
    .venv/bin/python scripts/ship_reference.py --dbcurve data/dbcurve/3500

``--dbcurve DIR`` ships a finished commit-latency curve (``make dbcurve``) to
``data/reference/dbcurve/``: its ``config.json``, ``dbcurve.csv``, ``dbcurve.json`` and
``machine.json`` (no database, no per-repeat file), and a README; it refuses a curve with a
planned repeat missing or tables that disagree, and writes nothing then.

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


def _f(x: Any) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) else "?"


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
{desc.get("last_run_finished_at")}; 1-min load average before the runs {_f(load.get("min"))} to
{_f(load.get("max"))} (mean {_f(load.get("mean"))}, n = {load.get("n", "?")}).
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


DBCURVE_FILES = ("config.json", "dbcurve.csv", "dbcurve.json")


def dbcurve_check(curve: Path) -> dict[str, Any]:
    """The summary of a finished curve in ``curve``; :class:`ParameterError` (one line) when a
    file is missing, a planned repeat has no result, or the table and the summary disagree."""
    import pandas as pd

    if not curve.is_dir():
        raise ParameterError(f"{curve}: no such folder (make dbcurve writes data/dbcurve/<MB>)")
    for name in DBCURVE_FILES:
        if not (curve / name).is_file():
            raise ParameterError(f"{curve / name} missing: the curve did not finish "
                                 "(the same make dbcurve resumes it)")
    try:
        cfg = json.loads((curve / "config.json").read_text(encoding="utf-8"))
        summary = json.loads((curve / "dbcurve.json").read_text(encoding="utf-8"))
        frame = pd.read_csv(curve / "dbcurve.csv")
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{curve}: unreadable curve tables ({exc})") from exc
    planned = {(str(m), int(r)) for m in cfg.get("media") or [] for r in
               range(int(cfg.get("repeats") or 0))}
    if not planned:
        raise ParameterError(f"{curve / 'config.json'}: no media or repeats planned")
    missing = sorted(f"{m}-{r}" for m, r in planned
                     if not (curve / "repeats" / f"{m}-{r}.json").is_file())
    if missing:
        raise ParameterError(f"{curve}: {len(planned) - len(missing)} of {len(planned)} repeats "
                             f"done (missing {', '.join(missing)}); the same make dbcurve "
                             "resumes it")
    have = ({(str(m), int(r)) for m, r in zip(frame["medium"], frame["repeat"], strict=True)}
            if {"medium", "repeat"} <= set(frame.columns) else set())
    if have != planned or summary.get("rows") != len(frame) or not summary.get("h3"):
        raise ParameterError(f"{curve}: dbcurve.csv ({len(frame)} rows) and dbcurve.json "
                             f"({summary.get('rows')} rows) do not hold every planned repeat; "
                             "re-run the same make dbcurve to rewrite them")
    return dict(summary)


def dbcurve_readme(summary: dict[str, Any], machine: dict[str, Any]) -> str:
    cfg = summary.get("config") or {}
    h3 = summary.get("h3") or {}
    ctx = machine.get("context") or {}
    cpu = ctx.get("cpu") or {}
    git = ctx.get("git") or {}
    def change(p: dict[str, Any]) -> str:
        full = float(h3.get("full_mb") or float("nan"))
        if float(p.get("reached_mib") or 0) >= 0.9 * full:
            return f"change 0 to {full:g} MiB {float(p.get('change_pct', 'nan')):+.1f} %"
        return (f"change over the {float(p.get('reached_mib') or 0):.0f} MiB measured "
                f"{float(p.get('measured_change_pct', 'nan')):+.1f} %")

    media = "; ".join(f"{m}: {p.get('repeats')} repeats to {p.get('reached_mib', 0):.0f} MiB, "
                      f"{change(p)}, {p.get('verdict')}"
                      for m, p in (h3.get("media") or {}).items())
    return f"""# data/reference/dbcurve: the shipped commit-latency curve (measured, ours)

Not the paper's numbers: one `make dbcurve` (H3: the model's databases grown to the full C256
run's size, {cfg.get("to_mb")} MiB, on disk and in /dev/shm, a fresh process per repeat, a
batch of {cfg.get("batch")} of the model's per-row commits timed at each checkpoint) made by this
compendium, shipped so that a build without a curve of its own can show one (the paper's
subsection "H3 at the full run's size", labelled as not that build's). One curve on one
machine: its intervals cover the repeats' noise, not other machines or days.

- `dbcurve.csv`: every repeat's rows (one per checkpoint: size, latency quantiles, growth,
  the kernel's dirty and write-back pages, the settle)
- `dbcurve.json`: the statistic and the H3 piece (`nrm/study/dbcurve_analysis.py`)
- `config.json`: what was asked (checkpoints, media, repeats, batch, row mix and its source)
- `machine.json`: the machine and checkout ({machine.get("recorded_at", "when the curve finished")})

Machine: {cpu.get("model", "?")}, {cpu.get("logical", "?")} logical cores; code at git commit
`{git.get("commit", "?")}`; repeats from {machine.get("first_started_at")} to
{machine.get("last_finished_at")}. H3 (curve): {h3.get("verdict")}; {media}.
Made with `scripts/ship_reference.py --dbcurve DIR`.
"""


def ship_dbcurve(curve: Path, dest: Path) -> list[Path]:
    """Ship a finished commit-latency curve's CSV/JSON to ``dest`` (``--dbcurve``), atomically;
    writes nothing on error. A curve that did not record its machine (made before
    ``machine.json``) gets one collected now, marked as recorded at ship time."""
    from datetime import UTC, datetime

    from nrm.study.dbcurve import machine_record

    curve = curve.resolve()
    summary = dbcurve_check(curve)
    if (curve / "machine.json").is_file():
        machine = json.loads((curve / "machine.json").read_text(encoding="utf-8"))
    else:
        machine = machine_record(curve)
        machine["recorded_at"] = ("ship time: the curve did not record its machine; the "
                                  "repeats' end times are their result files' times")
        for r in machine["repeats"]:
            f = curve / "repeats" / f"{r['medium']}-{r['repeat']}.json"
            if r.get("finished_at") is None and f.is_file():
                r["finished_at"] = datetime.fromtimestamp(f.stat().st_mtime, UTC).isoformat(
                    timespec="seconds")
        ends = sorted(str(r["finished_at"]) for r in machine["repeats"] if r.get("finished_at"))
        machine["last_finished_at"] = machine.get("last_finished_at") or (
            ends[-1] if ends else None)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    written = [Path(shutil.copy2(curve / name, tmp / name)) for name in DBCURVE_FILES]
    written.append(atomic_write_json(tmp / "machine.json", machine))
    (tmp / "README.md").write_text(dbcurve_readme(summary, machine), encoding="utf-8")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return [dest / f.name for f in written]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("build", type=Path, nargs="?", default=None)
    p.add_argument("--dbcurve", type=Path, default=None, metavar="DIR",
                   help="ship a finished commit-latency curve (make dbcurve's "
                        "data/dbcurve/<MB>) to data/reference/dbcurve instead")
    p.add_argument("--scale", choices=(SCALE, LONG), default=SCALE,
                   help="default: a whole make paper; long: a make study SCALE=long (its "
                        "study tables only)")
    p.add_argument("--dest", type=Path, default=None,
                   help="default: data/reference/build-default, build-long or dbcurve")
    args = p.parse_args(argv)
    if (args.build is None) == (args.dbcurve is None):
        p.error("give BUILD_DIR or --dbcurve DIR (one of them)")
    if args.dest is None:
        args.dest = ROOT / "data" / "reference" / (
            "dbcurve" if args.dbcurve is not None else f"build-{args.scale}")
    try:
        if args.dbcurve is not None:
            files = ship_dbcurve(args.dbcurve, args.dest)
        else:
            files = (ship_long if args.scale == LONG else ship)(args.build, args.dest)
    except NrmError as exc:
        print(f"ship_reference: error: {exc}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in args.dest.rglob("*") if f.is_file())
    print(f"shipped {len(files)} tables to {args.dest} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
