"""``nrm experiments`` and ``nrm variants``: the registries, printed."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    sub.add_parser("experiments", help="list the experiments C255-C260").set_defaults(
        handler=experiments
    )
    sub.add_parser("variants", help="list the cost presets").set_defaults(handler=variants)


def experiments(args: argparse.Namespace) -> int:
    from nrm.sim.experiments import ALL_EXPERIMENTS, EXPERIMENTS

    print(f"{'id':<13}{'mechanisms':<24}{'paper ran it':<14}role")
    for e in ALL_EXPERIMENTS.values():
        print(f"{e.id:<13}{' x '.join(e.mechanisms):<24}{e.paper_variant:<14}{e.role}")
        if e.note:
            print(f"{'':<13}note: {e.note}")
    d = EXPERIMENTS["C255"]  # every experiment has the paper's defaults
    print(f"defaults: {d.cycles} cycles per condition, {d.max_agents} agents, "
          f"root energy {d.root_energy:g}, cooldown {d.cooldown}")
    return 0


def variants(args: argparse.Namespace) -> int:
    from nrm.sim.costs import DESCRIPTIONS, PRESETS

    for name, costs in PRESETS.items():
        print(f"{name}: {DESCRIPTIONS[name]}")
        print("    " + ", ".join(f"{k}={v}" for k, v in costs.to_dict().items()))
    return 0
