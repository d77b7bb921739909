"""RECIST 1.1 time-point response from lesion measurements, and best overall response.

Reference: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in
solid tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247
(§4.3 response criteria, Table 1 and Table 2 time-point response, §4.4/§4.6 best overall
response and confirmation). The best-overall-response algorithm follows pharmaverse
admiralonco ``derive_param_confirmed_bor`` / ``derive_param_bor``.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "TIMEPOINT_RESPONSES",
    "derive_best_overall_response",
    "derive_timepoint_response",
]

#: Time-point overall response codes, best first (rank = position).
TIMEPOINT_RESPONSES: tuple[str, ...] = ("CR", "PR", "SD", "NON_CR_NON_PD", "PD", "NE")

_BASELINE = "BASELINE"
_LESION_COLUMNS = (
    "subject_id",
    "visit",
    "assessment_date",
    "lesion_id",
    "lesion_category",
    "lymph_node",
    "diameter_mm",
    "non_target_status",
)
_LESION_KEY = ["subject_id", "visit", "lesion_id"]
_CATEGORIES = frozenset({"target", "non_target", "new"})
_NT_STATUSES = frozenset({"present", "absent", "unequivocal_progression", "not_evaluable"})
_TIMEPOINT_COLUMNS = [
    "subject_id",
    "visit",
    "assessment_date",
    "target_sum_mm",
    "baseline_sum_mm",
    "nadir_sum_mm",
    "pchg_baseline",
    "chg_nadir_mm",
    "target_response",
    "non_target_response",
    "new_lesion",
    "overall_response",
]
# Thresholds are compared with a tolerance so that e.g. exactly 30.0 % counts as PR despite
# binary floating point (70.0 / 100.0 - 1 is not exactly -0.3).
_TOL_MM = 1e-9
_PR_DECREASE = 0.30
_PD_INCREASE = 0.20
_PD_ABSOLUTE_MM = 5.0
_NODE_NORMAL_MM = 10.0


# --------------------------------------------------------------------------------------------
# Time-point response from lesions
# --------------------------------------------------------------------------------------------


def _prepare_lesions(lesions: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(lesions, pd.DataFrame):
        raise TypeError(f"lesions must be a pandas DataFrame, got {type(lesions).__name__}")
    missing = [c for c in _LESION_COLUMNS if c not in lesions.columns]
    if missing:
        raise ValueError(
            f"lesions is missing column(s) {missing}; expected the raw tumour_lesions table "
            "described in docs/data_dictionary.md"
        )
    data = lesions.loc[:, list(_LESION_COLUMNS)].copy()
    data["assessment_date"] = pd.to_datetime(data["assessment_date"], errors="raise")
    data["diameter_mm"] = pd.to_numeric(data["diameter_mm"], errors="raise").astype(float)
    for col in ("subject_id", "visit", "lesion_id"):
        if data[col].isna().any():
            raise ValueError(f"lesions has missing {col}; every row needs one")
    if data["assessment_date"].isna().any():
        raise ValueError("lesions has missing assessment_date; every row needs an imaging date")
    bad_cat = sorted(set(data["lesion_category"].astype(str)) - _CATEGORIES)
    if bad_cat:
        raise ValueError(f"invalid lesion_category {bad_cat}; allowed: {sorted(_CATEGORIES)}")
    if not data["lymph_node"].isin(["Y", "N"]).all():
        raise ValueError("lymph_node must be 'Y' or 'N' on every row")
    if (data["diameter_mm"] < 0).any():
        raise ValueError("diameter_mm must be >= 0 (leave empty when not evaluable)")
    nt = data["lesion_category"] == "non_target"
    bad_nt = sorted(set(data.loc[nt, "non_target_status"].astype(str)) - _NT_STATUSES)
    if bad_nt:
        raise ValueError(
            f"invalid non_target_status {bad_nt} on non-target rows; allowed: "
            f"{sorted(_NT_STATUSES)}"
        )
    if data.duplicated(_LESION_KEY).any():
        dups = data.loc[data.duplicated(_LESION_KEY), _LESION_KEY].head(5).to_dict("records")
        raise ValueError(f"lesions must have one row per subject/visit/lesion; duplicates: {dups}")
    return data


def _check_baseline(data: pd.DataFrame) -> pd.DataFrame:
    """Return the baseline target/non-target lesions, checking the baseline is usable."""
    subjects = set(data["subject_id"])
    baseline = data[data["visit"] == _BASELINE]
    no_baseline = sorted(subjects - set(baseline["subject_id"]))
    if no_baseline:
        raise ValueError(
            f"subjects without a BASELINE visit cannot be assessed by RECIST 1.1: "
            f"{no_baseline[:5]}; fix the visit labels or drop these subjects"
        )
    if (baseline["lesion_category"] == "new").any():
        raise ValueError("lesion_category 'new' is not possible at the BASELINE visit")
    unmeasured = baseline[
        (baseline["lesion_category"] == "target") & baseline["diameter_mm"].isna()
    ]
    if not unmeasured.empty:
        raise ValueError(
            "baseline target lesions must be measured; missing diameter_mm for "
            f"{unmeasured[['subject_id', 'lesion_id']].head(5).to_dict('records')}"
        )
    return baseline


def _check_lesion_identity(data: pd.DataFrame, baseline: pd.DataFrame) -> None:
    # A target must stay a target: otherwise sums at different visits are not comparable.
    post = data[(data["visit"] != _BASELINE) & (data["lesion_category"] != "new")]
    merged = post.merge(
        baseline[["subject_id", "lesion_id", "lesion_category"]],
        on=["subject_id", "lesion_id"],
        how="left",
        suffixes=("", "_baseline"),
    )
    bad = merged[merged["lesion_category"] != merged["lesion_category_baseline"]]
    if not bad.empty:
        raise ValueError(
            "post-baseline target/non-target lesions must be the baseline ones with the same "
            "category (record new lesions with lesion_category='new'); mismatches: "
            f"{bad[[*_LESION_KEY, 'lesion_category']].head(5).to_dict('records')}"
        )


def _reappeared(diameters: np.ndarray, is_node: np.ndarray) -> bool:
    # A node has only reappeared once pathological again (>= 10 mm short axis).
    nodes = diameters[is_node]
    others = diameters[~is_node]
    return bool((nodes >= _NODE_NORMAL_MM).any() or (others > _TOL_MM).any())


def _target_response(
    diameters: np.ndarray,
    is_node: np.ndarray,
    baseline_sum: float,
    nadir: float,
    after_cr: bool,
) -> tuple[str, float]:
    """Target-lesion response (RECIST 1.1 §4.3.1) and the sum (NaN unless fully measured).

    ``diameters`` and ``is_node`` are aligned on the baseline target lesions (numpy arrays:
    this runs once per patient-visit); a missing diameter (NaN) means the lesion was not
    evaluated at this visit. ``after_cr``: the previous time
    point was an overall CR, so any reappearing lesion is PD (EORTC RECIST 1.1 FAQ).
    """
    is_measured = ~np.isnan(diameters)
    measured = diameters[is_measured]
    partial_sum = float(measured.sum())
    increase = partial_sum - nadir
    # Missing lesions can only add to the sum, so PD shown by the measured ones stands.
    is_pd = (
        increase >= _PD_INCREASE * nadir - _TOL_MM and increase >= _PD_ABSOLUTE_MM - _TOL_MM
    ) or (after_cr and _reappeared(measured, is_node[is_measured]))
    if not is_measured.all():
        return ("PD" if is_pd else "NE"), math.nan
    nodes_normal = bool((diameters[is_node] < _NODE_NORMAL_MM).all())
    others_gone = bool((diameters[~is_node] <= _TOL_MM).all())
    # Nodes < 10 mm are normal, so all-normal targets are CR even if a node grew a little.
    if nodes_normal and others_gone:
        return "CR", partial_sum
    if is_pd:
        return "PD", partial_sum
    if partial_sum <= (1 - _PR_DECREASE) * baseline_sum + _TOL_MM:
        return "PR", partial_sum
    return "SD", partial_sum


def _non_target_response(statuses: np.ndarray, is_node: np.ndarray, after_cr: bool) -> str:
    """Non-target response (RECIST 1.1 §4.3.2); arrays aligned on the baseline lesions.

    ``absent`` for a lymph node means it has returned to normal size (< 10 mm short axis).
    A baseline non-target lesion without a row at this visit counts as not evaluated. After an
    overall CR, a non-nodal lesion present again is PD (EORTC RECIST 1.1 FAQ); a node only
    when unequivocally progressing.
    """
    if (statuses == "unequivocal_progression").any():
        return "PD"
    if after_cr and (statuses[~is_node] == "present").any():
        return "PD"
    if pd.isna(statuses).any() or (statuses == "not_evaluable").any():
        return "NE"
    if (statuses == "absent").all():
        return "CR"
    return "NON_CR_NON_PD"


def _overall_response(target: str, non_target: str, new_lesion: bool) -> str:
    """Combine per RECIST 1.1 Table 1 (targets present) and Table 2 (non-targets only)."""
    if new_lesion or target == "PD" or non_target == "PD":
        return "PD"
    if target == "NOT_APPLICABLE":
        # Table 2; a patient with no baseline lesion at all cannot be assessed
        return "NE" if non_target == "NOT_APPLICABLE" else non_target
    if target == "NE":
        return "NE"
    if target == "CR":
        return "CR" if non_target in ("CR", "NOT_APPLICABLE") else "PR"
    return target  # PR or SD whatever the (non-PD) non-target status


@dataclass(frozen=True)
class _Visits:
    """Post-baseline visits of all subjects, sorted by subject then date, with lesion arrays.

    ``target_at[i]`` / ``status_at[i]`` slice the flat arrays for visit ``i``: the diameters and
    non-target statuses of the subject's baseline lesions, in baseline order (NaN/None when the
    lesion has no row at that visit).
    """

    table: pd.DataFrame  # subject_id, visit, assessment_date, new_lesion
    diameters: np.ndarray
    target_at: np.ndarray  # offsets, len(table) + 1
    statuses: np.ndarray
    status_at: np.ndarray


def _visit_table(post: pd.DataFrame) -> pd.DataFrame:
    # Earliest imaging date of the visit: conservative for progression dates. Ties on the date
    # keep the visits in label order.
    visits = (
        post.assign(new_lesion=post["lesion_category"].eq("new"))
        .groupby(["subject_id", "visit"], sort=True)
        .agg(assessment_date=("assessment_date", "min"), new_lesion=("new_lesion", "any"))
        .reset_index()
    )
    order = visits.sort_values(["subject_id", "assessment_date", "visit"], kind="stable").index
    return visits.loc[order].reset_index(drop=True)


def _lesions_at_visits(
    visits: pd.DataFrame, base: pd.DataFrame, post: pd.DataFrame, value: str
) -> tuple[np.ndarray, np.ndarray]:
    """Values of each subject's baseline lesions ``base`` at each visit; flat array + offsets."""
    grid = (
        visits[["subject_id", "visit"]]
        .rename_axis("visit_index")
        .reset_index()
        .merge(base[["subject_id", "lesion_id", "order"]], on="subject_id")
        .merge(post[["subject_id", "visit", "lesion_id", value]], how="left")
        .sort_values(["visit_index", "order"], kind="stable")
    )
    counts = np.bincount(grid["visit_index"].to_numpy(), minlength=len(visits))
    return grid[value].to_numpy(), np.concatenate([[0], np.cumsum(counts)])


def _collect_visits(
    data: pd.DataFrame, targets: pd.DataFrame, non_targets: pd.DataFrame
) -> _Visits:
    post = data[data["visit"] != _BASELINE]
    visits = _visit_table(post)
    diameters, target_at = _lesions_at_visits(visits, targets, post, "diameter_mm")
    statuses, status_at = _lesions_at_visits(visits, non_targets, post, "non_target_status")
    return _Visits(visits, diameters.astype(float), target_at, statuses.astype(object), status_at)


def _baseline_lesions(baseline: pd.DataFrame, category: str) -> pd.DataFrame:
    """Baseline lesions of one category, numbered in their baseline row order per subject."""
    lesions = baseline[baseline["lesion_category"] == category]
    return lesions.assign(
        order=lesions.groupby("subject_id").cumcount(), is_node=lesions["lymph_node"].eq("Y")
    )


def _subject_timepoints(
    subject_id: str,
    visit_rows: range,
    visits: _Visits,
    target_nodes: np.ndarray,
    nt_nodes: np.ndarray,
    baseline_sum: float,
) -> list[dict]:
    """Time-point rows of one subject; ``visit_rows`` index ``visits.table`` in date order."""
    has_targets = len(target_nodes) > 0
    nadir = baseline_sum
    after_cr = False
    rows = []
    table = visits.table
    for i in visit_rows:
        target_sum = math.nan
        if has_targets:
            diam = visits.diameters[visits.target_at[i] : visits.target_at[i + 1]]
            target, target_sum = _target_response(diam, target_nodes, baseline_sum, nadir, after_cr)
        else:
            target = "NOT_APPLICABLE"
        if len(nt_nodes):
            statuses = visits.statuses[visits.status_at[i] : visits.status_at[i + 1]]
            non_target = _non_target_response(statuses, nt_nodes, after_cr)
        else:
            non_target = "NOT_APPLICABLE"
        new_lesion = bool(table.at[i, "new_lesion"])
        overall = _overall_response(target, non_target, new_lesion)
        rows.append(
            {
                "subject_id": subject_id,
                "visit": table.at[i, "visit"],
                "assessment_date": table.at[i, "assessment_date"],
                "target_sum_mm": target_sum,
                "baseline_sum_mm": baseline_sum,
                "nadir_sum_mm": nadir,
                "pchg_baseline": 100 * (target_sum - baseline_sum) / baseline_sum
                if has_targets and baseline_sum > 0
                else math.nan,
                "chg_nadir_mm": target_sum - nadir,
                "target_response": target,
                "non_target_response": non_target,
                "new_lesion": new_lesion,
                "overall_response": overall,
            }
        )
        if not math.isnan(target_sum):
            nadir = min(nadir, target_sum)
        after_cr = overall == "CR"
    return rows


def derive_timepoint_response(lesions: pd.DataFrame) -> pd.DataFrame:
    """RECIST 1.1 time-point response of every post-baseline visit from lesion measurements.

    Method (Eisenhauer et al., Eur J Cancer 2009;45:228-247):

    - The BASELINE visit defines the target and non-target lesions (lesion ids are stable).
    - Target sum = sum of diameters of the baseline targets, longest diameter for non-nodal
      lesions and short axis for lymph nodes (``diameter_mm`` holds the right one).
    - Target response (§4.3.1): **CR** if every non-nodal target is 0 mm and every nodal
      target < 10 mm; **PD** if the sum increased by >= 20 % over the nadir *and* by >= 5 mm;
      **PR** if the sum decreased by >= 30 % from baseline; otherwise **SD**. **NE** if any
      target was not measured (empty ``diameter_mm`` or no row), unless the measured targets
      alone already meet PD. The nadir is the smallest fully measured sum before the visit,
      baseline included. Thresholds are inclusive (exactly 30 % / 20 % qualify). CR is checked
      first: nodes < 10 mm are normal, so an all-normal target set is CR.
    - Non-target response (§4.3.2): **PD** if any is ``unequivocal_progression``; **NE** if any
      is ``not_evaluable`` or has no row; **CR** if all are ``absent`` (for lymph nodes
      ``absent`` means normal size, < 10 mm); otherwise **NON_CR_NON_PD**.
    - Reappearance after CR (EORTC RECIST working group FAQ, "Does a new lesion always result
      in PD?" and "Abnormal lymph node"): when the previous time point was an overall CR, a
      target lesion that reappears (non-nodal > 0 mm, node >= 10 mm) makes the targets PD,
      and a non-nodal non-target lesion ``present`` again makes the non-targets PD.
    - New lesion: any row with ``lesion_category == 'new'`` at the visit.
    - Overall response: RECIST 1.1 Table 1 when there are target lesions (target CR with
      non-target non-CR/non-PD or not evaluated gives PR; target NE with non-PD non-targets
      gives NE), Table 2 when there are only non-target lesions; any new lesion, target PD or
      non-target PD gives PD. A patient with no baseline lesion at all is NE.
    - Assessment date of a visit = earliest imaging date among its rows.

    Parameters
    ----------
    lesions : pandas.DataFrame
        Raw ``tumour_lesions`` table (columns per docs/data_dictionary.md: subject_id, visit,
        assessment_date, lesion_id, lesion_category, organ, lymph_node, diameter_mm,
        non_target_status).

    Returns
    -------
    pandas.DataFrame
        One row per subject x post-baseline visit, sorted by subject and date, columns:
        ``subject_id, visit, assessment_date, target_sum_mm`` (NaN unless all targets were
        measured), ``baseline_sum_mm, nadir_sum_mm`` (before this visit), ``pchg_baseline``
        (%), ``chg_nadir_mm, target_response`` (CR/PR/SD/PD/NE/NOT_APPLICABLE),
        ``non_target_response`` (CR/NON_CR_NON_PD/PD/NE/NOT_APPLICABLE), ``new_lesion``
        (bool), ``overall_response`` (CR/PR/SD/NON_CR_NON_PD/PD/NE). The sums are NaN for
        patients without target lesions.

    Raises
    ------
    ValueError
        Missing columns or invalid codes, duplicated subject/visit/lesion rows, a subject
        without BASELINE, unmeasured baseline targets, or post-baseline target/non-target
        lesions that were not baseline lesions of that category.
    """
    data = _prepare_lesions(lesions)
    baseline = _check_baseline(data)
    _check_lesion_identity(data, baseline)
    targets = _baseline_lesions(baseline, "target")
    non_targets = _baseline_lesions(baseline, "non_target")
    visits = _collect_visits(data, targets, non_targets)
    # Lesion-level work is done above on whole columns; only the nadir and the after-CR rule,
    # which depend on the previous visit, are walked through visit by visit.
    target_nodes = {k: g["is_node"].to_numpy() for k, g in targets.groupby("subject_id")}
    nt_nodes = {k: g["is_node"].to_numpy() for k, g in non_targets.groupby("subject_id")}
    # Series.sum per subject, not groupby().sum(): the latter sums in another order, and the
    # last bit of a sum can decide a boundary case (exactly -30 %).
    baseline_sums = {k: float(g.sum()) for k, g in targets.groupby("subject_id")["diameter_mm"]}
    no_lesion = np.array([], dtype=bool)
    rows: list[dict] = []
    subject_ids = visits.table["subject_id"].to_numpy()
    # Visits are sorted by subject: each subject is a run between two change points.
    changes = np.flatnonzero(subject_ids[1:] != subject_ids[:-1]) + 1
    bounds = np.r_[0, changes, len(subject_ids)] if len(subject_ids) else []
    for first, stop in itertools.pairwise(bounds):
        subject_id = subject_ids[first]
        rows.extend(
            _subject_timepoints(
                subject_id,
                range(first, stop),
                visits,
                target_nodes.get(subject_id, no_lesion),
                nt_nodes.get(subject_id, no_lesion),
                baseline_sums.get(subject_id, math.nan),
            )
        )
    out = pd.DataFrame(rows, columns=_TIMEPOINT_COLUMNS)
    out["assessment_date"] = pd.to_datetime(out["assessment_date"])
    float_cols = _TIMEPOINT_COLUMNS[3:8]
    out[float_cols] = out[float_cols].astype(float)
    return out.astype({"new_lesion": bool}).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Best overall response
# --------------------------------------------------------------------------------------------

_RANK = {code: i for i, code in enumerate(TIMEPOINT_RESPONSES)}
_NE_OPTIONS = {"allow": 1, "disallow": 0}
_DISEASE_CONTROL = frozenset({"CR", "PR", "SD", "NON_CR_NON_PD"})


@dataclass(frozen=True)
class _Candidate:
    """One assessment as a candidate best response: lower rank is better, then earlier date."""

    bor: str
    date: pd.Timestamp
    reason: str

    @property
    def key(self) -> tuple[int, pd.Timestamp]:
        return _RANK[self.bor], self.date


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer number of days, got {value!r}")
    return int(value)


def _prepare_timepoints(
    timepoints: pd.DataFrame, response_col: str, subjects: pd.Index
) -> pd.DataFrame:
    if not isinstance(timepoints, pd.DataFrame):
        raise TypeError(f"timepoints must be a pandas DataFrame, got {type(timepoints).__name__}")
    needed = ["subject_id", "assessment_date", response_col]
    missing = [c for c in needed if c not in timepoints.columns]
    if missing:
        hint = (
            " (investigator timepoint_responses: pass response_col='response')"
            if "response" in timepoints.columns
            else ""
        )
        raise ValueError(f"timepoints is missing column(s) {missing}{hint}")
    cols = [*needed, "visit"] if "visit" in timepoints.columns else needed
    data = timepoints.loc[timepoints["subject_id"].isin(subjects), cols].copy()
    data = data.rename(columns={response_col: "response"})
    data["assessment_date"] = pd.to_datetime(data["assessment_date"], errors="raise")
    if data["assessment_date"].isna().any():
        raise ValueError("timepoints has missing assessment_date; every assessment needs a date")
    if data["response"].isna().any():
        raise ValueError(
            f"timepoints has missing {response_col!r}; code not-evaluable assessments as 'NE'"
        )
    invalid = sorted(set(data["response"].astype(str)) - set(TIMEPOINT_RESPONSES))
    if invalid:
        raise ValueError(
            f"invalid time-point responses {invalid}; allowed: {list(TIMEPOINT_RESPONSES)}"
        )
    key = ["subject_id", "assessment_date"]
    if data.duplicated(key).any():
        dups = data.loc[data.duplicated(key), key].head(5).to_dict("records")
        raise ValueError(
            f"timepoints must have one assessment per subject and date; duplicates: {dups}"
        )
    return data.sort_values(key, kind="stable")


def _confirmation(
    responses: list[str], days: list[int], i: int, confirmation_days: int, max_nr_ne: int
) -> int | None:
    """Index of the assessment confirming the CR/PR at ``i``, or None (admiralonco rules)."""
    target = {"CR": {"CR"}, "PR": {"CR", "PR"}}[responses[i]]
    allowed = {"CR": {"CR", "NE"}, "PR": {"CR", "PR", "NE"}}[responses[i]]
    for j in range(i + 1, len(responses)):
        if responses[j] in target and days[j] - days[i] >= confirmation_days:
            window = responses[i + 1 : j + 1]
            if any(r not in allowed for r in window) or window.count("NE") > max_nr_ne:
                return None
            # PR must not follow CR: a CR then PR means the CR was not real (RECIST Table 3).
            cr_pos = [k for k, r in enumerate(window) if r == "CR"]
            pr_pos = [k for k, r in enumerate(window) if r == "PR"]
            if cr_pos and pr_pos and min(cr_pos) < max(pr_pos):
                return None
            return j
    return None


def _candidates(
    responses: list[str],
    dates: list[pd.Timestamp],
    days: list[int],
    confirmed: bool,
    confirmation_days: int,
    sd_min_days: int,
    max_nr_ne: int,
) -> tuple[list[_Candidate], list[pd.Timestamp]]:
    """Classify every assessment; also return the dates of (confirmed) responses."""
    out: list[_Candidate] = []
    response_dates: list[pd.Timestamp] = []
    for i, (resp, date, day) in enumerate(zip(responses, dates, days, strict=True)):
        late = day >= sd_min_days
        if resp in ("CR", "PR"):
            if not confirmed:
                out.append(
                    _Candidate(resp, date, f"{resp} at day {day} (confirmation not required)")
                )
                response_dates.append(date)
                continue
            j = _confirmation(responses, days, i, confirmation_days, max_nr_ne)
            if j is not None:
                out.append(
                    _Candidate(
                        resp,
                        date,
                        f"{resp} at day {day} confirmed by {responses[j]} at day {days[j]}",
                    )
                )
                response_dates.append(date)
            elif late:
                out.append(
                    _Candidate(
                        "SD",
                        date,
                        f"{resp} at day {day} not confirmed; counts as SD "
                        f"(>= {sd_min_days} days after treatment start)",
                    )
                )
            else:
                out.append(
                    _Candidate(
                        "NE",
                        date,
                        f"{resp} at day {day} not confirmed and earlier than "
                        f"the {sd_min_days}-day minimum for SD",
                    )
                )
        elif resp in ("SD", "NON_CR_NON_PD"):
            label = "NON-CR/NON-PD" if resp == "NON_CR_NON_PD" else "SD"
            if late:
                out.append(
                    _Candidate(
                        resp,
                        date,
                        f"{label} at day {day} (>= {sd_min_days} days after treatment start)",
                    )
                )
            else:
                out.append(
                    _Candidate(
                        "NE",
                        date,
                        f"{label} at day {day} is earlier than the "
                        f"{sd_min_days}-day minimum for {label}",
                    )
                )
        elif resp == "PD":
            out.append(_Candidate("PD", date, f"PD at day {day}"))
        else:
            out.append(_Candidate("NE", date, f"NE at day {day}"))
    return out, response_dates


def _assessments_by_subject(data: pd.DataFrame) -> dict[object, tuple[list[str], list]]:
    """Post-baseline responses and dates of each subject, in the order of ``data``.

    A subject with BASELINE rows only maps to two empty lists. One pass over plain lists: this
    runs for every patient of the cohort.
    """
    post = (data["visit"] != _BASELINE).tolist() if "visit" in data.columns else None
    out: dict[object, tuple[list[str], list]] = {}
    rows = zip(
        data["subject_id"].tolist(),
        data["response"].astype(str).tolist(),
        list(data["assessment_date"]),
        post or [True] * len(data),
        strict=True,
    )
    for subject_id, response, date, is_post in rows:
        responses, dates = out.setdefault(subject_id, ([], []))
        if is_post:
            responses.append(response)
            dates.append(date)
    return out


def _subject_bor(
    assessments: tuple[list[str], list] | None,
    start: pd.Timestamp,
    confirmed: bool,
    confirmation_days: int,
    sd_min_days: int,
    max_nr_ne: int,
) -> dict:
    empty = {"bor_date": pd.NaT, "first_response_date": pd.NaT, "sd_duration_days": math.nan}
    if assessments is None:
        return {"bor": "MISSING", **empty, "reason": "no tumour assessment recorded"}
    responses, dates = assessments
    if not responses:
        return {"bor": "NE", **empty, "reason": "no post-baseline tumour assessment"}
    if "PD" in responses:
        # RECIST 1.1 §4.4: best response is recorded up to progression; later ones are ignored
        cut = responses.index("PD") + 1
        responses, dates = responses[:cut], dates[:cut]
    days = [int((d - start).days) for d in dates]
    cands, response_dates = _candidates(
        responses, dates, days, confirmed, confirmation_days, sd_min_days, max_nr_ne
    )
    best = min(cands, key=lambda c: c.key)
    sd_days = [d for r, d in zip(responses, days, strict=True) if r in _DISEASE_CONTROL]
    return {
        "bor": best.bor,
        "bor_date": best.date,
        "first_response_date": min(response_dates) if response_dates else pd.NaT,
        "sd_duration_days": float(max(sd_days)) if sd_days else math.nan,
        "reason": best.reason,
    }


def _population(treatment_start: pd.Series, subjects: list | None) -> tuple[pd.Series, list]:
    if not isinstance(treatment_start, pd.Series):
        raise TypeError(
            "treatment_start must be a pandas Series indexed by subject_id with the first-dose "
            f"dates as values, got {type(treatment_start).__name__}"
        )
    if treatment_start.index.duplicated().any():
        raise ValueError("treatment_start has duplicated subject_id in its index")
    start = pd.to_datetime(treatment_start, errors="raise")
    population = list(start.index) if subjects is None else list(subjects)
    if len(set(population)) != len(population):
        raise ValueError("subjects contains duplicated subject ids")
    unknown = [s for s in population if s not in start.index]
    if unknown:
        raise ValueError(
            f"subjects without a treatment_start entry: {unknown[:5]}; add them to "
            "treatment_start (NaT if never treated)"
        )
    return start, population


def derive_best_overall_response(
    timepoints: pd.DataFrame,
    treatment_start: pd.Series,
    subjects: list | None = None,
    confirmed: bool = True,
    confirmation_days: int = 28,
    sd_min_days: int = 42,
    ne_between_confirmation: str = "allow",
    response_col: str = "overall_response",
    sd_window_days: int = 0,
) -> pd.DataFrame:
    """Best overall response (BOR) per patient, confirmed or unconfirmed, per RECIST 1.1.

    Works on time-point responses derived from lesions (:func:`derive_timepoint_response`) or
    on investigator-recorded ``timepoint_responses`` (``response_col="response"``).

    Rules (RECIST 1.1 §4.4 and §4.6, Eisenhauer et al. 2009; same algorithm as pharmaverse
    admiralonco ``derive_param_confirmed_bor`` with ``accept_sd = FALSE`` and
    ``derive_param_bor``). "Day d" below means d days after ``treatment_start``.

    1. Only the patient's assessments up to and including the first PD are used; BASELINE
       rows (if a ``visit`` column exists) are ignored.
    2. Each assessment is classified:

       - **CR** (confirmed): a CR with a later CR at least ``confirmation_days`` after it, all
         assessments in between (and the confirming one) being CR or NE, with at most
         ``max_nr_ne`` NE among them.
       - **PR** (confirmed): a PR with a later CR or PR at least ``confirmation_days`` after it
         (the first such one confirms), all assessments up to it being CR, PR or NE (an SD in
         between breaks confirmation), at most ``max_nr_ne`` NE, and no PR after a CR within
         that window. So PR then CR confirms PR, but CR then PR confirms nothing (RECIST 1.1
         Table 3 footnote: the CR was probably not real).
       - **SD**: a CR, PR or SD at day >= ``sd_min_days`` (the minimum SD duration); thus an
         unconfirmed CR/PR late enough counts as SD.
       - **NON_CR_NON_PD**: a NON_CR_NON_PD at day >= ``sd_min_days``.
       - **PD**: a PD.
       - **NE**: an NE, or a CR/PR/SD/NON_CR_NON_PD that does not qualify for the above
         (earlier than ``sd_min_days`` and, for CR/PR, unconfirmed).

       With ``confirmed=False`` every CR and PR counts as such, whatever the timing.
    3. BOR = best classification in the order CR, PR, SD, NON_CR_NON_PD, PD, NE; ties are
       resolved by the earliest date (``bor_date``). Hence an SD too early followed by PD gives
       PD, and a PD followed by CR gives PD (the CR is after progression).
    4. Patients of the population with no assessment: **NE** when they appear in
       ``timepoints`` with only BASELINE rows, **MISSING** when absent from ``timepoints``.

    ``ne_between_confirmation``: ``"allow"`` accepts up to one NE between a response and its
    confirmation (admiralonco default ``max_nr_ne = 1``); ``"disallow"`` accepts none
    (``max_nr_ne = 0``).

    Parameters
    ----------
    timepoints : pandas.DataFrame
        One row per subject and assessment: ``subject_id``, ``assessment_date`` and the
        time-point response in ``response_col`` (CR, PR, SD, NON_CR_NON_PD, PD, NE);
        optional ``visit``.
    treatment_start : pandas.Series
        Treatment start date (index subject_id); the reference date for ``sd_min_days``.
    subjects : list or None
        Analysis population; defaults to the index of ``treatment_start``. Time points of
        other subjects are ignored.
    confirmed : bool, default True
        Require confirmation of CR/PR (single-arm trials, RECIST 1.1 §4.6).
    confirmation_days : int, default 28
        Minimum days between a response and its confirmation.
    sd_min_days : int, default 42
        Minimum days from treatment start for SD (protocol-defined, typically 6-8 weeks).
    sd_window_days : int, default 0
        Visit-window tolerance of the SD minimum: an assessment at day >= ``sd_min_days −
        sd_window_days`` satisfies it, so that the first scheduled scan done a few days early
        (a 6-week scan on day 39 with a 7-day window) counts as SD, not NE. RECIST 1.1 leaves the
        minimum (and so its window) to the protocol (§4.4: "a minimum interval … defined in the
        protocol").
    ne_between_confirmation : {"allow", "disallow"}
        Whether one NE between the response and its confirmation is accepted.
    response_col : str, default "overall_response"
        Column of ``timepoints`` holding the time-point response.

    Returns
    -------
    pandas.DataFrame
        One row per subject of the population, in population order, columns:
        ``subject_id``; ``bor`` (CR, PR, SD, NON_CR_NON_PD, PD, NE, MISSING); ``bor_date``
        (date of the first assessment giving the BOR, NaT if MISSING/NE without assessment);
        ``first_response_date`` (date of the first CR/PR that counts as a response: first
        *confirmed* CR/PR when ``confirmed``, first CR/PR otherwise; NaT if none; the start of
        the duration of response, RECIST 1.1 §4.4); ``sd_duration_days`` (days from treatment
        start to the last CR, PR, SD or NON_CR_NON_PD assessment up to the first PD, NaN if
        none; used for the clinical benefit rate); ``reason`` (plain words, e.g.
        ``"PR at day 43 confirmed by PR at day 85"``).

    Raises
    ------
    ValueError
        Invalid codes, missing dates, two assessments of one subject on one date, subjects not
        in ``treatment_start``, or assessments of a subject without a treatment start.
    """
    if not isinstance(confirmed, bool):
        raise TypeError(f"confirmed must be True or False, got {confirmed!r}")
    confirmation_days = _check_int(confirmation_days, "confirmation_days")
    sd_min_days = _check_int(sd_min_days, "sd_min_days")
    sd_window_days = _check_int(sd_window_days, "sd_window_days")
    if sd_window_days > sd_min_days:
        raise ValueError(
            f"sd_window_days ({sd_window_days}) cannot exceed sd_min_days ({sd_min_days})"
        )
    # the window lowers the day from which SD counts; messages quote that effective day
    sd_min_days = sd_min_days - sd_window_days
    if ne_between_confirmation not in _NE_OPTIONS:
        raise ValueError(
            "ne_between_confirmation must be 'allow' or 'disallow', "
            f"got {ne_between_confirmation!r}"
        )
    max_nr_ne = _NE_OPTIONS[ne_between_confirmation]
    start, population = _population(treatment_start, subjects)
    if subjects is None and isinstance(timepoints, pd.DataFrame) and "subject_id" in timepoints:
        orphans = sorted(set(timepoints["subject_id"]) - set(start.index))
        if orphans:
            raise ValueError(
                f"timepoints has subjects missing from treatment_start: {orphans[:5]}; add "
                "their treatment start or pass subjects= to restrict the population"
            )
    data = _prepare_timepoints(timepoints, response_col, pd.Index(population))
    by_subject = _assessments_by_subject(data)
    untreated = [s for s in by_subject if pd.isna(start[s])]
    if untreated:
        raise ValueError(
            f"subjects with tumour assessments but no treatment_start: {untreated[:5]}; "
            "fill in their first-dose date or exclude them from subjects"
        )
    rows = []
    for subject_id in population:
        result = _subject_bor(
            by_subject.get(subject_id),
            start[subject_id],
            confirmed,
            confirmation_days,
            sd_min_days,
            max_nr_ne,
        )
        rows.append({"subject_id": subject_id, **result})
    columns = ["subject_id", "bor", "bor_date", "first_response_date", "sd_duration_days", "reason"]
    out = pd.DataFrame(rows, columns=columns)
    out["bor_date"] = pd.to_datetime(out["bor_date"])
    out["first_response_date"] = pd.to_datetime(out["first_response_date"])
    return out.astype({"sd_duration_days": np.float64, "bor": str, "reason": str})
