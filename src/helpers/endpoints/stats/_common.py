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
    pairs: _PairwiseValues, null_mean: float, null_sd: float, ci_level: float
) -> tuple[float, float, float, str]:
    """Large-sample Hodges–Lehmann estimate and CI from Walsh averages or pairwise differences.

    Same interval as :func:`_hodges_lehmann_ci` with the normal approximation of the rank
    statistic, but the M pairwise values are never built: the three order statistics (median,
    W_(C), W_(M+1-C)) are found by bisection on the value with O(n log n) counting per step
    (the idea of Monahan 1984, ACM TOMS 10:265), so memory stays O(n) and time O(n log n · 60)
    instead of O(n²). Returns estimate, lower, upper, note.
    """
    size = pairs.size
    count = max(math.floor(null_mean - _z(ci_level) * null_sd + 0.5), 0)
    ranks = _median_and_ci_ranks(size, count)
    found = {r: pairs.select(r + 1) for r in set(ranks)}
    picked = [found[r] for r in ranks]
    estimate = float((picked[0] + picked[1]) / 2)
    note = "CI order statistics from the normal approximation (large sample)"
    if count == 0:
        return estimate, -math.inf, math.inf, note
    return estimate, float(picked[2]), float(picked[3]), note


class _PairwiseValues:
    """The M values f(a_i, b_j) of a two-index family, monotone in both indices, for selection.

    Subclasses give ``count_le(t)`` (how many values are <= t, by binary search) and
    ``between(lo, hi)`` (the values in (lo, hi]). :meth:`select` returns the k-th smallest.
    """

    size: int
    low: float
    high: float
    _GATHER = 20_000  # bisect until at most this many candidates remain, then sort those

    def count_le(self, t: float) -> int:
        raise NotImplementedError

    def between(self, lo: float, hi: float) -> np.ndarray:
        raise NotImplementedError

    def select(self, k: int) -> float:
        """k-th smallest value (1-based), by bisection on the value, then a sort of the rest."""
        lo, hi = self.low, self.high  # count_le(lo) < k <= count_le(hi)
        below = self.count_le(lo)
        while self.count_le(hi) - below > self._GATHER:
            mid = lo + (hi - lo) / 2
            if mid <= lo or mid >= hi:  # adjacent floats: the k-th value is hi itself
                return float(hi)
            n_mid = self.count_le(mid)
            if n_mid >= k:
                hi = mid
            else:
                lo, below = mid, n_mid
        candidates = np.sort(self.between(lo, hi))
        index = min(max(k - below - 1, 0), candidates.size - 1)
        return float(candidates[index]) if candidates.size else float(hi)


def _first_true(pred, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, the first column in [lo, hi) where the monotone ``pred(rows, cols)`` holds
    (hi when none): one vectorised binary search over all rows at once."""
    rows = np.arange(lo.size)
    lo, hi = lo.copy(), hi.copy()
    while (active := lo < hi).any():
        mid = (lo + hi) // 2
        ok = np.zeros(lo.size, dtype=bool)
        ok[active] = pred(rows[active], mid[active])
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid + 1, lo)
    return lo


class _WalshAverages(_PairwiseValues):
    """(d_i + d_j)/2 for i <= j: the N(N+1)/2 Walsh averages of the signed-rank test.

    Counting uses the same floating-point expression as the values, so counts and gathered
    values agree exactly (rounding is monotone, so the search stays valid).
    """

    def __init__(self, d: np.ndarray) -> None:
        self.d = np.sort(d)
        self.index = np.arange(self.d.size)
        self.size = self.d.size * (self.d.size + 1) // 2
        self.low = float(self.d[0]) - 1.0 - abs(float(self.d[0]))
        self.high = float(self.d[-1])

    def _upper(self, t: float) -> np.ndarray:  # for each i, first j >= i with (d_i + d_j)/2 > t
        end = np.full(self.d.size, self.d.size)
        return _first_true(lambda i, j: (self.d[i] + self.d[j]) / 2 > t, self.index, end)

    def count_le(self, t: float) -> int:
        return int((self._upper(t) - self.index).sum())

    def between(self, lo: float, hi: float) -> np.ndarray:
        i, j = _ranges(self._upper(lo), self._upper(hi))
        return (self.d[i] + self.d[j]) / 2


class _Differences(_PairwiseValues):
    """x_i - y_j for all i, j: the m·n differences of the Mann–Whitney / two-sample HL."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = np.sort(x), np.sort(y)
        self.size = x.size * y.size
        self.low = float(self.x[0] - self.y[-1]) - 1.0 - abs(float(self.x[0] - self.y[-1]))
        self.high = float(self.x[-1] - self.y[0])

    def _first(self, t: float) -> np.ndarray:  # for each i, first j with x_i - y_j <= t
        zeros = np.zeros(self.x.size, dtype=np.int64)
        end = np.full(self.x.size, self.y.size)
        return _first_true(lambda i, j: self.x[i] - self.y[j] <= t, zeros, end)

    def count_le(self, t: float) -> int:
        return int((self.y.size - self._first(t)).sum())

    def between(self, lo: float, hi: float) -> np.ndarray:
        i, j = _ranges(self._first(hi), self._first(lo))
        return self.x[i] - self.y[j]


def _ranges(start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row i repeated for every column j in [start_i, stop_i): the pairs inside the ranges."""
    lengths = np.maximum(stop - start, 0)
    rows = np.repeat(np.arange(start.size), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, np.arange(rows.size) - first + np.repeat(start, lengths)


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
