"""Truth tests of notebook 01 (HER2-CTC screening): on the default synthetic demo cohort the 95 %
CIs that the notebook reports must contain the simulator's true parameters (``demo_manifest``).

The estimates are computed with exactly the helper calls of ``notebooks/01_screening_rate`` at its
default parameters (ratio_threshold 2.2, min_her2_signals 1, IF-positive from 2+); the fixtures
``demo_manifest`` and ``demo_datasets`` come from ``tests/conftest.py``. Each truth's definition is
quoted from the manifest next to the estimate it is compared with.
"""

from __future__ import annotations

import pytest

from helpers.her2_ctc import fish_agreement, screening

TRIAL = "her2_ctc_tdm1"


def _truth(demo_manifest: dict, name: str):
    truths = demo_manifest["true_parameters"][TRIAL]
    if name not in truths:
        pytest.skip(f"the manifest has no true value {name!r}")
    return truths[name]["value"]


@pytest.fixture(scope="module")
def calls(demo_datasets):
    data = demo_datasets[TRIAL]
    return screening.derive_screening_calls(data["adcell"], data["adctc"], 2.2, 1)


def _row(table, parameter_start: str):
    rows = table[table["parameter"].str.startswith(parameter_start)]
    assert len(rows) == 1, f"expected one row starting {parameter_start!r}, got {len(rows)}"
    return rows.iloc[0]


def _assert_inside(truth: float, row) -> None:
    assert row["ci_lower"] <= truth <= row["ci_upper"], (
        f"{row['parameter']}: true value {truth} outside "
        f"{row['ci_lower']:.4f}–{row['ci_upper']:.4f} (estimate {row['estimate']:.4f})"
    )


def test_true_detection_rate_among_screened_inside_exact_95ci(demo_manifest, calls):
    # truth: P(>= 1 evaluable HER2-amplified CTC, reader R1) among screened patients, failures
    # counted as not detected
    truth = float(_truth(demo_manifest, "her2_detection_rate_screened"))
    table = screening.summarise_detection_rates(calls.patients, 0.95)
    row = _row(table, "≥1 HER2-amplified CTC (detection rate), all screened patients")
    assert row["method"] == "Clopper–Pearson exact"
    _assert_inside(truth, row)


def test_true_fish_technical_failure_rate_inside_exact_95ci(demo_manifest, calls):
    # truth: P(FISH technical failure) among patients with >= 1 CTC (FISH attempted)
    truth = float(_truth(demo_manifest, "fish_failure_rate"))
    table = screening.summarise_fish_failures(calls.patients, calls.cells, "R1", 0.95)
    _assert_inside(truth, _row(table, "FISH technical failure, patients with ≥1 CTC"))


def test_true_cellsearch_failure_rate_inside_exact_95ci(demo_manifest, calls):
    truth = float(_truth(demo_manifest, "cellsearch_failure_rate"))
    table = screening.summarise_fish_failures(calls.patients, calls.cells, "R1", 0.95)
    _assert_inside(truth, _row(table, "CellSearch technical failure, all screened patients"))


@pytest.mark.parametrize("cut", [1, 5])
def test_true_ctc_positivity_among_cellsearch_done_inside_exact_95ci(demo_manifest, calls, cut):
    # truth: P(>= cut CTC per 7.5 mL) among successful CellSearch samples
    truth = float(_truth(demo_manifest, f"ctc_positive_rate_ge{cut}"))
    table = screening.summarise_detection_rates(calls.patients, 0.95)
    _assert_inside(truth, _row(table, f"≥{cut} CTC per 7.5 mL (CTC positivity), patients with a"))


def test_true_detection_rate_by_her2_ihc_inside_exact_95ci(demo_manifest, demo_datasets, calls):
    truths = _truth(demo_manifest, "her2_detection_rate_by_ihc")
    table = screening.summarise_detection_by_group(
        calls.patients, demo_datasets[TRIAL]["adsl"], "HER2IHC", "screened", 0.95
    )
    for _, row in table.iterrows():
        if row["group"] in truths:
            _assert_inside(float(truths[row["group"]]), row)


def test_true_heterogeneity_rate_among_detected_inside_exact_95ci(demo_manifest, calls):
    # truth: P(>= 1 evaluable non-amplified CTC | >= 1 evaluable amplified CTC): the denominator
    # is every patient with an amplified CTC (a single scoreable CTC counts as homogeneous)
    truth = float(_truth(demo_manifest, "her2_heterogeneity_rate_detected"))
    table = screening.summarise_heterogeneity(calls.patients, 0.95)
    _assert_inside(truth, _row(table, "Heterogeneity (amplified and non-amplified CTCs), all"))


def test_true_reader_disagreement_inside_exact_95ci_of_discordant_calls(demo_manifest, calls):
    # truth: P(R2 call differs from R1) among cells scoreable by both readers
    truth = float(_truth(demo_manifest, "reader_disagreement"))
    agreement = fish_agreement.compute_reader_agreement(calls.cells, 0.95)
    _assert_inside(truth, _row(agreement.table, "Discordant amplified call per CTC"))


def test_true_if_auc_inside_delong_95ci(demo_manifest, calls):
    # truth: AUC of HER2 IF intensity for the R1 per-cell amplification call
    truth = float(_truth(demo_manifest, "if_auc_amplified_vs_not"))
    result = fish_agreement.compute_fish_if_agreement(calls.cells, "2+", "R1", 0.95)
    _assert_inside(truth, _row(result.table, "AUC of HER2 IF intensity"))
