"""The pipeline runner: ordering, parameter injection, failure handling, HTML rendering."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers.pipeline import runner as pipeline


@pytest.fixture
def toy_repo(tmp_path: Path, write_notebook) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "data" / "raw").mkdir(parents=True)
    write_notebook(
        tmp_path / "notebooks" / "a.ipynb",
        'value = "default"\nout = "a.txt"',
        "from pathlib import Path\nPath(out).write_text(str(value))",
    )
    write_notebook(tmp_path / "notebooks" / "b.ipynb", "x = 1", "raise ValueError('boom in b')")
    write_notebook(tmp_path / "notebooks" / "c.ipynb", "x = 1", "y = x + 1")
    return tmp_path


def _params(**shared):
    return {"shared": {"raw_dir": "data/raw", **shared}, "notebooks": {"a": {}, "b": {}, "c": {}}}


DAG = {"a": (), "b": ("a",), "c": ("b",)}


def test_runner_injects_only_declared_parameters_with_cwd_at_repo_root(toy_repo):
    params = _params(value="injected", undeclared=3)
    result = pipeline.run_pipeline(toy_repo, params, ["a"], jobs=1, log=lambda _: None, dag=DAG)
    assert result.runs["a"].status == "ok"
    assert (toy_repo / "a.txt").read_text() == "injected"
    assert (toy_repo / "reports" / "a.html").is_file()


def test_failing_cell_stops_branch_keeps_partial_notebook_and_reports_cell(toy_repo):
    lines: list[str] = []
    result = pipeline.run_pipeline(
        toy_repo, _params(), ["a", "b", "c"], jobs=2, log=lines.append, dag=DAG
    )
    assert not result.ok
    assert result.runs["b"].status == "failed"
    assert "ValueError" in result.runs["b"].error
    assert "boom in b" in result.runs["b"].error
    assert "cell" in result.runs["b"].error
    assert result.runs["c"].status == "skipped"
    assert (toy_repo / "reports" / "b.ipynb").is_file()
    assert any(line.startswith("  FAIL  b") for line in lines)


def test_html_rendering_hides_code_and_stamps_synthetic(toy_repo):
    (toy_repo / "data" / "raw" / "manifest.json").write_text('{"synthetic": true}')
    pipeline.run_pipeline(toy_repo, _params(), ["a"], jobs=1, log=lambda _: None, dag=DAG)
    page = (toy_repo / "reports" / "a.html").read_text()
    assert "SYNTHETIC DATA" in page
    assert "write_text" not in page  # code cells are excluded


def test_overrides_keep_dates_as_iso_strings_and_parse_numbers():
    parsed = pipeline.parse_overrides(["cutoff_date=2026-03-31", "ci_level=0.9", "name=x"])
    assert parsed == {"cutoff_date": "2026-03-31", "ci_level": 0.9, "name": "x"}
    with pytest.raises(ValueError, match="key=value"):
        pipeline.parse_overrides(["no_equals_sign"])


def test_select_notebooks_rejects_unknown_names():
    with pytest.raises(ValueError, match="Unknown notebook"):
        pipeline.select_notebooks(["99_nope"], pipeline.NOTEBOOK_DAG)
    assert pipeline.select_notebooks(["04_mtor_status"], pipeline.NOTEBOOK_DAG) == [
        "04_mtor_status"
    ]


def test_previous_durations_read_papermill_metadata_and_skip_unreadable(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": 4.5}
    nbformat.write(nb, tmp_path / "slow.ipynb")
    (tmp_path / "broken.ipynb").write_text("{not json")
    durations = pipeline.previous_durations(tmp_path, ["slow", "broken", "never_run"])
    assert durations == {"slow": 4.5}


def test_ready_notebooks_start_longest_first_by_the_previous_run(toy_repo, write_notebook):
    write_notebook(toy_repo / "notebooks" / "d.ipynb", "x = 1", "y = x + 2")
    dag = {"a": (), "c": ("a",), "d": ("a",)}
    reports = toy_repo / "reports"
    reports.mkdir()
    for name, seconds in (("c", 1.0), ("d", 9.0)):
        nb = nbformat.v4.new_notebook()
        nb.metadata["papermill"] = {"duration": seconds}
        nbformat.write(nb, reports / f"{name}.ipynb")
    lines: list[str] = []
    params = {"shared": {"raw_dir": "data/raw"}, "notebooks": {n: {} for n in dag}}
    result = pipeline.run_pipeline(
        toy_repo, params, ["a", "c", "d"], jobs=1, log=lines.append, dag=dag, fresh_kernels=True
    )
    assert result.ok
    starts = [line.split()[-1] for line in lines if line.startswith("  start")]
    assert starts == ["a", "d", "c"]


def test_a_kernel_that_dies_fails_its_notebook_and_is_replaced_for_the_next(
    toy_repo, write_notebook
):
    write_notebook(toy_repo / "notebooks" / "dies.ipynb", "x = 1", "import os\nos._exit(1)")
    dag = {"a": (), "dies": ("a",), "c": ("a",)}
    lines: list[str] = []
    params = {"shared": {"raw_dir": "data/raw"}, "notebooks": {n: {} for n in dag}}
    result = pipeline.run_pipeline(
        toy_repo, params, ["a", "dies", "c"], jobs=1, log=lines.append, dag=dag
    )
    assert result.runs["dies"].status == "failed"
    assert "DeadKernelError" in result.runs["dies"].error
    assert result.runs["c"].status == "ok"  # ran on a new kernel after the dead one
    assert any(line.startswith("  FAIL  dies") for line in lines)


def test_html_that_cannot_be_rendered_is_reported_and_the_run_still_counts(toy_repo, monkeypatch):
    from helpers.reporting import report

    def broken(*_args, **_kwargs):
        raise RuntimeError("template missing")

    monkeypatch.setattr(report, "render_notebook_html", broken)
    lines: list[str] = []
    result = pipeline.run_pipeline(toy_repo, _params(), ["a"], jobs=1, log=lines.append, dag=DAG)
    assert result.runs["a"].status == "ok"
    assert result.runs["a"].html is None
    assert any(
        "HTML  a could not be rendered: RuntimeError: template missing" in ln for ln in lines
    )
