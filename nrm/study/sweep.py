"""The causal study: one factor at a time, repeated in fresh processes, in randomized blocks.

The plan is data (:class:`StudyPlan`): a list of :class:`Arm` s over C256, each a small delta of
a run spec (``nrm run`` flags) or another command line, and an order of runs (``repeats`` blocks,
each holding one run of every available arm, shuffled with a recorded seed). Every ``nrm run``
arm replays one metrics trace, recorded once per study by a live ``lean`` run of C256 with one
sample per cycle, through the cycle-indexed replay (``cycle-replay:PATH``,
:class:`nrm.sim.metrics.CycleReplaySource`): arms that sample per call and arms that sample per
cycle
see the same values in the same cycle, so they differ only in the factor under test.

Arms (``nrm study plan --scale smoke`` prints them):

- ``base-unoptimized`` and ``base-lean``: C256 with every original cost on / off;
- from ``unoptimized`` each :class:`~nrm.sim.costs.CostSwitches` switch turned off alone, from
  ``lean`` each switch turned on alone; a combination CostSwitches refuses (SQLite with the
  vectorized pair test) is listed in the plan as skipped, with the reason;
- allocators pymalloc / malloc / jemalloc / mimalloc on both bases (``nrm run --allocator``);
  an allocator missing on the machine is an arm marked "not available", never replaced;
- GC default / ``gc.disable()`` / ``gc.freeze()`` after set-up on both bases (``--gc-mode``);
- ``aa-unoptimized`` and ``aa-lean``: the bases again under a second label (the noise floor);
- the headline pairs the paper compares: C255 vs C256 (unoptimized) and the optimized variants
  (C256 and C257 optimized) vs C256 unoptimized;
- extra arms from other modules (:func:`register_arms`), e.g. the controls of issue #15,
  given as command lines.

An arm's run folder is ``OUT/runs/<arm>__b<block>`` (deterministic); a run counts as done when
its ``run.json`` says ``complete``. :func:`run_study` executes the missing runs on Dask
distributed (a ``LocalCluster`` with one single-threaded worker by default, or any scheduler),
each as a fresh subprocess, and records per run its host, start time, block, position, load
average before and after and the number of study runs then running on the host
(``OUT/records/<run>.json``, gathered into ``OUT/runs.csv`` and ``OUT/study.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.atomic import atomic_write_json, atomic_write_text
from nrm.exceptions import ParameterError, RunInterruptedError, StudyError
from nrm.instrument.runrecord import read_run_json
from nrm.run.child import command as child_command
from nrm.run.scales import (
    DEFAULT_SCALE,
    DEFAULT_SEED,
    PAPER_AGENTS,
    PAPER_CPU_INTERVAL,
    PAPER_CYCLES,
    StudyScale,
    get_study_scale,
)
from nrm.run.spec import RunSpec
from nrm.study import contention, control_arms
from nrm.study.arms import EXPERIMENT, TRACE_METRICS, Arm, Skipped, core_arms
from nrm.study.cluster import (
    check_workers,
    close_quietly,
    connect_scheduler,
    in_order,
    open_client,
    set_pdeathsig,
    signals_stop,
    worker_address,
)
from nrm.study.long_arms import long_arms
from nrm.study.settle import settle_disk

FORMAT = "nrm-study/1"

def build_arms(scale: StudyScale) -> tuple[list[Arm], list[Skipped]]:
    """Every arm of the study at ``scale`` (available or not) and the combinations skipped: the
    core arms and the command arms of issue #15 (H2 controls, workers, database growth)."""
    arms, skipped = core_arms(scale)
    arms += control_arms.build_arms(scale)
    arms += long_arms(scale)  # issue #23: the long fixed-workload arms
    arms += contention.build_arms(scale)  # H1: competing processes (issue #23)
    labels = [a.label for a in arms]
    dupes = {x for x in labels if labels.count(x) > 1}
    if dupes:
        raise ParameterError(f"arm labels repeat: {sorted(dupes)}")
    return arms, skipped


@dataclass(frozen=True)
class RunTask:
    """One run of the plan: an arm in a block at a position."""

    name: str
    arm: str
    block: int
    position: int
    seed: int = DEFAULT_SEED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_name(arm: str, block: int) -> str:
    return f"{arm}__b{block:02d}"


def randomized_blocks(labels: list[str], repeats: int, seed: int,
                      caps: dict[str, int] | None = None) -> list[list[str]]:
    """``repeats`` blocks, each every label once (a label in ``caps`` only in its first
    ``caps[label]`` blocks), shuffled by ``random.Random(seed)``."""
    rng = random.Random(seed)
    caps = caps or {}
    blocks = []
    for b in range(repeats):
        block = [x for x in labels if b < caps.get(x, repeats)]
        rng.shuffle(block)
        blocks.append(block)
    return blocks


@dataclass(frozen=True)
class StudyPlan:
    scale: StudyScale
    seed: int
    arms: tuple[Arm, ...]
    skipped: tuple[Skipped, ...]
    blocks: tuple[tuple[str, ...], ...]
    trace_cycles: int
    trace_agents: int
    model_seed: int = DEFAULT_SEED
    format: str = FORMAT

    @property
    def repeats(self) -> int:
        return len(self.blocks)

    def arm(self, label: str) -> Arm:
        for a in self.arms:
            if a.label == label:
                return a
        raise ParameterError(f"the plan has no arm {label!r}")

    def tasks(self) -> list[RunTask]:
        return [RunTask(run_name(label, b), label, b, pos, self.model_seed)
                for b, block in enumerate(self.blocks) for pos, label in enumerate(block)]

    def scale_note(self, arm: Arm) -> str:
        """How an arm's run relates to the paper's (cycles, agents, blocking sample)."""
        if arm.run is None:
            return "its own command (see the arm's note)"
        costs = arm.cost_switches()
        cyc = arm.cycles or PAPER_CYCLES
        ag = arm.max_agents or PAPER_AGENTS
        cpu = costs.cpu_interval if costs is not None else 0.0
        return (f"{cyc}/{PAPER_CYCLES} cycles ({cyc / PAPER_CYCLES:.2%}), {ag}/{PAPER_AGENTS} "
                f"agents, CPU sample {cpu:g} s (paper {PAPER_CPU_INTERVAL:g} s)")

    def task_spec(self, task: RunTask) -> RunSpec | None:
        """The full run specification of one run of the plan (None for a command arm); its
        metrics source names the study's trace as :data:`nrm.study.arms.TRACE_METRICS`."""
        return self.arm(task.arm).spec(task.seed)

    def to_dict(self) -> dict[str, Any]:
        runs = []
        for t in self.tasks():
            arm = self.arm(t.arm)
            spec = self.task_spec(t)
            runs.append({"name": t.name, "arm": t.arm, "runner": arm.runner,
                         "spec": spec.to_dict() if spec is not None else None})
        return {
            "format": self.format,
            "scale": self.scale.to_dict(),
            "seed": self.seed,
            "model_seed": self.model_seed,
            "repeats": self.repeats,
            "trace": {"experiment": EXPERIMENT, "variant": "lean", "metrics": "live",
                      "cycles": self.trace_cycles, "max_agents": self.trace_agents,
                      "replay": "cycle-replay (one recorded sample per condition and cycle)"},
            "arms": [{**a.to_dict(), "scale_note": self.scale_note(a)} for a in self.arms],
            "skipped": [asdict(s) for s in self.skipped],
            "blocks": [list(b) for b in self.blocks],
            "runs": runs,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyPlan:
        if d.get("format") != FORMAT:
            raise StudyError(f"plan format {d.get('format')!r}, expected {FORMAT!r}")
        arms = tuple(Arm.from_dict({k: v for k, v in a.items() if k != "scale_note"})
                     for a in d["arms"])
        return cls(StudyScale(**d["scale"]), int(d["seed"]), arms,
                   tuple(Skipped(**s) for s in d["skipped"]),
                   tuple(tuple(b) for b in d["blocks"]), int(d["trace"]["cycles"]),
                   int(d["trace"]["max_agents"]), int(d.get("model_seed", DEFAULT_SEED)))


def build_plan(scale: str | StudyScale = DEFAULT_SCALE, *, repeats: int | None = None,
               seed: int = DEFAULT_SEED, arms: Iterable[str] | None = None,
               model_seed: int = DEFAULT_SEED) -> StudyPlan:
    """The study's plan at ``scale``; ``arms`` keeps only those labels (their bases and A/A
    arms are kept too, so every effect can still be read). ``seed`` orders the blocks,
    ``model_seed`` is every run's (``make paper SEED=N``). Every arm's run specification is
    checked here (:meth:`Arm.spec`), before anything runs."""
    sc = get_study_scale(scale) if isinstance(scale, str) else scale
    if repeats is not None:
        if not isinstance(repeats, int) or repeats < 1:
            raise ParameterError(f"repeats must be a positive integer, got {repeats!r}")
        sc = replace(sc, repeats=repeats)
    for name, value in (("seed", seed), ("model_seed", model_seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ParameterError(f"{name} must be an integer, got {value!r}")
    all_arms, skipped = build_arms(sc)
    if arms is not None:
        wanted = set(arms)
        known = {a.label for a in all_arms}
        unknown = wanted - known
        if unknown:
            raise ParameterError(f"unknown arm(s) {sorted(unknown)}; valid: {sorted(known)}")
        for a in all_arms:
            if a.label in wanted:
                wanted |= {x for x in (a.base, a.aa) if x}
        all_arms = [a for a in all_arms if a.label in wanted]
    labels = [a.label for a in all_arms if a.available]
    caps = {a.label: a.repeats for a in all_arms if a.repeats is not None}
    blocks = randomized_blocks(labels, sc.repeats, seed, caps)
    trace_cycles = max([a.cycles or 0 for a in all_arms  # the long arms' metrics are live
                        if "metrics" not in (a.run or {})] + [sc.long_cycles])
    for a in all_arms:
        try:
            a.spec(model_seed)
        except ParameterError as exc:
            raise ParameterError(f"arm {a.label!r}: {exc}") from None
    return StudyPlan(sc, seed, tuple(all_arms), tuple(skipped),
                     tuple(tuple(b) for b in blocks), trace_cycles, sc.max_agents, model_seed)


def format_plan(plan: StudyPlan) -> str:
    lines = [f"study at scale {plan.scale.name}: {plan.scale.description}",
             f"{plan.repeats} randomized blocks (seed {plan.seed}), "
             f"{len(plan.tasks())} runs; metrics: one live C256 lean trace of "
             f"{plan.trace_cycles} cycles, replayed per cycle by every nrm run arm",
             f"{'arm':<36}{'group':<11}{'vs':<27}scale / note"]
    for a in plan.arms:
        status = "" if a.available else "NOT AVAILABLE: "
        lines.append(f"{a.label:<36}{a.group:<11}{(a.base or '-'):<27}{status}"
                     f"{plan.scale_note(a)}{'; ' + a.note if a.note else ''}"
                     f"{'; changes the dynamics' if a.changes_dynamics else ''}")
    for s in plan.skipped:
        lines.append(f"skipped {s.label}: {s.reason}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the folders
PLAN_JSON = paths.PLAN_JSON
STUDY_JSON = "study.json"
RUNS_CSV = "runs.csv"
RUNS = "runs"
SPECS = "specs"  # the run specification each run of the study was given
RECORDS = "records"
CLAIMS = "claims"
LOGS = "logs"
TRACE = "trace"


def task_command(plan: StudyPlan, task: RunTask, out: Path, trace: Path) -> list[str]:
    """The command line of one run of the study (the one place it is built): a spec arm's
    spec, with the study's trace in it, is written to ``OUT/specs/<run>.json`` and run by
    :mod:`nrm.run.child` (or ``nrm workers`` / ``nrm dbgrow --spec``, see
    :data:`nrm.study.arms.RUNNERS`); a command arm's placeholders are filled in."""
    arm = plan.arm(task.arm)
    run_dir = out / RUNS / task.name
    spec = plan.task_spec(task)
    if spec is None:
        assert arm.command is not None
        values = {"python": sys.executable, "out": str(run_dir), "trace": str(trace),
                  "seed": str(task.seed)}
        return [a.format(**values) for a in arm.command]
    if spec.metrics == TRACE_METRICS:  # the long arms keep their own live metrics
        spec = RunSpec.from_dict({**spec.to_dict(), "metrics": f"cycle-replay:{trace}"})
    spec_file = out / SPECS / f"{task.name}.json"
    atomic_write_text(spec_file, spec.to_json())
    if arm.runner == "run":
        return child_command(spec_file, run_dir)
    return [sys.executable, "-m", "nrm.cli", arm.runner, "--spec", str(spec_file), "--out",
            str(run_dir), "--no-progress", *arm.runner_args]


def run_complete(run_dir: Path) -> bool:
    from nrm.exceptions import LogError

    try:
        meta = read_run_json(run_dir)
    except LogError:
        return False
    return isinstance(meta, dict) and meta.get("status") == "complete"


def _retire(folder: Path) -> Path | None:
    """Move a half-written run folder aside (never delete it)."""
    from nrm.run.scales import retire

    return retire(folder)


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (a zombie, killed but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _live_claims(claims: Path, host: str) -> list[dict[str, Any]]:
    out = []
    for f in sorted(claims.glob("*.json")):
        try:
            c = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if c.get("host") == host and _pid_alive(int(c.get("pid", -1))):
            out.append(c)
    return out


def _cpu_freq() -> float | None:
    try:
        import psutil

        f = psutil.cpu_freq()
        return float(f.current) if f is not None else None
    except Exception:
        return None


def execute(task: dict[str, Any], study_dir: str, argv: list[str]) -> dict[str, Any]:
    """Run one task (on a Dask worker): skip it when complete, move a half-written folder
    aside, run ``argv`` as a fresh process and write the run's record. Returns the record."""
    root = Path(study_dir)
    name = task["name"]
    run_dir = root / RUNS / name
    host = socket.gethostname()
    if run_complete(run_dir):
        record_path = root / RECORDS / f"{name}.json"
        if not record_path.is_file():  # the worker died between the run's end and its record
            meta = read_run_json(run_dir)
            rec = {**task, "host": (meta.get("context") or {}).get("hostname"),
                   "worker": worker_address(), "started_at": meta.get("started_at"),
                   "ended_at": meta.get("ended_at"), "exit_code": 0, "complete": True,
                   "status": "complete",
                   "recovered": "the worker died after the run ended and before its record "
                                "was written; load and concurrency readings are lost"}
            atomic_write_json(record_path, rec)
        return {"name": name, "status": "already complete", "host": host}
    claims = root / CLAIMS
    claims.mkdir(parents=True, exist_ok=True)
    claim = claims / f"{name}.json"
    if claim.exists():
        try:
            other = json.loads(claim.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            other = {}
        if (other.get("host") == host and other.get("pid") != os.getpid()
                and _pid_alive(int(other.get("pid", -1)))):
            return {"name": name, "status": "running elsewhere", "host": host}
    retired = _retire(run_dir) if run_dir.exists() else None
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(claim, {"name": name, "host": host, "pid": os.getpid()})
    concurrent_before = len(_live_claims(claims, host)) - 1
    record: dict[str, Any] = {
        **task,
        "host": host,
        "worker": worker_address(),
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "t_start": time.time(),
        "load_before": list(os.getloadavg()),
        "concurrent_before": concurrent_before,
        "cpu_freq_mhz_before": _cpu_freq(),
        "retired": str(retired) if retired else None,
        "argv": argv,
    }
    logs = root / LOGS
    logs.mkdir(parents=True, exist_ok=True)
    # the previous run's dirty pages are written back before this run is timed
    record["disk_settle"] = settle_disk().to_dict()
    t0 = time.perf_counter()
    try:
        with (logs / f"{name}.log").open("w", encoding="utf-8") as log:
            proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=set_pdeathsig if sys.platform == "linux" else None,
                                  check=False)
        rc = proc.returncode
    finally:
        record["process_wall_s"] = time.perf_counter() - t0
        record["concurrent_after"] = len(_live_claims(claims, host)) - 1
        with contextlib.suppress(OSError):
            claim.unlink()
    record.update({
        "ended_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "load_after": list(os.getloadavg()),
        "cpu_freq_mhz_after": _cpu_freq(),
        "exit_code": rc,
        "complete": run_complete(run_dir),
        "status": "complete" if run_complete(run_dir) else f"failed (exit {rc})",
    })
    atomic_write_json(root / RECORDS / f"{name}.json", record)
    return record


#: The modules that make a study's data: the plan and the sweep, the commands its arms run
#: (nrm.run.child, the H2 controls, the worker and database-growth arms) and their imports.
#: None of them imports the statistics, the study's analysis (the H2 controls' verdicts are
#: nrm.study.control_analysis) or the renderer, so the walk needs no exclude list: editing the
#: analysis or the paper never invalidates a study's runs (tests/test_study.py checks it).
STUDY_CODE = ("nrm.study.sweep", "nrm.study.control_arms", "nrm.run.child", "nrm.run.runner",
              "nrm.instrument.allocator", "nrm.study.controls", "nrm.run.dbgrow",
              "nrm.cli.dbgrow", "nrm.cli.workers", "nrm.cli.child", "nrm.study.contention",
              "nrm.cli.contention")
CODE_JSON = "code.json"


def code_record() -> dict[str, Any]:
    """SHA-256 of every source file that makes the study's data (:data:`STUDY_CODE`), and the
    environment (Python, packages, allocator), as written to ``OUT/code.json``."""
    from nrm.deps import source_files
    from nrm.provenance import environment, file_sha256

    files = {p.relative_to(paths.ROOT).as_posix(): file_sha256(p)
             for p in source_files(STUDY_CODE)}
    return {"files": files, "environment": environment()}


def _code_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    of, nf = old.get("files") or {}, new.get("files") or {}
    out = [f"{f} changed" for f in sorted(set(of) & set(nf)) if of[f] != nf[f]]
    out += [f"{f} added" for f in sorted(set(nf) - set(of))]
    out += [f"{f} removed" for f in sorted(set(of) - set(nf))]
    oe, ne = old.get("environment") or {}, new.get("environment") or {}
    for k in sorted(set(oe) | set(ne)):
        if k == "packages":
            op, np_ = oe.get(k) or {}, ne.get(k) or {}
            out += [f"package {n}: {op.get(n)} -> {np_.get(n)}"
                    for n in sorted(set(op) | set(np_)) if op.get(n) != np_.get(n)]
        elif oe.get(k) != ne.get(k):
            out.append(f"{k}: {oe.get(k)} -> {ne.get(k)}")
    return out


def stale_reasons(plan: StudyPlan, out: Path) -> list[str]:
    """Why the study in ``out`` cannot be continued with ``plan`` and this code ([] if it can,
    or if ``out`` holds no study yet)."""
    reasons: list[str] = []
    path = out / PLAN_JSON
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        new = json.loads(json.dumps(plan.to_dict()))
        if old != new:
            keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            reasons.append("another study plan (differs in: " + ", ".join(keys) + ")")
    code = out / CODE_JSON
    if code.is_file():
        reasons += [f"code: {c}" for c in _code_changes(
            json.loads(code.read_text(encoding="utf-8")), code_record())]
    elif path.is_file():
        reasons.append(f"no {CODE_JSON} (the study predates code records)")
    return reasons


def ensure_plan(plan: StudyPlan, out: Path, *, retire_stale: bool = False) -> None:
    """Write ``plan.json`` and ``code.json``, or check that the study already in ``out`` has the
    same plan and was made by the same code, so that a restarted sweep never mixes runs of two
    plans or two versions of the simulator.

    A study that differs is refused (:class:`StudyError` names what differs), or with
    ``retire_stale`` moved whole to ``<out's parent>/.superseded/`` (never deleted) and begun
    again.
    """
    reasons = stale_reasons(plan, out)
    if reasons:
        if not retire_stale:
            raise StudyError(
                f"{out} holds a study that this one cannot continue: " + "; ".join(reasons[:8])
                + (f" (and {len(reasons) - 8} more)" if len(reasons) > 8 else "")
                + ". Restart it with the same scale, seed, repeats and arms and the same code, "
                "use --retire-stale to move it aside and begin again, or choose another --out")
        moved = _retire(out)
        print(f"study {out}: moved aside to {moved} (" + "; ".join(reasons[:3])
              + (" ..." if len(reasons) > 3 else "") + ")", file=sys.stderr)
    path = out / PLAN_JSON
    out.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        atomic_write_json(path, plan.to_dict())
    if not (out / CODE_JSON).is_file():
        atomic_write_json(out / CODE_JSON, code_record())


def ensure_trace(plan: StudyPlan, out: Path, *, trace: str | None = None) -> Path:
    """The study's metrics trace: ``trace`` when given (a run folder or a trace file, checked to
    hold enough cycles), else ``OUT/trace`` recorded once by a live C256 lean run."""
    from nrm.sim.metrics import CycleReplaySource

    if trace is not None:
        p = Path(trace)
        src = CycleReplaySource(p / paths.TRACE_CSV if p.is_dir() else p)
    else:
        folder = out / TRACE
        if not run_complete(folder):
            if folder.exists():
                _retire(folder)
            spec = RunSpec(EXPERIMENT, "lean", metrics="live", cycles=plan.trace_cycles,
                           max_agents=plan.trace_agents, seed=plan.model_seed)
            spec_file = out / SPECS / f"{TRACE}.json"
            atomic_write_text(spec_file, spec.to_json())
            proc = subprocess.run(child_command(spec_file, folder), capture_output=True,
                                  text=True, check=False)
            if proc.returncode != 0 or not run_complete(folder):
                raise StudyError(f"recording the metrics trace failed: {proc.stderr.strip()}")
        src = CycleReplaySource(folder / paths.TRACE_CSV)
    short = {c: n for c, n in src.describe()["cycles"].items()  # type: ignore[union-attr]
             if n < plan.trace_cycles}
    if short or not src.by_condition:
        raise StudyError(f"{src.path}: holds fewer cycles than the plan needs "
                         f"({plan.trace_cycles}): {short or 'no samples'}")
    return src.path


def check_study_folder(out: str | Path) -> Path:
    """``out`` resolved, if it can hold a study: a folder that does not exist yet (its parents
    may not either, but none of them may be a file), an empty folder, or a study's folder (it
    has ``plan.json``). Anything else is refused in one line before anything is written."""
    p = Path(out).expanduser().resolve()
    for parent in (p, *p.parents):
        if parent.exists() and not parent.is_dir():
            raise ParameterError(f"--out {out}: {parent} is a file, not a folder; choose a "
                                 "folder for the study")
    if p.is_dir() and not (p / PLAN_JSON).is_file() and any(p.iterdir()):
        raise ParameterError(f"--out {out}: a non-empty folder that holds no study (no "
                             f"{PLAN_JSON}); choose an empty or new folder")
    return p


def run_study(plan: StudyPlan, out: str | Path, *, workers: int = 1,
              scheduler: str | None = None, trace: str | None = None,
              progress: bool = True, retire_stale: bool = False,
              force: bool = False) -> dict[str, Any]:
    """Execute every run of ``plan`` that has no complete ``run.json`` in ``out``.

    Restarting with the same plan runs only the missing runs; a half-written run folder is moved
    to ``OUT/runs/.superseded/`` first. A study of another plan or other code is refused, or
    moved aside with ``retire_stale`` (:func:`ensure_plan`). Returns the study summary (also
    ``OUT/study.json``). A study whose runs to go cannot fit on the disk (or, for the arms run
    in RAM, in ``/dev/shm``) is refused before anything is written, unless ``force``
    (:mod:`nrm.study.room`).
    """
    from nrm.study.room import check_study_room

    check_workers(workers)
    out = check_study_folder(out)
    check_study_room(plan, out, [t for t in plan.tasks() if not run_complete(out / RUNS / t.name)],
                     workers=workers, force=force)
    # reach the scheduler before anything is written into OUT
    remote = connect_scheduler(scheduler) if scheduler is not None else None
    try:
        ensure_plan(plan, out, retire_stale=retire_stale)
        trace_path = ensure_trace(plan, out, trace=trace)
    except BaseException:
        if remote is not None:
            remote.close()
        raise
    tasks = plan.tasks()
    pending = [t for t in tasks if not run_complete(out / RUNS / t.name)]
    t0 = time.time()
    results: list[dict[str, Any]] = []
    if not pending and remote is not None:
        remote.close()
    if pending:
        with signals_stop() as stopped:
            client, cluster = (remote, None) if remote is not None else open_client(workers,
                                                                                     scheduler)
            try:
                results = _sweep(client, plan, out, pending, trace_path, len(tasks), progress)
            except KeyboardInterrupt:
                signum = stopped.signum or signal.SIGINT
                done = sum(run_complete(out / RUNS / t.name) for t in tasks)
                raise RunInterruptedError(
                    f"study {out}: stopped by {signal.Signals(signum).name} with {done}/"
                    f"{len(tasks)} runs complete; run the same command again to run the "
                    "missing ones", exit_status=128 + int(signum)) from None
            finally:
                close_quietly(client, cluster)
    # what this sweep ran: another sweep into the same folder may have run (or be running)
    # some of `pending` ("already complete", "running elsewhere": no exit code)
    ran = sum("exit_code" in r for r in results)
    summary = write_summary(plan, out, workers=workers, scheduler=scheduler,
                            trace_path=trace_path, sweep_s=time.time() - t0, ran=ran)
    return summary


def _sweep(client: Any, plan: StudyPlan, out: Path, pending: list[RunTask], trace_path: Path,
           total: int, progress: bool) -> list[dict[str, Any]]:
    """Run ``pending`` in the plan's order (:func:`nrm.study.cluster.in_order`). A task whose
    worker dies is retried elsewhere."""
    jobs = ((t.name, execute, (t.to_dict(), str(out), task_command(plan, t, out, trace_path)))
            for t in pending)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=total - len(pending), unit="run",
                   desc=f"study {plan.scale.name}", dynamic_ncols=True,
                   ascii=True)  # ASCII: doit reads it a byte at a time
    results = []
    try:
        for name, rec, exc in in_order(client, jobs, key="nrm-study"):
            if exc is not None:
                rec = {"name": name,
                       "status": f"task failed ({type(exc).__name__}: {exc}); run the same "
                                 "command again to retry it"}
            results.append(rec)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{rec['name']}: {rec['status']}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return results


def load_records(out: Path) -> list[dict[str, Any]]:
    recs = []
    for f in sorted((out / RECORDS).glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            recs.append(json.loads(f.read_text(encoding="utf-8")))
    return recs


_RUN_COLUMNS = ("name", "arm", "block", "position", "host", "worker", "started_at", "ended_at",
                "process_wall_s", "load_before_1m", "load_after_1m", "concurrent_before",
                "concurrent_after", "cpu_freq_mhz_before", "cpu_freq_mhz_after", "exit_code",
                "complete", "status")


def write_summary(plan: StudyPlan, out: Path, *, workers: int, scheduler: str | None,
                  trace_path: Path, sweep_s: float, ran: int) -> dict[str, Any]:
    """Gather the run records into ``runs.csv`` and ``study.json`` (atomically)."""
    import csv
    import io

    recs = {r["name"]: r for r in load_records(out) if "arm" in r}
    rows = []
    for t in plan.tasks():
        r = recs.get(t.name, {})
        row = {**t.to_dict(), **{k: r.get(k) for k in _RUN_COLUMNS if k in r}}
        row["load_before_1m"] = (r.get("load_before") or [None])[0]
        row["load_after_1m"] = (r.get("load_after") or [None])[0]
        row["complete"] = run_complete(out / RUNS / t.name)
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(_RUN_COLUMNS), extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow(row)
    atomic_write_text(out / RUNS_CSV, buf.getvalue())
    summary = {
        "format": FORMAT,
        "scale": plan.scale.name,
        "seed": plan.seed,
        "repeats": plan.repeats,
        "runs_planned": len(rows),
        "runs_complete": sum(1 for r in rows if r["complete"]),
        "ran_this_sweep": ran,
        "sweep_s": sweep_s,
        "workers": workers if scheduler is None else None,
        "scheduler": scheduler or "LocalCluster (127.0.0.1)",
        "trace": str(trace_path),
        "not_available": [a.label for a in plan.arms if not a.available],
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": rows,
    }
    atomic_write_json(out / STUDY_JSON, summary)
    return summary


def load_plan(out: str | Path) -> StudyPlan:
    path = Path(out) / PLAN_JSON
    if not path.is_file():
        raise StudyError(f"{out}: no {PLAN_JSON}; run `nrm study run --out {out}` first")
    return StudyPlan.from_dict(json.loads(path.read_text(encoding="utf-8")))


def shell_command(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


__all__ = [
    "RunTask",
    "StudyError",
    "StudyPlan",
    "build_arms",
    "build_plan",
    "code_record",
    "execute",
    "format_plan",
    "load_plan",
    "randomized_blocks",
    "run_complete",
    "run_name",
    "run_study",
]
