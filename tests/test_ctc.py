"""Tests of helpers.her2_ctc.ctc: per-CTC HER2 FISH calls, patient summary, reader pairs, screening
flow.

Reference values are the ASCO/CAP 2018 ISH group definitions (Wolff AC et al., J Clin Oncol
2018;36:2105-2122, Figure 2 / Table: Group 1 ratio >= 2.0 and HER2 >= 4.0; Group 2 ratio >= 2.0
and HER2 < 4.0; Group 3 ratio < 2.0 and HER2 >= 6.0; Group 4 ratio < 2.0 and 4.0 <= HER2 < 6.0;
Group 5 ratio < 2.0 and HER2 < 4.0) and hand counts on toy tables (stated next to each test).
"""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.her2_ctc.ctc import (
    ISH_THRESHOLD_DEFAULT,
    MIN_HER2_SIGNALS_DEFAULT,
    SENSITIVITY_RATIO_THRESHOLD,
    derive_cell_calls,
    derive_patient_ctc_summary,
    derive_reader_pairs,
    derive_screening_flow,
)


def _fish(rows):
    """rows: (subject_id, cell_id, reader_id, her2_signals, cep17_signals)."""
    return pd.DataFrame(
        rows, columns=["subject_id", "cell_id", "reader_id", "her2_signals", "cep17_signals"]
    )


def _screening(rows):
    """rows: (subject_id, cellsearch_status, ctc_count, fish_status, fish_failure_reason)."""
    df = pd.DataFrame(
        rows,
        columns=[
            "subject_id",
            "cellsearch_status",
            "ctc_count",
            "fish_status",
            "fish_failure_reason",
        ],
    )
    return df.assign(sample_date="2024-01-10", blood_volume_ml=7.5)


def _one_cell(her2, cep17, **kwargs):
    return derive_cell_calls(_fish([("HC-001-0001", "C01", "R1", her2, cep17)]), **kwargs).iloc[0]


# ------------------------------------------------------------------------------------------
# per-cell calls
# ------------------------------------------------------------------------------------------


def test_defaults_are_the_documented_protocol_cutoffs():
    # Jacot W et al. Breast Cancer Res 2019;21:121 (NCT01975142): CTC amplified at ratio >= 2.2
    assert ISH_THRESHOLD_DEFAULT == 2.2
    assert SENSITIVITY_RATIO_THRESHOLD == 2.0  # ASCO/CAP 2018 group 1 (tissue): sensitivity only
    assert MIN_HER2_SIGNALS_DEFAULT == 1


def test_ratio_exactly_2_is_amplified_only_at_the_asco_cap_sensitivity_cutoff():
    cell = _one_cell(4, 2)
    assert cell["RATIO"] == 2.0
    assert cell["AMPFL"] == "N"  # trial cut-off 2.2 (Jacot 2019)
    assert _one_cell(4, 2, ratio_threshold=2.0)["AMPFL"] == "Y"  # ASCO/CAP 2018 "ratio >= 2.0"
    assert _one_cell(3, 2, ratio_threshold=2.0)["AMPFL"] == "N"  # ratio 1.5


def test_non_default_threshold_is_inclusive_despite_float_division_11_over_5():
    # 11/5 is the double nearest 2.2, so 11/5 >= 2.2 holds; 11 >= 2.2*5 would not (2.2*5 > 11)
    assert _one_cell(11, 5, ratio_threshold=2.2)["AMPFL"] == "Y"
    assert _one_cell(10, 5, ratio_threshold=2.2)["AMPFL"] == "N"


@pytest.mark.parametrize(
    ("her2", "cep17", "group"),
    [
        (4, 2, 1),  # ratio 2.0, HER2 4 -> G1 (both boundaries inclusive)
        (8, 2, 1),  # ratio 4.0, HER2 8 -> G1
        (3, 1, 2),  # ratio 3.0, HER2 3 -> G2 (HER2 < 4)
        (2, 1, 2),  # ratio 2.0, HER2 2 -> G2
        (6, 4, 3),  # ratio 1.5, HER2 6 -> G3 (HER2 >= 6 boundary inclusive)
        (11, 6, 3),  # ratio 1.83, HER2 11 -> G3
        (5, 3, 4),  # ratio 1.67, HER2 5 -> G4
        (4, 3, 4),  # ratio 1.33, HER2 4 -> G4 (lower boundary 4 inclusive)
        (3, 2, 5),  # ratio 1.5, HER2 3 -> G5
        (1, 1, 5),  # ratio 1.0, HER2 1 -> G5
    ],
)
def test_ish_group_boundaries_match_wolff_2018_definitions(her2, cep17, group):
    assert _one_cell(her2, cep17)["ISHGRP"] == group


def test_ish_group_uses_guideline_cutoff_not_ratio_threshold():
    cell = _one_cell(5, 2, ratio_threshold=3.0)  # ratio 2.5: not amplified at 3.0 but G1
    assert cell["AMPFL"] == "N"
    assert cell["ISHGRP"] == 1


def test_cell_without_her2_signal_is_not_evaluable_with_reason():
    cell = _one_cell(0, 2)
    assert cell["EVALFL"] == "N"
    assert cell["NEVALRSN"] == "fewer than 1 HER2 signal: not scoreable"
    assert cell["AMPFL"] is None
    assert pd.isna(cell["ISHGRP"])
    assert cell["RATIO"] == 0.0


def test_min_her2_signals_2_makes_single_signal_cell_not_evaluable():
    cell = _one_cell(1, 1, min_her2_signals=2)
    assert cell["EVALFL"] == "N"
    assert cell["NEVALRSN"] == "fewer than 2 HER2 signals: not scoreable"
    assert _one_cell(2, 1, min_her2_signals=2)["EVALFL"] == "Y"


def test_cep17_zero_is_not_evaluable_not_a_division_error():
    cell = _one_cell(3, 0)
    assert cell["EVALFL"] == "N"
    assert math.isnan(cell["RATIO"])
    assert "CEP17" in cell["NEVALRSN"]


def test_evaluable_cell_has_no_reason_and_columns_in_data_dictionary_order():
    cells = derive_cell_calls(_fish([("HC-001-0001", "C01", "R1", 4, 2)]))
    assert list(cells.columns) == [
        "USUBJID",
        "CELLID",
        "READER",
        "HER2SIG",
        "CEP17SIG",
        "RATIO",
        "EVALFL",
        "NEVALRSN",
        "AMPFL",
        "ISHGRP",
        "IFSCORE",
        "IFINT",
    ]
    assert cells.loc[0, "NEVALRSN"] is None
    assert cells.loc[0, "IFSCORE"] is None
    assert math.isnan(cells.loc[0, "IFINT"])


def test_if_results_merged_on_subject_and_cell_for_every_reader():
    fish = _fish(
        [
            ("HC-001-0001", "C01", "R1", 4, 2),
            ("HC-001-0001", "C01", "R2", 5, 2),
            ("HC-001-0001", "C02", "R1", 2, 2),
        ]
    )
    if_ = pd.DataFrame(
        {
            "subject_id": ["HC-001-0001"],
            "cell_id": ["C01"],
            "if_score": [0],  # integer 0 as a CSV reader might parse it: kept as text "0"
            "if_intensity": [812.5],
        }
    )
    cells = derive_cell_calls(fish, if_).set_index(["CELLID", "READER"])
    assert cells.loc[("C01", "R1"), "IFSCORE"] == "0"
    assert cells.loc[("C01", "R2"), "IFINT"] == 812.5
    assert cells.loc[("C02", "R1"), "IFSCORE"] is None


def test_duplicated_if_cell_raises():
    fish = _fish([("HC-001-0001", "C01", "R1", 4, 2)])
    if_ = pd.DataFrame(
        {
            "subject_id": ["HC-001-0001"] * 2,
            "cell_id": ["C01"] * 2,
            "if_score": ["1+", "2+"],
            "if_intensity": [1.0, 2.0],
        }
    )
    with pytest.raises(ValueError, match="duplicated key"):
        derive_cell_calls(fish, if_)


def test_empty_fish_table_gives_empty_adcell():
    cells = derive_cell_calls(_fish([]))
    assert cells.empty
    assert "AMPFL" in cells.columns


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ratio_threshold": 0.0}, ValueError, "ratio_threshold"),
        ({"ratio_threshold": float("nan")}, ValueError, "ratio_threshold"),
        ({"ratio_threshold": True}, TypeError, "ratio_threshold"),
        ({"min_her2_signals": -1}, ValueError, "min_her2_signals"),
        ({"min_her2_signals": 1.5}, TypeError, "min_her2_signals"),
    ],
)
def test_invalid_arguments_raise_with_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        derive_cell_calls(_fish([("HC-001-0001", "C01", "R1", 4, 2)]), **kwargs)


def test_invalid_fish_tables_raise():
    with pytest.raises(ValueError, match="cep17_signals"):
        derive_cell_calls(_fish([("HC-001-0001", "C01", "R1", 4, 2)]).drop(columns="cep17_signals"))
    with pytest.raises(ValueError, match="her2_signals"):
        derive_cell_calls(_fish([("HC-001-0001", "C01", "R1", -1, 2)]))
    with pytest.raises(ValueError, match="duplicated key"):
        derive_cell_calls(_fish([("HC-001-0001", "C01", "R1", 4, 2)] * 2))
    with pytest.raises(TypeError, match="DataFrame"):
        derive_cell_calls([("HC-001-0001", "C01", "R1", 4, 2)])


# ------------------------------------------------------------------------------------------
# patient summary
# ------------------------------------------------------------------------------------------


@pytest.fixture
def toy_cohort():
    screening = _screening(
        [
            ("HC-001-0001", "done", 12, "done", None),  # 3 evaluable R1 cells, 2 amplified
            ("HC-001-0002", "done", 1, "done", None),  # a single evaluable cell
            ("HC-001-0003", "failed", None, "not_done", None),  # CellSearch failure
            ("HC-001-0004", "done", 0, "not_done", None),  # no CTC
            ("HC-001-0005", "done", 3, "technical_failure", "cell_loss"),
            ("HC-001-0006", "done", 5, "done", None),  # 2 evaluable, none amplified
            ("HC-001-0007", "done", 4, "done", None),  # only a non-evaluable cell
        ]
    )
    fish = _fish(
        [
            ("HC-001-0001", "C01", "R1", 5, 2),  # 2.5 amplified
            ("HC-001-0001", "C02", "R1", 2, 2),  # 1.0
            ("HC-001-0001", "C03", "R1", 6, 2),  # 3.0 amplified
            ("HC-001-0001", "C04", "R1", 0, 2),  # not evaluable
            ("HC-001-0001", "C01", "R2", 4, 2),  # re-read, must not count for R1
            ("HC-001-0002", "C01", "R1", 8, 2),
            ("HC-001-0006", "C01", "R1", 2, 2),
            ("HC-001-0006", "C02", "R1", 3, 2),
            ("HC-001-0007", "C01", "R1", 0, 1),
        ]
    )
    return screening, derive_cell_calls(fish)


def test_summary_hand_counts_for_patient_with_mixed_cells(toy_cohort):
    screening, cells = toy_cohort
    row = derive_patient_ctc_summary(screening, cells).set_index("USUBJID").loc["HC-001-0001"]
    # hand count: 4 R1 cells, 3 evaluable (2.5, 1.0, 3.0), 2 amplified
    assert row["NCELLR1"] == 4
    assert row["NCELLEVL"] == 3
    assert row["NAMP"] == 2
    assert row["PCTAMP"] == pytest.approx(200 / 3)
    assert row["MEANRAT"] == pytest.approx((2.5 + 1.0 + 3.0) / 3)
    assert row["MAXRAT"] == 3.0
    assert (row["CTCPOS1"], row["CTCPOS5"]) == ("Y", "Y")
    assert (row["HER2AMPFL"], row["HETEROFL"]) == ("Y", "Y")


def test_summary_has_one_row_per_screened_patient_in_order(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells)
    assert adctc["USUBJID"].tolist() == screening["subject_id"].tolist()
    assert list(adctc.columns)[:3] == ["USUBJID", "CTCCNT", "CTCPOS1"]


def test_heterogeneity_is_na_with_a_single_evaluable_cell(toy_cohort):
    screening, cells = toy_cohort
    row = derive_patient_ctc_summary(screening, cells).set_index("USUBJID").loc["HC-001-0002"]
    assert row["HER2AMPFL"] == "Y"
    assert row["HETEROFL"] is None
    assert row["PCTAMP"] == 100.0


def test_cellsearch_failure_patient_present_with_na_flags(toy_cohort):
    screening, cells = toy_cohort
    row = derive_patient_ctc_summary(screening, cells).set_index("USUBJID").loc["HC-001-0003"]
    assert pd.isna(row["CTCCNT"])
    assert row["CTCPOS1"] is None
    assert row["CTCPOS5"] is None
    assert row["HER2AMPFL"] is None
    assert row["HETEROFL"] is None
    assert row["NCELLR1"] == 0
    assert math.isnan(row["PCTAMP"])


def test_no_ctc_and_technical_failure_give_na_amplification(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells).set_index("USUBJID")
    assert adctc.loc["HC-001-0004", "CTCPOS1"] == "N"
    assert adctc.loc["HC-001-0004", "HER2AMPFL"] is None
    assert adctc.loc["HC-001-0005", "FISHSTAT"] == "technical_failure"
    assert adctc.loc["HC-001-0005", "FISHFRSN"] == "cell_loss"
    assert adctc.loc["HC-001-0005", "HER2AMPFL"] is None
    assert adctc.loc["HC-001-0001", "FISHFRSN"] is None


def test_ctc_positivity_boundaries_at_1_and_5(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells).set_index("USUBJID")
    assert adctc.loc["HC-001-0002", ["CTCPOS1", "CTCPOS5"]].tolist() == ["Y", "N"]  # 1 CTC
    assert adctc.loc["HC-001-0006", "CTCPOS5"] == "Y"  # exactly 5
    assert adctc.loc["HC-001-0007", "CTCPOS5"] == "N"  # 4


def test_not_evaluable_cells_excluded_from_denominator(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells).set_index("USUBJID")
    # HC-001-0007: one cell read, not evaluable -> FISH not informative
    assert adctc.loc["HC-001-0007", "NCELLR1"] == 1
    assert adctc.loc["HC-001-0007", "NCELLEVL"] == 0
    assert adctc.loc["HC-001-0007", "HER2AMPFL"] is None
    assert math.isnan(adctc.loc["HC-001-0007", "PCTAMP"])
    # HC-001-0006: 2 evaluable, none amplified -> N, homogeneous
    assert adctc.loc["HC-001-0006", ["HER2AMPFL", "HETEROFL", "PCTAMP"]].tolist() == [
        "N",
        "N",
        0.0,
    ]


def test_all_amplified_is_not_heterogeneous():
    screening = _screening([("HC-001-0001", "done", 2, "done", None)])
    cells = derive_cell_calls(
        _fish([("HC-001-0001", "C01", "R1", 8, 2), ("HC-001-0001", "C02", "R1", 6, 2)])
    )
    row = derive_patient_ctc_summary(screening, cells).iloc[0]
    assert (row["HER2AMPFL"], row["HETEROFL"], row["PCTAMP"]) == ("Y", "N", 100.0)


def test_summary_with_no_cells_at_all():
    screening = _screening([("HC-001-0001", "done", 0, "not_done", None)])
    adctc = derive_patient_ctc_summary(screening, derive_cell_calls(_fish([])))
    assert adctc.loc[0, "NCELLR1"] == 0
    assert adctc.loc[0, "HER2AMPFL"] is None


def test_summary_of_empty_screening_is_empty():
    adctc = derive_patient_ctc_summary(_screening([]), derive_cell_calls(_fish([])))
    assert adctc.empty
    assert "HETEROFL" in adctc.columns


def test_summary_rejects_inconsistent_inputs(toy_cohort):
    screening, cells = toy_cohort
    with pytest.raises(ValueError, match="absent from screening"):
        derive_patient_ctc_summary(screening.iloc[1:], cells)
    bad = screening.copy()
    bad.loc[0, "ctc_count"] = None
    with pytest.raises(ValueError, match="ctc_count is missing"):
        derive_patient_ctc_summary(bad, cells)
    bad = screening.copy()
    bad.loc[0, "fish_status"] = "failed"
    with pytest.raises(ValueError, match="fish_status"):
        derive_patient_ctc_summary(bad, cells)
    with pytest.raises(ValueError, match="reader 'R3'"):
        derive_patient_ctc_summary(screening, cells, reader="R3")


# ------------------------------------------------------------------------------------------
# reader pairs
# ------------------------------------------------------------------------------------------


def test_reader_pairs_keep_doubly_evaluable_cells_and_report_dropped():
    cells = derive_cell_calls(
        _fish(
            [
                ("HC-001-0001", "C01", "R1", 5, 2),
                ("HC-001-0001", "C01", "R2", 3, 2),
                ("HC-001-0001", "C02", "R1", 0, 2),  # R1 cannot score
                ("HC-001-0001", "C02", "R2", 2, 2),
                ("HC-001-0001", "C03", "R1", 0, 2),  # neither can score
                ("HC-001-0001", "C03", "R2", 0, 1),
                ("HC-001-0001", "C04", "R1", 6, 2),  # R1 only: not a pair
            ]
        )
    )
    result = derive_reader_pairs(cells)
    assert result.pairs.to_dict("records") == [
        {
            "USUBJID": "HC-001-0001",
            "CELLID": "C01",
            "RATIO_R1": 2.5,
            "RATIO_R2": 1.5,
            "AMPFL_R1": "Y",
            "AMPFL_R2": "N",
        }
    ]
    assert result.n_dropped == 2
    assert result.dropped["REASON"].tolist() == [
        "not evaluable by R1",
        "not evaluable by R1 nor R2",
    ]


def test_reader_pairs_same_reader_twice_raises():
    with pytest.raises(ValueError, match="must differ"):
        derive_reader_pairs(derive_cell_calls(_fish([])), "R1", "R1")


# ------------------------------------------------------------------------------------------
# screening flow
# ------------------------------------------------------------------------------------------


def _check_flow_invariant(flow: pd.DataFrame) -> None:
    n_by_step = dict(zip(flow["step"], flow["n"], strict=True))
    for _, row in flow.iterrows():
        assert sum(row["excluded_reasons"].values()) == row["excluded_n"]
        if row["from_step"] is not None:
            assert row["n"] == n_by_step[row["from_step"]] - row["excluded_n"]


def test_screening_flow_hand_counts_on_toy_cohort(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells)
    treated = pd.DataFrame(
        {
            "USUBJID": ["HC-001-0001", "HC-001-0002"],
            "TRTFL": ["Y", "N"],
            "NTRTRSN": [None, "ECOG deterioration"],
        }
    )
    flow = derive_screening_flow(adctc, treated).set_index("step")
    # hand count: 7 screened; 1 CellSearch failure; 1 with 0 CTC; of 5 with CTC, 2 have >= 5;
    # FISH: 1 technical failure (cell_loss), 1 without evaluable cell -> 3 evaluable;
    # amplified: 0001, 0002 (0006 not); treated: 0001.
    assert flow["n"].tolist() == [7, 6, 5, 2, 3, 2, 1]
    assert flow.loc["CTC count evaluable (CellSearch done)", "excluded_reasons"] == {
        "CellSearch failed": 1
    }
    assert flow.loc["FISH evaluable", "excluded_reasons"] == {
        "FISH done, no evaluable CTC": 1,
        "FISH technical failure: cell_loss": 1,
    }
    assert flow.loc[">=1 HER2-amplified CTC", "excluded_reasons"] == {"no amplified CTC": 1}
    assert flow.loc["Treated", "excluded_reasons"] == {"not treated: ECOG deterioration": 1}
    assert not flow.loc[">=5 CTC (informative)", "gate"]
    _check_flow_invariant(flow.reset_index())


def test_screening_flow_accepts_boolean_series_and_missing_patients_as_untreated(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells)
    flow = derive_screening_flow(adctc, pd.Series({"HC-001-0002": True})).set_index("step")
    assert flow.loc["Treated", "n"] == 1
    assert flow.loc["Treated", "excluded_reasons"] == {"not treated (reason not recorded)": 1}


def test_screening_flow_rejects_unknown_treatment_flag(toy_cohort):
    screening, cells = toy_cohort
    adctc = derive_patient_ctc_summary(screening, cells)
    with pytest.raises(ValueError, match="TRTFL"):
        derive_screening_flow(adctc, pd.DataFrame({"USUBJID": ["HC-001-0001"], "TRTFL": ["yes"]}))


def test_screening_flow_of_empty_cohort_is_all_zero():
    adctc = derive_patient_ctc_summary(_screening([]), derive_cell_calls(_fish([])))
    flow = derive_screening_flow(adctc, pd.DataFrame({"USUBJID": [], "TRTFL": []}))
    assert flow["n"].sum() == 0
    assert len(flow) == 7


_patient = st.tuples(
    st.sampled_from(["done", "failed"]),
    st.integers(0, 8),  # CTC count
    st.sampled_from(["done", "technical_failure"]),
    st.lists(st.tuples(st.integers(0, 8), st.integers(1, 4)), max_size=3),  # cells
    st.booleans(),  # treated
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_patient, max_size=12))
def test_screening_flow_counts_add_up_property_n_equals_parent_minus_excluded(patients):
    screen_rows, fish_rows, trt = [], [], {}
    for i, (cs, count, fish_status, cell_list, treated) in enumerate(patients):
        sid = f"HC-001-{i:04d}"
        has_ctc = cs == "done" and count > 0
        status = fish_status if has_ctc else "not_done"
        reason = "hybridisation_failure" if status == "technical_failure" else None
        screen_rows.append((sid, cs, count if cs == "done" else None, status, reason))
        if status == "done":
            fish_rows += [(sid, f"C{j:02d}", "R1", h, c) for j, (h, c) in enumerate(cell_list)]
        trt[sid] = treated
    adctc = derive_patient_ctc_summary(_screening(screen_rows), derive_cell_calls(_fish(fish_rows)))
    flow = derive_screening_flow(adctc, pd.Series(trt, dtype=bool))
    _check_flow_invariant(flow)
    assert flow.loc[0, "n"] == len(patients)


def test_summary_from_csv_round_trip_keeps_integer_counts_and_none_reasons(toy_cohort):
    screening, cells = toy_cohort
    # read_csv turns empty counts/reasons into float NaN, as the io module will see them
    screening = pd.read_csv(io.StringIO(screening.to_csv(index=False)))
    adctc = derive_patient_ctc_summary(screening, cells)
    assert str(adctc["CTCCNT"].dtype) == "Int64"
    assert adctc.loc[0, "CTCCNT"] == 12
    assert adctc.loc[0, "FISHFRSN"] is None
    assert adctc.loc[4, "FISHFRSN"] == "cell_loss"


def test_non_integer_ctc_count_raises(toy_cohort):
    screening, cells = toy_cohort
    with pytest.raises(ValueError, match="ctc_count"):
        derive_patient_ctc_summary(screening.assign(ctc_count=2.5), cells)


def test_biomarker_section_without_its_table_says_not_available():
    # issue 12: ctc_followup / ctdna are optional; their rows name the absent table
    from helpers.her2_ctc import tdm1

    rows = pd.DataFrame({"parameter": ["CTC change"], "estimate": [float("nan")], "note": [""]})
    adbm = pd.DataFrame({"PARAMCD": ["CTDNATF"]})
    ctc = tdm1.derive_availability_notes(rows, adbm, "CTCCNT")
    assert ctc["note"].tolist() == ["not available: table ctc_followup not supplied"]
    dna = tdm1.derive_availability_notes(rows, adbm, "CTDNATF")
    assert dna["note"].tolist() == [""]  # supplied: unchanged
    with pytest.raises(ValueError, match="paramcd must be one of"):
        tdm1.derive_availability_notes(rows, adbm, "GZMB")
