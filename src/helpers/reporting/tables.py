"""Clinical-study-report tables that know neither trial: Table 1, disposition, listings.

Layouts follow the standard TLG catalogue of clinical reporting (pharmaverse tern/chevron):
DMT01 (demographics and baseline characteristics), DST01 (patient disposition), and the listings
of efficacy, adverse events and deaths. Every builder takes ADaM-like datasets (ADSL, ADRS,
ADTTE, ADAE, ADBM; ``docs/data_dictionary.md``) plus the trial's own population definitions (from
``her2_ctc.populations`` / ``everolimus_nk.populations``), and returns a DataFrame whose cells are
already text by the rule set of :mod:`helpers.reporting.format` (``n (%)``, median (IQR), range),
with ``N`` in the column headers.

References: pharmaverse chevron/tern table catalogue, https://insightsengineering.github.io/tlg-catalog/
(DMT01, DST01, LSTAE, LSTDTH); ICH E3 section 14 (tables, figures and listings of a CSR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.checks import validate_frame
from helpers.reporting.format import (
    NA_TEXT,
    format_count_pct,
    format_date,
    format_number,
)

#: Kinds of a Table 1 variable.
KINDS = ("categorical", "continuous", "multi")


def population_header(label: str, n: int) -> str:
    """Column header with its denominator: "Treated (N = 17)"."""
    return f"{label} (N = {n})"


def _continuous_rows(values: pd.Series, total: int) -> list[tuple[str, str]]:
    x = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if x.empty:
        return [("n", "0"), ("Median (IQR)", NA_TEXT), ("Range", NA_TEXT), ("Missing", str(total))]
    integer = bool((x == x.round()).all())
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    lo, hi = x.min(), x.max()
    rng = 0 if integer else 1
    return [
        ("n", str(len(x))),
        (
            "Median (IQR)",
            f"{format_number(med, 1)} ({format_number(q1, 1)}–{format_number(q3, 1)})",
        ),
        ("Range", f"{format_number(lo, rng)}–{format_number(hi, rng)}"),
        ("Missing", format_count_pct(total - len(x), total)),
    ]


def _level_words(level: str, labels: Mapping[str, str]) -> str:
    """Words of a level: its label, else the code with spaces ("lymph_node" -> "Lymph node")."""
    if level in labels:
        return labels[level]
    text = level.replace("_", " ")
    return text[:1].upper() + text[1:]


def _categorical_rows(
    values: pd.Series, total: int, levels: Sequence[str], labels: Mapping[str, str]
) -> list[tuple[str, str]]:
    text = values.map(lambda v: None if pd.isna(v) else str(v))
    rows = [
        (_level_words(lv, labels), format_count_pct(int(text.eq(lv).sum()), total)) for lv in levels
    ]
    rows.append(("Missing", format_count_pct(int(text.isna().sum()), total)))
    return rows


def _multi_rows(
    values: pd.Series, total: int, levels: Sequence[str], labels: Mapping[str, str], sep: str
) -> list[tuple[str, str]]:
    sets = values.map(lambda v: set() if pd.isna(v) else {s.strip() for s in str(v).split(sep)})
    rows = [
        (
            _level_words(lv, labels),
            format_count_pct(int(sets.map(lambda s, lv=lv: lv in s).sum()), total),
        )
        for lv in levels
    ]
    rows.append(("Missing", format_count_pct(int(values.isna().sum()), total)))
    return rows


def _levels(values: pd.Series, kind: str, sep: str) -> list[str]:
    present = values.dropna()
    if kind == "multi":
        found = {s.strip() for v in present for s in str(v).split(sep) if s.strip()}
    else:
        found = {str(v) for v in present}
    try:
        return sorted(found, key=float)
    except ValueError:
        return sorted(found)


def summarise_baseline(
    data: pd.DataFrame,
    populations: Mapping[str, str],
    variables: Sequence[Mapping[str, object]],
    sep: str = ";",
) -> pd.DataFrame:
    """Table 1, baseline characteristics by analysis population (DMT01 layout).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient: the variables and one boolean column per population.
    populations : mapping
        ``{boolean column: label}`` in column order, e.g. ``{"SCREENED": "Screened"}``.
    variables : sequence of mappings
        Each ``{"column", "label", "kind"}`` with kind ``categorical`` (n (%) per level),
        ``continuous`` (n, median (IQR), range) or ``multi`` (``sep``-separated values, a patient
        counted once under each of her values, e.g. metastatic sites); optional ``levels`` (order,
        default sorted) and ``labels`` (``{level: words}``).
    sep : str
        Separator of ``multi`` values.

    Returns
    -------
    pandas.DataFrame
        ``Characteristic``, ``Statistic`` and one text column per population headed
        "<label> (N = n)". Percentages use the population N as denominator; every variable ends
        with a ``Missing`` row (missing values are counted, never dropped silently).
    """
    cols = [str(v["column"]) for v in variables]
    validate_frame(data, "data", [*populations, *cols])
    for v in variables:
        if v.get("kind") not in KINDS:
            raise ValueError(f"variable {v.get('column')!r}: kind must be one of {KINDS}.")
    out: dict[str, list[str]] = {"Characteristic": [], "Statistic": []}
    first = True
    for flag, label in populations.items():
        members = data[data[flag].fillna(False).astype(bool)]
        header = population_header(label, len(members))
        out[header] = []
        for v in variables:
            column, kind = str(v["column"]), str(v["kind"])
            labels = dict(v.get("labels") or {})  # type: ignore[call-overload]
            levels = list(v.get("levels") or _levels(data[column], kind, sep))  # type: ignore[call-overload]
            if kind == "continuous":
                rows = _continuous_rows(members[column], len(members))
            elif kind == "multi":
                rows = _multi_rows(members[column], len(members), levels, labels, sep)
            else:
                rows = _categorical_rows(members[column], len(members), levels, labels)
            if first:
                out["Characteristic"] += [str(v["label"])] * len(rows)
                out["Statistic"] += [r[0] for r in rows]
            out[header] += [r[1] for r in rows]
        first = False
    return pd.DataFrame(out)


def summarise_disposition(
    adsl: pd.DataFrame,
    enrolled_label: str = "Enrolled",
    treated_flag: str = "TRTFL",
    reason_labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Patient disposition (DST01 layout): enrolled → treated → on treatment / ended with reason.

    Parameters
    ----------
    adsl : pandas.DataFrame
        ``USUBJID``, the treated flag (Y/N), ``EOTSTT`` (end-of-treatment status: ``ongoing`` or
        the reason treatment ended; missing for untreated patients), ``DTHDT``.
    enrolled_label : str
        Words for the first row (all ADSL patients).
    treated_flag : str
        ADSL flag of treated patients.
    reason_labels : mapping, optional
        ``{EOTSTT value: words}``.

    Returns
    -------
    pandas.DataFrame
        ``Phase``, ``Status`` and "Patients (N = enrolled)": n (%) where screening-phase rows use
        the enrolled and treatment-phase rows the treated patients as denominator (stated in the
        row label). Treated patients without an end-of-treatment status are counted as
        "Treatment status not recorded".
    """
    validate_frame(adsl, "adsl", ["USUBJID", treated_flag, "EOTSTT", "DTHDT"])
    labels = dict(reason_labels or {})
    n_all = len(adsl)
    treated = adsl[adsl[treated_flag].eq("Y")]
    n_trt = len(treated)
    status = treated["EOTSTT"].astype("string")
    ongoing = int(status.eq("ongoing").sum())
    ended = status[status.notna() & status.ne("ongoing")]
    rows = [
        ("Screening phase", enrolled_label, format_count_pct(n_all, n_all)),
        ("Screening phase", "Treated (% of enrolled)", format_count_pct(n_trt, n_all)),
        ("Screening phase", "Not treated (% of enrolled)", format_count_pct(n_all - n_trt, n_all)),
        (
            "Treatment phase",
            "On treatment at data cut-off (% of treated)",
            format_count_pct(ongoing, n_trt),
        ),
        ("Treatment phase", "Ended treatment (% of treated)", format_count_pct(len(ended), n_trt)),
    ]
    for reason, n in ended.value_counts().sort_index().items():
        words = _level_words(str(reason), labels)
        rows.append(("Treatment phase", f"    {words}", format_count_pct(int(n), n_trt)))
    missing = int(status.isna().sum())
    if missing:
        rows.append(
            ("Treatment phase", "Treatment status not recorded", format_count_pct(missing, n_trt))
        )
    deaths = int(treated["DTHDT"].notna().sum())
    rows.append(("Treatment phase", "Died (% of treated)", format_count_pct(deaths, n_trt)))
    return pd.DataFrame(rows, columns=["Phase", "Status", population_header("Patients", n_all)])


def summarise_samples_per_visit(
    adbm: pd.DataFrame,
    adsl: pd.DataFrame,
    parameters: Mapping[str, str],
    flag: str = "TRTFL",
    visits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Biomarker samples available per visit, in the disposition layout.

    Parameters
    ----------
    adbm : pandas.DataFrame
        ``USUBJID, PARAMCD, AVISIT, AVAL`` (one row per patient, parameter and visit).
    adsl : pandas.DataFrame
        ``USUBJID`` and ``flag``: the patients counted and the denominator.
    parameters : mapping
        ``{PARAMCD: words}`` of the biomarkers to count.
    flag : str
        ADSL flag of the population (default treated).
    visits : sequence of str, optional
        Visit order (default: by ``AVISITN`` when present, else as found).

    Returns
    -------
    pandas.DataFrame
        ``Biomarker``, ``Visit`` and "Patients (N = population)": patients of the population
        with a non-missing value, n (%).
    """
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    validate_frame(adsl, "adsl", ["USUBJID", flag])
    ids = set(adsl.loc[adsl[flag].eq("Y"), "USUBJID"])
    n_treated = len(ids)
    rows = []
    present = adbm[
        adbm["AVAL"].notna() & adbm["PARAMCD"].isin(list(parameters)) & adbm["USUBJID"].isin(ids)
    ]
    if visits is None:
        order = adbm.sort_values("AVISITN") if "AVISITN" in adbm.columns else adbm
        visits = list(dict.fromkeys(order["AVISIT"].astype(str)))
    for code, words in parameters.items():
        sub = present[present["PARAMCD"].eq(code)]
        for visit in visits:
            n = sub.loc[sub["AVISIT"].astype(str).eq(visit), "USUBJID"].nunique()
            rows.append((words, visit, format_count_pct(n, n_treated)))
    return pd.DataFrame(
        rows, columns=["Biomarker", "Visit", population_header("Patients", n_treated)]
    )


def summarise_analysis_populations(
    members: pd.DataFrame, populations: Mapping[str, str]
) -> pd.DataFrame:
    """Analysis populations, nested in order, with the reasons patients leave each one.

    Parameters
    ----------
    members : pandas.DataFrame
        One row per patient: ``USUBJID``, one boolean column per population and, for each
        population after the first, ``<column>_reason`` (why a member of the previous population
        is not in this one).
    populations : mapping
        ``{boolean column: label}``, outermost first; each population must lie within the previous.

    Returns
    -------
    pandas.DataFrame
        ``Population``, ``Status`` and "Patients (N = first population)": the population size
        (n, % of the first), then, indented, the patients of the previous population left out,
        by reason.
    """
    flags = list(populations)
    validate_frame(members, "members", ["USUBJID", *flags, *(f"{f}_reason" for f in flags[1:])])
    total = int(members[flags[0]].sum())
    rows = []
    previous: str | None = None
    for flag in flags:
        inside = members[flag].fillna(False).astype(bool)
        label = populations[flag]
        rows.append((label, "In population", format_count_pct(int(inside.sum()), total)))
        if previous is not None:
            before = members[previous].fillna(False).astype(bool)
            if (inside & ~before).any():
                raise ValueError(
                    f"population {flag!r} holds patients outside {previous!r}: populations must "
                    "be nested, outermost first."
                )
            left = members.loc[before & ~inside, f"{flag}_reason"].fillna("reason not recorded")
            for reason, n in left.value_counts().items():
                rows.append((label, f"    Not included: {reason}", format_count_pct(int(n), total)))
        previous = flag
    return pd.DataFrame(
        rows, columns=["Population", "Status", population_header("Patients", total)]
    )


def list_population_exits(members: pd.DataFrame, populations: Mapping[str, str]) -> pd.DataFrame:
    """Listing: every patient who leaves a population, the one she leaves and why.

    Returns
    -------
    pandas.DataFrame
        ``Patient``, ``Last population``, ``Not in``, ``Reason`` (one row per patient who is not in
        the innermost population), sorted by patient.
    """
    flags = list(populations)
    validate_frame(members, "members", ["USUBJID", *flags])
    rows = []
    for rec in members.sort_values("USUBJID").to_dict("records"):
        reached = None
        for flag in flags:
            if bool(rec[flag]):
                reached = flag
                continue
            if reached is not None:
                reason = rec.get(f"{flag}_reason")
                rows.append(
                    (
                        rec["USUBJID"],
                        populations[reached],
                        populations[flag],
                        NA_TEXT if pd.isna(reason) else str(reason),
                    )
                )
            break
    return pd.DataFrame(rows, columns=["Patient", "Last population", "Not in", "Reason"])


# ----------------------------------------------------------------------------------------------
# Listings
# ----------------------------------------------------------------------------------------------


def _tte_status(adtte: pd.DataFrame, code: str) -> pd.DataFrame:
    sub = adtte[adtte["PARAMCD"].eq(code)]
    why = sub["CNSDTDSC"].fillna("").astype(str)
    # "Censored at last date known alive" already says so; other reasons get the word in front
    censored = why.where(why.str.lower().str.startswith("censored"), "Censored: " + why)
    status = np.where(sub["CNSR"].eq(0), sub["EVNTDESC"].fillna("event"), censored)
    return pd.DataFrame(
        {
            "USUBJID": sub["USUBJID"],
            f"{code} (months)": [format_number(v, 1) for v in sub["AVAL"]],
            f"{code} status": status,
        }
    )


def list_efficacy(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    adtte: pd.DataFrame,
    flag: str = "TRTFL",
    bor_paramcd: str = "CBOR",
) -> pd.DataFrame:
    """Listing of per-patient efficacy: treatment dates, best overall response, PFS and OS.

    Parameters
    ----------
    adsl, adrs, adtte : pandas.DataFrame
        ADaM-like datasets (``USUBJID, TRTSDT, TRTEDT, EOTSTT`` and the flag; ``PARAMCD, AVALC,
        ADT``; ``PARAMCD, AVAL, CNSR, EVNTDESC, CNSDTDSC``).
    flag : str
        ADSL flag of the listed population.
    bor_paramcd : str
        ADRS parameter of the best overall response (``CBOR`` confirmed, ``BOR`` unconfirmed).

    Returns
    -------
    pandas.DataFrame
        ``Patient, First dose, Last dose, End of treatment, BOR, BOR date, PFS (months), PFS
        status, OS (months), OS status`` (text), one row per patient of the population.
    """
    validate_frame(adsl, "adsl", ["USUBJID", flag, "TRTSDT", "TRTEDT", "EOTSTT"])
    validate_frame(adrs, "adrs", ["USUBJID", "PARAMCD", "AVALC", "ADT"])
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC"])
    pop = adsl[adsl[flag].eq("Y")].sort_values("USUBJID")
    bor = adrs[adrs["PARAMCD"].eq(bor_paramcd)][["USUBJID", "AVALC", "ADT"]]
    out = pop[["USUBJID", "TRTSDT", "TRTEDT", "EOTSTT"]].merge(bor, on="USUBJID", how="left")
    for code in ("PFS", "OS"):
        out = out.merge(_tte_status(adtte, code), on="USUBJID", how="left")
    out = out.rename(
        columns={
            "USUBJID": "Patient",
            "TRTSDT": "First dose",
            "TRTEDT": "Last dose",
            "EOTSTT": "End of treatment",
            "AVALC": bor_paramcd,
            "ADT": f"{bor_paramcd} date",
        }
    )
    for col in ("First dose", "Last dose", f"{bor_paramcd} date"):
        out[col] = out[col].map(format_date)
    return out.fillna(NA_TEXT).astype(str).reset_index(drop=True)


def list_adverse_events(
    adae: pd.DataFrame, adsl: pd.DataFrame, min_grade: int = 3, flag: str = "SAFFL"
) -> pd.DataFrame:
    """Listing of treatment-emergent adverse events of grade ≥ ``min_grade`` or serious.

    Returns
    -------
    pandas.DataFrame
        ``Patient, System organ class, Preferred term, Grade, Serious, Related, Start, End,
        Action taken`` (text), sorted by patient and start date; only patients of ``flag``.
    """
    need = ["USUBJID", "AEDECOD", "AEBODSYS", "AETOXGR", "ASTDT", "AENDT", "AESER", "AEREL"]
    validate_frame(adae, "adae", need)
    validate_frame(adsl, "adsl", ["USUBJID", flag])
    ids = set(adsl.loc[adsl[flag].eq("Y"), "USUBJID"])
    grade = pd.to_numeric(adae["AETOXGR"], errors="coerce")
    keep = adae["USUBJID"].isin(ids) & (grade.ge(min_grade) | adae["AESER"].eq("Y"))
    if "TRTEMFL" in adae.columns:
        keep &= adae["TRTEMFL"].eq("Y")
    sub = adae[keep].sort_values(["USUBJID", "ASTDT"])
    out = pd.DataFrame(
        {
            "Patient": sub["USUBJID"],
            "System organ class": sub["AEBODSYS"],
            "Preferred term": sub["AEDECOD"],
            "Grade": [format_number(g, 0) for g in pd.to_numeric(sub["AETOXGR"], errors="coerce")],
            "Serious": sub["AESER"].map({"Y": "Yes", "N": "No"}),
            "Related": sub["AEREL"].map({"Y": "Yes", "N": "No"}),
            "Start": sub["ASTDT"].map(format_date),
            "End": sub["AENDT"].map(format_date),
            "Action taken": sub["AEACN"] if "AEACN" in sub.columns else NA_TEXT,
        }
    )
    return out.fillna(NA_TEXT).astype(str).reset_index(drop=True)


def list_deaths(adsl: pd.DataFrame, window_days: int = 30, flag: str = "TRTFL") -> pd.DataFrame:
    """Listing of deaths, flagging those within ``window_days`` of the last dose.

    Parameters
    ----------
    adsl : pandas.DataFrame
        ``USUBJID, TRTEDT (last dose), DTHDT, DTHCAUS`` and the flag.
    window_days : int
        Days after the last dose within which a death is flagged (30 by convention).
    flag : str
        ADSL flag of the listed population (deaths of untreated patients have no last dose).

    Returns
    -------
    pandas.DataFrame
        ``Patient, Last dose, Death, Days after last dose, Within <window> days, Cause`` (text).
    """
    validate_frame(adsl, "adsl", ["USUBJID", flag, "TRTEDT", "DTHDT", "DTHCAUS"])
    dead = adsl[adsl[flag].eq("Y") & adsl["DTHDT"].notna()].sort_values("USUBJID")
    days = (pd.to_datetime(dead["DTHDT"]) - pd.to_datetime(dead["TRTEDT"])).dt.days
    within = days.le(window_days) & days.ge(0)
    return pd.DataFrame(
        {
            "Patient": dead["USUBJID"],
            "Last dose": dead["TRTEDT"].map(format_date),
            "Death": dead["DTHDT"].map(format_date),
            "Days after last dose": [format_number(d, 0) for d in days],
            f"Within {window_days} days": np.where(within, "Yes", "No"),
            "Cause": dead["DTHCAUS"].fillna(NA_TEXT).astype(str).str.replace("_", " "),
        }
    ).reset_index(drop=True)
