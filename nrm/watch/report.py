"""``nrm watch report DIR``: one self-contained HTML page of a watch folder.

The page holds the time series per window (time per unit or CPU share with the drift fit
drawn over it, RSS, GC and run-queue shares, I/O), the verdict table with each drift's shape,
and the tool's own overhead (the outside watcher's and the inside tier's CPU time). The figure
is drawn on a plain matplotlib ``Figure`` and written with the paper's renderer helper
(:func:`nrm.render.figures.save_png`, ``DIR/report-series.png``); the page embeds the same
PNG, so it is one file. Numbers are formatted by :mod:`nrm.render.text`. The page follows the
rules the paper's Chromium check enforces (:func:`nrm.build.htmlcheck.check_html`: tables
with a header row and a "Table N." caption, a print stylesheet, no sideways scrolling on a
phone, nothing loaded from outside the file). ``DIR/report.html`` is written atomically.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from nrm.atomic import atomic_write_text
from nrm.exceptions import WatchError
from nrm.instrument.runrecord import read_run_json
from nrm.watch import verdict

SERIES_PNG = "report-series.png"
REPORT = "report.html"

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;
line-height:1.45}
img{max-width:100%;height:auto}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.92rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top;text-align:left}
code{overflow-wrap:anywhere}
@media print{body{max-width:none;margin:0}.scroll{overflow:visible}}
"""


def _figure(w: Any, v: verdict.Verdicts) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    by_work = v.mode == "work"
    x = w["work_mid"].to_numpy(float) if by_work else w["hours"].to_numpy(float) * 3600
    xlabel = "work done (units)" if by_work else "elapsed (s)"
    denom = w["dwork"].to_numpy(float) if by_work else w["wall"].to_numpy(float)
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    ax = axes[0, 0]
    if by_work:
        ax.plot(x, w["wall"].to_numpy(float) / denom * 1e3, ".-", label="wall per unit")
        ax.plot(x, w["gc"].to_numpy(float) / denom * 1e3, ".-", label="GC per unit")
        ax.set_ylabel("ms per unit")
        if v.drift:
            d = v.drift
            ax.plot([x.min(), x.max()], [d["start"] * 1e3, d["end"] * 1e3], "k--",
                    label=f"drift fit ({d.get('shape') or 'line'})")
    else:
        ax.plot(x, w["cpu"].to_numpy(float) / denom * 100, ".-", label="CPU share")
        if v.drift_per_hour:
            d = v.drift_per_hour
            ax.plot([x.min(), x.max()], [d["start"] * 100, d["end"] * 100], "k--",
                    label=f"drift fit ({d.get('shape') or 'line'})")
        ax.set_ylabel("% of wall time")
    ax.legend()
    axes[0, 1].plot(x, w["rss"].to_numpy(float) / 1e6, ".-")
    axes[0, 1].set_ylabel("RSS (MB)")
    wall = w["wall"].to_numpy(float)
    axes[1, 0].plot(x, w["gc"].to_numpy(float) / wall * 100, ".-", label="GC share")
    wait = w["wait"].to_numpy(float)
    axes[1, 0].plot(x, wait / np.maximum(wait + w["cpu"].to_numpy(float), 1e-12) * 100, ".-",
                    label="run-queue wait share")
    axes[1, 0].set_ylabel("%")
    axes[1, 0].legend()
    axes[1, 1].plot(x, w["io"].to_numpy(float) / denom / 1e3, ".-")
    axes[1, 1].set_ylabel("kB read+written per " + ("unit" if by_work else "s"))
    for a in axes.flat:
        a.set_xlabel(xlabel)
    return fig


def _table(caption: str, head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<p>{html.escape(caption)}</p><div class='scroll'><table><thead><tr>{cells}"
            f"</tr></thead><tbody>{body}</tbody></table></div>")


def render(folder: Path) -> str:
    """The page of ``folder`` (also writes ``folder/report-series.png``)."""
    from nrm.render.figures import save_png
    from nrm.render.text import duration, num

    record = read_run_json(folder)
    if not (folder / "cycles.csv").is_file():
        raise WatchError(f"{folder}: no cycles.csv; not a watch folder")
    rows = verdict.load_rows(folder)
    v = verdict.evaluate(rows)
    over = verdict.overhead(rows)
    esc = html.escape
    ctx = record.get("context", {})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>nrm watch: {esc(str(record.get('name')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>nrm watch: {esc(str(record.get('name')))}</h1>",
        f"<p>Program: <code>{esc(' '.join(ctx.get('argv') or []))}</code> (PID "
        f"{ctx.get('pid')}); status <b>{esc(str(record.get('status')))}</b>"
        + (f": {esc(str(record.get('error')))}" if record.get("error") else "")
        + f"; {record.get('samples', len(rows))} samples at {record.get('watch', {}).get('hz')}"
        f" Hz over {esc(duration(over['wall_s']))}.</p>",
        f"<h2>Verdict</h2><p>{esc(v.headline)}</p>",
    ]
    if v.mode in ("work", "time"):
        w = verdict.windows(rows, v.mode == "work")
        if v.mode == "work":
            w = w[w["dwork"] > 0].reset_index(drop=True)
        png = save_png(_figure(w, v), folder / SERIES_PNG, dpi=90)
        data = base64.b64encode(png.read_bytes()).decode()
        parts.append("<h2>Time series</h2><p>Per window of "
                     + ("equal work" if v.mode == "work" else "equal time")
                     + "; the dashed line is the drift fit.</p>"
                     f"<img alt='time series per window' src='data:image/png;base64,{data}'>")
    table_rows = []
    for r in v.rows:
        share = r.get("share_of_slowdown")
        d = r.get("drift") or {}
        table_rows.append([r["hypothesis"], esc(r["name"]), esc(r["verdict"]),
                           "" if share is None else f"{num(100 * share, 2)} %",
                           esc(str(d.get("shape") or "")), esc(r["evidence"])])
    parts.append("<h2>Hypotheses</h2>")
    parts.append(_table("Table 1. The verdict on each runtime hypothesis, the share of the "
                        "slowdown its part of the time explains, and the shape of its series.",
                        ["hypothesis", "name", "verdict", "share of the slowdown", "shape",
                         "evidence"], table_rows))
    if v.primary:
        parts.append(f"<p>Primary cause: <b>{esc(v.primary)} {esc(verdict.NAMES[v.primary])}"
                     "</b>.</p>")
    parts.extend(f"<p>Note: {esc(n)}</p>" for n in v.notes)
    share = over.get("core_share")
    inside = record.get("inside") or {}
    over_rows = [["outside watcher (this process, /proc reads)",
                  esc(num(over["watcher_cpu_s"])) + " s",
                  "" if share is None else f"{num(100 * share, 2)} % of one core"]]
    if inside.get("hook_cpu_s") is not None and over["wall_s"]:
        hook = float(inside["hook_cpu_s"])
        over_rows.append(["inside tier's thread (in the program)", esc(num(hook)) + " s",
                          f"{num(100 * hook / over['wall_s'], 2)} % of one core"])
    parts.append("<h2>Overhead</h2>")
    parts.append(_table(f"Table 2. The tool's own CPU time over {duration(over['wall_s'])} of "
                        "watching.", ["part", "CPU time", "share"], over_rows))
    parts.append(_bench_overhead())
    if inside.get("work_source"):
        parts.append(f"<p>Work units from: {esc(str(inside['work_source']))} "
                     f"({inside.get('marks', 0)} units).</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _bench_overhead() -> str:
    """What ``make bench`` last measured of the tool's overhead (A/A in fresh processes)."""
    from nrm import paths
    from nrm.watch.overhead import latest_bench, overhead_lines

    found = latest_bench(paths.BENCH)
    if found is None:
        return ("<p>The tool's overhead on a program's time (an A/A of watch on vs off in "
                "fresh processes) is measured by <code>make bench</code>, not run here.</p>")
    path, data = found
    host = (data.get("context") or {}).get("hostname") or "this machine"
    items = "".join(f"<li>{html.escape(line)}</li>" for line in
                    overhead_lines(data["watch_overhead"]))
    return (f"<p>Measured by <code>make bench</code> ({html.escape(path.name)}, on "
            f"{html.escape(str(host))}, {html.escape(str(data.get('started_at')))}):</p>"
            f"<ul>{items}</ul>")


def write_report(folder: Path) -> Path:
    """Render ``folder`` to ``folder/report.html`` (atomically); returns the page's path."""
    if not folder.is_dir():
        raise WatchError(f"{folder}: no such watch folder")
    text = render(folder)
    return atomic_write_text(folder / REPORT, text)
