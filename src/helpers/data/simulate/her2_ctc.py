"""Synthetic demo cohort, HER2-CTC / T-DM1 trial: CTC screening with FISH and IF readings, the
treated cohort's course, CTC and ctDNA follow-up, and the true values the analysis estimates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from helpers.data.simulate.clinical import (
    Course,
    _check_rng_scale,
    _Clinical,
    _clinical_truths,
    _course_summary,
    _draw_characteristics,
    _ensure_measurable,
    _finish_course,
    _first_visit_at_or_after,
    _float_or_none,
    _frame,
    _patients_table,
    _PatientTimeline,
    _simulate_clinical,
    _sizes,
    _sorted,
    _subject_ids,
    _Treatment,
    _truth,
    _uniform_days,
    _yn,
)
from helpers.data.simulate.models import (
    _CLASS_PD,
    _CLASS_RESPONSE,
    _CLASS_SD,
    _IHC_CODES,
    _LN2,
    CTC_MODEL,
    HER2_COURSE,
    HER2_PATIENTS,
    STUDY_CALENDAR,
    TABLE_COLUMNS,
    TRIAL_HER2,
    TRUTH_DRAWS,
    TRUTH_SEED,
    CtcScreeningModel,
    Her2CourseModel,
    PatientModel,
    _day,
    _iso,
)


# --------------------------------------------------------------------------------------------
# HER2-CTC screening: CellSearch, FISH per cell (two readers), immunofluorescence
# --------------------------------------------------------------------------------------------
def _non_amplified_signals(
    rng: np.random.Generator, cep17: np.ndarray, m: CtcScreeningModel
) -> np.ndarray:
    """HER2 signals of a non-amplified cell: ratio < 2 and HER2 <= 5 (ASCO/CAP group 4 or 5)."""
    n = len(cep17)
    her2 = np.clip(cep17 + rng.choice([-1, 0, 1], size=n, p=[0.25, 0.5, 0.25]), 1, 2 * cep17 - 1)
    equivocal = (cep17 >= 3) & (rng.random(n) < m.p_equivocal_non_amplified)
    her2 = np.where(equivocal, rng.integers(4, 6, size=n), her2)
    return np.minimum(her2, np.minimum(2 * cep17 - 1, 5))


def _min_amplified_her2(cep17: np.ndarray) -> np.ndarray:
    """Fewest HER2 signals of an amplified cell: >= 6 and ratio >= 2.2 (ceil(2.2 x CEP17))."""
    return np.maximum(6, (11 * cep17 + 4) // 5)


def _amplified_signals(rng: np.random.Generator, cep17: np.ndarray) -> np.ndarray:
    """HER2 signals of an amplified cell: HER2 6-20 and ratio >= 2.2 (the trial's cut-off)."""
    return np.maximum(rng.integers(6, 21, size=len(cep17)), _min_amplified_her2(cep17))


#: Every BORDERLINE_EVERY-th non-amplified scoreable cell with CEP17 >= 3 is read at exactly
#: HER2/CEP17 = 2.0 (6/3 or 8/4): not amplified at the trial's 2.2, amplified at the ASCO/CAP
#: tissue ratio 2.0, so the demo exercises the 2.0-2.2 sensitivity analysis. Chosen by position,
#: not by a random draw, so the rest of the cohort is unchanged.
BORDERLINE_EVERY = 40


def _borderline_signals(
    amplified: np.ndarray, scoreable: np.ndarray, cep17: np.ndarray, her2: np.ndarray
) -> np.ndarray:
    """Set the HER2 count of every BORDERLINE_EVERY-th eligible cell to 2 x CEP17 (ratio 2.0)."""
    eligible = np.flatnonzero(~amplified & scoreable & (cep17 >= 3))
    chosen = eligible[BORDERLINE_EVERY // 2 :: BORDERLINE_EVERY]
    out = her2.copy()
    out[chosen] = 2 * cep17[chosen]
    return out


def _draw_cep17(rng: np.random.Generator, n: int, m: CtcScreeningModel) -> np.ndarray:
    return rng.choice(np.arange(1, 5), size=n, p=np.asarray(m.cep17_probs))


def _draw_screening_batch(
    rng: np.random.Generator, n: int, pm: PatientModel, m: CtcScreeningModel
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One batch of screened candidates with their R1 FISH cells (treatment depends on cells)."""
    chars = _draw_characteristics(rng, n, pm)
    latent = rng.random(n) < np.asarray(m.p_latent_amplified_by_ihc)[chars["ihc"]]
    cs_failed = rng.random(n) < m.p_cellsearch_failure
    p_nb = m.ctc_nb_size / (m.ctc_nb_size + m.ctc_nb_mean)
    count = rng.negative_binomial(m.ctc_nb_size, p_nb, size=n)
    attempted = ~cs_failed & (count >= 1)
    fish_failed = attempted & (rng.random(n) < m.p_fish_failure)
    reason = rng.choice(
        np.asarray(m.fish_failure_reasons), size=n, p=np.asarray(m.fish_failure_reason_probs)
    )
    frac = np.where(latent, rng.beta(*m.amplified_fraction_beta, size=n), 0.0)
    fish_done = attempted & ~fish_failed
    cells = _draw_r1_cells(
        rng, np.where(fish_done, np.minimum(count, m.max_cells_read), 0), frac, m
    )
    pid, amplified, scoreable = cells["pid"], cells["amplified"], cells["her2"] > 0
    detected = np.bincount(pid, weights=amplified & scoreable, minlength=n) > 0
    treated = detected & (rng.random(n) < m.p_treated_if_detected)
    pts = {
        **chars,
        "latent": latent,
        "cs_failed": cs_failed,
        "count": count,
        "fish_status": np.where(
            fish_done, "done", np.where(fish_failed, "technical_failure", "not_done")
        ),
        "fish_reason": np.where(fish_failed, reason, None),
        "detected": detected,
        "treated": treated,
    }
    return pts, cells


def _draw_r1_cells(
    rng: np.random.Generator, n_cells: np.ndarray, frac: np.ndarray, m: CtcScreeningModel
) -> dict[str, np.ndarray]:
    """Reader-1 FISH signals of the cells read (``n_cells`` per patient, amplified w.p. frac)."""
    pid = np.repeat(np.arange(len(n_cells)), n_cells)
    cell_no = np.arange(len(pid)) - np.repeat(np.cumsum(n_cells) - n_cells, n_cells) + 1
    amplified = rng.random(len(pid)) < frac[pid]
    scoreable = rng.random(len(pid)) >= m.p_cell_not_scoreable
    cep17 = _draw_cep17(rng, len(pid), m)
    her2 = np.where(
        amplified, _amplified_signals(rng, cep17), _non_amplified_signals(rng, cep17, m)
    )
    her2 = np.where(scoreable, her2, 0)  # no HER2 signal visible: cell not scoreable
    her2 = _borderline_signals(amplified, scoreable, cep17, her2)
    return {"pid": pid, "cell_no": cell_no, "amplified": amplified, "cep17": cep17, "her2": her2}


def _draw_screened(
    rng: np.random.Generator, n_treated: int, pm: PatientModel, m: CtcScreeningModel
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Screen candidates until ``n_treated`` are treated (the registry's stopping rule)."""
    batch = max(64, int(1.5 * n_treated / 0.1))
    pts_parts, cell_parts, offset, n_tr = [], [], 0, 0
    while n_tr < n_treated:
        pts, cells = _draw_screening_batch(rng, batch, pm, m)
        cells["pid"] = cells["pid"] + offset
        pts_parts.append(pts)
        cell_parts.append(cells)
        offset += batch
        n_tr += int(pts["treated"].sum())
    pts = {k: np.concatenate([p[k] for p in pts_parts]) for k in pts_parts[0]}
    cells = {k: np.concatenate([c[k] for c in cell_parts]) for k in cell_parts[0]}
    n_screened = int(np.searchsorted(np.cumsum(pts["treated"]), n_treated) + 1)
    pts = {k: v[:n_screened] for k, v in pts.items()}
    keep = cells["pid"] < n_screened
    return pts, {k: v[keep] for k, v in cells.items()}


def _reader2(
    rng: np.random.Generator, cells: dict[str, np.ndarray], n_pat: int, m: CtcScreeningModel
) -> dict[str, np.ndarray]:
    """Second reading of a random subset: same class with count noise, or flipped call."""
    pid = cells["pid"]
    chosen_pat = rng.random(n_pat) < m.p_reader2_patient
    sel = chosen_pat[pid] & (rng.random(len(pid)) < m.p_reader2_cell)
    first = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]]) if len(pid) else np.array([], int)
    has_sel = np.bincount(pid[sel], minlength=n_pat) > 0
    need = first[chosen_pat[pid[first]] & ~has_sel[pid[first]]]
    sel[need] = True  # every re-read patient has at least one re-read cell
    amp, cep, her2 = cells["amplified"][sel], cells["cep17"][sel], cells["her2"][sel]
    scoreable = her2 > 0
    flip = scoreable & (rng.random(len(amp)) < m.reader_disagreement)
    cep2 = np.clip(cep + rng.choice([-1, 0, 1], size=len(cep), p=[0.15, 0.7, 0.15]), 1, 4)
    delta = rng.choice([-1, 0, 1], size=len(cep), p=[0.2, 0.6, 0.2])
    same_amp = np.maximum(her2 + 2 * delta, _min_amplified_her2(cep2))
    same_non = np.clip(her2 + delta, 1, np.minimum(2 * cep2 - 1, 5))
    new_amp = _amplified_signals(rng, cep2)
    new_non = _non_amplified_signals(rng, cep2, m)
    call2 = amp ^ flip
    her2_2 = np.where(flip, np.where(call2, new_amp, new_non), np.where(amp, same_amp, same_non))
    her2_2 = np.where(scoreable, her2_2, 0)
    return {"pid": pid[sel], "cell_no": cells["cell_no"][sel], "cep17": cep2, "her2": her2_2}


def _fish_table(
    ids: np.ndarray, r1: dict[str, np.ndarray], r2: dict[str, np.ndarray]
) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "subject_id": np.concatenate([ids[r1["pid"]], ids[r2["pid"]]]),
            "cell_no": np.concatenate([r1["cell_no"], r2["cell_no"]]),
            "reader_id": np.repeat(["R1", "R2"], [len(r1["pid"]), len(r2["pid"])]),
            "her2_signals": np.concatenate([r1["her2"], r2["her2"]]).astype(int),
            "cep17_signals": np.concatenate([r1["cep17"], r2["cep17"]]).astype(int),
        }
    )
    df = df.sort_values(["subject_id", "cell_no", "reader_id"], kind="stable")
    df["cell_id"] = [f"C{c:02d}" for c in df["cell_no"]]
    return _frame(TABLE_COLUMNS[TRIAL_HER2]["ctc_fish"], df.reset_index(drop=True))


def _if_table(
    rng: np.random.Generator, ids: np.ndarray, r1: dict[str, np.ndarray], m: CtcScreeningModel
) -> pd.DataFrame:
    """HER2 immunofluorescence: log-normal intensity, shifted so that the binormal AUC = if_auc."""
    shift = math.sqrt(2.0) * m.if_log_sd * stats.norm.ppf(m.if_auc)
    log_i = math.log(m.if_median_non_amplified) + shift * r1["amplified"]
    intensity = np.exp(log_i + rng.normal(0.0, m.if_log_sd, len(log_i)))
    score = np.asarray(["0", "1+", "2+", "3+"])[np.digitize(intensity, m.if_score_thresholds)]
    df = pd.DataFrame(
        {
            "subject_id": ids[r1["pid"]],
            "cell_id": [f"C{c:02d}" for c in r1["cell_no"]],
            "if_score": score,
            "if_intensity": np.round(intensity, 1),
        }
    )
    return _frame(TABLE_COLUMNS[TRIAL_HER2]["ctc_if"], df)


def _screening_table(
    rng: np.random.Generator, ids: np.ndarray, pts: dict[str, Any], day: np.ndarray
) -> pd.DataFrame:
    n = len(ids)
    volume = np.where(rng.random(n) < 0.95, 7.5, rng.choice([6.0, 7.0, 8.0], size=n))
    count = pd.array(np.where(pts["cs_failed"], 0, pts["count"]), dtype="Int64")
    count[pts["cs_failed"]] = pd.NA
    data = {
        "subject_id": ids,
        "sample_date": _iso(day),
        "blood_volume_ml": volume,
        "cellsearch_status": np.where(pts["cs_failed"], "failed", "done"),
        "ctc_count": count,
        "fish_status": pts["fish_status"],
        "fish_failure_reason": pts["fish_reason"],
    }
    return _frame(TABLE_COLUMNS[TRIAL_HER2]["ctc_screening"], data)


def _draw_her2_course(rng: np.random.Generator, n: int, m: Her2CourseModel) -> Course:
    """Response class first (ORR, DCR exact), then the latent progression day given the class."""
    p = np.array([1.0 - m.p_responder - m.p_stable, m.p_stable, m.p_responder])
    cls = rng.choice(3, size=n, p=p)
    k_resp = np.where(
        cls == _CLASS_RESPONSE, np.where(rng.random(n) < m.p_response_at_first_visit, 1, 2), 0
    )
    period = 7 * m.visit_weeks
    primary = rng.uniform(*m.primary_progression_days, size=n)
    stable = m.stable_offset_days + rng.exponential(m.stable_tail_median_days / _LN2, n)
    # a responder progresses after the confirmation visit k_resp + 1
    responder = (k_resp + 1) * period + 7 + rng.exponential(m.responder_tail_median_days / _LN2, n)
    latent = np.select([cls == _CLASS_PD, cls == _CLASS_SD], [primary, stable], responder)
    k_min = np.select([cls == _CLASS_PD, cls == _CLASS_SD], [1, 2], k_resp + 2)
    pd_visit = _first_visit_at_or_after(rng, latent, period, k_min)
    complete = (cls == _CLASS_RESPONSE) & (rng.random(n) < m.p_complete_response)
    return _finish_course(rng, m, cls, k_resp, complete, pd_visit)


# --------------------------------------------------------------------------------------------
# HER2-CTC on-treatment CTC counts and ctDNA
# --------------------------------------------------------------------------------------------
_FOLLOWUP_MULT = {  # (C2D1, C4D1) multiplier of the pre-dose level, by response class
    _CLASS_PD: (1.2, 1.8),
    _CLASS_SD: (0.8, 0.6),
    _CLASS_RESPONSE: (0.4, 0.15),
}


def _followup_visits(
    rng: np.random.Generator, trt: _Treatment, tl: _PatientTimeline
) -> list[tuple[str, int]]:
    visits = [("C1D1", 0)]
    visits += [(v, trt.starts[c]) for v, c in (("C2D1", 1), ("C4D1", 3)) if len(trt.starts) > c]
    if trt.last_dose is not None:
        eot = trt.last_dose + int(rng.integers(14, 31))
        if eot <= tl.last_alive:
            visits.append(("EOT", eot))
    return visits


def _followup_multiplier(visit: str, cls: int, eot_reason: str) -> float:
    """Expected CTC count / tumour fraction relative to C1D1: responders decline."""
    if visit == "C1D1":
        return 1.0
    if visit == "EOT":
        return 2.0 if eot_reason == "progression" else 0.6
    return _FOLLOWUP_MULT[cls][0 if visit == "C2D1" else 1]


def _ctc_ctdna_tables(
    rng: np.random.Generator,
    ids: np.ndarray,
    start: np.ndarray,
    screen_count: np.ndarray,
    c: Course,
    clin: _Clinical,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CTC counts and ctDNA tumour fraction at C1D1, C2D1, C4D1 and end of treatment."""
    ctc_rows, dna_rows = [], []
    for i, sid in enumerate(ids):
        trt, tl = clin.treatments[i], clin.timelines[i]
        lam0 = max(screen_count[i], 1) * rng.gamma(5.0, 0.2)
        tf0 = min(80.0, rng.lognormal(math.log(6.0), 0.9))
        for visit, day in _followup_visits(rng, trt, tl):
            mult = _followup_multiplier(visit, int(c.cls[i]), trt.reason)
            sample_day = start[i] + day
            if rng.random() >= 0.05:
                lam = lam0 * mult * rng.gamma(4.0, 0.25)
                count = int(rng.negative_binomial(2.0, 2.0 / (2.0 + lam)))
                ctc_rows.append((sid, visit, sample_day, count))
            if rng.random() >= 0.05:
                tf = min(95.0, tf0 * mult**0.8 * rng.lognormal(0.0, 0.15))
                dna_rows.append((sid, visit, sample_day, tf))
    return _followup_table(ctc_rows), _ctdna_table(dna_rows)


def _followup_table(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["subject_id", "visit", "day", "ctc_count"])
    df["sample_date"] = _iso(df["day"].astype(float))
    return _frame(TABLE_COLUMNS[TRIAL_HER2]["ctc_followup"], df)


def _ctdna_table(rows: list[tuple], lod: float = 3.0) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["subject_id", "visit", "day", "tf"])
    below = df["tf"].to_numpy() < lod
    data = {
        "subject_id": df["subject_id"],
        "visit": df["visit"],
        "sample_date": _iso(df["day"].astype(float)),
        "assay": "ulp_wgs_tumour_fraction",
        "tumour_fraction_pct": _float_or_none(np.where(below, np.nan, df["tf"]), 1),
        "lod_pct": lod,
        "below_lod": _yn(below),
    }
    return _frame(TABLE_COLUMNS[TRIAL_HER2]["ctdna"], data)


# --------------------------------------------------------------------------------------------
# HER2-CTC / T-DM1 trial
# --------------------------------------------------------------------------------------------
def simulate_her2_ctc_tdm1(rng: np.random.Generator, scale: float = 1) -> dict[str, pd.DataFrame]:
    """Simulate the raw tables of the HER2-CTC / T-DM1 trial.

    Patients are screened (2023-01 to 2025-06) until ``17 * scale`` patients with at least one
    evaluable HER2-amplified CTC are treated (about 90 % of detected patients are treated).
    Latent HER2 amplification depends on primary-tumour IHC; CellSearch counts are negative
    binomial; per-cell FISH signals follow ASCO/CAP 2018 groups (amplified cells group 1,
    non-amplified cells group 4 or 5, Wolff et al. 2018); reader 2 re-reads about 40 % of the cells
    of half of the FISH patients; immunofluorescence intensity is binormal on the log scale. Treated
    patients follow :class:`Her2CourseModel` (RECIST 1.1 lesions every 6 weeks) and
    :data:`T_DM1` (3.6 mg/kg q3w, reductions to 3.0 and 2.4 mg/kg driven by adverse events).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the only one used).
    scale : float
        Cohort size multiplier; 1 gives the registry size (17 treated, ~170 screened).

    Returns
    -------
    dict of str to DataFrame
        ``patients, ctc_screening, ctc_fish, ctc_if, exposure, end_of_treatment,
        tumour_lesions, survival, adverse_events, ctc_followup, ctdna`` with exactly the columns of
        ``docs/data_dictionary.md`` (:data:`TABLE_COLUMNS`).
    """
    _check_rng_scale(rng, scale)
    n_treated = _sizes(scale, 17)
    pts, cells = _draw_screened(rng, n_treated, HER2_PATIENTS, CTC_MODEL)
    n = len(pts["treated"])
    cal = STUDY_CALENDAR[TRIAL_HER2]
    screen_day = np.sort(
        _uniform_days(rng, _day(cal["screening_start"]), _day(cal["screening_end"]), n)
    )
    treated = pts["treated"]
    start = np.where(treated, screen_day + _uniform_days(rng, 14, 35, n), np.nan)
    pts["sites"] = _ensure_measurable(pts["sites"], treated)
    ids = _subject_ids(HER2_PATIENTS.prefix, pts["site_idx"], screen_day)
    r2 = _reader2(rng, cells, n, CTC_MODEL)
    tables = {
        "patients": _patients_table(pts, ids, screen_day, start),
        "ctc_screening": _screening_table(rng, ids, pts, screen_day),
        "ctc_fish": _fish_table(ids, cells, r2),
        "ctc_if": _if_table(rng, ids, cells, CTC_MODEL),
    }
    tr = np.flatnonzero(treated)
    course = _draw_her2_course(rng, len(tr), HER2_COURSE)
    t_start = start[tr].astype(int)
    clin = _simulate_clinical(rng, TRIAL_HER2, ids[tr], t_start, pts["sites"][tr], course, scale)
    tables.update(clin.tables)
    tables["ctc_followup"], tables["ctdna"] = _ctc_ctdna_tables(
        rng, ids[tr], t_start, pts["count"][tr], course, clin
    )
    return _sorted(tables)


def _detection_terms(m: CtcScreeningModel) -> tuple[float, float, float]:
    """Per latent-amplified patient: P(CellSearch+FISH evaluable and >=1 amplified evaluable CTC),
    P(that and >=1 evaluable non-amplified CTC too), summed exactly over the CTC count.

    With F ~ Beta(a, b) the fraction of amplified cells, q = P(cell scoreable) and m cells read,
    E[(1 - qF)^m] = 2F1(-m, a; a + b; q) (Johnson, Kotz & Balakrishnan 1995, ch. 25).
    """
    a, b = m.amplified_fraction_beta
    q = 1.0 - m.p_cell_not_scoreable
    cells = np.arange(1, m.max_cells_read + 1)
    none_amp = special.hyp2f1(-cells, a, a + b, q)
    none_non = special.hyp2f1(-cells, b, a + b, q)
    p_det = 1.0 - none_amp
    p_both = 1.0 - none_amp - none_non + (1.0 - q) ** cells
    p_nb = m.ctc_nb_size / (m.ctc_nb_size + m.ctc_nb_mean)
    pmf = stats.nbinom.pmf(cells, m.ctc_nb_size, p_nb)
    pmf[-1] = stats.nbinom.sf(m.max_cells_read - 1, m.ctc_nb_size, p_nb)  # >= 30 CTC: 30 read
    technical = (1.0 - m.p_cellsearch_failure) * (1.0 - m.p_fish_failure)
    return technical * float(pmf @ p_det), technical * float(pmf @ p_both), technical


def compute_her2_truths() -> dict[str, dict[str, Any]]:
    """True values of the HER2-CTC / T-DM1 estimands under the generative models.

    Screening quantities are exact (negative-binomial sums and beta-binomial moments via the
    Gauss hypergeometric function); clinical quantities are Monte Carlo estimates with a fixed seed
    (``TRUTH_DRAWS`` patients).

    Returns
    -------
    dict
        name -> ``{"value", "definition", "method"}``.
    """
    course = _draw_her2_course(np.random.default_rng(TRUTH_SEED), TRUTH_DRAWS, HER2_COURSE)
    clinical = _clinical_truths("tdm1", _course_summary(course), HER2_COURSE.visit_weeks)
    return {**_screening_truths(), **clinical}


def _screening_truths() -> dict[str, dict[str, Any]]:
    m, pm = CTC_MODEL, HER2_PATIENTS
    p_det, p_both, technical = _detection_terms(m)
    p_lat = np.asarray(m.p_latent_amplified_by_ihc)
    p_nb = m.ctc_nb_size / (m.ctc_nb_size + m.ctc_nb_mean)
    exact = "exact (negative-binomial sum, beta-binomial moments)"
    return {
        "her2_detection_rate_screened": _truth(
            float(np.dot(pm.ihc_probs, p_lat)) * p_det,
            "P(>= 1 evaluable HER2-amplified CTC: HER2/CEP17 >= 2 and HER2 >= 6 signals, "
            "reader R1) among screened patients (measured, incl. CellSearch and FISH failures)",
            exact,
        ),
        "her2_detection_rate_by_ihc": _truth(
            {code: round(float(p * p_det), 6) for code, p in zip(_IHC_CODES, p_lat, strict=True)},
            "detection rate as above, by primary-tumour HER2 IHC (0, 1+, 2+)",
            exact,
        ),
        "her2_latent_amplified_prevalence": _truth(
            float(np.dot(pm.ihc_probs, p_lat)),
            "P(patient's CTC population contains HER2-amplified cells), unobservable",
            exact,
        ),
        "her2_heterogeneity_rate_detected": _truth(
            p_both / p_det,
            "P(>= 1 evaluable non-amplified CTC | >= 1 evaluable amplified CTC), reader R1",
            exact,
        ),
        "cellsearch_failure_rate": _truth(
            m.p_cellsearch_failure, "P(CellSearch failed) among screened", "parameter"
        ),
        "ctc_positive_rate_ge1": _truth(
            1.0 - stats.nbinom.pmf(0, m.ctc_nb_size, p_nb),
            "P(>= 1 CTC per 7.5 mL) among successful CellSearch samples",
            exact,
        ),
        "ctc_positive_rate_ge5": _truth(
            float(stats.nbinom.sf(4, m.ctc_nb_size, p_nb)),
            "P(>= 5 CTC per 7.5 mL) among successful CellSearch samples",
            exact,
        ),
        "fish_failure_rate": _truth(
            m.p_fish_failure,
            "P(FISH technical failure) among patients with >= 1 CTC (FISH attempted)",
            "parameter",
        ),
        "reader_disagreement": _truth(
            m.reader_disagreement,
            "P(R2 amplification call differs from R1) among cells scoreable by both readers",
            "parameter",
        ),
        "if_auc_amplified_vs_not": _truth(
            m.if_auc,
            "AUC of HER2 IF intensity for the R1 per-cell amplification call "
            "(binormal, equal variances on the log scale)",
            "parameter",
        ),
        "treated_fraction_of_detected": _truth(
            m.p_treated_if_detected, "P(treated | >= 1 HER2-amplified CTC detected)", "parameter"
        ),
        "technical_success_rate": _truth(
            technical, "P(CellSearch done and FISH not failed | >= 1 CTC)", exact
        ),
    }
