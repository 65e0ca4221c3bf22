"""``nrm reproduce ID``: re-make one table or figure of a build from its recorded inputs.

The item's stamp (``paper/provenance.json``) names the runs behind it. Runs whose folder is
missing are re-run from their planned specification (scale, experiment, variant, seed), and only
those; a run whose ``run.json`` differs from the stamped one is reported. The analysis the item
reads is recomputed from the run folders into a temporary folder, the item is re-made from it,
and the result is checked against the stamp:

- a table: every cell against ``paper/tables/<key>.csv`` (numbers within the stamped
  tolerance, text equal), and the SHA-256 of its values;
- a figure: the SHA-256 of the data frames it plots (the same underlying data), and the figure
  is redrawn beside the paper as ``<stem>.reproduced.png``.

Exit status 0 when the item matches its stamp, 1 when it does not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nrm import paths
from nrm.exceptions import NrmError, ParameterError

__all__ = ["Reproduction", "compare_frames", "handle", "reproduce"]


@dataclass
class Reproduction:
    item: str
    matches: bool
    lines: list[str] = field(default_factory=list)
    rerun: list[str] = field(default_factory=list)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def compare_frames(old: pd.DataFrame, new: pd.DataFrame, rtol: float,
                   atol: float) -> list[str]:
    """Differences between two tables (numbers within tolerance, text equal); [] when equal."""
    problems: list[str] = []
    if list(old.columns) != list(new.columns):
        return [f"columns differ: {list(old.columns)} vs {list(new.columns)}"]
    if len(old) != len(new):
        return [f"{len(old)} rows stamped, {len(new)} re-made"]
    for col in old.columns:
        a, b = old[col], new[col]
        na, nb = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
        numeric = not pd.api.types.is_bool_dtype(a) and (na.notna() == a.notna()).all() \
            and (nb.notna() == b.notna()).all()
        for i in range(len(old)):
            if numeric:
                x, y = na.iloc[i], nb.iloc[i]
                if (pd.isna(x) and pd.isna(y)) or (
                        not pd.isna(x) and not pd.isna(y)
                        and math.isclose(float(x), float(y), rel_tol=rtol, abs_tol=atol)):
                    continue
            elif str(a.iloc[i]) == str(b.iloc[i]):
                continue
            problems.append(f"row {i + 1}, column {col!r}: stamped {_plain(a.iloc[i])!r}, "
                            f"re-made {_plain(b.iloc[i])!r}")
    return problems


def _load_provenance(build: Path) -> dict[str, Any]:
    prov_path = build / "paper" / "provenance.json"
    if not prov_path.is_file():
        raise ParameterError(f"{prov_path} not found: build the paper first "
                             f"(make paper OUT={build})")
    try:
        prov = json.loads(prov_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ParameterError(f"{prov_path}: not a provenance record (invalid JSON: "
                             f"{str(exc).splitlines()[0][:120]}); re-render it with make paper "
                             f"OUT={build}") from None
    if not isinstance(prov, dict) or not isinstance(prov.get("items", {}), dict) or not all(
            isinstance(r, dict) and isinstance(r.get("scale", ""), str)
            and isinstance(r.get("runs", []), list) for r in prov.get("items", {}).values()):
        raise ParameterError(f"{prov_path}: not a provenance record (expected an object whose "
                             "'items' map each id to an object with 'scale' and 'runs'); "
                             f"re-render it with make paper OUT={build}")
    return dict(prov)


def _rerun_missing(build: Path, scale: str, runs: dict[str, Path],
                   seeds: dict[str, Any]) -> list[str]:
    from nrm.build import notebooks
    from nrm.run.scales import get_scale, retire

    done = []
    for name, folder in runs.items():
        if (folder / paths.RUN_JSON).is_file():
            continue
        planned = get_scale(scale).get(name)
        retire(folder)
        params: dict[str, Any] = {"experiment": planned.experiment, "variant": planned.variant,
                                  "scale": scale, "output": str(folder)}
        if seeds.get(name) is not None and seeds[name] != planned.seed:
            params["seed"] = int(seeds[name])
        out = paths.Build(build, scale).executed / f"run-{name}.reproduce.ipynb"
        notebooks.execute("run_experiment", out, params)
        done.append(name)
    return done


def reproduce(item_id: str, build: str | Path = ".") -> Reproduction:
    """Re-make ``item_id`` (``table:runs``, ``figure:runtime_timeline``) of ``build``."""
    from nrm import provenance as P
    from nrm.build.notebooks import AnalysisRequest
    from nrm.render import paper as paper_mod
    from nrm.render import results as R
    from nrm.run.scales import get_scale

    root = Path(build).expanduser().resolve()
    prov = _load_provenance(root)
    items = prov.get("items", {})
    if item_id not in items:
        raise ParameterError(f"no item {item_id!r} in {root}/paper/provenance.json; items: "
                             + ", ".join(items))
    rec = items[item_id]
    if item_id.split(":", 1)[1].startswith("study"):
        raise ParameterError(f"{item_id} belongs to the causal study: `make study` re-makes its "
                             "runs and tables; nrm reproduce re-makes the paper's own items")
    if "scale" not in rec:
        raise ParameterError(f"{root}/paper/provenance.json: item {item_id!r} names no scale; "
                             f"re-render it with make paper OUT={root}")
    scale = str(rec["scale"])
    out = Reproduction(item_id, True)
    # every run of the build (the paper's inputs need them all); the item's own are stamped
    runs_dir = paths.Build(root, scale).runs
    all_runs = {n: runs_dir / n for n in get_scale(scale).names()}
    stamped = {r["name"]: r for r in rec.get("runs", [])}
    for r in stamped.values():
        all_runs[r["name"]] = root / r["path"]
    out.rerun = _rerun_missing(root, scale, all_runs,
                               {n: r.get("seed") for n, r in stamped.items()})
    if out.rerun:
        out.lines.append("re-ran missing run(s): " + ", ".join(out.rerun))
    for name, r in stamped.items():
        run_json = all_runs[name] / paths.RUN_JSON
        if r.get("run_json_sha256") and P.file_sha256(run_json) != r["run_json_sha256"]:
            out.lines.append(f"run {name}: run.json differs from the stamped one "
                             f"({'re-run' if name in out.rerun else 'changed since the build'})")
    analysis_dir = root / str(prov.get("analysis_dir") or f"data/analysis/{scale}")
    spec = P.item_inputs(item_id)
    phases = {a.split("/", 1)[0] for a in spec.analysis}
    with tempfile.TemporaryDirectory(prefix="nrm-reproduce-") as tmp:
        t = Path(tmp)
        work = t / "analysis"
        for phase in ("phase1a", "phase1b"):
            if phase in phases:
                (R.phase1a if phase == "phase1a" else R.phase1b)(all_runs, work)
                out.lines.append(f"recomputed {phase} from the run folders")
            else:
                shutil.copytree(analysis_dir / phase, work / phase)
        if (analysis_dir / paths.STUDY_ANALYSIS).is_dir():  # the paper reads the study's too
            shutil.copytree(analysis_dir / paths.STUDY_ANALYSIS, work / paths.STUDY_ANALYSIS)
            if "study" in phases:
                out.lines.append("the causal study's tables as the build left them (`make "
                                 "study` re-makes them from its runs)")
        request = AnalysisRequest(scale, all_runs, {
            "analysis": work, "figures": t / "figures", "paper": t / "paper",
            "executed": paths.Build(root, scale).executed}, {})
        inp = paper_mod.load_inputs(request)
        kind, key = item_id.split(":", 1)
        if kind == "figure":
            frames = paper_mod.figure_data(inp, key)
            digest = P.data_hash(frames)
            drawn = paper_mod.draw_figures(inp, t / "figures", only=(key,))[key]
            dest = root / "figures" / f"{key}.reproduced.png"
            shutil.copyfile(drawn, dest)
            same = digest == rec.get("data_sha256")
            out.lines.append(f"plotted data sha256 {digest[:16]}… "
                             f"{'matches' if same else 'differs from'} the stamp "
                             f"({str(rec.get('data_sha256'))[:16]}…); redrawn: {dest}")
            out.matches = same and not out.rerun
        else:
            fig_paths = {s: t / "figures" / f"{s}.png" for s in paper_mod.FIGURES}
            extra, _ = paper_mod.study_sections(inp, t / "paper", len(fig_paths),
                                                build_root=root)
            comp = paper_mod.compose_items(inp, fig_paths, t / "paper", extra=extra)
            if item_id not in comp.tables:
                raise NrmError(f"{item_id} is no longer a table of the paper")
            new = P.read_csv_text(P.frame_csv(comp.tables[item_id]))
            values = root / str(rec.get("values_file", f"paper/tables/{key}.csv"))
            old = pd.read_csv(values)
            tol = rec.get("tolerance") or P.TOLERANCE
            problems = compare_frames(old, new, float(tol["rtol"]), float(tol["atol"]))
            digest = P.data_hash(new)
            out.lines.append(f"{len(new)} rows x {len(new.columns)} columns re-made; "
                             f"values sha256 {digest[:16]}… "
                             f"{'equals' if digest == rec.get('data_sha256') else 'differs from'}"
                             f" the stamp")
            if problems:
                out.lines.append(f"{len(problems)} cell(s) outside tolerance "
                                 f"(rtol {tol['rtol']}, atol {tol['atol']}):")
                out.lines += [f"  {p}" for p in problems[:20]]
            else:
                out.lines.append(f"every cell within tolerance (rtol {tol['rtol']}, "
                                 f"atol {tol['atol']}) of {values}")
            out.matches = not problems
    out.lines.append(f"{item_id}: {'MATCHES' if out.matches else 'DOES NOT MATCH'} its stamp")
    return out


def handle(args: argparse.Namespace) -> int:
    """The ``nrm reproduce`` handler (registered by nrm/cli/reproduce.py)."""
    res = reproduce(args.id, args.build)
    print("\n".join(res.lines))
    return 0 if res.matches else 1
