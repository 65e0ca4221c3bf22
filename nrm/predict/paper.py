"""The paper's comparisons answered at the paper's parameters, predicted from measured unit costs.

Every number here is a prediction: the model's work counts at the given scale (a counting run,
:mod:`nrm.predict.counts`) times the unit costs fitted on this machine's runs
(:mod:`nrm.predict.unitcosts`), labelled ``predicted from measured unit costs`` and given with
the scale it is about. The optimized variant's counts are derived from the unoptimized run's
(:func:`nrm.predict.counts.resample`; exact under fixed or cycle-replayed metrics), so one
counting run per experiment serves both.

- :func:`comparisons`: C256 against C255 (the paper's +71.6 %), the caching speedup of the same
  experiment (C256 unoptimized / C256 optimized) and of the paper's design (C256 unoptimized /
  C257 optimized) against the paper's 160-190x, and the cost shares of C256 unoptimized;
- :func:`speedup_grid` / :func:`speedup_figure`: the predicted speedup against the agents and
  the cost of a commit, with the paper's 160-190x band.

The paper's figures are read from ``data/reference/paper_claims.csv``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.atomic import atomic_write_bytes
from nrm.predict.counts import RunCounts, cached_counts, paper_spec, resample
from nrm.predict.model import COMPONENTS, LABELS, Prediction, predict, ratio, share
from nrm.predict.unitcosts import UnitCosts
from nrm.run.spec import RunSpec

__all__ = ["LABEL", "comparisons", "paper_claim", "speedup_figure", "speedup_grid"]

LABEL = "predicted from measured unit costs"
CountsOf = Callable[[RunSpec], RunCounts]


def paper_claim(claim_id: str) -> tuple[float, float]:
    """(value, value_high) of a claim in the paper's claims table (value_high NaN if none)."""
    from nrm.claims.reference import load_claims

    claims = load_claims().set_index("claim_id")
    row = claims.loc[claim_id]
    high = row.get("value_high")
    return float(row["value"]), float(high) if pd.notna(high) else math.nan


def _default_counts(spec: RunSpec) -> RunCounts:
    return cached_counts(spec, progress=True)


def _pair(experiment: str, counts_of: CountsOf, **scale: Any) -> tuple[RunCounts, RunCounts]:
    unopt = counts_of(paper_spec(experiment, "unoptimized", **scale))
    return unopt, resample(unopt, "per_cycle")


def comparisons(uc: UnitCosts, *, counts_of: CountsOf | None = None, medium: str = "disk",
                metrics: str = "live", commit_s: float | None = None,
                design_others: Sequence[str] = (), commit_growth: bool | None = None,
                **scale: Any) -> pd.DataFrame:
    """The paper's comparisons at ``scale`` (keywords of :class:`RunSpec`; default the paper's:
    3000 cycles, 100 agents, a 0.1 s sample). One row each: statistic, value, CI, the paper's
    value, the scale and the label. ``design_others`` (e.g. C258-C260) adds the speedup of
    C256 unoptimized over each of their optimized runs (the paper's design names C257-C260)."""
    counts_of = counts_of or _default_counts
    c256, c256_opt = _pair("C256", counts_of, **scale)
    c255, _ = _pair("C255", counts_of, **scale)
    _, c257_opt = _pair("C257", counts_of, **scale)

    def pr(c: RunCounts) -> Prediction:
        return predict(c, uc, medium=medium, metrics=metrics, commit_s=commit_s,
                       commit_growth=commit_growth)

    p256, p256o, p255, p257o = pr(c256), pr(c256_opt), pr(c255), pr(c257_opt)
    spec = c256.spec
    where = (f"{spec.cycles} cycles x {spec.max_agents} agents, {spec.cpu_interval:g} s sample, "
             f"commits on {medium}" + (f" at {commit_s * 1e3:g} ms" if commit_s is not None
                                       else ""))
    rows = []
    var_paper, _ = paper_claim("T1.var_72")
    r, lo, hi = ratio(p256, p255)
    rows.append(("c256_vs_c255_pct", "C256 against C255, unoptimized (%)", 100 * (r - 1),
                 100 * (lo - 1), 100 * (hi - 1), f"+{var_paper:g} %"))
    sp_lo, sp_hi = paper_claim("s3.3.speedup")
    band = f"{sp_lo:g}-{sp_hi:g}x"
    r, lo, hi = ratio(p256, p256o)
    rows.append(("speedup_same", "caching speedup, same experiment (C256 unopt. / C256 opt.)",
                 r, lo, hi, band))
    r, lo, hi = ratio(p256, p257o)
    rows.append(("speedup_design", "caching speedup, the paper's design (C256 unopt. / C257 "
                 "opt.)", r, lo, hi, band))
    for other in design_others:
        _, c_opt = _pair(other, counts_of, **scale)
        r, lo, hi = ratio(p256, pr(c_opt))
        rows.append((f"speedup_design_{other}", f"caching speedup, C256 unopt. / {other} opt.",
                     r, lo, hi, band))
    for name, p in (("C255", p255), ("C256", p256)):
        v, lo, hi = p.interval()
        rows.append((f"runtime_h_{name}", f"{name} unoptimized runtime (h)", v / 3600,
                     lo / 3600, hi / 3600, ""))
    for comp in COMPONENTS:
        s, lo, hi = share(p256, comp)
        rows.append((f"share_{comp}", f"C256 unoptimized: share of {LABELS[comp]} (%)", 100 * s,
                     100 * lo, 100 * hi, ""))
    out = pd.DataFrame(rows, columns=["key", "statistic", "value", "ci_low", "ci_high",
                                      "paper"])
    out["scale"] = where
    out["label"] = LABEL
    return out


def speedup_grid(uc: UnitCosts, agents: Sequence[int], commit_costs: Iterable[float], *,
                 experiment: str = "C256", counts_of: CountsOf | None = None,
                 metrics: str = "live", medium: str = "disk", commit_growth: bool | None = None,
                 **scale: Any) -> pd.DataFrame:
    """Predicted caching speedup (unoptimized / optimized, same experiment) for each number of
    agents and each cost of a commit (seconds); its interval covers the other unit costs.
    ``medium`` picks the sample cost measured with commits there."""
    counts_of = counts_of or _default_counts
    costs = list(commit_costs)
    rows = []
    for n in agents:
        unopt, opt = _pair(experiment, counts_of, max_agents=int(n), **scale)
        for c in costs:
            r, lo, hi = ratio(predict(unopt, uc, metrics=metrics, medium=medium, commit_s=c,
                                      commit_growth=commit_growth),
                              predict(opt, uc, metrics=metrics, medium=medium, commit_s=c,
                                      commit_growth=commit_growth))
            rows.append({"experiment": experiment, "agents": int(n), "commit_s": float(c),
                         "speedup": r, "ci_low": lo,
                         "ci_high": hi, "cycles": unopt.spec.cycles,
                         "cpu_interval": unopt.spec.cpu_interval})
    return pd.DataFrame(rows)


def speedup_figure(grid: pd.DataFrame, path: str | Path, *,
                   band: tuple[float, float] | None = None) -> Path:
    """A PNG of :func:`speedup_grid`: speedup against agents, one line per commit cost, with
    the paper's 160-190x band (from the claims table unless given)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = band if band is not None else paper_claim("s3.3.speedup")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.axhspan(lo, hi, color="tab:orange", alpha=0.25, label=f"the paper's {lo:g}-{hi:g}x")
    for c, g in grid.groupby("commit_s"):
        g = g.sort_values("agents")
        line = ax.plot(g["agents"], g["speedup"], marker="o", label=f"{c * 1e3:g} ms a commit")
        ax.fill_between(g["agents"], g["ci_low"], g["ci_high"], color=line[0].get_color(),
                        alpha=0.15)
    first = grid.iloc[0]
    ax.set_yscale("log")
    ax.set_ylim(0.8 * min(float(grid["ci_low"].min()), lo),
                1.5 * max(float(grid["ci_high"].max()), hi))
    ax.set_xlabel("agents (cap)")
    ax.set_ylabel("speedup, unoptimized / optimized")
    ax.set_title(f"{LABEL}\n{first['experiment']}, {int(first['cycles'])} cycles, "
                 f"{first['cpu_interval']:g} s sample", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())
