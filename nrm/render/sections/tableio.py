"""Reading the tables the analyses wrote, for the sections (a leaf: no other section's import)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["read_table"]


def read_table(path: Path) -> pd.DataFrame:
    """A table the analyses wrote, or an empty frame when it is missing or empty."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
