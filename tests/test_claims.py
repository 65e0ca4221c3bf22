"""The claims ledger: recomputations against hand-worked values, missing inputs, malformed data.

Hand-worked values are written out as arithmetic on the paper's printed numbers (not taken from
the code under test). Tests that alter the reference data work on a copy in ``tmp_path``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nrm import claims, paths
from nrm.exceptions import LogError, ParameterError

# A fixed interpreter so that results do not depend on the machine (and no child process runs).
PY311 = {"arena_bytes": 1_048_576.0, "small_threshold": 512.0, "version": "3.11.7"}


@pytest.fixture(scope="module")
def rec() -> pd.DataFrame:
    return claims.recompute(interpreter=PY311).set_index("claim_id")


@pytest.fixture
def ref(tmp_path: Path) -> Path:
    """A private copy of data/reference/ to alter."""
    dest = tmp_path / "reference"
    dest.mkdir()
    for f in paths.REFERENCE.glob("*.csv"):
        shutil.copy(f, dest / f.name)
    return dest


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _edit(path: Path, key: str, key_value: str, **changes: str) -> None:
    rows = _rows(path)
    hit = [r for r in rows if r[key] == key_value]
    assert hit, f"{key_value} not in {path.name}"
    for r in hit:
        r.update(changes)
    _write(path, rows)


def _drop(path: Path, key: str, key_value: str) -> None:
    rows = _rows(path)
    kept = [r for r in rows if r[key] != key_value]
    assert len(kept) == len(rows) - 1
    _write(path, kept)


# ------------------------------------------------------------------ parsing the readings


def test_ps_time_is_minutes_seconds():
    assert claims.parse_ps_time("17:30.22") == pytest.approx(17 + 30.22 / 60)  # 17.504 CPU-min
    assert claims.parse_ps_time("63:32") == pytest.approx(63 + 32 / 60)
    assert claims.parse_ps_time("31:12") == pytest.approx(31.2)
    assert claims.parse_ps_time("13.8") == pytest.approx(13.8)


@pytest.mark.parametrize("bad", ["17:75", "abc", "", "-3", "1:2:3"])
def test_ps_time_rejects_garbage(bad):
    with pytest.raises(ParameterError):
        claims.parse_ps_time(bad)


def test_wall_formats():
    assert claims.parse_wall("10:07:53", "h:mm:ss") == pytest.approx(10 * 60 + 7 + 53 / 60)
    assert claims.parse_wall("6.93", "hours") == pytest.approx(415.8)
    assert claims.parse_wall("1207.45", "minutes") == pytest.approx(1207.45)
    with pytest.raises(ParameterError, match="unknown"):
        claims.parse_wall("5", "days")
    with pytest.raises(ParameterError):
        claims.parse_wall("10:61:00", "h:mm:ss")


def test_fmt_num():
    assert claims.fmt_num(1_080_000) == "1,080,000"
    assert claims.fmt_num(1207.45) == "1,207.45"
    assert claims.fmt_num(20.124166) == "20.12"
    assert claims.fmt_num(0.5, "CPU-h") == "0.5 CPU-h"
    assert claims.fmt_num(float("nan")) == "—"


# ------------------------------------------------------------------ recomputations by hand


def _r(rec: pd.DataFrame, cid: str) -> tuple[float, float, str]:
    row = rec.loc[cid]
    return row["recomputed"], row["recomputed_high"], row["status"]


def test_variance_percentages(rec):
    assert _r(rec, "T1.var_49")[0] == pytest.approx((30.0 - 20.1) / 20.1 * 100)  # 49.25
    assert _r(rec, "T1.var_54")[0] == pytest.approx((31.0 - 20.1) / 20.1 * 100)  # 54.23
    v, _, st = _r(rec, "T1.var_72")
    assert v == pytest.approx(71.64, abs=0.005) and st == claims.CONSISTENT
    assert rec.loc["T1.var_49", "status"] == claims.CONSISTENT


def test_abstract_73_percent_is_inconsistent(rec):
    v, _, st = _r(rec, "abs.var73")
    assert v == pytest.approx(1440 / 20.1)  # 14.4 / 20.1 = 71.64 %
    assert st == claims.INCONSISTENT
    assert "71.64" in rec.loc["abs.var73", "recomputed_text"]


def test_acceleration_rates_and_true_increments(rec):
    v, _, st = _r(rec, "T1.accel_245")
    assert v == pytest.approx((30.0 - 20.1) / 20.1 * 100 / 20.1) and st == claims.CONSISTENT
    v, _, st = _r(rec, "T1.accel_271")  # 54.229 / 20.1 = 2.698, printed 2.71
    assert v == pytest.approx(2.698, abs=5e-4) and st == claims.INCONSISTENT
    assert _r(rec, "T1.accel_356")[0] == pytest.approx((34.5 - 20.1) / 20.1 * 100 / 20.1)  # 3.564
    lo, hi, st = _r(rec, "s3.1.accel_nonlinear")
    assert lo == pytest.approx(100 / 20.1) and hi == pytest.approx(100 / 20.1)  # 4.975 %/h
    assert st == claims.INCONSISTENT
    lo, hi, st = _r(rec, "abs.accel_25_36")
    assert lo == pytest.approx(9.9 / 20.1 * 100 / 20.1)
    assert hi == pytest.approx(14.4 / 20.1 * 100 / 20.1)
    assert st == claims.CONSISTENT


def test_call_counts(rec):
    assert _r(rec, "s2.1.calls_total")[0] == 90 * 12_000
    assert _r(rec, "s2.1.calls_total")[2] == claims.CONSISTENT
    assert _r(rec, "s2.4.calls_opt")[0] == 12_000 + 4
    assert _r(rec, "s2.4.calls_opt")[2] == claims.CONSISTENT
    assert _r(rec, "s2.4.call_reduction_90x")[0] == pytest.approx(90.0)
    assert _r(rec, "s2.4.call_reduction_99pct")[0] == pytest.approx((1 - 1 / 90) * 100)
    assert _r(rec, "s3.4.total_cycles")[0] == 12_000
    assert rec.loc["s2.1.calls_per_cycle", "status"] == claims.UNVERIFIABLE


def test_speedup_and_2070(rec):
    assert _r(rec, "s3.3.runtime_2070")[0] == pytest.approx(2070)
    lo, hi, st = _r(rec, "s3.3.speedup")
    assert lo == pytest.approx(2070 / 13) and hi == pytest.approx(2070 / 11)  # 159.2, 188.2
    assert st == claims.CONSISTENT  # as arithmetic; the inputs are flagged on their own rows
    assert rec.loc["abs.speedup_achieved", "status"] == claims.INCONSISTENT


def test_optimized_estimate_below_sleep_floor(rec):
    v, _, st = _r(rec, "s2.1.opt_runtime")
    assert v == pytest.approx(12_004 * 0.1 / 60)  # 20.0 min > 13 min
    assert st == claims.INCONSISTENT


def test_threshold_drifts(rec):
    # H5: ½ · 0.01 ms · 12,000² = 720,000 ms = 12 min
    v, _, st = _r(rec, "s2.2.h5_threshold")
    assert v == pytest.approx(0.5 * 0.01 * 12_000**2 / 60_000) == 12.0
    assert st == claims.INCONSISTENT  # 12 min of an 864 min gap
    # H3: latency grows by s/1000 ms per call; total = s/1000 · N²/2 ms = 583,200 ms = 9.72 min
    assert _r(rec, "s2.2.h3_threshold")[0] == pytest.approx(0.001 / 1000 * 1.08e6**2 / 2 / 60_000)
    assert _r(rec, "s2.2.h3_threshold")[0] == pytest.approx(9.72)
    # slope s with s · 12,000² / 2 = 14.4 h = 51,840,000 ms
    assert _r(rec, "fact.slope_needed")[0] == pytest.approx(2 * 51_840_000 / 12_000**2) == 0.72


def test_table1_readings_are_cpu_minutes(rec):
    v, _, st = _r(rec, "T1.c256_34h")
    assert v == pytest.approx(34.5 / 60) and st == claims.INCONSISTENT
    assert _r(rec, "T1.c256_31h")[0] == pytest.approx(31.2 / 60)  # 31:12 in the notes
    v, _, st = _r(rec, "T1.c255_20h")
    assert v == pytest.approx(1207.45 / 60)  # the number is found, as wall time
    assert st == claims.INCONSISTENT  # of a run 25-50 % done, not a full runtime or CPU time
    assert rec.loc["abs.duration_34h", "recomputed"] == pytest.approx(24 - (2 + 44 / 60))
    assert rec.loc["abs.duration_34h", "status"] == claims.INCONSISTENT


def test_snapshot_derived_claims(rec):
    lo, hi, st = _r(rec, "s3.2.cpu_4_5pct")
    assert lo == pytest.approx((63 + 32 / 60) / 26.3 / 60 * 100)  # 4.03 %
    assert hi == pytest.approx((25 + 36.35 / 60) / (10 + 7 / 60 + 53 / 3600) / 60 * 100)  # 4.21 %
    assert st == claims.CONSISTENT
    lo, hi, st = _r(rec, "arch.c257_iowait")
    assert lo == pytest.approx((1 - 10.7 / 301.5) * 100)
    assert hi == pytest.approx((1 - 13.8 / 420.3) * 100)
    assert st == claims.CONSISTENT
    v, _, st = _r(rec, "arch.c256_215pct")
    assert v == pytest.approx(((63 + 32 / 60) - 20.1) / 20.1 * 100) and st == claims.CONSISTENT


def test_archive_sums_and_facts(rec):
    assert _r(rec, "arch.nodb_rewrite")[0] == pytest.approx(41.4 + 50.5 + 42.7 + 49.8)
    assert rec.loc["arch.nodb_rewrite", "status"] == claims.CONSISTENT
    assert rec.loc["arch.c259_as_run", "status"] == claims.INCONSISTENT
    assert rec.loc["arch.optimized_never_ran", "status"] == claims.INCONSISTENT
    assert rec.loc["s2.1.seed_deterministic", "status"] == claims.INCONSISTENT
    for cid in ("fig.mockups", "fig2.h2_refuted", "fig2.h1_validated"):
        assert rec.loc[cid, "status"] == claims.UNVERIFIABLE
        assert "mock-up, not data" in rec.loc[cid, "recomputed_text"]
    # the typed-in p = 0.127 fails the paper's own H1 rule (p < 0.05) though badged VALIDATED
    assert "fails" in rec.loc["fig2.h1_validated", "working"]


@pytest.mark.parametrize(
    ("interp", "kib", "status"),
    [
        (PY311, 1024, claims.INCONSISTENT),
        ({"arena_bytes": 262_144.0, "version": "3.9.18"}, 256, claims.CONSISTENT),
        ({"version": "3.12.1"}, 1024, claims.INCONSISTENT),  # documented, not measured
        ({"version": "3.8.10"}, 256, claims.CONSISTENT),
    ],
)
def test_arena_size(interp, kib, status):
    rec = claims.recompute(interpreter=interp).set_index("claim_id")
    assert rec.loc["s3.2.arena_256kb", "recomputed"] == kib
    assert rec.loc["s3.2.arena_256kb", "status"] == status
    if "arena_bytes" not in interp:
        assert "not measured" in rec.loc["s3.2.arena_256kb", "recomputed_text"]
        assert rec.loc["s3.2.small_512", "status"] == claims.UNVERIFIABLE


def test_debugmallocstats_parsing_and_live_interpreter():
    canned = (
        "Small block threshold = 512, in 32 size classes.\n"
        "2 arenas * 1048576 bytes/arena     =            2,097,152\n"
    )
    assert claims.parse_debugmallocstats(canned) == {
        "arena_bytes": 1_048_576.0,
        "small_threshold": 512.0,
    }
    assert claims.parse_debugmallocstats("") == {}
    facts = claims.interpreter_facts()
    if "arena_bytes" in facts:  # pymalloc present: 256 KiB before 3.10, 1 MiB since (64-bit)
        assert facts["arena_bytes"] in (262_144.0, 1_048_576.0)


def test_every_row_has_a_known_status(rec):
    assert set(rec["status"]) <= set(claims.STATUSES)
    claims_only = rec[rec["role"] == "claim"]
    assert len(claims_only) >= 40
    assert claims_only["provenance"].str.len().min() > 0
    # the ids the paper helper maps onto
    for cid in ("T1.c256_30h", "abs.var73", "s3.3.speedup", "s2.1.calls_per_cycle"):
        assert cid in rec.index


# ------------------------------------------------------------------ missing inputs


def test_removed_input_row_makes_claim_unverifiable(ref):
    _drop(ref / claims.SNAPSHOTS_CSV, "snapshot_id", "c255.mid")
    rec = claims.recompute(ref, interpreter=PY311).set_index("claim_id")
    row = rec.loc["T1.c255_20h"]
    assert row["status"] == claims.UNVERIFIABLE
    assert "ps:c255.mid:wall_h" in row["recomputed_text"] and "c255.mid" in row["note"]
    # claims not depending on it are untouched
    assert rec.loc["abs.var73", "status"] == claims.INCONSISTENT


def test_removed_claim_row_propagates(ref):
    _drop(ref / claims.CLAIMS_CSV, "claim_id", "T1.c255_20h")
    rec = claims.recompute(ref, interpreter=PY311).set_index("claim_id")
    for cid in ("T1.var_49", "T1.var_72", "abs.var73", "T1.accel_356", "s3.1.accel_nonlinear"):
        assert rec.loc[cid, "status"] == claims.UNVERIFIABLE, cid


def test_empty_input_value_makes_claim_unverifiable(ref):
    _edit(ref / claims.ARCHIVE_CSV, "value_id", "sample.cpu_interval_s", value="")
    rec = claims.recompute(ref, interpreter=PY311).set_index("claim_id")
    assert rec.loc["s2.1.opt_runtime", "status"] == claims.UNVERIFIABLE
    assert "value is empty" in rec.loc["s2.1.opt_runtime", "note"]


def test_statement_drops_sentences_without_inputs(ref):
    _drop(ref / claims.CLAIMS_CSV, "claim_id", "arch.bridge_db")
    text = claims.evidence_statement(ref, interpreter=PY311)
    assert "GB" not in text and "H5 threshold" in text


# ------------------------------------------------------------------ malformed reference data


@pytest.mark.parametrize(
    ("file", "old", "new", "match"),
    [
        (claims.CLAIMS_CSV, "\nT1.var_49,", "\nT1.var_49,extra,", "fields"),
        (claims.CLAIMS_CSV, ",49.3,", ",forty-nine,", "expected a number"),
        (claims.CLAIMS_CSV, ",excess_pct,", ",guesswork,", "derivation"),
        (claims.CLAIMS_CSV, "T1.var_54,", "T1.var_49,", "appears twice"),
        (claims.CLAIMS_CSV, "tolerance,", "tol,", "header"),
        (claims.CLAIMS_CSV, "claim:T1.c256_30h; claim:T1.c255_20h,", "claim:T1.c255_20h,", "2 in"),
        (claims.CLAIMS_CSV, "ps:c256.m30:cpu_min", "ps:c256.m30:colour", "malformed"),
        (claims.SNAPSHOTS_CSV, "17:30.22", "17:99", "seconds"),
        (claims.SNAPSHOTS_CSV, ",hours,", ",days,", "format"),
        (claims.ARCHIVE_CSV, "2025-10-30 02:44", "30/10/2025", "does not match"),
    ],
)
def test_malformed_csv_names_file_and_line(ref, file, old, new, match):
    path = ref / file
    text = path.read_text(encoding="utf-8")
    changed = text.replace(old, new, 1)
    assert changed != text, "the mutation did not apply"
    path.write_text(changed, encoding="utf-8")
    with pytest.raises(LogError, match=match) as err:
        claims.recompute(ref, interpreter=PY311)
    assert file in str(err.value) and "line" in str(err.value)


def test_missing_reference_file(ref):
    (ref / claims.ARCHIVE_CSV).unlink()
    with pytest.raises(LogError, match="missing"):
        claims.recompute(ref, interpreter=PY311)


# ------------------------------------------------------------------ the ledger


def test_ledger_every_cell_filled():
    measured = {
        "s2.1.calls_per_cycle": (412.3, "calls/cycle", "C256 unoptimized, smoke scale"),
        "s2.1.opt_runtime": (float("nan"), "min", "optimized run too short at this scale"),
    }
    led = claims.ledger(measured, interpreter=PY311)
    assert list(led.columns) == list(claims.LEDGER_COLUMNS)
    assert not led.isna().any().any()
    assert all(isinstance(v, str) and v.strip() for v in led.to_numpy().ravel())
    by_id = led.set_index("claim_id")
    assert by_id.loc["s2.1.calls_per_cycle", "measured_here"].startswith("412.3 calls/cycle")
    assert "not measured in this run" in by_id.loc["s2.1.opt_runtime", "measured_here"]
    assert by_id.loc["abs.var73", "measured_here"] == claims.NOT_MEASURED
    assert "s2.2.alpha" not in by_id.index  # inputs only on request
    everything = claims.ledger(roles=("claim", "input"), interpreter=PY311)
    assert "s2.2.alpha" in set(everything["claim_id"])


def test_ledger_rejects_bad_measured():
    with pytest.raises(ParameterError, match="unknown claim id"):
        claims.ledger({"abs.var_73": (1.0, "%", "")}, interpreter=PY311)
    with pytest.raises(ParameterError, match="tuple"):
        claims.ledger({"abs.var73": 1.0}, interpreter=PY311)  # type: ignore[dict-item]
    with pytest.raises(ParameterError, match="roles"):
        claims.ledger(roles=("claims",), interpreter=PY311)


# ------------------------------------------------------------------ snapshots and Table 1


def test_snapshot_table():
    snap = claims.snapshot_table().set_index("snapshot_id")
    s1 = snap.loc["c256.s1"]
    assert s1["cpu_min"] == pytest.approx(17.50367, abs=1e-5)
    assert s1["cpu_min_per_wall_h"] == pytest.approx(17.50367 / 6.93, abs=1e-5)  # 2.526
    assert s1["idle_pct"] == pytest.approx(100 * (1 - 17.50367 / (6.93 * 60)), abs=1e-4)  # 95.79
    assert snap.loc["c256.s2", "wall_h"] == pytest.approx(10 + 7 / 60 + 53 / 3600)
    assert snap.loc["c256.m31", "rate_check"] == claims.INCONSISTENT  # 31:12 at "~5 h"
    assert {snap.loc[k, "rate_check"] for k in ("c256.s1", "c256.s2", "c256.s3")} == {"consistent"}
    assert snap.loc["c255.mid", "rate_check"] == claims.UNVERIFIABLE
    shown = claims.snapshot_table(display=True)
    assert not shown.isna().any().any() and (shown != "").all().all()


def test_run_rates_median_of_recorded_pairs():
    rates = claims.run_rates().set_index("run")
    pairs = [17.50367 / 6.93, 25.60583 / 10.13139, 63.53333 / 26.3]
    assert rates.loc["C256", "pairs"] == 3
    assert rates.loc["C256", "cpu_min_per_wall_h"] == pytest.approx(sorted(pairs)[1], abs=1e-4)
    assert rates.loc["C256", "rate_min"] == pytest.approx(min(pairs), abs=1e-4)  # 2.416
    assert "C255" not in rates.index  # no CPU reading


def test_corrected_table1():
    t1 = claims.corrected_table1().set_index("phase")
    rate = sorted([17.50367 / 6.93, 25.60583 / 10.13139, 63.53333 / 26.3])[1]
    late = t1.loc["Late (31-34.5h)"]
    assert late["paper_time"] == "34.5 h" and late["cpu_min"] == 34.5
    assert late["wall_h"] == pytest.approx(34.5 / rate, abs=1e-3)  # ≈ 13.7 h
    c255 = 1207.45 / 60
    assert late["elapsed_vs_c255_pct"] == pytest.approx((34.5 / rate - c255) / c255 * 100)
    assert late["wall_h_low"] <= late["wall_h"] <= late["wall_h_high"]
    assert t1.loc["Initial estimate", "wall_h"] == pytest.approx(1207.45 / 60)
    assert "contradicts" in t1.loc["Middle (30-31h)", "note"]
    shown = claims.corrected_table1(display=True)
    assert not shown.isna().any().any()


# ------------------------------------------------------------------ the statement


def test_statement_is_built_from_the_data(ref):
    text = claims.evidence_statement(interpreter=PY311)
    k = claims.key_numbers(interpreter=PY311)
    assert f"{k['c256_rate']:.2f} CPU-minutes per wall-hour" in text
    assert f"{k['cutoff_wall_h']:.1f} h of wall time" in text
    assert "mock" not in text.lower() or "not data" in text.lower()
    # change one reading: the statement follows the data
    _edit(ref / claims.SNAPSHOTS_CSV, "snapshot_id", "c256.s2", cpu_time="35:00")
    _edit(ref / claims.SNAPSHOTS_CSV, "snapshot_id", "c256.s1", cpu_time="24:00")
    k2 = claims.key_numbers(ref, interpreter=PY311)
    text2 = claims.evidence_statement(ref, interpreter=PY311)
    assert k2["c256_rate"] != pytest.approx(k["c256_rate"])
    assert f"{k2['c256_rate']:.2f} CPU-minutes per wall-hour" in text2


def test_key_number_counts_match_ledger():
    k = claims.key_numbers(interpreter=PY311)
    led = claims.ledger(interpreter=PY311)
    assert k["n_claims"] == len(led)
    assert k["n_consistent"] + k["n_inconsistent"] + k["n_unverifiable"] == len(led)


# ------------------------------------------------------------------ the data documentation


def test_readme_documents_every_column():
    readme = (paths.REFERENCE / "README.md").read_text(encoding="utf-8")
    assert "not ours" in readme
    columns = (
        *claims.CLAIM_COLUMNS, *claims.ARCHIVE_COLUMNS, *claims.SNAPSHOT_COLUMNS,
        *claims.TABLE1_COLUMNS,
    )  # fmt: skip
    for c in columns:
        assert f"`{c}`" in readme, c
    for name in (claims.CLAIMS_CSV, claims.ARCHIVE_CSV, claims.SNAPSHOTS_CSV, claims.TABLE1_CSV):
        assert name in readme


# ------------------------------------------------------------------ the figure


def test_snapshot_figure(tmp_path):
    from matplotlib.figure import Figure

    from nrm.claims.figure import plot_snapshots, save_snapshot_figure

    fig = plot_snapshots()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert "(h)" in ax.get_xlabel() and "CPU-minutes" in ax.get_ylabel()
    assert "not measured here" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("paper's reading" in t for t in labels)
    assert any("median rate" in t for t in labels)
    # the plotted C256 points are the readings, in CPU-minutes
    pts = [tuple(map(float, p)) for c in ax.collections for p in c.get_offsets()]
    assert any(p == pytest.approx((6.93, 17 + 30.22 / 60)) for p in pts)
    # drawn into a caller's axes
    other = Figure()
    target = other.add_subplot()
    assert plot_snapshots(target) is other
    out = save_snapshot_figure(tmp_path / "snap.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ParameterError, match="suffix"):
        save_snapshot_figure(tmp_path / "snap.jpeg")
