"""Writers of the clinical-study-report exports: RTF tables, one XLSX per notebook, DOCX per trial.

Like :mod:`helpers.io`, this module does file I/O and nothing else (declared in
``docs/architecture.md``); it writes what :mod:`helpers.reporting.format` has formatted, so every
export follows the one rule set of that module.

- RTF (rtflite, https://merck.github.io/rtflite/, the Python port of r2rtf): title, column headers,
  body, footnotes; landscape when the table is wide.
- XLSX (openpyxl through pandas): one sheet per table, numbers stay numbers.
- DOCX (python-docx): headings, tables with their titles and footnotes, figures with captions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers import io
from helpers.reporting.format import FormattedTable

SYNTHETIC_NOTE = "SYNTHETIC DATA: simulated demo cohort. These are not trial results."
#: Tables with more columns than this are laid out in landscape.
LANDSCAPE_FROM = 5
#: An RTF table holds at most this many body rows (about 100 pages of a listing). rtflite encodes
#: about 5,000 cells a second, so a phase III listing of 15,000 rows would take ~20 s and 800
#: pages per file; longer tables keep their first rows in the RTF, say so in the title and a
#: footnote, and are complete in the CSV beside the RTF and in the notebook's XLSX.
RTF_MAX_ROWS = 2000


def save_csr_table(
    ft: FormattedTable,
    notebook: str,
    name: str,
    tables_dir: Path,
    synthetic: bool = False,
    max_rtf_rows: int = RTF_MAX_ROWS,
) -> list[Path]:
    """Save a CSR-type table as CSV (text cells, group headings as rows) plus RTF.

    The CSV goes through :func:`helpers.io.save_table` (with its sidecar: run, title, footnotes),
    the RTF next to it as ``<tables_dir>/<notebook>/<name>.rtf``. The CSV is always complete; the
    RTF holds at most ``max_rtf_rows`` body rows (:data:`RTF_MAX_ROWS`) and says so when it is cut.

    Returns
    -------
    list of pathlib.Path
        The CSV and RTF paths.
    """
    flat = ft.flat()
    meta = {"title": ft.title, "footnotes": ft.footnotes, "csr": True}
    csv = io.save_table(flat, notebook, name, tables_dir, meta=meta)
    rtf = csv.with_suffix(".rtf")
    write_rtf(ft, rtf, synthetic, max_rtf_rows, complete_in=f"{csv.name} and the notebook's XLSX")
    return [csv, rtf]


def _widths(table: pd.DataFrame) -> list[float]:
    """Relative column widths from the longest text of each column (header included)."""
    out = []
    for col in table.columns:
        longest = max([len(str(col)), *(len(str(v)) for v in table[col])])
        out.append(float(min(max(longest, 4), 60)))
    return out


def encode_rtf(
    ft: FormattedTable,
    synthetic: bool = False,
    max_rows: int = RTF_MAX_ROWS,
    complete_in: str = "the CSV of this table",
) -> str:
    """RTF text of a formatted table (rtflite): title, headers, body, footnotes.

    At most ``max_rows`` body rows are encoded; a longer table keeps its first ``max_rows`` rows
    and its title and last footnote name the total and ``complete_in`` (where the whole table is).
    """
    import polars as pl
    import rtflite as rtf

    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    flat = ft.flat()
    notes = list(ft.footnotes)
    titles = [t for t in (ft.title, SYNTHETIC_NOTE if synthetic else "") if t]
    if len(flat) > max_rows:
        shown = f"Rows 1–{max_rows:,} of {len(flat):,}"
        titles.append(f"{shown}: the complete table is in {complete_in}")
        notes.append(
            f"{shown} are shown: RTF tables are capped at {max_rows:,} rows; "
            f"the complete table is in {complete_in}."
        )
        flat = flat.head(max_rows)
    notes = notes or [""]
    headers = [str(c) for c in flat.columns]
    body = pl.DataFrame({f"c{i}": flat[c].astype(str).tolist() for i, c in enumerate(flat)})
    widths = _widths(flat)
    justify = ["l"] + ["c"] * (len(headers) - 1)
    doc = rtf.RTFDocument(
        df=body,
        rtf_page=rtf.RTFPage(
            orientation="landscape" if len(headers) > LANDSCAPE_FROM else "portrait"
        ),
        # text_convert off: cells are plain text, not LaTeX ("ctc_if" must not become a subscript)
        rtf_title=rtf.RTFTitle(text=titles or [""], text_convert=False),
        rtf_column_header=[
            rtf.RTFColumnHeader(
                text=headers, col_rel_width=widths, text_justification=justify, text_convert=False
            )
        ],
        rtf_body=rtf.RTFBody(
            col_rel_width=widths, text_justification=[justify], text_convert=[[False]]
        ),
        rtf_footnote=rtf.RTFFootnote(text=notes, text_convert=False),
    )
    return doc.rtf_encode()


def write_rtf(
    ft: FormattedTable,
    path: Path,
    synthetic: bool = False,
    max_rows: int = RTF_MAX_ROWS,
    complete_in: str = "the CSV of this table",
) -> Path:
    """Write :func:`encode_rtf` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(encode_rtf(ft, synthetic, max_rows, complete_in), encoding="utf-8")
    return path


def sheet_names(names: Sequence[str]) -> list[str]:
    """Excel sheet names (≤ 31 characters, no ``[]:*?/\\``, unique; case-insensitive)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "sheet"
        candidate, k = base, 1
        while candidate.lower() in seen:
            k += 1
            candidate = f"{base[: 31 - len(str(k)) - 1]}~{k}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def write_workbook(tables: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """One XLSX with one sheet per table (numbers as numbers, no index), first row frozen."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet, (_, df) in zip(sheet_names(list(tables)), tables.items(), strict=True):
            df.to_excel(writer, sheet_name=sheet, index=False, freeze_panes=(1, 0))
            ws = writer.sheets[sheet]
            for i, col in enumerate(df.columns, start=1):
                longest = max([len(str(col)), *(len(str(v)) for v in df[col].head(200))])
                ws.column_dimensions[ws.cell(1, i).column_letter].width = min(longest + 2, 60)
    return path


@dataclass
class DocxItem:
    """One element of a Word report: ``kind`` heading | paragraph | table | figure."""

    kind: str
    text: str = ""
    table: FormattedTable | None = None
    image: Path | None = None
    level: int = 1


def write_docx(items: Sequence[DocxItem], path: Path, title: str, synthetic: bool = False) -> Path:
    """Word document (python-docx) of headings, paragraphs, formatted tables and figures."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.8))
    doc.styles["Normal"].font.size = Pt(9)
    table_text = doc.styles.add_style("Table Text", WD_STYLE_TYPE.PARAGRAPH)
    table_text.base_style = doc.styles["Normal"]
    table_text.font.size = Pt(8)
    table_text.paragraph_format.space_after = Pt(0)
    doc.add_heading(title, level=0)
    if synthetic:
        run = doc.add_paragraph().add_run(SYNTHETIC_NOTE)
        run.bold = True
        run.font.color.rgb = RGBColor(0xB2, 0x18, 0x2B)
    for item in items:
        if item.kind == "heading":
            doc.add_heading(item.text, level=item.level)
        elif item.kind == "paragraph":
            doc.add_paragraph(item.text)
        elif item.kind == "table" and item.table is not None:
            _docx_table(doc, item.table)
        elif item.kind == "figure" and item.image is not None and Path(item.image).is_file():
            doc.add_picture(str(item.image), width=Cm(16))
            doc.add_paragraph(item.text, style="Caption")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def _docx_table(doc: Any, ft: FormattedTable) -> None:
    from docx.shared import Pt

    if ft.title:
        doc.add_paragraph(ft.title, style="Caption")
    flat = ft.flat()
    # all rows at once (add_row per row re-reads the grid: 10x slower on a long listing); the
    # 8-point font comes from the document's "Table Text" style, not from every run
    table = doc.add_table(rows=len(flat) + 1, cols=len(flat.columns))
    table.style = "Light Grid Accent 1"
    texts = [[str(c) for c in flat.columns], *flat.astype(str).itertuples(index=False)]
    style_id = doc.styles["Table Text"].style_id
    for i, (row, values) in enumerate(zip(table.rows, texts, strict=True)):
        # header row and group headings (a label and nothing else) in bold
        bold = i == 0 or (len(values) > 1 and not any(str(v).strip() for v in values[1:]))
        for cell, value in zip(row.cells, values, strict=True):
            para = cell.paragraphs[0]
            # the style id set on the XML directly: python-docx's name lookup costs ~7 ms a cell
            para._p.style = style_id
            para.add_run(value).bold = bold or None
    for note in ft.footnotes:
        doc.add_paragraph(note).runs[0].font.size = Pt(8)
