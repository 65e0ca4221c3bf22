"""nrm watch --arms on the study's Dask machinery, and where a watch writes (smoke-sized)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from nrm.watch.arms import BASE, folder_name, summarize
from nrm.watch.session import claim_folder, default_folder

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

#: A marked loop of about 1.5 s (30 samples at 20 Hz: enough windows for a drift).
MARKED = (
    "import time, nrm\nt = time.time()\nwhile time.time() - t < 1.5:\n"
    "    sum(range(20000)); nrm.mark(work=1)\n"
)


def nrm_watch(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "nrm.cli", "watch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def in_block_order(arms: dict) -> list[tuple[int, str]]:
    """The runs the blocks asked for, in their order (unavailable arms left out)."""
    gone = {a for a, s in arms["arms"].items() if not s["available"]}
    return [(b, a) for b, block in enumerate(arms["blocks"]) for a in block if a not in gone]


# --- on the LocalCluster ---------------------------------------------------------------------


def test_arms_run_on_a_local_cluster_in_the_blocks_order(tmp_path: Path) -> None:
    out = tmp_path / "arms"
    proc = nrm_watch(
        "--out",
        str(out),
        "--hz",
        "20",
        "--arms",
        "gc=disable",
        "--repeats",
        "2",
        "--",
        PY,
        "-c",
        MARKED,
    )
    assert proc.returncode == 0, proc.stderr
    arms = json.loads((out / "arms.json").read_text())
    assert arms["where"].startswith("LocalCluster (1 worker")
    assert arms["status"] == "complete" and arms["repeats"] == 2
    # one worker runs one task at a time: the runs end in the randomized blocks' order
    assert [(r["block"], r["arm"]) for r in arms["runs"]] == in_block_order(arms)
    assert sorted(arms["blocks"][0]) == sorted([*BASE, "gc=disable"])
    for r in arms["runs"]:
        assert r["worker"].startswith("tcp://127.0.0.1:"), r
        # a run's drift needs enough samples, which a machine at load 20+ can starve
        assert r["status"] == "complete" and r["mode"] in ("work", "too short")
        record = json.loads((Path(r["folder"]) / "run.json").read_text())
        assert record["watch"]["arm"] == r["arm"] and record["watch"]["block"] == r["block"]
        assert Path(r["folder"]).name == folder_name(r["arm"], r["block"])
    gc_run = next(r for r in arms["runs"] if r["arm"] == "gc=disable")
    gc_record = json.loads((Path(gc_run["folder"]) / "run.json").read_text())
    assert gc_record["watch"]["gc_mode"] == "disable"
    # the change in drift against A in the same block, and the A/A arm, each with its n: the
    # blocks where both the arm's run and A's have a drift
    slope = {(r["arm"], r["block"]): r["slope"] for r in arms["runs"]}
    for label in ("A'", "gc=disable"):
        entry = arms["arms"][label]
        counted = [b for b in range(2) if None not in (slope[(label, b)], slope[("A", b)])]
        assert entry["n"] == len(counted)
        assert entry["diffs"] == [slope[(label, b)] - slope[("A", b)] for b in counted]
        assert "verdict" in entry and entry["text"].startswith("drift minus A's")
    assert "gc=disable" in proc.stdout and "drift minus A's" in proc.stdout


def test_a_missing_allocator_is_not_available_on_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """jemalloc's library missing (as on a machine without it): its arm reads "not available"
    and the A/A arms still run on the LocalCluster."""
    from nrm.watch import arms as arms_mod

    monkeypatch.setattr(arms_mod, "find_library", lambda name: None)
    out = tmp_path / "arms"
    code = arms_mod.run_arms(
        [PY, "-c", "pass"], [("allocator", "jemalloc")], out=out, repeats=1, hz=10, workers=1
    )
    assert code == 0
    arms = json.loads((out / "arms.json").read_text())
    assert arms["arms"]["allocator=jemalloc"] == {
        "available": False,
        "text": "not available: the jemalloc library is not installed",
    }
    assert sorted(r["arm"] for r in arms["runs"]) == sorted(BASE)
    assert "not available" in capsys.readouterr().out


def test_sigint_stops_the_arms_and_keeps_what_was_gathered(tmp_path: Path) -> None:
    import glob
    import signal
    import time

    (tmp_path / "prog.py").write_text(MARKED)
    out = tmp_path / "arms"
    driver = subprocess.Popen(
        [
            PY,
            "-m",
            "nrm.cli",
            "watch",
            "--out",
            str(out),
            "--hz",
            "20",
            "--arms",
            "gc=disable",
            "--repeats",
            "3",
            "--",
            PY,
            "prog.py",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(glob.glob(str(out / "b*" / "run.json"))) < 2:
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=120)
    assert driver.returncode == 130, output
    assert "holds what was gathered" in output
    arms = json.loads((out / "arms.json").read_text())
    assert arms["status"] == "interrupted" and 1 <= len(arms["runs"]) < 9
    assert all(r["status"] == "complete" for r in arms["runs"])


# --- on a real `dask scheduler` / `dask worker` pair -----------------------------------------


def test_arms_on_a_real_scheduler_run_the_program_from_the_callers_folder(
    tmp_path: Path, dask_pair: Callable[[int], tuple[str, list[subprocess.Popen]]]
) -> None:
    addr, _ = dask_pair(1)
    (tmp_path / "prog.py").write_text(MARKED)  # a relative script: read from nrm watch's cwd
    out = tmp_path / "arms"
    proc = nrm_watch(
        "--out",
        str(out),
        "--hz",
        "20",
        "--scheduler",
        addr,
        "--arms",
        "gc=freeze",
        "--repeats",
        "1",
        "--",
        PY,
        "prog.py",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    arms = json.loads((out / "arms.json").read_text())
    assert arms["where"] == addr and arms["cwd"] == str(tmp_path)
    assert sorted(r["arm"] for r in arms["runs"]) == sorted([*BASE, "gc=freeze"])
    workers = {r["worker"] for r in arms["runs"]}
    assert len(workers) == 1 and next(iter(workers)).startswith("tcp://127.0.0.1:")
    assert all(
        r["status"] == "complete" and r["mode"] in ("work", "too short") for r in arms["runs"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "garbage"], "tcp://HOST:PORT"),
        (["--workers", "100000"], "at most"),
        (["--workers", "1", "--scheduler", "tcp://127.0.0.1:8786"], "not allowed with"),
        (["--repeats", "0"], "positive integer"),
    ],
)
def test_arms_bad_cluster_input_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "arms"
    proc = nrm_watch(
        "--out", str(out), *args, "--arms", "gc=disable", "--", PY, "-c", "pass", timeout=60
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_workers_without_arms_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "w"
    proc = nrm_watch("--out", str(out), "--workers", "2", "--", PY, "-c", "pass", timeout=60)
    assert proc.returncode == 2 and "--arms" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and not out.exists()


# --- the arms' verdicts (no processes) ---------------------------------------------------------


def _runs(per_arm: dict[str, list[float]], base: list[float]) -> list[dict]:
    runs = [{"arm": "A", "block": b, "slope": s} for b, s in enumerate(base)]
    for arm, slopes in per_arm.items():
        runs += [{"arm": arm, "block": b, "slope": base[b] + d} for b, d in enumerate(slopes)]
    return runs


def test_a_change_in_drift_is_read_against_the_a_a_band() -> None:
    base = [1.0, 1.2, 0.9, 1.1, 1.0]
    runs = _runs(
        {
            "A'": [0.01, -0.02, 0.015, -0.01, 0.0],
            "gc=disable": [-0.50, -0.52, -0.49, -0.51, -0.50],
            "allocator=malloc": [0.3, -0.3, 0.2, -0.25, 0.1],
        },
        base,
    )
    s = summarize(
        ["A", "A'", "gc=disable", "allocator=malloc", "allocator=jemalloc"],
        runs,
        {"allocator=jemalloc": "not available: the jemalloc library is not installed"},
    )
    assert s["A'"]["verdict"].startswith("within noise")
    assert s["gc=disable"]["verdict"].startswith("lowers the drift")
    assert s["gc=disable"]["ci_high"] < 0 and s["gc=disable"]["n"] == 5
    assert s["allocator=malloc"]["verdict"].startswith("within noise")
    assert s["allocator=jemalloc"] == {
        "available": False,
        "text": "not available: the jemalloc library is not installed",
    }
    # a run that does not count (allocator not loaded: slope None) leaves its block out
    runs[-1]["slope"] = None
    assert summarize(["A", "allocator=malloc"], runs, {})["allocator=malloc"]["n"] == 4
    one = summarize(["A", "gc=disable"], _runs({"gc=disable": [-0.5]}, [1.0]), {})
    assert one["gc=disable"]["verdict"].startswith("undecided")


# --- where a watch writes ----------------------------------------------------------------------


def test_default_folder_is_new_per_watch_under_paths_watch(tmp_path: Path) -> None:
    env = {**os.environ, "NRM_ROOT": str(tmp_path)}
    for _ in range(2):  # same name, same second: the second gets its own folder
        proc = nrm_watch("--hz", "10", "--quiet", "--", PY, "-c", "pass", env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
    folders = sorted((tmp_path / "data" / "watch").iterdir())
    assert len(folders) == 2 and all((f / "run.json").is_file() for f in folders)
    assert all(f.name.startswith("python-c-20") for f in folders)


def test_claim_folder_never_reuses_a_name(tmp_path: Path) -> None:
    base = tmp_path / "w" / "prog-20260101T000000Z"
    first = claim_folder(base)
    second = claim_folder(base)
    assert first == base and second.name == base.name + "-2" and second.is_dir()
    assert default_folder(["python", "-u", "x/script.py", "--n", "3"], None).name.startswith(
        "script-"
    )
    assert default_folder(None, 42).name.startswith("pid42-")
    assert default_folder(["python3", "-m", "pkg.tool"], None).name.startswith("pkg.tool-")
    assert default_folder(["./my prog"], None).name.startswith("my_prog-")


# --- the overhead make bench measured, as the report shows it --------------------------------


def test_latest_bench_with_a_watch_overhead_is_found_and_printed(tmp_path: Path) -> None:
    from nrm.watch.overhead import latest_bench, overhead_lines

    ci = {
        "pct": 0.4,
        "ci_low_pct": -0.2,
        "ci_high_pct": 0.9,
        "n_blocks": 8,
        "verdict": "within the 1 % target",
    }
    w = {
        "units": 1500,
        "unit_ms_measured": 2.1,
        "blocks": 8,
        "load_1m_before": 3.0,
        "load_1m_after": 4.0,
        "inside_cpu": ci,
        "inside_wall": ci,
        "outside_wall": ci,
        "aa_wall": ci,
        "aa_cpu": ci,
        "hook_thread_pct_of_cpu": {"pct": 0.1, "ci_low_pct": 0.05, "ci_high_pct": 0.15, "n": 8},
        "watcher_core_share": {
            "pct": 0.1,
            "ci_low_pct": 0.09,
            "ci_high_pct": 0.11,
            "n": 16,
            "verdict": "within the 0.5 % target",
        },
    }
    (tmp_path / "bench-20260101T000000.json").write_text(json.dumps({"watch_overhead": w}))
    (tmp_path / "bench-20260102T000000.json").write_text(json.dumps({"watch_overhead": {}}))
    (tmp_path / "bench-20260103T000000.json").write_text("{not json")
    found = latest_bench(tmp_path)
    assert found is not None and found[0].name == "bench-20260101T000000.json"
    lines = overhead_lines(found[1]["watch_overhead"])
    assert any(
        "+0.40 % (95 % CI -0.20 to +0.90 %, n=8): within the 1 % target" in line for line in lines
    )
    assert latest_bench(tmp_path / "none") is None
