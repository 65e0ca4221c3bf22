"""The package's architecture, enforced: layers import downwards only, and no module imports
itself back through others (no import cycles), counting every import, function-level ones too
(a function-level import may defer a heavy module, it can never hide a dependency). Imports
under ``if TYPE_CHECKING:`` are left out: they exist for annotations and never run."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from nrm import paths

PACKAGE = paths.PACKAGE_PARENT / "nrm"

#: The layers, lowest first. A module may import its own layer and every layer below it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("leaves", ("nrm", "nrm.exceptions", "nrm.paths", "nrm.atomic", "nrm.deps", "nrm.lockfile")),
    ("instrument", ("nrm.instrument",)),
    ("provenance", ("nrm.provenance",)),
    ("sim", ("nrm.sim",)),
    ("run", ("nrm.run",)),
    ("stats", ("nrm.stats",)),
    ("claims", ("nrm.claims",)),
    ("render", ("nrm.render",)),
    ("study", ("nrm.study",)),
    ("predict", ("nrm.predict",)),
    ("watch", ("nrm.watch",)),
    ("build", ("nrm.build",)),
    ("cli", ("nrm.cli",)),
)

#: Upward imports that are declared, with the reason (importer, imported).
DECLARED_UPWARD: dict[tuple[str, str], str] = {
    ("nrm", "nrm.watch.marker"): "nrm.mark(work=N), the one optional line a watched program adds; "
    "imported on first use (a module __getattr__), so `import nrm` stays cheap",
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
                       for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # `if TYPE_CHECKING:` imports: annotations only
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                while t and t not in mods:  # `import nrm.a.b.name` -> the module nrm.a.b
                    t = t.rpartition(".")[0]
                if t.startswith("nrm") and t != name:
                    edges[name].add(t)
    return edges


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for pre in prefixes:
            if (module == pre or module.startswith(pre + ".")) and len(pre) > best:
                best, rank = len(pre), i
    return rank


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in _modules() if layer_of(m) < 0)
    assert not missing, f"modules outside every layer (add them to LAYERS): {missing}"


def test_imports_point_down() -> None:
    mods = _modules()
    up = sorted(
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, targets in _edges(mods).items() for b in targets
        if layer_of(b) > layer_of(a) and (a, b) not in DECLARED_UPWARD
    )
    assert not up, "upward imports:\n" + "\n".join(up)


def _cycles(edges: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    mods = _modules()
    cycles = _cycles(_edges(mods), sorted(mods))
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_what_they_judge() -> None:
    """The checker is not vacuous: it sees a planted cycle and a planted upward import."""
    assert _cycles({"a": {"b"}, "b": {"a"}}, ["a", "b"]) == [["a", "b"]]
    assert layer_of("nrm.sim.model") < layer_of("nrm.run.runner") < layer_of("nrm.cli")
    edges = _edges(_modules())
    assert "nrm.sim.model" in edges["nrm.run.runner"]


def test_one_command_line() -> None:
    """Only nrm.cli parses command lines: no module keeps a ``main()`` of its own."""
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mains = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        assert not mains, f"{path.relative_to(PACKAGE.parent)} has its own main()"
