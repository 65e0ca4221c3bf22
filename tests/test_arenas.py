"""pymalloc arena statistics: canned CPython 3.11 reports and the live interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nrm.instrument.arenas import (
    ArenaStatsError,
    capture_debugmallocstats,
    parse_debugmallocstats,
    pymalloc_active,
    read_arena_stats,
)

DATA = Path(__file__).parent / "data"
PYMALLOC_TEXT = (DATA / "debugmallocstats-3.11-pymalloc.txt").read_text()
MALLOC_TEXT = (DATA / "debugmallocstats-3.11-malloc.txt").read_text()


def test_canned_report_values_read_by_hand() -> None:
    # Numbers copied by eye from tests/data/debugmallocstats-3.11-pymalloc.txt
    s = parse_debugmallocstats(PYMALLOC_TEXT)
    assert s is not None
    assert (s.arenas_allocated, s.arenas_reclaimed, s.arenas_highwater, s.arenas_current) == (
        25,
        18,
        25,
        7,
    )
    assert s.arena_size == 1_048_576  # 1 MiB arenas on 3.10+
    assert s.arena_bytes == 7_340_032
    assert s.used_block_bytes == 3_979_904
    assert s.available_block_bytes == 1_789_408
    assert s.unused_pool_bytes == 1_425_408
    assert s.frag_ratio == pytest.approx(1 - 3_979_904 / 7_340_032)
    assert s.frag_ratio == pytest.approx(0.457781, abs=1e-6)


def test_canned_report_parts_add_up_to_the_arena_total() -> None:
    # The report splits arena memory into used blocks, free blocks, unused pools and overheads;
    # these must sum to the "Total" line (an independent check on the parse).
    s = parse_debugmallocstats(PYMALLOC_TEXT)
    assert s is not None
    parts = (
        s.used_block_bytes
        + s.available_block_bytes
        + s.unused_pool_bytes
        + s.pool_header_bytes
        + s.quantization_bytes
        + s.alignment_bytes
    )
    assert parts == s.arena_bytes
    # arenas still held = allocated - reclaimed
    assert s.arenas_current == s.arenas_allocated - s.arenas_reclaimed


def test_report_without_pymalloc_section_means_no_pymalloc() -> None:
    assert parse_debugmallocstats(MALLOC_TEXT) is None
    assert parse_debugmallocstats("") is None


def test_changed_format_fails_naming_the_missing_line() -> None:
    broken = PYMALLOC_TEXT.replace("# arenas reclaimed", "# arenas given back")
    with pytest.raises(ArenaStatsError, match="arenas reclaimed"):
        parse_debugmallocstats(broken)
    no_size = "\n".join(line for line in PYMALLOC_TEXT.splitlines() if "bytes/arena" not in line)
    with pytest.raises(ArenaStatsError, match="bytes/arena"):
        parse_debugmallocstats(no_size)


def test_as_row_uses_registry_columns() -> None:
    from nrm.instrument.columns import BY_NAME

    s = parse_debugmallocstats(PYMALLOC_TEXT)
    assert s is not None
    row = s.as_row()
    assert set(row) <= set(BY_NAME)
    assert {BY_NAME[k].group for k in row} == {"arena"}


def test_live_interpreter_parses_and_is_consistent() -> None:
    text = capture_debugmallocstats()
    assert "Small block threshold" in text  # tests run under pymalloc
    s = read_arena_stats()
    assert s is not None
    assert s.arena_size == 1 << 20
    assert s.arenas_current == s.arenas_allocated - s.arenas_reclaimed
    assert s.arenas_highwater >= s.arenas_current >= 1
    assert 0 < s.used_block_bytes <= s.arena_bytes
    assert 0.0 <= s.frag_ratio < 1.0
    assert pymalloc_active()


def test_live_reading_follows_allocations() -> None:
    before = read_arena_stats()
    keep = [(i, str(i)) for i in range(200_000)]  # ~20 MB of small objects
    during = read_arena_stats()
    assert before is not None and during is not None
    assert during.used_block_bytes > before.used_block_bytes + 10_000_000
    assert during.arenas_allocated > before.arenas_allocated
    del keep


def test_capture_restores_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    capture_debugmallocstats()
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_no_pymalloc_in_a_malloc_child() -> None:
    code = "import nrm.instrument.arenas as a; print(a.read_arena_stats(), a.pymalloc_active())"
    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "False"]


def test_capture_falls_back_when_the_pipe_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    import nrm.instrument.arenas as mod

    capture_debugmallocstats()  # opens the pipe in this process
    monkeypatch.setattr(mod._capture, "capacity", 64)  # pretend the pipe holds only 64 bytes
    text = capture_debugmallocstats()
    assert len(text) > 64 and parse_debugmallocstats(text) is not None
