"""Runtime predicted from the model's work counts and measured unit costs (issue #24).

- :mod:`nrm.predict.counts`: the work a run does, cycle by cycle, from the model's dynamics
  alone (a counting run: costs off, dynamics unchanged), cached in ``data/predict/``;
- :mod:`nrm.predict.unitcosts`: seconds per unit of work, fitted from run folders' cycles.csv
  with :func:`nrm.stats.drift.drift` (HAC intervals), with the machine they were measured on;
- :mod:`nrm.predict.model`: prediction = counts x unit costs with intervals, validation on
  held-out runs, the paper's comparisons at the paper's parameters.
"""
