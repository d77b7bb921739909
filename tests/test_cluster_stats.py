"""Clustered agreement statistics.

References: Shrout PE, Fleiss JL. Psychol Bull 1979;86:420-428, Table 2 (6 targets x 4 judges:
ICC(2,1) = .29); Cicchetti DV, Feinstein AR. J Clin Epidemiol 1990;43:551-558 (specific positive
and negative agreement); Hanley JA, McNeil BJ. Radiology 1982;143:29-36 (AUC = Mann-Whitney);
Davison AC, Hinkley DV 1997, §3.8 (cluster bootstrap).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.endpoints import stats

SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float
)


def test_icc_2_1_reproduces_shrout_fleiss_1979_table_2_and_compute_icc():
    assert round(stats.icc_2_1(SHROUT_FLEISS), 2) == 0.29
    long = pd.DataFrame(
        {
            "t": np.repeat(np.arange(6), 4),
            "j": np.tile(np.arange(4), 6),
            "y": SHROUT_FLEISS.ravel(),
        }
    )
    ref = stats.compute_icc(long, "t", "j", "y", "ICC(2,1)")["estimate"].iloc[0]
    assert stats.icc_2_1(SHROUT_FLEISS) == pytest.approx(ref, abs=1e-12)


def test_positive_negative_agreement_and_kappa_by_hand():
    # a = 40 both positive, b + c = 10 discordant, d = 50 both negative
    a = np.array([True] * 40 + [True] * 5 + [False] * 5 + [False] * 50)
    b = np.array([True] * 40 + [False] * 5 + [True] * 5 + [False] * 50)
    assert stats.positive_agreement(a, b) == pytest.approx(80 / 90)
    assert stats.negative_agreement(a, b) == pytest.approx(100 / 110)
    ref = stats.compute_cohen_kappa(a, b)["estimate"].iloc[0]
    assert stats.cohen_kappa_binary(a, b) == pytest.approx(ref, abs=1e-12)


def test_auc_mann_whitney_equals_compute_roc():
    rng = np.random.default_rng(1)
    truth = rng.random(60) < 0.4
    score = rng.normal(truth * 1.0, 1.0).round(1)  # ties on purpose
    ref = stats.compute_roc(truth, score).table["estimate"].iloc[0]
    assert stats.auc_mann_whitney(truth, score) == pytest.approx(ref, abs=1e-12)


def test_cluster_bootstrap_is_seeded_and_widens_with_within_cluster_copies():
    rng = np.random.default_rng(2)
    x = rng.normal(size=20)
    one_each = stats.compute_cluster_bootstrap(
        np.arange(20), lambda i: float(x[i].mean()), "mean", n_boot=500, seed=3
    )
    again = stats.compute_cluster_bootstrap(
        np.arange(20), lambda i: float(x[i].mean()), "mean", n_boot=500, seed=3
    )
    assert one_each.equals(again)
    # the same 20 values copied 10 times per patient: naive item-level n would be 200, but the
    # cluster bootstrap must give the same interval as with one item per patient
    xx = np.repeat(x, 10)
    clustered = stats.compute_cluster_bootstrap(
        np.repeat(np.arange(20), 10), lambda i: float(xx[i].mean()), "mean", n_boot=500, seed=3
    )
    assert clustered["ci_lower"].iloc[0] == pytest.approx(one_each["ci_lower"].iloc[0])
    row = stats.compute_cluster_bootstrap(["p1"] * 3, lambda i: 1.0, "one patient", n_boot=100)
    assert np.isnan(row["ci_lower"].iloc[0])
    assert "not estimable" in row["note"].iloc[0]


def _clustered_sample(n_patients: int = 40, seed: int = 5):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, n_patients)
    ids = np.repeat([f"P{i:03d}" for i in range(n_patients)], sizes)
    a = rng.random(ids.size) < 0.4
    b = np.where(rng.random(ids.size) < 0.85, a, ~a)
    x = rng.normal(1.0, 0.5, (ids.size, 2)).round(1)  # ties on purpose
    return ids, a, b, x


@pytest.mark.parametrize(
    ("make", "reference"),
    [
        (stats.kappa_statistic, stats.cohen_kappa_binary),
        (stats.positive_agreement_statistic, stats.positive_agreement),
        (stats.negative_agreement_statistic, stats.negative_agreement),
        (lambda a, b: stats.proportion_statistic(b, a), lambda a, b: float(b[a].mean())),
    ],
)
def test_sum_statistics_equal_their_item_level_functions_on_resamples(make, reference):
    ids, a, b, _ = _clustered_sample()
    statistic = make(a, b)
    rng = np.random.default_rng(0)
    for _ in range(20):
        i = rng.integers(0, ids.size, ids.size)
        assert statistic(i) == pytest.approx(reference(a[i], b[i]), abs=1e-12)


def test_icc_statistic_equals_icc_2_1_with_repeated_rows():
    _, _, _, x = _clustered_sample()
    assert stats.icc_statistic(SHROUT_FLEISS)(np.arange(6)) == pytest.approx(
        stats.icc_2_1(SHROUT_FLEISS), abs=1e-12
    )
    rng = np.random.default_rng(1)
    for _ in range(20):
        i = rng.integers(0, len(x), len(x))
        assert stats.icc_statistic(x)(i) == pytest.approx(stats.icc_2_1(x[i]), abs=1e-10)


def test_auc_statistic_equals_auc_mann_whitney_with_ties_and_repeats():
    _, a, _, x = _clustered_sample()
    auc = stats.auc_statistic(a, x[:, 0])
    rng = np.random.default_rng(2)
    for _ in range(20):
        i = rng.integers(0, a.size, a.size)
        assert auc(i) == pytest.approx(stats.auc_mann_whitney(a[i], x[i, 0]), abs=1e-12)
    assert np.isnan(stats.auc_statistic(np.ones(3, bool), np.arange(3.0))(np.arange(3)))


def test_sums_bootstrap_gives_the_item_level_interval_for_the_same_seed():
    # the two entry points draw the same clusters: the CIs must be identical
    ids, a, b, x = _clustered_sample()
    boot = {"n_boot": 400, "seed": 11}
    for statistic, item_level in (
        (stats.kappa_statistic(a, b), lambda i: stats.cohen_kappa_binary(a[i], b[i])),
        (stats.icc_statistic(x), lambda i: stats.icc_2_1(x[i])),
    ):
        fast = stats.compute_cluster_bootstrap_sums(ids, statistic, "s", **boot)
        slow = stats.compute_cluster_bootstrap(ids, item_level, "s", **boot)
        cols = ["estimate", "ci_lower", "ci_upper"]
        np.testing.assert_allclose(fast[cols].to_numpy(float), slow[cols].to_numpy(float))
        assert fast["note"].iloc[0] == slow["note"].iloc[0]
    one = stats.compute_cluster_bootstrap_sums(["p"] * 4, stats.kappa_statistic(a[:4], b[:4]), "s")
    assert "not estimable" in one["note"].iloc[0]
    with pytest.raises(ValueError, match="cluster ids"):
        stats.compute_cluster_bootstrap_sums(ids[:3], stats.kappa_statistic(a, b), "s")
