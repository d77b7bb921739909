"""All file-system access of the analysis code: raw tables, processed datasets, figures, tables.

Everything else in :mod:`helpers` is pure. Raw files are read as text (``dtype=str``) so that
validation messages can quote the value exactly as it stands in the file; the DataFrame index is the
row number a person sees in a spreadsheet (header = row 1, first record = row 2).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RAW_SUFFIXES = (".csv", ".xlsx")
MANIFEST = "manifest.json"
FIGURE_FORMATS = ("png", "svg")
FIGURE_DPI = 150
#: SVG text stays text (editable in Illustrator/Inkscape, as journals ask, and a third faster to
#: write than glyph outlines); a fixed hash salt keeps element ids, hence file bytes, stable.
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "helpers"}


class RawFileError(ValueError):
    """A raw data file is missing, ambiguous or unreadable; the message says what to do."""


#: Encodings tried in turn: UTF-8 (a BOM is dropped), then Windows-1252, the default of Excel
#: "CSV (separator)" exports on Western-European Windows (accents in free text).
ENCODINGS = ("utf-8-sig", "cp1252")
#: Column separators recognised in a CSV header line (Excel writes ";" where "," is the decimal).
DELIMITERS = (",", ";", "\t", "|")
#: Contract kinds whose cells are numbers (decimal commas are converted only there).
NUMERIC_KINDS = frozenset({"int", "float"})
_DECIMAL_COMMA = re.compile(r"^[+-]?[0-9]*,[0-9]+$")


def find_table_file(trial_dir: Path, table: str) -> Path | None:
    """Return ``<table>.csv`` or ``<table>.xlsx`` in ``trial_dir``; ``None`` if neither exists."""
    candidates = (trial_dir / f"{table}{suffix}" for suffix in RAW_SUFFIXES)
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        raise RawFileError(
            f"Table {table!r} is given twice in {trial_dir}: both {found[0].name} and "
            f"{found[1].name} exist. Keep exactly one (move the other out of the folder): the "
            "pipeline does not guess which export is current."
        )
    return found[0] if found else None


def load_raw_table(
    path: Path, kinds: Mapping[str, str] | None = None, table: str | None = None
) -> pd.DataFrame:
    """Read one raw CSV/XLSX table as text, as a site sends it.

    Cells become the text form the data contract accepts, *before* any validation: Excel date
    cells ``YYYY-MM-DD`` (a time other than midnight is kept, so the contract refuses it), whole
    numbers without ``.0``, other numbers in their shortest exact form, Excel booleans ``Y``/``N``
    in ``yn`` columns. CSV files are decoded as UTF-8 (with or without BOM), else Windows-1252;
    the separator is read off the header line (``,`` ``;`` tab ``|``); with a separator other
    than ``,``, decimal commas (``12,5``) are converted in the columns ``kinds`` declares
    numeric (``int``/``float``) only. Blank lines are skipped.

    Parameters
    ----------
    path : Path
        ``.csv`` or ``.xlsx`` file (first sheet, or the sheet named like the table).
    kinds : mapping of str to str, optional
        Column → contract kind (``str``, ``int``, ``float``, ``date``, ``yn``, ``codes``), e.g.
        from :func:`helpers.data.schemas.raw_column_kinds`.
    table : str, optional
        Table name used in messages (default: the file stem).

    Returns
    -------
    pandas.DataFrame
        Text cells (``NaN`` when empty); index ``row`` = the file line (CSV) or sheet row (XLSX)
        of each record, header = 1, also after blank lines. ``attrs``: ``source`` (path),
        ``sha256`` (of the bytes read) and ``format`` (``type``, ``encoding``, ``delimiter``,
        ``decimal``, ``sheet``, ``decimal_commas_converted``).

    Raises
    ------
    RawFileError
        Unsupported type, undecodable bytes (byte offset and line), empty file or header without
        records, a title or merged header row, empty or duplicated column names, a record with
        more cells than the header: each naming the file, the table and the fix.
    """
    path = Path(path)
    table = table or path.stem
    kinds = dict(kinds or {})
    if path.suffix == ".csv":
        data = path.read_bytes()
        rows, fmt = _read_csv_rows(data, path, table)
    elif path.suffix == ".xlsx":
        data = path.read_bytes()
        rows, fmt = _read_xlsx_rows(path, table, kinds)
    else:
        raise RawFileError(f"{path}: unsupported file type; use one of {RAW_SUFFIXES}.")
    df = _frame_from_rows(rows, path, table)
    if fmt["type"] == "csv" and fmt["delimiter"] != ",":
        converted = 0
        for column, kind in kinds.items():
            if kind in NUMERIC_KINDS and column in df.columns:
                cells = df[column]
                hit = cells.fillna("").str.fullmatch(_DECIMAL_COMMA.pattern)
                df.loc[hit, column] = cells[hit].str.replace(",", ".", regex=False)
                converted += int(hit.sum())
        fmt["decimal"] = "," if converted else "."
        fmt["decimal_commas_converted"] = converted
    df.attrs["source"] = str(path)
    df.attrs["sha256"] = hashlib.sha256(data).hexdigest()
    df.attrs["format"] = fmt
    return df


def _decode(data: bytes, path: Path, table: str) -> tuple[str, str]:
    if b"\x00" in data[:4096]:
        raise RawFileError(
            f"{path} (table {table}): the file holds NUL bytes, i.e. it is UTF-16 (Excel "
            "'Unicode text') or not a text file. Save it again as 'CSV UTF-8' or as .xlsx."
        )
    try:
        text = data.decode("utf-8-sig")
        return text, "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError as err:
        utf8_error = err
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    offset = utf8_error.start
    line = data.count(b"\n", 0, offset) + 1
    raise RawFileError(
        f"{path} (table {table}): cannot be read as UTF-8 or Windows-1252: byte "
        f"0x{data[offset]:02X} at byte offset {offset} (line {line}). Open the file in Excel and "
        "save it as 'CSV UTF-8 (comma delimited)' or as .xlsx, then run again."
    )


def _sniff_delimiter(lines: list[str]) -> str:
    """The separator of the first lines: the candidate giving the most cells on the median line.

    The median over a few lines (not the first line alone) keeps a title row above the header
    from deciding the separator.
    """

    def median_cells(d: str) -> int:
        counts = sorted(len(next(csv.reader([line], delimiter=d), [])) for line in lines)
        return counts[len(counts) // 2] if counts else 0

    counts = {d: median_cells(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] > 1 else ","


def _read_csv_rows(data: bytes, path: Path, table: str) -> tuple[list[tuple[int, list]], dict]:
    text, encoding = _decode(data, path, table)
    header_at, header = next(
        ((i, line) for i, line in enumerate(StringIO(text, newline=""), 1) if line.strip()),
        (0, ""),
    )
    # Excel's "sep=;" first line names the separator; it is not part of the table.
    hint = re.fullmatch(r'"?sep=(.)"?', header.strip())
    if hint:
        delimiter = hint.group(1)
    else:
        sample = [line.rstrip("\r\n") for line in text[:65536].splitlines() if line.strip()]
        delimiter = _sniff_delimiter(sample[:7])
    reader = csv.reader(StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list]] = []
    previous = 0
    try:
        if '"' not in text:  # no quoted line breaks: record i starts on line i (fast path)
            rows = list(enumerate(reader, 1))
        else:
            for cells in reader:
                start, previous = previous + 1, reader.line_num
                rows.append((start, cells))
        if hint:
            rows = [(line, cells) for line, cells in rows if line != header_at]
    except csv.Error as err:
        raise RawFileError(
            f"{path} (table {table}), line {previous + 1}: cannot be parsed as CSV ({err}). "
            "Check the quotes on that line, or save the file again from Excel."
        ) from None
    fmt = {"type": "csv", "encoding": encoding, "delimiter": delimiter, "decimal": "."}
    return rows, fmt


def _xlsx_cell(value: object, kind: str) -> object:
    """One Excel cell as the text the contract accepts (see :func:`load_raw_table`)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("Y" if value else "N") if kind == "yn" else str(value).upper()
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    return str(value)


def _read_xlsx_rows(
    path: Path, table: str, kinds: Mapping[str, str]
) -> tuple[list[tuple[int, list]], dict]:
    from openpyxl import load_workbook  # local: only .xlsx needs it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as err:
        raise RawFileError(
            f"{path} (table {table}): not a readable .xlsx workbook ({err}). Save it again from "
            "Excel as 'Excel Workbook (.xlsx)'."
        ) from None
    try:
        ws = wb[table] if table in wb.sheetnames else wb.worksheets[0]
        raw = [(i, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)]
        sheet = ws.title
    finally:
        wb.close()
    header = next((cells for _, cells in raw if any(c is not None for c in cells)), [])
    names = [str(c).strip() if c is not None else "" for c in header]
    column_kinds = [kinds.get(name, "str") for name in names]
    rows = [
        (
            i,
            [
                _xlsx_cell(v, column_kinds[j] if j < len(names) else "str") or ""
                for j, v in enumerate(cells)
            ],
        )
        for i, cells in raw
    ]
    return rows, {"type": "xlsx", "sheet": sheet, "encoding": None, "delimiter": None}


def _is_blank(cells: list[str]) -> bool:
    return not (cells and (cells[0].strip() or "".join(cells).strip()))


def _frame_from_rows(rows: list[tuple[int, list]], path: Path, table: str) -> pd.DataFrame:
    """Header = first non-blank row; blank rows dropped; index = file line / sheet row."""
    rows = [r for r in rows if r[1] and (r[1][0].strip() or "".join(r[1]).strip())]  # not blank
    if not rows:
        raise RawFileError(
            f"{path} (table {table}): the file is empty. Export the {table} table again with its "
            "header row, or remove the file if the trial has no such table."
        )
    head_line, header = rows[0]
    names = [("" if c is None else str(c)).strip() for c in header]
    while names and not names[-1]:
        names.pop()
    body = rows[1:]
    if not body:
        raise RawFileError(
            f"{path} (table {table}): only a header row (line {head_line}), no records. "
            f"Export the {table} table again with its records, or remove the file if the trial "
            "has none."
        )
    filled = sum(bool(n) for n in names)
    width = max(_last_filled(cells) for _, cells in body) if filled <= 1 else 0
    if width > 1:
        raise RawFileError(
            f"{path} (table {table}), line {head_line}: the first row holds "
            f"{filled} name ({names[0] if names else ''!r}) but the records have up to {width} "
            "cells: it is a title or merged header row. Delete it so that the column names "
            "(docs/data_dictionary.md) are the first row."
        )
    problems = []
    empty = [j + 1 for j, n in enumerate(names) if not n]
    if empty:
        problems.append(
            f"column(s) {empty} of the header row (line {head_line}) have no name: a merged or "
            "blank header cell; give every column its data-dictionary name"
        )
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        problems.append(f"column name(s) {dupes} appear more than once in the header row")
    long_rows = [
        line
        for line, cells in body
        if len(cells) > len(names) and not _is_blank(cells[len(names) :])
    ]
    if long_rows:
        shown = ", ".join(map(str, long_rows[:10])) + (" ..." if len(long_rows) > 10 else "")
        problems.append(
            f"line(s) {shown} have more cells than the {len(names)} column names of the header "
            "(an unquoted separator inside a value, or a missing column name)"
        )
    if problems:
        raise RawFileError(f"{path} (table {table}): " + "; ".join(problems) + ".")
    n = len(names)
    records = [cells if len(cells) == n else (cells + [""] * n)[:n] for _, cells in body]
    df = pd.DataFrame(records, columns=names, dtype=object)
    df.index = pd.Index([line for line, _ in body], name="row")
    for column in df.columns:  # empty cells are missing values (NaN), as pandas reads them
        empty = df[column].to_numpy() == ""
        if empty.any():
            df.loc[empty, column] = np.nan
    return df


def _last_filled(cells: list[str]) -> int:
    """Number of cells up to and including the last non-blank one."""
    for j in range(len(cells), 0, -1):
        if cells[j - 1].strip():
            return j
    return 0


def load_raw_trial(
    raw_dir: Path,
    trial: str,
    tables: Iterable[str] | Mapping[str, Mapping[str, str]],
) -> dict[str, pd.DataFrame]:
    """Load every present table of one trial; absent tables are simply not in the result.

    ``tables`` lists the table names, or maps each to its column kinds (see
    :func:`load_raw_table`; :func:`helpers.data.schemas.raw_column_kinds`). Every unreadable file
    of the trial is reported at once (one :class:`RawFileError`).
    """
    trial_dir = Path(raw_dir) / trial
    if not trial_dir.is_dir():
        others = (
            sorted(p.name for p in Path(raw_dir).iterdir() if p.is_dir())
            if Path(raw_dir).is_dir()
            else []
        )
        close = difflib.get_close_matches(trial, others, n=1)
        hint = f" A folder {close[0]!r} exists: rename it to {trial!r}?" if close else ""
        raise RawFileError(
            f"No folder {trial_dir} for trial {trial}.{hint} Put the {trial} export there (see "
            "docs/data_dictionary.md) or build the demo cohort with `python -m helpers.simulate`."
        )
    out, errors = {}, []
    names = list(tables)
    expected = {f"{t}{suffix}" for t in names for suffix in RAW_SUFFIXES}
    others = [p.name for p in trial_dir.iterdir() if p.is_file() and p.name not in expected]
    for table in names:
        kinds = tables[table] if isinstance(tables, Mapping) else None
        try:
            path = find_table_file(trial_dir, table)
            if path is not None:
                out[table] = load_raw_table(
                    path, kinds if isinstance(kinds, Mapping) else None, table
                )
            elif near := _near_miss(table, others):
                errors.append(
                    f"{trial_dir / near} looks like table {table!r} but is not named "
                    f"{table}.csv or {table}.xlsx (names are lower case, see "
                    "docs/data_dictionary.md): rename it."
                )
        except RawFileError as err:
            errors.append(str(err))
    if errors:
        raise RawFileError(
            f"{len(errors)} raw file(s) of {trial} cannot be read; nothing was written:\n"
            + "\n".join(f"  - {e}" for e in errors)
        )
    return out


def _near_miss(table: str, files: list[str]) -> str | None:
    """A file that is probably ``table`` misnamed (``Patients.CSV``, ``patient.xlsx``)."""
    stems = {}
    for name in files:
        stem, dot, suffix = name.rpartition(".")
        if dot and f".{suffix.lower()}" in RAW_SUFFIXES:
            stems[stem.strip().lower().replace(" ", "_").replace("-", "_")] = name
    close = difflib.get_close_matches(table, list(stems), n=1, cutoff=0.85)
    return stems[close[0]] if close else None


def supplied_trials(raw_dir: Path, trials: Iterable[str]) -> list[str]:
    """The trials of ``trials`` whose folder exists in ``raw_dir`` (a run may supply only one).

    Raises
    ------
    RawFileError
        When none of them has a folder.
    """
    found = [trial for trial in trials if (Path(raw_dir) / trial).is_dir()]
    if not found:
        raise RawFileError(
            f"No trial folder ({', '.join(trials)}) in {raw_dir}. Put the exports there (see "
            "docs/data_dictionary.md) or build the demo cohort with `python -m helpers.simulate`."
        )
    return found


def table_supplied(raw_dir: Path, trial: str, table: str) -> bool:
    """Whether ``<raw_dir>/<trial>/<table>.csv|.xlsx`` exists."""
    return find_table_file(Path(raw_dir) / trial, table) is not None


def load_manifest(raw_dir: Path) -> dict[str, Any]:
    """Return ``data/raw/manifest.json`` (empty dict when absent: real data)."""
    path = Path(raw_dir) / MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def is_synthetic(raw_dir: Path, trial: str | None = None) -> bool:
    """True when the raw data (of one trial folder, with ``trial``) are the simulated demo.

    ``data/raw/manifest.json`` marks the demo cohort; its ``files`` (``"<trial>/<file>"`` →
    SHA-256, written by the simulator) say which files it made. A trial folder counts as
    synthetic while any of its table files is still a demo file (a half-replaced folder is not a
    real export), and as real once none is: a real export of one trial next to the demo of the
    other is labelled per trial. Without ``trial``, or with an older manifest without
    ``files``, the flag applies to the whole raw folder.
    """
    manifest = load_manifest(raw_dir)
    if not manifest.get("synthetic", False):
        return False
    files = manifest.get("files")
    if trial is None or not isinstance(files, Mapping):
        return True
    trial_dir = Path(raw_dir) / trial
    present = sorted(p for p in trial_dir.glob("*") if p.suffix in RAW_SUFFIXES and p.is_file())
    return any(files.get(f"{trial}/{p.name}") == sha256_file(p) for p in present)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path) -> Any:
    """Parsed JSON of ``path``; ``None`` when the file is absent or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def hash_outputs(folders: Mapping[str, Path]) -> dict[str, str]:
    """SHA-256 of every file under each folder, keyed ``<label>/<path within the folder>``."""
    out = {}
    for label, folder in folders.items():
        folder = Path(folder)
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    out[f"{label}/{path.relative_to(folder).as_posix()}"] = sha256_file(path)
    return out


def write_json(obj: Any, path: Path) -> Path:
    """Write JSON with sorted keys and a trailing newline (stable bytes for stable input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def write_csv_tables(tables: Mapping[str, pd.DataFrame], trial_dir: Path) -> list[Path]:
    """Write raw tables as ``<name>.csv`` (used by the simulator); returns the paths."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = trial_dir / f"{name}.csv"
        df.to_csv(path, index=False, lineterminator="\n")
        paths.append(path)
    return paths


def write_raw_cohort(
    tables_by_trial: Mapping[str, Mapping[str, pd.DataFrame]],
    manifest: Mapping[str, Any],
    raw_dir: Path,
) -> Path:
    """Write a simulated cohort: ``<raw_dir>/<trial>/<table>.csv`` and ``manifest.json``.

    The manifest gains ``files`` (``"<trial>/<file>"`` → SHA-256 of each CSV written), which
    :func:`is_synthetic` uses to label each trial folder. Returns the manifest path.
    """
    files = {}
    for trial, tables in tables_by_trial.items():
        for path in write_csv_tables(tables, Path(raw_dir) / trial):
            files[f"{trial}/{path.name}"] = sha256_file(path)
    return write_json({**manifest, "files": files}, Path(raw_dir) / MANIFEST)


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write a processed dataset as parquet, byte-identical for identical input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.reset_index(drop=True).to_parquet(path, index=False, engine="pyarrow", compression="snappy")
    return path


class StaleDataError(RuntimeError):
    """The processed datasets do not match the current raw files (or were never written)."""


@dataclass(frozen=True)
class OutputStage:
    """Where data preparation builds its next output set before swapping it in.

    ``processed`` and ``tables`` are staging folders next to the live ``processed_dir`` and
    ``tables_dir`` (same file system, so the swap is a rename); write the notebook's tables with
    ``save_table(df, notebook, name, stage.tables)`` and its datasets with
    :func:`write_staged_datasets`, then :func:`commit_outputs`.
    """

    processed_dir: Path
    tables_dir: Path
    notebook: str

    @property
    def processed(self) -> Path:
        return self.processed_dir.with_name(self.processed_dir.name + ".staging")

    @property
    def tables(self) -> Path:
        return self.tables_dir.with_name(self.tables_dir.name + ".staging")


def stage_outputs(processed_dir: Path, tables_dir: Path, notebook: str) -> OutputStage:
    """Start an output set: clear staging folders left by an interrupted run (never live data)."""
    stage = OutputStage(Path(processed_dir), Path(tables_dir), notebook)
    for folder in (stage.processed, stage.tables):
        if folder.is_dir():
            shutil.rmtree(folder)
        elif folder.exists():
            folder.unlink()
    return stage


def write_staged_datasets(
    stage: OutputStage, datasets: Mapping[str, pd.DataFrame]
) -> dict[str, str]:
    """Write ``{"<trial>/<name>.parquet": df}`` into the staging folder; returns their SHA-256."""
    return {
        name: sha256_file(write_parquet(df, stage.processed / name))
        for name, df in datasets.items()
    }


def commit_outputs(stage: OutputStage, manifest: Mapping[str, Any]) -> None:
    """Swap the staged datasets, tables and ``manifest`` in for the previous set, as one set.

    Until this call nothing live has changed, so a failure while deriving or writing leaves the
    previous complete set (datasets, tables, manifest) as it was. The swap renames the live
    folders aside, renames the staged ones in and only then deletes the old ones (rolled back if
    a rename fails). Datasets of the previous set that the new one lacks (a raw table was
    removed) are gone with it. Files the pipeline does not write (``README.md``) are kept.
    """
    write_json(dict(manifest), stage.processed / MANIFEST)
    live_tables = stage.tables_dir / stage.notebook
    staged_tables = stage.tables / stage.notebook
    staged_tables.mkdir(parents=True, exist_ok=True)
    for keep in ("README.md",):
        if (stage.processed_dir / keep).is_file():
            shutil.copy2(stage.processed_dir / keep, stage.processed / keep)
    pairs = [(staged_tables, live_tables), (stage.processed, stage.processed_dir)]
    moved: list[tuple[Path, Path, Path | None]] = []
    try:
        for staged, live in pairs:
            old = live.with_name(live.name + ".old") if live.exists() else None
            if old is not None:
                if old.exists():
                    shutil.rmtree(old)
                live.rename(old)
            live.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(live)
            moved.append((staged, live, old))
    except OSError:
        for staged, live, old in reversed(moved):
            live.rename(staged)
            if old is not None:
                old.rename(live)
        raise
    for _, _, old in moved:
        if old is not None:
            shutil.rmtree(old)
    shutil.rmtree(stage.tables, ignore_errors=True)


def hash_raw_folder(raw_dir: Path, trial: str) -> dict[str, str]:
    """SHA-256 of every raw table file (``.csv``/``.xlsx``) of one trial folder, by
    ``"<trial>/<file>"``."""
    folder = Path(raw_dir) / trial
    return {
        f"{trial}/{p.name}": sha256_file(p)
        for p in sorted(folder.glob("*"))
        if p.is_file() and p.suffix in RAW_SUFFIXES
    }


def describe_raw_inputs(
    raw_dir: Path, raw: Mapping[str, Mapping[str, pd.DataFrame]]
) -> dict[str, Any]:
    """Provenance of the raw folders, for the processed manifest.

    Returns ``raw_files`` (every table file of each loaded trial folder → SHA-256, the hash of the
    bytes actually read for loaded tables: what :func:`validate_processed_current` compares),
    ``raw_formats`` (per loaded file: type, encoding, delimiter, decimal, sheet) and
    ``synthetic_by_trial``.
    """
    files: dict[str, str] = {}
    formats: dict[str, Any] = {}
    for trial, tables in raw.items():
        files.update(hash_raw_folder(raw_dir, trial))
        for df in tables.values():
            if not df.attrs.get("source"):
                continue  # a table built in memory (e.g. gated FCS), not read from a file
            name = f"{trial}/{Path(df.attrs['source']).name}"
            if "sha256" in df.attrs:
                files[name] = df.attrs["sha256"]
            formats[name] = df.attrs.get("format", {})
    return {
        "raw_files": dict(sorted(files.items())),
        "raw_formats": dict(sorted(formats.items())),
        "synthetic_by_trial": {t: is_synthetic(raw_dir, t) for t in raw},
    }


def validate_processed_current(processed_dir: Path, raw_dir: Path, trial: str) -> None:
    """Stop an analysis whose processed data do not match the current raw files of ``trial``.

    Compares the SHA-256 recorded by data preparation (``raw_files``, ``inputs`` and ``outputs`` of
    ``<processed_dir>/manifest.json``) with the raw table files now in ``<raw_dir>/<trial>``, the
    other recorded inputs below it (FCS files) and the trial's datasets on disk.

    Raises
    ------
    StaleDataError
        "processed data are stale: run 00_data_preparation", with the files that changed,
        appeared or disappeared.
    """
    fix = "processed data are stale: run 00_data_preparation"
    path = Path(processed_dir) / MANIFEST
    if not path.is_file():
        raise StaleDataError(f"{fix} ({path} does not exist).")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if "raw_files" not in manifest:
        raise StaleDataError(f"{fix} ({path} was written by an older version).")
    prefix = f"{trial}/"
    recorded = {k: v for k, v in manifest["raw_files"].items() if k.startswith(prefix)}
    current = hash_raw_folder(raw_dir, trial)
    changes = [
        f"{k} changed"
        for k in sorted(recorded.keys() & current.keys())
        if recorded[k] != current[k]
    ]
    changes += [f"{k} is new" for k in sorted(current.keys() - recorded.keys())]
    changes += [f"{k} was removed" for k in sorted(recorded.keys() - current.keys())]
    for name, digest in sorted(manifest.get("inputs", {}).items()):
        # other inputs of the trial below its folder (e.g. FCS files): changed or removed
        if name.startswith(prefix) and name not in recorded:
            source = Path(raw_dir) / name
            if not source.is_file():
                changes.append(f"{name} was removed")
            elif sha256_file(source) != digest:
                changes.append(f"{name} changed")
    for name, digest in sorted(manifest.get("outputs", {}).items()):
        out = Path(processed_dir) / name
        if name.startswith(prefix) and (not out.is_file() or sha256_file(out) != digest):
            changes.append(f"{out} is not the file data preparation wrote")
    if changes:
        shown = "; ".join(changes[:5]) + (
            f"; and {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        raise StaleDataError(f"{fix} ({shown}).")


def load_processed(processed_dir: Path, trial: str, name: str) -> pd.DataFrame:
    """Read one analysis dataset written by the data-preparation notebook."""
    path = Path(processed_dir) / trial / f"{name}.parquet"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run notebooks/00_data_preparation.ipynb first "
            "(or `make report`)."
        )
    return pd.read_parquet(path)


def save_figure(
    fig: Any,
    notebook: str,
    name: str,
    caption: str,
    figures_dir: Path,
    synthetic: bool = False,
) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<notebook>/<name>.png`` and ``.svg`` plus a caption file.

    PNG at :data:`FIGURE_DPI` for viewing; SVG with editable text (:data:`SVG_RC`) for publication.

    Synthetic figures are stamped "SYNTHETIC DATA" so that no demo output can pass for real.
    """
    import matplotlib as mpl

    from helpers.watermark import (
        add_watermark,  # local: plots imports matplotlib, io must not need it
    )

    if synthetic:
        add_watermark(fig)
    out_dir = Path(figures_dir) / notebook
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FIGURE_FORMATS:
        path = out_dir / f"{name}.{fmt}"
        # Fixed metadata keeps SVG/PNG bytes stable between runs.
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        with mpl.rc_context(SVG_RC):
            fig.savefig(path, dpi=FIGURE_DPI, metadata=meta)
        paths.append(path)
        # The first save ran the layout engine; freezing its result spares the other format a
        # second layout pass (about a fifth of its saving time) and keeps both formats identical.
        fig.set_layout_engine("none")
    write_json({"caption": caption, "synthetic": synthetic, "name": name}, out_dir / f"{name}.json")
    return paths


def save_table(
    df: pd.DataFrame,
    notebook: str,
    name: str,
    tables_dir: Path,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Save a results table as ``<tables_dir>/<notebook>/<name>.csv``.

    With ``meta`` (e.g. title and footnotes of a clinical-study-report table), also
    ``<name>.json`` next to it, read back by the report and the Word/RTF exports.
    """
    path = Path(tables_dir) / notebook / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    if meta is not None:
        write_json({"name": name, **meta}, path.with_suffix(".json"))
    return path
