"""Argument checks shared by the helpers: one wording for the same mistake everywhere.

Each raises ``TypeError`` for a wrong kind of argument and ``ValueError`` for a wrong value, with
a message saying how to fix it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import pandas as pd


def validate_ci_level(ci_level: object) -> float:
    """Return ``ci_level`` as a float strictly between 0 and 1 (e.g. 0.95)."""
    if isinstance(ci_level, bool) or not isinstance(ci_level, numbers.Real):
        raise TypeError(f"ci_level must be a number such as 0.95, got {ci_level!r}")
    if not 0 < float(ci_level) < 1:
        raise ValueError(f"ci_level must be strictly between 0 and 1 (e.g. 0.95), got {ci_level}")
    return float(ci_level)


def validate_frame(df: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``df`` if it is a DataFrame holding ``columns``; name what is missing otherwise."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; see docs/data_dictionary.md "
            f"(present: {list(df.columns)})"
        )
    return df


def validate_unique(df: pd.DataFrame, key: list[str], name: str) -> None:
    """Raise if ``key`` does not identify the rows of ``df``, showing a few duplicated keys."""
    dup = df.duplicated(subset=key, keep=False)
    if dup.any():
        examples = df.loc[dup, key].drop_duplicates().head(5).to_dict("records")
        raise ValueError(f"{name} has duplicated key {key}, e.g. {examples}; keep one row per key")
