"""Synthetic demo cohort, shared clinical course: patients, treatment courses and timelines, RECIST
lesions, treatment exposure, adverse events, end of treatment and survival, used by both trials."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.simulate.models import (
    _CLASS_PD,
    _CLASS_RESPONSE,
    _CLASS_SD,
    _GEN,
    _IHC_CODES,
    _JITTER_DAYS,
    _LN2,
    _MEASURABLE,
    _VISCERAL,
    CUTOFF_DAY,
    DAYS_PER_MONTH,
    EVEROLIMUS,
    EVEROLIMUS_COURSE,
    HER2_COURSE,
    SITE_CODES,
    T_DM1,
    TABLE_COLUMNS,
    TRIAL_EVEROLIMUS,
    TRIAL_HER2,
    TRUTH_DRAWS,
    TRUTH_SEED,
    EverolimusCourseModel,
    Her2CourseModel,
    PatientModel,
    TreatmentModel,
    _iso,
)


def _yn(flags: Any) -> np.ndarray:
    return np.where(np.asarray(flags, dtype=bool), "Y", "N")


def _uniform_days(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    """Integers uniform on [lo, hi] (both inclusive)."""
    return rng.integers(lo, hi + 1, size=n)


def _sizes(scale: float, per_unit: int) -> int:
    return max(1, round(per_unit * scale))


def _check_rng_scale(rng: Any, scale: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "create one with numpy.random.default_rng(seed)."
        )
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
        raise ValueError(f"scale must be a positive number (1 = registry sizes), got {scale!r}.")
    if not math.isfinite(scale):
        raise ValueError(f"scale must be finite, got {scale!r}.")


def _frame(columns: Sequence[str], data: dict[str, Any]) -> pd.DataFrame:
    """DataFrame with exactly the contract columns, in contract order."""
    missing = [c for c in columns if c not in data]
    if missing:  # programming error inside this module, not a user error
        raise RuntimeError(f"simulator forgot columns {missing}")
    return pd.DataFrame({c: data[c] for c in columns})


def _concat(parts: list[dict[str, np.ndarray]], columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Column-wise concatenation of per-patient row blocks."""
    if not parts:
        return {c: np.array([], dtype=object) for c in columns}
    return {c: np.concatenate([np.asarray(p[c], dtype=object) for p in parts]) for c in columns}


def _float_or_none(values: Any, decimals: int) -> np.ndarray:
    """Round floats; NaN -> None (empty cell) so that CSV bytes are stable."""
    v = np.asarray(values, dtype=float)
    out = np.round(v, decimals).astype(object)
    out[np.isnan(v)] = None
    return out


# --------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------
def _draw_characteristics(rng: np.random.Generator, n: int, m: PatientModel) -> dict[str, Any]:
    """Baseline characteristics; metastatic sites as an (n, 9) boolean matrix."""
    age = np.clip(np.round(rng.normal(m.age_mean, m.age_sd, n)), *m.age_range).astype(int)
    ihc = rng.choice(3, size=n, p=np.asarray(m.ihc_probs))
    sites = rng.random((n, len(SITE_CODES))) < np.asarray(m.site_probs)
    none = ~sites.any(axis=1)
    sites[none, 0] = True  # at least one metastatic site: bone-only disease is the common case
    ish = np.where(
        ihc == 2,
        "negative",
        np.where((ihc == 1) & (rng.random(n) < m.p_ish_done_ihc1), "negative", "not_done"),
    )
    return {
        "sex": np.where(rng.random(n) < m.p_male, "M", "F"),
        "age": age,
        "ecog": rng.choice(len(m.ecog_probs), size=n, p=np.asarray(m.ecog_probs)),
        "hr_status": np.where(rng.random(n) < m.p_hr_positive, "positive", "negative"),
        "ihc": ihc,
        "her2_ish": ish,
        "sites": sites,
        "prior_lines": rng.choice(
            len(m.prior_lines_probs), size=n, p=np.asarray(m.prior_lines_probs)
        ),
        "site_idx": rng.choice(len(m.site_weights), size=n, p=np.asarray(m.site_weights)),
    }


def _ensure_measurable(sites: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Treated patients need measurable disease: add a nodal site when there is none."""
    out = sites.copy()
    lacking = rows & ~(out[:, _MEASURABLE].any(axis=1))
    out[lacking, SITE_CODES.index("lymph_node")] = True
    return out


def _subject_ids(prefix: str, site_idx: np.ndarray, inclusion_day: np.ndarray) -> np.ndarray:
    """``PREFIX-SSS-NNNN``: site, then sequence within site in order of inclusion."""
    order = pd.DataFrame({"site": site_idx, "day": inclusion_day, "i": np.arange(len(site_idx))})
    order = order.sort_values(["day", "i"], kind="stable")
    order["seq"] = order.groupby("site").cumcount() + 1
    order = order.sort_values("i")
    return np.array(
        [f"{prefix}-{s + 1:03d}-{q:04d}" for s, q in zip(order["site"], order["seq"], strict=True)]
    )


def _patients_table(
    chars: dict[str, Any], ids: np.ndarray, inclusion: np.ndarray, start: np.ndarray
) -> pd.DataFrame:
    sites = chars["sites"]
    site_lists = [";".join(np.asarray(SITE_CODES)[row]) for row in sites]
    data = {
        "subject_id": ids,
        "site_id": np.array([s.split("-")[1] for s in ids]),
        "sex": chars["sex"],
        "age": chars["age"],
        "ecog": chars["ecog"],
        "hr_status": chars["hr_status"],
        "her2_ihc": np.asarray(_IHC_CODES)[chars["ihc"]],
        "her2_ish": chars["her2_ish"],
        "metastatic_sites": site_lists,
        "visceral_disease": _yn(sites[:, _VISCERAL].any(axis=1)),
        "prior_lines_metastatic": chars["prior_lines"],
        "date_inclusion": _iso(inclusion),
        "date_treatment_start": _iso(start),
    }
    return _frame(TABLE_COLUMNS[TRIAL_HER2]["patients"], data)


# --------------------------------------------------------------------------------------------
# Clinical course (both trials): latent progression, assessments, death
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Course:
    """Latent clinical course of treated patients, in days from the first dose.

    ``cls`` is 0 (progression at the first assessment), 1 (stable disease) or 2 (confirmed
    response, first seen at visit ``k_resp``). ``k_pd``/``pd_day`` is the assessment that shows
    progression; ``dnp`` marks death before that assessment (then ``event_day`` = death).
    """

    cls: np.ndarray
    k_resp: np.ndarray
    complete: np.ndarray
    k_pd: np.ndarray
    pd_day: np.ndarray
    dnp: np.ndarray
    event_day: np.ndarray
    death_day: np.ndarray
    death_cause: np.ndarray


def _first_visit_at_or_after(
    rng: np.random.Generator, latent: np.ndarray, period: int, k_min: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First assessment (day = period*k + 0..6) on or after the latent progression day."""
    n = len(latent)
    k0 = np.maximum(np.ceil((latent - _JITTER_DAYS) / period), k_min).astype(int)
    jitter = rng.integers(0, _JITTER_DAYS + 1, size=(2, n))
    day0 = k0 * period + jitter[0]
    hit = day0 >= latent
    k = np.where(hit, k0, k0 + 1)
    return k, np.where(hit, day0, (k0 + 1) * period + jitter[1])


def _finish_course(
    rng: np.random.Generator,
    m: Her2CourseModel | EverolimusCourseModel,
    cls: np.ndarray,
    k_resp: np.ndarray,
    complete: np.ndarray,
    pd_visit: tuple[np.ndarray, np.ndarray],
) -> Course:
    """Add deaths: some die between assessments before progression, the rest after it.

    Post-progression survival is exponential with median ``m.post_progression_median_days``.
    """
    n = len(cls)
    k_pd, pd_day = pd_visit
    period = 7 * m.visit_weeks
    dnp = (k_pd >= 2) & (rng.random(n) < m.p_death_without_progression)
    lo = period * (k_pd - 1) + 7  # after the previous assessment (at most 6 days late)
    dnp_day = lo + np.floor(rng.random(n) * (period * k_pd - lo)).astype(int)
    pps_scale = m.post_progression_median_days / _LN2
    pps = np.maximum(7, np.round(rng.exponential(pps_scale, n))).astype(int)
    cause_after_pd = rng.choice(
        ["disease_progression", "other", "unknown"], size=n, p=[0.88, 0.05, 0.07]
    )
    cause_dnp = rng.choice(["other", "unknown"], size=n, p=[0.6, 0.4])
    return Course(
        cls=cls,
        k_resp=k_resp,
        complete=complete,
        k_pd=k_pd,
        pd_day=pd_day,
        dnp=dnp,
        event_day=np.where(dnp, dnp_day, pd_day),
        death_day=np.where(dnp, dnp_day, pd_day + pps),
        death_cause=np.where(dnp, cause_dnp, cause_after_pd),
    )


@dataclass(frozen=True)
class _PatientTimeline:
    """What was observed for one treated patient before the cut-off (days from first dose)."""

    ks: np.ndarray  # assessment visit indices (missed visit removed; late visit included)
    days: np.ndarray
    late: np.ndarray  # bool: assessment after the cut-off
    pd_observed: bool
    ne_k: int  # visit with a non-evaluable target lesion (0 = none)
    dead: bool
    last_alive: int
    cut: int


def _timeline(
    rng: np.random.Generator, c: Course, i: int, start: int, period: int
) -> _PatientTimeline:
    """Assessments actually done, last-known-alive day, missed and non-evaluable visits."""
    cut = CUTOFF_DAY - start
    k_pd, pd_day, death = int(c.k_pd[i]), int(c.pd_day[i]), int(c.death_day[i])
    pre_k = np.arange(1, k_pd)
    pre_days = period * pre_k + rng.integers(0, _JITTER_DAYS + 1, size=len(pre_k))
    alive_pf = pre_days < death
    pd_observed = not c.dnp[i] and pd_day <= cut
    in_cut = alive_pf & (pre_days <= cut)
    ks, days = list(pre_k[in_cut]), list(pre_days[in_cut])
    late = [False] * len(ks)
    if pd_observed:
        ks.append(k_pd)
        days.append(pd_day)
        late.append(False)
    else:
        after = np.flatnonzero(alive_pf & (pre_days > cut) & (pre_days <= cut + 45))
        if len(after):  # next scheduled assessment falls after the cut-off: a late record
            ks.append(int(pre_k[after[0]]))
            days.append(int(pre_days[after[0]]))
            late.append(True)
    ks_a, days_a = np.array(ks, dtype=int), np.array(days, dtype=int)
    late_a = np.array(late, dtype=bool)
    ks_a, days_a, late_a, ne_k = _missed_and_ne_visits(rng, c, i, ks_a, days_a, late_a)
    dead = death <= cut
    observed = days_a[~late_a]
    if dead:
        last_alive = death
    else:  # survival sweep at the cut-off: last contact in the final week
        last_contact = cut - int(rng.integers(0, 8))
        last_alive = max(last_contact, int(observed.max()) if len(observed) else 0)
    return _PatientTimeline(ks_a, days_a, late_a, pd_observed, ne_k, dead, last_alive, cut)


def _missed_and_ne_visits(
    rng: np.random.Generator,
    c: Course,
    i: int,
    ks: np.ndarray,
    days: np.ndarray,
    late: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Drop one missed visit and pick one visit with a non-evaluable lesion (10 % each).

    Only visits that cannot change the truths qualify: after the SD / confirmation visits, before
    the progression visit (and not the visit just before a death without progression), never
    next to each other, so that no gap between adequate assessments exceeds two intervals (the FDA
    2018 missed-assessment censoring rule never applies).
    """
    if c.cls[i] == _CLASS_PD:
        return ks, days, late, 0
    k_pd = int(c.k_pd[i])
    first_free = 2 if c.cls[i] == _CLASS_SD else int(c.k_resp[i]) + 2
    last_free = k_pd - 1 if c.dnp[i] else k_pd
    free = (ks >= first_free) & (ks < last_free) & ~late
    if free.any() and rng.random() < 0.10:
        drop = int(rng.choice(np.flatnonzero(free)))
        missed_k = int(ks[drop])
        ks, days, late, free = (np.delete(a, drop) for a in (ks, days, late, free))
        free &= np.abs(ks - missed_k) > 1
    ne_k = int(ks[rng.choice(np.flatnonzero(free))]) if free.any() and rng.random() < 0.10 else 0
    return ks, days, late, ne_k


# --------------------------------------------------------------------------------------------
# Tumour lesions (RECIST 1.1)
# --------------------------------------------------------------------------------------------
def _baseline_lesions(rng: np.random.Generator, sites: np.ndarray) -> dict[str, np.ndarray]:
    """1-4 target lesions in measurable organs, 0-3 non-target lesions anywhere."""
    codes = np.asarray(SITE_CODES)
    measurable = codes[sites & _MEASURABLE]
    n_t, n_nt = int(rng.integers(1, 5)), int(rng.integers(0, 4))
    t_org = rng.choice(measurable, size=n_t)
    nt_org = rng.choice(codes[sites], size=n_nt)
    t_node = t_org == "lymph_node"
    diam = np.where(
        t_node,
        15.0 + rng.lognormal(math.log(8.0), 0.5, n_t),  # short axis >= 15 mm
        np.maximum(11.0, rng.lognormal(math.log(28.0), 0.45, n_t)),
    )
    return {
        "t_id": np.array([f"T{j + 1}" for j in range(n_t)]),
        "t_org": t_org,
        "t_node": t_node,
        "t_diam": np.round(diam, 1),
        "nt_id": np.array([f"NT{j + 1}" for j in range(n_nt)]),
        "nt_org": nt_org,
        "cr_node_mm": rng.uniform(4.0, 9.0, n_t),  # short axis if the node normalises (CR)
    }


def _sum_multipliers(rng: np.random.Generator, cls: int, k_resp: int, kmax: int) -> np.ndarray:
    """Target-sum / baseline-sum for visits 1..kmax, before any progression.

    Responders: PR (<= 0.65) from ``k_resp`` on, shrinking towards a depth in 0.2-0.6. Stable:
    0.76-1.12 and never >= 1.14 x the running nadir (so never PD by RECIST's 20 % rule).
    """
    k = np.arange(1, kmax + 1)
    if cls == _CLASS_RESPONSE:
        depth = rng.uniform(0.2, 0.6)
        first = rng.uniform(max(depth, 0.45), 0.65)
        pre = rng.uniform(0.75, 0.95, kmax)
        return np.where(k < k_resp, pre, depth + (first - depth) * 0.5 ** (k - k_resp))
    if cls == _CLASS_SD:
        raw = np.clip(rng.uniform(0.8, 1.08) + rng.normal(0.0, 0.03, kmax), 0.76, 1.12)
        nadir = 1.0
        for j in range(kmax):
            raw[j] = min(raw[j], 1.14 * nadir)
            nadir = min(nadir, raw[j])
        return raw
    return np.ones(kmax)


def _pd_route(rng: np.random.Generator, complete: bool, n_nt: int) -> str:
    if complete:
        return "new"  # after CR, progression is the reappearance of disease
    route = rng.choice(["growth", "new", "non_target"], p=[0.60, 0.30, 0.10])
    return "growth" if route == "non_target" and n_nt == 0 else str(route)


def _target_values(
    rng: np.random.Generator, les: dict[str, Any], mult: float, in_cr: bool
) -> np.ndarray:
    """Lesion diameters whose sum is exactly ``mult`` x the baseline sum (before rounding).

    In CR, non-nodal lesions are 0 and nodes keep a stable short axis < 10 mm (+/- 0.3 mm), so that
    measurement noise never mimics progression from the nadir.
    """
    base = les["t_diam"]
    if in_cr:
        jitter = rng.uniform(-0.3, 0.3, len(base))
        return np.where(les["t_node"], np.round(les["cr_node_mm"] + jitter, 1), 0.0)
    noise = np.exp(rng.normal(0.0, 0.08, len(base)))
    vals = base * noise * (mult * base.sum() / (base * noise).sum())
    return np.round(vals, 1)


def _visit_block(
    les: dict[str, Any], visit: str, day: int, targets: np.ndarray, nt_status: np.ndarray
) -> dict[str, list]:
    """Rows of one assessment: targets, non-targets and (``les["new_org"]`` set) a new lesion."""
    new = les.get("new_org")
    n_new = int(new is not None)
    n_t, n_nt = len(les["t_id"]), len(les["nt_id"])
    return {
        "visit": [visit] * (n_t + n_nt + n_new),
        "assessment_date": [day] * (n_t + n_nt + n_new),
        "lesion_id": [*les["t_id"], *les["nt_id"], *(["N1"] * n_new)],
        "lesion_category": ["target"] * n_t + ["non_target"] * n_nt + ["new"] * n_new,
        "organ": [*les["t_org"], *les["nt_org"], *([new] * n_new)],
        "lymph_node": [
            *les["t_node"],
            *(les["nt_org"] == "lymph_node"),
            *([new == "lymph_node"] * n_new),
        ],
        "diameter_mm": [*targets, *([np.nan] * (n_nt + n_new))],
        "non_target_status": [*([None] * n_t), *nt_status, *([None] * n_new)],
    }


def _pd_visit(
    rng: np.random.Generator,
    les: dict[str, Any],
    route: str,
    nadir: float,
    nt_status: np.ndarray,
    in_cr: bool,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Target diameters, non-target statuses and lesion set at the progression assessment.

    Growth: sum >= 1.25 x nadir and >= nadir + 6 mm (RECIST: +20 % and +5 mm). Other routes keep
    the targets within 0.95-1.12 x nadir and add a new lesion or an unequivocal non-target PD.
    """
    base_sum = les["t_diam"].sum()
    if route == "growth":
        m = max(nadir * rng.uniform(1.25, 1.6), nadir + 6.0 / base_sum)
    else:
        m = nadir * rng.uniform(0.95, 1.12)
    status = nt_status.copy()
    if route == "non_target":
        status[int(rng.integers(0, len(status)))] = "unequivocal_progression"
    if route == "new":
        les = {**les, "new_org": str(rng.choice(["liver", "lung", "bone", "brain", "lymph_node"]))}
    return _target_values(rng, les, m, in_cr), status, les


def _lesion_rows(
    rng: np.random.Generator,
    sid: str,
    start: int,
    sites: np.ndarray,
    c: Course,
    i: int,
    tl: _PatientTimeline,
    period_weeks: int,
) -> dict[str, np.ndarray]:
    """All lesion rows of one patient: baseline, follow-up visits, new lesions at PD.

    The nadir used for progression is the smallest evaluable target sum actually recorded (NE
    visits and the missed visit do not count), as in RECIST 1.1.
    """
    les = _baseline_lesions(rng, sites)
    n_t, n_nt = len(les["t_id"]), len(les["nt_id"])
    cls, k_resp, complete = int(c.cls[i]), int(c.k_resp[i]), bool(c.complete[i])
    mult = _sum_multipliers(rng, cls, k_resp, int(tl.ks.max()) if len(tl.ks) else 1)
    route = _pd_route(rng, complete, n_nt)
    base_day = start - int(rng.integers(3, 29))
    rows = [_visit_block(les, "BASELINE", base_day, les["t_diam"], np.full(n_nt, "present"))]
    nadir = 1.0
    for k, day in zip(tl.ks, tl.days, strict=True):
        label = f"W{period_weeks * k:02d}"
        in_cr = complete and k >= k_resp + 1
        nt_status = np.full(n_nt, "absent" if in_cr else "present", dtype=object)
        if tl.pd_observed and k == tl.ks[-1] and not tl.late[-1]:
            targets, nt_status, les_pd = _pd_visit(rng, les, route, nadir, nt_status, in_cr)
            rows.append(_visit_block(les_pd, label, start + int(day), targets, nt_status))
            continue
        targets = _target_values(rng, les, mult[k - 1], in_cr)
        if k == tl.ne_k:
            targets = targets.astype(float)
            targets[int(rng.integers(0, n_t))] = np.nan  # lesion not measured: time point NE
        else:
            nadir = min(nadir, targets.sum() / les["t_diam"].sum())
        rows.append(_visit_block(les, label, start + int(day), targets, nt_status))
    out = _concat(rows, list(rows[0]))
    out["subject_id"] = np.full(len(out["visit"]), sid, dtype=object)
    return out


def _lesions_table(parts: list[dict[str, np.ndarray]], trial: str) -> pd.DataFrame:
    cols = TABLE_COLUMNS[trial]["tumour_lesions"]
    d = _concat(parts, cols)
    d["assessment_date"] = _iso(d["assessment_date"].astype(float))
    d["lymph_node"] = _yn(d["lymph_node"].astype(bool))
    d["diameter_mm"] = _float_or_none(d["diameter_mm"].astype(float), 1)
    return _frame(cols, d)


# --------------------------------------------------------------------------------------------
# Treatment: adverse events drive dose reductions and interruptions
# --------------------------------------------------------------------------------------------
def _draw_adverse_events(
    rng: np.random.Generator, tm: TreatmentModel, stop: int, window_end: int
) -> dict[str, np.ndarray]:
    """Treatment-emergent AEs of one patient; incidence grows with time on treatment."""
    prof = tm.ae_profile
    n = len(prof)
    months_on = max(stop, 1) / DAYS_PER_MONTH
    incidence = np.array([a.incidence for a in prof]) * min(1.0, (months_on + 2.0) / 3.5)
    occurs = rng.random(n) < incidence
    onset = 1 + np.floor(rng.random(n) * max(1, min(window_end, 150))).astype(int)
    grade = np.array([rng.choice(4, p=np.asarray(a.grade_probs)) + 1 for a in prof])
    related = rng.random(n) < np.array([a.p_related for a in prof])
    duration = np.round(rng.exponential(1.0, n) * np.array([14, 21, 28, 28])[grade - 1]) + 1
    u = rng.random(n)
    on_drug = onset < stop
    action = np.full(n, "none", dtype=object)
    severe = related & on_drug & (grade >= 3)
    moderate = related & on_drug & (grade == 2)
    action[severe] = np.where(u[severe] < 0.55, "dose_reduced", "dose_interrupted")
    action[moderate & (u < 0.15)] = "dose_interrupted"
    action[moderate & (u >= 0.15) & (u < 0.20)] = "dose_reduced"
    keep = occurs & (onset <= window_end)
    return {
        "term": np.array([a.term for a in prof])[keep],
        "soc": np.array([a.soc for a in prof])[keep],
        "grade": grade[keep],
        "onset": onset[keep],
        "end": (onset + duration)[keep],
        "related": related[keep],
        "action": action[keep],
    }


def _add_withdrawal_ae(
    rng: np.random.Generator, tm: TreatmentModel, aes: dict[str, np.ndarray], day: int
) -> dict[str, np.ndarray]:
    """The AE that made the investigator withdraw the drug (grade 3, related)."""
    term = str(rng.choice(np.asarray(tm.withdrawal_terms)))
    soc = next(a.soc for a in tm.ae_profile if a.term == term)
    extra = {
        "term": [term],
        "soc": [soc],
        "grade": [3],
        "onset": [day],
        "end": [day + 1 + int(rng.integers(14, 60))],
        "related": [True],
        "action": ["drug_withdrawn"],
    }
    return {k: np.concatenate([v, np.asarray(extra[k], dtype=v.dtype)]) for k, v in aes.items()}


def _cycles(
    rng: np.random.Generator, tm: TreatmentModel, aes: dict[str, np.ndarray], stop: int, end: int
) -> tuple[list[int], list[int], list[str], np.ndarray]:
    """Cycle start days, dose levels and actions driven by the AEs of the previous cycle.

    A ``dose_reduced`` AE lowers the next cycle's dose level (an interruption when already at the
    lowest level); ``dose_interrupted`` delays it. AE actions that could not act on a later cycle
    (treatment stopped first) become ``none``, so AE and exposure records always agree.
    """
    order = np.argsort(aes["onset"], kind="stable")
    proposed = aes["action"]
    action = np.full(len(order), "none", dtype=object)
    action[proposed == "drug_withdrawn"] = "drug_withdrawn"
    min_level = -(len(tm.dose_levels) - 1)
    starts, levels, acts = [0], [0], ["none"]
    while True:
        nxt, level, act, hits = starts[-1] + tm.period_days, levels[-1], "none", []
        for j in (j for j in order if starts[-1] < aes["onset"][j] <= nxt):
            if proposed[j] == "dose_reduced" and level > min_level:
                level, act = level - 1, "reduced"
                hits.append((j, "dose_reduced"))
            elif proposed[j] in ("dose_reduced", "dose_interrupted"):
                nxt += int(rng.integers(tm.delay_days[0], tm.delay_days[1] + 1))
                act = act if act == "reduced" else "interrupted"
                hits.append((j, "dose_interrupted"))
        if nxt >= stop or nxt > end:
            return starts, levels, acts, action
        for j, a in hits:
            action[j] = a
        starts.append(nxt)
        levels.append(level)
        acts.append(act)


@dataclass(frozen=True)
class _Treatment:
    """One patient's treatment summary (days from first dose)."""

    starts: list[int]
    last_dose: int | None  # None = ongoing
    reason: str


def _stop_rule(
    rng: np.random.Generator, tm: TreatmentModel, c: Course, i: int, tl: _PatientTimeline
) -> tuple[int, str]:
    """Day treatment stops and why (progression, death, toxicity, other) or 'ongoing'."""
    candidates = []
    if tl.pd_observed:
        candidates.append((int(c.pd_day[i]), "progression"))
    if tl.dead and c.dnp[i]:
        candidates.append((int(c.death_day[i]), "death"))
    if rng.random() < tm.p_toxicity_discontinuation:
        candidates.append((int(rng.integers(21, 300)), "toxicity"))
    if rng.random() < tm.p_other_discontinuation:
        other = str(rng.choice(["withdrawal", "investigator_decision", "other"]))
        candidates.append((int(rng.integers(30, 400)), other))
    candidates = [(d, r) for d, r in candidates if d <= tl.last_alive]
    if not candidates:
        return tl.last_alive + 1, "ongoing"
    return min(candidates)


def _treatment_rows(
    rng: np.random.Generator,
    sid: str,
    start: int,
    tm: TreatmentModel,
    c: Course,
    i: int,
    tl: _PatientTimeline,
) -> tuple[_Treatment, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Exposure rows and AE rows of one patient, mutually consistent."""
    stop, reason = _stop_rule(rng, tm, c, i, tl)
    window_end = min(stop + 30, tl.last_alive)
    aes = _draw_adverse_events(rng, tm, stop, window_end)
    if reason == "toxicity":
        aes = _add_withdrawal_ae(rng, tm, aes, stop)
    end = min(stop - 1, tl.last_alive)
    starts, levels, acts, ae_action = _cycles(rng, tm, aes, stop, end)
    treatment = _Treatment(starts, None, reason)
    if reason != "ongoing":
        # a delayed or reduced last cycle keeps that action; end_of_treatment has the stop
        acts[-1] = "discontinued" if acts[-1] == "none" else acts[-1]
        last = starts[-1] if not tm.continuous_dosing else max(starts[-1], stop - 1)
        treatment = _Treatment(starts, last, reason)
    elif starts[-1] + tm.period_days > tl.cut:  # next cycle, after the cut-off: a late record
        starts = [*starts, starts[-1] + tm.period_days]
        levels = [*levels, levels[-1]]
        acts = [*acts, "none"]
    exposure = {
        "subject_id": [sid] * len(starts),
        "cycle": np.arange(1, len(starts) + 1),
        "date_start": start + np.asarray(starts),
        "dose": np.asarray(tm.dose_levels)[-np.asarray(levels)],
        "dose_unit": [tm.dose_unit] * len(starts),
        "dose_level": np.asarray(levels),
        "action": acts,
    }
    aes["action"] = ae_action
    ae = _ae_block(rng, sid, start, aes, tl.last_alive)
    return treatment, exposure, ae


def _ae_block(
    rng: np.random.Generator, sid: str, start: int, aes: dict[str, np.ndarray], last_alive: int
) -> dict[str, np.ndarray]:
    order = np.argsort(aes["onset"].astype(int), kind="stable")
    a = {k: np.asarray(v)[order] for k, v in aes.items()}
    n = len(order)
    grade = a["grade"].astype(int)
    u = rng.random(n)
    serious = (grade >= 4) | ((grade == 3) & (u < 0.5)) | ((grade <= 2) & (u < 0.02))
    end = a["end"].astype(float)
    end[end > last_alive] = np.nan  # still ongoing at the last contact
    return {
        "subject_id": [sid] * n,
        "ae_id": np.arange(1, n + 1),
        "ae_term": a["term"],
        "soc": a["soc"],
        "grade": grade,
        "date_start": start + a["onset"].astype(float),
        "date_end": start + end,
        "serious": _yn(serious),
        "related": _yn(a["related"].astype(bool)),
        "action_taken": a["action"],
    }


def _late_adverse_events(
    rng: np.random.Generator, ids: np.ndarray, alive: np.ndarray, n_late: int
) -> dict[str, np.ndarray]:
    """A few AEs starting after the cut-off (must be excluded by the pipeline)."""
    who = rng.choice(np.flatnonzero(alive), size=min(n_late, int(alive.sum())), replace=False)
    n = len(who)
    return {
        "subject_id": ids[np.sort(who)],
        "ae_id": np.zeros(n, dtype=int),  # renumbered after concatenation
        "ae_term": ["Fatigue"] * n,
        "soc": [_GEN] * n,
        "grade": np.ones(n, dtype=int),
        "date_start": CUTOFF_DAY + rng.integers(5, 41, size=n).astype(float),
        "date_end": np.full(n, np.nan),
        "serious": ["N"] * n,
        "related": ["Y"] * n,
        "action_taken": ["none"] * n,
    }


# --------------------------------------------------------------------------------------------
# Clinical tables of treated patients (both trials)
# --------------------------------------------------------------------------------------------
#: Treatment model and tumour-assessment interval (weeks) of each trial.
_CLINICAL_DESIGN = {
    TRIAL_HER2: (T_DM1, HER2_COURSE.visit_weeks),
    TRIAL_EVEROLIMUS: (EVEROLIMUS, EVEROLIMUS_COURSE.visit_weeks),
}


@dataclass(frozen=True)
class _Clinical:
    tables: dict[str, pd.DataFrame]
    timelines: list[_PatientTimeline]
    treatments: list[_Treatment]


def _simulate_clinical(
    rng: np.random.Generator,
    trial: str,
    ids: np.ndarray,
    start: np.ndarray,
    sites: np.ndarray,
    course: Course,
    scale: float,
) -> _Clinical:
    """Lesions, survival, exposure, end of treatment and AEs of all treated patients."""
    tm, visit_weeks = _CLINICAL_DESIGN[trial]
    period = 7 * visit_weeks
    lesion_parts, exp_parts, ae_parts, timelines, treatments = [], [], [], [], []
    for i, sid in enumerate(ids):
        tl = _timeline(rng, course, i, int(start[i]), period)
        lesion_parts.append(
            _lesion_rows(rng, sid, int(start[i]), sites[i], course, i, tl, visit_weeks)
        )
        trt, exp_rows, ae_rows = _treatment_rows(rng, sid, int(start[i]), tm, course, i, tl)
        exp_parts.append(exp_rows)
        ae_parts.append(ae_rows)
        timelines.append(tl)
        treatments.append(trt)
    alive = np.array([not t.dead for t in timelines], dtype=bool)
    ae_parts.append(_late_adverse_events(rng, ids, alive, math.ceil(scale)))
    tables = {
        "exposure": _exposure_table(exp_parts, trial),
        "end_of_treatment": _eot_table(ids, start, treatments, trial),
        "tumour_lesions": _lesions_table(lesion_parts, trial),
        "survival": _survival_table(ids, start, course, timelines, trial),
        "adverse_events": _ae_table(ae_parts, trial),
    }
    return _Clinical(tables, timelines, treatments)


def _exposure_table(parts: list[dict[str, Any]], trial: str) -> pd.DataFrame:
    cols = TABLE_COLUMNS[trial]["exposure"]
    d = _concat(parts, cols)
    d["date_start"] = _iso(d["date_start"].astype(float))
    for c in ("cycle", "dose_level"):
        d[c] = d[c].astype(int)
    d["dose"] = d["dose"].astype(float)
    return _frame(cols, d)


def _eot_table(
    ids: np.ndarray, start: np.ndarray, trts: list[_Treatment], trial: str
) -> pd.DataFrame:
    last = np.array([np.nan if t.last_dose is None else t.last_dose for t in trts], dtype=float)
    data = {
        "subject_id": ids,
        "date_last_dose": _iso(start + last),
        "eot_reason": [t.reason for t in trts],
    }
    return _frame(TABLE_COLUMNS[trial]["end_of_treatment"], data)


def _survival_table(
    ids: np.ndarray, start: np.ndarray, c: Course, tls: list[_PatientTimeline], trial: str
) -> pd.DataFrame:
    pd_obs = np.array([t.pd_observed for t in tls])
    dead = np.array([t.dead for t in tls])
    data = {
        "subject_id": ids,
        "date_progression": _iso(np.where(pd_obs, start + c.pd_day, np.nan)),
        "progression_type": np.where(pd_obs, "radiological", None),
        "date_death": _iso(np.where(dead, start + c.death_day, np.nan)),
        "death_cause": np.where(dead, c.death_cause, None),
        "date_last_alive": _iso(start + np.array([t.last_alive for t in tls])),
    }
    return _frame(TABLE_COLUMNS[trial]["survival"], data)


def _ae_table(parts: list[dict[str, Any]], trial: str) -> pd.DataFrame:
    cols = TABLE_COLUMNS[trial]["adverse_events"]
    d = pd.DataFrame(_concat(parts, cols))
    d["date_start"] = d["date_start"].astype(float)
    d = d.sort_values(["subject_id", "date_start"], kind="stable").reset_index(drop=True)
    d["ae_id"] = d.groupby("subject_id").cumcount() + 1
    d["date_end"] = _iso(d["date_end"].astype(float))
    d["date_start"] = _iso(d["date_start"])
    d["grade"] = d["grade"].astype(int)
    return _frame(cols, d)


def _sorted(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Rows ordered by subject (stable within subject), index reset."""
    out = {}
    for name, df in tables.items():
        if "subject_id" in df and name != "western_blot":
            df = df.sort_values("subject_id", kind="stable")
        out[name] = df.reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------------
# True values of the estimands
# --------------------------------------------------------------------------------------------
def _truth(value: Any, definition: str, method: str) -> dict[str, Any]:
    if isinstance(value, float | np.floating):
        value = round(float(value), 6)
    return {"value": value, "definition": definition, "method": method}


def _course_summary(c: Course) -> dict[str, float]:
    """ORR, DCR and PFS/OS summaries; months = (days from first dose + 1) / 30.4375 (ADTTE)."""
    pfs = (c.event_day + 1) / DAYS_PER_MONTH
    os_ = (c.death_day + 1) / DAYS_PER_MONTH
    return {
        "orr": float(np.mean(c.cls == _CLASS_RESPONSE)),
        "dcr": float(np.mean(c.cls != _CLASS_PD)),
        "pfs_median": float(np.median(pfs)),
        "os_median": float(np.median(os_)),
        "pfs_6m": float(np.mean(pfs > 6)),
        "os_12m": float(np.mean(os_ > 12)),
    }


def _clinical_truths(prefix: str, s: dict[str, float], weeks: int) -> dict[str, dict[str, Any]]:
    mc = f"Monte Carlo, {TRUTH_DRAWS} simulated patients, seed {TRUTH_SEED}"
    grid = (
        f"progression dated at the first {weeks}-weekly assessment showing PD (or death), "
        "no administrative censoring"
    )
    return {
        f"{prefix}_orr_confirmed": _truth(
            s["orr"], "P(confirmed CR or PR by RECIST 1.1) among treated patients", mc
        ),
        f"{prefix}_dcr": _truth(
            s["dcr"],
            "P(best response CR, PR or SD at >= 1 assessment >= 6 weeks after first "
            "dose) among treated patients",
            mc,
        ),
        f"{prefix}_pfs_median_months": _truth(
            s["pfs_median"],
            f"median PFS in months ((days from first dose + 1) / 30.4375), {grid}",
            mc,
        ),
        f"{prefix}_pfs_6month_rate": _truth(s["pfs_6m"], f"P(PFS > 6 months), {grid}", mc),
        f"{prefix}_os_median_months": _truth(
            s["os_median"],
            "median overall survival in months ((days from first dose + 1) / 30.4375)",
            mc,
        ),
        f"{prefix}_os_12month_rate": _truth(s["os_12m"], "P(OS > 12 months)", mc),
    }
