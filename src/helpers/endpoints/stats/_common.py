"""Shared internals of the statistics package: estimate-row builders, input coercion, exact rank
distributions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers.results import P_FLOOR, TESTED_ESTIMATE_COLUMNS

ESTIMATE_COLUMNS = list(TESTED_ESTIMATE_COLUMNS)
# Relative slack when comparing cumulative probabilities with alpha/2 (floating-point sums).
_PROB_TOL = 1e-9
#: Size switch of the two-sample rank methods, as R's ``wilcox.test`` (exact "if the samples
#: contain less than 50 finite values"): with 50 or more values in either group the Mann–Whitney
#: p-value and the Hodges–Lehmann CI use the normal approximation of U (exact enumeration costs
#: O(m·n·(m+n)) and is indistinguishable from it there; tests check the two agree at the switch).
EXACT_RANK_MAX_N = 50


# --------------------------------------------------------------------------------------------
# small shared utilities
# --------------------------------------------------------------------------------------------


def _row(
    parameter: str,
    N: int,
    estimate: float,
    ci: tuple[float, float],
    ci_level: float,
    method: str,
    *,
    n: int | None = None,
    p_value: float = math.nan,
    note: str = "",
) -> dict:
    if p_value < P_FLOOR:  # 0 or subnormal: the tail probability underflowed double precision
        note = "; ".join(s for s in (note, f"p < {P_FLOOR:.0e} (floating-point underflow)") if s)
    return {
        "parameter": parameter,
        "n": n,
        "N": N,
        "estimate": float(estimate),
        "ci_lower": float(ci[0]),
        "ci_upper": float(ci[1]),
        "ci_level": float(ci_level),
        "method": method,
        "p_value": float(p_value),
        "note": note,
    }


def _table(rows: Sequence[dict], extra_columns: Sequence[str] = ()) -> pd.DataFrame:
    columns = [*extra_columns, *ESTIMATE_COLUMNS]
    out = pd.DataFrame(list(rows), columns=columns)
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    for col in ("estimate", "ci_lower", "ci_upper", "ci_level", "p_value"):
        out[col] = out[col].astype(float)
    return out


def _as_float_array(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must contain numbers (use NaN for missing values)") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values: replace them by NaN or finite numbers")
    return arr


def _complete_pairs(a, b, name_a: str, name_b: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the pairs where both values are present (drops NaN pairs)."""
    x = _as_float_array(a, name_a)
    y = _as_float_array(b, name_b)
    if x.shape != y.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same length (one value per patient), "
            f"got {x.size} and {y.size}"
        )
    keep = ~(np.isnan(x) | np.isnan(y))
    if not keep.any():
        raise ValueError(
            f"no complete pairs: {name_a} and {name_b} are empty or every pair has a missing value"
        )
    return x[keep], y[keep]


def _z(ci_level: float) -> float:
    return float(sps.norm.ppf(0.5 + ci_level / 2))


def _critical_count(cdf: np.ndarray, alpha: float) -> int:
    """Largest C with P(S <= C - 1) <= alpha/2; 0 when no such C exists (CI unattainable)."""
    return int(np.searchsorted(cdf, alpha / 2 * (1 + _PROB_TOL), side="right"))


def _hodges_lehmann_ci(
    sorted_values: np.ndarray,
    cdf: np.ndarray | None,
    null_mean: float,
    null_sd: float,
    ci_level: float,
) -> tuple[float, float, str]:
    """Distribution-free CI (W_(C), W_(M+1-C)) from M sorted Walsh averages or differences.

    C comes from the exact null CDF of the rank statistic, or, when ``cdf`` is None, from its
    normal approximation C ~ mean - z·sd, rounded (Hollander, Wolfe & Chicken 2014, §3.2, §4.3).
    Returns lower, upper and a note (achieved confidence or why the interval is unbounded).
    """
    if cdf is not None:
        count = _critical_count(cdf, 1 - ci_level)
        note = f"achieved confidence {1 - 2 * float(cdf[count - 1]):.4f}" if count else ""
    else:
        count = max(math.floor(null_mean - _z(ci_level) * null_sd + 0.5), 0)
        note = "CI order statistics from the normal approximation (large sample)"
    if count == 0:
        unbounded = f"an exact {ci_level:.0%} CI is not attainable with this sample size: unbounded"
        return -math.inf, math.inf, unbounded
    return float(sorted_values[count - 1]), float(sorted_values[-count]), note


def _hodges_lehmann_large(
    values: np.ndarray, null_mean: float, null_sd: float, ci_level: float
) -> tuple[float, float, float, str]:
    """Large-sample Hodges–Lehmann estimate and CI from unsorted Walsh averages or differences.

    Same interval as :func:`_hodges_lehmann_ci` with the normal approximation of the rank
    statistic, but the three order statistics (median, W_(C), W_(M+1-C)) are found by selection
    (``numpy.partition``, O(M)) instead of sorting M values. Returns estimate, lower, upper, note.
    """
    size = values.size
    count = max(math.floor(null_mean - _z(ci_level) * null_sd + 0.5), 0)
    ranks = _median_and_ci_ranks(size, count)
    picked = _order_statistics(values, ranks)
    estimate = float((picked[0] + picked[1]) / 2)
    note = "CI order statistics from the normal approximation (large sample)"
    if count == 0:
        return estimate, -math.inf, math.inf, note
    return estimate, float(picked[2]), float(picked[3]), note


def _order_statistics(values: np.ndarray, ranks: Sequence[int]) -> np.ndarray:
    """Values of the given 0-based ``ranks`` in sorted order, by selection (O(M), no full sort)."""
    wanted = sorted({int(r) for r in ranks})
    part = np.partition(values, wanted)
    return part[list(ranks)]


def _median_and_ci_ranks(size: int, count: int) -> list[int]:
    """0-based ranks of the median (one or two) and of the CI limits W_(C), W_(M+1-C)."""
    ranks = [(size - 1) // 2, size // 2]
    if count:
        ranks += [count - 1, size - count]
    return ranks


def _has_ties(values: np.ndarray) -> bool:
    return np.unique(values).size < values.size


# --------------------------------------------------------------------------------------------
# 7. Mann–Whitney + two-sample Hodges–Lehmann
# --------------------------------------------------------------------------------------------


def _mann_whitney_pvalue(x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    pooled = np.concatenate([x, y])
    if max(x.size, y.size) >= EXACT_RANK_MAX_N:
        res = sps.mannwhitneyu(x, y, method="asymptotic")
        tie = ", tie-corrected" if _has_ties(pooled) else ""
        return float(res.pvalue), (
            f"p normal approximation{tie} with continuity correction "
            f"(a group has >= {EXACT_RANK_MAX_N} values)"
        )
    if not _has_ties(pooled):
        return float(sps.mannwhitneyu(x, y, method="exact").pvalue), "p exact"
    if math.comb(pooled.size, x.size) <= 20_000:
        res = sps.mannwhitneyu(x, y, method=sps.PermutationMethod(n_resamples=np.inf))
        return float(res.pvalue), "p exact permutation (ties)"
    res = sps.mannwhitneyu(x, y, method="asymptotic")
    return float(res.pvalue), "p normal approximation, tie-corrected with continuity correction"
