"""The interval of a held-out validation's median absolute error (issue #24).

The held-out runs' errors ``predicted / measured - 1`` are observed; what is uncertain about
their median absolute error is (a) the fitted unit costs, which every prediction shares, and
(b) which runs happened to be held out. A percentile bootstrap covers both at once: each
replicate

- draws every fit's coefficients from a normal with the fit's HAC covariance, scaled by
  ``(critical / z)²`` so that a coefficient's marginal interval is the fit's own (fixed-b or
  Student t, not the normal's), the fits independently of one another (they use different
  columns of the cycles, as :mod:`nrm.predict.model` assumes for a prediction's variance);
- recomputes every held-out prediction from its work counts (a prediction is linear in the
  coefficients: :class:`nrm.predict.model.Linear`);
- draws the held-out runs with replacement and takes the median of their absolute errors.

What it leaves out, on purpose: the spread of a new run's commit and sample costs between runs
(``Linear.extra_var``, in each run's own prediction interval). A held-out run's own deviation
is already in its measured runtime, so its error shows it; counting it again would make the
interval say how wrong the prediction of *one more* run could be, not how well the runs at hand
were predicted. What it does not cover: another machine or another day (the replication gap of
``nrm.build.compare``), nor a scale none of the held-out runs has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from nrm.exceptions import ParameterError
from nrm.predict.model import Linear
from nrm.predict.unitcosts import Fit

__all__ = ["REPLICATES", "SEED", "median_error_interval"]

#: Bootstrap replicates and their seed (fixed: the same tables give the same interval).
REPLICATES = 4000
SEED = 24


def _draws(fit: Fit, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` x k draws of ``fit``'s coefficients (module docstring)."""
    k = len(fit.names)
    z = float(stats.norm.ppf(0.975))
    scale = fit.critical / z if fit.critical > 0 and math.isfinite(fit.critical) else 1.0
    cov = np.asarray(fit.cov, dtype=float).reshape(k, k) * scale * scale
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # a HAC covariance's tiny negative roots
    return np.asarray(fit.beta, dtype=float) + rng.standard_normal((reps, k)) @ root.T


def median_error_interval(totals: Sequence[Linear], fits: Mapping[str, Fit],
                          measured: Sequence[float], *, level: float = 0.95,
                          reps: int = REPLICATES, seed: int = SEED) -> tuple[float, float]:
    """The percentile interval (``level``) of the median absolute error of the predictions
    ``totals`` (each a run's whole predicted time, over ``fits``) against ``measured``
    (seconds), as fractions (module docstring)."""
    n = len(totals)
    if n == 0 or n != len(measured):
        raise ParameterError(f"{n} predictions against {len(measured)} measured runtimes")
    meas = np.asarray(measured, dtype=float)
    if not (np.isfinite(meas).all() and (meas > 0).all()):
        raise ParameterError("a measured runtime is not a positive number of seconds")
    if not 0 < level < 1 or reps < 100:
        raise ParameterError(f"need 0 < level < 1 and at least 100 replicates, got {level}, "
                             f"{reps}")
    rng = np.random.default_rng(seed)
    pred = np.tile(np.array([t.constant for t in totals], dtype=float), (reps, 1))
    for key in sorted({k for t in totals for k in t.weights}):
        fit = fits[key]
        a = np.array([[t.weights.get(key, {}).get(name, 0.0) for name in fit.names]
                      for t in totals])  # n x k
        if not a.any():
            continue
        pred += _draws(fit, reps, rng) @ a.T
    err = np.abs(pred / meas - 1.0)
    pick = rng.integers(0, n, size=(reps, n))
    med = np.median(np.take_along_axis(err, pick, axis=1), axis=1)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(med, [tail, 100 - tail])
    return float(lo), float(hi)
