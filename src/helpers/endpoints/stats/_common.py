"""Shared internals of the statistics package: estimate-row builders, input coercion, exact rank
distributions."""

from __future__ import annotations

import itertools
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


#: Fewest complete pairs / patients per group from which an estimate is reported: from one
#: patient the "estimate" would be that patient's own value.
MIN_PAIRS = 2


def _not_estimable_row(parameter: str, N: int, ci_level: float, method: str, why: str) -> dict:
    """An estimate-table row without numbers whose note says ``not estimable: <why>``."""
    row = _row(parameter, N, math.nan, (math.nan, math.nan), ci_level, method)
    return row | {"note": f"not estimable: {why}"}


def _pairs_text(k: int) -> str:
    return f"{k} complete pair" + ("" if k == 1 else "s")


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


def _complete_pairs(
    a, b, name_a: str, name_b: str, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return the pairs where both values are present (drops NaN pairs); with ``allow_empty``
    no complete pair gives two empty arrays instead of an error."""
    x = _as_float_array(a, name_a)
    y = _as_float_array(b, name_b)
    if x.shape != y.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same length (one value per patient), "
            f"got {x.size} and {y.size}"
        )
    keep = ~(np.isnan(x) | np.isnan(y))
    if not keep.any() and not allow_empty:
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
    statistic, but the M pairwise values are never built: the order statistics (median,
    W_(C), W_(M+1-C)) are found by :meth:`_PairwiseValues.select`, so memory stays O(n) and
    time about O(n log² n) instead of O(n²). Returns estimate, lower, upper, note.
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


class _PairwiseValues:
    """The M values v(i, j) of a two-index family, sorted along j in every row i, for selection.

    Subclasses define ``size``, ``value(i, j)``, ``cut(t, strict)`` (per row, the boundary
    column between the values <= t, or < t when ``strict``, and the others, by a vectorised
    binary search), ``count(cut)`` (how many values lie on the <= side) and ``span`` (the
    columns strictly between two cuts). All use the same floating-point expression as the
    values, so counts and gathered values agree exactly (rounding is monotone).
    :meth:`select` is a quickselect on the value with a random pair as pivot (Monahan 1984,
    ACM TOMS 10:265): O(n log n) per step, O(log M) expected steps, O(n) memory; ties are
    handled by counting both < and <= the pivot.
    """

    size: int
    _GATHER = 20_000  # below this many candidates left, sort them

    def select(self, k: int) -> float:
        """k-th smallest value (1-based)."""
        rng = np.random.default_rng(k)  # pivots are random but reproducible
        lo_cut, hi_cut, below = self.cut(-math.inf), self.cut(math.inf), 0
        while True:
            start, stop = self.span(lo_cut, hi_cut)
            lengths = np.maximum(stop - start, 0)
            total = int(lengths.sum())
            if total <= self._GATHER:
                i, j = _ranges(start, stop)
                candidates = np.sort(self.value(i, j))
                return float(candidates[min(max(k - below - 1, 0), candidates.size - 1)])
            ends = np.cumsum(lengths)
            r = int(rng.integers(total))
            i = int(np.searchsorted(ends, r, side="right"))
            pivot = float(self.value(i, start[i] + r - (ends[i] - lengths[i])))
            le_cut, lt_cut = self.cut(pivot), self.cut(pivot, strict=True)
            n_le, n_lt = self.count(le_cut), self.count(lt_cut)
            if n_lt < k <= n_le:
                return pivot
            if n_le < k:
                lo_cut, below = le_cut, n_le
            else:
                hi_cut = lt_cut


class _WalshAverages(_PairwiseValues):
    """(d_i + d_j)/2 for i <= j: the N(N+1)/2 Walsh averages of the signed-rank test."""

    def __init__(self, d: np.ndarray) -> None:
        self.d = np.sort(d)
        self.index = np.arange(self.d.size)
        self.size = self.d.size * (self.d.size + 1) // 2

    def value(self, i, j):
        return (self.d[i] + self.d[j]) / 2

    def cut(self, t: float, strict: bool = False) -> np.ndarray:
        """Per row i, the first j >= i whose value is > t (>= t when strict)."""
        end = np.full(self.d.size, self.d.size)
        if strict:
            return _first_true(lambda i, j: self.value(i, j) >= t, self.index, end)
        return _first_true(lambda i, j: self.value(i, j) > t, self.index, end)

    def count(self, cut: np.ndarray) -> int:
        return int((cut - self.index).sum())

    def span(self, lo_cut: np.ndarray, hi_cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return lo_cut, hi_cut


class _Differences(_PairwiseValues):
    """x_i - y_j for all i, j: the m·n differences of the Mann–Whitney / two-sample HL."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = np.sort(x), np.sort(y)
        self.size = x.size * y.size

    def value(self, i, j):
        return self.x[i] - self.y[j]

    def cut(self, t: float, strict: bool = False) -> np.ndarray:
        """Per row i, the first j whose value is <= t (< t when strict): values fall along j."""
        zeros = np.zeros(self.x.size, dtype=np.int64)
        end = np.full(self.x.size, self.y.size)
        if strict:
            return _first_true(lambda i, j: self.value(i, j) < t, zeros, end)
        return _first_true(lambda i, j: self.value(i, j) <= t, zeros, end)

    def count(self, cut: np.ndarray) -> int:
        return int((self.y.size - cut).sum())

    def span(self, lo_cut: np.ndarray, hi_cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return hi_cut, lo_cut  # columns with lo < value <= hi


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


def _mann_whitney_exact_conditional(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided exact conditional (permutation) p-value of U given the pooled values, with ties.

    Every one of the C(m+n, m) ways of labelling m of the pooled values "x" is equally likely
    under H0; U = (sum of the x mid-ranks) - m(m+1)/2. p = min(1, 2 min(P(U <= u), P(U >= u))),
    the definition of scipy's ``permutation_test`` (Hollander, Wolfe & Chicken 2014, §4.1,
    ties: conditional null distribution). Defined for groups of one value (where scipy's
    ``PermutationMethod`` for ``mannwhitneyu`` raises).
    """
    pooled = np.concatenate([x, y])
    twice_ranks = np.rint(2 * sps.rankdata(pooled)).astype(np.int64)  # mid-ranks are k/2
    m = x.size
    index = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(pooled.size), m)),
        dtype=np.int64,
    ).reshape(-1, m)
    null = twice_ranks[index].sum(axis=1)
    observed = twice_ranks[:m].sum()
    p_low = float(np.mean(null <= observed))
    p_high = float(np.mean(null >= observed))
    return min(1.0, 2 * min(p_low, p_high))


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
        return _mann_whitney_exact_conditional(x, y), "p exact conditional permutation (ties)"
    res = sps.mannwhitneyu(x, y, method="asymptotic")
    return float(res.pvalue), "p normal approximation, tie-corrected with continuity correction"
