"""reports/index.html: notebook links, results summaries, figure gallery, provenance."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from helpers.reporting import report
from helpers.reporting.runs import NotebookRun, PipelineResult


@pytest.fixture
def toy_outputs(tmp_path: Path) -> Path:
    raw = tmp_path / "data" / "raw" / "her2_ctc_tdm1"
    raw.mkdir(parents=True)
    (raw / "patients.csv").write_text("subject_id\nHC-001-0001\n")
    (tmp_path / "data" / "raw" / "manifest.json").write_text('{"synthetic": true, "seed": 7}')
    fig_dir = tmp_path / "figures" / "02_tdm1_response"
    fig_dir.mkdir(parents=True)
    (fig_dir / "km_pfs_treated.png").write_bytes(b"png")
    (fig_dir / "km_pfs_treated.json").write_text('{"caption": "KM of PFS <treated>"}')
    tables = tmp_path / "reports" / "tables" / "02_tdm1_response"
    tables.mkdir(parents=True)
    pd.DataFrame({"parameter": ["ORR"], "estimate": [0.3]}).to_csv(
        tables / "results_summary.csv", index=False
    )
    return tmp_path


def _params() -> dict:
    return {
        "shared": {
            "raw_dir": "data/raw",
            "figures_dir": "figures",
            "tables_dir": "reports/tables",
        },
        "notebooks": {},
    }


def _index(root: Path, runs: dict[str, NotebookRun]) -> str:
    result = PipelineResult(runs=runs, seconds=12.3)
    return report.build_index(root, _params(), result, dt.datetime(2026, 11, 21, 10, 0))


def test_index_links_reports_shows_summary_gallery_and_escapes_captions(toy_outputs):
    page = _index(toy_outputs, {"02_tdm1_response": NotebookRun("02_tdm1_response", "ok", 4.2)})
    assert 'href="02_tdm1_response.html"' in page
    assert "Results summary" in page
    assert "ORR" in page
    # reports/ is self-contained: the gallery shows the copy inside reports/figures/
    assert '"figures/02_tdm1_response/km_pfs_treated.png"' in page
    copied = toy_outputs / "reports" / "figures" / "02_tdm1_response" / "km_pfs_treated.png"
    assert copied.is_file()
    assert "KM of PFS &lt;treated&gt;" in page  # captions are escaped, not injected


def test_index_provenance_lists_input_sha256_and_synthetic_banner(toy_outputs):
    page = _index(toy_outputs, {})
    expected = hashlib.sha256(b"subject_id\nHC-001-0001\n").hexdigest()
    assert expected in page
    assert "SYNTHETIC demo cohort (seed 7" in page
    assert page.count("SYNTHETIC DATA: simulated demo cohort") == 1
    assert "Package versions" in page
    assert "lifelines" in page


def test_index_shows_failed_notebook_with_its_error(toy_outputs):
    failed = NotebookRun("03_nk_function_changes", "failed", 1.0, "cell 5: KeyError: 'GZMB'")
    page = _index(toy_outputs, {"03_nk_function_changes": failed})
    assert 'class="failed"' in page
    assert "cell 5: KeyError: &#x27;GZMB&#x27;" in page


def test_real_data_has_no_synthetic_banner(toy_outputs):
    (toy_outputs / "data" / "raw" / "manifest.json").unlink()
    page = _index(toy_outputs, {})
    assert "SYNTHETIC DATA" not in page
    assert "real trial export" in page


def test_outputs_changed_after_the_run_mark_the_notebook_stale(toy_outputs):
    from helpers.reporting import runs

    run = NotebookRun("02_tdm1_response", "ok", 4.2, parameters={"ci_level": 0.9})
    reports = toy_outputs / "reports"
    runs.record_run(
        run, run.parameters, toy_outputs / "figures", reports / "tables", reports, "run-1"
    )
    page = _index(toy_outputs, {})  # index rebuilt later, notebook not re-run
    assert "STALE" not in page
    assert "ci_level" in page  # the parameters the notebook ran with
    # re-run in JupyterLab: a figure changes after the report was built
    (toy_outputs / "figures" / "02_tdm1_response" / "km_pfs_treated.png").write_bytes(b"new")
    page = _index(toy_outputs, {})
    assert "STALE" in page
    assert "figures/km_pfs_treated.png" in page
    assert "python -m helpers.pipeline --only 02_tdm1_response" in page


def test_failed_or_never_run_notebook_shows_no_older_results(toy_outputs):
    failed = NotebookRun("02_tdm1_response", "failed", 1.0, "cell 3: ValueError: x")
    page = _index(toy_outputs, {"02_tdm1_response": failed})
    assert "Results summary" not in page
    assert "km_pfs_treated.png" not in page
    assert "No results shown" in page
    assert not (toy_outputs / "reports" / "figures" / "02_tdm1_response").exists()


def test_notebook_is_stale_when_a_prerequisite_ran_after_it(toy_outputs):
    from helpers.reporting import runs

    reports = toy_outputs / "reports"
    for name, run_id in (
        ("02_tdm1_response", "2026-01-01T10:00:00Z"),
        ("00_data_preparation", "2026-01-02T10:00:00Z"),
    ):
        run = NotebookRun(name, "ok", 1.0)
        runs.record_run(run, {}, toy_outputs / "figures", reports / "tables", reports, run_id)
    page = _index(toy_outputs, {})
    assert "00_data_preparation ran again after this notebook" in page


def test_index_links_workbook_and_rtf_of_tlg_tables(toy_outputs):
    from openpyxl import load_workbook

    page = _index(toy_outputs, {"02_tdm1_response": NotebookRun("02_tdm1_response", "ok", 4.2)})
    reports = toy_outputs / "reports"
    assert 'href="exports/02_tdm1_response.xlsx"' in page
    assert 'href="exports/02_tdm1_response/results_summary.rtf"' in page
    rtf = (reports / "exports" / "02_tdm1_response" / "results_summary.rtf").read_text()
    assert rtf.startswith("{\\rtf1")
    assert "SYNTHETIC DATA" in rtf
    assert load_workbook(reports / "exports" / "02_tdm1_response.xlsx").sheetnames == [
        "results_summary"
    ]


def test_notebook_page_shows_the_parameters_it_ran_with(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 02 · T-DM1")]
    nb.metadata["papermill"] = {"parameters": {"ci_level": 0.9, "cutoff_date": "2026-03-31"}}
    path = tmp_path / "02_tdm1_response.ipynb"
    nbformat.write(nb, path)
    page = report.render_notebook_html(path, synthetic=True)
    assert "Parameters this notebook ran with" in page
    assert "ci_level" in page
    assert "&quot;2026-03-31&quot;" in page
    assert 'href="index.html#02_tdm1_response"' in page
    assert page.index("SYNTHETIC DATA") < page.index("Parameters this notebook ran with")


def test_figure_copies_follow_the_source_folder(tmp_path):
    from helpers.reporting import bundle

    source = tmp_path / "figures" / "nb"
    source.mkdir(parents=True)
    (source / "a.png").write_bytes(b"1")
    (source / "b.png").write_bytes(b"2")
    reports = tmp_path / "reports"
    target = bundle.copy_figures(tmp_path / "figures", reports, "nb")
    assert sorted(p.name for p in target.iterdir()) == ["a.png", "b.png"]
    (source / "b.png").unlink()
    (source / "a.png").write_bytes(b"changed")
    bundle.copy_figures(tmp_path / "figures", reports, "nb")
    assert sorted(p.name for p in target.iterdir()) == ["a.png"]
    assert (target / "a.png").read_bytes() == b"changed"
