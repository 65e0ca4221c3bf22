"""Which of nrm's source files a module depends on, derived from the imports (for the build).

:func:`source_files` follows every ``import nrm...`` / ``from . import ...`` (at any depth of
the module, including imports inside functions, which are how ``nrm`` defers heavy ones)
transitively, and returns the files of the ``nrm`` package they reach. Imports of other
packages are not followed: their versions are pinned by pyproject.toml, not by these files.
``exclude`` stops the walk at named modules or packages (code a build step is declared not to
reach); :func:`notebook_modules` lists the nrm modules a notebook's code cells import.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from pathlib import Path

from nrm.exceptions import ParameterError

PACKAGE = "nrm"
_ROOT = Path(__file__).resolve().parent  # the nrm package folder


def module_file(name: str) -> Path | None:
    """The source file of ``nrm`` module ``name`` (``nrm.run.runner``), or None if there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = _ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, path: Path) -> set[str]:
    """Names of the nrm modules ``path`` (module ``name``) imports, with their parent packages."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from . import paths`
    out: set[str] = set()
    for mod in found:
        parts = mod.split(".")
        if parts[0] != PACKAGE:
            continue
        for i in range(1, len(parts) + 1):  # importing nrm.a.b runs nrm/__init__ and nrm/a
            out.add(".".join(parts[:i]))
    return out


def _excluded(name: str, exclude: tuple[str, ...]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in exclude)


def source_files(module_names: Iterable[str], exclude: Iterable[str] = ()) -> list[Path]:
    """The files of ``module_names`` and of every nrm module they import, transitively, sorted.

    Names are dotted (``nrm.run.runner``; ``runner`` is read as ``nrm.run.runner``). The walk does
    not
    enter the modules or packages named in ``exclude``. Raises :class:`ParameterError` for a
    name that is not an nrm module.
    """
    skip = tuple(exclude)
    todo: list[str] = []
    for name in module_names:
        full = name if name.split(".")[0] == PACKAGE else f"{PACKAGE}.{name}"
        if module_file(full) is None:
            raise ParameterError(f"{name!r} is not a module of the nrm package")
        todo.append(full)
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen or _excluded(name, skip):
            continue
        path = module_file(name)
        if path is None:  # `from nrm.x import y` where y is a name, not a module
            continue
        seen[name] = path
        parents = name.split(".")
        todo.extend(".".join(parents[:i]) for i in range(1, len(parents)))
        todo.extend(_imports(name, path) - set(seen))
    return sorted(set(seen.values()))


def notebook_modules(notebook: str | Path) -> list[str]:
    """The nrm modules a notebook's code cells import (IPython magics and shell lines skipped)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    found: set[str] = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return sorted(m for m in found if module_file(m) is not None)
