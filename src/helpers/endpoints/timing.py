"""Timing of biomarker samples against treatment, visit windows, progression and landmarks.

A biomarker sample answers an on-treatment question only if it was drawn while the patient was
on the drug, inside the visit's window, before progression, and — for an "early biomarker"
analysis — before the landmark at which outcome counting starts. These helpers put those facts on
every sample as flags so that an analysis can follow its estimand (ICH E9(R1)) and list, rather
than silently use or drop, the samples that do not qualify.

Conventions: days are counted from the first dose (first dose = day 0); a sample taken on the day
of the first dose at the baseline visit is pre-dose. Dates are pandas Timestamps.

References
----------
ICH E9(R1) addendum on estimands and sensitivity analysis, 2019: "while on treatment" strategy.
Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
1983;1:710-719 (landmark method: covariates must be known at the landmark).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import validate_frame

__all__ = [
    "PHASE_OFF",
    "PHASE_ON",
    "PHASE_PRE",
    "PHASE_UNKNOWN",
    "TIMING_COLUMNS",
    "LandmarkSamples",
    "compute_window_landmark_months",
    "derive_landmark_samples",
    "derive_sample_timing",
    "derive_visit_windows",
]

DAYS_PER_MONTH = 365.25 / 12
PHASE_PRE = "pre-treatment"
PHASE_ON = "on treatment"
PHASE_OFF = "off treatment"
PHASE_UNKNOWN = "timing unknown (no sample date)"
#: Columns added by :func:`derive_sample_timing`.
TIMING_COLUMNS = (
    "TRTDAY",
    "DSLDOSE",
    "TRTPHASE",
    "ONTRTFL",
    "WINDOWFL",
    "PREPDFL",
    "ANLFL",
    "ANLRSN",
)


def derive_visit_windows(
    targets: Mapping[str, float], half_widths: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """Visit windows (first, last allowed day from the first dose) from targets and half-widths.

    A baseline visit (target 0) gets the window [−half-width, 0]: a baseline sample must be
    pre-dose. Every visit of ``targets`` needs a half-width.

    Returns
    -------
    dict
        visit -> (low day, high day).
    """
    out = {}
    for visit, target in targets.items():
        if visit not in half_widths:
            raise ValueError(f"visit {visit!r} has a target day but no window half-width")
        width = float(half_widths[visit])
        if not width >= 0:
            raise ValueError(f"window half-width of {visit!r} must be >= 0, got {width}")
        target = float(target)
        out[str(visit)] = (target - width, 0.0) if target == 0 else (target - width, target + width)
    return out


def compute_window_landmark_months(windows: Mapping[str, tuple[float, float]], visit: str) -> float:
    """Landmark (months from the first dose) at the last allowed day of ``visit``'s window.

    A landmark placed here is after every sample allowed at that visit, so no allowed sample is
    measured after outcome counting starts (no look-ahead). Months of 365.25/12 days.
    """
    if visit not in windows:
        raise ValueError(f"visit {visit!r} has no window; windows are given for {list(windows)}")
    return float(windows[visit][1]) / DAYS_PER_MONTH


def _dates(df: pd.DataFrame, col: str) -> pd.Series:
    try:
        return pd.to_datetime(df[col])
    except (TypeError, ValueError) as err:
        raise ValueError(f"column {col!r} must hold dates: {err}") from err


def derive_sample_timing(
    samples: pd.DataFrame,
    treatment: pd.DataFrame,
    windows: Mapping[str, tuple[float, float]],
    gap_days: float = 0,
    baseline_visit: str = "BASELINE",
    undated: str = "keep",
    date_col: str = "ADT",
    visit_col: str = "AVISIT",
    subject_col: str = "USUBJID",
) -> pd.DataFrame:
    """Flag every sample: on treatment, inside its visit window, before progression.

    Method (per sample, days from the first dose ``TRTSDT``):

    - ``TRTPHASE``: "pre-treatment" when the sample precedes the first dose (or is the baseline
      visit drawn on the day of the first dose, pre-dose); "on treatment" when drawn up to
      ``gap_days`` after the last dose ``TRTEDT`` (missing ``TRTEDT`` = still on treatment);
      "off treatment" otherwise. ``ONTRTFL`` = Y for "on treatment".
    - ``WINDOWFL``: Y when the day lies inside the visit's window (both ends allowed), N when not,
      None for a visit without a window.
    - ``PREPDFL``: Y when the sample precedes the progression date ``PDDT`` (or there is none).
    - ``ANLFL`` (the "while on treatment, progression-free" analysis flag): a baseline sample
      qualifies when pre-treatment and in window; a follow-up sample when on treatment, in
      window and before progression. ``ANLRSN`` says why a sample does not qualify.

    Parameters
    ----------
    samples : pandas.DataFrame
        One row per sample (``subject_col, visit_col, date_col``; other columns kept).
    treatment : pandas.DataFrame
        One row per subject: ``subject_col, TRTSDT, TRTEDT, PDDT`` (PDDT = date of progression,
        NaT when none).
    windows : mapping
        visit -> (first, last allowed day from the first dose); :func:`derive_visit_windows`.
    gap_days : float
        Days after the last dose during which a sample still counts as on treatment (drug
        exposure persists for a few half-lives).
    baseline_visit, date_col, visit_col, subject_col : str
        Names.
    undated : {"keep", "exclude"}
        Samples without a date cannot be placed: ``TRTPHASE`` says "timing unknown", the flags
        are None, and they stay in the analysis ("keep", ANLFL = Y, the nominal visit is
        trusted) or leave it ("exclude", ANLFL = N with the reason).

    Returns
    -------
    pandas.DataFrame
        ``samples`` with :data:`TIMING_COLUMNS` added: ``TRTDAY`` (days from first dose),
        ``DSLDOSE`` (days since the last dose, NaN while ongoing), ``TRTPHASE``, ``ONTRTFL``,
        ``WINDOWFL``, ``PREPDFL``, ``ANLFL`` (Y/N), ``ANLRSN`` (empty when ANLFL = Y).
    """
    validate_frame(samples, "samples", [subject_col, visit_col, date_col])
    validate_frame(treatment, "treatment", [subject_col, "TRTSDT", "TRTEDT", "PDDT"])
    if isinstance(gap_days, bool) or not isinstance(gap_days, (int, float)) or not gap_days >= 0:
        raise ValueError(f"gap_days must be a number of days >= 0, got {gap_days!r}")
    if treatment[subject_col].duplicated().any():
        raise ValueError(f"treatment must have one row per {subject_col}")
    trt = treatment[[subject_col, "TRTSDT", "TRTEDT", "PDDT"]].copy()
    for col in ("TRTSDT", "TRTEDT", "PDDT"):
        trt[col] = _dates(trt, col)
    unknown = sorted(set(samples[subject_col]) - set(trt[subject_col]))
    if unknown:
        raise ValueError(f"samples of subjects without treatment dates: {unknown[:5]}")
    out = samples.copy()
    joined = out[[subject_col]].merge(trt, on=subject_col, how="left")
    date = _dates(out, date_col).to_numpy()
    start = joined["TRTSDT"].to_numpy()
    end = joined["TRTEDT"].to_numpy()
    pd_date = joined["PDDT"].to_numpy()
    if undated not in ("keep", "exclude"):
        raise ValueError(f"undated must be 'keep' or 'exclude', got {undated!r}")
    no_date = pd.isna(date)
    day = (date - start) / np.timedelta64(1, "D")
    since_last = (date - end) / np.timedelta64(1, "D")
    is_base = out[visit_col].astype(str).eq(baseline_visit).to_numpy()
    pre = (day < 0) | ((day == 0) & is_base)
    on = ~pre & (np.isnan(since_last) | (since_last <= gap_days))
    phase = np.where(pre, PHASE_PRE, np.where(on, PHASE_ON, PHASE_OFF))
    lows = out[visit_col].map(lambda v: windows.get(str(v), (math.nan, math.nan))[0])
    highs = out[visit_col].map(lambda v: windows.get(str(v), (math.nan, math.nan))[1])
    has_window = lows.notna().to_numpy()
    inside = (day >= lows.to_numpy(dtype=float)) & (day <= highs.to_numpy(dtype=float))
    window = np.where(has_window, np.where(inside, "Y", "N"), None)
    before_pd = pd.isna(pd_date) | (date < pd_date)
    phase = np.where(no_date, PHASE_UNKNOWN, phase)
    window = np.where(no_date, None, window)
    reasons = []
    for k in range(len(out)):
        why = []
        if no_date[k]:
            reasons.append("no sample date: timing unknown" if undated == "exclude" else "")
            continue
        if is_base[k]:
            if not pre[k]:
                why.append("baseline sample after the first dose")
        else:
            if phase[k] == PHASE_PRE:
                why.append("follow-up sample before the first dose")
            elif phase[k] == PHASE_OFF:
                why.append(f"off treatment ({since_last[k]:.0f} days after the last dose)")
            if not before_pd[k]:
                why.append("on or after progression")
        if window[k] == "N":
            why.append(f"outside the {out[visit_col].iloc[k]} window (day {day[k]:.0f})")
        elif window[k] is None:
            why.append("visit without a window")
        reasons.append("; ".join(why))
    out["TRTDAY"] = day
    out["DSLDOSE"] = since_last
    out["TRTPHASE"] = phase
    out["ONTRTFL"] = np.where(no_date, None, np.where(on, "Y", "N"))
    out["WINDOWFL"] = window
    out["PREPDFL"] = np.where(no_date, None, np.where(before_pd, "Y", "N"))
    out["ANLFL"] = np.where([r == "" for r in reasons], "Y", "N")
    out["ANLRSN"] = reasons
    return out


@dataclass(frozen=True)
class LandmarkSamples:
    """Result of :func:`derive_landmark_samples`.

    Attributes
    ----------
    included : pandas.DataFrame
        Samples drawn on or before the landmark.
    excluded : pandas.DataFrame
        Samples drawn after the landmark: ``subject, visit, date, TRTDAY, reason``.
    landmark_months : float
        The landmark.
    """

    included: pd.DataFrame
    excluded: pd.DataFrame
    landmark_months: float


def derive_landmark_samples(
    samples: pd.DataFrame,
    landmark_months: float,
    day_col: str = "TRTDAY",
    visit_col: str = "AVISIT",
    subject_col: str = "USUBJID",
) -> LandmarkSamples:
    """Split samples into those known at the landmark and those drawn after it (listed).

    Method: a covariate may enter a landmark analysis only if measured on or before the landmark
    (Anderson et al. 1983); a sample on day d (from the first dose) is late when
    d > ``landmark_months`` × 365.25/12. Late samples are excluded and listed with the reason.

    Returns
    -------
    LandmarkSamples
    """
    validate_frame(samples, "samples", [subject_col, visit_col, day_col])
    if isinstance(landmark_months, bool) or not landmark_months > 0:
        raise ValueError(f"landmark_months must be > 0, got {landmark_months!r}")
    limit = float(landmark_months) * DAYS_PER_MONTH
    late = samples[day_col].to_numpy(dtype=float) > limit
    excluded = samples.loc[late, [subject_col, visit_col, day_col]].copy()
    excluded["reason"] = [
        f"sample on day {d:.0f}, after the {landmark_months:.2f}-month landmark (day {limit:.0f})"
        for d in excluded[day_col]
    ]
    return LandmarkSamples(
        samples.loc[~late].reset_index(drop=True),
        excluded.reset_index(drop=True),
        float(landmark_months),
    )
