"""Building the paper: the doit pipeline, estimates, budgets, benchmarks, reproduction, notebooks,
HTML check."""
