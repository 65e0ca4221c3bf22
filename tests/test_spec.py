"""The run specification: one value, resolved once, the same through every door, JSON-safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nrm.build import notebooks as N
from nrm.cli.main import build_parser, main
from nrm.cli.run import spec_from_args
from nrm.exceptions import ParameterError
from nrm.run.scales import DEFAULT_SCALE, SCALES
from nrm.run.spec import RunSpec
from nrm.sim.costs import PRESETS

TINY = dict(cycles=3, max_agents=5, metrics="fixed", flush_every=1, arena_every=1)


def _cli_spec(*argv: str) -> RunSpec:
    return spec_from_args(build_parser().parse_args(["run", *argv]))


def _roundtrip(spec: RunSpec) -> RunSpec:
    return RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))


@pytest.mark.parametrize("variant", list(PRESETS))
@pytest.mark.parametrize("scale", [None, *SCALES])
def test_every_variant_round_trips_through_json(variant: str, scale: str | None) -> None:
    spec = RunSpec("C257", variant, scale=scale)
    assert _roundtrip(spec) == spec
    assert RunSpec.from_json(spec.to_json()).to_dict() == spec.to_dict()


@pytest.mark.parametrize(
    "kw",
    [
        {"allocator": "malloc"},
        {"allocator": "jemalloc", "tracemalloc": True, "uss": True},
        {"costs": {"sqlite": False, "resonance": "vectorized"}},
        {"costs": {"recursive_evolution": False}, "cpu_interval": 0.25},
        {"cpu_interval": 0},
        {"conditions": ("ON-ON", "OFF-OFF"), "seed": 7, "checkpoint_every": 100,
         "checkpoint_interval_s": 5, "io_calls_every": 3, "root_energy": 99, "cooldown": 0},
    ],
)
def test_overrides_round_trip_through_json(kw: dict) -> None:
    spec = RunSpec("C256", "optimized", scale="smoke", **kw)
    back = _roundtrip(spec)
    assert back == spec and back.to_dict() == spec.to_dict()
    assert set(spec.to_dict()) == {f for f in spec.__dataclass_fields__}


def test_the_spec_holds_the_resolved_switches_and_names_what_differs() -> None:
    spec = RunSpec("C256", "unoptimized", scale="default")
    assert spec.costs == PRESETS["unoptimized"].with_(cpu_interval=0.002)
    assert spec.custom_switches() == {} and spec.variant_label == "unoptimized"
    # --cpu-interval is sugar for the switch: it marks the run custom like any other override
    for custom in (RunSpec("C256", scale="default", cpu_interval=0.1),
                   RunSpec("C256", scale="default", costs={"cpu_interval": 0.1})):
        assert custom.variant_label == "custom"
        assert custom.custom_switches() == {"cpu_interval": {"value": 0.1, "preset": 0.002}}
    assert isinstance(RunSpec("C256", cpu_interval=0).cpu_interval, float)


@pytest.mark.parametrize(
    "data, match",
    [
        ({"experiment": "C256", "cylces": 3}, "unknown run specification field"),
        ({"cycles": 3}, "needs 'experiment'"),
        ({"experiment": "C256", "costs": {"sampling": "never"}}, "sampling must be"),
        ({"experiment": "C256", "costs": {"turbo": True}}, "unknown cost switch"),
        ({"experiment": "C256", "allocator": "tcmalloc"}, "unknown allocator"),
        ({"experiment": "C256", "scale": "huge"}, "unknown scale"),
        ({"experiment": "C256", "tracemalloc": "yes"}, "tracemalloc must be"),
    ],
)
def test_bad_specs_are_rejected(data: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        RunSpec.from_dict(data)


def test_cpu_interval_given_twice_differently_is_an_error() -> None:
    with pytest.raises(ParameterError, match="given twice"):
        RunSpec("C256", cpu_interval=0.1, costs={"cpu_interval": 0.2})


def test_cli_and_notebook_use_the_same_defaults(tmp_path: Path) -> None:
    nb = N.check_parameters("run_experiment", None, output=str(tmp_path / "r")).spec
    cli = _cli_spec("C256")
    assert cli == nb and cli.scale == DEFAULT_SCALE
    assert (cli.cycles, cli.max_agents) == (SCALES[DEFAULT_SCALE].get("C256-unoptimized").cycles,
                                            SCALES[DEFAULT_SCALE].get("C256-unoptimized").max_agents)
    for scale in SCALES:
        nb = N.check_parameters("run_experiment", None, scale=scale, experiment="C258",
                                variant="lean", output=str(tmp_path / "r")).spec
        assert _cli_spec("C258", "--scale", scale, "--variant", "lean") == nb


def test_flags_and_spec_file_are_exclusive(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text(RunSpec("C256", **TINY).to_json())  # type: ignore[arg-type]
    assert _cli_spec("--spec", str(f)) == RunSpec("C256", **TINY)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="drop --cycles"):
        _cli_spec("--spec", str(f), "--cycles", "4")
    f.write_text("{not json")
    with pytest.raises(ParameterError, match="not valid JSON"):
        _cli_spec("--spec", str(f))


def test_a_spec_file_runs_and_run_json_records_it(tmp_path: Path) -> None:
    spec = RunSpec("C258", "lean", costs={"cumulative_registry": True}, io_calls_every=3,
                   **TINY)  # type: ignore[arg-type]
    f = tmp_path / "spec.json"
    f.write_text(spec.to_json())
    assert main(["run", "--spec", str(f), "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert RunSpec.from_dict(meta["parameters"]) == spec
    assert meta["variant"] == "custom" and meta["preset"] == "lean"
    assert meta["custom_switches"] == {"cumulative_registry": {"value": True, "preset": False}}


@pytest.mark.slow
def test_the_allocator_child_receives_every_field(tmp_path: Path) -> None:
    """Fields the old argv hand-over dropped (io_calls_every, a cost switch) reach the child."""
    spec = RunSpec("C258", "lean", scale="smoke", costs={"recursive_evolution": True},
                   io_calls_every=3, conditions=("ON-ON",), cycles=3, max_agents=5,
                   allocator="malloc")
    req = N.RunRequest(spec, tmp_path / "r", "malloc", False, "smoke")
    meta = N.run(req)
    assert meta["status"] == "complete"
    assert RunSpec.from_dict(meta["parameters"]) == spec
    assert meta["parameters"]["io_calls_every"] == 3
    assert meta["costs"]["recursive_evolution"] is True and meta["variant"] == "custom"
    assert meta["context"]["allocator"]["requested"] == "malloc"
