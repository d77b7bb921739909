"""NK flow: minimum-event QC per gate and multiplicity families without redundant tests."""

import numpy as np
import pandas as pd
import pytest

from helpers.everolimus_nk import flow, flow_qc

NK = flow.NK_GATE_PREFIX


def _export(nk_events: float, cd57_pct: float = 40.0) -> pd.DataFrame:
    rows = [
        ("none", NK, "count", None, nk_events),
        ("none", f"{NK}/CD56dim", "freq_of_parent", None, 50.0),
        ("none", f"{NK}/CD56dim/CD57+", "freq_of_parent", None, cd57_pct),
        ("K562", f"{NK}/CD107a+", "freq_of_parent", None, 20.0),
    ]
    return pd.DataFrame(
        [("P1", "M3", *r) for r in rows],
        columns=[
            "subject_id",
            "visit",
            "stimulation",
            "population",
            "statistic",
            "marker",
            "value",
        ],
    )


def test_events_propagate_down_the_gate_path():
    out = flow_qc.summarise_gate_events(_export(1000.0), min_events=100).set_index("PARAMCD")
    assert out.loc["CD56DIM", "parent_events"] == 1000
    assert out.loc["CD57", "parent_events"] == 500  # 1000 NK x 50 % CD56dim
    assert out.loc["CD57", "gate_events"] == 200
    assert out.loc["CD107AK", "note"] == "NK events of the unstimulated tube"
    assert (out["QCFL"] == "N").all()


def test_gate_below_minimum_is_flagged_and_removed():
    out = flow_qc.summarise_gate_events(_export(150.0), min_events=100).set_index("PARAMCD")
    assert out.loc["CD57", "QCFL"] == "Y"  # 75 CD56dim events
    assert out.loc["CD56DIM", "QCFL"] == "N"
    adbm = pd.DataFrame(
        {"USUBJID": "P1", "AVISIT": "M3", "PARAMCD": ["CD57", "CD56DIM", "CD107ANET"]}
    )
    ge = flow_qc.summarise_gate_events(_export(150.0), min_events=200)
    kept = flow_qc.select_gate_qc_pass(adbm, ge)
    assert kept.empty  # CD107AK failed too, so its net response goes
    with pytest.raises(ValueError, match="min_events"):
        flow_qc.summarise_gate_events(_export(150.0), min_events=-1)


def test_families_drop_redundant_tests_and_adjust_within_family():
    changes = pd.DataFrame(
        {
            "PARAMCD": ["CD56BR", "CD56DIM", "CD107AK", "CD107ANET", "NKCNT"],
            "p_value": [0.01, 0.01, 0.02, 0.03, 0.04],
        }
    )
    out = flow_qc.apply_nk_families(changes, primary=["CD107AK"])
    assert out["PARAMCD"].iloc[0] == "CD107AK"
    assert out["family"].iloc[0] == flow_qc.FAMILY_PRIMARY
    assert out.loc[out["PARAMCD"] == "CD107AK", "p_adj"].iloc[0] == pytest.approx(0.02)
    red = out[out["family"] == flow_qc.FAMILY_REDUNDANT]
    assert set(red["PARAMCD"]) == {"CD56DIM", "CD107ANET"}
    assert red["p_value"].isna().all()
    assert red["note"].str.contains("100 − CD56bright").any()
    expl = out[out["family"] == flow_qc.FAMILY_EXPLORATORY].set_index("PARAMCD")["p_adj"]
    np.testing.assert_allclose(expl[["CD56BR", "NKCNT"]], [0.02, 0.04])  # BH over 2 tests
    with pytest.raises(ValueError, match="not among"):
        flow_qc.apply_nk_families(changes, primary=["IFNGK"])


def test_redundant_row_keeps_its_not_estimable_note():
    # profile one_responder: a redundant marker with one pair still says why it has no number
    changes = pd.DataFrame(
        {
            "PARAMCD": ["CD107AK", "CD107ANET"],
            "p_value": [np.nan, np.nan],
            "note": ["not estimable: 1 complete pair", "not estimable: 1 complete pair"],
        }
    )
    out = flow_qc.apply_nk_families(changes, primary=["CD107AK"]).set_index("PARAMCD")["note"]
    assert out["CD107ANET"] == (
        "not estimable: 1 complete pair; redundant: K562 − unstimulated: determined by "
        "CD107AK and CD107AU"
    )


def test_gate_events_without_nk_flow_table_are_empty():
    # profile stage1_stop: nk_flow not supplied, notebook 03 goes on
    out = flow_qc.summarise_gate_events(None, 100)
    assert out.empty
    assert "QCFL" in out.columns


def test_families_pass_the_not_available_row_through():
    # profile stage1_stop: no NK marker analysed, so no primary endpoint to find
    changes = pd.DataFrame(
        {
            "PARAMCD": [""],
            "p_value": [np.nan],
            "note": ["not available: table nk_flow not supplied"],
        }
    )
    out = flow_qc.apply_nk_families(changes, primary=["CD107AK"])
    assert out["note"].tolist() == ["not available: table nk_flow not supplied"]
    assert out["family"].tolist() == [""]
