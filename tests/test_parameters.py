"""Parameters always apply: ``--set`` / ``--params-file`` reach notebook keys, through the CLI.

Tested through ``python -m helpers.pipeline``'s ``main([...])`` on a copy of the repository's
``params.yaml`` and notebooks (``TRIALS_REPO_ROOT``), with papermill replaced by a recorder so that
the test sees exactly the parameters each notebook would be executed with.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from pathlib import Path

import pytest

from helpers import config, io
from helpers.pipeline import runner
from helpers.reporting import report
from helpers.reporting.runs import NotebookRun, PipelineResult

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    for trial in config.TRIALS:  # both trials supplied (the runner skips a trial without a folder)
        (tmp_path / "data" / "raw" / trial).mkdir(parents=True)
    (tmp_path / "data" / "raw" / "everolimus_nk" / "western_blot.csv").write_text("subject_id\n")
    monkeypatch.setenv(config.ROOT_ENV_VAR, str(tmp_path))
    return tmp_path


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """notebook name -> parameters papermill was asked to inject (no kernel is started)."""
    import papermill

    from helpers.pipeline import kernels

    seen: dict[str, dict] = {}

    def fake_execute(source, output, parameters, **_):
        seen[Path(source).stem] = dict(parameters)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(kernels, "fresh_kernel", lambda root: contextlib.nullcontext())
    return seen


def _run(*args: str) -> int:
    return runner.main(["--fresh-kernels", "--no-index", "--jobs", "1", *args])


def test_unqualified_notebook_key_reaches_its_notebook(repo, executed):
    assert _run("--only", "02_tdm1_response", "--set", "simon_p1=0.30") == 0
    assert executed["02_tdm1_response"]["simon_p1"] == 0.30
    assert executed["02_tdm1_response"]["simon_p0"] == 0.05  # untouched keys keep params.yaml


def test_qualified_key_and_shared_key_reach_the_notebook(repo, executed):
    args = ["--set", "02_tdm1_response.simon_p1=0.3", "--set", "ci_level=0.9"]
    assert _run("--only", "02_tdm1_response", "03_nk_function_changes", *args) == 0
    assert executed["02_tdm1_response"]["simon_p1"] == 0.3
    assert executed["02_tdm1_response"]["ci_level"] == 0.9
    assert executed["03_nk_function_changes"]["ci_level"] == 0.9
    assert "simon_p1" not in executed["03_nk_function_changes"]


def test_params_file_sections_and_flat_keys_apply(repo, executed, tmp_path):
    overrides = tmp_path / "over.yaml"
    overrides.write_text(
        "cutoff_date: 2026-03-31\n04_mtor_status:\n  landmark_months: 6.0\n"
        "notebooks:\n  03_nk_function_changes:\n    fall_pct: 40.0\n"
    )
    assert _run("--only", "03_nk_function_changes", "04_mtor_status", "--params-file",
                str(overrides)) == 0  # fmt: skip
    assert executed["04_mtor_status"]["landmark_months"] == 6.0
    assert executed["03_nk_function_changes"]["landmark_months"] is None  # params.yaml: null
    assert executed["03_nk_function_changes"]["fall_pct"] == 40.0
    assert executed["04_mtor_status"]["cutoff_date"] == "2026-03-31"  # dates stay ISO text


def test_misspelt_key_is_an_error_with_the_closest_names(repo, executed, capsys):
    with pytest.raises(SystemExit) as info:
        _run("--set", "simon_p2=0.3")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Unknown parameter 'simon_p2'" in err
    assert "simon_p1" in err
    assert "simon_p0" in err
    assert executed == {}  # nothing ran


def test_unknown_key_in_a_named_section_and_unknown_section_are_errors(repo, capsys):
    with pytest.raises(SystemExit):
        _run("--set", "03_nk_function_changes.simon_p1=0.3")
    assert "(it is in ['02_tdm1_response'])" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run("--set", "02_tdm1_respons.simon_p1=0.3")
    assert "did you mean ['02_tdm1_response']" in capsys.readouterr().err


def test_ambiguous_key_names_the_sections_that_hold_it(repo, capsys):
    with pytest.raises(SystemExit):
        _run("--set", "landmark_months=6")
    err = capsys.readouterr().err
    assert "'landmark_months' is ambiguous" in err
    assert "03_nk_function_changes" in err
    assert "04_mtor_status" in err
    assert "--set 04_mtor_status.landmark_months=" in err


def test_show_params_lists_effective_values_and_marks_overrides(repo, capsys):
    assert runner.main(["--show-params", "--only", "02_tdm1_response", "--set", "simon_p1=.3"]) == 0
    out = capsys.readouterr().out
    assert "simon_p1 = 0.3   (overridden; params.yaml: 0.25)" in out
    assert "simon_p0 = 0.05\n" in out


def test_report_shows_each_notebooks_parameters_and_overrides(repo):
    params, applied = config.apply_overrides(config.load_params(), {"simon_p1": 0.3})
    runs = {"02_tdm1_response": NotebookRun("02_tdm1_response", "ok", parameters={"simon_p1": 0.3})}
    page = report.build_index(
        repo, params, PipelineResult(runs), dt.datetime(2026, 1, 1), overrides=applied
    )
    assert "Parameters of this run (1, 1 overridden)" in page
    assert "<b>overridden</b> (params.yaml: 0.25)" in page
    assert "02_tdm1_response.simon_p1 = 0.3" in page


# --- real or synthetic, per trial folder ---------------------------------------------------------


def test_real_export_next_to_the_demo_of_the_other_trial_is_labelled_per_trial(
    demo_raw_dir: Path, tmp_path: Path
):
    raw = tmp_path / "raw"
    shutil.copytree(demo_raw_dir, raw)
    assert io.is_synthetic(raw, "everolimus_nk")
    assert io.is_synthetic(raw, "her2_ctc_tdm1")
    for path in (raw / "everolimus_nk").glob("*.csv"):  # a real export replaces the folder
        path.write_text(path.read_text().replace("\n", "\r\n"))
    assert io.is_synthetic(raw, "her2_ctc_tdm1")
    assert not io.is_synthetic(raw, "everolimus_nk")
    assert report.is_synthetic_notebook(raw, "02_tdm1_response")
    assert not report.is_synthetic_notebook(raw, "04_mtor_status")
    assert "everolimus_nk: real trial export" in report.data_label(raw, "00_data_preparation")
    assert "SYNTHETIC" in report.data_label(raw, "01_screening_rate")
