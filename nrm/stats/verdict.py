"""The verdict vocabulary, defined once: the paper's runtime hypotheses and the words a verdict
on one of them may be. Every verdict in the compendium (the H1-H5 rules of a run, the study's
intervals and effects, the controls, a watch, the paper) is spelled with these constants.

- :data:`SUPPORTED` / :data:`NOT_SUPPORTED`: a run's rule test (and a watch) met / did not
  meet its rule (docs/hypothesis-rules.md);
- :data:`REFUTED`: an interval lies wholly on the side opposite the prediction;
- :data:`WITHIN_NOISE`: an interval covers 0 or overlaps the A/A noise band;
- :data:`EQUIVALENT`: an equivalence test: no effect larger than the margin m;
- :data:`HOLDS` / :data:`DOES_NOT_HOLD` / :data:`UNDECIDED` (:data:`VERDICTS`): a paper
  prediction "value > threshold" decided by its confidence interval (:func:`threshold_verdict`);
- :data:`NOT_TESTABLE`: the data cannot decide (a missing sensor, too few rows or blocks); with a
  reason it reads ``"not testable: REASON"`` (:func:`not_testable`). The causal study (and the
  controls it judges) writes :data:`NOT_TESTABLE_HERE`, the same word qualified: the study's
  design could not decide it on this machine. The shipped reference build's study tables and
  the README generated from them carry that wording, so it is kept; :func:`is_testable` reads
  every form.
"""

from __future__ import annotations

import math

__all__ = [
    "DOES_NOT_HOLD",
    "EQUIVALENT",
    "HOLDS",
    "HYPOTHESES",
    "NOT_SUPPORTED",
    "NOT_TESTABLE",
    "NOT_TESTABLE_HERE",
    "REFUTED",
    "SUPPORTED",
    "UNDECIDED",
    "VERDICTS",
    "WITHIN_NOISE",
    "combine_pieces",
    "is_testable",
    "not_testable",
    "threshold_verdict",
]

#: The paper's runtime hypotheses (never the model's mechanisms).
HYPOTHESES: dict[str, str] = {
    "H1": "resource contention",
    "H2": "memory fragmentation",
    "H3": "I/O accumulation",
    "H4": "thermal throttling",
    "H5": "emergent complexity",
}

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
REFUTED = "refuted"
WITHIN_NOISE = "within noise"
EQUIVALENT = "no effect larger than m"
NOT_TESTABLE = "not testable"
NOT_TESTABLE_HERE = f"{NOT_TESTABLE} here"
HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
UNDECIDED = "undecided"
#: The three answers to "does the value exceed the threshold?".
VERDICTS = (HOLDS, DOES_NOT_HOLD, UNDECIDED)


def not_testable(reason: str) -> str:
    """``"not testable: REASON"``."""
    return f"{NOT_TESTABLE}: {reason}"


def is_testable(verdict: str) -> bool:
    """Whether ``verdict`` is a decision (not empty, not any form of :data:`NOT_TESTABLE`)."""
    return bool(verdict) and not verdict.startswith(NOT_TESTABLE)


def threshold_verdict(value: float, ci_low: float, ci_high: float, threshold: float, *,
                      above: bool = True, p: float | None = None,
                      alpha: float = 0.05) -> str:
    """"holds", "does not hold" or "undecided" for a prediction "value > threshold" (or
    "< threshold" with ``above=False``), and "p < alpha" when ``p`` is given.

    The interval decides, not the point estimate: it holds only when the whole 95 % interval
    lies on the predicted side (and p < alpha); it does not hold when the whole interval lies
    on the other side, or p >= alpha with the interval on the predicted side; an interval that
    contains the threshold is "undecided". Without an interval (NaN bounds): "undecided".
    """
    lo, hi = float(ci_low), float(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)) or not math.isfinite(float(value)):
        return UNDECIDED
    lo, hi = min(lo, hi), max(lo, hi)
    t = float(threshold)
    on_side = lo > t if above else hi < t
    off_side = hi <= t if above else lo >= t
    if off_side:
        return DOES_NOT_HOLD
    if on_side:
        if p is not None and not (math.isfinite(float(p)) and float(p) < alpha):
            return DOES_NOT_HOLD
        return HOLDS
    return UNDECIDED


#: The verdicts a piece of evidence may carry into :func:`combine_pieces` (any form of
#: :data:`NOT_TESTABLE` too: "not testable: REASON", "not testable here").
PIECE_VERDICTS = (SUPPORTED, EQUIVALENT, REFUTED, WITHIN_NOISE)


def combine_pieces(pieces: dict[str, str]) -> tuple[str, str]:
    """One verdict on a hypothesis from several pieces of evidence that each test a part of it
    (H3: the long arms' latency drift at small databases, and the commit-latency curve up to the
    full run's size; docs/hypothesis-rules.md, "H3 from both pieces"), with the reason.

    - **supported** if any piece is supported (one part of the hypothesis shown is enough);
    - otherwise **not testable** if any piece is not testable (a part nobody tested can hide
      the effect), its reason kept;
    - **no effect larger than m** only if every piece's equivalence test passed;
    - **refuted** only if every piece is refuted;
    - **within noise** otherwise (the weaker of the pieces: neither shown nor ruled out).

    ``pieces``: name -> verdict; an empty mapping or a word outside :data:`PIECE_VERDICTS` and
    the not-testable forms raises :class:`ValueError`.
    """
    if not pieces:
        raise ValueError("combine_pieces needs at least one piece of evidence")
    for name, v in pieces.items():
        if is_testable(v) and v not in PIECE_VERDICTS:
            raise ValueError(f"piece {name!r}: {v!r} is not a verdict of a piece "
                             f"({', '.join(PIECE_VERDICTS)}, {NOT_TESTABLE})")
    shown = [n for n, v in pieces.items() if v == SUPPORTED]
    if shown:
        return SUPPORTED, f"{' and '.join(shown)} supported"
    untested = [n for n, v in pieces.items() if not is_testable(v)]
    if untested:
        why = "; ".join(f"{n}: " + (pieces[n].split(":", 1)[1].strip() if ":" in pieces[n]
                                     else pieces[n] or NOT_TESTABLE) for n in untested)
        return not_testable(why), why
    if all(v == EQUIVALENT for v in pieces.values()):
        return EQUIVALENT, "every piece's equivalence test passes"
    if all(v == REFUTED for v in pieces.values()):
        return REFUTED, "every piece lies below 0"
    return WITHIN_NOISE, "; ".join(f"{n}: {v}" for n, v in pieces.items())
