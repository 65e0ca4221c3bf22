"""Run an experiment into a run folder: conditions in order, the probe on every cycle, crash-safe
logs, checkpoints every so often, and ``resume`` from the last checkpoint.

Layout of the folder: ``docs/run-folder.md``. Nothing here is specific to a notebook or the CLI:
both call :func:`run_experiment` / :func:`resume_run`.
"""

from __future__ import annotations

import gc
import pickle
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_write_bytes, atomic_write_json
from .exceptions import CheckpointError, RunExistsError
from .experiments import get_experiment, population_summary, synergy
from .metrics import ReplaySource, TraceWriter, make_source, parse_source_spec, truncate_trace
from .model import Reality, Simulation
from .persistence import NullPersistence, SqlitePersistence
from .probe import Probe
from .runchecks import check_replay
from .runlog import CycleLog
from .spec import GC_MODES, RunSpec

__all__ = ["GC_MODES", "RunSpec", "default_run_name", "resume_run", "run_experiment"]

FORMAT = "nrm-run/1"

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def prepare_run_dir(out: str | Path) -> Path:
    """Create ``out`` for a new run; refuse a folder that already holds anything."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunExistsError(
            f"{out} already exists and is not empty; runs never overwrite earlier runs. "
            "Choose another --out, or resume it with `nrm run --resume " + str(out) + "`"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def default_run_name(spec: RunSpec) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{spec.experiment}-{spec.variant}-{stamp}"


class _State:
    """What a checkpoint holds (pickled atomically)."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.condition_index = 0
        self.sim: Simulation | None = None
        self.results: dict[str, dict[str, Any]] = {}
        self.step = 0
        self.trace_seq = 0
        self.db_rows: dict[str, int] = {}
        self.elapsed_s = 0.0
        self.condition_wall_s = 0.0
        self.condition_cpu_s = 0.0
        self.counters: dict[str, float] = {}


class _Interrupted(Exception):
    pass


def run_experiment(
    spec: RunSpec,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``spec`` into a new folder ``out`` (default ``data/runs/<exp>-<variant>-<time>``).

    Returns the final run.json content. Raises before writing anything on bad input.
    """
    out = Path(out) if out is not None else paths.RUNS / default_run_name(spec)
    # validate the metrics source before creating the folder (a bad trace is a clear error)
    check_replay(spec, _make_source(spec, out, condition=spec.conditions[0], start=0))
    run_dir = prepare_run_dir(out)
    return _execute(run_dir, _State(spec), progress=progress, context=context, resumed=False)


def resume_run(
    run_dir: str | Path, *, progress: bool = True, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Continue an interrupted run from its last checkpoint (no cycle lost or duplicated)."""
    from .runlog import read_run_json

    run_dir = Path(run_dir)
    ck = run_dir / paths.CHECKPOINT
    if not ck.is_file():
        raise CheckpointError(f"{run_dir}: no {paths.CHECKPOINT}; this run cannot be resumed")
    meta = read_run_json(run_dir)
    if meta.get("status") == "complete":
        raise CheckpointError(f"{run_dir}: run is already complete; nothing to resume")
    try:
        with ck.open("rb") as fh:
            state: _State = pickle.load(fh)
    except Exception as exc:  # corrupt pickle
        raise CheckpointError(f"{ck}: unreadable checkpoint ({exc})") from None
    # drop whatever was written after the checkpoint
    CycleLog.truncate(run_dir / paths.CYCLES_CSV, state.step)
    truncate_trace(run_dir / paths.TRACE_CSV, state.trace_seq)
    if state.db_rows:
        SqlitePersistence(run_dir).truncate(state.db_rows)
    return _execute(run_dir, state, progress=progress, context=context, resumed=True, meta=meta)


def _make_source(spec: RunSpec, run_dir: Path, *, condition: str, start: int) -> Any:
    costs = spec.costs
    src = make_source(spec.metrics, cpu_interval=costs.cpu_interval, disk_path=run_dir)
    if isinstance(src, ReplaySource):
        src.pos = start
        src.expected_condition = condition
    return src


def _execute(
    run_dir: Path,
    state: _State,
    *,
    progress: bool,
    context: dict[str, Any] | None,
    resumed: bool,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from .sysinfo import collect_context

    spec = state.spec
    costs = spec.costs
    exp = get_experiment(spec.experiment)
    meta = dict(meta or {})
    if not resumed:
        meta = {
            "format": FORMAT,
            "name": run_dir.name,
            "status": "running",
            "exit_status": None,
            "started_at": _now(),
            "ended_at": None,
            "experiment": exp.id,
            "mechanisms": list(exp.mechanisms),
            "experiment_note": exp.note,
            "design": exp.design,
            "variant_of": exp.variant_of,
            "variant": spec.variant_label,
            "preset": spec.variant,
            "scale": spec.scale,
            "costs": costs.to_dict(),
            "custom_switches": spec.custom_switches(),
            "parameters": spec.to_dict(),
            "seed": spec.seed,
            "metrics": {"source": parse_source_spec(spec.metrics)[0], "spec": spec.metrics},
            "context": context if context is not None else collect_context(run_dir),
            "resumes": [],
            "conditions": {},
            "synergy": None,
        }
    else:
        meta["status"] = "running"
        meta["exit_status"] = None
        meta.setdefault("resumes", []).append({"at": _now(), "from_step": state.step})
    atomic_write_json(run_dir / paths.RUN_JSON, meta)

    persistence: SqlitePersistence | NullPersistence = (
        SqlitePersistence(run_dir) if costs.sqlite else NullPersistence()
    )
    if not resumed and spec.pregrow_db_mb:
        from .dbgrow import pregrow

        meta["db_pregrow"] = pregrow(run_dir, spec.pregrow_db_mb, seed=spec.seed)
    trace = TraceWriter(run_dir / paths.TRACE_CSV, start=state.trace_seq)
    log = CycleLog(
        run_dir / paths.CYCLES_CSV,
        flush_every=spec.flush_every,
        extra_columns=("spawns", "deaths", "pairs_tested"),
    )
    probe = Probe(
        log,
        arena_every=spec.arena_every,
        io_calls_every=spec.io_calls_every,
        tracemalloc=spec.tracemalloc,
        uss=spec.uss,
        elapsed_offset_s=state.elapsed_s,
    )
    meta["probe"] = probe.settings()
    total_cycles = spec.cycles * len(spec.conditions)
    bar = _progress_bar(progress, total_cycles, state.step, f"{exp.id} {spec.variant}")
    old_handler = signal.getsignal(signal.SIGTERM)

    def _on_term(signum: int, frame: Any) -> None:
        raise _Interrupted()

    if hasattr(signal, "SIGTERM") and _main_thread():
        signal.signal(signal.SIGTERM, _on_term)
    run_t0 = time.perf_counter() - state.elapsed_s
    last_ck = time.perf_counter()
    status, exit_status, error = "complete", 0, None
    gc_was_enabled = gc.isenabled()
    try:
        probe.start()
        meta["gc"] = _apply_gc_mode(spec.gc_mode)
        for ci in range(state.condition_index, len(spec.conditions)):
            cond = spec.conditions[ci]
            state.condition_index = ci
            source = _make_source(spec, run_dir, condition=cond, start=trace.seq)
            reality = Reality(
                source,
                sampling=costs.sampling,
                persistence=persistence,
                trace=trace,
                condition=cond,
            )
            if state.sim is None:
                state.condition_wall_s = 0.0
                state.condition_cpu_s = 0.0
                sim = Simulation(
                    exp.mechanisms_for(cond), spec.model_params(), costs, reality, seed=spec.seed
                )
                w0, c0 = time.perf_counter(), time.process_time()
                commits0 = persistence.commits
                sim.setup()
                state.condition_wall_s += time.perf_counter() - w0
                state.condition_cpu_s += time.process_time() - c0
                state.counters = {
                    "setup_samples": reality.samples,
                    "setup_commits": persistence.commits - commits0,
                }
                state.sim = sim
            else:
                sim = state.sim
                sim.reality = reality
            prev_samples, prev_sample_s = reality.samples, reality.sample_s
            prev_commits, prev_commit_s = persistence.commits, persistence.commit_s
            seg_w0, seg_c0 = time.perf_counter(), time.process_time()
            wall_before, cpu_before = state.condition_wall_s, state.condition_cpu_s
            while sim.cycle < spec.cycles:
                cycle = sim.cycle
                probe.begin_cycle()
                st = sim.step()
                samples, sample_s = reality.samples - prev_samples, reality.sample_s - prev_sample_s
                commits, commit_s = (
                    persistence.commits - prev_commits,
                    persistence.commit_s - prev_commit_s,
                )
                prev_samples, prev_sample_s = reality.samples, reality.sample_s
                prev_commits, prev_commit_s = persistence.commits, persistence.commit_s
                probe.end_cycle(
                    step=state.step,
                    condition=cond,
                    cycle=cycle,
                    population=st.population,
                    evolve_calls=st.evolve_calls,
                    registry_size=st.registry_size,
                    samples=samples,
                    sample_s=sample_s,
                    commits=commits,
                    commit_s=commit_s,
                    db_bytes=persistence.db_bytes() if persistence.enabled else None,
                    spawns=st.spawns,
                    deaths=st.deaths,
                    pairs_tested=st.pairs_tested,
                )
                state.step += 1
                for k, v in (
                    ("samples", samples),
                    ("commits", commits),
                    ("evolve_calls", st.evolve_calls),
                ):
                    state.counters[k] = state.counters.get(k, 0) + v
                if bar is not None:
                    bar.update(1)
                    if state.step % 25 == 0:
                        bar.set_postfix(cond=cond, pop=st.population, refresh=False)
                if state.step % spec.flush_every == 0:
                    log.flush()
                    trace.flush()
                    due = (
                        spec.checkpoint_every is not None
                        and state.step % spec.checkpoint_every == 0
                    ) or (
                        spec.checkpoint_every is None
                        and time.perf_counter() - last_ck >= spec.checkpoint_interval_s
                    )
                    if due and sim.cycle < spec.cycles:
                        state.condition_wall_s = wall_before + time.perf_counter() - seg_w0
                        state.condition_cpu_s = cpu_before + time.process_time() - seg_c0
                        state.elapsed_s = time.perf_counter() - run_t0
                        _checkpoint(run_dir, state, trace, persistence)
                        last_ck = time.perf_counter()
            state.condition_wall_s = wall_before + time.perf_counter() - seg_w0
            state.condition_cpu_s = cpu_before + time.process_time() - seg_c0
            state.results[cond] = _condition_result(sim, state, persistence)
            state.sim = None
            state.condition_index = ci + 1
            log.flush()
            trace.flush()
            meta["conditions"] = state.results
            atomic_write_json(run_dir / paths.RUN_JSON, meta)
            state.elapsed_s = time.perf_counter() - run_t0
            _checkpoint(run_dir, state, trace, persistence)
    except (KeyboardInterrupt, _Interrupted):
        status, exit_status, error = "interrupted", 130, "interrupted by signal"
        raise
    except BaseException as exc:
        status, exit_status, error = "failed", 1, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if spec.gc_mode != "default":
            meta["gc"]["at_end"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
            if spec.gc_mode == "freeze":
                gc.unfreeze()
            if gc_was_enabled:
                gc.enable()
        probe.stop()
        log.close()
        cost = meta.setdefault("probe_cost", {})
        for key, value in probe.own_cost().items():  # summed over resumed segments
            cost[key] = cost.get(key, 0) + value
        trace.close()
        if bar is not None:
            bar.close()
        if _main_thread():
            signal.signal(signal.SIGTERM, old_handler)
        meta["conditions"] = state.results
        if status == "complete":
            means = {c: r["mean"] for c, r in state.results.items()}
            meta["synergy"] = synergy(means)
            meta["totals"] = {
                "runtime_s": sum(r["runtime_s"] for r in state.results.values()),
                "cpu_s": sum(r["cpu_s"] for r in state.results.values()),
                "samples": sum(r["samples"] for r in state.results.values()),
                "commits": sum(r["commits"] for r in state.results.values()),
                "cycles": sum(r["cycles"] for r in state.results.values()),
            }
        meta["status"] = status
        meta["exit_status"] = exit_status
        meta["error"] = error
        meta["ended_at"] = _now()
        atomic_write_json(run_dir / paths.RUN_JSON, meta)
    return meta


def _apply_gc_mode(mode: str) -> dict[str, Any]:
    """Apply ``mode`` (one of :data:`GC_MODES`) and say what is in force (recorded in run.json)."""
    if mode == "disable":
        gc.disable()
    elif mode == "freeze":
        gc.collect()
        gc.freeze()
    return {"mode": mode, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _checkpoint(
    run_dir: Path,
    state: _State,
    trace: TraceWriter,
    persistence: SqlitePersistence | NullPersistence,
) -> None:
    state.trace_seq = trace.seq
    state.db_rows = persistence.row_counts() if persistence.enabled else {}
    atomic_write_bytes(
        run_dir / paths.CHECKPOINT, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    )


def _condition_result(
    sim: Simulation, state: _State, persistence: SqlitePersistence | NullPersistence
) -> dict[str, Any]:
    hist = list(sim.population_history)
    c = state.counters
    res: dict[str, Any] = {
        "population_history": hist,
        **population_summary(hist),
        "cycles": len(hist),
        "runtime_s": state.condition_wall_s,
        "cpu_s": state.condition_cpu_s,
        "samples": int(c.get("setup_samples", 0) + c.get("samples", 0)),
        "cycle_samples": int(c.get("samples", 0)),
        "setup_samples": int(c.get("setup_samples", 0)),
        "commits": int(c.get("setup_commits", 0) + c.get("commits", 0)),
        "evolve_calls": int(c.get("evolve_calls", 0)),
        "registry_size": len(sim.registry),
        "crash_cycle": sim.crash_cycle,
        "skipped_empty_clusters": sim.skipped_empty_clusters,
        "final_energies": {a.id: a.energy for a in sim.agents},
    }
    if sim.crash_cycle is not None:
        res["crash_note"] = (
            f"the original code would have stopped at cycle {sim.crash_cycle} (division by zero "
            "on a registry cluster whose members had all died), aborting the whole experiment; "
            "this run skipped such clusters and went on"
        )
    state.counters = {}
    return res


def _progress_bar(enabled: bool, total: int, initial: int, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="cycle", mininterval=1.0, dynamic_ncols=True
    )
