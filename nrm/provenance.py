"""Where each table and figure of the paper comes from: its stamp and paper/provenance.json.

A stamp answers a reviewer's first question about a number, "which runs made it, with what":
the runs behind the item (run ids, n, scale), the git commit (and whether the tree was dirty),
a short hash of the environment (package versions, Python, allocator), the notebooks and
parameters that made it, the host(s) and the date. It also carries what
``nrm reproduce ID`` needs to check a re-made item: for a table the SHA-256 of its values
(written beside the paper as ``paper/tables/<key>.csv``) and the tolerance, for a figure the
SHA-256 of the data frames it plots.

Stable ids: ``table:<key>`` (the ``[[key]]`` of the table's caption) and ``figure:<stem>``.
:data:`ITEM_INPUTS` declares, per item, the runs and analysis tables it reads; an item without
a declaration is stamped with every run of the build (conservative) and says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths

__all__ = [
    "ALL_RUNS",
    "ITEM_INPUTS",
    "TOLERANCE",
    "ItemInputs",
    "Recorder",
    "data_hash",
    "environment",
    "environment_hash",
    "file_sha256",
    "frame_csv",
    "html_stamp",
    "markdown_stamp",
]

#: Tables are re-made within this tolerance (numeric cells; text cells must be equal).
TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}

ALL_RUNS = ("*",)
_U255, _U256 = "C255-unoptimized", "C256-unoptimized"
_OPT = ("C256-optimized", "C257-optimized", "C258-optimized", "C259-optimized",
        "C260-optimized")


@dataclass(frozen=True)
class ItemInputs:
    runs: tuple[str, ...] = ()  # planned run names; ALL_RUNS = every run of the build
    analysis: tuple[str, ...] = ()  # "phase1a/summary" ...
    reference: bool = False  # reads the paper's archive (data/reference/)
    declared: bool = True
    #: Other files read, globs: under the compendium's root when they start with
    #: ``data/reference/`` (shipped), under the build folder otherwise (e.g. ``data/dbcurve``).
    files: tuple[str, ...] = ()


#: What each table / figure reads. Keys are stable ids.
ITEM_INPUTS: dict[str, ItemInputs] = {
    "table:runs": ItemInputs(ALL_RUNS, ("phase1a/runs",)),
    "table:rules": ItemInputs((), ("phase1a/rules",)),
    "table:variance": ItemInputs((_U255, _U256), ("phase1a/summary", "phase1a/milestones",
                                                  "phase1a/runs"), reference=True),
    "table:milestones": ItemInputs((_U255, _U256), ("phase1a/milestones",)),
    "table:table1": ItemInputs((), (), reference=True),
    "table:prediction": ItemInputs((_U255, _U256), ("phase1a/prediction",)),
    "table:hypotheses": ItemInputs((_U256,), ("phase1a/hypotheses",)),
    "table:byrun": ItemInputs(ALL_RUNS, ("phase1a/verdicts_by_run",)),
    "table:optimization": ItemInputs((_U256, *_OPT), ("phase1b/summary", "phase1b/same_experiment",
                                                      "phase1a/runs"), reference=True),
    "table:comparison": ItemInputs((_U256, "C256-optimized"), ("phase1b/same_experiment",)),
    # the headline comparisons: this build's single runs beside the causal study's repeats
    "table:headline": ItemInputs((_U255, _U256, "C256-optimized", "C257-optimized"),
                                 ("study/headline", "study/runs", "phase1a/summary",
                                  "phase1b/summary"), reference=True),
    "table:drivers": ItemInputs((_U256,), ("phase1a/cost_drivers",)),
    "table:ledger": ItemInputs(ALL_RUNS, ("phase1a/summary", "phase1a/runs", "phase1a/milestones",
                                          "phase1a/prediction", "phase1a/hypothesis_tests",
                                          "phase1b/summary"), reference=True),
    "table:snapshots": ItemInputs((), (), reference=True),
    "table:reference": ItemInputs(ALL_RUNS, ("phase1a/*", "phase1b/*"), reference=True),
    # the shipped long-scale reference study (data/reference/build-long/study/)
    "table:long_reference_arms": ItemInputs((), (), reference=True),
    "table:long_reference_verdicts": ItemInputs((), (), reference=True),
    # H3's commit-latency curve (nrm/render/sections/dbcurve.py): the build's own
    # (data/dbcurve/<MB>/, make dbcurve) or the shipped reference's (data/reference/dbcurve/)
    "table:dbcurve": ItemInputs(files=("data/dbcurve/*/dbcurve.json",
                                       "data/dbcurve/*/dbcurve.csv")),
    "table:dbcurve_reference": ItemInputs(reference=True, files=(
        "data/reference/dbcurve/dbcurve.json", "data/reference/dbcurve/dbcurve.csv")),
    "figure:dbcurve": ItemInputs(files=("data/dbcurve/*/dbcurve.csv",)),
    "figure:dbcurve_reference": ItemInputs(reference=True, files=(
        "data/reference/dbcurve/dbcurve.csv",)),
    "figure:runtime_timeline": ItemInputs(ALL_RUNS),
    "figure:hypothesis_tests": ItemInputs((_U256,)),
    "figure:optimization_impact": ItemInputs(ALL_RUNS, ("phase1b/summary",)),
    "figure:population_cost": ItemInputs((_U256,)),
    "figure:claims_snapshots": ItemInputs((), (), reference=True),
}


def item_inputs(item_id: str) -> ItemInputs:
    if item_id not in ITEM_INPUTS and item_id.split(":", 1)[-1].startswith("study"):
        return ItemInputs((), ("study/*",))  # the causal study's own runs (data/study/)
    return ITEM_INPUTS.get(item_id, ItemInputs(ALL_RUNS, declared=False))


# --------------------------------------------------------------------------- hashing


def frame_csv(df: pd.DataFrame) -> str:
    """A data frame as canonical CSV text (what the hashes and the values files hold)."""
    return df.to_csv(index=False, lineterminator="\n")


def data_hash(frames: Mapping[str, pd.DataFrame] | pd.DataFrame) -> str:
    """SHA-256 of one frame, or of named frames in name order (canonical CSV)."""
    h = hashlib.sha256()
    if isinstance(frames, pd.DataFrame):
        frames = {"": frames}
    for name in sorted(frames):
        h.update(name.encode() + b"\0" + frame_csv(frames[name]).encode() + b"\0")
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- environment


def environment() -> dict[str, Any]:
    """Package versions (runtime requirements and nrm), Python and the allocator in force."""
    from nrm.instrument import sysinfo

    ctx: dict[str, Any] = {}
    for collect in (sysinfo.collect_packages, sysinfo.collect_allocator):
        try:
            collect(ctx)
        except Exception:  # the record must never fail a build
            continue
    alloc = ctx.get("allocator") or {}
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "allocator": alloc.get("name") if isinstance(alloc, dict) else str(alloc),
        "packages": ctx.get("packages", {}),
    }


def environment_hash(env: Mapping[str, Any] | None = None) -> str:
    """Short (12 hex digits) SHA-256 of :func:`environment`."""
    env = environment() if env is None else env
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- recorder


@dataclass
class Recorder:
    """Collects the data frame of every table the paper composes, in order.

    :func:`nrm.render.text.table` calls :meth:`add` when a recorder is active; the Markdown gets
    a marker that :meth:`resolve` maps to the caption key written just before it.
    """

    frames: list[pd.DataFrame] = field(default_factory=list)

    def add(self, df: pd.DataFrame) -> str:
        self.frames.append(df.copy())
        return f"<!--nrm-table:{len(self.frames) - 1}-->"


_ACTIVE: list[Recorder] = []


def active() -> Recorder | None:
    return _ACTIVE[-1] if _ACTIVE else None


class recording:
    """``with recording() as rec:`` records the tables composed inside the block."""

    def __enter__(self) -> Recorder:
        rec = Recorder()
        _ACTIVE.append(rec)
        return rec

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.pop()


# --------------------------------------------------------------------------- stamps


def _runs_text(rec: Mapping[str, Any]) -> str:
    runs = rec.get("runs") or []
    study = rec.get("study_runs")
    if study:
        text = f"runs: the causal study's {study['n']} runs ({study['file']}, scale {rec['scale']})"
        if runs:
            ids = ", ".join(f"{r['name']} ({r.get('run_id') or '?'})" for r in runs)
            text += f"; this build's runs (n = {len(runs)}): {ids}"
        return text
    if not runs and rec.get("files"):
        return "runs: none; files: " + ", ".join(f["file"] for f in rec["files"])
    if not runs:
        return "runs: none (" + ("the paper's archive, data/reference/" if rec.get("reference")
                                 else "declared rules") + ")"
    ids = ", ".join(f"{r['name']} ({r.get('run_id') or '?'})" for r in runs)
    return f"runs (n = {len(runs)}, scale {rec.get('scale')}): {ids}"


def _common_text(rec: Mapping[str, Any]) -> list[str]:
    git = rec.get("git") or {}
    commit = str(git.get("commit") or "unknown")[:12] + (" dirty" if git.get("dirty") else "")
    nbs = "; ".join(f"{n['notebook']}({', '.join(f'{k}={v}' for k, v in n['parameters'].items() if v is not None and not str(k).endswith('_dir'))})"  # noqa: E501
                    for n in rec.get("notebooks", []))
    return [
        _runs_text(rec),
        f"commit {commit}",
        f"env {rec.get('environment', {}).get('hash', '?')}",
        f"notebooks {nbs or '?'}",
        f"host {', '.join(rec.get('hosts') or ['?'])}",
        f"date {rec.get('date', '?')}",
    ]


def markdown_stamp(rec: Mapping[str, Any]) -> str:
    """One Markdown line: ``<sub>Provenance `table:runs`: ...</sub>``."""
    body = " · ".join(_common_text(rec))
    return f"<sub>Provenance `{rec['id']}`: {body}</sub>"


def _esc(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def html_stamp(rec: Mapping[str, Any]) -> str:
    """A collapsed ``<details>`` block (raw HTML inside the Markdown handed to nbconvert)."""
    items = "".join(f"<li>{_esc(t)}</li>" for t in _common_text(rec))
    extra = ""
    if rec.get("data_sha256"):
        extra = f"<li>data sha256 {_esc(rec['data_sha256'][:16])}…</li>"
    return (f'<details class="provenance" id="prov-{_esc(rec["id"].replace(":", "-"))}">'
            f"<summary>Provenance of {_esc(rec['id'])}</summary><ul>{items}{extra}"
            f"<li>re-make: <code>nrm reproduce {_esc(rec['id'])}</code></li></ul></details>")


# --------------------------------------------------------------------------- records


def executed_notebooks(executed_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{notebook stem: parameters}`` papermill recorded in each executed notebook."""
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(Path(executed_dir).glob("*.ipynb")):
        if p.name.startswith(".") or p.name.endswith(".failed.ipynb"):
            continue
        try:
            meta = json.loads(p.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            continue
        out[p.stem] = dict((meta.get("papermill") or {}).get("parameters") or {})
    return out


def run_record(name: str, run: Any, root: Path) -> dict[str, Any]:
    meta = run.meta
    ctx = meta.get("context") or {}
    path = Path(run.path).resolve()
    try:
        rel = str(path.relative_to(root))
    except ValueError:
        rel = str(path)
    params = meta.get("parameters") or {}
    return {
        "name": name,
        "run_id": meta.get("run_id") or meta.get("started_at"),
        "started_at": meta.get("started_at"),
        "path": rel,
        "cycles_per_condition": params.get("cycles"),
        "seed": params.get("seed"),
        "host": ctx.get("hostname"),
        "run_json_sha256": file_sha256(path / paths.RUN_JSON),
    }


def build_records(
    items: Iterable[tuple[str, int, str]],
    *,
    runs: Mapping[str, Any],
    scale: str,
    analysis_dir: Path,
    executed_dir: Path,
    root: Path,
    data: Mapping[str, str],
    values_files: Mapping[str, str],
    git: Mapping[str, Any] | None,
) -> dict[str, dict[str, Any]]:
    """One record per (id, number, caption)."""
    env = environment()
    env_rec = {"hash": environment_hash(env), **env}
    nbs = executed_notebooks(executed_dir)
    date = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    run_recs = {n: run_record(n, r, root) for n, r in runs.items()}
    records: dict[str, dict[str, Any]] = {}
    for item_id, number, caption in items:
        spec = item_inputs(item_id)
        names = list(runs) if spec.runs == ALL_RUNS else [n for n in spec.runs if n in runs]
        analysis: list[dict[str, str]] = []
        phases: set[str] = set()
        for pattern in spec.analysis:
            phase, _, stem = pattern.partition("/")
            phases.add(phase)
            for f in sorted((analysis_dir / phase).glob(f"{stem}.csv")):
                analysis.append({"file": _rel(f, root), "sha256": file_sha256(f)})
        files = []
        for pattern in spec.files:
            base = paths.ROOT if pattern.startswith("data/reference/") else root
            for f in sorted(Path(base).glob(pattern)):
                if f.is_file():  # relative to where the pattern was read
                    files.append({"file": f.relative_to(base).as_posix(),
                                  "sha256": file_sha256(f)})
        notebooks = []
        for nb in ("variance_hypotheses" if "phase1a" in phases else None,
                   "optimization" if "phase1b" in phases else None,
                   "study" if "study" in phases else None, "render_paper"):
            if nb is not None:
                params = nbs.get(nb) or ({"scale": scale} if nb == "render_paper" else {})
                notebooks.append({"notebook": nb, "parameters": params})
        rec: dict[str, Any] = {
            "id": item_id,
            "kind": item_id.split(":", 1)[0],
            "number": number,
            "caption": caption,
            "scale": scale,
            "runs": [run_recs[n] for n in names],
            "n_runs": len(names),
            "inputs_declared": spec.declared,
            "analysis": analysis,
            "files": files,
            "reference": spec.reference,
            "notebooks": notebooks,
            "git": dict(git or {}),
            "environment": env_rec,
            "hosts": sorted({run_recs[n]["host"] for n in names if run_recs[n]["host"]})
            or [socket.gethostname()],
            "date": date,
            "data_sha256": data.get(item_id),
        }
        study_csv = analysis_dir / paths.STUDY_ANALYSIS / "runs.csv"
        if any(a.startswith("study/") for a in spec.analysis) and study_csv.is_file():
            try:
                n_study = len(pd.read_csv(study_csv))
            except (OSError, ValueError):
                n_study = 0
            rec["study_runs"] = {"file": _rel(study_csv, root), "n": n_study}
        if item_id in values_files:
            rec["values_file"] = values_files[item_id]
            rec["tolerance"] = dict(TOLERANCE)
        records[item_id] = rec
    return records


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def read_csv_text(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))
