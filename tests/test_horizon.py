"""Registry time frames: response and adverse events truncated at a horizon; TTR and DoR."""

import pandas as pd
import pytest

from helpers.endpoints import efficacy, horizon

START = pd.Timestamp("2024-01-01")


def _adsl():
    return pd.DataFrame(
        {"USUBJID": ["A", "B"], "TRTFL": "Y", "EFFFL": "Y", "TRTSDT": [START, START]}
    )


def _adrs():
    # A: PR on day 340 confirmed on day 380 (after a 365-day horizon); B: SD then PD
    rows = [
        ("A", "W12", 84, "SD", -10.0),
        ("A", "W48", 340, "PR", -40.0),
        ("A", "W54", 380, "PR", -45.0),
        ("B", "W12", 84, "SD", 5.0),
        ("B", "W24", 168, "PD", 30.0),
    ]
    df = pd.DataFrame(rows, columns=["USUBJID", "AVISIT", "ADY", "AVALC", "PCHGBL"])
    df["ADT"] = START + pd.to_timedelta(df["ADY"], unit="D")
    return df.assign(PARAMCD="OVR")


def test_response_confirmed_after_the_horizon_does_not_count_at_the_horizon():
    at = horizon.derive_adrs_at_horizon(_adrs(), _adsl(), 365)
    full = horizon.derive_adrs_at_horizon(_adrs(), _adsl(), 10_000)
    cbor_at = at[at["PARAMCD"] == "CBOR"].set_index("USUBJID")["AVALC"]
    cbor_full = full[full["PARAMCD"] == "CBOR"].set_index("USUBJID")["AVALC"]
    assert cbor_full["A"] == "PR"
    assert cbor_at["A"] == "SD"  # unconfirmed PR by day 365, SD late enough
    bor_at = at[at["PARAMCD"] == "BOR"].set_index("USUBJID")["AVALC"]
    assert bor_at["A"] == "PR"  # unconfirmed ORR keeps it
    assert at.loc[at["PARAMCD"] == "CBOR", "BESTPCHG"].tolist() == [-40.0, 5.0]
    table = efficacy.derive_bor_table(at, _adsl(), "EFFFL", "CBOR")
    assert table["RSPFL"].tolist() == ["N", "N"]


def test_adverse_events_after_the_horizon_are_left_out():
    adae = pd.DataFrame(
        {"USUBJID": ["A", "A", "B"], "ASTDT": [START, START + pd.Timedelta(days=400), pd.NaT]}
    )
    out = horizon.derive_adae_at_horizon(adae, _adsl(), 365)
    assert len(out) == 2
    assert out["ASTDY"].iloc[0] == 1
    with pytest.raises(ValueError, match="horizon_days"):
        horizon.derive_adae_at_horizon(adae, _adsl(), 0)
