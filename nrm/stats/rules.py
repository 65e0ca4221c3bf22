"""The one declared rule set for the paper's runtime hypotheses H1-H5 (docs/hypothesis-rules.md).

The paper states its tests in several mutually inconsistent forms (thresholds 0.3 vs 0.5, AND
vs OR for H4, different x variables). :data:`DEFAULT_RULES` is the single set this compendium
uses; every threshold and variable is a field, so a reader can pass their own
(``dataclasses.replace(DEFAULT_RULES, rho_threshold=0.5)``) and see how the verdicts move.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from nrm.exceptions import ParameterError

__all__ = [
    "DEFAULT_RULES",
    "HypothesisRules",
]



@dataclass(frozen=True)
class HypothesisRules:
    """Thresholds and variables of the H1-H5 tests. See docs/hypothesis-rules.md for why."""

    alpha: float = 0.05
    #: "robust": decide with the autocorrelation-robust p (Newey–West HAC for regressions,
    #: effective sample size for Spearman); "naive": with the textbook p (rows independent).
    p_value: Literal["robust", "naive"] = "robust"
    #: H1 and H4: |ρ| must exceed this (with the sign the mechanism predicts).
    rho_threshold: float = 0.3
    h1_variables: tuple[str, ...] = ("load1", "sys_cpu_pct")
    h2_variables: tuple[str, ...] = ("rss_bytes", "frag_ratio")
    h2_min_delta_r2: float = 0.1
    #: H2 also needs memory to grow: a net rise over the run (quadratic fit) and an upward
    #: linear trend with p < alpha. The paper predicts RSS *increasing* non-linearly; a
    #: rise-then-fall hump bends (large ΔR²) but is not fragmentation growth.
    h2_require_growth: bool = True
    #: H2 growth must also be material: a net rise above this fraction of the memory's level
    #: at the start (mean of the first tenth of its values). 0 = any rise counts (the
    #: default, as the paper). The H2 controls (nrm/study/controls.py) show why a reader may want
    #: one: a process's RSS creeps by ~0.3 MB while its probe and log warm up, and that
    #: creep alone can pass the other H2 conditions.
    h2_min_rel_rise: float = 0.0
    #: H3: (call count column, total call time column) pairs.
    h3_calls: tuple[tuple[str, str], ...] = (("samples", "sample_s"), ("commits", "commit_s"))
    h3_min_slope_ms_per_1000_calls: float = 0.001
    h3_min_r2: float | None = None
    h4_temperature: str = "cpu_temp_c"
    h4_frequency: str = "cpu_freq_mhz"
    h5_min_slope_ms_per_cycle: float = 0.01
    h5_min_r2: float = 0.3
    #: fewer usable rows than this → "not testable".
    min_points: int = 10
    #: Newey–West truncation lag; None = floor(4 (n/100)^(2/9)).
    hac_maxlags: int | None = None
    #: a residual lag-1 autocorrelation above this earns the note "OLS p optimistic".
    autocorr_note: float = 0.2

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ParameterError:
            return ParameterError(
                f"HypothesisRules.{name} = {getattr(self, name)!r}; expected {expected}"
            )

        if not 0 < self.alpha < 1:
            raise bad("alpha", "a probability in (0, 1)")
        if self.p_value not in ("robust", "naive"):
            raise bad("p_value", "'robust' or 'naive'")
        if not 0 <= self.rho_threshold < 1:
            raise bad("rho_threshold", "a value in [0, 1)")
        if not 0 <= self.h2_min_delta_r2 < 1:
            raise bad("h2_min_delta_r2", "a value in [0, 1)")
        if not (math.isfinite(self.h2_min_rel_rise) and self.h2_min_rel_rise >= 0):
            raise bad("h2_min_rel_rise", "a fraction >= 0")
        if self.h3_min_r2 is not None and not 0 <= self.h3_min_r2 < 1:
            raise bad("h3_min_r2", "None or a value in [0, 1)")
        if not 0 <= self.h5_min_r2 < 1:
            raise bad("h5_min_r2", "a value in [0, 1)")
        for name in ("h3_min_slope_ms_per_1000_calls", "h5_min_slope_ms_per_cycle"):
            if not math.isfinite(getattr(self, name)):
                raise bad(name, "a finite number (ms)")
        if self.min_points < 4:
            raise bad("min_points", "an integer >= 4")
        if self.hac_maxlags is not None and self.hac_maxlags < 0:
            raise bad("hac_maxlags", "None or an integer >= 0")
        if any(len(pair) != 2 for pair in self.h3_calls):
            raise bad("h3_calls", "pairs of (count column, time column)")

    @property
    def p_label(self) -> str:
        return "HAC / effective-n p" if self.p_value == "robust" else "textbook p"

    def criteria(self) -> dict[str, str]:
        """The criterion of each hypothesis in words, with this rule set's numbers."""
        a, r, p = self.alpha, self.rho_threshold, self.p_label
        h3_r2 = f" and R² > {self.h3_min_r2:g}" if self.h3_min_r2 is not None else ""
        floor = (
            f" above {self.h2_min_rel_rise:.0%} of its starting level"
            if self.h2_min_rel_rise > 0 else ""
        )
        growth = (
            f", and memory growing (net rise{floor}, upward trend with p < {a:g})"
            if self.h2_require_growth else ""
        )
        return {
            "H1": (
                f"Spearman ρ(elapsed time, load) > {r:g} with {p} < {a:g}, for any of "
                f"{', '.join(self.h1_variables)} (load rising)"
            ),
            "H2": (
                f"quadratic minus linear R² of memory vs cycle > {self.h2_min_delta_r2:g} and "
                f"{'HAC Wald p of the x² term' if self.p_value == 'robust' else 'nested F-test p'}"
                f" < {a:g}"
                f"{growth}"
                f", for any of {', '.join(self.h2_variables)}"
            ),
            "H3": (
                f"slope of per-call latency vs cumulative calls > "
                f"{self.h3_min_slope_ms_per_1000_calls:g} ms per 1000 calls with {p} < {a:g}"
                f"{h3_r2}, for any of {', '.join(c for c, _ in self.h3_calls)}"
            ),
            "H4": (
                f"Spearman ρ(elapsed time, {self.h4_temperature}) > {r:g} AND "
                f"ρ(elapsed time, {self.h4_frequency}) < −{r:g}, both with {p} < {a:g}"
            ),
            "H5": (
                f"slope of per-cycle wall time vs cycle > {self.h5_min_slope_ms_per_cycle:g} "
                f"ms/cycle, R² > {self.h5_min_r2:g} and {p} < {a:g}"
            ),
        }

    def to_frame(self) -> pd.DataFrame:
        """The rule set as a two-column table (rule, value) for the notebooks."""
        items = {
            k: (", ".join(map(str, v)) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
        }
        items["h3_calls"] = ", ".join(f"{c}/{t}" for c, t in self.h3_calls)
        return pd.DataFrame({"rule": list(items), "value": [str(v) for v in items.values()]})


DEFAULT_RULES = HypothesisRules()
