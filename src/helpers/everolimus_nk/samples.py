"""Everolimus / NK: timing of every biomarker sample and the granzyme B estimand views.

Glue between the trial's datasets (``adsl``, ``adtte``, ``adbm``, ``adwb``) and the generic
:mod:`helpers.endpoints.timing` flags: first and last everolimus dose, progression date, visit
windows. The primary analyses follow the estimand (samples drawn while on everolimus, inside the
visit window and before progression: ``ANLFL = "Y"``); the treatment-policy view (every sample,
whatever happened before it) is the sensitivity analysis.

References
----------
ICH E9(R1) addendum on estimands and sensitivity analysis, 2019.
Hornung RW, Reed LD. Appl Occup Environ Hyg 1990;5:46-51 (LLOQ/2 substitution).
Lubin JH et al. Environ Health Perspect 2004;112:1691-1696 (censored likelihood for values < LLOQ).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers import results
from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import power, stats, timevarying, timing
from helpers.everolimus_nk import flow
from helpers.results import TESTED_ESTIMATE_COLUMNS, empty_estimate_row

__all__ = [
    "VIEW_POLICY",
    "VIEW_WHILE_ON",
    "compute_gzmb_estimand_views",
    "compute_gzmb_level",
    "compute_gzmb_power",
    "compute_time_varying_pfs",
    "derive_biomarker_timing",
    "derive_early_samples",
    "derive_treatment_dates",
    "derive_trial_windows",
    "select_primary_samples",
    "summarise_dose_at_samples",
    "summarise_sample_timing",
    "summarise_views_in_words",
]

VIEW_WHILE_ON = "while on treatment (primary)"
VIEW_POLICY = "treatment policy (sensitivity)"
_EST = list(TESTED_ESTIMATE_COLUMNS)


def derive_trial_windows(
    visit_target_days: Mapping[str, float], visit_window_days: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """Visit windows (days from the first dose) from the parameters; see
    :func:`helpers.endpoints.timing.derive_visit_windows`."""
    return timing.derive_visit_windows(visit_target_days, visit_window_days)


def derive_treatment_dates(adsl: pd.DataFrame, adtte: pd.DataFrame) -> pd.DataFrame:
    """First and last everolimus dose and the date of documented progression per treated patient.

    ``PDDT`` is the PFS event date when the event is a documented progression (``CNSR = 0`` and
    ``EVNTDESC`` naming progression); deaths without progression and censored patients get NaT.

    Returns
    -------
    pandas.DataFrame
        ``USUBJID, TRTSDT, TRTEDT, PDDT``.
    """
    validate_frame(adsl, "adsl", ["USUBJID", "TRTFL", "TRTSDT", "TRTEDT"])
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "ADT", "CNSR", "EVNTDESC"])
    pfs = adtte[adtte["PARAMCD"].eq("PFS")]
    progressed = (
        pfs["CNSR"].eq(0)
        & pfs["EVNTDESC"].astype(str).str.contains("progression", case=False)
        & ~pfs["EVNTDESC"].astype(str).str.contains("without", case=False)
    )
    pd_dates = pfs.loc[progressed, ["USUBJID", "ADT"]].rename(columns={"ADT": "PDDT"})
    treated = adsl.loc[adsl["TRTFL"].eq("Y"), ["USUBJID", "TRTSDT", "TRTEDT"]]
    out = treated.merge(pd_dates, on="USUBJID", how="left")
    for col in ("TRTSDT", "TRTEDT", "PDDT"):
        out[col] = pd.to_datetime(out[col])
    return out.reset_index(drop=True)


def derive_biomarker_timing(
    samples: pd.DataFrame,
    treatment_dates: pd.DataFrame,
    windows: Mapping[str, tuple[float, float]],
    gap_days: float,
) -> pd.DataFrame:
    """Timing flags on every biomarker sample (``adbm`` rows or ``adwb`` lanes with ``ADT``).

    Method: :func:`helpers.endpoints.timing.derive_sample_timing` (on treatment up to
    ``gap_days`` after the last dose, inside the visit window, before progression); samples of
    untreated patients are dropped (they have no treatment dates); samples without a date are
    kept at their nominal visit and shown as "timing unknown".

    Returns
    -------
    pandas.DataFrame
        ``samples`` of treated patients + :data:`helpers.endpoints.timing.TIMING_COLUMNS`.
    """
    validate_frame(samples, "samples", ["USUBJID", "AVISIT"])
    if "ADT" not in samples.columns:
        samples = samples.assign(ADT=pd.NaT)
    treated = samples[samples["USUBJID"].isin(treatment_dates["USUBJID"])]
    # an export without sample dates (optional for western blots) keeps its nominal visits; the
    # timing table then shows those samples as "timing unknown"
    return timing.derive_sample_timing(treated, treatment_dates, windows, gap_days, undated="keep")


def select_primary_samples(timed: pd.DataFrame) -> pd.DataFrame:
    """Samples of the primary (while-on-treatment, progression-free, in-window) analysis."""
    validate_frame(timed, "timed", ["ANLFL"])
    return timed[timed["ANLFL"].eq("Y")].reset_index(drop=True)


def summarise_sample_timing(timed: pd.DataFrame, label_col: str | None = "PARAMCD") -> pd.DataFrame:
    """Count samples per visit by timing: on/off treatment, after progression, out of window.

    Returns
    -------
    pandas.DataFrame
        One row per (label,) visit: ``samples``, ``pre-treatment``, ``on treatment``, ``off
        treatment``, ``on/after progression``, ``outside window``, ``analysed (ANLFL = Y)``,
        ``excluded from the primary analysis``.
    """
    need = ["USUBJID", "AVISIT", "TRTPHASE", "PREPDFL", "WINDOWFL", "ANLFL"]
    validate_frame(timed, "timed", need)
    keys = [label_col, "AVISIT"] if label_col else ["AVISIT"]
    g = timed.assign(
        _pre=timed["TRTPHASE"].eq(timing.PHASE_PRE),
        _on=timed["TRTPHASE"].eq(timing.PHASE_ON),
        _off=timed["TRTPHASE"].eq(timing.PHASE_OFF),
        _pd=timed["PREPDFL"].eq("N"),
        _win=timed["WINDOWFL"].eq("N"),
        _anl=timed["ANLFL"].eq("Y"),
        _unk=timed["TRTPHASE"].eq(timing.PHASE_UNKNOWN),
    ).groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "samples": g.size(),
            "pre-treatment": g["_pre"].sum(),
            "on treatment": g["_on"].sum(),
            "off treatment": g["_off"].sum(),
            "on/after progression": g["_pd"].sum(),
            "outside window": g["_win"].sum(),
            "timing unknown (no date)": g["_unk"].sum(),
            "analysed (ANLFL = Y)": g["_anl"].sum(),
        }
    )
    out["excluded from the primary analysis"] = out["samples"] - out["analysed (ANLFL = Y)"]
    return out.reset_index()


# --------------------------------------------------------------------------------------------
# granzyme B: level at the primary visit, and the change under each view and LLOQ handling
# --------------------------------------------------------------------------------------------


def _gzmb(timed: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    validate_frame(timed, "timed", ["USUBJID", "PARAMCD", "AVISIT", "AVAL", "LODFL", "ANLFL"])
    rows = timed[timed["PARAMCD"].eq(paramcd)]
    if rows.empty and flow.supplied_table_missing(timed, paramcd) is None:
        raise ValueError(f"no {paramcd} sample in the timed biomarker data")
    return rows  # empty: its optional table (granzyme_b) was not supplied


def compute_gzmb_level(
    timed: pd.DataFrame,
    visits: Sequence[str] = ("BASELINE", "M3"),
    paramcd: str = "GZMB",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Geometric mean granzyme B per visit under both views (the registry's "level at 3 months").

    Method: exp(mean ± t·SD/√N) of log values (t-based CI; values below the LLOQ at LLOQ/2 as
    in ``adbm``), over the samples of each view: while on treatment (``ANLFL = Y``) and
    treatment policy (every sample). Fewer than 2 samples: a "not estimable" row. Without any
    ``paramcd`` sample (table ``granzyme_b`` not supplied) every row says "not available: table
    granzyme_b not supplied".

    Returns
    -------
    pandas.DataFrame
        ``view, visit`` + estimate-table columns (``n`` = samples below the LLOQ).
    """
    ci_level = validate_ci_level(ci_level)
    rows = _gzmb(timed, paramcd)
    records = []
    for view, data in ((VIEW_WHILE_ON, rows[rows["ANLFL"].eq("Y")]), (VIEW_POLICY, rows)):
        for visit in visits:
            v = data[data["AVISIT"].eq(visit)]
            y = np.log(v["AVAL"].to_numpy(dtype=float))
            label = f"Granzyme B at {visit}: geometric mean (pg/mL), {view}"
            below = int(v["LODFL"].eq("Y").sum())
            base = {"view": view, "visit": visit, "parameter": label, "n": below, "N": len(y)}
            method = "geometric mean, t-based CI on log values (LLOQ/2 for values < LLOQ)"
            if len(y) < 2:
                note = f"not estimable: {len(y)} sample(s)"
                empty = empty_estimate_row(label, len(y), ci_level, method, note, n=below)
                records.append({**empty, **base})
                continue
            half = sps.t.ppf(0.5 + ci_level / 2, len(y) - 1) * y.std(ddof=1) / math.sqrt(len(y))
            records.append(
                {
                    **base,
                    "estimate": math.exp(y.mean()),
                    "ci_lower": math.exp(y.mean() - half),
                    "ci_upper": math.exp(y.mean() + half),
                    "ci_level": ci_level,
                    "method": method,
                    "p_value": math.nan,
                    "note": f"{below} value(s) below the LLOQ at LLOQ/2" if below else "",
                }
            )
    out = pd.DataFrame(records, columns=["view", "visit", *_EST])
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    return flow.derive_availability_notes(out, timed, paramcd)


def _pairs(rows: pd.DataFrame, reference: str, visit: str) -> pd.DataFrame:
    base = rows[rows["AVISIT"].eq(reference)].set_index("USUBJID")
    post = rows[rows["AVISIT"].eq(visit)].set_index("USUBJID")
    both = base.join(post, how="inner", lsuffix="_B", rsuffix="_P")
    return both.sort_index()


def compute_gzmb_estimand_views(
    timed: pd.DataFrame,
    visit: str = "M3",
    reference: str = "BASELINE",
    paramcd: str = "GZMB",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Ratio of geometric means visit/baseline under each view × each handling of values < LLOQ.

    Views: **while on treatment** (primary; both samples with ``ANLFL = Y``: pre-dose baseline,
    follow-up on everolimus, in window, before progression) and **treatment policy**
    (sensitivity; every sample). LLOQ handling: LLOQ/2 (primary, Hornung & Reed 1990), LLOQ
    (upper bound of the substitution), and the censored-normal (Tobit) likelihood on the paired
    log ratio (:func:`helpers.endpoints.stats.compute_censored_gmr`; Lubin et al. 2004). The
    substitution rows use the paired t-test on log values
    (:func:`helpers.endpoints.stats.compute_geometric_mean_ratio`). The LLOQ of a value below it
    is 2 × its LLOQ/2-imputed ``AVAL``.

    Returns
    -------
    pandas.DataFrame
        ``view, lloq_handling, role`` + estimate-table columns; the first row is the primary
        estimate (while on treatment, LLOQ/2). Without any ``paramcd`` sample (table
        ``granzyme_b`` not supplied) every row says "not available: table granzyme_b not
        supplied".
    """
    ci_level = validate_ci_level(ci_level)
    rows = _gzmb(timed, paramcd)
    out = []
    for view, data in ((VIEW_WHILE_ON, rows[rows["ANLFL"].eq("Y")]), (VIEW_POLICY, rows)):
        pairs = _pairs(data, reference, visit)
        b_half, p_half = pairs["AVAL_B"].to_numpy(float), pairs["AVAL_P"].to_numpy(float)
        cb, cp = pairs["LODFL_B"].eq("Y").to_numpy(), pairs["LODFL_P"].eq("Y").to_numpy()
        b_lloq = np.where(cb, 2 * b_half, b_half)
        p_lloq = np.where(cp, 2 * p_half, p_half)
        short = view.split(" (")[0]
        stem = f"Granzyme B {visit}/{reference}: ratio of geometric means"
        for handling, before, after in (
            ("LLOQ/2", b_half, p_half),
            ("LLOQ", b_lloq, p_lloq),
        ):
            label = f"{stem} ({short}; < LLOQ: {handling})"
            if len(before) >= 2:
                est = stats.compute_geometric_mean_ratio(before, after, label, ci_level)
            else:
                est = _not_estimable(label, len(before), ci_level, stats.METHOD_GMR)
            out.append(est.assign(view=view, lloq_handling=handling))
        label = (
            f"Granzyme B {visit}/{reference}: ratio of geometric means ({short}; < LLOQ: censored)"
        )
        tobit = stats.compute_censored_gmr(
            b_half, p_half, cb, cp, 2 * b_half, 2 * p_half, label, ci_level
        )
        out.append(tobit.assign(view=view, lloq_handling="censored likelihood (Tobit)"))
    table = pd.concat(out, ignore_index=True)
    primary = table["view"].eq(VIEW_WHILE_ON) & table["lloq_handling"].eq("LLOQ/2")
    table["role"] = np.where(primary, "primary", "sensitivity")
    if "note" not in table:
        table["note"] = ""
    table["note"] = table["note"].fillna("")
    table = flow.derive_availability_notes(table, timed, paramcd)
    return table[["view", "lloq_handling", "role", *_EST]]


def _not_estimable(label: str, n: int, ci_level: float, method: str) -> pd.DataFrame:
    note = f"not estimable: {n} complete pair(s)"
    row = pd.DataFrame([empty_estimate_row(label, n, ci_level, method, note)], columns=_EST)
    return row.astype({"n": "Int64", "N": "Int64"})  # as the estimated rows (no concat warning)


def derive_early_samples(timed: pd.DataFrame, landmark_months: float) -> timing.LandmarkSamples:
    """Samples allowed in an early-biomarker (landmark) analysis, and the listed exclusions.

    Method: only samples of the primary analysis (``ANLFL = Y``: on treatment, in window, before
    progression) drawn on or before the landmark
    (:func:`helpers.endpoints.timing.derive_landmark_samples`; Anderson et al. 1983). The
    excluded list holds every other sample with its reason (timing, progression, or drawn after
    the landmark), so no sample is dropped silently.

    Returns
    -------
    helpers.endpoints.timing.LandmarkSamples
        ``included`` (rows of ``timed``), ``excluded`` (``USUBJID, [PARAMCD,] AVISIT, TRTDAY,
        reason``), ``landmark_months``.
    """
    validate_frame(timed, "timed", ["USUBJID", "AVISIT", "TRTDAY", "ANLFL", "ANLRSN"])
    eligible = timed[timed["ANLFL"].eq("Y")]
    landmark = timing.derive_landmark_samples(eligible, landmark_months)
    cols = [c for c in ("USUBJID", "PARAMCD", "AVISIT", "TRTDAY") if c in timed.columns]
    not_eligible = timed.loc[timed["ANLFL"].eq("N"), [*cols, "ANLRSN"]].rename(
        columns={"ANLRSN": "reason"}
    )
    limit = landmark.landmark_months * timing.DAYS_PER_MONTH
    late = eligible.loc[eligible["TRTDAY"] > limit, cols].assign(
        reason=f"drawn after the {landmark.landmark_months:.2f}-month landmark (day {limit:.0f})"
    )
    excluded = pd.concat([not_eligible, late], ignore_index=True)
    return timing.LandmarkSamples(landmark.included, excluded, landmark.landmark_months)


def summarise_views_in_words(views: pd.DataFrame, timed: pd.DataFrame, visit: str = "M3") -> str:
    """Sentence comparing the primary (while on treatment) and treatment-policy GMRs.

    Generated from :func:`compute_gzmb_estimand_views` and the timing flags, so that notebook
    text never hard-codes a number. Without any granzyme B sample (table ``granzyme_b`` not
    supplied) the sentence says so.
    """
    validate_frame(views, "views", ["view", "lloq_handling", "N", "estimate", "ci_lower"])
    absent = flow.supplied_table_missing(timed, "GZMB")
    if absent:
        return f"Granzyme B at {visit}: {results.not_supplied_note(absent)}."
    m = timed[timed["AVISIT"].eq(visit) & timed["PARAMCD"].eq("GZMB")]
    reasons = m.loc[m["ANLFL"].eq("N"), "ANLRSN"]
    counts = {
        "off treatment": int(reasons.str.contains("off treatment").sum()),
        "on or after progression": int(reasons.str.contains("progression").sum()),
        "outside the window": int(reasons.str.contains("window").sum()),
    }

    def fmt(row: pd.Series) -> str:
        if pd.isna(row["estimate"]):
            return "not estimable"
        return (
            f"{row['estimate']:.2f} ({row['ci_lower']:.2f}–{row['ci_upper']:.2f}; "
            f"N = {row['N']}, p = {row['p_value']:.3f})"
        )

    pick = views[views["lloq_handling"].eq("LLOQ/2")]
    primary = pick[pick["view"].eq(VIEW_WHILE_ON)].iloc[0]
    policy = pick[pick["view"].eq(VIEW_POLICY)].iloc[0]
    detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    return (
        f"Of {len(m)} granzyme B samples at {visit}, {len(reasons)} do not meet the estimand "
        f"({detail or 'none'}; a sample can have several reasons). Ratio of geometric means "
        f"{visit}/baseline, LLOQ/2: while on treatment (primary) {fmt(primary)}; treatment "
        f"policy (all samples, sensitivity) {fmt(policy)}."
    )


def compute_time_varying_pfs(
    timed: pd.DataFrame,
    adtte: pd.DataFrame,
    markers: Sequence[str],
    log_scale: Mapping[str, bool],
    pp_unit: float = 10.0,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """PFS from the first dose vs each marker's current fall from baseline (time-dependent Cox).

    Method: per marker, the fall from the pre-dose baseline at each sample meeting the estimand
    (``ANLFL = Y``: on treatment, in window, before progression) — −log2 ratio for log-scale
    markers (per 2-fold decrease), −difference / ``pp_unit`` for percentages — enters a Cox
    model as a time-dependent covariate from the sample's day onwards (0 before the first
    follow-up sample; :func:`helpers.endpoints.timevarying.derive_time_varying_data`). No
    landmark is needed and no sample is used before it was drawn; samples on or after
    progression never enter. HR > 1: a larger current fall goes with a higher hazard.

    Returns
    -------
    pandas.DataFrame
        ``PARAMCD`` + estimate-table columns, one row per marker; a marker from an optional
        table that was not supplied (GZMB: ``granzyme_b``) reads "not available: table
        granzyme_b not supplied".
    """
    validate_frame(timed, "timed", ["USUBJID", "PARAMCD", "AVISIT", "AVAL", "TRTDAY", "ANLFL"])
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    pfs = adtte[adtte["PARAMCD"].eq("PFS")][["USUBJID", "AVAL", "CNSR"]]
    rows = []
    for m in markers:
        data = timed[timed["PARAMCD"].eq(m) & timed["ANLFL"].eq("Y")]
        base = data[data["AVISIT"].eq("BASELINE")].set_index("USUBJID")["AVAL"]
        post = data[data["AVISIT"].ne("BASELINE") & data["USUBJID"].isin(base.index)]
        ref = post["USUBJID"].map(base).to_numpy(float)
        value = post["AVAL"].to_numpy(float)
        if log_scale[m]:
            with np.errstate(divide="ignore", invalid="ignore"):
                fall = -np.log2(value / ref)
            unit = "2-fold decrease"
        else:
            fall = -(value - ref) / pp_unit
            unit = f"{pp_unit:g} percentage-point decrease"
        changes = pd.DataFrame(
            {
                "USUBJID": post["USUBJID"].to_numpy(),
                "TIME": post["TRTDAY"].to_numpy(float) / timing.DAYS_PER_MONTH,
                "VALUE": fall,
            }
        )
        long = timevarying.derive_time_varying_data(pfs[pfs["USUBJID"].isin(base.index)], changes)
        label = f"{m}: HR of progression per {unit} (current value, time-dependent)"
        rows.append(timevarying.compute_time_varying_cox(long, label, ci_level).assign(PARAMCD=m))
    out = pd.concat(rows, ignore_index=True)[["PARAMCD", *_EST]]
    for m in markers:  # a marker whose optional table was not supplied says so
        out = flow.derive_availability_notes(out, timed, m)
    return out


def summarise_dose_at_samples(timed_with_dose: pd.DataFrame) -> pd.DataFrame:
    """Samples per visit by the everolimus dose level in force on the sample date.

    Pre-treatment samples (``TRTPHASE``) are counted as "before first dose" even when drawn on
    the day of the first dose (pre-dose); off-treatment samples as "off treatment".

    Returns
    -------
    pandas.DataFrame
        ``AVISIT`` + one column per dose level ("dose level 0", "dose level -1", …) and the two
        categories above, sample counts.
    """
    validate_frame(timed_with_dose, "timed_with_dose", ["AVISIT", "TRTPHASE", "DOSELVL"])
    level = "dose level " + timed_with_dose["DOSELVL"].astype("Int64").astype(str)
    level = level.where(timed_with_dose["TRTPHASE"].ne(timing.PHASE_PRE), "before first dose")
    level = level.where(timed_with_dose["TRTPHASE"].ne(timing.PHASE_OFF), "off treatment")
    table = pd.crosstab(timed_with_dose["AVISIT"], level).reset_index()
    table.columns.name = None
    return table


def compute_gzmb_power(
    timed: pd.DataFrame,
    n_enrolled: int,
    visit: str = "M3",
    alpha: float = 0.05,
    power_target: float = 0.80,
    paramcd: str = "GZMB",
) -> pd.DataFrame:
    """Ratio of geometric means detectable with the enrolled and the evaluable numbers.

    Method: :func:`helpers.endpoints.power.compute_detectable_gmr` with σ_d = the observed SD of
    the paired log differences in the primary (while-on-treatment) view, for the enrolled
    number, the pairs of the primary analysis and the pairs of the treatment-policy view. Fewer
    than 2 primary pairs (no SD) or an SD of 0: every row "not estimable: <reason>"; no
    ``paramcd`` sample at all: "not available: table granzyme_b not supplied".

    Returns
    -------
    pandas.DataFrame
        As :func:`helpers.endpoints.power.compute_detectable_gmr`.
    """
    rows = _gzmb(timed, paramcd)
    primary = _pairs(rows[rows["ANLFL"].eq("Y")], "BASELINE", visit)
    policy = _pairs(rows, "BASELINE", visit)
    d = np.log(primary["AVAL_P"].to_numpy(float)) - np.log(primary["AVAL_B"].to_numpy(float))
    n_pairs = {
        "enrolled (treated)": n_enrolled,
        f"evaluable: {VIEW_WHILE_ON}": len(primary),
        f"evaluable: {VIEW_POLICY}": len(policy),
    }
    sd_log = float(np.std(d, ddof=1)) if len(d) >= 2 else math.nan
    if not (sd_log > 0 and math.isfinite(sd_log)):
        reason = (
            f"{len(d)} primary {visit} pair(s), no SD of the paired log differences"
            if len(d) < 2
            else f"SD of the {len(d)} primary {visit} paired log differences is {sd_log!r}"
        )
        out = power.compute_detectable_gmr_not_estimable(n_pairs, reason, alpha, power_target)
        return flow.derive_availability_notes(out, timed, paramcd)
    return power.compute_detectable_gmr(n_pairs, sd_log=sd_log, alpha=alpha, power=power_target)
