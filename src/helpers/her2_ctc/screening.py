"""X"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import rates, stats
from helpers.her2_ctc import ctc
from helpers.results import TESTED_ESTIMATE_COLUMNS, format_p_value

#: ASCO/CAP 2018 dual-probe ISH groups (Wolff 2018, Fig. 2), applied to single cells here.
ISH_GROUP_DEFINITIONS: dict[int, tuple[str, str]] = {
    1: ("HER2/CEP17 ≥2.0 and HER2 ≥4 signals", "positive"),
    2: ("HER2/CEP17 ≥2.0 and HER2 <4 signals", "work-up with concurrent IHC"),
    3: ("HER2/CEP17 <2.0 and HER2 ≥6 signals", "work-up with concurrent IHC"),
    4: ("HER2/CEP17 <2.0 and HER2 ≥4 and <6 signals", "work-up with concurrent IHC"),
    5: ("HER2/CEP17 <2.0 and HER2 <4 signals", "negative"),
}

METHOD_CP = "Clopper–Pearson exact"
_NOT_ESTIMABLE = "not estimable"
_CLUSTER_NOTE = "CTCs treated as independent (clustered within patients): CI may be too narrow"
_ESTIMATE_COLUMNS = list(TESTED_ESTIMATE_COLUMNS)
_ADCTC_COLUMNS = ("USUBJID", "CTCCNT", "CTCPOS1", "FISHSTAT", "FISHFRSN", "NCELLEVL", "HER2AMPFL")
_ADCELL_COLUMNS = ("USUBJID", "CELLID", "READER", "HER2SIG", "CEP17SIG", "EVALFL", "AMPFL")


# --------------------------------------------------------------------------------------------
# argument checks and small shared pieces
# --------------------------------------------------------------------------------------------


def _frame(rows: list[dict], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=[*extra, *_ESTIMATE_COLUMNS])
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    for col in ("estimate", "ci_lower", "ci_upper", "ci_level", "p_value"):
        out[col] = out[col].astype(float)
    out["note"] = out["note"].fillna("").astype(str)
    return out


def _proportion(n: int, N: int, parameter: str, ci_level: float, note: str = "") -> dict:
    """Proportion with Clopper–Pearson CI as a row dict; an empty denominator gives NaN."""
    if N == 0:
        return {
            "parameter": parameter,
            "n": 0,
            "N": 0,
            "estimate": math.nan,
            "ci_lower": math.nan,
            "ci_upper": math.nan,
            "ci_level": ci_level,
            "method": METHOD_CP,
            "p_value": math.nan,
            "note": "; ".join(s for s in (note, "no patient in the denominator") if s),
        }
    row = rates.compute_proportion(int(n), int(N), parameter, ci_level).iloc[0].to_dict()
    return row | {"p_value": math.nan, "note": note}


# --------------------------------------------------------------------------------------------
# calls at the notebook's threshold
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningCalls:
    """Per-cell and per-patient HER2 FISH results at one ratio threshold.

    Attributes
    ----------
    cells : pandas.DataFrame
        ``adcell`` re-derived at ``ratio_threshold`` (columns of
        :data:`helpers.her2_ctc.ctc.ADCELL_COLUMNS`).
    patients : pandas.DataFrame
        ``adctc`` re-derived from ``cells`` (columns of :data:`helpers.her2_ctc.ctc.ADCTC_COLUMNS`).
    ratio_threshold : float
        HER2/CEP17 cut-off applied.
    min_her2_signals : int
        Minimum HER2 signals for an evaluable cell.
    n_readings : int
        Cell readings (all readers).
    n_calls_changed : int
        Readings whose amplified/evaluable call differs from the input ``adcell`` (0 when the
        data-preparation notebook used the same settings).
    """

    cells: pd.DataFrame
    patients: pd.DataFrame
    ratio_threshold: float
    min_her2_signals: int
    n_readings: int
    n_calls_changed: int


def _raw_fish(adcell: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject_id": adcell["USUBJID"].astype(str).to_numpy(),
            "cell_id": adcell["CELLID"].astype(str).to_numpy(),
            "reader_id": adcell["READER"].astype(str).to_numpy(),
            "her2_signals": adcell["HER2SIG"].to_numpy(),
            "cep17_signals": adcell["CEP17SIG"].to_numpy(),
        }
    )


def _raw_if(adcell: pd.DataFrame) -> pd.DataFrame | None:
    if "IFSCORE" not in adcell.columns or adcell["IFSCORE"].isna().all():
        return None
    has_if = adcell[adcell["IFSCORE"].notna()].drop_duplicates(["USUBJID", "CELLID"])
    return pd.DataFrame(
        {
            "subject_id": has_if["USUBJID"].astype(str).to_numpy(),
            "cell_id": has_if["CELLID"].astype(str).to_numpy(),
            "if_score": has_if["IFSCORE"].astype(str).to_numpy(),
            "if_intensity": has_if["IFINT"].astype(float).to_numpy(),
        }
    )


def _raw_screening(adctc: pd.DataFrame) -> pd.DataFrame:
    count = adctc["CTCCNT"].astype("Int64")
    return pd.DataFrame(
        {
            "subject_id": adctc["USUBJID"].astype(str).to_numpy(),
            "cellsearch_status": np.where(count.isna(), "failed", "done"),
            "ctc_count": count.to_numpy(),
            "fish_status": adctc["FISHSTAT"].astype(str).to_numpy(),
            "fish_failure_reason": adctc["FISHFRSN"].astype(object).to_numpy(),
        }
    )


def derive_screening_calls(
    adcell: pd.DataFrame,
    adctc: pd.DataFrame,
    ratio_threshold: float = ctc.ISH_THRESHOLD_DEFAULT,
    min_her2_signals: int = ctc.MIN_HER2_SIGNALS_DEFAULT,
    reader: str = "R1",
) -> ScreeningCalls:
    """Re-derive per-CTC and per-patient HER2 FISH calls at a chosen ratio threshold.

    Method: the signal counts of ``adcell`` (HER2SIG, CEP17SIG) and the IF results are turned back
    into the raw ``ctc_fish``/``ctc_if`` layout and passed to
    :func:`helpers.her2_ctc.ctc.derive_cell_calls`
    (RATIO = HER2/CEP17; amplified when RATIO >= ``ratio_threshold``); the patient summary is
    rebuilt with :func:`helpers.her2_ctc.ctc.derive_patient_ctc_summary` from the CellSearch and
    FISH
    status kept in ``adctc``. With the settings of the data-preparation notebook the output equals
    the input, which ``n_calls_changed`` (0) confirms; with another threshold every downstream
    result of the screening notebook follows it from this one place.

    Parameters
    ----------
    adcell, adctc : pandas.DataFrame
        Processed datasets (one row per CTC per reader; one row per screened patient).
    ratio_threshold : float, default 2.2
        HER2/CEP17 ratio at or above which a CTC is called amplified (trial cut-off, Jacot 2019).
    min_her2_signals : int, default 1
        Minimum HER2 signals for a CTC to be scoreable.
    reader : str, default "R1"
        Primary reader summarised per patient.

    Returns
    -------
    ScreeningCalls
        ``cells`` (adcell columns), ``patients`` (adctc columns), the settings, ``n_readings`` and
        ``n_calls_changed``.

    References
    ----------
    Wolff AC et al. J Clin Oncol 2018;36:2105-2122.
    """
    validate_frame(adcell, "adcell", _ADCELL_COLUMNS)
    validate_frame(adctc, "adctc", _ADCTC_COLUMNS)
    cells = ctc.derive_cell_calls(
        _raw_fish(adcell),
        _raw_if(adcell),
        ratio_threshold=ratio_threshold,
        min_her2_signals=min_her2_signals,
    )
    patients = ctc.derive_patient_ctc_summary(_raw_screening(adctc), cells, reader=reader)
    key = ["USUBJID", "CELLID", "READER"]
    before = adcell[[*key, "EVALFL", "AMPFL"]].astype({"USUBJID": str, "CELLID": str})
    merged = cells[[*key, "EVALFL", "AMPFL"]].merge(before, on=key, suffixes=("", "_in"))
    changed = (merged["EVALFL"] != merged["EVALFL_in"]) | (
        merged["AMPFL"].fillna("-") != merged["AMPFL_in"].fillna("-")
    )
    return ScreeningCalls(
        cells=cells,
        patients=patients,
        ratio_threshold=float(ratio_threshold),
        min_her2_signals=int(min_her2_signals),
        n_readings=len(cells),
        n_calls_changed=int(changed.sum()),
    )


def _cutoff_origin(threshold: float) -> str:
    if math.isclose(threshold, ctc.ISH_THRESHOLD_DEFAULT):
        return "the trial's cut-off, Jacot 2019"
    if math.isclose(threshold, ctc.SENSITIVITY_RATIO_THRESHOLD):
        return "ASCO/CAP 2018 group-1 ratio, a sensitivity analysis; the trial used 2.2"
    return f"not the trial's cut-off {ctc.ISH_THRESHOLD_DEFAULT:g}"


def summarise_calls_sentence(calls: ScreeningCalls) -> str:
    """One sentence stating the cut-off applied and whether it matches the processed data."""
    if not isinstance(calls, ScreeningCalls):
        raise TypeError("calls must be the ScreeningCalls returned by derive_screening_calls")
    plural = "" if calls.min_her2_signals == 1 else "s"
    text = (
        f"CTCs are called HER2-amplified at HER2/CEP17 ≥ {calls.ratio_threshold:g} "
        f"({_cutoff_origin(calls.ratio_threshold)}); a CTC with fewer than "
        f"{calls.min_her2_signals} HER2 signal{plural} is not scoreable. "
    )
    if calls.n_calls_changed == 0:
        return text + (
            f"All {calls.n_readings} readings carry the same call as in data/processed "
            "(00_data_preparation used the same settings)."
        )
    return text + (
        f"{calls.n_calls_changed} of {calls.n_readings} readings differ from data/processed "
        "(00_data_preparation used other settings): results here follow this notebook's cut-off; "
        "the treated population reflects the decisions actually taken in the trial."
    )


# --------------------------------------------------------------------------------------------
# screening flow
# --------------------------------------------------------------------------------------------


def _check_flow(flow: pd.DataFrame) -> pd.DataFrame:
    return validate_frame(
        flow, "flow", ("step", "n", "excluded_n", "excluded_reasons", "from_step", "gate")
    )


def derive_consort_steps(flow: pd.DataFrame) -> pd.DataFrame:
    """Gate nodes of the screening flow, ready for :func:`helpers.plots.plot_consort`.

    Method: informative (non-gate) nodes of :func:`helpers.her2_ctc.ctc.derive_screening_flow` (">=
    5 CTC")
    are not on the patient path, so drawing them as a box in the chain would make the next node
    look like a subset of them. They are folded into the label of their parent box instead
    ("(of whom ≥5 CTC: ...)"), which keeps the CONSORT arithmetic (next n = n - excluded) exact.
    ">=" in labels is written "≥".

    Parameters
    ----------
    flow : pandas.DataFrame
        Output of :func:`helpers.her2_ctc.ctc.derive_screening_flow`.

    Returns
    -------
    pandas.DataFrame
        Gate nodes only: step (label, with informative counts appended), n, and excluded_n,
        excluded_reasons of the patients lost *between this node and the next* (the layout of
        :func:`helpers.plots.plot_consort`; the flow itself records them on the next node).
    """
    _check_flow(flow)
    gates = flow[flow["gate"].astype(bool)].reset_index(drop=True)
    labels = gates["step"].astype(str).tolist()
    for _, info in flow[~flow["gate"].astype(bool)].iterrows():
        parent = info["from_step"]
        if parent in labels:
            name = str(info["step"]).replace(" (informative)", "")
            labels[labels.index(parent)] += f" (of whom {name}: {int(info['n'])})"
    # the flow records losses on the node they lead *to*; plot_consort draws them *after* a box
    return pd.DataFrame(
        {
            "step": [label.replace(">=", "≥") for label in labels],
            "n": gates["n"].astype(int).to_numpy(),
            "excluded_n": [*gates["excluded_n"].astype(int).iloc[1:], 0],
            "excluded_reasons": [*gates["excluded_reasons"].iloc[1:], {}],
        }
    )


def summarise_flow(flow: pd.DataFrame) -> pd.DataFrame:
    """Screening flow as a table: one row per node with % of screened and the exclusion reasons.

    Parameters
    ----------
    flow : pandas.DataFrame
        Output of :func:`helpers.her2_ctc.ctc.derive_screening_flow` (first row = screened).

    Returns
    -------
    pandas.DataFrame
        step, n, pct_of_screened (1 decimal), from_step, excluded_n, excluded_reasons (text
        "reason: n; ..."); ">=" in labels is written "≥".
    """
    _check_flow(flow)
    if flow.empty:
        raise ValueError("flow is empty: pass the output of ctc.derive_screening_flow")
    screened = int(flow["n"].iloc[0])
    reasons = [
        "; ".join(f"{k}: {v}" for k, v in r.items()) if isinstance(r, dict) else ""
        for r in flow["excluded_reasons"]
    ]
    pct = 100.0 * flow["n"].to_numpy(dtype=float) / screened if screened else np.nan
    return pd.DataFrame(
        {
            "step": flow["step"].astype(str).str.replace(">=", "≥").to_numpy(),
            "n": flow["n"].astype(int).to_numpy(),
            "pct_of_screened": np.round(pct, 1),
            "from_step": flow["from_step"].str.replace(">=", "≥").to_numpy(),
            "excluded_n": flow["excluded_n"].astype(int).to_numpy(),
            "excluded_reasons": reasons,
        }
    )


# --------------------------------------------------------------------------------------------
# detection and CTC positivity
# --------------------------------------------------------------------------------------------


def _populations(patients: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "all screened patients": pd.Series(True, index=patients.index),
        "patients with a CTC count (CellSearch done)": patients["CTCCNT"].notna(),
        "patients with ≥1 CTC per 7.5 mL": patients["CTCPOS1"].eq("Y"),
        "FISH-evaluable patients (FISH done, ≥1 scoreable CTC)": patients["HER2AMPFL"].notna(),
    }


def summarise_detection_rates(patients: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """Detection rate of HER2-amplified CTCs and CTC positivity, over every denominator.

    Method: proportions with Clopper–Pearson exact CIs
    (:func:`helpers.endpoints.rates.compute_proportion`).
    The numerator "HER2-amplified CTC detected" (HER2AMPFL = Y) is the same in the four detection
    rows; only the denominator changes, from all screened patients (the rate a clinic screening
    HER2-negative patients would see, technical failures counted as not detected) down to
    FISH-evaluable patients (the biological prevalence among informative samples). CTC positivity
    (>= 1 and >= 5 CTC per 7.5 mL, CellSearch) is given among all screened patients and among
    those with a CTC count.

    Parameters
    ----------
    patients : pandas.DataFrame
        ``adctc`` (or :attr:`ScreeningCalls.patients`).
    ci_level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    pandas.DataFrame
        Estimate table with a leading ``population`` column: population, parameter, n, N,
        estimate, ci_lower, ci_upper, ci_level, method, p_value (NaN), note.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. Cristofanilli M et al. N Engl J Med
    2004;351:781-791 (>= 5 CTC per 7.5 mL).
    """
    validate_frame(patients, "patients", (*_ADCTC_COLUMNS, "CTCPOS5"))
    ci_level = validate_ci_level(ci_level)
    pops = _populations(patients)
    amplified = patients["HER2AMPFL"].eq("Y")
    rows = []
    for label, mask in pops.items():
        row = _proportion(
            int((amplified & mask).sum()),
            int(mask.sum()),
            f"≥1 HER2-amplified CTC (detection rate), {label}",
            ci_level,
        )
        rows.append({"population": label, **row})
    for cut, col in ((1, "CTCPOS1"), (5, "CTCPOS5")):
        for label in list(pops)[:2]:
            mask = pops[label]
            row = _proportion(
                int((patients[col].eq("Y") & mask).sum()),
                int(mask.sum()),
                f"≥{cut} CTC per 7.5 mL (CTC positivity), {label}",
                ci_level,
            )
            rows.append({"population": label, **row})
    return _frame(rows, ("population",))


def summarise_detection_by_group(
    patients: pd.DataFrame,
    adsl: pd.DataFrame,
    group_col: str = "HER2IHC",
    population: str = "screened",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Detection rate of HER2-amplified CTCs per level of a patient characteristic.

    Method: within each level of ``group_col`` (from ``adsl``), proportion of patients with
    HER2AMPFL = Y and its Clopper–Pearson exact CI. Patients whose characteristic is missing form
    the level "missing".

    Parameters
    ----------
    patients : pandas.DataFrame
        ``adctc`` (or :attr:`ScreeningCalls.patients`).
    adsl : pandas.DataFrame
        Subject-level dataset with USUBJID and ``group_col``.
    group_col : str, default "HER2IHC"
        Column of ``adsl`` defining the groups (e.g. primary-tumour HER2 IHC).
    population : {"screened", "fish_evaluable"}
        Denominator: all screened patients or FISH-evaluable patients.
    ci_level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    pandas.DataFrame
        Estimate table with a leading ``group`` column (levels in sorted order).
    """
    validate_frame(patients, "patients", _ADCTC_COLUMNS)
    validate_frame(adsl, "adsl", ("USUBJID", group_col))
    ci_level = validate_ci_level(ci_level)
    if population not in ("screened", "fish_evaluable"):
        raise ValueError(f"population must be 'screened' or 'fish_evaluable', got {population!r}")
    data = patients[["USUBJID", "HER2AMPFL"]].merge(
        adsl[["USUBJID", group_col]], on="USUBJID", how="left", validate="one_to_one"
    )
    if population == "fish_evaluable":
        data = data[data["HER2AMPFL"].notna()]
    label = "screened" if population == "screened" else "FISH-evaluable"
    groups = data[group_col].astype(object).where(data[group_col].notna(), "missing").astype(str)
    rows = []
    for level in sorted(groups.unique()):
        sub = data[groups == level]
        rows.append(
            {"group": level}
            | _proportion(
                int(sub["HER2AMPFL"].eq("Y").sum()),
                len(sub),
                f"≥1 HER2-amplified CTC, {label} patients with {group_col} = {level}",
                ci_level,
            )
        )
    return _frame(rows, ("group",))


# --------------------------------------------------------------------------------------------
# per-cell calls: ASCO/CAP groups
# --------------------------------------------------------------------------------------------


def summarise_ish_groups(cells: pd.DataFrame, reader: str = "R1") -> pd.DataFrame:
    """Cells of one reader by ASCO/CAP 2018 ISH group, plus the cells that were not scoreable.

    Method: counts of cells per ISHGRP (groups 1-5, always with the guideline's ratio cut-off 2.0,
    shown for reference) and per reason for non-evaluability (NEVALRSN). ``n_called_amplified``
    counts cells called amplified at the ratio threshold actually applied (AMPFL), so a threshold
    other than 2.0 shows up as amplified cells outside groups 1-2 (or non-amplified inside them).

    Parameters
    ----------
    cells : pandas.DataFrame
        ``adcell`` (or :attr:`ScreeningCalls.cells`) with ISHGRP and NEVALRSN.
    reader : str, default "R1"
        Reader whose readings are tabulated.

    Returns
    -------
    pandas.DataFrame
        One row per group 1-5 then per non-evaluability reason, then a total: category,
        definition, guideline_result, n_cells, pct_of_read (1 decimal), n_called_amplified.

    References
    ----------
    Wolff AC et al. J Clin Oncol 2018;36:2105-2122, Fig. 2.
    """
    validate_frame(cells, "cells", (*_ADCELL_COLUMNS, "ISHGRP", "NEVALRSN"))
    own = cells[cells["READER"] == reader]
    if own.empty:
        raise ValueError(
            f"no cell read by reader {reader!r}; "
            f"readers present: {sorted(cells['READER'].unique())}"
        )
    total = len(own)
    amp = own["AMPFL"].eq("Y")
    rows = []
    for group, (definition, result) in ISH_GROUP_DEFINITIONS.items():
        mask = own["ISHGRP"].eq(group).fillna(False).astype(bool)
        rows.append(
            (f"ISH group {group}", definition, result, int(mask.sum()), int(amp[mask].sum()))
        )
    not_eval = own[own["EVALFL"] != "Y"]
    for reason, sub in not_eval.groupby(not_eval["NEVALRSN"].fillna("not recorded"), sort=True):
        rows.append(("Not scoreable", str(reason), "excluded from denominators", len(sub), 0))
    rows.append((f"All CTCs read by {reader}", "", "", total, int(amp.sum())))
    out = pd.DataFrame(
        rows,
        columns=["category", "definition", "guideline_result", "n_cells", "n_called_amplified"],
    )
    out.insert(4, "pct_of_read", (100.0 * out["n_cells"] / total).round(1))
    return out


# --------------------------------------------------------------------------------------------
# heterogeneity
# --------------------------------------------------------------------------------------------


CELL_COUNT_GROUPS: tuple[str, ...] = ("1 CTC", "2–4 CTCs", "≥5 CTCs")


def _cell_count_group(n_evaluable: pd.Series) -> pd.Series:
    return pd.cut(
        n_evaluable.astype(float), [0, 1, 4, np.inf], labels=list(CELL_COUNT_GROUPS), right=True
    )


def derive_heterogeneity_data(patients: pd.DataFrame) -> pd.DataFrame:
    """Per-patient share of amplified CTCs among patients with >= 1 HER2-amplified CTC.

    Parameters
    ----------
    patients : pandas.DataFrame
        ``adctc`` (or :attr:`ScreeningCalls.patients`) with NAMP, PCTAMP, HETEROFL.

    Returns
    -------
    pandas.DataFrame
        One row per patient with HER2AMPFL = Y: USUBJID, NCELLEVL, NAMP, PCTAMP (% amplified among
        evaluable CTCs), HETEROFL, CELLGRP (number of evaluable CTCs, ordered categorical
        "1 CTC" / "2–4 CTCs" / "≥5 CTCs": 100 % is expected more often when few CTCs were read).
    """
    validate_frame(patients, "patients", (*_ADCTC_COLUMNS, "NAMP", "PCTAMP", "HETEROFL"))
    amp = patients[patients["HER2AMPFL"].eq("Y")]
    out = amp[["USUBJID", "NCELLEVL", "NAMP", "PCTAMP", "HETEROFL"]].reset_index(drop=True)
    out["CELLGRP"] = _cell_count_group(out["NCELLEVL"])
    return out


def summarise_heterogeneity(patients: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """Heterogeneity rate: patients with both HER2-amplified and non-amplified CTCs.

    Method: Clopper–Pearson exact CI. Two denominators, both stated:

    * patients with >= 1 amplified CTC **and >= 2 evaluable CTCs** (heterogeneity observable;
      primary);
    * all patients with >= 1 amplified CTC (a patient with a single evaluable CTC counts as not
      heterogeneous; this is the quantity a clinic observes).

    Parameters
    ----------
    patients : pandas.DataFrame
        ``adctc`` (or :attr:`ScreeningCalls.patients`).
    ci_level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    pandas.DataFrame
        Estimate table with a leading ``population`` column (two rows).
    """
    validate_frame(patients, "patients", (*_ADCTC_COLUMNS, "HETEROFL"))
    ci_level = validate_ci_level(ci_level)
    amp = patients["HER2AMPFL"].eq("Y")
    hetero = patients["HETEROFL"].eq("Y")
    pops = {
        "patients with ≥1 amplified CTC and ≥2 scoreable CTCs": amp & (patients["NCELLEVL"] >= 2),
        "all patients with ≥1 amplified CTC": amp,
    }
    rows = [
        {"population": label}
        | _proportion(
            int((hetero & mask).sum()),
            int(mask.sum()),
            f"Heterogeneity (amplified and non-amplified CTCs), {label}",
            ci_level,
        )
        for label, mask in pops.items()
    ]
    return _frame(rows, ("population",))


# --------------------------------------------------------------------------------------------
# correlations with patient characteristics
# --------------------------------------------------------------------------------------------

_BINARY_CHARACTERISTICS = (
    ("HR status", "HRSTAT", "positive", ("negative",), "positive vs negative"),
    ("Primary tumour HER2 IHC", "HER2IHC", "2+", ("0", "1+"), "2+ vs 0/1+"),
    ("Visceral disease", "VISCFL", "Y", ("N",), "yes vs no"),
)
_CONTINUOUS_CHARACTERISTICS = (
    ("Age", "AGE", "years"),
    ("Prior lines for metastatic disease", "PRIORLN", "lines"),
    ("CTC count", "CTCCNT", "CTC per 7.5 mL"),
)
_EXTRA = ("characteristic", "comparison", "effect_measure")


def _not_estimable(parameter: str, n_total: int, method: str, ci_level: float, why: str) -> dict:
    return {
        "parameter": parameter,
        "n": pd.NA,
        "N": n_total,
        "estimate": math.nan,
        "ci_lower": math.nan,
        "ci_upper": math.nan,
        "ci_level": ci_level,
        "method": method,
        "p_value": math.nan,
        "note": f"{_NOT_ESTIMABLE}: {why}",
    }


#: Smallest group compared (amplified vs not, and each level of a binary characteristic): with
#: one patient a Hodges–Lehmann shift is that patient's value and an odds ratio is 0 or ∞.
MIN_GROUP_SIZE = 2


def _plural(k: int, what: str) -> str:
    return f"{k} patient{'' if k == 1 else 's'} {what}"


def _small_groups(sizes: dict[str, int]) -> str:
    """``"1 patient with ≥1 amplified CTC"`` for each group below :data:`MIN_GROUP_SIZE`."""
    return ", ".join(_plural(k, what) for what, k in sizes.items() if k < MIN_GROUP_SIZE)


def _amp_groups(amp: pd.Series) -> dict[str, int]:
    return {
        "with ≥1 amplified CTC": int(amp.sum()),
        "without an amplified CTC": int((~amp).sum()),
    }


def _binary_row(data: pd.DataFrame, spec: tuple, ci_level: float) -> dict:
    name, col, level, reference, comparison = spec
    values = data[col].astype(object).where(data[col].notna(), None).astype(str)
    known = values.isin([level, *reference])
    exposure = (values == level).astype(object).where(known, None)
    parameter = f"{name} {comparison}: odds ratio of ≥1 HER2-amplified CTC"
    if not known.any():
        return _not_estimable(parameter, 0, stats.METHOD_FISHER, ci_level, f"no {col} value")
    sizes = _amp_groups(data.loc[known, "AMP"]) | {
        f"with {col} = {level}": int(values[known].eq(level).sum()),
        f"with {col} = {'/'.join(reference)}": int(values[known].ne(level).sum()),
    }
    if small := _small_groups(sizes):
        return _not_estimable(parameter, int(known.sum()), stats.METHOD_FISHER, ci_level, small)
    row = stats.compute_fisher_or(
        parameter=parameter, exposure=exposure, outcome=data["AMP"], ci_level=ci_level
    ).iloc[0]
    return row.to_dict()


def _continuous_row(data: pd.DataFrame, spec: tuple, ci_level: float) -> dict:
    name, col, unit = spec
    values = pd.to_numeric(data[col], errors="coerce").astype(float)
    x, y = values[data["AMP"]].dropna(), values[~data["AMP"]].dropna()
    parameter = f"{name} ({unit}): Hodges–Lehmann shift, ≥1 amplified CTC minus none"
    sizes = {
        "with ≥1 amplified CTC and a value": x.size,
        "without an amplified CTC and a value": y.size,
    }
    if small := _small_groups(sizes):
        return _not_estimable(
            parameter, x.size + y.size, stats.METHOD_MANN_WHITNEY, ci_level, small
        )
    return stats.compute_mann_whitney(x, y, parameter, ci_level).iloc[0].to_dict()


def compute_characteristic_associations(
    adsl: pd.DataFrame, patients: pd.DataFrame, ci_level: float = 0.95, fdr_method: str = "fdr_bh"
) -> pd.DataFrame:
    """Association of HER2-amplified-CTC status with patient characteristics.

    Population: FISH-evaluable patients (HER2AMPFL = Y or N). Binary characteristics: conditional
    maximum-likelihood odds ratio with exact CI and Fisher's exact test
    (:func:`helpers.endpoints.stats.compute_fisher_or`): HR status positive vs negative,
    primary-tumour HER2
    IHC 2+ vs 0/1+ (a dichotomy, not a trend test; any other IHC value is left out), visceral
    disease yes vs no. Numeric characteristics: Mann–Whitney U test with the Hodges–Lehmann shift
    (amplified minus not amplified) and its exact CI
    (:func:`helpers.endpoints.stats.compute_mann_whitney`):
    age, prior lines for metastatic disease, CTC count. P-values are adjusted across the six
    characteristics by Benjamini–Hochberg (:func:`helpers.endpoints.stats.compute_fdr`). A larger
    CTC count
    gives more cells to find an amplified one, so that association is partly mechanical. A
    comparison with a group of fewer than :data:`MIN_GROUP_SIZE` (2) patients (amplified or not;
    a level of the binary characteristic) has no numbers and its note names the group, e.g.
    "not estimable: 1 patient with ≥1 amplified CTC".

    Parameters
    ----------
    adsl : pandas.DataFrame
        USUBJID, AGE, HRSTAT, HER2IHC, VISCFL, PRIORLN.
    patients : pandas.DataFrame
        ``adctc`` (or :attr:`ScreeningCalls.patients`).
    ci_level : float, default 0.95
        Two-sided confidence level.
    fdr_method : str, default "fdr_bh"
        Multiplicity adjustment (any ``statsmodels`` ``multipletests`` method).

    Returns
    -------
    pandas.DataFrame
        characteristic, comparison, effect_measure ("odds ratio" or "Hodges–Lehmann shift"), then
        the estimate-table columns parameter, n, N, estimate, ci_lower, ci_upper, ci_level,
        method, p_value, note, and p_adj.

    References
    ----------
    Agresti 2013, ch. 3; Hollander, Wolfe & Chicken 2014, §4.3; Benjamini & Hochberg 1995.
    """
    validate_frame(adsl, "adsl", ("USUBJID", "AGE", "HRSTAT", "HER2IHC", "VISCFL", "PRIORLN"))
    validate_frame(patients, "patients", _ADCTC_COLUMNS)
    ci_level = validate_ci_level(ci_level)
    evaluable = patients[patients["HER2AMPFL"].notna()]
    data = evaluable[["USUBJID", "HER2AMPFL", "CTCCNT"]].merge(
        adsl.drop(columns=["CTCCNT"], errors="ignore"), on="USUBJID", how="left"
    )
    data["AMP"] = data["HER2AMPFL"].eq("Y")
    rows = []
    for spec in _BINARY_CHARACTERISTICS:
        extra = {"characteristic": spec[0], "comparison": spec[4], "effect_measure": "odds ratio"}
        rows.append(extra | _binary_row(data, spec, ci_level))
    for spec in _CONTINUOUS_CHARACTERISTICS:
        extra = {
            "characteristic": spec[0],
            "comparison": "amplified minus not amplified",
            "effect_measure": "Hodges–Lehmann shift",
        }
        rows.append(extra | _continuous_row(data, spec, ci_level))
    out = _frame(rows, _EXTRA)
    out["p_adj"] = stats.compute_fdr(out["p_value"].to_numpy(), method=fdr_method)
    return out


def derive_odds_ratio_rows(associations: pd.DataFrame) -> pd.DataFrame:
    """Odds-ratio rows that a log-scale forest plot can draw, labelled with the adjusted p-value.

    Rows whose estimate or limits are 0, infinite or missing (a zero cell of the 2x2 table) cannot
    be placed on a log axis; they are left out here and remain in the full table.

    Parameters
    ----------
    associations : pandas.DataFrame
        Output of :func:`compute_characteristic_associations`.

    Returns
    -------
    pandas.DataFrame
        The drawable odds-ratio rows with a two-line ``label`` column ("HR status positive vs
        negative" / "(BH-adjusted p = 0.43)").
    """
    validate_frame(associations, "associations", (*_EXTRA, "estimate", "ci_lower", "ci_upper"))
    ors = associations[associations["effect_measure"] == "odds ratio"]
    values = ors[["estimate", "ci_lower", "ci_upper"]].to_numpy(dtype=float)
    drawable = np.isfinite(values).all(axis=1) & (values > 0).all(axis=1)
    out = ors[drawable].copy()
    p_adj = out["p_adj"] if "p_adj" in out.columns else pd.Series(np.nan, index=out.index)
    out["label"] = [
        f"{c} {cmp}" + ("" if pd.isna(p) else f"\n({format_p_value(p, prefix='BH-adjusted p')})")
        for c, cmp, p in zip(out["characteristic"], out["comparison"], p_adj, strict=True)
    ]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# FISH technical failures
# --------------------------------------------------------------------------------------------


def summarise_fish_failures(
    patients: pd.DataFrame, cells: pd.DataFrame, reader: str = "R1", ci_level: float = 0.95
) -> pd.DataFrame:
    """Technical failure rates of CellSearch and CTC FISH, with FISH failure reasons.

    Method: Clopper–Pearson exact CIs. Rows (denominator in the label):

    * CellSearch failure among all screened patients;
    * FISH technical failure among patients with >= 1 CTC (those in whom FISH was attempted),
      overall and by recorded reason (reasons add up to the overall count);
    * FISH done but no scoreable CTC, among patients with FISH done;
    * no informative FISH result (technical failure or no scoreable CTC) among patients with
      >= 1 CTC;
    * CTC not scoreable among CTCs read by ``reader`` (cells clustered within patients: CI
      approximate).

    Parameters
    ----------
    patients : pandas.DataFrame
        ``adctc`` (or :attr:`ScreeningCalls.patients`).
    cells : pandas.DataFrame
        ``adcell`` (or :attr:`ScreeningCalls.cells`).
    reader : str, default "R1"
        Reader for the cell-level row.
    ci_level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    pandas.DataFrame
        Estimate table with a leading ``reason`` column ("all reasons" or the reason code).
    """
    validate_frame(patients, "patients", _ADCTC_COLUMNS)
    validate_frame(cells, "cells", _ADCELL_COLUMNS)
    ci_level = validate_ci_level(ci_level)
    screened = len(patients)
    ctc1 = patients["CTCPOS1"].eq("Y")
    failed = patients["FISHSTAT"].eq("technical_failure")
    done = patients["FISHSTAT"].eq("done")
    no_cell = done & (patients["NCELLEVL"] == 0)
    all_reasons = "all reasons"
    rows = [
        {"reason": all_reasons}
        | _proportion(
            int(patients["CTCCNT"].isna().sum()),
            screened,
            "CellSearch technical failure, all screened patients",
            ci_level,
        ),
        {"reason": all_reasons}
        | _proportion(
            int((failed & ctc1).sum()),
            int(ctc1.sum()),
            "FISH technical failure, patients with ≥1 CTC (FISH attempted)",
            ci_level,
        ),
    ]
    reasons = patients.loc[failed & ctc1, "FISHFRSN"].fillna("not recorded").astype(str)
    for reason, count in sorted(reasons.value_counts().items(), key=lambda kv: (-kv[1], kv[0])):
        rows.append(
            {"reason": reason}
            | _proportion(
                int(count),
                int(ctc1.sum()),
                f"FISH technical failure: {reason.replace('_', ' ')}, patients with ≥1 CTC",
                ci_level,
            )
        )
    own = cells[cells["READER"] == reader]
    rows += [
        {"reason": "no scoreable CTC"}
        | _proportion(
            int(no_cell.sum()),
            int(done.sum()),
            "FISH done but no scoreable CTC, patients with FISH done",
            ci_level,
        ),
        {"reason": all_reasons}
        | _proportion(
            int(((failed | no_cell) & ctc1).sum()),
            int(ctc1.sum()),
            "No informative FISH result (failure or no scoreable CTC), patients with ≥1 CTC",
            ci_level,
        ),
        {"reason": "cell not scoreable"}
        | _proportion(
            int((own["EVALFL"] != "Y").sum()),
            len(own),
            f"CTC not scoreable, CTCs read by {reader}",
            ci_level,
            _CLUSTER_NOTE,
        ),
    ]
    return _frame(rows, ("reason",))


# --------------------------------------------------------------------------------------------
# generated sentences
# --------------------------------------------------------------------------------------------


def _fmt_number(value: float, digits: int) -> str:
    if pd.isna(value):
        return "NE"
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}f}"


def _is_proportion(method: object) -> bool:
    return isinstance(method, str) and method.startswith(METHOD_CP)


def summarise_estimate_sentence(row: pd.Series, percent: bool | None = None) -> str:
    """One sentence reporting an estimate-table row with its CI, method and n/N.

    Parameters
    ----------
    row : pandas.Series
        One row of an estimate table (e.g. ``table.iloc[0]``).
    percent : bool, optional
        Show the estimate as a percentage with n/N; default: yes for Clopper–Pearson proportions.

    Returns
    -------
    str
        E.g. "≥1 HER2-amplified CTC (detection rate), all screened patients: 19/171 = 11.1 %
        (95 % CI 6.8 to 16.8 %; Clopper–Pearson exact)." Other estimates get 2 decimals and N.
    """
    if not isinstance(row, pd.Series):
        raise TypeError("row must be one estimate-table row (a pandas Series), e.g. table.iloc[0]")
    needed = {"parameter", "N", "estimate", "ci_lower", "ci_upper", "ci_level", "method"}
    missing = needed - set(row.index)
    if missing:
        raise ValueError(f"row lacks estimate-table fields {sorted(missing)}")
    percent = _is_proportion(row["method"]) if percent is None else bool(percent)
    scale, unit, digits = (100.0, " %", 1) if percent else (1.0, "", 2)
    size = "" if pd.isna(row["N"]) else f" (N = {int(row['N'])})"
    if pd.isna(row["estimate"]):
        return f"{row['parameter']}: not estimable{size}."
    count = ""
    if percent and "n" in row.index and not pd.isna(row["n"]) and not pd.isna(row["N"]):
        count, size = f"{int(row['n'])}/{int(row['N'])} = ", ""
    low, high = (_fmt_number(row[c] * scale, digits) for c in ("ci_lower", "ci_upper"))
    return (
        f"{row['parameter']}: {count}{_fmt_number(row['estimate'] * scale, digits)}{unit} "
        f"({100 * float(row['ci_level']):g} % CI {low} to {high}{unit}; {row['method']}){size}."
    )


def format_estimate_table(table: pd.DataFrame) -> pd.DataFrame:
    """Display view of an estimate table: one text column "estimate (CI)".

    Clopper–Pearson proportions are shown as percentages with 1 decimal, every other estimate
    (odds ratio, shift, kappa, ICC, AUC, log2 difference) with 2 decimals; "∞" for an unbounded
    exact limit and "NE" when not estimable. Leading label columns (e.g. ``population``) and the
    optional ``p_value``, ``p_adj`` and ``note`` columns are kept.

    Parameters
    ----------
    table : pandas.DataFrame
        Estimate table (``docs/architecture.md``).

    Returns
    -------
    pandas.DataFrame
        Label columns, parameter, n, N, "estimate (CI)", method and those of the optional
        columns that hold at least one value.
    """
    needed = ("parameter", "N", "estimate", "ci_lower", "ci_upper", "method")
    validate_frame(table, "table", needed)
    texts = []
    for _, row in table.iterrows():
        pct = _is_proportion(row["method"])
        scale, unit, digits = (100.0, " %", 1) if pct else (1.0, "", 2)
        est, low, high = (
            _fmt_number(row[c] * scale, digits) for c in ("estimate", "ci_lower", "ci_upper")
        )
        texts.append("NE" if est == "NE" else f"{est}{unit} ({low} to {high})")
    labels = list(table.columns[: list(table.columns).index("parameter")])
    out = table[[*labels, "parameter"]].copy()
    out["n"] = table["n"] if "n" in table.columns else pd.NA
    out["N"] = table["N"]
    out["estimate (CI)"] = texts
    out["method"] = table["method"]
    for col in ("p_value", "p_adj", "note"):
        # columns with nothing to show (proportions have no p-value) only clutter the view
        if col in table.columns and (table[col].notna() & table[col].astype(str).ne("")).any():
            out[col] = table[col]
    return out.reset_index(drop=True)
