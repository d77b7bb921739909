"""Association between variables: Spearman with bootstrap CI, Fisher exact odds ratio, Mann–Whitney
with Hodges–Lehmann shift, descriptives."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.stats.contingency import odds_ratio as _scipy_odds_ratio

from helpers.checks import validate_ci_level
from helpers.endpoints.stats._common import (
    EXACT_RANK_MAX_N,
    _as_float_array,
    _complete_pairs,
    _Differences,
    _has_ties,
    _hodges_lehmann_ci,
    _hodges_lehmann_large,
    _mann_whitney_pvalue,
    _row,
    _table,
    _z,
)
from helpers.endpoints.stats.agreement import compute_cross_table

_EXACT_RANK_SUM_MAX_MN = 40_000
#: Above this many pairs the Spearman CI is the Fisher z interval with the Bonett–Wright SE
#: instead of the bootstrap (n_boot x N ranks: 8 s per marker at N = 2,500; the two agree to
#: Monte-Carlo error there, see tests).
SPEARMAN_BOOTSTRAP_MAX_N = 1000
METHOD_MANN_WHITNEY = "Mann–Whitney U; Hodges–Lehmann shift, exact CI"
METHOD_MANN_WHITNEY_LARGE = (
    f"Mann–Whitney U, normal approximation (a group >= {EXACT_RANK_MAX_N}); "
    "Hodges–Lehmann shift, asymptotic CI"
)
METHOD_FISHER = "Conditional MLE odds ratio, exact CI; Fisher exact test"


def _rank_sum_cdf(m: int, n: int) -> np.ndarray:
    """Exact null CDF of the Mann–Whitney statistic U = #{x_i > y_j} for samples of size m, n.

    Recursion on the largest observation: it is an x (probability m/(m+n)) and beats all n y's, or
    it is a y and adds nothing: P_{m,n}(u) = m/(m+n) P_{m-1,n}(u-n) + n/(m+n) P_{m,n-1}(u).
    """
    if m > n:
        m, n = n, m  # U has the same null distribution with the roles swapped
    previous = [np.ones(1) for _ in range(n + 1)]
    for i in range(1, m + 1):
        current = [np.ones(1)]
        for j in range(1, n + 1):
            prob = np.zeros(i * j + 1)
            prob[j:] += i / (i + j) * previous[j]
            prob[: i * (j - 1) + 1] += j / (i + j) * current[j - 1]
            current.append(prob)
        previous = current
    return np.cumsum(previous[n])


# --------------------------------------------------------------------------------------------
# 5. Spearman correlation with bootstrap CI
# --------------------------------------------------------------------------------------------


def _spearman_vectorised(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    rx = sps.rankdata(x, axis=axis)
    ry = sps.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    denom = np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / denom


def _spearman_fisher_z(
    parameter: str, size: int, rho: float, p_value: float, ci_level: float
) -> pd.DataFrame:
    """Large-sample Spearman CI: Fisher z with the Bonett–Wright (2000) standard error."""
    method = (
        "Spearman rank correlation; Fisher z CI, Bonett–Wright SE "
        f"(N > {SPEARMAN_BOOTSTRAP_MAX_N}: no bootstrap)"
    )
    if abs(rho) >= 1:
        ci = (rho, rho)
    else:
        half = _z(ci_level) * math.sqrt((1 + rho**2 / 2) / (size - 3))
        ci = (math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half))
    return _table([_row(parameter, size, rho, ci, ci_level, method, p_value=p_value)])


def compute_spearman_bootstrap(
    x,
    y,
    parameter: str,
    n_boot: int = 2000,
    seed: int | None = 20240601,
    ci_level: float = 0.95,
    ci_method: str = "percentile",
) -> pd.DataFrame:
    """Spearman rank correlation with a paired bootstrap CI.

    rho and its two-sided p-value come from scipy ``spearmanr`` (t-distribution approximation with
    N-2 df). The CI resamples (x, y) pairs with replacement ``n_boot`` times (scipy ``bootstrap``,
    ``paired=True``, seeded with ``numpy.random.default_rng(seed)``) and takes percentiles of the
    bootstrap distribution, or the BCa interval with ``ci_method="BCa"`` (Efron & Tibshirani 1993,
    *An Introduction to the Bootstrap*, ch. 13–14). Resamples in which x or y is constant have no
    rho; if any occur the CI is NaN and ``note`` says so.

    Size switch: above ``SPEARMAN_BOOTSTRAP_MAX_N`` = 1000 pairs the CI is tanh(atanh(rho) ±
    z·SE) with SE = sqrt((1 + rho²/2) / (N − 3)) (Bonett & Wright 2000, Psychometrika 65:23),
    which the bootstrap reproduces to Monte-Carlo error at that size; ``method`` says which.

    Parameters
    ----------
    x, y : array-like of float
        Paired values (NaN pairs dropped); at least 3 complete pairs.
    parameter : str
        Label of the estimate.
    n_boot : int
        Number of bootstrap resamples.
    seed : int or None
        Seed of the random generator (None = not reproducible).
    ci_level : float
        Confidence level.
    ci_method : {"percentile", "BCa"}
        Bootstrap interval type.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (``n`` NA, ``N`` complete pairs).
    """
    ci_level = validate_ci_level(ci_level)
    if ci_method not in ("percentile", "BCa"):
        raise ValueError("ci_method must be 'percentile' or 'BCa'")
    if not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError("n_boot must be an integer >= 100 (2000 or more recommended)")
    a, b = _complete_pairs(x, y, "x", "y")
    if a.size < 3:
        raise ValueError(f"Spearman correlation needs at least 3 complete pairs, got {a.size}")
    method = f"Spearman rank correlation; {ci_method} bootstrap CI ({n_boot} paired resamples)"
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return _table(
            [
                _row(
                    parameter,
                    a.size,
                    math.nan,
                    (math.nan, math.nan),
                    ci_level,
                    method,
                    note="x or y is constant: correlation undefined",
                )
            ]
        )
    res = sps.spearmanr(a, b)
    if a.size > SPEARMAN_BOOTSTRAP_MAX_N:
        return _spearman_fisher_z(parameter, a.size, float(res.statistic), res.pvalue, ci_level)
    with warnings.catch_warnings():
        # degenerate resamples are reported through the NaN CI and the note below
        warnings.simplefilter("ignore", category=sps.DegenerateDataWarning)
        boot = sps.bootstrap(
            (a, b),
            _spearman_vectorised,
            n_resamples=int(n_boot),
            paired=True,
            vectorized=True,
            confidence_level=ci_level,
            method=ci_method,
            rng=np.random.default_rng(seed),
        )
    n_degenerate = int(np.isnan(boot.bootstrap_distribution).sum())
    note = (
        f"{n_degenerate} of {n_boot} resamples had constant x or y: CI not computed"
        if n_degenerate
        else ""
    )
    ci = (
        (math.nan, math.nan)
        if n_degenerate
        else (boot.confidence_interval.low, boot.confidence_interval.high)
    )
    return _table(
        [
            _row(
                parameter,
                a.size,
                res.statistic,
                ci,
                ci_level,
                method,
                p_value=res.pvalue,
                note=note,
            )
        ]
    )


# --------------------------------------------------------------------------------------------
# 6. Fisher exact odds ratio
# --------------------------------------------------------------------------------------------


def _two_by_two(table, exposure, outcome) -> np.ndarray:
    by_arrays = exposure is not None and outcome is not None
    if (table is None) != by_arrays or (table is None and (exposure is None) != (outcome is None)):
        raise ValueError("pass either table (2×2 counts) or both exposure and outcome arrays")
    if table is not None:
        counts = np.asarray(table)
        if counts.shape != (2, 2):
            raise ValueError(f"table must be 2×2 counts, got shape {counts.shape}")
        if not np.issubdtype(counts.dtype, np.number) or (counts < 0).any():
            raise ValueError("table must hold non-negative counts")
        if not np.allclose(counts, np.round(counts)):
            raise ValueError("table must hold integer counts")
        return np.round(counts).astype(int)
    return compute_cross_table(exposure, outcome, "exposure", "outcome").to_numpy()


def compute_fisher_or(
    table=None,
    parameter: str = "Odds ratio",
    *,
    exposure=None,
    outcome=None,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Odds ratio: conditional maximum-likelihood estimate, exact CI, Fisher exact test.

    The conditional MLE and its exact (Cornfield 1956) CI come from the noncentral hypergeometric
    distribution, scipy ``contingency.odds_ratio(kind="conditional")``; the two-sided p-value is
    Fisher's exact test (scipy ``fisher_exact``); see Agresti (2013), *Categorical Data
    Analysis*, 3rd ed., ch. 3 (small-sample inference for 2×2 tables). A zero cell gives an
    estimate of 0 or inf and a CI reaching 0 or inf; a table with an empty row or column has no
    estimate (NaN).

    Parameters
    ----------
    table : array-like, shape (2, 2), optional
        Counts ``[[a, b], [c, d]]``: rows exposure yes/no, columns outcome yes/no.
        OR = odds of the outcome in the exposed / in the unexposed.
    parameter : str
        Label of the estimate.
    exposure, outcome : array-like of bool, optional
        Per-patient indicators, used instead of ``table`` (pairs with a missing value dropped).
    ci_level : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row: ``n`` = a (exposed with outcome), ``N`` = total, ``note`` gives
        the table.
    """
    ci_level = validate_ci_level(ci_level)
    counts = _two_by_two(table, exposure, outcome)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("the 2×2 table is empty: no patient to analyse")
    note = f"table [[a, b], [c, d]] = {counts.tolist()}"
    if (counts.sum(axis=0) == 0).any() or (counts.sum(axis=1) == 0).any():
        estimate, ci = math.nan, (math.nan, math.nan)
        note += "; empty row or column: odds ratio undefined"
    else:
        res = _scipy_odds_ratio(counts, kind="conditional")
        ci_res = res.confidence_interval(confidence_level=ci_level)
        estimate, ci = float(res.statistic), (float(ci_res.low), float(ci_res.high))
    p_value = float(sps.fisher_exact(counts).pvalue)
    return _table(
        [
            _row(
                parameter,
                total,
                estimate,
                ci,
                ci_level,
                METHOD_FISHER,
                n=int(counts[0, 0]),
                p_value=p_value,
                note=note,
            )
        ]
    )


def compute_mann_whitney(x, y, parameter: str, ci_level: float = 0.95) -> pd.DataFrame:
    """Two independent groups: Mann–Whitney U test and Hodges–Lehmann shift with exact CI.

    The estimate is the median of the m·n differences x_i - y_j (x minus y). The CI is
    (D_(C), D_(mn+1-C)) with C the largest integer such that P(U <= C-1) <= alpha/2 under the exact
    null distribution of U (Hollander, Wolfe & Chicken 2014, §4.3; Bauer 1972, JASA 67:687);
    achieved confidence in ``note``. With ties the interval is approximate. The two-sided p-value
    (scipy ``mannwhitneyu``) is exact without ties, an exhaustive permutation p with ties when
    C(m+n, m) <= 20000, otherwise the tie-corrected normal approximation.

    Size switch (as R's ``wilcox.test``, exact only when each sample has fewer than 50 values):
    when either group has ``EXACT_RANK_MAX_N`` = 50 values or more, the p-value is the normal
    approximation with tie and continuity corrections and C = round(mn/2 - z·sd(U)) (Hollander,
    Wolfe & Chicken 2014, §4.3); the order statistics are then found by selection on the
    value without building the m·n differences (O(m + n) memory), and ``method`` reads
    ``METHOD_MANN_WHITNEY_LARGE`` so the table says which was used.

    Parameters
    ----------
    x, y : array-like of float
        The two samples (NaN values dropped).
    parameter : str
        Label of the estimate, e.g. ``"GzmB, responders − non-responders"``.
    ci_level : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row: ``n`` = size of x, ``N`` = total size.
    """
    ci_level = validate_ci_level(ci_level)
    a = _as_float_array(x, "x")
    b = _as_float_array(y, "y")
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both groups need at least one value; got {a.size} and {b.size}")
    m, n = a.size, b.size
    null_sd = math.sqrt(m * n * (m + n + 1) / 12)
    method = METHOD_MANN_WHITNEY
    if max(m, n) >= EXACT_RANK_MAX_N:
        method = METHOD_MANN_WHITNEY_LARGE
        estimate, lower, upper, ci_note = _hodges_lehmann_large(
            _Differences(a, b), m * n / 2, null_sd, ci_level
        )
    else:
        diffs = np.sort(np.subtract.outer(a, b).ravel())
        estimate = float(np.median(diffs))
        cdf = _rank_sum_cdf(m, n) if m * n <= _EXACT_RANK_SUM_MAX_MN else None
        lower, upper, ci_note = _hodges_lehmann_ci(diffs, cdf, m * n / 2, null_sd, ci_level)
    if _has_ties(np.concatenate([a, b])):
        ci_note = "; ".join(s for s in (ci_note, "ties: CI approximate") if s)
    p_value, p_note = _mann_whitney_pvalue(a, b)
    return _table(
        [
            _row(
                parameter,
                m + n,
                estimate,
                (lower, upper),
                ci_level,
                method,
                n=m,
                p_value=p_value,
                note="; ".join(s for s in (ci_note, p_note) if s),
            )
        ]
    )


# --------------------------------------------------------------------------------------------
# 10. descriptive statistics
# --------------------------------------------------------------------------------------------


def _describe(values: pd.Series) -> dict:
    v = values.dropna().to_numpy(dtype=float)
    out = {"n": v.size, "n_missing": int(values.isna().sum())}
    if v.size == 0:
        return out | dict.fromkeys(
            ["mean", "sd", "median", "q1", "q3", "min", "max", "geo_mean"], math.nan
        )
    q1, median, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return out | {
        "mean": v.mean(),
        "sd": v.std(ddof=1) if v.size > 1 else math.nan,
        "median": median,
        "q1": q1,
        "q3": q3,
        "min": v.min(),
        "max": v.max(),
        "geo_mean": float(np.exp(np.log(v).mean())) if (v > 0).all() else math.nan,
    }


def compute_descriptives(
    df: pd.DataFrame, value_col: str, by: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Descriptive statistics of a numeric column, overall or per group.

    Quartiles use linear interpolation between order statistics (numpy default, Hyndman & Fan
    1996 type 7, as R's ``quantile``); SD has N-1 denominator; the geometric mean is given only
    when every value is > 0 (else NaN).

    Parameters
    ----------
    df : pandas.DataFrame
        Data.
    value_col : str
        Numeric column to describe (NaN = missing).
    by : str or sequence of str, optional
        Grouping column(s); missing group values form their own group.

    Returns
    -------
    pandas.DataFrame
        One row per group: grouping columns, ``n`` (non-missing), ``n_missing``, ``mean``,
        ``sd``, ``median``, ``q1``, ``q3``, ``min``, ``max``, ``geo_mean``.
    """
    if value_col not in df.columns:
        raise ValueError(f"df has no column {value_col!r}")
    if df.empty:
        raise ValueError("df is empty: nothing to describe")
    if not pd.api.types.is_numeric_dtype(df[value_col]):
        raise TypeError(f"{value_col!r} must be numeric")
    if by is None:
        return pd.DataFrame([_describe(df[value_col])])
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in keys if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks grouping column(s) {missing}")
    rows = []
    for key, group in df.groupby(keys, dropna=False, observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append(dict(zip(keys, key, strict=True)) | _describe(group[value_col]))
    return pd.DataFrame(rows)
