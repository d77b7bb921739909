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

from helpers.data.simulate.clinical import Course
from helpers.data.simulate.cohort import main, simulate_demo_cohort
from helpers.data.simulate.everolimus_nk import compute_everolimus_truths, simulate_everolimus_nk
from helpers.data.simulate.her2_ctc import compute_her2_truths, simulate_her2_ctc_tdm1
from helpers.data.simulate.models import (
    CTC_MODEL,
    CUTOFF_DATE,
    CUTOFF_DAY,
    DAYS_PER_MONTH,
    DEFAULT_SEED,
    EVEROLIMUS,
    EVEROLIMUS_COURSE,
    EVEROLIMUS_PATIENTS,
    FLOW_MODEL,
    GENERATOR_VERSION,
    GZMB_MODEL,
    HER2_COURSE,
    HER2_PATIENTS,
    SITE_CODES,
    STUDY_CALENDAR,
    T_DM1,
    TABLE_COLUMNS,
    TRIAL_EVEROLIMUS,
    TRIAL_HER2,
    TRUTH_DRAWS,
    TRUTH_SEED,
    WB_MODEL,
    AeSpec,
    CtcScreeningModel,
    EverolimusCourseModel,
    FlowReadout,
    GranzymeBModel,
    Her2CourseModel,
    NkFlowModel,
    PatientModel,
    TreatmentModel,
    WesternBlotModel,
    _day,
    _iso,
)

__all__ = [
    "CTC_MODEL",
    "CUTOFF_DATE",
    "CUTOFF_DAY",
    "DAYS_PER_MONTH",
    "DEFAULT_SEED",
    "EVEROLIMUS",
    "EVEROLIMUS_COURSE",
    "EVEROLIMUS_PATIENTS",
    "FLOW_MODEL",
    "GENERATOR_VERSION",
    "GZMB_MODEL",
    "HER2_COURSE",
    "HER2_PATIENTS",
    "SITE_CODES",
    "STUDY_CALENDAR",
    "TABLE_COLUMNS",
    "TRIAL_EVEROLIMUS",
    "TRIAL_HER2",
    "TRUTH_DRAWS",
    "TRUTH_SEED",
    "T_DM1",
    "WB_MODEL",
    "AeSpec",
    "Course",
    "CtcScreeningModel",
    "EverolimusCourseModel",
    "FlowReadout",
    "GranzymeBModel",
    "Her2CourseModel",
    "NkFlowModel",
    "PatientModel",
    "TreatmentModel",
    "WesternBlotModel",
    "_day",
    "_iso",
    "compute_everolimus_truths",
    "compute_her2_truths",
    "main",
    "simulate_demo_cohort",
    "simulate_everolimus_nk",
    "simulate_her2_ctc_tdm1",
]
