"""Predicted runtime = the model's work counts x measured unit costs, with intervals (#24).

A prediction is linear in the fitted coefficients: ``T = constant + Σ_f a_f · β_f`` where
``β_f`` are one fit's coefficients (:class:`nrm.predict.unitcosts.Fit`), ``a_f`` the counts
that multiply them and the constant the blocking time of the samples (``samples x
cpu_interval``, known exactly). Its variance is ``Σ_f a_f' V_f a_f`` with ``V_f`` the fit's HAC
covariance (the fits are independent: they use different columns of the same cycles), and its
interval ``T ± c · sd`` with ``c`` the largest critical value of the fits it uses. Ratios of two
predictions (a speedup, C256 against C255) use the delta method on the same coefficients, so the
unit costs they share do not widen the ratio's interval: ``var(A/B) = var(A - r B) / B²``.

A commit's (sample's) cost is the fitted runs' mean cost of one at their mix of commits per
cycle: the commit and sample fits' per-cycle intercepts are spread over their units
(:mod:`nrm.predict.unitcosts`), never multiplied by the predicted run's cycles.

What a prediction leaves out, and says so: the drift term (the fits' change with process age
is not extrapolated; each fit's intercept is its window's mean age), and the growth of a
commit's cost with the database size unless its interval is above zero *and* the run's
database stays within the sizes the fit measured. When it is used, the database size of each
cycle is the rows committed so far times the fitted bytes per row. A slope is not extrapolated
by default: ``nrm plan`` fits its unit costs on two 15-cycle x 8-agent runs whose databases
reach ~0.2 MB, and a slope of ~1.5 ms/MB that is "significant" over 0.07-0.16 MB (where it is
collinear with the run's age) made a 200-cycle x 15-agent run's commits (databases of ~9 MB)
cost 4x what they did; the reference build's own fit over 0-9 MB finds no growth. Asked for
explicitly (``commit_growth=True``), a size beyond the fitted range is an extrapolation
(noted).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm.exceptions import NrmError, ParameterError
from nrm.instrument.reader import RunData, load_run
from nrm.predict.counts import RunCounts, count_run
from nrm.predict.unitcosts import (
    MODEL_TERMS,
    Fit,
    UnitCosts,
    fit_unit_costs,
    medium_of,
    metrics_kind,
)
from nrm.run.spec import RunSpec

__all__ = ["COMPONENTS", "Linear", "Prediction", "predict", "ratio", "validate"]

#: The error a held-out *smoke* run is predicted within in the test suite (runs of seconds on a
#: shared machine, where one commit's latency changes by tens of percent between runs; the
#: target for runs of minutes is 10 %, and :func:`validate` reports what it is).
SMOKE_TOLERANCE = 0.30

#: The parts of a predicted runtime, in the order a breakdown lists them.
COMPONENTS = ("sample_blocking", "sample_rest", "commits", "model", "outside")
LABELS = {"sample_blocking": "metrics samples, blocking interval",
          "sample_rest": "metrics samples, the rest of each sample",
          "commits": "SQLite commits", "model": "the model's own work (Python)",
          "outside": "per-cycle overhead outside the cycle (log, probe, set-up)"}


@dataclass
class Linear:
    """``constant + Σ_fit weights · coefficients``: a time that is linear in the unit costs."""

    constant: float = 0.0
    weights: dict[str, dict[str, float]] = field(default_factory=dict)  # fit key -> name -> a
    extra_var: float = 0.0  # variance not in the fits (a new run's costs differing from theirs)

    def add(self, fit_key: str, name: str, a: float) -> None:
        w = self.weights.setdefault(fit_key, {})
        w[name] = w.get(name, 0.0) + float(a)

    def combine(self, other: Linear, scale: float = 1.0) -> Linear:
        out = Linear(self.constant + scale * other.constant,
                     {k: dict(v) for k, v in self.weights.items()},
                     self.extra_var + scale * scale * other.extra_var)
        for key, w in other.weights.items():
            for name, a in w.items():
                out.add(key, name, scale * a)
        return out

    def value(self, fits: Mapping[str, Fit]) -> float:
        return self.constant + sum(fits[k].coef(n) * a for k, w in self.weights.items()
                                   for n, a in w.items())

    def variance(self, fits: Mapping[str, Fit]) -> float:
        return self.extra_var + sum(fits[k].variance_of(w) for k, w in self.weights.items())

    def critical(self, fits: Mapping[str, Fit]) -> float:
        used = [fits[k].critical for k, w in self.weights.items() if any(w.values())]
        return max(used, default=0.0)

    def interval(self, fits: Mapping[str, Fit]) -> tuple[float, float, float]:
        v, sd = self.value(fits), math.sqrt(max(self.variance(fits), 0.0))
        c = self.critical(fits)
        return v, v - c * sd, v + c * sd


def fits_of(uc: UnitCosts) -> dict[str, Fit]:
    out: dict[str, Fit] = {"model": uc.model, "outside": uc.outside}
    out.update({f"commit:{m}": f for m, f in uc.commit.items()})
    out.update({f"sample:{k}": f for k, f in uc.sample.items()})
    return out


@dataclass
class Prediction:
    """A predicted runtime with its interval and breakdown (module docstring)."""

    spec: RunSpec
    components: dict[str, Linear]
    fits: dict[str, Fit]
    totals: dict[str, float]  # work counts over the run
    medium: str
    metrics: str
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> Linear:
        out = Linear()
        for lin in self.components.values():
            out = out.combine(lin)
        return out

    @property
    def seconds(self) -> float:
        return self.total.value(self.fits)

    def interval(self) -> tuple[float, float, float]:
        return self.total.interval(self.fits)

    def breakdown(self) -> pd.DataFrame:
        total = self.seconds
        rows = []
        for name, lin in self.components.items():
            v, lo, hi = lin.interval(self.fits)
            rows.append({"component": name, "label": LABELS[name], "seconds": v, "ci_low": lo,
                         "ci_high": hi, "share": v / total if total else math.nan})
        return pd.DataFrame(rows)

    def describe(self) -> str:
        v, lo, hi = self.interval()
        s = self.spec
        lines = [f"{s.experiment} {s.variant_label}: {s.cycles} cycles x "
                 f"{len(s.conditions)} conditions, at most {s.max_agents} agents, "
                 f"{s.cpu_interval:g} s CPU sample, commits on {self.medium}",
                 f"predicted runtime {_fmt(v)} (95 % CI {_fmt(lo)} to {_fmt(hi)}), "
                 "predicted from measured unit costs",
                 f"  work: {self.totals['samples']:,.0f} samples, {self.totals['commits']:,.0f} "
                 f"commits, {self.totals['evolve_calls']:,.0f} evolve calls, "
                 f"{self.totals['pairs_tested']:,.0f} pairs tested"]
        for r in self.breakdown().itertuples():
            lines.append(f"  {r.label:<58} {_fmt(r.seconds):>10} ({r.share:6.1%})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def predict(counts: RunCounts, uc: UnitCosts, *, medium: str = "disk",
            metrics: str | None = None, commit_growth: bool | None = None,
            commit_s: float | None = None, sample_rest_s: float | None = None,
            between: bool = True) -> Prediction:
    """The runtime of ``counts.spec`` on the machine ``uc`` was measured on.

    ``medium``: where the commits go (``disk`` or ``ram``, a fitted medium); ``metrics``: the
    kind of metrics sample (default: the spec's; a kind without a fit falls back to one that
    has, noted). ``commit_growth``: use the commit cost's growth with the database size (default:
    when its interval lies above zero and the run's database stays within the sizes it was
    fitted on: a slope is not extrapolated). ``commit_s`` replaces the fitted cost of a commit by a
    given one (no interval: a what-if); ``sample_rest_s`` likewise the cost of a sample beyond
    its blocking interval. ``between``: widen the interval by the spread of the per-run
    commit and sample costs between the fitted runs (a prediction interval for a new run;
    False: the fit's interval only)."""
    spec = counts.spec
    if spec.costs.resonance != "pairwise":
        raise ParameterError("the unit costs are fitted for the per-pair test "
                             "(resonance=pairwise); the vectorized test is not predicted")
    if commit_s is not None and not (math.isfinite(commit_s) and commit_s >= 0):
        raise ParameterError(f"a commit cost must be >= 0 seconds, got {commit_s!r}")
    fits = fits_of(uc)
    notes: list[str] = []
    kind = metrics or spec.metrics.split(":", 1)[0]
    if kind in ("replay", "cycle-replay"):
        kind = "fixed"
    need_commits = spec.costs.sqlite
    kind = sample_key(uc, kind, medium, notes)
    if need_commits and commit_s is None and medium not in uc.commit:
        raise ParameterError(f"no commits were measured on {medium}; fitted: "
                             f"{', '.join(sorted(uc.commit)) or 'none'}")
    comps = {c: Linear() for c in COMPONENTS}
    totals = {k: 0.0 for k in ("samples", "commits", "evolve_calls", "pairs_tested", "cycles")}
    cfit = uc.commit.get(medium)
    growth = False
    if need_commits and commit_s is None and cfit is not None and "commit_mb" in cfit.names:
        g = cfit.cost("commit_mb")
        sig = g.ci_low > 0  # a commit that gets cheaper as the database grows is not physics
        reach = run_database_bytes(counts, uc.bytes_per_row)
        inside = reach <= cfit.index_max  # False for NaN (no bytes per row measured)
        growth = (sig and inside) if commit_growth is None else commit_growth
        if not growth:
            why = ("switched off" if commit_growth is not None else
                   "not significantly positive: " if not sig else
                   f"fitted on databases of up to {cfit.index_max / 1e6:,.2f} MB and this run's "
                   f"reaches {reach / 1e6:,.1f} MB; a slope is not extrapolated: ")
            if commit_growth is None:
                why += (f"{g.estimate * 1e3:+.3g} ms/MB, CI {g.ci_low * 1e3:+.3g} to "
                        f"{g.ci_high * 1e3:+.3g}")
            notes.append(f"a commit's cost is taken as constant at the fitted database size "
                         f"({cfit.index_mean / 1e6:,.2f} MB; its growth with the size is {why})")
    rows_so_far = 0.0
    max_db = 0.0
    commit_n = sample_n = 0.0
    for c in counts.conditions:
        f = c.cycles
        n = len(f)
        samples = float(f["samples"].sum()) + c.setup_samples
        totals["samples"] += samples
        totals["cycles"] += n
        totals["evolve_calls"] += float(f["evolve_calls"].sum())
        totals["pairs_tested"] += float(f["pairs_tested"].sum())
        comps["sample_blocking"].constant += samples * spec.cpu_interval
        if sample_rest_s is not None:
            comps["sample_rest"].constant += samples * sample_rest_s
        else:
            comps["sample_rest"].add(f"sample:{kind}", "samples", samples)
            comps["sample_rest"].add(f"sample:{kind}", "cycle",
                                     _intercept_weight(fits[f"sample:{kind}"], samples))
            if between:
                sample_n += samples
        if need_commits:
            k = f["commits"].to_numpy(float)
            kc = float(k.sum()) + c.setup_commits
            totals["commits"] += kc
            if commit_s is not None:
                comps["commits"].constant += kc * commit_s
            else:
                key = f"commit:{medium}"
                comps["commits"].add(key, "commits", kc)
                comps["commits"].add(key, "cycle", _intercept_weight(fits[key], kc))
                if between:
                    commit_n += kc
                if growth and cfit is not None:
                    db = (rows_so_far + c.setup_commits + np.cumsum(k)) * uc.bytes_per_row
                    max_db = max(max_db, float(db[-1]) if n else 0.0)
                    comps["commits"].add(key, "commit_mb",
                                         float(k @ ((db - cfit.index_mean) / 1e6)))
            rows_so_far += kc
        m = comps["model"]
        m.add("model", "cycle", n)
        for term in MODEL_TERMS:
            if term == "registry_x_agents":
                a = float((f["registry_size"] * f["population"]).sum())
            else:
                a = float(f[term].sum())
                if term == "samples":
                    a += c.setup_samples
            m.add("model", term, a)
        comps["outside"].add("outside", "cycle", n)
    sd_c, sd_s = uc.between.get(f"commit:{medium}", 0.0), uc.between.get(f"sample:{kind}", 0.0)
    comps["commits"].extra_var = (commit_n * sd_c) ** 2
    comps["sample_rest"].extra_var = (sample_n * sd_s) ** 2
    if between:
        notes.append(f"the interval includes the spread between the fitted runs of a run's mean "
                     f"commit cost (sd {sd_c * 1e3:.3f} ms) and sample cost beyond its interval "
                     f"(sd {sd_s * 1e3:.3f} ms): a new run's, not only the fit's, uncertainty")
    if growth and cfit is not None and max_db > cfit.index_max:
        notes.append(f"the database reaches {max_db / 1e6:,.0f} MB; commits were measured up to "
                     f"{cfit.index_max / 1e6:,.1f} MB (the growth is extrapolated)")
    dropped = [n for n, _ in (uc.model.result.dropped if uc.model.result else ())]
    if dropped:
        notes.append(f"work terms without their own cost (in the others'): {', '.join(dropped)}")
    notes.append("the fits' drift with process age is not extrapolated")
    return Prediction(spec, comps, fits, totals, medium if need_commits else "-", kind,
                      uc.machine, notes)


def _intercept_weight(fit: Fit, units: float) -> float:
    """What a commit or sample fit's per-cycle intercept is multiplied by for ``units``
    commits or samples: its share of the fitted runs' cycles per unit (the fitted mean cost of
    a unit, :mod:`nrm.predict.unitcosts`); 0 for a fit without that rate (a hand-made one)."""
    rate = fit.cycles_per_unit
    return units * rate if math.isfinite(rate) else 0.0


def run_database_bytes(counts: RunCounts, bytes_per_row: float) -> float:
    """The database size ``counts``' run reaches: every row it commits (its conditions one
    after another, set-up included) times ``bytes_per_row``; 0 without SQLite."""
    if not counts.spec.costs.sqlite:
        return 0.0
    rows = sum(c.setup_commits + float(c.cycles["commits"].sum()) for c in counts.conditions)
    return rows * bytes_per_row


def sample_key(uc: UnitCosts, kind: str, medium: str, notes: list[str]) -> str:
    """The sample fit for ``kind`` metrics with commits on ``medium`` (``KIND@MEDIUM``), or the
    nearest there is (noted): the same kind on another medium, else another kind."""
    want = f"{kind}@{medium}"
    if want in uc.sample:
        return want
    have = sorted(uc.sample)
    if not have:
        raise ParameterError("the unit costs hold no metrics-sample fit")
    near = [k for k in have if k.startswith(f"{kind}@")] or have
    notes.append(f"no {kind} metrics sample was measured with commits on {medium}; the rest "
                 f"of a sample is taken from {near[0]}")
    return near[0]


def ratio(a: Prediction, b: Prediction) -> tuple[float, float, float]:
    """``a / b`` with its delta-method interval (module docstring)."""
    fits = {**b.fits, **a.fits}
    ta, tb = a.total, b.total
    r = ta.value(fits) / tb.value(fits)
    diff = ta.combine(tb, -r)
    sd = math.sqrt(max(diff.variance(fits), 0.0)) / tb.value(fits)
    c = max(ta.critical(fits), tb.critical(fits))
    return r, r - c * sd, r + c * sd


def share(p: Prediction, component: str) -> tuple[float, float, float]:
    """The share of ``component`` in ``p``'s total, with its delta-method interval."""
    comp, total = p.components[component], p.total
    t = total.value(p.fits)
    s = comp.value(p.fits) / t
    sd = math.sqrt(max(comp.combine(total, -s).variance(p.fits), 0.0)) / t
    c = total.critical(p.fits)
    return s, s - c * sd, s + c * sd


def measured_runtime(run: RunData) -> float:
    """The run's time in its conditions (run.json's ``totals.runtime_s``)."""
    totals = run.meta.get("totals") or {}
    if "runtime_s" not in totals:
        raise ParameterError(f"{run.path}: run.json has no totals (the run did not complete)")
    return float(totals["runtime_s"])


def spec_of(run: RunData) -> RunSpec:
    return RunSpec.from_dict(run.meta["parameters"])


def validate(fit_runs: Iterable[str | Path | RunData], held_runs: Iterable[str | Path | RunData],
             *, level: float = 0.95,
             counts_of: Callable[[RunSpec], RunCounts] | None = None
             ) -> tuple[pd.DataFrame, UnitCosts]:
    """Fit unit costs on ``fit_runs``, predict each of ``held_runs`` from a counting run of its
    spec, and compare with its measured runtime. One row per held-out run: predicted, CI,
    measured, error (predicted / measured - 1), whether the CI covers the measurement; beside
    them the held-out run's own mean commit and sample costs against the fitted ones, and
    ``error_own_io``: the error when the prediction uses the run's own commit and sample
    costs (what is left is the model's counts and the other unit costs; the difference is the
    machine's I/O and scheduling latency changing between the runs)."""
    uc = fit_unit_costs(fit_runs, level=level)
    counter = counts_of or count_run
    rows = []
    for r in held_runs:
        run = r if isinstance(r, RunData) else load_run(r)
        spec = spec_of(run)
        counts = counter(spec)
        p = predict(counts, uc, medium=medium_of(run), metrics=metrics_kind(run))
        v, lo, hi = p.interval()
        meas = measured_runtime(run)
        c = run.cycles
        own_commit = float(c["commit_s"].sum() / c["commits"].sum()) if c["commits"].sum() else 0.0
        own_rest = float(c["sample_s"].sum() / c["samples"].sum()) - spec.cpu_interval
        fit_commit = uc.commit[medium_of(run)].coef("commits") if medium_of(run) in uc.commit \
            else math.nan
        own = predict(counts, uc, medium=medium_of(run), metrics=metrics_kind(run),
                      commit_s=own_commit, sample_rest_s=own_rest).seconds
        rows.append({"run": run.name, "experiment": spec.experiment,
                     "variant": spec.variant_label, "cycles": spec.cycles,
                     "max_agents": spec.max_agents, "medium": medium_of(run),
                     "predicted_s": v, "ci_low": lo, "ci_high": hi, "measured_s": meas,
                     "error": v / meas - 1.0, "covered": lo <= meas <= hi,
                     "commit_ms_fit": 1e3 * fit_commit, "commit_ms_run": 1e3 * own_commit,
                     "error_own_io": own / meas - 1.0})
    return pd.DataFrame(rows), uc


def median_abs_error(table: pd.DataFrame) -> float:
    return float(np.median(np.abs(table["error"].to_numpy(float)))) if len(table) else math.nan


def runs_in(folder: str | Path, prefix: str) -> Sequence[Path]:
    """The complete run folders in ``folder`` whose name starts with ``prefix``."""
    out = []
    for p in sorted(Path(folder).glob(f"{prefix}*")):
        try:
            if load_run(p).complete:
                out.append(p)
        except NrmError:  # an unreadable folder is not a run to use
            continue
    return out
