"""Everolimus-NK glue of the FCS path: NK panel, sample sheet, gate names, ``nk_flow`` rows.

The generic gating (:mod:`helpers.cytometry`) knows nothing of the trial. This module says which
sample-sheet columns identify a tube (subject, visit, condition = stimulation, acquisition date
= sample date, panel), how GatingML gate ids (XML ids cannot hold "+", "-" or spaces) map to the
FlowJo population names of the ``nk_flow`` export, and which gated statistics form the export:
the rows the marker catalogue :data:`helpers.everolimus_nk.flow.NK_MARKERS` reads plus the parent
gates a FlowJo table holds. The FCS statistics are returned in exactly the ``nk_flow`` long shape
(subject_id, visit, sample_date, stimulation, population, statistic, marker, value), so
:func:`helpers.everolimus_nk.flow.derive_flow_markers` and everything after it are unchanged.

References
----------
Cossarizza A et al. Guidelines for the use of flow cytometry and cell sorting in immunological
studies (second edition). Eur J Immunol 2019;49:1457-1973 (NK gating: lymphocytes, singlets,
viable CD3−, CD56/CD16 subsets).
Alter G et al. J Immunol Methods 2004;294:15-22 (CD107a / IFN-γ after K562 stimulation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import io
from helpers.checks import validate_frame
from helpers.cytometry import (
    BatchResult,
    GatingSettings,
    compile_gating_plan,
    compute_concordance,
    derive_concordance_pairs,
    find_fcs_files,
    gate_fcs_files,
    load_gating_strategy,
    summarise_qc_flags,
)
from helpers.everolimus_nk.flow import NK_GATE_PREFIX, NK_MARKERS, VISIT_NUMBERS

__all__ = [
    "FCS_OUTPUT_TABLES",
    "FLOW_LONG_COLUMNS",
    "NK_EXPORT_ROWS",
    "NK_GATE_NAMES",
    "NK_PANEL",
    "QC_KEY_POPULATIONS",
    "SAMPLE_SHEET_COLUMNS",
    "SCATTER_CHANNELS",
    "TIME_CHANNEL",
    "NkFcsTables",
    "derive_fcs_output_tables",
    "derive_flow_source_table",
    "derive_nk_flow_from_fcs",
    "derive_nk_gating_settings",
    "gate_nk_fcs_folder",
    "merge_fcs_into_tables",
    "select_representative_file",
    "summarise_fcs_in_words",
    "summarise_nk_fcs",
    "validate_sample_sheet",
]

#: NK panel: (marker = $PnS, detector = $PnN), in acquisition order.
NK_PANEL: tuple[tuple[str, str], ...] = (
    ("CD3", "BV510-A"),
    ("CD56", "PE-Cy7-A"),
    ("CD16", "APC-H7-A"),
    ("CD57", "FITC-A"),
    ("NKG2A", "PE-A"),
    ("KIR", "APC-A"),
    ("NKG2D", "BV421-A"),
    ("NKp46", "PerCP-Cy5.5-A"),
    ("CD107a", "BV786-A"),
    ("IFNg", "AF700-A"),
    ("Viability", "BV605-A"),
)
SCATTER_CHANNELS = ("FSC-A", "FSC-H", "SSC-A")
TIME_CHANNEL = "Time"

#: GatingML gate id -> FlowJo population name (ids absent here keep their name).
NK_GATE_NAMES: dict[str, str] = {
    "Lymphocytes": "Lymphocytes",
    "Single_Cells": "Single Cells",
    "CD3neg": "CD3-",
    "NK": "NK",
    "CD56bright": "CD56bright",
    "CD56dim": "CD56dim",
    "CD57pos": "CD57+",
    "NKG2Apos": "NKG2A+",
    "KIRpos": "KIR+",
    "CD107apos": "CD107a+",
    "IFNgpos": "IFNg+",
}

#: Sample sheet columns: file name, subject, visit, condition (none/K562), acquisition date, panel.
SAMPLE_SHEET_COLUMNS = ("file", "subject_id", "visit", "condition", "acquisition_date", "panel")
FLOW_LONG_COLUMNS = [
    "subject_id",
    "visit",
    "sample_date",
    "stimulation",
    "population",
    "statistic",
    "marker",
    "value",
]
_KEY = ["population", "statistic", "marker", "stimulation"]
_LYM = "Lymphocytes/Single Cells"


def _export_rows() -> pd.DataFrame:
    catalogue = NK_MARKERS[_KEY]
    parents = pd.DataFrame(
        [
            ("Lymphocytes", "freq_of_parent", "", "none"),
            (_LYM, "freq_of_parent", "", "none"),
            (f"{_LYM}/CD3-", "freq_of_parent", "", "none"),
            (NK_GATE_PREFIX, "count", "", "none"),
        ],
        columns=_KEY,
    )
    return pd.concat([parents, catalogue], ignore_index=True).drop_duplicates(ignore_index=True)


#: (population, statistic, marker, stimulation) rows a FlowJo NK table export holds: the marker
#: catalogue's rows plus the parent gates' % of parent and the NK event count.
NK_EXPORT_ROWS: pd.DataFrame = _export_rows()


def derive_nk_flow_from_fcs(
    statistics: pd.DataFrame, sheet: pd.DataFrame, decimals: int = 4
) -> pd.DataFrame:
    """Gated FCS statistics -> rows of the ``nk_flow`` export (same columns, same vocabulary).

    Method: the generic long statistics (one row per file, population, statistic, marker) are
    joined to the sample sheet on ``file`` (condition → stimulation, acquisition_date →
    sample_date) and restricted to :data:`NK_EXPORT_ROWS`, the rows a FlowJo NK table holds; the
    population paths already carry FlowJo names (``population_names=NK_GATE_NAMES`` when
    summarising). Not-estimable values (NaN: a % of a parent below the minimum) give no row, their
    parent gate being flagged in the QC table. Values are rounded to ``decimals`` and written as
    text, as a raw export is read, so the data contract (``schemas``) validates them like any
    export.

    Parameters
    ----------
    statistics : pandas.DataFrame
        :func:`helpers.cytometry.summarise_gated_statistics` rows (file, population, statistic,
        marker, value), FlowJo population names.
    sheet : pandas.DataFrame
        Sample sheet with :data:`SAMPLE_SHEET_COLUMNS`.
    decimals : int, default 4
        Rounding of the values.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLOW_LONG_COLUMNS`, text, index = row number from 2 (spreadsheet style),
        sorted by subject, visit, stimulation, population, statistic, marker.
    """
    validate_frame(statistics, "statistics", ("file", "population", "statistic", "marker", "value"))
    validate_frame(sheet, "sample sheet", SAMPLE_SHEET_COLUMNS)
    tubes = sheet[list(SAMPLE_SHEET_COLUMNS)].rename(
        columns={"condition": "stimulation", "acquisition_date": "sample_date"}
    )
    rows = statistics.merge(tubes, on="file", how="inner")
    rows = rows.assign(marker=rows["marker"].fillna("").astype(str))
    rows = rows.merge(NK_EXPORT_ROWS, on=_KEY, how="inner")
    # a % of a parent below the minimum is not estimable (NaN): no row, as in an export where
    # the analyst left the cell empty; the QC table flags that parent gate
    rows = rows[pd.to_numeric(rows["value"], errors="coerce").notna()]
    value = pd.to_numeric(rows["value"], errors="coerce").round(decimals)
    out = rows.assign(
        value=np.where(value.isna(), None, value.map(lambda v: f"{v:g}")),
        marker=rows["marker"].replace("", None),
    )[FLOW_LONG_COLUMNS]
    out = out.sort_values(
        ["subject_id", "visit", "stimulation", "population", "statistic", "marker"],
        ignore_index=True,
        na_position="first",
    ).astype(object)
    out.index = pd.RangeIndex(2, len(out) + 2, name="row")
    return out


def derive_flow_source_table(export: pd.DataFrame | None, fcs_rows: pd.DataFrame) -> pd.DataFrame:
    """The ``nk_flow`` table the analysis uses: FCS gating where a tube was gated, else export.

    Method: a (subject, visit, stimulation) tube gated from FCS takes all its rows from the FCS
    gating; export rows of the other tubes are kept unchanged (FlowJo export remains an accepted
    input). The result keeps the text columns of a raw export and a ``source`` attribute.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLOW_LONG_COLUMNS` (export columns when given), index from 2.
    """
    if export is None or export.empty:
        out = fcs_rows.copy()
    else:
        tube = ["subject_id", "visit", "stimulation"]
        gated = fcs_rows[tube].drop_duplicates().astype(str)
        key = export[tube].astype(str)
        merged = key.merge(gated.assign(_fcs=True), on=tube, how="left")
        keep = export.loc[merged["_fcs"].isna().to_numpy()]
        out = pd.concat([keep[FLOW_LONG_COLUMNS], fcs_rows[FLOW_LONG_COLUMNS]], ignore_index=True)
    out.index = pd.RangeIndex(2, len(out) + 2, name="row")
    return out


def validate_sample_sheet(sheet: pd.DataFrame) -> pd.DataFrame:
    """Check the FCS sample sheet; return it with trimmed text.

    Rules: the columns of :data:`SAMPLE_SHEET_COLUMNS` exist; ``file`` is filled, ends in
    ``.fcs`` and is unique; ``visit`` is one of :data:`VISIT_NUMBERS`; ``condition`` is ``none``
    or ``K562``; ``acquisition_date`` is an ISO date.

    Raises
    ------
    ValueError
        Every violation, each naming file (``attrs["source"]``), row, column, value and rule.
    """
    source = sheet.attrs.get("source", "sample sheet")
    validate_frame(sheet, source, SAMPLE_SHEET_COLUMNS)
    df = sheet.copy()
    for col in SAMPLE_SHEET_COLUMNS:
        df[col] = df[col].astype("string").str.strip()
    problems = []

    def bad(mask, column, rule):
        for row in df.index[mask.fillna(True).to_numpy(bool)]:
            problems.append(
                f"{source}, row {row}, column {column}: {df.at[row, column]!r} — {rule}"
            )

    bad(~df["file"].str.lower().str.endswith(".fcs"), "file", "must name an .fcs file")
    bad(df["file"].duplicated(keep=False), "file", "must be unique")
    bad(~df["visit"].isin(list(VISIT_NUMBERS)), "visit", f"must be one of {list(VISIT_NUMBERS)}")
    bad(~df["condition"].isin(["none", "K562"]), "condition", "must be none or K562")
    dates = pd.to_datetime(df["acquisition_date"], format="%Y-%m-%d", errors="coerce")
    bad(dates.isna(), "acquisition_date", "must be an ISO date (YYYY-MM-DD)")
    if problems:
        raise ValueError(
            f"{len(problems)} problem(s) in the FCS sample sheet:\n" + "\n".join(problems)
        )
    df.attrs = dict(sheet.attrs)
    return df


def derive_nk_gating_settings(
    min_events_file: int, min_events_gate: int, flow_rate_bin_seconds: float = 1.0
) -> GatingSettings:
    """Settings of the NK panel: FlowJo names, medians on NK only, QC minimums."""
    return GatingSettings(
        population_names=NK_GATE_NAMES,
        mfi_markers=[m for m, _ in NK_PANEL],
        mfi_populations=[NK_GATE_PREFIX],
        min_events_file=int(min_events_file),
        min_events_gate=int(min_events_gate),
        flow_rate_bin_seconds=float(flow_rate_bin_seconds),
        time_channel=TIME_CHANNEL,
    )


#: Key populations of the QC overview: column -> (population, label).
QC_KEY_POPULATIONS: dict[str, tuple[str, str]] = {
    "lymphocytes_pct": ("Lymphocytes", "Lymphocytes (% of events)"),
    "cd3neg_pct": (f"{_LYM}/CD3-", "CD3− viable (% of singlets)"),
    "nk_pct": (NK_GATE_PREFIX, "NK (% of CD3−)"),
    "cd56bright_pct": (f"{NK_GATE_PREFIX}/CD56bright", "CD56bright (% of NK)"),
    "cd107a_pct": (f"{NK_GATE_PREFIX}/CD107a+", "CD107a+ (% of NK)"),
}


@dataclass(frozen=True)
class NkFcsTables:
    """Everything notebook 00 keeps from the FCS gating.

    Attributes
    ----------
    nk_flow : pandas.DataFrame
        The ``nk_flow`` table the analysis uses (FCS rows + export rows of tubes without FCS).
    fcs_rows : pandas.DataFrame
        The ``nk_flow``-shaped rows gated from FCS.
    statistics : pandas.DataFrame
        Every gated statistic (all populations), joined to the sheet.
    qc : pandas.DataFrame
        QC table (sheet mismatches, events, flow rate, margin events) with subject/visit.
    qc_summary : pandas.DataFrame
        Files checked/flagged per QC check.
    overview : pandas.DataFrame
        One row per gated file: sheet columns, n_events, min_events_file, key population %
        (:data:`QC_KEY_POPULATIONS`), flags (flow_rate_flag, margin_flag, events_flag).
    concordance : pandas.DataFrame
        Per population and statistic (empty when no FlowJo export was supplied).
    pairs : pandas.DataFrame
        Paired FCS/FlowJo values (empty without export).
    flow_rate : pandas.DataFrame
        Flow-rate bins of every file.
    """

    nk_flow: pd.DataFrame
    fcs_rows: pd.DataFrame
    statistics: pd.DataFrame
    qc: pd.DataFrame
    qc_summary: pd.DataFrame
    overview: pd.DataFrame
    concordance: pd.DataFrame
    pairs: pd.DataFrame
    flow_rate: pd.DataFrame


def summarise_nk_fcs(
    batch: BatchResult, sheet: pd.DataFrame, export: pd.DataFrame | None = None
) -> NkFcsTables:
    """Turn a gated batch into the trial's tables (see :class:`NkFcsTables`).

    Method: statistics → ``nk_flow`` rows (:func:`derive_nk_flow_from_fcs`); tubes gated from
    FCS replace the export's rows of the same tube (:func:`derive_flow_source_table`); when an
    export is supplied, FCS rows are compared with the export's rows of the same tubes
    (:func:`helpers.cytometry.compute_concordance`). QC rows keep every file, flagged or not.
    """
    tubes = sheet[list(SAMPLE_SHEET_COLUMNS)]
    fcs_rows = derive_nk_flow_from_fcs(batch.statistics, sheet)
    nk_flow = derive_flow_source_table(export, fcs_rows)
    nk_flow.attrs = dict(export.attrs) if export is not None else dict(sheet.attrs)
    if export is not None and not export.empty:
        tube = ["subject_id", "visit", "stimulation"]
        gated = fcs_rows[tube].drop_duplicates()
        same = export.merge(gated, on=tube, how="inner")
        pairs = derive_concordance_pairs(fcs_rows, same)
        concordance = compute_concordance(fcs_rows, same)
    else:
        pairs = concordance = pd.DataFrame()
    qc_table = tubes[["file", "subject_id", "visit", "condition"]].merge(
        batch.qc, on="file", how="right"
    )
    stats = batch.statistics.merge(tubes, on="file", how="left")
    pct = stats[stats["statistic"] == "freq_of_parent"].pivot_table(
        index="file", columns="population", values="value", aggfunc="first"
    )
    # no timings, pids or memory here: written datasets stay byte-identical run to run
    overview = tubes.merge(batch.files[["file", "n_events"]], on="file", how="inner")
    limits = batch.qc.loc[batch.qc["check"] == "events in file", "limit"]
    overview["min_events_file"] = limits.iloc[0] if len(limits) else np.nan
    for col, (pop, _) in QC_KEY_POPULATIONS.items():
        overview[col] = overview["file"].map(pct[pop]) if pop in pct.columns else np.nan
    flagged = batch.qc[batch.qc["flag"]]
    for col, check in (
        ("flow_rate_flag", "flow-rate anomaly"),
        ("margin_flag", "margin events"),
        ("events_flag", "events in file"),
    ):
        overview[col] = overview["file"].isin(flagged.loc[flagged["check"] == check, "file"])
    return NkFcsTables(
        nk_flow=nk_flow,
        fcs_rows=fcs_rows,
        statistics=stats,
        qc=qc_table,
        qc_summary=summarise_qc_flags(batch.qc),
        overview=overview,
        concordance=concordance,
        pairs=pairs,
        flow_rate=batch.flow_rate,
    )


def select_representative_file(overview: pd.DataFrame) -> str:
    """The unstimulated, unflagged tube whose NK % is closest to the median (ties: first file)."""
    validate_frame(overview, "overview", ("file", "condition", "nk_pct", "flow_rate_flag"))
    ok = overview[(overview["condition"] == "none") & ~overview["flow_rate_flag"]]
    ok = ok if not ok.empty else overview
    if ok.empty:
        raise ValueError("no gated file to draw the gating strategy on")
    dist = (ok["nk_pct"] - ok["nk_pct"].median()).abs()
    return str(ok.loc[dist.sort_values(kind="stable").index[0], "file"])


#: Sample sheet inside the FCS folder: ``sample_sheet.csv`` or ``sample_sheet.xlsx``.
SAMPLE_SHEET = "sample_sheet"


def gate_nk_fcs_folder(
    folder: Path,
    gating_file: str,
    min_events_file: int,
    min_events_gate: int,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Callable[[int, int, Any], None] | None = None,
) -> tuple[pd.DataFrame, BatchResult] | None:
    """Gate the FCS files of a folder listed in its sample sheet (None without a sheet).

    Method: the sheet (``sample_sheet.csv`` or ``.xlsx``) is read with
    :func:`helpers.io.load_raw_table` and checked
    (:func:`validate_sample_sheet`); the strategy (GatingML 2.0 or FlowJo .wsp) is read and
    compiled once; every sheet file is gated by :func:`helpers.cytometry.gate_fcs_files` on Dask
    (local cluster, or ``scheduler``), with the NK settings (:func:`derive_nk_gating_settings`).
    FCS files present without a sheet are not silently ignored: the call raises.

    Returns
    -------
    (sheet, BatchResult) or None
    """
    folder = Path(folder)
    sheet_path = io.find_table_file(folder, SAMPLE_SHEET)
    if sheet_path is None:
        if find_fcs_files(folder):
            raise ValueError(
                f"{folder} holds FCS files but no {SAMPLE_SHEET}.csv/.xlsx: add the sheet "
                f"(columns {list(SAMPLE_SHEET_COLUMNS)})."
            )
        return None
    sheet = validate_sample_sheet(io.load_raw_table(sheet_path))
    plan = compile_gating_plan(load_gating_strategy(folder / gating_file))
    settings = derive_nk_gating_settings(min_events_file, min_events_gate)
    batch = gate_fcs_files(
        folder, list(sheet["file"]), plan, settings, scheduler, n_workers, progress
    )
    return sheet, batch


def merge_fcs_into_tables(
    tables: dict[str, pd.DataFrame], gated: tuple[pd.DataFrame, BatchResult] | None
) -> tuple[dict[str, pd.DataFrame], NkFcsTables | None]:
    """The trial's raw tables with ``nk_flow`` taken from the FCS gating where a tube was gated.

    Returns the tables unchanged and None when nothing was gated; otherwise a new dict whose
    ``nk_flow`` is :attr:`NkFcsTables.nk_flow` (its ``attrs["source"]`` stays the export's,
    or becomes the sample sheet when there is no export) and the :class:`NkFcsTables`.
    """
    if gated is None:
        return tables, None
    sheet, batch = gated
    fcs = summarise_nk_fcs(batch, sheet, tables.get("nk_flow"))
    return {**tables, "nk_flow": fcs.nk_flow}, fcs


#: Processed tables of the FCS path (data/processed/everolimus_nk/<name>.parquet).
FCS_OUTPUT_TABLES = (
    "fcs_statistics",
    "fcs_qc",
    "fcs_qc_summary",
    "fcs_overview",
    "fcs_flow_rate",
    "fcs_concordance",
    "fcs_concordance_pairs",
)


def derive_fcs_output_tables(fcs: NkFcsTables | None) -> dict[str, pd.DataFrame]:
    """The FCS tables to write, by name (:data:`FCS_OUTPUT_TABLES`); empty frames without FCS.

    Written every run, so that notebook 03 reads them whether or not FCS files were gated.
    """
    if fcs is None:
        return {name: pd.DataFrame() for name in FCS_OUTPUT_TABLES}
    tables = {
        "fcs_statistics": fcs.statistics,
        "fcs_qc": fcs.qc,
        "fcs_qc_summary": fcs.qc_summary,
        "fcs_overview": fcs.overview,
        "fcs_flow_rate": fcs.flow_rate,
        "fcs_concordance": fcs.concordance,
        "fcs_concordance_pairs": fcs.pairs,
    }
    return {name: tables[name] for name in FCS_OUTPUT_TABLES}


def summarise_fcs_in_words(overview: pd.DataFrame, concordance: pd.DataFrame) -> str:
    """A short, generated paragraph: files gated, QC flags, agreement with the FlowJo export.

    Every number comes from the tables (nothing is hard-coded): files and subjects gated, files
    with each QC flag, and for % of parent statistics the largest |mean difference| and the
    smallest Lin's CCC across populations.
    """
    if overview.empty:
        return (
            "No FCS files were gated in this run: the NK analyses use the FlowJo export "
            "(`nk_flow`) as supplied."
        )
    n_files, n_subj = len(overview), overview["subject_id"].nunique()
    flags = {
        "flow-rate anomaly": int(overview["flow_rate_flag"].sum()),
        "margin events above the limit": int(overview["margin_flag"].sum()),
        "fewer events than the minimum": int(overview["events_flag"].sum()),
    }
    flagged = "; ".join(f"{v} with {k}" for k, v in flags.items() if v) or "none flagged"
    text = (
        f"{n_files} FCS files of {n_subj} patients were gated from raw events "
        f"({int(overview['n_events'].sum()):,} events); their tubes replace the FlowJo export's "
        f"rows in the NK analyses. QC: {flagged}."
    )
    pct = concordance[concordance["statistic"] == "freq_of_parent"] if len(concordance) else None
    if pct is not None and len(pct):
        worst = pct.loc[pct["mean_difference"].abs().idxmax()]
        text += (
            f" Against the FlowJo export of the same tubes, % of parent agreed with a mean "
            f"difference of at most {abs(worst['mean_difference']):.2f} percentage points "
            f"({worst['population'].rsplit('/', 1)[-1]}) and Lin's CCC of at least "
            f"{pct['ccc'].min():.3f} across {len(pct)} populations."
        )
    return text
