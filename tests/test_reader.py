"""nrm.instrument.reader: run folders and bare CSVs into pandas; every malformed log is a clear
LogError."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthlogs import make_cycles, times_only, write_run

from nrm.exceptions import LogError
from nrm.instrument.columns import BY_NAME
from nrm.instrument.reader import RunData, TruncatedLogWarning, load_run, read_cycles


@pytest.fixture()
def cycles() -> pd.DataFrame:
    return make_cycles(50, seed=3, arena_every=10)


def _lines(folder: Path) -> list[str]:
    return (folder / "cycles.csv").read_text().splitlines()


def _write_lines(folder: Path, lines: list[str], *, newline: bool = True) -> None:
    (folder / "cycles.csv").write_text("\n".join(lines) + ("\n" if newline else ""))


# ---- reading -------------------------------------------------------------------------------
def test_round_trip_values_and_dtypes(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "C256", cycles, meta={"experiment": "C256"})
    run = load_run(folder)
    assert isinstance(run, RunData)
    assert run.complete is True
    assert run.meta["experiment"] == "C256"
    assert run.name == "C256"
    assert run.conditions == ["OFF-OFF", "ON-OFF", "OFF-ON", "ON-ON"]
    df = run.cycles
    assert list(df.columns) == list(cycles.columns)
    assert len(df) == 200
    for name in df.columns:
        kind = BY_NAME[name].dtype
        expected = {"int": "Int64", "float": "float64", "str": "str"}[kind]
        assert str(df[name].dtype) == expected, name
    np.testing.assert_array_equal(df["wall_s"].to_numpy(), cycles["wall_s"].to_numpy())
    np.testing.assert_array_equal(df["rss_bytes"].to_numpy(dtype=np.int64), cycles["rss_bytes"])
    # sparse arena columns: measured every 10th row, missing elsewhere
    assert df["arena_bytes"].notna().sum() == 20
    assert df["arena_bytes"].isna().sum() == 180
    assert np.isnan(df["frag_ratio"].iloc[1]) and np.isfinite(df["frag_ratio"].iloc[0])


def test_bare_csv_without_run_json(tmp_path: Path) -> None:
    csv = tmp_path / "my_loop.csv"
    times_only(np.array([0.01, 0.02, 0.03, 0.04])).to_csv(csv, index=False)
    run = load_run(csv)
    assert run.meta == {}
    assert run.complete is True
    assert run.name == "my_loop"
    assert run.conditions == []
    assert run.cycles["wall_s"].tolist() == [0.01, 0.02, 0.03, 0.04]


def test_cycles_csv_path_reads_the_run_json_beside_it(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r1", cycles, status="interrupted")
    run = load_run(folder / "cycles.csv")
    assert run.meta["status"] == "interrupted"
    assert run.complete is False
    assert run.name == "r1"


def test_unknown_columns_are_kept(tmp_path: Path) -> None:
    df = times_only(np.array([0.01, 0.02, 0.03]))
    df["my_metric"] = [1.5, np.nan, 3.0]
    df["my_label"] = ["a", "b", "c"]
    csv = tmp_path / "x.csv"
    df.to_csv(csv, index=False)
    out = load_run(csv).cycles
    assert out["my_metric"].dtype == np.float64
    assert np.isnan(out["my_metric"].iloc[1])
    assert out["my_label"].tolist() == ["a", "b", "c"]


def test_missing_value_tokens(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s,rss_bytes,load1",
                            "0,0,0.01,100,nan", "1,1,0.02,NA,0.5", "2,2,0.03,,1.5"])
    df = load_run(tmp_path / "cycles.csv").cycles
    assert df["rss_bytes"].isna().tolist() == [False, True, True]
    assert df["load1"].isna().tolist() == [True, False, False]


# ---- errors ------------------------------------------------------------------------------
def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=r"nope.*no such file or folder"):
        load_run(tmp_path / "nope")


def test_folder_without_cycles_csv(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(LogError, match=r"cycles\.csv: missing"):
        load_run(tmp_path)


def test_missing_required_columns_are_listed(tmp_path: Path) -> None:
    csv = tmp_path / "cycles.csv"
    pd.DataFrame({"step": [0, 1], "rss_bytes": [1, 2]}).to_csv(csv, index=False)
    with pytest.raises(LogError) as err:
        load_run(csv)
    msg = str(err.value)
    assert str(csv) in msg
    assert "missing required column(s) cycle, wall_s" in msg


def test_non_numeric_value_names_line_and_column(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles)
    lines = _lines(folder)
    header = lines[0].split(",")
    fields = lines[6].split(",")  # data row 5 is line 7 of the file
    fields[header.index("wall_s")] = "0.0x1"
    lines[6] = ",".join(fields)
    _write_lines(folder, lines)
    expected = r"cycles\.csv: line 7, column 'wall_s': '0\.0x1' is not a number"
    with pytest.raises(LogError, match=expected):
        load_run(folder)


def test_non_integral_value_in_integer_column(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s,samples", "0,0,0.01,3", "1,1,0.02,2.5"])
    with pytest.raises(LogError, match=r"line 3, column 'samples'.*not a whole number"):
        load_run(tmp_path / "cycles.csv")


def test_empty_required_cell(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s", "0,0,0.01", "1,1,"])
    with pytest.raises(LogError, match=r"line 3, column 'wall_s' is empty"):
        load_run(tmp_path / "cycles.csv")


def test_infinite_value(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s", "0,0,0.01", "1,1,inf"])
    with pytest.raises(LogError, match=r"line 3, column 'wall_s'.*not finite"):
        load_run(tmp_path / "cycles.csv")


@pytest.mark.parametrize("column", ["wall_s", "commit_s", "samples"])
def test_negative_values(tmp_path: Path, column: str) -> None:
    df = times_only(np.array([0.01, 0.02, 0.03]))
    df["commit_s"] = [0.001, 0.001, 0.001]
    df["samples"] = [1, 1, 1]
    df.loc[2, column] = -1
    df.to_csv(tmp_path / "cycles.csv", index=False)
    with pytest.raises(LogError, match=rf"line 4, column '{column}': -1 is negative"):
        load_run(tmp_path / "cycles.csv")


def test_blocked_s_may_be_slightly_negative(tmp_path: Path) -> None:
    df = times_only(np.array([0.01, 0.02, 0.03]))
    df["blocked_s"] = [0.0, -1e-6, 0.001]
    df.to_csv(tmp_path / "cycles.csv", index=False)
    assert load_run(tmp_path / "cycles.csv").cycles["blocked_s"].iloc[1] == -1e-6


@pytest.mark.parametrize(
    ("steps", "what"), [([0, 1, 1, 2], "1 repeats 1"), ([0, 2, 1, 3], "1 goes back from 2")]
)
def test_step_must_increase(tmp_path: Path, steps: list[int], what: str) -> None:
    df = pd.DataFrame({"step": steps, "cycle": range(4), "wall_s": [0.01] * 4})
    df.to_csv(tmp_path / "cycles.csv", index=False)
    with pytest.raises(LogError, match=rf"line 4, column 'step': {what} on line 3"):
        load_run(tmp_path / "cycles.csv")


def test_corrupt_run_json(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles)
    (folder / "run.json").write_text('{"status": "complete", "name": ')
    with pytest.raises(LogError, match=r"run\.json: not valid JSON \(line 1"):
        load_run(folder)


def test_run_json_not_an_object(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles)
    (folder / "run.json").write_text("[1, 2]")
    with pytest.raises(LogError, match=r"run\.json: expected a JSON object.*list"):
        load_run(folder)


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    (tmp_path / "cycles.csv").write_text("")
    with pytest.raises(LogError, match="empty file"):
        load_run(tmp_path / "cycles.csv")
    (tmp_path / "cycles.csv").write_text("step,cycle,wall_s\n")
    with pytest.raises(LogError, match="header but no data rows"):
        load_run(tmp_path / "cycles.csv")


def test_malformed_middle_line(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s", "0,0,0.01", "1,1", "2,2,0.03"])
    with pytest.raises(LogError, match=r"line 3 has 2 fields, expected 3"):
        load_run(tmp_path / "cycles.csv")
    _write_lines(tmp_path, ["step,cycle,wall_s", "0,0,0.01", "", "2,2,0.03"])
    with pytest.raises(LogError, match=r"line 3 is empty"):
        load_run(tmp_path / "cycles.csv")


def test_too_many_fields_on_last_line(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s", "0,0,0.01", "1,1,0.02,9"])
    with pytest.raises(LogError, match=r"line 3 has 4 fields, expected 3"):
        load_run(tmp_path / "cycles.csv")


# ---- truncated logs ----------------------------------------------------------------------
def _truncate(folder: Path) -> None:
    lines = _lines(folder)
    lines[-1] = ",".join(lines[-1].split(",")[:5])  # a row cut after 5 fields
    _write_lines(folder, lines, newline=False)


def test_truncated_last_line_of_complete_run_is_an_error(
    tmp_path: Path, cycles: pd.DataFrame
) -> None:
    folder = write_run(tmp_path / "r", cycles, status="complete")
    _truncate(folder)
    ncol = cycles.shape[1]
    with pytest.raises(LogError, match=rf"line 201 is truncated \(5 of {ncol} fields\).*complete"):
        load_run(folder)


def test_truncated_last_line_of_bare_csv_is_an_error(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles, status=None)
    _truncate(folder)
    with pytest.raises(LogError, match="truncated"):
        load_run(folder / "cycles.csv")


@pytest.mark.parametrize("status", ["running", "interrupted", "failed"])
def test_truncated_last_line_of_incomplete_run_is_dropped(
    tmp_path: Path, cycles: pd.DataFrame, status: str
) -> None:
    folder = write_run(tmp_path / "r", cycles, status=status)
    _truncate(folder)
    with pytest.warns(TruncatedLogWarning, match=r"dropped the truncated last line 201"):
        run = load_run(folder)
    assert run.complete is False
    assert len(run.cycles) == 199
    assert run.cycles["step"].iloc[-1] == 198


def test_missing_final_newline(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles, status="complete")
    _write_lines(folder, _lines(folder), newline=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_run(folder).cycles) == 200  # complete: the full last line is kept
    (folder / "run.json").write_text(json.dumps({"status": "running"}))
    with pytest.warns(TruncatedLogWarning, match="no final newline"):
        run = load_run(folder)  # incomplete: the last value may be cut, so the line goes
    assert len(run.cycles) == 199


def test_incomplete_run_without_truncation(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles, status="interrupted")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = load_run(folder)
    assert run.complete is False
    assert len(run.cycles) == 200


def test_read_cycles_reports_the_drop(tmp_path: Path) -> None:
    _write_lines(tmp_path, ["step,cycle,wall_s", "0,0,0.01", "1,1,0.02", "2,2"], newline=False)
    with pytest.warns(TruncatedLogWarning):
        df, dropped = read_cycles(tmp_path / "cycles.csv", allow_truncated_tail=True)
    assert dropped is True
    assert df["step"].tolist() == [0, 1]


def test_bom_and_crlf_and_run_json_path(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfstep,cycle,wall_s\r\n0,0,0.01\r\n1,1,0.02\r\n"
    (tmp_path / "cycles.csv").write_bytes(data)
    (tmp_path / "run.json").write_text(json.dumps({"status": "complete", "name": "bom"}))
    run = load_run(tmp_path / "run.json")
    assert run.name == "bom"
    assert run.cycles["wall_s"].tolist() == [0.01, 0.02]


def test_run_json_without_status_is_incomplete(tmp_path: Path, cycles: pd.DataFrame) -> None:
    folder = write_run(tmp_path / "r", cycles)
    (folder / "run.json").write_text("{}")
    assert load_run(folder).complete is False
