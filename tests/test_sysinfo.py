"""Run context: invariants on the live machine, parsers on canned text, no failure on gaps."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import pytest

import nrm.instrument.sysinfo as sysinfo
from nrm.instrument.sysinfo import collect_context, git_info, parse_cpuinfo, requirement_names

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
cpu MHz\t\t: 2100.000
flags\t\t: fpu vme de pse hypervisor avx2

processor\t: 1
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_parse_cpuinfo_x86() -> None:
    info = parse_cpuinfo(X86_CPUINFO)
    assert info == {
        "model": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
        "hypervisor": True,
        "mhz_at_start": 2100.0,
    }


def test_parse_cpuinfo_arm() -> None:
    assert parse_cpuinfo(ARM_CPUINFO)["model"] == "BCM2835"
    assert parse_cpuinfo("") == {}


def test_requirement_names() -> None:
    reqs = ["numpy>=1.26", "pandas >=2.1", 'pytest>=8; extra == "dev"', "psutil", "numpy<3"]
    assert requirement_names(reqs) == ["numpy", "pandas", "psutil"]


def test_context_invariants(tmp_path: Path) -> None:
    ctx = collect_context(tmp_path / "run")
    json.dumps(ctx, allow_nan=False)  # JSON-safe
    assert ctx["collected_at"].endswith("Z")
    assert ctx["python"]["version"] == platform.python_version()
    assert ctx["packages"]["nrm"]
    assert ctx["packages"]["psutil"] and ctx["packages"]["numpy"]
    assert "pytest" not in ctx["packages"]  # dev extras are not runtime dependencies
    assert ctx["allocator"]["name"] in ("pymalloc", "malloc", "jemalloc", "mimalloc") or "+" in (
        ctx["allocator"]["name"]
    )
    assert ctx["cpu"]["logical"] >= 1
    assert ctx["os"]["system"] == platform.system()
    assert ctx["memory_total_bytes"] > 0
    assert ctx["storage"]["path"] == str((tmp_path / "run").resolve())
    assert ctx["storage"]["free_bytes"] > 0
    for value in ctx.values():  # flat-ish: at most two levels
        if isinstance(value, dict):
            assert all(not isinstance(v, dict) for v in value.values())


def test_git_commit_matches_git_itself() -> None:
    root = sysinfo.paths.ROOT
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    info = git_info(root)
    assert info is not None and info["commit"] == head and isinstance(info["dirty"], bool)


def test_git_absent_outside_a_checkout(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None


def test_failing_source_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: dict) -> None:
        raise OSError("no /proc here")

    monkeypatch.setattr(
        sysinfo, "COLLECTORS", (sysinfo.collect_python, broken, sysinfo.collect_os)
    )
    ctx = collect_context()
    assert set(ctx) == {"collected_at", "python", "os"}


def test_context_records_the_lock_hash(tmp_path: Path) -> None:
    import hashlib

    from nrm import lockfile

    ctx = collect_context(tmp_path / "run")
    expected = hashlib.sha256(lockfile.LOCK.read_bytes()).hexdigest()
    assert ctx["lock"]["sha256"] == expected
    assert ctx["lock"]["file"] == "requirements.lock"
    assert isinstance(ctx["lock"]["installed_exactly"], bool)
