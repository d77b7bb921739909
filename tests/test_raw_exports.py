"""Raw exports as sites send them, through the real loader (``io.load_raw_trial``, notebook 00).

Each test builds a site-shaped file in ``tmp_path`` from the demo tables (Excel with native date
and number cells, Windows-1252 ``;`` CSV with decimal commas, blank lines, renamed columns, …)
and checks the accepted values or the message (file, line, column, value, rule).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from helpers import config, io
from helpers.data import schemas, validation

HER2, EVERO = "her2_ctc_tdm1", "everolimus_nk"


@pytest.fixture
def site_raw(demo_raw_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo raw folder that a test may reshape."""
    raw = tmp_path / "raw"
    shutil.copytree(demo_raw_dir, raw)
    return raw


def _load(raw: Path, trial: str) -> dict[str, pd.DataFrame]:
    return io.load_raw_trial(raw, trial, schemas.raw_column_kinds(trial))


def _typed(raw: Path, trial: str, table: str) -> pd.DataFrame:
    return validation.validate_trial(_load(raw, trial), trial)[table]


def _native_cell(value: str | None, kind: str) -> object:
    """The cell Excel stores when a user types ``value`` in a column of contract ``kind``."""
    if value is None or value == "":
        return None
    if kind == "date":
        return dt.datetime.fromisoformat(value)  # a real Excel date cell (datetime, midnight)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value


def _write_native_xlsx(csv_path: Path, xlsx_path: Path, kinds: dict[str, str], blank_after=0):
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    wb = Workbook()
    ws = wb.active
    ws.append(list(df.columns))
    for i, rec in enumerate(df.itertuples(index=False), start=1):
        ws.append(
            [_native_cell(v, kinds.get(c, "str")) for c, v in zip(df.columns, rec, strict=True)]
        )
        if i == blank_after:
            ws.append([None] * len(df.columns))
    wb.save(xlsx_path)


# --- 1. Excel with real cell types --------------------------------------------------------------


def test_xlsx_with_native_date_int_float_cells_is_accepted_like_the_csv(site_raw: Path):
    typed_csv = validation.validate_trial(_load(site_raw, EVERO), EVERO)
    expected = {t: typed_csv[t] for t in ("patients", "granzyme_b")}
    kinds = schemas.raw_column_kinds(EVERO)
    for table in expected:
        csv_path = site_raw / EVERO / f"{table}.csv"
        _write_native_xlsx(csv_path, csv_path.with_suffix(".xlsx"), kinds[table])
        csv_path.unlink()
    raw = _load(site_raw, EVERO)
    assert raw["patients"].attrs["format"]["type"] == "xlsx"
    first = raw["patients"].index[0]
    assert raw["patients"].loc[first, "date_inclusion"] == expected["patients"].loc[
        first, "date_inclusion"
    ].strftime("%Y-%m-%d")  # a date cell, not "2023-04-01 00:00:00"
    typed = validation.validate_trial(raw, EVERO)
    for table, want in expected.items():
        pd.testing.assert_frame_equal(typed[table], want, check_index_type=False)


def test_xlsx_rows_are_sheet_rows_after_a_blank_row_and_datetimes_are_refused_by_value(
    site_raw: Path,
):
    csv_path = site_raw / EVERO / "patients.csv"
    xlsx_path = csv_path.with_suffix(".xlsx")
    _write_native_xlsx(csv_path, xlsx_path, schemas.raw_column_kinds(EVERO)["patients"], 2)
    csv_path.unlink()
    from openpyxl import load_workbook

    wb = load_workbook(xlsx_path)
    ws = wb.active
    col = [c.value for c in ws[1]].index("date_inclusion") + 1
    ws.cell(row=6, column=col, value=dt.datetime(2023, 4, 1, 10, 30))  # a time: not a date
    wb.save(xlsx_path)
    df = _load(site_raw, EVERO)["patients"]
    assert list(df.index[:4]) == [2, 3, 5, 6]  # sheet row 4 is blank
    with pytest.raises(validation.DataValidationError) as info:
        validation.validate_trial(_load(site_raw, EVERO), EVERO)
    p = info.value.problems
    hit = p[p["column"].eq("date_inclusion")].iloc[0]
    assert (hit["file"], hit["row"], hit["value"]) == ("patients.xlsx", 6, "2023-04-01 10:30:00")
    assert "YYYY-MM-DD" in hit["rule"]


def test_merged_title_row_in_xlsx_is_reported_as_the_cause(site_raw: Path):
    csv_path = site_raw / HER2 / "patients.csv"
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    wb = Workbook()
    ws = wb.active
    ws.append(["Patients export, site 001"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(df.columns))
    ws.append(list(df.columns))
    for rec in df.itertuples(index=False):
        ws.append(list(rec))
    wb.save(csv_path.with_suffix(".xlsx"))
    csv_path.unlink()
    with pytest.raises(
        io.RawFileError, match=r"patients\.xlsx \(table patients\), line 1: .*title"
    ):
        _load(site_raw, HER2)


# --- 2. Encodings -------------------------------------------------------------------------------


def test_cp1252_semicolon_decimal_comma_csv_is_accepted_and_its_dialect_recorded(site_raw: Path):
    expected = _typed(site_raw, EVERO, "granzyme_b")
    ae_expected = _typed(site_raw, EVERO, "adverse_events")
    for table in ("granzyme_b", "adverse_events"):
        path = site_raw / EVERO / f"{table}.csv"
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        if table == "adverse_events":
            df["ae_term"] = df["ae_term"].str.replace("Fatigue", "Fatigue générale", regex=False)
        else:
            for c in ("gzmb_pg_ml", "lloq_pg_ml"):
                df[c] = df[c].str.replace(".", ",", regex=False)
        path.write_bytes(df.to_csv(index=False, sep=";").encode("cp1252"))
    raw = _load(site_raw, EVERO)
    fmt = raw["granzyme_b"].attrs["format"]
    assert fmt["encoding"] == "utf-8"  # pure ASCII: valid UTF-8 (cp1252 is tried second)
    assert (fmt["delimiter"], fmt["decimal"]) == (";", ",")
    assert fmt["decimal_commas_converted"] > 0
    assert raw["adverse_events"].attrs["format"]["encoding"] == "cp1252"
    typed = validation.validate_trial(raw, EVERO)
    pd.testing.assert_frame_equal(typed["granzyme_b"], expected, check_index_type=False)
    assert typed["adverse_events"]["ae_term"].str.contains("générale").any()
    assert len(typed["adverse_events"]) == len(ae_expected)


def test_utf8_with_bom_is_read_and_header_names_are_clean(site_raw: Path):
    path = site_raw / HER2 / "patients.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    df = _load(site_raw, HER2)["patients"]
    assert df.columns[0] == "subject_id"
    assert df.attrs["format"]["encoding"] == "utf-8-sig"


def test_undecodable_bytes_name_file_offset_line_and_fix(site_raw: Path):
    path = site_raw / HER2 / "patients.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"F,", b"F\x81,", 1)  # 0x81: invalid in UTF-8 and cp1252
    path.write_bytes(b"\n".join(lines))
    offset = path.read_bytes().index(b"\x81")
    with pytest.raises(io.RawFileError) as info:
        _load(site_raw, HER2)
    msg = str(info.value)
    assert "patients.csv (table patients)" in msg
    assert f"byte offset {offset} (line 4)" in msg
    assert "CSV UTF-8" in msg


# --- 3. Empty files, blank lines ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "the file is empty"), (b"\n\n", "the file is empty"), (None, "only a header row")],
)
def test_empty_or_header_only_file_names_file_and_table(site_raw: Path, content, expected):
    path = site_raw / HER2 / "ctdna.csv"
    if content is None:
        content = path.read_bytes().split(b"\n")[0] + b"\n"
    path.write_bytes(content)
    with pytest.raises(io.RawFileError, match=rf"ctdna\.csv \(table ctdna\).*{expected}"):
        _load(site_raw, HER2)


def test_row_numbers_are_file_lines_after_blank_lines(site_raw: Path):
    path = site_raw / HER2 / "patients.csv"
    lines = path.read_text().splitlines()
    age = lines[0].split(",").index("age")
    cells = lines[5].split(",")
    cells[age] = "-3"
    lines[5] = ",".join(cells)
    lines = [lines[0], "", *lines[1:3], ",,,,,,,,,,,,", *lines[3:]]  # blank line + Excel blank row
    path.write_text("\n".join(lines) + "\n")
    bad_line = lines.index(",".join(cells)) + 1
    with pytest.raises(validation.DataValidationError) as info:
        validation.validate_trial(_load(site_raw, HER2), HER2)
    p = info.value.problems
    hit = p[p["column"].eq("age")].iloc[0]
    assert (hit["file"], hit["row"], hit["value"]) == ("patients.csv", bad_line, "-3")
    assert hit["rule"] == "age must be between 18 and 100"


# --- 4. Root cause first ------------------------------------------------------------------------


def test_renamed_key_column_is_reported_first_without_cross_table_follow_ons(site_raw: Path):
    path = site_raw / HER2 / "patients.csv"
    text = path.read_text()
    path.write_text(text.replace("subject_id,", "Subject_ID,", 1))
    raw = {t: _load(site_raw, t) for t in config.TRIALS}
    with pytest.raises(validation.DataValidationError) as info:
        validation.validate_trials(raw)
    err = info.value
    first = err.problems.iloc[0]
    assert (first["file"], first["column"]) == ("her2_ctc_tdm1/patients.csv", "subject_id")
    assert "required column is missing" in first["rule"]
    assert "Subject_ID" in first["rule"]  # the near miss is named
    assert not err.problems["rule"].eq("subject_id is not in patients").any()
    text = str(err)
    assert text.index("subject_id") < text.index("skipped")
    assert len(text.splitlines()) < 15


def test_remaining_problems_are_grouped_by_rule_with_counts(site_raw: Path):
    path = site_raw / HER2 / "patients.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[df.index[:7], "ecog"] = "7"
    df.loc[df.index[10], "sex"] = "X"
    df.to_csv(path, index=False)
    with pytest.raises(validation.DataValidationError) as info:
        validation.validate_trial(_load(site_raw, HER2), HER2)
    text = str(info.value)
    assert 'patients.csv, column "ecog": "ecog must be between 0 and 4" (7 rows): rows 2, 3' in text
    assert 'column "sex": "sex must be one of: F, M" (1 row): row 12 (value "X")' in text


# --- 5. Table given twice, trial folder absent ---------------------------------------------------


def test_table_given_twice_names_table_and_both_files(site_raw: Path):
    csv_path = site_raw / HER2 / "ctdna.csv"
    shutil.copy(csv_path, csv_path.with_suffix(".xlsx"))
    with pytest.raises(
        io.RawFileError, match=r"'ctdna' is given twice.*ctdna\.csv and ctdna\.xlsx"
    ):
        _load(site_raw, HER2)


def test_absent_trial_folder_names_a_near_miss(site_raw: Path):
    (site_raw / HER2).rename(site_raw / "her2_ctc_tdm")
    with pytest.raises(io.RawFileError, match=r"No folder .* 'her2_ctc_tdm' exists: rename"):
        _load(site_raw, HER2)


def test_excel_sep_line_and_quoted_line_breaks_keep_file_line_numbers(site_raw: Path):
    path = site_raw / EVERO / "adverse_events.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[df.index[0], "ae_term"] = "Fatigue\nsevere"  # a line break inside a quoted cell
    df.loc[df.index[2], "grade"] = "9"
    body = df.to_csv(index=False, sep=";", lineterminator="\r\n")
    path.write_text("sep=;\r\n" + body, newline="")
    raw = _load(site_raw, EVERO)["adverse_events"]
    assert raw.attrs["format"]["delimiter"] == ";"
    assert list(raw.index[:3]) == [3, 5, 6]  # sep line 1, header 2, first record spans 3-4
    with pytest.raises(validation.DataValidationError) as info:
        validation.validate_trial(_load(site_raw, EVERO), EVERO)
    p = info.value.problems
    hit = p[p["column"].eq("grade")].iloc[0]
    assert (hit["file"], hit["row"], hit["value"]) == ("adverse_events.csv", 6, "9")


@pytest.mark.parametrize("name", ["Patients.CSV", "patient.csv", "Patients .xlsx"])
def test_misnamed_table_file_is_named_instead_of_a_missing_table(site_raw: Path, name: str):
    (site_raw / HER2 / "patients.csv").rename(site_raw / HER2 / name)
    with pytest.raises(io.RawFileError, match=rf"{name} looks like table 'patients'.*rename it"):
        _load(site_raw, HER2)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda h: "Export patients 2026-06-30;;;\n" + h, r"line 1: .*title or merged header row"),
        (lambda h: h.replace("sex,", ",", 1), r"column\(s\) \[3\] of the header row \(line 1\)"),
        (
            lambda h: h.replace("ecog", "age", 1),
            r"column name\(s\) \['age'\] appear more than once",
        ),
    ],
)
def test_csv_header_problems_name_file_table_and_line(site_raw: Path, edit, expected):
    path = site_raw / HER2 / "patients.csv"
    head, _, rest = path.read_text().partition("\n")
    path.write_text(edit(head + "\n") + rest)
    with pytest.raises(io.RawFileError, match=rf"patients\.csv \(table patients\).*{expected}"):
        _load(site_raw, HER2)
