"""Registry time frames ("... at 12 months") and response-timing endpoints.

A registry outcome "at 12 months" counts only what happened by day 365 from the first dose,
whereas the data cut-off usually lies later. These helpers truncate response assessments and
adverse events at a horizon (the registry row), leaving the full follow-up for a separate row.
Time to response and duration of response live in :mod:`helpers.endpoints.response_duration`.

References
----------
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247 (best overall response, duration of response).
FDA. Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics, 2018.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.checks import validate_frame
from helpers.endpoints import recist

__all__ = [
    "derive_adae_at_horizon",
    "derive_adrs_at_horizon",
]

_BOR_PARAM = {
    False: "Best overall response, unconfirmed (RECIST 1.1)",
    True: "Best overall response, confirmed (RECIST 1.1)",
}


def _horizon(horizon_days: object) -> int:
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, (int, np.integer)):
        raise TypeError(f"horizon_days must be an integer number of days, got {horizon_days!r}")
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be > 0, got {horizon_days}")
    return int(horizon_days)


def derive_adrs_at_horizon(
    adrs: pd.DataFrame,
    adsl: pd.DataFrame,
    horizon_days: int,
    confirmation_days: int = 28,
    sd_min_days: int = 42,
    ne_between_confirmation: str = "allow",
) -> pd.DataFrame:
    """ADRS restricted to assessments up to ``horizon_days``, with BOR/CBOR re-derived.

    Method: time-point responses (``OVR``) with study day ``ADY`` ≤ ``horizon_days`` are kept;
    the unconfirmed (BOR) and confirmed (CBOR) best overall responses are derived again from
    them by :func:`helpers.endpoints.recist.derive_best_overall_response` (RECIST 1.1; a
    response confirmed only after the horizon is not confirmed by it); BESTPCHG = minimum
    PCHGBL up to the first PD within the horizon. Patients with no assessment by the horizon
    get no BOR row and count as non-responders downstream.

    Returns
    -------
    pandas.DataFrame
        ADRS-shaped: the kept ``OVR`` rows plus one ``BOR`` and one ``CBOR`` row per treated
        patient with an assessment (``USUBJID, PARAMCD, PARAM, AVALC, ADT, ADY, BESTPCHG``).
    """
    horizon = _horizon(horizon_days)
    validate_frame(adrs, "adrs", ["USUBJID", "PARAMCD", "AVALC", "ADT", "ADY", "PCHGBL"])
    validate_frame(adsl, "adsl", ["USUBJID", "TRTFL", "TRTSDT"])
    ovr = adrs[adrs["PARAMCD"].eq("OVR") & (adrs["ADY"] <= horizon)].copy()
    treated = adsl[adsl["TRTFL"].eq("Y")]
    start = pd.Series(pd.to_datetime(treated["TRTSDT"]).to_numpy(), index=treated["USUBJID"])
    timepoints = pd.DataFrame(
        {
            "subject_id": ovr["USUBJID"].to_numpy(),
            "visit": ovr["AVISIT"].to_numpy() if "AVISIT" in ovr else None,
            "assessment_date": pd.to_datetime(ovr["ADT"]).to_numpy(),
            "overall_response": ovr["AVALC"].to_numpy(),
        }
    )
    ovr = ovr.sort_values(["USUBJID", "ADT"], kind="mergesort")
    first_pd = ovr[ovr["AVALC"].eq("PD")].groupby("USUBJID")["ADT"].min()
    limit = ovr["USUBJID"].map(first_pd)
    usable = ovr["PCHGBL"].notna() & (limit.isna() | (ovr["ADT"] <= limit))
    best = ovr[usable].groupby("USUBJID")["PCHGBL"].min()
    parts = [ovr]
    for confirmed in (False, True):
        bor = recist.derive_best_overall_response(
            timepoints,
            start,
            subjects=sorted(set(timepoints["subject_id"]) & set(start.index)),
            confirmed=confirmed,
            confirmation_days=confirmation_days,
            sd_min_days=sd_min_days,
            ne_between_confirmation=ne_between_confirmation,
        )
        dates = pd.to_datetime(bor["bor_date"])
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": bor["subject_id"].to_numpy(),
                    "PARAMCD": "CBOR" if confirmed else "BOR",
                    "PARAM": _BOR_PARAM[confirmed],
                    "AVALC": bor["bor"].to_numpy(),
                    "ADT": dates.to_numpy(),
                    "ADY": (dates - bor["subject_id"].map(start)).dt.days.to_numpy(),
                    "BESTPCHG": bor["subject_id"].map(best).to_numpy(dtype=float),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["ADT"] = pd.to_datetime(out["ADT"])
    return out


def derive_adae_at_horizon(
    adae: pd.DataFrame, adsl: pd.DataFrame, horizon_days: int
) -> pd.DataFrame:
    """Adverse events with onset on or before day ``horizon_days`` from the first dose.

    Day 1 = the first dose; AEs without an onset date are kept (they cannot be placed after
    the horizon) and can be listed by the caller.

    Returns
    -------
    pandas.DataFrame
        The rows of ``adae`` inside the horizon, plus ``ASTDY`` (onset study day).
    """
    horizon = _horizon(horizon_days)
    validate_frame(adae, "adae", ["USUBJID", "ASTDT"])
    validate_frame(adsl, "adsl", ["USUBJID", "TRTSDT"])
    start = adae["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"])
    day = (pd.to_datetime(adae["ASTDT"]) - pd.to_datetime(start)).dt.days + 1
    keep = day.isna() | (day <= horizon)
    return adae.loc[keep].assign(ASTDY=day[keep]).reset_index(drop=True)
