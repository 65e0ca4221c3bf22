"""One ``nrm`` command: every former ``main()`` is a subcommand with the same exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

import nrm.build.bench
from nrm.cli.main import main
from nrm.deps import source_files


@pytest.mark.parametrize(
    "argv, code",
    [
        (["scales", "names", "smoke"], 0),
        (["scales", "show"], 0),
        (["scales", "show", "full"], 0),
        (["scales", "names", "nope"], 2),  # unknown scale
        (["scales"], 2),  # usage
        (["scales", "names"], 2),  # usage
        (["experiments"], 0),
        (["variants"], 0),
        (["nope"], 2),
        (["bench", "--nope"], 2),
    ],
)
def test_exit_codes(argv: list[str], code: int) -> None:
    assert main(argv) == code


def test_scales_and_notebook_exit_codes(tmp_path: Path) -> None:
    assert main(["scales", "names", "smoke"]) == 0
    assert main(["scales", "names", "nope"]) == 2
    out = str(tmp_path / "o.ipynb")
    assert main(["notebook", "run_experiment", out, "-p", "cyles", "10"]) == 2
    assert main(["notebook", "nope_notebook", out]) == 2
    assert list(tmp_path.iterdir()) == []


def test_scales_retire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "C256-lean"
    run.mkdir()
    assert main(["scales", "retire", str(run)]) == 0
    assert not run.exists() and "moved out-of-date run" in capsys.readouterr().out
    assert main(["scales", "retire", str(run)]) == 0  # nothing to move


def test_bench_subcommand_runs_the_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(nrm.build.bench, "run_all", lambda quick=False: seen.append(quick) or 0)
    assert main(["bench", "--quick"]) == 0 and seen == [True]


def test_deps_follow_the_imports(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(nrm.build.bench.__file__).resolve().parents[2]
    names = {p.relative_to(root).as_posix() for p in source_files(["nrm.run.runner"])}
    # the files the old hand-kept list missed are found, the renderer is not
    assert {"nrm/instrument/rowformat.py", "nrm/paths.py", "nrm/exceptions.py", "nrm/run/spec.py",
            "nrm/sim/model.py", "nrm/__init__.py"} <= names
    assert "nrm/render/paper.py" not in names
    assert main(["deps", "nrm.run.runner"]) == 0
    assert "rowformat.py" in capsys.readouterr().out
    assert main(["deps", "nrm.nope"]) == 2


def test_the_process_hop_is_parsed_alone() -> None:
    """``nrm child`` (every study run's process) imports no other command's module, so neither
    pandas nor the statistics; ``nrm --help`` still lists every command."""
    import subprocess
    import sys

    code = ("import sys\nfrom nrm.cli.main import main\n"
            "try:\n    main(['child', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pandas', 'statsmodels', 'scipy', 'nrm.cli.plan', "
            "'nrm.cli.study') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: nrm child" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    full = subprocess.run([sys.executable, "-m", "nrm.cli", "--help"], capture_output=True,
                          text=True, check=True).stdout
    for name in ("child", "study", "predict-step", "dbcurve", "watch"):
        assert name in full
