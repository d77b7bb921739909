"""What makes ``reports/`` self-contained: figures copied in, one workbook per notebook, one Word
document per trial.

Built by :func:`helpers.reporting.report.write_index` after the notebooks ran, from what they
saved (``figures/<notebook>/``, ``reports/tables/<notebook>/``), so the folder can be zipped or
mailed as it is.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers import io
from helpers.reporting import export
from helpers.reporting import format as fmt

#: Notebooks of each trial, in report order.
TRIAL_NOTEBOOKS = {
    "her2_ctc_tdm1": ("01_screening_rate", "02_tdm1_response"),
    "everolimus_nk": ("03_nk_function_changes", "04_mtor_status"),
}
TRIAL_TITLES = {
    "her2_ctc_tdm1": "HER2-amplified CTCs → T-DM1: key tables and figures",
    "everolimus_nk": "Everolimus and NK cells: key tables and figures",
}
#: Figures of each notebook that go into the trial's Word document (when they exist).
KEY_FIGURES = {
    "01_screening_rate": ("consort_screening_flow", "forest_odds_ratios_characteristics"),
    "02_tdm1_response": (
        "waterfall_best_change",
        "swimmer_treated",
        "km_pfs_treated",
        "km_os_treated",
    ),
    "03_nk_function_changes": (
        "gzmb_trajectories",
        "nk_marker_change_heatmap",
        "km_pfs_treated",
        "km_os_treated",
    ),
    "04_mtor_status": ("rps6_inhibition_distribution",),
}
EXPORTS = "exports"
#: Order of the CSR tables in a Word document (others follow alphabetically).
CSR_ORDER = (
    "table1_baseline_characteristics",
    "analysis_populations",
    "disposition",
    "biomarker_samples_per_visit",
    "listing_efficacy",
    "listing_grade3_serious_ae",
    "listing_deaths",
)
#: Tables of the TLG catalogue saved by the notebooks as CSV only (AET01/AET02 adverse events,
#: RSPT01 response, TTET01 time to event, EXT01 exposure, results summaries): the report writes
#: their RTF (``reports/exports/<notebook>/<name>.rtf``) with the formatting layer.
TLG_TABLES = (
    "results_summary",
    "ae_overview",
    "ae_worst_grade",
    "ae_by_soc_term_all",
    "ae_by_soc_term_related",
    "ae_by_soc_term_serious",
    "related_ae_by_soc_term",
    "infections_by_soc_term",
    "related_ae_worst_grade",
    "infection_worst_grade",
    "intercurrent_events_overview",
    "response_rates",
    "orr_dcr_efficacy_evaluable",
    "best_overall_response",
    "km_pfs_os_followup",
    "pfs_km_summary",
    "os_km_summary",
    "median_followup",
    "exposure_summary",
    "end_of_treatment_reasons",
    "detection_rates",
    "gzmb_change_from_baseline",
    "rps6_inhibition_summary",
)
#: CSR tables too long for the Word document (they stay in RTF, CSV and the workbook).
LONG_LISTINGS = ("listing_population_exits",)


@dataclass
class NotebookOutputs:
    """Paths (relative to ``reports/``) of one notebook's tables and exports."""

    tables: list[str] = field(default_factory=list)
    rtf: list[str] = field(default_factory=list)
    workbook: str | None = None


def is_fresh(target: Path, sources: list[Path]) -> bool:
    """True when ``target`` exists and is at least as new as every one of ``sources``."""
    if not target.exists():
        return False
    newest = max((p.stat().st_mtime_ns for p in sources), default=0)
    return target.stat().st_mtime_ns >= newest


def copy_figures(figures_dir: Path, reports: Path, notebook: str) -> Path:
    """Mirror ``figures/<notebook>/`` into ``reports/figures/<notebook>/``: new or changed files
    copied (with their times), files no longer in the source removed."""
    source = Path(figures_dir) / notebook
    target = Path(reports) / "figures" / notebook
    if source.is_dir() and target.exists() and target.resolve() == source.resolve():
        return target
    wanted = {p.name: p for p in source.iterdir() if p.is_file()} if source.is_dir() else {}
    if target.is_dir():
        for old in target.iterdir():
            if old.name not in wanted:
                old.unlink()
    target.mkdir(parents=True, exist_ok=True)
    for name, src in wanted.items():
        dst = target / name
        st = src.stat()
        if not dst.exists() or (dst.stat().st_mtime_ns, dst.stat().st_size) != (
            st.st_mtime_ns,
            st.st_size,
        ):
            shutil.copy2(src, dst)
    return target


def remove_notebook_outputs(reports: Path, notebook: str) -> None:
    """Remove the copies of a notebook's figures and its exports from ``reports/`` (a failed or
    never-run notebook must leave no older results there that could pass for current)."""
    for folder in (Path(reports) / "figures" / notebook, Path(reports) / EXPORTS / notebook):
        if folder.is_dir():
            shutil.rmtree(folder)
    (Path(reports) / EXPORTS / f"{notebook}.xlsx").unlink(missing_ok=True)


def _read_saved_csv(csv: Path, **kwargs) -> pd.DataFrame:
    """A table saved by :func:`helpers.io.save_table`; one saved without columns (an optional
    table not supplied, e.g. FCS QC without FCS files) is an empty file: an empty frame."""
    try:
        return pd.read_csv(csv, **kwargs)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def load_csr_table(csv: Path) -> fmt.FormattedTable:
    """A saved table as a :class:`~helpers.reporting.format.FormattedTable` (title, footnotes
    from its sidecar when it is a CSR table; otherwise formatted by the rule set)."""
    meta = io.read_json(csv.with_suffix(".json")) or {}
    df = _read_saved_csv(csv, keep_default_na=False) if meta.get("csr") else _read_saved_csv(csv)
    if meta.get("csr"):
        return fmt.FormattedTable(df.astype(str), meta.get("title", ""), meta.get("footnotes", []))
    return fmt.format_table(df, title=csv.stem.replace("_", " "))


def build_notebook_exports(
    tables_dir: Path, reports: Path, notebook: str, synthetic: bool = False
) -> NotebookOutputs:
    """Workbook ``reports/exports/<notebook>.xlsx`` (one sheet per saved table), the RTF of its
    :data:`TLG_TABLES`, and the list of the notebook's tables and RTF files."""
    folder = Path(tables_dir) / notebook
    out = NotebookOutputs()
    own = Path(reports) / EXPORTS / notebook
    workbook = Path(reports) / EXPORTS / f"{notebook}.xlsx"
    csvs = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    rel = _relative(reports)
    out.tables = [rel(p) for p in csvs]
    if csvs and is_fresh(workbook, csvs):  # built after the notebook ran (runner's render thread)
        out.rtf = [rel(p) for p in [*sorted(folder.glob("*.rtf")), *sorted(own.glob("*.rtf"))]]
        out.workbook = rel(workbook)
        return out
    if own.is_dir():
        shutil.rmtree(own)  # exports of an older run must not outlive their tables
    if not csvs:
        workbook.unlink(missing_ok=True)
        return out
    frames = {p.stem: _read_saved_csv(p) for p in csvs}
    rtf = sorted(folder.glob("*.rtf"))
    for name in TLG_TABLES:
        if name in frames and not (folder / f"{name}.rtf").is_file():
            title = f"{name.replace('_', ' ').capitalize()} ({notebook})"
            group = "outcome" if "outcome" in frames[name].columns else None
            ft = fmt.format_table(frames[name], title=title, group=group)
            path = Path(reports) / EXPORTS / notebook / f"{name}.rtf"
            rtf.append(export.write_rtf(ft, path, synthetic))
    out.rtf = [rel(p) for p in rtf]
    path = export.write_workbook(frames, Path(reports) / EXPORTS / f"{notebook}.xlsx")
    out.workbook = rel(path)
    return out


def _relative(reports: Path):
    import os

    def rel(path: Path) -> str:
        return Path(os.path.relpath(Path(path).resolve(), Path(reports).resolve())).as_posix()

    return rel


def _csr_rank(csv: Path) -> tuple[int, str]:
    return (CSR_ORDER.index(csv.stem) if csv.stem in CSR_ORDER else len(CSR_ORDER), csv.stem)


def build_trial_document(
    trial: str,
    tables_dir: Path,
    figures_dir: Path,
    reports: Path,
    synthetic: bool,
    headings: dict[str, str] | None = None,
) -> Path | None:
    """Word document of a trial: its CSR tables, results summaries and key figures.

    ``headings`` maps each notebook to its section heading (default: the notebook name).
    """
    items: list[export.DocxItem] = []
    for notebook in TRIAL_NOTEBOOKS[trial]:
        folder = Path(tables_dir) / notebook
        if not folder.is_dir():
            continue
        heading = (headings or {}).get(notebook, notebook.replace("_", " "))
        items.append(export.DocxItem("heading", heading, level=1))
        for csv in sorted(folder.glob("*.csv"), key=_csr_rank):
            meta = io.read_json(csv.with_suffix(".json")) or {}
            if meta.get("csr") and csv.stem not in LONG_LISTINGS:
                items.append(export.DocxItem("table", table=load_csr_table(csv)))
        summary = folder / "results_summary.csv"
        if summary.is_file():
            table = fmt.format_table(
                pd.read_csv(summary).drop(columns=["outcome"], errors="ignore"),
                title="Results summary",
            )
            items.append(export.DocxItem("table", table=table))
        for name in KEY_FIGURES.get(notebook, ()):
            png = Path(figures_dir) / notebook / f"{name}.png"
            meta = io.read_json(png.with_suffix(".json")) or {}
            if png.is_file():
                items.append(export.DocxItem("figure", meta.get("caption", name), image=png))
    if not items:
        return None
    return export.write_docx(
        items, Path(reports) / EXPORTS / f"{trial}.docx", TRIAL_TITLES[trial], synthetic
    )
