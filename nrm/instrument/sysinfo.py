"""Run context: what a run ran on. Called once per run (``context`` in run.json).

Small ``collect_*`` helpers each fill one part of the record and leave their key out when the
source is missing (no /proc, no git, no sensor); none of them can make a run fail. The result
is JSON-safe and at most two levels deep. Parsers of OS text are pure functions, tested on
canned text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nrm import paths

Context = dict[str, Any]

#: Distribution name of this project (pyproject.toml ``[project] name``).
DISTRIBUTION = "nrm-compendium"


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


# --- pure parsers ---------------------------------------------------------------------------


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """CPU model and flags of interest from ``/proc/cpuinfo`` text (x86 and ARM layouts)."""
    out: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "hardware", "processor name", "cpu model", "model"):
        value = fields.get(key, "")
        if value and not value.isdigit():
            out["model"] = value
            break
    if "flags" in fields:
        out["hypervisor"] = "hypervisor" in fields["flags"].split()
    if "cpu mhz" in fields:
        with contextlib.suppress(ValueError):
            out["mhz_at_start"] = float(fields["cpu mhz"])
    return out


def requirement_names(requirements: list[str]) -> list[str]:
    """Distribution names of the runtime requirements (extras such as ``dev`` left out)."""
    names: list[str] = []
    for req in requirements:
        spec, _, marker = req.partition(";")
        if re.search(r"\bextra\s*==", marker):
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


# --- collectors -----------------------------------------------------------------------------


def collect_python(ctx: Context) -> None:
    ctx["python"] = {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "compiler": platform.python_compiler(),
        "build": " ".join(platform.python_build()),
        "hash_seed": os.environ.get("PYTHONHASHSEED"),
    }


def _runtime_requirements() -> list[str]:
    try:
        reqs = importlib.metadata.requires(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        reqs = None
    if reqs is None:
        import tomllib

        with open(paths.ROOT / "pyproject.toml", "rb") as fh:
            reqs = tomllib.load(fh)["project"]["dependencies"]
    return requirement_names(list(reqs))


def collect_packages(ctx: Context) -> None:
    import nrm

    versions: dict[str, str | None] = {"nrm": nrm.__version__}
    for name in _runtime_requirements():
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    ctx["packages"] = versions


def collect_lock(ctx: Context) -> None:
    """The pinned environment: sha256 of requirements.lock and whether this one matches it."""
    from nrm import lockfile

    digest = lockfile.lock_hash()
    if digest is None:
        return
    record: dict[str, Any] = {"file": lockfile.LOCK.name, "sha256": digest}
    with contextlib.suppress(Exception):
        wrong = lockfile.installed_mismatches()
        record["installed_exactly"] = not wrong
        if wrong:
            record["differences"] = wrong[:20]
    ctx["lock"] = record


def collect_allocator(ctx: Context) -> None:
    from nrm.instrument.allocator import in_force

    ctx["allocator"] = in_force()


def collect_cpu(ctx: Context) -> None:
    cpu: dict[str, Any] = {}
    text = _read("/proc/cpuinfo")
    if text:
        cpu.update(parse_cpuinfo(text))
    if "model" not in cpu and platform.processor():
        cpu["model"] = platform.processor()
    cpu["logical"] = os.cpu_count()
    with contextlib.suppress(ImportError, OSError, RuntimeError):
        import psutil

        cpu["physical"] = psutil.cpu_count(logical=False)
        freq = psutil.cpu_freq()
        if freq is not None and freq.max:
            cpu["freq_max_mhz"] = freq.max
    if hasattr(os, "sched_getaffinity"):
        cpu["affinity"] = len(os.sched_getaffinity(0))
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor:
        cpu["governor"] = governor.strip()
    ctx["cpu"] = cpu


def collect_os(ctx: Context) -> None:
    uname = platform.uname()
    record: dict[str, Any] = {
        "system": uname.system,
        "release": uname.release,
        "version": uname.version,
        "machine": uname.machine,
        "platform": platform.platform(),
    }
    libc = platform.libc_ver()
    if libc[0]:
        record["libc"] = " ".join(libc)
    osr = _read("/etc/os-release")
    if osr:
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', osr, re.M)
        if m:
            record["distribution"] = m.group(1)
    ctx["os"] = record


def collect_host(ctx: Context) -> None:
    ctx["hostname"] = socket.gethostname()
    with contextlib.suppress(ImportError, OSError):
        import psutil

        ctx["memory_total_bytes"] = psutil.virtual_memory().total
        ctx["boot_time_unix"] = psutil.boot_time()
    if hasattr(os, "getloadavg"):
        ctx["load_avg_at_start"] = list(os.getloadavg())


def collect_cgroup(ctx: Context) -> None:
    """cgroup v2 limits: a CPU quota or memory cap changes what a run can get."""
    record: dict[str, str] = {}
    for name in ("cpu.max", "memory.max"):
        text = _read(Path("/sys/fs/cgroup") / name)
        if text:
            record[name] = text.strip()
    if record:
        ctx["cgroup"] = record


def collect_storage(ctx: Context, run_dir: str | Path) -> None:
    """The file system holding the run folder (SQLite commit cost depends on it)."""
    import psutil

    path = Path(run_dir).resolve()
    best = None
    for part in psutil.disk_partitions(all=True):
        mount = Path(part.mountpoint)
        if (path == mount or mount in path.parents) and (
            best is None or len(str(mount)) > len(str(best.mountpoint))
        ):
            best = part
    record: dict[str, Any] = {"path": str(path)}
    if best is not None:
        record.update(mountpoint=best.mountpoint, fs_type=best.fstype, device=best.device)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    record["free_bytes"] = psutil.disk_usage(str(existing)).free
    ctx["storage"] = record


def git_info(root: str | Path) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout at ``root``; ``None`` if not one."""
    root = Path(root)
    if not (root / ".git").exists():
        return None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def collect_git(ctx: Context) -> None:
    info = git_info(paths.ROOT)
    if info is not None:
        ctx["git"] = info


COLLECTORS: tuple[Callable[[Context], None], ...] = (
    collect_python,
    collect_packages,
    collect_lock,
    collect_allocator,
    collect_cpu,
    collect_os,
    collect_host,
    collect_cgroup,
    collect_git,
)


def collect_context(run_dir: str | Path | None = None) -> Context:
    """The run context as a JSON-safe dict. Never raises: a failing source is left out."""
    ctx: Context = {"collected_at": _now_iso()}
    collectors: list[Callable[[Context], None]] = list(COLLECTORS)
    if run_dir is not None:
        collectors.append(lambda c: collect_storage(c, run_dir))
    for collect in collectors:
        try:
            collect(ctx)
        except Exception:  # metadata must never fail a run
            continue
    return ctx
