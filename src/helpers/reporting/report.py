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
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from helpers import config, io
from helpers.results import SUMMARY_COLUMNS, format_p_value

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
.ok{color:#1a7f37;font-weight:bold} .failed,.skipped{color:#b2182b;font-weight:bold}
code,pre{font-size:12px;background:#f6f6f6} pre{padding:8px;overflow-x:auto}
"""


def render_notebook_html(executed: Path, synthetic: bool) -> str:
    """Executed notebook -> standalone HTML without code cells or prompts."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    body, _ = _html_exporter().from_notebook_node(nb)
    return _with_banner(body, synthetic)


_EXPORTERS = threading.local()


def _html_exporter() -> Any:
    """One code-free HTML exporter per thread: building one compiles its templates (~0.1 s)."""
    if not hasattr(_EXPORTERS, "html"):
        from nbconvert import HTMLExporter

        _EXPORTERS.html = HTMLExporter(
            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
        )
    return _EXPORTERS.html


def _with_banner(page: str, synthetic: bool) -> str:
    if not synthetic:
        return page
    at = page.find("<body")
    if at < 0:
        return SYNTHETIC_BANNER + page
    close = page.find(">", at) + 1
    return page[:close] + SYNTHETIC_BANNER + page[close:]


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


def collect_inputs(raw_dir: Path) -> pd.DataFrame:
    """Every raw input file with size and SHA-256 (columns: file, bytes, sha256)."""
    rows = [
        {
            "file": str(p.relative_to(raw_dir)),
            "bytes": p.stat().st_size,
            "sha256": io.sha256_file(p),
        }
        for p in sorted(raw_dir.rglob("*"))
        if p.is_file() and p.suffix in {".csv", ".xlsx", ".json"}
    ]
    return pd.DataFrame(rows, columns=["file", "bytes", "sha256"])


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


def _sig(value: float) -> str:
    if pd.isna(value):
        return "NE"
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.3g}".replace("-", "−")


def summary_html(table: pd.DataFrame) -> str:
    """Results summary as HTML: rows grouped under their registry outcome, one CI column."""
    head = (
        "<tr><th>parameter</th><th>n / N</th><th>estimate (CI)</th><th>method</th>"
        "<th>p</th><th>p (adjusted)</th></tr>"
    )
    rows = [head]
    table = table.reindex(columns=SUMMARY_COLUMNS).fillna({"outcome": "Results"})
    for outcome, group in table.groupby("outcome", sort=False):
        rows.append(f'<tr><th colspan="6" class="outcome">{html.escape(str(outcome))}</th></tr>')
        for r in group.itertuples(index=False):
            n = "" if pd.isna(r.n) else f"{int(r.n)} / "
            big_n = "" if pd.isna(r.N) else str(int(r.N))
            level = "" if pd.isna(r.ci_level) else f"{r.ci_level:.0%} CI "
            ci = f"{_sig(r.estimate)} ({level}{_sig(r.ci_lower)} to {_sig(r.ci_upper)})"
            p_vals = [
                ("" if pd.isna(v) else html.escape(format_p_value(v))) for v in (r.p_value, r.p_adj)
            ]
            rows.append(
                f"<tr><td>{html.escape(str(r.parameter))}</td><td>{n}{big_n}</td><td>{ci}</td>"
                f"<td>{html.escape(str(r.method))}</td><td>{p_vals[0]}</td><td>{p_vals[1]}</td></tr>"
            )
    return f'<table class="summary">{"".join(rows)}</table>'


def _notebook_section(
    name: str, run: Any, reports: Path, figures_dir: Path, tables_dir: Path
) -> str:
    title = html.escape(NOTEBOOK_TITLES.get(name, name))
    status = run.status if run else "not run"
    parts = [
        f'<h2 id="{name}">{title}</h2>',
        f'<p><a href="{name}.html">Open the report</a> · <a href="{name}.ipynb">executed '
        f'notebook</a> · status <span class="{status}">{status}</span>'
        + (f" in {run.seconds:.1f} s" if run and run.status == "ok" else "")
        + (f"<br><code>{html.escape(run.error)}</code>" if run and run.error else "")
        + "</p>",
    ]
    summary = tables_dir / name / "results_summary.csv"
    if summary.is_file():
        table = pd.read_csv(summary)
        parts.append(f"<h3>Results summary ({len(table)} estimates)</h3>{summary_html(table)}")
    figures = collect_figures(figures_dir, name)
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
    root: Path, params: dict[str, Any], result: PipelineResult, started: dt.datetime
) -> str:
    """Return the HTML of ``reports/index.html``."""
    shared = params["shared"]
    raw_dir = config.resolve_path(shared["raw_dir"], root)
    figures_dir = config.resolve_path(shared["figures_dir"], root)
    tables_dir = config.resolve_path(shared["tables_dir"], root)
    reports = root / "reports"
    synthetic = io.is_synthetic(raw_dir)
    from helpers.config import NOTEBOOK_DAG

    toc = "".join(
        f'<li><a href="#{n}">{html.escape(NOTEBOOK_TITLES.get(n, n))}</a></li>'
        for n in NOTEBOOK_DAG
    )
    sections = "\n".join(
        _notebook_section(n, result.runs.get(n), reports, figures_dir, tables_dir)
        for n in NOTEBOOK_DAG
    )
    inputs = collect_inputs(raw_dir) if raw_dir.is_dir() else pd.DataFrame()
    versions = pd.DataFrame(package_versions().items(), columns=["package", "version"])
    manifest = io.load_manifest(raw_dir)
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
    }</td></tr>
<tr><th>raw data folder</th><td>{html.escape(str(raw_dir))}</td></tr>
<tr><th>git commit</th><td>{html.escape(git_commit(root))}</td></tr>
<tr><th>run started (UTC)</th><td>{started.strftime("%Y-%m-%d %H:%M:%S")}</td></tr>
<tr><th>pipeline time</th><td>{result.seconds:.1f} s</td></tr>
</table>
<h3>Parameters</h3><pre>{html.escape(json.dumps(params, indent=2, default=str))}</pre>
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
<ul>{toc}<li><a href="#provenance">Provenance</a></li></ul>
{sections}
{provenance}
</body></html>"""
    return _with_banner(body, synthetic)


def write_index(
    root: Path, params: dict[str, Any], result: PipelineResult, started: dt.datetime
) -> Path:
    """Write ``reports/index.html`` and return its path."""
    path = root / "reports" / "index.html"
    path.parent.mkdir(exist_ok=True)
    path.write_text(build_index(root, params, result, started), encoding="utf-8")
    return path
