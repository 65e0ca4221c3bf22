from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


# ------------------------------------------------------------------ one shared smoke build
import subprocess
from pathlib import Path

import pytest

#: Never re-install from a test (make -o: treat the venv as up to date).
VENV_STAMP = ".venv/.installed-stamp"


def make_paper(out: Path, *args: str, scale: str = "smoke",
               extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``make paper SCALE=... OUT=out`` (or another target) in the project, captured."""
    from nrm import paths

    return subprocess.run(["make", "-C", str(paths.ROOT), "-o", VENV_STAMP, *args,
                           f"SCALE={scale}", f"OUT={out}", *extra],
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``make paper SCALE=smoke`` build per test session (tests using it share the
    xdist_group "make_paper", so they run on one worker and build it once)."""
    out = tmp_path_factory.mktemp("paper-smoke")
    res = make_paper(out, "paper")
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    (out / "make.console").write_text(res.stdout + res.stderr, encoding="utf-8")  # for the tests
    return out
