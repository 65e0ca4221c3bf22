"""One pinned environment: pyproject.toml declares, requirements.lock pins (uv, with hashes),
and `make setup`, environment.yml and the Dockerfile all install exactly the lock."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nrm import lockfile as L
from nrm import paths

ROOT = paths.ROOT
FIX = "run make lock"


def test_lock_is_in_step_with_pyproject() -> None:
    problems = L.out_of_step()
    assert not problems, (
        "requirements.lock is out of step with pyproject.toml (" + "; ".join(problems)
        + f"): {FIX} and commit requirements.lock"
    )


def test_every_locked_line_is_an_exact_pin_with_hashes() -> None:
    locked = L.read_lock()
    assert len(locked) > 50
    for p in locked:
        assert p.hashes and all(h.startswith("sha256:") for h in p.hashes), p
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", p.version), p


def test_the_lock_resolves_one_version_per_package_for_python_3_11() -> None:
    # the Dockerfile's python:3.11 (any 3.11.x) and this machine get the same versions
    for micro in ("3.11.0", "3.11.7", "3.11.14"):
        env = {"python_version": "3.11", "python_full_version": micro,
               "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
               "implementation_name": "cpython", "platform_python_implementation": "CPython",
               "platform_machine": "x86_64"}
        pins = L.applicable(L.read_lock(), env)
        assert pins == L.applicable(L.read_lock(), {**env, "python_full_version": "3.11.7"})
        for name in ("numpy", "scipy", "pandas", "statsmodels", "matplotlib", "papermill"):
            assert name in pins, name


def _write(tmp: Path, pyproject: str, lock: str) -> tuple[Path, Path]:
    (tmp / "pyproject.toml").write_text(pyproject)
    (tmp / "requirements.lock").write_text(lock)
    return tmp / "pyproject.toml", tmp / "requirements.lock"


def test_an_added_dependency_fails_the_check_with_run_make_lock(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    new = 'dependencies = [\n    "zarr>=2.16",\n'
    added = text.replace("dependencies = [\n", new, 1)
    assert added != text
    py, lock = _write(tmp_path, added, (ROOT / "requirements.lock").read_text())
    problems = L.out_of_step(py, lock)
    assert any("zarr" in p for p in problems), problems
    assert any("changed since the lock" in p for p in problems), problems
    from nrm.cli.main import main

    args = ["check-lock", "--pyproject", str(py), "--lock", str(lock)]
    assert main(args) == 2


def test_check_lock_error_says_run_make_lock(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "pyproject.toml").read_text().replace('"numpy>=1.26"', '"numpy>=99"')
    py, lock = _write(tmp_path, text, (ROOT / "requirements.lock").read_text())
    from nrm.cli.main import main

    assert main(["check-lock", "--pyproject", str(py), "--lock", str(lock)]) == 2
    err = capsys.readouterr().err
    assert "numpy" in err and "run make lock" in err and "\n" not in err.strip()


def test_environment_yml_installs_the_lock() -> None:
    env = (ROOT / "environment.yml").read_text().split("\ndependencies:\n", 1)[1]
    deps = re.findall(r"^  - (\S.*)$", env, flags=re.M)
    assert "python=3.11" in deps, "environment.yml must pin the lock's Python (3.11)"
    pip = re.findall(r"^      - (\S.*)$", env, flags=re.M)
    assert "-r requirements.lock" in pip and "--require-hashes" in pip, (
        "environment.yml's pip section must install requirements.lock"
    )
    # nothing else is installed with a version of its own (it would differ from the lock)
    assert set(deps) == {"python=3.11", "pip", "pip:"}, deps
    assert set(pip) == {"-r requirements.lock", "--require-hashes"}, pip


def test_dockerfile_installs_the_lock_on_python_3_11() -> None:
    df = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\b", df, flags=re.M)
    assert "--require-hashes -r requirements.lock" in df
    assert re.search(r"pip install[^\n]*--no-deps -e \.", df)
    assert "check-lock --installed" in df
    # no other package install in the image (it would bypass the lock)
    for line in re.findall(r"pip install[^\n&]*", df):
        assert "requirements.lock" in line or "--no-deps -e ." in line, line


def test_make_setup_installs_the_lock_and_nrm_without_dependencies() -> None:
    res = subprocess.run(["make", "-C", str(ROOT), "-n", "-B", "setup"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    cmds = [ln for ln in res.stdout.splitlines() if "pip install" in ln]
    assert cmds[0].endswith("--require-hashes -r requirements.lock"), cmds
    assert cmds[1].endswith("--no-deps -e ."), cmds
    assert len(cmds) == 2, cmds
    assert "check-lock --installed" in res.stdout


@pytest.mark.slow
def test_this_environment_holds_exactly_the_locked_versions() -> None:
    """The test suite runs in the .venv `make setup` made: every locked package (for this
    Python and platform) at exactly its locked version, and nothing installed beyond the lock
    but nrm itself and the venv's own tools."""
    wrong = L.installed_mismatches()
    assert not wrong, "; ".join(wrong) + " (run `make setup`)"
    res = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    frozen = {}
    for line in res.stdout.splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            frozen[L.normalize(name)] = version
    locked = L.applicable(L.read_lock())
    for name, version in locked.items():
        assert frozen.get(name) == version, (name, version, frozen.get(name))
    extra = set(frozen) - set(locked) - {"pip", "setuptools", "wheel", L.PROJECT}
    assert not extra, f"installed but not locked: {sorted(extra)} (a stale .venv? make setup)"
