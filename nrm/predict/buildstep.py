"""The build's prediction steps (``make paper``): counts, unit costs, the paper's comparisons.

Two steps, each a command the build runs (:mod:`nrm.build.pipeline`):

- **counts** (:func:`count_step`): the counting runs of the experiments the paper compares
  (C255, C256, C257; :func:`nrm.predict.paper.comparisons`) and of C256 at each number of agents
  of the speedup figure, at the build's *counting scale* (:data:`COUNT_SCALES`: the paper's 3000
  cycles x 100 agents, except at smoke), into ``data/predict/<scale>/counts/`` with their
  provenance and a ``counts.json`` listing them. A count shipped with the compendium
  (``data/reference/counts``, :func:`ship`) or in the shared cache (``data/predict/counts``),
  both keyed by the spec and the model's source hash, is copied, not counted again; the list
  says which were counted and how long each took.
- **fit and predict** (:func:`predict_step`): the unit costs fitted from this build's run
  folders (the paper's runs with the per-pair test) and, where they add a storage medium or
  runs with commits, the study's; then the comparisons at the paper's parameters, the
  speedup grid and its figure, into ``<analysis>/predict/``: ``unit_costs.csv``,
  ``comparisons.csv``, ``speedup_grid.csv``, ``atscale_speedup.png``, ``own_runs.csv`` (each
  fitted run's work totals and runtime), ``validation.csv`` (the paper runs predicted by a
  fit on the study's runs alone, :mod:`nrm.predict.holdout`; its summary under ``validation``)
  and ``predict_summary.json``.

Every number the second step writes is labelled ``predicted from measured unit costs`` and
carries the scale it is about; the paper's own numbers come from ``data/reference/``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from nrm.exceptions import NrmError, ParameterError
from nrm.predict.counts import (
    CACHE_DIR,
    FORMAT,
    RunCounts,
    count_key,
    count_run,
    load_cached,
    model_source_hash,
    paper_spec,
    save_counts,
    stem_of,
)
from nrm.predict.holdout import VALIDATION_CSV, holdout_step
from nrm.run.scales import DEFAULT_SCALE, PAPER_SCALE, SMOKE_SCALE
from nrm.run.spec import RunSpec

__all__ = ["COUNT_SCALES", "CountScale", "count_specs", "count_step", "predict_step"]

#: The experiments whose counts the comparisons read (C256 against C255, the caching speedup
#: of the same experiment and of the paper's design, C256 unoptimized / C257 optimized).
COMPARED = ("C255", "C256", "C257")
COUNTS_JSON = "counts.json"
SUMMARY_JSON = "predict_summary.json"
#: Commit costs (seconds) of the speedup figure's lines, beside this build's measured ones.
WHAT_IF_COMMIT_S = (1e-5, 1e-4, 1e-3)


@dataclass(frozen=True)
class CountScale:
    """The scale a build counts at: cycles, agents, and the agents of the speedup figure."""

    cycles: int
    max_agents: int
    grid_agents: tuple[int, ...]

    @property
    def is_paper(self) -> bool:
        from nrm.run.scales import PAPER_AGENTS, PAPER_CYCLES

        return self.cycles == PAPER_CYCLES and self.max_agents == PAPER_AGENTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "max_agents": self.max_agents,
            "grid_agents": list(self.grid_agents),
            "paper": self.is_paper,
        }


def _paper_count_scale() -> CountScale:
    from nrm.run.scales import PAPER_AGENTS, PAPER_CYCLES

    return CountScale(PAPER_CYCLES, PAPER_AGENTS, (10, 30, 50, PAPER_AGENTS))


#: Per build scale: the smoke build counts small (seconds, for the test suite), the others at
#: the paper's parameters.
COUNT_SCALES: dict[str, CountScale] = {
    SMOKE_SCALE: CountScale(30, 8, (4, 8, 12)),
    DEFAULT_SCALE: _paper_count_scale(),
    PAPER_SCALE: _paper_count_scale(),
}


def count_scale(scale: str) -> CountScale:
    if scale not in COUNT_SCALES:
        raise ParameterError(
            f"no counting scale for build scale {scale!r}; valid: {', '.join(COUNT_SCALES)}"
        )
    return COUNT_SCALES[scale]


def count_specs(scale: str) -> list[RunSpec]:
    """The specs a build of ``scale`` counts (unoptimized, fixed metrics; the optimized
    counts are derived from them, :func:`nrm.predict.counts.resample`)."""
    cs = count_scale(scale)
    specs = [paper_spec(e, cycles=cs.cycles, max_agents=cs.max_agents) for e in COMPARED]
    specs += [
        paper_spec("C256", cycles=cs.cycles, max_agents=n)
        for n in cs.grid_agents
        if n != cs.max_agents
    ]
    return specs


#: Counts shipped with the compendium (gzip CSV + provenance JSON, the paper-scale counting
#: runs of the current model; ``nrm predict-step ship`` writes them): a default build copies
#: them instead of counting again while the model's source is the same.
SHIPPED_DIR = paths.REFERENCE / "counts"


def load_shipped(spec: RunSpec, dest: Path, shipped: Path = SHIPPED_DIR) -> RunCounts | None:
    """``spec``'s shipped counts, unpacked into ``dest``, if they are of this model's source."""
    stem = stem_of(spec)
    gz, meta = shipped / f"{stem}.csv.gz", shipped / f"{stem}.json"
    if not (gz.is_file() and meta.is_file()):
        return None
    try:
        prov = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if prov.get("model_source_sha256") != model_source_hash() or prov.get("format") != FORMAT:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest / f"{stem}.csv", gzip.decompress(gz.read_bytes()))
    atomic_write_json(dest / f"{stem}.json", prov)
    return load_cached(spec, dest)


def ship(scale: str, src: Path = CACHE_DIR, shipped: Path = SHIPPED_DIR) -> list[Path]:
    """Write the counts of ``scale``'s specs from ``src`` (counted on demand) to ``shipped``."""
    from nrm.predict.counts import cached_counts

    out = []
    for spec in count_specs(scale):
        counts = cached_counts(spec, cache_dir=src, progress=False)
        stem = stem_of(spec)
        csv_text = counts.frame().to_csv(index=False).encode()
        atomic_write_bytes(shipped / f"{stem}.csv.gz", gzip.compress(csv_text, mtime=0))
        prov = dict(counts.provenance)
        prov["setup"] = {c.condition: [c.setup_samples, c.setup_commits] for c in counts.conditions}
        out.append(atomic_write_json(shipped / f"{stem}.json", prov))
    return out


def count_step(
    scale: str,
    out: str | Path,
    *,
    shared_cache: str | Path | None = CACHE_DIR,
    shipped: Path | None = SHIPPED_DIR,
    progress: bool = False,
) -> dict[str, Any]:
    """Count every spec of :func:`count_specs` into ``out`` (module docstring): from this
    build's folder, else the shipped counts, else the shared cache, else counted."""
    out = Path(out)
    entries = []
    t_all = time.perf_counter()
    for spec in count_specs(scale):
        hit = load_cached(spec, out)
        source = "this build's cache"
        if hit is None and shipped is not None:
            hit = load_shipped(spec, out, shipped)
            source = "shipped (data/reference/counts)"
        if hit is None and shared_cache is not None:
            hit = load_cached(spec, shared_cache)
            source = f"shared cache {shared_cache}"
        t0 = time.perf_counter()
        if hit is None:
            hit = count_run(spec, progress=progress)
            source = "counted"
            if shared_cache is not None:
                with contextlib.suppress(OSError):  # read-only: the build's copy is enough
                    save_counts(hit, shared_cache)
        path = save_counts(hit, out)
        entries.append(
            {
                "experiment": spec.experiment,
                "cycles": spec.cycles,
                "max_agents": spec.max_agents,
                "key": count_key(spec),
                "file": path.name,
                "source": source,
                "count_s": float(hit.provenance.get("count_s", math.nan)),
                "this_step_s": time.perf_counter() - t0,
                "commits": sum(c.total("commits") for c in hit.conditions),
                "samples": sum(c.total("samples") for c in hit.conditions),
            }
        )
    record = {
        "scale": scale,
        "count_scale": count_scale(scale).to_dict(),
        "model_source_sha256": model_source_hash(),
        "step_s": time.perf_counter() - t_all,
        "counts": entries,
    }
    atomic_write_json(out / COUNTS_JSON, record)
    return record


# ------------------------------------------------------------------ the runs to fit from


def _spec_dict(meta: dict[str, Any]) -> dict[str, Any]:
    return dict(meta.get("parameters") or {})


def usable(run: Any) -> str | None:
    """Why a run cannot be fitted (None: it can): complete, the per-pair test, fixed or live
    metrics, at least one cycle."""
    spec = _spec_dict(run.meta)
    costs = spec.get("costs") or {}
    if not run.complete:
        return "incomplete"
    if costs.get("resonance", "pairwise") != "pairwise":
        return "vectorized pair test (not the faithful cost)"
    if str(spec.get("metrics", "fixed")).split(":", 1)[0] not in ("fixed", "live"):
        return "replayed metrics"
    if len(run.cycles) == 0:
        return "no cycles"
    return None


def fit_runs(runs_dir: Path, study_dir: Path | None) -> tuple[list[Any], list[dict[str, Any]]]:
    """The build's run folders that can be fitted, and the study's that add commits on another
    medium (RAM) or more runs with per-row commits; with a record of what was used and why."""
    from nrm.instrument.reader import load_run
    from nrm.predict.unitcosts import medium_of

    used: list[Any] = []
    record: list[dict[str, Any]] = []

    def consider(folder: Path, origin: str, want: Any = None) -> None:
        try:
            run = load_run(folder)
        except NrmError:
            return
        why = usable(run)
        if why is None and want is not None:
            why = want(run)
        record.append(
            {
                "run": folder.name,
                "origin": origin,
                "used": why is None,
                "why_not": why or "",
                "medium": medium_of(run) if why is None else "",
            }
        )
        if why is None:
            used.append(run)

    for folder in (
        sorted(p for p in Path(runs_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
        if Path(runs_dir).is_dir()
        else []
    ):
        consider(folder, "paper runs")
    study_runs = None if study_dir is None else Path(study_dir) / "runs"
    if study_runs is not None and study_runs.is_dir():

        def commits_on_ram(run: Any) -> str | None:
            costs = _spec_dict(run.meta).get("costs") or {}
            if medium_of(run) != "ram":
                return "on disk (the paper runs give the disk costs)"
            if not costs.get("sqlite", True):
                return "no commits"
            return None

        for folder in sorted(p for p in study_runs.iterdir() if p.is_dir()):
            consider(folder, "study", commits_on_ram)
    return used, record


# ------------------------------------------------------------------------ the fit step


def _counts_of(folder: Path) -> Any:
    def get(spec: RunSpec) -> RunCounts:
        hit = load_cached(spec, folder)
        if hit is None:
            raise ParameterError(
                f"no counts of {spec.experiment} {spec.cycles}x"
                f"{spec.max_agents} in {folder}; run the counts step first"
            )
        return hit

    return get


def grid_commit_costs(uc: Any) -> list[float]:
    """The speedup figure's commit costs: the what-ifs and this build's measured ones."""
    costs = set(WHAT_IF_COMMIT_S)
    for fit in uc.commit.values():
        c = fit.coef("commits")
        if math.isfinite(c) and c > 0:
            costs.add(float(f"{c:.2g}"))
    return sorted(costs)


def predict_step(
    scale: str,
    runs_dir: str | Path,
    counts_dir: str | Path,
    out: str | Path,
    *,
    study_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fit, compare and draw (module docstring); returns the summary it writes."""
    from nrm.predict.paper import LABEL, comparisons, speedup_figure, speedup_grid
    from nrm.predict.unitcosts import fit_unit_costs, machine_label

    t0 = time.perf_counter()
    out = Path(out)
    counts_dir = Path(counts_dir)
    runs, record = fit_runs(Path(runs_dir), None if study_dir is None else Path(study_dir))
    if not runs:
        raise ParameterError(f"no complete faithful runs to fit unit costs from in {runs_dir}")
    uc = fit_unit_costs(runs)
    cs = count_scale(scale)
    counts_of = _counts_of(counts_dir)
    kind = "live" if any(k.startswith("live@") for k in uc.sample) else "fixed"
    tables: dict[str, pd.DataFrame] = {}
    tables["unit_costs"] = uc.table()
    comp = []
    for medium in sorted(uc.commit):
        t = comparisons(
            uc,
            counts_of=counts_of,
            medium=medium,
            metrics=kind,
            commit_growth=False,
            cycles=cs.cycles,
            max_agents=cs.max_agents,
        )
        comp.append(t.assign(medium=medium))
    tables["comparisons"] = pd.concat(comp, ignore_index=True)
    grid = speedup_grid(
        uc,
        cs.grid_agents,
        grid_commit_costs(uc),
        counts_of=counts_of,
        metrics=kind,
        medium="disk" if "disk" in uc.commit else next(iter(uc.commit)),
        cycles=cs.cycles,
    )
    tables["speedup_grid"] = grid
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
    speedup_figure(grid, out / "atscale_speedup.png")
    pd.DataFrame(record).to_csv(out / "fit_runs.csv", index=False)
    atomic_write_text(out / "own_runs.csv", own_runs(runs).to_csv(index=False))
    counts = json.loads((counts_dir / COUNTS_JSON).read_text(encoding="utf-8"))
    validation = holdout_step(runs_dir, study_dir, out)  # validation.csv (nrm.predict.holdout)
    summary = {
        "scale": scale,
        "label": LABEL,
        "count_scale": cs.to_dict(),
        "sample_kind": kind,
        "machine": uc.machine,
        "machine_label": machine_label(uc.machine),
        "fit_runs": len(runs),
        "fit_runs_by_origin": _by_origin(record),
        "notes": [*uc.notes, GROWTH_NOTE],
        "between_runs": {k: list(v) for k, v in uc.between_runs.items()},
        "counts": counts,
        "validation": validation,
        "step_s": time.perf_counter() - t0,
    }
    atomic_write_json(out / SUMMARY_JSON, summary)
    return summary


GROWTH_NOTE = (
    "a commit's cost is taken at the fitted database size: its growth with the size is not "
    "extrapolated from this build's small databases (MBs) to the paper's (GBs)"
)


#: The work terms of :func:`own_runs` (totals over a run; unit costs of the same names).
OWN_TERMS = (
    "samples",
    "commits",
    "evolve_calls",
    "registry_x_agents",
    "pairs_tested",
    "spawns",
    "cycles",
)


def own_runs(runs: Sequence[Any]) -> pd.DataFrame:
    """Each fitted run's work totals from its own ``cycles.csv`` (the counters it logged), its
    CPU interval, medium, metrics kind and measured runtime: with a build's unit costs they
    give a first-order prediction of the run, which ``nrm compare-builds`` uses to say how much
    of a difference between two builds their unit costs explain."""
    from nrm.predict.model import measured_runtime
    from nrm.predict.unitcosts import medium_of, metrics_kind

    rows = []
    for run in runs:
        c = run.cycles
        costs = _spec_dict(run.meta).get("costs") or {}
        rows.append(
            {
                "run": run.name,
                "medium": medium_of(run),
                "metrics": metrics_kind(run),
                "cpu_interval": float(costs.get("cpu_interval", 0.0)),
                "samples": float(c["samples"].sum()),
                "commits": float(c["commits"].sum()),
                "evolve_calls": float(c["evolve_calls"].sum()),
                "registry_x_agents": float((c["registry_size"] * c["population"]).sum()),
                "pairs_tested": float(c["pairs_tested"].sum()),
                "spawns": float(c["spawns"].sum()),
                "cycles": float(len(c)),
                "measured_s": measured_runtime(run),
            }
        )
    return pd.DataFrame(rows)


def _by_origin(record: Sequence[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in record:
        if r["used"]:
            out[r["origin"]] = out.get(r["origin"], 0) + 1
    return out


def outputs(folder: str | Path) -> list[Path]:
    """The files :func:`predict_step` writes into ``folder`` (the render step reads them)."""
    f = Path(folder)
    return [
        f / n
        for n in (
            "unit_costs.csv",
            "comparisons.csv",
            "speedup_grid.csv",
            "atscale_speedup.png",
            "fit_runs.csv",
            "own_runs.csv",
            VALIDATION_CSV,
            SUMMARY_JSON,
        )
    ]
