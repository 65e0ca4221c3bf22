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
agents, the scale's CPU interval and metrics, their folder beside the runs: the same disk),
with the prediction's 95 % interval; plus a notebook's start-up. Runs with the vectorized pair
test (``lean``) have no fitted unit cost for it and keep the older estimate: Σ conditions
(model CPU of the first cycles, extended + commits × commit latency + samples × sample time)
+ a notebook's start-up.
Nothing is written outside a temporary folder, which is removed.
The estimate is a guide, not a promise: on a shared machine the commit latency changes by
the hour; the summary ``make paper`` prints at the end puts the measured times beside it.

The plan ends with the causal study that ``make paper`` runs after the paper's runs
(:mod:`nrm.study.sweep`): its runs per kind, and an estimate for its ``nrm run`` arms (each arm's
cycles estimated as above, plus the start-up of a fresh process, timed once with a one-cycle
run). Its command arms (the H2 controls, the database-growth arm) are counted, not estimated.

``nrm plan --summary RUNS_DIR`` prints the time each planned run took, from its run.json.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nrm import paths
from nrm.run.scales import DEFAULT_SEED
from nrm.sim.persistence import CountingPersistence

__all__ = ["Calibration", "RunEstimate", "calibrate", "estimate_run", "summary"]

#: Seconds a run notebook needs besides the run: starting its kernel, importing nrm, writing
#: its executed copy (measured at smoke scale on a 2-vCPU VM shared with other jobs: 6-11 s).
NOTEBOOK_START_S = 7.0


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


#: The calibration run of the prediction model (C256 unoptimized, the scale's costs).
CAL_CYCLES = 15
CAL_AGENTS = 8


def calibration_run(scale_name: str, runs_dir: str | Path | None = None) -> tuple[Any, float]:
    """Unit costs fitted on two short faithful runs (:data:`CAL_CYCLES` x :data:`CAL_AGENTS`,
    C256 unoptimized and optimized: a sample per call and a sample per cycle, so the fit can
    tell the cost of a sample from the cost of a cycle; the scale's CPU interval and metrics)
    in a temporary folder beside ``runs_dir`` (same file system), which is removed; and the
    runs' wall time."""
    from nrm.predict.unitcosts import fit_unit_costs
    from nrm.run.runner import run_experiment
    from nrm.run.scales import get_scale
    from nrm.run.spec import RunSpec

    scale = get_scale(scale_name)
    base = _existing(Path(runs_dir) if runs_dir is not None else paths.RUNS)
    tmp = Path(tempfile.mkdtemp(prefix=".nrm-plan-cal-", dir=base))
    try:
        t0 = time.perf_counter()
        folders = []
        for variant in ("unoptimized", "optimized"):
            planned = scale.base("C256", variant)
            spec = RunSpec(**{**planned.spec_kwargs(), "cycles": CAL_CYCLES,
                              "max_agents": CAL_AGENTS})
            run_experiment(spec, tmp / variant, progress=False)
            folders.append(tmp / variant)
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
                       (lo + startup_s, hi + startup_s), "prediction model")


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
    return replace(est, seconds=est.seconds - NOTEBOOK_START_S + startup_s)


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


def plan_text(scale_name: str, runs_dir: str | Path | None = None, *,
              budget_s: float = 0.6, study: bool = True) -> str:
    """The plan of a scale with an estimate per run (runs the calibration)."""
    from nrm.run.scales import get_scale

    scale = get_scale(scale_name)
    cal = calibrate(runs_dir)
    uc, cal_s = calibration_run(scale.name, runs_dir)
    lines = [f"make paper SCALE={scale.name}: {len(scale.runs)} runs, one after another, then "
             "the two analyses and the paper", cal.describe(),
             f"prediction model (nrm predict): unit costs fitted on two {CAL_CYCLES}-cycle x "
             f"{CAL_AGENTS}-agent C256 runs here, unoptimized and optimized ({cal_s:.1f} s; one "
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
        lines.append(f"run {i}/{len(scale.runs)}  {est.name:<18} ~{_fmt_s(est.seconds):>9}   "
                     f"{est.description}; {est.commits:,.0f} SQLite commits, "
                     f"{est.samples:,.0f} metrics samples, model {est.cpu_s:.2f} s ({how})")
    lines.append(f"  the runs: ~{_fmt_s(total)} (sum of the runs' 95 % CIs "
                 f"{_fmt_s(lo_sum)}-{_fmt_s(hi_sum)})")
    study_text, study_s = study_lines(scale.name, cal, uc) if study else ([], 0.0)
    lines += ["", *study_text, "", prediction_line(scale.name)]
    lines += ["", f"estimated time: ~{_fmt_s(total)} for the runs"
              + (f", ~{_fmt_s(study_s)} for the study's nrm run arms" if study_text else "")
              + " on this machine now (plus the analyses and the paper, one to two minutes). "
              "Longer when the disk's commits slow down or other jobs share the cores. Nothing "
              "was run."]
    return "\n".join(lines)


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


def study_lines(scale_name: str, cal: Calibration, uc: Any = None, *, budget_s: float = 0.1
                ) -> tuple[list[str], float]:
    """The study's part of the plan, and the estimated seconds of its ``nrm run`` arms."""
    from nrm.run.scales import STUDY_SCALES
    from nrm.study.sweep import build_plan

    if scale_name not in STUDY_SCALES:
        return [], 0.0
    plan = build_plan(scale_name)
    tasks = plan.tasks()
    per_arm: dict[str, float] = {}
    startup = process_startup_s()
    n_command = 0
    n_model = 0
    for arm in plan.arms:
        if not arm.available:
            continue
        if arm.run is None or arm.runner != "run":
            n_command += 1
            continue
        r = arm.run
        costs = arm.cost_switches()
        assert costs is not None
        kwargs = {"experiment": r.get("experiment", "C256"), "variant": r.get("variant"),
                  "cycles": arm.cycles, "max_agents": arm.max_agents, "metrics": "fixed",
                  "cpu_interval": costs.cpu_interval, "costs": r.get("costs") or None,
                  "seed": DEFAULT_SEED}
        est = best_estimate(_ArmRun(arm.label, kwargs), uc, cal, budget_s=budget_s,
                            startup_s=startup)
        per_arm[arm.label] = est.seconds
        n_model += est.method == "prediction model"
    est_s = sum(per_arm.get(t.arm, 0.0) for t in tasks)
    n_est = sum(1 for t in tasks if t.arm in per_arm)
    lines = [f"then the causal study (nrm study, scale {plan.scale.name}): {len(tasks)} runs = "
             f"{len(plan.arms)} arms x {plan.repeats} randomized blocks, one at a time in fresh "
             "processes on a one-worker Dask cluster",
             f"  {n_est} runs of nrm run arms ~{_fmt_s(est_s)} (each arm estimated as above, "
             f"{n_model} of {len(per_arm)} arms by the prediction model, plus {startup:.1f} s "
             "to start a fresh process); "
             f"{len(tasks) - n_est} runs of {n_command} command arms (H2 controls, database "
             "growth) and of unavailable arms not estimated"]
    return lines, est_s


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
