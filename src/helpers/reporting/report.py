"""HTML report: code-free notebook renderings and ``reports/index.html``.

The index links every notebook report, shows each notebook's results summary table and a gallery
of every figure with its caption, and ends with a provenance block (input files with SHA-256,
synthetic or real, package versions, git commit, parameters, run time) so that any number in the
report can be traced to its inputs.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import platform
import subprocess
import threading
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from helpers import config, io
from helpers.config import NOTEBOOK_DAG
from helpers.reporting import bundle, runs
from helpers.reporting import format as fmt
from helpers.results import SUMMARY_COLUMNS

if TYPE_CHECKING:
    from helpers.reporting.runs import PipelineResult

PACKAGES = (
    "helpers",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "lifelines",
    "matplotlib",
    "seaborn",
    "pandera",
    "pyarrow",
    "papermill",
    "nbconvert",
)
NOTEBOOK_TITLES = {
    "00_data_preparation": "Data preparation and quality control",
    "01_screening_rate": "HER2-CTC trial: screening and detection of HER2-amplified CTCs",
    "02_tdm1_response": "HER2-CTC trial: response to T-DM1, survival, toxicity",
    "03_nk_function_changes": "Everolimus/NK trial: granzyme B, NK functions, clinical outcomes",
    "04_mtor_status": "Everolimus/NK trial: mTOR activation (rpS6 phosphorylation)",
}
SYNTHETIC_BANNER = (
    '<div style="background:#b2182b;color:#fff;padding:10px 16px;font:bold 16px sans-serif;'
    'text-align:center;position:sticky;top:0;z-index:1000">SYNTHETIC DATA: simulated demo cohort. '
    "These are not trial results.</div>"
)
CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:0 auto;padding:0 16px 48px;color:#222}
h1{margin-top:24px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} th{background:#f3f3f3}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:18px}
figure{margin:0;border:1px solid #ddd;padding:8px;background:#fff}
figure img{width:100%} figcaption{font-size:13px;color:#333;margin-top:6px}
th.outcome{background:#e8eef6;text-align:left;font-weight:bold}
table.summary td:nth-child(2),table.summary td:nth-child(3){white-space:nowrap}
.ok{color:#1a7f37;font-weight:bold} .failed,.skipped,.not-run{color:#b2182b;font-weight:bold}
.stale{background:#fff4ce;border-left:4px solid #b58900;padding:6px 10px}
table.params th{background:#f3f3f3;font-weight:normal} details{margin:6px 0}
code,pre{font-size:12px;background:#f6f6f6} pre{padding:8px;overflow-x:auto}
"""


def render_notebook_html(executed: Path, synthetic: bool) -> str:
    """Executed notebook -> standalone HTML without code cells or prompts."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    body, _ = _html_exporter().from_notebook_node(nb)
    parameters = nb.metadata.get("papermill", {}).get("parameters", {})
    name = Path(executed).stem
    block = (
        '<div style="max-width:1200px;margin:12px auto;font:14px sans-serif">'
        f'<a href="index.html#{name}">← report index</a> · '
        f'<a href="exports/{name}.xlsx">this notebook\'s tables (Excel)</a>'
        "<details open><summary><b>Parameters this notebook ran with</b></summary>"
        f"{parameters_html(dict(parameters))}</details></div>"
    )
    return _with_banner(_after_body(body, block), synthetic)


_EXPORTERS = threading.local()


def _html_exporter() -> Any:
    """One code-free HTML exporter per thread: building one compiles its templates (~0.1 s)."""
    if not hasattr(_EXPORTERS, "html"):
        from nbconvert import HTMLExporter

        _EXPORTERS.html = HTMLExporter(
            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
        )
    return _EXPORTERS.html


def _after_body(page: str, block: str) -> str:
    at = page.find("<body")
    if at < 0:
        return block + page
    close = page.find(">", at) + 1
    return page[:close] + block + page[close:]


def _with_banner(page: str, synthetic: bool) -> str:
    if not synthetic:
        return page
    at = page.find("<body")
    if at < 0:
        return SYNTHETIC_BANNER + page
    close = page.find(">", at) + 1
    return page[:close] + SYNTHETIC_BANNER + page[close:]


def is_synthetic_notebook(raw_dir: Path, notebook: str) -> bool:
    """True when any trial folder the notebook analyses holds demo data (its pages say so).

    Trials per notebook: :data:`helpers.config.NOTEBOOK_TRIALS`; a notebook not listed there
    follows the whole raw folder's flag.
    """
    trials = config.NOTEBOOK_TRIALS.get(notebook)
    if trials is None:
        return io.is_synthetic(raw_dir)
    return any(io.is_synthetic(raw_dir, t) for t in trials)


def data_label(raw_dir: Path, notebook: str) -> str:
    """HTML naming, per trial the notebook analyses, whether its data are synthetic or real."""
    trials = config.NOTEBOOK_TRIALS.get(notebook, ())
    parts = [
        f"{html.escape(t)}: "
        + (
            '<span class="failed">SYNTHETIC demo data</span>'
            if io.is_synthetic(raw_dir, t)
            else "real trial export"
        )
        for t in trials
        if (raw_dir / t).is_dir()
    ]
    return "Data: " + "; ".join(parts) if parts else ""


def collect_figures(figures_dir: Path, notebook: str) -> list[dict[str, str]]:
    """Figures saved by ``io.save_figure`` for one notebook: name, caption, png and svg paths."""
    folder = figures_dir / notebook
    out = []
    for meta in sorted(folder.glob("*.json")):
        info = json.loads(meta.read_text(encoding="utf-8"))
        png = meta.with_suffix(".png")
        if png.is_file():
            out.append(
                {
                    "name": meta.stem,
                    "caption": info.get("caption", ""),
                    "png": str(png),
                    "svg": str(meta.with_suffix(".svg")),
                }
            )
    return out


def collect_inputs(raw_dir: Path, formats: dict[str, Any] | None = None) -> pd.DataFrame:
    """Every raw input file with size, SHA-256 and, when data preparation recorded it, format.

    ``formats``: ``raw_formats`` of the processed manifest (``"<trial>/<file>"`` → type,
    encoding, delimiter, decimal, sheet). Columns: file, bytes, sha256, format.
    """
    formats = formats or {}
    rows = [
        {
            "file": p.relative_to(raw_dir).as_posix(),
            "bytes": p.stat().st_size,
            "sha256": io.sha256_file(p),
        }
        for p in sorted(raw_dir.rglob("*"))
        if p.is_file() and p.suffix in {".csv", ".xlsx", ".json"}
    ]
    for row in rows:
        fmt = formats.get(row["file"], {})
        row["format"] = ", ".join(
            f"{k} {fmt[k]!r}" if k == "delimiter" else f"{k} {fmt[k]}"
            for k in ("encoding", "delimiter", "decimal", "sheet")
            if fmt.get(k) is not None
        )
    return pd.DataFrame(rows, columns=["file", "bytes", "sha256", "format"])


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that produce the numbers."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path) -> str:
    """Current commit, with ``+uncommitted changes`` when the work tree is dirty."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{sha} + uncommitted changes" if dirty else sha


def _relpath(path: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def summary_html(table: pd.DataFrame) -> str:
    """Results summary as HTML (the formatting layer): rows grouped under their registry outcome."""
    table = table.reindex(columns=SUMMARY_COLUMNS).fillna({"outcome": "Results"})
    return fmt.to_html(fmt.format_table(table, group="outcome"))


def summary_section(summary: Path, reports: Path, name: str) -> str:
    """ "Results summary" heading and table of a notebook, cached in ``reports/runs/`` until the
    CSV changes (great_tables takes ~0.5 s for a long summary)."""
    cache = reports / runs.RUNS_DIR / f"{name}.summary.html"
    if bundle.is_fresh(cache, [summary]):
        return cache.read_text(encoding="utf-8")
    table = pd.read_csv(summary)
    text = f"<h3>Results summary ({len(table)} estimates)</h3>{summary_html(table)}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(text, encoding="utf-8")
    return text


def prepare_notebook_outputs(
    name: str, figures_dir: Path, tables_dir: Path, reports: Path, synthetic: bool
) -> None:
    """What the index needs of one notebook that just ran (figure copies, workbook, RTF, summary
    table), built right away so that the index at the end of the run only reads them."""
    bundle.copy_figures(figures_dir, reports, name)
    bundle.build_notebook_exports(tables_dir, reports, name, synthetic)
    summary = Path(tables_dir) / name / "results_summary.csv"
    if summary.is_file():
        summary_section(summary, reports, name)


def parameters_html(parameters: dict[str, Any], overridden: Mapping[str, Any] | None = None) -> str:
    """The parameters a notebook ran with, as a table; overridden ones marked with their default.

    ``overridden``: parameter name → :class:`helpers.config.Override` (``--set`` or
    ``--params-file`` of this run, for the shared section or this notebook's).
    """
    if not parameters:
        return "<p>No parameters recorded.</p>"
    overridden = overridden or {}
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(json.dumps(v, default=str))}"
        "</code></td><td>"
        + (
            "<b>overridden</b> (params.yaml: "
            f"{html.escape(json.dumps(overridden[k].default, default=str))})"
            if k in overridden
            else ""
        )
        + "</td></tr>"
        for k, v in parameters.items()
    )
    return f'<table class="params">{rows}</table>'


def _notebook_status(name: str, run: Any, record: dict | None) -> tuple[str, str, dict]:
    """(status, error, parameters) of a notebook: this run's, else its last recorded run's."""
    if run is not None:
        return run.status, run.error, dict(getattr(run, "parameters", {}) or {})
    if record is not None:
        return (
            record.get("status", "not run"),
            record.get("error", ""),
            record.get("parameters", {}),
        )
    return "not run", "", {}


def _ran_after(reports: Path, dependency: str, record: dict | None) -> bool:
    """True when ``dependency``'s last run started after the run of ``record`` (ISO run ids)."""
    dep = runs.load_run_record(reports, dependency)
    if not record or not dep:
        return False
    return str(dep.get("run_id", "")) > str(record.get("run_id", ""))


def _notebook_section(
    name: str,
    run: Any,
    reports: Path,
    figures_dir: Path,
    tables_dir: Path,
    synthetic: bool = False,
    overrides: Iterable[Any] = (),
    data: str = "",
) -> str:
    title = html.escape(NOTEBOOK_TITLES.get(name, name))
    record = runs.load_run_record(reports, name)
    status, error, parameters = _notebook_status(name, run, record)
    parts = [f'<h2 id="{name}">{title}</h2>']
    links = (
        f'<a href="{name}.html">Open the report</a> · '
        f'<a href="{name}.ipynb">executed notebook</a> · '
        if status in {"ok", "failed"}
        else ""
    )
    parts.append(
        f'<p>{links}status <span class="{status.replace(" ", "-")}">{status}</span>'
        + (f" in {run.seconds:.1f} s" if run and run.status == "ok" else "")
        + (f"<br><code>{html.escape(error)}</code>" if error else "")
        + (f"<br>{data}" if data else "")  # real or synthetic, per trial
        + "</p>"
    )
    rebuild = f"python -m helpers.pipeline --only {name}"
    if status != "ok":
        # a failed or never-run notebook shows no older results: they would pass for current
        bundle.remove_notebook_outputs(reports, name)
        parts.append(
            f'<p class="stale">No results shown. Rebuild with <code>{rebuild}</code> '
            "(after its prerequisites) or <code>make report</code>.</p>"
        )
        return "\n".join(parts)
    changed = runs.changed_outputs(record, figures_dir, tables_dir) if record else []
    if changed:
        listed = ", ".join(html.escape(c) for c in changed[:8]) + (" …" if len(changed) > 8 else "")
        parts.append(
            f'<p class="stale">STALE: {len(changed)} output(s) changed after this report was built '
            f"(e.g. re-run in JupyterLab): {listed}. Its report page is from run "
            f"{html.escape(str(record.get('run_id')))}, the summary and figures below are the "
            f"files now on disk; rebuild with <code>{rebuild}</code>.</p>"
        )
    newer = [dep for dep in NOTEBOOK_DAG.get(name, ()) if _ran_after(reports, dep, record)]
    if newer:
        parts.append(
            f'<p class="stale">STALE: {", ".join(newer)} ran again after this notebook, so its '
            f"results may rest on older data; rebuild with <code>{rebuild}</code>.</p>"
        )
    changed = {o.key: o for o in overrides if o.section in ("shared", name)}
    n_changed = sum(k in changed for k in parameters)
    parts.append(
        f"<details><summary>Parameters of this run ({len(parameters)}, {n_changed} overridden)"
        f"</summary>{parameters_html(parameters, changed)}</details>"
    )
    exports = bundle.build_notebook_exports(tables_dir, reports, name, synthetic)
    if exports.tables:
        tables = " · ".join(
            f'<a href="{t}">{html.escape(Path(t).stem)}</a>' for t in exports.tables
        )
        rtf = " · ".join(f'<a href="{t}">{html.escape(Path(t).stem)}</a>' for t in exports.rtf)
        parts.append(
            f"<details><summary>Tables ({len(exports.tables)} CSV"
            + (f', <a href="{exports.workbook}">Excel workbook</a>' if exports.workbook else "")
            + (f", {len(exports.rtf)} RTF" if exports.rtf else "")
            + f")</summary><p>CSV: {tables}</p>"
            + (f"<p>RTF (clinical-study-report tables): {rtf}</p>" if rtf else "")
            + "</details>"
        )
    summary = tables_dir / name / "results_summary.csv"
    if summary.is_file():
        parts.append(summary_section(summary, reports, name))
    copied = bundle.copy_figures(figures_dir, reports, name)
    figures = collect_figures(copied.parent, name)
    if figures:
        cards = "".join(
            f'<figure><a href="{_relpath(Path(f["png"]), reports)}"><img loading="lazy" '
            f'src="{_relpath(Path(f["png"]), reports)}" alt="{html.escape(f["name"])}"></a>'
            f"<figcaption><b>{html.escape(f['name'])}</b>: {html.escape(f['caption'])} "
            f'(<a href="{_relpath(Path(f["svg"]), reports)}">SVG</a>)</figcaption></figure>'
            for f in figures
        )
        parts.append(f'<h3>Figures ({len(figures)})</h3><div class="gallery">{cards}</div>')
    return "\n".join(parts)


def build_index(
    root: Path,
    params: dict[str, Any],
    result: PipelineResult,
    started: dt.datetime,
    overrides: Iterable[Any] = (),
) -> str:
    """Return the HTML of ``reports/index.html``.

    ``overrides`` (:class:`helpers.config.Override` records from the runner) are marked in each
    notebook's parameter table.
    """
    overrides = list(overrides)
    shared = params["shared"]
    raw_dir = config.resolve_path(shared["raw_dir"], root)
    figures_dir = config.resolve_path(shared["figures_dir"], root)
    tables_dir = config.resolve_path(shared["tables_dir"], root)
    reports = root / "reports"
    # the banner shows while any trial folder holds demo data (labels per trial below)
    synthetic = any(is_synthetic_notebook(raw_dir, n) for n in config.NOTEBOOK_TRIALS)

    toc = "".join(
        f'<li><a href="#{n}">{html.escape(NOTEBOOK_TITLES.get(n, n))}</a></li>'
        for n in NOTEBOOK_DAG
    )
    sections = "\n".join(
        _notebook_section(
            n,
            result.runs.get(n),
            reports,
            figures_dir,
            tables_dir,
            is_synthetic_notebook(raw_dir, n),
            overrides,
            data_label(raw_dir, n),
        )
        for n in NOTEBOOK_DAG
    )
    documents = []
    for trial in bundle.TRIAL_NOTEBOOKS:
        current = all(
            (runs.load_run_record(reports, n) or {}).get("status") == "ok"
            for n in bundle.TRIAL_NOTEBOOKS[trial]
        )
        doc = reports / bundle.EXPORTS / f"{trial}.docx"
        if current:
            doc = bundle.build_trial_document(
                trial,
                tables_dir,
                figures_dir,
                reports,
                io.is_synthetic(raw_dir, trial),
                NOTEBOOK_TITLES,
            )
        elif doc.is_file():
            doc.unlink()  # a document of an older run would pass for current
        if doc is not None and doc.is_file():
            documents.append(
                f'<li><a href="{_relpath(doc, reports)}">{html.escape(bundle.TRIAL_TITLES[trial])}'
                "</a> (Word)</li>"
            )
    words = (
        f'<h2 id="documents">Word documents</h2><ul>{"".join(documents)}</ul>' if documents else ""
    )
    processed_dir = shared.get("processed_dir")
    processed = io.load_manifest(config.resolve_path(processed_dir, root)) if processed_dir else {}
    formats = processed.get("raw_formats", {})
    inputs = collect_inputs(raw_dir, formats) if raw_dir.is_dir() else pd.DataFrame()
    versions = pd.DataFrame(package_versions().items(), columns=["package", "version"])
    manifest = io.load_manifest(raw_dir)
    trial_labels = "".join(
        f"<br>{html.escape(t)}: "
        + ("SYNTHETIC demo data" if io.is_synthetic(raw_dir, t) else "real trial export")
        for t in config.TRIALS
        if (raw_dir / t).is_dir()
    )
    provenance = f"""
<h2 id="provenance">Provenance</h2>
<table>
<tr><th>data</th><td>{
        "SYNTHETIC demo cohort (seed "
        + str(manifest.get("seed"))
        + ", scale "
        + str(manifest.get("scale"))
        + ")"
        if synthetic
        else "real trial export"
    }{trial_labels}</td></tr>
<tr><th>raw data folder</th><td>{html.escape(str(raw_dir))}</td></tr>
<tr><th>git commit</th><td>{html.escape(git_commit(root))}</td></tr>
<tr><th>run started (UTC)</th><td>{started.strftime("%Y-%m-%d %H:%M:%S")}</td></tr>
<tr><th>pipeline time</th><td>{result.seconds:.1f} s</td></tr>
</table>
<h3>Parameters</h3><p>Each notebook's section above lists the parameters it received.
Overridden for this run: {
        html.escape(", ".join(f"{o.section}.{o.key} = {o.value!r}" for o in overrides))
        or "none (params.yaml as is)"
    }</p><pre>{html.escape(json.dumps(params, indent=2, default=str))}</pre>
<h3>Input files</h3>{inputs.to_html(index=False) if len(inputs) else "<p>none found</p>"}
<h3>Package versions</h3>{versions.to_html(index=False)}
"""
    title = "Metastatic breast cancer trials: analysis report"
    body = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<style>{CSS}</style></head><body>
<h1>{title}</h1>
<p>HER2-amplified CTCs → T-DM1 (single-arm phase II, Simon two-stage) and everolimus → NK cells
(prospective biomarker study). Every registry outcome measure maps to a table or figure below;
each notebook report ends with that mapping.</p>
<ul>{toc}<li><a href="#documents">Word documents</a></li>
<li><a href="#provenance">Provenance</a></li></ul>
{words}
{sections}
{provenance}
</body></html>"""
    return _with_banner(body, synthetic)


def write_index(
    root: Path,
    params: dict[str, Any],
    result: PipelineResult,
    started: dt.datetime,
    overrides: Iterable[Any] = (),
) -> Path:
    """Write ``reports/index.html`` and return its path."""
    path = root / "reports" / "index.html"
    path.parent.mkdir(exist_ok=True)
    path.write_text(build_index(root, params, result, started, overrides), encoding="utf-8")
    return path
