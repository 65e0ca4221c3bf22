"""The build's prediction steps (issue #24): the counting runs at the build's counting scale,
the unit costs fitted on the build's runs, the paper's comparisons and the speedup figure, and
the paper's Section 12 that shows them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from nrm import paths
from nrm.build.pipeline import Build, tasks
from nrm.predict.buildstep import COUNT_SCALES, count_scale, count_specs, count_step, usable
from nrm.predict.counts import load_cached


def test_default_and_full_count_at_the_papers_parameters_smoke_counts_small() -> None:
    for scale in ("default", "full"):
        cs = count_scale(scale)
        assert cs.is_paper and (cs.cycles, cs.max_agents) == (3000, 100)
        assert 100 in cs.grid_agents
    smoke = count_scale("smoke")
    assert not smoke.is_paper and smoke.cycles * smoke.max_agents <= 1000
    specs = count_specs("smoke")
    assert {s.experiment for s in specs} == {"C255", "C256", "C257"}
    assert all(s.costs.cpu_interval == 0.1 and s.metrics == "fixed" for s in specs)
    assert set(COUNT_SCALES) >= {"smoke", "default", "full"}


def test_count_step_caches_and_reuses(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    rec = count_step("smoke", tmp_path / "a", shared_cache=shared)
    assert {e["source"] for e in rec["counts"]} == {"counted"}
    assert all(e["commits"] > 0 and e["samples"] > 0 for e in rec["counts"])
    again = count_step("smoke", tmp_path / "b", shared_cache=shared)  # another build, same model
    assert {e["source"] for e in again["counts"]} == {f"shared cache {shared}"}
    for spec in count_specs("smoke"):
        a, b = load_cached(spec, tmp_path / "a"), load_cached(spec, tmp_path / "b")
        assert a is not None and b is not None
        pd.testing.assert_frame_equal(a.frame(), b.frame())


def test_the_build_has_the_prediction_steps_in_order(tmp_path: Path) -> None:
    names = [t["basename"] + ":" + t["name"] for t in tasks(Build("smoke", tmp_path))]
    i_counts, i_fit = names.index("predict:smoke/counts"), names.index("analysis:smoke/predict")
    assert names.index("study:smoke/sweep") < i_counts < i_fit < names.index("render:paper")
    render = next(t for t in tasks(Build("smoke", tmp_path)) if t["name"] == "paper")
    assert (
        str(paths.Build(tmp_path, "smoke").predict_analysis / "comparisons.csv")
        in render["file_dep"]
    )


class _Run:
    def __init__(self, costs: dict, metrics: str = "fixed", complete: bool = True) -> None:
        self.meta = {"parameters": {"costs": costs, "metrics": metrics}}
        self.complete = complete
        self.cycles = pd.DataFrame({"cycle": [0]})


def test_only_faithful_complete_runs_are_fitted() -> None:
    assert usable(_Run({"resonance": "pairwise"})) is None
    assert usable(_Run({"resonance": "pairwise"}, "live")) is None
    assert "vectorized" in str(usable(_Run({"resonance": "vectorized"})))
    assert usable(_Run({}, "replay:x.csv")) == "replayed metrics"
    assert usable(_Run({}, complete=False)) == "incomplete"


@pytest.mark.slow
@pytest.mark.xdist_group("make_paper")
def test_the_smoke_builds_prediction_step(smoke_build: Path) -> None:
    layout = paths.Build(smoke_build, "smoke")
    counts = json.loads((layout.predict_counts / "counts.json").read_text(encoding="utf-8"))
    assert len(counts["counts"]) == len(count_specs("smoke"))
    assert counts["model_source_sha256"] and counts["step_s"] >= 0
    folder = layout.predict_analysis
    comp = pd.read_csv(folder / "comparisons.csv")
    assert (comp["label"] == "predicted from measured unit costs").all()
    # disk commits always; RAM too when the study's long arms (databases in RAM) were fitted
    assert "disk" in set(comp["medium"]) and set(comp["medium"]) <= {"disk", "ram"}
    row = comp[comp["medium"] == "disk"].set_index("key").loc["speedup_same"]
    assert math.isfinite(row["value"]) and row["ci_low"] <= row["value"] <= row["ci_high"]
    assert row["value"] > 1  # an unoptimized run takes at least as many samples as optimized
    assert "30 cycles x 8 agents" in row["scale"]
    uc = pd.read_csv(folder / "unit_costs.csv").set_index("name")
    assert uc.loc["commit_disk", "estimate"] > 0
    grid = pd.read_csv(folder / "speedup_grid.csv")
    assert set(grid["agents"]) == set(count_scale("smoke").grid_agents)
    assert (folder / "atscale_speedup.png").stat().st_size > 1000
    summary = json.loads((folder / "predict_summary.json").read_text(encoding="utf-8"))
    assert summary["fit_runs"] >= 2 and not summary["count_scale"]["paper"]
    md = (smoke_build / "paper" / "paper.md").read_text(encoding="utf-8")
    sec = md[md.index("## 12. At the paper's parameters") :]
    assert "predicted from measured unit costs" in sec and "atscale_speedup.png" in sec
    assert "+71.6 %" in sec and "160-190x" in sec  # the paper's numbers, from data/reference
    assert "30 cycles x 8 agents" in sec  # and the scale it is about, not the paper's


def test_shipped_counts_are_used_only_for_the_same_model(tmp_path: Path) -> None:
    from nrm.predict import buildstep

    shipped = tmp_path / "shipped"
    buildstep.ship("smoke", src=tmp_path / "cache", shipped=shipped)
    rec = count_step("smoke", tmp_path / "build", shared_cache=None, shipped=shipped)
    assert {e["source"] for e in rec["counts"]} == {"shipped (data/reference/counts)"}
    meta = next(shipped.glob("*.json"))
    prov = json.loads(meta.read_text(encoding="utf-8"))
    meta.write_text(json.dumps({**prov, "model_source_sha256": "another model"}))
    again = count_step("smoke", tmp_path / "build2", shared_cache=None, shipped=shipped)
    assert sorted(e["source"] for e in again["counts"]).count("counted") == 1


def _build_tables(folder: Path, commit_s: float, *, slower: float = 1.0) -> Path:
    """A build folder with predict/own_runs.csv and unit_costs.csv; runtimes priced by the
    same first-order model (``slower`` multiplies C256 unoptimized's: a gap)."""
    from nrm.render.compare import _priced

    d = folder / "predict"
    d.mkdir(parents=True)
    costs = {
        "commit_disk": commit_s,
        "sample_rest_fixed@disk": 1e-4,
        "cycle": 1e-3,
        "outside": 2e-3,
        "samples": 5e-5,
        "evolve_calls": 1e-5,
        "pairs_tested": 2e-5,
    }
    pd.DataFrame({"name": list(costs), "estimate": list(costs.values())}).to_csv(
        d / "unit_costs.csv", index=False
    )
    runs = []
    for name, samples, commits in (
        ("C255-unoptimized", 1700, 2700),
        ("C256-unoptimized", 1800, 2800),
        ("C256-optimized", 80, 1000),
        ("C257-optimized", 80, 1080),
    ):
        r = {
            "run": name,
            "medium": "disk",
            "metrics": "fixed",
            "cpu_interval": 0.002,
            "samples": samples,
            "commits": commits,
            "evolve_calls": 900,
            "registry_x_agents": 0,
            "pairs_tested": 800,
            "spawns": 40,
            "cycles": 80,
        }
        r["measured_s"] = _priced(pd.Series(r), costs) * (
            slower if name == "C256-unoptimized" else 1.0
        )
        runs.append(r)
    pd.DataFrame(runs).to_csv(d / "own_runs.csv", index=False)
    return folder


def test_compare_builds_says_how_much_the_unit_costs_explain(tmp_path: Path) -> None:
    from nrm.render.compare import explain_headlines

    a = _build_tables(tmp_path / "a", 0.001)
    b = _build_tables(tmp_path / "b", 0.003)  # a slower disk, nothing else
    table, _ = explain_headlines(a, b)
    assert table is not None and len(table) == 3
    assert (table["change B / A"] != 1).all()  # the slower disk changes every ratio
    assert table["gap (unexplained)"].to_numpy() == pytest.approx(1.0)  # and explains it all
    c = _build_tables(tmp_path / "c", 0.003, slower=1.2)  # plus 20 % the costs do not explain
    gap = explain_headlines(a, c)[0].set_index("headline")["gap (unexplained)"]
    assert gap["caching, same experiment (C256 unopt. / C256 opt.)"] == pytest.approx(1.2)
    none, why = explain_headlines(a, tmp_path)
    assert none is None and "no predict/own_runs.csv" in why


def test_shipped_paper_scale_counts_are_this_models_and_a_recount_reproduces_them() -> None:
    """The counts a default build copies instead of counting are of the simulator as it is now
    (a change to nrm/sim needs ``nrm predict-step ship``), and counting the first cycles of
    each condition again gives the shipped rows exactly (the counts are deterministic)."""
    import gzip
    import io
    from dataclasses import replace

    from nrm.predict.buildstep import SHIPPED_DIR, stem_of
    from nrm.predict.counts import count_run, model_source_hash

    specs = count_specs("default")
    for spec in specs:
        meta = SHIPPED_DIR / f"{stem_of(spec)}.json"
        assert meta.is_file(), f"no shipped counts for {stem_of(spec)}: nrm predict-step ship"
        prov = json.loads(meta.read_text(encoding="utf-8"))
        assert prov["model_source_sha256"] == model_source_hash(), (
            f"{meta.name} counts another model: run nrm predict-step ship --scale default"
        )
    spec = next(s for s in specs if s.experiment == "C256" and s.max_agents == 100)
    shipped = pd.read_csv(
        io.BytesIO(gzip.decompress((SHIPPED_DIR / f"{stem_of(spec)}.csv.gz").read_bytes()))
    )
    again = count_run(replace(spec, cycles=12)).frame()
    cols = [c for c in again.columns if c in shipped.columns]
    head = shipped[shipped["cycle"] < 12].reset_index(drop=True)[cols]
    assert len(again) == 12 * len(spec.conditions) and len(cols) >= 8
    pd.testing.assert_frame_equal(again[cols].reset_index(drop=True), head, check_dtype=False)
