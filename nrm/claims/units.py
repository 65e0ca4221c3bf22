"""Parsing ``ps`` times and wall-clock labels, and formatting numbers at their stated precision."""

from __future__ import annotations

import math
import re

from nrm.claims.vocab import EMPTY
from nrm.exceptions import ParameterError


def parse_ps_time(text: str) -> float:
    """CPU minutes from a macOS ``ps`` TIME field: ``"17:30.22"`` is 17 min 30.22 s = 17.504.

    macOS prints accumulated CPU time as minutes:seconds[.hundredths], with the minutes growing
    past 59 (``"63:32"``); that is the format the original notes copied. A bare number is taken
    as already in minutes.
    """
    s = str(text).strip()
    m = re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", s)
    if m:
        seconds = float(m.group(2))
        if seconds >= 60:
            raise ParameterError(
                f"ps TIME {text!r}: seconds must be below 60; expected minutes:seconds such as "
                "'17:30.22'"
            )
        return int(m.group(1)) + seconds / 60.0
    try:
        value = float(s)
    except ValueError:
        raise ParameterError(
            f"ps TIME {text!r} is not minutes:seconds (e.g. '17:30.22') nor a number of minutes"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"ps TIME {text!r} must be a finite, non-negative number of minutes")
    return value


def parse_wall(text: str, fmt: str) -> float:
    """Wall-clock minutes from a noted elapsed time; ``fmt`` is hours, minutes or h:mm:ss."""
    s = str(text).strip()
    if fmt == "h:mm:ss":
        m = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", s)
        if not m or int(m.group(2)) >= 60 or float(m.group(3)) >= 60:
            raise ParameterError(f"wall time {text!r} is not h:mm:ss (e.g. '10:07:53')")
        return int(m.group(1)) * 60 + int(m.group(2)) + float(m.group(3)) / 60
    if fmt not in ("hours", "minutes"):
        raise ParameterError(
            f"wall time format {fmt!r} is unknown; expected one of: hours, minutes, h:mm:ss"
        )
    try:
        value = float(s)
    except ValueError:
        raise ParameterError(f"wall time {text!r} is not a number of {fmt}") from None
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"wall time {text!r} must be a finite, non-negative number")
    return value * 60 if fmt == "hours" else value


def _decimals(a: float) -> int:
    if a >= 100:
        return 1
    if a >= 10:
        return 2
    if a >= 1 or a == 0:
        return 3
    return max(3, 2 - math.floor(math.log10(a)))  # three significant digits below 1


def fmt_num(x: float | None, unit: str = "") -> str:
    """A number as the ledger prints it: about four significant digits, no trailing zeros,
    thousands separated (``1080000`` -> ``1,080,000``; ``20.124`` -> ``20.12``; ``0.5`` -> ``0.5``).
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return EMPTY
    a = abs(x)
    if a >= 1000:
        s = f"{x:,.2f}".rstrip("0").rstrip(".")
    else:
        s = f"{x:.{_decimals(a)}f}"
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        if s in ("-0", ""):
            s = "0"
    return f"{s} {unit}".strip() if unit else s


def _fmt_range(lo: float, hi: float | None, unit: str = "") -> str:
    if hi is None or math.isclose(lo, hi, rel_tol=1e-9, abs_tol=1e-12):
        return fmt_num(lo, unit)
    return f"{fmt_num(lo)}–{fmt_num(hi, unit)}"
