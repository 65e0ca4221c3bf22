"""Atomic writes: whole file or old file, readable modes, no temp files left behind."""

from __future__ import annotations

import os
import stat

import pytest

from nrm.atomic import atomic_write, atomic_write_text


def test_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    p = atomic_write_text(tmp_path / "paper.md", "x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_replacing_keeps_the_old_files_mode(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    p.chmod(0o640)
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_a_failing_writer_leaves_the_old_file_and_no_temp_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")

    def boom(fh):
        fh.write("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(p, boom)
    assert p.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]
