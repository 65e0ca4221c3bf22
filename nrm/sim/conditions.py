"""The four conditions of every experiment: its two mechanisms off or on (a leaf module: the
metrics sources check a trace's conditions without importing the experiments)."""

from __future__ import annotations

from nrm.exceptions import UnknownExperimentError

CONDITIONS = ("OFF-OFF", "ON-OFF", "OFF-ON", "ON-ON")


def check_condition(condition: str) -> str:
    c = condition.strip().upper()
    if c not in CONDITIONS:
        raise UnknownExperimentError(
            f"unknown condition {condition!r}; valid: {', '.join(CONDITIONS)} "
            "(first ON/OFF is the experiment's first mechanism)"
        )
    return c
