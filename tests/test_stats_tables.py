"""Number formatting and the Markdown / LaTeX renderers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nrm.stats.tables import (
    format_number,
    format_p,
    format_table,
    is_p_column,
    latex_escape,
    to_latex,
    to_markdown,
)


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.5, "0.5"), (0.0123456, "0.0123"), (0.001, "0.001"), (3.2e-7, "3.2e-07"),
     (0.0, "< 1e-300"), (np.nan, "—")],
)
def test_format_p(p: float, text: str) -> None:
    assert format_p(p) == text


@pytest.mark.parametrize(
    ("v", "text"),
    [(12000, "12000"), (np.int64(7), "7"), (3.14159, "3.142"), (123.456, "123.5"),
     (12345.6, "12346"), (2.5e7, "2.500e+07"), (0.000123, "1.230e-04"), (0.0, "0"),
     (np.nan, "—"), (None, "—"), (True, "yes"), (np.bool_(False), "no"), ("abc", "abc"),
     (float("inf"), "∞")],
)
def test_format_number(v: object, text: str) -> None:
    assert format_number(v) == text


def test_p_columns_are_recognised() -> None:
    assert all(is_p_column(c) for c in ("p", "p_value", "p_robust", "p_f"))
    assert not any(is_p_column(c) for c in ("planned_cycles", "prediction", "pop", "step"))


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "hypothesis": ["H1", "H5"],
        "estimate": [0.4567, 0.0123],
        "p_robust": [1e-12, 0.2],
        "meets": [True, False],
        "n": [3000, 3000],
    })


def test_format_table(frame: pd.DataFrame) -> None:
    t = format_table(frame)
    assert t.loc[0].tolist() == ["H1", "0.4567", "1.0e-12", "yes", "3000"]
    assert t.loc[1, "p_robust"] == "0.2"


def test_markdown(frame: pd.DataFrame) -> None:
    md = to_markdown(frame)
    lines = md.splitlines()
    assert lines[0].split("|")[1].strip() == "hypothesis"
    assert lines[1].startswith("|:--") and lines[1].rstrip("|").endswith(":")  # numbers right
    assert "| H1 " in lines[2] and "1.0e-12" in lines[2] and "yes" in lines[2]


def test_latex(frame: pd.DataFrame) -> None:
    tex = to_latex(frame, caption="H1–H5 at 5 %", label="tab:h")
    assert tex.startswith("\\begin{table}[htbp]\n\\centering\n")
    assert "\\caption{H1--H5 at 5 \\%}" in tex
    assert "\\label{tab:h}" in tex
    assert "\\begin{tabular}{lrrlr}" in tex
    assert "hypothesis & estimate & p\\_robust & meets & n \\\\" in tex
    assert "H1 & 0.4567 & 1.0e-12 & yes & 3000 \\\\" in tex
    assert tex.count("\\toprule") == tex.count("\\midrule") == tex.count("\\bottomrule") == 1
    bare = to_latex(frame, float_env=False)
    assert bare.startswith("\\begin{tabular}") and "\\begin{table}" not in bare


def test_latex_escape() -> None:
    assert latex_escape("a_b & 50% #1 $x {y} ~ ^") == (
        "a\\_b \\& 50\\% \\#1 \\$x \\{y\\} \\textasciitilde{} \\textasciicircum{}"
    )
    assert latex_escape("ρ > 0.3, ΔR² — x") == "$\\rho$ $>$ 0.3, $\\Delta$R$^{2}$ --- x"
    assert latex_escape("C:\\path") == "C:\\textbackslash{}path"
