"""``nrm dbcurve --to-mb MB --medium disk|ram|both --out DIR``: commit latency against database
size up to the paper's full run's (issue #23, H3; :mod:`nrm.study.dbcurve`; ``make dbcurve``)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from nrm.cli.argtypes import nonneg_int, positive_int


def _megabytes(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of MiB, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a number of MiB > 0, got {text!r}")
    return v


def _sizes(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes in MiB separated by commas (0,50,100), got {text!r}") from None


def register(sub: Any) -> None:
    from nrm.run.dbcurve import BATCH, FULL_RUN_MB
    from nrm.sim.model import DEFAULT_SEED

    p = sub.add_parser(
        "dbcurve",
        help="commit latency against database size (disk, RAM), up to the full run's size (H3)",
    )
    p.add_argument("--to-mb", type=_megabytes, required=True,
                   help=f"largest size of the databases, MiB (the full run's: {FULL_RUN_MB:g})")
    p.add_argument("--medium", choices=("disk", "ram", "both"), default="both",
                   help="databases on the output folder's disk, in /dev/shm, or both (default)")
    p.add_argument("--out", required=True, help="folder for the timings (new, or a stopped curve)")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="repeats per medium, each a fresh process (default 5; 3 at least for "
                   "a verdict)")
    p.add_argument("--checkpoints", type=_sizes, default=None, metavar="MB,MB,...",
                   help="sizes timed (default 0,50,100,250,500,1000,2000,3500 up to --to-mb)")
    p.add_argument("--batch", type=positive_int, default=BATCH,
                   help=f"commits timed per checkpoint (default {BATCH})")
    p.add_argument("--full-mb", type=_megabytes, default=FULL_RUN_MB,
                   help=f"the full run's database size the change is read at (default "
                   f"{FULL_RUN_MB:g})")
    p.add_argument("--seed", type=nonneg_int, default=DEFAULT_SEED,
                   help="seed of the timed rows' values (each repeat's: seed x 1000 + repeat)")
    p.add_argument("--force", action="store_true", help="skip the space check")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_cmd_dbcurve)


def _cmd_dbcurve(args: argparse.Namespace) -> int:
    from nrm.study.dbcurve import run_curve

    media = ("disk", "ram") if args.medium == "both" else (args.medium,)
    summary = run_curve(args.out, to_mb=args.to_mb, media=media, repeats=args.repeats,
                        sizes=args.checkpoints, batch=args.batch, seed=args.seed,
                        full_mb=args.full_mb, progress=not args.no_progress, force=args.force)
    h3 = summary["h3"]
    for medium, m in h3["media"].items():
        rate = (summary["growth"].get(medium) or {}).get("rows_per_s")
        short = m["reached_mib"] < h3["full_mb"] * 0.9
        key, upto = ("measured_change", m["reached_mib"]) if short else ("change", h3["full_mb"])
        print(f"dbcurve {medium}: {m['repeats']} repeat(s) to {m['reached_mib']:.0f} MiB; "
              f"slope {m['slope_log_per_gib']:+.3f} log/GiB; change 0 -> {upto:.0f} MiB "
              f"{m[key + '_pct']:+.1f} % ({m['level']:.1%} CI {m[key + '_low_pct']:+.1f} to "
              f"{m[key + '_high_pct']:+.1f} %); growth {rate or float('nan'):,.0f} rows/s; "
              f"{m['verdict']}")
    print(f"H3 (curve, margin ±{h3['margin_pct']:.0f} %): {h3['verdict']} ({h3['why']}); "
          f"{args.out}/dbcurve.csv, dbcurve.json")
    return 0
