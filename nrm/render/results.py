"""The analyses the paper reads, computed from one scale's run folders and saved as files.

Phase 1A (:func:`phase1a`): the slow run (C256 unoptimized) against its baseline (C255
unoptimized): runtime summary, milestones, per-condition statistics, early prediction, H1-H5
verdicts and every test behind them; the H1-H5 verdicts on every run; one summary row per run.

Phase 1B (:func:`phase1b`): unoptimized against optimized per-cycle times, twice: the paper's
design (C256 unoptimized against C257-C260 optimized, which are different experiments) and a
same-experiment comparison (C256 unoptimized against C256 optimized).

Each table is a CSV file under ``<analysis dir>/phase1a/`` or ``phase1b/``, written atomically,
with a ``manifest.json`` naming the runs used. :func:`load_results` reads them back. The
statistics themselves are ``nrm.stats``'; this module only chooses the runs and files.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm import paths, stats
from nrm.atomic import atomic_write_json, atomic_write_text
from nrm.exceptions import LogError
from nrm.instrument.reader import RunData, load_run
from nrm.run.scales import DEFAULT_SEED
from nrm.stats.verdict import VERDICTS

__all__ = [
    "BASELINE",
    "COMPARISONS",
    "SLOW",
    "comparison_summary",
    "cost_drivers",
    "load_results",
    "load_runs",
    "phase1a",
    "phase1b",
    "run_table",
    "stat",
]

#: The paper's baseline (its "expected" runtime) and its slow run.
BASELINE = "C255-unoptimized"
SLOW = "C256-unoptimized"

#: Phase 1B comparisons: name -> (unoptimized runs, optimized runs, what it is).
COMPARISONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "paper_design": (
        ("C256-unoptimized",),
        ("C257-optimized", "C258-optimized", "C259-optimized", "C260-optimized"),
        "the paper's design: C256 unoptimized against C257-C260 optimized (other experiments)",
    ),
    "same_experiment": (
        ("C256-unoptimized",),
        ("C256-optimized",),
        "same experiment: C256 unoptimized against C256 optimized (only the sampling differs)",
    ),
}


def load_runs(runs: Mapping[str, str | Path]) -> dict[str, RunData]:
    """Load every run folder; an incomplete run is an error (the paper needs whole runs)."""
    out: dict[str, RunData] = {}
    for name, path in runs.items():
        run = load_run(path)
        if run.meta.get("status") != "complete":
            raise LogError(f"{path}: run status is {run.meta.get('status')!r}, not 'complete'; "
                           "re-run it (make paper re-runs out-of-date runs)")
        out[name] = run
    return out


def _save(df: pd.DataFrame, path: Path) -> Path:
    return atomic_write_text(path, df.to_csv(index=False))


def _manifest(out_dir: Path, kind: str, runs: Mapping[str, RunData], tables: Sequence[str],
              extra: dict[str, Any] | None = None) -> None:
    atomic_write_json(out_dir / paths.MANIFEST_JSON, {
        "kind": kind,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": {n: {"path": str(r.path), "status": r.meta.get("status"),
                     "started_at": r.meta.get("started_at")} for n, r in runs.items()},
        "tables": list(tables),
        **(extra or {}),
    })


def run_table(runs: Mapping[str, RunData]) -> pd.DataFrame:
    """One row per run, from run.json and the cycle log: what ran, how long, how many samples."""
    rows = []
    for name, r in runs.items():
        m, df = r.meta, r.cycles
        params = m.get("parameters", {})
        totals = m.get("totals") or {}
        costs = m.get("costs") or {}
        conds = m.get("conditions") or {}
        wall = pd.to_numeric(df["wall_s"], errors="coerce").to_numpy(dtype=float)
        cycles = int(totals.get("cycles", len(df)))
        samples = totals.get("samples")
        rows.append({
            "run": name,
            "experiment": m.get("experiment"),
            "variant": m.get("variant"),
            "mechanisms": " x ".join(m.get("mechanisms", [])),
            "cycles_per_condition": params.get("cycles"),
            "max_agents": params.get("max_agents"),
            "metrics": (m.get("metrics") or {}).get("source"),
            "cpu_interval_s": costs.get("cpu_interval"),
            "sampling": costs.get("sampling"),
            "sqlite": costs.get("sqlite"),
            "cycles": cycles,
            "runtime_s": totals.get("runtime_s"),
            "cpu_s": totals.get("cpu_s"),
            "cycle_time_s": float(np.nansum(wall)),
            "mean_cycle_ms": float(np.nanmean(wall) * 1e3),
            "samples": samples,
            "samples_per_cycle": (samples / cycles) if samples is not None and cycles else None,
            "commits": totals.get("commits"),
            "mean_population": float(np.mean([c["mean"] for c in conds.values()]))
            if conds else None,
            "crashed_conditions": sum(1 for c in conds.values()
                                      if c.get("crash_cycle") is not None),
            "synergy": (m.get("synergy") or {}).get("classification"),
        })
    return pd.DataFrame(rows)


#: Per-cycle quantities that may drive the per-cycle time (columns of cycles.csv).
COST_DRIVERS = ("population", "evolve_calls", "registry_size", "samples", "commits")


def cost_drivers(runs: Mapping[str, RunData]) -> pd.DataFrame:
    """Spearman ρ between per-cycle wall time and each per-cycle quantity, per run."""
    from scipy.stats import spearmanr

    rows = []
    for name, run in runs.items():
        wall = pd.to_numeric(run.cycles["wall_s"], errors="coerce").to_numpy(dtype=float)
        for col in COST_DRIVERS:
            if col not in run.cycles:
                continue
            x = pd.to_numeric(run.cycles[col], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(wall)
            if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(wall[ok]) == 0:
                continue
            res = spearmanr(x[ok], wall[ok])
            rows.append({"run": name, "quantity": col, "n": int(ok.sum()),
                         "spearman_rho": float(res.statistic), "p": float(res.pvalue)})
    return pd.DataFrame(rows, columns=["run", "quantity", "n", "spearman_rho", "p"])


def phase1a(runs: Mapping[str, str | Path], out_dir: str | Path, *, slow: str = SLOW,
            baseline: str = BASELINE) -> dict[str, pd.DataFrame]:
    """Phase 1A on a scale's runs; writes ``<out_dir>/phase1a/*.csv``; returns the tables."""
    loaded = load_runs(runs)
    for need in (slow, baseline):
        if need not in loaded:
            raise LogError(f"phase 1A needs run {need!r}; have {', '.join(loaded)}")
    analysis = stats.analyse_run(loaded[slow], loaded[baseline])
    tables = dict(analysis.as_dict())
    verdicts = []
    for name, run in loaded.items():
        v = stats.evaluate_hypotheses(run).verdicts
        verdicts.append(v.assign(run=name)[["run", "hypothesis", "name", "verdict", "evidence"]])
    tables["verdicts_by_run"] = pd.concat(verdicts, ignore_index=True)
    tables["runs"] = run_table(loaded)
    tables["cost_drivers"] = cost_drivers(loaded)
    out = Path(out_dir) / "phase1a"
    for name, df in tables.items():
        _save(df, out / f"{name}.csv")
    _manifest(out, "phase1a", loaded, list(tables), {"slow": slow, "baseline": baseline})
    return tables


def stat(table: pd.DataFrame, key: str) -> pd.Series:
    """The row of a comparison table with stable ``key`` (labels and notes are for readers)."""
    from nrm.stats.comparison import stat_row

    return stat_row(table, key)


def _flag(value: Any) -> bool:
    """A verdict flag as read back from CSV (True/False, or the strings pandas may leave)."""
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise LogError(f"a verdict flag must be True or False, got {value!r}")
        return value.strip().lower() == "true"
    return bool(value)


def _verdict(value: Any) -> str:
    """A prediction's verdict as stored in its row (one of VERDICTS)."""
    if value not in VERDICTS:
        raise LogError(f"a prediction's verdict must be one of {', '.join(VERDICTS)}, got "
                       f"{value!r}")
    return str(value)


def comparison_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per comparison: the numbers the paper's optimization section quotes."""
    rows = []
    for name, t in tables.items():
        unopt, opt, what = COMPARISONS.get(name, ((), (), name))
        sp = stat(t, "speedup_mean")
        vr = stat(t, "variance_reduction_pct")
        lev = stat(t, "levene_w")
        pred = stat(t, "prediction")
        rows.append({
            "comparison": name,
            "description": what,
            "unoptimized": ", ".join(unopt),
            "optimized": ", ".join(opt),
            "speedup": float(sp["value"]),
            "ci_low": float(sp["ci_low"]),
            "ci_high": float(sp["ci_high"]),
            "total_speedup": float(stat(t, "speedup_total")["value"]),
            "variance_reduction_pct": float(vr["value"]),
            "variance_reduction_ci_low": float(vr["ci_low"]),
            "variance_reduction_ci_high": float(vr["ci_high"]),
            "levene_p": float(lev["p_value"]),
            "cv_reduction_pct": float(stat(t, "cv_reduction_pct")["value"]),
            "cohens_d": float(stat(t, "cohens_d")["value"]),
            "welch_p": float(stat(t, "welch_t")["p_value"]),
            "sample_call_reduction": float(stat(t, "sample_call_reduction")["value"]),
            "prediction_holds": _flag(pred["holds"]),
            "prediction_verdict": _verdict(pred["verdict"]),
        })
    return pd.DataFrame(rows)


def phase1b(runs: Mapping[str, str | Path], out_dir: str | Path, *,
            comparisons: Mapping[str, tuple[tuple[str, ...], tuple[str, ...], str]] = COMPARISONS,
            n_boot: int = 2000, seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame]:
    """Phase 1B on a scale's runs; writes ``<out_dir>/phase1b/*.csv``; returns the tables."""
    loaded = load_runs(runs)
    tables: dict[str, pd.DataFrame] = {}
    for name, (unopt, opt, _) in comparisons.items():
        missing = [n for n in (*unopt, *opt) if n not in loaded]
        if missing:
            raise LogError(f"comparison {name!r} needs run(s) {', '.join(missing)}")
        tables[name] = stats.compare_runs([loaded[n] for n in unopt], [loaded[n] for n in opt],
                                          n_boot=n_boot, seed=seed)
    tables["summary"] = comparison_summary(tables)
    out = Path(out_dir) / "phase1b"
    for name, df in tables.items():
        _save(df, out / f"{name}.csv")
    _manifest(out, "phase1b", loaded, list(tables), {"n_boot": n_boot, "seed": seed})
    return tables


def load_results(analysis_dir: str | Path) -> dict[str, Any]:
    """``{"phase1a": {table: DataFrame}, "phase1b": {...}, "manifests": {...}}`` from disk."""
    base = Path(analysis_dir)
    out: dict[str, Any] = {"manifests": {}}
    for phase in ("phase1a", "phase1b"):
        folder = base / phase
        manifest = folder / paths.MANIFEST_JSON
        if not manifest.is_file():
            raise LogError(f"{manifest} missing; run the {phase} notebook first "
                           "(make paper does it)")
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        out["manifests"][phase] = meta
        out[phase] = {
            t: pd.read_csv(io.StringIO((folder / f"{t}.csv").read_text(encoding="utf-8")))
            for t in meta["tables"]
        }
    return out
