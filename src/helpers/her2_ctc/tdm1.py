"""HER2-CTC / T-DM1 efficacy glue: outcome by FISH variables, CTC conversion, early ctDNA change."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from helpers import results
from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import rates
from helpers.endpoints.efficacy._common import _ESTIMATE_COLUMNS, _nan_row

# --------------------------------------------------------------------------------------------
# HER2-CTC / T-DM1: FISH results and efficacy
# --------------------------------------------------------------------------------------------

#: FISH variables of adctc analysed against efficacy, with display labels.
FISH_VARIABLES = {
    "MEANRATAMP": "Mean HER2/CEP17 ratio of the amplified CTCs (level of amplification)",
    "NAMP": "Amplified CTCs (n)",
    "PCTAMP": "Amplified CTCs (% of evaluable)",
}
#: Adverse events of special interest of T-DM1 (Kadcyla SmPC section 4.4; MedDRA preferred terms).
TDM1_AESI = {
    "Thrombocytopenia": ["Thrombocytopenia", "Platelet count decreased"],
    "Transaminase increase": [
        "Alanine aminotransferase increased",
        "Aspartate aminotransferase increased",
        "Transaminases increased",
        "Hepatic enzyme increased",
        "Hepatotoxicity",
    ],
    "LVEF decrease": [
        "Ejection fraction decreased",
        "Left ventricular dysfunction",
        "Left ventricular failure",
        "Cardiac failure",
    ],
    "Peripheral neuropathy": [
        "Peripheral sensory neuropathy",
        "Neuropathy peripheral",
        "Peripheral motor neuropathy",
        "Peripheral sensorimotor neuropathy",
        "Polyneuropathy",
    ],
}
#: Covariates of the Cox models, in the unit their hazard ratio refers to.
FISH_COX_COVARIATES = {
    "MEANRATAMP": "per 1-unit higher mean HER2/CEP17 ratio of the amplified CTCs",
    "LOG2NAMP": "per doubling of the number of amplified CTCs",
    "PCTAMP10": "per 10-point higher % amplified CTCs",
}


def derive_amplification_level(adcell: pd.DataFrame, reader: str = "R1") -> pd.DataFrame:
    """Level of amplification per patient, among the amplified CTCs only.

    Method: mean and maximum HER2/CEP17 ratio over the evaluable readings of ``reader`` called
    amplified (``AMPFL = "Y"``). The registry's "level of amplification" describes the amplified
    cells; a mean over all cells would mostly measure the share of amplified cells (PCTAMP).

    Returns
    -------
    DataFrame
        ``USUBJID, MEANRATAMP, MAXRATAMP`` for patients with ≥1 amplified CTC.
    """
    validate_frame(adcell, "adcell", ["USUBJID", "READER", "EVALFL", "AMPFL", "RATIO"])
    amp = adcell[adcell["READER"].eq(reader) & adcell["EVALFL"].eq("Y") & adcell["AMPFL"].eq("Y")]
    ratio = pd.to_numeric(amp["RATIO"]).astype(float)
    grouped = ratio.groupby(amp["USUBJID"])
    return (
        pd.DataFrame({"MEANRATAMP": grouped.mean(), "MAXRATAMP": grouped.max()})
        .rename_axis("USUBJID")
        .reset_index()
    )


def derive_fish_efficacy(
    bor_table: pd.DataFrame,
    adctc: pd.DataFrame,
    adtte: pd.DataFrame,
    adcell: pd.DataFrame,
    paramcd: str = "PFS",
) -> pd.DataFrame:
    """Per patient: best response, PFS and the screening HER2 FISH results of the CTCs.

    Method: the patients of ``bor_table`` joined to their ADCTC row (reader R1 summary), their
    level of amplification among amplified CTCs (:func:`derive_amplification_level`) and their
    ``paramcd`` ADTTE row. The number of amplified CTCs scales with the number of CTCs read, so
    ``CTCCNT`` and ``NCELLEVL`` are kept beside ``NAMP``. Cox covariates are put on clinically
    readable scales: ``LOG2NAMP = log2(NAMP)`` (per doubling; NaN when NAMP = 0) and
    ``PCTAMP10 = PCTAMP / 10``.

    Returns
    -------
    DataFrame
        ``USUBJID, AVALC, BESTPCHG, RSPFL, RESPONSE, MEANRAT (all evaluable CTCs), MAXRAT, NAMP,
        PCTAMP, NCELLEVL, CTCCNT, MEANRATAMP, MAXRATAMP (amplified CTCs), LOG2NAMP, PCTAMP10,
        AVAL, CNSR`` (AVAL/CNSR NaN when the patient has no ``paramcd`` row).
    """
    validate_frame(bor_table, "bor_table", ["USUBJID", "AVALC", "BESTPCHG", "RSPFL", "RESPONSE"])
    cols = ["USUBJID", "MEANRAT", "MAXRAT", "NAMP", "PCTAMP", "NCELLEVL", "CTCCNT"]
    validate_frame(adctc, "adctc", cols)
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    if adctc["USUBJID"].duplicated().any():
        raise ValueError("adctc must have one row per USUBJID")
    out = bor_table[["USUBJID", "AVALC", "BESTPCHG", "RSPFL", "RESPONSE"]].merge(
        adctc[cols], on="USUBJID", how="left"
    )
    out = out.merge(derive_amplification_level(adcell), on="USUBJID", how="left")
    out["CTCCNT"] = pd.to_numeric(out["CTCCNT"]).astype(float)
    namp = pd.to_numeric(out["NAMP"]).astype(float)
    out["LOG2NAMP"] = np.log2(namp.where(namp > 0))
    out["PCTAMP10"] = pd.to_numeric(out["PCTAMP"]).astype(float) / 10.0
    tte = adtte[adtte["PARAMCD"].eq(paramcd)].set_index("USUBJID")
    out["AVAL"] = out["USUBJID"].map(tte["AVAL"]).astype(float)
    out["CNSR"] = out["USUBJID"].map(tte["CNSR"]).astype(float)
    return out


# --------------------------------------------------------------------------------------------
# HER2-CTC / T-DM1: CTC conversion and ctDNA early change
# --------------------------------------------------------------------------------------------


def derive_ctc_conversion(change: pd.DataFrame, threshold: float = 5) -> pd.DataFrame:
    """Flag conversion from an unfavourable (>= threshold) to a favourable (< threshold) count.

    Method: Cristofanilli's prognostic cut-off of 5 CTC / 7.5 mL (N Engl J Med 2004). Among
    complete pairs: ``CONVFL = "Y"`` when baseline >= threshold and follow-up < threshold,
    ``"N"`` when baseline >= threshold and follow-up >= threshold, missing (not applicable) when
    baseline < threshold or the pair is incomplete; ``RISEFL`` is the reverse move (baseline <
    threshold, follow-up >= threshold).

    Returns
    -------
    DataFrame
        ``change`` plus ``BASEGE`` (Y/N baseline >= threshold), ``CONVFL``, ``RISEFL``.
    """
    validate_frame(change, "change", ["USUBJID", "BASE_VAL", "POST_VAL"])
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or threshold <= 0:
        raise ValueError(f"threshold must be a positive count (e.g. 5), got {threshold!r}")
    out = change.copy()
    complete = out["BASE_VAL"].notna() & out["POST_VAL"].notna()
    high_base = out["BASE_VAL"] >= threshold
    high_post = out["POST_VAL"] >= threshold
    out["BASEGE"] = np.where(out["BASE_VAL"].isna(), None, np.where(high_base, "Y", "N"))
    out["CONVFL"] = np.where(complete & high_base, np.where(high_post, "N", "Y"), None)
    out["RISEFL"] = np.where(complete & ~high_base, np.where(high_post, "Y", "N"), None)
    return out


def compute_ctc_conversion(
    conversion: pd.DataFrame, threshold: float = 5, ci_level: float = 0.95, visit: str = "C2D1"
) -> pd.DataFrame:
    """Rates of CTC conversion (>= threshold → < threshold) and of the reverse, exact CIs.

    Method: from :func:`derive_ctc_conversion`; denominators are the patients with a complete
    pair and baseline >= threshold (conversion) or < threshold (rise); Clopper–Pearson exact CIs.

    Returns
    -------
    DataFrame
        Two estimate-table rows (``n``, ``N``, ``estimate``, CI, ``method``); a row with N = 0
        is NaN with a note.
    """
    validate_frame(conversion, "conversion", ["CONVFL", "RISEFL"])
    ci_level = validate_ci_level(ci_level)
    rows = []
    for col, text in (
        ("CONVFL", f"CTC conversion ≥{threshold:g} → <{threshold:g} per 7.5 mL at {visit}"),
        ("RISEFL", f"CTC rise <{threshold:g} → ≥{threshold:g} per 7.5 mL at {visit}"),
    ):
        flags = conversion[col].dropna()
        if flags.empty:
            rows.append(
                pd.DataFrame([_nan_row(text, 0, ci_level, "Clopper–Pearson exact", "N = 0")])
            )
            continue
        part = rates.compute_proportion(int(flags.eq("Y").sum()), len(flags), text, ci_level)
        part["p_value"], part["note"] = math.nan, ""
        rows.append(part)
    return pd.concat(rows, ignore_index=True)[_ESTIMATE_COLUMNS]


def derive_ctdna_early_change(change: pd.DataFrame, decrease_pct: float = 50) -> pd.DataFrame:
    """Classify the early ctDNA tumour-fraction change, with values below the LoD made explicit.

    Rule (stated in the notebook): below-LoD values are LoD/2 (derivation rule). A patient whose
    baseline is below the LoD has no measurable decrease: "not evaluable (baseline < LoD)". A
    patient detected at baseline and below the LoD at follow-up has "cleared", counted as a
    decrease. Otherwise a decrease means ``POST_VAL <= (1 − decrease_pct/100) × BASE_VAL``.
    Incomplete pairs are "not evaluable (sample missing)".

    Returns
    -------
    DataFrame
        ``change`` plus ``CTDNAGRP`` (text), ``EARLYDEC`` (Y/N, None when not evaluable) and,
        when ``change`` has ``LOG2FC`` (:func:`derive_change_table`), ``LOG2FC_EVAL`` = LOG2FC
        of the evaluable patients only (after clearance it is an upper bound: LoD/2 was used).
    """
    validate_frame(change, "change", ["USUBJID", "BASE_VAL", "POST_VAL", "BASE_LOD", "POST_LOD"])
    if isinstance(decrease_pct, bool) or not isinstance(decrease_pct, numbers.Real):
        raise TypeError(f"decrease_pct must be a number of percent, got {decrease_pct!r}")
    if not 0 < decrease_pct < 100:
        raise ValueError(f"decrease_pct must be strictly between 0 and 100, got {decrease_pct}")
    out = change.copy()
    complete = out["BASE_VAL"].notna() & out["POST_VAL"].notna()
    base_lod = out["BASE_LOD"].eq("Y")
    cleared = complete & ~base_lod & out["POST_LOD"].eq("Y")
    decreased = out["POST_VAL"] <= (1 - decrease_pct / 100) * out["BASE_VAL"]
    dec_label = f"Decrease ≥{decrease_pct:g} % or cleared"
    group = np.select(
        [~complete, base_lod, cleared | decreased],
        ["Not evaluable (sample missing)", "Not evaluable (baseline < LoD)", dec_label],
        default=f"No decrease ≥{decrease_pct:g} %",
    )
    out["CTDNAGRP"] = group
    evaluable = complete & ~base_lod
    out["EARLYDEC"] = np.where(evaluable, np.where(cleared | decreased, "Y", "N"), None)
    if "LOG2FC" in out.columns:
        # a fold change from a LoD/2 baseline measures the imputation, not the tumour
        out["LOG2FC_EVAL"] = out["LOG2FC"].where(evaluable)
    return out


# --------------------------------------------------------------------------------------------
# Optional tables: say "not available" when a biomarker's table was not supplied
# --------------------------------------------------------------------------------------------

#: On-treatment biomarker (ADBM PARAMCD) -> the optional raw table it is derived from.
BIOMARKER_TABLES = {"CTCCNT": "ctc_followup", "CTDNATF": "ctdna"}


def derive_availability_notes(
    estimates: pd.DataFrame, adbm: pd.DataFrame, paramcd: str
) -> pd.DataFrame:
    """The estimate rows of a biomarker section, with the reason when its table is absent.

    Method: when ``adbm`` holds no ``paramcd`` row, the optional table it comes from
    (:data:`BIOMARKER_TABLES`) was not supplied; every row's ``note`` then reads "not available:
    table ctc_followup not supplied" (the rows already carry no numbers). Otherwise the rows are
    returned unchanged.

    Returns
    -------
    pandas.DataFrame
        ``estimates`` with ``note`` set (a copy) or unchanged.
    """
    validate_frame(adbm, "adbm", ["PARAMCD"])
    if paramcd not in BIOMARKER_TABLES:
        raise ValueError(f"paramcd must be one of {sorted(BIOMARKER_TABLES)}, got {paramcd!r}")
    if adbm["PARAMCD"].eq(paramcd).any():
        return estimates
    return results.mark_not_supplied(estimates, BIOMARKER_TABLES[paramcd])
