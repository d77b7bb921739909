"""HER2-CTC trial: analysis populations for the CSR tables (Table 1, populations table).

Nested populations, each with the reason a patient of the previous one is not in it:
screened → FISH-evaluable (≥ 1 CTC with an evaluable HER2 FISH reading) → ≥ 1 HER2-amplified CTC
→ treated with T-DM1. The gates are those of :func:`helpers.her2_ctc.ctc.derive_screening_flow`.
"""

from __future__ import annotations

import pandas as pd

from helpers.checks import validate_frame
from helpers.endpoints.baseline import MBC_BASELINE_VARIABLES

#: ``{column: label}`` of the nested populations, outermost first.
POPULATIONS = {
    "SCREENED": "Screened",
    "FISHEVAL": "FISH-evaluable",
    "AMPLIFIED": "≥1 HER2-amplified CTC",
    "TREATED": "Treated with T-DM1",
}

#: Table 1 variables (``helpers.reporting.tables.summarise_baseline``): the shared MBC set plus
#: the CTC count.
BASELINE_VARIABLES = (
    *MBC_BASELINE_VARIABLES,
    {"column": "CTCCNT", "label": "CTC count per 7.5 mL (CellSearch)", "kind": "continuous"},
    {
        "column": "CTCPOS5",
        "label": "≥5 CTC per 7.5 mL",
        "kind": "categorical",
        "levels": ["Y", "N"],
        "labels": {"Y": "Yes", "N": "No"},
    },
)


def _fish_reason(row: pd.Series) -> str | None:
    if pd.isna(row["CTCCNT"]):
        return "CellSearch CTC count not available"
    if row["CTCCNT"] < 1:
        return "no CTC detected"
    if row["FISHSTAT"] == "technical_failure":
        why = row["FISHFRSN"]
        return "FISH technical failure" + (
            "" if pd.isna(why) else f" ({str(why).replace('_', ' ')})"
        )
    if row["FISHSTAT"] != "done":
        return "FISH not done"
    if not row["NCELLEVL"] > 0:
        return "no evaluable CTC"
    return None


def derive_analysis_populations(adsl: pd.DataFrame, adctc: pd.DataFrame) -> pd.DataFrame:
    """Per-patient membership of the nested HER2-CTC analysis populations, with reasons.

    Method: screened = every ADSL patient with ``SCRNFL = Y``; FISH-evaluable = ≥ 1 CTC and a HER2
    FISH reading done with ≥ 1 evaluable CTC; amplified = ``HER2AMPFL = Y``; treated =
    ``TRTFL = Y`` among the amplified (a patient treated without an amplified CTC is a protocol
    deviation: she stays in the amplified-gate reason "treated without amplified CTC").

    Returns
    -------
    pandas.DataFrame
        ADSL columns plus ``CTCCNT, CTCPOS5`` and the booleans ``SCREENED, FISHEVAL, AMPLIFIED,
        TREATED`` with ``FISHEVAL_reason, AMPLIFIED_reason, TREATED_reason`` (words, ``None``
        for members).
    """
    validate_frame(adsl, "adsl", ["USUBJID", "SCRNFL", "TRTFL"])
    cols = ["USUBJID", "CTCCNT", "CTCPOS5", "FISHSTAT", "FISHFRSN", "NCELLEVL", "HER2AMPFL"]
    validate_frame(adctc, "adctc", cols)
    df = adsl.merge(adctc[cols], on="USUBJID", how="left")
    df["SCREENED"] = df["SCRNFL"].eq("Y")
    fish_reason = df.apply(_fish_reason, axis=1)
    df["FISHEVAL"] = df["SCREENED"] & fish_reason.isna()
    df["FISHEVAL_reason"] = fish_reason.where(df["SCREENED"] & ~df["FISHEVAL"])
    df["AMPLIFIED"] = df["FISHEVAL"] & df["HER2AMPFL"].eq("Y")
    treated_not_amp = df["TRTFL"].eq("Y")
    df["AMPLIFIED_reason"] = pd.Series(
        [
            "no HER2-amplified CTC (treated: protocol deviation)" if t else "no HER2-amplified CTC"
            for t in treated_not_amp
        ],
        index=df.index,
    ).where(df["FISHEVAL"] & ~df["AMPLIFIED"])
    df["TREATED"] = df["AMPLIFIED"] & df["TRTFL"].eq("Y")
    reason = (
        df["NTRTRSN"].fillna("not treated")
        if "NTRTRSN" in df.columns
        else pd.Series("not treated", index=df.index)
    )
    df["TREATED_reason"] = reason.where(df["AMPLIFIED"] & ~df["TREATED"])
    return df.drop(columns=["FISHSTAT", "FISHFRSN", "NCELLEVL", "HER2AMPFL"])
