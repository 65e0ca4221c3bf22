"""The causal study: arms, plan, sweep on Dask, analysis, the H2 controls and the worker arms."""
