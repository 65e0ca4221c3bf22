"""Facts about this interpreter's allocator that some claims are checked against."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from typing import Any


def parse_debugmallocstats(text: str) -> dict[str, float]:
    """Arena size and small-block threshold from ``sys._debugmallocstats()`` output (may be {})."""
    out: dict[str, float] = {}
    m = re.search(r"arenas \* (\d+) bytes/arena", text)
    if m:
        out["arena_bytes"] = float(m.group(1))
    m = re.search(r"Small block threshold = (\d+)", text)
    if m:
        out["small_threshold"] = float(m.group(1))
    return out


@functools.lru_cache(maxsize=1)
def interpreter_facts() -> dict[str, Any]:
    """pymalloc constants of this interpreter, read from ``sys._debugmallocstats()``.

    Run in a child of the same executable (the stats go to the C-level stderr). ``PYTHONMALLOC``
    is dropped from its environment so the child reports pymalloc's constants even when this
    process runs under another allocator. Keys: ``version`` always; ``arena_bytes`` and
    ``small_threshold`` when pymalloc reported them.
    """
    facts: dict[str, Any] = {"version": ".".join(map(str, sys.version_info[:3]))}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import sys; sys._debugmallocstats()"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        facts.update(parse_debugmallocstats(proc.stderr + proc.stdout))
        facts["source"] = "sys._debugmallocstats()"
    except (OSError, subprocess.SubprocessError):
        facts["source"] = "unavailable"
    return facts
