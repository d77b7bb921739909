"""Everolimus/NK trial: analysis populations for the CSR tables (Table 1, populations table).

Nested populations, each with the reason a patient of the previous one is not in it:
enrolled → treated with everolimus → biomarker-evaluable (granzyme B at baseline and at the
primary visit: the population of the primary endpoint).
"""

from __future__ import annotations

import pandas as pd

from helpers.checks import validate_frame
from helpers.endpoints.baseline import MBC_BASELINE_VARIABLES
from helpers.everolimus_nk import flow
from helpers.results import not_supplied_note

#: ``{column: label}`` of the nested populations, outermost first.
POPULATIONS = {
    "ENROLLED": "Enrolled",
    "TREATED": "Treated with everolimus",
    "BMEVAL": "Biomarker-evaluable",
}

#: Table 1 variables (``helpers.reporting.tables.summarise_baseline``): the shared MBC set.
BASELINE_VARIABLES = MBC_BASELINE_VARIABLES


def derive_analysis_populations(
    adsl: pd.DataFrame, adbm: pd.DataFrame, primary_visit: str, marker: str = "GZMB"
) -> pd.DataFrame:
    """Per-patient membership of the nested everolimus/NK analysis populations, with reasons.

    Method: enrolled = every ADSL patient; treated = ``TRTFL = Y``; biomarker-evaluable = treated
    with a non-missing ``marker`` value at ``BASELINE`` and at ``primary_visit`` (the pair the
    primary endpoint needs). When the marker's optional table was not supplied (GZMB:
    ``granzyme_b``) the reason reads "not available: table granzyme_b not supplied".

    Returns
    -------
    pandas.DataFrame
        ADSL columns plus the booleans ``ENROLLED, TREATED, BMEVAL`` and ``TREATED_reason,
        BMEVAL_reason`` (words, ``None`` for members).
    """
    validate_frame(adsl, "adsl", ["USUBJID", "TRTFL"])
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    df = adsl.copy()
    df["ENROLLED"] = True
    df["TREATED"] = df["TRTFL"].eq("Y")
    df["TREATED_reason"] = pd.Series("not treated", index=df.index).where(~df["TREATED"])
    values = adbm[adbm["PARAMCD"].eq(marker) & adbm["AVAL"].notna()]
    base = set(values.loc[values["AVISIT"].eq("BASELINE"), "USUBJID"])
    visit = set(values.loc[values["AVISIT"].eq(primary_visit), "USUBJID"])
    has_base = df["USUBJID"].isin(base)
    has_visit = df["USUBJID"].isin(visit)
    df["BMEVAL"] = df["TREATED"] & has_base & has_visit
    reason = pd.Series(
        [
            f"no baseline {marker} sample" if not b else f"no {primary_visit} {marker} sample"
            for b in has_base
        ],
        index=df.index,
    )
    absent = flow.supplied_table_missing(adbm, marker)
    if absent:  # nobody is biomarker-evaluable because the table itself was not supplied
        reason[:] = not_supplied_note(absent)
    df["BMEVAL_reason"] = reason.where(df["TREATED"] & ~df["BMEVAL"])
    return df
