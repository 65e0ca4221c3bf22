"""The fast cycles.csv line writer agrees with the csv module (the reference), cell by cell."""

from __future__ import annotations

import csv
import io
import math
import random

import pandas as pd
import pytest

from nrm.instrument.columns import FLOAT_FORMATS, NAMES
from nrm.instrument.probe import Probe
from nrm.instrument.rowformat import RowFormatter, csv_cell
from nrm.instrument.runlog import CycleLog

COLUMNS = ("step", "condition", "wall_s", "population", "frag_ratio", "note", "flag")


def _reference(row: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([row.get(c) for c in COLUMNS])
    return buf.getvalue()


def _random_value(rng: random.Random, column: str):
    pick = rng.random()
    if pick < 0.15:
        return None
    if column in ("step", "population"):
        return rng.randrange(-10**12, 10**12)
    if column in ("wall_s", "frag_ratio"):
        return rng.choice([0.0, 1e-300, 123456.789, rng.random() * 10 ** rng.randint(-9, 9)])
    if column == "flag":
        return rng.choice([True, False, 7])
    return rng.choice(["ON-OFF", "", "a,b", 'say "hi"', "two\nlines", "plain text"])


def test_lines_match_the_csv_module_except_the_declared_float_formats() -> None:
    rng = random.Random(7)
    fmt = RowFormatter(COLUMNS)
    for _ in range(2000):
        row = {c: _random_value(rng, c) for c in COLUMNS if rng.random() < 0.9}
        line = fmt.line(tuple(row), tuple(row.values()))
        ours = next(csv.reader(io.StringIO(line)))
        ref = next(csv.reader(io.StringIO(_reference(row))))
        assert len(ours) == len(COLUMNS) and line.endswith("\n")
        for column, a, b in zip(COLUMNS, ours, ref, strict=True):
            if column in FLOAT_FORMATS and isinstance(row.get(column), float):
                assert float(a) == pytest.approx(float(b), abs=1e-9, rel=1e-15)
            else:
                assert a == b, (column, row.get(column), a, b)
    assert fmt.shapes > 10  # many shapes seen, one plan each


def test_float_formats_are_fixed_decimals_and_others_exact() -> None:
    fmt = RowFormatter(("wall_s", "t_unix", "cpu_s", "frag_ratio"))
    values = (0.000213456789123, 1795606277.6662693, 0.000213000000000011, 0.1 + 0.2)
    line = fmt.line(("wall_s", "t_unix", "cpu_s", "frag_ratio"), values)
    assert line == "0.000213457,1795606277.666269,0.000213,0.30000000000000004\n"
    assert FLOAT_FORMATS["wall_s"] == "%.9f" and FLOAT_FORMATS["cpu_s"] == "%.6f"


def test_a_later_key_wins_and_unknown_keys_are_ignored() -> None:
    fmt = RowFormatter(("step", "cycle"))
    assert fmt.line(("step", "cycle", "other", "step"), (1, 2, 3, 9)) == "9,2\n"


def test_a_value_changing_type_gets_its_own_plan() -> None:
    fmt = RowFormatter(("step", "db_bytes"))
    keys = ("step", "db_bytes")
    lines = [fmt.line(keys, (1, None)), fmt.line(keys, (2, 4096)), fmt.line(keys, (3, 1.5))]
    assert lines == ["1,\n", "2,4096\n", "3,1.5\n"]


def test_csv_cell_quotes_only_when_needed() -> None:
    assert csv_cell("ON-OFF") == "ON-OFF"
    assert csv_cell('a "b", c') == '"a ""b"", c"'
    assert csv_cell(True) == "True"
    # csv.writer with lineterminator="\n" leaves a lone "\r" unquoted, which its own reader
    # then refuses; we quote it, so the line reads back
    assert next(csv.reader(io.StringIO(csv_cell("cr\r") + "\n"))) == ["cr\r"]


def test_probe_rows_read_back_equal_the_returned_mappings(tmp_path) -> None:
    path = tmp_path / "cycles.csv"
    rows = []
    log = CycleLog(path, flush_every=3, extra_columns=("spawns",))
    with log, Probe(log, arena_every=2, io_calls_every=2) as probe:
        for i in range(7):
            probe.begin_cycle()
            _ = [object() for _ in range(2000)]
            rows.append(
                probe.end_cycle(condition="ON-ON", population=i, sample_s=0.25 * i,
                                db_bytes=None if i < 3 else 4096 * i, spawns=i % 2)
            )  # fmt: skip
    df = pd.read_csv(path)
    assert list(df.columns) == [*NAMES, "spawns"] and len(df) == 7
    for i, row in enumerate(rows):
        assert set(row) <= set(df.columns)
        for column in df.columns:
            cell = df.at[i, column]
            value = row.get(column)
            if value is None:
                assert pd.isna(cell), (i, column, cell)
            elif isinstance(value, str):
                assert cell == value
            else:
                assert math.isclose(float(cell), float(value), rel_tol=1e-12, abs_tol=1e-9), (
                    i, column, cell, value
                )  # fmt: skip


def test_the_plan_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import nrm.instrument.rowformat as rowformat

    monkeypatch.setattr(rowformat, "_MAX_PLANS", 3)
    fmt = RowFormatter(("a", "b"))
    lines = [fmt.line(("a", "b"), (i, 0.5 if i % 2 else None)) for i in range(3)]
    lines += [fmt.line(("a",), (i,)) for i in range(3, 6)]
    lines += [fmt.line(("b",), ("x",)), fmt.line(("a", "b"), (7, True))]
    assert fmt.shapes <= 3
    assert lines == ["0,\n", "1,0.5\n", "2,\n", "3,\n", "4,\n", "5,\n", ",x\n", "7,True\n"]
