"""Exposure-adjusted incidence of adverse events, the dose at a sample, and event identification
by term lists.

- :func:`compute_exposure_adjusted_incidence`: patients with a first event per 100 patient-years
  at risk (time to the first event, or the whole risk window without one), exact Poisson CI
  (Garwood 1936; R ``poisson.test``). Needed when patients are exposed for very different lengths
  of time, where a crude proportion favours short exposure.
- :func:`derive_event_flag`: events identified by system organ class plus a list of preferred terms
  coded elsewhere (e.g. febrile neutropenia under *Blood and lymphatic system disorders*).
- :func:`derive_dose_at_samples`: dose and dose level in force on each sample date.

References
----------
Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;28:437-442.
Zhou Y et al. Exposure-adjusted incidence rates in clinical trials. Ther Innov Regul Sci 2019.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers.checks import validate_ci_level, validate_frame
from helpers.results import TESTED_ESTIMATE_COLUMNS

__all__ = [
    "METHOD_EAIR",
    "compute_exposure_adjusted_incidence",
    "compute_poisson_rate",
    "derive_dose_at_samples",
    "derive_event_flag",
    "derive_risk_windows",
]

METHOD_EAIR = (
    "exposure-adjusted incidence: first events per 100 patient-years at risk, exact Poisson "
    "(Garwood) CI"
)


def compute_poisson_rate(
    events: int, exposure: float, parameter: str, ci_level: float = 0.95, per: float = 1.0
) -> pd.DataFrame:
    """Event rate ``per`` × events / exposure with the exact Poisson (Garwood) CI.

    CI: [χ²(α/2; 2x)/2, χ²(1 − α/2; 2x + 2)/2] / exposure, as R ``poisson.test(x, T)``.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (``n`` events, ``N`` NA, ``note`` the exposure).
    """
    ci_level = validate_ci_level(ci_level)
    if isinstance(events, bool) or not isinstance(events, (int, np.integer)) or events < 0:
        raise ValueError(f"events must be an integer >= 0, got {events!r}")
    if not exposure > 0:
        raise ValueError(f"exposure must be > 0, got {exposure!r}")
    alpha = 1 - ci_level
    lo = sps.chi2.ppf(alpha / 2, 2 * events) / 2 if events > 0 else 0.0
    hi = sps.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    row = {
        "parameter": parameter,
        "n": int(events),
        "N": pd.NA,
        "estimate": per * events / exposure,
        "ci_lower": per * lo / exposure,
        "ci_upper": per * hi / exposure,
        "ci_level": ci_level,
        "method": "exact Poisson (Garwood) CI",
        "p_value": math.nan,
        "note": f"exposure {exposure:.2f}",
    }
    out = pd.DataFrame([row], columns=list(TESTED_ESTIMATE_COLUMNS))
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    return out


def compute_exposure_adjusted_incidence(
    events: pd.DataFrame,
    windows: pd.DataFrame,
    parameter: str,
    ci_level: float = 0.95,
    per_years: float = 100.0,
) -> pd.DataFrame:
    """Exposure-adjusted incidence rate (EAIR) of a first event, per ``per_years`` patient-years.

    Method: each patient is at risk from ``START`` to the earlier of ``END`` and the onset of the
    first event inside the window; EAIR = patients with an event / Σ time at risk (years of
    365.25 days), exact Poisson CI (:func:`compute_poisson_rate`).

    Parameters
    ----------
    events : pandas.DataFrame
        ``USUBJID, ASTDT`` of the events of interest (any number per patient).
    windows : pandas.DataFrame
        One row per patient at risk: ``USUBJID, START, END`` (e.g. first dose, last dose + 30
        days capped at the cut-off).

    Returns
    -------
    pandas.DataFrame
        One estimate-table row; ``N`` patients at risk, ``note`` the patient-years.
    """
    validate_frame(events, "events", ["USUBJID", "ASTDT"])
    validate_frame(windows, "windows", ["USUBJID", "START", "END"])
    if windows["USUBJID"].duplicated().any():
        raise ValueError("windows must have one row per USUBJID")
    w = windows.assign(START=pd.to_datetime(windows["START"]), END=pd.to_datetime(windows["END"]))
    ev = events.assign(ASTDT=pd.to_datetime(events["ASTDT"])).merge(w, on="USUBJID")
    ev = ev[(ev["ASTDT"] >= ev["START"]) & (ev["ASTDT"] <= ev["END"])]
    first = ev.groupby("USUBJID")["ASTDT"].min()
    stop = w["USUBJID"].map(first).fillna(w["END"])
    days = (pd.to_datetime(stop) - w["START"]).dt.days.clip(lower=0) + 1
    years = float(days.sum()) / 365.25
    out = compute_poisson_rate(len(first), years, parameter, ci_level, per=per_years)
    out["N"] = pd.array([len(w)], dtype="Int64")
    out["method"] = METHOD_EAIR
    out["note"] = f"{years:.1f} patient-years at risk"
    return out


def derive_event_flag(
    adae: pd.DataFrame,
    soc: str,
    extra_terms: Sequence[str] = (),
    flag: str = "INFFL",
) -> pd.DataFrame:
    """Flag events of a system organ class plus listed preferred terms coded in other SOCs.

    Matching is case-insensitive on ``AEBODSYS`` (= ``soc``) and ``AEDECOD`` (in ``extra_terms``).

    Returns
    -------
    pandas.DataFrame
        ``adae`` with ``flag`` (Y/N) and ``FLAGSRC`` ("SOC", "term list" or "").
    """
    validate_frame(adae, "adae", ["AEBODSYS", "AEDECOD"])
    by_soc = adae["AEBODSYS"].astype(str).str.casefold().eq(soc.casefold())
    terms = {t.casefold() for t in extra_terms}
    by_term = adae["AEDECOD"].astype(str).str.casefold().isin(terms) & ~by_soc
    out = adae.copy()
    out[flag] = np.where(by_soc | by_term, "Y", "N")
    out["FLAGSRC"] = np.where(by_soc, "SOC", np.where(by_term, "term list", ""))
    return out


def derive_dose_at_samples(
    samples: pd.DataFrame, adex: pd.DataFrame, date_col: str = "ADT"
) -> pd.DataFrame:
    """Dose and dose level in force on each sample date (last cycle start on or before it).

    Returns
    -------
    pandas.DataFrame
        ``samples`` with ``DOSE``, ``DOSELVL`` and ``CYCLE`` (NaN before the first dose).
    """
    validate_frame(samples, "samples", ["USUBJID", date_col])
    validate_frame(adex, "adex", ["USUBJID", "CYCLE", "ASTDT", "DOSE", "DOSELVL"])
    left = samples.assign(_date=pd.to_datetime(samples[date_col]), _row=np.arange(len(samples)))
    right = adex.assign(_date=pd.to_datetime(adex["ASTDT"]))[
        ["USUBJID", "_date", "CYCLE", "DOSE", "DOSELVL"]
    ]
    merged = pd.merge_asof(
        left.sort_values("_date"),
        right.sort_values("_date"),
        on="_date",
        by="USUBJID",
        direction="backward",
    )
    merged = merged.sort_values("_row").drop(columns=["_date", "_row"])
    return merged.reset_index(drop=True)


def derive_risk_windows(adsl: pd.DataFrame, cutoff_date: object, window_days: int) -> pd.DataFrame:
    """Risk window per safety patient: first dose to last dose + ``window_days`` (the TEAE window),
    or to the data cut-off when treatment is ongoing or the window reaches beyond it.

    Returns
    -------
    pandas.DataFrame
        ``USUBJID, START, END``.
    """
    validate_frame(adsl, "adsl", ["USUBJID", "SAFFL", "TRTSDT", "TRTEDT"])
    try:
        cutoff = pd.Timestamp(cutoff_date)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cutoff_date must be an ISO date, got {cutoff_date!r}") from err
    safety = adsl[adsl["SAFFL"].eq("Y")]
    end = pd.to_datetime(safety["TRTEDT"]) + pd.Timedelta(days=int(window_days))
    end = end.fillna(cutoff).clip(upper=cutoff)
    return pd.DataFrame(
        {
            "USUBJID": safety["USUBJID"].to_numpy(),
            "START": pd.to_datetime(safety["TRTSDT"]).to_numpy(),
            "END": end.to_numpy(),
        }
    )
