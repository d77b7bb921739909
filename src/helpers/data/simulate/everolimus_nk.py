"""Synthetic demo cohort, everolimus / NK trial: granzyme B, NK flow cytometry and rpS6 western
blots at baseline, M3 and M9, the clinical course, and the true values the analysis estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.simulate.clinical import (
    Course,
    _check_rng_scale,
    _clinical_truths,
    _course_summary,
    _draw_characteristics,
    _ensure_measurable,
    _finish_course,
    _first_visit_at_or_after,
    _float_or_none,
    _frame,
    _patients_table,
    _simulate_clinical,
    _sizes,
    _sorted,
    _subject_ids,
    _truth,
    _uniform_days,
    _yn,
)
from helpers.data.simulate.models import (
    _CLASS_PD,
    _CLASS_RESPONSE,
    _CLASS_SD,
    _LN2,
    _NK,
    DAYS_PER_MONTH,
    EVEROLIMUS_COURSE,
    EVEROLIMUS_PATIENTS,
    FLOW_MODEL,
    GZMB_MODEL,
    STUDY_CALENDAR,
    TABLE_COLUMNS,
    TRIAL_EVEROLIMUS,
    TRUTH_DRAWS,
    TRUTH_SEED,
    WB_MODEL,
    EverolimusCourseModel,
    FlowReadout,
    GranzymeBModel,
    NkFlowModel,
    WesternBlotModel,
    _day,
    _iso,
)


def _draw_everolimus_course(
    rng: np.random.Generator, z: np.ndarray, m: EverolimusCourseModel
) -> Course:
    """Exponential latent PFS with hazard ratio ``hr**(-z)``; classes follow from the PD visit.

    ``z`` is the patient's deviation of log(GzmB M3/BASELINE) from the population mean, so a
    larger decrease (z < 0) gives a shorter PFS (Bender et al. 2005 inversion method).
    """
    n = len(z)
    rate = _LN2 / m.pfs_median_days * np.exp(-math.log(m.hr_per_log_gzmb_decrease) * z)
    latent = rng.exponential(1.0, n) / rate
    period = 7 * m.visit_weeks
    k_pd, pd_day = _first_visit_at_or_after(rng, latent, period, np.ones(n, dtype=int))
    responder = (k_pd >= 3) & (rng.random(n) < m.p_responder_if_progression_free_at_w24)
    cls = np.where(responder, _CLASS_RESPONSE, np.where(k_pd >= 2, _CLASS_SD, _CLASS_PD))
    k_resp = np.where(responder, 1, 0)
    complete = responder & (rng.random(n) < m.p_complete_response)
    return _finish_course(rng, m, cls, k_resp, complete, (k_pd, pd_day))


# --------------------------------------------------------------------------------------------
# Everolimus / NK trial: biomarkers
# --------------------------------------------------------------------------------------------
_BIOMARKER_VISITS = ("BASELINE", "M3", "M9")


def _correlated_log_normal(
    rng: np.random.Generator, n: int, log_sd: float, rho: float, log_effects: Sequence[float]
) -> np.ndarray:
    """(n, visits) log-scale deviations: random intercept (variance rho) + visit noise."""
    b = rng.normal(0.0, log_sd * math.sqrt(rho), (n, 1))
    e = rng.normal(0.0, log_sd * math.sqrt(1.0 - rho), (n, len(log_effects)))
    return b + e + np.asarray(log_effects)


def _sample_days(rng: np.random.Generator, consent_gap: np.ndarray) -> np.ndarray:
    """(n, 3) sample days from first dose for BASELINE, M3, M9.

    The baseline sample is drawn 0-7 days before the first dose but never before consent
    (``consent_gap`` = days from inclusion to first dose).
    """
    n = len(consent_gap)
    window = np.minimum(7, consent_gap) + 1
    return np.column_stack(
        [
            -np.floor(rng.random(n) * window).astype(int),
            91 + _uniform_days(rng, -7, 7, n),
            274 + _uniform_days(rng, -10, 10, n),
        ]
    )


#: Days of the deliberately late month-3 samples of the demo (no random draw): one inside a
#: +/-14-day window but after a 3.0-month landmark, one outside the window and after the landmark
#: that follows the window's end; they show how the analysis lists such samples.
_LATE_M3_DAYS = (101, 112)


def _late_m3_samples(days: np.ndarray, course: Course, last_alive: np.ndarray) -> np.ndarray:
    """Move the M3 sample of the first progression-free-at-day-150 patients to a later day."""
    out = days.copy()
    ok = np.flatnonzero((course.event_day > 150) & (last_alive > 150))
    for k, day in zip(ok[: len(_LATE_M3_DAYS)], _LATE_M3_DAYS, strict=False):
        out[k, 1] = day
    return out


def _gzmb_available(
    rng: np.random.Generator,
    days: np.ndarray,
    last_alive: np.ndarray,
    progressed_before: np.ndarray,
    m: GranzymeBModel,
) -> np.ndarray:
    """(n, 3) sample availability: alive, plus dropout after progression at M9."""
    n = len(days)
    avail = days <= last_alive[:, None]
    avail[:, 1] &= rng.random(n) >= m.p_missing_m3
    p9 = np.where(
        progressed_before, m.p_missing_m9_after_progression, m.p_missing_m9_progression_free
    )
    avail[:, 2] &= rng.random(n) >= p9
    return avail


def _long_visits(ids: np.ndarray, start: np.ndarray, days: np.ndarray, avail: np.ndarray):
    """Patient-visit long format (row-major: patient, then visit) of available samples."""
    pi, vi = np.nonzero(avail)
    return pi, vi, ids[pi], np.asarray(_BIOMARKER_VISITS)[vi], start[pi] + days[pi, vi]


def _gzmb_table(
    ids: np.ndarray,
    start: np.ndarray,
    days: np.ndarray,
    avail: np.ndarray,
    log_values: np.ndarray,
    m: GranzymeBModel,
) -> pd.DataFrame:
    pi, vi, sid, visit, day = _long_visits(ids, start, days, avail)
    value = m.baseline_geomean_pg_ml * np.exp(log_values[pi, vi])
    below = value < m.lloq_pg_ml
    data = {
        "subject_id": sid,
        "visit": visit,
        "sample_date": _iso(day),
        "gzmb_pg_ml": _float_or_none(np.where(below, np.nan, value), 1),
        "lloq_pg_ml": m.lloq_pg_ml,
        "below_lloq": _yn(below),
    }
    return _frame(TABLE_COLUMNS[TRIAL_EVEROLIMUS]["granzyme_b"], data)


def _flow_values(rng: np.random.Generator, n: int, m: NkFlowModel) -> dict[str, np.ndarray]:
    """(n, 3) values of every read-out; CD56dim = 100 - CD56bright."""
    out = {}
    for r in m.readouts:
        if r.key == "cd56dim_pct":
            continue
        effects = [0.0, math.log(r.ratio_m3), math.log(r.ratio_m9)]
        dev = _correlated_log_normal(rng, n, r.log_sd, m.within_subject_correlation, effects)
        out[r.key] = r.geomean * np.exp(dev)
    out["cd56dim_pct"] = 100.0 - out["cd56bright_pct"]
    for r in m.readouts:
        if r.statistic == "freq_of_parent":
            out[r.key] = np.minimum(out[r.key], 99.9)
    return out


def _flow_table(
    rng: np.random.Generator,
    ids: np.ndarray,
    start: np.ndarray,
    days: np.ndarray,
    avail: np.ndarray,
    m: NkFlowModel,
) -> pd.DataFrame:
    """FlowJo long export: one row per sample x read-out (plus NK event counts)."""
    n = len(ids)
    values = _flow_values(rng, n, m)
    ok = avail & (rng.random(avail.shape) >= m.p_sample_failure)
    pi, vi, sid, visit, day = _long_visits(ids, start, days, ok)
    events = (
        m.acquired_events
        * values["lymphocytes_pct"]
        * values["singlets_pct"]
        * values["cd3neg_pct"]
        * values["nk_pct"]
        / 1e8
    )
    readouts = [
        *m.readouts,
        FlowReadout("nk_events", "none", _NK, "count", "", 0.0, 0.0, analysed=False),
    ]
    values["nk_events"] = np.round(events)
    blocks = []
    for r in readouts:
        decimals = {"median_fi": 0, "count": 0, "count_per_ul": 1}.get(r.statistic, 2)
        blocks.append(
            pd.DataFrame(
                {
                    "s": np.arange(len(pi)),
                    "subject_id": sid,
                    "visit": visit,
                    "sample_date": _iso(day),
                    "stimulation": r.stimulation,
                    "population": r.population,
                    "statistic": r.statistic,
                    "marker": r.marker or None,
                    "value": np.round(values[r.key][pi, vi], decimals),
                }
            )
        )
    df = pd.concat(blocks, ignore_index=True).sort_values(["s"], kind="stable")
    return _frame(TABLE_COLUMNS[TRIAL_EVEROLIMUS]["nk_flow"], df.reset_index(drop=True))


def _pack_membranes(pi: np.ndarray, per_membrane: int) -> np.ndarray:
    """Membrane index of each sample lane; a patient's samples stay on one membrane."""
    membrane = np.zeros(len(pi), dtype=int)
    current, used, j = 0, 0, 0
    while j < len(pi):
        k = j
        while k < len(pi) and pi[k] == pi[j]:
            k += 1
        if used + (k - j) > per_membrane:
            current, used = current + 1, 0
        membrane[j:k] = current
        used += k - j
        j = k
    return membrane


def _wb_table(
    rng: np.random.Generator,
    ids: np.ndarray,
    avail: np.ndarray,
    m: WesternBlotModel,
    sample_day: np.ndarray,
) -> pd.DataFrame:
    """Densitometry: p/total rpS6 ratio x membrane x lane effects; calibrator on lane 1."""
    n = len(ids)
    effects = [0.0, math.log(m.ratio_m3), math.log(m.ratio_m9)]
    log_ratio = math.log(m.baseline_ratio_geomean) + _correlated_log_normal(
        rng, n, m.ratio_log_sd, m.within_subject_correlation, effects
    )
    total_level = rng.lognormal(0.0, 0.2, n)
    ok = avail & (rng.random(avail.shape) >= m.p_sample_missing)
    pi, vi = np.nonzero(ok)
    membrane = _pack_membranes(pi, m.sample_lanes_per_membrane)
    n_mem = int(membrane.max()) + 1 if len(pi) else 0
    lane = np.concatenate([np.arange(2, 2 + c) for c in np.bincount(membrane, minlength=n_mem)])
    mem_eff = rng.lognormal(0.0, m.membrane_log_sd, (n_mem, 3))
    ref = np.asarray(m.band_reference_intensity)
    # samples: (lanes, 3 bands): p_rpS6, total_rpS6, loading_control
    s_level = np.column_stack(
        [np.exp(log_ratio[pi, vi]) * total_level[pi], total_level[pi], np.ones(len(pi))]
    )
    s_load = rng.lognormal(0.0, m.lane_loading_log_sd, (len(pi), 1))
    s_int = ref * s_level * s_load * mem_eff[membrane] * _band_noise(rng, len(pi), m)
    c_load = rng.lognormal(0.0, m.lane_loading_log_sd, (n_mem, 1))
    c_int = ref * c_load * mem_eff * _band_noise(rng, n_mem, m)
    saturated = np.zeros_like(s_int, dtype=bool)
    _flag_saturation_and_undetectable(rng, s_int, saturated, vi, log_ratio[pi, vi], m)
    frame = _wb_frame(ids, pi, vi, membrane, lane, s_int, saturated, c_int)
    # the PBMC pellet of a lane comes from the visit's blood draw (same date as the plasma)
    dates = dict(zip(zip(ids[pi], vi, strict=True), _iso(sample_day[pi, vi]), strict=True))
    visit_index = {v: i for i, v in enumerate(_BIOMARKER_VISITS)}
    frame["sample_date"] = [
        dates.get((sid, visit_index.get(v))) if lt == "sample" else None
        for sid, v, lt in zip(frame["subject_id"], frame["visit"], frame["lane_type"], strict=True)
    ]
    return frame


def _wb_hours_since_dose(wb: pd.DataFrame, eot: pd.DataFrame) -> pd.DataFrame:
    """Hours since the last everolimus intake of each sample lane (no random draw).

    On treatment the draw is a pre-dose trough (24 h after the previous daily dose); after the
    last dose, 24 h + 24 h per day since it; empty at baseline and on calibrator lanes.
    """
    last = pd.to_datetime(eot.set_index("subject_id")["date_last_dose"])
    drawn = pd.to_datetime(wb["sample_date"])
    stop = wb["subject_id"].map(last)
    days_after = (drawn - stop).dt.days
    hours = np.where(days_after.fillna(-1) > 0, 24.0 + 24.0 * days_after.fillna(0), 24.0)
    keep = wb["lane_type"].eq("sample") & wb["visit"].ne("BASELINE")
    out = wb.copy()
    out["hours_since_last_dose"] = np.where(keep, hours, np.nan)
    out["calibrator_load"] = np.where(out["lane_type"].eq("calibrator"), 1.0, np.nan)
    out["background"] = _wb_background(out)
    return _frame(TABLE_COLUMNS[TRIAL_EVEROLIMUS]["western_blot"], out)


def _wb_background(wb: pd.DataFrame) -> np.ndarray:
    """Local background volume of each band: 1 % of the band's reference intensity x a
    deterministic +/-25 % lane pattern (no random draw, so the cohort's other values are
    unchanged)."""
    bands = ("p_rpS6", "total_rpS6", "loading_control")
    ref = dict(zip(bands, WB_MODEL.band_reference_intensity, strict=True))
    pattern = 1.0 + 0.25 * np.sin(1.7 * wb["lane"].to_numpy(float) + 0.9 * np.arange(len(wb)))
    return np.round(0.01 * wb["band"].map(ref).to_numpy(float) * pattern, 1)


def _band_noise(rng: np.random.Generator, n: int, m: WesternBlotModel) -> np.ndarray:
    return rng.lognormal(0.0, m.band_noise_log_sd, (n, 3))


def _flag_saturation_and_undetectable(
    rng: np.random.Generator,
    s_int: np.ndarray,
    saturated: np.ndarray,
    vi: np.ndarray,
    log_ratio: np.ndarray,
    m: WesternBlotModel,
) -> None:
    """1-2 saturated bands (volume under-read) and the most inhibited M3 lane undetectable."""
    n_sat = min(len(s_int), int(rng.integers(m.saturated_lanes[0], m.saturated_lanes[1] + 1)))
    lanes = rng.choice(len(s_int), size=n_sat, replace=False)
    bands = rng.choice([0, 2], size=n_sat)  # p_rpS6 or beta-actin saturates
    saturated[lanes, bands] = True
    s_int[lanes, bands] *= 0.75
    m3 = np.flatnonzero(vi == 1)
    if len(m3):
        lowest = m3[np.argsort(log_ratio[m3], kind="stable")[: m.undetectable_m3_lanes]]
        s_int[lowest, 0] = 0.0
        saturated[lowest, 0] = False


def _wb_frame(
    ids: np.ndarray,
    pi: np.ndarray,
    vi: np.ndarray,
    membrane: np.ndarray,
    lane: np.ndarray,
    s_int: np.ndarray,
    saturated: np.ndarray,
    c_int: np.ndarray,
) -> pd.DataFrame:
    bands = np.array(["p_rpS6", "total_rpS6", "loading_control"])
    n_mem = len(c_int)
    sample = pd.DataFrame(
        {
            "membrane": np.repeat(membrane, 3),
            "lane": np.repeat(lane, 3),
            "lane_type": "sample",
            "subject_id": np.repeat(ids[pi], 3),
            "visit": np.repeat(np.asarray(_BIOMARKER_VISITS)[vi], 3),
            "band": np.tile(bands, len(pi)),
            "intensity": s_int.ravel(),
            "saturated": _yn(saturated.ravel()),
        }
    )
    calib = pd.DataFrame(
        {
            "membrane": np.repeat(np.arange(n_mem), 3),
            "lane": 1,
            "lane_type": "calibrator",
            "subject_id": None,
            "visit": None,
            "band": np.tile(bands, n_mem),
            "intensity": c_int.ravel(),
            "saturated": "N",
        }
    )
    df = pd.concat([calib, sample], ignore_index=True)
    df = df.sort_values(["membrane", "lane"], kind="stable").reset_index(drop=True)
    df["membrane_id"] = [f"WB{k + 1:02d}" for k in df["membrane"]]
    df["intensity"] = np.round(df["intensity"].astype(float), 1)
    return df


# --------------------------------------------------------------------------------------------
# Everolimus / NK trial
# --------------------------------------------------------------------------------------------
def simulate_everolimus_nk(rng: np.random.Generator, scale: float = 1) -> dict[str, pd.DataFrame]:
    """Simulate the raw tables of the everolimus / NK trial.

    ``36 * scale`` women with HR+/HER2- metastatic breast cancer are included (2023-03 to
    2025-09) and treated with everolimus 10 mg/day + exemestane. Plasma granzyme B, NK flow
    read-outs and the rpS6 phospho/total ratio are log-normal with a random patient intercept
    (within-subject correlation 0.6) and fixed visit effects (:class:`GranzymeBModel`,
    :class:`NkFlowModel`, :class:`WesternBlotModel`). Progression-free survival is exponential with
    proportional hazards on the patient's GzmB change (HR 1.5 per log-unit decrease; Bender et al.
    2005), observed at 12-weekly RECIST 1.1 assessments.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the only one used).
    scale : float
        Cohort size multiplier; 1 gives the registry size (36 patients).

    Returns
    -------
    dict of str to DataFrame
        ``patients, exposure, end_of_treatment, tumour_lesions, survival, adverse_events,
        granzyme_b, nk_flow, western_blot`` with exactly the columns of
        ``docs/data_dictionary.md`` (:data:`TABLE_COLUMNS`).
    """
    _check_rng_scale(rng, scale)
    n = _sizes(scale, 36)
    chars = _draw_characteristics(rng, n, EVEROLIMUS_PATIENTS)
    chars["sites"] = _ensure_measurable(chars["sites"], np.ones(n, dtype=bool))
    cal = STUDY_CALENDAR[TRIAL_EVEROLIMUS]
    incl = np.sort(_uniform_days(rng, _day(cal["inclusion_start"]), _day(cal["inclusion_end"]), n))
    start = incl + _uniform_days(rng, 3, 21, n)
    ids = _subject_ids(EVEROLIMUS_PATIENTS.prefix, chars["site_idx"], incl)
    g = GZMB_MODEL
    log_gzmb = _correlated_log_normal(
        rng,
        n,
        g.log_sd,
        g.within_subject_correlation,
        [0.0, math.log(g.ratio_m3), math.log(g.ratio_m9)],
    )
    z = (log_gzmb[:, 1] - log_gzmb[:, 0]) - math.log(g.ratio_m3)
    course = _draw_everolimus_course(rng, z, EVEROLIMUS_COURSE)
    clin = _simulate_clinical(rng, TRIAL_EVEROLIMUS, ids, start, chars["sites"], course, scale)
    days = _sample_days(rng, start - incl)
    days = _late_m3_samples(days, course, np.array([t.last_alive for t in clin.timelines]))
    last_alive = np.array([t.last_alive for t in clin.timelines])
    progressed = np.array([t.pd_observed for t in clin.timelines]) & (course.pd_day < days[:, 2])
    avail = _gzmb_available(rng, days, last_alive, progressed, g)
    tables = {"patients": _patients_table(chars, ids, incl, start), **clin.tables}
    tables["granzyme_b"] = _gzmb_table(ids, start, days, avail, log_gzmb, g)
    tables["nk_flow"] = _flow_table(rng, ids, start, days, avail, FLOW_MODEL)
    tables["western_blot"] = _wb_table(rng, ids, avail, WB_MODEL, start[:, None] + days)
    tables["western_blot"] = _wb_hours_since_dose(
        tables["western_blot"], tables["end_of_treatment"]
    )
    return _sorted(tables)


def _flow_truths() -> dict[str, Any]:
    """Ratio of geometric means M3/BASELINE and M9/BASELINE of every analysed read-out."""
    m = FLOW_MODEL
    out = {}
    bright = next(r for r in m.readouts if r.key == "cd56bright_pct")
    z = np.random.default_rng(TRUTH_SEED).normal(0.0, bright.log_sd, TRUTH_DRAWS)
    for r in m.readouts:
        if not r.analysed:
            continue
        if r.key == "cd56dim_pct":  # 100 - CD56bright: Monte Carlo on the same normal draws
            dim = [
                np.mean(np.log(100.0 - bright.geomean * ratio * np.exp(z)))
                for ratio in (1.0, bright.ratio_m3, bright.ratio_m9)
            ]
            ratios = (math.exp(dim[1] - dim[0]), math.exp(dim[2] - dim[0]))
            method = f"Monte Carlo, {TRUTH_DRAWS} draws, seed {TRUTH_SEED}"
        else:
            ratios, method = (r.ratio_m3, r.ratio_m9), "parameter"
        out[r.key] = {
            "population": r.population,
            "statistic": r.statistic,
            "marker": r.marker,
            "stimulation": r.stimulation,
            "ratio_geomean_m3_vs_baseline": round(ratios[0], 6),
            "ratio_geomean_m9_vs_baseline": round(ratios[1], 6),
            "method": method,
        }
    return out


def compute_everolimus_truths() -> dict[str, dict[str, Any]]:
    """True values of the everolimus / NK estimands under the generative models.

    Biomarker effects are model parameters (ratios of geometric means are exp of the log-scale
    visit effects); clinical quantities are Monte Carlo estimates with a fixed seed, drawing the
    GzmB change that modulates the progression hazard from its model distribution.

    Returns
    -------
    dict
        name -> ``{"value", "definition", "method"}``; ``nk_marker_effects`` holds, per flow
        read-out, its gate path, statistic, marker, stimulation and the M3 and M9 ratios.
    """
    g, wb, cm = GZMB_MODEL, WB_MODEL, EVEROLIMUS_COURSE
    rng = np.random.default_rng(TRUTH_SEED)
    z = rng.normal(
        0.0, g.log_sd * math.sqrt(2.0 * (1.0 - g.within_subject_correlation)), TRUTH_DRAWS
    )
    course = _draw_everolimus_course(rng, z, cm)
    latent_median = float(
        np.median(
            rng.exponential(1.0, TRUTH_DRAWS)
            / (_LN2 / cm.pfs_median_days * np.exp(-math.log(cm.hr_per_log_gzmb_decrease) * z))
        )
    )
    truths = {
        "gzmb_baseline_geomean_pg_ml": _truth(
            g.baseline_geomean_pg_ml, "geometric mean plasma GzmB at baseline", "parameter"
        ),
        "gzmb_m3_ratio_geomean": _truth(
            g.ratio_m3, "ratio of geometric means GzmB M3/BASELINE (paired)", "parameter"
        ),
        "gzmb_m9_ratio_geomean": _truth(
            g.ratio_m9, "ratio of geometric means GzmB M9/BASELINE (paired)", "parameter"
        ),
        "gzmb_log_sd": _truth(g.log_sd, "SD of log GzmB at any visit", "parameter"),
        "gzmb_within_subject_correlation": _truth(
            g.within_subject_correlation, "correlation of log GzmB between visits", "parameter"
        ),
        "nk_marker_effects": _truth(
            _flow_truths(),
            "ratios of geometric means vs BASELINE per flow read-out (all others null = 1)",
            "parameter / Monte Carlo",
        ),
        "rps6_inhibition_m3_pct": _truth(
            100.0 * (1.0 - wb.ratio_m3),
            "100 x (1 - ratio of geometric means M3/BASELINE of "
            "the calibrator-normalised p-rpS6/total-rpS6 ratio)",
            "parameter",
        ),
        "rps6_inhibition_m9_pct": _truth(
            100.0 * (1.0 - wb.ratio_m9), "as above at M9", "parameter"
        ),
        "pfs_hr_per_log_gzmb_decrease": _truth(
            cm.hr_per_log_gzmb_decrease,
            "hazard ratio of latent (continuous-time) progression "
            "per 1-unit decrease of log(GzmB M3/BASELINE); observed PFS is interval-censored "
            "at 12-weekly assessments, so a Cox estimate is slightly attenuated",
            "parameter",
        ),
        "evero_pfs_median_months_latent": _truth(
            latent_median / DAYS_PER_MONTH,
            "median of the latent continuous progression time",
            f"Monte Carlo, {TRUTH_DRAWS} draws, seed {TRUTH_SEED}",
        ),
    }
    truths.update(_clinical_truths("evero", _course_summary(course), cm.visit_weeks))
    return truths
