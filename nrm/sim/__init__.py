"""The NRM simulator: the model, its costs, metrics sources, persistence, experiments and wiring."""
