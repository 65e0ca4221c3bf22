"""``nrm watch report DIR``: one self-contained HTML page of a watch folder.

The page holds the time series (time per unit or CPU share, RSS, GC share, I/O per window;
matplotlib, embedded as PNG), the drift fit drawn over its series, the verdict table, and the
tool's own overhead. It is written atomically as ``DIR/report.html``. (The paper's renderer and
its headless-Chromium check are not used yet: a plain page, see docs/watch.md.)
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from nrm.atomic import atomic_write_text
from nrm.exceptions import WatchError
from nrm.instrument.runrecord import read_run_json
from nrm.watch import verdict


def _figure(w: Any, v: verdict.Verdicts) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_work = v.mode == "work"
    x = w["work_mid"].to_numpy(float) if by_work else w["hours"].to_numpy(float) * 3600
    xlabel = "work done (units)" if by_work else "elapsed (s)"
    denom = w["dwork"].to_numpy(float) if by_work else w["wall"].to_numpy(float)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), constrained_layout=True)
    ax = axes[0, 0]
    if by_work:
        y = w["wall"].to_numpy(float) / denom * 1e3
        ax.plot(x, y, ".-", label="wall per unit")
        ax.plot(x, (w["gc"].to_numpy(float) / denom) * 1e3, ".-", label="GC per unit")
        ax.set_ylabel("ms per unit")
        if v.drift:
            d = v.drift
            ax.plot([x.min(), x.max()], [d["start"] * 1e3, d["end"] * 1e3], "k--",
                    label="drift fit")
    else:
        ax.plot(x, w["cpu"].to_numpy(float) / denom * 100, ".-", label="CPU share")
        ax.set_ylabel("% of wall time")
    ax.legend()
    axes[0, 1].plot(x, w["rss"].to_numpy(float) / 1e6, ".-")
    axes[0, 1].set_ylabel("RSS (MB)")
    axes[1, 0].plot(x, w["gc"].to_numpy(float) / w["wall"].to_numpy(float) * 100, ".-",
                    label="GC share")
    wait = w["wait"].to_numpy(float)
    axes[1, 0].plot(x, wait / np.maximum(wait + w["cpu"].to_numpy(float), 1e-12) * 100, ".-",
                    label="runqueue wait share")
    axes[1, 0].set_ylabel("%")
    axes[1, 0].legend()
    axes[1, 1].plot(x, w["io"].to_numpy(float) / denom / 1e3, ".-")
    axes[1, 1].set_ylabel("kB read+written per " + ("unit" if by_work else "s"))
    for a in axes.flat:
        a.set_xlabel(xlabel)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render(folder: Path) -> str:
    record = read_run_json(folder)
    if not (folder / "cycles.csv").is_file():
        raise WatchError(f"{folder}: no cycles.csv; not a watch folder")
    rows = verdict.load_rows(folder)
    v = verdict.evaluate(rows)
    over = verdict.overhead(rows)
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>nrm watch: {esc(str(record.get('name')))}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "vertical-align:top}</style></head><body>",
        f"<h1>nrm watch: {esc(str(record.get('name')))}</h1>",
        f"<p>Program: <code>{esc(' '.join(record.get('context', {}).get('argv') or []))}"
        f"</code> (PID {record.get('context', {}).get('pid')}); status "
        f"<b>{esc(str(record.get('status')))}</b>"
        + (f": {esc(str(record.get('error')))}" if record.get("error") else "") + "</p>",
        f"<h2>Verdict</h2><p>{esc(v.headline)}</p>",
    ]
    if v.mode in ("work", "time"):
        w = verdict.windows(rows, v.mode == "work")
        if v.mode == "work":
            w = w[w["dwork"] > 0].reset_index(drop=True)
        parts.append(f"<img alt='time series' src='data:image/png;base64,{_figure(w, v)}'>")
    parts.append("<table><tr><th>hypothesis</th><th>name</th><th>verdict</th>"
                 "<th>share of the slowdown</th><th>evidence</th></tr>")
    for r in v.rows:
        share = r.get("share_of_slowdown")
        parts.append(f"<tr><td>{r['hypothesis']}</td><td>{esc(r['name'])}</td>"
                     f"<td>{esc(r['verdict'])}</td><td>"
                     f"{'' if share is None else f'{100 * share:.0f} %'}</td>"
                     f"<td>{esc(r['evidence'])}</td></tr>")
    parts.append("</table>")
    parts.extend(f"<p>Note: {esc(n)}</p>" for n in v.notes)
    share = over.get("core_share")
    parts.append("<h2>Overhead</h2><p>The watcher's own CPU time: "
                 f"{over['watcher_cpu_s']:.3f} s over {over['wall_s']:.1f} s of watching"
                 + (f" ({100 * share:.2f} % of one core)" if share is not None else "")
                 + f", at {record.get('watch', {}).get('hz')} Hz.</p>")
    inside = record.get("inside") or {}
    if inside.get("hook_cpu_s") is not None:
        parts.append(f"<p>Inside tier's thread: {inside['hook_cpu_s']:.3f} s CPU "
                     f"({inside.get('marks', 0)} marks).</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(folder: Path) -> Path:
    """Render ``folder`` to ``folder/report.html`` (atomically); returns the page's path."""
    if not folder.is_dir():
        raise WatchError(f"{folder}: no such watch folder")
    text = render(folder)
    return atomic_write_text(folder / "report.html", text)
