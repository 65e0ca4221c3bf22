"""``nrm control``: the H2 positive and negative controls (the instrument check)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.cli.argtypes import positive_int as _positive
from nrm.study.controls import H2_FLOOR, KINDS, ControlSpec, run_control


def register(sub: Any) -> None:
    """Add ``nrm control`` to the ``nrm`` command's subparsers."""
    p = sub.add_parser(
        "control",
        help="run the H2 positive (fragmentation) or negative (no-fragmentation) control",
        description="Synthetic workload that fragments pymalloc's arenas on purpose "
        "(fragmentation) or the same without the pinning survivors (no-fragmentation), "
        "run under the probe into a run folder (cycles.csv + run.json).",
    )
    p.add_argument("kind", choices=KINDS)
    d = ControlSpec("fragmentation")
    p.add_argument("--cycles", type=_positive, default=d.cycles, help=f"cycles ({d.cycles})")
    p.add_argument(
        "--population",
        type=_positive,
        default=d.population,
        help=f"records alive at the start ({d.population})",
    )
    p.add_argument(
        "--keep-every",
        type=_positive,
        default=d.keep_every,
        help=f"fragmentation: keep every K-th retired record ({d.keep_every})",
    )
    p.add_argument("--churn", type=int, default=d.churn, help="temporaries per cycle")
    p.add_argument("--arena-every", type=_positive, default=d.arena_every)
    p.add_argument("--out", default=None, help="new run folder (default data/runs/control-...)")
    p.add_argument("--allocator", default=None, help="pymalloc | malloc | jemalloc | mimalloc")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_control)


def _spec_from_args(args: argparse.Namespace) -> ControlSpec:
    return ControlSpec(
        kind=args.kind,
        cycles=args.cycles,
        population=args.population,
        keep_every=args.keep_every,
        churn=args.churn,
        arena_every=args.arena_every,
        allocator=args.allocator,
    )


def _cmd_control(args: argparse.Namespace) -> int:
    spec = _spec_from_args(args)  # bad input fails here, before anything is written
    if args.allocator is not None and not args.in_child:
        from nrm.instrument.allocator import child_env, run_in_child

        child_env(args.allocator)  # a missing library fails before the child starts
        argv = [
            "control", spec.kind, "--cycles", str(spec.cycles),
            "--population", str(spec.population), "--keep-every", str(spec.keep_every),
            "--churn", str(spec.churn), "--arena-every", str(spec.arena_every),
            "--allocator", args.allocator, "--in-child",
        ]  # fmt: skip
        if args.out is not None:
            argv += ["--out", str(args.out)]
        if args.no_progress:
            argv.append("--no-progress")
        return run_in_child(argv, args.allocator)
    meta = run_control(spec, args.out, progress=not args.no_progress)
    out = Path(paths.RUNS / meta["name"]) if args.out is None else Path(args.out)
    # imported after the run: the control's own process measures its memory, and the analysis
    # (pandas, the study) must not be in it while it runs
    from nrm.study.control_analysis import summarize

    s = summarize(out)
    frag = (
        f"frag ratio {s['frag_start']:.3f} -> {s['frag_end']:.3f}, "
        if s["frag_start"] is not None and s["frag_end"] is not None
        else "frag ratio not measurable (pymalloc off), "
    )
    print(
        f"control {spec.kind} ({s['allocator']}): {frag}RSS {s['rss_start_mb']:.1f} -> "
        f"{s['rss_end_mb']:.1f} MB, H2 {s['h2']} (with a {H2_FLOOR:.0%} floor on the rise: "
        f"{s['h2_floor']}); run folder {out}"
    )
    return 0 if meta.get("status") == "complete" else 1
