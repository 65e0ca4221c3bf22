"""Section 1, what was run: the experiments, the scale and this machine."""

from __future__ import annotations

from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import heading
from nrm.render.text import num, table
from nrm.render.wording import RULE_LABELS
from nrm.run.scales import get_scale

__all__ = ["section"]


def _machine(inp: PaperInputs) -> str:
    ctx = inp.slow.meta.get("context") or {}
    py = ctx.get("python", {})
    cpu = ctx.get("cpu", {})
    os_ = ctx.get("os", {})
    alloc = ctx.get("allocator", {})
    git = ctx.get("git") or {}
    mem = ctx.get("memory_total_bytes")
    return (
        f"Machine: {cpu.get('model', '?')} ({cpu.get('logical', '?')} logical cores"
        f"{', virtualised' if cpu.get('hypervisor') else ''}), "
        f"{num(mem / 2**30) + ' GiB RAM' if mem else 'RAM unknown'}, "
        f"{os_.get('distribution') or os_.get('system', '?')} (kernel {os_.get('release', '?')}), "
        f"{py.get('implementation', 'Python')} {py.get('version', '?')}, allocator "
        f"{alloc.get('name', '?')} over {alloc.get('c_malloc', '?')}; code at git commit "
        f"`{str(git.get('commit', 'unknown'))[:12]}`"
        f"{' (with uncommitted changes)' if git.get('dirty') else ''}."
    )


def section(inp: PaperInputs) -> str:
    runs = inp.phase1a["runs"].copy()
    from nrm.sim.experiments import get_experiment

    runs["paper ran it"] = [get_experiment(e).paper_variant for e in runs["experiment"]]
    runs["paper: cycles × agents"] = [
        f"{get_experiment(e).cycles} × {get_experiment(e).max_agents}" for e in runs["experiment"]
    ]
    cols = {
        "run": "run", "mechanisms": "mechanisms",
        "paper ran it": "paper ran this experiment (paper)",
        "paper: cycles × agents": "paper: cycles × agents (paper)",
        "cycles_per_condition": "cycles per condition", "max_agents": "agents (max)",
        "metrics": "metrics", "cpu_interval_s": "CPU sample blocks (s)",
        "runtime_s": "runtime (s)", "cpu_s": "CPU time (s)", "samples": "metrics samples",
        "commits": "SQLite commits", "mean_population": "mean population",
    }
    tab = runs[list(cols)].rename(columns=cols)
    rules = inp.phase1a["rules"].copy()
    if "rule" in rules:
        rules["rule"] = [RULE_LABELS.get(str(r), str(r).replace("_", " ")) for r in rules["rule"]]
    crashed = runs[runs["crashed_conditions"] > 0] if "crashed_conditions" in runs else runs[:0]
    crash_note = (
        "In no condition of these runs did every member of a registry cluster die, so none "
        "would have hit the original code's division by zero (which aborted a whole experiment)."
        if crashed.empty else
        "In " + ", ".join(f"{r.run} ({int(r.crashed_conditions)} condition(s))"
                          for r in crashed.itertuples())
        + " a registry cluster lost every member: the original code divides by zero there and "
        "aborts the whole experiment, so its results would not exist. These runs skipped such "
        "clusters and went on; run.json records the first cycle at which the original would "
        "have stopped (`crash_cycle`)."
    )
    return (
        heading("1. What was run")
        + "\nThe model is the NRM multi-agent simulator as the original scripts ran it: agents "
        "with phase states drawn from live system metrics, a bridge of three oscillators, "
        "pairwise resonance tests that form clusters in a registry that is never cleared, and "
        "four mechanisms switched on and off in 2×2 factorial experiments (`pooling`, `sources`, "
        "`throttling`, `recovery`; conditions OFF-OFF, ON-OFF, OFF-ON, ON-ON run in order in one "
        "process). The *unoptimized* preset keeps every cost of the original: a system-metrics "
        "sample on every agent evolve call, spawn and bonus, each written to SQLite with its "
        "own connection and commit, one SQLite row per tested pair, recursive evolution of every "
        "child ever spawned, and a cumulative cluster registry. The *optimized* preset is the "
        "paper's description of its optimization: one cached sample per cycle, nothing else "
        "changed. *Lean* turns every cost off (a different model, shown for reference).\n\n"
        f"Scale `{inp.scale}` ({get_scale(inp.scale).description}). Each run is a separate "
        "process-level run, executed one after another so that no two runs compete for the "
        "cores. The paper's own parameters are shown beside ours (labelled *paper*).\n\n"
        f"*Table [[runs]]. The runs of this build. {inp.source('phase1a/runs')}*\n\n"
        f"{table(tab)}\n\n"
        f"{_machine(inp)}\n\n{crash_note}\n\n"
        "The runtime hypotheses are tested under one declared rule set (the paper's scripts "
        "carry five mutually inconsistent ones); p-values are autocorrelation-robust where the "
        "rule says so:\n\n"
        f"*Table [[rules]]. The rule set for H1–H5. {inp.source('phase1a/rules')}*\n\n"
        f"{table(rules)}\n"
    )
