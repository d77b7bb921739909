"""Exports read back: RTF (structure), XLSX (openpyxl: numbers are numbers), DOCX (python-docx)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from docx import Document
from openpyxl import load_workbook

from helpers.reporting import export
from helpers.reporting import format as fmt


def _table() -> fmt.FormattedTable:
    df = pd.DataFrame(
        {
            "Characteristic": ["Age (years)", "Age (years)", "ECOG", "ECOG"],
            "Statistic": ["n", "Median (IQR)", "0", "≥1"],
            "Treated (N = 17)": ["17", "63.0 (53.0–70.0)", "9 (52.9%)", "8 (47.1%)"],
        }
    )
    return fmt.FormattedTable(df, "Table 1. Baseline", ["n (%) of N."], group="Characteristic")


def _balanced(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "{}" and i and text[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_csr_table_saved_as_csv_and_parseable_rtf(tmp_path: Path):
    csv, rtf = export.save_csr_table(_table(), "nb", "table1", tmp_path, synthetic=True)
    text = rtf.read_text(encoding="utf-8")
    assert text.startswith("{\\rtf1")
    assert _balanced(text)
    for words in ("Table 1. Baseline", "Median (IQR)", "Treated (N = 17)", "SYNTHETIC DATA"):
        assert words in text
    assert "\\u8805" in text  # "≥" encoded as RTF unicode, not lost
    back = pd.read_csv(csv, keep_default_na=False)
    assert back.iloc[0, 0] == "Age (years)"  # group heading as a row of its own
    assert (csv.with_suffix(".json")).is_file()


def test_workbook_one_sheet_per_table_numbers_as_numbers(tmp_path: Path):
    tables = {
        "response_rates": pd.DataFrame({"parameter": ["ORR"], "n": [4], "estimate": [0.235]}),
        "a" * 40: pd.DataFrame({"x": [1.5]}),
        "a" * 40 + "b": pd.DataFrame({"x": [2.5]}),
    }
    path = export.write_workbook(tables, tmp_path / "nb.xlsx")
    wb = load_workbook(path)
    assert len(wb.sheetnames) == 3
    assert len(set(wb.sheetnames)) == 3
    assert all(len(s) <= 31 for s in wb.sheetnames)
    ws = wb["response_rates"]
    assert ws["B2"].value == 4
    assert ws["B2"].data_type == "n"
    assert ws["C2"].value == 0.235
    assert ws["C2"].data_type == "n"


def test_word_document_has_the_tables_and_figures(tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png = tmp_path / "fig.png"
    fig.savefig(png)
    plt.close(fig)
    items = [
        export.DocxItem("heading", "HER2-CTC"),
        export.DocxItem("table", table=_table()),
        export.DocxItem("figure", "KM of PFS", image=png),
    ]
    path = export.write_docx(items, tmp_path / "trial.docx", "Key tables", synthetic=True)
    doc = Document(str(path))
    assert len(doc.tables) == 1
    cells = [c.text for row in doc.tables[0].rows for c in row.cells]
    assert "Treated (N = 17)" in cells
    assert "9 (52.9%)" in cells
    assert len(doc.inline_shapes) == 1
    assert any("SYNTHETIC DATA" in p.text for p in doc.paragraphs)


def test_a_table_saved_without_columns_does_not_stop_the_exports(tmp_path):
    """An optional table not supplied is saved as an empty file (no header): the workbook is
    still built, with an empty sheet, instead of 'HTML could not be rendered: EmptyDataError'."""
    from helpers.reporting import bundle

    folder = tmp_path / "tables" / "00_data_preparation"
    folder.mkdir(parents=True)
    (folder / "fcs_qc.csv").write_text("")
    (folder / "qc_summary.csv").write_text("rule,n\nx,1\n")
    out = bundle.build_notebook_exports(
        tmp_path / "tables", tmp_path / "reports", "00_data_preparation"
    )
    assert out.workbook is not None
    assert len(out.tables) == 2


def test_long_rtf_table_is_capped_and_says_where_the_complete_table_is(tmp_path: Path):
    rows = pd.DataFrame({"Patient": [f"P{i:04d}" for i in range(25)], "Reason": ["ctc_if"] * 25})
    ft = fmt.FormattedTable(rows, "Listing 1", ["A footnote."])
    csv, rtf = export.save_csr_table(ft, "nb", "listing", tmp_path, max_rtf_rows=10)
    text = rtf.read_text(encoding="utf-8")
    assert _balanced(text)
    assert "P0009" in text
    assert "P0010" not in text
    assert "of 25: the complete table is in" in text
    assert "listing.csv and the notebook's XLSX" in text
    assert "A footnote." in text
    assert "{\\f0 ctc_if}" in text  # plain text: no LaTeX subscript conversion
    assert len(pd.read_csv(csv)) == 25  # the CSV is complete
    short = export.encode_rtf(fmt.FormattedTable(rows.head(10), "Listing 1"), max_rows=10)
    assert "Rows 1" not in short
    with pytest.raises(ValueError, match="max_rows"):
        export.encode_rtf(ft, max_rows=0)
