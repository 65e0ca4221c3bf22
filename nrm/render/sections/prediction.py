"""The paper's falsifiable prediction (optimization removes at least 80 % of the variance),
decided by its interval: the label, verdict and table cell the sections show."""

from __future__ import annotations

import pandas as pd

from nrm.render import results as R
from nrm.render.inputs import PaperInputs
from nrm.render.sections.common import p_text
from nrm.render.text import num, pct
from nrm.stats.verdict import (
    VERDICTS,
    threshold_verdict,
)

__all__ = ["PREDICTION_THRESHOLD", "prediction_cell", "prediction_label", "prediction_verdict"]


#: The paper's prediction: variance reduction above this many per cent (§2.4).
PREDICTION_THRESHOLD = 80.0


def prediction_label(inp: PaperInputs) -> str:
    row = R.stat(inp.phase1b["same_experiment"], "prediction")
    return str(row["statistic"]).replace("paper's prediction: ", "prediction: ")


def prediction_verdict(row: pd.Series) -> str:
    """holds / does not hold / undecided (decided by the variance reduction's 95 % CI)."""
    v = row.get("prediction_verdict")
    if isinstance(v, str) and v in VERDICTS:
        return v
    return threshold_verdict(float(row["variance_reduction_pct"]),
                             float(row["variance_reduction_ci_low"]),
                             float(row["variance_reduction_ci_high"]), PREDICTION_THRESHOLD,
                             p=float(row["levene_p"]))


def prediction_cell(row: pd.Series) -> str:
    return (f"{prediction_verdict(row)}: reduction {pct(row['variance_reduction_pct'])} "
            f"(95 % CI {num(row['variance_reduction_ci_low'])} to "
            f"{num(row['variance_reduction_ci_high'])} %), Levene p {p_text(row['levene_p'])}")
