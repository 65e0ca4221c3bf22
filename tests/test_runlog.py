"""cycles.csv appender (round trip, extras, kill safety, truncate) and run.json helpers."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from nrm.exceptions import LogError
from nrm.instrument.columns import NAMES
from nrm.instrument.runlog import CycleLog
from nrm.instrument.runrecord import (
    EXIT_STATUS,
    RunRecord,
    is_complete,
    mark_status,
    read_run_json,
    update_run_json,
    write_run_json,
)


def _rows(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "step": i,
            "condition": "OFF-ON",
            "cycle": i - start,
            "wall_s": 0.001 * (i + 1),
            "rss_bytes": 1000 + i,
            "population": 10 * i,
        }
        for i in range(start, start + n)
    ]


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_round_trip_registry_columns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path, flush_every=3) as log:
        for row in _rows(7):
            log.append(row)
    lines = _read(path)
    assert tuple(lines[0]) == NAMES
    assert len(lines) == 8
    df = pd.read_csv(path)
    assert list(df.columns) == list(NAMES)
    assert df["step"].tolist() == list(range(7))
    assert df["wall_s"].tolist() == pytest.approx([0.001 * (i + 1) for i in range(7)])
    assert df["population"].tolist() == [10 * i for i in range(7)]
    # columns not handed in are empty cells, read back as missing
    assert df["gc_pause_s"].isna().all()
    row1 = dict(zip(lines[0], lines[2], strict=True))
    assert row1["cpu_s"] == "" and row1["condition"] == "OFF-ON" and row1["rss_bytes"] == "1001"


def test_flushes_every_k_rows(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    log = CycleLog(path, flush_every=5, flush_every_s=None)
    assert len(_read(path)) == 1  # header written at once
    for row in _rows(4):
        log.append(row)
    assert len(_read(path)) == 1 and log.pending == 4 and log.rows_written == 0
    log.append(_rows(1, start=4)[0])
    assert len(_read(path)) == 6 and log.pending == 0 and log.rows_written == 5
    log.close()
    assert log.closed


def test_time_based_flush(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path, flush_every=1000, flush_every_s=0.0) as log:
        log.append(_rows(1)[0])
        assert log.rows_written == 1


def test_extra_columns_declared_and_undeclared(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path, extra_columns=("queue_len", "cache_bytes")) as log:
        log.append({"step": 0, "cycle": 0, "wall_s": 0.5, "queue_len": 3})
        with pytest.raises(LogError, match=r"undeclared column\(s\) \['hits'\]"):
            log.append({"step": 1, "cycle": 1, "wall_s": 0.5, "hits": 1})
    df = pd.read_csv(path)
    assert list(df.columns) == [*NAMES, "queue_len", "cache_bytes"]
    assert df["queue_len"].tolist() == [3]
    assert df["cache_bytes"].isna().all()


@pytest.mark.parametrize("bad", ["wall_s", "has space", "a,b", ""])
def test_bad_extra_column_names(tmp_path: Path, bad: str) -> None:
    with pytest.raises(LogError, match=repr(bad)):
        CycleLog(tmp_path / "cycles.csv", extra_columns=(bad,))


def test_strings_with_commas_are_quoted(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path) as log:
        log.append({"step": 0, "cycle": 0, "wall_s": 1.0, "condition": 'a,b "c"'})
    assert pd.read_csv(path)["condition"].tolist() == ['a,b "c"']


def test_reopen_appends_with_matching_header(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path) as log:
        for row in _rows(3):
            log.append(row)
    with CycleLog(path) as log:
        for row in _rows(2, start=3):
            log.append(row)
    assert pd.read_csv(path)["step"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(LogError, match="header does not match"):
        CycleLog(path, extra_columns=("other",))


def test_truncate_keeps_steps_below_and_drops_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    with CycleLog(path) as log:
        for row in _rows(10):
            log.append(row)
    with open(path, "ab") as fh:
        fh.write(b"10,OFF-ON,10,0.0")  # a torn last line, as after a crash mid-write
    with pytest.raises(LogError, match="incomplete"):
        CycleLog(path)
    kept = CycleLog.truncate(path, keep_steps_below=6)
    assert kept == 6
    assert pd.read_csv(path)["step"].tolist() == [0, 1, 2, 3, 4, 5]
    with CycleLog(path) as log:  # appendable again
        log.append(_rows(1, start=6)[0])
    assert pd.read_csv(path)["step"].tolist() == list(range(7))


def test_truncate_reports_corrupt_step(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    path.write_text("step,cycle,wall_s\n0,0,1.0\nx,1,1.0\n")
    with pytest.raises(LogError, match="line 3"):
        CycleLog.truncate(path, 5)
    with pytest.raises(LogError, match=r"no cycles\.csv"):
        CycleLog.truncate(tmp_path / "missing.csv", 5)


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from nrm.instrument.runlog import CycleLog
    log = CycleLog(sys.argv[1], flush_every=5, flush_every_s=None)
    for i in range(23):
        log.append({"step": i, "cycle": i, "wall_s": 0.25, "condition": "c"})
    os._exit(9)  # killed: no close, no flush of the 3 pending rows
    """
)


def test_killed_process_leaves_whole_rows_up_to_last_flush(tmp_path: Path) -> None:
    path = tmp_path / "cycles.csv"
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], check=False)
    assert proc.returncode == 9
    data = path.read_bytes()
    assert data.endswith(b"\n")  # whole lines only
    df = pd.read_csv(path)
    assert len(df) == 20 and len(df) % 5 == 0
    assert df["step"].tolist() == list(range(20))
    assert (df["wall_s"] == 0.25).all()


# --- run.json -------------------------------------------------------------------------------


def test_run_json_round_trip_and_status(tmp_path: Path) -> None:
    write_run_json(tmp_path, {"name": "r1", "status": "running", "exit_status": None})
    meta = read_run_json(tmp_path)
    assert meta["format"] == "nrm-run/1" and meta["name"] == "r1"
    assert not is_complete(meta)  # a killed run stays "running": incomplete
    meta = update_run_json(tmp_path, conditions={"OFF-OFF": {"mean": 1.5}})
    assert read_run_json(tmp_path)["conditions"] == {"OFF-OFF": {"mean": 1.5}}
    meta = mark_status(tmp_path, "complete")
    assert meta["exit_status"] == 0 and meta["ended_at"].endswith("Z")
    assert is_complete(read_run_json(tmp_path))
    meta = mark_status(tmp_path, "failed", error="ZeroDivisionError: pooling")
    assert (meta["status"], meta["exit_status"], meta["error"]) == (
        "failed",
        1,
        "ZeroDivisionError: pooling",
    )
    assert not is_complete(meta)
    assert EXIT_STATUS["interrupted"] == 130
    assert mark_status(tmp_path, "interrupted")["exit_status"] == 130


def test_run_json_errors(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="missing"):
        read_run_json(tmp_path)
    (tmp_path / "run.json").write_text('{"status": "running",')
    with pytest.raises(LogError, match="corrupt JSON at line 1"):
        read_run_json(tmp_path)
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(LogError, match="expected a JSON object"):
        read_run_json(tmp_path)
    write_run_json(tmp_path, {"status": "running"})
    with pytest.raises(LogError, match="unknown run status 'done'"):
        mark_status(tmp_path, "done")
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"


def test_run_record_lifecycle(tmp_path: Path) -> None:
    """Created "running" (lifecycle keys first, then the fields, then the context), updated,
    resumed, finished: each step is on disk at once."""
    rec = RunRecord.create(tmp_path / "r1", {"experiment": "C256", "conditions": {}},
                           context={"host": "h"}, clock=lambda: "T0")
    on_disk = read_run_json(tmp_path / "r1")
    assert list(on_disk) == ["format", "name", "status", "exit_status", "error", "started_at",
                             "ended_at", "experiment", "conditions", "context"]
    assert (on_disk["format"], on_disk["name"], on_disk["status"]) == ("nrm-run/1", "r1",
                                                                       "running")
    rec.update(conditions={"OFF-OFF": {"mean": 1.0}})
    assert read_run_json(tmp_path / "r1")["conditions"] == {"OFF-OFF": {"mean": 1.0}}
    rec.finish("interrupted", 143, "interrupted by SIGTERM")
    again = RunRecord.open(tmp_path / "r1", clock=lambda: "T1")
    assert (again.status, again["exit_status"], again["ended_at"]) == ("interrupted", 143, "T0")
    again.resume(from_step=7)
    again.finish("complete")
    final = read_run_json(tmp_path / "r1")
    assert (final["status"], final["exit_status"], final["error"]) == ("complete", 0, None)
    assert final["resumes"] == [{"at": "T1", "from_step": 7}] and final["ended_at"] == "T1"
    with pytest.raises(LogError, match="unknown run status 'done'"):
        again.finish("done")
    assert read_run_json(tmp_path / "r1")["status"] == "complete"
