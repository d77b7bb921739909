"""Western blot QC: LOD from background (ICH Q2(R1)), calibrator dilution linearity, LOD used."""

import numpy as np
import pandas as pd
import pytest

from helpers.everolimus_nk import western, western_qc


def _rows(membrane, lane, lane_type, subject, visit, volumes, background=None, load=None):
    bands = ("p_rpS6", "total_rpS6", "loading_control")
    return [
        {
            "membrane_id": membrane,
            "lane": lane,
            "lane_type": lane_type,
            "subject_id": subject,
            "visit": visit,
            "band": b,
            "intensity": v,
            "saturated": "N",
            "background": background,
            "calibrator_load": load,
        }
        for b, v in zip(bands, volumes, strict=True)
    ]


def _wb():
    rows = _rows("WB01", 1, "calibrator", None, None, (100, 100, 100), 10.0, 1.0)
    rows += _rows("WB01", 2, "sample", "A", "BASELINE", (80, 100, 100), 12.0)
    rows += _rows("WB01", 3, "sample", "A", "M3", (5, 100, 100), 14.0)  # p-rpS6 below LOD
    rows += _rows("WB01", 4, "sample", "A", "M9", (50, 100, 100), 8.0)
    return pd.DataFrame(rows)


def test_lod_is_k_sd_of_background_and_makes_weak_bands_undetectable():
    wb = _wb()
    lod = western_qc.compute_band_lod(wb).set_index("BAND")
    sd = np.std([10.0, 12.0, 14.0, 8.0], ddof=1)
    assert lod.loc["p_rpS6", "LOD"] == pytest.approx(3.3 * sd)  # 8.52
    without = western.derive_western(wb).lanes.set_index("AVISIT")
    with_lod = western.derive_western(wb, lod=western_qc.compute_band_lod(wb)).lanes
    with_lod = with_lod.set_index("AVISIT")
    assert without.loc["M3", "UNDETFL"] == "N"
    assert with_lod.loc["M3", "UNDETFL"] == "Y"
    assert with_lod.loc["M3", "NRATIO"] == 0
    assert with_lod.loc["M9", "UNDETFL"] == "N"


def test_lod_needs_three_values_and_a_background_column():
    wb = _wb().iloc[:6]
    out = western_qc.compute_band_lod(wb)
    assert out["LOD"].isna().all()
    assert out["note"].str.contains("fewer than 3").all()
    assert western_qc.compute_band_lod(_wb().drop(columns="background")).empty


def test_linearity_of_a_dilution_series():
    rows = []
    for lane, load in enumerate((0.25, 0.5, 1.0, 2.0), start=1):
        rows += _rows("WB01", lane, "calibrator", None, None, (1000 * load,) * 3, 5.0, load)
    rows += _rows("WB02", 1, "calibrator", None, None, (1000, 1000, 1000), 5.0, 1.0)
    out = western_qc.summarise_calibrator_linearity(pd.DataFrame(rows))
    assert list(out["MEMBRANE"].unique()) == ["WB01"]  # WB02 has one load only
    assert out["slope"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert (out["linear"] == "Y").all()
    assert out["loads"].iloc[0] == "0.25, 0.5, 1, 2"


def test_only_full_load_calibrators_normalise():
    rows = _rows("WB01", 1, "calibrator", None, None, (100, 100, 100), 5.0, 1.0)
    rows += _rows("WB01", 2, "calibrator", None, None, (10, 40, 50), 5.0, 0.5)  # ratio 0.25
    rows += _rows("WB01", 3, "sample", "A", "BASELINE", (50, 100, 100), 5.0)
    lanes = western.derive_western(pd.DataFrame(rows)).lanes
    assert lanes["CALRATIO"].iloc[0] == pytest.approx(1.0)
