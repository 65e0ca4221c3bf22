"""The registry of the six experiments (C255-C260), their conditions and the synergy analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nrm.exceptions import UnknownExperimentError
from nrm.sim.conditions import CONDITIONS, check_condition
from nrm.sim.model import DEFAULT_CYCLES, Mechanisms, ModelParams

SYNERGY_THRESHOLD = 0.1


@dataclass(frozen=True)
class Experiment:
    id: str
    mechanisms: tuple[str, str]
    paper_variant: str  # how the paper ran it: "unoptimized" or "optimized"
    role: str
    note: str = ""
    cycles: int = DEFAULT_CYCLES
    max_agents: int = ModelParams.max_agents
    root_energy: float = ModelParams.root_energy
    cooldown: int = ModelParams.cooldown
    #: "as designed" (what the paper describes) or "as run" (what the original script did)
    design: str = "as designed"
    #: for a variant of an experiment (e.g. C259-as-run): the experiment it is a variant of
    variant_of: str | None = None

    def mechanisms_for(self, condition: str) -> Mechanisms:
        condition = check_condition(condition)
        a_on, b_on = (part == "ON" for part in condition.split("-"))
        flags = {self.mechanisms[0]: a_on, self.mechanisms[1]: b_on}
        return Mechanisms(**flags)


EXPERIMENTS: dict[str, Experiment] = {
    e.id: e
    for e in (
        Experiment(
            "C255",
            ("pooling", "sources"),
            "unoptimized",
            "unoptimized baseline; the paper's 'expected' runtime of C256",
        ),
        Experiment(
            "C256",
            ("pooling", "throttling"),
            "unoptimized",
            "unoptimized; the paper's slow run (34.5 h reported)",
        ),
        Experiment("C257", ("pooling", "recovery"), "optimized", "optimized"),
        Experiment("C258", ("sources", "throttling"), "optimized", "optimized"),
        Experiment(
            "C259",
            ("sources", "recovery"),
            "optimized",
            "optimized",
            note="built as designed (sources x recovery); the original C259 script had no "
            "sources step and its first flag switched on pooling, so as run it was a second "
            "pooling x recovery (select it as C259-as-run)",
        ),
        Experiment("C260", ("throttling", "recovery"), "optimized", "optimized"),
    )
}


#: Named variants of the six experiments, selectable like them (``nrm run C259-as-run``,
#: the notebooks' ``experiment`` parameter). Not in :data:`EXPERIMENTS`, which stays the
#: paper's design.
AS_RUN: dict[str, Experiment] = {
    e.id: e
    for e in (
        Experiment(
            "C259-as-run",
            ("pooling", "recovery"),
            "optimized",
            "C259 as the original script ran it",
            note="the original C259 script had no sources step and its first flag switched "
            "on pooling, so it ran pooling x recovery (the mechanisms of C257), not the "
            "designed sources x recovery (experiment C259)",
            design="as run",
            variant_of="C259",
        ),
    )
}

#: Every selectable experiment: the paper's six, then the named variants.
ALL_EXPERIMENTS: dict[str, Experiment] = {**EXPERIMENTS, **AS_RUN}
_BY_KEY: dict[str, Experiment] = {k.upper(): e for k, e in ALL_EXPERIMENTS.items()}


def get_experiment(exp_id: str) -> Experiment:
    key = exp_id.strip().upper()
    if key not in _BY_KEY:
        raise UnknownExperimentError(
            f"unknown experiment {exp_id!r}; valid: {', '.join(ALL_EXPERIMENTS)} "
            "(see `nrm experiments`)"
        )
    return _BY_KEY[key]


def population_summary(history: list[int]) -> dict[str, float | int | None]:
    if not history:
        return {"mean": None, "final": None, "max": None}
    return {"mean": sum(history) / len(history), "final": history[-1], "max": max(history)}


def synergy(means: dict[str, float]) -> dict[str, float | str | None]:
    """The original scripts' synergy analysis on mean population (needs all four conditions)."""
    if any(c not in means or means[c] is None for c in CONDITIONS):
        return {"classification": None, "note": "needs all four conditions"}
    off, a, b, both = (float(means[c]) for c in CONDITIONS)
    effect_a = a - off
    effect_b = b - off
    additive = off + effect_a + effect_b
    syn = both - additive
    fold = both / off if off != 0 else math.inf
    if syn > SYNERGY_THRESHOLD:
        cls = "SYNERGISTIC"
    elif syn < -SYNERGY_THRESHOLD:
        cls = "ANTAGONISTIC"
    else:
        cls = "ADDITIVE"
    return {
        "effect_a": effect_a,
        "effect_b": effect_b,
        "additive": additive,
        "synergy": syn,
        "fold_change": fold,
        "classification": cls,
    }
