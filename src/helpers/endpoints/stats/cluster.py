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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers.checks import validate_ci_level
from helpers.endpoints.stats._common import ESTIMATE_COLUMNS

__all__ = [
    "METHOD_CLUSTER_BOOTSTRAP",
    "SumStatistic",
    "auc_mann_whitney",
    "auc_statistic",
    "cohen_kappa_binary",
    "compute_cluster_bootstrap",
    "compute_cluster_bootstrap_sums",
    "icc_2_1",
    "icc_statistic",
    "kappa_statistic",
    "negative_agreement",
    "negative_agreement_statistic",
    "positive_agreement",
    "positive_agreement_statistic",
    "proportion_statistic",
]

METHOD_CLUSTER_BOOTSTRAP = "patient-cluster bootstrap, percentile CI"


def cohen_kappa_binary(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two boolean ratings (Cohen 1960); NaN when chance agreement is 1.

    The formula lives once, in :func:`kappa_statistic` (a function of the 2×2 counts).
    """
    statistic = kappa_statistic(a, b)
    return statistic(np.arange(len(statistic.values)))


def positive_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Proportion of specific positive agreement 2a / (2a + b + c) (Cicchetti & Feinstein 1990)."""
    statistic = positive_agreement_statistic(a, b)
    return statistic(np.arange(len(statistic.values)))


def negative_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Proportion of specific negative agreement 2d / (2d + b + c) (Cicchetti & Feinstein 1990)."""
    statistic = negative_agreement_statistic(a, b)
    return statistic(np.arange(len(statistic.values)))


def icc_2_1(ratings: np.ndarray) -> float:
    """ICC(2,1), two-way random, absolute agreement, of an n × k matrix (Shrout & Fleiss 1979).

    Computed from centred sums of squares (numerically the reference); :func:`icc_statistic`
    is the same quantity from raw sums, for the bootstrap, and is tested equal to this one.
    """
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
    ids, codes, n_clusters = _clusters(clusters, n_boot, ci_level)
    row = _row(parameter, n, len(ids), statistic(np.arange(len(ids))), n_clusters, ci_level)
    if not _ci_estimable(row, n_clusters):
        return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
    draws = _draws(n_boot, n_clusters, seed)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=n_clusters)
    starts = np.cumsum(sizes) - sizes
    values = np.array([statistic(_resample_index(draw, order, starts, sizes)) for draw in draws])
    return _finish(row, values, n_boot, ci_level)


@dataclass(frozen=True)
class SumStatistic:
    """A statistic that is a function of column sums of per-item values.

    ``values`` is an items × m array; ``function`` maps a B × m array of column sums (one row per
    resample, items counted as often as their cluster was drawn) to B statistics, NaN where
    undefined. Two-by-two agreement and accuracy statistics and the ICC are of this kind, which
    lets :func:`compute_cluster_bootstrap_sums` resample clusters by their sums instead of items.
    """

    values: np.ndarray
    function: Callable[[np.ndarray], np.ndarray]

    def __call__(self, index: np.ndarray) -> float:
        """The statistic on the items ``index`` (for checks against the item-level functions)."""
        return float(self.function(self.values[index].sum(axis=0)[None, :])[0])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def _two_by_two(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return np.column_stack([a & b, a & ~b, ~a & b, ~a & ~b]).astype(float)


def _kappa_of_sums(s: np.ndarray) -> np.ndarray:
    n = s.sum(axis=1)
    po = _ratio(s[:, 0] + s[:, 3], n)
    pa, pb = _ratio(s[:, 0] + s[:, 1], n), _ratio(s[:, 0] + s[:, 2], n)
    pe = pa * pb + (1 - pa) * (1 - pb)
    return _ratio(po - pe, np.where(pe >= 1.0, 0.0, 1.0 - pe))


def kappa_statistic(a: np.ndarray, b: np.ndarray) -> SumStatistic:
    """Cohen's kappa of two boolean ratings as a :class:`SumStatistic` (= cohen_kappa_binary)."""
    return SumStatistic(_two_by_two(a, b), _kappa_of_sums)


def positive_agreement_statistic(a: np.ndarray, b: np.ndarray) -> SumStatistic:
    """Specific positive agreement 2a / (2a + b + c) as a :class:`SumStatistic`."""
    return SumStatistic(
        _two_by_two(a, b), lambda s: _ratio(2 * s[:, 0], 2 * s[:, 0] + s[:, 1] + s[:, 2])
    )


def negative_agreement_statistic(a: np.ndarray, b: np.ndarray) -> SumStatistic:
    """Specific negative agreement 2d / (2d + b + c) as a :class:`SumStatistic`."""
    return SumStatistic(
        _two_by_two(a, b), lambda s: _ratio(2 * s[:, 3], 2 * s[:, 3] + s[:, 1] + s[:, 2])
    )


def proportion_statistic(event: np.ndarray, among: np.ndarray) -> SumStatistic:
    """Proportion of ``event`` among the items flagged ``among`` (sensitivity, specificity)."""
    event, among = np.asarray(event, bool), np.asarray(among, bool)
    values = np.column_stack([event & among, among]).astype(float)
    return SumStatistic(values, lambda s: _ratio(s[:, 0], s[:, 1]))


def _icc_of_sums(s: np.ndarray, k: int) -> np.ndarray:
    # columns: count, the k column sums, sum of squares, sum of squared row totals
    n, col, sq, row_sq = s[:, 0], s[:, 1 : 1 + k], s[:, 1 + k], s[:, 2 + k]
    total = col.sum(axis=1)
    correction = _ratio(total**2, k * n)
    ss_rows = row_sq / k - correction
    ss_cols = _ratio((col**2).sum(axis=1), n) - correction
    ss_err = sq - correction - ss_rows - ss_cols
    with np.errstate(divide="ignore", invalid="ignore"):
        msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
        mse = ss_err / ((n - 1) * (k - 1))
        denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return np.where(n >= 2, _ratio(msr - mse, denom), np.nan)


def icc_statistic(ratings: np.ndarray) -> SumStatistic:
    """ICC(2,1) of an n × k rating matrix as a :class:`SumStatistic` (= :func:`icc_2_1`).

    A subject drawn twice counts as two subjects, as in the item-level bootstrap.
    """
    x = np.asarray(ratings, float)
    k = x.shape[1]
    values = np.column_stack([np.ones(len(x)), x, (x**2).sum(axis=1), x.sum(axis=1) ** 2])
    return SumStatistic(values, lambda s: _icc_of_sums(s, k))


def compute_cluster_bootstrap_sums(
    clusters: pd.Series | np.ndarray,
    statistic: SumStatistic,
    parameter: str,
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    n: int | None = None,
) -> pd.DataFrame:
    """:func:`compute_cluster_bootstrap` of a statistic of column sums: O(clusters) per resample.

    Method: the same patient-cluster bootstrap with the same draws for the same ``seed`` (so the
    interval is identical to the item-level path): each cluster's items are summed once, and a
    resample's sums are the cluster-count matrix times the cluster sums (one matrix product for
    a block of resamples) instead of a concatenation of item indices. The cost no longer grows with
    the number of items per resample, which keeps thousands of CTCs from thousands of patients
    fast.

    Parameters
    ----------
    clusters : array-like
        Cluster (patient) id of each row of ``statistic.values``.
    statistic : SumStatistic
        Per-item values and the function of their sums (e.g. :func:`kappa_statistic`).
    parameter, n_boot, seed, ci_level, n
        As in :func:`compute_cluster_bootstrap`.

    Returns
    -------
    DataFrame
        One estimate row (``ESTIMATE_COLUMNS``), as :func:`compute_cluster_bootstrap`.
    """
    ids, codes, n_clusters = _clusters(clusters, n_boot, ci_level)
    values = np.asarray(statistic.values, float)
    if len(values) != len(ids):
        raise ValueError(f"{len(ids)} cluster ids for {len(values)} items")
    estimate = float(statistic.function(values.sum(axis=0)[None, :])[0])
    row = _row(parameter, n, len(ids), estimate, n_clusters, ci_level)
    if not _ci_estimable(row, n_clusters):
        return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
    per_cluster = np.column_stack(
        [
            np.bincount(codes, weights=values[:, j], minlength=n_clusters)
            for j in range(values.shape[1])
        ]
    )
    draws = _draws(n_boot, n_clusters, seed)
    block = max(1, 2_000_000 // n_clusters)  # ≤ 2 million counts (16 MB) at a time
    out = []
    for start in range(0, n_boot, block):
        chunk = draws[start : start + block]
        flat = (chunk + n_clusters * np.arange(len(chunk))[:, None]).ravel()
        counts = np.bincount(flat, minlength=len(chunk) * n_clusters).reshape(len(chunk), -1)
        out.append(statistic.function(counts @ per_cluster))
    return _finish(row, np.concatenate(out), n_boot, ci_level)


def auc_statistic(truth: np.ndarray, score: np.ndarray) -> Callable[[np.ndarray], float]:
    """Empirical AUC (= :func:`auc_mann_whitney`) over item indices, in O(items) per call.

    The scores are ranked once; a resample only counts how often each item was drawn and sums
    the weighted positives above, and half the ties with, each negative: no sort per resample.
    """
    truth = np.asarray(truth, bool)
    _, group = np.unique(np.asarray(score, float), return_inverse=True)
    n_groups = int(group.max()) + 1 if group.size else 0

    def _auc(index: np.ndarray) -> float:
        w = np.bincount(index, minlength=truth.size).astype(float)
        neg = np.bincount(group, weights=w * ~truth, minlength=n_groups)
        pos = np.bincount(group, weights=w * truth, minlength=n_groups)
        w_pos, w_neg = pos.sum(), neg.sum()
        if w_pos == 0 or w_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (w_pos * w_neg))

    return _auc


def _clusters(
    clusters: pd.Series | np.ndarray, n_boot: int, ci_level: float
) -> tuple[pd.Series, np.ndarray, int]:
    validate_ci_level(ci_level)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    ids = pd.Series(np.asarray(clusters)).astype(str)
    codes, uniques = pd.factorize(ids)
    return ids, codes, len(uniques)


def _row(
    parameter: str, n: int | None, n_items: int, estimate: float, n_clusters: int, ci_level: float
) -> dict:
    return {
        "parameter": parameter,
        "n": pd.NA if n is None else n,
        "N": n_items,
        "estimate": estimate,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": ci_level,
        "method": METHOD_CLUSTER_BOOTSTRAP,
        "p_value": np.nan,
        "note": f"{n_clusters} patients",
    }


def _ci_estimable(row: dict, n_clusters: int) -> bool:
    if n_clusters < 2 or not np.isfinite(row["estimate"]):
        row["note"] += "; CI not estimable: fewer than 2 patients or undefined statistic"
        return False
    return True


def _draws(n_boot: int, n_clusters: int, seed: int) -> np.ndarray:
    """The ``n_boot`` × ``n_clusters`` cluster draws (the same for every entry point)."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_boot, n_clusters))


def _resample_index(
    draw: np.ndarray, order: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """Item indices of the drawn clusters, cluster by cluster, items in their original order."""
    lens = sizes[draw]
    offsets = np.repeat(starts[draw] - (np.cumsum(lens) - lens), lens)
    return order[offsets + np.arange(int(lens.sum()))]


def _finish(row: dict, values: np.ndarray, n_boot: int, ci_level: float) -> pd.DataFrame:
    """Percentile CI of the resampled ``values`` into the estimate ``row``."""
    kept = values[np.isfinite(values)]
    dropped = n_boot - kept.size
    if kept.size < 0.5 * n_boot:
        row["note"] += f"; CI not estimable: statistic undefined in {dropped} of {n_boot} resamples"
        return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
    alpha = 1.0 - ci_level
    row["ci_lower"], row["ci_upper"] = np.quantile(kept, [alpha / 2, 1 - alpha / 2])
    row["note"] += f"; {n_boot} resamples" + (f", {dropped} undefined dropped" if dropped else "")
    return pd.DataFrame([row], columns=ESTIMATE_COLUMNS)
