"""Time-to-event endpoints: PFS/OS derivation, Kaplan–Meier summaries, follow-up, Cox, landmark.

Time unit: months, with ``DAYS_PER_MONTH`` = 30.4375 (= 365.25 / 12). Durations in days follow the
ADaM/SAP "day 1" convention, ``ADT − STARTDT + 1``, so a patient censored on the day of treatment
start has a duration of one day rather than zero.

Estimates are returned in the shared estimate-table shape (``parameter, n, N, estimate, ci_lower,
ci_upper, ci_level, method`` plus optional ``p_value``) described in ``docs/architecture.md``.

References
----------
- US FDA. Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics. Guidance for
  Industry, December 2018 (PFS censoring table).
- Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed. Wiley 2002
  (log(−log) pointwise confidence interval for S(t)).
- Brookmeyer R, Crowley J. A confidence interval for the median survival time. Biometrics
  1982;38:29–41.
- Schemper M, Smith TL. A note on quantifying follow-up in studies of failure time. Control Clin
  Trials 1996;17:343–346.
- Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based on weighted residuals.
  Biometrika 1994;81:515–526.
- Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
  1983;1:710–719. Dafni U. Landmark analysis at the 25-year landmark point. Circ Cardiovasc Qual
  Outcomes 2011;4:363–371.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level

# lifelines is imported where it is used: it takes about a second to import, and the PFS/OS
# derivations run by data preparation do not need it.
if TYPE_CHECKING:
    from lifelines import CoxPHFitter

DAYS_PER_MONTH = 30.4375
"""Average Gregorian month length in days (365.25 / 12): months = days / DAYS_PER_MONTH."""

KM_METHOD = "Kaplan–Meier, log-log CI"
#: Fewest patients for which a Kaplan–Meier median or landmark rate is reported (and a curve
#: drawn, :func:`helpers.plots.plot_km`): with one or two patients the "estimate" is their own
#: event or censoring times, so the rows say "not estimable" instead.
KM_MIN_PATIENTS = 3
#: Fewest patients per group compared by the log-rank test (:func:`compute_logrank`): as for a
#: Kaplan–Meier curve, so that no test compares a curve that is not drawn.
LOGRANK_MIN_PATIENTS = KM_MIN_PATIENTS
#: Fewest patients in a Cox model (:func:`compute_cox`): with two, the partial likelihood has no
#: finite maximum unless their times or covariates tie, so any "hazard ratio" is an artefact.
COX_MIN_PATIENTS = 3
ADTTE_COLUMNS = [
    "USUBJID",
    "PARAMCD",
    "PARAM",
    "STARTDT",
    "ADT",
    "AVAL",
    "CNSR",
    "EVNTDESC",
    "CNSDTDSC",
    "RULE",
]
ESTIMATE_COLUMNS = [
    "parameter",
    "n",
    "N",
    "estimate",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "method",
]
# R survival's tolerance for "the curve is exactly at the quantile" (sqrt(.Machine$double.eps)).
_QUANTILE_TOL = float(np.sqrt(np.finfo(float).eps))


# --------------------------------------------------------------------------------------------
# Derivation rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CensoringRules:
    """Named set of PFS event and censoring rules, recorded in the ``RULE`` column of ADTTE.

    Attributes
    ----------
    name : str
        Identifier written to ``ADTTE.RULE`` (e.g. ``"PFS_RULES_FDA"``).
    description : str
        One-sentence summary for reports.
    progression_types : tuple of str or None
        Progression types (``subjects.PDTYPE``) that count as events, e.g. ``("radiological",)``
        for RECIST-documented progression only. ``None`` counts any progression date. When
        ``PDTYPE`` is absent from the input every ``PDDT`` is taken as documented progression.
    death_is_event : bool
        Death from any cause without prior progression is an event.
    assessment_interval_days : int or None
        Scheduled interval between tumour assessments (42 days = every 6 weeks for T-DM1).
        ``None`` disables the missed-assessment rule.
    max_missed_assessments : int or None
        An event occurring after this many consecutive missed scheduled assessments is censored at
        the last adequate assessment before the gap (FDA: "more than one missed visit", i.e. 2).
        ``None`` disables the rule.
    window_days : int
        Visit-window tolerance: the k-th scheduled assessment after the last adequate one counts as
        missed only once ``k * assessment_interval_days + window_days`` days have passed.
    censor_at_new_anticancer_therapy : bool
        Censor at the last adequate assessment on or before the start of new anticancer therapy
        (``subjects.NACTDT``) when it starts before any event. Has no effect when ``NACTDT`` is not
        supplied.
    reference : str
        Source of the rules.
    """

    name: str
    description: str
    progression_types: tuple[str, ...] | None = ("radiological",)
    death_is_event: bool = True
    assessment_interval_days: int | None = 42
    max_missed_assessments: int | None = 2
    window_days: int = 7
    censor_at_new_anticancer_therapy: bool = True
    reference: str = ""

    def __post_init__(self) -> None:
        interval, missed = self.assessment_interval_days, self.max_missed_assessments
        if (interval is None) != (missed is None):
            raise ValueError(
                "assessment_interval_days and max_missed_assessments must both be set (missed-"
                "assessment rule on) or both be None (rule off)."
            )
        if interval is not None and interval <= 0:
            raise ValueError(f"assessment_interval_days must be > 0, got {interval}.")
        if missed is not None and missed < 1:
            raise ValueError(f"max_missed_assessments must be >= 1, got {missed}.")
        if self.window_days < 0:
            raise ValueError(f"window_days must be >= 0, got {self.window_days}.")

    @property
    def missed_assessment_rule(self) -> bool:
        """True when events after missed assessments are censored."""
        return self.max_missed_assessments is not None


PFS_RULES_FDA = CensoringRules(
    name="PFS_RULES_FDA",
    description=(
        "Event: RECIST-documented progression or death from any cause. Censored at the last "
        "adequate assessment if no event, if the event follows >=2 missed assessments, or if new "
        "anticancer therapy starts first; censored at day 1 without post-baseline assessment."
    ),
    progression_types=("radiological",),
    death_is_event=True,
    assessment_interval_days=42,
    max_missed_assessments=2,
    window_days=7,
    censor_at_new_anticancer_therapy=True,
    reference=(
        "FDA Guidance for Industry: Clinical Trial Endpoints for the Approval of Cancer Drugs "
        "and Biologics (2018), PFS censoring table"
    ),
)

PFS_RULES_SIMPLE = CensoringRules(
    name="PFS_RULES_SIMPLE",
    description=(
        "Sensitivity analysis: any progression (radiological or clinical) or death is an event, "
        "whatever the gap since the last assessment; new anticancer therapy is ignored."
    ),
    progression_types=None,
    death_is_event=True,
    assessment_interval_days=None,
    max_missed_assessments=None,
    window_days=0,
    censor_at_new_anticancer_therapy=False,
    reference="Sensitivity analysis to the FDA 2018 rules (no missed-assessment censoring)",
)

OS_RULE_NAME = "OS_DEATH_ANY_CAUSE"

_EVENT_PD = "Disease progression"
_EVENT_DEATH = "Death without documented progression"
_EVENT_OS = "Death from any cause"
_AT_LAST = "censored at last adequate assessment"
_AT_DAY1 = "censored at day 1 (no post-baseline adequate assessment)"
_NO_ASSESSMENT = "No post-baseline assessment: censored at day 1"


# --------------------------------------------------------------------------------------------
# Input checks shared by the public functions
# --------------------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing required column(s) {missing}; add them first.")


def _as_dates(series: pd.Series, name: str) -> pd.Series:
    try:
        return pd.to_datetime(series)
    except (ValueError, TypeError) as err:
        raise TypeError(f"{name} must hold dates (ISO YYYY-MM-DD or datetime64).") from err


def _as_timestamp(value: object, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise TypeError(f"{name} must be a date, got {value!r}.") from err
    if pd.isna(stamp):
        raise ValueError(f"{name} must be a date, got a missing value.")
    return stamp


def _validated_tte(adtte: pd.DataFrame, name: str = "adtte") -> pd.DataFrame:
    _require_columns(adtte, ["AVAL", "CNSR"], name)
    if adtte.empty:
        raise ValueError(f"{name} has no rows: nothing to analyse.")
    aval = pd.to_numeric(adtte["AVAL"], errors="coerce")
    if aval.isna().any() or (aval < 0).any():
        raise ValueError(f"{name}.AVAL must be non-missing and >= 0 (months).")
    cnsr = pd.to_numeric(adtte["CNSR"], errors="coerce")
    if not cnsr.isin([0, 1]).all():
        raise ValueError(f"{name}.CNSR must be 0 (event) or 1 (censored) for every row.")
    if "PARAMCD" in adtte.columns and adtte["PARAMCD"].nunique() > 1:
        raise ValueError(
            f"{name} holds several parameters {sorted(adtte['PARAMCD'].unique())}; "
            "filter to one PARAMCD first."
        )
    out = adtte.copy()
    out["AVAL"] = aval.astype(float)
    out["CNSR"] = cnsr.astype(int)
    return out


# --------------------------------------------------------------------------------------------
# PFS / OS derivation
# --------------------------------------------------------------------------------------------


def _censor_text(last: pd.Series, reason: pd.Series) -> np.ndarray:
    """Censoring description: at the last adequate assessment, or at day 1 when there is none."""
    has_reason = reason.notna().to_numpy()
    at_day1 = last.isna().to_numpy()
    why = reason.fillna("").astype(str)
    return np.select(
        [at_day1 & has_reason, at_day1, has_reason],
        [why + f": {_AT_DAY1}", _NO_ASSESSMENT, why + f": {_AT_LAST}"],
        _AT_LAST.capitalize(),
    )


def _last_adequate(
    adequate: pd.DataFrame, subjects: pd.Series, limits: pd.Series, inclusive: bool
) -> pd.Series:
    """Per patient, the last adequate assessment date on (or, not ``inclusive``, before) a limit.

    ``adequate`` holds ``USUBJID, ADT`` sorted by ``ADT``; NaT where there is none or no limit.
    """
    out = pd.Series(pd.NaT, index=limits.index, dtype="datetime64[ns]")
    has = limits.notna()
    if not has.any() or adequate.empty:
        return out
    left = pd.DataFrame(
        {
            "USUBJID": subjects[has].to_numpy(),
            "LIMIT": limits[has].to_numpy().astype("datetime64[ns]"),
            "pos": limits.index[has],
        }
    ).sort_values("LIMIT", kind="stable")
    found = pd.merge_asof(
        left,
        adequate.rename(columns={"ADT": "LAST"}),
        left_on="LIMIT",
        right_on="LAST",
        by="USUBJID",
        direction="backward",
        allow_exact_matches=inclusive,
    )
    out.loc[found["pos"].to_numpy()] = found["LAST"].to_numpy()
    return out


def _prepare_subjects(subjects: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    _require_columns(subjects, columns, "subjects")
    if subjects["USUBJID"].duplicated().any():
        dup = subjects.loc[subjects["USUBJID"].duplicated(), "USUBJID"].tolist()
        raise ValueError(f"subjects must have one row per USUBJID; duplicated: {dup}.")
    out = subjects.copy()
    for col in [c for c in ("TRTSDT", "PDDT", "DTHDT", "LSTALVDT", "NACTDT") if c in out]:
        out[col] = _as_dates(out[col], f"subjects.{col}")
    if out["TRTSDT"].isna().any():
        ids = out.loc[out["TRTSDT"].isna(), "USUBJID"].tolist()
        raise ValueError(f"TRTSDT is missing for {ids}: pass treated patients only.")
    for col in [c for c in ("PDDT", "DTHDT", "LSTALVDT") if c in out]:
        early = out[col].notna() & (out[col] < out["TRTSDT"])
        if early.any():
            ids = out.loc[early, "USUBJID"].tolist()
            raise ValueError(f"{col} precedes TRTSDT for {ids}; correct the dates.")
    return out


def _adequate_dates(
    assessments: pd.DataFrame, subjects: pd.DataFrame, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """``USUBJID, ADT`` of adequate (not NE) post-baseline assessments to the cut-off, by date."""
    _require_columns(assessments, ["USUBJID", "ADT", "AVALC"], "assessments")
    adt = _as_dates(assessments["ADT"], "assessments.ADT")
    start = assessments["USUBJID"].map(subjects.set_index("USUBJID")["TRTSDT"])
    avalc = assessments["AVALC"].astype("string").str.upper()
    keep = (avalc.notna() & (avalc != "NE") & (adt > start) & (adt <= cutoff)).fillna(False)
    kept = pd.DataFrame({"USUBJID": assessments["USUBJID"], "ADT": adt})[keep.to_numpy(bool)]
    kept = kept[kept["USUBJID"].isin(subjects["USUBJID"])]
    return kept.astype({"ADT": "datetime64[ns]"}).sort_values("ADT", kind="stable")


def derive_pfs(
    subjects: pd.DataFrame,
    assessments: pd.DataFrame,
    cutoff_date: object,
    rules: CensoringRules = PFS_RULES_FDA,
) -> pd.DataFrame:
    """Derive progression-free survival (ADTTE rows, PARAMCD ``PFS``) under named rules.

    Method: event = first of counted progression and death (``rules``) on or before the data
    cut-off; censoring as in FDA (2018) — at the last adequate (not ``NE``) post-baseline
    assessment on or before the cut-off when there is no event; at day 1 (``ADT = TRTSDT``) when
    there is no post-baseline adequate assessment; at the last adequate assessment before the gap
    when the event follows ``max_missed_assessments`` missed scheduled assessments (event date
    more than ``k × interval + window`` days after the last adequate assessment, or after
    treatment start if none); at the last adequate assessment on or before the start of new
    anticancer therapy when it precedes the event. Events after the cut-off are ignored.

    Parameters
    ----------
    subjects : DataFrame
        One row per analysed (treated) patient: ``USUBJID, TRTSDT, PDDT, DTHDT, LSTALVDT``
        (dates; ``NaT`` when no progression / alive). Optional: ``PDTYPE`` (``radiological`` /
        ``clinical``) and ``NACTDT`` (start of new anticancer therapy).
    assessments : DataFrame
        Time-point responses ``USUBJID, ADT, AVALC``; assessments after ``TRTSDT`` and not ``NE``
        are adequate. Rows of patients absent from ``subjects`` are ignored.
    cutoff_date : date-like
        Data cut-off.
    rules : CensoringRules
        ``PFS_RULES_FDA`` (primary) or ``PFS_RULES_SIMPLE`` (sensitivity), or a
        ``dataclasses.replace`` of them (e.g. another assessment interval).

    Returns
    -------
    DataFrame
        ADTTE columns ``USUBJID, PARAMCD ("PFS"), PARAM, STARTDT (= TRTSDT), ADT, AVAL (months,
        (ADT − STARTDT + 1) / 30.4375), CNSR (0 event, 1 censored), EVNTDESC (events), CNSDTDSC
        (censored), RULE (rules.name)``.

    References
    ----------
    FDA. Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics (2018).
    """
    if not isinstance(rules, CensoringRules):
        raise TypeError("rules must be a CensoringRules (e.g. PFS_RULES_FDA).")
    cutoff = _as_timestamp(cutoff_date, "cutoff_date")
    subj = _prepare_subjects(subjects, ["USUBJID", "TRTSDT", "PDDT", "DTHDT", "LSTALVDT"])
    subj = subj.reset_index(drop=True)
    adequate = _adequate_dates(assessments, subj, cutoff)
    ids, start = subj["USUBJID"], subj["TRTSDT"]
    nat = pd.Series(pd.NaT, index=subj.index, dtype="datetime64[ns]")
    # first counted event on or before the cut-off; progression wins a same-day tie with death
    progression = subj["PDDT"]
    if rules.progression_types is not None and "PDTYPE" in subj:
        progression = progression.where(subj["PDTYPE"].isin(rules.progression_types))
    death = subj["DTHDT"] if rules.death_is_event else nat
    pd_in = progression.notna() & (progression <= cutoff)
    death_in = death.notna() & (death <= cutoff)
    pd_first = pd_in & (~death_in | (progression <= death))
    event = progression.where(pd_first, death.where(death_in))
    event_desc = pd.Series(np.where(pd_first, _EVENT_PD, _EVENT_DEATH), index=subj.index)
    after_cutoff = event.isna() & (progression.notna() | death.notna())
    new_therapy = (
        subj["NACTDT"] if rules.censor_at_new_anticancer_therapy and "NACTDT" in subj else nat
    )
    therapy_first = (
        new_therapy.notna() & (new_therapy <= cutoff) & (event.isna() | (new_therapy < event))
    )
    last_therapy = _last_adequate(adequate, ids, new_therapy.where(therapy_first), True)
    is_event = ~therapy_first & event.notna()
    last_event = _last_adequate(adequate, ids, event.where(is_event), False)
    missed = pd.Series(False, index=subj.index)
    if rules.missed_assessment_rule:
        allowed = rules.max_missed_assessments * rules.assessment_interval_days + rules.window_days
        missed = is_event & ((event - last_event.fillna(start)).dt.days > allowed)
    last_cutoff = _last_adequate(adequate, ids, pd.Series(cutoff, index=subj.index), True)
    last = last_therapy.where(therapy_first, last_event.where(is_event, last_cutoff))
    reason = pd.Series(
        np.select(
            [therapy_first, missed, is_event, after_cutoff, last.notna()],
            [
                "New anticancer therapy before event",
                f"Event after ≥{rules.max_missed_assessments} missed assessments",
                "",
                "Event after data cut-off",
                "No progression or death by data cut-off",
            ],
            "",
        ),
        index=subj.index,
    ).replace("", None)
    censored = ~is_event | missed
    rows = pd.DataFrame(
        {
            "USUBJID": ids,
            "STARTDT": start,
            "ADT": event.where(~censored, last.where(last.notna(), start)),
            "CNSR": censored.astype(int),
            "EVNTDESC": event_desc.where(~censored, None),
            "CNSDTDSC": pd.Series(_censor_text(last, reason), index=subj.index).where(
                censored, None
            ),
        }
    )
    return _finish_adtte(rows, "PFS", "Progression-free survival (months)", rules.name)


def derive_os(subjects: pd.DataFrame, cutoff_date: object) -> pd.DataFrame:
    """Derive overall survival (ADTTE rows, PARAMCD ``OS``) from treatment start.

    Method: event = death from any cause on or before the cut-off; otherwise censored at
    min(last date known alive, cut-off) (a death after the cut-off is censored at the cut-off).

    Parameters
    ----------
    subjects : DataFrame
        ``USUBJID, TRTSDT, DTHDT, LSTALVDT`` (one row per treated patient).
    cutoff_date : date-like
        Data cut-off.

    Returns
    -------
    DataFrame
        ADTTE columns as :func:`derive_pfs`, ``PARAMCD = "OS"``, ``RULE = "OS_DEATH_ANY_CAUSE"``.
    """
    cutoff = _as_timestamp(cutoff_date, "cutoff_date")
    subj = _prepare_subjects(subjects, ["USUBJID", "TRTSDT", "DTHDT", "LSTALVDT"])
    if subj["LSTALVDT"].isna().any():
        ids = subj.loc[subj["LSTALVDT"].isna(), "USUBJID"].tolist()
        raise ValueError(f"LSTALVDT (last date known alive) is missing for {ids}.")
    # whole columns, no per-patient loop: event, alive at cut-off, or censored at last contact
    event = (subj["DTHDT"].notna() & (subj["DTHDT"] <= cutoff)).to_numpy()
    at_cutoff = ~event & (subj["LSTALVDT"] >= cutoff).to_numpy()
    rows = pd.DataFrame(
        {
            "USUBJID": subj["USUBJID"].to_numpy(),
            "STARTDT": subj["TRTSDT"].to_numpy(),
            "ADT": np.where(
                event, subj["DTHDT"], np.where(at_cutoff, np.datetime64(cutoff), subj["LSTALVDT"])
            ),
            "CNSR": np.where(event, 0, 1),
            "EVNTDESC": np.where(event, _EVENT_OS, None),
            "CNSDTDSC": np.where(
                event,
                None,
                np.where(
                    at_cutoff,
                    "Alive at data cut-off: censored at cut-off",
                    "Censored at last date known alive",
                ),
            ),
        }
    )
    return _finish_adtte(rows, "OS", "Overall survival (months)", OS_RULE_NAME)


def _finish_adtte(rows: pd.DataFrame, paramcd: str, param: str, rule: str) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["USUBJID", "STARTDT", "ADT", "CNSR", "EVNTDESC", "CNSDTDSC"])
    out["PARAMCD"], out["PARAM"], out["RULE"] = paramcd, param, rule
    out["STARTDT"] = pd.to_datetime(out["STARTDT"])
    out["ADT"] = pd.to_datetime(out["ADT"])
    # day-1 convention: an event on the start date lasts one day
    out["AVAL"] = ((out["ADT"] - out["STARTDT"]).dt.days + 1) / DAYS_PER_MONTH
    out["CNSR"] = out["CNSR"].astype(int)
    out["EVNTDESC"] = out["EVNTDESC"].astype(object).where(out["CNSR"] == 0, None)
    out["CNSDTDSC"] = out["CNSDTDSC"].astype(object).where(out["CNSR"] == 1, None)
    return out[ADTTE_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Kaplan–Meier summaries
# --------------------------------------------------------------------------------------------


def _r_quantile(times: np.ndarray, surv: np.ndarray, p: float) -> float:
    """Time at which 1 − S(t) first reaches ``p``, with R survival's flat-segment midpoint rule.

    Port of ``findq`` in R survival's ``quantile.survfit`` (Therneau): where the curve is flat at
    exactly ``p`` the quantile is the midpoint of the flat (so with no censoring the median equals
    the usual sample median); NaN when never reached. ``times``/``surv`` start at (0, 1); NaN
    survival values (band undefined) are dropped as R does.
    """
    keep = ~np.isnan(surv)
    x, y = times[keep], 1.0 - surv[keep]
    if y.size == 0 or y.max() < p:
        return float("nan")
    xmax = x[-1]
    first = np.r_[True, np.diff(y) != 0]  # drop censor-only rows (duplicated y)
    x, y = x[first], y[first]
    hit1 = np.flatnonzero(y + _QUANTILE_TOL >= p)
    hit2 = np.flatnonzero(y - _QUANTILE_TOL >= p)
    if hit1.size == 0:
        return float("nan")
    i1 = hit1[0]
    if abs(p - y[-1]) < _QUANTILE_TOL and i1 == y.size - 1:
        return float((x[i1] + xmax) / 2)  # flat at p until the end of follow-up
    if hit2.size == 0:
        return float("nan")
    return float((x[i1] + x[hit2[0]]) / 2)


@dataclass(frozen=True)
class _KMCurve:
    times: np.ndarray
    surv: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_events: int
    n: int


def _fit_km(duration: np.ndarray, event: np.ndarray, ci_level: float) -> _KMCurve:
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=1.0 - ci_level).fit(duration, event_observed=event)
    ci = kmf.confidence_interval_
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)
    lower = ci.iloc[:, 0].to_numpy(dtype=float)
    upper = ci.iloc[:, 1].to_numpy(dtype=float)
    # R survival: the log-log band is undefined where S = 0.
    lower = np.where(surv == 0, np.nan, lower)
    upper = np.where(surv == 0, np.nan, upper)
    times = kmf.survival_function_.index.to_numpy(dtype=float)
    return _KMCurve(
        times=np.r_[0.0, times],
        surv=np.r_[1.0, surv],
        lower=np.r_[1.0, lower],
        upper=np.r_[1.0, upper],
        n_events=int(event.sum()),
        n=int(duration.size),
    )


def compute_km_median(
    duration: Sequence[float], event: Sequence[int], ci_level: float = 0.95
) -> tuple[float, float, float]:
    """Kaplan–Meier median and its CI limits, with R survival's rules.

    The same computation as the median row of :func:`summarise_km` (log-log pointwise band
    inverted at 0.5, flat-segment midpoint rule of R ``quantile.survfit``), exposed so that figures
    print exactly the median the tables report. NaN where a value is not reached.

    Returns
    -------
    tuple of float
        ``(median, ci_lower, ci_upper)`` in the unit of ``duration``.
    """
    validate_ci_level(ci_level)
    curve = _fit_km(np.asarray(duration, dtype=float), np.asarray(event, dtype=int), ci_level)
    est, lo, hi = (_r_quantile(curve.times, y, 0.5) for y in (curve.surv, curve.lower, curve.upper))
    return est, lo, hi


def _median_row(curve: _KMCurve, label: str, ci_level: float, method: str) -> dict:
    est = _r_quantile(curve.times, curve.surv, 0.5)
    lo = _r_quantile(curve.times, curve.lower, 0.5)
    hi = _r_quantile(curve.times, curve.upper, 0.5)
    notes = []
    if np.isnan(est):
        notes.append("median not reached")
    if np.isnan(lo):
        notes.append("lower CI limit not reached")
    if np.isnan(hi):
        notes.append("upper CI limit not reached")
    text = f"{label}: median (months)" + (", not reached" if np.isnan(est) else "")
    return {
        "parameter": text,
        "statistic": "median",
        "time_months": np.nan,
        "n": curve.n_events,
        "N": curve.n,
        "estimate": est,
        "ci_lower": lo,
        "ci_upper": hi,
        "ci_level": ci_level,
        "method": method,
        "note": "; ".join(notes),
    }


def _survival_at(curve: _KMCurve, t: float) -> tuple[float, float, float, str]:
    if t > curve.times[-1]:
        if curve.surv[-1] == 0:
            return 0.0, np.nan, np.nan, "all patients had an event before this time; CI undefined"
        return np.nan, np.nan, np.nan, "landmark beyond the last follow-up time"
    i = int(np.searchsorted(curve.times, t, side="right") - 1)
    est, lo, hi = curve.surv[i], curve.lower[i], curve.upper[i]
    if est == 1.0:
        return est, lo, hi, "no event by this time: degenerate CI (1, 1), as R survival"
    if est == 0.0:
        return est, lo, hi, "S(t) = 0: log-log CI undefined"
    return est, lo, hi, ""


def _landmark_row(curve: _KMCurve, label: str, t: float, ci_level: float) -> dict:
    est, lo, hi, note = _survival_at(curve, t)
    return {
        "parameter": f"{label}: {t:g}-month survival",
        "statistic": "survival",
        "time_months": float(t),
        "n": curve.n_events,
        "N": curve.n,
        "estimate": est,
        "ci_lower": lo,
        "ci_upper": hi,
        "ci_level": ci_level,
        "method": KM_METHOD,
        "note": note,
    }


def _not_estimable_km_rows(
    label: str, landmarks: Sequence[float], ci_level: float, n: int, n_events: int
) -> list:
    why = (
        f"not estimable: {n} patient{'' if n == 1 else 's'} "
        f"(Kaplan–Meier needs at least {KM_MIN_PATIENTS})"
    )
    base = {
        "n": n_events,
        "N": n,
        "estimate": np.nan,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": ci_level,
        "method": KM_METHOD,
        "note": why,
    }
    rows = [
        {"parameter": f"{label}: median (months)", "statistic": "median", "time_months": np.nan}
    ]
    rows += [
        {"parameter": f"{label}: {t:g}-month survival", "statistic": "survival", "time_months": t}
        for t in landmarks
    ]
    return [{**row, **base} for row in rows]


def _km_rows(df: pd.DataFrame, label: str, landmarks: Sequence[float], ci_level: float) -> list:
    if len(df) < KM_MIN_PATIENTS:
        events = int((df["CNSR"] == 0).sum()) if len(df) else 0
        return _not_estimable_km_rows(label, landmarks, ci_level, len(df), events)
    curve = _fit_km(df["AVAL"].to_numpy(float), 1 - df["CNSR"].to_numpy(int), ci_level)
    rows = [_median_row(curve, label, ci_level, KM_METHOD)]
    rows += [_landmark_row(curve, label, t, ci_level) for t in landmarks]
    return rows


def summarise_km(
    adtte: pd.DataFrame,
    parameter: str,
    landmarks: Sequence[float] = (6, 12),
    ci_level: float = 0.95,
    group: str | None = None,
) -> pd.DataFrame:
    """Kaplan–Meier median and landmark survival with log(−log) confidence intervals.

    Method: product-limit estimate (lifelines ``KaplanMeierFitter``) with the pointwise
    log(−log) ("exponential Greenwood", Kalbfleisch & Prentice) CI — identical to R
    ``survfit(..., conf.type = "log-log")``. The median CI is the Brookmeyer–Crowley inversion of
    that pointwise band (the times where the lower / upper band first reach 0.5), as R's
    ``quantile.survfit``. lifelines' own ``median_survival_times(confidence_interval_)`` inverts
    the same band but lacks R's midpoint rule for a curve flat at exactly 0.5, so quantiles are
    computed here by a port of R's rule. Limits that are never reached are NaN and say so in
    ``note``. Note that R's *default* ``conf.type = "log"`` gives different (narrower-below)
    limits.

    Parameters
    ----------
    adtte : DataFrame
        ``AVAL`` (months), ``CNSR`` (0 event, 1 censored) and, if ``group`` is given, that column.
        One parameter only.
    parameter : str
        Label for the rows, e.g. ``"PFS, treated"``.
    landmarks : sequence of float
        Times (months) at which S(t) is reported.
    ci_level : float
        Confidence level.
    group : str, optional
        Column defining subgroups; rows are produced per level (sorted; every category of a
        categorical column, a category without a patient giving "not estimable: 0 patients"
        rows) and a ``group`` column is added.

    Returns
    -------
    DataFrame
        Estimate-table rows ``parameter, statistic ("median" / "survival"), time_months, n
        (events), N (patients), estimate, ci_lower, ci_upper, ci_level, method, note``, preceded
        by ``group`` when grouped.

    References
    ----------
    Brookmeyer R, Crowley J. Biometrics 1982;38:29–41. Kalbfleisch JD, Prentice RL (2002).

    Notes
    -----
    With fewer than :data:`KM_MIN_PATIENTS` (3) patients (overall or in a group), or none at
    all, the rows carry NaN and the note "not estimable: 1 patient (Kaplan–Meier needs at least
    3)" instead of one patient's own times.
    """
    validate_ci_level(ci_level)
    if any(t < 0 for t in landmarks):
        raise ValueError(f"landmarks must be >= 0 months, got {list(landmarks)}.")
    if isinstance(adtte, pd.DataFrame) and adtte.empty:
        _require_columns(adtte, ["AVAL", "CNSR"], "adtte")
        out = pd.DataFrame(_not_estimable_km_rows(parameter, landmarks, ci_level, 0, 0))
        if group is not None:
            out.insert(0, "group", "no patient")
        return out
    df = _validated_tte(adtte)
    if group is None:
        return pd.DataFrame(_km_rows(df, parameter, landmarks, ci_level))
    _require_columns(df, [group], "adtte")
    if df[group].isna().any():
        raise ValueError(f"adtte.{group} has missing values; assign a level or drop those rows.")
    frames = []
    for level, sub in df.groupby(group, sort=True, observed=False):  # empty category: 0 rows
        rows = pd.DataFrame(_km_rows(sub, f"{parameter} [{group}={level}]", landmarks, ci_level))
        rows.insert(0, "group", level)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def compute_median_followup(adtte: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """Median follow-up by the reverse Kaplan–Meier method.

    Method: the censoring indicator is reversed (censored = "event", event = "censored") and the
    Kaplan–Meier median of this "potential follow-up" distribution is reported with the same
    log(−log) Brookmeyer–Crowley CI and R quantile rule as :func:`summarise_km`.

    Parameters
    ----------
    adtte : DataFrame
        ``AVAL`` (months), ``CNSR``; usually the OS parameter.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        One estimate-table row: ``parameter, statistic ("median"), time_months, n (patients
        censored), N, estimate, ci_lower, ci_upper, ci_level, method, note``.

    References
    ----------
    Schemper M, Smith TL. Control Clin Trials 1996;17:343–346.
    """
    validate_ci_level(ci_level)
    method = "Reverse Kaplan–Meier (Schemper & Smith 1996), log-log CI"
    if isinstance(adtte, pd.DataFrame) and len(adtte) < KM_MIN_PATIENTS:
        _require_columns(adtte, ["AVAL", "CNSR"], "adtte")
        row = _not_estimable_km_rows("Median follow-up", (), ci_level, len(adtte), 0)[0]
        return pd.DataFrame([{**row, "n": int((adtte["CNSR"] == 1).sum()), "method": method}])
    df = _validated_tte(adtte)
    curve = _fit_km(df["AVAL"].to_numpy(float), df["CNSR"].to_numpy(int), ci_level)
    row = _median_row(curve, "Follow-up", ci_level, method)
    row["parameter"] = row["parameter"].replace("Follow-up: median", "Median follow-up")
    return pd.DataFrame([row])


# --------------------------------------------------------------------------------------------
# Cox model, log-rank, landmark
# --------------------------------------------------------------------------------------------


def _cox_frame(
    df: pd.DataFrame, duration_col: str, event_col: str | None, covariates: Sequence[str]
) -> pd.DataFrame:
    if isinstance(covariates, str) or not covariates:
        raise ValueError("covariates must be a non-empty list of column names.")
    needed = [duration_col, *covariates, event_col if event_col else "CNSR"]
    _require_columns(df, needed, "df")
    data = pd.DataFrame({"T": pd.to_numeric(df[duration_col], errors="coerce")})
    events = df[event_col] if event_col else 1 - pd.to_numeric(df["CNSR"], errors="coerce")
    data["E"] = pd.to_numeric(events, errors="coerce").astype(float)
    for cov in covariates:
        if not (pd.api.types.is_numeric_dtype(df[cov]) or pd.api.types.is_bool_dtype(df[cov])):
            raise TypeError(f"covariate {cov!r} must be numeric; dummy-code categories (0/1).")
        data[cov] = df[cov].astype(float)
    if data.isna().any().any():
        raise ValueError("Cox model input has missing values; drop or impute them first.")
    if not data["E"].isin([0, 1]).all() or (data["T"] < 0).any():
        raise ValueError("events must be 0/1 and durations >= 0.")
    if len(data) < COX_MIN_PATIENTS:
        raise ValueError(
            f"{len(data)} patient{'' if len(data) == 1 else 's'} (the Cox model needs at least "
            f"{COX_MIN_PATIENTS})"
        )
    if data["E"].sum() == 0:
        raise ValueError("Cox model needs at least one event; all observations are censored.")
    constant = [c for c in covariates if data[c].nunique() < 2]
    if constant:
        raise ValueError(f"covariate(s) {constant} are constant; remove them from the model.")
    return data


#: Newton-Raphson settings of the Cox fit. lifelines' defaults (step 0.95, stop when the relative
#: change of the log partial likelihood is < 1e-9) stop a few iterations early: hazard ratios then
#: differ from R ``survival::coxph`` by up to ~4e-5 relative. Full Newton steps iterated until the
#: step norm is < 1e-12 reach the maximum, and R's printed output to its last digit
#: (tests/test_survival.py, lung data).
COX_FIT_OPTIONS = {"step_size": 1.0, "precision": 1e-12, "r_precision": 1e-15, "max_steps": 200}


def _fit_cox(data: pd.DataFrame, ci_level: float) -> tuple[CoxPHFitter, list[str]]:
    """Fit lifelines' Cox model to the maximum, turning convergence warnings into short notes."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    cph = CoxPHFitter(alpha=1.0 - ci_level)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            cph.fit(data, duration_col="T", event_col="E", fit_options=dict(COX_FIT_OPTIONS))
        except ConvergenceError as err:
            raise ValueError(
                "Cox model did not converge (often complete separation or too few events); "
                "reduce the covariates or use a penalised model."
            ) from err
    notes = [
        "lifelines: " + str(w.message).split(".")[0]
        for w in caught
        if issubclass(w.category, ConvergenceWarning)
    ]
    return cph, notes


def _hr_table(cph: CoxPHFitter, covariates: Sequence[str]) -> pd.DataFrame:
    """HR, CI limits and p per covariate; complete separation (non-finite CI) is an error."""
    summ = cph.summary
    lower = next(c for c in summ.columns if c.startswith("exp(coef) lower"))
    upper = next(c for c in summ.columns if c.startswith("exp(coef) upper"))
    table = pd.DataFrame(
        {"hr": summ["exp(coef)"], "lower": summ[lower], "upper": summ[upper], "p": summ["p"]}
    )
    bad = ~np.isfinite(table["upper"]) | (table["lower"] <= 0)
    if bad.any():
        raise ValueError(
            f"HR not estimable for {list(table.index[bad])}: monotone likelihood (complete "
            "separation, e.g. all events in one group). Drop the covariate or use a "
            "Firth-penalised Cox model."
        )
    return table.loc[list(covariates)]


def compute_cox(
    df: pd.DataFrame,
    covariates: Sequence[str],
    duration_col: str = "AVAL",
    event_col: str | None = None,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Cox proportional-hazards model: hazard ratios, Wald CIs and p-values, PH test.

    Method: partial likelihood with Efron's tie handling (lifelines ``CoxPHFitter``, the R
    ``coxph`` default), maximised by full Newton-Raphson steps to a step norm < 1e-12
    (:data:`COX_FIT_OPTIONS`; matches R ``coxph`` to its printed digits); HR = exp(β) with
    Wald CI exp(β ± z·se) and Wald p-value. ``ph_test_p`` is the Grambsch–Therneau test of a zero
    slope of scaled Schoenfeld residuals against Kaplan–Meier-transformed time (lifelines
    ``proportional_hazard_test``, ``time_transform = "km"``, the transform R ``cox.zph`` defaults
    to; R ≥ 3.0 uses an exact score version, so p-values differ slightly from current R).

    Tiny samples: fewer than :data:`COX_MIN_PATIENTS` (3) patients, no event, a constant
    covariate, a non-converging fit or complete separation (infinite HR, non-finite CI) raise
    ``ValueError`` rather than returning meaningless rows; few
    events (< 10 per covariate) and lifelines convergence warnings are reported in ``note``.

    Parameters
    ----------
    df : DataFrame
        One row per patient with the duration, event indicator and numeric covariates.
    covariates : list of str
        Numeric (dummy-coded) covariate columns.
    duration_col : str
        Duration column (months).
    event_col : str, optional
        0/1 event column; when None the event is ``1 − CNSR``.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        One row per covariate: ``parameter ("HR: <covariate>"), covariate, n (events), N, estimate
        (HR), ci_lower, ci_upper, ci_level, method, p_value, ph_test_p, note``.

    References
    ----------
    Cox DR. J R Stat Soc B 1972;34:187–220. Grambsch PM, Therneau TM. Biometrika 1994;81:515–526.
    """
    validate_ci_level(ci_level)
    data = _cox_frame(df, duration_col, event_col, covariates)
    cph, warned = _fit_cox(data, ci_level)
    summ = _hr_table(cph, covariates)
    from lifelines.statistics import proportional_hazard_test

    ph = proportional_hazard_test(cph, data, time_transform="km").summary["p"]
    events, n = int(data["E"].sum()), len(data)
    notes = ["fewer than 10 events per covariate"] if events < 10 * len(covariates) else []
    note = "; ".join(notes + warned)
    rows = [
        {
            "parameter": f"HR: {cov}",
            "covariate": cov,
            "n": events,
            "N": n,
            "estimate": float(summ.loc[cov, "hr"]),
            "ci_lower": float(summ.loc[cov, "lower"]),
            "ci_upper": float(summ.loc[cov, "upper"]),
            "ci_level": ci_level,
            "method": "Cox proportional hazards (Efron ties), Wald CI and p",
            "p_value": float(summ.loc[cov, "p"]),
            "ph_test_p": float(ph.loc[cov]),
            "note": note,
        }
        for cov in covariates
    ]
    return pd.DataFrame(rows)


def _not_testable(group: str, n_patients: int, n_events: int, why: str) -> pd.DataFrame:
    row = {
        "parameter": f"Log-rank test by {group}",
        "n": n_events,
        "N": n_patients,
        "estimate": np.nan,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": np.nan,
        "method": "Log-rank test",
        "p_value": np.nan,
        "statistic": np.nan,
        "df": np.nan,
        "note": why,
    }
    return pd.DataFrame([row])


def compute_logrank(adtte: pd.DataFrame, group: str) -> pd.DataFrame:
    """Log-rank test comparing survival curves between the levels of ``group``.

    Method: k-sample log-rank (Mantel–Haenszel) test, chi-square with k − 1 df (lifelines
    ``multivariate_logrank_test``, equal to R ``survdiff`` with rho = 0). The asymptotic
    chi-square is unreliable with very few events; ``note`` flags groups with < 5 events.
    With no patient, a single group, a group of fewer than :data:`LOGRANK_MIN_PATIENTS` (3)
    patients (a declared category without a patient counts as a group of 0) or no event the row
    has NaN p-value and the note says "not estimable: <reason>", e.g. "not estimable: 1 patient
    in group B (the log-rank test needs at least 3 patients per group, as a Kaplan–Meier
    curve)" (a small trial often has one group empty), rather than an error.

    Parameters
    ----------
    adtte : DataFrame
        ``AVAL``, ``CNSR`` and the ``group`` column (≥ 2 levels).
    group : str
        Grouping column.

    Returns
    -------
    DataFrame
        One row: ``parameter, n (events), N, estimate (NaN: a test, not an estimate), ci_lower,
        ci_upper, ci_level (NaN), method, p_value, statistic, df, note``.

    References
    ----------
    Peto R, Peto J. J R Stat Soc A 1972;135:185–207. Mantel N. Cancer Chemother Rep 1966;50:163–170.
    """
    _require_columns(adtte, ["AVAL", "CNSR", group], "adtte")
    if adtte.empty:
        return _not_testable(group, 0, 0, "not estimable: no patient")
    df = _validated_tte(adtte)
    if df[group].isna().any():
        raise ValueError(f"adtte.{group} has missing values; assign a level or drop those rows.")
    # declared categories without a patient count as groups of 0
    sizes = df.groupby(group, observed=False, sort=True).size()
    levels = len(sizes)
    event = 1 - df["CNSR"]
    if levels < 2:
        found = ", ".join(map(str, df[group].unique()))
        why = f"not estimable: {levels} group ({found}); the log-rank test needs at least 2 levels"
        return _not_testable(group, len(df), int(event.sum()), why)
    small = sizes[sizes < LOGRANK_MIN_PATIENTS]
    if len(small):
        named = ", ".join(
            f"{k} patient{'' if k == 1 else 's'} in group {level}" for level, k in small.items()
        )
        why = (
            f"not estimable: {named} (the log-rank test needs at least {LOGRANK_MIN_PATIENTS} "
            "patients per group, as a Kaplan–Meier curve)"
        )
        return _not_testable(group, len(df), int(event.sum()), why)
    if event.sum() == 0:
        return _not_testable(group, len(df), 0, "not estimable: no event")
    from lifelines.statistics import multivariate_logrank_test

    res = multivariate_logrank_test(df["AVAL"], df[group], event_observed=event)
    small = event.groupby(df[group], observed=True).sum()
    small = small[small < 5]
    note = f"groups with < 5 events: {list(small.index)}" if len(small) else ""
    row = {
        "parameter": f"Log-rank test by {group}",
        "n": int(event.sum()),
        "N": len(df),
        "estimate": np.nan,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": np.nan,
        "method": f"Log-rank test, chi-square with {levels - 1} df",
        "p_value": float(res.p_value),
        "statistic": float(res.test_statistic),
        "df": levels - 1,
        "note": note,
    }
    return pd.DataFrame([row])


@dataclass(frozen=True)
class LandmarkResult:
    """Result of :func:`derive_landmark`.

    Attributes
    ----------
    data : DataFrame
        Patients still at risk at the landmark, ``AVAL`` reset to time since the landmark,
        plus ``LANDMARK`` (months) and any covariate columns.
    excluded : DataFrame
        ``USUBJID, AVAL, CNSR, reason`` for patients excluded ("event before landmark" /
        "censored before landmark"; "before" includes "at").
    landmark_months : float
        The landmark time.
    """

    data: pd.DataFrame
    excluded: pd.DataFrame
    landmark_months: float


def derive_landmark(
    adtte: pd.DataFrame,
    landmark_months: float,
    covariate: pd.DataFrame | None = None,
) -> LandmarkResult:
    """Landmark dataset: patients event-free and under follow-up at the landmark, time reset.

    Method: patients with ``AVAL > landmark`` are kept and their time origin moved to the
    landmark (``AVAL − landmark``), so that a covariate known by the landmark (e.g. response) can
    be compared without guarantee-time bias. Patients with an event or censoring at or before the
    landmark are excluded and listed.

    Parameters
    ----------
    adtte : DataFrame
        ``USUBJID, AVAL, CNSR`` for one parameter.
    landmark_months : float
        Landmark time (months), > 0.
    covariate : DataFrame, optional
        One row per ``USUBJID`` with covariates assessed by the landmark; left-joined to ``data``.

    Returns
    -------
    LandmarkResult
        ``data`` (at-risk patients, reset ``AVAL``, ``LANDMARK``), ``excluded`` (with reason).

    References
    ----------
    Anderson JR, Cain KC, Gelber RD. J Clin Oncol 1983;1:710–719. Dafni U. Circ Cardiovasc Qual
    Outcomes 2011;4:363–371.
    """
    if not np.isfinite(landmark_months) or landmark_months <= 0:
        raise ValueError(f"landmark_months must be a positive number, got {landmark_months}.")
    if isinstance(adtte, pd.DataFrame) and adtte.empty:  # nobody to analyse: empty, not an error
        _require_columns(adtte, ["USUBJID", "AVAL", "CNSR"], "adtte")
        extra = [c for c in (covariate.columns if covariate is not None else []) if c != "USUBJID"]
        data = adtte.assign(LANDMARK=float(landmark_months)).reindex(
            columns=[*adtte.columns, "LANDMARK", *extra]
        )
        excluded = pd.DataFrame(columns=["USUBJID", "AVAL", "CNSR", "reason"])
        return LandmarkResult(data, excluded, float(landmark_months))
    df = _validated_tte(adtte)
    _require_columns(df, ["USUBJID"], "adtte")
    at_risk = df["AVAL"] > landmark_months
    excluded = df.loc[~at_risk, ["USUBJID", "AVAL", "CNSR"]].copy()
    excluded["reason"] = np.where(
        excluded["CNSR"] == 0, "event before landmark", "censored before landmark"
    )
    data = df.loc[at_risk].copy()
    data["AVAL"] = data["AVAL"] - landmark_months
    data["LANDMARK"] = float(landmark_months)
    if covariate is not None:
        _require_columns(covariate, ["USUBJID"], "covariate")
        if covariate["USUBJID"].duplicated().any():
            raise ValueError("covariate must have one row per USUBJID.")
        clash = [c for c in covariate.columns if c != "USUBJID" and c in data.columns]
        if clash:
            raise ValueError(f"covariate columns {clash} already exist in adtte; rename them.")
        data = data.merge(covariate, on="USUBJID", how="left", validate="one_to_one")
    return LandmarkResult(
        data=data.reset_index(drop=True),
        excluded=excluded.reset_index(drop=True),
        landmark_months=float(landmark_months),
    )
