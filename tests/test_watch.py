"""nrm watch: real subprocesses, smoke-sized (seconds each)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nrm.exceptions import WatchError
from nrm.watch import procstat, verdict
from nrm.watch.fit import fit_drift

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "examples" / "slowdowns"
PY = sys.executable
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def nrm_watch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "nrm.cli", "watch", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def watch_scenario(tmp_path: Path, name: str, *extra: str) -> dict:
    out = tmp_path / name
    proc = nrm_watch("--out", str(out), "--hz", "20", "--arena-every", "0.2", "--",
                     PY, str(SCENARIOS / f"{name}.py"), *extra)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["exit_status"] == 0
    assert record["verdicts"]["mode"] == "work", record["verdicts"]["headline"]
    record["_dir"] = str(out)
    return record


def judged(tmp_path: Path, name: str, check: Callable[[dict], None], *extra: str) -> dict:
    """Watch scenario ``name`` and apply ``check`` to its record; when the check fails, watch it
    once more and check that (the other worker of the suite shares the 2 cores, and its load
    can mask a planted cause in one run). Two failures fail the test with the second's reason."""
    record = watch_scenario(tmp_path / "1", name, *extra)
    try:
        check(record)
        return record
    except AssertionError:
        record = watch_scenario(tmp_path / "2", name, *extra)
        check(record)
        return record


def verdicts(record: dict) -> dict[str, str]:
    return {r["hypothesis"]: r["verdict"] for r in record["verdicts"]["rows"]}


# --- the drift fit -----------------------------------------------------------------------


def test_drift_fit_is_the_compendiums_drift_statistic() -> None:
    from nrm.stats.drift import drift

    rng = np.random.default_rng(3)
    x = np.arange(60, dtype=float) * 25.0  # cumulative work at each window
    noise = np.convolve(rng.normal(size=62), [1.0, 0.6, 0.3], mode="valid")  # autocorrelated
    y = 2.0 + 0.002 * x + noise
    d = fit_drift(x, y)
    ref = drift(y, index=x, per=1.0, min_cycles=8)
    assert d is not None and ref.testable
    assert d.slope == ref.drift_s and (d.ci_low, d.ci_high) == ref.drift_ci
    assert d.shape == ref.shape and d.hac_lags == ref.hac_lags
    # the fitted ends are the line's values at the first and last x
    mid = ref.unit_cost("cycle").estimate
    assert d.start == pytest.approx(mid + d.slope * (0 - x.mean()), rel=1e-12)
    assert d.end == pytest.approx(mid + d.slope * (x[-1] - x.mean()), rel=1e-12)
    assert d.significant and d.change == pytest.approx(d.slope * x[-1])


def test_drift_fit_too_few_points_and_constant_series() -> None:
    assert fit_drift(np.arange(5.0), np.arange(5.0)) is None
    flat = fit_drift(np.arange(20.0), np.full(20, 3.0))
    assert flat is not None and flat.slope == 0 and not flat.significant
    assert flat.shape == "flat"


# --- /proc parsing ----------------------------------------------------------------------


def test_parse_stat_handles_spaces_and_parens_in_the_name() -> None:
    fields = " ".join(str(i) for i in range(3, 53))
    parsed = procstat.parse_stat(f"42 (my (odd) prog) {fields}")
    # proc(5): minflt is field 10, majflt 12, utime 14, stime 15, num_threads 20, rss 24
    assert parsed == {"zombie": 0, "minflt": 10, "majflt": 12, "utime": 14, "stime": 15,
                      "num_threads": 20, "rss_pages": 24}


def test_reader_agrees_with_getrusage() -> None:
    sample = procstat.ProcReader(os.getpid()).read()
    assert sample is not None
    usage = os.times()
    assert sample.cpu_user_s == pytest.approx(usage.user, abs=0.05)
    assert sample.threads >= 1 and sample.rss_bytes > 1_000_000


# --- scenarios ----------------------------------------------------------------------------


def supported(record: dict) -> set[str]:
    return {h for h, v in verdicts(record).items() if v == "supported"}


def test_flat_has_no_drift_and_the_overhead_is_measured(tmp_path: Path) -> None:
    def check(record: dict) -> None:
        v = record["verdicts"]
        # Nothing in the program grows. Other processes on the machine (the rest of the test
        # suite) can still take the CPU away for part of the run: that is contention, and the
        # only verdict allowed besides "no drift" is H1 as the primary cause.
        assert supported(record) <= {"H1"}, v["rows"]
        assert v["headline"].startswith("no drift") or v["primary"] == "H1", v["headline"]
        over = record["overhead"]
        assert over["wall_s"] > 1 and over["watcher_cpu_s"] >= 0
        # at 20 Hz (20x the default rate) the watcher stays well under 5 % of a core
        assert over["core_share"] < 0.05
        assert record["inside"]["final_line"] is True and record["inside"]["marks"] == 2000
        assert record["inside"]["work_source"] == "mark"

    judged(tmp_path, "flat", check, "2000")


def test_growing_work_is_h5(tmp_path: Path) -> None:
    def check(record: dict) -> None:
        v = verdicts(record)
        # the primary cause (the machine's load can add a second, contention, legitimately)
        assert v["H5"] == "supported" and record["verdicts"]["primary"] == "H5", record["verdicts"]
        assert v["H2-gc"] == "not supported" and v["H3"] == "not supported"

    judged(tmp_path, "growing_work", check)


def test_gc_bound_is_h2_gc(tmp_path: Path) -> None:
    def check(record: dict) -> None:
        v = verdicts(record)
        # the primary cause; a growing heap can also cost the rest of each step a little more
        assert v["H2-gc"] == "supported" and record["verdicts"]["primary"] == "H2-gc", v
        added = {r["hypothesis"]: r["added_s_per_unit"] for r in record["verdicts"]["rows"]}
        assert added["H2-gc"] > 0 and added["H2-gc"] == max(a for a in added.values() if a)
        # GC share cross-checked against the inside tier's own cumulative GC seconds
        rows = list(csv.DictReader((Path(record["_dir"]) / "inside.csv").open()))
        gc_s = sum(float(rows[-1][f"gc{g}_s"]) - float(rows[0][f"gc{g}_s"]) for g in range(3))
        span = float(rows[-1]["t_mono"]) - float(rows[0]["t_mono"])
        assert record["verdicts"]["gc_share"] == pytest.approx(gc_s / span, abs=0.1)

    judged(tmp_path, "gc_bound", check)


def test_fragmentation_is_h2(tmp_path: Path) -> None:
    def check(record: dict) -> None:
        assert verdicts(record)["H2"] == "supported"
        frag = next(r for r in record["verdicts"]["rows"] if r["hypothesis"] == "H2")["drift"]
        assert frag["change"] >= verdict.FRAG_FLOOR

    # 6000 units: the arena readings are every 0.2 s, so their number falls as the machine
    # gets faster. At the scenario's 800 the frag ratio's drift rested on 13-17 readings and its
    # HAC interval reached 0 in about half the runs; at 2400, 33-38 readings passed 6 of 6 on
    # one day, and on a quieter evening the same 2400 gave 18-19 readings and failed twice
    # (clean-clone CI, frag ratio +0.17 and +0.22: the cause was there, the interval too wide)
    judged(tmp_path, "fragmentation", check, "6000")


def test_io_growth_is_h3(tmp_path: Path) -> None:
    def check(record: dict) -> None:
        v = verdicts(record)
        assert v["H3"] == "supported"
        assert v["H2"] == "not supported" and v["H2-gc"] == "not supported"

    judged(tmp_path, "io_growth", check)


def test_contention_is_h1(tmp_path: Path) -> None:
    def check(record: dict) -> None:
        v = verdicts(record)
        assert v["H1"] == "supported" and record["verdicts"]["primary"] == "H1", record["verdicts"]
        row = next(r for r in record["verdicts"]["rows"] if r["hypothesis"] == "H1")
        assert row["added_s_per_unit"] > 0

    # 2400 units (about 4 s), not the scenario's 800 (about 1.3 s): the four rivals are fresh
    # interpreters, and beside the suite's other worker they took most of a short run to start
    # (clean-clone CI: 2.91 -> 4.16 ms a unit over 26 windows, the drift's CI reaching 0, twice)
    judged(tmp_path, "contention", check, "2400")


# --- attach, bad input, endings -----------------------------------------------------------


def rows_written(out: Path) -> int:
    path = out / "cycles.csv"
    return max(0, path.read_text().count("\n") - 1) if path.exists() else 0


def wait_for_rows(out: Path, n: int, timeout: float = 90) -> None:
    """Wait until the watch in ``out`` has written ``n`` rows (the log is flushed every 10)."""
    deadline = time.monotonic() + timeout
    while rows_written(out) < n:
        assert time.monotonic() < deadline, f"{rows_written(out)} rows after {timeout} s"
        time.sleep(0.2)


def test_attach_by_pid_outside_only(tmp_path: Path) -> None:
    # the target runs until the watch has 40 samples, however slowly the machine starts it
    target = subprocess.Popen([PY, "-c", "while True: sum(range(10000))"])
    out = tmp_path / "pid"
    watcher = subprocess.Popen([PY, "-m", "nrm.cli", "watch", "--out", str(out), "--hz", "20",
                                "--pid", str(target.pid)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(out, 40)
        stat = procstat.parse_stat((procstat.PROC / str(target.pid) / "stat").read_text())
    finally:
        target.kill()
        target.wait()
    target_cpu = (stat["utime"] + stat["stime"]) / procstat.CLK_TCK
    _, stderr = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, stderr
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["watch"]["mode"] == "pid"
    assert record["verdicts"]["mode"] == "time"
    assert verdict.WORKLOAD_UNKNOWN in record["verdicts"]["headline"]
    assert verdicts(record)["H5"].startswith("not testable")
    rows = list(csv.DictReader((out / "cycles.csv").open()))
    assert len(rows) >= 40
    # the outside tier saw the target's CPU time: some, and no more than it had in all
    seen = sum(float(r["cpu_s"]) for r in rows)
    assert 0 < seen <= target_cpu + 0.2
    assert not (out / "inside.csv").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--", "no-such-program-xyz"], "program not found: 'no-such-program-xyz'"),
    (["--", PY, "no_such_script.py"], "program not found: Python script"),
    (["--pid", "999999999"], "PID 999999999 not found"),
    ([], "nothing to watch"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str],
                                                  message: str) -> None:
    out = tmp_path / "bad"
    proc = nrm_watch("--out", str(out), *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr
    assert not out.exists()


def test_pid_not_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: Path) -> str:
        if path.name == "io":
            raise PermissionError(13, "Permission denied")
        return "x"

    monkeypatch.setattr(procstat, "_read", denied)
    with pytest.raises(WatchError, match=f"PID {os.getpid()} is not readable"):
        procstat.check_pid(os.getpid())


def test_existing_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    proc = nrm_watch("--out", str(tmp_path), "--", PY, "-c", "pass")
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_program_exits_non_zero_report_still_written(tmp_path: Path) -> None:
    out = tmp_path / "fail"
    code = ("import time\nt=time.time()\nwhile time.time()-t<1.5: sum(range(1000))\n"
            "raise SystemExit(3)")
    proc = nrm_watch("--out", str(out), "--hz", "20", "--", PY, "-c", code)
    assert proc.returncode == 3
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and record["exit_status"] == 3
    assert "exited with status 3" in record["error"] and "exited with status 3" in proc.stdout
    assert record["verdicts"]["headline"]


def test_too_short(tmp_path: Path) -> None:
    out = tmp_path / "short"
    proc = nrm_watch("--out", str(out), "--hz", "10", "--", PY, "-c", "pass")
    assert proc.returncode == 0
    record = json.loads((out / "run.json").read_text())
    assert record["verdicts"]["headline"].startswith(verdict.TOO_SHORT)
    assert verdict.TOO_SHORT in proc.stdout


def test_sigint_writes_the_report_of_what_was_gathered(tmp_path: Path) -> None:
    out = tmp_path / "int"
    watcher = subprocess.Popen(
        [PY, "-m", "nrm.cli", "watch", "--out", str(out), "--hz", "20", "--", PY,
         str(SCENARIOS / "flat.py"), "1000000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_rows(out, 60)  # 3 s at 20 Hz: enough windows of work for a verdict
    child = json.loads((out / "run.json").read_text())["context"]["pid"]
    assert child > 0
    watcher.send_signal(signal.SIGINT)
    stdout, _ = watcher.communicate(timeout=30)
    assert watcher.returncode == 130
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "interrupted" and "SIGINT" in record["error"]
    assert record["samples"] >= 16 and record["verdicts"]["mode"] == "work"
    assert "status interrupted" in stdout
    assert not procstat.PROC.joinpath(str(child)).exists()  # the program was stopped too


def test_mark_is_lazy_and_counts() -> None:
    code = ("import sys, nrm; assert 'nrm.watch.marker' not in sys.modules; "
            "nrm.mark(work=3); nrm.mark(); from nrm.watch import marker; "
            "print(marker.work_total, marker.marks)")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4.0", "2"]


def test_report_html(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    code = "import time\nt=time.time()\nwhile time.time()-t<1.2: sum(range(1000))"
    assert nrm_watch("--out", str(out), "--hz", "20", "--", PY, "-c", code).returncode == 0
    proc = nrm_watch("report", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "<table>" in page and "Overhead" in page
    assert verdict.WORKLOAD_UNKNOWN in page and "Table 1." in page
    assert (out / "report-series.png").stat().st_size > 1000  # via nrm.render's save_png
    assert nrm_watch("report", str(tmp_path / "none")).returncode == 2


def test_report_html_passes_the_papers_chromium_check(tmp_path: Path) -> None:
    from nrm.build.htmlcheck import check_html, chromium

    if chromium() is None:
        pytest.skip("no Chromium")
    out = tmp_path / "rep"
    # 3000 units: ~4 s on a quiet machine, enough samples at 20 Hz for a drift fit (600 took
    # 0.8 s, 15 samples: "too short", and a report without its figure)
    assert nrm_watch("--out", str(out), "--hz", "20", "--", PY,
                     str(SCENARIOS / "flat.py"), "3000").returncode == 0
    assert nrm_watch("report", str(out)).returncode == 0
    res = check_html(out / "report.html", screenshot=tmp_path / "shot.png")
    assert res.problems == [], res.problems
    assert res.images == 1 and res.tables == 2


def test_arms_missing_allocator_is_not_available_and_others_go_on(tmp_path: Path) -> None:
    from nrm.instrument.allocator import find_library
    from nrm.watch.session import _mapped

    missing = next((a for a in ("jemalloc", "mimalloc") if find_library(a) is None), None)
    if missing is None:
        pytest.skip("both jemalloc and mimalloc are installed")
    out = tmp_path / "arms"
    proc = nrm_watch("--out", str(out), "--hz", "10", "--arms", f"allocator=malloc,{missing}",
                     "gc=disable", "--repeats", "1", "--", PY, "-c", "pass")
    assert proc.returncode == 0, proc.stderr
    arms = json.loads((out / "arms.json").read_text())
    assert arms["arms"][f"allocator={missing}"]["text"].startswith("not available")
    ran = sorted(r["arm"] for r in arms["runs"])
    assert ran == ["A", "A'", "allocator=malloc", "gc=disable"]
    malloc_run = next(r for r in arms["runs"] if r["arm"] == "allocator=malloc")
    env = json.loads((Path(malloc_run["folder"]) / "run.json").read_text())
    assert env["watch"]["arm"] == "allocator=malloc"
    # the preload check reads the maps of a live process
    assert _mapped(os.getpid())["checked"] is True


def test_overhead_a_a_at_smoke_size(tmp_path: Path) -> None:
    """The bench's watch-on vs watch-off A/A runs in randomized blocks and reports intervals
    (timing targets live in `make bench`, not here)."""
    from nrm.build.bench import WATCH_ARMS, bench_watch_overhead
    from nrm.watch.overhead import overhead_lines

    # ~1.5-3 s each, watched at 5 Hz: a run that ends before the watcher's first sample has no
    # share of a core to give (in CI at 1 Hz: n = 2 of 4 once, 0 of 4 once, when a burst of
    # load during the calibration had shortened every unit)
    r = bench_watch_overhead(units=150, repeats=2, tmp=tmp_path, unit_ms=10.0,
                             startup_repeats=4, hz=5.0)
    assert all(sorted(block) == sorted(WATCH_ARMS) for block in r["order"])
    for measure in ("wall_s", "cpu_s"):
        assert all(len(r[measure][a]) == 2 and min(r[measure][a]) > 0 for a in WATCH_ARMS)
    for key in ("inside_cpu", "inside_wall", "outside_wall", "aa_wall"):
        assert r[key]["n_blocks"] == 2 and r[key]["ci_low_pct"] <= r[key]["ci_high_pct"]
    assert r["inside_cpu"]["verdict"].startswith(("within the 1 %", "exceeds the 1 %", "undecided"))
    share = r["watcher_core_share"]
    # 2 blocks x (outside, inside)
    assert share["n"] == 4 and 0 <= share["pct"] < 100, (share, r["wall_s"])
    both = json.loads((tmp_path / "inside-0" / "run.json").read_text())
    assert both["watch"]["inside"] is True and both["watch"]["hz"] == r["hz"] == 5.0
    assert both["inside"]["marks"] == 150
    parts = r["inside_from_costs"]  # the steady-state measure, with its interval and verdict
    assert parts["ci_low_pct"] <= parts["pct"] <= parts["ci_high_pct"]
    assert parts["verdict"].startswith(("within the 1 %", "exceeds the 1 %", "undecided"))
    assert r["inside_cpu"]["aa_band_pct"] >= 0
    start = r["startup"]  # the one-time cost per process, apart from the per-unit one
    assert start["n"] == 4 and start["ci_low_ms"] <= start["mean_ms"] <= start["ci_high_ms"]
    lines = overhead_lines(r)
    assert any(line.startswith("inside tier") and "n=2" in line for line in lines)
    assert any(line.startswith("inside tier's start-up") and "n=4 pairs" in line
               for line in lines)
    assert any(line.startswith("outside watcher's own CPU at 5 Hz") and "n=4" in line
               for line in lines)


def test_arms_real_jemalloc_is_preloaded_and_checked(tmp_path: Path) -> None:
    from nrm.instrument.allocator import find_library

    if find_library("jemalloc") is None:
        pytest.skip("jemalloc is not installed")
    out = tmp_path / "je"
    code = "import time\nt=time.time()\nwhile time.time()-t<1.5: sum(range(1000))"
    proc = nrm_watch("--out", str(out), "--hz", "10", "--arms", "allocator=jemalloc",
                     "--repeats", "1", "--", PY, "-c", code)
    assert proc.returncode == 0, proc.stderr
    arms = json.loads((out / "arms.json").read_text())
    run = next(r for r in arms["runs"] if r["arm"] == "allocator=jemalloc")
    assert run["preload_ok"] is True  # libjemalloc showed in /proc/PID/maps
    record = json.loads((Path(run["folder"]) / "run.json").read_text())
    assert any("jemalloc" in lib for lib in record["preload"]["libraries"])


def test_evidence_levels_are_observed_quarters_never_a_fitted_lines_ends() -> None:
    """A series that curves (flat, then a late jump) has a fitted line below zero at its
    start; the evidence gives the first and last quarter's observed means instead."""
    from nrm.watch.verdict import _quarters as quarters
    from nrm.watch.verdict import fit_drift

    x = np.arange(40, dtype=float)
    y = np.where(x < 30, 1.0, 400.0)  # bytes per unit: flat, then a jump in the last quarter
    fit = fit_drift(x, y)
    assert fit is not None and fit.start < 0  # what the old text printed ("116 -> -17")
    text = quarters(y, lambda b: f"{b:,.0f}")
    assert text == "1 -> 400 (first to last quarter)"
