"""Shared by the scenarios: the work marker (a no-op without nrm) and a fixed unit of CPU."""

from __future__ import annotations

import sys

try:
    from nrm import mark
except ImportError:  # run without nrm installed: the marker is optional
    def mark(work: float = 1) -> None:
        return None


def size(default: int) -> int:
    """The scenario's size: its first argument (units of work), or ``default``."""
    return int(sys.argv[1]) if len(sys.argv) > 1 else default


def fixed_work(n: int = 20_000) -> int:
    """The same amount of pure-Python CPU work on every call."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
