from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


# ------------------------------------------------------------------ one shared smoke build
import subprocess
from collections.abc import Callable, Iterator
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


# ------------------------------------------------------------- a real Dask scheduler/workers
@pytest.fixture
def dask_pair() -> Iterator[Callable[[int], tuple[str, list[subprocess.Popen[bytes]]]]]:
    """``start(n)``: a real ``dask scheduler`` on 127.0.0.1 (a free port) and ``n`` single-
    threaded ``dask worker`` s, each in a session of its own (a test may kill one with
    ``os.killpg(worker.pid, ...)``); returns the address and the workers. All are killed at
    the end of the test."""
    import contextlib
    import os
    import signal
    import socket
    import sys

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs: list[subprocess.Popen[bytes]] = []

    def launch(argv: list[str]) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, env=env)
        procs.append(p)
        return p

    def start(workers: int = 2) -> tuple[str, list[subprocess.Popen[bytes]]]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        addr = f"tcp://127.0.0.1:{port}"
        launch([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                "--no-dashboard"])
        return addr, [launch([str(bin_dir / "dask"), "worker", addr, "--nthreads", "1",
                              "--host", "127.0.0.1", "--no-dashboard"]) for _ in range(workers)]

    try:
        yield start
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
