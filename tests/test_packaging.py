"""pyproject.toml is the source of truth; environment.yml must mirror its runtime dependencies."""

from __future__ import annotations

import re
import tomllib

from nrm import paths


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_deps() -> dict[str, str]:
    data = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())
    return {_name(r): r.replace(" ", "") for r in data["project"]["dependencies"]}


def _environment_deps() -> dict[str, str]:
    deps = {}
    in_deps = False
    for line in (paths.ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+.*)$", line)
        if in_deps and m and not m.group(1).startswith(("pip", "python")):
            deps[_name(m.group(1))] = m.group(1).replace(" ", "")
    return deps


def test_every_runtime_dependency_is_in_both_files_with_the_same_bound() -> None:
    py, env = _pyproject_deps(), _environment_deps()
    assert py, "no dependencies parsed from pyproject.toml"
    assert set(py) == set(env), (
        f"only in pyproject: {set(py) - set(env)}; only in environment.yml: {set(env) - set(py)}"
    )
    for name, req in py.items():
        assert env[name] == req, f"{name}: pyproject {req!r} vs environment.yml {env[name]!r}"


def test_brief_dependencies_are_declared() -> None:
    py = _pyproject_deps()
    for name in (
        "jupyterlab",
        "papermill",
        "numpy",
        "scipy",
        "statsmodels",
        "pandas",
        "psutil",
        "seaborn",
        "nbconvert",
    ):
        assert name in py
