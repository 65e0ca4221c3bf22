"""The ``nrm`` command. ``main(argv) -> int`` is the only place errors become exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .exceptions import NrmError, ParameterError


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nrm", description="NRM runtime-variance compendium")
    p.add_argument("--version", action="version", version=f"nrm {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("experiments", help="list the experiments C255-C260")
    sub.add_parser("variants", help="list the cost presets")

    r = sub.add_parser("run", help="run an experiment into a new run folder")
    r.add_argument("experiment", nargs="?", help="C255 ... C260")
    r.add_argument("--variant", default="unoptimized", help="unoptimized | optimized | lean")
    r.add_argument("--cycles", type=_positive, default=None, help="cycles per condition (3000)")
    r.add_argument("--max-agents", type=_positive, default=None, help="agent cap (100)")
    r.add_argument(
        "--condition",
        action="append",
        default=None,
        help="run only this condition (repeatable): OFF-OFF, ON-OFF, OFF-ON, ON-ON",
    )
    r.add_argument(
        "--cpu-interval",
        type=_nonneg_float,
        default=None,
        help="seconds the CPU sample blocks (variant's own: 0.1 faithful, 0 lean)",
    )
    r.add_argument("--metrics", default="live", help="live | fixed | replay:PATH")
    r.add_argument("--seed", type=int, default=0, help="seed for every random choice (cluster ids)")
    r.add_argument(
        "--out", default=None, help="new run folder (default data/runs/<exp>-<variant>-<time>)"
    )
    r.add_argument(
        "--cost",
        action="append",
        default=[],
        metavar="SWITCH=VALUE",
        help="override one cost switch, e.g. --cost sqlite=false (variant becomes 'custom')",
    )
    r.add_argument("--allocator", default=None, help="pymalloc | malloc | jemalloc | mimalloc")
    r.add_argument(
        "--gc-mode",
        default="default",
        choices=("default", "disable", "freeze"),
        help="garbage collector after set-up: leave it, gc.disable() or gc.freeze()",
    )
    r.add_argument("--flush-every", type=_positive, default=50, help="flush logs every K cycles")
    r.add_argument(
        "--arena-every", type=_positive, default=100, help="arena statistics every K cycles"
    )
    r.add_argument(
        "--checkpoint-every",
        type=_positive,
        default=None,
        help="checkpoint every N cycles (a multiple of --flush-every; default: every 30 s)",
    )
    r.add_argument(
        "--tracemalloc", action="store_true", help="also record tracemalloc current/peak"
    )
    r.add_argument("--uss", action="store_true", help="also record USS (slow)")
    r.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue an interrupted run")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)
    from . import controls, lockfile, study_cli

    lockfile.register(sub)
    controls.register(sub)
    study_cli.register(sub)
    return p


def _parse_cost(items: list[str]) -> dict[str, Any]:
    from .costs import parse_cost_overrides

    return parse_cost_overrides(items)


def _cmd_experiments() -> int:
    from .experiments import EXPERIMENTS

    print(f"{'id':<6}{'mechanisms':<24}{'paper ran it':<14}role")
    for e in EXPERIMENTS.values():
        print(f"{e.id:<6}{' x '.join(e.mechanisms):<24}{e.paper_variant:<14}{e.role}")
        if e.note:
            print(f"{'':<6}note: {e.note}")
    d = EXPERIMENTS["C255"]  # every experiment has the paper's defaults
    print(f"defaults: {d.cycles} cycles per condition, {d.max_agents} agents, "
          f"root energy {d.root_energy:g}, cooldown {d.cooldown}")
    return 0


def _cmd_variants() -> int:
    from .costs import DESCRIPTIONS, PRESETS

    for name, costs in PRESETS.items():
        print(f"{name}: {DESCRIPTIONS[name]}")
        print("    " + ", ".join(f"{k}={v}" for k, v in costs.to_dict().items()))
    return 0


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from .runner import RunSpec, resume_run, run_experiment

    if args.allocator is not None and not args.in_child:
        from .allocator import run_in_child

        # validate everything before spawning: a bad experiment fails here, not in the child
        if args.resume is None:
            _spec_from_args(args)
        child_argv = [a for a in argv] + ["--in-child"]
        return run_in_child(child_argv, args.allocator)
    if args.resume is not None:
        meta = resume_run(Path(args.resume), progress=not args.no_progress)
    else:
        spec: RunSpec = _spec_from_args(args)
        meta = run_experiment(spec, args.out, progress=not args.no_progress)
    _print_summary(meta)
    return 0 if meta.get("status") == "complete" else 1


def _spec_from_args(args: argparse.Namespace) -> Any:
    from .experiments import get_experiment
    from .runner import RunSpec

    if not args.experiment:
        raise ParameterError("nrm run needs an experiment (C255 ... C260) or --resume RUN_DIR")
    exp = get_experiment(args.experiment)
    kw: dict[str, Any] = {
        "experiment": exp.id,
        "variant": args.variant,
        "cycles": args.cycles if args.cycles is not None else exp.cycles,
        "max_agents": args.max_agents if args.max_agents is not None else exp.max_agents,
        "root_energy": exp.root_energy,
        "cooldown": exp.cooldown,
        "seed": args.seed,
        "metrics": args.metrics,
        "cpu_interval": args.cpu_interval,
        "costs": _parse_cost(args.cost),
        "flush_every": args.flush_every,
        "arena_every": args.arena_every,
        "checkpoint_every": args.checkpoint_every,
        "tracemalloc": args.tracemalloc,
        "uss": args.uss,
        "allocator": args.allocator,
        "gc_mode": args.gc_mode,
    }
    if args.condition:
        kw["conditions"] = tuple(args.condition)
    return RunSpec(**kw)


def _print_summary(meta: dict[str, Any]) -> None:
    print(f"run {meta.get('name')}: {meta.get('status')}")
    for cond, r in (meta.get("conditions") or {}).items():
        print(
            f"  {cond}: mean pop {r['mean']:.2f}, final {r['final']}, max {r['max']}, "
            f"runtime {r['runtime_s']:.2f} s, samples {r['samples']}, commits {r['commits']}"
        )
    syn = meta.get("synergy") or {}
    if syn.get("classification"):
        print(f"  synergy {syn['synergy']:+.3f} -> {syn['classification']}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its message
        return int(exc.code or 0)
    try:
        if getattr(args, "handler", None) is not None:
            return int(args.handler(args))
        if args.command == "experiments":
            return _cmd_experiments()
        if args.command == "variants":
            return _cmd_variants()
        if args.command == "run":
            return _cmd_run(args, argv)
    except NrmError as exc:
        print(f"nrm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nrm: interrupted; resume with `nrm run --resume RUN_DIR`", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
