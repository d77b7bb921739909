"""Tests of helpers.endpoints.stats against published values and independent (brute-force)
computations.

Reference data sets used here (values typed from the sources named in each test):
- Hollander, Wolfe & Chicken, Nonparametric Statistical Methods, Table 3.1 (Hamilton depression
  scale factor IV, 9 patients) -- also the example of R's ``?wilcox.test``.
- R's ``sleep`` data (Student 1908) with the classic ``t.test(..., paired = TRUE)`` output.
- R's ``?wilcox.test`` two-sample example and ``TeaTasting`` of ``?fisher.test``.
- Shrout & Fleiss (1979) Table 2 ratings and their Table 4 ICC values.
- Bland & Altman (1986) Lancet peak expiratory flow rate data (Wright vs mini Wright meter).
- Hanley & McNeil (1982) Radiology 143:29, CT rating data.
- Benjamini & Hochberg (1995) JRSS-B 57:289, the 15 p-values of their section 4.
- A 3-category diagnosis table for 100 subjects rated by two psychiatrists, as used in Fleiss'
  chapters on interrater agreement (the expected values are computed from the table itself).
Where no published value is quoted, the expected number comes from an independent route
(enumeration, scipy, or a hand-coded formula) and the test name says so.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy import stats as sps
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from helpers.endpoints import stats as S

ESTIMATE_COLUMNS = [
    "parameter",
    "n",
    "N",
    "estimate",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "method",
    "p_value",
]

# Hollander, Wolfe & Chicken Table 3.1: first (x) and second (y) visit, Hamilton scale factor IV
HW_X = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
HW_Y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])

# R's sleep data (extra hours of sleep), group 1 and group 2, same 10 patients
SLEEP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])

# R ?wilcox.test two-sample example
R_MW_X = np.array([0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46])
R_MW_Y = np.array([1.15, 0.88, 0.90, 0.74, 1.21])

SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)

PEFR_WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
PEFR_MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def _first(df: pd.DataFrame) -> pd.Series:
    assert len(df) == 1
    return df.iloc[0]


# --------------------------------------------------------------------------------------------
# independent brute-force helpers (deliberately written differently from the module)
# --------------------------------------------------------------------------------------------


def _brute_signed_rank_null(n: int) -> np.ndarray:
    """All 2^n values of T+ (sum of ranks with a + sign) for untied ranks 1..n."""
    ranks = np.arange(1, n + 1)
    return np.array(
        [ranks[list(signs)].sum() for signs in itertools.product([False, True], repeat=n)]
    )


def _brute_signed_rank_p(d: np.ndarray) -> float:
    """Two-sided exact p by enumerating sign flips of the midranks of non-zero |d|."""
    nz = d[d != 0]
    ranks = sps.rankdata(np.abs(nz))
    t_obs = ranks[nz > 0].sum()
    centre = ranks.sum() / 2
    null = np.array(
        [ranks[list(s)].sum() for s in itertools.product([False, True], repeat=nz.size)]
    )
    return float(np.mean(np.abs(null - centre) >= abs(t_obs - centre) - 1e-9))


def _brute_rank_sum_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided exact Mann–Whitney p by enumerating every split of the pooled midranks.

    Two-sided p = twice the smaller one-sided p, capped at 1 (the convention of scipy's
    permutation tests; with ties the null distribution need not be symmetric).
    """
    pooled = np.concatenate([x, y])
    ranks = sps.rankdata(pooled)
    m = x.size
    w_obs = ranks[:m].sum()
    null = np.array([ranks[list(c)].sum() for c in itertools.combinations(range(pooled.size), m)])
    lower, upper = np.mean(null <= w_obs + 1e-9), np.mean(null >= w_obs - 1e-9)
    return float(min(1.0, 2 * min(lower, upper)))


def _brute_u_null(m: int, n: int) -> np.ndarray:
    """All C(m+n, m) values of U = #{x > y} when x takes the ranks in each combination."""
    values = []
    for combo in itertools.combinations(range(m + n), m):
        xs = set(combo)
        ys = [r for r in range(m + n) if r not in xs]
        values.append(sum(1 for a in xs for b in ys if a > b))
    return np.array(values)


# --------------------------------------------------------------------------------------------
# 1. paired change
# --------------------------------------------------------------------------------------------


def test_signed_rank_cdf_matches_brute_force_enumeration():
    for n in range(1, 12):
        null = _brute_signed_rank_null(n)
        expected = np.array([np.mean(null <= k) for k in range(n * (n + 1) // 2 + 1)])
        np.testing.assert_allclose(S.paired._signed_rank_cdf(n), expected, rtol=1e-12, atol=1e-15)


def test_paired_change_hollander_wolfe_depression_p_matches_enumeration_and_r_one_sided_0_01953():
    # R: wilcox.test(x, y, paired = TRUE, alternative = "greater") gives V = 40, p = 0.01953
    # (= 10/512); the two-sided exact p is twice that.
    row = _first(S.compute_paired_change(HW_X, HW_Y, "HAM-D factor IV"))
    assert row["p_value"] == pytest.approx(_brute_signed_rank_p(HW_Y - HW_X), abs=1e-12)
    assert row["p_value"] == pytest.approx(2 * 0.01953, abs=1e-5)
    assert row["N"] == 9
    assert "p exact" in row["note"]


def test_paired_change_hodges_lehmann_depression_matches_brute_force_walsh_averages():
    d = HW_Y - HW_X
    walsh = sorted((d[i] + d[j]) / 2 for i in range(9) for j in range(i, 9))
    # C = largest k with P(T+ <= k-1) <= 0.025 from the enumerated null distribution
    null = _brute_signed_rank_null(9)
    c = max(k for k in range(1, 46) if np.mean(null <= k - 1) <= 0.025)
    row = _first(S.compute_paired_change(HW_X, HW_Y, "HAM-D factor IV"))
    assert row["estimate"] == pytest.approx(np.median(walsh))
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((walsh[c - 1], walsh[45 - c]))
    achieved = 1 - 2 * np.mean(null <= c - 1)
    assert f"achieved confidence {achieved:.4f}" in row["note"]


@pytest.mark.parametrize("n", [6, 9, 14, 20])
def test_paired_hodges_lehmann_ci_equals_inversion_of_scipy_exact_wilcoxon(n):
    # Independent route: the CI is the set of shifts theta that the exact test of d - theta
    # does not reject.
    rng = np.random.default_rng(n)
    before = rng.normal(10, 2, n)
    after = before + rng.normal(0.8, 1.5, n)
    row = _first(S.compute_paired_change(before, after, "x", ci_level=0.95))
    d = after - before
    eps = 1e-7
    for bound, inside in ((row["ci_lower"], +1), (row["ci_upper"], -1)):
        p_inside = sps.wilcoxon(d - (bound + inside * eps), method="exact").pvalue
        p_outside = sps.wilcoxon(d - (bound - inside * eps), method="exact").pvalue
        assert p_inside > 0.05
        assert p_outside <= 0.05


def test_paired_change_reverse_direction_flips_sign():
    a = _first(S.compute_paired_change(HW_X, HW_Y, "x"))
    b = _first(S.compute_paired_change(HW_Y, HW_X, "x"))
    assert b["estimate"] == pytest.approx(-a["estimate"])
    assert (b["ci_lower"], b["ci_upper"]) == pytest.approx((-a["ci_upper"], -a["ci_lower"]))
    assert b["p_value"] == pytest.approx(a["p_value"])


def test_paired_change_log_scale_gives_exact_ratio_for_proportional_change():
    before = np.array([10.0, 20, 35, 50, 80, 120, 200])
    row = _first(S.compute_paired_change(before, before * 1.7, "GzmB", log=True))
    assert row["estimate"] == pytest.approx(1.7)
    assert row["ci_lower"] == pytest.approx(1.7)
    assert row["ci_upper"] == pytest.approx(1.7)
    assert "ratio" in row["method"]


def test_paired_change_log_scale_is_exp_of_hodges_lehmann_of_log_differences():
    rng = np.random.default_rng(3)
    before = np.exp(rng.normal(4, 1, 12))
    after = before * np.exp(rng.normal(0.3, 0.4, 12))
    on_log = _first(S.compute_paired_change(np.log(before), np.log(after), "x"))
    ratio = _first(S.compute_paired_change(before, after, "x", log=True))
    for col in ("estimate", "ci_lower", "ci_upper"):
        assert ratio[col] == pytest.approx(math.exp(on_log[col]))
    assert ratio["p_value"] == pytest.approx(on_log["p_value"])


def test_paired_change_non_positive_with_log_raises_lloq_message():
    with pytest.raises(ValueError, match="LLOQ"):
        S.compute_paired_change([1.0, 0.0, 3.0], [2.0, 2.0, 2.0], "x", log=True)


def test_paired_change_single_pair_is_not_estimable():
    # one patient's own change is not an estimate (issue 12): no number, the reason instead
    row = _first(S.compute_paired_change([2.0], [5.0], "x"))
    assert row["N"] == 1
    assert math.isnan(row["estimate"])
    assert math.isnan(row["p_value"])
    assert row["note"] == "not estimable: 1 complete pair"


def test_paired_change_two_pairs_gives_unbounded_ci_and_p_0_5():
    row = _first(S.compute_paired_change([2.0, 1.0], [5.0, 3.0], "x"))
    assert row["estimate"] == 2.5  # median of the Walsh averages 2, 2.5, 3
    assert row["ci_lower"] == -math.inf
    assert row["ci_upper"] == math.inf
    assert row["p_value"] == 0.5  # 4 sign assignments, 2 as extreme as observed
    assert "not attainable" in row["note"]


def test_paired_change_five_pairs_unbounded_at_95_but_bounded_at_90():
    # P(T+ = 0) = 1/32 = 0.031: > 0.025 (no exact 95% CI) but <= 0.05 (90% CI exists)
    before = np.arange(5.0)
    after = before + np.arange(1.0, 6.0)
    assert np.isinf(_first(S.compute_paired_change(before, after, "x"))["ci_lower"])
    row = _first(S.compute_paired_change(before, after, "x", ci_level=0.90))
    assert (row["ci_lower"], row["ci_upper"]) == (1.0, 5.0)


def test_paired_change_all_differences_zero():
    x = np.arange(1.0, 9.0)
    row = _first(S.compute_paired_change(x, x, "x"))
    assert row["estimate"] == 0.0
    assert (row["ci_lower"], row["ci_upper"]) == (0.0, 0.0)
    assert math.isnan(row["p_value"])
    assert row["n"] == 0
    assert "all differences are zero" in row["note"]


def test_paired_change_ties_and_zeros_p_matches_sign_flip_enumeration_with_midranks():
    before = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9])
    after = before + np.array([1, 1, -1, 2, 0, 2, 3, 3, 3])
    row = _first(S.compute_paired_change(before, after, "x"))
    assert row["p_value"] == pytest.approx(_brute_signed_rank_p(after - before), abs=1e-12)
    assert "permutation" in row["note"]
    assert row["n"] == 8
    assert row["N"] == 9


def test_paired_change_drops_incomplete_pairs_and_reports_n_complete():
    before = [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    after = [2.0, 5.0, np.nan, 6.5, 5.5, 8.0, 9.0, 8.2]
    row = _first(S.compute_paired_change(before, after, "x"))
    full = _first(S.compute_paired_change([1, 4, 5, 6, 7, 8], [2, 6.5, 5.5, 8, 9, 8.2], "x"))
    assert row["N"] == 6
    assert row["estimate"] == full["estimate"]
    assert row["p_value"] == full["p_value"]


def test_paired_change_returns_estimate_table_columns():
    out = S.compute_paired_change(HW_X, HW_Y, "x")
    assert list(out.columns[: len(ESTIMATE_COLUMNS)]) == ESTIMATE_COLUMNS
    assert out["method"].iloc[0] == "Wilcoxon signed-rank; Hodges–Lehmann shift, exact CI"
    assert out["ci_level"].iloc[0] == 0.95


@pytest.mark.parametrize(
    ("before", "after", "match"),
    [
        ([1.0, 2.0], [1.0], "same length"),
        (["a", "b"], [1.0, 2.0], "numbers"),
    ],
)
def test_paired_change_invalid_input_raises(before, after, match):
    with pytest.raises((ValueError, TypeError), match=match):
        S.compute_paired_change(before, after, "x")


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        ([], [], "not estimable: 0 complete pairs"),
        ([np.nan, 1.0], [2.0, np.nan], "not estimable: 0 complete pairs"),
        ([np.nan, 1.0], [2.0, 3.0], "not estimable: 1 complete pair"),
    ],
)
@pytest.mark.parametrize("log", [False, True])
def test_paired_change_with_fewer_than_two_pairs_is_not_estimable(before, after, why, log):
    row = _first(S.compute_paired_change(before, after, "x", log=log))
    assert math.isnan(row["estimate"])
    assert math.isnan(row["p_value"])
    assert row["note"] == why


def test_paired_change_invalid_ci_level_raises():
    with pytest.raises(ValueError, match="ci_level"):
        S.compute_paired_change(HW_X, HW_Y, "x", ci_level=95)


def test_signed_rank_normal_approximation_critical_value_close_to_exact(monkeypatch):
    # Large-sample path (n above the exact limit): compare with the exact order statistics.
    rng = np.random.default_rng(11)
    before = rng.normal(0, 1, 120)
    after = before + rng.normal(0.2, 1, 120)
    exact = _first(S.compute_paired_change(before, after, "x"))
    monkeypatch.setattr(S.paired, "_EXACT_SIGNED_RANK_MAX_N", 50)
    approx = _first(S.compute_paired_change(before, after, "x"))
    assert "normal approximation" in approx["note"]
    walsh = S.paired._walsh_averages(after - before)
    lo_rank = np.searchsorted(walsh, exact["ci_lower"])
    assert abs(np.searchsorted(walsh, approx["ci_lower"]) - lo_rank) <= 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-100, 100, allow_nan=False), st.floats(-100, 100, allow_nan=False)),
        min_size=6,
        max_size=25,
    )
)
def test_paired_change_property_ci_contains_estimate(pairs):
    before, after = np.array(pairs).T
    row = _first(S.compute_paired_change(before, after, "x"))
    assert row["ci_lower"] <= row["estimate"] <= row["ci_upper"]


# --------------------------------------------------------------------------------------------
# 2. geometric mean ratio
# --------------------------------------------------------------------------------------------


def test_gmr_matches_r_paired_t_test_on_sleep_data():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE): mean difference (1 - 2) = -1.58,
    # 95% CI -2.4598858 -0.7001142, t = -4.0621, df = 9, p-value = 0.002833.
    # Using the sleep values as log values makes the GMR exp(mean difference 2 - 1).
    row = _first(S.compute_geometric_mean_ratio(np.exp(SLEEP_1), np.exp(SLEEP_2), "sleep"))
    assert math.log(row["estimate"]) == pytest.approx(1.58)
    assert math.log(row["ci_lower"]) == pytest.approx(0.7001142, abs=1e-7)
    assert math.log(row["ci_upper"]) == pytest.approx(2.4598858, abs=1e-7)
    assert row["p_value"] == pytest.approx(0.002833, abs=5e-7)
    assert row["N"] == 10
    assert row["method"] == "Paired t-test on log scale; ratio of geometric means"


def test_gmr_equals_ratio_of_geometric_means():
    before = np.array([10.0, 40, 25, 80, 12])
    after = np.array([15.0, 30, 50, 100, 20])
    row = _first(S.compute_geometric_mean_ratio(before, after, "x"))
    assert row["estimate"] == pytest.approx(sps.gmean(after) / sps.gmean(before))


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_gmr_non_positive_raises_with_lloq_hint(bad):
    with pytest.raises(ValueError, match="LLOQ"):
        S.compute_geometric_mean_ratio([1.0, bad], [2.0, 3.0], "x")


def test_gmr_single_pair_is_not_estimable():
    # one patient's own ratio is not an estimate (issue 12)
    row = _first(S.compute_geometric_mean_ratio([2.0], [6.0], "x"))
    assert math.isnan(row["estimate"])
    assert math.isnan(row["ci_lower"])
    assert row["note"] == "not estimable: 1 complete pair"
    assert row["N"] == 1


def test_gmr_identical_ratios_degenerate_ci():
    row = _first(S.compute_geometric_mean_ratio([1.0, 2.0, 4.0], [2.0, 4.0, 8.0], "x"))
    assert row["estimate"] == pytest.approx(2.0)
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((2.0, 2.0))
    assert math.isnan(row["p_value"])


def test_gmr_drops_nan_pairs():
    row = _first(S.compute_geometric_mean_ratio([1.0, np.nan, 2.0, 3.0], [2.0, 1.0, 3.0, 3.5], "x"))
    assert row["N"] == 3


# --------------------------------------------------------------------------------------------
# 3. mixed model
# --------------------------------------------------------------------------------------------


def _long(values: np.ndarray, visits=("BASELINE", "M3", "M9")) -> pd.DataFrame:
    n, k = values.shape
    return pd.DataFrame(
        {
            "USUBJID": np.repeat([f"EN-001-{i:04d}" for i in range(n)], k),
            "AVISIT": np.tile(visits[:k], n),
            "AVAL": values.ravel(),
        }
    )


def _subject_visit_values(seed: int, n: int, effects, sd_subject=0.6, sd_error=0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    subject = rng.normal(0, sd_subject, (n, 1))
    return np.exp(3 + subject + np.asarray(effects) + rng.normal(0, sd_error, (n, len(effects))))


def test_mixed_model_two_balanced_visits_matches_paired_t_mean_and_se():
    # Independent route: with complete balanced data and a positive subject variance, the REML
    # estimate of the visit effect is the mean paired log difference and its SE is s_d / sqrt(n).
    values = _subject_visit_values(1, 12, [0.0, 0.4])
    out = S.compute_mixed_model(_long(values, ("BASELINE", "M3")))
    row = _first(out)
    d = np.log(values[:, 1]) - np.log(values[:, 0])
    assert math.log(row["estimate"]) == pytest.approx(d.mean(), rel=1e-5)
    se = (math.log(row["ci_upper"]) - math.log(row["ci_lower"])) / (2 * sps.norm.ppf(0.975))
    assert se == pytest.approx(d.std(ddof=1) / math.sqrt(12), rel=1e-3)
    assert row["visit"] == "M3"
    assert row["method"] == "Linear mixed model (random intercept), REML; ratio vs baseline"


def test_mixed_model_three_balanced_visits_matches_two_way_anova_se():
    # SE of each visit contrast = sqrt(2 * MSE / n), MSE = residual mean square of the two-way
    # (subject + visit) ANOVA, computed here with statsmodels OLS/anova_lm.
    values = _subject_visit_values(2, 15, [0.0, 0.3, -0.2])
    df = _long(values)
    out = S.compute_mixed_model(df)
    df["LOGY"] = np.log(df["AVAL"])
    fit = ols("LOGY ~ C(USUBJID) + C(AVISIT)", data=df).fit()
    mse = anova_lm(fit).loc["Residual", "mean_sq"]
    z = sps.norm.ppf(0.975)
    for visit, col in (("M3", 1), ("M9", 2)):
        row = out.set_index("visit").loc[visit]
        diff = np.log(values[:, col]).mean() - np.log(values[:, 0]).mean()
        assert math.log(row["estimate"]) == pytest.approx(diff, rel=1e-5)
        se = (math.log(row["ci_upper"]) - math.log(row["ci_lower"])) / (2 * z)
        assert se == pytest.approx(math.sqrt(2 * mse / 15), rel=1e-3)
        assert row["N"] == 15
        assert row["n"] == 15


def test_mixed_model_keeps_subjects_with_missing_later_visits():
    values = _subject_visit_values(3, 10, [0.0, 0.2, 0.5])
    df = _long(values)
    df.loc[
        (df["AVISIT"] == "M9") & (df["USUBJID"].isin(["EN-001-0001", "EN-001-0002"])), "AVAL"
    ] = np.nan
    df = df[~((df["AVISIT"] == "M3") & (df["USUBJID"] == "EN-001-0003"))]
    out = S.compute_mixed_model(df).set_index("visit")
    assert out.loc["M3", "N"] == 10
    assert out.loc["M3", "n"] == 9
    assert out.loc["M9", "n"] == 8


def test_mixed_model_raw_scale_gives_difference():
    values = _subject_visit_values(4, 10, [0.0, 0.3])
    row = _first(S.compute_mixed_model(_long(values, ("BASELINE", "M3")), log=False))
    assert row["estimate"] == pytest.approx((values[:, 1] - values[:, 0]).mean(), rel=1e-4)
    assert "difference" in row["method"]


def test_mixed_model_convergence_warning_recorded_in_note_not_raised():
    # No between-subject variance: the REML variance estimate sits on the boundary (0).
    rng = np.random.default_rng(1)
    values = np.exp(rng.normal(0, 1, (8, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        out = S.compute_mixed_model(_long(values, ("BASELINE", "M3")))
    assert "statsmodels" in out["note"].iloc[0]


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (_long(np.ones((1, 3))), "at least 2 subjects"),
        (_long(np.ones((4, 1))), "2 visits"),
        (_long(np.ones((4, 2)), ("M3", "M9")), "reference visit"),
        (pd.concat([_long(np.ones((3, 2))), _long(np.ones((3, 2)))]), "several rows"),
        (_long(np.ones((3, 2))).drop(columns="AVAL"), "lacks column"),
        (_long(np.zeros((3, 2))), "LLOQ"),
        (_long(np.full((3, 2), np.nan)), "empty"),
    ],
)
def test_mixed_model_invalid_input_raises(frame, match):
    with pytest.raises(ValueError, match=match):
        S.compute_mixed_model(frame)


# --------------------------------------------------------------------------------------------
# 4. FDR and marker × visit tables
# --------------------------------------------------------------------------------------------

BH_1995_P = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.000,
]


def _hand_bh(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1)
    out = np.empty(m)
    out[order] = adjusted
    return out


def test_fdr_benjamini_hochberg_1995_example_rejects_four_at_q_0_05():
    adjusted = S.compute_fdr(BH_1995_P)
    assert int((adjusted <= 0.05).sum()) == 4  # BH 1995 section 4: four hypotheses rejected
    np.testing.assert_allclose(adjusted, _hand_bh(np.array(BH_1995_P)))


def test_fdr_preserves_nan_and_order():
    adjusted = S.compute_fdr([0.04, np.nan, 0.01, 0.03])
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2, 3]], _hand_bh(np.array([0.04, 0.01, 0.03])))


def test_fdr_empty_and_all_nan():
    assert S.compute_fdr([]).size == 0
    assert np.isnan(S.compute_fdr([np.nan, np.nan])).all()


def test_fdr_rejects_out_of_range_p():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        S.compute_fdr([0.2, 1.5])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_fdr_property_adjusted_at_least_raw_and_at_most_one(p):
    adjusted = S.compute_fdr(p)
    assert (adjusted >= np.array(p) - 1e-12).all()
    assert (adjusted <= 1).all()


def _marker_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frames = []
    for code, label, effect in (("GZMB", "Granzyme B (pg/mL)", 0.5), ("NKCNT", "NK count", 0.0)):
        values = _subject_visit_values(int(effect * 10), 10, [0.0, effect, effect / 2])
        f = _long(values)
        f["PARAMCD"] = code
        f["PARAM"] = label
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    out.loc[rng.choice(len(out), 4, replace=False), "AVAL"] = np.nan
    return out


def test_marker_changes_rows_equal_paired_change_and_p_adj_is_bh_across_all_tests():
    df = _marker_frame()
    out = S.compute_marker_changes(df, log={"GZMB": True})
    assert list(out[["PARAMCD", "visit"]].itertuples(index=False, name=None)) == [
        ("GZMB", "M3"),
        ("GZMB", "M9"),
        ("NKCNT", "M3"),
        ("NKCNT", "M9"),
    ]
    wide = df.pivot(index=["PARAMCD", "USUBJID"], columns="AVISIT", values="AVAL")
    direct = _first(
        S.compute_paired_change(wide.loc["GZMB"]["BASELINE"], wide.loc["GZMB"]["M9"], "x", log=True)
    )
    got = out.iloc[1]
    for col in ("N", "estimate", "ci_lower", "ci_upper", "p_value"):
        assert got[col] == direct[col]
    assert got["parameter"] == "Granzyme B (pg/mL), M9 vs BASELINE"
    np.testing.assert_allclose(out["p_adj"], _hand_bh(out["p_value"].to_numpy()))
    assert "ratio" not in out.iloc[2]["method"]


def test_marker_changes_visit_pair_without_data_gives_empty_row():
    out = S.compute_marker_changes(_marker_frame(), ["NKCNT"], [("BASELINE", "M24")])
    row = _first(out)
    assert row["N"] == 0
    assert math.isnan(row["estimate"])
    assert math.isnan(row["p_adj"])
    assert row["note"] == "not estimable: no patient with both BASELINE and M24"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"markers": ["XYZ"]}, "not found"), ({"param_col": "PARAMX"}, "lacks column")],
)
def test_marker_changes_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.compute_marker_changes(_marker_frame(), **kwargs)


def test_marker_changes_log_error_names_the_marker():
    df = _marker_frame()
    df.loc[df.index[0], "AVAL"] = 0.0
    with pytest.raises(ValueError, match=r"Granzyme B.*LLOQ"):
        S.compute_marker_changes(df, ["GZMB"], log=True)


def test_marker_changes_duplicate_rows_raise_with_stimulation_hint():
    df = _marker_frame()
    with pytest.raises(ValueError, match="stimulation"):
        S.compute_marker_changes(pd.concat([df, df]))


# --------------------------------------------------------------------------------------------
# 5. Spearman + bootstrap
# --------------------------------------------------------------------------------------------


def test_spearman_rho_matches_textbook_formula_and_p_matches_t_approximation():
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6*4/120 = 0.8 (no ties);
    # p from t = r sqrt((n-2)/(1-r^2)) on n-2 df (the approximation scipy documents).
    x, y = [1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 4, 3, 6, 5, 8, 7]
    row = _first(S.compute_spearman_bootstrap(x, y, "rho", n_boot=500))
    rho = 1 - 6 * 8 / (8 * 63)
    assert row["estimate"] == pytest.approx(rho)
    t = rho * math.sqrt(6 / (1 - rho**2))
    assert row["p_value"] == pytest.approx(2 * sps.t.sf(t, 6))


def test_spearman_bootstrap_is_reproducible_with_seed_and_changes_with_seed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=25)
    y = x + rng.normal(size=25)
    a = _first(S.compute_spearman_bootstrap(x, y, "rho", seed=1))
    b = _first(S.compute_spearman_bootstrap(x, y, "rho", seed=1))
    c = _first(S.compute_spearman_bootstrap(x, y, "rho", seed=2))
    assert (a["ci_lower"], a["ci_upper"]) == (b["ci_lower"], b["ci_upper"])
    assert (a["ci_lower"], a["ci_upper"]) != (c["ci_lower"], c["ci_upper"])
    assert "percentile bootstrap" in a["method"]


def test_spearman_percentile_ci_close_to_hand_written_pair_bootstrap():
    rng = np.random.default_rng(10)
    x = rng.normal(size=30)
    y = 0.5 * x + rng.normal(size=30)
    row = _first(S.compute_spearman_bootstrap(x, y, "rho", n_boot=4000, seed=3))
    boot_rng = np.random.default_rng(99)
    reps = []
    for _ in range(4000):
        idx = boot_rng.integers(0, 30, 30)
        reps.append(sps.spearmanr(x[idx], y[idx]).statistic)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    assert row["ci_lower"] == pytest.approx(lo, abs=0.04)
    assert row["ci_upper"] == pytest.approx(hi, abs=0.04)


def test_spearman_bca_option():
    rng = np.random.default_rng(4)
    x = rng.normal(size=20)
    y = x + rng.normal(size=20)
    row = _first(S.compute_spearman_bootstrap(x, y, "rho", ci_method="BCa"))
    assert row["ci_lower"] < row["estimate"] < row["ci_upper"]
    assert "BCa" in row["method"]


def test_spearman_constant_variable_gives_nan_with_note():
    row = _first(S.compute_spearman_bootstrap([1, 1, 1, 1], [1, 2, 3, 4], "rho"))
    assert math.isnan(row["estimate"])
    assert "constant" in row["note"]


def test_spearman_degenerate_resamples_reported():
    x = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2]
    row = _first(S.compute_spearman_bootstrap(x, range(10), "rho"))
    assert math.isnan(row["ci_lower"])
    assert "resamples had constant" in row["note"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": [1, 2], "y": [1, 2]}, "at least 3"),
        ({"x": [1, 2, 3], "y": [1, 2, 3], "ci_method": "basic"}, "ci_method"),
        ({"x": [1, 2, 3], "y": [1, 2, 3], "n_boot": 10}, "n_boot"),
    ],
)
def test_spearman_invalid_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.compute_spearman_bootstrap(parameter="rho", **kwargs)


# --------------------------------------------------------------------------------------------
# 6. Fisher OR
# --------------------------------------------------------------------------------------------


def test_fisher_or_tea_tasting_matches_noncentral_hypergeometric_root_finding():
    # R ?fisher.test TeaTasting table [[3, 1], [1, 3]]. Two-sided Fisher p = 34/70 (tables with
    # probability <= observed: a = 0, 1, 3, 4). Conditional MLE solves E[a; psi] = 3; exact limits
    # solve P(A >= 3; psi_L) = 0.025 and P(A <= 3; psi_U) = 0.025 (Fisher noncentral hypergeometric,
    # total 8, row total 4, column total 4).
    row = _first(S.compute_fisher_or([[3, 1], [1, 3]], "tea"))
    dist = sps.nchypergeom_fisher
    mle = optimize.brentq(lambda p: dist.mean(8, 4, 4, p) - 3, 1e-3, 1e3, xtol=1e-12)
    lo = optimize.brentq(lambda p: dist.sf(2, 8, 4, 4, p) - 0.025, 1e-4, 10, xtol=1e-12)
    hi = optimize.brentq(lambda p: dist.cdf(3, 8, 4, 4, p) - 0.025, 1, 1e5, xtol=1e-10)
    assert row["p_value"] == pytest.approx(34 / 70)
    assert row["estimate"] == pytest.approx(mle, rel=1e-5)
    assert row["ci_lower"] == pytest.approx(lo, rel=1e-5)
    assert row["ci_upper"] == pytest.approx(hi, rel=1e-5)
    assert row["n"] == 3
    assert row["N"] == 8


def test_fisher_or_from_boolean_arrays_equals_table():
    exposure = [True] * 4 + [False] * 4
    outcome = [True, True, True, False, True, False, False, False]
    a = _first(S.compute_fisher_or(exposure=exposure, outcome=outcome))
    b = _first(S.compute_fisher_or([[3, 1], [1, 3]]))
    for col in ("estimate", "ci_lower", "ci_upper", "p_value"):
        assert a[col] == pytest.approx(b[col])


def test_fisher_or_zero_cell_gives_infinite_estimate_and_upper_limit():
    row = _first(S.compute_fisher_or([[5, 0], [2, 6]]))
    assert row["estimate"] == math.inf
    assert row["ci_upper"] == math.inf
    assert 0 < row["ci_lower"] < math.inf
    low = _first(S.compute_fisher_or([[0, 5], [6, 2]]))
    assert low["estimate"] == 0
    assert low["ci_lower"] == 0


def test_fisher_or_empty_row_is_undefined():
    row = _first(S.compute_fisher_or([[0, 0], [3, 4]]))
    assert math.isnan(row["estimate"])
    assert row["p_value"] == 1.0
    assert "undefined" in row["note"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "either table"),
        ({"table": [[1, 2], [3, 4]], "exposure": [True], "outcome": [True]}, "either table"),
        ({"exposure": [True, False]}, "either table"),
        ({"table": [[1, 2, 3], [3, 4, 5]]}, "2×2"),
        ({"table": [[1, -2], [3, 4]]}, "non-negative"),
        ({"table": [[0, 0], [0, 0]]}, "empty"),
    ],
)
def test_fisher_or_invalid_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.compute_fisher_or(**kwargs)


# --------------------------------------------------------------------------------------------
# 7. Mann–Whitney
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("m", "n"), [(1, 1), (1, 5), (3, 4), (5, 5), (6, 3)])
def test_rank_sum_cdf_matches_brute_force_enumeration(m, n):
    null = _brute_u_null(m, n)
    expected = np.array([np.mean(null <= u) for u in range(m * n + 1)])
    np.testing.assert_allclose(S.association._rank_sum_cdf(m, n), expected, rtol=1e-12, atol=1e-15)


def test_mann_whitney_r_example_p_matches_enumeration_and_r_one_sided_0_1272():
    # R: wilcox.test(x, y, alternative = "g") gives W = 35, p-value = 0.1272 (exact).
    row = _first(S.compute_mann_whitney(R_MW_X, R_MW_Y, "x - y"))
    assert row["p_value"] == pytest.approx(_brute_rank_sum_p(R_MW_X, R_MW_Y), abs=1e-12)
    assert row["p_value"] == pytest.approx(2 * 0.1272, abs=2e-4)
    assert row["estimate"] == pytest.approx(np.median([a - b for a in R_MW_X for b in R_MW_Y]))
    assert row["n"] == 10
    assert row["N"] == 15


@pytest.mark.parametrize(("m", "n", "seed"), [(10, 5, 0), (8, 8, 1), (20, 15, 2), (4, 12, 3)])
def test_mann_whitney_hl_ci_equals_inversion_of_scipy_exact_test(m, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(1, 1, m)
    y = rng.normal(0, 1, n)
    row = _first(S.compute_mann_whitney(x, y, "x"))
    eps = 1e-7
    for bound, inside in ((row["ci_lower"], +1), (row["ci_upper"], -1)):
        p_in = sps.mannwhitneyu(x - (bound + inside * eps), y, method="exact").pvalue
        p_out = sps.mannwhitneyu(x - (bound - inside * eps), y, method="exact").pvalue
        assert p_in > 0.05
        assert p_out <= 0.05


def test_mann_whitney_ties_p_matches_split_enumeration_with_midranks():
    x = np.array([1.0, 2, 2, 3, 5, 5])
    y = np.array([2.0, 4, 4, 5, 6, 7, 8])
    row = _first(S.compute_mann_whitney(x, y, "x"))
    assert row["p_value"] == pytest.approx(_brute_rank_sum_p(x, y), abs=1e-12)
    assert "ties" in row["note"]


def test_mann_whitney_group_of_one_with_ties_is_exact_conditional_not_an_error():
    # issue 12: scipy's permutation method raises with one value per group. The exact
    # conditional permutation distribution is defined: by hand, pooled midranks of
    # [2 | 2, 3, 3, 5] are 1.5, 1.5, 3.5, 3.5, 5; the lone x takes each rank with probability
    # 1/5, so P(R <= 1.5) = 2/5, P(R >= 1.5) = 1 and p = min(1, 2 * 2/5) = 0.8.
    row = _first(S.compute_mann_whitney([2.0], [2.0, 3.0, 3.0, 5.0], "x"))
    assert row["p_value"] == pytest.approx(0.8)
    assert row["p_value"] == pytest.approx(
        _brute_rank_sum_p(np.array([2.0]), np.array([2.0, 3, 3, 5])), abs=1e-12
    )
    assert "p exact conditional permutation (ties)" in row["note"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mann_whitney_exact_conditional_p_equals_scipy_permutation_where_scipy_works(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 4, 4).astype(float), rng.integers(0, 4, 5).astype(float)
    row = _first(S.compute_mann_whitney(x, y, "x"))
    ref = sps.mannwhitneyu(x, y, method=sps.PermutationMethod(n_resamples=np.inf)).pvalue
    assert row["p_value"] == pytest.approx(ref, abs=1e-12)


def test_mann_whitney_tiny_groups_unbounded_ci():
    row = _first(S.compute_mann_whitney([1.0, 2.0], [3.0, 4.0], "x"))
    assert row["estimate"] == -2.0
    assert np.isinf(row["ci_lower"])
    assert np.isinf(row["ci_upper"])


def test_mann_whitney_drops_nan_and_rejects_empty_group():
    row = _first(S.compute_mann_whitney([1.0, np.nan, 3.0], [2.0, 5.0, np.nan], "x"))
    assert row["N"] == 4
    with pytest.raises(ValueError, match="at least one value"):
        S.compute_mann_whitney([np.nan], [1.0, 2.0], "x")


def test_mann_whitney_normal_approximation_close_to_exact(monkeypatch):
    rng = np.random.default_rng(8)
    x, y = rng.normal(0.5, 1, 30), rng.normal(0, 1, 30)
    exact = _first(S.compute_mann_whitney(x, y, "x"))
    monkeypatch.setattr(S.association, "_EXACT_RANK_SUM_MAX_MN", 100)
    approx = _first(S.compute_mann_whitney(x, y, "x"))
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    for col in ("ci_lower", "ci_upper"):
        assert abs(np.searchsorted(diffs, approx[col]) - np.searchsorted(diffs, exact[col])) <= 2
    assert "normal approximation" in approx["note"]


# --------------------------------------------------------------------------------------------
# 8. agreement
# --------------------------------------------------------------------------------------------

# Diagnoses of 100 subjects by two psychiatrists (psychotic, neurotic, organic), as counts; the
# kappa and SE expected below are computed from these counts by hand-coded formulas.
FLEISS_TABLE = np.array([[75, 1, 4], [5, 4, 1], [0, 0, 10]])


def _labels_from_table(table: np.ndarray, cats=("psychotic", "neurotic", "organic")):
    a, b = [], []
    for i, j in itertools.product(range(table.shape[0]), range(table.shape[1])):
        a += [cats[i]] * int(table[i, j])
        b += [cats[j]] * int(table[i, j])
    return a, b


def _fleiss_cohen_everitt_se(table: np.ndarray) -> tuple[float, float]:
    """Hand-coded kappa and its large-sample SE (Fleiss, Cohen & Everitt 1969, eq. 13)."""
    n = table.sum()
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po, pe = np.trace(p), rows @ cols
    kappa = (po - pe) / (1 - pe)
    k = p.shape[0]
    a = sum(p[i, i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(k))
    b = (1 - kappa) ** 2 * sum(
        p[i, j] * (cols[i] + rows[j]) ** 2 for i in range(k) for j in range(k) if i != j
    )
    c = (kappa - pe * (1 - kappa)) ** 2
    return kappa, math.sqrt((a + b - c) / (n * (1 - pe) ** 2))


def test_kappa_fleiss_psychiatric_table_matches_hand_coded_fleiss_cohen_everitt_se():
    a, b = _labels_from_table(FLEISS_TABLE)
    row = _first(S.compute_cohen_kappa(a, b))
    kappa, se = _fleiss_cohen_everitt_se(FLEISS_TABLE)
    assert row["estimate"] == pytest.approx(0.676, abs=5e-4)  # (0.89 - 0.66) / 0.34
    assert row["estimate"] == pytest.approx(kappa)
    z = sps.norm.ppf(0.975)
    assert row["ci_lower"] == pytest.approx(kappa - z * se)
    assert row["ci_upper"] == pytest.approx(kappa + z * se)
    assert row["n"] == 89
    assert row["N"] == 100
    assert row["p_value"] < 1e-6


def test_kappa_identical_raters_is_one():
    labels = ["0", "1+", "2+", "3+", "0", "0", "2+"]
    row = _first(S.compute_cohen_kappa(labels, labels))
    assert row["estimate"] == pytest.approx(1.0)
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((1.0, 1.0))


def test_kappa_single_category_undefined():
    row = _first(S.compute_cohen_kappa(["amp"] * 5, ["amp"] * 5))
    assert math.isnan(row["estimate"])
    assert "single category" in row["note"]


def test_quadratic_weighted_kappa_matches_hand_formula():
    # kappa_w = 1 - sum(w p_obs) / sum(w p_exp), disagreement weights w_ij = (i - j)^2
    table = np.array([[10, 3, 1, 0], [2, 8, 3, 1], [0, 2, 9, 2], [0, 1, 2, 6]])
    cats = ["0", "1+", "2+", "3+"]
    a, b = _labels_from_table(table, cats)
    row = _first(S.compute_cohen_kappa(a, b, categories=cats, weights="quadratic"))
    p = table / table.sum()
    w = np.subtract.outer(np.arange(4), np.arange(4)) ** 2
    expected = 1 - (w * p).sum() / (w * np.outer(p.sum(1), p.sum(0))).sum()
    assert row["estimate"] == pytest.approx(expected)
    assert row["method"].startswith("Quadratic-weighted")


def test_kappa_drops_missing_pairs():
    row = _first(S.compute_cohen_kappa(["a", "b", None, "a"], ["a", "b", "a", np.nan]))
    assert row["N"] == 2


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([], [], {}, "no item"),
        (["a"], ["a", "b"], {}, "same length"),
        (["a", "c"], ["a", "b"], {"categories": ["a", "b"]}, "not in categories"),
        (["a", "b"], ["a", "b"], {"weights": "cubic"}, "weights"),
    ],
)
def test_kappa_invalid_input_raises(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.compute_cohen_kappa(a, b, **kwargs)


def _sf_long() -> pd.DataFrame:
    return pd.DataFrame(
        [
            (f"T{i}", f"J{j}", SHROUT_FLEISS[i, j])
            for i in range(SHROUT_FLEISS.shape[0])
            for j in range(SHROUT_FLEISS.shape[1])
        ],
        columns=["target", "judge", "rating"],
    )


@pytest.mark.parametrize(
    ("icc_type", "published"),
    [
        ("ICC(1,1)", 0.17),
        ("ICC(2,1)", 0.29),
        ("ICC(3,1)", 0.71),
        ("ICC(1,k)", 0.44),
        ("ICC(2,k)", 0.62),
        ("ICC(3,k)", 0.91),
    ],
)
def test_icc_matches_shrout_fleiss_1979_table_4(icc_type, published):
    row = _first(S.compute_icc(_sf_long(), "target", "judge", "rating", icc_type))
    assert round(row["estimate"], 2) == published
    assert row["ci_lower"] < row["estimate"] < row["ci_upper"]
    assert row["N"] == 6


def test_icc_mean_squares_match_statsmodels_two_way_anova():
    df = _sf_long()
    ms = S.agreement._anova_mean_squares(SHROUT_FLEISS.astype(float))
    table = anova_lm(ols("rating ~ C(target) + C(judge)", data=df).fit())
    assert ms.bms == pytest.approx(table.loc["C(target)", "mean_sq"])
    assert ms.jms == pytest.approx(table.loc["C(judge)", "mean_sq"])
    assert ms.ems == pytest.approx(table.loc["Residual", "mean_sq"])
    one_way = anova_lm(ols("rating ~ C(target)", data=df).fit())
    assert ms.wms == pytest.approx(one_way.loc["Residual", "mean_sq"])


@pytest.mark.parametrize(
    ("icc_type", "rater_sd", "tolerance"),
    [("ICC(1,1)", 0.0, 0.015), ("ICC(3,1)", 0.8, 0.015), ("ICC(2,1)", 0.8, 0.025)],
)
def test_icc_ci_coverage_by_simulation(icc_type, rater_sd, tolerance):
    # Independent check of the F-based CIs: coverage of the true ICC in 2000 simulated studies
    # (n = 12 targets, k = 3 raters, target variance 1, error variance 1).
    rng = np.random.default_rng(2024)
    n, k, reps = 12, 3, 2000
    rater_var = rater_sd**2
    true = 1 / (1 + 1) if icc_type != "ICC(2,1)" else 1 / (1 + rater_var + 1)
    hits = 0
    for _ in range(reps):
        ratings = (
            rng.normal(0, 1, (n, 1)) + rng.normal(0, rater_sd, (1, k)) + rng.normal(0, 1, (n, k))
        )
        _, lo, hi, _ = S.agreement._icc_from_matrix(ratings, icc_type, 0.95)
        hits += lo <= true <= hi
    assert hits / reps == pytest.approx(0.95, abs=tolerance)


def test_icc_identical_readers_gives_one_without_f_based_ci():
    df = pd.DataFrame(
        {
            "cell": [1, 1, 2, 2, 3, 3],
            "reader": ["R1", "R2"] * 3,
            "ratio": [1.2, 1.2, 2.5, 2.5, 4.0, 4.0],
        }
    )
    for icc_type in ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)"):
        row = _first(S.compute_icc(df, "cell", "reader", "ratio", icc_type))
        assert row["estimate"] == 1.0
        assert math.isnan(row["ci_lower"])
        assert "perfect agreement" in row["note"]
    with pytest.raises(ValueError, match="identical"):
        S.compute_icc(df.assign(ratio=1.0), "cell", "reader", "ratio")


def test_icc_drops_targets_with_missing_rating():
    df = _sf_long()
    df.loc[(df["target"] == "T0") & (df["judge"] == "J1"), "rating"] = np.nan
    row = _first(S.compute_icc(df, "target", "judge", "rating", "ICC(3,1)"))
    assert row["N"] == 5
    assert "1 target(s)" in row["note"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (_sf_long(), {"icc_type": "ICC(4,1)"}, "icc_type"),
        (pd.concat([_sf_long(), _sf_long()]), {}, "several ratings"),
        (_sf_long().head(4), {}, "at least 2 targets"),
        (_sf_long().drop(columns="rating"), {}, "lacks column"),
    ],
)
def test_icc_invalid_input_raises(frame, kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.compute_icc(frame, "target", "judge", "rating", **kwargs)


def test_bland_altman_pefr_matches_bland_altman_1986_bias_and_sd():
    # Bland & Altman (1986): Wright − mini Wright, mean difference −2.1 l/min, SD 38.8 l/min.
    result = S.compute_bland_altman(PEFR_WRIGHT, PEFR_MINI, "PEFR, Wright − mini")
    table = result.table.set_index("parameter")
    bias = table.loc["PEFR, Wright − mini: bias (mean difference)"]
    assert round(bias["estimate"], 1) == -2.1
    assert round(float(np.std(result.difference, ddof=1)), 1) == 38.8
    sd = np.std(result.difference, ddof=1)
    z = sps.norm.ppf(0.975)
    lower = table.loc["PEFR, Wright − mini: lower 95% limit of agreement"]
    upper = table.loc["PEFR, Wright − mini: upper 95% limit of agreement"]
    assert lower["estimate"] == pytest.approx(bias["estimate"] - z * sd)
    assert upper["estimate"] == pytest.approx(bias["estimate"] + z * sd)
    # bias CI is the one-sample t interval of the differences (scipy as independent route)
    ci = sps.ttest_1samp(result.difference, 0).confidence_interval(0.95)
    assert (bias["ci_lower"], bias["ci_upper"]) == pytest.approx((ci.low, ci.high))
    # limit CI half-width t * s * sqrt(1/n + z^2 / (2(n-1))), n = 17
    half = sps.t.ppf(0.975, 16) * sd * math.sqrt(1 / 17 + z**2 / 32)
    assert upper["ci_upper"] - upper["estimate"] == pytest.approx(half)
    np.testing.assert_allclose(result.mean, (np.array(PEFR_WRIGHT) + PEFR_MINI) / 2)
    assert (table["N"] == 17).all()


def test_bland_altman_needs_two_pairs():
    with pytest.raises(ValueError, match="at least 2"):
        S.compute_bland_altman([1.0, np.nan], [2.0, 3.0])


# --------------------------------------------------------------------------------------------
# 9. diagnostic accuracy and ROC
# --------------------------------------------------------------------------------------------


def test_diagnostic_accuracy_clopper_pearson_matches_beta_quantiles():
    truth = [True] * 20 + [False] * 30
    test = [True] * 15 + [False] * 5 + [True] * 3 + [False] * 27
    result = S.compute_diagnostic_accuracy(truth, test)
    table = result.table.set_index("parameter")
    for name, k, n in (
        ("sensitivity", 15, 20),
        ("specificity", 27, 30),
        ("PPV", 15, 18),
        ("NPV", 27, 32),
    ):
        row = table.loc[name]
        assert (row["n"], row["N"]) == (k, n)
        assert row["estimate"] == pytest.approx(k / n)
        assert row["ci_lower"] == pytest.approx(sps.beta.ppf(0.025, k, n - k + 1))
        assert row["ci_upper"] == pytest.approx(sps.beta.ppf(0.975, k + 1, n - k))
    assert result.cross_table.to_numpy().tolist() == [[15, 5], [3, 27]]


def test_diagnostic_accuracy_zero_and_all_positive_limits():
    result = S.compute_diagnostic_accuracy([True] * 6 + [False] * 4, [True] * 6 + [True] * 4)
    table = result.table.set_index("parameter")
    assert table.loc["sensitivity", "ci_upper"] == 1.0
    assert table.loc["sensitivity", "estimate"] == 1.0
    assert table.loc["specificity", "estimate"] == 0.0
    assert table.loc["specificity", "ci_lower"] == 0.0
    assert table.loc["NPV", "N"] == 0
    assert math.isnan(table.loc["NPV", "estimate"])


def test_cross_table_drops_missing_and_rejects_non_boolean():
    table = S.compute_cross_table([True, False, None, True], [True, True, False, np.nan])
    assert table.to_numpy().sum() == 2
    with pytest.raises(TypeError, match="boolean"):
        S.compute_cross_table(["Y", "N"], [True, False])


def _hanley_mcneil_data():
    truth = np.r_[np.zeros(58, bool), np.ones(51, bool)]
    score = np.r_[
        np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2]),
        np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33]),
    ]
    return truth, score


def test_roc_auc_matches_hanley_mcneil_1982_ct_ratings_0_893():
    truth, score = _hanley_mcneil_data()
    result = S.compute_roc(truth, score)
    row = _first(result.table)
    assert round(row["estimate"], 3) == 0.893
    assert (row["n"], row["N"]) == (51, 109)


def test_roc_delong_se_matches_brute_force_structural_components():
    truth, score = _hanley_mcneil_data()
    pos, neg = score[truth].astype(float), score[~truth].astype(float)
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = math.sqrt(v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size)
    row = _first(S.compute_roc(truth, score).table)
    assert row["estimate"] == pytest.approx(psi.mean())
    z = sps.norm.ppf(0.975)
    assert row["ci_lower"] == pytest.approx(psi.mean() - z * se)
    assert row["ci_upper"] == pytest.approx(psi.mean() + z * se)


def test_roc_curve_points_and_trapezoid_area_equal_auc():
    truth, score = _hanley_mcneil_data()
    result = S.compute_roc(truth, score)
    curve = result.curve
    assert list(curve.columns) == ["fpr", "tpr", "threshold"]
    assert (curve.iloc[0]["fpr"], curve.iloc[0]["tpr"]) == (0.0, 0.0)
    assert (curve.iloc[-1]["fpr"], curve.iloc[-1]["tpr"]) == (1.0, 1.0)
    assert curve.iloc[1]["tpr"] == pytest.approx(33 / 51)  # score 5 called positive
    assert curve.iloc[1]["fpr"] == pytest.approx(2 / 58)
    area = np.trapezoid(curve["tpr"], curve["fpr"])
    assert area == pytest.approx(result.table["estimate"].iloc[0])


def test_roc_perfect_separation_auc_one_and_reversed_zero():
    result = S.compute_roc([False, False, False, True, True, True], [1, 2, 3, 4, 5, 6])
    row = _first(result.table)
    assert row["estimate"] == 1.0
    assert (row["ci_lower"], row["ci_upper"]) == (1.0, 1.0)
    assert "perfect separation" in row["note"]
    assert row["p_value"] == pytest.approx(0.1)  # exact Mann–Whitney: 2 / C(6, 3)
    reversed_row = _first(
        S.compute_roc([True, True, True, False, False, False], [1, 2, 3, 4, 5, 6]).table
    )
    assert reversed_row["estimate"] == 0.0


def test_roc_requires_both_classes_and_drops_missing():
    with pytest.raises(ValueError, match="both classes"):
        S.compute_roc([True, True], [1.0, 2.0])
    row = _first(
        S.compute_roc([True, False, None, True, False], [3.0, 1.0, 2.0, np.nan, 0.5]).table
    )
    assert row["N"] == 3


# --------------------------------------------------------------------------------------------
# 10. descriptives
# --------------------------------------------------------------------------------------------


def test_descriptives_match_r_quantile_type_7_and_scipy_gmean():
    # R: quantile(c(1, 2, 3, 4, 10)) -> 25% 2, 50% 3, 75% 4; sd = 3.535534
    df = pd.DataFrame({"AVAL": [1.0, 2, 3, 4, 10, np.nan]})
    row = S.compute_descriptives(df, "AVAL").iloc[0]
    assert (row["n"], row["n_missing"]) == (5, 1)
    assert (row["q1"], row["median"], row["q3"]) == (2.0, 3.0, 4.0)
    assert row["mean"] == 4.0
    assert row["sd"] == pytest.approx(3.535534, abs=1e-6)
    assert row["geo_mean"] == pytest.approx(sps.gmean([1, 2, 3, 4, 10]))
    assert (row["min"], row["max"]) == (1.0, 10.0)


def test_descriptives_by_group_and_non_positive_geometric_mean():
    df = pd.DataFrame(
        {"AVISIT": ["BASELINE", "BASELINE", "M3", "M3"], "AVAL": [1.0, 4.0, 0.0, 2.0]}
    )
    out = S.compute_descriptives(df, "AVAL", by="AVISIT").set_index("AVISIT")
    assert out.loc["BASELINE", "geo_mean"] == pytest.approx(2.0)
    assert math.isnan(out.loc["M3", "geo_mean"])
    single = S.compute_descriptives(df.head(1), "AVAL")
    assert math.isnan(single["sd"].iloc[0])


@pytest.mark.parametrize(
    ("df", "kwargs", "exc", "match"),
    [
        (pd.DataFrame({"AVAL": []}, dtype=float), {}, ValueError, "empty"),
        (pd.DataFrame({"AVAL": [1.0]}), {"by": "ARM"}, ValueError, "grouping"),
        (pd.DataFrame({"X": [1.0]}), {}, ValueError, "no column"),
        (pd.DataFrame({"AVAL": ["a"]}), {}, TypeError, "numeric"),
    ],
)
def test_descriptives_invalid_input_raises(df, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        S.compute_descriptives(df, "AVAL", **kwargs)


# --------------------------------------------------------------------------------------------
# size switches (issue 17): exact below, normal approximation from the switch on, as R's
# wilcox.test ("exact p-value if the samples contain less than 50 finite values and no ties")
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mann_whitney_switch_at_50_exact_and_asymptotic_agree(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(0.4, 1, 50), rng.normal(0, 1, 50)
    large = _first(S.compute_mann_whitney(x, y, "x"))
    assert large["method"] == S.METHOD_MANN_WHITNEY_LARGE
    assert "normal approximation" in large["note"]
    monkeypatch.setattr(S.association, "EXACT_RANK_MAX_N", 51)
    monkeypatch.setattr(S._common, "EXACT_RANK_MAX_N", 51)
    exact = _first(S.compute_mann_whitney(x, y, "x"))
    assert exact["method"] == S.METHOD_MANN_WHITNEY
    assert exact["note"].endswith("p exact")
    # Normal approximation with continuity correction at m = n = 50: error well below 0.005.
    assert large["p_value"] == pytest.approx(exact["p_value"], abs=5e-3)
    assert large["estimate"] == exact["estimate"]
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    for col in ("ci_lower", "ci_upper"):
        assert abs(np.searchsorted(diffs, large[col]) - np.searchsorted(diffs, exact[col])) <= 2


def test_mann_whitney_just_below_switch_stays_exact():
    rng = np.random.default_rng(5)
    row = _first(S.compute_mann_whitney(rng.normal(size=49), rng.normal(size=49), "x"))
    assert row["method"] == S.METHOD_MANN_WHITNEY
    assert row["note"].endswith("p exact")


def test_mann_whitney_large_groups_fast_and_selection_equals_sorting():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.1, 1, 700), rng.normal(0, 1, 2900)
    row = _first(S.compute_mann_whitney(x, y, "x"))
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    assert row["estimate"] == pytest.approx(np.median(diffs))
    m, n = x.size, y.size
    count = math.floor(m * n / 2 - sps.norm.ppf(0.975) * math.sqrt(m * n * (m + n + 1) / 12) + 0.5)
    assert row["ci_lower"] == diffs[count - 1]
    assert row["ci_upper"] == diffs[-count]
    assert row["p_value"] == pytest.approx(
        sps.mannwhitneyu(x, y, method="asymptotic").pvalue, rel=1e-12
    )


@pytest.mark.parametrize("seed", [0, 4])
def test_signed_rank_switch_at_50_pairs_exact_and_asymptotic_agree(seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(0.3, 1, 51)
    exact = _first(S.compute_paired_change(np.zeros(50), d[:50], "x"))
    large = _first(S.compute_paired_change(np.zeros(51), d, "x"))
    assert exact["method"] == S.METHOD_PAIRED
    assert "normal approximation (N > 50)" in large["method"]
    assert "exact CI" in large["method"]
    # Same 50 pairs through the asymptotic p: within 0.005 of the exact p (R's rule of thumb).
    asym = sps.wilcoxon(d[:50], method="asymptotic").pvalue
    assert asym == pytest.approx(exact["p_value"], abs=5e-3)


def test_signed_rank_above_500_pairs_selection_equals_sorted_walsh_averages():
    rng = np.random.default_rng(9)
    d = rng.normal(0.1, 1, 801)
    row = _first(S.compute_paired_change(np.zeros(d.size), d, "x"))
    assert "asymptotic CI" in row["method"]
    walsh = S.paired._walsh_averages(d)
    assert row["estimate"] == pytest.approx(np.median(walsh))
    n = d.size
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    count = math.floor(n * (n + 1) / 4 - sps.norm.ppf(0.975) * sd + 0.5)
    assert row["ci_lower"] == walsh[count - 1]
    assert row["ci_upper"] == walsh[-count]


@pytest.mark.parametrize("values", ["ties", "constant", "continuous"])
def test_pairwise_selection_equals_sorting_with_ties_and_constant_values(values):
    rng = np.random.default_rng(2)
    x = {
        "ties": rng.integers(0, 5, 700).astype(float),
        "constant": np.full(600, 3.0),
        "continuous": rng.normal(size=650),
    }[values]
    y = np.round(rng.normal(size=900), 1)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    walsh = S.paired._walsh_averages(x)
    for k in (1, 17, diffs.size // 2, diffs.size):
        assert S._common._Differences(x, y).select(k) == diffs[k - 1]
    for k in (1, 5, walsh.size // 2 + 1, walsh.size):
        assert S._common._WalshAverages(x).select(k) == walsh[k - 1]


def test_spearman_switch_above_1000_pairs_fisher_z_agrees_with_bootstrap(monkeypatch):
    # Bonett & Wright (2000): Fisher z with SE sqrt((1 + r^2/2)/(N - 3)) for Spearman's rho.
    rng = np.random.default_rng(12)
    x = rng.normal(size=1001)
    y = 0.4 * x + rng.normal(size=1001)
    large = _first(S.compute_spearman_bootstrap(x, y, "rho", n_boot=2000, seed=1))
    assert "Fisher z" in large["method"]
    rho = large["estimate"]
    half = 1.959963984540054 * math.sqrt((1 + rho**2 / 2) / (1001 - 3))
    assert large["ci_lower"] == pytest.approx(math.tanh(math.atanh(rho) - half), rel=1e-12)
    monkeypatch.setattr(S.association, "SPEARMAN_BOOTSTRAP_MAX_N", 2000)
    boot = _first(S.compute_spearman_bootstrap(x, y, "rho", n_boot=2000, seed=1))
    assert "bootstrap" in boot["method"]
    assert boot["estimate"] == rho
    # Monte-Carlo error of 2000-resample percentile limits at N = 1001: well under 0.01.
    assert boot["ci_lower"] == pytest.approx(large["ci_lower"], abs=0.01)
    assert boot["ci_upper"] == pytest.approx(large["ci_upper"], abs=0.01)
