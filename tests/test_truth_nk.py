"""Truth tests of notebook 03 (everolimus / NK): on the default synthetic demo cohort the 95 % CIs
that the notebook reports must contain the simulator's true parameters (``demo_manifest``).

The estimates are computed with exactly the helper calls of ``notebooks/03_nk_function_changes``;
the fixtures ``demo_manifest`` and ``demo_datasets`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import pytest

from helpers.endpoints import efficacy, rates
from helpers.everolimus_nk import nk

TRIAL = "everolimus_nk"


def _truth(demo_manifest: dict, name: str) -> float:
    truths = demo_manifest["true_parameters"][TRIAL]
    if name not in truths:
        pytest.skip(f"the manifest has no true value {name!r}")
    return float(truths[name]["value"])


def test_true_m3_granzyme_b_ratio_of_geometric_means_inside_95ci_of_primary_gmr(
    demo_manifest, demo_datasets
):
    truth = _truth(demo_manifest, "gzmb_m3_ratio_geomean")
    adbm = demo_datasets[TRIAL]["adbm"]
    table = nk.compute_gzmb_change(adbm, primary_visit="M3", ci_level=0.95)
    primary = table[table["role"] == "primary"].iloc[0]
    assert primary["visit"] == "M3"
    assert primary["ci_lower"] <= truth <= primary["ci_upper"], (
        f"true GMR {truth} outside {primary['ci_lower']:.3f}–{primary['ci_upper']:.3f}"
    )


def test_true_m3_granzyme_b_ratio_inside_95ci_of_mixed_model(demo_manifest, demo_datasets):
    truth = _truth(demo_manifest, "gzmb_m3_ratio_geomean")
    table = nk.compute_gzmb_change(demo_datasets[TRIAL]["adbm"], ci_level=0.95)
    mixed = table[table["method"].str.startswith("Linear mixed model") & (table["visit"] == "M3")]
    row = mixed.iloc[0]
    assert row["ci_lower"] <= truth <= row["ci_upper"]


def test_true_confirmed_orr_inside_clopper_pearson_95ci(demo_manifest, demo_datasets):
    # The truth is P(confirmed CR/PR) among treated patients; the simulator gives every patient
    # measurable disease, so the efficacy-evaluable population is the treated population.
    truth = _truth(demo_manifest, "evero_orr_confirmed")
    data = demo_datasets[TRIAL]
    bor = efficacy.derive_bor_table(data["adrs"], data["adsl"], population_flag="EFFFL")
    orr = rates.summarise_response_rates(bor, population_label="efficacy-evaluable")
    row = orr[orr["parameter"].str.startswith("ORR")].iloc[0]
    assert row["ci_lower"] <= truth <= row["ci_upper"]
