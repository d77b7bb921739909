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
