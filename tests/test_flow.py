"""Tests of helpers.everolimus_nk.flow: FlowJo long export -> NK markers, change from baseline.

Reference values are hand computations on toy exports (arithmetic stated in each test) and the
CDISC ADaM IG v1.3 definitions CHG = AVAL - BASE, PCHG = 100 * CHG / BASE.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.everolimus_nk.flow import (
    NK_GATE_PREFIX,
    NK_MARKERS,
    FlowResult,
    derive_biomarker_change,
    derive_flow_markers,
)

_NK = NK_GATE_PREFIX


def _export_row(subject, visit, entry, value, sample_date="2024-02-01"):
    return {
        "subject_id": subject,
        "visit": visit,
        "sample_date": sample_date,
        "stimulation": entry["stimulation"],
        "population": entry["population"],
        "statistic": entry["statistic"],
        "marker": entry["marker"] or np.nan,  # FlowJo leaves the marker empty (NaN in pandas)
        "value": value,
    }


def _full_export(subject="EN-001-0001", visit="BASELINE", offset=0.0):
    """One export row per catalogue entry, value = 10 * (position + 1) + offset."""
    rows = [
        _export_row(subject, visit, entry, 10.0 * (i + 1) + offset)
        for i, entry in NK_MARKERS.iterrows()
    ]
    return pd.DataFrame(rows)


def test_catalogue_has_the_thirteen_markers_with_documented_gate_paths():
    cat = NK_MARKERS.set_index("PARAMCD")
    assert list(cat.index) == [
        "NKCNT",
        "NKPCT",
        "CD56BR",
        "CD56DIM",
        "CD57",
        "NKG2A",
        "KIR",
        "NKG2D",
        "NKP46",
        "CD107AU",
        "CD107AK",
        "IFNGU",
        "IFNGK",
    ]
    # gate paths from the data dictionary table "Gate paths used by the analysis"
    assert cat.loc["NKCNT", ["population", "statistic"]].tolist() == [_NK, "count_per_ul"]
    assert cat.loc["CD57", "population"] == f"{_NK}/CD56dim/CD57+"
    assert cat.loc["NKP46", ["statistic", "marker"]].tolist() == ["median_fi", "NKp46"]
    assert cat.loc["CD107AK", ["population", "stimulation"]].tolist() == [f"{_NK}/CD107a+", "K562"]
    assert cat.loc["IFNGU", ["population", "stimulation"]].tolist() == [f"{_NK}/IFNg+", "none"]
    assert cat["log_scale"].dtype == bool
    assert all("(" in label for label in cat["PARAM"])  # every label states its unit


def test_each_catalogue_entry_maps_to_its_paramcd_on_a_toy_export():
    result = derive_flow_markers(_full_export())
    assert isinstance(result, FlowResult)
    assert result.unmapped.empty
    got = result.markers.set_index("PARAMCD")
    for i, entry in NK_MARKERS.iterrows():
        row = got.loc[entry["PARAMCD"]]
        assert row["AVAL"] == 10.0 * (i + 1)
        assert row["PARAM"] == entry["PARAM"]
        assert row["AVALU"] == entry["AVALU"]
        assert row["STIM"] == entry["stimulation"]
    assert (got["LODFL"] == "N").all()
    assert (got["AVISITN"] == 0).all()
    assert got["ADT"].iloc[0] == pd.Timestamp("2024-02-01")


def test_net_specific_responses_are_stimulated_minus_unstimulated():
    result = derive_flow_markers(_full_export())
    got = result.markers.set_index("PARAMCD")
    pos = {cd: i for i, cd in enumerate(NK_MARKERS["PARAMCD"])}
    # CD107AK at position 10 -> 110, CD107AU at position 9 -> 100: net 10 percentage points
    assert got.loc["CD107ANET", "AVAL"] == 10.0 * (pos["CD107AK"] - pos["CD107AU"])
    assert got.loc["IFNGNET", "AVAL"] == 10.0 * (pos["IFNGK"] - pos["IFNGU"])
    assert got.loc["IFNGNET", "STIM"] == "K562-none"
    assert got.loc["IFNGNET", "AVALU"] == "percentage points"


def test_net_response_not_derived_when_one_tube_is_missing():
    export = _full_export()
    export = export[
        ~export["population"].str.endswith("CD107a+") | (export["stimulation"] == "K562")
    ]
    codes = set(derive_flow_markers(export).markers["PARAMCD"])
    assert "CD107AU" not in codes
    assert "CD107ANET" not in codes
    assert "IFNGNET" in codes


def test_unmapped_rows_are_returned_with_reason_not_dropped():
    export = _full_export()
    extra = pd.DataFrame(
        [
            {**export.iloc[0].to_dict(), "statistic": "count", "value": 5000.0},  # raw events
            {**export.iloc[1].to_dict(), "stimulation": "K562"},  # NK % in the K562 tube
            {**export.iloc[2].to_dict(), "visit": "M6"},  # visit outside the protocol
        ]
    )
    result = derive_flow_markers(pd.concat([export, extra], ignore_index=True))
    assert len(result.unmapped) == 3
    assert result.unmapped["statistic"].tolist()[0] == "count"
    assert result.unmapped["REASON"].str.contains("no catalogue entry").sum() == 2
    assert result.unmapped["REASON"].iloc[2].startswith("visit not in")
    assert len(result.markers) == len(NK_MARKERS) + 2  # 13 markers + 2 net responses


def test_gate_path_and_marker_matching_tolerates_whitespace_and_slashes():
    export = _full_export()
    export["population"] = " /" + export["population"] + "/ "
    export.loc[export["marker"].isna(), "marker"] = ""
    result = derive_flow_markers(export)
    assert result.unmapped.empty
    assert len(result.markers) == len(NK_MARKERS) + 2


def test_marker_column_may_be_absent_when_no_median_fi():
    export = _full_export().query("statistic != 'median_fi'").drop(columns="marker")
    result = derive_flow_markers(export)
    assert result.unmapped.empty
    assert "NKG2D" not in set(result.markers["PARAMCD"])


def test_change_from_baseline_across_visits_hand_computed():
    export = pd.concat(
        [
            _full_export(visit="BASELINE"),
            _full_export(visit="M3", offset=5.0),
            _full_export(visit="M9", offset=-2.0),
        ],
        ignore_index=True,
    )
    markers = derive_flow_markers(export).markers
    nkcnt = markers[markers["PARAMCD"] == "NKCNT"].set_index("AVISIT")
    # NKCNT baseline 10, M3 15, M9 8
    assert nkcnt["AVISITN"].tolist() == [0, 3, 9]
    assert nkcnt["BASE"].tolist() == [10.0, 10.0, 10.0]
    assert math.isnan(nkcnt.loc["BASELINE", "CHG"])
    assert nkcnt.loc["M3", ["CHG", "PCHG"]].tolist() == [5.0, 50.0]
    assert nkcnt.loc["M9", ["CHG", "PCHG"]].tolist() == [-2.0, -20.0]
    assert nkcnt["ABLFL"].tolist() == ["Y", "N", "N"]
    net = markers[markers["PARAMCD"] == "CD107ANET"].set_index("AVISIT")
    # net = (110 + o) - (100 + o) = 10 at every visit: change 0
    assert net.loc["M3", "CHG"] == 0.0


def test_missing_baseline_keeps_rows_with_nan_base_and_change():
    export = pd.concat(
        [_full_export(subject="EN-001-0001", visit="M3"), _full_export(visit="BASELINE")],
        ignore_index=True,
    )
    export = export[~((export["subject_id"] == "EN-001-0001") & (export["visit"] == "BASELINE"))]
    markers = derive_flow_markers(export).markers
    assert len(markers) == len(NK_MARKERS) + 2
    assert markers["BASE"].isna().all()
    assert markers["CHG"].isna().all()
    assert markers["PCHG"].isna().all()
    assert (markers["ABLFL"] == "N").all()


def test_duplicated_export_key_raises():
    export = pd.concat([_full_export(), _full_export().iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicated key"):
        derive_flow_markers(export)


def test_missing_required_column_raises():
    with pytest.raises(ValueError, match="population"):
        derive_flow_markers(_full_export().drop(columns="population"))
    with pytest.raises(TypeError, match="DataFrame"):
        derive_flow_markers("nk_flow.csv")


def test_custom_catalogue_with_duplicated_gate_raises():
    bad = pd.concat([NK_MARKERS, NK_MARKERS.iloc[:1].assign(PARAMCD="NKCNT2")])
    with pytest.raises(ValueError, match="catalogue"):
        derive_flow_markers(_full_export(), catalogue=bad)


def test_empty_export_gives_empty_markers():
    result = derive_flow_markers(_full_export().iloc[0:0])
    assert result.markers.empty
    assert result.unmapped.empty
    assert "PCHG" in result.markers.columns


# ------------------------------------------------------------------------------------------
# generic change from baseline (also used for granzyme B)
# ------------------------------------------------------------------------------------------


def test_biomarker_change_generic_without_stim_preserves_order_and_index():
    df = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "B", "A"],
            "PARAMCD": ["GZMB"] * 5,
            "AVISIT": ["M3", "BASELINE", "BASELINE", "M3", "M9"],
            "AVAL": [30.0, 20.0, 0.0, 4.0, 10.0],
        },
        index=[10, 11, 12, 13, 14],
    )
    out = derive_biomarker_change(df)
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert out["BASE"].tolist() == [20.0, 20.0, 0.0, 0.0, 20.0]
    # A: M3 30 vs 20 -> +10, +50 %; M9 10 vs 20 -> -10, -50 %
    assert out.loc[10, ["CHG", "PCHG"]].tolist() == [10.0, 50.0]
    assert out.loc[14, ["CHG", "PCHG"]].tolist() == [-10.0, -50.0]
    # B: baseline 0 -> CHG defined, PCHG undefined
    assert out.loc[13, "CHG"] == 4.0
    assert math.isnan(out.loc[13, "PCHG"])
    assert out["ABLFL"].tolist() == ["N", "Y", "Y", "N", "N"]
    assert "BASE" not in df.columns  # input not modified


def test_biomarker_change_custom_baseline_visit_and_missing_baseline_value():
    df = pd.DataFrame(
        {
            "USUBJID": ["A", "A"],
            "PARAMCD": ["CTC", "CTC"],
            "AVISIT": ["C1D1", "C2D1"],
            "AVAL": [np.nan, 3.0],
        }
    )
    out = derive_biomarker_change(df, baseline_visit="C1D1")
    assert out["ABLFL"].tolist() == ["Y", "N"]
    assert out["BASE"].isna().all()
    assert out["CHG"].isna().all()


def test_biomarker_change_duplicate_baseline_raises():
    df = pd.DataFrame(
        {"USUBJID": ["A", "A"], "PARAMCD": ["X", "X"], "AVISIT": ["BASELINE"] * 2, "AVAL": [1, 2]}
    )
    with pytest.raises(ValueError, match="baseline records"):
        derive_biomarker_change(df)
    with pytest.raises(TypeError, match="by must be"):
        derive_biomarker_change(df, by="USUBJID")
