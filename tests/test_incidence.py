"""Exposure-adjusted incidence, event flags by SOC + term list, dose at each sample.

Reference: R ``poisson.test(10, 100)``: rate 0.1, 95 % CI 0.04795389 to 0.18390356 (exact,
Garwood 1936).
"""

import pandas as pd
import pytest

from helpers.endpoints import incidence
from helpers.everolimus_nk import samples

D = pd.Timestamp("2024-01-01")


def test_poisson_rate_matches_r_poisson_test():
    out = incidence.compute_poisson_rate(10, 100.0, "x").iloc[0]
    assert out["estimate"] == pytest.approx(0.1)
    assert out["ci_lower"] == pytest.approx(0.04795389, abs=1e-8)
    assert out["ci_upper"] == pytest.approx(0.18390356, abs=1e-8)
    zero = incidence.compute_poisson_rate(0, 10.0, "x").iloc[0]
    assert zero["ci_lower"] == 0
    assert zero["ci_upper"] == pytest.approx(0.3688879, abs=1e-6)  # poisson.test(0, 10)


def test_eair_stops_time_at_risk_at_the_first_event():
    windows = pd.DataFrame(
        {"USUBJID": ["A", "B"], "START": [D, D], "END": [D + pd.Timedelta(days=364)] * 2}
    )
    events = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B"],
            "ASTDT": [
                D + pd.Timedelta(days=99),
                D + pd.Timedelta(days=200),
                D + pd.Timedelta(days=400),
            ],
        }
    )
    out = incidence.compute_exposure_adjusted_incidence(events, windows, "x").iloc[0]
    years = (100 + 365) / 365.25  # A at risk 100 days, B the whole year (event outside)
    assert out["n"] == 1
    assert out["N"] == 2
    assert out["estimate"] == pytest.approx(100 / years)


def test_event_flag_by_soc_and_term_list():
    adae = pd.DataFrame(
        {
            "AEBODSYS": ["Infections and infestations", "Blood and lymphatic system disorders"] * 2,
            "AEDECOD": ["Pneumonia", "Febrile neutropenia", "Sepsis", "Anaemia"],
        }
    )
    out = incidence.derive_event_flag(adae, "Infections and infestations", ["febrile neutropenia"])
    assert out["INFFL"].tolist() == ["Y", "Y", "Y", "N"]
    assert out["FLAGSRC"].tolist() == ["SOC", "term list", "SOC", ""]


def test_dose_at_samples_and_summary():
    adex = pd.DataFrame(
        {
            "USUBJID": ["A", "A"],
            "CYCLE": [1, 2],
            "ASTDT": [D, D + pd.Timedelta(days=28)],
            "DOSE": [10.0, 5.0],
            "DOSELVL": [0, -1],
        }
    )
    s = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "A"],
            "AVISIT": ["BASELINE", "M3", "M9"],
            "ADT": [D, D + pd.Timedelta(days=90), D + pd.Timedelta(days=300)],
            "TRTPHASE": ["pre-treatment", "on treatment", "off treatment"],
        }
    )
    out = incidence.derive_dose_at_samples(s, adex)
    assert out["DOSELVL"].tolist() == [0, -1, -1]
    table = samples.summarise_dose_at_samples(out).set_index("AVISIT")
    assert table.loc["BASELINE", "before first dose"] == 1
    assert table.loc["M3", "dose level -1"] == 1
    assert table.loc["M9", "off treatment"] == 1
