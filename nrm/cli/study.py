"""``nrm study plan|run|analyse``: the causal study (:mod:`nrm.study.sweep`) from the command
line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.cli.argtypes import positive_int as _positive
from nrm.run.scales import DEFAULT_SCALE, DEFAULT_SEED, SCALES


def default_out(scale: str) -> Path:
    return paths.Build.here(scale).study


def register(sub: Any) -> None:
    p = sub.add_parser("study", help="the causal study: arms, repeats, randomized blocks, Dask")
    ssub = p.add_subparsers(dest="study_command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--scale", default=DEFAULT_SCALE, help=" | ".join(SCALES))
        q.add_argument("--repeats", type=_positive, default=None,
                       help="blocks (repeats per arm; the scale's own by default, 5 at default)")
        q.add_argument("--seed", type=int, default=DEFAULT_SEED,
                       help="seed of the randomized order")
        q.add_argument("--model-seed", type=int, default=DEFAULT_SEED,
                       help="every run's model seed (make paper SEED=N sets it)")
        q.add_argument("--arm", action="append", default=None,
                       help="keep only this arm (repeatable; its base and A/A arm are kept)")

    q = ssub.add_parser("plan", help="print the plan (arms, scale, order) without running")
    common(q)
    q.add_argument("--json", action="store_true", help="the plan as JSON")
    q.add_argument("--estimate-from", metavar="STUDY_DIR", default=None,
                   help="estimate this plan's run time from a measured study (e.g. the smoke "
                        "study's folder)")
    q.set_defaults(handler=_cmd_plan)

    q = ssub.add_parser("run", help="run the missing runs of a study (restartable)")
    common(q)
    q.add_argument("--out", default=None, help="study folder (default data/study/<scale>)")
    where = q.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=None,
                       help="single-threaded workers of the LocalCluster (1: runs never share "
                            "a core; more are recorded as contention)")
    where.add_argument("--scheduler", default=None,
                       help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    q.add_argument("--trace", default=None,
                   help="replay this metrics trace (run folder or metrics_trace.csv) instead of "
                        "recording one")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--retire-stale", action="store_true",
                   help="if OUT holds a study of another plan or made by other code, move it "
                        "to OUT/../.superseded/ and begin again (default: refuse)")
    q.add_argument("--force", action="store_true",
                   help="run even when the study's estimated output exceeds the free disk "
                        "space (or RAM, for the arms run in /dev/shm)")
    q.set_defaults(handler=_cmd_run, resume_hint="run the same command again: it runs only "
                   "the missing runs")

    q = ssub.add_parser("analyse", help="effects, CIs and verdicts of a study folder")
    q.add_argument("--out", required=True, help="the study folder")
    q.add_argument("--to", default=None, help="write tables here (default OUT/analysis)")
    q.add_argument("--boot", type=_positive, default=2000, help="bootstrap resamples")
    q.set_defaults(handler=_cmd_analyse)


#: The most blocks a study plans (each block runs every arm once; more never finishes).
MAX_REPEATS = 1000


def _plan(args: argparse.Namespace) -> Any:
    from nrm.exceptions import ParameterError
    from nrm.study.sweep import build_plan

    if args.repeats is not None and args.repeats > MAX_REPEATS:
        raise ParameterError(f"--repeats {args.repeats} is more than a study can run; "
                             f"give at most {MAX_REPEATS}")

    return build_plan(args.scale, repeats=args.repeats, seed=args.seed, arms=args.arm,
                      model_seed=args.model_seed)


def _cmd_plan(args: argparse.Namespace) -> int:
    from nrm.study.sweep import format_plan

    plan = _plan(args)
    print(json.dumps(plan.to_dict(), indent=1) if args.json else format_plan(plan))
    if args.estimate_from:
        from nrm.study.analysis import estimate_budget, load_study

        est = estimate_budget(load_study(args.estimate_from), plan)
        total = float(est["estimate_s"].sum())
        missing = est[est["estimate_s"].isna()]["arm"].tolist()
        print(f"ESTIMATE (not a measurement) from {args.estimate_from}: {len(plan.tasks())} runs "
              f"in about {total / 60:.1f} min on one worker, at the measured study's machine "
              "load; per-cycle times taken as constant (growing arms are underestimated)"
              + (f"; no basis for {', '.join(missing)}" if missing else ""))
        for _, r in est.sort_values("estimate_s", ascending=False).head(8).iterrows():
            print(f"  {r['arm']:<36} {r['estimate_s']:8.1f} s  ({r['basis']})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from nrm.study.sweep import run_study

    plan = _plan(args)
    out = Path(args.out) if args.out else default_out(args.scale)
    summary = run_study(plan, out, workers=args.workers or 1, scheduler=args.scheduler,
                        trace=args.trace, progress=not args.no_progress,
                        retire_stale=args.retire_stale, force=args.force)
    print(f"study {out}: {summary['runs_complete']}/{summary['runs_planned']} runs complete "
          f"({summary['ran_this_sweep']} run now, {summary['sweep_s']:.1f} s)")
    if summary["not_available"]:
        print("not available: " + ", ".join(summary["not_available"]))
    return 0 if summary["runs_complete"] == summary["runs_planned"] else 1


def _cmd_analyse(args: argparse.Namespace) -> int:
    from nrm.study.analysis import analyse_study, format_verdicts

    res = analyse_study(args.out, to=args.to, n_boot=args.boot)
    print(format_verdicts(res))
    return 0
