"""Tests of helpers.her2_ctc.screening (HER2-CTC screening glue) and plots.plot_fish_signals.

Reference values are hand counts on toy tables (stated next to each test), exact binomial
intervals from scipy ``binomtest`` (an implementation independent of helpers.endpoints.rates),
Fisher
exact p-values enumerated from the hypergeometric distribution with ``math.comb``, Cohen's kappa
and Benjamini–Hochberg adjustments computed from their textbook formulas, and AUCs by brute-force
comparison of every positive-negative pair.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats as sps

from helpers import plots
from helpers.her2_ctc import ctc, fish_agreement, screening

SUBJ = [f"HC-001-{i:04d}" for i in range(1, 21)]


# ------------------------------------------------------------------------------------------
# toy data
# ------------------------------------------------------------------------------------------


def _fish(rows):
    """rows: (subject_id, cell_id, reader_id, her2_signals, cep17_signals)."""
    return pd.DataFrame(
        rows, columns=["subject_id", "cell_id", "reader_id", "her2_signals", "cep17_signals"]
    )


def _screening(rows):
    """rows: (subject_id, cellsearch_status, ctc_count, fish_status, fish_failure_reason)."""
    return pd.DataFrame(
        rows,
        columns=[
            "subject_id",
            "cellsearch_status",
            "ctc_count",
            "fish_status",
            "fish_failure_reason",
        ],
    )


def _toy_raw():
    """Six screened patients.

    P1 CellSearch failed; P2 0 CTC; P3 FISH technical failure (hybridisation); P4 7 CTC, R1 cells
    with ratios 6/2 = 3.0 and 2/2 = 1.0 (amplified, heterogeneous), C01 re-read by R2 (8/2);
    P5 one cell 5/2 = 2.5 (amplified at 2.0, not at 3.0); P6 one cell 2/2 and one cell without
    HER2 signal (not scoreable).
    """
    screening_rows = [
        (SUBJ[0], "failed", None, "not_done", None),
        (SUBJ[1], "done", 0, "not_done", None),
        (SUBJ[2], "done", 3, "technical_failure", "hybridisation_failure"),
        (SUBJ[3], "done", 7, "done", None),
        (SUBJ[4], "done", 1, "done", None),
        (SUBJ[5], "done", 2, "done", None),
    ]
    fish_rows = [
        (SUBJ[3], "C01", "R1", 6, 2),
        (SUBJ[3], "C02", "R1", 2, 2),
        (SUBJ[3], "C01", "R2", 8, 2),
        (SUBJ[4], "C01", "R1", 5, 2),
        (SUBJ[5], "C01", "R1", 2, 2),
        (SUBJ[5], "C02", "R1", 0, 2),
    ]
    if_ = pd.DataFrame(
        {
            "subject_id": [SUBJ[3], SUBJ[3], SUBJ[4], SUBJ[5], SUBJ[5]],
            "cell_id": ["C01", "C02", "C01", "C01", "C02"],
            "if_score": ["3+", "1+", "2+", "0", "0"],
            "if_intensity": [900.0, 200.0, 400.0, 80.0, 60.0],
        }
    )
    return _screening(screening_rows), _fish(fish_rows), if_


@pytest.fixture
def toy():
    scr, fish, if_ = _toy_raw()
    adcell = ctc.derive_cell_calls(fish, if_)
    adctc = ctc.derive_patient_ctc_summary(scr, adcell)
    return adcell, adctc


# ------------------------------------------------------------------------------------------
# derive_screening_calls
# ------------------------------------------------------------------------------------------


def test_rederived_calls_at_default_threshold_equal_input_datasets(toy):
    adcell, adctc = toy
    calls = screening.derive_screening_calls(adcell, adctc)
    pd.testing.assert_frame_equal(calls.cells, adcell)
    pd.testing.assert_frame_equal(calls.patients.reset_index(drop=True), adctc)
    assert calls.n_calls_changed == 0
    assert calls.n_readings == 6


def test_threshold_3_turns_ratio_2_5_cell_non_amplified_hand_count(toy):
    # P5's only cell has 5/2 = 2.5: amplified at 2.0, not at 3.0; P4's cells (3.0, 1.0, R2 4.0)
    # keep their calls because 3.0 >= 3.0 (inclusive cut-off).
    adcell, adctc = toy
    calls = screening.derive_screening_calls(adcell, adctc, ratio_threshold=3.0)
    assert calls.n_calls_changed == 1
    status = calls.patients.set_index("USUBJID")["HER2AMPFL"]
    assert status[SUBJ[4]] == "N"
    assert status[SUBJ[3]] == "Y"
    assert "≥ 3" in screening.summarise_calls_sentence(calls)
    assert "1 of 6 readings differ" in screening.summarise_calls_sentence(calls)


def test_min_her2_signals_3_makes_two_signal_cells_not_scoreable(toy):
    adcell, adctc = toy
    calls = screening.derive_screening_calls(adcell, adctc, min_her2_signals=3)
    # P4 C02 (2 signals), P6 C01 (2 signals) become not scoreable; P6 C02 already was
    assert calls.n_calls_changed == 2
    assert calls.patients.set_index("USUBJID").loc[SUBJ[5], "HER2AMPFL"] is None


def test_summarise_calls_sentence_says_same_calls_when_unchanged(toy):
    calls = screening.derive_screening_calls(*toy)
    assert "All 6 readings carry the same call" in screening.summarise_calls_sentence(calls)


def test_derive_screening_calls_rejects_missing_columns(toy):
    adcell, adctc = toy
    with pytest.raises(ValueError, match="HER2SIG"):
        screening.derive_screening_calls(adcell.drop(columns="HER2SIG"), adctc)
    with pytest.raises(TypeError):
        screening.derive_screening_calls("adcell", adctc)
    with pytest.raises(ValueError, match="ratio_threshold"):
        screening.derive_screening_calls(adcell, adctc, ratio_threshold=-1)


# ------------------------------------------------------------------------------------------
# flow
# ------------------------------------------------------------------------------------------


def _treated(adctc, treated_ids=()):
    return pd.DataFrame(
        {
            "USUBJID": adctc["USUBJID"],
            "TRTFL": np.where(adctc["USUBJID"].isin(treated_ids), "Y", "N"),
        }
    )


def test_consort_steps_fold_informative_node_and_shift_losses_hand_count(toy):
    _, adctc = toy
    flow = ctc.derive_screening_flow(adctc, _treated(adctc, [SUBJ[3]]))
    steps = screening.derive_consort_steps(flow)
    # gates: screened 6 -> CellSearch done 5 -> >=1 CTC 4 (>=5 CTC: 1) -> FISH evaluable 3
    #        -> amplified 2 -> treated 1
    assert steps["n"].tolist() == [6, 5, 4, 3, 2, 1]
    assert steps["excluded_n"].tolist() == [1, 1, 1, 1, 1, 0]
    assert steps["step"].iloc[2] == "≥1 CTC (of whom ≥5 CTC: 1)"
    assert steps["excluded_reasons"].iloc[0] == {"CellSearch failed": 1}
    fig = plots.plot_consort(steps)  # CONSORT arithmetic check passes
    assert isinstance(fig, Figure)


def test_summarise_flow_gives_percent_of_screened_and_reason_text(toy):
    _, adctc = toy
    table = screening.summarise_flow(ctc.derive_screening_flow(adctc, _treated(adctc)))
    assert table["pct_of_screened"].iloc[1] == pytest.approx(83.3)  # 5/6
    fish_row = table[table["step"] == "FISH evaluable"].iloc[0]
    assert fish_row["excluded_reasons"] == "FISH technical failure: hybridisation_failure: 1"
    assert table["step"].iloc[2] == "≥1 CTC"


# ------------------------------------------------------------------------------------------
# detection rates
# ------------------------------------------------------------------------------------------


def _scipy_exact(k, n):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return ci.low, ci.high


def test_detection_rate_denominators_hand_count_and_ci_matches_scipy_binomtest(toy):
    _, adctc = toy
    table = screening.summarise_detection_rates(adctc)
    detection = table[table["parameter"].str.contains("detection rate")]
    # amplified: P4, P5; screened 6, CellSearch done 5, >=1 CTC 4, FISH evaluable 3
    assert detection["n"].tolist() == [2, 2, 2, 2]
    assert detection["N"].tolist() == [6, 5, 4, 3]
    low, high = _scipy_exact(2, 6)
    assert detection["ci_lower"].iloc[0] == pytest.approx(low, abs=1e-10)
    assert detection["ci_upper"].iloc[0] == pytest.approx(high, abs=1e-10)
    positivity = table[table["parameter"].str.startswith("≥5 CTC")]
    assert positivity["n"].tolist() == [1, 1]
    assert positivity["N"].tolist() == [6, 5]
    assert (table["method"] == "Clopper–Pearson exact").all()


def test_detection_rate_zero_of_n_has_lower_limit_zero(toy):
    _, adctc = toy
    none = adctc.assign(HER2AMPFL=adctc["HER2AMPFL"].replace("Y", "N"))
    row = screening.summarise_detection_rates(none).iloc[0]
    assert row["estimate"] == 0.0
    assert row["ci_lower"] == 0.0
    assert row["ci_upper"] == pytest.approx(1 - 0.025 ** (1 / 6))  # exact 0/n upper limit


def test_detection_rate_empty_denominator_is_nan_with_note():
    adctc = pd.DataFrame(
        {
            "USUBJID": [SUBJ[0]],
            "CTCCNT": pd.array([0], dtype="Int64"),
            "CTCPOS1": ["N"],
            "CTCPOS5": ["N"],
            "FISHSTAT": ["not_done"],
            "FISHFRSN": [None],
            "NCELLEVL": [0],
            "HER2AMPFL": [None],
        }
    )
    table = screening.summarise_detection_rates(adctc)
    fish_row = table.iloc[3]
    assert fish_row["N"] == 0
    assert math.isnan(fish_row["estimate"])
    assert "no patient in the denominator" in fish_row["note"]


def test_detection_by_ihc_group_hand_count(toy):
    _, adctc = toy
    adsl = pd.DataFrame({"USUBJID": SUBJ[:6], "HER2IHC": ["0", "0", "1+", "2+", "2+", None]})
    table = screening.summarise_detection_by_group(adctc, adsl, "HER2IHC", "screened")
    assert table["group"].tolist() == ["0", "1+", "2+", "missing"]
    assert table["n"].tolist() == [0, 0, 2, 0]
    assert table["N"].tolist() == [2, 1, 2, 1]
    evaluable = screening.summarise_detection_by_group(adctc, adsl, "HER2IHC", "fish_evaluable")
    assert evaluable["N"].tolist() == [2, 1]  # 2+ (P4, P5) and missing (P6)
    with pytest.raises(ValueError, match="population"):
        screening.summarise_detection_by_group(adctc, adsl, "HER2IHC", "treated")


# ------------------------------------------------------------------------------------------
# ASCO/CAP groups
# ------------------------------------------------------------------------------------------


def test_ish_group_table_counts_match_wolff_2018_definitions_by_hand():
    # R1 cells: (6,2) ratio 3 HER2 6 -> group 1; (3,1) ratio 3 HER2 3 -> group 2;
    # (7,4) ratio 1.75 HER2 7 -> group 3; (5,3) ratio 1.67 HER2 5 -> group 4;
    # (2,2) -> group 5; (0,2) -> not scoreable; the R2 reading is not counted.
    fish = _fish(
        [
            (SUBJ[0], "C01", "R1", 6, 2),
            (SUBJ[0], "C02", "R1", 3, 1),
            (SUBJ[0], "C03", "R1", 7, 4),
            (SUBJ[0], "C04", "R1", 5, 3),
            (SUBJ[0], "C05", "R1", 2, 2),
            (SUBJ[0], "C06", "R1", 0, 2),
            (SUBJ[0], "C01", "R2", 6, 2),
        ]
    )
    table = screening.summarise_ish_groups(ctc.derive_cell_calls(fish))
    assert table["n_cells"].tolist() == [1, 1, 1, 1, 1, 1, 6]
    assert table["n_called_amplified"].tolist() == [1, 1, 0, 0, 0, 0, 2]
    assert table["category"].iloc[5] == "Not scoreable"
    assert table["pct_of_read"].iloc[0] == pytest.approx(16.7)
    with pytest.raises(ValueError, match="reader"):
        screening.summarise_ish_groups(ctc.derive_cell_calls(fish), reader="R3")


# ------------------------------------------------------------------------------------------
# heterogeneity
# ------------------------------------------------------------------------------------------


def _het_patients():
    # A: 3 scoreable, 1 amplified (heterogeneous); B: 1 scoreable, amplified; C: 2, both
    # amplified (homogeneous); D: 4, none amplified.
    return pd.DataFrame(
        {
            "USUBJID": SUBJ[:4],
            "CTCCNT": pd.array([3, 1, 2, 4], dtype="Int64"),
            "CTCPOS1": ["Y"] * 4,
            "FISHSTAT": ["done"] * 4,
            "FISHFRSN": [None] * 4,
            "NCELLEVL": [3, 1, 2, 4],
            "NAMP": [1, 1, 2, 0],
            "PCTAMP": [100 / 3, 100.0, 100.0, 0.0],
            "HER2AMPFL": ["Y", "Y", "Y", "N"],
            "HETEROFL": ["Y", None, "N", "N"],
        }
    )


def test_heterogeneity_rate_two_denominators_hand_count():
    table = screening.summarise_heterogeneity(_het_patients())
    assert table["n"].tolist() == [1, 1]
    assert table["N"].tolist() == [2, 3]  # >=2 scoreable: A, C; all amplified: A, B, C
    assert table["estimate"].tolist() == pytest.approx([0.5, 1 / 3])


def test_heterogeneity_data_groups_by_number_of_scoreable_ctcs():
    data = screening.derive_heterogeneity_data(_het_patients())
    assert data["USUBJID"].tolist() == SUBJ[:3]
    assert data["CELLGRP"].astype(str).tolist() == ["2–4 CTCs", "1 CTC", "2–4 CTCs"]
    assert list(data["CELLGRP"].cat.categories) == list(screening.CELL_COUNT_GROUPS)


# ------------------------------------------------------------------------------------------
# associations with patient characteristics
# ------------------------------------------------------------------------------------------


def _assoc_data():
    # 8 FISH-evaluable patients: amplified = first 4. HR positive: 3 of 4 amplified, 1 of 4
    # non-amplified -> 2x2 [[3, 1], [1, 3]]. Ages: amplified 60, 62, 64, 66; others 50-56.
    amp = ["Y"] * 4 + ["N"] * 4
    patients = pd.DataFrame(
        {
            "USUBJID": SUBJ[:8],
            "CTCCNT": pd.array([10, 20, 30, 40, 1, 2, 3, 4], dtype="Int64"),
            "CTCPOS1": ["Y"] * 8,
            "FISHSTAT": ["done"] * 8,
            "FISHFRSN": [None] * 8,
            "NCELLEVL": [1] * 8,
            "HER2AMPFL": amp,
        }
    )
    adsl = pd.DataFrame(
        {
            "USUBJID": SUBJ[:8],
            "AGE": pd.array([60, 62, 64, 66, 50, 52, 54, 56], dtype="Int64"),
            "HRSTAT": ["positive"] * 3 + ["negative"] + ["positive"] + ["negative"] * 3,
            "HER2IHC": ["2+", "2+", "1+", "3+", "0", "1+", "0", "2+"],
            "VISCFL": ["Y", "N"] * 4,
            "PRIORLN": pd.array([1, 1, 2, 2, 1, 1, 2, 2], dtype="Int64"),
        }
    )
    return adsl, patients


def _fisher_two_sided_p(a, b, c, d):
    """Fisher exact p by enumerating the hypergeometric distribution (sum of P <= P(observed))."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def prob(x):
        return math.comb(col1, x) * math.comb(n - col1, row1 - x) / math.comb(n, row1)

    lo, hi = max(0, row1 + col1 - n), min(row1, col1)
    observed = prob(a)
    return sum(prob(x) for x in range(lo, hi + 1) if prob(x) <= observed * (1 + 1e-7))


def _bh(p):
    """Benjamini–Hochberg step-up adjustment from its definition (1995)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    out = np.empty(m)
    out[order] = adjusted
    return out


def test_hr_status_odds_ratio_uses_table_3_1_1_3_and_fisher_p_enumerated():
    adsl, patients = _assoc_data()
    table = screening.compute_characteristic_associations(adsl, patients)
    hr = table.iloc[0]
    assert hr["characteristic"] == "HR status"
    assert "[[3, 1], [1, 3]]" in hr["note"]  # rows HR+/HR-, columns amplified yes/no
    assert hr["p_value"] == pytest.approx(_fisher_two_sided_p(3, 1, 1, 3))  # 0.4857
    assert hr["estimate"] > 1  # HR positive enriched among amplified


def test_ihc_2plus_vs_0_1plus_drops_ihc_3plus_hand_count():
    adsl, patients = _assoc_data()
    ihc = screening.compute_characteristic_associations(adsl, patients).iloc[1]
    # amplified: 2+, 2+, 1+, (3+ dropped); not: 0, 1+, 0, 2+ -> [[2, 1], [1, 3]], N = 7
    assert "[[2, 1], [1, 3]]" in ihc["note"]
    assert ihc["N"] == 7


def test_age_shift_is_hodges_lehmann_of_separated_groups_with_exact_mann_whitney_p():
    adsl, patients = _assoc_data()
    age = screening.compute_characteristic_associations(adsl, patients).iloc[3]
    diffs = np.subtract.outer([60, 62, 64, 66], [50, 52, 54, 56]).ravel()
    assert age["estimate"] == pytest.approx(np.median(diffs))  # 10 years
    # complete separation, m = n = 4: two-sided exact p = 2 / C(8, 4) = 2/70
    assert age["p_value"] == pytest.approx(2 / 70)
    assert age["effect_measure"] == "Hodges–Lehmann shift"


def test_p_adj_is_benjamini_hochberg_over_six_characteristics_by_definition():
    adsl, patients = _assoc_data()
    table = screening.compute_characteristic_associations(adsl, patients)
    assert len(table) == 6
    np.testing.assert_allclose(table["p_adj"], _bh(table["p_value"]))


def test_association_not_estimable_when_nobody_amplified():
    adsl, patients = _assoc_data()
    table = screening.compute_characteristic_associations(adsl, patients.assign(HER2AMPFL="N"))
    age = table.iloc[3]
    assert math.isnan(age["estimate"])
    assert "not estimable" in age["note"]
    assert math.isnan(table.iloc[0]["estimate"])  # empty outcome column: OR undefined


def test_odds_ratio_rows_drop_infinite_estimates_and_label_with_p_adj():
    assoc = pd.DataFrame(
        {
            "characteristic": ["A", "B", "C"],
            "comparison": ["x vs y"] * 3,
            "effect_measure": ["odds ratio", "odds ratio", "Hodges–Lehmann shift"],
            "estimate": [2.0, np.inf, 3.0],
            "ci_lower": [0.5, 0.3, 1.0],
            "ci_upper": [8.0, np.inf, 5.0],
            "p_adj": [0.254, 0.5, 0.1],
        }
    )
    rows = screening.derive_odds_ratio_rows(assoc)
    assert rows["characteristic"].tolist() == ["A"]
    assert rows["label"].iloc[0] == "A x vs y\n(BH-adjusted p = 0.25)"


# ------------------------------------------------------------------------------------------
# technical failures
# ------------------------------------------------------------------------------------------


def test_fish_failure_rates_denominators_and_reasons_add_up_hand_count(toy):
    adcell, adctc = toy
    table = screening.summarise_fish_failures(adctc, adcell)
    by_param = table.set_index("parameter")
    cellsearch = by_param.loc["CellSearch technical failure, all screened patients"]
    assert (cellsearch["n"], cellsearch["N"]) == (1, 6)
    fish = by_param.loc["FISH technical failure, patients with ≥1 CTC (FISH attempted)"]
    assert (fish["n"], fish["N"]) == (1, 4)
    reasons = table[table["reason"] == "hybridisation_failure"]
    assert reasons["n"].sum() == fish["n"]
    cells = table[table["reason"] == "cell not scoreable"].iloc[0]
    assert (cells["n"], cells["N"]) == (1, 5)  # P6 C02 of 5 R1 readings
    assert "independent" in cells["note"]


# ------------------------------------------------------------------------------------------
# reader agreement
# ------------------------------------------------------------------------------------------


def _reader_cells():
    # 10 double-read cells in 2 patients. R1 calls Y,Y,Y,N*7; R2 Y,Y,N,N*6,Y.
    r1 = [(6, 2), (8, 2), (6, 2)] + [(2, 2)] * 7
    r2 = [(6, 2), (8, 2), (3, 2)] + [(2, 2)] * 6 + [(5, 2)]
    rows = []
    for i, (a, b) in enumerate(zip(r1, r2, strict=True)):
        subject = SUBJ[0] if i < 5 else SUBJ[1]
        rows += [(subject, f"C{i + 1:02d}", "R1", *a), (subject, f"C{i + 1:02d}", "R2", *b)]
    rows.append((SUBJ[1], "C11", "R1", 2, 2))
    rows.append((SUBJ[1], "C11", "R2", 0, 2))  # not scoreable by R2: set aside
    return ctc.derive_cell_calls(_fish(rows))


def test_cell_kappa_matches_textbook_formula_po_pe():
    agreement = fish_agreement.compute_reader_agreement(_reader_cells())
    kappa = agreement.table.iloc[0]
    # p_o = 8/10; p_e = 0.3*0.3 + 0.7*0.7 = 0.58 (both readers 3 Y / 7 N)
    assert kappa["estimate"] == pytest.approx((0.8 - 0.58) / (1 - 0.58))
    discordant = agreement.table.iloc[1]
    assert (discordant["n"], discordant["N"]) == (2, 10)
    assert len(agreement.dropped) == 1


def test_bland_altman_on_log2_ratio_bias_by_hand():
    agreement = fish_agreement.compute_reader_agreement(_reader_cells())
    # log2 differences: cell 3: log2(3/1.5) = 1; cell 10: log2(1/2.5); others 0
    expected = (1 + math.log2(1 / 2.5)) / 10
    bias = agreement.table[agreement.table["parameter"].str.contains("bias")].iloc[0]
    assert bias["estimate"] == pytest.approx(expected)
    assert agreement.bland_altman.difference.size == 10


def test_patient_status_on_double_read_cells_hand_count():
    agreement = fish_agreement.compute_reader_agreement(_reader_cells())
    calls = agreement.patient_calls.set_index("USUBJID")
    # patient 1 (cells 1-5): both readers Y; patient 2 (cells 6-10): R1 N, R2 Y (cell 10)
    assert calls.loc[SUBJ[0]].tolist() == ["Y", "Y"]
    assert calls.loc[SUBJ[1]].tolist() == ["N", "Y"]
    discordant = agreement.table[agreement.table["level"] == "patient"].iloc[1]
    assert (discordant["n"], discordant["N"]) == (1, 2)
    assert "2 patients" in fish_agreement.summarise_reader_agreement_sentence(agreement)


def test_icc_is_one_when_readers_agree_exactly_by_definition():
    rows = []
    for i, (h, c) in enumerate([(6, 2), (2, 2), (3, 1), (4, 4)]):
        rows += [(SUBJ[0], f"C{i}", "R1", h, c), (SUBJ[0], f"C{i}", "R2", h, c)]
    agreement = fish_agreement.compute_reader_agreement(ctc.derive_cell_calls(_fish(rows)))
    icc = agreement.table[agreement.table["parameter"].str.startswith("ICC")].iloc[0]
    assert icc["estimate"] == pytest.approx(1.0)


def test_reader_agreement_without_second_reader_is_not_estimable_not_an_error(toy):
    adcell, _ = toy
    agreement = fish_agreement.compute_reader_agreement(adcell[adcell["READER"] == "R1"])
    assert agreement.table["estimate"].isna().all()
    ba = agreement.bland_altman
    assert ba.mean.size == 0
    assert ba.table["estimate"].isna().all()
    assert (ba.table["note"] == "not estimable: no CTC read by both readers (no R2 reading)").all()


# ------------------------------------------------------------------------------------------
# FISH vs IF
# ------------------------------------------------------------------------------------------


def _if_cells():
    # R1 cells: amplified (ratio 3) with IF 3+, 2+, 1+; non-amplified (ratio 1) with 2+, 0, 0, 1+.
    fish = _fish([(SUBJ[0], f"C{i}", "R1", h, 2) for i, h in enumerate([6, 6, 6, 2, 2, 2, 2])])
    if_ = pd.DataFrame(
        {
            "subject_id": [SUBJ[0]] * 7,
            "cell_id": [f"C{i}" for i in range(7)],
            "if_score": ["3+", "2+", "1+", "2+", "0", "0", "1+"],
            "if_intensity": [900.0, 500.0, 200.0, 450.0, 50.0, 60.0, 210.0],
        }
    )
    return ctc.derive_cell_calls(fish, if_)


def test_if_accuracy_at_2plus_hand_count():
    result = fish_agreement.compute_fish_if_agreement(_if_cells(), "2+")
    table = result.table.set_index(result.table["parameter"].str.split(": ").str[-1])
    # TP 2 (3+, 2+), FN 1 (1+), FP 1 (2+), TN 3
    assert (table.loc["sensitivity", "n"], table.loc["sensitivity", "N"]) == (2, 3)
    assert (table.loc["specificity", "n"], table.loc["specificity", "N"]) == (3, 4)
    assert (table.loc["PPV", "n"], table.loc["PPV", "N"]) == (2, 3)
    assert (table.loc["NPV", "n"], table.loc["NPV", "N"]) == (3, 4)
    assert result.cross_table.loc["IF 2+", "FISH not amplified"] == 1
    assert result.cross_table.loc["Total", "Total"] == 7


def test_if_auc_equals_brute_force_pairwise_probability():
    result = fish_agreement.compute_fish_if_agreement(_if_cells())
    pos, neg = [900.0, 500.0, 200.0], [450.0, 50.0, 60.0, 210.0]
    brute = np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg])
    assert result.table.iloc[-1]["estimate"] == pytest.approx(brute)  # 10/12
    assert result.roc is not None


def test_if_positive_score_3plus_changes_sensitivity_and_invalid_score_raises():
    result = fish_agreement.compute_fish_if_agreement(_if_cells(), "3+")
    assert result.table.iloc[0]["n"] == 1  # only the 3+ amplified cell
    with pytest.raises(ValueError, match="positive_score"):
        fish_agreement.compute_fish_if_agreement(_if_cells(), "4+")


def test_if_agreement_without_if_data_says_not_available(toy):
    adcell, _ = toy
    out = fish_agreement.compute_fish_if_agreement(adcell.assign(IFSCORE=None))
    assert out.cells.empty
    assert out.roc.curve.empty
    assert out.cross_table.to_numpy().sum() == 0
    assert out.table["note"].tolist() == [
        "not available: table ctc_if not supplied (no CTC scoreable by R1 has an IF result)"
    ]


# ------------------------------------------------------------------------------------------
# sentences and display
# ------------------------------------------------------------------------------------------


def test_summarise_estimate_sentence_proportion_and_ratio_sentences():
    row = pd.Series(
        {
            "parameter": "Detection",
            "n": 19,
            "N": 171,
            "estimate": 19 / 171,
            "ci_lower": 0.0682,
            "ci_upper": 0.1681,
            "ci_level": 0.95,
            "method": "Clopper–Pearson exact",
        }
    )
    assert screening.summarise_estimate_sentence(row) == (
        "Detection: 19/171 = 11.1 % (95 % CI 6.8 to 16.8 %; Clopper–Pearson exact)."
    )
    auc = row.copy()
    auc[["estimate", "ci_lower", "ci_upper", "method"]] = [0.848, 0.813, 0.884, "DeLong"]
    assert screening.summarise_estimate_sentence(auc) == (
        "Detection: 0.85 (95 % CI 0.81 to 0.88; DeLong) (N = 171)."
    )
    with pytest.raises(TypeError):
        screening.summarise_estimate_sentence(pd.DataFrame([row]))


def test_format_estimate_table_percent_for_proportions_and_infinity_sign():
    table = pd.DataFrame(
        {
            "population": ["a", "b"],
            "parameter": ["rate", "OR"],
            "n": [1, 2],
            "N": [4, 10],
            "estimate": [0.25, np.inf],
            "ci_lower": [0.0063, 0.5],
            "ci_upper": [0.8059, np.inf],
            "ci_level": [0.95, 0.95],
            "method": ["Clopper–Pearson exact", "Conditional MLE"],
            "p_value": [np.nan, 0.2],
            "note": ["", ""],
        }
    )
    out = screening.format_estimate_table(table)
    assert out["estimate (CI)"].tolist() == ["25.0 % (0.6 to 80.6)", "∞ (0.50 to ∞)"]
    assert list(out.columns) == [
        "population", "parameter", "n", "N", "estimate (CI)", "method", "p_value",
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------
# plots.plot_fish_signals
# ------------------------------------------------------------------------------------------


def test_plot_fish_signals_one_bubble_per_signal_pair_and_cutoff_line():
    cells = ctc.derive_cell_calls(
        _fish(
            [
                (SUBJ[0], "C01", "R1", 6, 2),
                (SUBJ[0], "C02", "R1", 6, 2),
                (SUBJ[0], "C03", "R1", 2, 2),
                (SUBJ[0], "C04", "R1", 0, 2),  # not scoreable: not drawn
            ]
        )
    )
    fig = plots.plot_fish_signals(cells, 2.0)
    ax = fig.axes[0]
    amp = next(c for c in ax.collections if c.get_gid() == "amplified")
    non = next(c for c in ax.collections if c.get_gid() == "not_amplified")
    assert len(amp.get_offsets()) == 1
    assert len(non.get_offsets()) == 1
    assert amp.get_sizes()[0] > non.get_sizes()[0]  # 2 cells vs 1 cell
    line = next(ln for ln in ax.lines if ln.get_gid() == "ratio_threshold")
    x, y = line.get_data()
    assert y[-1] == pytest.approx(2.0 * x[-1])


def test_plot_fish_signals_has_a_size_key_for_bubble_area():
    import matplotlib.legend

    cells = ctc.derive_cell_calls(
        _fish(
            [(SUBJ[0], f"C{i:02d}", "R1", 6, 2) for i in range(4)] + [(SUBJ[0], "C9", "R1", 2, 2)]
        )
    )
    fig = plots.plot_fish_signals(cells, 2.0)
    ax = fig.axes[0]
    legends = [a for a in ax.get_children() if isinstance(a, matplotlib.legend.Legend)]
    key = next(lg for lg in legends if lg.get_title().get_text() == "Size key")
    assert [t.get_text() for t in key.get_texts()] == ["1 cell", "2 cells", "4 cells"]


def test_plot_fish_signals_rejects_cells_without_calls():
    cells = pd.DataFrame({"HER2SIG": [0], "CEP17SIG": [2], "AMPFL": [None]})
    with pytest.raises(ValueError, match="no cell"):
        plots.plot_fish_signals(cells)
    with pytest.raises(ValueError, match="missing"):
        plots.plot_fish_signals(cells.drop(columns="AMPFL"))
