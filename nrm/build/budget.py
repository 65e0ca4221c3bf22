"""The time budgets of a build (``nrm bench --budget SCALE``, part of ``make bench``).

Runs a real ``make paper SCALE=...`` into a fresh temporary folder (or ``--budget-out DIR``)
and measures, with the build's own records:

- ``whole_s``: the wall time of the whole ``make paper`` (runs, study, analyses, paper);
- ``runs_s``: the sum of the paper runs' runtimes (their ``run.json``);
- ``study_s``: the study's sweep (``study.json``'s ``sweep_s``, the Dask sweep's wall time).

Each is set against its target on a 2-core machine (the issue's budgets): the smoke study
<= 2 min; at default scale the study <= 22 min (15 before the long fixed-workload arms of
issue #23) and the whole ``make paper`` <= 30 min; the ``long`` study <= 90 min. One
build is one measurement (n = 1) on a machine whose speed drifts by the hour: the report says
PASS / OVER for this build, never that the budget holds in general. Results go to
``data/bench/budget-<scale>-<time>.json`` with the machine's context and load.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.atomic import atomic_write_json
from nrm.exceptions import ParameterError
from nrm.run.scales import SCALES

__all__ = ["TARGETS", "check", "measure", "run_budget"]

#: seconds: (study, whole make paper) per scale; None: no target
TARGETS: dict[str, dict[str, float | None]] = {
    name: dict(sc.budget) for name, sc in SCALES.items() if sc.budget
}


def measure(out: Path, scale: str, whole_s: float) -> dict[str, Any]:
    """The budget figures of the build in ``out`` (made by ``make paper SCALE=scale``)."""
    from nrm.run.scales import get_scale

    runs: dict[str, float | None] = {}
    for planned in get_scale(scale).runs:
        try:
            meta = json.loads((paths.Build(out, scale).run(planned.name) / paths.RUN_JSON)
                              .read_text(encoding="utf-8"))
            runs[planned.name] = float((meta.get("totals") or {}).get("runtime_s"))
        except (OSError, ValueError, TypeError):
            runs[planned.name] = None
    try:
        study = json.loads((paths.Build(out, scale).study / "study.json")
                           .read_text(encoding="utf-8"))
    except (OSError, ValueError):
        study = {}
    return {
        "scale": scale,
        "whole_s": whole_s,
        "runs_s": sum(v for v in runs.values() if v is not None),
        "runs": runs,
        "study_s": study.get("sweep_s"),
        "study_runs": study.get("runs_complete"),
        "study_runs_planned": study.get("runs_planned"),
    }


def check(m: dict[str, Any]) -> dict[str, str]:
    """PASS / OVER / no figure for each target of ``m['scale']``."""
    out: dict[str, str] = {}
    for key, target in TARGETS.get(m["scale"], {}).items():
        if target is None:
            continue
        v = m.get(key)
        out[key] = ("no figure" if v is None else
                    f"{'PASS' if float(v) <= target else 'OVER'} ({float(v) / 60:.1f} min, "
                    f"target <= {target / 60:.0f} min)")
    return out


def run_budget(scale: str, *, out: str | Path | None = None) -> int:
    """``make paper SCALE=scale`` into ``out`` (a new temporary folder by default), timed."""
    if scale not in TARGETS:
        raise ParameterError(f"--budget: choose one of {', '.join(TARGETS)}, got {scale!r}")
    from nrm.instrument.sysinfo import collect_context

    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"nrm-budget-{scale}-")
        out = tmp.name
    dest = Path(out).resolve()
    if (dest / "paper").exists():
        raise ParameterError(f"--budget-out {dest} holds a build already; a budget needs a "
                             "first build (give an empty or new folder)")
    try:
        load_before = list(os.getloadavg())
        t0 = time.perf_counter()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        print(f"budget {scale}: make paper SCALE={scale} OUT={dest} (a first build, timed)")
        rc = subprocess.run(["make", "-C", str(paths.ROOT), "paper", f"SCALE={scale}",
                             f"OUT={dest}"], check=False).returncode
        whole = time.perf_counter() - t0
        m = measure(dest, scale, whole)
        m.update({"started_at": started, "exit_code": rc, "load_before": load_before,
                  "load_after": list(os.getloadavg()), "context": dict(collect_context())})
        m["verdicts"] = check(m)
        print(f"budget {scale} (one build, n = 1; exit {rc}): whole {whole / 60:.1f} min, "
              f"paper runs {m['runs_s'] / 60:.1f} min, study "
              + ("-" if m["study_s"] is None else f"{m['study_s'] / 60:.1f} min "
                 f"({m['study_runs']}/{m['study_runs_planned']} runs)"))
        for key, verdict in m["verdicts"].items():
            print(f"  {key}: {verdict}")
        path = paths.BENCH / (f"budget-{scale}-"
                                       f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json")
        atomic_write_json(path, m)
        print(f"written {path}")
        return rc
    finally:
        if tmp is not None:
            tmp.cleanup()
