"""Choosing the memory allocator a simulation runs under, and telling which one is in force.

``pymalloc`` is CPython's default small-object allocator. ``malloc`` turns it off
(``PYTHONMALLOC=malloc``) so every object goes through the C library's ``malloc`` (glibc).
``jemalloc`` and ``mimalloc`` also set ``PYTHONMALLOC=malloc`` (otherwise pymalloc would still
serve the small objects, which are most of a simulation's objects) and preload the library
with ``LD_PRELOAD`` so that it replaces glibc's ``malloc``. The allocator has to be chosen when
the process starts, hence :func:`run_in_child`.

:func:`in_force` reports what the *current* process really uses: whether pymalloc answers
``sys._debugmallocstats()``, and which shared object the dynamic linker resolved ``malloc`` to
(``dladdr``), falling back to a scan of ``/proc/self/maps``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from nrm.exceptions import AllocatorError
from nrm.paths import PACKAGE_PARENT

ALLOCATORS: tuple[str, ...] = ("pymalloc", "malloc", "jemalloc", "mimalloc")

#: Environment variable the child gets, so it can record what was requested.
REQUEST_ENV = "NRM_ALLOCATOR"

#: Debian package providing each preloadable allocator.
DEBIAN_PACKAGES: dict[str, str] = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0"}

_SONAMES: dict[str, tuple[str, ...]] = {
    "jemalloc": ("libjemalloc.so.2", "libjemalloc.so"),
    "mimalloc": ("libmimalloc.so.2", "libmimalloc.so.2.0", "libmimalloc.so"),
}
_LIB_DIRS: tuple[str, ...] = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)
#: Substrings of a shared object's file name -> allocator family.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("jemalloc", "jemalloc"),
    ("mimalloc", "mimalloc"),
    ("tcmalloc", "tcmalloc"),
    ("libc.so", "glibc"),
    ("libc-", "glibc"),
    ("ld-musl", "musl"),
)


def _check_name(name: str) -> None:
    if name not in ALLOCATORS:
        raise AllocatorError(
            f"unknown allocator {name!r}; expected one of {', '.join(ALLOCATORS)}"
        )


def find_library(name: str) -> Path | None:
    """Path of the shared library for ``jemalloc`` or ``mimalloc``; ``None`` when not installed.

    Looks in the usual Debian/Ubuntu library folders (x86_64 and aarch64) and asks
    ``ctypes.util.find_library``. ``pymalloc`` and ``malloc`` need no library: ``None``.
    """
    _check_name(name)
    if name not in _SONAMES:
        return None
    for soname in _SONAMES[name]:
        for folder in _LIB_DIRS:
            candidate = Path(folder) / soname
            if candidate.is_file():
                return candidate
    found = ctypes.util.find_library(name)
    if found:
        for folder in _LIB_DIRS:
            candidate = Path(folder) / found
            if candidate.is_file():
                return candidate
        if os.path.isabs(found) and os.path.isfile(found):
            return Path(found)
    return None


def _family(path: str) -> str:
    base = os.path.basename(path)
    for needle, family in _FAMILIES:
        if needle in base:
            return family
    return base


def _strip_allocators(preload: str) -> list[str]:
    """LD_PRELOAD entries minus any allocator library (so a request replaces, not stacks)."""
    entries = [e for e in preload.replace(":", " ").split() if e]
    return [e for e in entries if _family(e) not in ("jemalloc", "mimalloc", "tcmalloc")]


def child_env(name: str, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that must run under allocator ``name``.

    Raises :class:`AllocatorError` (before anything runs) for an unknown name or a missing
    library, naming the Debian package to install.
    """
    _check_name(name)
    env = dict(os.environ if base_env is None else base_env)
    preload = _strip_allocators(env.pop("LD_PRELOAD", ""))
    if name == "pymalloc":
        env["PYTHONMALLOC"] = "pymalloc"
    else:
        env["PYTHONMALLOC"] = "malloc"
    if name in _SONAMES:
        lib = find_library(name)
        if lib is None:
            raise AllocatorError(
                f"allocator {name!r} requested but its library ({_SONAMES[name][0]}) is not "
                f"installed; install it with 'apt-get install {DEBIAN_PACKAGES[name]}' "
                "(or 'make allocators'), or choose --allocator pymalloc|malloc"
            )
        preload.insert(0, str(lib))
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    env[REQUEST_ENV] = name
    # The child must import this same nrm, installed or not.
    package_parent = str(PACKAGE_PARENT)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_parent not in paths:
        env["PYTHONPATH"] = os.pathsep.join([package_parent, *paths])
    return env


def available() -> dict[str, bool]:
    """Which allocators can be used on this machine."""
    return {name: name not in _SONAMES or find_library(name) is not None for name in ALLOCATORS}


def run_in_child(
    argv: list[str],
    allocator: str,
    env: Mapping[str, str] | None = None,
    *,
    stdin: str | None = None,
) -> int:
    """Run ``python -m nrm.cli *argv`` under ``allocator`` and return its exit code (a run's
    child is ``nrm.cli child``: :mod:`nrm.run.child`).

    ``argv`` is passed as given (the caller adds whatever flag stops the child from spawning
    again); ``stdin``, when given, is written to the child's standard input (then closed).
    A child killed by signal N returns 128 + N, as a shell would report it. Ctrl-C
    reaches the child too (same process group) and we wait for it to mark its run interrupted;
    a second Ctrl-C sends it SIGTERM, a third SIGKILL. A SIGTERM sent to this process alone
    (``kill PID``) is passed on to the child, which marks its run interrupted and exits.
    """
    child = child_env(allocator, env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nrm.cli", *argv],
        env=child,
        stdin=subprocess.PIPE if stdin is not None else None,
        text=stdin is not None,
    )
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:  # the child died before reading; its exit code tells why
            pass
    escalate = [signal.SIGTERM, signal.SIGKILL]
    first = True
    forward = hasattr(signal, "SIGTERM") and threading.current_thread() is threading.main_thread()
    if forward:
        old = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:
                if not first and escalate:
                    proc.send_signal(escalate.pop(0))
                first = False
    finally:
        if forward:
            signal.signal(signal.SIGTERM, old)
    return 128 - rc if rc < 0 else rc


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def malloc_library() -> str | None:
    """File of the shared object that provides ``malloc`` to this process (via ``dladdr``)."""
    try:
        libc = ctypes.CDLL(None)
        dladdr = libc.dladdr
    except (OSError, AttributeError):
        return None
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    address = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    info = _DlInfo()
    if not address or not dladdr(ctypes.c_void_p(address), ctypes.byref(info)):
        return None
    return info.dli_fname.decode(errors="replace") if info.dli_fname else None


def mapped_allocator_libraries(maps_text: str | None = None) -> list[str]:
    """Allocator libraries (jemalloc, mimalloc, tcmalloc) mapped into this process."""
    if maps_text is None:
        try:
            maps_text = Path("/proc/self/maps").read_text()
        except OSError:
            return []
    found: list[str] = []
    for line in maps_text.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6:
            path = parts[5].strip()
            if _family(path) in ("jemalloc", "mimalloc", "tcmalloc") and path not in found:
                found.append(path)
    return found


def describe(
    *, pymalloc: bool, malloc_lib: str | None, mapped: list[str], env: Mapping[str, str]
) -> dict[str, object]:
    """Build the ``allocator`` record from the observations (pure, for tests)."""
    if malloc_lib is not None:
        c_malloc = _family(malloc_lib)
    elif mapped:  # dladdr unavailable: a preloaded allocator is the first one mapped
        c_malloc = _family(mapped[0])
    else:
        c_malloc = "glibc" if platform.system() == "Linux" else "system"
    if pymalloc:
        name = "pymalloc" if c_malloc in ("glibc", "system") else f"pymalloc+{c_malloc}"
    else:
        name = "malloc" if c_malloc in ("glibc", "system") else c_malloc
    record: dict[str, object] = {
        "name": name,
        "pymalloc": pymalloc,
        "c_malloc": c_malloc,
        "malloc_library": malloc_lib,
        "mapped_libraries": mapped,
        "PYTHONMALLOC": env.get("PYTHONMALLOC") or None,
        "LD_PRELOAD": env.get("LD_PRELOAD") or None,
    }
    requested = env.get(REQUEST_ENV)
    if requested:
        record["requested"] = requested
        record["matches_request"] = requested == name
    return record


def in_force() -> dict[str, object]:
    """What the current process really uses. ``name`` is one of :data:`ALLOCATORS` when the
    setup is one of ours, e.g. ``"pymalloc+jemalloc"`` when jemalloc is preloaded but
    pymalloc still serves small objects."""
    from nrm.instrument.arenas import pymalloc_active

    return describe(
        pymalloc=pymalloc_active(),
        malloc_lib=malloc_library(),
        mapped=mapped_allocator_libraries(),
        env=os.environ,
    )


__all__ = [
    "ALLOCATORS",
    "available",
    "child_env",
    "find_library",
    "in_force",
    "malloc_library",
    "run_in_child",
]
