"""Clinical response glue: best-overall-response tables per population, swimmer and spider data,
event and end-of-treatment reasons, TEAE and time-to-event selections, population counts."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import rates
from helpers.endpoints.efficacy._common import _population
from helpers.endpoints.survival import DAYS_PER_MONTH

#: Labels of the response groups (RESPONSE column of :func:`derive_bor_table`).
RESPONDER_LABELS = {"Y": "Responder (CR/PR)", "N": "Non-responder"}
#: Display order of the response groups; alphabetical, the order plots use by default, so one
#: group keeps one colour in every figure.
RESPONSE_ORDER = ("Non-responder", "Responder (CR/PR)")

_RESPONSE = ("CR", "PR")
_DISEASE_CONTROL = ("CR", "PR", "SD", "NON_CR_NON_PD")


def _months(start: pd.Series, end: pd.Series) -> pd.Series:
    # ADaM day-1 convention, identical to ADTTE AVAL (helpers.endpoints.survival)
    days = (pd.to_datetime(end) - pd.to_datetime(start)).dt.days + 1
    return days / DAYS_PER_MONTH


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
    # same definition as helpers.endpoints.recist (sd_duration_days): start to last disease-control
    # scan
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
    :func:`helpers.endpoints.recist.derive_best_overall_response`; used for the clinical benefit
    rate).

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
    proportions with Clopper–Pearson exact CIs (:func:`helpers.endpoints.rates.compute_proportion`).

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
    :mod:`helpers.endpoints.safety` counts).

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
        Sentences joined by spaces; "not estimable" for NaN estimates, or the row's note when
        it says why the input is absent ("not available: table granzyme_b not supplied").
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
            note = str(getattr(row, "note", "") or "")
            why = note if note.startswith("not available") else f"not estimable (N = {row.N})"
            sentences.append(f"{row.parameter}: {why}.")
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
