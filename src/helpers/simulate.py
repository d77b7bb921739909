"""Synthetic demo cohort for both trials: ``python -m helpers.simulate``.

The generator produces every raw table of ``docs/data_dictionary.md`` for the HER2-CTC/T-DM1 and
the everolimus/NK trials, and a manifest recording that the data are synthetic, the seed, the scale,
the study calendar and the TRUE values of the quantities that the analysis estimates, so that every
notebook can be checked against a known answer.

Design
------
* Everything except :func:`main` is pure: a :class:`numpy.random.Generator` (or a seed) in,
  DataFrames and dictionaries out. :func:`main` is the only place that writes files, via
  :mod:`helpers.io`.
* Generative models are frozen dataclasses (``*Model``). Their fields are the true parameters;
  :func:`compute_her2_truths` and :func:`compute_everolimus_truths` turn them into the estimands the
  analysis reports (exactly, by numerical integration, or by Monte Carlo with a fixed seed, so that
  a truth does not depend on the cohort seed).
* Dates are integer day numbers (days since 1970-01-01) until the tables are formatted. Clinical
  time lines are in days from the first dose.
* Records dated after the data cut-off (a late tumour assessment, a late adverse event) are
  generated on purpose, so that the pipeline's cut-off exclusion is exercised.

References
----------
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247.
Wolff AC et al. Human epidermal growth factor receptor 2 testing in breast cancer: ASCO/College of
American Pathologists clinical practice guideline focused update. J Clin Oncol 2018;36:2105-2122.
Bender R, Augustin T, Blettner M. Generating survival times to simulate Cox proportional hazards
models. Stat Med 2005;24:1713-1723.
Verma S et al. Trastuzumab emtansine for HER2-positive advanced breast cancer (EMILIA). N Engl J Med
2012;367:1783-1791 (adverse-event profile of T-DM1).
Baselga J et al. Everolimus in postmenopausal hormone-receptor-positive advanced breast cancer
(BOLERO-2). N Engl J Med 2012;366:520-529 (adverse-event profile of everolimus).
Johnson NL, Kotz S, Balakrishnan N. Continuous Univariate Distributions, vol. 2, 2nd ed. Wiley
1995, ch. 25 (moments of the beta distribution; E[(1 - qF)^m] = 2F1(-m, a; a + b; q)).
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "CUTOFF_DATE",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "TABLE_COLUMNS",
    "compute_everolimus_truths",
    "compute_her2_truths",
    "main",
    "simulate_demo_cohort",
    "simulate_everolimus_nk",
    "simulate_her2_ctc_tdm1",
]

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
            "band",
            "intensity",
            "saturated",
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
# Phenotype only under stimulation "none" (where the helpers.flow catalogue expects it),
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


def _amplified_signals(rng: np.random.Generator, cep17: np.ndarray) -> np.ndarray:
    """HER2 signals of an amplified cell: HER2 6-20 and ratio >= 2 (ASCO/CAP group 1)."""
    return np.maximum(rng.integers(6, 21, size=len(cep17)), 2 * cep17)


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
    same_amp = np.maximum(her2 + 2 * delta, np.maximum(6, 2 * cep2))
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


def _sorted(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Rows ordered by subject (stable within subject), index reset."""
    out = {}
    for name, df in tables.items():
        if "subject_id" in df and name != "western_blot":
            df = df.sort_values("subject_id", kind="stable")
        out[name] = df.reset_index(drop=True)
    return out


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
    rng: np.random.Generator, ids: np.ndarray, avail: np.ndarray, m: WesternBlotModel
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
    return _wb_frame(ids, pi, vi, membrane, lane, s_int, saturated, c_int)


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
    return _frame(TABLE_COLUMNS[TRIAL_EVEROLIMUS]["western_blot"], df)


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
    last_alive = np.array([t.last_alive for t in clin.timelines])
    progressed = np.array([t.pd_observed for t in clin.timelines]) & (course.pd_day < days[:, 2])
    avail = _gzmb_available(rng, days, last_alive, progressed, g)
    tables = {"patients": _patients_table(chars, ids, incl, start), **clin.tables}
    tables["granzyme_b"] = _gzmb_table(ids, start, days, avail, log_gzmb, g)
    tables["nk_flow"] = _flow_table(rng, ids, start, days, avail, FLOW_MODEL)
    tables["western_blot"] = _wb_table(rng, ids, avail, WB_MODEL)
    return _sorted(tables)


# --------------------------------------------------------------------------------------------
# True values of the estimands
# --------------------------------------------------------------------------------------------
def _truth(value: Any, definition: str, method: str) -> dict[str, Any]:
    if isinstance(value, float | np.floating):
        value = round(float(value), 6)
    return {"value": value, "definition": definition, "method": method}


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


# --------------------------------------------------------------------------------------------
# Cohort and CLI
# --------------------------------------------------------------------------------------------
def _records_after_cutoff(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    out = {}
    for name, df in tables.items():
        date_cols = [c for c in df.columns if c.startswith("date_") or c.endswith("_date")]
        late = np.zeros(len(df), dtype=bool)
        for c in date_cols:
            late |= df[c].fillna("").astype(str).to_numpy() > CUTOFF_DATE
        if late.any():
            out[name] = int(late.sum())
    return out


def simulate_demo_cohort(
    seed: int = DEFAULT_SEED, scale: float = 1
) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, Any]]:
    """Simulate both trials and build the manifest.

    Each trial gets an independent stream spawned from ``numpy.random.SeedSequence(seed)``, so the
    output is identical for identical ``(seed, scale)``. The truths do not depend on ``seed``.

    Parameters
    ----------
    seed : int
        Non-negative seed (the pipeline default is ``shared.seed`` of params.yaml).
    scale : float
        Cohort size multiplier (1 = registry sizes: 17 T-DM1-treated, 36 everolimus patients).

    Returns
    -------
    tables_by_trial : dict
        ``{"her2_ctc_tdm1": {table: DataFrame}, "everolimus_nk": {table: DataFrame}}``.
    manifest : dict
        ``synthetic`` (True), ``generator``, ``generator_version``, ``seed``, ``scale``,
        ``study_calendar``, ``cohort`` (sizes, rows per table, records after the cut-off),
        ``true_parameters`` (per trial: name -> value, definition, method) and
        ``generative_models`` (every model parameter).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    her2_ss, evero_ss = np.random.SeedSequence(int(seed)).spawn(2)
    tables = {
        TRIAL_HER2: simulate_her2_ctc_tdm1(np.random.default_rng(her2_ss), scale),
        TRIAL_EVEROLIMUS: simulate_everolimus_nk(np.random.default_rng(evero_ss), scale),
    }
    her2, evero = tables[TRIAL_HER2], tables[TRIAL_EVEROLIMUS]
    cohort = {
        TRIAL_HER2: {
            "n_screened": len(her2["patients"]),
            "n_treated": int(her2["patients"]["date_treatment_start"].notna().sum()),
        },
        TRIAL_EVEROLIMUS: {"n_enrolled": len(evero["patients"])},
    }
    for trial, tabs in tables.items():
        cohort[trial]["rows"] = {name: len(df) for name, df in tabs.items()}
        cohort[trial]["records_after_cutoff"] = _records_after_cutoff(tabs)
    manifest = {
        "synthetic": True,
        "generator": "helpers.simulate",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "scale": scale,
        "cutoff_date": CUTOFF_DATE,
        "study_calendar": STUDY_CALENDAR,
        "cohort": cohort,
        "true_parameters": {
            TRIAL_HER2: compute_her2_truths(),
            TRIAL_EVEROLIMUS: compute_everolimus_truths(),
        },
        "generative_models": _model_parameters(),
    }
    return tables, manifest


def _model_parameters() -> dict[str, Any]:
    models = {
        "her2_patients": HER2_PATIENTS,
        "ctc_screening": CTC_MODEL,
        "her2_course": HER2_COURSE,
        "t_dm1": T_DM1,
        "everolimus_patients": EVEROLIMUS_PATIENTS,
        "everolimus_course": EVEROLIMUS_COURSE,
        "everolimus": EVEROLIMUS,
        "granzyme_b": GZMB_MODEL,
        "nk_flow": FLOW_MODEL,
        "western_blot": WB_MODEL,
    }
    return {name: asdict(model) for name, model in models.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m helpers.simulate [--out data/raw] [--seed N] [--scale K]``."""
    from helpers import config, io  # local: keeps the generator importable without the repo

    parser = argparse.ArgumentParser(
        prog="python -m helpers.simulate",
        description="Write the synthetic demo cohort (both trials) and data/raw/manifest.json.",
    )
    parser.add_argument("--out", default="data/raw", help="raw-data folder (default data/raw)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--scale", type=float, default=1.0, help="cohort size multiplier")
    args = parser.parse_args(argv)
    scale = int(args.scale) if float(args.scale).is_integer() else args.scale
    out = config.resolve_path(args.out)
    tables, manifest = simulate_demo_cohort(args.seed, scale)
    for trial, tabs in tables.items():
        io.write_csv_tables(tabs, Path(out) / trial)
    io.write_json(manifest, Path(out) / io.MANIFEST)
    n = manifest["cohort"]
    print(
        f"Synthetic cohort written to {out}: HER2-CTC {n[TRIAL_HER2]['n_screened']} screened / "
        f"{n[TRIAL_HER2]['n_treated']} treated; everolimus-NK {n[TRIAL_EVEROLIMUS]['n_enrolled']}"
        " enrolled."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
