"""Atomic writes: a temp file in the same folder, fsync, then ``os.replace``; and whole appends
(:func:`append_whole`): an append to an open log that a failed write cuts back, never torn."""

from __future__ import annotations

import contextlib
import errno as errno_mod
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nrm.exceptions import StorageError


def storage_error(path: str | Path, exc: BaseException, action: str = "write") -> StorageError:
    """One line naming the file and the cause of a failed write (``exc``: an OSError or a
    :mod:`sqlite3` error); a :class:`StorageError` passes through unchanged."""
    if isinstance(exc, StorageError):
        return exc
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError):
        cause = exc.strerror or str(exc)
        if code in errno_mod.errorcode:
            cause += f" ({errno_mod.errorcode[code]})"
    else:  # sqlite3.OperationalError and friends: the message is the cause
        cause = f"{exc} ({type(exc).__name__})"
        low = str(exc).lower()
        if "full" in low:
            code = errno_mod.ENOSPC
        elif "readonly" in low or "read-only" in low:
            code = errno_mod.EROFS
    return StorageError(f"cannot {action} {path}: {cause}", code, str(path))


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


#: Mode of a new file: what ``open()`` would give (0666 less the umask). ``mkstemp`` alone makes
#: 0600 files, which would hide a rendered paper from anyone but its builder.
_NEW_FILE_MODE = 0o666 & ~_umask()


def atomic_write(
    path: str | Path, write: Callable[[IO[Any]], None], *, binary: bool = False
) -> Path:
    """Call ``write(fh)`` on a temp file beside ``path`` and rename it over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn file. The
    new file keeps the mode of the one it replaces, or gets the umask's mode if there was none.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(
            fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise storage_error(path, exc) from exc
        raise
    return path


def append_whole(fd: int, data: bytes, path: str | Path) -> None:
    """Append ``data`` to the file open at ``fd`` (``path`` names it in errors). A failed write
    (disk full, I/O error) cuts the file back to where it was, so it never ends in a torn line,
    and raises a :class:`StorageError` naming ``path``."""
    start = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        with contextlib.suppress(OSError):  # ftruncate needs no free space
            os.ftruncate(fd, start)
        raise storage_error(path, exc) from exc


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data), binary=True)


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths appear in results; make them JSON-safe.
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (ValueError, TypeError):
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=True) + "\n"


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, dumps_json(data))
