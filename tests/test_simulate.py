"""Tests of the synthetic demo cohort (helpers.data.simulate).

Realised values are recomputed here from the raw tables with small, deliberately naive
implementations (written independently of the analysis modules) and compared with the manifest
truths at scale 10, where sampling error is small.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from helpers import io
from helpers.data import simulate, validation

ROOT = Path(__file__).resolve().parents[1]
HER2, EVERO = simulate.TRIAL_HER2, simulate.TRIAL_EVEROLIMUS
CUTOFF = pd.Timestamp(simulate.CUTOFF_DATE)

# Allowed codes, copied from docs/data_dictionary.md
ALLOWED = {
    ("patients", "sex"): {"F", "M"},
    ("patients", "hr_status"): {"positive", "negative"},
    ("patients", "her2_ihc"): {"0", "1+", "2+", "3+"},
    ("patients", "her2_ish"): {"negative", "positive", "not_done"},
    ("patients", "visceral_disease"): {"Y", "N"},
    ("exposure", "dose_unit"): {"mg/kg", "mg/day"},
    ("exposure", "action"): {"none", "reduced", "interrupted", "discontinued"},
    ("end_of_treatment", "eot_reason"): {
        "ongoing",
        "progression",
        "toxicity",
        "death",
        "withdrawal",
        "investigator_decision",
        "other",
    },
    ("tumour_lesions", "lesion_category"): {"target", "non_target", "new"},
    ("tumour_lesions", "lymph_node"): {"Y", "N"},
    ("tumour_lesions", "non_target_status"): {
        "present",
        "absent",
        "unequivocal_progression",
        "not_evaluable",
    },
    ("survival", "progression_type"): {"radiological", "clinical"},
    ("survival", "death_cause"): {"disease_progression", "toxicity", "other", "unknown"},
    ("adverse_events", "serious"): {"Y", "N"},
    ("adverse_events", "related"): {"Y", "N"},
    ("adverse_events", "action_taken"): {
        "none",
        "dose_reduced",
        "dose_interrupted",
        "drug_withdrawn",
    },
    ("ctc_screening", "cellsearch_status"): {"done", "failed"},
    ("ctc_screening", "fish_status"): {"done", "technical_failure", "not_done"},
    ("ctc_screening", "fish_failure_reason"): {
        "hybridisation_failure",
        "cell_loss",
        "poor_morphology",
        "other",
    },
    ("ctc_fish", "reader_id"): {"R1", "R2"},
    ("ctc_if", "if_score"): {"0", "1+", "2+", "3+"},
    ("ctc_followup", "visit"): {"C1D1", "C2D1", "C4D1", "EOT"},
    ("ctdna", "visit"): {"C1D1", "C2D1", "C4D1", "EOT"},
    ("ctdna", "below_lod"): {"Y", "N"},
    ("granzyme_b", "visit"): {"BASELINE", "M3", "M9"},
    ("granzyme_b", "below_lloq"): {"Y", "N"},
    ("nk_flow", "visit"): {"BASELINE", "M3", "M9"},
    ("nk_flow", "stimulation"): {"none", "K562"},
    ("nk_flow", "statistic"): {"freq_of_parent", "count", "count_per_ul", "median_fi"},
    ("western_blot", "lane_type"): {"sample", "calibrator"},
    ("western_blot", "band"): {"p_rpS6", "total_rpS6", "loading_control"},
    ("western_blot", "saturated"): {"Y", "N"},
    ("western_blot", "visit"): {"BASELINE", "M3", "M9"},
}
SITES = set(simulate.SITE_CODES)
ID_PATTERN = re.compile(r"^[A-Z0-9]+-[0-9]{3}-[0-9]{4}$")


# ------------------------------------------------------------------------------------------
# fixtures: simulate once per module (raw tables read back as text, as the pipeline does)
# ------------------------------------------------------------------------------------------
def _write_and_read(tables_by_trial, manifest, out: Path) -> dict[str, dict[str, pd.DataFrame]]:
    io.write_raw_cohort(tables_by_trial, manifest, out)
    return {
        trial: io.load_raw_trial(out, trial, simulate.TABLE_COLUMNS[trial])
        for trial in tables_by_trial
    }


@pytest.fixture(scope="module")
def cohort1(tmp_path_factory):
    tables, manifest = simulate.simulate_demo_cohort(simulate.DEFAULT_SEED, 1)
    out = tmp_path_factory.mktemp("raw1")
    return _write_and_read(tables, manifest, out), manifest, out


@pytest.fixture(scope="module")
def cohort10(tmp_path_factory):
    tables, manifest = simulate.simulate_demo_cohort(7, 10)
    out = tmp_path_factory.mktemp("raw10")
    return _write_and_read(tables, manifest, out), manifest


def _truth(manifest, trial, name):
    return manifest["true_parameters"][trial][name]["value"]


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m-%d")


# ------------------------------------------------------------------------------------------
# contract
# ------------------------------------------------------------------------------------------
def _contract_columns_from_data_dictionary() -> dict[str, list[str]]:
    """Parse the raw-table sections of docs/data_dictionary.md: table -> column names."""
    text = (ROOT / "docs" / "data_dictionary.md").read_text(encoding="utf-8")
    text = text.split("## Rules linking tables")[0]
    out: dict[str, list[str]] = {}
    for block in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        heading = re.match(r"`(\w+)`", block)
        if heading is None:  # e.g. "### Cell formats": not a table section
            continue
        name = heading.group(1)
        rows = [ln for ln in block.splitlines() if ln.startswith("| ")]
        cols = [r.split("|")[1].strip() for r in rows]
        out[name] = [c for c in cols if c not in ("column", "population path")]
        out[name] = [c for c in out[name] if re.fullmatch(r"[a-z0-9_]+", c)]
    return out


def test_tables_have_exactly_the_columns_of_docs_data_dictionary(cohort1):
    contract = _contract_columns_from_data_dictionary()
    raw, _, _ = cohort1
    common = [
        "patients",
        "exposure",
        "end_of_treatment",
        "tumour_lesions",
        "survival",
        "adverse_events",
    ]
    expected = {
        HER2: [*common, "ctc_screening", "ctc_fish", "ctc_if", "ctc_followup", "ctdna"],
        EVERO: [*common, "granzyme_b", "nk_flow", "western_blot"],
    }
    for trial, names in expected.items():
        assert sorted(raw[trial]) == sorted(names)
        for name in names:
            assert list(raw[trial][name].columns) == contract[name], (trial, name)


def test_codes_ids_and_ranges_within_the_data_dictionary(cohort1):
    raw, _, _ = cohort1
    for trial, tables in raw.items():
        for (table, col), allowed in ALLOWED.items():
            if table in tables:
                values = set(tables[table][col].dropna())
                assert values <= allowed, (trial, table, col, values - allowed)
        for name, df in tables.items():
            ids = df["subject_id"].dropna() if "subject_id" in df else pd.Series([], dtype=str)
            assert ids.map(lambda s: bool(ID_PATTERN.match(s))).all(), name
        pts = tables["patients"]
        assert pts["subject_id"].is_unique
        sites = pts["metastatic_sites"].str.split(";").explode()
        assert set(sites) <= SITES
        assert set(tables["tumour_lesions"]["organ"]) <= SITES
        assert pts["age"].astype(int).between(18, 100).all()
        assert pts["site_id"].nunique() in (3, 4, 5)
        assert pts["ecog"].astype(int).between(0, 4).all()
        assert (tables["adverse_events"]["grade"].astype(int).between(1, 5)).all()
    assert set(raw[HER2]["patients"]["subject_id"].str[:2]) == {"HC"}
    assert set(raw[EVERO]["patients"]["subject_id"].str[:2]) == {"EV"}
    flow = raw[EVERO]["nk_flow"]
    freq = flow["statistic"] == "freq_of_parent"
    assert flow.loc[freq, "value"].astype(float).between(0, 100).all()


def test_output_passes_the_projects_contract_validator_at_scales_1_and_10(cohort1, cohort10):
    # helpers.data.validation implements docs/data_dictionary.md (schemas + cross-table rules) and
    # raises DataValidationError listing every problem
    for raw in (cohort1[0], cohort10[0]):
        typed = validation.validate_trials(raw)
        assert set(typed) == {HER2, EVERO}


def test_no_cep17_zero_and_fish_only_when_ctcs(cohort1):
    raw, _, _ = cohort1
    fish, scr = raw[HER2]["ctc_fish"], raw[HER2]["ctc_screening"]
    assert (fish["cep17_signals"].astype(int) >= 1).all()
    assert (fish["her2_signals"].astype(int) >= 0).all()
    zero = scr["ctc_count"].fillna("0").astype(int) == 0
    assert (scr.loc[zero, "fish_status"] == "not_done").all()
    assert scr.loc[scr["cellsearch_status"] == "failed", "ctc_count"].isna().all()
    failed = scr["fish_status"] == "technical_failure"
    assert scr.loc[failed, "fish_failure_reason"].notna().all()
    assert scr.loc[~failed, "fish_failure_reason"].isna().all()
    fish_pts = set(fish["subject_id"])
    assert fish_pts <= set(scr.loc[scr["fish_status"] == "done", "subject_id"])
    r1 = fish[fish["reader_id"] == "R1"]
    assert set(map(tuple, raw[HER2]["ctc_if"][["subject_id", "cell_id"]].to_numpy())) == set(
        map(tuple, r1[["subject_id", "cell_id"]].to_numpy())
    )


def test_below_limit_values_are_empty_and_flagged(cohort1):
    raw, _, _ = cohort1
    dna = raw[HER2]["ctdna"]
    assert (dna["tumour_fraction_pct"].isna() == (dna["below_lod"] == "Y")).all()
    gz = raw[EVERO]["granzyme_b"]
    assert (gz["gzmb_pg_ml"].isna() == (gz["below_lloq"] == "Y")).all()
    wb = raw[EVERO]["western_blot"]
    assert (wb["lane_type"] == "calibrator").groupby(wb["membrane_id"]).sum().eq(3).all()
    assert wb[wb["lane_type"] == "sample"].groupby("membrane_id")["lane"].nunique().max() <= 12
    assert wb["saturated"].eq("Y").sum() in (1, 2)
    undetectable = wb[(wb["band"] == "p_rpS6") & (wb["intensity"].astype(float) == 0)]
    assert list(undetectable["visit"]) == ["M3"]


# ------------------------------------------------------------------------------------------
# determinism, sizes, CLI, manifest
# ------------------------------------------------------------------------------------------
def _csv_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.csv"))}


def test_same_seed_gives_identical_csv_bytes_and_other_seed_differs(cohort1, tmp_path):
    _, _, out1 = cohort1
    no_fcs = ["--fcs-patients", "0"]  # the FCS files have their own tests (test_cytometry.py)
    simulate.main(["--out", str(tmp_path / "a"), "--seed", str(simulate.DEFAULT_SEED), *no_fcs])
    simulate.main(["--out", str(tmp_path / "b"), "--seed", str(simulate.DEFAULT_SEED + 1), *no_fcs])
    same, other = _csv_bytes(tmp_path / "a"), _csv_bytes(tmp_path / "b")
    assert same == _csv_bytes(out1)
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (out1 / "manifest.json").read_bytes()
    assert same.keys() == other.keys()
    assert all(same[k] != other[k] for k in same if "patients" in k)


def test_manifest_marks_synthetic_and_records_truths(cohort1):
    _, _, out = cohort1
    assert io.is_synthetic(out)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["synthetic"] is True
    assert on_disk["seed"] == simulate.DEFAULT_SEED
    assert on_disk["scale"] == 1
    assert on_disk["generator_version"] == simulate.GENERATOR_VERSION
    assert on_disk["study_calendar"]["cutoff_date"] == simulate.CUTOFF_DATE
    for trial in (HER2, EVERO):
        for name, entry in on_disk["true_parameters"][trial].items():
            assert set(entry) == {"value", "definition", "method"}, name
    for name in (
        "her2_detection_rate_screened",
        "tdm1_orr_confirmed",
        "tdm1_pfs_median_months",
        "reader_disagreement",
        "fish_failure_rate",
    ):
        assert name in on_disk["true_parameters"][HER2]
    for name in ("gzmb_m3_ratio_geomean", "rps6_inhibition_m3_pct", "nk_marker_effects"):
        assert name in on_disk["true_parameters"][EVERO]
    assert on_disk["cohort"][HER2]["n_treated"] == 17
    assert on_disk["cohort"][EVERO]["n_enrolled"] == 36


def test_registry_truths_match_the_brief():
    her2, evero = simulate.compute_her2_truths(), simulate.compute_everolimus_truths()
    assert her2["her2_detection_rate_screened"]["value"] == pytest.approx(0.11, abs=0.005)
    by_ihc = her2["her2_detection_rate_by_ihc"]["value"]
    assert by_ihc["0"] < by_ihc["1+"] < by_ihc["2+"]
    assert her2["ctc_positive_rate_ge1"]["value"] == pytest.approx(0.65, abs=0.005)
    assert her2["ctc_positive_rate_ge5"]["value"] == pytest.approx(0.40, abs=0.005)
    assert her2["tdm1_orr_confirmed"]["value"] == pytest.approx(0.30, abs=0.005)
    assert her2["tdm1_dcr"]["value"] == pytest.approx(0.55, abs=0.005)
    assert her2["tdm1_pfs_median_months"]["value"] == pytest.approx(4.5, abs=0.5)
    assert her2["tdm1_os_median_months"]["value"] == pytest.approx(15, abs=1.0)
    assert evero["evero_orr_confirmed"]["value"] == pytest.approx(0.12, abs=0.01)
    assert evero["evero_pfs_median_months_latent"]["value"] == pytest.approx(7, abs=0.3)
    assert evero["evero_os_median_months"]["value"] == pytest.approx(24, abs=1.0)
    assert evero["rps6_inhibition_m3_pct"]["value"] == pytest.approx(60)


def test_detection_truth_matches_brute_force_monte_carlo_of_the_screening_model():
    # independent route: simulate the per-cell generative process directly, 100k patients
    m = simulate.CTC_MODEL
    rng = np.random.default_rng(123)
    n = 100_000
    p_nb = m.ctc_nb_size / (m.ctc_nb_size + m.ctc_nb_mean)
    count = rng.negative_binomial(m.ctc_nb_size, p_nb, n)
    ok = (rng.random(n) >= m.p_cellsearch_failure) & (rng.random(n) >= m.p_fish_failure)
    cells = np.minimum(count, m.max_cells_read)
    frac = rng.beta(*m.amplified_fraction_beta, n) * (1 - m.p_cell_not_scoreable)
    detected = ok & (rng.binomial(cells, frac) >= 1)
    p_det_latent = detected.mean()
    prevalence = simulate.compute_her2_truths()["her2_latent_amplified_prevalence"]["value"]
    truth = simulate.compute_her2_truths()["her2_detection_rate_screened"]["value"]
    assert prevalence * p_det_latent == pytest.approx(truth, abs=0.002)


def test_scale_3_triples_cohort_sizes(cohort1):
    raw1, _, _ = cohort1
    tables, manifest = simulate.simulate_demo_cohort(simulate.DEFAULT_SEED, 3)
    assert manifest["cohort"][HER2]["n_treated"] == 51
    assert manifest["cohort"][EVERO]["n_enrolled"] == 108
    ratio = manifest["cohort"][HER2]["n_screened"] / len(raw1[HER2]["patients"])
    assert 2.2 < ratio < 3.8
    assert len(tables[EVERO]["survival"]) == 108


def test_smallest_cohort_single_treated_patient_still_follows_the_contract():
    tables, manifest = simulate.simulate_demo_cohort(3, 0.03)
    assert manifest["cohort"][HER2]["n_treated"] == 1
    assert manifest["cohort"][EVERO]["n_enrolled"] == 1
    for trial, tabs in tables.items():
        for name, df in tabs.items():
            assert tuple(df.columns) == simulate.TABLE_COLUMNS[trial][name]
        assert len(tabs["survival"]) == len(tabs["end_of_treatment"]) == 1


def test_invalid_arguments_raise_with_fix_hint():
    with pytest.raises(TypeError, match="default_rng"):
        simulate.simulate_her2_ctc_tdm1(42, 1)
    with pytest.raises(ValueError, match="positive"):
        simulate.simulate_everolimus_nk(np.random.default_rng(1), 0)
    with pytest.raises(ValueError, match="non-negative integer"):
        simulate.simulate_demo_cohort(-1, 1)


# ------------------------------------------------------------------------------------------
# dates
# ------------------------------------------------------------------------------------------
def _pre_cutoff_record_dates(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every dated record (subject, date) on or before the cut-off."""
    cols = {
        "tumour_lesions": ["assessment_date"],
        "exposure": ["date_start"],
        "adverse_events": ["date_start", "date_end"],
        "ctc_followup": ["sample_date"],
        "ctdna": ["sample_date"],
        "granzyme_b": ["sample_date"],
        "nk_flow": ["sample_date"],
        "end_of_treatment": ["date_last_dose"],
        "survival": ["date_progression"],
    }
    parts = []
    for table, date_cols in cols.items():
        if table not in tables:
            continue
        df = tables[table]
        if table == "tumour_lesions":  # baseline imaging precedes the first dose (checked apart)
            df = df[df["visit"] != "BASELINE"]
        for c in date_cols:
            parts.append(df[["subject_id", c]].dropna().set_axis(["sid", "d"], axis=1))
    df = pd.concat(parts, ignore_index=True)
    df["d"] = _dates(df["d"])
    return df[df["d"] <= CUTOFF]


@pytest.mark.parametrize("trial", [HER2, EVERO])
def test_dates_are_ordered(cohort1, trial):
    raw, _, _ = cohort1
    t = raw[trial]
    start = _dates(t["patients"].set_index("subject_id")["date_treatment_start"]).dropna()
    surv = t["survival"].set_index("subject_id")
    les = t["tumour_lesions"]
    post = les[les["visit"] != "BASELINE"]
    assert (
        _dates(post["assessment_date"]).to_numpy() >= start[post["subject_id"]].to_numpy()
    ).all()
    base = les[les["visit"] == "BASELINE"]
    assert (_dates(base["assessment_date"]).to_numpy() < start[base["subject_id"]].to_numpy()).all()
    dead = surv["date_death"].notna()
    prog = surv["date_progression"].notna()
    assert (
        _dates(surv.loc[dead & prog, "date_death"])
        >= _dates(surv.loc[dead & prog, "date_progression"])
    ).all()
    assert (surv.loc[dead, "date_death"] == surv.loc[dead, "date_last_alive"]).all()
    assert (_dates(surv["date_last_alive"]) <= CUTOFF).all()
    records = _pre_cutoff_record_dates(t)
    last = _dates(surv["date_last_alive"])[records["sid"]].to_numpy()
    assert (records["d"].to_numpy() <= last).all()
    assert (
        records["d"].to_numpy() >= start[records["sid"]].to_numpy() - np.timedelta64(8, "D")
    ).all()
    ex = t["exposure"]
    assert (_dates(ex["date_start"]).to_numpy() >= start[ex["subject_id"]].to_numpy()).all()
    assert set(surv.index) == set(start.index) == set(t["end_of_treatment"]["subject_id"])


@pytest.mark.parametrize(
    ("trial", "doses"),
    [(HER2, {0: 3.6, -1: 3.0, -2: 2.4}), (EVERO, {0: 10.0, -1: 5.0})],
)
def test_exposure_actions_match_adverse_event_actions(cohort10, trial, doses):
    raw, _ = cohort10
    ex = raw[trial]["exposure"].astype({"cycle": int, "dose_level": int, "dose": float})
    ae = raw[trial]["adverse_events"]
    assert (ex["dose"] == ex["dose_level"].map(doses)).all()
    steps = ex.groupby("subject_id")["dose_level"].agg(lambda s: int(s.iloc[0] - s.iloc[-1]))
    n_reduced = ae[ae["action_taken"] == "dose_reduced"].groupby("subject_id").size()
    assert steps[steps > 0].sort_index().equals(n_reduced.sort_index().rename("dose_level"))
    # a cycle both delayed and reduced is recorded as "reduced"
    interrupted = set(ex.loc[ex["action"] == "interrupted", "subject_id"])
    modified = set(ex.loc[ex["action"].isin(["interrupted", "reduced"]), "subject_id"])
    ae_interrupted = set(ae.loc[ae["action_taken"] == "dose_interrupted", "subject_id"])
    assert interrupted <= ae_interrupted <= modified
    eot = raw[trial]["end_of_treatment"]
    assert set(eot.loc[eot["eot_reason"] == "toxicity", "subject_id"]) == set(
        ae.loc[ae["action_taken"] == "drug_withdrawn", "subject_id"]
    )
    last = ex.groupby("subject_id").tail(1).set_index("subject_id")["action"]
    stopped = (eot.set_index("subject_id")["eot_reason"] != "ongoing")[last.index]
    assert (last[~stopped] != "discontinued").all()
    assert last[stopped].isin(["discontinued", "reduced", "interrupted"]).all()
    assert (ex["action"] == "discontinued").sum() == (last == "discontinued").sum()


def test_records_after_cutoff_exist_in_both_trials(cohort1):
    raw, manifest, _ = cohort1
    for trial in (HER2, EVERO):
        late = manifest["cohort"][trial]["records_after_cutoff"]
        assert late.get("adverse_events", 0) >= 1
        assert (_dates(raw[trial]["adverse_events"]["date_start"]) > CUTOFF).sum() >= 1
    les = raw[EVERO]["tumour_lesions"]
    assert (_dates(les["assessment_date"]) > CUTOFF).any()


def test_progression_date_is_the_first_pd_assessment(cohort1):
    raw, _, _ = cohort1
    for trial in (HER2, EVERO):
        resp = _timepoint_responses(raw[trial])
        first_pd = resp[resp["response"] == "PD"].groupby("sid")["date"].min()
        surv = raw[trial]["survival"].set_index("subject_id")
        prog = _dates(surv["date_progression"].dropna())
        assert prog.sort_index().equals(
            first_pd.rename_axis("subject_id").sort_index().rename("date_progression")
        )


# ------------------------------------------------------------------------------------------
# a deliberately naive RECIST 1.1 (Eisenhauer et al. 2009) for checking realised rates
# ------------------------------------------------------------------------------------------
def _visit_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per subject and post-baseline visit on or before the cut-off."""
    les = tables["tumour_lesions"].copy()
    les["date"] = _dates(les["assessment_date"])
    les = les[les["date"] <= CUTOFF]
    les["d"] = les["diameter_mm"].astype(float)
    tgt = les["lesion_category"] == "target"
    nt = les["lesion_category"] == "non_target"
    node = les["lymph_node"] == "Y"
    les["t_d"] = les["d"].where(tgt)
    les["t_ne"] = tgt & les["d"].isna()
    les["t_not_cr"] = tgt & ~((node & (les["d"] < 10)) | (~node & (les["d"] == 0)))
    les["pd_other"] = (les["lesion_category"] == "new") | (
        nt & (les["non_target_status"] == "unequivocal_progression")
    )
    les["nt_present"] = nt & (les["non_target_status"] != "absent")
    agg = les.groupby(["subject_id", "date", "visit"], as_index=False).agg(
        s=("t_d", "sum"),
        ne=("t_ne", "any"),
        not_cr=("t_not_cr", "any"),
        pd_other=("pd_other", "any"),
        nt_present=("nt_present", "any"),
    )
    return agg.sort_values(["subject_id", "date"], kind="stable")


def _timepoint_responses(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """RECIST 1.1 time-point responses, with the nadir carried along each patient's visits."""
    rows = []
    for sid, g in _visit_summary(tables).groupby("subject_id", sort=False):
        base = g.loc[g["visit"] == "BASELINE", "s"].iloc[0]
        nadir = base
        for v in g[g["visit"] != "BASELINE"].itertuples():
            if v.pd_other:
                r = "PD"
            elif v.ne:
                r = "NE"
            elif v.s >= 1.2 * nadir and v.s - nadir >= 5:
                r = "PD"
            elif not v.not_cr:
                r = "PR" if v.nt_present else "CR"
            else:
                r = "PR" if v.s <= 0.7 * base else "SD"
            if r != "NE":
                nadir = min(nadir, v.s)
            rows.append((sid, v.date, r))
    return pd.DataFrame(rows, columns=["sid", "date", "response"])


def _orr_dcr(tables: dict[str, pd.DataFrame]) -> tuple[float, float]:
    start = _dates(tables["patients"].set_index("subject_id")["date_treatment_start"]).dropna()
    resp = _timepoint_responses(tables)
    n_resp = n_dc = 0
    for sid, g in resp.groupby("sid"):
        g = g.sort_values("date")
        before_pd = (
            g[g["date"] < g.loc[g["response"] == "PD", "date"].min()]
            if (g["response"] == "PD").any()
            else g
        )
        rd = before_pd.loc[before_pd["response"].isin(["PR", "CR"]), "date"]
        confirmed = len(rd) >= 2 and (rd.max() - rd.min()).days >= 28
        sd_ok = (
            before_pd["response"].isin(["SD", "PR", "CR"])
            & ((before_pd["date"] - start[sid]).dt.days >= 42)
        ).any()
        n_resp += confirmed
        n_dc += confirmed or sd_ok
    return n_resp / len(start), n_dc / len(start)


def _km_median_months(tables: dict[str, pd.DataFrame], endpoint: str) -> float:
    start = _dates(tables["patients"].set_index("subject_id")["date_treatment_start"]).dropna()
    surv = tables["survival"].set_index("subject_id").loc[start.index]
    death = _dates(surv["date_death"])
    event_date = death if endpoint == "OS" else _dates(surv["date_progression"]).fillna(death)
    event = event_date.notna()
    end = event_date.fillna(_dates(surv["date_last_alive"]))
    months = ((end - start).dt.days + 1) / simulate.DAYS_PER_MONTH  # as ADTTE.AVAL
    return float(KaplanMeierFitter().fit(months, event).median_survival_time_)


# ------------------------------------------------------------------------------------------
# realised values at scale 10 vs manifest truths
# ------------------------------------------------------------------------------------------
def _amplified(fish: pd.DataFrame) -> pd.Series:
    # the trial's cut-off HER2/CEP17 >= 2.2 (Jacot 2019), in integers: 5 x HER2 >= 11 x CEP17
    h, c = fish["her2_signals"].astype(int), fish["cep17_signals"].astype(int)
    return (5 * h >= 11 * c) & (h >= 4)


def _four_se(p: float, n: int) -> float:
    """Tolerance of 4 binomial standard errors (fails by chance with probability < 1e-4)."""
    return 4.0 * float(np.sqrt(p * (1.0 - p) / n))


def test_realised_screening_rates_close_to_truth_at_scale_10(cohort10):
    raw, manifest = cohort10
    t, truth = raw[HER2], lambda name: _truth(manifest, HER2, name)
    scr, fish = t["ctc_screening"], t["ctc_fish"]
    r1 = fish[fish["reader_id"] == "R1"]
    detected = r1[_amplified(r1)]["subject_id"].unique()
    p = truth("her2_detection_rate_screened")
    assert len(detected) / len(scr) == pytest.approx(p, abs=_four_se(p, len(scr)))
    done = scr[scr["cellsearch_status"] == "done"]
    count = done["ctc_count"].astype(int)
    assert (count >= 1).mean() == pytest.approx(truth("ctc_positive_rate_ge1"), abs=0.05)
    assert (count >= 5).mean() == pytest.approx(truth("ctc_positive_rate_ge5"), abs=0.05)
    attempted = done[count >= 1]
    fail = (attempted["fish_status"] == "technical_failure").mean()
    p = truth("fish_failure_rate")
    assert fail == pytest.approx(p, abs=_four_se(p, len(attempted)))
    evaluable = r1[r1["her2_signals"].astype(int) > 0]
    amp = _amplified(evaluable).groupby(evaluable["subject_id"])
    hetero = (amp.any() & ~amp.all())[amp.any()].mean()
    p = truth("her2_heterogeneity_rate_detected")
    assert hetero == pytest.approx(p, abs=_four_se(p, int(amp.any().sum())))


def test_realised_reader_disagreement_and_if_auc_close_to_truth_at_scale_10(cohort10):
    raw, manifest = cohort10
    fish = raw[HER2]["ctc_fish"].copy()
    fish["amp"] = _amplified(fish)
    fish = fish[fish["her2_signals"].astype(int) > 0]
    wide = fish.pivot_table(index=["subject_id", "cell_id"], columns="reader_id", values="amp")
    wide = wide.dropna()
    disagreement = (wide["R1"] != wide["R2"]).mean()
    p = _truth(manifest, HER2, "reader_disagreement")
    assert disagreement == pytest.approx(p, abs=_four_se(p, len(wide)))
    r1 = fish[fish["reader_id"] == "R1"].merge(raw[HER2]["ctc_if"], on=["subject_id", "cell_id"])
    x = r1["if_intensity"].astype(float)
    pos, neg = x[r1["amp"]].to_numpy(), x[~r1["amp"]].to_numpy()
    # AUC by its Mann-Whitney definition P(X_amp > X_non)
    auc = (pos[:, None] > neg[None, :]).mean()
    assert auc == pytest.approx(_truth(manifest, HER2, "if_auc_amplified_vs_not"), abs=0.03)


@pytest.mark.parametrize(("trial", "prefix"), [(HER2, "tdm1"), (EVERO, "evero")])
def test_realised_orr_dcr_by_naive_recist_close_to_truth_at_scale_10(cohort10, trial, prefix):
    raw, manifest = cohort10
    n = len(raw[trial]["survival"])
    orr, dcr = _orr_dcr(raw[trial])
    p_orr = _truth(manifest, trial, f"{prefix}_orr_confirmed")
    p_dcr = _truth(manifest, trial, f"{prefix}_dcr")
    assert orr == pytest.approx(p_orr, abs=_four_se(p_orr, n))
    assert dcr == pytest.approx(p_dcr, abs=_four_se(p_dcr, n))


# Progression is only seen at 6- (T-DM1) or 12-weekly (everolimus) assessments, so the observed
# PFS distribution has steps of 1.4 / 2.8 months; a sample median may fall one step away.
@pytest.mark.parametrize(
    ("trial", "prefix", "pfs_step"), [(HER2, "tdm1", 1.4), (EVERO, "evero", 2.8)]
)
def test_realised_km_medians_close_to_truth_at_scale_10(cohort10, trial, prefix, pfs_step):
    raw, manifest = cohort10
    pfs = _km_median_months(raw[trial], "PFS")
    truth_pfs = _truth(manifest, trial, f"{prefix}_pfs_median_months")
    assert pfs == pytest.approx(truth_pfs, abs=pfs_step + 0.2)
    os_ = _km_median_months(raw[trial], "OS")
    assert os_ == pytest.approx(_truth(manifest, trial, f"{prefix}_os_median_months"), rel=0.2)


def _paired_log_ratio(df: pd.DataFrame, value: str, visit: str) -> float:
    wide = df.pivot_table(index="subject_id", columns="visit", values=value).dropna(
        subset=["BASELINE", visit]
    )
    return float(np.exp(np.mean(np.log(wide[visit]) - np.log(wide["BASELINE"]))))


def test_realised_biomarker_effects_close_to_truth_at_scale_10(cohort10):
    raw, manifest = cohort10
    t = raw[EVERO]
    gz = t["granzyme_b"].dropna(subset=["gzmb_pg_ml"]).astype({"gzmb_pg_ml": float})
    for visit, name in (("M3", "gzmb_m3_ratio_geomean"), ("M9", "gzmb_m9_ratio_geomean")):
        ratio = _paired_log_ratio(gz, "gzmb_pg_ml", visit)
        assert ratio == pytest.approx(_truth(manifest, EVERO, name), abs=0.08)
    flow = t["nk_flow"].astype({"value": float})
    effects = _truth(manifest, EVERO, "nk_marker_effects")
    for key in (
        "nk_count",
        "cd56bright_pct",
        "nkg2d_mfi",
        "cd107a_pct_k562",
        "ifng_pct_k562",
        "cd57_pct",
        "cd56dim_pct",
    ):
        e = effects[key]
        sel = flow[
            (flow["population"] == e["population"])
            & (flow["statistic"] == e["statistic"])
            & (flow["marker"].fillna("") == e["marker"])
            & (flow["stimulation"] == e["stimulation"])
        ]
        ratio = _paired_log_ratio(sel, "value", "M3")
        assert ratio == pytest.approx(e["ratio_geomean_m3_vs_baseline"], rel=0.08), key


def test_realised_rps6_inhibition_close_to_truth_at_scale_10(cohort10):
    raw, manifest = cohort10
    wb = raw[EVERO]["western_blot"].astype({"intensity": float})
    wide = wb.pivot_table(index=["membrane_id", "lane"], columns="band", values="intensity")
    sat = wb.groupby(["membrane_id", "lane"])["saturated"].agg(lambda s: (s == "Y").any())
    wide["ratio"] = wide["p_rpS6"] / wide["total_rpS6"]
    lanes = wb.drop_duplicates(["membrane_id", "lane"]).set_index(["membrane_id", "lane"])
    wide = wide.join(lanes[["lane_type", "subject_id", "visit"]])
    cal = wide[wide["lane_type"] == "calibrator"]["ratio"].droplevel("lane")
    samples = wide[(wide["lane_type"] == "sample") & ~sat & (wide["p_rpS6"] > 0)].copy()
    samples["nratio"] = samples["ratio"] / cal.reindex(samples.index.get_level_values(0)).to_numpy()
    ratio = _paired_log_ratio(samples.reset_index(drop=True), "nratio", "M3")
    inhibition = 100 * (1 - ratio)
    assert inhibition == pytest.approx(_truth(manifest, EVERO, "rps6_inhibition_m3_pct"), abs=6)


def test_demo_cohort_exercises_the_2_0_to_2_2_fish_boundary(cohort1):
    # Issue 13: the trial's cut-off is 2.2 (Jacot 2019); the ASCO/CAP tissue ratio 2.0 is a
    # sensitivity analysis, so the demo must hold CTCs in [2.0, 2.2) that change eligibility.
    raw, _, _ = cohort1
    fish = raw[HER2]["ctc_fish"]
    fish = fish[fish["her2_signals"].astype(int) > 0]
    h, c = fish["her2_signals"].astype(int), fish["cep17_signals"].astype(int)
    border = (h >= 2 * c) & (5 * h < 11 * c)  # 2.0 <= ratio < 2.2, in integers
    assert border.sum() >= 3
    r1 = fish["reader_id"].eq("R1")
    at_22 = set(fish.loc[r1 & (5 * h >= 11 * c), "subject_id"])
    at_20 = set(fish.loc[r1 & (h >= 2 * c), "subject_id"])
    assert len(at_20 - at_22) >= 2  # patients eligible at 2.0 only
    treated = set(raw[HER2]["patients"].dropna(subset=["date_treatment_start"])["subject_id"])
    assert treated <= at_22  # every treated patient was eligible at the trial's cut-off
