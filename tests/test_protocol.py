"""HER2-CTC protocol fidelity: cut-off sensitivity, treatment cohorts, design status, populations.

References: Jacot W et al. Breast Cancer Res 2019;21:121 (cut-off HER2/CEP17 >= 2.2, cohorts by the
number of amplified CTCs); Wolff AC et al. J Clin Oncol 2018;36:2105-2122 (ratio 2.0, tissue);
Simon R. Control Clin Trials 1989;10:1-10; Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 and
the duality of the exact one-sided binomial test with the 1 - 2 alpha two-sided interval.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats as sps

from helpers.endpoints import efficacy, simon
from helpers.her2_ctc import ctc, protocol, screening

S = ["HC-001-0001", "HC-001-0002", "HC-001-0003"]


def _toy():
    """P1: cells 5/2 (2.5) -> eligible at both; P2: cell 4/2 (2.0) -> eligible at 2.0 only;
    P3: cell 2/2 (1.0) -> never eligible. Hand count: 1 vs 2 of 3 at 2.2 vs 2.0."""
    fish = pd.DataFrame(
        [(S[0], "C01", "R1", 5, 2), (S[1], "C01", "R1", 4, 2), (S[2], "C01", "R1", 2, 2)],
        columns=["subject_id", "cell_id", "reader_id", "her2_signals", "cep17_signals"],
    )
    scr = pd.DataFrame(
        [(s, "done", 3, "done", None) for s in S],
        columns=[
            "subject_id",
            "cellsearch_status",
            "ctc_count",
            "fish_status",
            "fish_failure_reason",
        ],
    )
    adcell = ctc.derive_cell_calls(fish)
    return adcell, ctc.derive_patient_ctc_summary(scr, adcell)


def test_cutoff_sensitivity_lists_the_patient_eligible_only_at_2_0_hand_count():
    adcell, adctc = _toy()
    adsl = pd.DataFrame({"USUBJID": S, "TRTFL": ["Y", "N", "N"]})
    primary = screening.derive_screening_calls(adcell, adctc, 2.2, 1)
    sens = screening.derive_screening_calls(adcell, adctc, 2.0, 1)
    out = protocol.compute_cutoff_sensitivity(primary, sens, adsl)
    screened = out.table[out.table["parameter"].str.contains("all screened")]
    assert screened["n"].tolist() == [1, 2]
    assert screened["N"].tolist() == [3, 3]
    # Clopper-Pearson 2/3 equals scipy's exact binomial test interval
    ci = sps.binomtest(2, 3).proportion_ci(0.95, method="exact")
    assert screened["ci_lower"].iloc[1] == pytest.approx(ci.low, abs=1e-12)
    assert out.changed["USUBJID"].tolist() == [S[1]]
    assert out.changed["CHANGE"].tolist() == ["eligible at 2.0 only"]
    assert out.changed["TRTFL"].tolist() == ["N"]


def test_cohorts_default_boundaries_1_2_and_3_or_more():
    adctc = pd.DataFrame({"USUBJID": ["a", "b", "c", "d"], "NAMP": [1, 2, 3, 9], "CTCCNT": 10})
    out = protocol.derive_treatment_cohorts(adctc, ["a", "b", "c", "d"])
    assert out["COHORT"].astype(str).tolist() == [
        "1–2 amplified CTCs",
        "1–2 amplified CTCs",
        "≥3 amplified CTCs",
        "≥3 amplified CTCs",
    ]
    three = protocol.derive_treatment_cohorts(adctc, ["a", "b", "c", "d"], [1, 2, 5])
    assert three["COHORT"].astype(str).tolist() == [
        "1 amplified CTC",
        "2–4 amplified CTCs",
        "2–4 amplified CTCs",
        "≥5 amplified CTCs",
    ]
    with pytest.raises(ValueError, match="strictly increasing"):
        protocol.derive_treatment_cohorts(adctc, ["a"], [3, 1])


def test_assumed_design_never_says_reject_h0_promising():
    design = efficacy.derive_simon_design(0.05, 0.25, 0.05, 0.80, "optimal")
    decision = simon.derive_simon_decision(design, 3, 9, 4, 17)
    assert "reject H0: promising" in decision.text
    assumed = protocol.summarise_decision_text(decision.text, "assumed")
    assert "reject H0" not in assumed
    assert assumed.startswith("Under the assumed design (illustrative)")
    assert protocol.summarise_decision_text(decision.text, "protocol") == decision.text
    with pytest.raises(ValueError, match="simon_design_status"):
        protocol.summarise_decision_text(decision.text, "maybe")


def test_dual_ci_is_90_percent_for_alpha_0_05_and_matches_clopper_pearson():
    design = efficacy.derive_simon_design(0.05, 0.25, 0.05, 0.80, "optimal")
    counts = efficacy.SimonCounts(3, 9, 4, 17)
    out = protocol.compute_design_dual_ci(design, counts, 0.05, "ORR")
    assert set(out["ci_level"]) == {0.9}
    naive = out.iloc[0]
    ci = sps.binomtest(4, 17).proportion_ci(0.90, method="exact")  # R: binom.test(4, 17, conf=.9)
    assert naive["ci_lower"] == pytest.approx(ci.low, abs=1e-9)
    assert naive["ci_upper"] == pytest.approx(ci.high, abs=1e-9)
    # duality: the 90 % lower limit is above p0 exactly when the one-sided exact test rejects
    p_one_sided = sps.binomtest(4, 17, 0.05, alternative="greater").pvalue
    assert (naive["ci_lower"] > 0.05) == (p_one_sided < 0.05)


def test_per_protocol_excludes_only_patients_not_confirmed_by_reference_reader():
    cells = pd.DataFrame(
        {
            "USUBJID": ["a", "a", "b", "c"],
            "READER": ["R1", "R2", "R2", "R1"],
            "EVALFL": ["Y", "Y", "Y", "Y"],
            "AMPFL": ["Y", "Y", "N", "Y"],
        }
    )
    adsl = pd.DataFrame({"USUBJID": ["a", "b", "c"], "TRTFL": ["Y", "Y", "Y"]})
    out = protocol.derive_per_protocol(cells, adsl, "R2", "TRTFL")
    assert out["CONFIRM"].tolist() == ["confirmed", "not confirmed", "not re-read"]
    assert out["PPROTFL"].tolist() == ["Y", "N", "Y"]


def test_enrolled_not_treated_lists_amplified_untreated_with_reason():
    adctc = pd.DataFrame(
        {"USUBJID": ["a", "b", "c"], "HER2AMPFL": ["Y", "Y", "N"], "NAMP": [2, 1, 0]}
    )
    adsl = pd.DataFrame({"USUBJID": ["a", "b", "c"], "TRTFL": ["Y", "N", "N"]})
    out = protocol.derive_enrolled_not_treated(adctc, adsl)
    assert out["USUBJID"].tolist() == ["b"]
    assert out["REASON"].iloc[0].startswith("not recorded")


def test_patient_level_fish_vs_if_2x2_hand_count():
    from helpers.her2_ctc import fish_agreement

    # P1: amplified CTC + IF 3+ (TP); P2: no amplified, IF 2+ (FP); P3: no amplified, IF 0 (TN)
    cells = pd.DataFrame(
        {
            "USUBJID": [S[0], S[0], S[1], S[2]],
            "CELLID": ["C01", "C02", "C01", "C01"],
            "READER": ["R1"] * 4,
            "HER2SIG": [6, 2, 2, 2],
            "CEP17SIG": [2, 2, 2, 2],
            "RATIO": [3.0, 1.0, 1.0, 1.0],
            "EVALFL": ["Y"] * 4,
            "NEVALRSN": [None] * 4,
            "AMPFL": ["Y", "N", "N", "N"],
            "ISHGRP": [1, 5, 5, 5],
            "IFSCORE": ["3+", "0", "2+", "0"],
            "IFINT": [900.0, 50.0, 400.0, 60.0],
        }
    )
    out = fish_agreement.compute_patient_fish_if(cells, "2+")
    assert out.cross_table.loc["IF positive", "FISH amplified"] == 1
    assert out.cross_table.loc["IF positive", "FISH not amplified"] == 1
    assert out.cross_table.loc["IF negative", "FISH not amplified"] == 1
    spec = out.table[out.table["parameter"].str.endswith("specificity")].iloc[0]
    assert (spec["n"], spec["N"]) == (1, 2)


def _cohort_data():
    ids = [f"P{i}" for i in range(1, 7)]
    adctc = pd.DataFrame({"USUBJID": ids, "NAMP": [1, 2, 1, 3, 5, 8], "CTCCNT": 10})
    cohorts = protocol.derive_treatment_cohorts(adctc, ids)
    bor = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVALC": ["PR", "SD", "PD", "CR", "PR", "SD"],
            "RSPFL": ["Y", "N", "N", "Y", "Y", "N"],
        }
    )
    pfs = pd.DataFrame({"USUBJID": ids, "AVAL": [5.0, 3.0, 1.5, 9.0, 7.0, 4.0], "CNSR": 0})
    adsl = pd.DataFrame(
        {
            "USUBJID": ids,
            "TRTSDT": pd.date_range("2024-01-01", periods=6, freq="7D"),
            "EFFFL": "Y",
        }
    )
    return cohorts, bor, pfs, adsl


def test_cohort_orr_hand_count_and_km_median():
    cohorts, bor, pfs, _ = _cohort_data()
    out = protocol.summarise_cohort_efficacy(bor, pfs, cohorts, [6])
    orr = out[out["parameter"].str.startswith("ORR")].set_index("cohort")
    assert (orr.loc["overall", "n"], orr.loc["overall", "N"]) == (3, 6)
    assert (orr.loc["1–2 amplified CTCs", "n"], orr.loc["1–2 amplified CTCs", "N"]) == (1, 3)
    assert (orr.loc["≥3 amplified CTCs", "n"], orr.loc["≥3 amplified CTCs", "N"]) == (2, 3)
    med = out[out["parameter"].str.contains("median")].set_index("cohort")
    assert med.loc["1–2 amplified CTCs", "estimate"] == 3.0  # KM median of 1.5, 3, 5 (no censoring)


def test_cohort_simon_decisions_are_illustrative_under_assumed_design():
    cohorts, bor, _, adsl = _cohort_data()
    design = efficacy.derive_simon_design(0.05, 0.25, 0.05, 0.80, "optimal")  # 0/9, 2/17
    out = protocol.compute_cohort_simon_decisions(design, bor, adsl, cohorts, "EFFFL", "assumed")
    assert out["cohort"].tolist() == ["overall", "1–2 amplified CTCs", "≥3 amplified CTCs"]
    assert out["N"].tolist() == [6, 3, 3]
    assert out["responses"].tolist() == [3, 1, 2]
    assert all(t.startswith("Under the assumed design") for t in out["text"])
    assert not out["text"].str.contains("reject H0").any()
    # 6 of n1 = 9 evaluable: stage 1 incomplete, so no final decision (Simon 1989 rules)
    assert "not reached" in out.loc[0, "final_decision"]


def test_clustered_agreement_point_estimates_equal_unclustered_statistics():
    # the cluster bootstrap changes the CI only: the point estimate is the statistic on all CTCs
    # (Davison & Hinkley 1997 §3.8); Cohen 1960 kappa; Cicchetti & Feinstein 1990 agreement
    from helpers.endpoints import stats
    from helpers.her2_ctc import fish_agreement

    rows = []
    for k, s in enumerate(S):
        for cell, (h1, h2) in enumerate([(6, 6), (2, 2), (6, 2), (2, 3)][: k + 2]):
            rows += [(s, f"C{cell:02d}", "R1", h1, 2), (s, f"C{cell:02d}", "R2", h2, 2)]
    fish = pd.DataFrame(
        rows, columns=["subject_id", "cell_id", "reader_id", "her2_signals", "cep17_signals"]
    )
    cells = ctc.derive_cell_calls(fish)
    cells["IFSCORE"], cells["IFINT"] = "2+", 100.0
    out = fish_agreement.compute_clustered_agreement(cells, "2+", 200, 1).set_index("parameter")
    pairs = ctc.derive_reader_pairs(cells).pairs
    a, b = pairs["AMPFL_R1"].eq("Y"), pairs["AMPFL_R2"].eq("Y")
    kappa = out.loc["Cohen's kappa, amplified call, R1 vs R2 (per CTC)", "estimate"]
    assert kappa == pytest.approx(stats.compute_cohen_kappa(a, b)["estimate"].iloc[0])
    pa = out.loc["positive agreement, amplified call, R1 vs R2 (per CTC)", "estimate"]
    assert pa == pytest.approx(stats.positive_agreement(a, b))
    assert out.loc["Cohen's kappa, amplified call, R1 vs R2 (per CTC)", "note"].startswith("3 pat")
