"""Efficacy glue over the ADaM-like datasets: response tables, swimmer/spider data, event reasons,
response and PFS associations, and the HER2-CTC / T-DM1 specific analyses (Simon two-stage
bookkeeping, FISH-efficacy correlation, CTC and ctDNA dynamics).

The first block (generic) is shared by the T-DM1 (02) and everolimus (03) notebooks; its
signatures are stable. Every function is pure: DataFrames in, DataFrames or frozen dataclasses
out. Estimates use the shared estimate-table columns (``docs/architecture.md``).

Conventions
-----------
* Durations in months use :data:`helpers.survival.DAYS_PER_MONTH` and the ADaM day-1 rule
  ``(date − start).days + 1``, so swimmer markers coincide with ADTTE ``AVAL``.
* Patients of the analysis population without a best-response row keep ``AVALC = "MISSING"``
  and stay in every denominator (RECIST 1.1 §4.3 intention-to-treat convention).

References
----------
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247.
Simon R. Optimal two-stage designs for phase II clinical trials. Control Clin Trials 1989;10:1-10.
Cristofanilli M et al. Circulating tumor cells, disease progression, and survival in metastatic
breast cancer. N Engl J Med 2004;351:781-791 (>= 5 CTC / 7.5 mL threshold).
Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
1983;1:710-719 (landmark analysis).
Hornung RW, Reed LD. Estimation of average concentration in the presence of nondetectable values.
Appl Occup Environ Hyg 1990;5:46-51 (LoD/2 substitution).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers import rates, simon, stats, survival
from helpers.checks import validate_ci_level, validate_frame
from helpers.results import TESTED_ESTIMATE_COLUMNS
from helpers.survival import DAYS_PER_MONTH

__all__ = [
    "FISH_COX_COVARIATES",
    "FISH_VARIABLES",
    "RESPONDER_LABELS",
    "RESPONSE_ORDER",
    "SimonCounts",
    "compute_correlations",
    "compute_ctc_conversion",
    "compute_flag_association",
    "compute_landmark_logrank",
    "compute_pfs_association",
    "compute_response_association",
    "compute_simon_inference",
    "derive_biomarker_landmark",
    "derive_bor_table",
    "derive_change_table",
    "derive_ctc_conversion",
    "derive_ctdna_early_change",
    "derive_fish_efficacy",
    "derive_lod_lines",
    "derive_paired_values",
    "derive_simon_counts",
    "derive_simon_design",
    "derive_simon_stages",
    "derive_spider_data",
    "derive_swimmer_data",
    "derive_teae",
    "derive_trajectory_data",
    "derive_tte",
    "summarise_eot_reasons",
    "summarise_event_reasons",
    "summarise_in_words",
    "summarise_populations",
    "summarise_short_labels",
    "summarise_simon_design",
]

#: Labels of the response groups (RESPONSE column of :func:`derive_bor_table`).
RESPONDER_LABELS = {"Y": "Responder (CR/PR)", "N": "Non-responder"}
#: Display order of the response groups; alphabetical, the order plots use by default, so one
#: group keeps one colour in every figure.
RESPONSE_ORDER = ("Non-responder", "Responder (CR/PR)")

_RESPONSE = ("CR", "PR")
_DISEASE_CONTROL = ("CR", "PR", "SD", "NON_CR_NON_PD")
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


def _months(start: pd.Series, end: pd.Series) -> pd.Series:
    # ADaM day-1 convention, identical to ADTTE AVAL (helpers.survival)
    days = (pd.to_datetime(end) - pd.to_datetime(start)).dt.days + 1
    return days / DAYS_PER_MONTH


def _nan_row(parameter: str, N: int, ci_level: float, method: str, note: str) -> dict:
    return {
        "parameter": parameter,
        "n": pd.NA,
        "N": N,
        "estimate": math.nan,
        "ci_lower": math.nan,
        "ci_upper": math.nan,
        "ci_level": ci_level,
        "method": method,
        "p_value": math.nan,
        "note": note,
    }


# --------------------------------------------------------------------------------------------
# Generic: best response, swimmer, spider, event reasons, end of treatment, TEAE
# --------------------------------------------------------------------------------------------


def _first_response_and_sd(ovr: pd.DataFrame, start: pd.Series) -> pd.DataFrame:
    """Per patient: first CR/PR date and SD duration (days), both up to the first PD."""
    ovr = ovr.sort_values(["USUBJID", "ADT"], kind="mergesort")
    pd_date = ovr[ovr["AVALC"].eq("PD")].groupby("USUBJID")["ADT"].min()
    limit = ovr["USUBJID"].map(pd_date)
    ovr = ovr[limit.isna() | (ovr["ADT"] <= limit)]
    first_resp = ovr[ovr["AVALC"].isin(_RESPONSE)].groupby("USUBJID")["ADT"].min()
    control = ovr[ovr["AVALC"].isin(_DISEASE_CONTROL)]
    # same definition as helpers.recist (sd_duration_days): start to last disease-control scan
    last_control = control.groupby("USUBJID")["ADT"].max()
    origin = pd.to_datetime(pd.Series(last_control.index.map(start), index=last_control.index))
    sd_days = (pd.to_datetime(last_control) - origin).dt.days.astype(float)
    return pd.DataFrame({"RSPDT": pd.to_datetime(first_resp), "SDDUR": sd_days})


def derive_bor_table(
    adrs: pd.DataFrame,
    adsl: pd.DataFrame,
    population_flag: str = "EFFFL",
    paramcd: str = "CBOR",
) -> pd.DataFrame:
    """One row per patient of the analysis population with the best overall response.

    Method: the ``paramcd`` rows of ADRS (``"CBOR"`` confirmed, ``"BOR"`` unconfirmed best
    overall response, RECIST 1.1) are joined onto the patients with ``population_flag = "Y"``;
    patients without such a row are kept as ``"MISSING"`` (they stay in the denominator,
    RECIST 1.1 §4.3). From the time-point (``OVR``) rows up to and including the first PD:
    ``RSPDT`` = date of the first CR or PR (start of the duration of response, RECIST 1.1 §4.4;
    only for patients whose best response is CR/PR) and ``SDDUR`` = days from treatment start
    to the last CR/PR/SD/NON_CR_NON_PD assessment (as ``sd_duration_days`` of
    :func:`helpers.recist.derive_best_overall_response`; used for the clinical benefit rate).

    Parameters
    ----------
    adrs : DataFrame
        ADRS: ``USUBJID, PARAMCD, AVALC, ADT`` and ``BESTPCHG`` on best-response rows.
    adsl : DataFrame
        ADSL: ``USUBJID, TRTSDT`` and the population flag.
    population_flag : str
        ADSL flag defining the population (``"EFFFL"`` efficacy-evaluable, ``"TRTFL"`` treated).
    paramcd : {"CBOR", "BOR"}
        Best-response parameter.

    Returns
    -------
    DataFrame
        In USUBJID order: ``USUBJID, TRTSDT, AVALC`` (CR, PR, SD, NON_CR_NON_PD, PD, NE,
        MISSING), ``BESTPCHG`` (best % change of the target sum, NaN if none), ``BORDT`` (date of
        the assessment giving the BOR), ``RSPDT``, ``SDDUR`` (days), ``RSPFL`` (Y for CR/PR),
        ``DCRFL`` (Y for CR/PR/SD/NON_CR_NON_PD), ``RESPONSE`` (:data:`RESPONDER_LABELS`).

    References
    ----------
    Eisenhauer EA et al. Eur J Cancer 2009;45:228-247.
    """
    pop = _population(adsl, population_flag)
    validate_frame(adrs, "adrs", ["USUBJID", "PARAMCD", "AVALC", "ADT", "BESTPCHG"])
    if paramcd not in ("CBOR", "BOR"):
        raise ValueError(
            f"paramcd must be 'CBOR' (confirmed) or 'BOR' (unconfirmed), got {paramcd!r}"
        )
    bor = adrs[adrs["PARAMCD"].eq(paramcd)]
    if bor["USUBJID"].duplicated().any():
        raise ValueError(f"adrs has several {paramcd} rows for one patient; re-derive adrs")
    out = pop[["USUBJID", "TRTSDT"]].merge(
        bor[["USUBJID", "AVALC", "BESTPCHG", "ADT"]], on="USUBJID", how="left"
    )
    out = out.rename(columns={"ADT": "BORDT"})
    out["AVALC"] = out["AVALC"].fillna("MISSING").astype(str)
    unknown = sorted(set(out["AVALC"]) - set(rates.BOR_CATEGORIES))
    if unknown:
        raise ValueError(f"unknown best-response codes {unknown}; allowed {rates.BOR_CATEGORIES}")
    start = pd.Series(pd.to_datetime(out["TRTSDT"]).to_numpy(), index=out["USUBJID"])
    ovr = adrs[adrs["PARAMCD"].eq("OVR") & adrs["USUBJID"].isin(out["USUBJID"])]
    extra = _first_response_and_sd(ovr.assign(ADT=pd.to_datetime(ovr["ADT"])), start)
    out = out.join(extra, on="USUBJID")
    responder = out["AVALC"].isin(_RESPONSE)
    out["RSPDT"] = out["RSPDT"].where(responder)
    out["RSPFL"] = np.where(responder, "Y", "N")
    out["DCRFL"] = np.where(out["AVALC"].isin(_DISEASE_CONTROL), "Y", "N")
    out["RESPONSE"] = out["RSPFL"].map(RESPONDER_LABELS)
    out["BESTPCHG"] = pd.to_numeric(out["BESTPCHG"]).astype(float)
    columns = ["USUBJID", "TRTSDT", "AVALC", "BESTPCHG", "BORDT", "RSPDT", "SDDUR", "RSPFL"]
    return out[[*columns, "DCRFL", "RESPONSE"]].sort_values("USUBJID").reset_index(drop=True)


def _event_months(adtte: pd.DataFrame, paramcd: str, subjects: pd.Series, desc: str) -> pd.Series:
    rows = adtte[adtte["PARAMCD"].eq(paramcd) & adtte["CNSR"].eq(0)]
    rows = rows[rows["EVNTDESC"].astype(str).str.casefold().str.startswith(desc)]
    return subjects.map(rows.set_index("USUBJID")["AVAL"]).astype(float)


def derive_swimmer_data(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    adtte: pd.DataFrame,
    population_flag: str = "TRTFL",
    *,
    paramcd: str = "CBOR",
    cutoff_date: object = None,
) -> pd.DataFrame:
    """Per-patient bars and events for :func:`helpers.plots.plot_swimmer`.

    Method: the bar runs from treatment start (0) to the last dose (``TRTEDT``), in months with
    the ADaM day-1 rule. Patients without a last dose are on treatment: their bar ends at
    ``cutoff_date`` when given, else at the last date known alive (``LSTALVDT``), and
    ``ongoing`` is True. Markers: response onset = first CR/PR (see :func:`derive_bor_table`),
    progression = PFS event whose ``EVNTDESC`` starts with "Disease progression" (ADTTE AVAL),
    death = ``DTHDT``. Bars are coloured by the best overall response ``paramcd``.

    Parameters
    ----------
    adsl : DataFrame
        ``USUBJID, TRTSDT, TRTEDT, DTHDT, LSTALVDT`` and the population flag (``EOTSTT`` optional).
    adrs, adtte : DataFrame
        ADRS (best response, OVR rows) and ADTTE (``PARAMCD "PFS"``: ``AVAL, CNSR, EVNTDESC``).
    population_flag : str
        ADSL flag of the patients to show (default treated).
    paramcd : {"CBOR", "BOR"}
        Best-response parameter colouring the bars.
    cutoff_date : date-like, optional
        Data cut-off; end of the bar of patients still on treatment.

    Returns
    -------
    DataFrame
        ``subject, start, end, ongoing, bor, response_onset, progression, death`` (months since
        treatment start, NaN = no such event) and ``eot_reason`` (ADSL ``EOTSTT`` or None).
    """
    pop = _population(adsl, population_flag)
    validate_frame(adsl, "adsl", ["TRTEDT", "DTHDT", "LSTALVDT"])
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR", "EVNTDESC"])
    if pop["TRTSDT"].isna().any():
        raise ValueError(
            f"patients with {population_flag} = 'Y' lack TRTSDT; use a treated population (TRTFL)"
        )
    bor = derive_bor_table(adrs, adsl, population_flag, paramcd).set_index("USUBJID")
    pop = pop.sort_values("USUBJID").reset_index(drop=True)
    ongoing = pop["TRTEDT"].isna()
    if cutoff_date is not None:
        cutoff = pd.Timestamp(cutoff_date)
        if pd.isna(cutoff):
            raise ValueError("cutoff_date must be a date such as '2026-06-30' or None")
        open_end = pd.Series(cutoff, index=pop.index)
    else:
        open_end = pd.to_datetime(pop["LSTALVDT"])
    end_date = pd.to_datetime(pop["TRTEDT"]).where(~ongoing, open_end)
    if end_date.isna().any():
        bad = pop.loc[end_date.isna(), "USUBJID"].tolist()
        raise ValueError(f"no end date for {bad[:5]}: give cutoff_date or fill LSTALVDT")
    subjects = pop["USUBJID"]
    start = pd.to_datetime(pop["TRTSDT"])
    out = pd.DataFrame(
        {
            "subject": subjects,
            "start": 0.0,
            "end": _months(start, end_date).clip(lower=0.0),
            "ongoing": ongoing.to_numpy(),
            "bor": subjects.map(bor["AVALC"]),
            "response_onset": _months(start, subjects.map(bor["RSPDT"])),
            "progression": _event_months(adtte, "PFS", subjects, "disease progression"),
            "death": _months(start, pop["DTHDT"]),
            "eot_reason": pop["EOTSTT"] if "EOTSTT" in pop.columns else None,
        }
    )
    return out


def derive_spider_data(adrs: pd.DataFrame, bor_table: pd.DataFrame) -> pd.DataFrame:
    """Time-point rows with target-lesion % change for :func:`helpers.plots.plot_spider`.

    Method: ADRS ``OVR`` rows of the patients in ``bor_table`` with a non-missing ``PCHGBL``,
    with the patient's best overall response merged on as ``BOR`` (constant within patient).

    Parameters
    ----------
    adrs : DataFrame
        ``USUBJID, PARAMCD, AVISIT, ADT, ADY, PCHGBL``.
    bor_table : DataFrame
        Output of :func:`derive_bor_table` (``USUBJID, AVALC``).

    Returns
    -------
    DataFrame
        ``USUBJID, AVISIT, ADT, ADY, PCHGBL, BOR``, sorted by patient and date; empty when no
        patient has a measured change (the caller should then skip the plot).
    """
    validate_frame(adrs, "adrs", ["USUBJID", "PARAMCD", "AVISIT", "ADT", "ADY", "PCHGBL"])
    validate_frame(bor_table, "bor_table", ["USUBJID", "AVALC"])
    ovr = adrs[adrs["PARAMCD"].eq("OVR") & adrs["USUBJID"].isin(bor_table["USUBJID"])]
    ovr = ovr[ovr["PCHGBL"].notna()]
    out = ovr[["USUBJID", "AVISIT", "ADT", "ADY", "PCHGBL"]].copy()
    out["BOR"] = out["USUBJID"].map(bor_table.set_index("USUBJID")["AVALC"])
    out["ADY"] = pd.to_numeric(out["ADY"]).astype(float)
    return out.sort_values(["USUBJID", "ADT"], kind="mergesort").reset_index(drop=True)


def summarise_event_reasons(adtte: pd.DataFrame, paramcd: str = "PFS") -> pd.DataFrame:
    """Events and censorings of one time-to-event parameter, by reason.

    Method: counts of ``EVNTDESC`` among events (``CNSR = 0``) and of ``CNSDTDSC`` among
    censored patients (``CNSR = 1``); a missing description is shown as "not recorded".

    Parameters
    ----------
    adtte : DataFrame
        ``USUBJID, PARAMCD, CNSR, EVNTDESC, CNSDTDSC``.
    paramcd : str
        Parameter, e.g. ``"PFS"`` or ``"OS"``.

    Returns
    -------
    DataFrame
        ``status`` ("Event" / "Censored"), ``reason``, ``n``, ``N`` (patients with the
        parameter), ``percentage``; events first, then by decreasing n. Descriptive counts (no CI).
    """
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "CNSR", "EVNTDESC", "CNSDTDSC"])
    rows = adtte[adtte["PARAMCD"].eq(paramcd)]
    if rows.empty:
        raise ValueError(
            f"adtte has no {paramcd!r} rows; "
            f"parameters present: {sorted(adtte['PARAMCD'].unique())}"
        )
    event = rows["CNSR"].eq(0)
    reason = rows["EVNTDESC"].where(event, rows["CNSDTDSC"]).fillna("not recorded")
    table = pd.DataFrame({"status": np.where(event, "Event", "Censored"), "reason": reason})
    counts = table.value_counts().rename("n").reset_index()
    counts["N"] = len(rows)
    counts["percentage"] = 100 * counts["n"] / len(rows)
    counts["_order"] = counts["status"].map({"Event": 0, "Censored": 1})
    counts = counts.sort_values(["_order", "n", "reason"], ascending=[True, False, True])
    return counts.drop(columns="_order").reset_index(drop=True)


def summarise_eot_reasons(
    adsl: pd.DataFrame, population_flag: str = "SAFFL", ci_level: float = 0.95
) -> pd.DataFrame:
    """Reasons for end of treatment (including "ongoing"), with exact CIs.

    Method: patients of the population by ADSL ``EOTSTT`` (missing = "not recorded");
    proportions with Clopper–Pearson exact CIs (:func:`helpers.rates.compute_proportion`).

    Returns
    -------
    DataFrame
        Estimate table ``parameter, category, n, N, estimate, ci_lower, ci_upper, ci_level,
        method`` in decreasing n.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413.
    """
    ci_level = validate_ci_level(ci_level)
    pop = _population(adsl, population_flag)
    validate_frame(adsl, "adsl", ["EOTSTT"])
    reasons = pop["EOTSTT"].fillna("not recorded").astype(str)
    counts = reasons.value_counts()
    counts = counts.reindex(sorted(counts.index, key=lambda r: (-counts[r], r)))
    N = len(pop)
    parts = []
    for reason, n in counts.items():
        label = f"End of treatment: {reason.replace('_', ' ')}, {population_flag} (N={N})"
        part = rates.compute_proportion(int(n), N, label, ci_level)
        part.insert(1, "category", reason)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def derive_teae(adae: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """Treatment-emergent adverse events of the safety population (input of plot_ae_bars).

    Method: ADAE rows with ``TRTEMFL = "Y"`` of patients with ``SAFFL = "Y"`` (the selection
    :mod:`helpers.safety` counts).

    Returns
    -------
    DataFrame
        The selected ADAE rows, same columns.
    """
    validate_frame(adae, "adae", ["USUBJID", "TRTEMFL"])
    safety = _population(adsl, "SAFFL")
    keep = adae["TRTEMFL"].eq("Y") & adae["USUBJID"].isin(safety["USUBJID"])
    return adae[keep].reset_index(drop=True)


def derive_tte(
    adtte: pd.DataFrame, adsl: pd.DataFrame, paramcd: str, population_flag: str = "TRTFL"
) -> pd.DataFrame:
    """ADTTE rows of one parameter for the patients of one population.

    Method: ``PARAMCD == paramcd`` and ``USUBJID`` with ``population_flag = "Y"``; population
    patients without a row are listed in ``attrs["missing"]`` (they cannot be analysed).

    Returns
    -------
    DataFrame
        The selected ADTTE rows (one per patient).
    """
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    pop = _population(adsl, population_flag)
    rows = adtte[adtte["PARAMCD"].eq(paramcd) & adtte["USUBJID"].isin(pop["USUBJID"])]
    if rows.empty:
        raise ValueError(
            f"adtte has no {paramcd!r} row for {population_flag} patients; parameters present: "
            f"{sorted(adtte['PARAMCD'].unique())}"
        )
    if rows["USUBJID"].duplicated().any():
        raise ValueError(f"adtte has several {paramcd} rows for one patient")
    out = rows.reset_index(drop=True)
    out.attrs["missing"] = sorted(set(pop["USUBJID"]) - set(rows["USUBJID"]))
    return out


def summarise_populations(adsl: pd.DataFrame, flags: Mapping[str, str]) -> pd.DataFrame:
    """Number of patients in each analysis population.

    Parameters
    ----------
    adsl : DataFrame
        ADSL with the population flags (Y/N).
    flags : mapping of str to str
        ``{flag: description}``, e.g. ``{"TRTFL": "Treated (≥1 dose of T-DM1)"}``.

    Returns
    -------
    DataFrame
        ``flag, population, n`` (patients with the flag = "Y").
    """
    validate_frame(adsl, "adsl", ["USUBJID", *flags])
    rows = [(f, label, int(adsl[f].eq("Y").sum())) for f, label in flags.items()]
    return pd.DataFrame(rows, columns=["flag", "population", "n"])


# --------------------------------------------------------------------------------------------
# Generic: biomarker pairs and trajectories
# --------------------------------------------------------------------------------------------


def _bm_rows(adbm: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL", "LODFL"])
    rows = adbm[adbm["PARAMCD"].eq(paramcd)]
    if "STIM" in rows.columns and rows["STIM"].nunique(dropna=True) > 1:
        raise ValueError(f"{paramcd} has several STIM levels; filter adbm to one stimulation first")
    if rows.duplicated(["USUBJID", "AVISIT"]).any():
        raise ValueError(f"adbm has several {paramcd} rows per patient and visit")
    if rows.empty:
        raise ValueError(
            f"adbm has no {paramcd!r} rows; parameters present: {sorted(adbm['PARAMCD'].unique())}"
        )
    return rows


def derive_paired_values(
    adbm: pd.DataFrame,
    paramcd: str,
    baseline_visit: str,
    visit: str,
    subjects: Sequence[str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Wide table of one biomarker at two visits, one row per patient, for paired analyses.

    Method: ADBM rows of ``paramcd`` at ``baseline_visit`` and ``visit`` pivoted per patient;
    patients with only one of the two visits are kept with NaN (the paired helpers drop
    incomplete pairs and report N). ``AVAL`` is used as derived (below-LoD values are LoD/2,
    flagged in ``LODFL``).

    Parameters
    ----------
    adbm : DataFrame
        ``USUBJID, PARAMCD, AVISIT, AVAL, LODFL``.
    paramcd : str
        Biomarker parameter, e.g. ``"CTCCNT"``.
    baseline_visit, visit : str
        The two visits, e.g. ``"C1D1"`` and ``"C2D1"``.
    subjects : sequence of str, optional
        Restrict to these patients (e.g. the treated population); all rows are kept otherwise.

    Returns
    -------
    DataFrame
        ``USUBJID, BASE_VAL, POST_VAL, BASE_LOD, POST_LOD`` (LOD: Y/N, None when missing),
        ``COMPLETE`` (bool).
    """
    rows = _bm_rows(adbm, paramcd)
    if subjects is not None:
        rows = rows[rows["USUBJID"].isin(list(subjects))]
    found = set(rows["AVISIT"])
    for v in (baseline_visit, visit):
        if v not in found:
            raise ValueError(f"visit {v!r} has no {paramcd} value; visits present: {sorted(found)}")
    base = rows[rows["AVISIT"].eq(baseline_visit)].set_index("USUBJID")
    post = rows[rows["AVISIT"].eq(visit)].set_index("USUBJID")
    ids = sorted(set(base.index) | set(post.index))
    out = pd.DataFrame({"USUBJID": ids})
    out["BASE_VAL"] = out["USUBJID"].map(base["AVAL"]).astype(float)
    out["POST_VAL"] = out["USUBJID"].map(post["AVAL"]).astype(float)
    out["BASE_LOD"] = out["USUBJID"].map(base["LODFL"])
    out["POST_LOD"] = out["USUBJID"].map(post["LODFL"])
    out["COMPLETE"] = out["BASE_VAL"].notna() & out["POST_VAL"].notna()
    return out


def derive_trajectory_data(
    adbm: pd.DataFrame,
    paramcd: str,
    bor_table: pd.DataFrame | None = None,
    offset: float = 0.0,
) -> pd.DataFrame:
    """Rows of one biomarker ready for :func:`helpers.plots.plot_paired_trajectories`.

    Method: ADBM rows of ``paramcd`` with ``PLOTVAL = AVAL + offset`` (e.g. ``offset = 1`` to
    draw counts with zeros on a log axis as log(x + 1)); with ``bor_table`` the patients are
    restricted to it and its ``RESPONSE`` group is merged on (patients of the population without
    a response row get "Non-responder" through :func:`derive_bor_table`).

    Returns
    -------
    DataFrame
        The ADBM rows plus ``PLOTVAL`` and, with ``bor_table``, ``RESPONSE``.
    """
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or offset < 0:
        raise ValueError(f"offset must be a number >= 0 (e.g. 1 for log(x + 1)), got {offset!r}")
    rows = _bm_rows(adbm, paramcd).copy()
    if bor_table is not None:
        validate_frame(bor_table, "bor_table", ["USUBJID", "RESPONSE"])
        rows = rows[rows["USUBJID"].isin(bor_table["USUBJID"])]
        rows["RESPONSE"] = rows["USUBJID"].map(bor_table.set_index("USUBJID")["RESPONSE"])
    rows["PLOTVAL"] = rows["AVAL"].astype(float) + float(offset)
    sort = [c for c in ("USUBJID", "AVISITN") if c in rows.columns]
    return rows.sort_values(sort, kind="mergesort").reset_index(drop=True)


def derive_lod_lines(adbm: pd.DataFrame, paramcd: str, unit: str = "") -> dict[float, str]:
    """Limits of detection of one biomarker, as ``{value: label}`` reference lines for plots.

    Method: the derivation stores below-LoD results as ``AVAL = LoD/2`` with ``LODFL = "Y"``,
    so each distinct LoD is ``2 × AVAL`` of those rows (rounded to 6 decimals).

    Returns
    -------
    dict of float to str
        ``{LoD: "LoD <value><unit>"}``; empty when no value is below the LoD.
    """
    rows = _bm_rows(adbm, paramcd)
    lods = sorted({round(2.0 * float(v), 6) for v in rows.loc[rows["LODFL"].eq("Y"), "AVAL"]})
    return {lod: f"LoD {lod:g}{unit}" for lod in lods}


# --------------------------------------------------------------------------------------------
# Generic: associations with response and PFS
# --------------------------------------------------------------------------------------------


def compute_response_association(
    data: pd.DataFrame,
    variables: Mapping[str, str],
    response_col: str = "RSPFL",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Each variable compared between responders and non-responders (Mann–Whitney, HL shift).

    Method: :func:`helpers.stats.compute_mann_whitney` with x = responders (``response_col ==
    "Y"``), y = non-responders: two-sided Mann–Whitney U p-value and Hodges–Lehmann shift
    (responders − non-responders) with its distribution-free exact CI (Hollander, Wolfe &
    Chicken 2014, §4.3). Patients with a missing value are dropped per variable. When a group
    is empty the row is NaN with a note, rather than an error, so that a tiny trial still gets
    its table; with fewer than 3 patients in a group the note warns that the CI is unbounded or
    uninformative.

    Parameters
    ----------
    data : DataFrame
        One row per patient, ``response_col`` (Y/N) and the variables.
    variables : mapping of str to str
        ``{column: label}``, e.g. ``{"MEANRAT": "Mean HER2/CEP17 ratio"}``.
    response_col : str
        Column holding Y (responder) / N.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Estimate table, one row per variable: ``variable, parameter, n (responders), N, estimate,
        ci_lower, ci_upper, ci_level, method, p_value, note``.
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(data, "data", [response_col, *variables])
    if not data[response_col].isin(["Y", "N"]).all():
        raise ValueError(f"{response_col} must be 'Y' or 'N' on every row")
    rows = []
    for col, label in variables.items():
        values = pd.to_numeric(data[col], errors="coerce")
        resp = values[data[response_col].eq("Y")].dropna()
        non = values[data[response_col].eq("N")].dropna()
        parameter = f"{label}: responders − non-responders (HL shift)"
        if resp.empty or non.empty:
            note = (
                f"not estimable: {resp.size} responder(s), {non.size} non-responder(s) with a value"
            )
            rows.append(
                _nan_row(
                    parameter, int(resp.size + non.size), ci_level, stats.METHOD_MANN_WHITNEY, note
                )
            )
            continue
        row = stats.compute_mann_whitney(resp, non, parameter, ci_level).iloc[0].to_dict()
        if min(resp.size, non.size) < 3:
            row["note"] = "; ".join(
                s for s in ("fewer than 3 patients in a group", row["note"]) if s
            )
        rows.append(row)
    out = pd.DataFrame(rows, columns=_ESTIMATE_COLUMNS)
    out.insert(0, "variable", list(variables))
    return out


def compute_pfs_association(
    adtte: pd.DataFrame,
    data: pd.DataFrame,
    covariates: Mapping[str, str],
    paramcd: str = "PFS",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Univariable Cox hazard ratio of a time-to-event parameter per unit of each covariate.

    Method: for each covariate separately, :func:`helpers.survival.compute_cox` (Efron ties,
    Wald CI and p, Grambsch–Therneau PH test) on the patients with the parameter and a
    non-missing covariate. A fit that is impossible (no event, constant covariate, monotone
    likelihood) gives a NaN row whose note says why, instead of an error. With few events the
    HR is imprecise; the note says "fewer than 10 events per covariate".

    Parameters
    ----------
    adtte : DataFrame
        ``USUBJID, PARAMCD, AVAL, CNSR``.
    data : DataFrame
        One row per ``USUBJID`` with the covariates (numeric, in the unit the HR refers to).
    covariates : mapping of str to str
        ``{column: label}``, the label should carry the unit, e.g. "per 1-unit HER2/CEP17 ratio".
    paramcd : str
        Time-to-event parameter.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Estimate table, one row per covariate: ``variable, parameter, n (events), N, estimate
        (HR), ci_lower, ci_upper, ci_level, method, p_value, ph_test_p, note``.

    References
    ----------
    Cox DR. J R Stat Soc B 1972;34:187-220.
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    validate_frame(data, "data", ["USUBJID", *covariates])
    if data["USUBJID"].duplicated().any():
        raise ValueError("data must have one row per USUBJID")
    tte = adtte[adtte["PARAMCD"].eq(paramcd)][["USUBJID", "AVAL", "CNSR"]]
    merged = tte.merge(data[["USUBJID", *covariates]], on="USUBJID", how="inner")
    method = "Cox proportional hazards (Efron ties), Wald CI and p"
    rows = []
    for col, label in covariates.items():
        sub = merged[["AVAL", "CNSR", col]].dropna()
        sub = sub.assign(**{col: pd.to_numeric(sub[col]).astype(float)})
        parameter = f"{paramcd} HR {label}"
        try:
            row = survival.compute_cox(sub, [col], ci_level=ci_level).iloc[0].to_dict()
        except ValueError as err:
            rows.append(
                {
                    **_nan_row(parameter, len(sub), ci_level, method, f"not estimable: {err}"),
                    "ph_test_p": math.nan,
                }
            )
            continue
        row["parameter"] = parameter
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*_ESTIMATE_COLUMNS, "ph_test_p"])
    out.insert(0, "variable", list(covariates))
    return out


# --------------------------------------------------------------------------------------------
# Generic: words
# --------------------------------------------------------------------------------------------


def summarise_in_words(table: pd.DataFrame, percent: bool = True, digits: int = 1) -> str:
    """One sentence per estimate row: "<parameter>: 17.6 % (95% CI 3.8 to 43.4; n/N = 3/17)".

    For interpretation paragraphs generated from the data (notebooks never hard-code numbers).

    Parameters
    ----------
    table : DataFrame
        Estimate table (``parameter, n, N, estimate, ci_lower, ci_upper, ci_level``).
    percent : bool
        Show proportions as percentages.
    digits : int
        Decimals.

    Returns
    -------
    str
        Sentences joined by spaces; "not estimable" for NaN estimates.
    """
    validate_frame(
        table, "table", ["parameter", "N", "estimate", "ci_lower", "ci_upper", "ci_level"]
    )
    scale, unit = (100.0, " %") if percent else (1.0, "")

    def fmt(v: float) -> str:
        if pd.isna(v):
            return "NE"
        if np.isinf(v):
            return "∞" if v > 0 else "−∞"
        return f"{v * scale:.{digits}f}"

    sentences = []
    for row in table.itertuples(index=False):
        if pd.isna(row.estimate):
            sentences.append(f"{row.parameter}: not estimable (N = {row.N}).")
            continue
        level = f"{100 * row.ci_level:.0f}% CI"
        counts = (
            f"n/N = {row.n}/{row.N}" if "n" in table.columns and pd.notna(row.n) else f"N = {row.N}"
        )
        sentences.append(
            f"{row.parameter}: {fmt(row.estimate)}{unit} ({level} {fmt(row.ci_lower)} to "
            f"{fmt(row.ci_upper)}; {counts})."
        )
    return " ".join(sentences)


def summarise_short_labels(
    table: pd.DataFrame, symbol: str, digits: int = 2, key: str = "variable"
) -> dict[str, str]:
    """Short legend labels "ρ = 0.25 (95% CI −0.30 to 0.70)" per row, keyed by ``key``.

    Returns
    -------
    dict of str to str
        ``{row[key]: label}``; "not estimable" for NaN estimates.
    """
    validate_frame(table, "table", [key, "estimate", "ci_lower", "ci_upper", "ci_level"])

    def fmt(v: float) -> str:
        return "NE" if pd.isna(v) else f"{v:.{digits}f}".replace("-", "−")

    labels = {}
    for row in table.itertuples(index=False):
        name = getattr(row, key)
        if pd.isna(row.estimate):
            labels[name] = f"{symbol} not estimable"
            continue
        level = f"{100 * row.ci_level:.0f}% CI"
        labels[name] = (
            f"{symbol} = {fmt(row.estimate)} ({level} {fmt(row.ci_lower)} to {fmt(row.ci_upper)})"
        )
    return labels


# --------------------------------------------------------------------------------------------
# Generic: change tables, flag association, correlations
# --------------------------------------------------------------------------------------------


def derive_change_table(
    paired: pd.DataFrame, bor_table: pd.DataFrame | None = None, offset: float = 0.0
) -> pd.DataFrame:
    """Per-patient change between two visits, with the response group when given.

    Method: from :func:`derive_paired_values`, ``CHG = POST_VAL − BASE_VAL`` and the log2 fold
    change ``LOG2FC = log2((POST_VAL + offset) / (BASE_VAL + offset))`` (``offset = 1`` for
    counts with zeros, i.e. log2 of (x + 1); ``offset = 0`` needs positive values, NaN
    otherwise). With ``bor_table`` only its patients are kept and ``RSPFL``/``RESPONSE`` are
    merged on.

    Returns
    -------
    DataFrame
        The ``paired`` columns plus ``CHG, LOG2FC`` (and ``RSPFL, RESPONSE``).
    """
    validate_frame(paired, "paired", ["USUBJID", "BASE_VAL", "POST_VAL"])
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or offset < 0:
        raise ValueError(f"offset must be a number >= 0 (e.g. 1 for counts), got {offset!r}")
    out = paired.copy()
    out["CHG"] = out["POST_VAL"] - out["BASE_VAL"]
    base, post = out["BASE_VAL"] + offset, out["POST_VAL"] + offset
    valid = (base > 0) & (post > 0)
    out["LOG2FC"] = np.log2(post.where(valid) / base.where(valid))
    if bor_table is not None:
        validate_frame(bor_table, "bor_table", ["USUBJID", "RSPFL", "RESPONSE"])
        out = out[out["USUBJID"].isin(bor_table["USUBJID"])]
        out = out.merge(bor_table[["USUBJID", "RSPFL", "RESPONSE"]], on="USUBJID", how="left")
    return out.reset_index(drop=True)


def compute_flag_association(
    data: pd.DataFrame,
    exposure_col: str,
    outcome_col: str,
    parameter: str,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Odds ratio between two Y/N flags (e.g. early CTC conversion and response), Fisher exact.

    Method: patients with both flags non-missing; :func:`helpers.stats.compute_fisher_or`
    (conditional MLE odds ratio, exact Cornfield CI, Fisher exact two-sided p; Agresti 2013,
    ch. 3). A zero cell gives an estimate of 0 or ∞ with a CI reaching 0 or ∞, the honest
    answer with a handful of patients.

    Returns
    -------
    DataFrame
        One estimate-table row (``n`` = exposed with outcome, ``N`` = patients analysed, ``note``
        = the 2×2 table).
    """
    validate_frame(data, "data", [exposure_col, outcome_col])
    sub = data[[exposure_col, outcome_col]].dropna()
    for col in (exposure_col, outcome_col):
        if not sub[col].isin(["Y", "N"]).all():
            raise ValueError(f"{col} must hold 'Y'/'N' (missing values are dropped)")
    if sub.empty:
        raise ValueError(f"no patient with both {exposure_col} and {outcome_col}")
    return stats.compute_fisher_or(
        parameter=parameter,
        exposure=sub[exposure_col].eq("Y").to_numpy(),
        outcome=sub[outcome_col].eq("Y").to_numpy(),
        ci_level=ci_level,
    )


def compute_correlations(
    data: pd.DataFrame,
    x_cols: Mapping[str, str],
    y_col: str,
    y_label: str,
    n_boot: int = 2000,
    seed: int = 20261121,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Spearman correlation of each ``x_cols`` variable with ``y_col``, bootstrap CI.

    Method: :func:`helpers.stats.compute_spearman_bootstrap` (rho and p from scipy
    ``spearmanr``; percentile CI from ``n_boot`` paired resamples with ``seed``); fewer than 3
    complete pairs give a NaN row with a note.

    Returns
    -------
    DataFrame
        Estimate table, one row per x variable, preceded by ``variable``.
    """
    validate_frame(data, "data", [y_col, *x_cols])
    rows = []
    for col, label in x_cols.items():
        parameter = f"Spearman ρ, {label} vs {y_label}"
        pairs = data[[col, y_col]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(pairs) < 3:
            note = f"not estimable: {len(pairs)} complete pair(s)"
            rows.append(_nan_row(parameter, len(pairs), ci_level, "Spearman", note))
            continue
        res = stats.compute_spearman_bootstrap(
            pairs[col], pairs[y_col], parameter, n_boot=n_boot, seed=seed, ci_level=ci_level
        )
        rows.append(res.iloc[0].to_dict())
    out = pd.DataFrame(rows, columns=_ESTIMATE_COLUMNS)
    out.insert(0, "variable", list(x_cols))
    return out


# --------------------------------------------------------------------------------------------
# HER2-CTC / T-DM1: Simon two-stage bookkeeping
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimonCounts:
    """Observed counts of a Simon two-stage trial (cumulative totals include stage 1).

    ``responses_total``/``n_total`` are None when no stage-2 patient has been treated.
    """

    responses_stage1: int
    n_stage1: int
    responses_total: int | None
    n_total: int | None


def derive_simon_design(
    p0: float,
    p1: float,
    alpha: float,
    power: float,
    criterion: str = "optimal",
    r1: int | None = None,
    n1: int | None = None,
    r: int | None = None,
    n: int | None = None,
) -> simon.SimonDesign:
    """The Simon design of the analysis: searched from (p0, p1, alpha, power) or as written.

    Method: with all of ``r1, n1, r, n`` given (boundaries copied from a protocol), the design
    is :meth:`helpers.simon.SimonDesign.from_boundaries` with its exact characteristics at p0
    and p1; with none given, :func:`helpers.simon.compute_simon_design` (exact search, Simon
    1989) for ``criterion``. For p0 = 0.05, p1 = 0.25, one-sided alpha = 0.05, power = 0.80
    the optimal design is r1/n1 = 0/9, r/n = 2/17 (Simon 1989, Table 1).

    Returns
    -------
    helpers.simon.SimonDesign

    Raises
    ------
    ValueError
        Only some of the four boundaries given.
    """
    given = [v is not None for v in (r1, n1, r, n)]
    if all(given):
        return simon.SimonDesign.from_boundaries(
            r1, n1, r, n, p0, p1, alpha=alpha, power=power, criterion="protocol (user-specified)"
        )
    if any(given):
        raise ValueError(
            "give all four protocol boundaries r1, n1, r, n (stop if <= r1 of n1; reject H0 if "
            "> r of n) or none of them to search the design from p0, p1, alpha and power"
        )
    return simon.compute_simon_design(p0, p1, alpha=alpha, power=power, criterion=criterion)


def summarise_simon_design(design: simon.SimonDesign) -> pd.DataFrame:
    """The design's parameters and exact characteristics as a two-column table for display.

    Returns
    -------
    DataFrame
        ``item, value`` rows: criterion, p0, p1, nominal and attained alpha and power, r1/n1,
        r/n, probability of early termination and expected sample size under p0.
    """
    if not isinstance(design, simon.SimonDesign):
        raise TypeError("design must be a helpers.simon.SimonDesign (see derive_simon_design)")
    items = [
        ("Criterion", design.criterion),
        ("p0 (uninteresting response rate)", f"{design.p0:g}"),
        ("p1 (target response rate)", f"{design.p1:g}"),
        ("Nominal one-sided alpha / attained", f"{design.alpha} / {design.alpha_attained:.4f}"),
        ("Nominal power / attained", f"{design.power} / {design.power_attained:.4f}"),
        ("Stage 1: stop for futility if responses <= r1 of n1", f"{design.r1}/{design.n1}"),
        ("Final: reject H0 if responses > r of n", f"{design.r}/{design.n}"),
        ("Probability of early termination under p0", f"{design.pet_p0:.4f}"),
        ("Expected sample size under p0", f"{design.en_p0:.2f}"),
    ]
    return pd.DataFrame(items, columns=["item", "value"])


def derive_simon_stages(
    adsl: pd.DataFrame, n1: int, population_flag: str = "EFFFL"
) -> pd.DataFrame:
    """Assign the evaluable patients to Simon stage 1 or 2 in order of treatment start.

    Method: the first ``n1`` patients of the population by treatment start date (``TRTSDT``;
    ties broken by ``USUBJID``, which is in accrual order within a site) form stage 1, the
    others stage 2: the order of accrual decides, not the outcome.

    Returns
    -------
    DataFrame
        ``USUBJID, TRTSDT, ORDER`` (1 = first treated), ``STAGE`` (1 or 2), in ``ORDER``.
    """
    if isinstance(n1, bool) or not isinstance(n1, numbers.Integral) or n1 < 1:
        raise ValueError(f"n1 must be a positive integer (stage-1 sample size), got {n1!r}")
    pop = _population(adsl, population_flag)
    if pop["TRTSDT"].isna().any():
        raise ValueError(f"patients with {population_flag} = 'Y' must have a TRTSDT")
    out = pop[["USUBJID", "TRTSDT"]].sort_values(["TRTSDT", "USUBJID"], kind="mergesort")
    out = out.reset_index(drop=True)
    out["ORDER"] = np.arange(1, len(out) + 1)
    out["STAGE"] = np.where(out["ORDER"] <= n1, 1, 2)
    return out


def derive_simon_counts(bor_table: pd.DataFrame, stages: pd.DataFrame) -> SimonCounts:
    """Responses and evaluable patients per stage (stage 1 and cumulative).

    Method: responders (``RSPFL = "Y"``, confirmed CR/PR when ``bor_table`` was built from CBOR)
    counted among the stage-1 patients and among all staged patients; every staged patient
    counts in N (MISSING/NE are non-responders).

    Returns
    -------
    SimonCounts
    """
    validate_frame(bor_table, "bor_table", ["USUBJID", "RSPFL"])
    validate_frame(stages, "stages", ["USUBJID", "STAGE"])
    absent = sorted(set(stages["USUBJID"]) - set(bor_table["USUBJID"]))
    if absent:
        raise ValueError(f"staged patients without a best-response row: {absent[:5]}")
    resp = stages["USUBJID"].map(bor_table.set_index("USUBJID")["RSPFL"]).eq("Y")
    stage1 = stages["STAGE"].eq(1)
    x1, m1 = int(resp[stage1].sum()), int(stage1.sum())
    if m1 == len(stages):
        return SimonCounts(x1, m1, None, None)
    return SimonCounts(x1, m1, int(resp.sum()), len(stages))


def compute_simon_inference(
    design: simon.SimonDesign,
    counts: SimonCounts,
    ci_level: float = 0.95,
    label: str = "ORR (confirmed)",
) -> pd.DataFrame:
    """Naive and design-adjusted response-rate estimates whatever the course of the trial.

    Method: :func:`helpers.simon.compute_two_stage_inference` (observed proportion with
    Clopper–Pearson CI and exact binomial p; UMVUE; median-unbiased estimate with the
    stage-wise exact CI and p, Koyama & Chen 2008) when the observed outcome lies in the
    design's sample space. Two deviations are handled explicitly, with a ``note``:

    * futility stop at stage 1 but more patients treated: the design-adjusted rows use the
      stage-1 data only (as the design prescribes) and a descriptive row gives the pooled
      proportion of all treated patients (Clopper–Pearson);
    * stage 1 passed but no stage-2 patient yet: only the stage-1 proportion (Clopper–Pearson,
      exact binomial p vs p0) is given, as an interim description.

    Returns
    -------
    DataFrame
        Estimate table ``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method,
        p_value, note``.

    References
    ----------
    Koyama T, Chen H. Stat Med 2008;27:3145-3154. Jung SH, Kim KM. Stat Med 2004;23:881-896.
    """
    if not isinstance(counts, SimonCounts):
        raise TypeError("counts must be a SimonCounts (see derive_simon_counts)")
    ci_level = validate_ci_level(ci_level)
    x1, m1 = counts.responses_stage1, counts.n_stage1
    x, m = counts.responses_total, counts.n_total
    stopped = x1 <= design.r1
    if stopped:
        table = simon.compute_two_stage_inference(design, x1, m1, ci_level=ci_level, label=label)
        table["note"] = "trial stopped for futility at stage 1"
        if m is not None and m > m1:
            pooled = rates.compute_proportion(
                x, m, f"{label}: all treated incl. after the futility stop (descriptive)", ci_level
            )
            pooled["p_value"] = math.nan
            pooled["note"] = f"{m - m1} patient(s) treated after the stage-1 futility stop"
            table = pd.concat([table, pooled], ignore_index=True)
        return table[_ESTIMATE_COLUMNS]
    if m is None:
        table = rates.compute_proportion(x1, m1, f"{label}: stage 1 only (interim)", ci_level)
        table["p_value"] = float(sps.binom.sf(x1 - 1, m1, design.p0))
        table["note"] = "stage 1 passed; no stage-2 patient yet: design-adjusted inference n/a"
        return table[_ESTIMATE_COLUMNS]
    table = simon.compute_two_stage_inference(design, x1, m1, x, m, ci_level=ci_level, label=label)
    table["note"] = "" if m == design.n else f"attained N = {m} vs planned n = {design.n}"
    return table[_ESTIMATE_COLUMNS]


# --------------------------------------------------------------------------------------------
# HER2-CTC / T-DM1: FISH results and efficacy
# --------------------------------------------------------------------------------------------

#: FISH variables of adctc analysed against efficacy, with display labels.
FISH_VARIABLES = {
    "MEANRAT": "Mean HER2/CEP17 ratio (level of amplification)",
    "NAMP": "Amplified CTCs (n)",
    "PCTAMP": "Amplified CTCs (% of evaluable)",
}
#: Covariates of the Cox models, in the unit their hazard ratio refers to.
FISH_COX_COVARIATES = {
    "MEANRAT": "per 1-unit higher mean HER2/CEP17 ratio",
    "LOG2NAMP": "per doubling of the number of amplified CTCs",
    "PCTAMP10": "per 10-point higher % amplified CTCs",
}


def derive_fish_efficacy(
    bor_table: pd.DataFrame, adctc: pd.DataFrame, adtte: pd.DataFrame, paramcd: str = "PFS"
) -> pd.DataFrame:
    """Per patient: best response, PFS and the screening HER2 FISH results of the CTCs.

    Method: the patients of ``bor_table`` joined to their ADCTC row (reader R1 summary) and
    their ``paramcd`` ADTTE row. Cox covariates are put on clinically readable scales:
    ``LOG2NAMP = log2(NAMP)`` (per doubling; NaN when NAMP = 0) and ``PCTAMP10 = PCTAMP / 10``.

    Returns
    -------
    DataFrame
        ``USUBJID, AVALC, BESTPCHG, RSPFL, RESPONSE, MEANRAT, NAMP, PCTAMP, NCELLEVL, LOG2NAMP,
        PCTAMP10, AVAL, CNSR`` (AVAL/CNSR NaN when the patient has no ``paramcd`` row).
    """
    validate_frame(bor_table, "bor_table", ["USUBJID", "AVALC", "BESTPCHG", "RSPFL", "RESPONSE"])
    validate_frame(adctc, "adctc", ["USUBJID", "MEANRAT", "NAMP", "PCTAMP", "NCELLEVL"])
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    if adctc["USUBJID"].duplicated().any():
        raise ValueError("adctc must have one row per USUBJID")
    out = bor_table[["USUBJID", "AVALC", "BESTPCHG", "RSPFL", "RESPONSE"]].merge(
        adctc[["USUBJID", "MEANRAT", "NAMP", "PCTAMP", "NCELLEVL"]], on="USUBJID", how="left"
    )
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


def derive_biomarker_landmark(
    adtte: pd.DataFrame,
    groups: pd.DataFrame,
    landmark_months: float,
    group_col: str = "CTDNAGRP",
    flag_col: str = "EARLYDEC",
    paramcd: str = "PFS",
) -> survival.LandmarkResult:
    """Landmark dataset for a biomarker change known at ``landmark_months``.

    Method: :func:`helpers.survival.derive_landmark` (Anderson, Cain & Gelber 1983) on the
    ``paramcd`` rows of patients whose biomarker group is evaluable (``flag_col`` Y/N); patients
    with a non-evaluable change are added to ``excluded`` with that reason, so every patient is
    accounted for.

    Returns
    -------
    helpers.survival.LandmarkResult
        ``data`` with ``group_col`` and ``flag_col`` merged on; ``excluded`` with reasons.
    """
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    validate_frame(groups, "groups", ["USUBJID", group_col, flag_col])
    tte = adtte[adtte["PARAMCD"].eq(paramcd)]
    tte = tte[tte["USUBJID"].isin(groups["USUBJID"])]
    evaluable = groups[groups[flag_col].isin(["Y", "N"])]
    res = survival.derive_landmark(
        tte[tte["USUBJID"].isin(evaluable["USUBJID"])],
        landmark_months,
        covariate=evaluable[["USUBJID", group_col, flag_col]],
    )
    not_eval = tte[~tte["USUBJID"].isin(evaluable["USUBJID"])][["USUBJID", "AVAL", "CNSR"]]
    reasons = not_eval["USUBJID"].map(groups.set_index("USUBJID")[group_col])
    extra = not_eval.assign(reason=reasons.to_numpy())
    excluded = pd.concat([res.excluded, extra], ignore_index=True)
    return survival.LandmarkResult(res.data, excluded, res.landmark_months)


def compute_landmark_logrank(landmark: survival.LandmarkResult, group_col: str) -> pd.DataFrame:
    """Log-rank test between the biomarker groups of a landmark dataset, or a NaN row.

    Method: :func:`helpers.survival.compute_logrank` on ``landmark.data``; when fewer than two
    groups remain at the landmark (a small trial often has one group empty), a row with NaN
    p-value and a note is returned instead of an error, so the table keeps its place.

    Returns
    -------
    DataFrame
        One row: ``parameter, n (events), N, estimate (NaN), ci_lower, ci_upper, ci_level,
        method, p_value, note``.
    """
    if not isinstance(landmark, survival.LandmarkResult):
        raise TypeError("landmark must be a LandmarkResult (see derive_biomarker_landmark)")
    data = landmark.data
    validate_frame(data, "landmark.data", [group_col, "AVAL", "CNSR"])
    levels = data[group_col].dropna().unique()
    if len(levels) >= 2:
        return survival.compute_logrank(data, group_col)
    method = "Log-rank test, chi-square with 1 df"
    note = f"not testable: {len(levels)} group(s) at the landmark ({list(levels)})"
    row = _nan_row(f"Log-rank test by {group_col}", len(data), math.nan, method, note)
    row["n"] = int((data["CNSR"] == 0).sum())
    return pd.DataFrame([row], columns=_ESTIMATE_COLUMNS)
