"""Statistics tables as text: number formatting, Markdown and LaTeX (booktabs).

``format_table`` turns every cell into a string once (4 significant digits; p-values below
0.001 in scientific notation, an underflowed 0 as "< 1e-300"; missing as an em dash; booleans
as yes/no), so the Markdown and the LaTeX versions of a table show the same numbers. LaTeX is
written here rather than through ``DataFrame.to_latex`` so the output does not depend on
jinja2 or on pandas' Styler version.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np
import pandas as pd

__all__ = ["format_number", "format_p", "format_table", "is_p_column", "to_latex", "to_markdown"]

MISSING = "—"
_P_COLUMN = re.compile(r"^(p|p_.*|.*_p|pvalue|p-value)$", re.IGNORECASE)


def is_p_column(name: object) -> bool:
    return bool(_P_COLUMN.match(str(name)))


def format_p(p: float) -> str:
    """0.0123 → '0.0123'; 3.2e-7 → '3.2e-07'; 0 → '< 1e-300'."""
    if p is None or not np.isfinite(p):
        return MISSING
    if p == 0:
        return "< 1e-300"
    if p < 1e-3:
        return f"{p:.1e}"
    return f"{p:.3g}"


def format_number(v: object, digits: int = 4) -> str:
    """A readable cell: integers plain, floats to ``digits`` significant digits."""
    if v is None or v is pd.NA:
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        x = float(v)
        if math.isnan(x):
            return MISSING
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == 0:
            return "0"
        ax = abs(x)
        if ax >= 1e6 or ax < 1e-3:
            return f"{x:.{digits - 1}e}"
        if ax >= 10 ** (digits - 1):
            return f"{x:.0f}"
        return f"{x:.{digits}g}"
    return str(v)


def format_table(df: pd.DataFrame, *, digits: int = 4) -> pd.DataFrame:
    """A copy of ``df`` with every cell a display string."""
    out = {}
    for name in df.columns:
        s = df[name]
        if is_p_column(name) and pd.api.types.is_numeric_dtype(s.dtype):
            out[name] = [format_p(v) if v is not pd.NA else MISSING for v in s.astype(float)]
        else:
            out[name] = [format_number(v, digits) for v in s.tolist()]
    return pd.DataFrame(out, index=df.index, columns=df.columns)


def _numeric_columns(df: pd.DataFrame) -> list[bool]:
    return [
        pd.api.types.is_numeric_dtype(df[c].dtype) and not pd.api.types.is_bool_dtype(df[c].dtype)
        for c in df.columns
    ]


def to_markdown(df: pd.DataFrame, *, digits: int = 4, index: bool = False) -> str:
    """GitHub-flavoured Markdown (numbers right-aligned)."""
    text = format_table(df, digits=digits)
    align = ["right" if num else "left" for num in _numeric_columns(df)]
    if index:
        align = ["left", *align]
    return text.to_markdown(index=index, colalign=align, disable_numparse=True)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_LATEX_UNICODE = {
    "—": "---", "–": "--", "−": "$-$", "×": r"$\times$", "·": r"$\cdot$", "≥": r"$\geq$",
    "≤": r"$\leq$", "ρ": r"$\rho$", "Δ": r"$\Delta$", "α": r"$\alpha$", "σ": r"$\sigma$",
    "²": r"$^{2}$", "∞": r"$\infty$", "→": r"$\rightarrow$", "≈": r"$\approx$", "°": r"$^{\circ}$",
    "<": r"$<$", ">": r"$>$",
}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return "".join(_LATEX_UNICODE.get(ch, ch) for ch in out)


def to_latex(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    label: str | None = None,
    digits: int = 4,
    float_env: bool = True,
) -> str:
    """A booktabs ``tabular`` (inside a ``table`` float unless ``float_env=False``)."""
    text = format_table(df, digits=digits)
    spec = "".join("r" if num else "l" for num in _numeric_columns(df))
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(latex_escape(str(c)) for c in df.columns) + r" \\")
    lines.append(r"\midrule")
    for row in text.itertuples(index=False):
        lines.append(" & ".join(latex_escape(str(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if not float_env:
        return "\n".join(lines) + "\n"
    head = [r"\begin{table}[htbp]", r"\centering"]
    if caption:
        head.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        head.append(rf"\label{{{label}}}")
    return "\n".join([*head, *lines, r"\end{table}"]) + "\n"
