"""Two sweeps into one study folder share its runs, and each says how many it ran itself
(issue 26: both said "6/6 runs complete (6 run now)" when each ran 3). Real processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two sweeps with their local clusters: ~a minute

ARGS = [
    "study",
    "run",
    "--scale",
    "smoke",
    "--repeats",
    "2",
    "--arm",
    "lean-on-sampling",
    "--workers",
    "1",
    "--no-progress",
]


def test_two_sweeps_into_one_folder_each_count_only_their_own_runs(tmp_path: Path) -> None:
    out = tmp_path / "st"

    def sweep() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "nrm.cli", *ARGS, "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = sweep()
    try:
        t0 = time.monotonic()  # the second starts once the first is running its first run
        while not (out / "claims").is_dir() or not any((out / "claims").iterdir()):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() - t0 < 300, "the first sweep never started a run"
            time.sleep(0.05)
        second = sweep()
        outputs = [p.communicate(timeout=600) for p in (first, second)]
    finally:
        for p in (first, locals().get("second")):
            if p is not None and p.poll() is None:
                p.kill()
    ran = []
    for proc, (stdout, stderr) in zip((first, second), outputs, strict=True):
        m = re.search(r": (\d)/6 runs complete \((\d+) run now", stdout)
        assert m, (stdout, stderr)
        ran.append(int(m.group(2)))
        # a sweep that ends while the other still runs one of its runs says 5/6 and exits 1
        assert proc.returncode == (0 if m.group(1) == "6" else 1), (stdout, stderr)
    assert sum(ran) == 6 and all(n < 6 for n in ran), ran  # shared, each counted once
    runs = [p for p in (out / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 6 and not (out / "runs" / ".superseded").exists()
    for run in runs:
        assert json.loads((run / "run.json").read_text())["status"] == "complete"
