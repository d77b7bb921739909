"""Tests of helpers.data.schemas: one broken cell per rule; messages name file, row, column,
value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers import io
from helpers.data.schemas import (
    TRIAL_TABLES,
    DataValidationError,
    Problem,
    build_schema,
    coerce_table,
    get_table_spec,
    validate_table,
)

FIXTURES = Path(__file__).parent / "fixtures"
HER2, EVE = "her2_ctc_tdm1", "everolimus_nk"


def _raw(trial: str, table: str) -> pd.DataFrame:
    return io.load_raw_table(FIXTURES / trial / f"{table}.csv")


def _problems(df: pd.DataFrame, table: str, trial: str) -> pd.DataFrame:
    with pytest.raises(DataValidationError) as info:
        validate_table(df, table, trial)
    return info.value.problems


def _broken(trial: str, table: str, row: int, column: str, value: object) -> pd.DataFrame:
    df = _raw(trial, table)
    df.loc[row, column] = value
    return _problems(df, table, trial)


@pytest.mark.parametrize("trial", [HER2, EVE])
def test_every_clean_fixture_table_passes(trial):
    for table in TRIAL_TABLES[trial]:
        path = FIXTURES / trial / f"{table}.csv"
        if path.is_file():
            typed = validate_table(io.load_raw_table(path), table, trial)
            assert list(typed.columns) == get_table_spec(table, trial).columns


def test_message_names_file_row_column_value_and_rule():
    df = _raw(HER2, "patients")
    df.loc[5, "age"] = "-3"
    with pytest.raises(DataValidationError) as info:
        validate_table(df, "patients", HER2)
    assert info.value.messages == [
        'patients.csv, row 5, column "age": value "-3" breaks rule "age must be between 18 and 100"'
    ]
    assert info.value.problems.to_dict("records") == [
        {
            "file": "patients.csv",
            "row": 5,
            "column": "age",
            "value": "-3",
            "rule": "age must be between 18 and 100",
        }
    ]


def test_problem_message_for_a_whole_column_has_no_row():
    problem = Problem("patients.csv", None, "foo", "", "unexpected column; see data dictionary")
    assert problem.message == (
        'patients.csv, column "foo": breaks rule "unexpected column; see data dictionary"'
    )


@pytest.mark.parametrize(
    ("trial", "table", "row", "column", "value", "rule"),
    [
        (HER2, "patients", 2, "age", "101", "age must be between 18 and 100"),
        (HER2, "patients", 2, "age", "17", "age must be between 18 and 100"),
        (HER2, "patients", 3, "age", "fifty", "age must be a whole number"),
        (HER2, "patients", 3, "age", "54.5", "age must be a whole number"),
        (HER2, "patients", 2, "ecog", "5", "ecog must be between 0 and 4"),
        (HER2, "patients", 2, "sex", "female", "sex must be one of: F, M"),
        (HER2, "patients", 2, "visceral_disease", "yes", "visceral_disease must be Y or N"),
        (
            HER2,
            "patients",
            2,
            "date_inclusion",
            "2025-02-30",
            "date_inclusion must be a real date written YYYY-MM-DD",
        ),
        (
            HER2,
            "patients",
            2,
            "date_inclusion",
            "06/01/2025",
            "date_inclusion must be a real date written YYYY-MM-DD",
        ),
        (
            HER2,
            "patients",
            2,
            "subject_id",
            "hc-1-7",
            "subject_id must match ^[A-Z0-9]+-[0-9]{3}-[0-9]{4}$ (pseudonymised id such as "
            "HC-001-0007)",
        ),
        (
            HER2,
            "patients",
            2,
            "metastatic_sites",
            "bone;spleen",
            "metastatic_sites must be ;-separated codes from: bone, liver, lung, pleura, "
            "lymph_node, brain, skin_soft_tissue, peritoneum, other",
        ),
        (
            HER2,
            "patients",
            2,
            "prior_lines_metastatic",
            "-1",
            "prior_lines_metastatic must be between 0 and 20",
        ),
        (HER2, "adverse_events", 2, "grade", "6", "grade must be between 1 and 5"),
        (HER2, "adverse_events", 2, "grade", "0", "grade must be between 1 and 5"),
        (HER2, "ctc_fish", 2, "cep17_signals", "0", "cep17_signals must be between 1 and 50"),
        (HER2, "ctc_fish", 2, "her2_signals", "-1", "her2_signals must be between 0 and 200"),
        (HER2, "ctc_screening", 2, "ctc_count", "-2", "ctc_count must be at least 0"),
        (
            HER2,
            "ctc_screening",
            2,
            "blood_volume_ml",
            "0",
            "blood_volume_ml must be greater than 0 and at most 50",
        ),
        (
            HER2,
            "ctdna",
            2,
            "tumour_fraction_pct",
            "150",
            "tumour_fraction_pct must be between 0 and 100",
        ),
        (HER2, "exposure", 2, "dose_unit", "mg/day", "dose_unit must be one of: mg/kg"),
        (EVE, "exposure", 2, "dose_unit", "mg/kg", "dose_unit must be one of: mg/day"),
        (HER2, "exposure", 2, "dose", "3,6", "dose must be a number"),
        (EVE, "granzyme_b", 2, "visit", "M6", "visit must be one of: BASELINE, M3, M9"),
        (EVE, "nk_flow", 2, "value", "-1", "value must be at least 0"),
        (EVE, "western_blot", 2, "lane", "16", "lane must be between 1 and 15"),
        (
            HER2,
            "tumour_lesions",
            5,
            "visit",
            "week6",
            "visit must match ^(BASELINE|W[0-9]{2,3}|UNS[0-9]{1,3})$ (BASELINE, W06, W12, … or "
            "UNS1 for an unscheduled scan)",
        ),
    ],
)
def test_each_cell_rule_reports_the_broken_cell(trial, table, row, column, value, rule):
    problems = _broken(trial, table, row, column, value)
    assert problems[["file", "row", "column", "value", "rule"]].to_dict("records") == [
        {"file": f"{table}.csv", "row": row, "column": column, "value": value, "rule": rule}
    ]


@pytest.mark.parametrize(
    ("trial", "table", "row", "column", "value", "rule"),
    [
        (
            HER2,
            "ctc_screening",
            3,
            "fish_failure_reason",
            "cell_loss",
            "fish_failure_reason is only given when fish_status is technical_failure",
        ),
        (
            HER2,
            "ctc_screening",
            4,
            "ctc_count",
            "2",
            "ctc_count must be filled when cellsearch_status is done and empty when failed",
        ),
        (
            HER2,
            "tumour_lesions",
            4,
            "non_target_status",
            None,
            "non_target_status must be filled on non_target rows and empty on other rows",
        ),
        (
            HER2,
            "tumour_lesions",
            2,
            "diameter_mm",
            None,
            "baseline target lesions must be measured (diameter_mm required at BASELINE)",
        ),
        (
            HER2,
            "survival",
            2,
            "progression_type",
            None,
            "progression_type must be filled exactly when date_progression is filled",
        ),
        (
            HER2,
            "end_of_treatment",
            2,
            "date_last_dose",
            None,
            "date_last_dose must be empty when eot_reason is ongoing and filled otherwise",
        ),
        (
            EVE,
            "granzyme_b",
            3,
            "gzmb_pg_ml",
            "30.0",
            "gzmb_pg_ml must be empty when below_lloq is Y and filled when N",
        ),
        (
            EVE,
            "nk_flow",
            4,
            "marker",
            None,
            "marker must be filled for statistic median_fi and empty otherwise",
        ),
        (
            EVE,
            "nk_flow",
            3,
            "value",
            "112",
            "value of a freq_of_parent statistic is a percentage: at most 100",
        ),
        (
            EVE,
            "western_blot",
            2,
            "subject_id",
            "EN-001-0001",
            "subject_id must be filled on sample lanes and empty on calibrator lanes",
        ),
    ],
)
def test_each_row_rule_is_reported_on_its_own_column(trial, table, row, column, value, rule):
    problems = _broken(trial, table, row, column, value)
    expected_value = "" if value is None else value
    assert problems.to_dict("records") == [
        {
            "file": f"{table}.csv",
            "row": row,
            "column": column,
            "value": expected_value,
            "rule": rule,
        }
    ]


def test_quantified_granzyme_below_lloq_is_an_error():
    problems = _broken(EVE, "granzyme_b", 2, "gzmb_pg_ml", "4.0")
    assert problems["rule"].tolist() == [
        "a quantified gzmb_pg_ml must be at least lloq_pg_ml (else report below_lloq = Y)"
    ]


def test_duplicate_composite_key_reports_both_rows_once_each():
    df = _raw(HER2, "exposure")
    df.loc[3, "cycle"] = "1"  # second row of HC-001-0001 now duplicates cycle 1
    problems = _problems(df, "exposure", HER2)
    assert problems.to_dict("records") == [
        {
            "file": "exposure.csv",
            "row": r,
            "column": "subject_id, cycle",
            "value": "HC-001-0001 / 1",
            "rule": "each (subject_id, cycle) must appear only once",
        }
        for r in (2, 3)
    ]


def test_unexpected_and_missing_columns_are_reported():
    df = _raw(HER2, "patients").drop(columns="sex").assign(initials="AB")
    problems = _problems(df, "patients", HER2)
    assert set(zip(problems["column"], problems["rule"], strict=True)) == {
        ("initials", "unexpected column; see data dictionary"),
        ("sex", "required column is missing; see data dictionary"),
    }
    assert problems["row"].isna().all()


def test_empty_required_cell_is_reported():
    problems = _broken(HER2, "patients", 4, "ecog", None)
    assert problems.to_dict("records") == [
        {
            "file": "patients.csv",
            "row": 4,
            "column": "ecog",
            "value": "",
            "rule": "ecog is required: the cell is empty",
        }
    ]


def test_lazy_validation_collects_problems_of_different_kinds_together():
    df = _raw(HER2, "patients")
    df.loc[2, "age"] = "-3"
    df.loc[4, "sex"] = "X"
    df.loc[6, "date_inclusion"] = "2026-13-01"
    problems = _problems(df, "patients", HER2)
    assert problems[["row", "column"]].to_dict("records") == [
        {"row": 2, "column": "age"},
        {"row": 4, "column": "sex"},
        {"row": 6, "column": "date_inclusion"},
    ]


def test_unparseable_number_breaks_one_rule_only_not_the_range_check():
    problems = _broken(HER2, "patients", 2, "age", "abc")
    assert problems["rule"].tolist() == ["age must be a whole number"]


def test_typed_output_has_analysis_types_and_keeps_spreadsheet_rows():
    typed = validate_table(_raw(HER2, "patients"), "patients", HER2)
    assert typed.index.tolist() == [2, 3, 4, 5, 6]
    assert str(typed["age"].dtype) == "Int64"
    assert str(typed["date_inclusion"].dtype) == "datetime64[ns]"
    assert typed.loc[3, "date_treatment_start"] is pd.NaT
    assert typed.loc[2, "her2_ihc"] == "1+"


def test_absent_optional_column_is_added_empty():
    df = _raw(HER2, "survival").drop(columns=["date_death", "death_cause"])
    typed = validate_table(df, "survival", HER2)
    assert typed["date_death"].isna().all()
    assert str(typed["date_death"].dtype) == "datetime64[ns]"


def test_whole_number_written_with_decimal_zero_is_accepted():
    # Excel exports sometimes write integers as 3.0
    df = _raw(HER2, "exposure")
    df.loc[2, "cycle"] = "1.0"
    assert validate_table(df, "exposure", HER2).loc[2, "cycle"] == 1


def test_surrounding_spaces_are_ignored():
    df = _raw(HER2, "patients")
    df.loc[2, "sex"] = " F "
    assert validate_table(df, "patients", HER2).loc[2, "sex"] == "F"


def test_file_name_defaults_to_table_csv_without_source():
    df = _raw(HER2, "patients")
    df.attrs = {}
    df.loc[2, "age"] = "0"
    assert _problems(df, "patients", HER2)["file"].tolist() == ["patients.csv"]


def test_empty_table_with_header_only_is_valid():
    df = _raw(HER2, "ctc_if").iloc[0:0]
    assert validate_table(df, "ctc_if", HER2).empty


def test_unknown_trial_or_table_raises_value_error_with_fix():
    with pytest.raises(ValueError, match="Unknown trial"):
        get_table_spec("patients", "other_trial")
    with pytest.raises(ValueError, match="not part of the her2_ctc_tdm1 export"):
        build_schema("granzyme_b", HER2)
    with pytest.raises(TypeError, match="DataFrame"):
        validate_table([1, 2], "patients", HER2)


def test_error_text_groups_problems_by_rule_with_counts_and_lists_at_most_50_rules():
    problems = [
        Problem("x.csv", r, "age", "0", "age must be between 18 and 100") for r in range(2, 62)
    ]
    problems += [Problem("y.csv", 2, f"c{i}", "v", f"rule {i}") for i in range(55)]
    text = str(DataValidationError(problems))
    assert text.startswith("115 problem(s) in the raw data; nothing was written.")
    assert text.count('"age must be between 18 and 100" (60 rows): rows 2, 3, 4, 5, 6, …') == 1
    assert text.endswith("... and 6 more rules (see .problems)")


def test_coerce_table_converts_best_effort_without_raising():
    df = _raw(HER2, "patients")
    df.loc[2, "age"] = "fifty"
    typed = coerce_table(df, "patients", HER2)
    assert pd.isna(typed.loc[2, "age"])
    assert typed.loc[3, "age"] == 61
