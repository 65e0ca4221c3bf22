"""The paper's headline comparisons as the causal study repeated them (``headline.csv``).

The study (:mod:`nrm.study.sweep`) runs the paper's pairs in its randomized blocks, each with at
least five repeats at default scale: C255 against C256 (the paper's "variance"), C256 optimized
against C256 unoptimized (caching the metrics, same experiment) and C257 optimized against
C256 unoptimized (the paper's own design). ``headline.csv`` states each as the ratio of the
arm's cycle time to the base's (C256 unoptimized), with a 95 % block-bootstrap CI, the A/A
noise band and a verdict. :func:`load` turns those ratios into the paper's quantities:

- variance: how much longer C256 ran than C255, ``(1/r - 1) * 100`` %;
- speedup: base time over arm time, ``1/r``.

Both are decreasing in ``r``, so a CI ``[lo, hi]`` on ``r`` becomes ``[f(hi), f(lo)]``, and
the A/A band likewise. The verdict words follow the study's: "within noise" when the CI
overlaps the A/A band, "not testable" with fewer than three paired blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nrm.stats.verdict import NOT_TESTABLE_HERE, WITHIN_NOISE, is_testable

__all__ = ["COMPARISONS", "Repeated", "load"]


@dataclass(frozen=True)
class Comparison:
    key: str
    arm: str
    label: str
    kind: str  # "variance" | "speedup"


COMPARISONS = (
    Comparison("variance", "C255-unoptimized",
               "C256 unoptimized against C255 unoptimized (runtime difference)", "variance"),
    Comparison("speedup_same", "C256-optimized",
               "caching the metrics, same experiment (C256 unoptimized / C256 optimized)",
               "speedup"),
    Comparison("speedup_design", "C257-optimized",
               "caching the metrics, the paper's design (C256 unoptimized / C257 optimized)",
               "speedup"),
)


def _f(kind: str, r: float) -> float:
    if not (isinstance(r, float) and math.isfinite(r)) or r <= 0:
        return math.nan
    return (1 / r - 1) * 100 if kind == "variance" else 1 / r


@dataclass(frozen=True)
class Repeated:
    """One headline comparison, repeated: value with its 95 % CI and the A/A band, in the
    paper's units (% for the variance, × for a speedup)."""

    key: str
    label: str
    kind: str
    value: float
    lo: float
    hi: float
    band_lo: float
    band_hi: float
    n: int
    n_aa: int
    cycles: float
    verdict: str  # the study's words, re-oriented: see :attr:`finding`

    @property
    def unit(self) -> str:
        return "%" if self.kind == "variance" else "×"

    @property
    def within_noise(self) -> bool:
        return self.verdict == WITHIN_NOISE

    @property
    def testable(self) -> bool:
        return is_testable(self.verdict)

    @property
    def finding(self) -> str:
        """The verdict in the comparison's own terms."""
        if not self.testable:
            return f"{NOT_TESTABLE_HERE}: too few paired blocks"
        if self.within_noise:
            return WITHIN_NOISE
        if self.kind == "variance":
            return "C256 longer" if self.value > 0 else "C256 shorter"
        return "faster" if self.value > 1 else "slower"

    def value_text(self) -> str:
        """'+12.3 %' (variance) or '4.21×' (speedup)."""
        from nrm.render.text import num

        return f"{self.value:+.1f} %" if self.kind == "variance" else f"{num(self.value)}×"

    def range_text(self, lo: float, hi: float) -> str:
        """'+4.1 to +20.0 %' (variance) or '4.10–4.33×' (speedup)."""
        from nrm.render.text import num

        return (f"{lo:+.1f} to {hi:+.1f} %" if self.kind == "variance"
                else f"{num(lo)}–{num(hi)}×")

    def text(self) -> str:
        """'+12.3 % (95 % CI +4.1 to +20.0 %; n = 5 blocks; A/A band -8.0 to +9.1 %; within
        noise)'."""
        return (f"{self.value_text()} (95 % CI {self.range_text(self.lo, self.hi)}; n = "
                f"{self.n} blocks; A/A band {self.range_text(self.band_lo, self.band_hi)}; "
                f"{self.finding})")


def _num(row: pd.Series, col: str) -> float:
    try:
        v = float(row[col])
    except (KeyError, TypeError, ValueError):
        return math.nan
    return v


def load(folder: str | Path | None) -> dict[str, Repeated]:
    """The repeated headline comparisons from ``folder/headline.csv`` (the study's analysis
    folder), keyed as in :data:`COMPARISONS`; {} when there is no such table."""
    if folder is None:
        return {}
    path = Path(folder) / "headline.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return {}
    if "arm" not in df:
        return {}
    out: dict[str, Repeated] = {}
    for c in COMPARISONS:
        rows = df[df["arm"] == c.arm]
        if rows.empty:
            continue
        r = rows.iloc[0]
        ratio, lo, hi = _num(r, "ratio"), _num(r, "lo"), _num(r, "hi")
        blo, bhi = _num(r, "band_lo"), _num(r, "band_hi")
        n = _num(r, "n")
        n_aa = _num(r, "n_aa")
        verdict: Any = r.get("verdict", "")
        out[c.key] = Repeated(
            c.key, c.label, c.kind, _f(c.kind, ratio), _f(c.kind, hi), _f(c.kind, lo),
            _f(c.kind, bhi), _f(c.kind, blo), 0 if math.isnan(n) else int(n),
            0 if math.isnan(n_aa) else int(n_aa), _num(r, "cycles"),
            "" if not isinstance(verdict, str) else verdict)
    return out
