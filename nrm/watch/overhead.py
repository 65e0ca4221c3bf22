"""The tool's own overhead as ``make bench`` measured it (``nrm.build.bench.bench_watch_overhead``):
its lines, printed by the bench and shown in every watch report with where it was measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def latest_bench(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest ``bench-*.json`` in ``folder`` that holds this bench's ``watch_overhead``."""
    for path in sorted(folder.glob("bench-*.json"), reverse=True):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        w = data.get("watch_overhead") if isinstance(data, dict) else None
        if isinstance(w, dict) and "inside_cpu" in w:
            return path, data
    return None


def overhead_lines(w: dict[str, Any]) -> list[str]:
    """The lines of a ``watch_overhead`` result of ``make bench``."""

    def ci(d: dict[str, Any]) -> str:
        n = d.get("n_blocks", d.get("n"))
        return (
            f"{d['pct']:+.2f} % (95 % CI {d['ci_low_pct']:+.2f} to {d['ci_high_pct']:+.2f} "
            f"%, n={n})"
        )

    return [
        f"program: {w['units']} units of {w['unit_ms_measured']:.2f} ms (bare), "
        f"{w['blocks']} randomized blocks of 4 fresh processes; load "
        f"{w['load_1m_before']:.1f} -> {w['load_1m_after']:.1f}",
        f"inside tier (both tiers vs outside only), process CPU: {ci(w['inside_cpu'])}: "
        f"{w['inside_cpu']['verdict']}",
        f"inside tier, elapsed time: {ci(w['inside_wall'])}: {w['inside_wall']['verdict']}",
        f"  of which the hook thread's own CPU: {ci(w['hook_thread_pct_of_cpu'])} of the "
        "program's CPU",
        *(
            [
                f"inside tier from its costs: {c['pct']:.2f} % "
                f"({c['callback_us_per_collection']:.2f} us per collection (min of 7 loops) x "
                f"{c['collections_per_unit']:.1f} collections per unit + the hook thread's "
                f"{c['hook_thread_us_per_unit']:.2f} us, over "
                f"{c['unit_cpu_us']:.0f} us of CPU per unit)"
                + (f"; 95 % CI {c['ci_low_pct']:.2f} to {c['ci_high_pct']:.2f} %: "
                   f"{c['verdict']} (the steady-state measure: the end-to-end one cannot "
                   "resolve 1 % on this machine)" if "verdict" in c else "")
            ]
            if (c := w.get("inside_from_costs"))
            else []
        ),
        *(
            [
                f"inside tier's start-up, once per process (an empty program with the hook vs "
                f"without, elapsed): {st['median_ms']:+.1f} ms median (mean 95 % CI "
                f"{st['ci_low_ms']:+.1f} to {st['ci_high_ms']:+.1f} ms, n={st['n']} pairs)"
            ]
            if (st := w.get("startup"))
            else []
        ),
        f"outside tier (outside only vs bare), elapsed time: {ci(w['outside_wall'])}",
        f"A/A (bare vs bare): elapsed {ci(w['aa_wall'])}, CPU {ci(w['aa_cpu'])}",
        f"outside watcher's own CPU at {w.get('hz', 1.0):g} Hz: "
        f"{w['watcher_core_share']['pct']:.3f} % of a core "
        f"(95 % CI {w['watcher_core_share']['ci_low_pct']:.3f} to "
        f"{w['watcher_core_share']['ci_high_pct']:.3f}, n={w['watcher_core_share']['n']} "
        f"watches): {w['watcher_core_share']['verdict']}",
    ]
