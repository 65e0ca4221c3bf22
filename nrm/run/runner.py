"""Run an experiment into a run folder: conditions in order, the probe on every cycle, crash-safe
logs, checkpoints every so often, and ``resume`` from the last checkpoint.

Layout of the folder: ``docs/run-folder.md``. Nothing here is specific to a notebook or the CLI:
both call :func:`run_experiment` / :func:`resume_run`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from nrm import paths
from nrm.atomic import atomic_write_bytes, storage_error
from nrm.exceptions import (
    CheckpointError,
    NrmError,
    RunExistsError,
    RunFailedError,
    RunInterruptedError,
    StorageError,
)
from nrm.instrument.probe import Probe
from nrm.instrument.runlog import CycleLog
from nrm.instrument.runrecord import RunRecord, read_run_json
from nrm.run.checks import check_replay
from nrm.run.dbrollback import rollback_to
from nrm.run.lock import LOCK_NAME, RunLock, check_not_locked
from nrm.run.safety import (
    PAUSE_EXIT,
    RESERVE_NAME,
    PauseRequested,
    StopRequested,
    StopSignals,
    describe_failure,
    drop_reserve,
    make_reserve,
    reserve_bytes,
    signal_name,
)
from nrm.run.spec import GC_DEFAULT, GC_MODES, RunSpec
from nrm.sim.experiments import get_experiment, population_summary, synergy
from nrm.sim.metrics import (
    ReplaySource,
    TraceWriter,
    make_source,
    parse_source_spec,
    truncate_trace,
)
from nrm.sim.model import Simulation
from nrm.sim.persistence import NullPersistence, SqlitePersistence
from nrm.sim.wiring import new_reality, new_simulation, open_persistence

__all__ = ["GC_MODES", "RunSpec", "default_run_name", "resume_run", "run_experiment"]


def _holds_data(folder: Path) -> bool:
    """Whether ``folder`` holds anything of a run: any entry but the lock file, the disk space
    reserve and the temp files of an atomic write that a kill cut short (a run killed that
    early wrote nothing)."""
    return any(
        p.name not in (LOCK_NAME, RESERVE_NAME)
        and not (p.name.startswith(".") and p.name.endswith(".tmp"))
        for p in folder.iterdir()
    )


def claim_run_dir(out: str | Path) -> tuple[Path, RunLock]:
    """Create ``out`` for a new run and take its lock; refuse a folder that holds a run
    (naming the live writer if there is one). The caller releases the lock."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunExistsError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and _holds_data(out):
        check_not_locked(out)
        raise RunExistsError(
            f"{out} already exists and is not empty; runs never overwrite earlier runs. "
            "Choose another --out, or resume it with `nrm run --resume " + str(out) + "`"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(out, exc, "create") from exc
    try:
        lock = RunLock(out).acquire()
    except OSError as exc:
        raise storage_error(out / LOCK_NAME, exc) from exc
    if _holds_data(out):  # another writer took the folder and finished in between
        lock.release()
        raise RunExistsError(f"{out} was filled by another run meanwhile; choose another --out")
    return out, lock


def prepare_run_dir(out: str | Path) -> Path:
    """Create ``out`` for a new run; refuse a folder that already holds anything.
    (:func:`claim_run_dir` also keeps the folder's lock; this releases it at once.)"""
    run_dir, lock = claim_run_dir(out)
    lock.release()
    return run_dir


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


def run_experiment(
    spec: RunSpec,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    context: dict[str, Any] | None = None,
    pause_at: int | None = None,
) -> dict[str, Any]:
    """Run ``spec`` into a new folder ``out`` (default ``data/runs/<exp>-<variant>-<time>``).

    Returns the final run.json content. Raises before writing anything on bad input. The
    folder is locked for the whole run (:mod:`nrm.run.lock`) and resumable from its first
    moment: a checkpoint is written before anything else, and again right after each
    condition's set-up. A run that stops on an error or a signal raises
    :class:`~nrm.exceptions.RunFailedError` / :class:`~nrm.exceptions.RunInterruptedError`
    after recording the same status and message in run.json. ``pause_at`` (a step) stops the
    run on purpose at the first checkpoint boundary at or after that step, as an interrupt
    does (run.json "interrupted", exit status :data:`~nrm.run.safety.PAUSE_EXIT`), so that it
    can be resumed in a fresh process (:mod:`nrm.run.longrun`'s restart hops).
    """
    out = Path(out) if out is not None else paths.RUNS / default_run_name(spec)
    # validate the metrics source before creating the folder (a bad trace is a clear error)
    check_replay(spec, _make_source(spec, out, condition=spec.conditions[0], start=0))
    existed = out.is_dir()
    run_dir, lock = claim_run_dir(out)
    try:
        # the space reserve comes before the first write, so a full disk can always be recorded
        # in run.json ("failed", docs/run-folder.md); no room for it: refuse, leave nothing
        need = reserve_bytes(spec.cycles, len(spec.conditions), spec.max_agents)
        if not make_reserve(run_dir, need):
            lock.release()
            lock = None
            with contextlib.suppress(OSError):
                (run_dir / LOCK_NAME).unlink()
                if not existed:
                    run_dir.rmdir()
            raise StorageError(
                f"{run_dir}: no room for the run's {need // 1024} KiB space "
                "reserve (the disk is full); free some space and run again"
            )
        state = _State(spec)
        _write_checkpoint(run_dir, state)  # from here on, `nrm run --resume` can finish it
        return _execute(run_dir, state, progress=progress, context=context, resumed=False,
                        pause_at=pause_at)
    finally:
        if lock is not None:
            lock.release()


def resume_run(
    run_dir: str | Path, *, progress: bool = True, context: dict[str, Any] | None = None,
    pause_at: int | None = None,
) -> dict[str, Any]:
    """Continue an interrupted run from its last checkpoint (no cycle lost or duplicated);
    ``pause_at`` as in :func:`run_experiment`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    check_not_locked(run_dir)  # a live writer: say so before anything else
    ck = run_dir / paths.CHECKPOINT
    if not ck.is_file():
        if not _holds_data(run_dir):
            raise CheckpointError(
                f"{run_dir}: the run was stopped before it wrote anything; start it again "
                "with the same --out (the folder is free)"
            )
        raise CheckpointError(f"{run_dir}: no {paths.CHECKPOINT}; this run cannot be resumed")
    try:
        lock = RunLock(run_dir).acquire()
    except OSError as exc:
        raise storage_error(run_dir / LOCK_NAME, exc) from exc
    try:
        meta: dict[str, Any] | None = None
        if (run_dir / paths.RUN_JSON).exists():
            meta = read_run_json(run_dir)
            if meta.get("status") == "complete":
                raise CheckpointError(f"{run_dir}: run is already complete; nothing to resume")
        try:
            with ck.open("rb") as fh:
                state: _State = pickle.load(fh)
        except Exception as exc:  # corrupt pickle
            raise CheckpointError(f"{ck}: unreadable checkpoint ({exc})") from None
        # the space reserve first (a kill leaves it in place), then the cut-backs: on a full
        # disk the resume ends "failed" with exit 1 like a run (docs/run-folder.md)
        spec = state.spec
        if not make_reserve(
            run_dir, reserve_bytes(spec.cycles, len(spec.conditions), spec.max_agents)
        ):
            _resume_failed(
                run_dir,
                meta,
                state.step,
                f"{run_dir}: no room for the run's space reserve (the disk is full)",
            )
        try:
            _cut_back(run_dir, state, meta)
        except (OSError, sqlite3.Error) as exc:  # StorageError included
            _resume_failed(run_dir, meta, state.step, describe_failure(exc, run_dir)[0])
        if meta is None:  # killed before its first run.json: start it as new
            return _execute(run_dir, state, progress=progress, context=context, resumed=False,
                            pause_at=pause_at)
        return _execute(
            run_dir, state, progress=progress, context=context, resumed=True, meta=meta,
            pause_at=pause_at,
        )
    finally:
        lock.release()


def _cut_back(run_dir: Path, state: _State, meta: dict[str, Any] | None) -> None:
    """Drop whatever was written after the checkpoint ``state`` (and a torn last line)."""
    if _at_start(state):
        # the checkpoint written before anything else: all the run wrote came after it
        for name in _DATA_FILES:
            with contextlib.suppress(FileNotFoundError):
                (run_dir / name).unlink()
        return
    for name, keep, cut in (
        (paths.CYCLES_CSV, state.step, CycleLog.truncate),
        (paths.TRACE_CSV, state.trace_seq, truncate_trace),
    ):
        if (run_dir / name).exists():
            cut(run_dir / name, keep)
        elif keep:
            raise CheckpointError(f"{run_dir / name}: missing; the checkpoint needs {keep}")
    if state.db_rows:  # the databases as they were at the checkpoint, byte for byte
        pregrown = ((meta or {}).get("db_pregrow") or {}).get("rows")
        rollback_to(run_dir, state.db_rows, leading=pregrown)


def _resume_failed(run_dir: Path, meta: dict[str, Any] | None, step: int, error: str) -> NoReturn:
    """End a resume that could not start writing (a full disk): run.json says ``failed`` with
    ``error`` (the reserve given back makes room for it), exit status 1."""
    drop_reserve(run_dir)
    if meta is None:  # stopped before its first run.json: there is no record to update
        raise RunFailedError(
            f"{error}; nothing was resumed (the run had not written its run.json yet); "
            f"resume with `nrm run --resume {run_dir}` once that is fixed",
            1,
        )
    where = ""
    before = meta.get("status")
    record = RunRecord(run_dir, dict(meta))
    record.finish("failed", 1, error, write=False)
    try:
        record.write()
    except OSError as exc:  # not one byte free and no reserve left to give back
        where = (
            " (the last attempt's record: no room to rewrite it)"
            if before == "failed"
            else f" (run.json could not be updated: {exc})"
        )
    raise RunFailedError(_failed_line(error, step, where, run_dir), 1)


def _failed_line(error: str, step: int, where: str, run_dir: Path) -> str:
    """The one line of a run or resume that ended ``failed`` (``where``: what became of
    run.json when it could not be written)."""
    return (
        f"{error}; the run stopped at step {step} (run.json: failed){where}; "
        f"resume with `nrm run --resume {run_dir}` once that is fixed"
    )


#: What a run writes besides run.json and its checkpoint (removed when a run is resumed from
#: the checkpoint it wrote before anything else).
_DATA_FILES = (
    paths.CYCLES_CSV,
    paths.TRACE_CSV,
    paths.WORKSPACE_DB,
    paths.WORKSPACE_DB + "-journal",
    paths.BRIDGE_DB,
    paths.BRIDGE_DB + "-journal",
)


def _at_start(state: _State) -> bool:
    """Whether ``state`` is the checkpoint a run writes before anything else."""
    return state.step == 0 and state.condition_index == 0 and state.sim is None


def _make_source(spec: RunSpec, run_dir: Path, *, condition: str, start: int) -> Any:
    costs = spec.costs
    src = make_source(spec.metrics, cpu_interval=costs.cpu_interval, disk_path=run_dir)
    if isinstance(src, ReplaySource):
        src.pos = start
        src.expected_condition = condition
    return src


def _start_record(
    run_dir: Path,
    state: _State,
    meta: dict[str, Any] | None,
    *,
    context: dict[str, Any] | None,
) -> RunRecord:
    """run.json as a run (``meta`` None) or a resumed segment (``meta``: its record) starts;
    not written yet."""
    if meta is not None:
        record = RunRecord(run_dir, meta)
        record.resume(from_step=state.step)
        return record
    spec = state.spec
    exp = get_experiment(spec.experiment)
    return RunRecord.create(
        run_dir,
        {
            "experiment": exp.id,
            "mechanisms": list(exp.mechanisms),
            "experiment_note": exp.note,
            "design": exp.design,
            "variant_of": exp.variant_of,
            "pid": os.getpid(),
            "variant": spec.variant_label,
            "preset": spec.variant,
            "scale": spec.scale,
            "costs": spec.costs.to_dict(),
            "custom_switches": spec.custom_switches(),
            "parameters": spec.to_dict(),
            "seed": spec.seed,
            "metrics": {"source": parse_source_spec(spec.metrics)[0], "spec": spec.metrics},
            "resumes": [],
            "conditions": {},
            "synergy": None,
        },
        context=context,
        write=False,
    )


def _execute(
    run_dir: Path,
    state: _State,
    *,
    progress: bool,
    context: dict[str, Any] | None,
    resumed: bool,
    meta: dict[str, Any] | None = None,
    pause_at: int | None = None,
) -> dict[str, Any]:
    """Set up (run.json, logs, probe), run the conditions still to do, finish (always)."""
    spec = state.spec
    exp = get_experiment(spec.experiment)
    record = _start_record(
        run_dir, state, dict(meta) if resumed and meta is not None else None, context=context
    )
    meta = record.data

    total_cycles = spec.cycles * len(spec.conditions)
    stop = StopSignals()
    log: CycleLog | None = None
    trace: TraceWriter | None = None
    probe: Probe | None = None
    bar: Any = None
    status, exit_status, error = "complete", 0, None
    failure: BaseException | None = None
    bug = False
    gc_was_enabled = gc.isenabled()
    with stop:
        try:
            make_reserve(run_dir, reserve_bytes(spec.cycles, len(spec.conditions), spec.max_agents))
            record.write()
            persistence = open_persistence(spec.costs, run_dir)
            if spec.pregrow_db_mb and _at_start(state):  # a new run, or resumed from its start
                from nrm.run.dbgrow import pregrow

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
            bar = _progress_bar(progress, total_cycles, state.step, f"{exp.id} {spec.variant}")
            _run_conditions(run_dir, state, record, persistence, trace, log, probe, bar, stop,
                            pause_at)
        except PauseRequested as exc:
            status, exit_status = "interrupted", PAUSE_EXIT
            error = (
                f"paused at step {exc.step} of {total_cycles} to resume in a fresh process; "
                "checkpoint written"
            )
        except StopRequested as exc:
            status, exit_status = "interrupted", 128 + exc.signum
            error = (
                f"interrupted by {signal_name(exc.signum)} at step {state.step} of "
                f"{total_cycles}; checkpoint written"
            )
        except KeyboardInterrupt as exc:  # a second signal, or Ctrl-C outside the main thread
            signum = getattr(exc, "signum", signal.SIGINT)
            status, exit_status = "interrupted", 128 + signum
            error = (
                f"interrupted by {signal_name(signum)} at step {state.step} of {total_cycles}, "
                "without a new checkpoint (a resume continues from the last one)"
            )
        except BaseException as exc:
            error, expected = describe_failure(exc, run_dir)
            status, exit_status, failure, bug = "failed", 1, exc, not expected
        finally:
            stop.disarm()  # from here on a signal is only noted: run.json must be written
            _restore_gc(spec.gc_mode, meta, gc_was_enabled)
        recorded = _finish(run_dir, state, record, status, exit_status, error, log, trace, probe)
        if bar is not None:
            bar.close()
    status = meta["status"]
    if status == "complete":
        return meta
    if bug and failure is not None:
        raise failure  # a bug: its traceback (run.json says failed, with the message)
    where = "" if recorded is None else f" (run.json could not be updated: {recorded})"
    resume = f"resume with `nrm run --resume {run_dir}`"
    if status == "interrupted":
        raise RunInterruptedError(f"{meta['error']}{where}; {resume}", meta["exit_status"])
    raise RunFailedError(
        _failed_line(meta["error"], state.step, where, run_dir), meta["exit_status"]
    ) from failure


def _run_conditions(
    run_dir: Path,
    state: _State,
    record: RunRecord,
    persistence: SqlitePersistence | NullPersistence,
    trace: TraceWriter,
    log: CycleLog,
    probe: Probe,
    bar: Any,
    stop: StopSignals,
    pause_at: int | None = None,
) -> None:
    """The condition loop: set-up (then a checkpoint), cycles (checkpoints at the cadence),
    results; a stop signal is answered at the next cycle boundary with a checkpoint, and so is
    ``pause_at`` (a step; :class:`~nrm.run.safety.PauseRequested`)."""
    spec = state.spec
    exp = get_experiment(spec.experiment)
    run_t0 = time.perf_counter() - state.elapsed_s
    last_ck = time.perf_counter()
    probe.start()
    record.data["gc"] = _apply_gc_mode(spec.gc_mode)
    for ci in range(state.condition_index, len(spec.conditions)):
        if stop.signum is not None:  # the previous condition ended with a checkpoint
            raise StopRequested(stop.signum)
        cond = spec.conditions[ci]
        state.condition_index = ci
        source = _make_source(spec, run_dir, condition=cond, start=trace.seq)
        reality = new_reality(source, persistence, trace=trace, condition=cond)
        if state.sim is None:
            state.condition_wall_s = 0.0
            state.condition_cpu_s = 0.0
            sim = new_simulation(
                exp, cond, spec.model_params(), spec.costs, reality, seed=spec.seed
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
            # resumable from the first cycle of every condition
            log.flush()
            trace.flush()
            state.elapsed_s = time.perf_counter() - run_t0
            _checkpoint(run_dir, state, trace, persistence)
            last_ck = time.perf_counter()
            if stop.signum is not None:
                raise StopRequested(stop.signum)
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
            pausing = pause_at is not None and state.step >= pause_at
            stopping = stop.signum is not None or pausing
            if stopping or state.step % spec.flush_every == 0:
                log.flush()
                trace.flush()
                due = stopping or (
                    (spec.checkpoint_every is not None and state.step % spec.checkpoint_every == 0)
                    or (
                        spec.checkpoint_every is None
                        and time.perf_counter() - last_ck >= spec.checkpoint_interval_s
                    )
                )
                if due and sim.cycle < spec.cycles:
                    state.condition_wall_s = wall_before + time.perf_counter() - seg_w0
                    state.condition_cpu_s = cpu_before + time.process_time() - seg_c0
                    state.elapsed_s = time.perf_counter() - run_t0
                    _checkpoint(run_dir, state, trace, persistence)
                    last_ck = time.perf_counter()
                    if stop.signum is not None:
                        raise StopRequested(stop.signum)
                    if pausing:
                        raise PauseRequested(state.step)
        state.condition_wall_s = wall_before + time.perf_counter() - seg_w0
        state.condition_cpu_s = cpu_before + time.process_time() - seg_c0
        state.results[cond] = _condition_result(sim, state, persistence)
        state.sim = None
        state.condition_index = ci + 1
        log.flush()
        trace.flush()
        record.update(conditions=state.results)
        state.elapsed_s = time.perf_counter() - run_t0
        _checkpoint(run_dir, state, trace, persistence)
        last_ck = time.perf_counter()


def _finish(
    run_dir: Path,
    state: _State,
    record: RunRecord,
    status: str,
    exit_status: int,
    error: str | None,
    log: CycleLog | None,
    trace: TraceWriter | None,
    probe: Probe | None,
) -> str | None:
    """Close the logs and write the final run.json. After a failure the queued rows are
    dropped, not written (the disk may be full; a resume drops them anyway) and the reserved
    space is given back first, so that run.json can still say ``failed``. Returns ``None``
    when run.json was written, else why not."""
    meta = record.data
    if status == "failed":
        for w in (log, trace):
            if w is not None:
                w.abort()
        drop_reserve(run_dir)
    if probe is not None:
        probe.stop()
    if status != "failed":
        try:
            for w in (log, trace):
                if w is not None:
                    w.close()
        except (OSError, NrmError) as exc:  # the last flush failed: the run did not complete
            error, _ = describe_failure(exc, run_dir)
            status, exit_status = "failed", 1
            for w in (log, trace):
                if w is not None:
                    w.abort()
    if probe is not None:
        cost = meta.setdefault("probe_cost", {})
        for key, value in probe.own_cost().items():  # summed over resumed segments
            cost[key] = cost.get(key, 0) + value
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
    record.finish(status, exit_status, error, write=False)
    drop_reserve(run_dir)
    try:
        record.write()
    except OSError as exc:
        return str(exc)
    return None


def _apply_gc_mode(mode: str) -> dict[str, Any]:
    """Apply ``mode`` (one of :data:`GC_MODES`) and say what is in force (recorded in run.json)."""
    if mode == "disable":
        gc.disable()
    elif mode == "freeze":
        gc.collect()
        gc.freeze()
    return {"mode": mode, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}


def _restore_gc(mode: str, meta: dict[str, Any], was_enabled: bool) -> None:
    """Undo :func:`_apply_gc_mode` at the end of a segment (recording what was in force)."""
    if mode == GC_DEFAULT:
        return
    if isinstance(meta.get("gc"), dict):
        meta["gc"]["at_end"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
    if mode == "freeze":
        gc.unfreeze()
    if was_enabled:
        gc.enable()


def _checkpoint(
    run_dir: Path,
    state: _State,
    trace: TraceWriter,
    persistence: SqlitePersistence | NullPersistence,
) -> None:
    state.trace_seq = trace.seq
    state.db_rows = persistence.row_counts() if persistence.enabled else {}
    _write_checkpoint(run_dir, state)


def _write_checkpoint(run_dir: Path, state: _State) -> None:
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
