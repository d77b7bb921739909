"""Efficacy glue over the ADaM-like datasets: response tables, swimmer/spider data, event reasons,
response and PFS associations, and the HER2-CTC / T-DM1 specific analyses (Simon two-stage
bookkeeping, FISH-efficacy correlation, CTC and ctDNA dynamics).

The first block (generic) is shared by the T-DM1 (02) and everolimus (03) notebooks; its
signatures are stable. Every function is pure: DataFrames in, DataFrames or frozen dataclasses
out. Estimates use the shared estimate-table columns (``docs/architecture.md``).

Conventions
-----------
* Durations in months use :data:`helpers.endpoints.survival.DAYS_PER_MONTH` and the ADaM day-1 rule
  ``(date − start).days + 1``, so swimmer markers coincide with ADTTE ``AVAL``.
* Patients of the analysis population without a best-response row keep ``AVALC = "MISSING"``
  and stay in every denominator (RECIST 1.1 §4.3 intention-to-treat convention).

References
----------
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247.
Simon R. Optimal two-stage designs for phase II clinical trials. Control Clin Trials 1989;10:1-10.
Cristofanilli M et al. Circulating tumor cells, disease progression, and survival in metastatic
breast cancer. N Engl J Med 2004;351:781-791 (>= 5 CTC / 7.5 mL threshold).
Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
1983;1:710-719 (landmark analysis).
Hornung RW, Reed LD. Estimation of average concentration in the presence of nondetectable values.
Appl Occup Environ Hyg 1990;5:46-51 (LoD/2 substitution).
"""

from helpers.endpoints.efficacy.biomarkers import (
    compute_correlations,
    compute_flag_association,
    compute_landmark_logrank,
    compute_pfs_association,
    compute_response_association,
    derive_biomarker_landmark,
    derive_change_table,
    derive_lod_lines,
    derive_paired_values,
    derive_trajectory_data,
)
from helpers.endpoints.efficacy.design import (
    SimonCounts,
    compute_simon_inference,
    derive_simon_counts,
    derive_simon_design,
    derive_simon_stages,
    summarise_simon_design,
)
from helpers.endpoints.efficacy.response import (
    RESPONDER_LABELS,
    RESPONSE_ORDER,
    derive_bor_table,
    derive_spider_data,
    derive_swimmer_data,
    derive_teae,
    derive_tte,
    summarise_eot_reasons,
    summarise_event_reasons,
    summarise_in_words,
    summarise_populations,
    summarise_short_labels,
)

__all__ = [
    "RESPONDER_LABELS",
    "RESPONSE_ORDER",
    "SimonCounts",
    "compute_correlations",
    "compute_flag_association",
    "compute_landmark_logrank",
    "compute_pfs_association",
    "compute_response_association",
    "compute_simon_inference",
    "derive_biomarker_landmark",
    "derive_bor_table",
    "derive_change_table",
    "derive_lod_lines",
    "derive_paired_values",
    "derive_simon_counts",
    "derive_simon_design",
    "derive_simon_stages",
    "derive_spider_data",
    "derive_swimmer_data",
    "derive_teae",
    "derive_trajectory_data",
    "derive_tte",
    "summarise_eot_reasons",
    "summarise_event_reasons",
    "summarise_in_words",
    "summarise_populations",
    "summarise_short_labels",
    "summarise_simon_design",
]
