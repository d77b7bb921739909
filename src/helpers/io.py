"""All file-system access of the analysis code: raw tables, processed datasets, figures, tables.

Everything else in :mod:`helpers` is pure. Raw files are read as text (``dtype=str``) so that
validation messages can quote the value exactly as it stands in the file; the DataFrame index is the
row number a person sees in a spreadsheet (header = row 1, first record = row 2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

RAW_SUFFIXES = (".csv", ".xlsx")
MANIFEST = "manifest.json"
FIGURE_FORMATS = ("png", "svg")
FIGURE_DPI = 150
#: SVG text stays text (editable in Illustrator/Inkscape, as journals ask, and a third faster to
#: write than glyph outlines); a fixed hash salt keeps element ids, hence file bytes, stable.
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "helpers"}


class RawFileError(ValueError):
    """A raw data file is missing, ambiguous or unreadable."""


def find_table_file(trial_dir: Path, table: str) -> Path | None:
    """Return ``<table>.csv`` or ``<table>.xlsx`` in ``trial_dir``; ``None`` if neither exists."""
    candidates = (trial_dir / f"{table}{suffix}" for suffix in RAW_SUFFIXES)
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        raise RawFileError(
            f"Both {found[0].name} and {found[1].name} exist in {trial_dir}: keep exactly one."
        )
    return found[0] if found else None


def load_raw_table(path: Path) -> pd.DataFrame:
    """Read one raw CSV/XLSX table as text, index = spreadsheet row number (header is row 1)."""
    if path.suffix == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    elif path.suffix == ".xlsx":
        df = pd.read_excel(path, dtype=str, keep_default_na=False, na_values=[""])
    else:
        raise RawFileError(f"{path}: unsupported file type; use one of {RAW_SUFFIXES}.")
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.RangeIndex(2, len(df) + 2, name="row")
    df.attrs["source"] = str(path)
    return df


def load_raw_trial(raw_dir: Path, trial: str, tables: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Load every present table of one trial; absent tables are simply not in the result."""
    trial_dir = Path(raw_dir) / trial
    if not trial_dir.is_dir():
        raise RawFileError(
            f"No folder {trial_dir}. Put the {trial} export there (see docs/data_dictionary.md) "
            "or build the demo cohort with `python -m helpers.simulate`."
        )
    out = {}
    for table in tables:
        path = find_table_file(trial_dir, table)
        if path is not None:
            out[table] = load_raw_table(path)
    return out


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


def is_synthetic(raw_dir: Path) -> bool:
    """True when the raw data are the simulated demo cohort."""
    return bool(load_manifest(raw_dir).get("synthetic", False))


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


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Write a processed dataset as parquet, byte-identical for identical input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    df.reset_index(drop=True).to_parquet(path, index=False, engine="pyarrow", compression="snappy")
    return path


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
