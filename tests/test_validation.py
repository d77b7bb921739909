"""Tests of helpers.data.validation: cross-table rules (one broken fixture each) and QC
exclusions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers import io
from helpers.data.schemas import TRIAL_TABLES
from helpers.data.validation import (
    QC_COLUMNS,
    DataValidationError,
    derive_qc_exclusions,
    derive_qc_rows,
    summarise_qc,
    validate_trial,
    validate_trials,
)

FIXTURES = Path(__file__).parent / "fixtures"
HER2, EVE = "her2_ctc_tdm1", "everolimus_nk"


def _raw(trial: str) -> dict[str, pd.DataFrame]:
    return io.load_raw_trial(FIXTURES, trial, TRIAL_TABLES[trial])


def _problems(tables: dict[str, pd.DataFrame], trial: str) -> list[dict]:
    with pytest.raises(DataValidationError) as info:
        validate_trial(tables, trial)
    return info.value.problems.to_dict("records")


def _edit(trial: str, table: str, row: int, column: str, value: object) -> list[dict]:
    tables = _raw(trial)
    tables[table].loc[row, column] = value
    return _problems(tables, trial)


def _one(file: str, row: int | None, column: str, value: str, rule: str) -> list[dict]:
    return [{"file": file, "row": row, "column": column, "value": value, "rule": rule}]


@pytest.mark.parametrize("trial", [HER2, EVE])
def test_clean_fixtures_pass_and_come_back_typed(trial):
    raw = _raw(trial)
    typed = validate_trial(raw, trial)
    assert set(typed) == set(raw)
    assert str(typed["patients"]["date_inclusion"].dtype) == "datetime64[ns]"


def test_missing_required_table_is_reported():
    tables = _raw(EVE)
    del tables["survival"]
    assert _problems(tables, EVE) == _one(
        "survival.csv",
        None,
        "",
        "",
        "required table is missing: put survival.csv or survival.xlsx in the everolimus_nk folder",
    )


@pytest.mark.parametrize("table", ["granzyme_b", "nk_flow", "western_blot"])
def test_optional_everolimus_tables_may_be_left_out(table):
    # issue 12: granzyme_b (primary endpoint) is optional like nk_flow and western_blot
    tables = _raw(EVE)
    del tables[table]
    assert set(validate_trial(tables, EVE)) == set(tables)


def test_missing_tumour_data_needs_lesions_or_timepoint_responses():
    tables = _raw(HER2)
    del tables["tumour_lesions"], tables["timepoint_responses"]
    assert _problems(tables, HER2) == _one(
        "tumour_lesions.csv",
        None,
        "",
        "",
        "tumour data are missing: provide tumour_lesions or timepoint_responses",
    )


def test_either_tumour_table_alone_is_enough():
    tables = _raw(EVE)
    del tables["timepoint_responses"]
    validate_trial(tables, EVE)


def test_unknown_subject_id_is_reported_where_it_occurs():
    assert _edit(HER2, "adverse_events", 3, "subject_id", "HC-009-0001") == _one(
        "adverse_events.csv", 3, "subject_id", "HC-009-0001", "subject_id is not in patients"
    )


def test_duplicate_key_in_one_table_is_reported_through_the_schema():
    problems = _edit(HER2, "ctc_if", 3, "cell_id", "C01")
    assert {(p["row"], p["rule"]) for p in problems} == {
        (2, "each (subject_id, cell_id) must appear only once"),
        (3, "each (subject_id, cell_id) must appear only once"),
    }


@pytest.mark.parametrize(
    ("trial", "table", "row", "column", "value", "rule"),
    [
        (
            HER2,
            "patients",
            2,
            "date_treatment_start",
            "2025-01-01",
            "date_treatment_start must not be before date_inclusion",
        ),
        (
            HER2,
            "tumour_lesions",
            5,
            "assessment_date",
            "2025-01-19",
            "post-baseline tumour assessment must not be before date_treatment_start",
        ),
        (
            HER2,
            "timepoint_responses",
            3,
            "assessment_date",
            "2025-02-20",
            "post-baseline tumour assessment must not be before date_treatment_start",
        ),
        (
            HER2,
            "survival",
            2,
            "date_death",
            "2025-05-01",
            "date_progression must not be after date_death",
        ),
        (
            HER2,
            "adverse_events",
            2,
            "date_start",
            "2025-01-01",
            "adverse event date_start must not be before date_inclusion",
        ),
        (
            HER2,
            "adverse_events",
            2,
            "date_end",
            "2025-01-21",
            "date_end must not be before date_start",
        ),
        (
            HER2,
            "exposure",
            2,
            "date_start",
            "2025-01-19",
            "date_start must not be before date_treatment_start",
        ),
        (
            HER2,
            "end_of_treatment",
            3,
            "date_last_dose",
            "2025-02-01",
            "date_last_dose must not be before date_treatment_start",
        ),
        (
            EVE,
            "granzyme_b",
            5,
            "sample_date",
            "2025-03-01",
            "sample_date must not be before date_inclusion",
        ),
        (
            HER2,
            "ctc_screening",
            2,
            "sample_date",
            "2025-01-01",
            "sample_date must not be before date_inclusion",
        ),
    ],
)
def test_dates_out_of_order_are_reported(trial, table, row, column, value, rule):
    tables = _raw(trial)
    tables[table].loc[row, column] = value
    if column == "date_death":
        tables[table].loc[row, "death_cause"] = "disease_progression"
    problems = _problems(tables, trial)
    flagged = column
    if rule.startswith("date_progression"):
        flagged, value = "date_progression", "2025-05-26"
    assert {
        "file": f"{table}.csv",
        "row": row,
        "column": flagged,
        "value": value,
        "rule": rule,
    } in problems


def test_death_before_last_contact_is_an_error():
    tables = _raw(EVE)
    tables["survival"].loc[3, "date_last_alive"] = "2025-11-01"  # death 2025-10-10
    assert _problems(tables, EVE) == _one(
        "survival.csv",
        3,
        "date_last_alive",
        "2025-11-01",
        "date_last_alive must not be after date_death",
    )


def test_baseline_scan_after_first_dose_is_an_error_but_before_inclusion_is_allowed():
    tables = _raw(HER2)
    tables["tumour_lesions"].loc[[2, 3, 4], "assessment_date"] = "2024-12-20"  # before inclusion
    validate_trial(tables, HER2)
    tables["tumour_lesions"].loc[[2, 3, 4], "assessment_date"] = "2025-01-21"  # after first dose
    problems = _problems(tables, HER2)
    assert {(p["row"], p["column"], p["value"], p["rule"]) for p in problems} == {
        (
            r,
            "assessment_date",
            "2025-01-21",
            "BASELINE tumour assessment must not be after date_treatment_start",
        )
        for r in (2, 3, 4)
    }


def test_fish_rows_for_patient_whose_fish_status_is_not_done():
    tables = _raw(HER2)
    tables["ctc_fish"].loc[7, "subject_id"] = "HC-001-0002"  # fish_status not_done
    problems = _problems(tables, HER2)
    assert {
        "file": "ctc_fish.csv",
        "row": 7,
        "column": "subject_id",
        "value": "HC-001-0002",
        "rule": "FISH readings for a patient whose fish_status in ctc_screening is not done",
    } in problems


def test_fish_done_without_r1_readings_is_an_error():
    tables = _raw(HER2)
    tables["ctc_fish"] = tables["ctc_fish"].drop(index=[6, 7])
    tables["ctc_if"] = tables["ctc_if"].drop(index=[4])
    assert _problems(tables, HER2) == _one(
        "ctc_screening.csv",
        5,
        "fish_status",
        "done",
        "fish_status is done but ctc_fish has no R1 reading for this patient",
    )


def test_r2_reading_without_r1_reading_is_an_error():
    assert _edit(HER2, "ctc_fish", 5, "cell_id", "C09") == _one(
        "ctc_fish.csv", 5, "cell_id", "C09", "R2 re-reading of a cell that has no R1 reading"
    )


def test_if_for_a_cell_without_fish_is_an_error():
    assert _edit(HER2, "ctc_if", 3, "cell_id", "C07") == _one(
        "ctc_if.csv",
        3,
        "cell_id",
        "C07",
        "immunofluorescence for a cell that has no reading in ctc_fish",
    )


def test_western_calibrator_lane_with_subject_id_is_an_error():
    problems = _edit(EVE, "western_blot", 3, "subject_id", "EN-001-0001")
    assert (
        _one(
            "western_blot.csv",
            3,
            "subject_id",
            "EN-001-0001",
            "subject_id must be filled on sample lanes and empty on calibrator lanes",
        )[0]
        in problems
    )


def test_western_bands_of_one_lane_must_agree():
    problems = _edit(EVE, "western_blot", 6, "visit", "M9")
    assert {p["row"] for p in problems} == {5, 6, 7}
    assert {p["rule"] for p in problems} == {
        "all bands of one membrane lane must have the same visit"
    }


def test_treated_patient_without_survival_row_is_an_error():
    tables = _raw(HER2)
    tables["survival"] = tables["survival"].drop(index=[3])
    assert _problems(tables, HER2) == _one(
        "patients.csv", 5, "subject_id", "HC-002-0004", "treated patient has no row in survival"
    )


def test_exposure_of_untreated_patient_is_an_error():
    problems = _edit(HER2, "exposure", 7, "subject_id", "HC-001-0002")
    assert problems == _one(
        "exposure.csv",
        7,
        "subject_id",
        "HC-001-0002",
        "exposure holds treated patients only, but date_treatment_start is empty in patients",
    )


def test_lesions_without_baseline_visit_are_an_error():
    tables = _raw(EVE)
    tables["tumour_lesions"].loc[[2, 3], "visit"] = "W06"
    tables["tumour_lesions"].loc[[2, 3], "assessment_date"] = "2025-04-21"
    problems = _problems(tables, EVE)
    assert {(p["row"], p["column"], p["rule"]) for p in problems} == {
        (r, "visit", "patient has lesion measurements but no BASELINE visit")
        for r in range(2, 8)
        if r <= 7
    } - {(8, "visit", "")}


def test_lesion_changing_category_after_baseline_is_an_error():
    tables = _raw(EVE)
    tables["tumour_lesions"].loc[4, "lesion_category"] = "non_target"
    tables["tumour_lesions"].loc[4, "diameter_mm"] = None
    tables["tumour_lesions"].loc[4, "non_target_status"] = "present"
    problems = _problems(tables, EVE)
    assert problems == _one(
        "tumour_lesions.csv",
        4,
        "lesion_category",
        "non_target",
        "a post-baseline target/non_target lesion must be a baseline lesion of the same "
        "category (record new lesions as new)",
    )


def test_two_investigator_assessments_on_one_date_are_an_error():
    problems = _edit(HER2, "timepoint_responses", 4, "assessment_date", "2025-04-07")
    assert {p["row"] for p in problems} == {3, 4}


def test_lazy_collection_reports_problems_of_several_tables_and_kinds_together():
    tables = _raw(HER2)
    tables["patients"].loc[3, "age"] = "-3"  # schema rule, patients
    tables["survival"].loc[2, "date_last_alive"] = "2024-12-31"  # before treatment start
    with pytest.raises(DataValidationError) as info:
        validate_trial(tables, HER2)
    messages = info.value.messages
    assert (
        'patients.csv, row 3, column "age": value "-3" breaks rule "age must be between 18 '
        'and 100"' in messages
    )
    assert (
        'survival.csv, row 2, column "date_last_alive": value "2024-12-31" breaks rule '
        '"date_last_alive must not be before date_treatment_start"' in messages
    )


def test_unknown_table_name_or_trial_raises_value_error():
    with pytest.raises(ValueError, match="not part of the everolimus_nk export"):
        validate_trial({"ctc_fish": pd.DataFrame()}, EVE)
    with pytest.raises(ValueError, match="Unknown trial"):
        validate_trial({}, "trial_x")


# --------------------------------------------------------------------------------------------
# QC exclusions
# --------------------------------------------------------------------------------------------


def _cut(trial: str, cutoff: str = "2026-06-30"):
    return derive_qc_exclusions(validate_trial(_raw(trial), trial), trial, cutoff)


def test_qc_lists_each_excluded_record_with_its_rule():
    qc = _cut(HER2).qc
    assert list(qc.columns) == QC_COLUMNS
    got = set(zip(qc["FILE"], qc["ROW"], qc["RULE"], strict=True))
    assert got == {
        ("adverse_events.csv", 5, "after_cutoff"),
        ("ctc_screening.csv", 6, "included_after_cutoff"),
        ("patients.csv", 6, "included_after_cutoff"),
        ("survival.csv", 3, "value_after_cutoff"),
        ("timepoint_responses.csv", 2, "superseded_by_lesions"),
        ("timepoint_responses.csv", 5, "after_cutoff"),
    }


def test_excluded_records_leave_the_tables_and_kept_counts_add_up():
    raw = validate_trial(_raw(HER2), HER2)
    cut = derive_qc_exclusions(raw, HER2, "2026-06-30")
    excluded = cut.qc[cut.qc["RULE"] != "value_after_cutoff"].groupby("FILE").size()
    for name, df in raw.items():
        assert len(cut.tables[name]) + excluded.get(f"{name}.csv", 0) == len(df), name


def test_record_dated_on_the_cutoff_is_kept():
    cut = _cut(HER2, "2025-05-26")  # HC-001-0001 W18 scan is on 2025-05-26
    lesions = cut.tables["tumour_lesions"]
    assert (lesions["assessment_date"] == pd.Timestamp("2025-05-26")).sum() == 3
    assert not (lesions["assessment_date"] > pd.Timestamp("2025-05-26")).any()


def test_dates_after_cutoff_are_blanked_and_last_alive_capped():
    cut = _cut(HER2, "2025-05-01")
    srv = cut.tables["survival"].set_index("subject_id")
    assert pd.isna(srv.loc["HC-001-0001", "date_progression"])
    assert pd.isna(srv.loc["HC-001-0001", "progression_type"])
    assert srv.loc["HC-001-0001", "date_last_alive"] == pd.Timestamp("2025-05-01")
    eot = cut.tables["end_of_treatment"].set_index("subject_id")
    assert eot.loc["HC-001-0001", "eot_reason"] == "ongoing"
    rules = cut.qc.loc[cut.qc["USUBJID"] == "HC-001-0001", ["RECORD", "RULE"]]
    assert {"date_progression", "date_last_alive", "date_last_dose"} <= set(
        rules.loc[rules["RULE"] == "value_after_cutoff", "RECORD"]
    )


def test_invalid_cutoff_raises_value_error():
    raw = validate_trial(_raw(HER2), HER2)
    with pytest.raises(ValueError, match="ISO date"):
        derive_qc_exclusions(raw, HER2, "30/06/2026x")


def test_derive_qc_rows_checks_lengths():
    with pytest.raises(ValueError, match="same length"):
        derive_qc_rows(HER2, "x.csv", [1, 2], ["A"], ["r"], "after_cutoff", "late")
    qc = derive_qc_rows(HER2, "x.csv", [None], ["A"], ["r"], "missing_visit", "why")
    assert qc["ROW"].isna().all()
    assert list(qc.columns) == QC_COLUMNS


def test_validate_trials_reports_both_trials_with_folder_in_file_name():
    raw = {HER2: _raw(HER2), EVE: _raw(EVE)}
    raw[HER2]["patients"].loc[2, "age"] = "9"
    raw[EVE]["patients"].loc[2, "age"] = "101"
    with pytest.raises(DataValidationError) as info:
        validate_trials(raw)
    assert info.value.problems["file"].tolist() == [
        "her2_ctc_tdm1/patients.csv",
        "everolimus_nk/patients.csv",
    ]


def test_validate_trials_returns_typed_tables_per_trial():
    typed = validate_trials({EVE: _raw(EVE)})
    assert set(typed) == {EVE}
    assert str(typed[EVE]["granzyme_b"]["gzmb_pg_ml"].dtype) == "float64"


def test_summarise_qc_counts_lines_per_rule_with_meaning():
    summary = summarise_qc(_cut(HER2).qc)
    row = summary[summary["RULE"] == "included_after_cutoff"]
    assert row["N"].sum() == 2  # the patient row and the screening row of HC-002-0005
    assert row["MEANING"].iloc[0].startswith("patient included after the data cut-off")
    with pytest.raises(ValueError, match="lacks columns"):
        summarise_qc(pd.DataFrame({"TRIAL": []}))
