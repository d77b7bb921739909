"""Tests of helpers.everolimus_nk.western: rpS6 densitometry normalisation, lane flags, inhibition.

Reference values are hand computations on toy membranes (arithmetic stated in each test):
RATIO = p-rpS6 / total rpS6 (Taylor et al. 2013), NRATIO = RATIO / calibrator RATIO
(Degasperi et al. 2014), inhibition = 100 * (1 - AVAL / BASE).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from helpers.everolimus_nk.western import (
    LOADING_CV_MAX_DEFAULT,
    WesternResult,
    compute_rps6_inhibition,
    derive_western,
)


def _lane(membrane, lane, subject, visit, p, t, load=100.0, sat=()):
    """Raw rows of one lane; subject None = calibrator lane; sat = bands flagged saturated."""
    kind = "calibrator" if subject is None else "sample"
    bands = {"p_rpS6": p, "total_rpS6": t, "loading_control": load}
    return [
        {
            "membrane_id": membrane,
            "lane": lane,
            "lane_type": kind,
            "subject_id": subject,
            "visit": visit,
            "band": band,
            "intensity": value,
            "saturated": "Y" if band in sat else "N",
        }
        for band, value in bands.items()
        if value is not None
    ]


def _wb(*lanes):
    return pd.DataFrame([row for lane in lanes for row in lane])


def _by_lane(result: WesternResult) -> pd.DataFrame:
    return result.lanes.set_index(["MEMBRANE", "LANE"])


def test_default_loading_tolerance_is_documented_value():
    assert LOADING_CV_MAX_DEFAULT == 0.5


def test_calibrator_ratio_05_and_sample_ratio_1_give_nratio_2():
    wb = _wb(
        _lane("WB01", 1, None, None, 100.0, 200.0),  # calibrator 0.5
        _lane("WB01", 2, "EN-001-0001", "BASELINE", 300.0, 300.0),  # sample 1.0
    )
    result = derive_western(wb)
    row = result.lanes.iloc[0]
    assert len(result.lanes) == 1  # calibrator lanes are not adwb rows
    assert (row["RATIO"], row["CALRATIO"], row["NRATIO"]) == (1.0, 0.5, 2.0)
    assert (row["SATFL"], row["UNDETFL"], row["LOADFL"], row["EVALFL"]) == ("N", "N", "N", "Y")
    assert result.exclusions.empty
    assert list(result.exclusions.columns) == [
        "USUBJID",
        "AVISIT",
        "MEMBRANE",
        "LANE",
        "RULE",
        "REASON",
    ]


def test_several_calibrator_lanes_are_averaged_and_membranes_normalised_separately():
    wb = _wb(
        _lane("WB01", 1, None, None, 25.0, 100.0),  # 0.25
        _lane("WB01", 15, None, None, 100.0, 100.0),  # 1.0 -> geometric mean 0.5 (not 0.625)
        _lane("WB01", 2, "EN-001-0001", "BASELINE", 100.0, 100.0),  # 1.0 / 0.5 = 2
        _lane("WB02", 1, None, None, 100.0, 100.0),  # 1.0
        _lane("WB02", 2, "EN-001-0001", "M3", 50.0, 100.0),  # 0.5 / 1.0 = 0.5
    )
    lanes = _by_lane(derive_western(wb))
    assert lanes.loc[("WB01", 2), "CALRATIO"] == pytest.approx(0.5)
    assert lanes.loc[("WB01", 2), "NRATIO"] == pytest.approx(2.0)
    assert lanes.loc[("WB02", 2), "NRATIO"] == pytest.approx(0.5)


def test_saturated_lane_excluded_and_listed():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "BASELINE", 900.0, 300.0, sat=("p_rpS6",)),
        _lane("WB01", 3, "EN-001-0002", "BASELINE", 100.0, 100.0),
    )
    result = derive_western(wb)
    lanes = _by_lane(result)
    assert lanes.loc[("WB01", 2), ["SATFL", "EVALFL"]].tolist() == ["Y", "N"]
    assert lanes.loc[("WB01", 2), "RATIO"] == 3.0  # shown for QC
    assert math.isnan(lanes.loc[("WB01", 2), "NRATIO"])
    assert lanes.loc[("WB01", 3), "EVALFL"] == "Y"
    assert result.exclusions[["USUBJID", "AVISIT", "LANE", "RULE"]].to_dict("records") == [
        {"USUBJID": "EN-001-0001", "AVISIT": "BASELINE", "LANE": 2, "RULE": "saturated"}
    ]


def test_saturated_loading_control_only_disables_loading_check():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 80.0, 100.0, sat=("loading_control",)),
    )
    row = derive_western(wb).lanes.iloc[0]
    assert (row["SATFL"], row["EVALFL"], row["LOADFL"]) == ("N", "Y", None)
    assert row["NRATIO"] == pytest.approx(1.6)


def test_membrane_without_calibrator_lists_membrane_and_all_its_lanes():
    wb = _wb(
        _lane("WB01", 1, "EN-001-0001", "BASELINE", 100.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 50.0, 100.0),
        _lane("WB02", 1, None, None, 50.0, 100.0),
        _lane("WB02", 2, "EN-001-0002", "BASELINE", 50.0, 100.0),
    )
    result = derive_western(wb)
    lanes = _by_lane(result)
    assert lanes.loc["WB01", "EVALFL"].tolist() == ["N", "N"]
    assert lanes.loc["WB01", "NRATIO"].isna().all()
    assert lanes.loc[("WB02", 2), "EVALFL"] == "Y"
    exc = result.exclusions
    assert exc["MEMBRANE"].eq("WB01").all()
    assert pd.isna(exc.loc[0, "LANE"])
    assert exc.loc[0, "REASON"] == "no calibrator lane on the membrane"
    assert exc["LANE"].dropna().tolist() == [1, 2]
    assert set(exc["RULE"]) == {"no_usable_calibrator"}


def test_saturated_calibrator_makes_membrane_unusable_and_is_listed():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0, sat=("total_rpS6",)),
        _lane("WB01", 2, "EN-001-0001", "BASELINE", 100.0, 100.0),
    )
    result = derive_western(wb)
    assert result.lanes.loc[0, "EVALFL"] == "N"
    exc = result.exclusions
    assert len(exc) == 3  # membrane row, calibrator lane (saturated), sample lane
    assert exc.loc[0, "REASON"] == "no evaluable calibrator lane on the membrane"
    cal = exc[exc["LANE"] == 1].iloc[0]
    assert cal["RULE"] == "saturated"
    assert cal["REASON"].startswith("calibrator lane:")
    assert cal["USUBJID"] is None


def test_undetectable_phospho_is_a_valid_zero_result():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 0.0, 100.0),
    )
    result = derive_western(wb)
    row = result.lanes.iloc[0]
    assert (row["UNDETFL"], row["EVALFL"], row["RATIO"], row["NRATIO"]) == ("Y", "Y", 0.0, 0.0)
    assert result.exclusions.empty


def test_undetectable_threshold_above_zero():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 5.0, 100.0),  # 5 <= 10: below detection
        _lane("WB01", 3, "EN-001-0002", "M3", 40.0, 8.0),  # total 8 <= 10: not evaluable
    )
    result = derive_western(wb, undetectable_threshold=10.0)
    lanes = _by_lane(result)
    assert lanes.loc[("WB01", 2), ["UNDETFL", "NRATIO"]].tolist() == ["Y", 0.0]
    assert lanes.loc[("WB01", 3), "EVALFL"] == "N"
    assert result.exclusions["RULE"].tolist() == ["total_undetectable"]


def test_undetectable_total_is_not_evaluable():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 10.0, 0.0),
    )
    result = derive_western(wb)
    assert result.lanes.loc[0, "EVALFL"] == "N"
    assert math.isnan(result.lanes.loc[0, "RATIO"])
    assert result.exclusions["RULE"].tolist() == ["total_undetectable"]


def test_missing_ratio_band_is_not_evaluable():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 10.0, None),
    )
    result = derive_western(wb)
    assert result.lanes.loc[0, "EVALFL"] == "N"
    assert result.exclusions["RULE"].tolist() == ["missing_band"]


def test_loading_flag_relative_to_membrane_median_hand_computed():
    # loading controls 100, 100, 160, 140 -> median 120; |160/120 - 1| = 0.33, |100/120 - 1| = 0.17
    # with tolerance 0.3: 160 flagged, others not; with default 0.5 nothing flagged
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0, load=100.0),
        _lane("WB01", 2, "EN-001-0001", "M3", 50.0, 100.0, load=100.0),
        _lane("WB01", 3, "EN-001-0002", "M3", 50.0, 100.0, load=160.0),
        _lane("WB01", 4, "EN-001-0003", "M3", 50.0, 100.0, load=140.0),
    )
    assert derive_western(wb, loading_cv_max=0.3).lanes["LOADFL"].tolist() == ["N", "Y", "N"]
    default = derive_western(wb).lanes
    assert default["LOADFL"].tolist() == ["N", "N", "N"]
    assert (default["EVALFL"] == "Y").all()  # a flag, never an exclusion


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.assign(band="pS6"), "band must be one of"),
        (lambda df: df.assign(lane_type="ladder"), "lane_type"),
        (lambda df: df.assign(saturated="yes"), "saturated"),
        (lambda df: df.assign(intensity=-1.0), "intensity"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "duplicated"),
        (lambda df: df.drop(columns="band"), "band"),
    ],
)
def test_invalid_raw_tables_raise(mutate, message):
    wb = _wb(_lane("WB01", 1, None, None, 50.0, 100.0))
    with pytest.raises(ValueError, match=message):
        derive_western(mutate(wb))


def test_inconsistent_lane_identity_and_unnamed_sample_lane_raise():
    wb = _wb(_lane("WB01", 2, "EN-001-0001", "M3", 50.0, 100.0))
    wb.loc[1, "subject_id"] = "EN-001-0002"
    with pytest.raises(ValueError, match="identical on every band"):
        derive_western(wb)
    wb = _wb(_lane("WB01", 2, "EN-001-0001", "M3", 50.0, 100.0)).assign(visit=None)
    with pytest.raises(ValueError, match="sample lanes need"):
        derive_western(wb)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"loading_cv_max": 0.0}, ValueError),
        ({"loading_cv_max": np.inf}, ValueError),
        ({"loading_cv_max": "0.5"}, TypeError),
        ({"undetectable_threshold": -1.0}, ValueError),
    ],
)
def test_invalid_parameters_raise(kwargs, error):
    with pytest.raises(error):
        derive_western(_wb(_lane("WB01", 1, None, None, 50.0, 100.0)), **kwargs)


# ------------------------------------------------------------------------------------------
# inhibition
# ------------------------------------------------------------------------------------------


def _adwb(rows):
    return pd.DataFrame(rows, columns=["USUBJID", "AVISIT", "NRATIO", "EVALFL"])


def test_inhibition_75_percent_from_baseline_2_to_05():
    out = compute_rps6_inhibition(
        _adwb([("EN-001-0001", "BASELINE", 2.0, "Y"), ("EN-001-0001", "M3", 0.5, "Y")])
    )
    # 100 * (1 - 0.5 / 2.0) = 75
    assert out.to_dict("records") == [
        {
            "USUBJID": "EN-001-0001",
            "AVISIT": "M3",
            "BASE": 2.0,
            "AVAL": 0.5,
            "NLANES": 1,
            "INHIB_PCT": 75.0,
            "REASON": None,
        }
    ]


def test_inhibition_end_to_end_from_raw_membranes():
    wb = _wb(
        _lane("WB01", 1, None, None, 50.0, 100.0),  # calibrator 0.5
        _lane("WB01", 2, "EN-001-0001", "BASELINE", 100.0, 100.0),  # 1.0 / 0.5 = 2.0
        _lane("WB02", 1, None, None, 100.0, 100.0),  # calibrator 1.0
        _lane("WB02", 2, "EN-001-0001", "M3", 50.0, 100.0),  # 0.5 / 1.0 = 0.5
    )
    out = compute_rps6_inhibition(derive_western(wb).lanes)
    assert out.loc[0, "INHIB_PCT"] == pytest.approx(75.0)


def test_inhibition_replicate_lanes_averaged_and_non_evaluable_ignored():
    out = compute_rps6_inhibition(
        _adwb(
            [
                ("A", "BASELINE", 2.0, "Y"),
                ("A", "BASELINE", 8.0, "Y"),  # geometric mean 4.0 (arithmetic 5.0)
                ("A", "M3", 2.0, "Y"),
                ("A", "M3", np.nan, "N"),  # not evaluable: ignored
            ]
        )
    )
    # 100 * (1 - 2.0 / 4.0) = 50
    assert out.loc[0, ["BASE", "NLANES", "INHIB_PCT"]].tolist() == [4.0, 1, 50.0]


def test_inhibition_without_evaluable_baseline_is_nan_with_reason():
    out = compute_rps6_inhibition(
        _adwb([("A", "BASELINE", np.nan, "N"), ("A", "M3", 0.5, "Y"), ("A", "M9", 0.2, "Y")])
    )
    assert out["AVISIT"].tolist() == ["M3", "M9"]
    assert out["INHIB_PCT"].isna().all()
    assert (out["REASON"] == "no evaluable baseline lane").all()


def test_inhibition_undetectable_baseline_and_increase():
    out = compute_rps6_inhibition(
        _adwb(
            [
                ("A", "BASELINE", 0.0, "Y"),
                ("A", "M3", 0.5, "Y"),
                ("B", "BASELINE", 1.0, "Y"),
                ("B", "M3", 1.5, "Y"),
            ]
        )
    )
    assert math.isnan(out.loc[0, "INHIB_PCT"])
    assert "undetectable" in out.loc[0, "REASON"]
    assert out.loc[1, "INHIB_PCT"] == pytest.approx(-50.0)  # phosphorylation increased


def test_inhibition_expected_visits_give_rows_for_missing_samples():
    out = compute_rps6_inhibition(
        _adwb([("A", "BASELINE", 2.0, "Y"), ("A", "M3", 1.0, "Y")]), visits=["M3", "M9"]
    )
    assert out["AVISIT"].tolist() == ["M3", "M9"]
    assert out.loc[1, "NLANES"] == 0
    assert out.loc[1, "REASON"] == "no evaluable lane at this visit"
    with pytest.raises(ValueError, match="post-baseline"):
        compute_rps6_inhibition(_adwb([]), visits=["BASELINE", "M3"])


def test_inhibition_of_empty_or_baseline_only_data_is_empty():
    assert compute_rps6_inhibition(_adwb([])).empty
    assert compute_rps6_inhibition(_adwb([("A", "BASELINE", 1.0, "Y")])).empty


def test_empty_raw_table_gives_empty_outputs():
    empty = _wb(_lane("WB01", 1, None, None, 50.0, 100.0)).iloc[0:0]
    result = derive_western(empty)
    assert result.lanes.empty
    assert result.exclusions.empty
    assert "NRATIO" in result.lanes.columns


def test_calibrator_ids_read_from_csv_as_nan_are_handled():
    wb = _wb(
        _lane("WB01", 1, None, None, 100.0, 200.0),
        _lane("WB01", 2, "EN-001-0001", "BASELINE", 300.0, 300.0),
    )
    wb = pd.read_csv(io.StringIO(wb.to_csv(index=False)))  # empty cells -> NaN
    assert wb["subject_id"].isna().sum() == 3
    assert derive_western(wb).lanes.loc[0, "NRATIO"] == pytest.approx(2.0)
