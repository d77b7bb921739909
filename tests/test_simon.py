"""Tests for helpers.endpoints.simon.

Reference values come from Simon R. Optimal two-stage designs for phase II clinical trials.
Control Clin Trials 1989;10:1-10, Table 1 (EN0 and PET0 printed to 1 and 2 decimals), and
otherwise from independent brute-force enumeration with ``math.comb`` (no scipy, no module
internals) or from scipy.stats.binomtest (Clopper–Pearson / exact binomial test).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np
import pytest
from scipy import stats

from helpers.endpoints.simon import (
    SimonDecision,
    SimonDesign,
    compute_operating_characteristics,
    compute_simon_characteristics,
    compute_simon_design,
    compute_two_stage_inference,
    derive_simon_decision,
)

# ------------------------------------------------------------------------------------------
# independent brute-force helpers (pure Python, exact enumeration of the sample space)
# ------------------------------------------------------------------------------------------


def _pmf(k: int, m: int, p: float) -> float:
    if k < 0 or k > m:
        return 0.0
    return math.comb(m, k) * p**k * (1.0 - p) ** (m - k)


def _brute_reject(r1: int, n1: int, r: int, n: int, p: float) -> float:
    """P(X1 > r1 and X1 + X2 > r) by a double loop over both stages."""
    return sum(
        _pmf(x1, n1, p) * _pmf(x2, n - n1, p)
        for x1 in range(r1 + 1, n1 + 1)
        for x2 in range(n - n1 + 1)
        if x1 + x2 > r
    )


def _brute_outcomes(r1: int, n1: int, n2: int, p: float) -> list[tuple[int, int, int, float]]:
    """All outcomes (stage, x1, total responses, probability) in stage-wise order.

    A stage-2 outcome is represented by its smallest compatible x1 (inference depends only
    on the stopping stage and the total)."""
    outcomes = [(1, x1, x1, _pmf(x1, n1, p)) for x1 in range(r1 + 1)]
    for s in range(r1 + 1, n1 + n2 + 1):
        prob = sum(_pmf(x1, n1, p) * _pmf(s - x1, n2, p) for x1 in range(r1 + 1, n1 + 1))
        x1_min = max(r1 + 1, s - n2)
        outcomes.append((2, x1_min, s, prob))
    return outcomes


def _brute_stagewise_pvalue(r1: int, n1: int, n2: int, stage: int, s: int, p: float) -> float:
    """P_p(outcome >= observed) by summing enumerated outcomes ranked (stage, total)."""
    return sum(
        prob for st, _, tot, prob in _brute_outcomes(r1, n1, n2, p) if (st, tot) >= (stage, s)
    )


def _inference(design: SimonDesign, stage: int, x1: int, s: int, ci_level: float = 0.95):
    if stage == 1:
        return compute_two_stage_inference(design, x1, design.n1, ci_level=ci_level)
    return compute_two_stage_inference(design, x1, design.n1, s, design.n, ci_level=ci_level)


def _brute_force_search(p0: float, p1: float, alpha: float, power: float, n_max: int):
    """Exhaustive search over every (r1, n1, r, n), n <= n_max; returns optimal and minimax.

    Optimal: smallest EN0 (ties: smaller n, then n1); minimax: smallest n, then EN0.
    Returns (r1, n1, n) for each; r is not compared because several r can be feasible."""
    feasible = []
    for n in range(2, n_max + 1):
        for n1 in range(1, n):
            for r1 in range(n1):
                pet0 = sum(_pmf(k, n1, p0) for k in range(r1 + 1))
                en0 = n1 + (1.0 - pet0) * (n - n1)
                for r in range(r1, n):
                    a = _brute_reject(r1, n1, r, n, p0)
                    if a > alpha:
                        continue
                    if _brute_reject(r1, n1, r, n, p1) < power:
                        break  # power only decreases as r grows
                    feasible.append((en0, n, n1, r1))
    optimal = min(feasible, key=lambda d: (round(d[0], 9), d[1], d[2]))
    minimax = min(feasible, key=lambda d: (d[1], round(d[0], 9), d[2]))
    return optimal, minimax


@pytest.fixture(scope="module")
def trial_design() -> SimonDesign:
    # design assumed for the HER2-CTC/T-DM1 trial: Simon optimal 0/9, 2/17
    return compute_simon_design(0.05, 0.25, alpha=0.05, power=0.80, criterion="optimal")


@pytest.fixture(scope="module")
def design_1_10_5_29() -> SimonDesign:
    return SimonDesign.from_boundaries(1, 10, 5, 29, p0=0.10, p1=0.30)


# ------------------------------------------------------------------------------------------
# design search
# ------------------------------------------------------------------------------------------

# Simon (1989) Table 1: p0, p1, alpha, power, criterion, r1/n1, r/n, EN(p0), PET(p0).
# Only rows the author is certain of and that the independent search below also confirms.
SIMON_1989_TABLE1 = [
    (0.05, 0.25, 0.05, 0.80, "optimal", 0, 9, 2, 17, 12.0, 0.63),
    (0.05, 0.25, 0.05, 0.80, "minimax", 0, 12, 2, 16, 13.8, 0.54),
    (0.10, 0.30, 0.05, 0.80, "optimal", 1, 10, 5, 29, 15.0, 0.74),
    (0.10, 0.30, 0.05, 0.80, "minimax", 1, 15, 5, 25, 19.5, 0.55),
    (0.20, 0.40, 0.05, 0.80, "optimal", 3, 13, 12, 43, 20.6, 0.75),
    (0.20, 0.40, 0.05, 0.80, "minimax", 4, 18, 10, 33, 22.3, 0.72),
    (0.30, 0.50, 0.05, 0.80, "optimal", 5, 15, 18, 46, 23.6, 0.72),
    (0.30, 0.50, 0.05, 0.80, "minimax", 6, 19, 16, 39, 25.7, 0.67),
    (0.10, 0.30, 0.05, 0.90, "optimal", 2, 18, 6, 35, 22.5, 0.73),
    (0.10, 0.30, 0.05, 0.90, "minimax", 2, 22, 6, 33, 26.2, 0.62),
    (0.20, 0.40, 0.05, 0.90, "optimal", 4, 19, 15, 54, 30.4, 0.67),
    (0.20, 0.40, 0.05, 0.90, "minimax", 5, 24, 13, 45, 31.2, 0.66),
]


@pytest.mark.parametrize(
    ("p0", "p1", "alpha", "power", "criterion", "r1", "n1", "r", "n", "en0", "pet0"),
    SIMON_1989_TABLE1,
)
def test_design_matches_simon_1989_table1(p0, p1, alpha, power, criterion, r1, n1, r, n, en0, pet0):
    design = compute_simon_design(p0, p1, alpha=alpha, power=power, criterion=criterion)
    assert (design.r1, design.n1, design.r, design.n) == (r1, n1, r, n)
    # Simon prints EN0 to 1 decimal and PET0 to 2 decimals (0/9, 2/17: EN0 = 11.958 -> 12.0)
    assert design.en_p0 == pytest.approx(en0, abs=0.05 + 1e-9)
    assert design.pet_p0 == pytest.approx(pet0, abs=0.005 + 1e-9)
    assert design.alpha_attained <= alpha
    assert design.power_attained >= power
    assert design.criterion == criterion


def test_trial_design_0_9_2_17_exact_pet_en_by_hand(trial_design):
    # PET0 = 0.95^9 and EN0 = 9 + 8 (1 - 0.95^9), computed by hand
    assert (trial_design.r1, trial_design.n1, trial_design.r, trial_design.n) == (0, 9, 2, 17)
    assert trial_design.pet_p0 == pytest.approx(0.95**9, rel=1e-12)
    assert trial_design.en_p0 == pytest.approx(9 + 8 * (1 - 0.95**9), rel=1e-12)
    assert trial_design.n2 == 8


@pytest.mark.parametrize(("p0", "p1", "n_max"), [(0.05, 0.25, 20), (0.30, 0.60, 20)])
def test_design_search_matches_independent_brute_force_enumeration(p0, p1, n_max):
    optimal, minimax = _brute_force_search(p0, p1, 0.05, 0.80, n_max)
    for criterion, expected in (("optimal", optimal), ("minimax", minimax)):
        design = compute_simon_design(p0, p1, criterion=criterion, n_max=n_max)
        assert (design.n, design.n1, design.r1) == (expected[1], expected[2], expected[3])
        assert design.en_p0 == pytest.approx(expected[0], rel=1e-12)


def test_default_search_is_not_limited_by_n_max_brute_force_n_up_to_20():
    # the branch-and-bound search without n_max must find the same optimum as an exhaustive
    # search that is known to contain it (0/9, 2/17 has n = 17 < 20)
    optimal, _ = _brute_force_search(0.05, 0.25, 0.05, 0.80, 20)
    design = compute_simon_design(0.05, 0.25)
    assert (design.n, design.n1, design.r1) == optimal[1:]


def test_n_max_restricts_search_and_too_small_n_max_raises():
    restricted = compute_simon_design(0.05, 0.25, criterion="optimal", n_max=16)
    assert restricted.n <= 16
    assert restricted.en_p0 >= compute_simon_design(0.05, 0.25).en_p0
    with pytest.raises(ValueError, match="n_max"):
        compute_simon_design(0.05, 0.25, n_max=10)


def test_common_designs_compute_in_well_under_one_second():
    start = time.perf_counter()
    compute_simon_design(0.05, 0.25)
    compute_simon_design(0.05, 0.25, criterion="minimax")
    assert time.perf_counter() - start < 1.0


def test_from_boundaries_equals_search_result_and_characteristics(trial_design):
    transcribed = SimonDesign.from_boundaries(0, 9, 2, 17, p0=0.05, p1=0.25)
    assert transcribed.alpha_attained == pytest.approx(trial_design.alpha_attained, rel=1e-12)
    assert transcribed.power_attained == pytest.approx(trial_design.power_attained, rel=1e-12)
    assert transcribed.alpha is None
    assert transcribed.power is None
    assert transcribed.criterion == "user-specified"
    same = compute_simon_characteristics(0, 9, 2, 17, 0.05, 0.25, alpha=0.05, power=0.8)
    assert same.en_p0 == pytest.approx(trial_design.en_p0, rel=1e-12)


def test_hand_built_design_with_impossible_boundaries_raises(trial_design):
    fields = dataclasses.asdict(trial_design) | {"r1": 9}
    with pytest.raises(ValueError, match="r1"):
        SimonDesign(**fields)


def test_design_is_frozen(trial_design):
    with pytest.raises(dataclasses.FrozenInstanceError):
        trial_design.n = 20  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"p0": 0.25, "p1": 0.05}, ValueError),
        ({"p0": 0.25, "p1": 0.25}, ValueError),
        ({"p0": 0.0, "p1": 0.25}, ValueError),
        ({"p0": 0.05, "p1": 1.0}, ValueError),
        ({"p0": 0.05, "p1": 0.25, "alpha": 0.0}, ValueError),
        ({"p0": 0.05, "p1": 0.25, "alpha": 1.2}, ValueError),
        ({"p0": 0.05, "p1": 0.25, "power": 1.0}, ValueError),
        ({"p0": 0.05, "p1": 0.25, "criterion": "admissible"}, ValueError),
        ({"p0": 0.05, "p1": 0.25, "n_max": 1}, ValueError),
        ({"p0": 0.05, "p1": 0.25, "n_max": 20.5}, TypeError),
        ({"p0": "0.05", "p1": 0.25}, TypeError),
    ],
)
def test_compute_simon_design_rejects_invalid_arguments(kwargs, error):
    with pytest.raises(error):
        compute_simon_design(**kwargs)


@pytest.mark.parametrize(
    ("r1", "n1", "r", "n"),
    [
        (10, 9, 12, 17),  # r1 > n1
        (9, 9, 12, 17),  # r1 = n1: the trial would always stop
        (0, 9, 2, 9),  # n = n1: no stage 2
        (3, 9, 2, 17),  # r < r1
        (0, 9, 17, 17),  # r = n: H0 never rejected
        (-1, 9, 2, 17),
    ],
)
def test_from_boundaries_rejects_impossible_boundaries(r1, n1, r, n):
    with pytest.raises(ValueError, match="must"):
        SimonDesign.from_boundaries(r1, n1, r, n, p0=0.05, p1=0.25)


def test_from_boundaries_rejects_bool_and_float_counts():
    with pytest.raises(TypeError):
        SimonDesign.from_boundaries(True, 9, 2, 17, p0=0.05, p1=0.25)
    with pytest.raises(TypeError):
        SimonDesign.from_boundaries(0, 9.0, 2, 17, p0=0.05, p1=0.25)


# ------------------------------------------------------------------------------------------
# operating characteristics
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r1", "n1", "r", "n", "p0", "p1"),
    [(0, 9, 2, 17, 0.05, 0.25), (1, 10, 5, 29, 0.10, 0.30), (3, 13, 12, 43, 0.20, 0.40)],
)
def test_attained_alpha_power_match_brute_force_enumeration(r1, n1, r, n, p0, p1):
    design = SimonDesign.from_boundaries(r1, n1, r, n, p0=p0, p1=p1)
    assert design.alpha_attained == pytest.approx(_brute_reject(r1, n1, r, n, p0), rel=1e-10)
    assert design.power_attained == pytest.approx(_brute_reject(r1, n1, r, n, p1), rel=1e-10)


def test_operating_characteristics_match_brute_force_enumeration(design_1_10_5_29):
    grid = [0.0, 0.05, 0.10, 0.20, 0.30, 0.50, 1.0]
    oc = compute_operating_characteristics(design_1_10_5_29, grid)
    assert list(oc.columns) == ["p", "prob_reject_h0", "pet", "expected_n"]
    for row in oc.itertuples():
        pet = sum(_pmf(k, 10, row.p) for k in range(2))
        assert row.prob_reject_h0 == pytest.approx(_brute_reject(1, 10, 5, 29, row.p), abs=1e-12)
        assert row.pet == pytest.approx(pet, abs=1e-12)
        # expected sample size by enumeration: n1 if stopped, n otherwise
        assert row.expected_n == pytest.approx(10 * pet + 29 * (1 - pet), abs=1e-10)


def test_operating_characteristics_at_p0_p1_equal_design_attained_values(trial_design):
    oc = compute_operating_characteristics(trial_design, [0.05, 0.25])
    assert oc.prob_reject_h0.tolist() == pytest.approx(
        [trial_design.alpha_attained, trial_design.power_attained], rel=1e-12
    )
    assert oc.expected_n.iloc[0] == pytest.approx(trial_design.en_p0, rel=1e-12)


def test_operating_characteristics_extremes_p0_and_p1_by_logic(trial_design):
    # p = 0: nobody responds -> always stop at n1; p = 1: everyone responds -> always reject
    oc = compute_operating_characteristics(trial_design, np.array([0.0, 1.0]))
    assert oc.prob_reject_h0.tolist() == pytest.approx([0.0, 1.0], abs=1e-15)
    assert oc.pet.tolist() == pytest.approx([1.0, 0.0], abs=1e-15)
    assert oc.expected_n.tolist() == pytest.approx([9.0, 17.0])
    single = compute_operating_characteristics(trial_design, 0.25)
    assert len(single) == 1


@pytest.mark.parametrize("bad", [[], [0.1, 1.2], [-0.1], [np.nan], [[0.1, 0.2]]])
def test_operating_characteristics_rejects_invalid_rates(trial_design, bad):
    with pytest.raises(ValueError, match="p must"):
        compute_operating_characteristics(trial_design, bad)


def test_operating_characteristics_rejects_non_design():
    with pytest.raises(TypeError, match="SimonDesign"):
        compute_operating_characteristics((0, 9, 2, 17), [0.1])


# ------------------------------------------------------------------------------------------
# decisions
# ------------------------------------------------------------------------------------------


def test_decision_0_of_9_stops_for_futility(trial_design):
    decision = derive_simon_decision(trial_design, 0, 9)
    assert isinstance(decision, SimonDecision)
    assert decision.stage1_decision == "stop for futility"
    assert decision.final_decision == "do not reject H0"
    assert decision.notes == ()


def test_decision_1_of_9_continues_and_final_not_reached(trial_design):
    decision = derive_simon_decision(trial_design, 1, 9)
    assert decision.stage1_decision == "continue to stage 2"
    assert decision.final_decision.startswith("not reached")


def test_decision_3_of_17_rejects_h0(trial_design):
    decision = derive_simon_decision(trial_design, 1, 9, 3, 17)
    assert decision.stage1_decision == "continue to stage 2"
    assert decision.final_decision == "reject H0: promising"
    assert "3/17" in decision.text


def test_decision_2_of_17_does_not_reject_h0(trial_design):
    assert derive_simon_decision(trial_design, 2, 9, 2, 17).final_decision == "do not reject H0"


def test_decision_incomplete_stage1_is_flagged(trial_design):
    decision = derive_simon_decision(trial_design, 0, 5)
    assert decision.stage1_decision == "stage 1 incomplete (5 of 9 evaluable)"
    assert decision.final_decision.startswith("not reached")


def test_decision_incomplete_stage1_with_response_already_assures_continuation(trial_design):
    decision = derive_simon_decision(trial_design, 1, 5)
    assert decision.stage1_decision == "stage 1 incomplete (5 of 9 evaluable)"
    assert any("assured" in note for note in decision.notes)


def test_decision_under_accrual_boundary_crossed_or_open(trial_design):
    crossed = derive_simon_decision(trial_design, 1, 9, 3, 15)
    assert crossed.final_decision == "reject H0: promising"
    assert any("under-accrual" in note for note in crossed.notes)
    still_open = derive_simon_decision(trial_design, 1, 9, 2, 15)
    assert (
        still_open.final_decision
        == "not reached (15 of 17 evaluable; 2 responses so far, > 2 needed)"
    )


def test_decision_over_accrual_is_flagged(trial_design):
    decision = derive_simon_decision(trial_design, 1, 9, 4, 20)
    assert decision.final_decision == "reject H0: promising"
    assert any("over-accrual" in note for note in decision.notes)
    assert "over-accrual" in decision.text
    stage1 = derive_simon_decision(trial_design, 0, 10)
    assert stage1.stage1_decision == "stop for futility"
    assert any("over-accrual" in note for note in stage1.notes)


def test_decision_treatment_after_futility_stop_is_flagged_as_deviation(trial_design):
    decision = derive_simon_decision(trial_design, 0, 9, 1, 17)
    assert decision.final_decision == "do not reject H0"
    assert any("protocol deviation" in note for note in decision.notes)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((10, 9), ValueError),  # more responses than patients
        ((1, 9, 3, None), ValueError),  # only one of the stage-2 counts
        ((1, 9, 0, 17), ValueError),  # cumulative total below stage 1
        ((1, 9, 12, 17), ValueError),  # 11 stage-2 responses among 8 patients
        ((1, 9, 3, 8), ValueError),  # n_total < n_stage1
        ((-1, 9), ValueError),
        ((1.0, 9), TypeError),
    ],
)
def test_decision_rejects_inconsistent_counts(trial_design, args, error):
    with pytest.raises(error):
        derive_simon_decision(trial_design, *args)


# ------------------------------------------------------------------------------------------
# UMVUE
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("design_args", [(0, 9, 2, 17, 0.05, 0.25), (1, 10, 5, 29, 0.10, 0.30)])
@pytest.mark.parametrize("p", [0.03, 0.10, 0.25, 0.50, 0.85])
def test_umvue_is_unbiased_by_exact_enumeration(design_args, p):
    r1, n1, r, n, p0, p1 = design_args
    design = SimonDesign.from_boundaries(r1, n1, r, n, p0=p0, p1=p1)
    expectation = 0.0
    for stage, x1, s, prob in _brute_outcomes(r1, n1, n - n1, p):
        table = _inference(design, stage, x1, s)
        expectation += prob * table.estimate.iloc[1]
    assert expectation == pytest.approx(p, abs=1e-10)


def test_naive_proportion_is_biased_after_futility_stop_by_exact_enumeration(trial_design):
    # contrast with the UMVUE test: E[x/N] != p for the naive estimator (downward bias)
    p = 0.10
    expectation = sum(
        prob * _inference(trial_design, stage, x1, s).estimate.iloc[0]
        for stage, x1, s, prob in _brute_outcomes(0, 9, 8, p)
    )
    assert expectation < p - 1e-3


def test_umvue_after_stage1_stop_equals_observed_proportion(design_1_10_5_29):
    table = compute_two_stage_inference(design_1_10_5_29, 1, 10)
    assert table.estimate.iloc[1] == pytest.approx(0.1)


def test_umvue_stage2_matches_rao_blackwell_enumeration(design_1_10_5_29):
    # E[X1/n1 | X1 > r1, X1 + X2 = s] enumerated over (x1, x2) with weights C(n1,x1) C(n2,x2)
    s, n1, n2 = 7, 10, 19
    pairs = [(x1, s - x1) for x1 in range(2, n1 + 1) if 0 <= s - x1 <= n2]
    weights = [math.comb(n1, x1) * math.comb(n2, x2) for x1, x2 in pairs]
    expected = sum(w * x1 / n1 for w, (x1, _) in zip(weights, pairs, strict=True)) / sum(weights)
    table = compute_two_stage_inference(design_1_10_5_29, 3, 10, 7, 29)
    assert table.estimate.iloc[1] == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------------------
# Koyama & Chen stage-wise inference
# ------------------------------------------------------------------------------------------


def test_stagewise_pvalue_at_r_plus_1_equals_attained_alpha(trial_design, design_1_10_5_29):
    # stage-wise ordering: {outcome >= (stage 2, r + 1)} is exactly the rejection region
    table = compute_two_stage_inference(trial_design, 1, 9, 3, 17)
    assert table.p_value.iloc[2] == pytest.approx(trial_design.alpha_attained, rel=1e-12)
    table = compute_two_stage_inference(design_1_10_5_29, 2, 10, 6, 29)
    assert table.p_value.iloc[2] == pytest.approx(design_1_10_5_29.alpha_attained, rel=1e-12)


@pytest.mark.parametrize(("stage", "x1", "s"), [(1, 0, 0), (1, 1, 1), (2, 2, 4), (2, 4, 9)])
def test_stagewise_pvalue_matches_brute_force_ordering(design_1_10_5_29, stage, x1, s):
    table = _inference(design_1_10_5_29, stage, x1, s)
    expected = _brute_stagewise_pvalue(1, 10, 19, stage, s, 0.10)
    assert table.p_value.iloc[2] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("design_args", [(0, 9, 2, 17, 0.05, 0.25), (1, 10, 5, 29, 0.10, 0.30)])
@pytest.mark.parametrize("p", [0.02, 0.05, 0.12, 0.25, 0.40, 0.70, 0.95])
def test_stagewise_ci_coverage_at_least_nominal_by_exact_enumeration(design_args, p):
    r1, n1, r, n, p0, p1 = design_args
    design = SimonDesign.from_boundaries(r1, n1, r, n, p0=p0, p1=p1)
    coverage = 0.0
    for stage, x1, s, prob in _brute_outcomes(r1, n1, n - n1, p):
        row = _inference(design, stage, x1, s).iloc[2]
        if row.ci_lower <= p <= row.ci_upper:
            coverage += prob
    assert coverage >= 0.95 - 1e-12


def test_stagewise_ci_after_stage1_stop_equals_scipy_clopper_pearson(design_1_10_5_29):
    # after a stage-1 stop the stage-wise ordering reduces to the binomial one
    table = compute_two_stage_inference(design_1_10_5_29, 1, 10)
    reference = stats.binomtest(1, 10, 0.10).proportion_ci(0.95, method="exact")
    assert table.ci_lower.iloc[2] == pytest.approx(reference.low, rel=1e-8)
    assert table.ci_upper.iloc[2] == pytest.approx(reference.high, rel=1e-8)
    greater = stats.binomtest(1, 10, 0.10, alternative="greater").pvalue
    assert table.p_value.iloc[2] == pytest.approx(greater, rel=1e-12)


def test_stagewise_limits_solve_tail_equations_by_brute_force(trial_design):
    table = compute_two_stage_inference(trial_design, 1, 9, 3, 17)
    row = table.iloc[2]
    # lower limit: P(outcome >= observed) = 0.025; median-unbiased: = 0.5
    assert _brute_stagewise_pvalue(0, 9, 8, 2, 3, row.ci_lower) == pytest.approx(0.025, abs=1e-9)
    assert _brute_stagewise_pvalue(0, 9, 8, 2, 3, row.estimate) == pytest.approx(0.5, abs=1e-9)
    # upper limit: P(outcome <= observed) = 1 - P(outcome >= next outcome) = 0.025
    upper_tail = 1.0 - _brute_stagewise_pvalue(0, 9, 8, 2, 4, row.ci_upper)
    assert upper_tail == pytest.approx(0.025, abs=1e-9)


def test_stagewise_boundaries_zero_responses_and_all_responses(trial_design):
    none = compute_two_stage_inference(trial_design, 0, 9)
    assert none.ci_lower.tolist() == [0.0, 0.0, 0.0]
    assert none.estimate.iloc[2] == 0.0
    assert none.p_value.iloc[2] == pytest.approx(1.0)
    everyone = compute_two_stage_inference(trial_design, 9, 9, 17, 17)
    assert everyone.ci_upper.tolist() == [1.0, 1.0, 1.0]
    assert everyone.estimate.iloc[1] == pytest.approx(1.0)
    # largest outcome: P(outcome >= observed) = p^17, so the lower limit is 0.025^(1/17)
    assert everyone.ci_lower.iloc[2] == pytest.approx(0.025 ** (1 / 17), rel=1e-9)
    assert everyone.estimate.iloc[2] == pytest.approx(0.5 ** (1 / 17), rel=1e-9)


def test_stagewise_pvalues_decrease_along_the_ordering(design_1_10_5_29):
    pvalues = [
        _inference(design_1_10_5_29, stage, x1, s).p_value.iloc[2]
        for stage, x1, s, _ in _brute_outcomes(1, 10, 19, 0.1)
    ]
    assert pvalues[0] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(pvalues))


# ------------------------------------------------------------------------------------------
# estimate table, naive row, deviations
# ------------------------------------------------------------------------------------------


def test_inference_table_shape_and_naive_row_matches_scipy_binomtest(trial_design):
    table = compute_two_stage_inference(trial_design, 1, 9, 3, 17, label="ORR (confirmed)")
    assert list(table.columns) == [
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
    assert len(table) == 3
    assert table.n.tolist() == [3, 3, 3]
    assert table.N.tolist() == [17, 17, 17]
    assert table.ci_level.tolist() == [0.95, 0.95, 0.95]
    assert all(p.startswith("ORR (confirmed)") for p in table.parameter)
    assert np.isnan(table.p_value.iloc[1])
    ci = stats.binomtest(3, 17, 0.05).proportion_ci(0.95, method="exact")
    assert table.estimate.iloc[0] == pytest.approx(3 / 17)
    assert table.ci_lower.iloc[0] == pytest.approx(ci.low, rel=1e-8)
    assert table.ci_upper.iloc[0] == pytest.approx(ci.high, rel=1e-8)
    greater = stats.binomtest(3, 17, 0.05, alternative="greater").pvalue
    assert table.p_value.iloc[0] == pytest.approx(greater, rel=1e-12)
    assert "Clopper" in table.method.iloc[0]
    assert "Koyama" in table.method.iloc[2]
    assert "attained" not in table.method.iloc[2]


def test_inference_ci_level_90_is_narrower_than_95(trial_design):
    wide = compute_two_stage_inference(trial_design, 1, 9, 3, 17, ci_level=0.95).iloc[2]
    narrow = compute_two_stage_inference(trial_design, 1, 9, 3, 17, ci_level=0.90).iloc[2]
    assert wide.ci_lower < narrow.ci_lower <= narrow.estimate <= narrow.ci_upper < wide.ci_upper


def test_inference_attained_sizes_flagged_and_match_design_with_those_sizes(trial_design):
    # over-accrual in stage 2 (20 instead of 17): computed as a design with n1 = 9, n2 = 11
    table = compute_two_stage_inference(trial_design, 1, 9, 4, 20)
    assert all("attained" in m for m in table.method.iloc[1:])
    expected = _brute_stagewise_pvalue(0, 9, 11, 2, 4, 0.05)
    assert table.p_value.iloc[2] == pytest.approx(expected, rel=1e-10)
    stopped_early = compute_two_stage_inference(trial_design, 0, 8)
    assert "attained sizes (n1=8)" in stopped_early.method.iloc[2]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 9, 1, 17), "futility stop"),  # treated beyond the futility stop
        ((1, 9), "stage 2"),  # continued, stage-2 data missing
        ((1, 9, 1, 9), "no stage-2 patient"),
        ((0, 0), "n_stage1"),  # nobody evaluable
    ],
)
def test_inference_without_design_sample_space_raises(trial_design, args, match):
    with pytest.raises(ValueError, match=match):
        compute_two_stage_inference(trial_design, *args)


def test_inference_rejects_invalid_ci_level_label_and_design(trial_design):
    with pytest.raises(ValueError, match="ci_level"):
        compute_two_stage_inference(trial_design, 0, 9, ci_level=95)
    with pytest.raises(TypeError, match="label"):
        compute_two_stage_inference(trial_design, 0, 9, label="")
    with pytest.raises(TypeError, match="SimonDesign"):
        compute_two_stage_inference({"r1": 0}, 0, 9)
