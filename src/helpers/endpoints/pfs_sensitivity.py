"""PFS robustness: sensitivity rule sets around the FDA 2018 primary rules, and a QC reconciliation
of the recorded progression date with the first RECIST progression (any trial).

The variants change one rule at a time, so each row of the comparison says what that rule does:

* ``PFSANY`` — :data:`helpers.endpoints.survival.PFS_RULES_SIMPLE`: any progression (radiological or
  clinical) or death is an event whatever the gap since the last assessment; new anticancer
  therapy ignored.
* ``PFSCLIN`` — the primary rules, but clinical (symptomatic) progression also counts as an event
  (FDA 2018 table: "documented progression" may include clinical progression as a sensitivity).
* ``PFSNOMV`` — the primary rules without the missed-assessment (interval-censoring) rule: an
  event after two or more missed assessments is counted at its date.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from helpers.checks import validate_frame
from helpers.endpoints import survival

__all__ = [
    "PFS_RULES_FDA_CLINICAL",
    "PFS_RULES_FDA_NO_MISSED",
    "PFS_SENSITIVITY_PARAMCDS",
    "compute_progression_reconciliation",
    "derive_pfs_sensitivity",
    "summarise_pfs_sensitivity",
    "without_new_therapy_rule",
]

PFS_RULES_FDA_CLINICAL = dataclasses.replace(
    survival.PFS_RULES_FDA,
    name="PFS_RULES_FDA_CLINICAL",
    description=(
        "Sensitivity analysis: FDA 2018 rules, with clinical (symptomatic) progression also "
        "counted as an event."
    ),
    progression_types=None,
    reference="FDA Guidance (2018), PFS censoring table: sensitivity analyses",
)

PFS_RULES_FDA_NO_MISSED = dataclasses.replace(
    survival.PFS_RULES_FDA,
    name="PFS_RULES_FDA_NO_MISSED",
    description=(
        "Sensitivity analysis: FDA 2018 rules without censoring events that follow >=2 missed "
        "assessments (the event is counted at its date)."
    ),
    assessment_interval_days=None,
    max_missed_assessments=None,
    reference="FDA Guidance (2018), PFS censoring table: sensitivity analyses",
)

#: PARAMCD of each sensitivity derivation -> (rules, PARAM label).
PFS_SENSITIVITY_PARAMCDS: dict[str, tuple[survival.CensoringRules, str]] = {
    "PFSANY": (survival.PFS_RULES_SIMPLE, "PFS, sensitivity: any progression, no censoring rules"),
    "PFSCLIN": (PFS_RULES_FDA_CLINICAL, "PFS, sensitivity: clinical progression is an event"),
    "PFSNOMV": (PFS_RULES_FDA_NO_MISSED, "PFS, sensitivity: no missed-assessment censoring"),
}


def without_new_therapy_rule(rules: survival.CensoringRules) -> survival.CensoringRules:
    """The same rules without "censor at new anticancer therapy", for data that lack its date.

    A trial whose data record no start date of new anticancer therapy cannot apply the FDA rule;
    the returned rules say so in their description and name (suffix ``_NO_NACT``, written to
    ``ADTTE.RULE``) instead of claiming it.
    """
    if not isinstance(rules, survival.CensoringRules):
        raise TypeError("rules must be a CensoringRules")
    text = rules.description.replace(", or if new anticancer therapy starts first", "")
    return dataclasses.replace(
        rules,
        name=f"{rules.name}_NO_NACT",
        censor_at_new_anticancer_therapy=False,
        description=text + " New anticancer therapy: not applied (no start date in the data).",
    )


def derive_pfs_sensitivity(
    subjects: pd.DataFrame,
    assessments: pd.DataFrame,
    cutoff_date: object,
    primary: survival.CensoringRules = survival.PFS_RULES_FDA,
) -> pd.DataFrame:
    """PFS under each sensitivity rule set (ADTTE rows, one PARAMCD per rule set).

    Method: :func:`helpers.endpoints.survival.derive_pfs` with each rule set of
    :data:`PFS_SENSITIVITY_PARAMCDS`; the assessment interval and visit window of ``primary``
    (e.g. 42 days for a 6-weekly schedule) are carried into the variants that keep the
    missed-assessment rule, and a primary without the new-anticancer-therapy rule (no date
    recorded) removes it from the variants too.

    Returns
    -------
    DataFrame
        ADTTE columns of :func:`helpers.endpoints.survival.derive_pfs`, ``PARAMCD`` in
        ``PFSANY, PFSCLIN, PFSNOMV`` and ``RULE`` naming the rule set.
    """
    if not isinstance(primary, survival.CensoringRules):
        raise TypeError("primary must be a CensoringRules (e.g. survival.PFS_RULES_FDA)")
    parts = []
    for paramcd, (rules, label) in PFS_SENSITIVITY_PARAMCDS.items():
        if rules.censor_at_new_anticancer_therapy and not primary.censor_at_new_anticancer_therapy:
            rules = without_new_therapy_rule(rules)
        if rules.missed_assessment_rule:
            rules = dataclasses.replace(
                rules,
                assessment_interval_days=primary.assessment_interval_days,
                max_missed_assessments=primary.max_missed_assessments,
                window_days=primary.window_days,
            )
        pfs = survival.derive_pfs(subjects, assessments, cutoff_date, rules=rules)
        parts.append(pfs.assign(PARAMCD=paramcd, PARAM=label))
    return pd.concat(parts, ignore_index=True)


def compute_progression_reconciliation(
    subjects: pd.DataFrame, assessments: pd.DataFrame, tolerance_days: int = 0
) -> pd.DataFrame:
    """QC: the recorded radiological progression date against the first RECIST PD assessment.

    Method: per patient, ``PDDT`` of a radiological progression (``PDTYPE`` radiological, or any
    when ``PDTYPE`` is absent) is compared with the date of the first time-point response ``PD``
    in ``assessments``. A discrepancy is a progression date without any PD assessment, a PD
    assessment without a radiological progression date, or dates more than ``tolerance_days``
    apart. Progression dates are used as recorded by the primary analysis; this listing says
    where the two sources disagree so that they can be queried.

    Returns
    -------
    DataFrame
        One row per discrepant patient: ``USUBJID, PDDT, PDTYPE, FIRSTPDDT, DIFFDAYS (PDDT −
        FIRSTPDDT), ISSUE``.
    """
    validate_frame(subjects, "subjects", ["USUBJID", "PDDT"])
    validate_frame(assessments, "assessments", ["USUBJID", "ADT", "AVALC"])
    if isinstance(tolerance_days, bool) or not isinstance(tolerance_days, int | np.integer):
        raise TypeError(f"tolerance_days must be an integer, got {tolerance_days!r}")
    subj = subjects.copy()
    subj["PDDT"] = pd.to_datetime(subj["PDDT"])
    if "PDTYPE" not in subj.columns:
        subj["PDTYPE"] = np.where(subj["PDDT"].notna(), "radiological", None)
    pd_rows = assessments[assessments["AVALC"].astype("string").str.upper().eq("PD")]
    first_pd = pd.to_datetime(pd_rows["ADT"]).groupby(pd_rows["USUBJID"]).min()
    subj["FIRSTPDDT"] = subj["USUBJID"].map(first_pd)
    radiological = subj["PDDT"].notna() & subj["PDTYPE"].eq("radiological")
    diff = (subj["PDDT"] - subj["FIRSTPDDT"]).dt.days
    subj["DIFFDAYS"] = diff.where(radiological & subj["FIRSTPDDT"].notna()).astype("Int64")
    issue = pd.Series([None] * len(subj), index=subj.index, dtype=object)
    issue[radiological & subj["FIRSTPDDT"].isna()] = (
        "radiological progression date without any RECIST PD assessment"
    )
    issue[~radiological & subj["FIRSTPDDT"].notna()] = (
        "RECIST PD assessment without a radiological progression date"
    )
    far = radiological & subj["FIRSTPDDT"].notna() & (diff.abs() > tolerance_days)
    issue[far] = [f"progression date {int(d):+d} days from the first RECIST PD" for d in diff[far]]
    subj["ISSUE"] = issue
    out = subj[subj["ISSUE"].notna()]
    return out[["USUBJID", "PDDT", "PDTYPE", "FIRSTPDDT", "DIFFDAYS", "ISSUE"]].reset_index(
        drop=True
    )


def summarise_pfs_sensitivity(
    adtte: pd.DataFrame,
    patients: pd.Series,
    landmarks: list[float],
    ci_level: float = 0.95,
    primary: str = "PFS",
) -> pd.DataFrame:
    """Kaplan–Meier PFS under the primary and each sensitivity rule set, side by side.

    Method: :func:`helpers.endpoints.survival.summarise_km` (log(−log) CI, Brookmeyer–Crowley
    median CI) per PARAMCD among ``patients``; ``note`` counts the patients whose event status or
    date differs from the primary derivation.

    Returns
    -------
    DataFrame
        Estimate table (rows of ``summarise_km``) with ``PARAMCD``, ``rule`` and ``note``.
    """
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "PARAM", "ADT", "AVAL", "CNSR", "RULE"])
    tte = adtte[adtte["USUBJID"].isin(list(patients))]
    base = tte[tte["PARAMCD"].eq(primary)].set_index("USUBJID")
    if base.empty:
        raise ValueError(f"adtte has no {primary!r} rows for these patients")
    parts = []
    for paramcd in [primary, *PFS_SENSITIVITY_PARAMCDS]:
        rows = tte[tte["PARAMCD"].eq(paramcd)]
        if rows.empty:
            continue
        other = rows.set_index("USUBJID").reindex(base.index)
        changed = int(((other["CNSR"] != base["CNSR"]) | (other["ADT"] != base["ADT"])).sum())
        label = "PFS, primary (FDA 2018 rules)" if paramcd == primary else rows["PARAM"].iloc[0]
        km = survival.summarise_km(rows, label, landmarks, ci_level)
        note = f"{changed} patient(s) differ from the primary derivation"
        km["note"] = [f"{n}; {note}" if isinstance(n, str) and n else note for n in km["note"]]
        parts.append(km.assign(PARAMCD=paramcd, rule=rows["RULE"].iloc[0]))
    return pd.concat(parts, ignore_index=True)
