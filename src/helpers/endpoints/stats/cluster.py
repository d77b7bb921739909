"""Agreement and accuracy statistics for clustered items (e.g. cells within patients).

When many items come from few subjects (cells of a patient, lesions of a patient, readings of a
sample), items are not independent and item-level CIs are too narrow. The cluster (patient)
bootstrap resamples whole subjects with replacement and recomputes the statistic on all their
items (Davison & Hinkley 1997, §3.8; Field & Welsh 2007), which keeps the within-subject
correlation. The point statistics here are plain numpy functions so that thousands of resamples
stay fast.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers.checks import validate_ci_level
from helpers.endpoints.stats._common import ESTIMATE_COLUMNS

__all__ = [
    "METHOD_CLUSTER_BOOTSTRAP",
    "auc_mann_whitney",
    "cohen_kappa_binary",
    "compute_cluster_bootstrap",
    "icc_2_1",
    "negative_agreement",
    "positive_agreement",
]

METHOD_CLUSTER_BOOTSTRAP = "patient-cluster bootstrap, percentile CI"


def cohen_kappa_binary(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two boolean ratings (Cohen 1960); NaN when chance agreement is 1."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.size == 0:
        return float("nan")
    po = float(np.mean(a == b))
    pa, pb = a.mean(), b.mean()
    pe = float(pa * pb + (1 - pa) * (1 - pb))
    return float("nan") if pe >= 1.0 else (po - pe) / (1.0 - pe)


def positive_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Proportion of specific positive agreement 2a / (2a + b + c) (Cicchetti & Feinstein 1990)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    both, one = np.sum(a & b), np.sum(a ^ b)
    return float("nan") if 2 * both + one == 0 else float(2 * both / (2 * both + one))


def negative_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Proportion of specific negative agreement 2d / (2d + b + c) (Cicchetti & Feinstein 1990)."""
    return positive_agreement(~np.asarray(a, bool), ~np.asarray(b, bool))


def icc_2_1(ratings: np.ndarray) -> float:
    """ICC(2,1), two-way random, absolute agreement, of an n × k matrix (Shrout & Fleiss 1979)."""
    x = np.asarray(ratings, float)
    n, k = x.shape
    if n < 2 or k < 2:
        return float("nan")
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((x - grand) ** 2) - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float("nan") if denom == 0 else float((msr - mse) / denom)


def auc_mann_whitney(truth: np.ndarray, score: np.ndarray) -> float:
    """Empirical AUC = P(score_pos > score_neg) + ½ P(tie) (Mann–Whitney; Hanley & McNeil 1982)."""
    truth = np.asarray(truth, bool)
    score = np.asarray(score, float)
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = sps.rankdata(score)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def compute_cluster_bootstrap(
    clusters: pd.Series | np.ndarray,
    statistic: Callable[[np.ndarray], float],
    parameter: str,
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    n: int | None = None,
) -> pd.DataFrame:
    """Statistic on all items with a patient-cluster bootstrap percentile CI.

    Method: the statistic is computed on every item (``statistic(np.arange(len(clusters)))``).
    Each of ``n_boot`` resamples draws as many clusters as observed, with replacement, and
    evaluates ``statistic`` on the row indices of all items of the drawn clusters (a cluster
    drawn twice contributes its items twice). The CI is the percentile interval of the resampled
    statistics (Davison & Hinkley 1997, §3.8 and §5.2); resamples where the statistic is
    undefined (NaN, e.g. no positive item) are dropped and counted in ``note``. With fewer than 2
    clusters the CI is not estimable.

    Parameters
    ----------
    clusters : array-like
        Cluster (patient) id of each item, in the item order ``statistic`` indexes.
    statistic : callable
        Maps an integer array of item indices to a float.
    parameter : str
        Label of the estimate.
    n_boot, seed : int
        Number of resamples and the seed of :func:`numpy.random.default_rng`.
    ci_level : float
        Confidence level.
    n : int, optional
        Value of the ``n`` column (e.g. number of positive items); default NA.

    Returns
    -------
    DataFrame
        One estimate row (``ESTIMATE_COLUMNS``); ``N`` = number of items, ``note`` gives the
        number of clusters and of dropped resamples.

    References
    ----------
    Davison AC, Hinkley DV. Bootstrap Methods and their Application. Cambridge 1997.
    Field CA, Welsh AH. J R Stat Soc B 2007;69:369–390.
    """
    validate_ci_level(ci_level)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    ids = pd.Series(np.asarray(clusters)).astype(str)
    codes, uniques = pd.factorize(ids)
    index_by_cluster = [np.flatnonzero(codes == c) for c in range(len(uniques))]
    estimate = statistic(np.arange(len(ids)))
    row = {
        "parameter": parameter,
        "n": pd.NA if n is None else n,
        "N": len(ids),
        "estimate": estimate,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": ci_level,
        "method": METHOD_CLUSTER_BOOTSTRAP,
        "p_value": np.nan,
        "note": f"{len(uniques)} patients",
    }
    if len(uniques) < 2 or not np.isfinite(estimate):
        row["note"] += "; CI not estimable: fewer than 2 patients or undefined statistic"
        return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniques), size=(n_boot, len(uniques)))
    values = np.array(
        [statistic(np.concatenate([index_by_cluster[c] for c in draw])) for draw in draws]
    )
    kept = values[np.isfinite(values)]
    dropped = n_boot - kept.size
    if kept.size < 0.5 * n_boot:
        row["note"] += f"; CI not estimable: statistic undefined in {dropped} of {n_boot} resamples"
        return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
    alpha = 1.0 - ci_level
    row["ci_lower"], row["ci_upper"] = np.quantile(kept, [alpha / 2, 1 - alpha / 2])
    row["note"] += f"; {n_boot} resamples" + (f", {dropped} undefined dropped" if dropped else "")
    return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
