"""``nrm predict EXPERIMENT [run flags]``: the predicted runtime of a run, with its interval and
breakdown, from the model's work counts (a counting run, cached in ``data/predict/counts``) and
unit costs fitted from faithful runs (``--runs``; default the run folders in
``data/predict/measure`` whose names start with ``fit-``). Nothing is run but the counting run.

Every value is checked before anything runs: an unknown experiment, zero cycles or a negative
cost is refused with one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nrm.exceptions import ParameterError
from nrm.run.scales import PAPER_SCALE, SMOKE_SCALE

DEFAULT_FIT_PREFIX = "fit-"


def register(sub: Any) -> None:
    r = sub.add_parser("predict", help="predicted runtime of a run from measured unit costs")
    r.add_argument("experiment", help="C255 ... C260")
    r.add_argument("--scale", default=PAPER_SCALE,
                   help="where unset values come from: smoke | default | full (default: full, "
                        "the paper's parameters)")
    r.add_argument("--variant", default="unoptimized", help="unoptimized | optimized")
    r.add_argument("--cycles", default=None, help="cycles per condition (the scale's)")
    r.add_argument("--max-agents", default=None, help="agent cap (the scale's)")
    r.add_argument("--cpu-interval", default=None,
                   help="seconds the CPU sample blocks (the scale's)")
    r.add_argument("--cost", action="append", default=None, metavar="SWITCH=VALUE",
                   help="override one cost switch (as nrm run)")
    r.add_argument("--commit-cost", default=None, metavar="S",
                   help="seconds a commit costs, instead of the fitted cost (a what-if)")
    r.add_argument("--medium", default="disk", choices=("disk", "ram"),
                   help="where the commits go (a fitted medium; default disk)")
    r.add_argument("--metrics-kind", default=None, choices=("fixed", "live"),
                   help="which sample's cost beyond its blocking interval (default: the "
                        "scale's metrics)")
    r.add_argument("--runs", action="append", default=None, metavar="DIR",
                   help="a run folder, or a folder of run folders, to fit unit costs from "
                        "(repeatable; default data/predict/measure/fit-*)")
    r.add_argument("--compare", action="store_true",
                   help="also print the paper's comparisons (C256 vs C255, caching speedups, "
                        "cost shares) at this scale")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(handler=run)


def _number(name: str, text: str | None, kind: type) -> Any:
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ParameterError(f"--{name} must be a number, got {text!r}") from None
    if kind is int and value < 1:
        raise ParameterError(f"--{name} must be a positive integer, got {value}")
    if kind is float and not value >= 0:
        raise ParameterError(f"--{name} must be >= 0 seconds, got {value}")
    return value


def spec_from_args(args: argparse.Namespace) -> Any:
    from nrm.run.spec import RunSpec
    from nrm.sim.costs import parse_cost_overrides

    kw: dict[str, Any] = {"scale": args.scale, "variant": args.variant}
    for name, dest, kind in (("cycles", "cycles", int), ("max-agents", "max_agents", int),
                             ("cpu-interval", "cpu_interval", float)):
        value = _number(name, getattr(args, dest), kind)
        if value is not None:
            kw[dest] = value
    if args.cost:
        kw["costs"] = parse_cost_overrides(args.cost)
    spec = RunSpec(args.experiment, **kw)
    if spec.metrics == "live":  # counted under fixed metrics (a live run cannot be replayed)
        spec = RunSpec.from_dict({**spec.to_dict(), "metrics": "fixed"})
    return spec


def fit_runs(given: list[str] | None) -> list[Path]:
    from nrm import paths
    from nrm.predict.model import runs_in

    if not given:
        found = list(runs_in(paths.DATA / "predict" / "measure", DEFAULT_FIT_PREFIX))
        where = "data/predict/measure/fit-*"
    else:
        found, where = [], ", ".join(given)
        for g in given:
            p = Path(g)
            found += [p] if (p / "cycles.csv").is_file() else list(runs_in(p, ""))
    if not found:
        raise ParameterError(f"no complete runs to fit unit costs from in {where}; make a few "
                             "faithful runs (nrm run ... --out data/predict/measure/fit-NAME)")
    return found


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)  # every check first
    commit_s = _number("commit-cost", args.commit_cost, float)
    runs = fit_runs(args.runs)
    from nrm.predict.counts import cached_counts
    from nrm.predict.model import predict
    from nrm.predict.unitcosts import fit_unit_costs

    uc = fit_unit_costs(runs)
    counts = cached_counts(spec, progress=not args.no_progress)
    kind = args.metrics_kind or ("live" if args.scale != SMOKE_SCALE else "fixed")
    p = predict(counts, uc, medium=args.medium, metrics=kind, commit_s=commit_s)
    print(p.describe())
    print(f"unit costs: {len(uc.runs)} runs on {uc.machine.get('hostname')} "
          f"({uc.machine.get('cpu_model')}, {uc.machine.get('cpus')} CPUs)")
    if args.compare:
        from nrm.predict.paper import comparisons

        scale = {"scale": spec.scale, "cycles": spec.cycles, "max_agents": spec.max_agents,
                 "cpu_interval": spec.cpu_interval}
        table = comparisons(uc, medium=args.medium, metrics=kind, commit_s=commit_s, **scale)
        print(f"the paper's comparisons at {table['scale'].iloc[0]} ({table['label'].iloc[0]}):")
        for r in table.itertuples():
            paper = f"  [paper: {r.paper}]" if r.paper else ""
            print(f"  {r.statistic:<72} {r.value:10.4g} (95 % CI {r.ci_low:.4g} to "
                  f"{r.ci_high:.4g}){paper}")
    return 0
