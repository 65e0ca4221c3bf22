"""H3's commit-latency curve in the paper (nrm/render/sections/dbcurve.py): a tiny real curve of
this build is shown (figure, per-medium table, scale, H3 from both pieces); without one, the
shipped reference's is shown and labelled as not this build's; with neither, one line says how
to make one. The rule combining H3's two pieces on synthetic verdicts; the ship function refuses
an unfinished curve and writes nothing; the render step reads the build's own curve."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nrm import paths
from nrm.exceptions import ParameterError
from nrm.render.sections import dbcurve as sec
from nrm.stats.verdict import (
    EQUIVALENT,
    NOT_TESTABLE,
    NOT_TESTABLE_HERE,
    REFUTED,
    SUPPORTED,
    WITHIN_NOISE,
    combine_pieces,
    is_testable,
)
from nrm.study import dbcurve as study_dbcurve

_spec = importlib.util.spec_from_file_location("ship_reference",
                                               paths.ROOT / "scripts" / "ship_reference.py")
assert _spec and _spec.loader
ship_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ship_reference)

SHM = Path("/dev/shm").is_dir()


def _verdicts(h3: str) -> pd.DataFrame:
    return pd.DataFrame([{"hypothesis": "H3", "name": "I/O accumulation", "verdict": h3,
                          "statistic": "commit latency drift: +1.00 %/1000 cycles", "n":
                          "commit=4, psutil sample=4", "ci": "-"}])


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build folder holding a real 2 MiB curve (disk and RAM, 2 repeats each, 20 commits a
    checkpoint; a few seconds, run beside whatever else the machine does). Its 2-repeat t
    interval (1 df) extrapolated to 3500 MiB overflows exp(): the summary must still be
    written (the change's bound reads +inf %)."""
    if not SHM:
        pytest.skip("no /dev/shm")
    root = tmp_path_factory.mktemp("build")
    out = paths.Build(root, "smoke").dbcurve(2)
    study_dbcurve.run_curve(out, to_mb=2, media=("disk", "ram"), repeats=2, sizes=(0, 1, 2),
                            batch=20, progress=False, settle_timeout_s=5.0)
    return root


def test_this_builds_tiny_curve_is_shown(tiny_build: Path, tmp_path: Path) -> None:
    from nrm.provenance import recording
    from nrm.render.stamps import attach_tables, stamp_figures, stamped_items

    curve_dir = paths.Build(tiny_build, "smoke").dbcurve(2)
    frame = pd.read_csv(curve_dir / paths.DBCURVE_CSV)
    summary = json.loads((curve_dir / paths.DBCURVE_JSON).read_text())
    machine = json.loads((curve_dir / paths.DBCURVE_MACHINE).read_text())
    assert len(machine["repeats"]) == 4 and all(r["started_at"] for r in machine["repeats"])
    # a shipped reference exists too: the build's own curve is preferred
    ref = tmp_path / "ref"
    ship_reference.ship_dbcurve(curve_dir, ref)
    paper_dir = tiny_build / "paper"
    with recording() as rec:
        text, images = sec.section(tiny_build, "smoke", tiny_build / "figures", paper_dir,
                                   first_figure=7, verdicts=_verdicts(EQUIVALENT),
                                   reference=ref)
    assert text.startswith(sec.HEADING)
    assert "This build's commit-latency curve, in `data/dbcurve/2/`" in text
    assert "not this build's" not in text
    png = tiny_build / "figures" / "dbcurve.png"
    assert images == {"../figures/dbcurve.png": png} and png.stat().st_size > 10_000
    assert "![Figure 7](../figures/dbcurve.png)" in text and "*Figure 7.*" in text
    # the table: one row per medium, the numbers from the curve's own table
    (tab,) = rec.frames
    assert list(tab["medium"]) == [sec.MEDIUM_TEXT["disk"], sec.MEDIUM_TEXT["ram"]]
    assert list(tab["repeats"]) == [2, 2]
    for medium, row in zip(("disk", "ram"), tab.to_dict("records"), strict=True):
        g = frame[frame["medium"] == medium]
        first = g[g["checkpoint_mb"] == 0]["median_ms"].median()
        last = g[g["checkpoint_mb"] == 2]["median_ms"].median()
        assert row["ms at 0 MiB"] == pytest.approx(first)
        assert row["ms at 2 MiB"] == pytest.approx(last)
        assert row["reached (MiB)"] == pytest.approx(
            g.groupby("repeat")["db_bytes"].max().min() / 2**20)
        # the change over the measured range: exp(mean slope x reach) - 1 from the repeats
        slopes = [np.polyfit(r["db_bytes"] / 2**30, np.log(r["median_ms"]), 1)[0]
                  for _, r in g.groupby("repeat")]
        reach = g.groupby("repeat")["db_bytes"].max().min() / 2**30
        # a 2 MiB curve is short of 90 % of 3500 MiB: its change is read over its own range
        assert row["change (%)"] == pytest.approx(
            100 * math.expm1(np.mean(slopes) * reach), rel=1e-6)
        assert row["read over"].endswith("MiB (short of the full size)")
        assert row["verdict vs ±30 %"] == NOT_TESTABLE == summary["h3"]["media"][medium][
            "verdict"]
    # the scale statement: the full run's rows from the shipped counts, at the measured bytes
    rows = sum(summary["config"]["mix"].values())
    assert f"commits {rows:,.0f} rows" in text and "C256-3000x100" in text
    bpr = summary["full_run_size_implied"]["bytes_per_row"]
    assert f"{bpr:.0f} bytes a row" in text
    # H3 from both pieces: the long arms' equivalence alone cannot rule out the large sizes
    assert "**H3 from both: not testable: the curve: " in text
    # the table and the figure are stamped items of the paper
    stamped, tables = attach_tables(stamp_figures(text), rec.frames)
    assert set(tables) == {"table:dbcurve"}
    assert [i for i, _, _ in stamped_items(stamped)] == ["figure:dbcurve", "table:dbcurve"]
    own = sec.build_curve(tiny_build, "smoke")
    assert own is not None and not own.reference
    assert sec.figure_frames(tiny_build, "smoke", sec.FIGURE)["dbcurve"].equals(own.frame)


def _synthetic_reference(folder: Path, growth: float = 1.0) -> dict[str, object]:
    """A finished 3500 MiB curve (3 repeats a medium, flat or growing by ``growth`` at the full
    size, 3 % noise), summarised by the study's own code, with a machine record."""
    rng = np.random.default_rng(7)
    rows = []
    for order, (medium, rep) in enumerate([("disk", 0), ("ram", 0), ("ram", 1), ("disk", 1),
                                           ("disk", 2), ("ram", 2)]):
        base = 8.0 if medium == "disk" else 0.3
        for cp in (0, 50, 100, 250, 500, 1000, 2000, 3500):
            rows.append({"medium": medium, "repeat": rep, "order": order, "checkpoint_mb": cp,
                         "db_bytes": cp * 2**20 + 8192, "rows_grown": cp * 2**20 // 84,
                         "grow_rows": 1, "grow_s": 1.0, "batch_s": 0.5,
                         "median_ms": base * growth ** (cp / 3500) * math.exp(
                             rng.normal(0, 0.03))})
    frame = pd.DataFrame(rows)
    cfg = {"to_mb": 3500.0, "checkpoints_mb": [0, 50, 100, 250, 500, 1000, 2000, 3500],
           "media": ["disk", "ram"], "repeats": 3, "batch": 500, "seed": 1, "full_mb": 3500.0,
           "mix": {"system_metrics": 5.8e6, "resonance_events": 2.9e7,
                   "phase_transformations": 300.0},
           "mix_source": "data/reference/counts/C256-3000x100-a2be92c62049e518.csv.gz"}
    summary = study_dbcurve.summarise(frame, cfg)
    folder.mkdir(parents=True)
    frame.to_csv(folder / paths.DBCURVE_CSV, index=False)
    (folder / paths.DBCURVE_JSON).write_text(json.dumps(summary))
    (folder / paths.DBCURVE_MACHINE).write_text(json.dumps({
        "context": {"cpu": {"model": "Ref CPU", "logical": 8}, "git": {"commit": "abcdef123"},
                    "storage": {"fs_type": "ext4", "device": "/dev/sda1"},
                    "memory_total_bytes": 16 * 2**30},
        "repeats": [{"load_avg_start": 0.25, "load_avg_end": 1.5}],
        "first_started_at": "2026-12-07T14:00:00+00:00",
        "last_finished_at": "2026-12-07T15:10:00+00:00"}))
    return summary


def test_the_shipped_reference_is_shown_as_not_this_builds(tmp_path: Path) -> None:
    from nrm.provenance import recording

    ref = tmp_path / "reference" / "dbcurve"
    summary = _synthetic_reference(ref)
    root = tmp_path / "build"  # no data/dbcurve of its own
    with recording() as rec:
        text, images = sec.section(root, "smoke", root / "figures", root / "paper",
                                   first_figure=3, verdicts=_verdicts(EQUIVALENT),
                                   reference=ref)
    assert "These numbers are **not this build's**" in text
    assert "Ref CPU (8 logical cores, 16.0 GiB RAM)" in text and "`abcdef1`" in text
    assert "2026-12-07T14:00:00+00:00 to 2026-12-07T15:10:00+00:00" in text
    assert "load average at the repeats' starts and ends 0.250 to 1.50" in text
    assert "3 repeat(s) per medium (disk, ram" in text
    assert "*Table [[dbcurve_reference]]." in text
    assert list(images.values()) == [root / "figures" / "dbcurve_reference.png"]
    (tab,) = rec.frames
    h3 = summary["h3"]  # type: ignore[index]
    for row, medium in zip(tab.to_dict("records"), ("disk", "ram"), strict=True):
        m = h3["media"][medium]
        assert row["repeats"] == 3 and row["change (%)"] == pytest.approx(m["change_pct"])
        assert row["read over"] == "0 to 3500 MiB"
        assert row["97.5 % CI"] == f"[{m['change_low_pct']:+.1f} %, {m['change_high_pct']:+.1f} %]"
        assert row["verdict vs ±30 %"] == m["verdict"] == EQUIVALENT  # flat, 3 % noise
    # both pieces pass their equivalence tests: H3 reads no effect larger than m
    assert f"**H3 from both: {EQUIVALENT}**" in text
    assert "the shipped reference's, another machine and day" in text
    # a growing reference curve makes H3 supported, whatever the long arms say
    grow = tmp_path / "grow"
    _synthetic_reference(grow, growth=2.0)
    text, _ = sec.section(root, "smoke", root / "figures", root / "paper", first_figure=3,
                          verdicts=_verdicts(EQUIVALENT), reference=grow)
    assert f"**H3 from both: {SUPPORTED}**" in text
    assert sec.shipped_figures(grow) == (sec.FIGURE_REFERENCE,)
    assert sec.shipped_figures(tmp_path / "none") == ()


def test_no_curve_one_line(tmp_path: Path) -> None:
    text, images = sec.section(tmp_path / "build", "smoke", tmp_path / "figures",
                               tmp_path / "paper", first_figure=1,
                               reference=tmp_path / "no-reference")
    assert images == {} and not (tmp_path / "figures").exists()
    assert text.startswith(sec.HEADING) and "`make dbcurve` makes one" in text
    assert "![Figure" not in text and "*Table" not in text
    # no study and no curve: H3 from both pieces is not testable, both reasons named
    assert ("**H3 from both: not testable: the long arms: no causal study analysed for this "
            "build; the curve: no commit-latency curve (make dbcurve)**") in text


@pytest.mark.parametrize(("arms", "curve", "expected"), [
    (SUPPORTED, EQUIVALENT, SUPPORTED),
    (EQUIVALENT, SUPPORTED, SUPPORTED),
    (SUPPORTED, "not testable: short", SUPPORTED),
    (EQUIVALENT, EQUIVALENT, EQUIVALENT),
    (EQUIVALENT, WITHIN_NOISE, WITHIN_NOISE),
    (WITHIN_NOISE, EQUIVALENT, WITHIN_NOISE),
    (EQUIVALENT, REFUTED, WITHIN_NOISE),
    (REFUTED, REFUTED, REFUTED),
    (EQUIVALENT, "not testable: the curve reached 48 MiB", "not testable"),
    (NOT_TESTABLE_HERE, EQUIVALENT, "not testable"),
    (WITHIN_NOISE, NOT_TESTABLE, "not testable"),
])
def test_h3_combination_rule(arms: str, curve: str, expected: str) -> None:
    verdict, why = combine_pieces({"the long arms": arms, "the curve": curve})
    if expected == "not testable":
        assert not is_testable(verdict) and verdict.startswith(NOT_TESTABLE + ": ")
        # the untested piece is named with its reason
        name = "the curve" if not is_testable(curve) else "the long arms"
        assert name in verdict and name in why
        if curve.startswith("not testable: "):
            assert curve.removeprefix("not testable: ") in verdict
    else:
        assert verdict == expected, why


def test_h3_combination_refuses_unknown_words() -> None:
    with pytest.raises(ValueError, match="not a verdict of a piece"):
        combine_pieces({"the long arms": "holds", "the curve": EQUIVALENT})
    with pytest.raises(ValueError, match="at least one"):
        combine_pieces({})


def _unfinished(folder: Path, *, done: int) -> Path:
    """A curve folder planning 2 media x 2 repeats with ``done`` repeat results."""
    (folder / "repeats").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"media": ["disk", "ram"], "repeats": 2}))
    for i, (m, r) in enumerate([("disk", 0), ("ram", 0), ("ram", 1), ("disk", 1)][:done]):
        (folder / "repeats" / f"{m}-{r}.json").write_text(json.dumps(
            {"medium": m, "repeat": r, "order": i, "rows": []}))
    (folder / "dbcurve.csv").write_text("medium,repeat,median_ms\ndisk,0,1.0\n")
    return folder


def test_ship_refuses_an_unfinished_curve_and_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "reference" / "dbcurve"
    curve = _unfinished(tmp_path / "curve", done=3)
    with pytest.raises(ParameterError, match=r"dbcurve\.json missing"):
        ship_reference.ship_dbcurve(curve, dest)
    (curve / "dbcurve.json").write_text(json.dumps({"rows": 1, "h3": {"verdict": "x"}}))
    with pytest.raises(ParameterError, match=r"3 of 4 repeats done \(missing disk-1\)"):
        ship_reference.ship_dbcurve(curve, dest)
    assert ship_reference.main(["--dbcurve", str(curve), "--dest", str(dest)]) == 2
    (curve / "repeats" / "disk-1.json").write_text("{}")
    with pytest.raises(ParameterError, match="do not hold every planned repeat"):
        ship_reference.ship_dbcurve(curve, dest)  # the table holds only disk-0
    assert not dest.exists() and not dest.with_name("dbcurve.partial").exists()
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


def test_ship_a_finished_curve(tiny_build: Path, tmp_path: Path) -> None:
    curve = paths.Build(tiny_build, "smoke").dbcurve(2)
    dest = tmp_path / "dbcurve"
    dest.mkdir()
    (dest / "stale.csv").write_text("old")  # a former reference is replaced whole
    assert ship_reference.main(["--dbcurve", str(curve), "--dest", str(dest)]) == 0
    assert {p.name for p in dest.iterdir()} == {"config.json", "dbcurve.csv", "dbcurve.json",
                                                "machine.json", "README.md"}
    assert (dest / "dbcurve.csv").read_bytes() == (curve / "dbcurve.csv").read_bytes()
    assert sum(p.stat().st_size for p in dest.iterdir()) < 200_000  # small tables only
    readme = (dest / "README.md").read_text()
    assert "not the paper's" in readme.lower() and "change over the 2 MiB measured" in readme
    with pytest.raises(ParameterError, match="no such folder"):
        ship_reference.ship_dbcurve(tmp_path / "missing", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    # a curve made before machine.json: one is collected at ship time, and says so
    old = tmp_path / "old"
    shutil.copytree(curve, old)
    (old / "machine.json").unlink()
    ship_reference.ship_dbcurve(old, tmp_path / "old-ref")
    m = json.loads((tmp_path / "old-ref" / "machine.json").read_text())
    assert m["recorded_at"].startswith("ship time") and m["context"]["cpu"]["logical"]
    assert all(r["finished_at"] for r in m["repeats"])


def test_render_step_reads_the_builds_own_curve(tiny_build: Path) -> None:
    from nrm.build.pipeline import Build, dbcurve_outputs

    b = Build("smoke", tiny_build)
    files = dbcurve_outputs(b)
    assert [Path(f).name for f in files] == ["config.json", "dbcurve.csv", "dbcurve.json",
                                             "machine.json"]
    assert all(Path(f).parent == paths.Build(tiny_build, "smoke").dbcurve(2) for f in files)
    assert dbcurve_outputs(Build("smoke", tiny_build / "elsewhere")) == []


def test_provenance_records_the_curve_files(tiny_build: Path) -> None:
    from nrm import provenance as P

    rec = P.build_records([("table:dbcurve", 1, "cap")], runs={}, scale="smoke",
                          analysis_dir=tiny_build, executed_dir=tiny_build, root=tiny_build,
                          data={}, values_files={}, git={})["table:dbcurve"]
    csv = paths.Build(tiny_build, "smoke").dbcurve(2) / paths.DBCURVE_CSV
    assert {"file": "data/dbcurve/2/dbcurve.csv", "sha256": P.file_sha256(csv)} in rec["files"]
    assert rec["inputs_declared"] and not rec["reference"]
    assert P.markdown_stamp(rec).count("files: data/dbcurve/2/dbcurve.") == 1
    assert P.ITEM_INPUTS["table:dbcurve_reference"].reference
    assert P.ITEM_INPUTS["figure:dbcurve_reference"].reference
