"""Duration of response and time to response (RECIST 1.1), for any single-arm or randomised trial.

Duration of response (DoR) runs from the date the CR/PR criteria are first met to progression or
death, with the censoring of the PFS analysis; time to response (TTR) from treatment start to that
date, among responders (RECIST 1.1 §4.4; FDA 2018 endpoints guidance).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import survival
from helpers.results import TESTED_ESTIMATE_COLUMNS

__all__ = [
    "derive_duration_of_response",
    "derive_response_duration",
    "summarise_response_timing",
    "summarise_time_to_response",
]

_DAYS_PER_MONTH = 30.4375
_RESPONSES = ("CR", "PR")


def derive_duration_of_response(
    timepoints: pd.DataFrame,
    best_response: pd.DataFrame,
    pfs: pd.DataFrame,
    start_dates: pd.Series,
) -> pd.DataFrame:
    """Per responder: first response date, duration of response and time to response.

    Method: responders are the patients whose (confirmed) best overall response in
    ``best_response.AVALC`` is CR or PR. The response start is the first time-point response CR or
    PR (``timepoints``, RECIST 1.1 §4.4: "from the time measurement criteria are first met for
    CR/PR, whichever is first recorded"). DoR ends at the PFS event or censoring date of the same
    patient (``pfs.ADT``, ``pfs.CNSR``): progression or death is the event, and the PFS censoring
    rules apply unchanged (FDA 2018). Months = (end − start + 1) / 30.4375, as for PFS.

    Parameters
    ----------
    timepoints : DataFrame
        Time-point responses ``USUBJID, ADT, AVALC`` (e.g. ADRS ``PARAMCD = "OVR"``).
    best_response : DataFrame
        One row per analysed patient, ``USUBJID, AVALC`` (confirmed best overall response).
    pfs : DataFrame
        PFS rows ``USUBJID, ADT, CNSR`` (one per patient).
    start_dates : Series
        Treatment start date indexed by ``USUBJID``.

    Returns
    -------
    DataFrame
        One row per responder: ``USUBJID, BOR, TRTSDT, RSPDT (first CR/PR), PFSDT, CNSR, TTRDY,
        TTR (months), AVAL (DoR, months), EVNTDESC``. Empty (same columns) without responders.

    References
    ----------
    Eisenhauer EA et al. Eur J Cancer 2009;45:228–247 (RECIST 1.1 §4.4). FDA. Clinical Trial
    Endpoints for the Approval of Cancer Drugs and Biologics (2018).
    """
    validate_frame(timepoints, "timepoints", ["USUBJID", "ADT", "AVALC"])
    validate_frame(best_response, "best_response", ["USUBJID", "AVALC"])
    validate_frame(pfs, "pfs", ["USUBJID", "ADT", "CNSR"])
    if not isinstance(start_dates, pd.Series):
        raise TypeError("start_dates must be a Series of treatment start dates indexed by USUBJID")
    if pfs["USUBJID"].duplicated().any():
        raise ValueError("pfs must have one row per USUBJID (select PARAMCD == 'PFS' first)")
    columns = [
        "USUBJID", "BOR", "TRTSDT", "RSPDT", "PFSDT", "CNSR", "TTRDY", "TTR", "AVAL", "EVNTDESC",
    ]  # fmt: skip
    responders = best_response.loc[best_response["AVALC"].isin(_RESPONSES), ["USUBJID", "AVALC"]]
    if responders.empty:
        return pd.DataFrame(columns=columns)
    tp = timepoints[timepoints["AVALC"].isin(_RESPONSES)].copy()
    tp["ADT"] = pd.to_datetime(tp["ADT"])
    first = tp.groupby("USUBJID")["ADT"].min()
    missing = sorted(set(responders["USUBJID"]) - set(first.index))
    if missing:
        raise ValueError(
            f"responders without any CR/PR time-point response: {missing}; the best response and "
            "the time-point responses disagree"
        )
    info = pfs.set_index("USUBJID")
    no_pfs = sorted(set(responders["USUBJID"]) - set(info.index))
    if no_pfs:
        raise ValueError(f"responders without a PFS row: {no_pfs}")
    out = pd.DataFrame({"USUBJID": responders["USUBJID"].to_numpy()})
    out["BOR"] = responders["AVALC"].to_numpy()
    out["TRTSDT"] = pd.to_datetime(out["USUBJID"].map(start_dates))
    out["RSPDT"] = out["USUBJID"].map(first)
    out["PFSDT"] = pd.to_datetime(out["USUBJID"].map(info["ADT"]))
    out["CNSR"] = out["USUBJID"].map(info["CNSR"]).astype(int)
    early = out["PFSDT"] < out["RSPDT"]
    if early.any():
        raise ValueError(
            f"PFS ends before the first response for {out.loc[early, 'USUBJID'].tolist()}; "
            "check the progression and assessment dates"
        )
    out["TTRDY"] = (out["RSPDT"] - out["TRTSDT"]).dt.days + 1
    out["TTR"] = out["TTRDY"] / _DAYS_PER_MONTH
    out["AVAL"] = ((out["PFSDT"] - out["RSPDT"]).dt.days + 1) / _DAYS_PER_MONTH
    out["EVNTDESC"] = np.where(out["CNSR"].eq(0), "progression or death", "censored")
    return out[columns].sort_values("RSPDT", kind="stable").reset_index(drop=True)


def summarise_time_to_response(
    dor: pd.DataFrame, label: str, ci_level: float = 0.95
) -> pd.DataFrame:
    """Median and range of the time to response among responders (estimate-table row).

    Method: sample median of ``TTR`` (months) with its distribution-free CI from binomial order
    statistics (Conover 1999, §3.2; exact coverage ≥ ``ci_level``); with fewer than 2 responders
    the CI is not estimable. The range is in ``note``.

    Returns
    -------
    DataFrame
        One row: ``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method, note``.
    """
    from scipy import stats

    validate_ci_level(ci_level)
    validate_frame(dor, "dor", ["TTR"])
    ttr = np.sort(pd.to_numeric(dor["TTR"]).dropna().to_numpy(dtype=float))
    n = len(ttr)
    row = {
        "parameter": f"Time to response, {label}: median (months)",
        "n": n,
        "N": n,
        "estimate": float(np.median(ttr)) if n else np.nan,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": ci_level,
        "method": "sample median; distribution-free CI from order statistics",
        "note": "not estimable: no responder" if n == 0 else f"range {ttr[0]:.2f}–{ttr[-1]:.2f}",
    }
    if n >= 2:
        a = (1.0 - ci_level) / 2.0
        lo = int(stats.binom.ppf(a, n, 0.5))  # order statistic indices (1-based: lo, n - lo + 1)
        if lo >= 1:
            row["ci_lower"], row["ci_upper"] = float(ttr[lo - 1]), float(ttr[n - lo])
        else:
            row["note"] += "; CI not estimable: too few responders for a distribution-free CI"
    return pd.DataFrame([row])


def derive_response_duration(bor_table: pd.DataFrame, adtte: pd.DataFrame) -> pd.DataFrame:
    """Duration of response (DoR) per responder: first CR/PR to progression or death.

    Method: for patients with ``RSPFL = Y``, DoR runs from ``RSPDT`` (first CR or PR) to the
    PFS event or censoring date (same censoring rules as PFS; RECIST 1.1 §4.4, FDA 2018). Same
    day convention as :func:`derive_duration_of_response` (days + 1, / 30.4375), for inputs that
    already carry the first response date (a best-response table) instead of time points.

    Returns
    -------
    pandas.DataFrame
        ``USUBJID, AVAL`` (months), ``CNSR``, ``TTR`` (months from first dose to response).
    """
    validate_frame(bor_table, "bor_table", ["USUBJID", "TRTSDT", "RSPDT", "RSPFL"])
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "ADT", "CNSR"])
    resp = bor_table[bor_table["RSPFL"].eq("Y")]
    pfs = adtte[adtte["PARAMCD"].eq("PFS")].set_index("USUBJID")
    end = resp["USUBJID"].map(pfs["ADT"])
    rsp = pd.to_datetime(resp["RSPDT"])
    out = pd.DataFrame(
        {
            "USUBJID": resp["USUBJID"].to_numpy(),
            "AVAL": (((pd.to_datetime(end) - rsp).dt.days + 1) / _DAYS_PER_MONTH).to_numpy(),
            "CNSR": resp["USUBJID"].map(pfs["CNSR"]).to_numpy(),
            "TTR": (
                ((rsp - pd.to_datetime(resp["TRTSDT"])).dt.days + 1) / _DAYS_PER_MONTH
            ).to_numpy(),
        }
    )
    return out.dropna(subset=["AVAL", "CNSR"]).reset_index(drop=True)


def summarise_response_timing(
    durations: pd.DataFrame, population_label: str, ci_level: float = 0.95
) -> pd.DataFrame:
    """Time to response (median, range) and duration of response (Kaplan–Meier median, CI).

    Method: TTR = median months from first dose to first CR/PR among responders, with the
    distribution-free CI of :func:`summarise_time_to_response` (range in the note). DoR =
    Kaplan–Meier median with Brookmeyer–Crowley CI
    (:func:`helpers.endpoints.survival.summarise_km`). No responder: "not estimable" rows.

    Returns
    -------
    pandas.DataFrame
        Estimate table, two rows (TTR, DoR).
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(durations, "durations", ["AVAL", "CNSR", "TTR"])
    n = len(durations)
    ttr = summarise_time_to_response(durations, f"responders, {population_label}", ci_level)
    ttr = {c: ttr.iloc[0].get(c, math.nan) for c in TESTED_ESTIMATE_COLUMNS}
    label = f"Duration of response (months), responders, {population_label}"
    if n >= 1 and int((durations["CNSR"] == 0).sum()) >= 1:
        km = survival.summarise_km(durations, label, landmarks=(), ci_level=ci_level)
        dor = km[km["statistic"].eq("median")].iloc[0].to_dict()
        dor = {c: dor.get(c, math.nan) for c in TESTED_ESTIMATE_COLUMNS}
        dor["note"] = dor.get("note") if isinstance(dor.get("note"), str) else ""
    else:
        dor = {
            **ttr,
            "parameter": label,
            "estimate": math.nan,
            "ci_lower": math.nan,
            "ci_upper": math.nan,
            "method": "Kaplan–Meier median",
        }
        dor["note"] = "not estimable: no responder with an event"
    out = pd.DataFrame([ttr, dor], columns=list(TESTED_ESTIMATE_COLUMNS))
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    return out
