"""Compare the tables of two builds: ``nrm compare-builds A B`` and the paper's reference section.

A *build folder* is anything holding the analysis tables: a folder with ``phase1a/`` and
``phase1b/`` (``data/analysis/<scale>/``, or the shipped reference
``data/reference/build-default/``), or a ``make paper OUT=...`` folder (its
``data/analysis/<scale>/``; ``--scale`` picks one when it holds several).

Tables are matched by file name, rows by their identifying columns (run, hypothesis,
statistic, ...), and every numeric cell present in both is compared: the ratio B / A, and
whether the two are equal (within 1e-9 relative). Verdict columns (``verdict``,
``prediction_holds``, ...) are compared for agreement. Whether a difference is *within noise*
needs the spread between two identical arms (the study's A/A arm): when a build holds the
study's tables (``study/effects.csv``, its A/A band of a cycle-time ratio) or
``study/noise.json`` with ``{"aa_log_ratio_halfwidth": h}``, a cell is within the combined
noise when ``|log(B / A)| <= sqrt(h_A^2 + h_B^2)``; without them the noise floor is reported as
unknown, never guessed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `nrm` commands start without pandas
    import pandas as pd

from nrm import paths
from nrm.exceptions import LogError, ParameterError

__all__ = ["BuildComparison", "compare_builds", "explain_headlines", "resolve_build"]

#: Columns that identify a row (when present), in order of preference.
KEY_COLUMNS = ("run", "comparison", "hypothesis", "statistic", "quantity", "condition", "y",
               "x", "scope", "role", "method", "fraction", "phase", "name", "test", "rule",
               "parameter", "milestone")
#: Columns holding a verdict (compared for agreement, not as numbers).
VERDICT_COLUMNS = ("verdict", "prediction_holds", "classification", "synergy", "status")
RTOL = 1e-9


def resolve_build(path: str | Path, scale: str | None = None) -> Path:
    """The folder holding ``phase1a/`` and ``phase1b/`` for a build folder (see module doc)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ParameterError(f"build folder {p} does not exist")
    if (p / "phase1a").is_dir() or (p / "phase1b").is_dir():
        return p
    base = paths.Build(p, scale or "").analyses
    if scale is not None:
        if (paths.Build(p, scale).analysis / "phase1a").is_dir():
            return paths.Build(p, scale).analysis
        raise ParameterError(f"{p} has no tables for scale {scale!r} ({base / scale})")
    found = sorted(d for d in base.glob("*") if (d / "phase1a").is_dir()) if base.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise ParameterError(f"{p} holds no analysis tables (expected phase1a/ or "
                             "data/analysis/<scale>/phase1a/)")
    raise ParameterError(f"{p} holds tables of several scales ({', '.join(d.name for d in found)}"
                         "); choose one with --scale")


def _read_table(path: Path) -> pd.DataFrame:
    """One analysis table; a file that is not a readable CSV is a :class:`LogError` naming it."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (UnicodeDecodeError, ValueError) as exc:  # pandas' ParserError is a ValueError
        raise LogError(f"{path}: not a readable CSV table ({str(exc).splitlines()[0][:120]}); "
                       "re-make the build's analysis (make paper)") from None


def _tables(folder: Path) -> dict[str, Path]:
    return {f"{f.parent.name}/{f.stem}": f for f in sorted(folder.glob("phase1*/*.csv"))}


def noise_halfwidth(folder: Path) -> float | None:
    """Half-width of the A/A noise of log(ratio) in a build, or None (unknown).

    Read from ``study/noise.json`` (``{"aa_log_ratio_halfwidth": h}``) when present, else from
    the causal study's ``study/effects.csv`` (nrm.study.analysis): the median over its arms of
    ``max(|log band_lo|, |log band_hi|)``, the A/A band of a cycle-time ratio.
    """
    import numpy as np
    import pandas as pd

    for base in (folder / paths.STUDY_ANALYSIS, folder.parent / paths.STUDY_ANALYSIS):
        cand = base / "noise.json"
        if cand.is_file():
            try:
                h = json.loads(cand.read_text(encoding="utf-8")).get("aa_log_ratio_halfwidth")
            except (OSError, ValueError):
                return None
            return float(h) if h is not None else None
        eff = base / "effects.csv"
        if eff.is_file():
            try:
                df = pd.read_csv(eff)
                lo = pd.to_numeric(df["band_lo"], errors="coerce")
                hi = pd.to_numeric(df["band_hi"], errors="coerce")
            except (OSError, ValueError, KeyError):
                return None
            ok = (lo > 0) & (hi > 0)
            if not ok.any():
                return None
            widths = np.maximum(np.abs(np.log(lo[ok])), np.abs(np.log(hi[ok])))
            return float(np.median(widths))
    return None


def _scale_of(folder: Path) -> str | None:
    m = folder / "phase1a" / "manifest.json"
    try:
        runs = json.loads(m.read_text(encoding="utf-8")).get("runs", {})
    except (OSError, ValueError):
        return None
    for r in runs.values():
        parts = Path(str(r.get("path", ""))).parts
        if len(parts) >= 2:
            return parts[-2]
    return None


def _keyed(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    keys = [c for c in KEY_COLUMNS if c in df.columns and c not in VERDICT_COLUMNS]
    out = df.copy()
    if keys:
        out[keys] = out[keys].astype(str)
        out["_occurrence"] = out.groupby(keys, sort=False).cumcount()
    else:
        out["_occurrence"] = range(len(out))
    return out, [*keys, "_occurrence"]


def _numeric(s: pd.Series) -> pd.Series:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return pd.Series(np.nan, index=s.index)
    return pd.to_numeric(s, errors="coerce")


@dataclass
class BuildComparison:
    a: Path
    b: Path
    summary: pd.DataFrame  # one row per table
    cells: pd.DataFrame  # every differing numeric cell and every verdict pair
    noise: float | None  # combined A/A half-width of log(ratio), None: unknown
    explained: pd.DataFrame | None = None  # explain_headlines(a, b); None: no unit costs
    explain_note: str = ""

    @property
    def n_differences(self) -> int:
        return int(self.summary["cells_differing"].sum() + self.summary["verdicts_differing"].sum()
                   + self.summary["rows_only_in_one"].sum() + self.summary["missing"].sum())

    def report(self, max_cells: int = 20) -> str:
        from nrm.render.text import table

        noise = ("unknown (neither build records an A/A arm)" if self.noise is None
                 else f"|log ratio| <= {self.noise:.3g} (combined A/A arms)")
        lines = [f"A: {self.a}", f"B: {self.b}", f"noise floor: {noise}", "",
                 table(self.summary), ""]
        diff = self.cells[self.cells["differs"]]
        if len(diff):
            lines += [f"{len(diff)} differing cells (largest |log ratio| first, at most "
                      f"{max_cells}):", "", table(diff.head(max_cells)), ""]
        lines.append("no differences" if self.n_differences == 0 else
                     f"{self.n_differences} differences")
        lines += ["", "what the unit costs explain (predict/own_runs.csv x "
                  "predict/unit_costs.csv; first order):"]
        if self.explained is None:
            lines.append(f"  not computable: {self.explain_note}")
        else:
            lines += [table(self.explained), "", EXPLAIN_NOTE]
        return "\n".join(lines)


def compare_builds(a: str | Path, b: str | Path, *, scale: str | None = None) -> BuildComparison:
    """Compare every analysis table of build ``a`` with build ``b``."""
    import numpy as np
    import pandas as pd

    fa, fb = resolve_build(a, scale), resolve_build(b, scale)
    ta, tb = _tables(fa), _tables(fb)
    ha, hb = noise_halfwidth(fa), noise_halfwidth(fb)
    noise = math.hypot(ha, hb) if ha is not None and hb is not None else None
    rows: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            rows.append({"table": name, "rows": 0, "rows_only_in_one": 0, "cells": 0,
                         "cells_differing": 0, "median_ratio": math.nan, "min_ratio": math.nan,
                         "max_ratio": math.nan, "verdicts_agree": "—", "verdicts_differing": 0,
                         "within_noise": "—", "missing": 1,
                         "note": f"only in {'A' if name in ta else 'B'}"})
            continue
        da, ka = _keyed(_read_table(ta[name]))
        db, _ = _keyed(_read_table(tb[name]))
        merged = da.merge(db, on=ka, how="outer", suffixes=("__a", "__b"), indicator=True)
        both = merged[merged["_merge"] == "both"]
        only = int((merged["_merge"] != "both").sum())
        shared = [c for c in da.columns if c in db.columns and c not in ka]
        n_cells = n_diff = 0
        ratios: list[float] = []
        v_agree = v_total = 0
        inside = outside = 0
        for col in shared:
            va, vb = both[f"{col}__a"], both[f"{col}__b"]
            if col in VERDICT_COLUMNS:
                for idx in both.index:
                    x, y = str(va[idx]), str(vb[idx])
                    v_total += 1
                    v_agree += x == y
                    cells.append({"table": name, "row": _row_label(both.loc[idx], ka),
                                  "column": col, "a": x, "b": y, "ratio": math.nan,
                                  "differs": x != y, "within_noise": "—"})
                continue
            na, nb = _numeric(va), _numeric(vb)
            if na.notna().sum() == 0 and nb.notna().sum() == 0:
                continue  # a text column
            for idx in both.index:
                x, y = na[idx], nb[idx]
                if pd.isna(x) and pd.isna(y):
                    continue
                n_cells += 1
                same = (not pd.isna(x) and not pd.isna(y)
                        and math.isclose(float(x), float(y), rel_tol=RTOL, abs_tol=1e-12))
                ratio = (float(y) / float(x) if not pd.isna(x) and not pd.isna(y) and x != 0
                         else math.nan)
                if math.isfinite(ratio):
                    ratios.append(ratio)
                verdict = "—"
                if noise is not None and ratio > 0:
                    ok = abs(math.log(ratio)) <= noise
                    inside += ok
                    outside += not ok
                    verdict = "yes" if ok else "no"
                if not same:
                    n_diff += 1
                    cells.append({"table": name, "row": _row_label(both.loc[idx], ka),
                                  "column": col, "a": x, "b": y, "ratio": ratio, "differs": True,
                                  "within_noise": verdict})
        pos = [r for r in ratios if r > 0]
        rows.append({
            "table": name, "rows": len(both), "rows_only_in_one": only, "cells": n_cells,
            "cells_differing": n_diff,
            "median_ratio": float(np.median(ratios)) if ratios else math.nan,
            "min_ratio": min(ratios) if ratios else math.nan,
            "max_ratio": max(ratios) if ratios else math.nan,
            "verdicts_agree": f"{v_agree}/{v_total}" if v_total else "—",
            "verdicts_differing": v_total - v_agree,
            "within_noise": (f"{inside}/{inside + outside}" if noise is not None and pos
                             else "unknown"),
            "missing": 0, "note": "",
        })
    summary = pd.DataFrame(rows)
    cell_df = pd.DataFrame(cells, columns=["table", "row", "column", "a", "b", "ratio",
                                           "differs", "within_noise"])
    if len(cell_df):
        key = cell_df["ratio"].map(lambda r: -abs(math.log(r)) if r and r > 0 else 0.0)
        cell_df = cell_df.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k")
        cell_df = cell_df.reset_index(drop=True)
    explained, why = explain_headlines(fa, fb)
    return BuildComparison(fa, fb, summary, cell_df, noise, explained, why)


#: The headline comparisons as ratios of two runs' runtimes (numerator, denominator).
HEADLINES = {"C256 / C255 (unoptimized)": ("C256-unoptimized", "C255-unoptimized"),
             "caching, same experiment (C256 unopt. / C256 opt.)": ("C256-unoptimized",
                                                                     "C256-optimized"),
             "caching, the paper's design (C256 unopt. / C257 opt.)": ("C256-unoptimized",
                                                                        "C257-optimized")}
EXPLAIN_NOTE = ("measured: the ratio of the two runs' runtimes in each build; explained: the "
                "change of that ratio when build A's runs (their work counts) are priced with "
                "build B's unit costs instead of A's; gap: the change the unit costs leave "
                "unexplained (measured change / explained change; 1 = fully explained). "
                "n = 1 run per build and arm: a guide, not a test.")
_TERMS = ("samples", "evolve_calls", "registry_x_agents", "pairs_tested", "spawns")


def _priced(run: pd.Series, costs: dict[str, float]) -> float:
    """A run's first-order predicted runtime: its work totals x ``costs`` (unit_costs.csv)."""
    medium, kind = str(run["medium"]), str(run["metrics"])
    rest = costs.get(f"sample_rest_{kind}@{medium}",
                     next((v for k, v in costs.items() if k.startswith("sample_rest_")), 0.0))
    t = float(run["samples"]) * (float(run["cpu_interval"]) + rest)
    t += float(run["commits"]) * costs.get(f"commit_{medium}", costs.get("commit_disk", 0.0))
    t += float(run["cycles"]) * (costs.get("cycle", 0.0) + costs.get("outside", 0.0))
    return t + sum(float(run[k]) * costs.get(k, 0.0) for k in _TERMS)


def explain_headlines(a: Path, b: Path) -> tuple[pd.DataFrame | None, str]:
    """For each headline ratio: its measured value in A and B, A's and B's commit cost and
    sample cost beside each other, and how much of the change from A to B the unit costs
    explain (:data:`EXPLAIN_NOTE`). (None, why) when a build has no prediction tables."""
    import pandas as pd

    own, costs = {}, {}
    for name, folder in (("A", a), ("B", b)):
        f_runs, f_costs = folder / "predict" / "own_runs.csv", folder / "predict" / "unit_costs.csv"
        if not (f_runs.is_file() and f_costs.is_file()):
            return None, (f"build {name} ({folder}) has no predict/own_runs.csv and "
                          "predict/unit_costs.csv (a build made before the prediction step)")
        own[name] = _read_table(f_runs).set_index("run")
        c = _read_table(f_costs)
        costs[name] = dict(zip(c["name"].astype(str), c["estimate"].astype(float), strict=True))
    rows = []
    for label, (num_run, den_run) in HEADLINES.items():
        if not all(r in own[x].index for r in (num_run, den_run) for x in ("A", "B")):
            continue
        ra, rb = own["A"], own["B"]
        meas_a = float(ra.loc[num_run, "measured_s"] / ra.loc[den_run, "measured_s"])
        meas_b = float(rb.loc[num_run, "measured_s"] / rb.loc[den_run, "measured_s"])
        pred_aa = _priced(ra.loc[num_run], costs["A"]) / _priced(ra.loc[den_run], costs["A"])
        pred_ab = _priced(ra.loc[num_run], costs["B"]) / _priced(ra.loc[den_run], costs["B"])
        explained = pred_ab / pred_aa
        change = meas_b / meas_a
        rows.append({"headline": label, "measured A": meas_a, "measured B": meas_b,
                     "change B / A": change, "explained by the unit costs": explained,
                     "gap (unexplained)": change / explained,
                     "commit ms A": 1e3 * costs["A"].get("commit_disk", math.nan),
                     "commit ms B": 1e3 * costs["B"].get("commit_disk", math.nan)})
    if not rows:
        return None, "the builds share none of the headline runs"
    return pd.DataFrame(rows), ""


def _row_label(row: pd.Series, keys: list[str]) -> str:
    parts = [str(row[k]) for k in keys if k != "_occurrence"]
    occ = int(row["_occurrence"])
    return " / ".join(parts) + (f" #{occ + 1}" if occ else "") if parts else f"row {occ + 1}"


# --------------------------------------------------------------------------- command line
