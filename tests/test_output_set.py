"""Outputs never stale, never half-written: data preparation's staged output set and the check
that analysis notebooks run first (``io.validate_processed_current``).

The steps are those of notebook 00's last cell: tables saved into ``stage.tables``, datasets into
the staging folder, then one ``commit_outputs``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers import config, io
from helpers.data import schemas
from helpers.reporting import report

NB = "00_data_preparation"
TRIAL = "everolimus_nk"


def _snapshot(*folders: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder.parent)): io.sha256_file(p)
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _prepare(raw: Path, processed: Path, tables: Path, datasets: dict, qc: pd.DataFrame) -> None:
    """Notebook 00's writing sequence on ``raw`` (loaded through the real loader)."""
    loaded = {
        t: io.load_raw_trial(raw, t, schemas.raw_column_kinds(t))
        for t in config.TRIALS
        if (raw / t).is_dir()
    }
    stage = io.stage_outputs(processed, tables, NB)
    io.save_table(qc, NB, "qc_exclusions", stage.tables)
    hashes = io.write_staged_datasets(stage, datasets)
    io.commit_outputs(stage, {"outputs": hashes, **io.describe_raw_inputs(raw, loaded)})


@pytest.fixture
def setup(demo_raw_dir: Path, tmp_path: Path):
    raw = tmp_path / "data" / "raw"
    shutil.copytree(demo_raw_dir, raw)
    processed, tables = tmp_path / "data" / "processed", tmp_path / "reports" / "tables"
    processed.mkdir(parents=True)
    (processed / "README.md").write_text("kept\n")
    return raw, processed, tables


def _datasets(version: int, with_adwb: bool = True) -> dict[str, pd.DataFrame]:
    out = {
        f"{TRIAL}/adsl.parquet": pd.DataFrame({"USUBJID": ["a", "b"], "V": [version] * 2}),
        f"{TRIAL}/adbm.parquet": pd.DataFrame({"USUBJID": ["a"], "AVAL": [float(version)]}),
    }
    if with_adwb:
        out[f"{TRIAL}/adwb.parquet"] = pd.DataFrame({"LANE": [1], "V": [version]})
    return out


def test_failure_mid_write_leaves_the_previous_complete_set_untouched(setup, monkeypatch):
    raw, processed, tables = setup
    _prepare(raw, processed, tables, _datasets(1), pd.DataFrame({"RULE": ["v1"]}))
    before = _snapshot(processed, tables)
    assert "processed/everolimus_nk/adwb.parquet" in before
    assert "tables/00_data_preparation/qc_exclusions.csv" in before

    real_write, calls = io.write_parquet, []

    def failing_write(df, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full (simulated, second dataset)")
        return real_write(df, path)

    monkeypatch.setattr(io, "write_parquet", failing_write)
    with pytest.raises(OSError, match="disk full"):
        _prepare(raw, processed, tables, _datasets(2), pd.DataFrame({"RULE": ["v2"]}))
    assert len(calls) == 2  # the new QC table and one dataset were already written (staged)
    assert _snapshot(processed, tables) == before  # tables and datasets still agree: version 1
    io.validate_processed_current(processed, raw, TRIAL)  # and the set is still current


def test_a_dataset_whose_raw_table_was_removed_disappears(setup):
    raw, processed, tables = setup
    _prepare(raw, processed, tables, _datasets(1), pd.DataFrame({"RULE": ["v1"]}))
    (raw / TRIAL / "western_blot.csv").unlink()
    _prepare(raw, processed, tables, _datasets(2, with_adwb=False), pd.DataFrame({"RULE": ["v2"]}))
    assert not (processed / TRIAL / "adwb.parquet").exists()
    assert pd.read_parquet(processed / TRIAL / "adsl.parquet")["V"].eq(2).all()
    assert (processed / "README.md").read_text() == "kept\n"
    assert not processed.with_name("processed.staging").exists()
    assert not processed.with_name("processed.old").exists()
    io.validate_processed_current(processed, raw, TRIAL)


@pytest.mark.parametrize("change", ["edit", "remove", "add", "dataset"])
def test_analysis_check_stops_on_stale_processed_data(setup, change):
    raw, processed, tables = setup
    _prepare(raw, processed, tables, _datasets(1), pd.DataFrame({"RULE": ["v1"]}))
    io.validate_processed_current(processed, raw, TRIAL)
    io.validate_processed_current(processed, raw, "her2_ctc_tdm1")
    target = raw / TRIAL / "granzyme_b.csv"
    if change == "edit":
        target.write_text(target.read_text().replace("M3", "M9", 1))
        expected = "everolimus_nk/granzyme_b.csv changed"
    elif change == "remove":
        target.unlink()
        expected = "everolimus_nk/granzyme_b.csv was removed"
    elif change == "add":
        shutil.copy(raw / "her2_ctc_tdm1" / "ctdna.csv", raw / TRIAL / "ctdna.csv")
        expected = "everolimus_nk/ctdna.csv is new"
    else:
        pd.DataFrame({"x": [1]}).to_parquet(processed / TRIAL / "adbm.parquet")
        expected = "adbm.parquet is not the file data preparation wrote"
    with pytest.raises(io.StaleDataError, match="processed data are stale: run 00_data_prep") as e:
        io.validate_processed_current(processed, raw, TRIAL)
    assert expected in str(e.value)
    io.validate_processed_current(processed, raw, "her2_ctc_tdm1")  # the other trial is current


def test_manifest_records_dialect_encoding_and_synthetic_per_file_and_trial(setup):
    raw, processed, tables = setup
    path = raw / TRIAL / "granzyme_b.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    path.write_bytes(df.to_csv(index=False, sep=";").replace(".", ",").encode("cp1252"))
    _prepare(raw, processed, tables, _datasets(1), pd.DataFrame({"RULE": ["v1"]}))
    manifest = io.load_manifest(processed)
    fmt = manifest["raw_formats"]["everolimus_nk/granzyme_b.csv"]
    assert (fmt["delimiter"], fmt["decimal"], fmt["type"]) == (";", ",", "csv")
    assert manifest["raw_formats"]["everolimus_nk/patients.csv"]["delimiter"] == ","
    # one re-saved file in a demo folder is not a real export: the folder stays synthetic
    assert manifest["synthetic_by_trial"] == {"her2_ctc_tdm1": True, "everolimus_nk": True}
    inputs = report.collect_inputs(raw, manifest["raw_formats"]).set_index("file")
    assert inputs.loc["everolimus_nk/granzyme_b.csv", "format"] == (
        "encoding utf-8, delimiter ';', decimal ,"
    )


def _run_notebook_00(raw: Path, processed: Path, tables: Path) -> None:
    """Execute notebook 00's code cells in this process, with paths under ``tmp_path``."""
    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / f"{NB}.ipynb", 4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, f"{NB}.ipynb", "exec"), namespace)
        if "parameters" in cell.metadata.get("tags", []):
            namespace.update(raw_dir=str(raw), processed_dir=str(processed), tables_dir=str(tables))


def test_notebook_00_interrupted_mid_write_leaves_the_previous_set_intact(setup, monkeypatch):
    raw, processed, tables = setup
    _run_notebook_00(raw, processed, tables)
    before = _snapshot(processed, tables)
    assert "processed/everolimus_nk/adwb.parquet" in before
    assert "tables/00_data_preparation/qc_exclusions.csv" in before
    (raw / TRIAL / "western_blot.csv").unlink()  # the new run would drop adwb
    real_write, calls = io.write_parquet, []

    def failing_write(df, path):
        calls.append(path)
        if len(calls) == 5:
            raise OSError("disk full (simulated, fifth dataset)")
        return real_write(df, path)

    monkeypatch.setattr(io, "write_parquet", failing_write)
    with pytest.raises(OSError, match="disk full"):
        _run_notebook_00(raw, processed, tables)
    assert _snapshot(processed, tables) == before  # QC tables were written first, staged only
    monkeypatch.setattr(io, "write_parquet", real_write)
    _run_notebook_00(raw, processed, tables)
    assert not (processed / TRIAL / "adwb.parquet").exists()
    io.validate_processed_current(processed, raw, TRIAL)  # the new set matches the raw folder


def test_changed_fcs_input_below_the_trial_folder_makes_the_data_stale(setup):
    raw, processed, tables = setup
    fcs = raw / TRIAL / "fcs" / "EV-001-0001_M3.fcs"
    fcs.parent.mkdir()
    fcs.write_bytes(b"FCS3.1 demo")
    _prepare(raw, processed, tables, _datasets(1), pd.DataFrame({"RULE": ["v1"]}))
    manifest = io.load_manifest(processed)
    manifest["inputs"] = {f"{TRIAL}/fcs/{fcs.name}": io.sha256_file(fcs)}
    io.write_json(manifest, processed / io.MANIFEST)
    io.validate_processed_current(processed, raw, TRIAL)
    fcs.write_bytes(b"FCS3.1 re-exported")
    with pytest.raises(io.StaleDataError, match=r"fcs/EV-001-0001_M3\.fcs changed"):
        io.validate_processed_current(processed, raw, TRIAL)
