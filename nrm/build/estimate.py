"""What ``make paper`` will run and how long it should take on this machine, before it runs.

``nrm plan [--scale S]`` (and ``make paper PLAN=1``) lists the planned runs of a scale with an
estimated time for each, from a few seconds of calibration on this machine:

- the latency of one SQLite row commit (a new connection, an insert, a commit, as the
  faithful model does it), measured on the file system that will hold the run folders;
- the cost of one live metrics sample beyond its blocking interval (``psutil``);
- the model's own work: each planned run's first cycles of every condition, executed with the
  run's cost preset but with the database and the metrics sample replaced by counters, give
  the CPU time per cycle and the commits and samples per cycle. Their trend over those
  cycles is extended linearly to the run's length (the work per cycle grows as the model
  accumulates children and clusters).

Every run with the faithful per-pair test is estimated with the prediction model of
``nrm predict`` (:mod:`nrm.predict`): its work counts (a counting run of the planned spec, the
whole run, not a prefix) times unit costs fitted on two short faithful calibration runs on
this machine (C256 unoptimized and optimized, :data:`CAL_CYCLES` cycles x :data:`CAL_AGENTS`
agents, the scale's CPU interval and metrics, their folder beside the runs: the same disk) and
a run of the model's own work without I/O (:data:`CAL_MODEL_CYCLES` cycles), with the
prediction's 95 % interval; plus a notebook's start-up. Runs with the vectorized pair
test (``lean``) have no fitted unit cost for it and keep the older estimate: Σ conditions
(model CPU of the first cycles, extended + commits × commit latency + samples × sample time)
+ a notebook's start-up.
Nothing is written outside a temporary folder, which is removed.
The estimate is a guide, not a promise: on a shared machine the commit latency changes by
the hour; the summary ``make paper`` prints at the end puts the measured times beside it.

The plan ends with the causal study that ``make paper`` runs after the paper's runs
(:mod:`nrm.study.sweep`), then the prediction, the analyses and the paper. Every step of the
build has an estimate and says where it comes from (:class:`Step`, :func:`build_plan`):

- the paper's runs and the study's ``nrm run`` arms: *estimated here*, as above (an arm: its
  cycles, plus the start-up of a fresh process, timed once with a one-cycle run);
- the study's command arms (the H2 controls, workers, database growth, the long
  fixed-workload arms, contention) and the sweep's own time (the metrics trace, Dask):
  *recorded*, the reference build's time for the same arm (``data/reference/build-default``:
  the arm's mean ``process_wall_s`` over its runs there, times its runs in this plan), used only
  when the arm is the reference's (same label, size and command); otherwise not estimated,
  and the plan says so;
- the prediction, the analyses and the paper, and ``make setup``: *recorded* for the
  reference build (:data:`REFERENCE_AFTER_RUNS_S`, :data:`REFERENCE_SETUP_S`); ``make setup``
  is done before the plan runs, and the time this checkout's took is *measured* from the
  ``.venv``'s timestamps where they allow it.

Why the prediction model's commits are not extrapolated (issue #24): the calibration's
databases reach ~0.2 MB, a run of the default scale's ~9 MB; a commit-cost slope fitted over
the calibration's sizes made PLAN=1 estimate ~4x the reference build's runtimes, so a slope is
used only inside the sizes it was fitted on (:func:`nrm.predict.model.predict`), and a work term
of the model's own time with a negative fitted cost is left out
(:func:`nrm.predict.unitcosts.fit_unit_costs`). ``tests/test_plan_accuracy.py`` checks the
paper's runs against the reference build's recorded runtimes.

``nrm plan --summary RUNS_DIR`` prints the time each planned run took, from its run.json.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nrm import paths
from nrm.run.scales import DEFAULT_SEED, REFERENCE_SCALE
from nrm.sim.persistence import CountingPersistence

__all__ = ["BuildPlan", "Calibration", "RunEstimate", "Step", "build_plan", "calibrate",
           "estimate_run", "summary"]

#: Seconds a run notebook needs besides the run: starting its kernel, importing nrm, writing
#: its executed copy (measured at smoke scale on a 2-vCPU VM shared with other jobs: 6-11 s).
NOTEBOOK_START_S = 7.0

#: Steps of the reference build that PLAN=1 takes from its record rather than measuring them
#: here (data/reference/build-default/README.md, "Conditions of this build": one build, n = 1,
#: a quiet 2-vCPU VM, 2026-12-07 21:14 UTC): ``make setup`` in a fresh clone 0.9 min; the
#: analyses, the prediction (with shipped counts) and the paper 0.8 min (the reference builds
#: of 19:16 UTC: 0.7 and 0.8 min, of 05:56 UTC: 1.9 and 2.6 min).
#: ``tests/test_plan_accuracy.py`` checks them against that README.
REFERENCE_SETUP_S = 0.9 * 60
REFERENCE_AFTER_RUNS_S = 0.8 * 60
#: Where the recorded steps come from.
REFERENCE_LABEL = ("the reference build (data/reference/build-default, "
                   "{host}, {date}; n = 1 build)")


@dataclass(frozen=True)
class Calibration:
    commit_s: float  # median seconds per SQLite row commit
    commits_measured: int
    sample_overhead_s: float  # a live sample's cost beyond its blocking interval
    folder: str  # where the commits were timed

    def describe(self) -> str:
        return (f"calibration: one SQLite row commit {self.commit_s * 1e3:.2f} ms (median of "
                f"{self.commits_measured}, in {self.folder}); a live metrics sample "
                f"{self.sample_overhead_s * 1e3:.2f} ms plus its blocking interval")


@dataclass(frozen=True)
class RunEstimate:
    name: str
    description: str
    cycles: int  # all conditions
    commits: float
    samples: float
    cpu_s: float
    seconds: float
    extrapolated: bool  # True when only a prefix of each condition was executed
    ci: tuple[float, float] | None = None  # the prediction's 95 % interval (prediction model)
    method: str = "first cycles"  # "prediction model" or "first cycles" (the older estimate)
    startup_s: float = NOTEBOOK_START_S  # of ``seconds``: the start-up besides the run itself

    @property
    def run_s(self) -> float:
        """The run itself (``seconds`` without the start-up): what its run.json's
        ``totals.runtime_s`` measures."""
        return self.seconds - self.startup_s


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def calibrate(runs_dir: str | Path | None = None, *, seconds: float = 1.5) -> Calibration:
    """Time SQLite row commits in a temporary folder beside ``runs_dir`` (same file system)
    and a live metrics sample."""
    from nrm.sim.metrics import FixedSource, LiveSource
    from nrm.sim.persistence import SqlitePersistence

    base = _existing(Path(runs_dir) if runs_dir is not None else paths.RUNS)
    tmp = Path(tempfile.mkdtemp(prefix=".nrm-plan-", dir=base))
    try:
        db = SqlitePersistence(tmp)
        m = FixedSource().sample()
        times: list[float] = []
        t_end = time.perf_counter() + seconds
        while (time.perf_counter() < t_end and len(times) < 2000) or len(times) < 20:
            c0 = db.commit_s
            if len(times) % 2:  # both databases, as the model alternates between them
                db.phase("a", (0.1, 0.2, 0.3), 1.0, m)
            else:
                db.sample(m)
            times.append(db.commit_s - c0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    live = LiveSource(cpu_interval=0.0, disk_path=base)
    live.sample()  # psutil's first cpu_percent call primes its counters
    t0 = time.perf_counter()
    n = 20
    for _ in range(n):
        live.sample()
    sample_s = (time.perf_counter() - t0) / n
    return Calibration(statistics.median(times), len(times), sample_s, str(base))


def _condition_work(planned: Any, condition: str, budget_s: float) -> dict[str, float]:
    """Run the first cycles of one condition with counters instead of costs; extend the
    per-cycle trend to the full length."""
    from nrm.run.spec import RunSpec
    from nrm.sim.experiments import get_experiment
    from nrm.sim.metrics import FixedSource
    from nrm.sim.wiring import new_reality, new_simulation

    spec = RunSpec(**planned.spec_kwargs())
    persistence = CountingPersistence()
    reality = new_reality(FixedSource(cpu_interval=0.0), persistence)  # type: ignore[arg-type]
    sim = new_simulation(get_experiment(spec.experiment), condition, spec.model_params(),
                         spec.costs, reality, seed=spec.seed)
    c0 = time.process_time()
    sim.setup()
    setup = {"cpu": time.process_time() - c0, "commits": persistence.commits,
             "samples": reality.samples}
    cpu, commits, samples = [], [], []
    t_end = time.perf_counter() + budget_s
    while sim.cycle < spec.cycles and (time.perf_counter() < t_end or sim.cycle < 3):
        k0, s0, c0 = persistence.commits, reality.samples, time.process_time()
        sim.step()
        cpu.append(time.process_time() - c0)
        commits.append(persistence.commits - k0)
        samples.append(reality.samples - s0)
    done = len(cpu)
    out = {"cpu": setup["cpu"], "commits": float(setup["commits"]),
           "samples": float(setup["samples"]), "extrapolated": float(done < spec.cycles)}
    for key, series in (("cpu", cpu), ("commits", commits), ("samples", samples)):
        out[key] += _extend(np.asarray(series, dtype=float), spec.cycles)
    return out


def _extend(series: np.ndarray, total: int) -> float:
    """Sum of a per-cycle series over ``total`` cycles: measured where measured, the linear
    trend of the measured part (never below its mean) beyond."""
    done = len(series)
    if done >= total:
        return float(series[:total].sum())
    rest = np.arange(done, total, dtype=float)
    if done >= 5:
        slope, icpt = np.polyfit(np.arange(done, dtype=float), series, 1)
        tail = np.maximum(icpt + slope * rest, series.mean())
    else:
        tail = np.full(len(rest), series.mean())
    return float(series.sum() + tail.sum())


def estimate_run(planned: Any, cal: Calibration, *, budget_s: float = 0.6) -> RunEstimate:
    """Estimated wall time of one planned run (``nrm.run.scales.PlannedRun``)."""
    from nrm.run.spec import RunSpec
    from nrm.sim.conditions import CONDITIONS

    spec = RunSpec(**planned.spec_kwargs())
    costs = spec.cost_switches()
    totals = {"cpu": 0.0, "commits": 0.0, "samples": 0.0, "extrapolated": 0.0}
    for cond in CONDITIONS:
        work = _condition_work(planned, cond, budget_s / len(CONDITIONS))
        for k in totals:
            totals[k] += work[k]
    live = spec.metrics == "live"
    per_sample = costs.cpu_interval + (cal.sample_overhead_s if live else 0.0)
    commit = cal.commit_s if costs.sqlite else 0.0
    seconds = (totals["cpu"] + totals["commits"] * commit + totals["samples"] * per_sample
               + NOTEBOOK_START_S)
    cycles = spec.cycles * len(CONDITIONS)
    what = (f"{spec.experiment} {spec.variant}: {spec.cycles} cycles x {len(CONDITIONS)} "
            f"conditions, at most {spec.max_agents} agents, metrics {spec.metrics}")
    return RunEstimate(planned.name, what, cycles, totals["commits"] if costs.sqlite else 0.0,
                       totals["samples"], totals["cpu"], seconds, totals["extrapolated"] > 0)


#: The calibration runs of the prediction model (C256 unoptimized and optimized, the scale's
#: costs), and a third run of the model's own work (:data:`CAL_MODEL_CYCLES`).
CAL_CYCLES = 15
CAL_AGENTS = 8
#: Cycles of the calibration's model-work run: C256 with every work term of the faithful model
#: (per-pair test, recursive evolution, cumulative registry) but no I/O (no SQLite, no blocking
#: sample, one fixed sample a cycle). Its registry grows four times as far as in the 15-cycle
#: runs and nothing but the model's Python is timed, so the fit can tell the work terms apart
#: (in the two 15-cycle runs alone they grow together and one came out negative); and it gives
#: the cost of a fixed (or replayed) metrics sample, as the study's arms take them. ~0.3 s CPU.
CAL_MODEL_CYCLES = 60


def model_work_costs() -> dict[str, Any]:
    """The cost switches of the calibration's model-work run (:data:`CAL_MODEL_CYCLES`)."""
    return {"sampling": "per_cycle", "cpu_interval": 0.0, "sqlite": False,
            "recursive_evolution": True, "cumulative_registry": True, "resonance": "pairwise"}


def calibration_specs(scale_name: str) -> dict[str, Any]:
    """The calibration's runs by folder name: :data:`CAL_CYCLES` x :data:`CAL_AGENTS` C256
    unoptimized and optimized (a sample per call and a sample per cycle, so the fit can tell the
    cost of a sample from the cost of a cycle; the scale's CPU interval and metrics) and the
    model-work run (:data:`CAL_MODEL_CYCLES`)."""
    from nrm.run.scales import get_scale
    from nrm.run.spec import RunSpec

    scale = get_scale(scale_name)
    out: dict[str, Any] = {}
    for variant in ("unoptimized", "optimized"):
        planned = scale.base("C256", variant)
        out[variant] = RunSpec(**{**planned.spec_kwargs(), "cycles": CAL_CYCLES,
                                  "max_agents": CAL_AGENTS})
    out["model"] = RunSpec("C256", "lean", cycles=CAL_MODEL_CYCLES, max_agents=CAL_AGENTS,
                           metrics="fixed", costs=model_work_costs(), seed=DEFAULT_SEED)
    return out


def calibration_run(scale_name: str, runs_dir: str | Path | None = None) -> tuple[Any, float]:
    """Unit costs fitted on the calibration's runs (:func:`calibration_specs`) in a temporary
    folder beside ``runs_dir`` (same file system), which is removed; and the runs' wall
    time."""
    from nrm.predict.unitcosts import fit_unit_costs
    from nrm.run.runner import run_experiment

    base = _existing(Path(runs_dir) if runs_dir is not None else paths.RUNS)
    tmp = Path(tempfile.mkdtemp(prefix=".nrm-plan-cal-", dir=base))
    try:
        t0 = time.perf_counter()
        folders = []
        for name, spec in calibration_specs(scale_name).items():
            run_experiment(spec, tmp / name, progress=False)
            folders.append(tmp / name)
        took = time.perf_counter() - t0
        return fit_unit_costs(folders, min_cycles=20), took
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def predict_run(planned: Any, uc: Any, *, startup_s: float = NOTEBOOK_START_S) -> RunEstimate:
    """Estimated wall time of one planned run with the prediction model: the counts of the
    whole run (a counting run) times the unit costs ``uc`` (:func:`calibration_run`), plus
    ``startup_s``. Raises ParameterError for a run the model does not predict (the vectorized
    pair test)."""
    from nrm.predict.counts import count_run
    from nrm.predict.model import predict
    from nrm.run.spec import RunSpec

    spec = RunSpec(**planned.spec_kwargs())
    kind = spec.metrics.split(":", 1)[0]
    counted = spec if kind != "live" else RunSpec(**{**planned.spec_kwargs(), "metrics": "fixed"})
    counts = count_run(counted)
    medium = next(iter(uc.commit), "disk")
    p = predict(counts, uc, medium=medium, metrics=kind if kind == "live" else "fixed")
    v, lo, hi = p.interval()
    what = (f"{spec.experiment} {spec.variant}: {spec.cycles} cycles x {len(spec.conditions)} "
            f"conditions, at most {spec.max_agents} agents, metrics {spec.metrics}")
    model = p.components["model"].value(p.fits)
    return RunEstimate(planned.name, what, int(p.totals["cycles"]), p.totals["commits"],
                       p.totals["samples"], model, v + startup_s, False,
                       (lo + startup_s, hi + startup_s), "prediction model", startup_s)


def best_estimate(planned: Any, uc: Any, cal: Calibration, *, budget_s: float,
                  startup_s: float = NOTEBOOK_START_S) -> RunEstimate:
    """:func:`predict_run` where the prediction model applies, else :func:`estimate_run`."""
    from nrm.exceptions import ParameterError

    if uc is not None:
        try:
            return predict_run(planned, uc, startup_s=startup_s)
        except ParameterError:
            pass
    est = estimate_run(planned, cal, budget_s=budget_s)
    return replace(est, seconds=est.seconds - NOTEBOOK_START_S + startup_s, startup_s=startup_s)


def prediction_line(scale_name: str) -> str:
    """The build's prediction steps: which counts are shipped (copied in seconds) and which
    must be counted."""
    from nrm.predict.buildstep import SHIPPED_DIR, count_scale, count_specs, load_shipped

    specs = count_specs(scale_name)
    cs = count_scale(scale_name)
    with tempfile.TemporaryDirectory(prefix="nrm-plan-counts-") as tmp:
        shipped = sum(load_shipped(s, Path(tmp), SHIPPED_DIR) is not None for s in specs)
    todo = len(specs) - shipped
    return (f"then the prediction (nrm predict-step): {len(specs)} counting runs at {cs.cycles} "
            f"cycles x {cs.max_agents} agents, {shipped} shipped for this model "
            "(data/reference/counts, copied in seconds)"
            + (f", {todo} to count (at the paper's scale minutes each on 2 shared cores)"
               if todo and cs.is_paper else f", {todo} to count (seconds)" if todo else "")
            + "; then the unit-cost fit and the comparisons (seconds)")


def _fmt_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Step:
    """One step of the build with its estimate: ``seconds`` (None: not estimated, ``source``
    says why) and where the estimate comes from (``source``, one of :data:`SOURCES`)."""

    stage: str  # "setup", "runs", "study", "after" (prediction, analyses, paper)
    name: str
    seconds: float | None
    source: str  # "estimated here", "measured here", "recorded", "not estimated"
    detail: str = ""
    runs: int = 1


#: Where an estimate comes from.
SOURCES = ("estimated here", "measured here", "recorded", "not estimated", "not run")


@dataclass(frozen=True)
class BuildPlan:
    """The plan of a scale: every step with its estimate, and the plan's text."""

    scale: str
    steps: tuple[Step, ...]
    lines: tuple[str, ...]

    def text(self) -> str:
        return "\n".join(self.lines)

    def seconds(self, stage: str) -> float:
        return sum(s.seconds or 0.0 for s in self.steps if s.stage == stage)

    def missing(self) -> list[Step]:
        """The steps without an estimate."""
        return [s for s in self.steps if s.seconds is None]


def plan_text(scale_name: str, runs_dir: str | Path | None = None, *,
              budget_s: float = 0.6, study: bool = True) -> str:
    """The plan of a scale with an estimate per step (runs the calibration)."""
    return build_plan(scale_name, runs_dir, budget_s=budget_s, study=study).text()


def build_plan(scale_name: str, runs_dir: str | Path | None = None, *, budget_s: float = 0.6,
               study: bool = True, cal: Calibration | None = None,
               calibrated: tuple[Any, float] | None = None, startup_s: float | None = None,
               reference: str | Path | None = None) -> BuildPlan:
    """Every step of ``make paper SCALE=scale_name`` with its estimate (module docstring).
    ``cal``, ``calibrated`` (the unit costs and the calibration's seconds) and ``startup_s`` (a
    fresh process's start-up) are measured here unless given; ``reference``: the reference
    build's folder (default :data:`nrm.paths.REFERENCE_BUILD`)."""
    from nrm.run.scales import get_scale

    scale = get_scale(scale_name)
    cal = cal if cal is not None else calibrate(runs_dir)
    uc, cal_s = calibrated if calibrated is not None else calibration_run(scale.name, runs_dir)
    ref = Reference.load(Path(reference) if reference is not None else paths.REFERENCE_BUILD)
    steps: list[Step] = [setup_step(ref)]
    lines = [f"make paper SCALE={scale.name}: {len(scale.runs)} runs, one after another, then "
             "the causal study, the prediction, the analyses and the paper", cal.describe(),
             f"prediction model (nrm predict): unit costs fitted on two {CAL_CYCLES}-cycle x "
             f"{CAL_AGENTS}-agent C256 runs here, unoptimized and optimized, and a "
             f"{CAL_MODEL_CYCLES}-cycle run of the model's work without I/O ({cal_s:.1f} s; one "
             "commit "
             + ", ".join(f"{m} {f.coef('commits') * 1e3:.2f} ms" for m, f in uc.commit.items())
             + ") x each run's work counts (a counting run of the whole run)", ""]
    total = lo_sum = hi_sum = 0.0
    for i, planned in enumerate(scale.runs, 1):
        est = best_estimate(planned, uc, cal, budget_s=budget_s)
        total += est.seconds
        lo, hi = est.ci or (est.seconds, est.seconds)
        lo_sum, hi_sum = lo_sum + lo, hi_sum + hi
        how = (f"prediction model, 95 % CI {_fmt_s(lo)}-{_fmt_s(hi)}" if est.ci else
               "extrapolated from the first cycles" if est.extrapolated else "all cycles timed")
        steps.append(Step("runs", est.name, est.seconds, "estimated here", est.method))
        lines.append(f"run {i}/{len(scale.runs)}  {est.name:<18} ~{_fmt_s(est.seconds):>9}   "
                     f"{est.description}; {est.commits:,.0f} SQLite commits, "
                     f"{est.samples:,.0f} metrics samples, model {est.cpu_s:.2f} s ({how})")
    lines.append(f"  the runs: ~{_fmt_s(total)} (sum of the runs' 95 % CIs "
                 f"{_fmt_s(lo_sum)}-{_fmt_s(hi_sum)}; each with "
                 f"{NOTEBOOK_START_S:.0f} s for its notebook)")
    if study:
        study_steps, study_text = study_plan(scale.name, cal, uc, ref, startup_s=startup_s)
        steps += study_steps
        lines += ["", *study_text]
    after = after_runs_step(scale.name, ref)
    steps.append(after)
    lines += ["", prediction_line(scale.name),
              f"  the prediction, the analyses and the paper: ~{_fmt_s(after.seconds or 0.0)} "
              f"({after.source}: {after.detail})"]
    setup = steps[0]
    lines += ["", f"make setup: {setup.detail}"]
    bp = BuildPlan(scale.name, tuple(steps), ())
    runs_s, study_s = bp.seconds("runs"), bp.seconds("study")
    here = runs_s + study_s + bp.seconds("after")
    fresh = here + bp.seconds("setup")
    missing = bp.missing()
    gap = (f" ({len(missing)} steps not estimated: "
           + ", ".join(s.name for s in missing) + ")") if missing else ""
    lines += ["", f"estimated time: ~{_fmt_s(runs_s)} for the runs"
              + (f", ~{_fmt_s(study_s)} for the causal study" if study else "")
              + f", ~{_fmt_s(after.seconds or 0.0)} for the prediction, the analyses and the "
              f"paper: ~{_fmt_s(here)} from here on this machine now; from a fresh clone, with "
              f"make setup, ~{_fmt_s(fresh)}{gap}. Longer when the disk's commits slow down or "
              "other jobs share the cores. Nothing was run."]
    return replace(bp, lines=tuple(lines))


@dataclass(frozen=True)
class Reference:
    """What the reference build recorded: each study arm's runs (``process_wall_s``) and
    identity (its factor, note and scale note), the sweep's seconds, where and when."""

    folder: Path
    arm_seconds: dict[str, list[float]]
    arm_identity: dict[str, tuple[str, str, str]]
    sweep_s: float | None
    scale: str | None
    label: str

    @classmethod
    def load(cls, folder: Path) -> Reference:
        """The records in ``folder`` (empty when it holds none)."""
        arm_s: dict[str, list[float]] = {}
        ident: dict[str, tuple[str, str, str]] = {}
        sweep_s: float | None = None
        scale: str | None = None
        host = date = "?"
        try:
            machine = json.loads((folder / "machine.json").read_text(encoding="utf-8"))
            st = machine.get("study") or {}
            sweep_s = float(st["sweep_s"]) if st.get("sweep_s") is not None else None
            scale = st.get("scale")
            cpu = machine.get("cpu") or {}
            host = (f"{machine.get('hostname', '?')}, {cpu.get('model') or '?'}, "
                    f"{cpu.get('logical', '?')} CPUs")
            date = str(machine.get("built_at") or "?")
        except (OSError, ValueError, KeyError, TypeError):
            pass
        try:
            runs = pd.read_csv(folder / "study" / "runs.csv")
            for arm, g in runs.groupby("arm"):
                arm_s[str(arm)] = [float(x) for x in g["process_wall_s"].dropna()]
            summ = json.loads((folder / "study" / "study_summary.json").read_text("utf-8"))
            for a in summ.get("arms", []):
                ident[a["label"]] = (a.get("factor", ""), a.get("note", ""),
                                     a.get("scale_note", ""))
            scale = scale or summ.get("scale")
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return cls(folder, arm_s, ident, sweep_s, scale,
                   REFERENCE_LABEL.format(host=host, date=date))

    def arm_s(self, arm: Any, scale: str, scale_note: str) -> tuple[float, int] | None:
        """The recorded mean seconds of one run of ``arm`` and its number of runs, when the
        reference ran the same arm: a study of the same scale (a command arm's workload is set
        by the scale), and the same label, factor, note and scale note."""
        got = self.arm_seconds.get(arm.label)
        if not got or scale != self.scale or \
                self.arm_identity.get(arm.label) != (arm.factor, arm.note, scale_note):
            return None
        return statistics.fmean(got), len(got)

    def sibling_s(self, arm: Any, scale: str) -> tuple[float, int, str] | None:
        """For an allocator arm the reference did not run (its allocator was not installed
        there), the recorded mean seconds of the same arm under another allocator, their
        number and that arm's label: the same workload, so a labelled stand-in for the time
        (the allocator's own effect on it is what the study measures, not what a plan needs)."""
        from nrm.instrument.allocator import ALLOCATORS

        if scale != self.scale:
            return None
        for name in ALLOCATORS:
            if arm.label.endswith(f"-{name}"):
                stem = arm.label[: -len(name)]
                for other in ALLOCATORS:
                    got = self.arm_seconds.get(stem + other)
                    if other != name and got:
                        return statistics.fmean(got), len(got), stem + other
        return None


def setup_step(ref: Reference, venv: Path | None = None) -> Step:
    """``make setup``: done before the plan; the time it took here from the ``.venv``'s
    timestamps (created: ``pyvenv.cfg``; installed: the Makefile's stamp) when they are within
    an hour of each other, else the reference build's (:data:`REFERENCE_SETUP_S`)."""
    v = venv if venv is not None else paths.ROOT / ".venv"
    try:
        took = (v / ".installed-stamp").stat().st_mtime - (v / "pyvenv.cfg").stat().st_mtime
    except OSError:
        took = math.nan
    if 0 < took < 3600:
        return Step("setup", "make setup", took, "measured here",
                    f"done before this plan (make paper runs it first); this checkout's took "
                    f"{_fmt_s(took)} (its .venv created -> installed)")
    return Step("setup", "make setup", REFERENCE_SETUP_S, "recorded",
                f"done before this plan (make paper runs it first); in a fresh clone "
                f"~{_fmt_s(REFERENCE_SETUP_S)}, recorded for {ref.label}")


def after_runs_step(scale_name: str, ref: Reference) -> Step:
    """The prediction, the analyses and the paper: the reference build's time for them."""
    at = "" if scale_name == REFERENCE_SCALE else f" at scale {REFERENCE_SCALE}"
    return Step("after", "prediction, analyses and paper", REFERENCE_AFTER_RUNS_S, "recorded",
                f"{ref.label}{at}")


@dataclass(frozen=True)
class _ArmRun:
    """A study arm as the estimator sees a planned run (:func:`estimate_run`)."""

    name: str
    kwargs: dict[str, Any]

    def spec_kwargs(self) -> dict[str, Any]:
        return self.kwargs


def process_startup_s() -> float:
    """Wall time of a fresh ``nrm run`` process that runs one cycle (the fixed cost of every
    study run)."""
    import subprocess

    from nrm.run.child import command
    from nrm.run.spec import RunSpec

    spec = RunSpec("C256", "lean", cycles=1, max_agents=2, metrics="fixed")
    with tempfile.TemporaryDirectory(prefix="nrm-plan-") as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(spec.to_json(), encoding="utf-8")
        t0 = time.perf_counter()
        subprocess.run(command(spec_file, Path(tmp) / "r"), capture_output=True, check=False)
        return time.perf_counter() - t0  # the four conditions' set-up included


def study_plan(scale_name: str, cal: Calibration, uc: Any, ref: Reference, *,
               budget_s: float = 0.1, startup_s: float | None = None
               ) -> tuple[list[Step], list[str]]:
    """The study's steps (one per arm, and the sweep's own time) and its part of the plan."""
    from nrm.run.scales import STUDY_SCALES
    from nrm.study.sweep import build_plan as study_build_plan

    if scale_name not in STUDY_SCALES:
        return [], []
    plan = study_build_plan(scale_name)
    tasks = plan.tasks()
    n_runs: dict[str, int] = {}
    for t in tasks:
        n_runs[t.arm] = n_runs.get(t.arm, 0) + 1
    startup = process_startup_s() if startup_s is None else startup_s
    steps: list[Step] = []
    by_group: dict[str, list[Step]] = {}
    for arm in plan.arms:
        n = n_runs.get(arm.label, 0)
        if not arm.available or not n:
            steps.append(Step("study", arm.label, 0.0, "not run", "not available here: no runs", 0))
            continue
        if arm.run is not None and arm.runner == "run":
            r = arm.run
            costs = arm.cost_switches()
            assert costs is not None
            kwargs = {"experiment": r.get("experiment", "C256"), "variant": r.get("variant"),
                      "cycles": arm.cycles, "max_agents": arm.max_agents,
                      # the study's trace is estimated as fixed metrics; a live arm as live
                      "metrics": "live" if r.get("metrics") == "live" else "fixed",
                      "cpu_interval": costs.cpu_interval, "costs": r.get("costs") or None,
                      "seed": DEFAULT_SEED}
            est = best_estimate(_ArmRun(arm.label, kwargs), uc, cal, budget_s=budget_s,
                                startup_s=startup)
            step = Step("study", arm.label, est.seconds * n, "estimated here",
                        f"{est.method} + {startup:.1f} s start-up", n)
        else:
            rec = ref.arm_s(arm, plan.scale.name, plan.scale_note(arm))
            sib = ref.sibling_s(arm, plan.scale.name) if rec is None else None
            if rec is not None:
                step = Step("study", arm.label, rec[0] * n, "recorded",
                            f"{rec[0]:.1f} s a run, mean of {rec[1]} runs", n)
            elif sib is not None:
                step = Step("study", arm.label, sib[0] * n, "recorded",
                            f"{sib[0]:.1f} s a run, mean of {sib[1]} runs of {sib[2]}: the "
                            "reference build did not run this allocator's arm", n)
            else:
                step = Step("study", arm.label, None, "not estimated",
                            "a command arm the reference build did not run (not at this "
                            "scale, or not this arm)", n)
        steps.append(step)
        by_group.setdefault(arm.group, []).append(step)
    if ref.sweep_s is not None and ref.scale == plan.scale.name and ref.arm_seconds:
        own = ref.sweep_s - sum(sum(v) for v in ref.arm_seconds.values())
        steps.append(Step("study", "the sweep's own time", max(own, 0.0), "recorded",
                          "the metrics trace, Dask, between runs: the reference sweep's "
                          f"{_fmt_s(ref.sweep_s)} minus its runs' process times"))
    else:
        steps.append(Step("study", "the sweep's own time", None, "not estimated",
                          f"no reference sweep at scale {plan.scale.name}"))
    study_s = sum(s.seconds or 0.0 for s in steps)
    lines = [f"then the causal study (nrm study, scale {plan.scale.name}): {len(tasks)} runs = "
             f"{len(plan.arms)} arms x {plan.repeats} randomized blocks, one at a time in fresh "
             f"processes on a one-worker Dask cluster: ~{_fmt_s(study_s)}"]
    for group, gs in by_group.items():
        n = sum(s.runs for s in gs)
        secs = [s.seconds for s in gs]
        sources = sorted({s.source for s in gs})
        if all(x is None for x in secs):
            value, said = "-", "not estimated: the reference build has no run of these arms " \
                "at this scale"
        else:
            value = f"~{_fmt_s(sum(x or 0.0 for x in secs))}"
            said = ", ".join(sources) + (f" ({gs[0].detail.split(' + ')[-1]} each)"
                                         if sources == ["estimated here"] else "")
        lines.append(f"  {group:<11} {len(gs):>2} arms, {n:>3} runs {value:>10}   {said}")
    own_step = steps[-1]
    own_s = "not estimated" if own_step.seconds is None else f"~{_fmt_s(own_step.seconds)}"
    lines.append(f"  the sweep's own time {own_s:>16}   {own_step.source}: {own_step.detail}")
    if any(s.source == "recorded" for s in steps):
        lines.append(f"  recorded: {ref.label}, each arm's mean time a run there times its "
                     "runs here; made before the sweep let the disk settle before each run "
                     "(#23), which adds its waits")
    return steps, lines


def summary(scale_name: str, runs_dir: str | Path) -> str:
    """The time each planned run took (from its run.json), for the end of ``make paper``."""
    from nrm.run.scales import get_scale

    scale = get_scale(scale_name)
    lines = [f"runs of scale {scale.name} in {runs_dir}:"]
    total = 0.0
    for i, planned in enumerate(scale.runs, 1):
        meta_path = Path(runs_dir) / planned.name / paths.RUN_JSON
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            lines.append(f"  run {i}/{len(scale.runs)}  {planned.name:<18}  (no run.json)")
            continue
        took = float((meta.get("totals") or {}).get("runtime_s") or 0.0)
        total += took
        lines.append(f"  run {i}/{len(scale.runs)}  {planned.name:<18} {_fmt_s(took):>9}  "
                     f"{meta.get('status')}, started {meta.get('started_at')}")
    lines.append(f"  total time in the runs: {_fmt_s(total)}")
    root = Path(runs_dir).resolve().parents[2]  # runs_dir is <root>/data/runs/<scale>
    study = paths.Build(root, scale.name).study / "study.json"
    try:
        sw = json.loads(study.read_text(encoding="utf-8"))
        lines.append(f"  causal study: {sw.get('runs_complete')}/{sw.get('runs_planned')} runs "
                     f"complete; last sweep {_fmt_s(float(sw.get('sweep_s') or 0.0))} for "
                     f"{sw.get('ran_this_sweep')} runs ({study.parent})")
    except (OSError, ValueError, TypeError):
        pass
    return "\n".join(lines)
