"""Seconds per unit of work, fitted from run folders' ``cycles.csv`` (issue #24).

Three fits, each :func:`nrm.stats.drift.drift` (OLS with a Newey–West HAC covariance, Andrews'
lag, a fixed-b critical value) on the cycles of all the given runs, one after another:

The commit and sample fits have an intercept per cycle, but a cycle's commit (sample) time is
that of its commits (samples) alone: a prediction spreads the intercept over the commits
(samples) at the fitted runs' rate (``Fit.cycles_per_unit``), so that it is the fitted runs'
mean cost of a commit (sample) and is never multiplied by another run's cycles. In short runs
under a loaded disk the intercept and the slope trade off (a calibration beside a disk-heavy
job fitted +12.8 ms a commit and -24 ms a cycle), and a run with one commit a cycle came out
negative.

- **per commit**, one fit per storage medium (``disk``, or ``ram`` when the run folder was on a
  tmpfs): a cycle's commit time ``commit_s`` against its ``commits`` and ``commit_mb`` =
  ``commits x (db_bytes - mean) / 1e6``: the first is the cost of one commit at the runs'
  mean database size, the second its growth per MB of database (a cycle's commits weigh as
  many commits, not as one mean);
- **per metrics sample**, one fit per metrics kind (``fixed``, ``live``) and storage medium
  (key ``KIND@MEDIUM``): a cycle's sample time beyond the blocking intervals,
  ``sample_s - samples x cpu_interval``, against its ``samples``; a sample then costs
  ``cpu_interval + rest``. The rest depends on the medium on a loaded machine: a process
  that commits to RAM is CPU-bound and wakes from its blocking sample late (it waits for a
  core), one that commits to disk sleeps in I/O and is woken promptly;
- **the model's own work**: ``wall_s - commit_s - sample_s`` against the counters
  ``samples`` (the bookkeeping around a sample: trace row, persistence call), ``evolve_calls``,
  ``registry_x_agents`` (registry entries x agents, the pooling scan), ``pairs_tested`` and
  ``spawns``, with the cycle index as drift term; its intercept is the cost of a cycle. A term
  whose fitted cost is negative (collinearity in short runs, not a cost) is left out and the
  rest refitted, one at a time, until every work term's cost is >= 0 (noted).

Besides these, a cycle has a cost outside its ``wall_s`` (the probe's row, the log, the
database size, checkpoints): ``outside`` is the mean over the runs' conditions of
``(runtime_s - Σ wall_s) / cycles`` (the conditions' set-up included), with a Student t
interval. Each unit cost carries its interval and the machine the runs were measured on.
The covariance of each fit's coefficients is kept so that a prediction's interval accounts
for their correlation (:mod:`nrm.predict.model`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nrm.exceptions import ParameterError
from nrm.instrument.reader import RunData, load_run
from nrm.stats._regression import _ols
from nrm.stats.drift import UNIT_LABELS, DriftResult, UnitCost, drift

__all__ = ["MODEL_TERMS", "Fit", "UnitCosts", "fit_unit_costs", "medium_of", "metrics_kind"]

#: Work terms of the model's own time (beside the per-cycle intercept).
MODEL_TERMS = ("samples", "evolve_calls", "registry_x_agents", "pairs_tested", "spawns")
RAM_FS = ("tmpfs", "ramfs")
_REQUIRED = ("wall_s", "commits", "commit_s", "samples", "sample_s", "evolve_calls",
             "registry_size", "population", "pairs_tested", "spawns", "db_bytes", "cycle")


@dataclass(frozen=True)
class Fit:
    """One fit's coefficients (``cycle`` = intercept, ``drift`` = the index term, then the
    kept work terms), their HAC covariance and the critical value of its intervals; ``result``
    is the :func:`~nrm.stats.drift.drift` result (None for the ``outside`` mean)."""

    result: DriftResult | None
    names: tuple[str, ...]
    beta: np.ndarray
    cov: np.ndarray
    index_mean: float
    critical: float
    index_max: float = math.nan
    #: the fitted rows (cycles) per unit of the fit's work (a commit, a sample): a commit or
    #: sample fit's intercept is spread over its units at this rate (:mod:`nrm.predict.model`)
    cycles_per_unit: float = math.nan

    def coef(self, name: str) -> float:
        return float(self.beta[self.names.index(name)]) if name in self.names else 0.0

    def cost(self, name: str) -> UnitCost:
        """One coefficient as a :class:`UnitCost` (the interval: ± critical x HAC se)."""
        if name not in self.names:
            raise ParameterError(f"no unit cost {name!r}; have {list(self.names)}")
        j = self.names.index(name)
        est, se = float(self.beta[j]), math.sqrt(max(float(self.cov[j, j]), 0.0))
        label = UNIT_LABELS.get(name, f"per unit of {name}")
        return UnitCost(name, label, est, est - self.critical * se, est + self.critical * se, se)

    def variance_of(self, weights: dict[str, float]) -> float:
        """Variance of Σ w_name · coefficient (names not fitted count 0)."""
        a = np.array([weights.get(n, 0.0) for n in self.names])
        return float(a @ self.cov @ a)


@dataclass(frozen=True)
class UnitCosts:
    """The fitted unit costs of a set of runs (module docstring)."""

    commit: dict[str, Fit]  # by medium
    sample: dict[str, Fit]  # by metrics kind
    model: Fit
    outside: Fit
    bytes_per_row: float  # database bytes per committed row (for the size a run reaches)
    machine: dict[str, Any]
    runs: tuple[str, ...]
    level: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: standard deviation between runs of a run's mean cost per commit (``commit:MEDIUM``) and
    #: per sample beyond its interval (``sample:KIND``): how much the next run's costs may
    #: differ from the fit's (a disk's latency changes by the hour on a shared machine)
    between: dict[str, float] = field(default_factory=dict)
    between_runs: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per unit cost: name, label, estimate, ci_low, ci_high, se, unit."""
        rows = []
        for medium, f in self.commit.items():
            c = f.cost("commits")
            rows.append((f"commit_{medium}", f"per commit ({medium}, at {f.index_mean / 1e6:.2f}"
                         " MB of database)", c.estimate, c.ci_low, c.ci_high, c.se, "s"))
            if "commit_mb" in f.names:
                g = f.cost("commit_mb")
                rows.append((f"commit_{medium}_per_mb", f"per commit, growth per MB of database "
                             f"({medium})", g.estimate, g.ci_low, g.ci_high, g.se, "s/MB"))
        for kind, f in self.sample.items():
            c = f.cost("samples")
            what = kind.replace("@", " metrics, commits on ")
            rows.append((f"sample_rest_{kind}", f"per sample beyond its interval ({what})",
                         c.estimate, c.ci_low, c.ci_high, c.se, "s"))
        assert self.model.result is not None
        for c in self.model.result.unit_costs:
            rows.append((c.name, c.label, c.estimate, c.ci_low, c.ci_high, c.se, "s"))
        o, se = self.outside.coef("cycle"), math.sqrt(float(self.outside.cov[0, 0]))
        crit = self.outside.critical
        rows.append(("outside", "per cycle, outside the cycle's timer (log, probe, set-up)", o,
                     o - crit * se, o + crit * se, se, "s"))
        return pd.DataFrame(rows, columns=["name", "label", "estimate", "ci_low", "ci_high",
                                           "se", "unit"])

    def describe(self) -> str:
        lines = [f"unit costs from {len(self.runs)} runs on {machine_label(self.machine)} "
                 f"({self.level:.0%} HAC intervals):"]
        for r in self.table().itertuples():
            scale, unit = (1e3, "ms") if r.unit == "s" else (1e3, "ms/MB")
            lines.append(f"  {r.label:<58} {r.estimate * scale:10.4f} {unit} "
                         f"({r.ci_low * scale:.4f} to {r.ci_high * scale:.4f})")
        for k, v in self.between_runs.items():
            lines.append(f"  {k}: per-run means {', '.join(f'{x * 1e3:.3f}' for x in v)} ms "
                         f"(sd between runs {self.between[k] * 1e3:.3f} ms)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def machine_label(m: dict[str, Any]) -> str:
    cpu = m.get("cpu_model") or "unknown CPU"
    return f"{m.get('hostname', '?')} ({cpu}, {m.get('cpus', '?')} CPUs)"


def medium_of(run: RunData) -> str:
    """``ram`` when the run folder was on a tmpfs (run.json's storage record), else ``disk``."""
    ctx = run.meta.get("context") or {}
    fs = str((ctx.get("storage") or {}).get("fs_type") or "")
    return "ram" if fs in RAM_FS else "disk"


def metrics_kind(run: RunData) -> str:
    """``fixed``, ``live``, ``replay`` or ``cycle-replay`` (run.json's ``parameters``)."""
    spec = run.meta.get("parameters") or {}
    return str(spec.get("metrics", "fixed")).split(":", 1)[0]


def _interval(run: RunData) -> float:
    spec = run.meta.get("parameters") or {}
    return float((spec.get("costs") or {}).get("cpu_interval", 0.0))


def _machine(runs: Sequence[RunData]) -> dict[str, Any]:
    hosts = []
    for r in runs:
        ctx = r.meta.get("context") or {}
        cpu = ctx.get("cpu") or {}
        hosts.append({"hostname": ctx.get("hostname"),
                      "cpu_model": cpu.get("model") or cpu.get("model_name"),
                      "cpus": cpu.get("logical"), "hypervisor": cpu.get("hypervisor"),
                      "storage": (ctx.get("storage") or {}).get("fs_type")})
    first = dict(hosts[0]) if hosts else {}
    first["storage"] = sorted({str(h["storage"]) for h in hosts})
    if any({**h, "storage": 0} != {**hosts[0], "storage": 0} for h in hosts):
        first["mixed"] = True
    return first


def _fit(y: np.ndarray, *, index: np.ndarray, per: float, unit: str,
         work: dict[str, np.ndarray] | None, level: float, min_cycles: int) -> Fit:
    res = drift(y, work=work, index=index, per=per, index_unit=unit, level=level,
                min_cycles=min_cycles)
    if not res.testable:
        raise ParameterError(f"unit costs not estimable: {res.reason}")
    kept = [c.name for c in res.unit_costs if c.name != "cycle"]
    n = y.size
    x = np.asarray(index, dtype=float)
    cols = [np.ones(n), (x - x.mean()) / per] + [np.asarray(work[k], float)  # type: ignore[index]
                                                 for k in kept]
    f = _ols(np.column_stack(cols), np.asarray(y, float), res.hac_lags)
    return Fit(res, ("cycle", "drift", *kept), f.beta, f.cov_hac, float(x.mean()),
               res.critical, float(x.max()))


def _fit_nonnegative(y: np.ndarray, *, index: np.ndarray, work: dict[str, np.ndarray],
                     level: float, min_cycles: int) -> tuple[Fit, list[tuple[str, float]]]:
    """The model fit with every work term's cost >= 0: while a kept term's coefficient is
    negative, the most negative one (by its t value) is left out and the rest refitted. A
    negative seconds-per-unit is not a cost but collinearity: in short runs the counters grow
    together (a 15-cycle x 8-agent calibration fitted -2.6 us per registry entry x agent and
    +34 us per pair tested), and such a pair extrapolates to runs of other shapes with the
    wrong sign. Returns the fit and the terms left out with their fitted cost."""
    work = dict(work)
    left_out: list[tuple[str, float]] = []
    while True:
        fit = _fit(y, index=index, per=1e3, unit="cycle", work=work, level=level,
                   min_cycles=min_cycles)
        t = {}
        for j, name in enumerate(fit.names):
            if name in work and fit.beta[j] < 0:
                t[name] = float(fit.beta[j]) / max(math.sqrt(max(float(fit.cov[j, j]), 0.0)),
                                                   1e-300)
        if not t:
            return fit, left_out
        worst = min(t, key=lambda n: t[n])
        left_out.append((worst, fit.coef(worst)))
        del work[worst]


def _frames(runs: Sequence[RunData]) -> list[tuple[RunData, pd.DataFrame]]:
    out = []
    for r in runs:
        missing = [c for c in _REQUIRED if c not in r.cycles]
        if missing:
            raise ParameterError(f"{r.path}: cycles.csv lacks {', '.join(missing)}")
        out.append((r, r.cycles))
    return out


def fit_unit_costs(runs: Iterable[str | Path | RunData], *, level: float = 0.95,
                   min_cycles: int = 30) -> UnitCosts:
    """Fit the unit costs of ``runs`` (run folders, or loaded runs) as the module says."""
    loaded = [r if isinstance(r, RunData) else load_run(r) for r in runs]
    if not loaded:
        raise ParameterError("no runs to fit unit costs from")
    frames = _frames(loaded)
    notes: list[str] = []

    commit: dict[str, Fit] = {}
    for medium in ("disk", "ram"):
        parts = [f[f["commits"] > 0] for r, f in frames if medium_of(r) == medium]
        if not parts:
            continue
        d = pd.concat(parts, ignore_index=True)
        db = d["db_bytes"].to_numpy(float)
        k = d["commits"].to_numpy(float)
        work = {"commits": k, "commit_mb": k * (db - db.mean()) / 1e6}
        f = _fit(d["commit_s"].to_numpy(float), index=d["cycle"].to_numpy(float), per=1e3,
                 unit="cycle", work=work, level=level, min_cycles=min_cycles)
        commit[medium] = replace(f, index_mean=float(db.mean()), index_max=float(db.max()),
                                 cycles_per_unit=len(d) / float(k.sum()))

    sample: dict[str, Fit] = {}
    for key in sorted({f"{metrics_kind(r)}@{medium_of(r)}" for r, _ in frames}):
        parts = []
        for r, f in frames:
            if f"{metrics_kind(r)}@{medium_of(r)}" != key:
                continue
            g = f[f["samples"] > 0]
            parts.append(pd.DataFrame({"y": g["sample_s"] - g["samples"] * _interval(r),
                                       "samples": g["samples"], "cycle": g["cycle"]}))
        d = pd.concat(parts, ignore_index=True)
        f = _fit(d["y"].to_numpy(float), index=d["cycle"].to_numpy(float), per=1e3,
                 unit="cycle", work={"samples": d["samples"].to_numpy(float)},
                 level=level, min_cycles=min_cycles)
        if "samples" not in f.names:  # as many samples every cycle: the intercept is theirs
            per = float(d["samples"].iloc[0])
            f = replace(f, names=("samples",), beta=f.beta[:1] / per,
                        cov=f.cov[:1, :1] / per**2)
            notes.append(f"{key}: {per:g} samples every cycle; a sample's cost is the "
                         "per-cycle intercept over them")
        sample[key] = replace(f, cycles_per_unit=len(d) / float(d["samples"].sum()))

    d = pd.concat([f for _, f in frames], ignore_index=True)
    y = (d["wall_s"] - d["commit_s"].fillna(0) - d["sample_s"].fillna(0)).to_numpy(float)
    work = {k: (d["registry_size"] * d["population"] if k == "registry_x_agents" else d[k])
            .to_numpy(float) for k in MODEL_TERMS}
    model, negative = _fit_nonnegative(y, index=d["cycle"].to_numpy(float), work=work,
                                       level=level, min_cycles=min_cycles)
    assert model.result is not None
    for name, why in model.result.dropped:
        notes.append(f"model term {name} left out: {why}")
    for name, est in negative:
        notes.append(f"model term {name} left out: its fitted cost was negative "
                     f"({est * 1e3:+.4f} ms; collinear with the other terms in these runs), so "
                     "its time is in the other terms")

    per_cycle = []
    rows = []
    for r, f in frames:
        for cond, res in (r.meta.get("conditions") or {}).items():
            g = f[f["condition"] == cond] if "condition" in f else f
            if len(g) and res.get("runtime_s") is not None:
                per_cycle.append((float(res["runtime_s"]) - float(g["wall_s"].sum())) / len(g))
        last = f.groupby("condition")["db_bytes"].last().max() if "condition" in f else None
        total = int(f["commits"].sum())
        if last is not None and total > 0 and medium_of(r) == "disk":
            rows.append(float(last) / total)
    outside = _mean_fit(per_cycle, level)
    bytes_per_row = float(np.median(rows)) if rows else math.nan
    per_run: dict[str, list[float]] = {}
    for r, f in frames:
        if f["commits"].sum() > 0:
            per_run.setdefault(f"commit:{medium_of(r)}", []).append(
                float(f["commit_s"].sum() / f["commits"].sum()))
        if f["samples"].sum() > 0:
            per_run.setdefault(f"sample:{metrics_kind(r)}@{medium_of(r)}", []).append(
                float(f["sample_s"].sum() / f["samples"].sum()) - _interval(r))
    between = {k: float(np.std(v, ddof=1)) if len(v) >= 2 else 0.0 for k, v in per_run.items()}
    for k, v in per_run.items():
        if len(v) < 2:
            notes.append(f"{k}: one run only, no spread between runs in the intervals")
    return UnitCosts(commit, sample, model, outside, bytes_per_row, _machine(loaded),
                     tuple(r.name for r in loaded), level, tuple(notes), between,
                     {k: tuple(v) for k, v in per_run.items()})


def _mean_fit(values: list[float], level: float) -> Fit:
    """The mean of ``values`` as a one-coefficient fit (Student t interval)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean()) if v.size else 0.0
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size >= 2 else 0.0
    t = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) if v.size >= 2 else 0.0
    return Fit(None, ("cycle",), np.array([m]), np.array([[se * se]]), 0.0, t)
