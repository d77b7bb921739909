"""Synthetic demo cohort: the generative models (frozen dataclasses whose fields are the true
parameters), the study calendar and the table layouts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GENERATOR_VERSION = "1.0.0"
DEFAULT_SEED = 20261121
CUTOFF_DATE = "2026-06-30"
#: Truths are properties of the model, not of one cohort: their Monte Carlo seed is fixed.
TRUTH_SEED = 20240917
TRUTH_DRAWS = 200_000
DAYS_PER_MONTH = 365.25 / 12
TRIAL_HER2 = "her2_ctc_tdm1"
TRIAL_EVEROLIMUS = "everolimus_nk"
_LN2 = math.log(2.0)

# --------------------------------------------------------------------------------------------
# Raw-data contract (docs/data_dictionary.md): table -> columns, in file order
# --------------------------------------------------------------------------------------------
_COMMON_TABLES: dict[str, tuple[str, ...]] = {
    "patients": (
        "subject_id",
        "site_id",
        "sex",
        "age",
        "ecog",
        "hr_status",
        "her2_ihc",
        "her2_ish",
        "metastatic_sites",
        "visceral_disease",
        "prior_lines_metastatic",
        "date_inclusion",
        "date_treatment_start",
    ),
    "exposure": ("subject_id", "cycle", "date_start", "dose", "dose_unit", "dose_level", "action"),
    "end_of_treatment": ("subject_id", "date_last_dose", "eot_reason"),
    "tumour_lesions": (
        "subject_id",
        "visit",
        "assessment_date",
        "lesion_id",
        "lesion_category",
        "organ",
        "lymph_node",
        "diameter_mm",
        "non_target_status",
    ),
    "survival": (
        "subject_id",
        "date_progression",
        "progression_type",
        "date_death",
        "death_cause",
        "date_last_alive",
    ),
    "adverse_events": (
        "subject_id",
        "ae_id",
        "ae_term",
        "soc",
        "grade",
        "date_start",
        "date_end",
        "serious",
        "related",
        "action_taken",
    ),
}

#: Columns of every simulated table, per trial (the contract of docs/data_dictionary.md).
TABLE_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    TRIAL_HER2: {
        **_COMMON_TABLES,
        "ctc_screening": (
            "subject_id",
            "sample_date",
            "blood_volume_ml",
            "cellsearch_status",
            "ctc_count",
            "fish_status",
            "fish_failure_reason",
        ),
        "ctc_fish": ("subject_id", "cell_id", "reader_id", "her2_signals", "cep17_signals"),
        "ctc_if": ("subject_id", "cell_id", "if_score", "if_intensity"),
        "ctc_followup": ("subject_id", "visit", "sample_date", "ctc_count"),
        "ctdna": (
            "subject_id",
            "visit",
            "sample_date",
            "assay",
            "tumour_fraction_pct",
            "lod_pct",
            "below_lod",
        ),
    },
    TRIAL_EVEROLIMUS: {
        **_COMMON_TABLES,
        "granzyme_b": (
            "subject_id",
            "visit",
            "sample_date",
            "gzmb_pg_ml",
            "lloq_pg_ml",
            "below_lloq",
        ),
        "nk_flow": (
            "subject_id",
            "visit",
            "sample_date",
            "stimulation",
            "population",
            "statistic",
            "marker",
            "value",
        ),
        "western_blot": (
            "membrane_id",
            "lane",
            "lane_type",
            "subject_id",
            "visit",
            "sample_date",
            "hours_since_last_dose",
            "band",
            "intensity",
            "saturated",
            "background",
            "calibrator_load",
        ),
    },
}

SITE_CODES = (
    "bone",
    "liver",
    "lung",
    "pleura",
    "lymph_node",
    "brain",
    "skin_soft_tissue",
    "peritoneum",
    "other",
)
_VISCERAL = np.isin(SITE_CODES, ("liver", "lung", "pleura", "peritoneum", "brain"))
#: Organs that carry RECIST target lesions in the simulation.
_MEASURABLE = np.isin(SITE_CODES, ("liver", "lung", "lymph_node", "skin_soft_tissue"))
_IHC_CODES = ("0", "1+", "2+")
_CLASS_PD, _CLASS_SD, _CLASS_RESPONSE = 0, 1, 2
_JITTER_DAYS = 6  # visits happen on the nominal day or up to 6 days late


# --------------------------------------------------------------------------------------------
# Generative models (their fields are the true parameters, recorded in the manifest)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatientModel:
    """Baseline characteristics of one trial population."""

    prefix: str
    site_weights: tuple[float, ...]
    p_male: float
    age_mean: float
    age_sd: float
    ecog_probs: tuple[float, ...]
    p_hr_positive: float
    ihc_probs: tuple[float, float, float]
    site_probs: tuple[float, ...]
    prior_lines_probs: tuple[float, ...]
    age_range: tuple[int, int] = (28, 90)
    p_ish_done_ihc1: float = 0.3


@dataclass(frozen=True)
class CtcScreeningModel:
    """CellSearch, per-CTC FISH and immunofluorescence at screening (HER2-CTC trial)."""

    p_latent_amplified_by_ihc: tuple[float, float, float] = (0.15, 0.23, 0.37)
    p_cellsearch_failure: float = 0.03
    ctc_nb_size: float = 0.2976  # solves P(0 CTC) = 0.35, P(>=5 CTC) = 0.40
    ctc_nb_mean: float = 9.83
    p_fish_failure: float = 0.08
    fish_failure_reasons: tuple[str, ...] = (
        "hybridisation_failure",
        "cell_loss",
        "poor_morphology",
        "other",
    )
    fish_failure_reason_probs: tuple[float, ...] = (0.40, 0.30, 0.20, 0.10)
    max_cells_read: int = 30
    amplified_fraction_beta: tuple[float, float] = (2.0, 2.5)
    p_cell_not_scoreable: float = 0.03
    cep17_probs: tuple[float, ...] = (0.15, 0.50, 0.25, 0.10)  # 1, 2, 3, 4 signals
    p_equivocal_non_amplified: float = 0.10  # HER2 4-5 with CEP17 >= 3 (ASCO/CAP group 4)
    p_reader2_patient: float = 0.5
    p_reader2_cell: float = 0.4
    reader_disagreement: float = 0.08
    if_median_non_amplified: float = 180.0
    if_log_sd: float = 0.6
    if_auc: float = 0.85
    if_score_thresholds: tuple[float, float, float] = (150.0, 300.0, 600.0)
    p_treated_if_detected: float = 0.90


@dataclass(frozen=True)
class Her2CourseModel:
    """T-DM1 clinical course: response class first, then latent progression time (days)."""

    visit_weeks: int = 6
    p_responder: float = 0.30
    p_stable: float = 0.25
    p_response_at_first_visit: float = 0.70
    p_complete_response: float = 0.10
    primary_progression_days: tuple[float, float] = (5.0, 41.0)
    stable_offset_days: float = 79.0
    stable_tail_median_days: float = 68.0
    responder_tail_median_days: float = 200.0
    p_death_without_progression: float = 0.05
    post_progression_median_days: float = 290.0


@dataclass(frozen=True)
class EverolimusCourseModel:
    """Everolimus course: exponential latent PFS, proportional hazards on the GzmB change."""

    visit_weeks: int = 12
    pfs_median_days: float = 7.0 * DAYS_PER_MONTH  # at the population-average GzmB change
    hr_per_log_gzmb_decrease: float = 1.5
    p_responder_if_progression_free_at_w24: float = 0.21
    p_complete_response: float = 0.05
    p_death_without_progression: float = 0.05
    post_progression_median_days: float = 380.0


@dataclass(frozen=True)
class AeSpec:
    """One MedDRA preferred term of an adverse-event profile."""

    term: str
    soc: str
    incidence: float
    grade_probs: tuple[float, float, float, float]
    p_related: float


@dataclass(frozen=True)
class TreatmentModel:
    """Dosing, discontinuation and adverse events of one study drug."""

    period_days: int
    dose_levels: tuple[float, ...]
    dose_unit: str
    continuous_dosing: bool
    p_toxicity_discontinuation: float
    p_other_discontinuation: float
    ae_profile: tuple[AeSpec, ...]
    withdrawal_terms: tuple[str, ...]
    delay_days: tuple[int, int] = (7, 14)


@dataclass(frozen=True)
class GranzymeBModel:
    """Plasma granzyme B (ELISA): log-normal, random patient intercept."""

    baseline_geomean_pg_ml: float = 150.0
    log_sd: float = 0.9
    within_subject_correlation: float = 0.6
    ratio_m3: float = 0.70
    ratio_m9: float = 0.75
    lloq_pg_ml: float = 20.0
    p_missing_m3: float = 0.08
    p_missing_m9_progression_free: float = 0.10
    p_missing_m9_after_progression: float = 0.55


@dataclass(frozen=True)
class FlowReadout:
    """One FlowJo row type; values log-normal with ratios of geometric means at M3 and M9."""

    key: str
    stimulation: str
    population: str
    statistic: str
    marker: str
    geomean: float
    log_sd: float
    ratio_m3: float = 1.0
    ratio_m9: float = 1.0
    analysed: bool = True


_LYM = "Lymphocytes/Single Cells"
_NK = f"{_LYM}/CD3-/NK"
_FREQ = "freq_of_parent"
# key, stimulation, gate path, statistic, marker, geometric mean, log SD, ratio M3, ratio M9.
# Phenotype only under stimulation "none" (where the helpers.everolimus_nk.flow catalogue expects
# it),
# function read-outs under both. CD56dim is 100 - CD56bright (exclusive gates).
_FLOW_ROWS: tuple[tuple[Any, ...], ...] = (
    ("nk_count", "none", _NK, "count_per_ul", "", 180, 0.5, 0.85, 0.85),
    ("nk_pct", "none", _NK, _FREQ, "", 45, 0.22, 1.0, 1.0),
    ("cd56bright_pct", "none", f"{_NK}/CD56bright", _FREQ, "", 6, 0.45, 1.40, 1.30),
    ("cd56dim_pct", "none", f"{_NK}/CD56dim", _FREQ, "", 94, 0.0, 1.0, 1.0),
    ("cd57_pct", "none", f"{_NK}/CD56dim/CD57+", _FREQ, "", 55, 0.2, 1.0, 1.0),
    ("nkg2a_pct", "none", f"{_NK}/NKG2A+", _FREQ, "", 45, 0.22, 1.0, 1.0),
    ("kir_pct", "none", f"{_NK}/KIR+", _FREQ, "", 50, 0.2, 1.0, 1.0),
    ("nkg2d_mfi", "none", _NK, "median_fi", "NKG2D", 2500, 0.3, 0.80, 0.85),
    ("nkp46_mfi", "none", _NK, "median_fi", "NKp46", 1800, 0.3, 1.0, 1.0),
    ("cd107a_pct_none", "none", f"{_NK}/CD107a+", _FREQ, "", 2.5, 0.5, 1.0, 1.0),
    ("ifng_pct_none", "none", f"{_NK}/IFNg+", _FREQ, "", 1.0, 0.5, 1.0, 1.0),
    ("cd107a_pct_k562", "K562", f"{_NK}/CD107a+", _FREQ, "", 28, 0.35, 0.75, 0.80),
    ("ifng_pct_k562", "K562", f"{_NK}/IFNg+", _FREQ, "", 14, 0.45, 0.70, 0.75),
)
# Parent gates of a real FlowJo export, not analysed (null effects).
_FLOW_PARENT_ROWS: tuple[tuple[Any, ...], ...] = (
    ("lymphocytes_pct", "none", "Lymphocytes", _FREQ, "", 60, 0.15, 1.0, 1.0),
    ("singlets_pct", "none", _LYM, _FREQ, "", 95, 0.015, 1.0, 1.0),
    ("cd3neg_pct", "none", f"{_LYM}/CD3-", _FREQ, "", 28, 0.25, 1.0, 1.0),
)


def _default_flow_readouts() -> tuple[FlowReadout, ...]:
    parents = tuple(FlowReadout(*row, analysed=False) for row in _FLOW_PARENT_ROWS)
    return parents + tuple(FlowReadout(*row) for row in _FLOW_ROWS)


@dataclass(frozen=True)
class NkFlowModel:
    """NK flow cytometry (FlowJo long export)."""

    readouts: tuple[FlowReadout, ...] = field(default_factory=_default_flow_readouts)
    within_subject_correlation: float = 0.6
    acquired_events: int = 100_000
    p_sample_failure: float = 0.04


@dataclass(frozen=True)
class WesternBlotModel:
    """rpS6 western blot densitometry: phospho/total ratio, membrane and lane effects."""

    sample_lanes_per_membrane: int = 12
    baseline_ratio_geomean: float = 1.0  # relative to the calibrator lysate
    ratio_log_sd: float = 0.35
    within_subject_correlation: float = 0.6
    ratio_m3: float = 0.40
    ratio_m9: float = 0.45
    membrane_log_sd: float = 0.30
    lane_loading_log_sd: float = 0.15
    band_noise_log_sd: float = 0.08
    band_reference_intensity: tuple[float, float, float] = (20000.0, 30000.0, 40000.0)
    p_sample_missing: float = 0.05
    saturated_lanes: tuple[int, int] = (1, 2)
    undetectable_m3_lanes: int = 1


_GEN = "General disorders and administration site conditions"
_GI = "Gastrointestinal disorders"
_BLOOD = "Blood and lymphatic system disorders"
_RESP = "Respiratory, thoracic and mediastinal disorders"
_MSK = "Musculoskeletal and connective tissue disorders"
_META = "Metabolism and nutrition disorders"
_NERV = "Nervous system disorders"
_SKIN = "Skin and subcutaneous tissue disorders"
_INV = "Investigations"
_INF = "Infections and infestations"
# MedDRA preferred term, SOC, incidence at full exposure, P(grade 1..4), P(related);
# incidences after EMILIA (T-DM1, Verma 2012) and BOLERO-2 (everolimus, Baselga 2012).
_T_DM1_AES: tuple[tuple[Any, ...], ...] = (
    ("Fatigue", _GEN, 0.36, (0.60, 0.35, 0.05, 0.0), 0.80),
    ("Nausea", _GI, 0.40, (0.70, 0.27, 0.03, 0.0), 0.85),
    ("Thrombocytopenia", _BLOOD, 0.30, (0.45, 0.20, 0.25, 0.10), 0.95),
    ("Aspartate aminotransferase increased", _INV, 0.28, (0.70, 0.20, 0.09, 0.01), 0.95),
    ("Alanine aminotransferase increased", _INV, 0.22, (0.70, 0.20, 0.09, 0.01), 0.95),
    ("Epistaxis", _RESP, 0.22, (0.90, 0.10, 0.0, 0.0), 0.80),
    ("Headache", _NERV, 0.25, (0.70, 0.28, 0.02, 0.0), 0.60),
    ("Peripheral sensory neuropathy", _NERV, 0.18, (0.60, 0.32, 0.08, 0.0), 0.90),
    ("Anaemia", _BLOOD, 0.14, (0.40, 0.40, 0.20, 0.0), 0.60),
    ("Constipation", _GI, 0.20, (0.80, 0.20, 0.0, 0.0), 0.50),
    ("Arthralgia", _MSK, 0.18, (0.75, 0.23, 0.02, 0.0), 0.50),
    ("Pyrexia", _GEN, 0.15, (0.80, 0.18, 0.02, 0.0), 0.60),
    ("Decreased appetite", _META, 0.15, (0.70, 0.28, 0.02, 0.0), 0.60),
    ("Dyspnoea", _RESP, 0.12, (0.60, 0.30, 0.10, 0.0), 0.20),
    ("Back pain", _MSK, 0.12, (0.70, 0.25, 0.05, 0.0), 0.05),
    ("Urinary tract infection", _INF, 0.07, (0.30, 0.60, 0.10, 0.0), 0.10),
)
_EVEROLIMUS_AES: tuple[tuple[Any, ...], ...] = (
    ("Stomatitis", _GI, 0.59, (0.45, 0.40, 0.15, 0.0), 0.98),
    ("Rash", _SKIN, 0.39, (0.70, 0.27, 0.03, 0.0), 0.90),
    ("Fatigue", _GEN, 0.37, (0.60, 0.33, 0.07, 0.0), 0.80),
    ("Diarrhoea", _GI, 0.34, (0.70, 0.26, 0.04, 0.0), 0.80),
    ("Decreased appetite", _META, 0.30, (0.70, 0.28, 0.02, 0.0), 0.70),
    ("Nausea", _GI, 0.29, (0.75, 0.23, 0.02, 0.0), 0.70),
    ("Dysgeusia", _NERV, 0.22, (0.90, 0.10, 0.0, 0.0), 0.90),
    ("Hyperglycaemia", _META, 0.16, (0.40, 0.35, 0.23, 0.02), 0.90),
    ("Pneumonitis", _RESP, 0.16, (0.35, 0.45, 0.18, 0.02), 0.95),
    ("Anaemia", _BLOOD, 0.16, (0.40, 0.40, 0.20, 0.0), 0.70),
    ("Oedema peripheral", _GEN, 0.14, (0.70, 0.28, 0.02, 0.0), 0.70),
    ("Hypercholesterolaemia", _META, 0.12, (0.70, 0.28, 0.02, 0.0), 0.85),
    ("Epistaxis", _RESP, 0.15, (0.95, 0.05, 0.0, 0.0), 0.70),
    ("Cough", _RESP, 0.20, (0.80, 0.20, 0.0, 0.0), 0.40),
    ("Upper respiratory tract infection", _INF, 0.14, (0.50, 0.45, 0.05, 0.0), 0.50),
    ("Urinary tract infection", _INF, 0.12, (0.40, 0.50, 0.10, 0.0), 0.50),
    ("Pneumonia", _INF, 0.05, (0.0, 0.40, 0.55, 0.05), 0.60),
    ("Herpes zoster", _INF, 0.04, (0.30, 0.60, 0.10, 0.0), 0.60),
    ("Nasopharyngitis", _INF, 0.10, (0.80, 0.20, 0.0, 0.0), 0.30),
)

T_DM1 = TreatmentModel(
    period_days=21,
    dose_levels=(3.6, 3.0, 2.4),
    dose_unit="mg/kg",
    continuous_dosing=False,
    p_toxicity_discontinuation=0.07,
    p_other_discontinuation=0.04,
    ae_profile=tuple(AeSpec(*row) for row in _T_DM1_AES),
    withdrawal_terms=(
        "Thrombocytopenia",
        "Peripheral sensory neuropathy",
        "Alanine aminotransferase increased",
    ),
)
EVEROLIMUS = TreatmentModel(
    period_days=28,
    dose_levels=(10.0, 5.0),
    dose_unit="mg/day",
    continuous_dosing=True,
    p_toxicity_discontinuation=0.15,
    p_other_discontinuation=0.04,
    ae_profile=tuple(AeSpec(*row) for row in _EVEROLIMUS_AES),
    withdrawal_terms=("Pneumonitis", "Stomatitis", "Hyperglycaemia"),
)
HER2_PATIENTS = PatientModel(
    prefix="HC",
    site_weights=(0.35, 0.30, 0.20, 0.15),
    p_male=0.012,
    age_mean=58.0,
    age_sd=11.0,
    ecog_probs=(0.50, 0.40, 0.10),
    p_hr_positive=0.75,
    ihc_probs=(0.40, 0.35, 0.25),
    # bone, liver, lung, pleura, lymph_node, brain, skin_soft_tissue, peritoneum, other
    site_probs=(0.65, 0.33, 0.25, 0.12, 0.40, 0.06, 0.08, 0.04, 0.03),
    prior_lines_probs=(0.15, 0.30, 0.25, 0.18, 0.12),
)
EVEROLIMUS_PATIENTS = PatientModel(
    prefix="EV",
    site_weights=(0.45, 0.35, 0.20),
    p_male=0.0,
    age_mean=62.0,
    age_sd=10.0,
    ecog_probs=(0.60, 0.35, 0.05),
    p_hr_positive=1.0,
    ihc_probs=(0.45, 0.35, 0.20),
    site_probs=(0.70, 0.30, 0.22, 0.10, 0.35, 0.02, 0.06, 0.03, 0.03),
    prior_lines_probs=(0.30, 0.40, 0.20, 0.10),
)
CTC_MODEL = CtcScreeningModel()
HER2_COURSE = Her2CourseModel()
EVEROLIMUS_COURSE = EverolimusCourseModel()
GZMB_MODEL = GranzymeBModel()
FLOW_MODEL = NkFlowModel()
WB_MODEL = WesternBlotModel()

STUDY_CALENDAR: dict[str, Any] = {
    "cutoff_date": CUTOFF_DATE,
    TRIAL_HER2: {
        "screening_start": "2023-01-02",
        "screening_end": "2025-06-30",
        "first_dose_after_screening_days": [14, 35],
        "tumour_assessments": "baseline (3-28 days before first dose), then every 6 weeks "
        "(W06, W12, ...) until progression; visits on the nominal day or up to 6 days late",
        "cycle_days": 21,
        "ctc_ctdna_visits": ["C1D1", "C2D1", "C4D1", "EOT"],
    },
    TRIAL_EVEROLIMUS: {
        "inclusion_start": "2023-03-01",
        "inclusion_end": "2025-09-30",
        "first_dose_after_inclusion_days": [3, 21],
        "tumour_assessments": "baseline, then every 12 weeks (W12, W24, W36, W48, ...) until "
        "progression; visits on the nominal day or up to 6 days late",
        "period_days": 28,
        "biomarker_visits": {
            "BASELINE": "0-7 days before first dose, not before inclusion",
            "M3": "day 91 +/- 7",
            "M9": "day 274 +/- 10",
        },
    },
}


# --------------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------------
_EPOCH = np.datetime64("1970-01-01", "D")


def _day(iso: str) -> int:
    """ISO date -> day number (days since 1970-01-01)."""
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


CUTOFF_DAY = _day(CUTOFF_DATE)


def _iso(days: Any) -> np.ndarray:
    """Day numbers (NaN = missing) -> ISO strings (None = missing)."""
    d = np.asarray(days, dtype=float)
    out = np.full(d.shape, None, dtype=object)
    ok = ~np.isnan(d)
    out[ok] = (_EPOCH + d[ok].astype(np.int64).astype("timedelta64[D]")).astype(str)
    return out
