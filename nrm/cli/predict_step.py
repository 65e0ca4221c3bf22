"""``nrm predict-step counts|fit``: the build's prediction steps (:mod:`nrm.predict.buildstep`),
as ``make paper`` runs them.

    nrm predict-step counts --scale S --out DATA/predict/S/counts
    nrm predict-step ship [--scale default]      # counts -> data/reference/counts (committed)
    nrm predict-step fit --scale S --runs-dir RUNS --counts DIR --out ANALYSIS/predict \\
        [--study-dir D]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm.exceptions import ParameterError
from nrm.run.scales import DEFAULT_SCALE


def register(sub: Any) -> None:
    r = sub.add_parser("predict-step", help="the build's prediction steps (counts, fit)")
    steps = r.add_subparsers(dest="step", required=True)
    c = steps.add_parser("counts", help="counting runs at the build's counting scale")
    c.add_argument("--scale", required=True)
    c.add_argument("--out", required=True, help="folder of the build's counts")
    c.add_argument(
        "--no-shared-cache", action="store_true", help="neither read nor fill data/predict/counts"
    )
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(handler=run_counts)
    sh = steps.add_parser("ship", help="write a scale's counts to data/reference/counts (the "
                          "counts a build copies instead of counting; counted on demand)")
    sh.add_argument("--scale", default=DEFAULT_SCALE)
    sh.set_defaults(handler=run_ship)
    f = steps.add_parser(
        "fit",
        help="unit costs from the build's runs; the paper's comparisons at the counting scale",
    )
    f.add_argument("--scale", required=True)
    f.add_argument("--runs-dir", required=True)
    f.add_argument("--counts", required=True, help="the counts step's folder")
    f.add_argument("--out", required=True, help="where the tables and the figure go")
    f.add_argument("--study-dir", default=None)
    f.set_defaults(handler=run_fit)


def _scale(name: str) -> str:
    from nrm.predict.buildstep import count_scale

    count_scale(name)  # refuses an unknown scale with one line
    return name


def run_counts(args: argparse.Namespace) -> int:
    from nrm.predict.buildstep import count_step
    from nrm.predict.counts import CACHE_DIR

    scale = _scale(args.scale)
    rec = count_step(
        scale,
        Path(args.out),
        progress=not args.no_progress,
        shared_cache=None if args.no_shared_cache else CACHE_DIR,
    )
    for e in rec["counts"]:
        print(
            f"counts {e['experiment']} {e['cycles']}x{e['max_agents']}: {e['source']} "
            f"(counting took {e['count_s']:.1f} s; this step {e['this_step_s']:.1f} s)"
        )
    print(f"counts step: {rec['step_s']:.1f} s")
    return 0


def run_ship(args: argparse.Namespace) -> int:
    from nrm.predict.buildstep import ship

    for p in ship(_scale(args.scale)):
        print(f"shipped {p.with_suffix('')}.csv.gz / .json")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    from nrm.predict.buildstep import predict_step

    scale = _scale(args.scale)
    for name in ("runs_dir", "counts"):
        if not Path(getattr(args, name)).is_dir():
            raise ParameterError(
                f"--{name.replace('_', '-')} {getattr(args, name)} is not a folder"
            )
    s = predict_step(scale, args.runs_dir, args.counts, args.out, study_dir=args.study_dir)
    print(
        f"unit costs from {s['fit_runs']} runs ({s['fit_runs_by_origin']}) on "
        f"{s['machine_label']}; tables in {args.out} ({s['step_s']:.1f} s)"
    )
    v = s.get("validation") or {}
    if v.get("verdict", "none") != "none":
        print(
            f"held-out validation: {v['n']} paper runs predicted from {v['fit_runs']} study runs, "
            f"median absolute error {v['median_abs_error_pct']:.1f} % (95 % CI "
            f"{v['ci_pct'][0]:.1f}-{v['ci_pct'][1]:.1f} %; the runs' prediction intervals "
            f"{v['band_pct'][0]:.1f}-{v['band_pct'][1]:.1f} %): {v['verdict']} the "
            f"{v['target_pct']:g} % target"
        )
    else:
        print(f"held-out validation: none ({v.get('reason', 'no summary')})")
    return 0
