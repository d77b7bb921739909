"""The I/O module: raw tables as text with spreadsheet row numbers, stable outputs, figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers import io, plots


def test_raw_csv_is_read_as_text_with_spreadsheet_row_numbers(tmp_path: Path):
    path = tmp_path / "patients.csv"
    path.write_text("subject_id,age\nHC-001-0001,007\nHC-001-0002,\n")
    df = io.load_raw_table(path)
    assert df.loc[2, "age"] == "007"  # value exactly as typed, for error messages
    assert pd.isna(df.loc[3, "age"])
    assert list(df.index) == [2, 3]  # header is row 1


def test_csv_and_xlsx_of_the_same_table_is_an_error_naming_both(tmp_path: Path):
    (tmp_path / "patients.csv").write_text("a\n1\n")
    pd.DataFrame({"a": [1]}).to_excel(tmp_path / "patients.xlsx", index=False)
    with pytest.raises(io.RawFileError, match=r"patients\.csv and patients\.xlsx"):
        io.find_table_file(tmp_path, "patients")


def test_xlsx_is_read_like_csv(tmp_path: Path):
    pd.DataFrame({"subject_id": ["HC-001-0001"], "age": [61]}).to_excel(
        tmp_path / "patients.xlsx", index=False
    )
    df = io.load_raw_table(io.find_table_file(tmp_path, "patients"))
    assert df.loc[2, "age"] == "61"


def test_missing_trial_folder_says_how_to_get_data(tmp_path: Path):
    with pytest.raises(io.RawFileError, match=r"python -m helpers\.simulate"):
        io.load_raw_trial(tmp_path, "her2_ctc_tdm1", ["patients"])


def test_parquet_bytes_are_identical_for_identical_frames(tmp_path: Path):
    df = pd.DataFrame({"USUBJID": ["a", "b"], "AVAL": [1.5, 2.0]})
    first = io.sha256_file(io.write_parquet(df, tmp_path / "a.parquet"))
    second = io.sha256_file(io.write_parquet(df.copy(), tmp_path / "b.parquet"))
    assert first == second


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2), layout="constrained")
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def test_save_figure_writes_png_svg_caption_and_stable_svg(tmp_path: Path):
    paths = io.save_figure(_figure(), "02_x", "km_pfs", "Caption.", tmp_path, synthetic=False)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert io.load_manifest(tmp_path / "02_x") == {}  # caption file is not a manifest
    meta = (tmp_path / "02_x" / "km_pfs.json").read_text()
    assert '"caption": "Caption."' in meta
    again = io.save_figure(_figure(), "02_x", "km_pfs2", "Caption.", tmp_path)
    assert paths[1].read_bytes() == again[1].read_bytes()


def test_synthetic_figures_are_watermarked(tmp_path: Path):
    fig = _figure()
    io.save_figure(fig, "02_x", "km", "c", tmp_path, synthetic=True)
    texts = [t.get_text() for ax in fig.axes for t in plots.find_watermarks(ax)]
    assert "SYNTHETIC DATA" in texts
