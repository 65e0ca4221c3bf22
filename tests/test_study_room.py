"""A study whose runs cannot fit is refused before it starts, naming the space it needs
(issue #23): on the study folder's file system, and in /dev/shm for the arms run in RAM."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from nrm.cli.main import main
from nrm.exceptions import ParameterError
from nrm.study import room
from nrm.study.sweep import build_plan, run_study

Usage = namedtuple("Usage", "total used free")


def _free_only(monkeypatch: pytest.MonkeyPatch, free: dict[str, int]) -> None:
    real = shutil.disk_usage

    def usage(path: str | Path) -> Usage:
        for prefix, n in free.items():
            if str(Path(path).absolute()).startswith(prefix):
                return Usage(n * 2, n, n)
        return real(path)

    monkeypatch.setattr(room.shutil, "disk_usage", usage)


def test_the_estimate_counts_every_run_and_the_ram_arms_once_per_worker() -> None:
    plan = build_plan("smoke")
    disk1, ram1 = room.study_needs(plan, plan.tasks(), workers=1)
    disk2, ram2 = room.study_needs(plan, plan.tasks(), workers=2)
    assert 0 < disk1 <= disk2 and 0 < ram1 <= ram2  # RAM: the dbgrow and long arms
    half = room.study_needs(plan, plan.tasks()[: len(plan.tasks()) // 2], workers=1)[0]
    assert half < disk1  # fewer runs to go, less space


def test_a_study_too_big_for_the_disk_is_refused_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "study"
    _free_only(monkeypatch, {str(tmp_path): 2**20})  # 1 MiB free
    with pytest.raises(ParameterError, match=r"would write about [\d.]+ MiB .* 1\.0 MiB free"):
        run_study(build_plan("smoke"), out, progress=False)
    assert not out.exists() or not any(out.iterdir())
    rc = main(["study", "run", "--scale", "smoke", "--out", str(out), "--no-progress"])
    assert rc == 2 and (not out.exists() or not any(out.iterdir()))


def test_ram_is_checked_for_the_arms_run_in_dev_shm(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(room, "RAM_DIR", shm)
    _free_only(monkeypatch, {str(shm): 1024})
    plan = build_plan("smoke")
    with pytest.raises(ParameterError, match=r"would hold in RAM about .* free; .*--force"):
        room.check_study_room(plan, tmp_path / "study", plan.tasks())
    disk, ram = room.check_study_room(plan, tmp_path / "study", plan.tasks(), force=True)
    assert disk > 0 and ram > 0
