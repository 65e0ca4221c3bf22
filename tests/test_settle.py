"""The sweep lets the disk settle before a timed run (nrm/study/settle.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nrm.study.settle import pending_writeback_kib, settle_disk


def _meminfo(path: Path, dirty: int, writeback: int) -> None:
    path.write_text(f"MemTotal:       24000000 kB\nDirty:          {dirty} kB\n"
                    f"Writeback:      {writeback} kB\nAnonPages:      1 kB\n", encoding="ascii")


def test_pending_reads_dirty_plus_writeback(tmp_path: Path) -> None:
    m = tmp_path / "meminfo"
    _meminfo(m, 300, 45)
    assert pending_writeback_kib(m) == 345
    assert pending_writeback_kib(tmp_path / "missing") is None
    (tmp_path / "other").write_text("MemTotal: 1 kB\n", encoding="ascii")
    assert pending_writeback_kib(tmp_path / "other") is None


def test_settle_waits_until_below_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """A fake /proc/meminfo drains in steps; settle returns once it is below the threshold,
    not before, and records what was pending."""
    m = tmp_path / "meminfo"
    _meminfo(m, 400_000, 10_000)
    steps = iter([200_000, 50_000, 1_000])

    def fake_sleep(_s: float) -> None:
        _meminfo(m, next(steps), 0)

    monkeypatch.setattr("nrm.study.settle.time.sleep", fake_sleep)
    got = settle_disk(threshold_kib=16 * 1024, timeout_s=30, meminfo=m)
    assert got.settled and got.pending_before_kib == 410_000 and got.pending_after_kib == 1_000
    assert got.to_dict()["settled"] is True


def test_settle_gives_up_at_timeout(tmp_path: Path) -> None:
    m = tmp_path / "meminfo"
    _meminfo(m, 900_000, 0)  # never drains
    t0 = time.perf_counter()
    got = settle_disk(threshold_kib=1024, timeout_s=0.3, meminfo=m)
    assert not got.settled and got.pending_after_kib == 900_000
    assert 0.3 <= time.perf_counter() - t0 < 5


def test_settle_on_the_real_machine_after_a_write(tmp_path: Path) -> None:
    """32 MiB written without fsync, then settled: the real /proc/meminfo ends below the
    threshold (the kernel has written the file back)."""
    if pending_writeback_kib() is None:
        pytest.skip("no /proc/meminfo")
    with (tmp_path / "blob").open("wb") as fh:
        fh.write(os.urandom(32 * 1024 * 1024))
    got = settle_disk()
    assert got.settled, got
    assert got.pending_after_kib is not None and got.pending_after_kib <= 16 * 1024
