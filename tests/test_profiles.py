"""Every analysis survives a real small trial (issue 12): each edge-case profile of the simulator
runs through all notebooks via the pipeline, and the key estimates match the profile's truth.

The profiles (``helpers.data.simulate.profiles``) are cut from the demo simulator; their manifest
states what they are and their known truth (exact counts). Each profile is run once per test
session (module fixture), in a temporary output tree, with the repository's notebooks and
parameters, like ``tests/test_pipeline_run.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from helpers import config, io
from helpers.data import derive, schemas, validation
from helpers.data.simulate import profiles
from helpers.data.simulate.cohort import main as simulate_main
from helpers.pipeline import runner as pipeline
from helpers.reporting.runs import NOT_SUPPLIED

HER2, EVERO = "her2_ctc_tdm1", "everolimus_nk"
HER2_NOTEBOOKS = ("01_screening_rate", "02_tdm1_response")
EVERO_NOTEBOOKS = ("03_nk_function_changes", "04_mtor_status")
#: Methods whose estimate from fewer patients would be one patient's own value.
OBSERVED_ORR = "ORR (confirmed), EFFFL: observed proportion (ignores the two-stage design)"
MIN_N_BY_METHOD = {
    "Hodges–Lehmann": 2,
    "geometric means": 2,
    "Kaplan–Meier": 3,
    "Cox proportional hazards": 3,
}


def _write_profile(name: str, raw: Path) -> dict:
    tables, manifest = profiles.simulate_profile(name)
    for trial, trial_tables in tables.items():
        io.write_csv_tables(trial_tables, raw / trial)
    io.write_json(manifest, raw / io.MANIFEST)
    return manifest


class ProfileRun:
    def __init__(self, name: str, out: Path) -> None:
        self.name = name
        self.out = out
        self.manifest = _write_profile(name, out / "raw")
        params = config.load_params()
        params["shared"].update(
            raw_dir=str(out / "raw"),
            processed_dir=str(out / "processed"),
            figures_dir=str(out / "figures"),
            tables_dir=str(out / "tables"),
        )
        self.log: list[str] = []
        self.result = pipeline.run_pipeline(
            config.repo_root(),
            params,
            list(pipeline.NOTEBOOK_DAG),
            jobs=2,
            log=self.log.append,
            reports_dir=out / "reports",
        )

    def truth(self, trial: str) -> dict:
        return self.manifest["truth"][trial]

    def table(self, notebook: str, name: str) -> pd.DataFrame:
        return pd.read_csv(self.out / "tables" / notebook / f"{name}.csv")

    def row(self, notebook: str, name: str, starts: str) -> pd.Series:
        t = self.table(notebook, name)
        hits = t[t["parameter"].eq(starts)]  # the exact label first, else the one it starts
        if hits.empty:
            hits = t[t["parameter"].str.startswith(starts)]
        assert len(hits) == 1, (starts, t["parameter"].tolist())
        return hits.iloc[0]


@pytest.fixture(scope="module", params=sorted(profiles.PROFILES))
def run(request, tmp_path_factory) -> ProfileRun:
    return ProfileRun(request.param, tmp_path_factory.mktemp(request.param))


# --------------------------------------------------------------------------------------------
# Every profile: the pipeline finishes, every analysis writes its results summary
# --------------------------------------------------------------------------------------------


def test_profile_runs_through_every_notebook(run):
    errors = {
        n: r.error for n, r in run.result.runs.items() if r.status not in ("ok", NOT_SUPPLIED)
    }
    assert run.result.ok, errors
    supplied = set(run.manifest["trials_supplied"])
    absent = set(run.truth(EVERO)["tables_absent"]) if EVERO in supplied else set()
    for name in (*HER2_NOTEBOOKS, *EVERO_NOTEBOOKS):
        trial = HER2 if name in HER2_NOTEBOOKS else EVERO
        expected = "ok" if trial in supplied else NOT_SUPPLIED
        if name == "04_mtor_status" and "western_blot" in absent:
            expected = NOT_SUPPLIED
        assert run.result.runs[name].status == expected, name
        # results_summary is always written, also for a notebook that could not run
        assert (run.out / "tables" / name / "results_summary.csv").is_file(), name


def test_skipped_notebooks_say_why(run):
    for name, r in run.result.runs.items():
        if r.status != NOT_SUPPLIED:
            continue
        summary = run.table(name, "results_summary")
        assert summary["note"].tolist() == [r.error]
        assert any(line.startswith(f"  skip  {name}: ") for line in run.log)
        assert "not supplied" in r.error


def test_no_estimate_is_drawn_from_too_few_patients(run):
    # every saved table of every notebook, not only the results summaries
    for path in sorted((run.out / "tables").rglob("*.csv")):
        try:
            table = pd.read_csv(path)
        except pd.errors.EmptyDataError:  # an empty table (e.g. FCS QC without FCS files)
            continue
        if not {"method", "N", "estimate", "note"} <= set(table.columns):
            continue
        for key, minimum in MIN_N_BY_METHOD.items():
            rows = table[table["method"].fillna("").str.contains(key)]
            small = rows[rows["N"] < minimum]
            name = path.relative_to(run.out)
            assert small["estimate"].isna().all(), (name, small[["parameter", "N"]])
            notes = small["note"].fillna("").astype(str)
            assert notes.str.contains("not estimable|not available").all(), (name, small)


def test_response_and_event_counts_match_the_profile_truth(run):
    if HER2 in run.manifest["trials_supplied"]:
        truth = run.truth(HER2)
        orr = run.row("02_tdm1_response", "response_rates", "ORR (CR+PR), EFFFL (N=")
        assert (orr["n"], orr["N"]) == (
            truth["n_confirmed_responders"],
            truth["n_efficacy_evaluable"],
        )
        pfs = run.row("02_tdm1_response", "km_pfs_os_followup", "PFS, treated: median")
        assert (pfs["n"], pfs["N"]) == (truth["n_pfs_events"], truth["n_treated"])
        os_ = run.row("02_tdm1_response", "km_pfs_os_followup", "OS, treated: median")
        assert os_["n"] == truth["n_os_events"]
    if EVERO in run.manifest["trials_supplied"]:
        truth = run.truth(EVERO)
        orr = run.row("03_nk_function_changes", "orr_dcr_efficacy_evaluable", "ORR (CR+PR)")
        assert (orr["n"], orr["N"]) == (
            truth["n_confirmed_responders"],
            truth["n_efficacy_evaluable"],
        )
        pfs = run.row("03_nk_function_changes", "pfs_km_summary", "PFS, treated: median")
        assert pfs["n"] == truth["n_pfs_events"]
        if truth["n_treated"] < 3:
            assert pfs["note"].startswith(f"not estimable: {truth['n_treated']} patients")


# --------------------------------------------------------------------------------------------
# Profile-specific edge cases and their messages
# --------------------------------------------------------------------------------------------


def _only(run, name):
    if run.name != name:
        pytest.skip(f"checked on profile {name}")


def test_one_responder_association_rows_are_not_estimable(run):
    _only(run, "one_responder")
    assoc = run.table("02_tdm1_response", "fish_efficacy_associations")
    hl = assoc[assoc["parameter"].str.contains("HL shift")]
    assert len(hl) == 3
    assert hl["estimate"].isna().all()
    assert (hl["note"] == "not estimable: 1 responder with a value").all()
    orr = run.row(
        "02_tdm1_response",
        "orr_design_adjusted",
        "ORR (confirmed), EFFFL: observed proportion (ignores the two-stage design)",
    )
    assert (orr["n"], orr["N"]) == (1, 10)
    assert math.isclose(orr["estimate"], 0.1)


def test_one_responder_fish_boundary_cells_called_at_the_cut_off(run):
    _only(run, "one_responder")
    threshold = config.load_params()["shared"]["ratio_threshold"]
    key = {2.0: "amplified_at_2_0", 2.2: "amplified_at_2_2"}[threshold]
    cells = pd.read_parquet(run.out / "processed" / HER2 / "adcell.parquet")
    for cell in run.truth(HER2)["fish_boundaries"]["cells"]:
        row = cells[
            cells["USUBJID"].eq(cell["subject_id"])
            & cells["CELLID"].eq(cell["cell_id"])
            & cells["READER"].eq("R1")
        ]
        assert row["AMPFL"].tolist() == ["Y" if cell[key] else "N"], cell


def test_stage1_stop_is_reported_and_absent_tables_say_not_available(run):
    _only(run, "stage1_stop")
    orr = run.row(
        "02_tdm1_response",
        "orr_design_adjusted",
        "ORR (confirmed), EFFFL: observed proportion (ignores the two-stage design)",
    )
    assert (orr["n"], orr["N"]) == (0, 9)
    assert orr["note"] == "trial stopped for futility at stage 1"
    ctc = run.table("02_tdm1_response", "ctc_changes")
    assert (ctc["note"] == "not available: table ctc_followup not supplied").all()
    dna = run.table("02_tdm1_response", "ctdna_changes")
    assert (dna["note"] == "not available: table ctdna not supplied").all()
    if_table = run.table("01_screening_rate", "fish_vs_if")
    assert if_table["note"].tolist() == [
        "not available: table ctc_if not supplied (no CTC scoreable by R1 has an IF result)"
    ]
    readers = run.table("01_screening_rate", "reader_agreement")
    assert readers["estimate"].isna().all()
    nk_changes = run.table("03_nk_function_changes", "nk_marker_changes")
    assert nk_changes["note"].str.startswith("not available: table nk_flow not supplied").all()
    mtor = run.table("04_mtor_status", "results_summary")
    assert mtor["note"].tolist() == [
        "not available: table western_blot not supplied (everolimus_nk)"
    ]
    m9 = run.table("03_nk_function_changes", "gzmb_change_from_baseline")
    m9 = m9[m9["visit"].eq("M9")]
    assert m9["estimate"].isna().all()
    assert m9["note"].str.contains("not estimable: 0 complete pairs").any()


def test_all_responding_has_no_event_and_no_non_responder_group(run):
    _only(run, "all_responding")
    assoc = run.table("02_tdm1_response", "fish_efficacy_associations")
    hl = assoc[assoc["parameter"].str.contains("HL shift")]
    assert (hl["note"] == "not estimable: 0 non-responders with a value").all()
    pfs = run.row("02_tdm1_response", "km_pfs_os_followup", "PFS, treated: median")
    assert pfs["note"].startswith("median not reached")
    cox = assoc[assoc["parameter"].str.startswith("PFS HR")]
    assert cox["note"].str.startswith("not estimable").all()


def test_groups_of_two_are_compared_with_a_warning(run):
    _only(run, "her2_only")
    assoc = run.table("02_tdm1_response", "fish_efficacy_associations")
    hl = assoc[assoc["parameter"].str.contains("HL shift")]
    assert (hl["n"] == 2).all()
    assert hl["note"].str.startswith("fewer than 3 patients in a group").all()
    assert hl["note"].str.contains("p exact").all()


GZMB_ABSENT = "not available: table granzyme_b not supplied"


def test_granzyme_b_absent_sections_say_not_available(run):
    _only(run, "everolimus_only")
    assert run.truth(EVERO)["tables_absent"] == ["granzyme_b"]
    nb = "03_nk_function_changes"
    for name in (
        "gzmb_descriptives_by_visit",
        "gzmb_change_from_baseline",
        "gzmb_level_by_visit",
        "gzmb_estimand_views",
        "gzmb_detectable_effect",
    ):
        table = run.table(nb, name)
        assert len(table), name
        assert (table["note"] == GZMB_ABSENT).all(), name
        if "estimate" in table.columns:
            assert table["estimate"].isna().all(), name
    per_visit = run.table(nb, "gzmb_samples_per_visit").set_index("status")
    treated = per_visit.loc["Treated patients (N)"]
    assert (per_visit.loc[GZMB_ABSENT] == treated).all()
    for name in (
        "early_change_vs_response",
        "early_change_vs_landmark_pfs",
        "early_change_time_dependent_cox_pfs",
    ):
        table = run.table(nb, name)
        gzmb = table["PARAMCD"].eq("GZMB")
        assert gzmb.any(), name
        assert (table.loc[gzmb, "note"] == GZMB_ABSENT).all(), name
        assert not table.loc[~gzmb, "note"].eq(GZMB_ABSENT).any(), name  # NK rows go on
    # results_summary is written and its primary-endpoint row says why it has no number
    summary = run.table(nb, "results_summary")
    primary = summary[summary["parameter"].str.endswith("(primary estimate)")]
    assert len(primary) == 1
    assert primary["estimate"].isna().all()
    assert primary["note"].tolist() == [GZMB_ABSENT]
    assert summary["parameter"].str.startswith("NK count").any()  # the notebook went on
    # notebook 04 runs (western_blot supplied): the granzyme B correlation says not available
    corr = run.table("04_mtor_status", "correlations_inhibition_nk").set_index("PARAMCD")
    assert corr.loc["GZMB", "note"] == GZMB_ABSENT
    assert pd.isna(corr.loc["GZMB", "estimate"])
    mtor_summary = run.table("04_mtor_status", "results_summary")
    assert mtor_summary["note"].eq(GZMB_ABSENT).sum() == 1


@pytest.mark.parametrize(("name", "absent"), [("her2_only", EVERO), ("everolimus_only", HER2)])
def test_one_trial_only_runs_that_trials_notebooks(run, name, absent):
    _only(run, name)
    skipped = [n for n, r in run.result.runs.items() if r.status == NOT_SUPPLIED]
    assert skipped == list(HER2_NOTEBOOKS if absent == HER2 else EVERO_NOTEBOOKS)


# --------------------------------------------------------------------------------------------
# Profiles without the pipeline: contract, truth, command line
# --------------------------------------------------------------------------------------------


def _derive(tables: dict, trial: str, threshold: float) -> dict:
    text = {n: profiles._as_raw_text(df) for n, df in tables[trial].items()}
    typed = validation.validate_trial(text, trial)
    p = derive.DerivationParams(cutoff_date=profiles.CUTOFF_DATE, ratio_threshold=threshold)
    return derive.DERIVATIONS[trial](typed, p).datasets


@pytest.mark.parametrize("threshold", [2.0, 2.2])
def test_fish_boundary_ratios_flip_with_the_cut_off(threshold):
    # 2/1, 4/2, 6/3 = 2.0; 13/6 = 2.17; 17/8 = 2.125: amplified at 2.0 only. 11/5 = 2.2 exactly
    # and 9/4 = 2.25: amplified at both (ratio >= cut-off).
    tables, manifest = profiles.simulate_profile("one_responder")
    truth = manifest["truth"][HER2]["fish_boundaries"]
    ds = _derive(tables, HER2, threshold)
    cells = ds["adcell"].set_index(["USUBJID", "CELLID", "READER"])
    key = "amplified_at_2_0" if threshold == 2.0 else "amplified_at_2_2"
    for cell in truth["cells"]:
        got = cells.loc[(cell["subject_id"], cell["cell_id"], "R1"), "AMPFL"]
        assert got == ("Y" if cell[key] else "N"), cell
    patient = ds["adctc"].set_index("USUBJID")["HER2AMPFL"]
    for subject, amplified in truth[f"patient_{key}"].items():
        assert patient[subject] == ("Y" if amplified else "N")


def test_profile_tables_keep_the_raw_data_contract():
    for name in profiles.PROFILES:
        tables, manifest = profiles.simulate_profile(name)
        assert manifest["synthetic"] is True
        assert manifest["profile"] == name
        for trial, trial_tables in tables.items():
            assert set(trial_tables) <= set(schemas.TRIAL_TABLES[trial])
            validation.validate_trial(
                {n: profiles._as_raw_text(df) for n, df in trial_tables.items()}, trial
            )


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="Unknown profile 'tiny'"):
        profiles.simulate_profile("tiny")


def test_cli_writes_a_profile_and_refuses_a_stale_other_trial(tmp_path, capsys):
    out = tmp_path / "raw"
    assert simulate_main(["--profile", "her2_only", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [HER2, io.MANIFEST]
    assert io.load_manifest(out)["profile"] == "her2_only"
    with pytest.raises(SystemExit):
        simulate_main(["--profile", "everolimus_only", "--out", str(out)])
    assert "supplies no her2_ctc_tdm1 data" in capsys.readouterr().err


def test_runner_lists_the_notebooks_whose_inputs_are_absent(tmp_path):
    (tmp_path / EVERO).mkdir()
    missing = pipeline.unsupplied_inputs(tmp_path, list(pipeline.NOTEBOOK_DAG))
    assert missing == {
        "01_screening_rate": f"trial {HER2} not supplied (no folder {HER2}/ in the raw data)",
        "02_tdm1_response": f"trial {HER2} not supplied (no folder {HER2}/ in the raw data)",
        "04_mtor_status": f"not available: table western_blot not supplied ({EVERO})",
    }
