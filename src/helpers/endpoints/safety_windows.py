"""Adverse-event observation windows and adverse events of special interest (AESI), any trial.

A registry or protocol may define the toxicity window differently from the usual
treatment-emergent window (first dose to 30 days after the last dose). This module re-flags AEs
for another window, so that every AE table can be produced under both, and counts AESI groups of
preferred terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import rates

__all__ = ["derive_window_to_progression", "summarise_aesi"]


def derive_window_to_progression(
    adae: pd.DataFrame, adsl: pd.DataFrame, progression: pd.Series
) -> pd.DataFrame:
    """Re-flag adverse events for the window "from first intake until disease progression".

    Method: ``TRTEMFL = "Y"`` when the AE starts on or after the first dose (``adsl.TRTSDT``) and
    on or before the date of progression (``progression``, indexed by USUBJID); a patient
    without progression keeps the end of the primary window (the AE's original ``TRTEMFL``
    decides), so the variant differs from the primary analysis only by truncating at
    progression: AEs after progression but within 30 days of the last dose drop out.

    Returns
    -------
    DataFrame
        ``adae`` with ``TRTEMFL`` recomputed and ``TRTEMFL_PRIMARY`` (the original flag).
    """
    validate_frame(adae, "adae", ["USUBJID", "ASTDT", "TRTEMFL"])
    validate_frame(adsl, "adsl", ["USUBJID", "TRTSDT"])
    if not isinstance(progression, pd.Series):
        raise TypeError("progression must be a Series of progression dates indexed by USUBJID")
    out = adae.copy()
    out["TRTEMFL_PRIMARY"] = out["TRTEMFL"]
    start = pd.to_datetime(out["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"]))
    pd_date = pd.to_datetime(out["USUBJID"].map(progression))
    onset = pd.to_datetime(out["ASTDT"])
    after_start = start.notna() & (onset >= start)
    before_pd = pd_date.isna() | (onset <= pd_date)
    keep_primary = pd_date.isna() & out["TRTEMFL"].eq("Y")
    flag = np.where(pd_date.notna(), after_start & before_pd, keep_primary)
    out["TRTEMFL"] = np.where(flag, "Y", "N")
    return out


def summarise_aesi(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    groups: Mapping[str, Sequence[str]],
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Patients with an adverse event of special interest, any grade and grade ≥ 3, per group.

    Method: treatment-emergent AEs (``TRTEMFL = "Y"``) of the safety population (``SAFFL = "Y"``,
    N) whose preferred term (``AEDECOD``, case-insensitive) is in the group; each patient counted
    once per group at the worst grade; Clopper–Pearson exact CIs. A group without any event is
    reported as 0/N (an upper limit of the rate), never dropped.

    Returns
    -------
    DataFrame
        Estimate table with ``group`` and ``terms`` (the preferred terms observed, or "none
        observed").
    """
    validate_ci_level(ci_level)
    validate_frame(adae, "adae", ["USUBJID", "AEDECOD", "AETOXGR", "TRTEMFL"])
    validate_frame(adsl, "adsl", ["USUBJID", "SAFFL"])
    safety = set(adsl.loc[adsl["SAFFL"].eq("Y"), "USUBJID"])
    n_total = len(safety)
    te = adae[adae["TRTEMFL"].eq("Y") & adae["USUBJID"].isin(safety)]
    term = te["AEDECOD"].astype(str).str.lower()
    rows = []
    for group, terms in groups.items():
        wanted = {t.lower() for t in terms}
        hit = te[term.isin(wanted)]
        grade = pd.to_numeric(hit["AETOXGR"], errors="coerce")
        observed = sorted(hit["AEDECOD"].astype(str).unique())
        for label, sub in ((f"{group}, any grade", hit), (f"{group}, grade ≥3", hit[grade >= 3])):
            n = int(sub["USUBJID"].nunique())
            if n_total == 0:
                continue
            row = rates.compute_proportion(n, n_total, f"AESI: {label}", ci_level).iloc[0]
            rows.append(
                row.to_dict()
                | {"group": group, "terms": "; ".join(observed) if observed else "none observed"}
            )
    return pd.DataFrame(rows)
