"""The pinned environment: ``requirements.lock`` (exact versions with hashes, made by uv).

``pyproject.toml`` declares what the project needs (lower bounds); ``requirements.lock`` is what a
build installs: every package, runtime and dev, at one exact version with the sha256 of each of
its files, resolved for Python 3.11 (``make lock`` writes it, ``make setup`` installs exactly it
with ``pip install --require-hashes``). environment.yml and the Dockerfile install the same file.

This module reads the lock and answers three questions:

- :func:`out_of_step`: does the lock still cover pyproject.toml (every declared requirement
  locked at a version that satisfies it, nothing locked for a requirement no longer declared)?
- :func:`installed_mismatches`: does this interpreter's environment hold exactly the locked
  versions?
- :func:`lock_hash`: the lock's sha256, recorded in every run.json (``context.lock``).

``nrm check-lock [--installed]`` prints the answers; ``make setup`` runs it after installing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nrm import paths
from nrm.exceptions import LockError

__all__ = [
    "LOCK",
    "LockError",
    "Locked",
    "applicable",
    "declared",
    "installed_mismatches",
    "lock_hash",
    "out_of_step",
    "parse_lock",
    "stamp",
]

#: The lock file at the project's root.
LOCK = paths.ROOT / "requirements.lock"
#: Distribution name of this project (its own line never appears in the lock).
PROJECT = "nrm-compendium"
#: The extras the lock covers (``make lock`` passes ``--extra`` for each).
EXTRAS = ("dev",)
FIX = "run make lock to refresh requirements.lock, then make setup"


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Locked:
    """One pinned line of the lock (a package may have one line per Python-version fork)."""

    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]
    via: tuple[str, ...]


_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?"
                  r"\s*\\?$")


def parse_lock(text: str, source: str = "requirements.lock") -> list[Locked]:
    """The pinned lines of a uv/pip-tools lock with hashes and ``# via`` annotations."""
    out: list[Locked] = []
    cur: dict[str, Any] | None = None
    in_via = False

    def close() -> None:
        if cur is not None:
            out.append(Locked(cur["name"], cur["version"], cur["marker"], tuple(cur["hashes"]),
                              tuple(cur["via"])))

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not raw[:1].isspace() and not line.startswith("#"):
            m = _REQ.match(line)
            if m is None:
                raise LockError(f"{source}:{n}: not an exact pin with hashes: {line!r}; {FIX}")
            close()
            cur = {"name": normalize(m.group(1)), "version": m.group(3),
                   "marker": m.group(4).strip() if m.group(4) else None, "hashes": [],
                   "via": []}
            in_via = False
            continue
        if cur is None:
            continue
        if line.startswith("--hash="):
            cur["hashes"].append(line.removeprefix("--hash=").rstrip(" \\"))
        elif line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                cur["via"].append(rest)
        elif in_via and line.startswith("#"):
            cur["via"].append(line.lstrip("# ").strip())
    close()
    unhashed = [f"{p.name}=={p.version}" for p in out if not p.hashes]
    if unhashed:
        raise LockError(f"{source}: no hashes for {', '.join(unhashed)}; {FIX}")
    return out


def read_lock(path: str | Path = LOCK) -> list[Locked]:
    path = Path(path)
    if not path.is_file():
        raise LockError(f"{path} is missing; {FIX}")
    return parse_lock(path.read_text(encoding="utf-8"), path.name)


def lock_hash(path: str | Path = LOCK) -> str | None:
    """sha256 of the lock file's bytes (None when there is none)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def applicable(locked: list[Locked], env: dict[str, str] | None = None) -> dict[str, str]:
    """name -> version of the lines whose marker holds for ``env`` (default: this Python)."""
    from packaging.markers import Marker

    out: dict[str, str] = {}
    for p in locked:
        if p.marker is None or Marker(p.marker).evaluate(env):
            out[p.name] = p.version
    return out


def declared(pyproject: str | Path = paths.ROOT / "pyproject.toml",
             extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """Requirement strings of pyproject.toml: runtime dependencies and the locked extras."""
    data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
    project = data["project"]
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += list(project.get("optional-dependencies", {}).get(extra, []))
    return reqs


FINGERPRINT = "# pyproject-requirements-sha256: "


def fingerprint(pyproject: str | Path = paths.ROOT / "pyproject.toml") -> str:
    """sha256 of the declared requirements (order and spaces ignored): a changed bound, an
    added extra or a new package changes it."""
    reqs = sorted("".join(r.split()) for r in declared(pyproject))
    return hashlib.sha256("\n".join(reqs).encode()).hexdigest()


def recorded_fingerprint(lock: str | Path = LOCK) -> str | None:
    for line in Path(lock).read_text(encoding="utf-8").splitlines():
        if line.startswith(FINGERPRINT):
            return line.removeprefix(FINGERPRINT).strip()
    return None


def stamp(lock: str | Path = LOCK, pyproject: str | Path = paths.ROOT / "pyproject.toml") -> None:
    """Record pyproject.toml's fingerprint in a freshly compiled lock (``make lock`` calls it)."""
    from nrm.atomic import atomic_write_text

    lines = [ln for ln in Path(lock).read_text(encoding="utf-8").splitlines()
             if not ln.startswith(FINGERPRINT)]
    head = 0
    while head < len(lines) and lines[head].startswith("#"):
        head += 1
    lines.insert(head, FINGERPRINT + fingerprint(pyproject))
    atomic_write_text(lock, "\n".join(lines) + "\n")
    parse_lock("\n".join(lines), Path(lock).name)  # every line pinned with hashes


def out_of_step(pyproject: str | Path = paths.ROOT / "pyproject.toml",
                lock: str | Path = LOCK) -> list[str]:
    """What keeps the lock from being pyproject.toml's resolution ([] when in step)."""
    from packaging.requirements import Requirement

    locked = read_lock(lock)
    problems: list[str] = []
    recorded = recorded_fingerprint(lock)
    if recorded != fingerprint(pyproject):
        problems.append("pyproject.toml's requirements changed since the lock was made"
                        if recorded else "the lock carries no fingerprint of pyproject.toml")
    by_name: dict[str, list[Locked]] = {}
    for p in locked:
        by_name.setdefault(p.name, []).append(p)
    wanted: set[str] = set()
    for text in declared(pyproject):
        req = Requirement(text)
        name = normalize(req.name)
        wanted.add(name)
        if name not in by_name:
            problems.append(f"{text!r} is declared in pyproject.toml but not locked")
            continue
        for p in by_name[name]:
            if not req.specifier.contains(p.version, prereleases=True):
                problems.append(f"{text!r} is declared but the lock pins {name}=={p.version}")
    for name, pins in by_name.items():
        direct = any(v.startswith(f"{PROJECT} (pyproject.toml)") for p in pins for v in p.via)
        only_direct = all(v.startswith(f"{PROJECT} (pyproject.toml)") for p in pins
                          for v in p.via)
        if direct and only_direct and name not in wanted:
            problems.append(f"{name} is locked for pyproject.toml, which no longer declares it")
    return problems


def installed_mismatches(lock: str | Path = LOCK) -> list[str]:
    """Locked packages (for this Python) missing from this environment or at another version."""
    out: list[str] = []
    for name, version in sorted(applicable(read_lock(lock)).items()):
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name}=={version} is locked but not installed")
            continue
        if have != version:
            out.append(f"{name}=={version} is locked but {have} is installed")
    return out


# --------------------------------------------------------------------------- command line
