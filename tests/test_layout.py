"""One build layout (nrm.paths.Build) and one table per scale (nrm.run.scales.SCALES)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from nrm import paths
from nrm.run import scales
from nrm.study import control_arms

ROOT = Path(__file__).resolve().parent.parent
NRM = ROOT / "nrm"


def test_build_folders() -> None:
    b = paths.Build(Path("/x"), "s")
    assert b.runs == Path("/x/data/runs/s")
    assert b.run("C256-lean") == Path("/x/data/runs/s/C256-lean")
    assert b.runs_superseded == Path("/x/data/runs/s/.superseded")
    assert b.executed == Path("/x/data/executed/s")
    assert b.analysis == Path("/x/data/analysis/s")
    assert b.study == Path("/x/data/study/s")
    assert b.study_superseded == Path("/x/data/study/.superseded")
    assert b.study_analysis == Path("/x/data/analysis/s/study")
    assert (b.figures, b.paper) == (Path("/x/figures"), Path("/x/paper"))
    assert b.state_file == Path("/x/.make/doit-state.json")
    assert paths.Build.here("s").runs == paths.ROOT / "data" / "runs" / "s"


def test_pipeline_and_run_dir_use_build() -> None:
    from nrm.build.pipeline import Build as MakeBuild

    mb = MakeBuild("smoke", Path("/x"))
    lay = paths.Build(Path("/x"), "smoke")
    assert (mb.runs_dir, mb.exec_dir, mb.analysis_dir, mb.study_dir, mb.figures_dir,
            mb.paper_dir, mb.state_file) == (lay.runs, lay.executed, lay.analysis, lay.study,
                                              lay.figures, lay.paper, lay.state_file)
    assert scales.run_dir("smoke", "C256-lean", "/x") == lay.run("C256-lean")


def test_makefile_folders_are_builds() -> None:
    """Every folder the Makefile spells under $(OUT) is one of Build's (OUT=/o, SCALE=s)."""
    text = (ROOT / "Makefile").read_text()
    found = re.findall(r"\$\((?:abspath \$\()?OUT\)\)?((?:/[\w.$()]+)+)", text)
    assert len(found) >= 6
    b = paths.Build(Path("/o"), "s")
    known = {b.runs, b.executed, b.analysis, b.study, b.study_analysis, b.make_dir,
             b.figures, b.paper}
    known.add(b.dbcurve(3500))  # make dbcurve (TO_MB=3500)
    for tail in found:
        p = Path("/o" + tail.replace("$(SCALE)", "s").replace("$(TO_MB)", "3500"))
        assert p in known or p.parent in known, f"Makefile folder $(OUT){tail} is not Build's"


def test_one_table_per_scale() -> None:
    for name, sc in scales.SCALES.items():
        assert sc.study.name == name and scales.get_study_scale(name) is sc.study
        assert len(sc.control_size) == 2 and sc.db_sizes[0] == 0.0
    assert scales.DEFAULT_SCALE in scales.SCALES and scales.PAPER_SCALE in scales.SCALES
    assert not hasattr(control_arms, "CONTROL_SIZE") and not hasattr(control_arms, "DB_SIZES")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _int(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, int)
            and not isinstance(node.value, bool))


def _help_texts(tree: ast.AST) -> set[int]:
    """String constants passed as help= (argparse) or inside an f-string."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "help":
            ids.update(id(n) for n in ast.walk(node.value) if isinstance(n, ast.Constant))
        if isinstance(node, ast.JoinedStr):
            ids.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Constant))
    return ids


#: (file, literal) pairs that are not scale names: the GC mode "default", a disk "full" message.
_NOT_SCALES = {("nrm/run/spec.py", "default"), ("nrm/atomic.py", "full")}


def test_no_scale_name_or_seed_outside_the_scale_table() -> None:
    names = set(scales.SCALES)
    bad: list[str] = []
    for f in sorted(NRM.rglob("*.py")):
        rel = f.relative_to(ROOT).as_posix()
        tree = ast.parse(f.read_text())
        skip = _docstrings(tree) | _help_texts(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and node.value in names and id(node) not in skip
                    and rel != "nrm/run/scales.py" and (rel, node.value) not in _NOT_SCALES):
                bad.append(f"{rel}:{node.lineno} scale name {node.value!r}")
            # a seed given as a literal number: seed=0, "seed": 0, def f(seed=0)
            if isinstance(node, ast.keyword) and node.arg and "seed" in node.arg \
                    and _int(node.value):
                bad.append(f"{rel}:{node.lineno} {node.arg}={ast.unparse(node.value)}")
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if (isinstance(k, ast.Constant) and isinstance(k.value, str)
                            and "seed" in k.value and _int(v)):
                        bad.append(f"{rel}:{node.lineno} {k.value!r}: {ast.unparse(v)}")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                pos = a.posonlyargs + a.args
                pairs = list(zip(pos[len(pos) - len(a.defaults):], a.defaults, strict=True))
                pairs += [(x, d) for x, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d]
                for arg, d in pairs:
                    if "seed" in arg.arg and _int(d):
                        bad.append(f"{rel}:{node.lineno} {arg.arg}={ast.unparse(d)}")
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                    and "seed" in node.target.id and _int(node.value):
                bad.append(f"{rel}:{node.lineno} {node.target.id} = {node.value.value!r}")
    assert not bad, "literal scale names or seeds outside nrm/run/scales.py:\n" + "\n".join(bad)
