"""Detectable ratio of geometric means.

Reference: R ``power.t.test(n = 20, sd = 1, sig.level = 0.05, power = 0.8, type = "paired")``
gives delta = 0.6604413 (stats package; paired = one-sample t on the differences).
"""

import math

import pytest

from helpers.endpoints import power


def test_effect_size_matches_r_power_t_test():
    out = power.compute_detectable_gmr({"x": 20}, sd_log=1.0).iloc[0]
    assert out["effect_size"] == pytest.approx(0.6604413, abs=1e-5)
    assert out["detectable_gmr_decrease"] == pytest.approx(math.exp(-0.6604413), abs=1e-5)


def test_more_pairs_detect_smaller_effects_and_tiny_n_is_not_estimable():
    out = power.compute_detectable_gmr({"enrolled": 36, "evaluable": 20, "one": 1}, sd_log=0.8)
    dec = out["detectable_gmr_decrease"].tolist()
    assert dec[0] > dec[1]  # 36 pairs detect a ratio closer to 1
    assert math.isnan(dec[2])
    assert out["note"].iloc[2].startswith("not estimable")
    with pytest.raises(ValueError, match="sd_log"):
        power.compute_detectable_gmr({"x": 5}, sd_log=0)


def test_not_estimable_table_keeps_the_columns_and_says_why():
    ok = power.compute_detectable_gmr({"x": 5}, sd_log=1.0)
    out = power.compute_detectable_gmr_not_estimable({"enrolled": 3, "evaluable": 1}, "1 pair(s)")
    assert list(out.columns) == list(ok.columns)
    assert out["pairs"].tolist() == [3, 1]
    assert out["detectable_gmr_decrease"].isna().all()
    assert (out["note"] == "not estimable: 1 pair(s)").all()
