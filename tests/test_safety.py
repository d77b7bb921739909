"""Tests for helpers.endpoints.safety on small hand-built AE and exposure sets.

Every expected count below is worked out by hand from the rows written in this file; CIs are
checked against R ``binom.test`` values quoted in comments and against scipy's beta-quantile form
of the Clopper–Pearson interval (Clopper & Pearson 1934), an independent route.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.endpoints.safety import (
    ExposureSummary,
    summarise_ae_by_soc_term,
    summarise_ae_overview,
    summarise_exposure,
    summarise_worst_grade,
)
from helpers.endpoints.survival import DAYS_PER_MONTH

GI = "Gastrointestinal disorders"
INF = "Infections and infestations"
BLOOD = "Blood and lymphatic system disorders"


def _adsl(n_safety=5, n_other=1):
    ids = [f"P{i}" for i in range(1, n_safety + n_other + 1)]
    return pd.DataFrame({"USUBJID": ids, "SAFFL": ["Y"] * n_safety + ["N"] * n_other})


def _ae(rows):
    cols = ["USUBJID", "AEDECOD", "AEBODSYS", "AETOXGR", "AESER", "AEREL", "AEACN", "TRTEMFL"]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(1, "AESEQ", range(1, len(df) + 1))
    df["INFFL"] = np.where(df["AEBODSYS"] == INF, "Y", "N")
    df["ASTDT"] = pd.Timestamp("2021-01-01")
    df["AENDT"] = pd.NaT
    return df


# P1: nausea grade 2 then grade 3 (same term), vomiting grade 1 (same SOC GI), related.
# P2: nausea grade 1; pneumonia grade 3 serious, leading to discontinuation.
# P3: neutropenia grade 4 related, dose reduced; a non-treatment-emergent grade 5 (ignored).
# P4: no AE. P5: no AE. P6: not in the safety population (its AE is ignored).
AE = _ae(
    [
        ("P1", "Nausea", GI, 2, "N", "Y", "none", "Y"),
        ("P1", "Nausea", GI, 3, "N", "Y", "dose_interrupted", "Y"),
        ("P1", "Vomiting", GI, 1, "N", "N", "none", "Y"),
        ("P2", "Nausea", GI, 1, "N", "N", "none", "Y"),
        ("P2", "Pneumonia", INF, 3, "Y", "N", "drug_withdrawn", "Y"),
        ("P3", "Neutropenia", BLOOD, 4, "N", "Y", "dose_reduced", "Y"),
        ("P3", "Sepsis", INF, 5, "Y", "N", "none", "N"),
        ("P6", "Nausea", GI, 3, "N", "Y", "none", "Y"),
    ]
)


# ---------------------------------------------------------------- overview


def test_overview_counts_patients_once_hand_example():
    out = summarise_ae_overview(AE, _adsl()).set_index("parameter")
    n = {k.split(",")[0]: v for k, v in out["n"].items()}
    assert n == {
        "Patients with ≥1 TEAE": 3,
        "Patients with ≥1 grade ≥3 TEAE": 3,
        "Patients with ≥1 treatment-related TEAE": 2,
        "Patients with ≥1 treatment-related grade ≥3 TEAE": 2,
        "Patients with ≥1 serious TEAE": 1,
        "Patients with a TEAE leading to dose reduction": 1,
        "Patients with a TEAE leading to dose interruption": 1,
        "Patients with a TEAE leading to treatment discontinuation": 1,
        "Patients with a grade 5 (fatal) TEAE": 0,  # P3's grade 5 is not treatment-emergent
    }
    assert set(out["N"]) == {5}
    assert all("safety population (N=5)" in p for p in out.index)


def test_overview_clopper_pearson_matches_r_binom_test_3_of_5_and_beta_quantiles():
    # R: binom.test(3, 5)$conf.int = 0.1466328 0.9472550
    row = summarise_ae_overview(AE, _adsl()).iloc[0]
    assert (row["n"], row["N"], row["estimate"], row["percentage"]) == (3, 5, 0.6, 60.0)
    assert row["ci_lower"] == pytest.approx(stats.beta.ppf(0.025, 3, 3), rel=1e-9)
    assert row["ci_upper"] == pytest.approx(stats.beta.ppf(0.975, 4, 2), rel=1e-9)
    assert (round(row["ci_lower"], 4), round(row["ci_upper"], 4)) == (0.1466, 0.9473)
    assert row["method"] == "Clopper–Pearson exact"


def test_overview_empty_ae_table_all_zero_with_n_stated():
    out = summarise_ae_overview(AE.iloc[0:0], _adsl())
    assert (out["n"] == 0).all()
    assert (out["N"] == 5).all()
    # 0/5: upper limit 1 - 0.025**(1/5) (closed form of the exact interval at n = 0).
    assert out["ci_upper"].iloc[0] == pytest.approx(1 - 0.025 ** (1 / 5))
    assert (out["ci_lower"] == 0).all()


def test_overview_rejects_empty_safety_population_and_bad_grade():
    with pytest.raises(ValueError, match="safety population is empty"):
        summarise_ae_overview(AE, _adsl(n_safety=0, n_other=6))
    bad = AE.copy()
    bad.loc[0, "AETOXGR"] = 6
    with pytest.raises(ValueError, match="CTCAE grade 1-5"):
        summarise_ae_overview(bad, _adsl())
    with pytest.raises(ValueError, match="absent from adsl"):
        summarise_ae_overview(AE, _adsl(n_safety=3, n_other=0))


# ---------------------------------------------------------------- by SOC / term


def test_soc_term_same_term_grade2_then_3_counts_once_at_grade3():
    out = summarise_ae_by_soc_term(AE, _adsl())
    nausea = out[(out["AEDECOD"] == "Nausea")].iloc[0]
    # P1 (worst grade 3) and P2 (grade 1): two patients, not three events.
    assert nausea["n_any"] == 2
    assert (nausea["n_grade_1"], nausea["n_grade_2"], nausea["n_grade_3"]) == (1, 0, 1)
    assert nausea["n_grade_ge3"] == 1
    assert nausea["pct_any"] == pytest.approx(40.0)


def test_soc_two_terms_in_one_soc_count_once_at_soc_level():
    out = summarise_ae_by_soc_term(AE, _adsl())
    gi = out[(out["AEBODSYS"] == GI) & (out["AEDECOD"] == "All terms")].iloc[0]
    assert gi["n_any"] == 2  # P1 (nausea + vomiting) and P2
    assert gi["n_grade_3"] == 1
    assert gi["n_grade_1"] == 1


def test_soc_rows_precede_terms_sorted_by_frequency():
    out = summarise_ae_by_soc_term(AE, _adsl())
    assert list(zip(out["AEBODSYS"], out["AEDECOD"], strict=True)) == [
        (GI, "All terms"),
        (GI, "Nausea"),
        (GI, "Vomiting"),
        (BLOOD, "All terms"),  # ties (1 patient each) in alphabetical order
        (BLOOD, "Neutropenia"),
        (INF, "All terms"),
        (INF, "Pneumonia"),
    ]
    assert out.attrs["N"] == 5
    assert (out["N"] == 5).all()


def test_soc_subsets_related_serious_infection():
    related = summarise_ae_by_soc_term(AE, _adsl(), subset="related")
    assert set(related["AEDECOD"]) == {"All terms", "Nausea", "Neutropenia"}
    assert related.loc[related["AEDECOD"] == "Nausea", "n_any"].iloc[0] == 1
    serious = summarise_ae_by_soc_term(AE, _adsl(), subset="serious")
    assert serious["AEDECOD"].tolist() == ["All terms", "Pneumonia"]
    infection = summarise_ae_by_soc_term(AE, _adsl(), subset="infection")
    assert infection["AEBODSYS"].unique().tolist() == [INF]
    with pytest.raises(ValueError, match="subset must be one of"):
        summarise_ae_by_soc_term(AE, _adsl(), subset="fatal")


def test_soc_empty_ae_table_gives_no_rows_and_states_n():
    out = summarise_ae_by_soc_term(AE.iloc[0:0], _adsl())
    assert out.empty
    assert out.attrs["N"] == 5
    assert "n_grade_ge3" in out.columns


# ---------------------------------------------------------------- worst grade


def test_worst_grade_patients_without_ae_are_grade_0():
    out = summarise_worst_grade(AE, _adsl()).set_index("worst_grade")
    assert out["n"].to_dict() == {0: 2, 1: 0, 2: 0, 3: 2, 4: 1, 5: 0}
    assert out["n"].sum() == out["N"].iloc[0] == 5
    assert out["percentage"].sum() == pytest.approx(100)


def test_worst_grade_empty_ae_table_all_grade_0_and_bad_by():
    out = summarise_worst_grade(AE.iloc[0:0], _adsl())
    assert out.loc[out["worst_grade"] == 0, "n"].iloc[0] == 5
    with pytest.raises(ValueError, match="by must be 'patient'"):
        summarise_worst_grade(AE, _adsl(), by="event")


# ---------------------------------------------------------------- exposure


def _adex():
    d0 = pd.Timestamp("2021-01-01")
    rows = [
        # P1: 4 cycles at full dose, q3w.
        *[("P1", c, d0 + pd.Timedelta(days=21 * (c - 1)), 3.6, 0, "none") for c in (1, 2, 3, 4)],
        # P2: cycle 2 reduced to 3.0, cycle 3 interrupted (no dose given).
        ("P2", 1, d0, 3.6, 0, "none"),
        ("P2", 2, d0 + pd.Timedelta(days=21), 3.0, -1, "reduced"),
        ("P2", 3, d0 + pd.Timedelta(days=42), 0.0, -1, "interrupted"),
    ]
    df = pd.DataFrame(rows, columns=["USUBJID", "CYCLE", "ASTDT", "DOSE", "DOSELVL", "ACTION"])
    df["DOSEU"] = "mg/kg"
    return df


def test_exposure_per_patient_hand_example():
    res = summarise_exposure(_adex(), _adsl(n_safety=3), cycle_length_days=21, planned_dose=3.6)
    assert isinstance(res, ExposureSummary)
    per = res.per_patient.set_index("USUBJID")
    assert per.loc["P1", "cycles"] == 4
    assert per.loc["P1", "duration_days"] == 84  # 63 days between first and last + 21
    assert per.loc["P1", "rdi_pct"] == pytest.approx(100.0)
    assert per.loc["P2", "cycles"] == 2
    # 6.6 mg/kg delivered over 42 days vs 3.6 per 21 days planned -> 6.6 / 7.2.
    assert per.loc["P2", "rdi_pct"] == pytest.approx(100 * 6.6 / 7.2)
    assert bool(per.loc["P2", "any_reduction"])
    assert bool(per.loc["P2", "any_interruption"])
    assert per.loc["P3", "cycles"] == 0
    assert np.isnan(per.loc["P3", "duration_days"])
    assert per.loc["P1", "duration_months"] == pytest.approx(84 / DAYS_PER_MONTH)


def test_exposure_summary_rows_and_counts():
    res = summarise_exposure(_adex(), _adsl(n_safety=3), cycle_length_days=21)
    summ = res.summary.set_index("parameter")
    assert summ.loc["Cycles received", "estimate"] == 2  # median of 4, 2, 0
    assert (summ.loc["Cycles received", "min"], summ.loc["Cycles received", "max"]) == (0, 4)
    assert summ.loc["Patients with ≥1 dose reduction", "n"] == 1
    assert summ.loc["Patients with ≥1 dose reduction", "N"] == 3
    assert np.isnan(summ.loc["Relative dose intensity (%)", "estimate"])
    assert "RDI not computable" in summ.loc["Relative dose intensity (%)", "note"]


def test_exposure_median_ci_order_statistics_n10_is_x2_x9_conover():
    # Conover (1999) table: for n = 10 the 95% distribution-free CI for the median is
    # (x(2), x(9)), since P(Bin(10, 1/2) <= 1) = 11/1024 <= 0.025 < P(<= 2) = 56/1024.
    d0 = pd.Timestamp("2021-01-01")
    rows = [
        (f"P{i}", c, d0 + pd.Timedelta(days=21 * (c - 1)), 3.6, 0, "none")
        for i in range(1, 11)
        for c in range(1, i + 1)
    ]
    adex = pd.DataFrame(rows, columns=["USUBJID", "CYCLE", "ASTDT", "DOSE", "DOSELVL", "ACTION"])
    summ = summarise_exposure(adex, _adsl(n_safety=10, n_other=0), cycle_length_days=21).summary
    row = summ.set_index("parameter").loc["Cycles received"]
    assert (row["estimate"], row["ci_lower"], row["ci_upper"]) == (5.5, 2, 9)


def test_exposure_rejects_missing_cycle_length_and_bad_values():
    with pytest.raises(TypeError):
        summarise_exposure(_adex(), _adsl())  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="cycle_length_days must be > 0"):
        summarise_exposure(_adex(), _adsl(), cycle_length_days=0)
    with pytest.raises(ValueError, match="absent from adsl"):
        summarise_exposure(_adex(), _adsl(n_safety=1, n_other=0), cycle_length_days=21)
