"""Allocator choice: the environment a child gets, and what the child really runs under."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nrm.exceptions import AllocatorError
from nrm.instrument.allocator import (
    ALLOCATORS,
    REQUEST_ENV,
    available,
    child_env,
    describe,
    find_library,
    in_force,
    mapped_allocator_libraries,
)

REPORT = ("import json, nrm.instrument.sysinfo as s; "
          "print(json.dumps(s.collect_context()['allocator']))")


def _child_allocator(name: str) -> dict:
    env = child_env(name)
    out = subprocess.run(
        [sys.executable, "-c", REPORT], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", ALLOCATORS)
def test_child_really_uses_the_requested_allocator(name: str) -> None:
    if not available()[name]:
        pytest.skip(f"{name} library not installed (apt-get install libjemalloc2 libmimalloc2.0)")
    rec = _child_allocator(name)
    assert rec["requested"] == name
    assert rec["name"] == name
    assert rec["matches_request"] is True
    assert rec["pymalloc"] is (name == "pymalloc")
    if name in ("jemalloc", "mimalloc"):
        assert name in rec["malloc_library"]  # malloc resolves into the preloaded library
        assert any(name in p for p in rec["mapped_libraries"])
        assert rec["PYTHONMALLOC"] == "malloc"
    else:
        assert rec["c_malloc"] == "glibc"
        assert rec["mapped_libraries"] == []


def test_child_env_settings() -> None:
    base = {"PATH": "/bin", "LD_PRELOAD": "/opt/libfoo.so /usr/lib/libjemalloc.so.2"}
    env = child_env("malloc", base)
    assert env["PYTHONMALLOC"] == "malloc" and env[REQUEST_ENV] == "malloc"
    assert env["LD_PRELOAD"] == "/opt/libfoo.so"  # inherited allocator dropped, others kept
    assert child_env("pymalloc", {"PYTHONMALLOC": "malloc"})["PYTHONMALLOC"] == "pymalloc"
    assert "LD_PRELOAD" not in child_env("pymalloc", {})
    assert base["LD_PRELOAD"].endswith("libjemalloc.so.2")  # the caller's dict is untouched
    nrm_parent = str(Path(__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == nrm_parent


def test_missing_library_is_a_clear_error_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    import nrm.instrument.allocator as mod

    monkeypatch.setattr(mod, "find_library", lambda name: None)
    with pytest.raises(AllocatorError, match=r"apt-get install libjemalloc2.*make allocators"):
        mod.child_env("jemalloc", {})
    with pytest.raises(AllocatorError, match=r"libmimalloc2\.0"):
        mod.run_in_child(["run", "C256"], "mimalloc")
    with pytest.raises(AllocatorError, match="unknown allocator 'tcmalloc'"):
        mod.child_env("tcmalloc", {})


def test_find_library() -> None:
    assert find_library("pymalloc") is None and find_library("malloc") is None
    for name in ("jemalloc", "mimalloc"):
        path = find_library(name)
        assert path is None or (path.is_file() and name in path.name)


def test_describe_combinations() -> None:
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    assert describe(pymalloc=True, malloc_lib=libc, mapped=[], env={})["name"] == "pymalloc"
    assert describe(pymalloc=False, malloc_lib=libc, mapped=[], env={})["name"] == "malloc"
    rec = describe(pymalloc=False, malloc_lib=je, mapped=[je], env={REQUEST_ENV: "jemalloc"})
    assert (rec["name"], rec["matches_request"]) == ("jemalloc", True)
    # jemalloc preloaded but pymalloc still on: not what "jemalloc" means here
    rec = describe(pymalloc=True, malloc_lib=je, mapped=[je], env={REQUEST_ENV: "jemalloc"})
    assert (rec["name"], rec["matches_request"]) == ("pymalloc+jemalloc", False)
    # a requested preload that failed to load is visible as a mismatch
    rec = describe(pymalloc=False, malloc_lib=libc, mapped=[], env={REQUEST_ENV: "mimalloc"})
    assert (rec["name"], rec["matches_request"]) == ("malloc", False)


def test_mapped_libraries_from_canned_maps() -> None:
    maps = (
        "7f0000000000-7f0000001000 r--p 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0\n"  # noqa: E501
        "7f0000001000-7f0000002000 r-xp 00001000 fe:01 123 /usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0\n"  # noqa: E501
        "7f0000003000-7f0000004000 r--p 00000000 fe:01 456 /lib/x86_64-linux-gnu/libc.so.6\n"
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n"
    )
    assert mapped_allocator_libraries(maps) == ["/usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0"]


def test_in_force_in_this_process() -> None:
    rec = in_force()
    assert rec["pymalloc"] is (os.environ.get("PYTHONMALLOC", "pymalloc") != "malloc")
    assert rec["name"].startswith("pymalloc") == rec["pymalloc"]


def test_run_in_child_returns_exit_code(tmp_path: Path) -> None:
    from nrm.instrument.allocator import run_in_child

    # `python -m nrm.cli --help` exits 0 in argparse; an unknown command exits 2
    assert run_in_child(["--help"], "malloc") == 0


def test_sigterm_to_the_parent_reaches_the_allocator_child(tmp_path: Path) -> None:
    """``kill PID`` of ``nrm run --allocator ...`` stops the child too, which marks its run."""
    import signal
    import time

    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "nrm.cli", "run", "C256", "--variant", "optimized",
        "--cycles", "2000", "--max-agents", "8", "--cpu-interval", "0.004",
        "--metrics", "fixed", "--flush-every", "5", "--out", str(out), "--no-progress",
        "--allocator", "malloc",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not (out / "cycles.csv").exists() or len(
            (out / "cycles.csv").read_text().splitlines()
        ) < 11:
            assert time.time() - t0 < 60, "the child never wrote its first rows"
            assert proc.poll() is None, "the run ended before it could be signalled"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # the parent only: the child is another process
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["ended_at"] and rc != 0
    assert meta["context"]["allocator"]["name"] == "malloc"
