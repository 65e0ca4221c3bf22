"""A kernel that dies at start-up (issue 26: "Kernel died before replying to kernel_info" under
load) is started once more, with the reason and the kernel's own stderr said; a kernel that
never starts is one NotebookError naming what the kernel printed. The failure is the real one:
a kernelspec whose launcher takes the kernel's shell port before the kernel binds it (what
another process starting at the same moment does), so ipykernel dies with
``ZMQError: Address already in use``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from nrm.build import notebooks as N

pytestmark = pytest.mark.slow  # starts kernels (a few seconds each)

HERE = Path(__file__).parent / "notebooks"

# Launcher: while ``races`` > 0 (counted down in a file), hold the connection file's shell
# port, then start the real kernel (which dies binding it); after that, start it plainly.
LAUNCHER = r"""
import json, os, socket, subprocess, sys
conn, count = sys.argv[1], sys.argv[2]
left = int(open(count).read())
cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", conn]
if left <= 0:
    os.execv(sys.executable, cmd)
open(count, "w").write(str(left - 1))
info = json.load(open(conn))
held = socket.socket()
held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
held.bind((info["ip"], info["shell_port"]))
held.listen()
try:
    sys.exit(subprocess.call(cmd))
except KeyboardInterrupt:  # the client's clean-up of the dead kernel
    sys.exit(1)
"""


def _racing_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, races: int) -> str:
    launcher, count = tmp_path / "launcher.py", tmp_path / "races"
    launcher.write_text(LAUNCHER)
    count.write_text(str(races))
    spec = tmp_path / "jupyter" / "kernels" / "nrm-racing"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, str(launcher), "{connection_file}", str(count)],
                "display_name": "racing",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "nrm-racing"


def test_a_kernel_that_dies_at_start_is_started_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    kernel = _racing_kernel(tmp_path, monkeypatch, races=1)
    out = N.execute(HERE / "ok.ipynb", tmp_path / "ok.ipynb", {"n": 2}, kernel_name=kernel)
    assert "okok" in nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"]
    err = capfd.readouterr().err
    said = [ln for ln in err.splitlines() if ln.startswith("nrm: the kernel for ok.ipynb")]
    assert len(said) == 1, err
    assert "did not start (Kernel died before replying to kernel_info" in said[0]
    assert "Address already in use" in said[0] and said[0].endswith("starting it once more")


def test_a_kernel_that_never_starts_is_one_error_naming_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    kernel = _racing_kernel(tmp_path, monkeypatch, races=2)
    with pytest.raises(N.NotebookError) as info:
        N.execute(HERE / "ok.ipynb", tmp_path / "ok.ipynb", {"n": 2}, kernel_name=kernel)
    msg = str(info.value)
    assert msg.startswith("ok.ipynb: the kernel did not start, twice (Kernel died before")
    assert "the kernel's stderr ended with: " in msg and "Address already in use" in msg
    assert "\n" not in msg
    assert not (tmp_path / "ok.ipynb").exists() and not list(tmp_path.glob(".*partial*"))
    assert capfd.readouterr().err.count("starting it once more") == 1
