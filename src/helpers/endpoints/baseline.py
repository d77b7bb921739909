"""Baseline characteristics every metastatic breast cancer trial's Table 1 reports.

The ADSL columns here are the shared subject-level contract (``docs/data_dictionary.md``): each
trial's populations module extends the tuple with its own variables (e.g. CTC counts). The
specification format is that of :func:`helpers.reporting.tables.summarise_baseline`: ``column``,
``label``, ``kind`` (continuous, categorical, multi) and optional ``levels``/``labels``.
"""

from __future__ import annotations

#: Table 1 variables shared by both trials (ADSL columns), in display order.
MBC_BASELINE_VARIABLES = (
    {"column": "AGE", "label": "Age (years)", "kind": "continuous"},
    {"column": "ECOG", "label": "ECOG performance status", "kind": "categorical"},
    {
        "column": "HRSTAT",
        "label": "Hormone-receptor status",
        "kind": "categorical",
        "levels": ["positive", "negative"],
        "labels": {"positive": "Positive", "negative": "Negative"},
    },
    {"column": "HER2IHC", "label": "HER2 IHC (primary tumour)", "kind": "categorical"},
    {
        "column": "HER2ISH",
        "label": "HER2 ISH (primary tumour)",
        "kind": "categorical",
        "labels": {"negative": "Negative", "not_done": "Not done"},
    },
    {"column": "METSITES", "label": "Metastatic sites", "kind": "multi"},
    {"column": "NMETS", "label": "Number of metastatic sites", "kind": "continuous"},
    {
        "column": "VISCFL",
        "label": "Visceral disease",
        "kind": "categorical",
        "levels": ["Y", "N"],
        "labels": {"Y": "Yes", "N": "No"},
    },
    {"column": "PRIORLN", "label": "Prior lines for metastatic disease", "kind": "categorical"},
)
