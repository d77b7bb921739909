"""Shared internals of the efficacy package."""

from __future__ import annotations

import pandas as pd

from helpers.checks import validate_frame
from helpers.results import TESTED_ESTIMATE_COLUMNS, empty_estimate_row

_ESTIMATE_COLUMNS = list(TESTED_ESTIMATE_COLUMNS)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _population(adsl: pd.DataFrame, population_flag: str) -> pd.DataFrame:
    if not isinstance(population_flag, str):
        raise TypeError(
            f"population_flag must be a column name such as 'EFFFL', got {population_flag!r}"
        )
    validate_frame(adsl, "adsl", ["USUBJID", "TRTSDT", population_flag])
    if adsl["USUBJID"].duplicated().any():
        raise ValueError("adsl must have one row per USUBJID")
    pop = adsl[adsl[population_flag].eq("Y")]
    if pop.empty:
        raise ValueError(
            f"no patient with {population_flag} = 'Y' in adsl: the analysis population is empty"
        )
    return pop


def _nan_row(parameter: str, N: int, ci_level: float, method: str, note: str) -> dict:
    return empty_estimate_row(parameter, N, ci_level, method, note)
