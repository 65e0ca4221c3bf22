"""Worker-process arm: an experiment's four conditions each in a fresh process.

The paper's mitigation advice is to restart workers. The original ran the four conditions one
after another in one long process (``nrm run``); here each condition runs as its own
``python -m nrm.cli child SPEC.json`` process (same spec, same metrics source, one condition
each), one after another in the paper's order. The run folder then looks like an ordinary
four-condition run:

- ``workers/<condition>/``: each condition's own run folder (its ``run.json`` records the PID
  of the process that ran it), and ``workers/<condition>.spec.json``, the spec it was given;
- ``cycles.csv``: the conditions' rows, in order, ``step`` renumbered across the run and
  ``elapsed_s`` continued from the previous condition's last row (the gap between processes,
  interpreter start-up included, is in ``workers[*].process_wall_s``, not in the rows);
- ``run.json``: ``arm: "worker-processes"``, ``workers`` (condition, PID, folder, status,
  process wall time), the conditions' results, synergy and totals, like a single run.

:func:`boundary_table` reads any run (single process or workers) into per-condition numbers:
per-cycle time and its slope, RSS at the start and end of each condition, so the two designs
can be compared across the boundaries between conditions.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from nrm import paths
from nrm.atomic import atomic_write_text
from nrm.exceptions import ParameterError
from nrm.instrument.runrecord import RunRecord, read_run_json
from nrm.run.child import command as child_command

ARM = "worker-processes"
WORKERS = "workers"


def run_workers(spec: Any, out: str | Path, *, progress: bool = False) -> dict[str, Any]:
    """Run each condition of ``spec`` (a :class:`nrm.run.spec.RunSpec`) in a fresh process into
    ``out`` (new or empty); merge their logs. Returns the merged run.json content."""
    from nrm.run.runner import prepare_run_dir
    from nrm.sim.experiments import population_summary, synergy

    run_dir = prepare_run_dir(out)
    folder = run_dir / WORKERS
    folder.mkdir()
    record = RunRecord.create(
        run_dir,
        {
            "arm": ARM,
            "experiment": spec.experiment,
            "variant": spec.variant_label,
            "preset": spec.variant,
            "scale": spec.scale,
            "parameters": spec.to_dict(),
            "pid": os.getpid(),
            "workers": [],
            "conditions": {},
        },
    )
    meta = record.data
    status, error = "complete", None
    try:
        for cond in spec.conditions:
            one = type(spec).from_dict({**spec.to_dict(), "conditions": [cond]})
            spec_path = folder / f"{cond}.spec.json"
            atomic_write_text(spec_path, one.to_json())
            child = folder / cond
            argv = child_command(spec_path, child, progress=progress)
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=not progress, text=True, check=False)
            wall = time.perf_counter() - t0
            child_meta = read_run_json(child) if (child / paths.RUN_JSON).is_file() else {}
            meta["workers"].append(
                {
                    "condition": cond,
                    "pid": child_meta.get("pid"),
                    "run_dir": str(child.relative_to(run_dir)),
                    "status": child_meta.get("status"),
                    "exit_code": proc.returncode,
                    "process_wall_s": wall,
                }
            )
            if proc.returncode != 0 or child_meta.get("status") != "complete":
                tail = (proc.stderr or "").strip().splitlines()[-1:] if not progress else []
                raise ParameterError(
                    f"condition {cond} failed in its process (exit {proc.returncode}): "
                    + (tail[0] if tail else "see its run folder")
                )
            meta["conditions"][cond] = child_meta["conditions"][cond]
            record.write()
        _merge_cycles(run_dir, [folder / c for c in spec.conditions])
    except BaseException as exc:
        status, error = (
            ("interrupted", "interrupted")
            if isinstance(exc, KeyboardInterrupt)
            else ("failed", f"{type(exc).__name__}: {exc}")
        )
        raise
    finally:
        results = meta["conditions"]
        if status == "complete":
            meta["synergy"] = synergy({c: r["mean"] for c, r in results.items()})
            meta["totals"] = {
                k: sum(r[k] for r in results.values())
                for k in ("runtime_s", "cpu_s", "samples", "commits", "cycles")
            }
            meta["totals"]["process_wall_s"] = sum(w["process_wall_s"] for w in meta["workers"])
            meta["population"] = {
                c: population_summary(r["population_history"]) for c, r in results.items()
            }
        record.finish(status, error=error)
    return meta


def _merge_cycles(run_dir: Path, children: list[Path]) -> None:
    """One cycles.csv from the children's, in order (steps renumbered, elapsed continued)."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    step = 0
    offset = 0.0
    for child in children:
        with (child / paths.CYCLES_CSV).open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            head = next(reader)
            if header is None:
                header = head
            elif head != header:
                raise ParameterError(f"{child}: cycles.csv columns differ from the first worker's")
            i_step, i_el = header.index("step"), header.index("elapsed_s")
            last = 0.0
            for r in reader:
                r[i_step] = str(step)
                step += 1
                if r[i_el]:
                    last = float(r[i_el])
                    r[i_el] = f"{last + offset:.9f}"
                rows.append(r)
            offset += last
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header or [])
    w.writerows(rows)
    atomic_write_text(run_dir / paths.CYCLES_CSV, buf.getvalue())


def boundary_table(run: Any) -> Any:
    """Per condition of a run (path or RunData): cycles, mean per-cycle time (ms), its slope
    (ms per cycle, OLS over the condition's cycles), RSS at its first and last cycle (MiB)
    and the RSS change from the previous condition's last cycle (the boundary)."""
    import pandas as pd

    from nrm.instrument.reader import RunData, load_run

    data = run if isinstance(run, RunData) else load_run(run)
    df = data.cycles
    out = []
    prev_end = np.nan
    for cond in data.conditions:
        sub = df[df["condition"] == cond]
        wall = sub["wall_s"].to_numpy(dtype=float) * 1000
        cyc = sub["cycle"].to_numpy(dtype=float)
        rss = sub["rss_bytes"].to_numpy(dtype=float, na_value=np.nan) / 2**20
        slope = float(np.polyfit(cyc, wall, 1)[0]) if len(sub) >= 3 else np.nan
        out.append(
            {
                "condition": cond,
                "cycles": len(sub),
                "wall_ms_mean": float(np.mean(wall)),
                "wall_slope_ms_per_cycle": slope,
                "rss_start_mib": float(rss[0]),
                "rss_end_mib": float(rss[-1]),
                "rss_jump_at_boundary_mib": float(rss[0] - prev_end),
            }
        )
        prev_end = float(rss[-1])
    return pd.DataFrame(out)


# --- CLI: nrm workers EXPERIMENT --out DIR [run flags] ----------------------------------------
