"""HER2-CTC / T-DM1 protocol fidelity: FISH cut-off sensitivity, treatment cohorts by the number of
amplified CTCs, design status of the Simon design, analysis populations.

The trial (CirCe T-DM1, NCT01975142; Jacot W et al., Breast Cancer Res 2019;21:121) called a CTC
HER2-amplified at HER2/CEP17 >= 2.2 and described two treatment cohorts by the number of amplified
CTCs (1-2 and >= 3). The registry gives only "adaptive design": the Simon two-stage design used
here is either *assumed* or taken from the *protocol*, and the report says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import rates, simon, survival
from helpers.endpoints.efficacy import design as simon_glue
from helpers.her2_ctc import screening
from helpers.results import empty_estimate_row

__all__ = [
    "DESIGN_STATUSES",
    "CutoffSensitivity",
    "compute_cohort_simon_decisions",
    "compute_cutoff_sensitivity",
    "compute_design_dual_ci",
    "derive_cohort_tte",
    "derive_enrolled_not_treated",
    "derive_per_protocol",
    "derive_treatment_cohorts",
    "summarise_cohort_efficacy",
    "summarise_decision_text",
]

#: Allowed values of the ``simon_design_status`` parameter.
DESIGN_STATUSES = ("assumed", "protocol")
_CP = "Clopper–Pearson exact"


# --------------------------------------------------------------------------------------------
# FISH cut-off: sensitivity analysis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutoffSensitivity:
    """Detection rates at the primary and the sensitivity cut-off, and the patients that change.

    Attributes
    ----------
    table : pandas.DataFrame
        Estimate table: detection rate among all screened and among FISH-evaluable patients at
        each cut-off (``analysis`` = primary / sensitivity).
    changed : pandas.DataFrame
        One row per patient whose eligibility (>= 1 amplified CTC, reader R1) differs between the
        cut-offs: ``USUBJID, NCELLEVL, MAXRAT, NAMP_PRIMARY, NAMP_SENS, ELIG_PRIMARY, ELIG_SENS,
        TRTFL, CHANGE``.
    """

    table: pd.DataFrame
    changed: pd.DataFrame


def compute_cutoff_sensitivity(
    primary: screening.ScreeningCalls,
    sensitivity: screening.ScreeningCalls,
    adsl: pd.DataFrame,
    ci_level: float = 0.95,
) -> CutoffSensitivity:
    """Detection rate of HER2-amplified CTCs at two FISH cut-offs and who changes eligibility.

    Method: the rows "≥1 HER2-amplified CTC, all screened patients" and "…, FISH-evaluable
    patients" of :func:`helpers.her2_ctc.screening.summarise_detection_rates` (Clopper–Pearson
    exact CIs) at each cut-off; the two calls are paired on the same patients, so the patients
    whose eligibility differs are listed rather than the two rates compared by a test.

    Parameters
    ----------
    primary, sensitivity : ScreeningCalls
        :func:`helpers.her2_ctc.screening.derive_screening_calls` at the trial cut-off (2.2) and at
        the sensitivity cut-off (e.g. 2.0, ASCO/CAP 2018 group 1 in tissue).
    adsl : pandas.DataFrame
        ``USUBJID, TRTFL`` (whether the patient was actually treated).
    ci_level : float
        Confidence level.

    Returns
    -------
    CutoffSensitivity

    References
    ----------
    Jacot W et al. Breast Cancer Res 2019;21:121 (cut-off 2.2). Wolff AC et al. J Clin Oncol
    2018;36:2105-2122 (ratio 2.0, tissue).
    """
    validate_ci_level(ci_level)
    validate_frame(adsl, "adsl", ["USUBJID", "TRTFL"])
    tables = []
    for calls, analysis in ((primary, "primary"), (sensitivity, "sensitivity")):
        if not isinstance(calls, screening.ScreeningCalls):
            raise TypeError("primary and sensitivity must be ScreeningCalls")
        det = screening.summarise_detection_rates(calls.patients, ci_level)
        keep = det["parameter"].str.startswith("≥1 HER2-amplified CTC")
        det = det[keep].copy()
        det["parameter"] = det["parameter"] + f" [HER2/CEP17 ≥ {calls.ratio_threshold!r}]"
        det["analysis"] = analysis
        tables.append(det)
    a = primary.patients.set_index("USUBJID")
    b = sensitivity.patients.set_index("USUBJID")
    both = pd.DataFrame(
        {
            "NCELLEVL": a["NCELLEVL"],
            "MAXRAT": a["MAXRAT"],
            "NAMP_PRIMARY": a["NAMP"],
            "NAMP_SENS": b["NAMP"].reindex(a.index),
            "ELIG_PRIMARY": a["HER2AMPFL"],
            "ELIG_SENS": b["HER2AMPFL"].reindex(a.index),
        }
    )
    both["TRTFL"] = adsl.set_index("USUBJID")["TRTFL"].reindex(both.index)
    differs = both["ELIG_PRIMARY"].fillna("-") != both["ELIG_SENS"].fillna("-")
    changed = both[differs].reset_index()
    changed["CHANGE"] = [
        f"eligible at {sensitivity.ratio_threshold!r} only"
        if s == "Y"
        else f"eligible at {primary.ratio_threshold!r} only"
        for s in changed["ELIG_SENS"]
    ]
    return CutoffSensitivity(table=pd.concat(tables, ignore_index=True), changed=changed)


# --------------------------------------------------------------------------------------------
# Treatment cohorts by the number of amplified CTCs
# --------------------------------------------------------------------------------------------


def _check_boundaries(boundaries: Sequence[int]) -> list[int]:
    if isinstance(boundaries, str) or not isinstance(boundaries, Sequence) or not boundaries:
        raise TypeError(f"boundaries must be a list of integers such as [1, 3], got {boundaries!r}")
    out = []
    for b in boundaries:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"cohort boundaries must be integers >= 1, got {boundaries!r}")
        out.append(int(b))
    if out != sorted(set(out)):
        raise ValueError(f"cohort boundaries must be strictly increasing, got {boundaries!r}")
    return out


def _cohort_labels(bounds: list[int]) -> list[str]:
    labels = []
    for lo, hi in zip(bounds, [*bounds[1:], None], strict=True):
        if hi is None:
            labels.append(f"≥{lo} amplified CTCs")
        elif hi - lo == 1:
            labels.append(f"{lo} amplified CTC{'s' if lo > 1 else ''}")
        else:
            labels.append(f"{lo}–{hi - 1} amplified CTCs")
    return labels


def derive_treatment_cohorts(
    adctc: pd.DataFrame, patients: pd.Series | Sequence[str], boundaries: Sequence[int] = (1, 3)
) -> pd.DataFrame:
    """Treatment cohort of each patient by the number of HER2-amplified CTCs at screening.

    Method: cohort k holds patients with ``boundaries[k] <= NAMP < boundaries[k+1]``, the last
    ``NAMP >= boundaries[-1]`` (default 1–2 and ≥3, the trial's two cohorts). NAMP is the reader-R1
    count at the pipeline's cut-off (``adctc``). Patients below the first boundary (treated without
    an amplified CTC at this cut-off) get the cohort "below 1 amplified CTC" and are kept.

    Returns
    -------
    DataFrame
        ``USUBJID, NAMP, CTCCNT, COHORT`` (ordered categorical), in the order of ``patients``.
    """
    bounds = _check_boundaries(boundaries)
    validate_frame(adctc, "adctc", ["USUBJID", "NAMP", "CTCCNT"])
    ids = pd.Series(list(patients), dtype=object, name="USUBJID")
    info = adctc.set_index("USUBJID")
    namp = ids.map(info["NAMP"]).astype(float)
    labels = _cohort_labels(bounds)
    below = f"below {bounds[0]} amplified CTC{'s' if bounds[0] > 1 else ''}"
    cohort = []
    for n in namp:
        if math.isnan(n) or n < bounds[0]:
            cohort.append(below)
            continue
        k = max(i for i, b in enumerate(bounds) if n >= b)
        cohort.append(labels[k])
    categories = [below, *labels] if below in cohort else labels
    return pd.DataFrame(
        {
            "USUBJID": ids,
            "NAMP": namp,
            "CTCCNT": ids.map(info["CTCCNT"]).astype(float),
            "COHORT": pd.Categorical(cohort, categories=categories, ordered=True),
        }
    )


def derive_cohort_tte(tte: pd.DataFrame, cohorts: pd.DataFrame) -> pd.DataFrame:
    """Time-to-event rows of the cohort patients with their ``COHORT`` (for KM by cohort).

    Returns
    -------
    DataFrame
        ``tte`` rows of the patients in ``cohorts`` with the ordered categorical ``COHORT``.
    """
    validate_frame(tte, "tte", ["USUBJID", "AVAL", "CNSR"])
    validate_frame(cohorts, "cohorts", ["USUBJID", "COHORT"])
    return tte.merge(cohorts[["USUBJID", "COHORT"]], on="USUBJID", how="inner")


def summarise_cohort_efficacy(
    bor: pd.DataFrame,
    pfs: pd.DataFrame,
    cohorts: pd.DataFrame,
    landmarks: Sequence[float],
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """ORR, DCR and PFS (median, landmark rates) per treatment cohort and overall.

    Method: :func:`helpers.endpoints.rates.summarise_response_rates` (Clopper–Pearson) and
    :func:`helpers.endpoints.survival.summarise_km` (Kaplan–Meier, log(−log) CI,
    Brookmeyer–Crowley median CI) within each cohort; a cohort too small for an estimate gets the
    "not estimable" rows those helpers return (Kaplan–Meier below
    :data:`helpers.endpoints.survival.KM_MIN_PATIENTS`; proportions are exact from one patient),
    a cohort without a patient one row "not estimable: 0 patients in this cohort".

    Returns
    -------
    DataFrame
        Estimate table with a ``cohort`` column (cohort label or "overall").
    """
    validate_ci_level(ci_level)
    validate_frame(cohorts, "cohorts", ["USUBJID", "COHORT"])
    groups = [("overall", cohorts["USUBJID"])] + [
        (str(c), cohorts.loc[cohorts["COHORT"] == c, "USUBJID"])
        for c in cohorts["COHORT"].cat.categories
    ]
    out = []
    for label, ids in groups:
        b = bor[bor["USUBJID"].isin(ids)]
        p = pfs[pfs["USUBJID"].isin(ids)]
        parts = []
        if len(b):
            parts.append(
                rates.summarise_response_rates(b, population_label=label, ci_level=ci_level)
            )
        if len(p):
            parts.append(survival.summarise_km(p, f"PFS, {label}", landmarks, ci_level))
        if not parts:  # a cohort without a patient keeps its place and says so
            why = "not estimable: 0 patients in this cohort"
            row = empty_estimate_row(f"ORR (CR+PR), {label} (N=0)", 0, ci_level, _CP, why)
            parts.append(pd.DataFrame([row]))
        for part in parts:
            out.append(part.assign(cohort=label))
    return pd.concat(out, ignore_index=True)


def compute_cohort_simon_decisions(
    design: simon.SimonDesign,
    bor: pd.DataFrame,
    adsl: pd.DataFrame,
    cohorts: pd.DataFrame,
    population_flag: str,
    status: str,
) -> pd.DataFrame:
    """Two-stage decision applied within each treatment cohort and overall.

    Method: each cohort is read as its own Simon two-stage trial with the same design
    (:func:`helpers.endpoints.efficacy.design.derive_simon_stages`: stage 1 = the first ``n1``
    patients of the cohort by treatment start; :func:`helpers.endpoints.simon.derive_simon_decision`
    with its handling of incomplete stages). Decisions are worded by
    :func:`summarise_decision_text` according to ``status``.

    Returns
    -------
    DataFrame
        ``cohort, N, responses, stage1_decision, final_decision, text``.
    """
    validate_frame(cohorts, "cohorts", ["USUBJID", "COHORT"])
    groups = [("overall", cohorts["USUBJID"])] + [
        (str(c), cohorts.loc[cohorts["COHORT"] == c, "USUBJID"])
        for c in cohorts["COHORT"].cat.categories
    ]
    rows = []
    for label, ids in groups:
        sub = adsl[adsl["USUBJID"].isin(ids)]
        empty = not sub[population_flag].eq("Y").any()  # a cohort of a small trial may be empty
        if not empty:
            stages = simon_glue.derive_simon_stages(sub, design.n1, population_flag)
            counts = simon_glue.derive_simon_counts(bor[bor["USUBJID"].isin(ids)], stages)
        if empty or counts.n_stage1 == 0:
            rows.append(
                {
                    "cohort": label,
                    "N": 0,
                    "responses": 0,
                    "stage1_decision": "not estimable: no evaluable patient",
                    "final_decision": "not estimable: no evaluable patient",
                    "text": "not estimable: no evaluable patient in this cohort",
                }
            )
            continue
        decision = simon.derive_simon_decision(
            design, counts.responses_stage1, counts.n_stage1, counts.responses_total, counts.n_total
        )
        rows.append(
            {
                "cohort": label,
                "N": counts.n_stage1 if counts.n_total is None else counts.n_total,
                "responses": (
                    counts.responses_stage1
                    if counts.responses_total is None
                    else counts.responses_total
                ),
                "stage1_decision": decision.stage1_decision,
                "final_decision": summarise_decision_text(decision.final_decision, status),
                "text": summarise_decision_text(decision.text, status),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Design status: assumed or protocol
# --------------------------------------------------------------------------------------------


def _check_status(status: str) -> str:
    if status not in DESIGN_STATUSES:
        raise ValueError(f"simon_design_status must be one of {DESIGN_STATUSES}, got {status!r}")
    return status


def summarise_decision_text(text: str, status: str) -> str:
    """Word a Simon decision according to the design status.

    ``status = "protocol"`` returns ``text`` unchanged. ``status = "assumed"`` (the design is not
    in the registry) prefixes "Under the assumed design (illustrative): " and replaces "reject H0:
    promising" by "the assumed rule would be met (illustrative; not a trial decision)" and "do not
    reject H0" by "the assumed rule would not be met (illustrative)", so that no report states a
    trial decision the trial never pre-specified here.
    """
    _check_status(status)
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    if status == "protocol":
        return text
    out = text.replace(
        "reject H0: promising",
        "the assumed rule would be met (illustrative; not a trial decision)",
    ).replace("do not reject H0", "the assumed rule would not be met (illustrative)")
    out = out.replace("reject H0 if", "rule met if")
    return f"Under the assumed design (illustrative): {out}"


def compute_design_dual_ci(
    design: simon.SimonDesign, counts: simon_glue.SimonCounts, alpha: float, label: str
) -> pd.DataFrame:
    """Design-adjusted inference at the confidence level dual to the one-sided test.

    Method: :func:`helpers.endpoints.efficacy.design.compute_simon_inference` at
    ``ci_level = 1 − 2α`` (90 % two-sided for one-sided α = 0.05): its lower limit exceeds p0
    exactly when the one-sided test at level α rejects (Jennison & Turnbull 2000, §8.5).

    Returns
    -------
    DataFrame
        The estimate rows of ``compute_simon_inference`` with ``ci_level = 1 − 2α`` and a note.
    """
    if not isinstance(alpha, float | int) or not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    level = round(1.0 - 2.0 * float(alpha), 10)
    out = simon_glue.compute_simon_inference(design, counts, level, label=label)
    out["parameter"] = out["parameter"] + f" [{level:.0%} CI, dual to the one-sided test]"
    note = f"CI dual to the one-sided test at α = {alpha:g}"
    if "note" in out.columns:
        out["note"] = [f"{n}; {note}" if isinstance(n, str) and n else note for n in out["note"]]
    else:
        out["note"] = note
    return out


# --------------------------------------------------------------------------------------------
# Populations
# --------------------------------------------------------------------------------------------


def derive_enrolled_not_treated(adctc: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """Enrolled-for-treatment population: patients with ≥1 amplified CTC, and those not treated.

    Method: ``HER2AMPFL = "Y"`` (reader R1, pipeline cut-off) defines the patients enrolled for
    treatment; those with ``TRTFL = "N"`` are listed with the reason recorded in ``NTRTRSN`` when
    the data carry it (optional raw column ``reason_not_treated``), else "not recorded", and the
    facts that may explain it (death date, inclusion date).

    Returns
    -------
    DataFrame
        ``USUBJID, NAMP, INCLDT, DTHDT, REASON`` for the amplified, untreated patients.
    """
    validate_frame(adctc, "adctc", ["USUBJID", "HER2AMPFL", "NAMP"])
    validate_frame(adsl, "adsl", ["USUBJID", "TRTFL"])
    amp = adctc.loc[adctc["HER2AMPFL"].eq("Y"), ["USUBJID", "NAMP"]]
    cols = [c for c in ("USUBJID", "TRTFL", "INCLDT", "DTHDT", "NTRTRSN") if c in adsl.columns]
    out = amp.merge(adsl[cols], on="USUBJID", how="left")
    out = out[out["TRTFL"].ne("Y")].reset_index(drop=True)
    if "NTRTRSN" in out.columns:
        reason = out["NTRTRSN"].where(out["NTRTRSN"].notna(), None)
    else:
        reason = pd.Series([None] * len(out), dtype=object)
    out["REASON"] = [
        r
        if isinstance(r, str)
        else "not recorded (optional column reason_not_treated absent or empty)"
        for r in reason
    ]
    keep = [c for c in ("USUBJID", "NAMP", "INCLDT", "DTHDT", "REASON") if c in out.columns]
    return out[keep]


def derive_per_protocol(
    cells: pd.DataFrame,
    adsl: pd.DataFrame,
    reference_reader: str = "R2",
    population_flag: str = "EFFFL",
) -> pd.DataFrame:
    """Per-protocol view: eligibility of each patient of a population confirmed by a second reader.

    Method: among the CTCs the reference reader scored, eligibility is confirmed when at least one
    is amplified (``AMPFL = "Y"``), not confirmed when none is, and "not re-read" when the
    reference reader scored none of the patient's CTCs. The per-protocol population excludes the
    "not confirmed" patients only (a patient not re-read keeps the primary reader's call).

    Returns
    -------
    DataFrame
        One row per patient of ``population_flag``: ``USUBJID, NREF (CTCs scored by the reference
        reader), NAMPREF (amplified among them), CONFIRM ("confirmed" / "not confirmed" /
        "not re-read"), PPROTFL (Y/N)``.
    """
    validate_frame(cells, "cells", ["USUBJID", "READER", "EVALFL", "AMPFL"])
    validate_frame(adsl, "adsl", ["USUBJID", population_flag])
    ids = adsl.loc[adsl[population_flag].eq("Y"), "USUBJID"]
    ref = cells[cells["READER"].eq(reference_reader) & cells["EVALFL"].eq("Y")]
    nref = ref.groupby("USUBJID").size()
    namp = ref[ref["AMPFL"].eq("Y")].groupby("USUBJID").size()
    out = pd.DataFrame({"USUBJID": ids.to_numpy()})
    out["NREF"] = out["USUBJID"].map(nref).fillna(0).astype(int)
    out["NAMPREF"] = out["USUBJID"].map(namp).fillna(0).astype(int)
    out["CONFIRM"] = [
        "not re-read" if n == 0 else ("confirmed" if a > 0 else "not confirmed")
        for n, a in zip(out["NREF"], out["NAMPREF"], strict=True)
    ]
    out["PPROTFL"] = out["CONFIRM"].ne("not confirmed").map({True: "Y", False: "N"})
    return out
