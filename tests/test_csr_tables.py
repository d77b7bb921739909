"""Clinical-study-report tables (helpers.reporting.tables) on a hand-made cohort.

Layouts: pharmaverse TLG catalogue (https://insightsengineering.github.io/tlg-catalog/), DMT01
demographics (n (%), median, range, by column with N in the header), DST01 disposition, LSTAE /
death listings. Expected counts are worked out by hand below.
"""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.everolimus_nk import populations as nk_populations
from helpers.her2_ctc import populations as her2_populations
from helpers.reporting import tables


@pytest.fixture
def adsl() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["P1", "P2", "P3", "P4"],
            "AGE": [50, 60, 70, None],
            "ECOG": [0, 1, 1, 0],
            "METSITES": ["bone;liver", "bone", "lymph_node", None],
            "TRTFL": ["Y", "Y", "Y", "N"],
            "SAFFL": ["Y", "Y", "Y", "N"],
            "EOTSTT": ["ongoing", "progression", "toxicity", None],
            "TRTSDT": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-02-01", None]),
            "TRTEDT": pd.to_datetime([None, "2024-05-01", "2024-03-01", None]),
            "DTHDT": pd.to_datetime([None, "2024-09-01", "2024-03-20", None]),
            "DTHCAUS": [None, "disease_progression", "other", None],
        }
    )


def test_table1_counts_percentages_medians_and_missing(adsl):
    data = adsl.assign(ALL=True, TREATED=adsl["TRTFL"].eq("Y"))
    t1 = tables.summarise_baseline(
        data,
        {"ALL": "Enrolled", "TREATED": "Treated"},
        [
            {"column": "AGE", "label": "Age", "kind": "continuous"},
            {"column": "ECOG", "label": "ECOG", "kind": "categorical"},
            {"column": "METSITES", "label": "Sites", "kind": "multi"},
        ],
    )
    assert list(t1.columns) == [
        "Characteristic",
        "Statistic",
        "Enrolled (N = 4)",
        "Treated (N = 3)",
    ]
    rows = t1.set_index(["Characteristic", "Statistic"])
    assert rows.loc[("Age", "n"), "Enrolled (N = 4)"] == "3"
    assert rows.loc[("Age", "Median (IQR)"), "Enrolled (N = 4)"] == "60.0 (55.0–65.0)"
    assert rows.loc[("Age", "Range"), "Enrolled (N = 4)"] == "50–70"
    assert rows.loc[("Age", "Missing"), "Enrolled (N = 4)"] == "1 (25.0%)"
    assert rows.loc[("ECOG", "1"), "Treated (N = 3)"] == "2 (66.7%)"
    # a patient counts once under each of her sites; the code reads as words
    assert rows.loc[("Sites", "Bone"), "Enrolled (N = 4)"] == "2 (50.0%)"
    assert rows.loc[("Sites", "Lymph node"), "Treated (N = 3)"] == "1 (33.3%)"
    assert rows.loc[("Sites", "Missing"), "Enrolled (N = 4)"] == "1 (25.0%)"


def test_disposition_phases_and_reasons(adsl):
    d = tables.summarise_disposition(adsl, "Enrolled")
    cells = dict(zip(d["Status"].str.strip(), d["Patients (N = 4)"], strict=True))
    assert cells["Treated (% of enrolled)"] == "3 (75.0%)"
    assert cells["On treatment at data cut-off (% of treated)"] == "1 (33.3%)"
    assert cells["Ended treatment (% of treated)"] == "2 (66.7%)"
    assert cells["Progression"] == "1 (33.3%)"
    assert cells["Toxicity"] == "1 (33.3%)"
    assert cells["Died (% of treated)"] == "2 (66.7%)"


def test_deaths_within_30_days_of_last_dose(adsl):
    deaths = tables.list_deaths(adsl)
    assert deaths["Patient"].tolist() == ["P2", "P3"]
    assert deaths["Days after last dose"].tolist() == ["123", "19"]
    assert deaths["Within 30 days"].tolist() == ["No", "Yes"]


def test_ae_listing_keeps_grade3_or_serious_treatment_emergent_only(adsl):
    adae = pd.DataFrame(
        {
            "USUBJID": ["P1", "P2", "P3", "P4"],
            "AEDECOD": ["Rash", "Anaemia", "Nausea", "Fatigue"],
            "AEBODSYS": ["Skin", "Blood", "GI", "General"],
            "AETOXGR": [1, 3, 2, 4],
            "ASTDT": pd.to_datetime(["2024-01-05"] * 4),
            "AENDT": pd.to_datetime([None] * 4),
            "AESER": ["N", "N", "Y", "N"],
            "AEREL": ["Y", "N", "N", "N"],
            "TRTEMFL": ["Y", "Y", "Y", "Y"],
        }
    )
    listing = tables.list_adverse_events(adae, adsl, min_grade=3)
    assert listing["Preferred term"].tolist() == ["Anaemia", "Nausea"]  # P4 is not in SAFFL
    assert listing["End"].tolist() == ["—", "—"]


def test_populations_are_nested_with_reasons_and_listed():
    members = pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C"],
            "S": [True, True, True],
            "E": [True, True, False],
            "E_reason": [None, None, "no CTC"],
            "T": [True, False, False],
            "T_reason": [None, "not treated", None],
        }
    )
    pops = {"S": "Screened", "E": "Evaluable", "T": "Treated"}
    table = tables.summarise_analysis_populations(members, pops)
    assert table["Status"].str.strip().tolist() == [
        "In population",
        "In population",
        "Not included: no CTC",
        "In population",
        "Not included: not treated",
    ]
    exits = tables.list_population_exits(members, pops)
    assert exits.to_dict("records") == [
        {
            "Patient": "B",
            "Last population": "Evaluable",
            "Not in": "Treated",
            "Reason": "not treated",
        },
        {"Patient": "C", "Last population": "Screened", "Not in": "Evaluable", "Reason": "no CTC"},
    ]
    members.loc[2, "T"] = True
    with pytest.raises(ValueError, match="nested"):
        tables.summarise_analysis_populations(members, pops)


def test_trial_population_definitions_give_reasons():
    adsl = pd.DataFrame(
        {"USUBJID": ["A", "B", "C", "D"], "SCRNFL": ["Y"] * 4, "TRTFL": ["N", "N", "N", "Y"]}
    )
    adctc = pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C", "D"],
            "CTCCNT": [0, 3, 4, 9],
            "CTCPOS5": ["N", "N", "N", "Y"],
            "FISHSTAT": ["not_done", "technical_failure", "done", "done"],
            "FISHFRSN": [None, "hybridisation", None, None],
            "NCELLEVL": [0, 0, 2, 3],
            "HER2AMPFL": [None, None, "N", "Y"],
        }
    )
    m = her2_populations.derive_analysis_populations(adsl, adctc)
    assert m["FISHEVAL_reason"].tolist()[:2] == [
        "no CTC detected",
        "FISH technical failure (hybridisation)",
    ]
    assert m["TREATED"].tolist() == [False, False, False, True]
    adbm = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B"],
            "PARAMCD": ["GZMB"] * 3,
            "AVISIT": ["BASELINE", "M3", "BASELINE"],
            "AVAL": [1.0, 2.0, 3.0],
        }
    )
    ev = nk_populations.derive_analysis_populations(
        adsl.assign(TRTFL=["Y", "Y", "N", "Y"]), adbm, "M3"
    )
    assert ev["BMEVAL"].tolist() == [True, False, False, False]
    assert ev["BMEVAL_reason"].tolist()[1] == "no M3 GZMB sample"
    assert ev["BMEVAL_reason"].tolist()[3] == "no baseline GZMB sample"
