"""Tests of helpers.endpoints.rates: binomial CIs and response-rate tables.

Reference values are quoted with their source; where no published value is used, the check goes
through an independent route (statsmodels, closed forms, the defining tail equations, or exact
enumeration of coverage) and the test name says so.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from helpers.endpoints.rates import (
    BOR_CATEGORIES,
    compute_binomial_ci,
    compute_proportion,
    summarise_best_response,
    summarise_response_rates,
)

ESTIMATE_COLUMNS = ["parameter", "n", "N", "estimate", "ci_lower", "ci_upper", "ci_level", "method"]


# ---------------------------------------------------------------------------------------------
# compute_binomial_ci: Clopper–Pearson
# ---------------------------------------------------------------------------------------------


def test_clopper_pearson_matches_r_binom_test_7_of_20():
    # R: binom.test(7, 20)$conf.int -> 0.1539092 0.5921885 (R 4.x, printed to 7 dp)
    lower, upper = compute_binomial_ci(7, 20)
    assert lower == pytest.approx(0.1539092, abs=5e-8)
    assert upper == pytest.approx(0.5921885, abs=5e-8)


@pytest.mark.parametrize("ci_level", [0.80, 0.90, 0.95, 0.99])
def test_clopper_pearson_matches_statsmodels_beta_method_on_grid(ci_level):
    for N in range(1, 41):
        for n in range(N + 1):
            expected = proportion_confint(n, N, alpha=1 - ci_level, method="beta")
            got = compute_binomial_ci(n, N, ci_level=ci_level)
            assert got == pytest.approx(expected, abs=1e-12), (n, N)


@settings(max_examples=200, deadline=None)
@given(
    N=st.integers(min_value=1, max_value=500),
    frac=st.floats(min_value=0, max_value=1),
    ci_level=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_clopper_pearson_limits_solve_the_defining_binomial_tail_equations(N, frac, ci_level):
    # Clopper & Pearson (1934): P(X >= n | p_L) = alpha/2 and P(X <= n | p_U) = alpha/2.
    n = round(frac * N)
    alpha = 1 - ci_level
    lower, upper = compute_binomial_ci(n, N, ci_level=ci_level)
    if n > 0:
        assert stats.binom.sf(n - 1, N, lower) == pytest.approx(alpha / 2, rel=1e-6)
    if n < N:
        assert stats.binom.cdf(n, N, upper) == pytest.approx(alpha / 2, rel=1e-6)
    assert 0 <= lower <= n / N <= upper <= 1


@pytest.mark.parametrize("N", [1, 2, 5, 20, 100])
def test_clopper_pearson_zero_and_all_events_match_closed_form(N):
    # Closed forms: 0/N -> [0, 1 - (alpha/2)^(1/N)]; N/N -> [(alpha/2)^(1/N), 1]
    a2 = 0.025
    assert compute_binomial_ci(0, N) == (0.0, pytest.approx(1 - a2 ** (1 / N), abs=1e-12))
    assert compute_binomial_ci(N, N) == (pytest.approx(a2 ** (1 / N), abs=1e-12), 1.0)


def test_clopper_pearson_single_patient_responder_is_0_025_to_1():
    # 1/1: lower = 0.025^(1/1) = 0.025 by the closed form above
    assert compute_binomial_ci(1, 1) == (pytest.approx(0.025, abs=1e-12), 1.0)


def test_clopper_pearson_exact_coverage_at_least_nominal_by_enumeration_n20():
    # Independent check of the guarantee: coverage(p) = sum_x P(X=x) 1[L(x) <= p <= U(x)]
    N = 20
    limits = np.array([compute_binomial_ci(x, N) for x in range(N + 1)])
    for p in np.linspace(0.001, 0.999, 999):
        covered = (limits[:, 0] <= p) & (p <= limits[:, 1])
        coverage = stats.binom.pmf(np.arange(N + 1), N, p)[covered].sum()
        assert coverage >= 0.95 - 1e-12, p


# ---------------------------------------------------------------------------------------------
# compute_binomial_ci: Wilson
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "N", "lower", "upper"),
    [
        # Newcombe RG, Stat Med 1998;17:857-872, Table I, method 3 (score, no continuity
        # correction); also reproduced by statsmodels proportion_confint(method="wilson").
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998_table_i(n, N, lower, upper):
    got = compute_binomial_ci(n, N, method="wilson")
    assert got[0] == pytest.approx(lower, abs=5e-5)
    assert got[1] == pytest.approx(upper, abs=5e-5)


def test_wilson_matches_statsmodels_wilson_on_grid():
    for N in range(1, 61):
        for n in range(N + 1):
            expected = proportion_confint(n, N, alpha=0.05, method="wilson")
            got = compute_binomial_ci(n, N, method="wilson")
            assert got == pytest.approx(expected, abs=1e-12), (n, N)


@settings(max_examples=200, deadline=None)
@given(N=st.integers(min_value=1, max_value=1000), frac=st.floats(min_value=0, max_value=1))
def test_wilson_limits_solve_the_score_equation(N, frac):
    # Wilson (1927): the limits are the p solving |n/N - p| = z sqrt(p (1 - p) / N).
    n = round(frac * N)
    z = stats.norm.ppf(0.975)
    for p in compute_binomial_ci(n, N, method="wilson"):
        assert abs(n / N - p) == pytest.approx(z * math.sqrt(p * (1 - p) / N), abs=1e-9)


def test_wilson_zero_and_all_events_are_exactly_0_and_1():
    assert compute_binomial_ci(0, 7, method="wilson")[0] == 0.0
    assert compute_binomial_ci(7, 7, method="wilson")[1] == 1.0


# ---------------------------------------------------------------------------------------------
# compute_binomial_ci: invalid arguments
# ---------------------------------------------------------------------------------------------


def test_binomial_ci_empty_denominator_raises_no_patients():
    with pytest.raises(ValueError, match="no patients in denominator"):
        compute_binomial_ci(0, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 5, "N": 4}, ValueError, "cannot exceed"),
        ({"n": -1, "N": 4}, ValueError, ">= 0"),
        ({"n": 1.5, "N": 4}, TypeError, "integer"),
        ({"n": True, "N": 4}, TypeError, "integer"),
        ({"n": 1, "N": 4, "ci_level": 95}, ValueError, "between 0 and 1"),
        ({"n": 1, "N": 4, "ci_level": 1.0}, ValueError, "between 0 and 1"),
        ({"n": 1, "N": 4, "ci_level": "0.95"}, TypeError, "ci_level"),
        ({"n": 1, "N": 4, "method": "exact"}, ValueError, "clopper-pearson"),
    ],
)
def test_binomial_ci_invalid_arguments_raise_with_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        compute_binomial_ci(**kwargs)


def test_binomial_ci_accepts_numpy_integers():
    assert compute_binomial_ci(np.int64(7), np.int32(20)) == compute_binomial_ci(7, 20)


# ---------------------------------------------------------------------------------------------
# compute_proportion
# ---------------------------------------------------------------------------------------------


def test_compute_proportion_returns_one_row_estimate_table_clopper_pearson():
    out = compute_proportion(7, 20, "ORR (CR+PR), treated (N=20)")
    assert list(out.columns) == ESTIMATE_COLUMNS
    row = out.iloc[0]
    assert row["parameter"] == "ORR (CR+PR), treated (N=20)"
    assert (row["n"], row["N"]) == (7, 20)
    assert row["estimate"] == pytest.approx(0.35)
    assert row["ci_lower"] == pytest.approx(0.1539092, abs=5e-8)  # R binom.test(7, 20)
    assert row["ci_level"] == 0.95
    assert row["method"] == "Clopper–Pearson exact"


def test_compute_proportion_wilson_method_name_and_newcombe_limits():
    row = compute_proportion(81, 263, "x", method="wilson").iloc[0]
    assert row["method"] == "Wilson score"
    assert (round(row["ci_lower"], 4), round(row["ci_upper"], 4)) == (0.2553, 0.3662)


def test_compute_proportion_rejects_empty_parameter_text():
    with pytest.raises(TypeError, match="parameter"):
        compute_proportion(1, 2, "  ")


# ---------------------------------------------------------------------------------------------
# summarise_response_rates
# ---------------------------------------------------------------------------------------------


def _bor_frame(counts: dict[str, int], durations: dict[str, list[float]] | None = None):
    codes = [code for code, k in counts.items() for _ in range(k)]
    frame = pd.DataFrame(
        {"subject_id": [f"HC-001-{i:04d}" for i in range(len(codes))], "AVALC": codes}
    )
    if durations is not None:
        frame["sd_duration_days"] = np.nan
        for code, values in durations.items():
            idx = frame.index[frame["AVALC"] == code]
            frame.loc[idx, "sd_duration_days"] = values
    return frame


def test_response_rates_hand_counted_17_patients_with_ne_and_missing_in_denominator():
    # 1 CR + 2 PR = 3 responders; DCR adds 5 SD + 1 NON_CR_NON_PD = 9; N = 17 includes NE/MISSING
    bor = _bor_frame(
        {"CR": 1, "PR": 2, "SD": 5, "NON_CR_NON_PD": 1, "PD": 5, "NE": 2, "MISSING": 1}
    )
    out = summarise_response_rates(bor)
    assert list(out.columns) == ESTIMATE_COLUMNS
    assert out["parameter"].tolist() == [
        "ORR (CR+PR), treated (N=17)",
        "DCR (CR+PR+SD+NON-CR/NON-PD), treated (N=17)",
    ]
    assert out["n"].tolist() == [3, 9]
    assert out["N"].tolist() == [17, 17]
    # limits checked against statsmodels proportion_confint(method="beta") (independent route)
    for (_, row), n in zip(out.iterrows(), [3, 9], strict=True):
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(
            proportion_confint(n, 17, method="beta"), abs=1e-12
        )
    assert set(out["method"]) == {"Clopper–Pearson exact"}


def test_response_rates_cbr_counts_sd_of_exactly_24_weeks_but_not_167_days_or_missing():
    # SD durations 168 d (= 24 weeks, counts), 167 d (no), NaN (no); NON_CR_NON_PD 200 d (counts)
    bor = _bor_frame(
        {"PR": 1, "SD": 3, "NON_CR_NON_PD": 1, "PD": 2},
        durations={"SD": [168, 167, np.nan], "NON_CR_NON_PD": [200], "PR": [30]},
    )
    out = summarise_response_rates(bor, sd_duration_col="sd_duration_days", population_label="EE")
    cbr = out.iloc[2]
    assert cbr["parameter"] == "CBR (CR+PR or SD ≥24 weeks), EE (N=7)"
    assert (cbr["n"], cbr["N"]) == (3, 7)  # PR + SD 168 d + NON_CR_NON_PD 200 d


def test_response_rates_cbr_row_skipped_without_duration_column():
    out = summarise_response_rates(_bor_frame({"PR": 1, "PD": 1}))
    assert len(out) == 2


def test_response_rates_wilson_method_passed_through():
    out = summarise_response_rates(_bor_frame({"PR": 2, "PD": 8}), method="wilson", ci_level=0.9)
    assert set(out["method"]) == {"Wilson score"}
    assert out.iloc[0]["ci_lower"] == pytest.approx(
        proportion_confint(2, 10, alpha=0.1, method="wilson")[0], abs=1e-12
    )


def test_response_rates_all_responders_and_no_responders_edges():
    all_resp = summarise_response_rates(_bor_frame({"CR": 4}))
    assert all_resp.iloc[0]["estimate"] == 1.0
    assert all_resp.iloc[0]["ci_upper"] == 1.0
    none = summarise_response_rates(_bor_frame({"PD": 4}))
    assert none.iloc[0]["estimate"] == 0.0
    assert none.iloc[0]["ci_lower"] == 0.0


def test_response_rates_single_patient():
    out = summarise_response_rates(_bor_frame({"PR": 1}))
    assert out.iloc[0]["parameter"] == "ORR (CR+PR), treated (N=1)"
    assert out.iloc[0]["ci_lower"] == pytest.approx(0.025)


def test_response_rates_empty_population_raises_no_patients():
    with pytest.raises(ValueError, match="no patients in denominator"):
        summarise_response_rates(pd.DataFrame({"AVALC": pd.Series([], dtype=str)}))


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (pd.DataFrame({"AVALC": ["PR", None]}), {}, "MISSING"),
        (pd.DataFrame({"AVALC": ["PR", "iCR"]}), {}, "invalid best-response codes"),
        (pd.DataFrame({"BOR": ["PR"]}), {}, "response_col"),
        (pd.DataFrame({"AVALC": ["PR"]}), {"sd_duration_col": "dur"}, "sd_duration_col"),
        (pd.DataFrame({"subject_id": ["A", "A"], "AVALC": ["PR", "PD"]}), {}, "one row per"),
        (pd.DataFrame({"AVALC": ["PR"]}), {"cbr_min_weeks": -1}, "cbr_min_weeks"),
    ],
)
def test_response_rates_invalid_input_raises_with_fix(frame, kwargs, match):
    with pytest.raises(ValueError, match=match):
        summarise_response_rates(frame, **kwargs)


def test_response_rates_rejects_non_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        summarise_response_rates(["PR"])


# ---------------------------------------------------------------------------------------------
# summarise_best_response
# ---------------------------------------------------------------------------------------------


def test_best_response_table_fixed_order_zero_rows_kept_and_counts_add_up():
    bor = _bor_frame({"PD": 3, "PR": 2, "NE": 1})
    out = summarise_best_response(bor)
    assert out["category"].tolist() == list(BOR_CATEGORIES)
    assert out["n"].tolist() == [0, 2, 0, 0, 3, 1, 0]
    assert (out["N"] == 6).all()
    assert out["n"].sum() == 6
    assert out["percentage"].sum() == pytest.approx(100)
    assert out.loc[out["category"] == "PR", "percentage"].item() == pytest.approx(100 * 2 / 6)
    assert set(ESTIMATE_COLUMNS) <= set(out.columns)
    assert set(out["method"]) == {"Clopper–Pearson exact"}


def test_best_response_table_ci_matches_statsmodels_beta_and_zero_category_upper_closed_form():
    out = summarise_best_response(_bor_frame({"SD": 7, "PD": 13}), ci_level=0.9)
    sd = out[out["category"] == "SD"].iloc[0]
    assert (sd["ci_lower"], sd["ci_upper"]) == pytest.approx(
        proportion_confint(7, 20, alpha=0.1, method="beta"), abs=1e-12
    )
    cr = out[out["category"] == "CR"].iloc[0]
    assert cr["ci_lower"] == 0.0
    assert cr["ci_upper"] == pytest.approx(1 - 0.05 ** (1 / 20))  # closed form for 0/N


def test_best_response_table_custom_column_and_label_text():
    bor = pd.DataFrame({"bor": ["CR", "MISSING"]})
    out = summarise_best_response(bor, response_col="bor")
    assert out.iloc[0]["parameter"] == "Best overall response CR (complete response), N=2"
    assert out.iloc[-1]["n"] == 1


def test_best_response_table_empty_raises_no_patients():
    with pytest.raises(ValueError, match="no patients in denominator"):
        summarise_best_response(pd.DataFrame({"AVALC": pd.Series([], dtype=str)}))
