"""Tests of helpers.data.derive on the tiny fixture trials (tests/fixtures/<trial>/*.csv).

Expected values are worked out by hand from the fixture files; each test says which rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from helpers import io
from helpers.data.derive import (
    DerivationParams,
    DerivedTrial,
    derive_everolimus_nk,
    derive_her2_ctc_tdm1,
    derive_manifest,
    derive_source_files,
    summarise_populations,
    summarise_records,
)
from helpers.data.schemas import TRIAL_TABLES
from helpers.data.validation import EXCLUDING_RULES, QC_COLUMNS, validate_trial

FIXTURES = Path(__file__).parent / "fixtures"
HER2, EVE = "her2_ctc_tdm1", "everolimus_nk"
DERIVE = {HER2: derive_her2_ctc_tdm1, EVE: derive_everolimus_nk}
PARAMS = DerivationParams(cutoff_date="2026-06-30")


def _raw(trial: str) -> dict[str, pd.DataFrame]:
    return io.load_raw_trial(FIXTURES, trial, TRIAL_TABLES[trial])


def _derive(trial: str, params: DerivationParams = PARAMS, raw=None) -> DerivedTrial:
    tables = validate_trial(raw if raw is not None else _raw(trial), trial)
    return DERIVE[trial](tables, params)


@pytest.fixture(scope="module")
def her2() -> DerivedTrial:
    return _derive(HER2)


@pytest.fixture(scope="module")
def eve() -> DerivedTrial:
    return _derive(EVE)


def _row(df: pd.DataFrame, **equal: object) -> pd.Series:
    """The single row of ``df`` whose columns equal the given values."""
    mask = pd.Series(True, index=df.index)
    for column, value in equal.items():
        mask &= df[column] == value
    assert mask.sum() == 1, equal
    return df[mask].iloc[0]


def _flags(adsl: pd.DataFrame, flag: str) -> dict[str, str]:
    return dict(zip(adsl["USUBJID"], adsl[flag], strict=True))


# --------------------------------------------------------------------------------------------
# datasets and populations
# --------------------------------------------------------------------------------------------


def test_dataset_names_per_trial(her2, eve):
    common = {"adsl", "adrs", "adtte", "adae", "adex", "adbm"}
    assert set(her2.datasets) == common | {"adctc", "adcell"}
    assert set(eve.datasets) == common | {"adwb"}
    assert list(her2.qc.columns) == QC_COLUMNS


def test_her2_population_flags_match_fixture(her2):
    adsl = her2.datasets["adsl"]
    # HC-002-0005 was included after the cut-off: not in adsl
    assert adsl["USUBJID"].tolist() == [
        "HC-001-0001",
        "HC-001-0002",
        "HC-001-0003",
        "HC-002-0004",
    ]
    assert set(adsl["SCRNFL"]) == {"Y"}
    assert _flags(adsl, "CTCEVLFL") == {  # CellSearch failed for HC-001-0003
        "HC-001-0001": "Y",
        "HC-001-0002": "Y",
        "HC-001-0003": "N",
        "HC-002-0004": "Y",
    }
    treated = {"HC-001-0001": "Y", "HC-001-0002": "N", "HC-001-0003": "N", "HC-002-0004": "Y"}
    assert _flags(adsl, "TRTFL") == treated
    assert _flags(adsl, "SAFFL") == treated
    # HC-002-0004 has investigator responses only: measurable disease taken from eligibility
    assert _flags(adsl, "EFFFL") == treated


def test_everolimus_flags_dose_zero_and_no_target_lesion(eve):
    adsl = eve.datasets["adsl"]
    assert "CTCEVLFL" not in adsl.columns
    # EN-002-0003 received only a 0-mg cycle (interrupted): treated but not in safety set
    assert _flags(adsl, "SAFFL") == {"EN-001-0001": "Y", "EN-001-0002": "Y", "EN-002-0003": "N"}
    # EN-001-0002 has a non-target lesion only at baseline: no measurable disease
    assert _flags(adsl, "EFFFL") == {"EN-001-0001": "Y", "EN-001-0002": "N", "EN-002-0003": "Y"}


def test_adsl_characteristics_and_dates(her2):
    row = her2.datasets["adsl"].set_index("USUBJID").loc["HC-002-0004"]
    assert row["NMETS"] == 2  # lymph_node;skin_soft_tissue
    assert row["TRTEDT"] == pd.Timestamp("2025-03-17")
    assert row["EOTSTT"] == "toxicity"
    assert row["LSTALVDT"] == pd.Timestamp("2026-06-30")  # 2026-09-01 capped at cut-off


# --------------------------------------------------------------------------------------------
# adrs
# --------------------------------------------------------------------------------------------


def test_adrs_ovr_from_lesions_hand_computed(her2):
    adrs = her2.datasets["adrs"]
    ovr = adrs[(adrs["USUBJID"] == "HC-001-0001") & (adrs["PARAMCD"] == "OVR")]
    # baseline sum 30 + 20 = 50 mm; W06 18+12 = 30 (-40 %); W12 16+10 = 26 (-48 %);
    # W18 20+14 = 34 = nadir 26 + 30.8 % and + 8 mm: PD
    assert ovr["AVISIT"].tolist() == ["W06", "W12", "W18"]
    assert ovr["AVALC"].tolist() == ["PR", "PR", "PD"]
    assert ovr["SUMDIAM"].tolist() == [30.0, 26.0, 34.0]
    assert ovr["PCHGBL"].tolist() == pytest.approx([-40.0, -48.0, -32.0])
    assert ovr["ADY"].tolist() == [43, 85, 127]  # 2025-03-03 is day 43 after 2025-01-20
    assert set(ovr["SRCDOM"]) == {"tumour_lesions"}


def test_bor_cbor_and_best_percent_change_hand_computed(her2):
    adrs = her2.datasets["adrs"]
    # PR at day 43 confirmed by PR at day 85 (>= 28 days later)
    assert _row(adrs, USUBJID="HC-001-0001", PARAMCD="BOR")["AVALC"] == "PR"
    assert _row(adrs, USUBJID="HC-001-0001", PARAMCD="CBOR")["AVALC"] == "PR"
    # best % change up to and including the first PD: min(-40, -48, -32)
    assert _row(adrs, USUBJID="HC-001-0001", PARAMCD="BOR")["BESTPCHG"] == pytest.approx(-48.0)
    # HC-002-0004: SD at day 43 (>= 42 days) from investigator responses; W18 after cut-off
    cbor = _row(adrs, USUBJID="HC-002-0004", PARAMCD="CBOR")
    assert cbor["AVALC"] == "SD"
    assert pd.isna(cbor["BESTPCHG"])


def test_superseded_investigator_response_is_not_in_adrs(her2):
    adrs = her2.datasets["adrs"]
    inv = adrs[(adrs["SRCDOM"] == "timepoint_responses")]
    assert set(inv["USUBJID"]) == {"HC-002-0004"}


def test_baseline_only_patient_has_bor_ne_and_qc_line(eve):
    assert _row(eve.datasets["adrs"], USUBJID="EN-001-0002", PARAMCD="BOR")["AVALC"] == "NE"
    qc = eve.qc[eve.qc["RULE"] == "no_post_baseline_assessment"]
    assert qc["USUBJID"].tolist() == ["EN-001-0002"]


def test_best_percent_change_stops_at_first_pd():
    raw = _raw(HER2)
    les = raw["tumour_lesions"]
    # shrink both targets after the PD visit: must not count for BESTPCHG
    extra = les.loc[[11, 12, 13]].copy()
    extra["visit"], extra["assessment_date"] = "W24", "2025-07-07"
    extra["diameter_mm"] = ["5", "5", None]
    raw["tumour_lesions"] = pd.concat([les, extra]).set_axis(range(2, 2 + len(les) + 3))
    raw["tumour_lesions"].attrs = les.attrs
    adrs = _derive(HER2, raw=raw).datasets["adrs"]
    assert _row(adrs, USUBJID="HC-001-0001", PARAMCD="BOR")["BESTPCHG"] == pytest.approx(-48.0)


# --------------------------------------------------------------------------------------------
# adtte, adae, adex
# --------------------------------------------------------------------------------------------


def test_adtte_has_pfs_and_os_for_each_treated_patient(her2):
    adtte = her2.datasets["adtte"]
    # three PFS sensitivity derivations per patient (helpers.endpoints.pfs_sensitivity)
    sens = adtte[adtte["PARAMCD"].isin(["PFSANY", "PFSCLIN", "PFSNOMV"])]
    assert sens.groupby("USUBJID").size().tolist() == [3, 3]
    adtte = adtte[adtte["PARAMCD"].isin(["PFS", "OS"])]
    assert adtte[["USUBJID", "PARAMCD"]].values.tolist() == [
        ["HC-001-0001", "OS"],
        ["HC-001-0001", "PFS"],
        ["HC-002-0004", "OS"],
        ["HC-002-0004", "PFS"],
    ]
    pfs = adtte.set_index(["USUBJID", "PARAMCD"]).loc[("HC-001-0001", "PFS")]
    assert (pfs["ADT"], pfs["CNSR"]) == (pd.Timestamp("2025-05-26"), 0)


def test_clinical_progression_is_not_a_pfs_event(eve):
    # EN-001-0002: clinical progression 2025-09-01, death 2025-10-10 with no scan at all
    pfs = eve.datasets["adtte"].set_index(["USUBJID", "PARAMCD"]).loc[("EN-001-0002", "PFS")]
    assert pfs["EVNTDESC"] != "Disease progression"


def test_adae_treatment_emergent_and_infection_flags(her2, eve):
    adae = her2.datasets["adae"]
    assert len(adae) == 3  # the 2026-07-05 AE is after the cut-off
    assert set(adae["TRTEMFL"]) == {"Y"}
    assert adae.set_index(["USUBJID", "AESEQ"]).loc[("HC-002-0004", 1), "INFFL"] == "Y"
    assert _flags(eve.datasets["adae"].query("INFFL == 'Y'"), "AEDECOD") == {
        "EN-001-0001": "Pneumonia"
    }


def test_ae_after_the_teae_window_is_not_treatment_emergent():
    raw = _raw(HER2)
    raw["adverse_events"].loc[4, "date_start"] = "2025-04-20"  # last dose 2025-03-17 + 34 d
    raw["adverse_events"].loc[4, "date_end"] = "2025-04-25"
    adae = _derive(HER2, raw=raw).datasets["adae"].set_index(["USUBJID", "AESEQ"])
    assert adae.loc[("HC-002-0004", 1), "TRTEMFL"] == "N"


def test_adex_copies_exposure(eve):
    adex = eve.datasets["adex"]
    assert adex["DOSE"].tolist() == [10.0, 10.0, 5.0, 10.0, 0.0]
    assert adex["DOSELVL"].tolist() == [0, 0, -1, 0, 0]


# --------------------------------------------------------------------------------------------
# adbm, CTC, western
# --------------------------------------------------------------------------------------------


def test_granzyme_below_lloq_imputed_half_lloq_with_flag(eve):
    adbm = eve.datasets["adbm"]
    gz = adbm[(adbm["PARAMCD"] == "GZMB") & (adbm["USUBJID"] == "EN-001-0001")]
    assert gz["AVISIT"].tolist() == ["BASELINE", "M3", "M9"]
    assert gz["AVAL"].tolist() == [42.0, 2.5, 30.0]  # LLOQ 5.0 / 2
    assert gz["LODFL"].tolist() == ["N", "Y", "N"]
    assert gz["CHG"].tolist()[1:] == [-39.5, -12.0]
    assert gz["ABLFL"].tolist() == ["Y", "N", "N"]


def test_missing_m3_granzyme_is_listed_in_qc(eve):
    qc = eve.qc[eve.qc["RULE"] == "missing_visit"]
    assert qc[["USUBJID", "RECORD"]].values.tolist() == [["EN-001-0002", "visit=M3"]]


def test_flow_markers_and_unmapped_row(eve):
    adbm = eve.datasets["adbm"]
    assert {"NKCNT", "NKPCT", "NKG2D", "CD107AU", "CD107AK", "CD107ANET"} <= set(adbm["PARAMCD"])
    unmapped = eve.qc[eve.qc["RULE"] == "flow_unmapped"]
    assert unmapped["ROW"].tolist() == [7]  # the "Lymphocytes" gate


def test_her2_adbm_ctc_counts_and_ctdna_below_lod(her2):
    adbm = her2.datasets["adbm"].set_index(["USUBJID", "PARAMCD", "AVISIT"])
    assert adbm.loc[("HC-001-0001", "CTCCNT", "C4D1"), "CHG"] == -3.0
    assert adbm.loc[("HC-001-0001", "CTCCNT", "C1D1"), "ABLFL"] == "Y"
    ct = adbm.loc[("HC-001-0001", "CTDNATF", "C2D1")]
    assert (ct["AVAL"], ct["LODFL"]) == (1.5, "Y")  # LoD 3 % / 2


def test_adctc_and_non_evaluable_cell_in_qc(her2):
    adctc = her2.datasets["adctc"].set_index("USUBJID")
    # HC-001-0001 R1: C01 ratio 4 (amp), C02 ratio 1, C03 no HER2 signal (not evaluable)
    assert adctc.loc["HC-001-0001", ["NCELLEVL", "NAMP", "HETEROFL"]].tolist() == [2, 1, "Y"]
    qc = her2.qc[her2.qc["RULE"] == "cell_not_evaluable"]
    assert qc[["ROW", "RECORD"]].values.tolist() == [[4, "cell_id=C03; reader_id=R1"]]


def test_ratio_threshold_parameter_reaches_cell_calls():
    result = _derive(HER2, dataclasses.replace(PARAMS, ratio_threshold=3.5))
    cells = result.datasets["adcell"].set_index(["USUBJID", "CELLID", "READER"])
    assert cells.loc[("HC-002-0004", "C01", "R1"), "AMPFL"] == "N"  # ratio 3.0 < 3.5


def test_saturated_western_lane_kept_unevaluable_and_listed(eve):
    adwb = eve.datasets["adwb"].set_index("LANE")
    assert adwb.loc[4, "EVALFL"] == "N"
    qc = eve.qc[eve.qc["FILE"] == "western_blot.csv"]
    assert qc[["ROW", "USUBJID"]].values.tolist() == [[11, "EN-002-0003"]]


# --------------------------------------------------------------------------------------------
# traceability and determinism
# --------------------------------------------------------------------------------------------


def _excluded(result: DerivedTrial, file: str) -> int:
    qc = result.qc
    return int(((qc["FILE"] == file) & qc["RULE"].isin(EXCLUDING_RULES)).sum())


@pytest.mark.parametrize("trial", [HER2, EVE])
def test_no_record_disappears_without_a_qc_line(trial):
    raw = _raw(trial)
    result = _derive(trial)
    ds = result.datasets
    ovr = ds["adrs"][ds["adrs"]["PARAMCD"] == "OVR"]
    out = {
        "patients": len(ds["adsl"]),
        "adverse_events": len(ds["adae"]),
        "exposure": len(ds["adex"]),
        "timepoint_responses": int((ovr["SRCDOM"] == "timepoint_responses").sum()),
    }
    if trial == HER2:
        out["ctc_fish"] = len(ds["adcell"])
        out["ctc_screening"] = len(ds["adctc"])
        out["ctc_followup"] = int((ds["adbm"]["PARAMCD"] == "CTCCNT").sum())
        out["ctdna"] = int((ds["adbm"]["PARAMCD"] == "CTDNATF").sum())
    else:
        out["granzyme_b"] = int((ds["adbm"]["PARAMCD"] == "GZMB").sum())
        flow_rows = ds["adbm"][~ds["adbm"]["PARAMCD"].isin(["GZMB", "CD107ANET", "IFNGNET"])]
        out["nk_flow"] = len(flow_rows)
    for table, n_out in out.items():
        assert n_out + _excluded(result, f"{table}.csv") == len(raw[table]), table
    # lesion rows → one OVR per post-baseline visit
    les = raw["tumour_lesions"]
    visits = les[les["visit"] != "BASELINE"][["subject_id", "visit"]].drop_duplicates()
    assert int((ovr["SRCDOM"] == "tumour_lesions").sum()) == len(visits)


def test_early_cutoff_excludes_later_records_with_qc_lines():
    result = _derive(HER2, dataclasses.replace(PARAMS, cutoff_date="2025-04-01"))
    ovr = result.datasets["adrs"].query("PARAMCD == 'OVR'")
    assert ovr["ADT"].max() <= pd.Timestamp("2025-04-01")
    late = result.qc[
        (result.qc["RULE"] == "after_cutoff") & (result.qc["FILE"] == "tumour_lesions.csv")
    ]
    assert len(late) == 6  # W12 and W18 of HC-001-0001, three lesion rows each


@pytest.mark.parametrize("trial", [HER2, EVE])
def test_parquet_is_byte_identical_across_runs(trial, tmp_path):
    for run in ("a", "b"):
        result = _derive(trial)
        for name, df in result.datasets.items():
            io.write_parquet(df, tmp_path / run / f"{name}.parquet")
        io.write_parquet(result.qc, tmp_path / run / "qc_exclusions.parquet")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("trial", [HER2, EVE])
def test_datasets_do_not_depend_on_raw_row_order(trial):
    raw = _raw(trial)
    shuffled = {}
    for name, df in raw.items():
        rev = df.iloc[::-1].copy()
        rev.attrs = dict(df.attrs)
        shuffled[name] = rev
    a, b = _derive(trial), _derive(trial, raw=shuffled)
    for name in a.datasets:
        pd.testing.assert_frame_equal(a.datasets[name], b.datasets[name], obj=name)


def test_params_are_validated_with_actionable_messages():
    with pytest.raises(ValueError, match="allow' or 'disallow"):
        DerivationParams("2026-06-30", ne_between_confirmation="maybe")
    with pytest.raises(ValueError, match="ISO date"):
        DerivationParams("not a date")
    with pytest.raises(ValueError, match="min_her2_signals"):
        DerivationParams("2026-06-30", min_her2_signals=-1)
    with pytest.raises(ValueError, match="ratio_threshold"):
        DerivationParams("2026-06-30", ratio_threshold=0)
    with pytest.raises(TypeError, match="DerivationParams"):
        derive_her2_ctc_tdm1({}, {"cutoff_date": "2026-06-30"})


def test_params_defaults_and_trial_schedule():
    params = DerivationParams(cutoff_date=pd.Timestamp("2026-06-30"))
    assert params.cutoff_date == "2026-06-30"
    assert params.interval_days(HER2) == 42
    assert params.interval_days(EVE) == 84
    assert dataclasses.replace(params, assessment_interval_days=56).interval_days(EVE) == 56


# --------------------------------------------------------------------------------------------
# provenance and overview
# --------------------------------------------------------------------------------------------


def test_source_files_and_manifest_are_free_of_timestamps():
    raw = {HER2: _raw(HER2)}
    files = derive_source_files(raw)
    assert "her2_ctc_tdm1/patients.csv" in files
    inputs = {name: io.sha256_file(path) for name, path in files.items()}
    a = derive_manifest(inputs, {"x.parquet": "00"}, PARAMS, synthetic=False)
    b = derive_manifest(dict(reversed(inputs.items())), {"x.parquet": "00"}, PARAMS, False)
    assert a == b
    assert list(a["inputs"]) == sorted(inputs)
    assert a["parameters"]["cutoff_date"] == "2026-06-30"
    assert {"python", "pandas", "pandera"} <= set(a["versions"])
    assert set(a) == {"inputs", "outputs", "parameters", "synthetic", "versions"}


def test_source_files_need_the_source_attribute():
    df = pd.DataFrame()
    with pytest.raises(ValueError, match=r"io\.load_raw_trial"):
        derive_source_files({HER2: {"patients": df}})


def test_population_and_record_overviews(her2):
    pops = summarise_populations({HER2: her2}).set_index("FLAG")
    assert pops.loc["TRTFL", "N"] == 2
    assert pops.loc["CTCEVLFL", "N"] == 3
    assert set(pops["N_SCREENED"]) == {4}
    records = summarise_records({HER2: _raw(HER2)}, {HER2: her2}).set_index("TABLE")
    assert records.loc["patients", ["RAW_ROWS", "EXCLUDED", "DATASET_ROWS"]].tolist() == [5, 1, 4]
    assert records.loc["ctdna", ["DATASET", "DATASET_ROWS"]].tolist() == ["adbm", 3]


def test_optional_reason_not_treated_becomes_ntrtrsn_for_untreated_only():
    # data contract (docs/data_dictionary.md): optional patients.reason_not_treated -> ADSL.NTRTRSN
    raw = _raw(HER2)
    pts = raw["patients"]
    untreated = pts["date_treatment_start"].isna() | pts["date_treatment_start"].eq("")
    pts["reason_not_treated"] = ["declined T-DM1" if u else "ignored" for u in untreated]
    adsl = _derive(HER2, raw=raw).datasets["adsl"].set_index("USUBJID")
    treated = adsl["TRTFL"].eq("Y")
    assert adsl.loc[~treated, "NTRTRSN"].eq("declined T-DM1").all()
    assert adsl.loc[treated, "NTRTRSN"].isna().all()
    assert "NTRTRSN" not in _derive(HER2).datasets["adsl"].columns


def test_optional_new_anticancer_therapy_date_switches_the_fda_rule_on():
    # FDA 2018 PFS table: censor at the last adequate assessment before new anticancer therapy
    raw = _raw(HER2)
    srv = raw["survival"]
    srv["date_new_anticancer_therapy"] = [
        "2025-03-01" if s == "HC-001-0001" else "" for s in srv["subject_id"]
    ]
    adtte = _derive(HER2, raw=raw).datasets["adtte"]
    pfs = adtte.set_index(["USUBJID", "PARAMCD"]).loc[("HC-001-0001", "PFS")]
    assert pfs["CNSR"] == 1
    assert pfs["CNSDTDSC"].startswith("New anticancer therapy")
    assert pfs["RULE"] == "PFS_RULES_FDA"
    without = _derive(HER2).datasets["adtte"]
    assert set(without.loc[without["PARAMCD"].eq("PFS"), "RULE"]) == {"PFS_RULES_FDA_NO_NACT"}
