"""C259 as the original script ran it (pooling x recovery) next to C259 as designed
(sources x recovery): selectable by name, labelled in run.json, and really a different model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nrm.cli.main import main
from nrm.run.runner import RunSpec, run_experiment
from nrm.sim.conditions import CONDITIONS
from nrm.sim.costs import preset
from nrm.sim.experiments import AS_RUN, EXPERIMENTS, get_experiment
from nrm.sim.metrics import DEFAULT_FIXED, FixedSource
from nrm.sim.model import Mechanisms, ModelParams, Reality, Simulation

PARAMS = ModelParams(max_agents=12)
CYCLES = 60
#: a busy machine: little headroom, so energies stay below the 200 cap for the whole test
BUSY = DEFAULT_FIXED._replace(cpu_percent=97.0, mem_percent=97.0)


def _sim(mechanisms: Mechanisms) -> Simulation:
    costs = preset("lean")
    reality = Reality(FixedSource(BUSY, cpu_interval=0.0))  # the Simulation sets its sampling
    return Simulation(mechanisms, PARAMS, costs, reality, seed=0)


def _energies(sim: Simulation) -> list[tuple[str, float]]:
    return [(a.id, a.energy) for a in sim.agents]


def test_registry_and_lookup() -> None:
    e = get_experiment("c259-AS-RUN")
    assert e.id == "C259-as-run" and e.id in AS_RUN and e.id not in EXPERIMENTS
    assert e.mechanisms == ("pooling", "recovery") == get_experiment("C257").mechanisms
    assert get_experiment("C259").mechanisms == ("sources", "recovery")
    assert (e.design, e.variant_of) == ("as run", "C259")
    assert get_experiment("C259").design == "as designed"


def test_listed_by_nrm_experiments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("C259-as-run"))
    assert "pooling x recovery" in row
    assert "sources x recovery" in next(ln for ln in out.splitlines() if ln.startswith("C259 "))


def test_as_run_differs_from_designed_from_the_first_pooling_cycle() -> None:
    designed = get_experiment("C259").mechanisms_for("ON-OFF")
    as_run = get_experiment("C259-as-run").mechanisms_for("ON-OFF")
    assert designed == Mechanisms(sources=True) and as_run == Mechanisms(pooling=True)
    d, a, neither = _sim(designed), _sim(as_run), _sim(Mechanisms())
    first_pooling: int | None = None
    differs: list[bool] = []
    for cycle in range(CYCLES):
        d.step()
        a.step()
        neither.step()
        if first_pooling is None and _energies(a) != _energies(neither):
            first_pooling = cycle  # pooling moved energy for the first time
        differs.append(_energies(a) != _energies(d))
    assert first_pooling is not None, "pooling never acted: lengthen the test"
    # the designed run (sources) differs from cycle 0 on, so from the first pooling cycle on
    assert all(differs[first_pooling:])
    assert differs[0]


def _run(exp: str, out: Path) -> dict:
    # a sample per call (the unoptimized preset without its waits and SQLite), so the
    # designed run's sources step shows in the sample counts
    spec = RunSpec(
        exp, variant="unoptimized", cycles=30, max_agents=10, metrics="fixed", cpu_interval=0.0,
        costs={"sqlite": False},
    )
    return run_experiment(spec, out, progress=False)


def test_as_run_matches_pooling_x_recovery_and_is_labelled(tmp_path: Path) -> None:
    as_run = _run("C259-as-run", tmp_path / "as-run")
    c257 = _run("C257", tmp_path / "c257")  # pooling x recovery
    designed = _run("C259", tmp_path / "designed")
    assert as_run["experiment"] == "C259-as-run"
    assert (as_run["design"], as_run["variant_of"]) == ("as run", "C259")
    assert as_run["mechanisms"] == ["pooling", "recovery"]
    assert (designed["design"], designed["variant_of"]) == ("as designed", None)
    on_disk = json.loads((tmp_path / "as-run" / "run.json").read_text())
    assert on_disk["design"] == "as run"
    for cond in CONDITIONS:
        hist = as_run["conditions"][cond]["population_history"]
        assert hist == c257["conditions"][cond]["population_history"]
        assert as_run["conditions"][cond]["samples"] == c257["conditions"][cond]["samples"]
        assert as_run["conditions"][cond]["final_energies"] == (
            c257["conditions"][cond]["final_energies"]
        )
    # the first flag is pooling as run, sources as designed: OFF-* conditions are the same
    # model, ON-* are not (sources samples the machine once per agent and cycle)
    a, d = as_run["conditions"], designed["conditions"]
    for cond in ("OFF-OFF", "OFF-ON"):
        assert a[cond]["final_energies"] == d[cond]["final_energies"]
        assert a[cond]["samples"] == d[cond]["samples"]
    for cond in ("ON-OFF", "ON-ON"):
        assert a[cond]["samples"] < d[cond]["samples"]


def test_cli_runs_the_as_run_variant(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["run", "C259-as-run", "--variant", "lean", "--cycles", "20", "--max-agents", "8",
            "--metrics", "fixed", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["experiment"] == "C259-as-run" and meta["mechanisms"] == ["pooling", "recovery"]


def test_the_run_notebook_accepts_the_as_run_variant(tmp_path: Path) -> None:
    from nrm.build import notebooks

    request = notebooks.check_parameters("run_experiment", {
        "experiment": "C259-as-run", "variant": "optimized", "scale": "smoke", "cycles": None,
        "max_agents": None, "metrics": None, "cpu_interval": None, "seed": None,
        "allocator": None, "output": str(tmp_path / "out"), "progress": False,
    })
    assert request.spec.experiment == "C259-as-run"
    assert request.describe().startswith("C259-as-run optimized")
