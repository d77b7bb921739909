"""Duration of response and time to response (RECIST 1.1), for any single-arm or randomised trial.

Duration of response (DoR) runs from the date the CR/PR criteria are first met to progression or
death, with the censoring of the PFS analysis; time to response (TTR) from treatment start to that
date, among responders (RECIST 1.1 §4.4; FDA 2018 endpoints guidance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame

__all__ = ["derive_duration_of_response", "summarise_time_to_response"]

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
