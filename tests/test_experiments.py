"""The experiment registry and the synergy analysis."""

from __future__ import annotations

import math

import pytest

from nrm.exceptions import UnknownExperimentError
from nrm.sim.conditions import CONDITIONS
from nrm.sim.experiments import EXPERIMENTS, get_experiment, population_summary, synergy
from nrm.sim.model import Mechanisms


def test_registry_matches_the_spec() -> None:
    assert list(EXPERIMENTS) == ["C255", "C256", "C257", "C258", "C259", "C260"]
    assert get_experiment("c256").mechanisms == ("pooling", "throttling")
    assert get_experiment("C259").mechanisms == ("sources", "recovery")  # as designed
    assert "pooling x recovery" in get_experiment("C259").note
    for e in EXPERIMENTS.values():
        assert (e.cycles, e.max_agents, e.root_energy, e.cooldown) == (3000, 100, 130.0, 100)
    assert [EXPERIMENTS[k].paper_variant for k in EXPERIMENTS] == ["unoptimized"] * 2 + [
        "optimized"
    ] * 4


def test_conditions_switch_first_and_second_mechanism() -> None:
    e = get_experiment("C258")
    assert e.mechanisms_for("OFF-OFF") == Mechanisms()
    assert e.mechanisms_for("ON-OFF") == Mechanisms(sources=True)
    assert e.mechanisms_for("OFF-ON") == Mechanisms(throttling=True)
    assert e.mechanisms_for("on-on") == Mechanisms(sources=True, throttling=True)
    with pytest.raises(UnknownExperimentError, match="valid: OFF-OFF"):
        e.mechanisms_for("ON")
    with pytest.raises(UnknownExperimentError, match="C255"):
        get_experiment("C261")


def _means(off: float, a: float, b: float, both: float) -> dict[str, float]:
    return dict(zip(CONDITIONS, (off, a, b, both), strict=True))


def test_synergy_hand_computed() -> None:
    s = synergy(_means(10.0, 14.0, 12.0, 20.0))
    assert s["effect_a"] == 4.0 and s["effect_b"] == 2.0 and s["additive"] == 16.0
    assert s["synergy"] == 4.0 and s["fold_change"] == 2.0
    assert s["classification"] == "SYNERGISTIC"


@pytest.mark.parametrize(
    "both, cls",
    [
        (0.1000001, "SYNERGISTIC"),
        (0.1, "ADDITIVE"),
        (0.0, "ADDITIVE"),
        (-0.1, "ADDITIVE"),
        (-0.1000001, "ANTAGONISTIC"),
    ],
)
def test_synergy_thresholds_at_plus_minus_point_one(both: float, cls: str) -> None:
    # additive prediction is exactly 0 here; the class flips only strictly beyond +-0.1
    s = synergy(_means(0.0, 0.0, 0.0, both))
    assert s["classification"] == cls, s["synergy"]


def test_synergy_edge_cases() -> None:
    assert synergy(_means(0.0, 1.0, 1.0, 3.0))["fold_change"] == math.inf
    assert synergy({"OFF-OFF": 1.0})["classification"] is None
    assert population_summary([1, 3, 2]) == {"mean": 2.0, "final": 2, "max": 3}
