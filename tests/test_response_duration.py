"""Duration of response and time to response.

References: RECIST 1.1 §4.4 (Eisenhauer EA et al. Eur J Cancer 2009;45:228-247): DoR from the first
date CR/PR criteria are met to progression, censored as PFS; Conover WJ, Practical Nonparametric
Statistics, 3rd ed. 1999, §3.2: the 95 % CI of the median of n = 10 is (X(2), X(9)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.endpoints import response_duration as rd

_START = pd.Timestamp("2024-01-01")


def _toy():
    tp = pd.DataFrame(
        {
            "USUBJID": ["a", "a", "a", "b", "b", "c"],
            "ADT": pd.to_datetime(
                ["2024-02-12", "2024-03-25", "2024-05-06", "2024-02-12", "2024-03-25", "2024-02-12"]
            ),
            "AVALC": ["SD", "PR", "CR", "PR", "PR", "PD"],
        }
    )
    bor = pd.DataFrame({"USUBJID": ["a", "b", "c"], "AVALC": ["CR", "PR", "PD"]})
    pfs = pd.DataFrame(
        {
            "USUBJID": ["a", "b", "c"],
            "ADT": pd.to_datetime(["2024-09-01", "2024-03-25", "2024-02-12"]),
            "CNSR": [0, 1, 0],
        }
    )
    start = pd.Series(pd.to_datetime(["2024-01-01"] * 3), index=["a", "b", "c"])
    return tp, bor, pfs, start


def test_dor_starts_at_first_pr_not_at_the_later_cr_hand_count():
    out = rd.derive_duration_of_response(*_toy()).set_index("USUBJID")
    assert list(out.index) == ["b", "a"]  # sorted by first response date; c is not a responder
    # a: first PR 2024-03-25 (day 85), PFS event 2024-09-01: 161 days -> 161 / 30.4375 months
    assert out.loc["a", "RSPDT"] == pd.Timestamp("2024-03-25")
    assert out.loc["a", "TTRDY"] == 85
    assert out.loc["a", "AVAL"] == pytest.approx(161 / 30.4375)
    assert out.loc["a", "CNSR"] == 0
    # b: censored at its confirmation assessment, the PFS censoring date
    assert out.loc["b", "CNSR"] == 1
    assert out.loc["b", "AVAL"] == pytest.approx(43 / 30.4375)


def test_dor_without_responders_is_empty_and_inconsistent_input_raises():
    tp, bor, pfs, start = _toy()
    assert rd.derive_duration_of_response(tp, bor.assign(AVALC="SD"), pfs, start).empty
    with pytest.raises(ValueError, match="without any CR/PR"):
        rd.derive_duration_of_response(tp[tp.USUBJID != "a"], bor, pfs, start)


def test_ttr_median_ci_n10_is_second_and_ninth_order_statistics_conover():
    dor = pd.DataFrame({"TTR": np.arange(1.0, 11.0)})
    row = rd.summarise_time_to_response(dor, "toy").iloc[0]
    assert row["estimate"] == 5.5
    assert (row["ci_lower"], row["ci_upper"]) == (2.0, 9.0)
    one = rd.summarise_time_to_response(dor.head(1), "toy").iloc[0]
    assert np.isnan(one["ci_lower"])
    assert rd.summarise_time_to_response(dor.head(0), "toy").iloc[0]["note"].startswith("not estim")


def test_response_timing_from_a_best_response_table():
    """Same day convention as derive_duration_of_response: (end - start).days + 1."""
    rsp = [_START + pd.Timedelta(days=d) for d in (61, 91, 120)]
    bor = pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C", "D"],
            "TRTSDT": [_START] * 4,
            "RSPDT": [*rsp, pd.NaT],
            "RSPFL": ["Y", "Y", "Y", "N"],
        }
    )
    ends = [r + pd.Timedelta(days=d) for r, d in zip(rsp, (100, 200, 300), strict=True)]
    adtte = pd.DataFrame(
        {"USUBJID": ["A", "B", "C", "D"], "PARAMCD": "PFS", "ADT": [*ends, _START], "CNSR": 0}
    )
    d = rd.derive_response_duration(bor, adtte)
    assert d["USUBJID"].tolist() == ["A", "B", "C"]
    assert d["AVAL"].iloc[0] == pytest.approx(101 / 30.4375)
    out = rd.summarise_response_timing(d, "x")
    assert out["estimate"].iloc[0] == pytest.approx(92 / 30.4375)  # median TTR (days + 1)
    assert out["estimate"].iloc[1] == pytest.approx(201 / 30.4375)  # KM median DoR (days + 1)
    none = rd.summarise_response_timing(d.iloc[:0], "x")
    assert none["note"].str.startswith("not estimable").all()
