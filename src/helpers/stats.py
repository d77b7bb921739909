"""General statistics for biomarkers, agreement and diagnostic accuracy.

Used by the HER2-CTC screening notebook (HER2 FISH on CTCs: reproducibility, FISH vs IF) and the
everolimus/NK notebooks (granzyme B, NK flow markers, rpS6). Samples are small (10–40 patients),
so exact and distribution-free methods are preferred; every random procedure takes a ``seed`` and
uses :func:`numpy.random.default_rng`.

Unless stated otherwise each ``compute_`` function returns an *estimate table* (see
``docs/architecture.md``): one row per estimate with the columns ``parameter``, ``n``, ``N``,
``estimate``, ``ci_lower``, ``ci_upper``, ``ci_level``, ``method``, ``p_value`` and ``note`` (empty
string unless something about the row needs saying, e.g. an unattainable exact CI).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.stats.contingency import odds_ratio as _scipy_odds_ratio
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.inter_rater import cohens_kappa as _sm_cohens_kappa
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from helpers.checks import validate_ci_level
from helpers.rates import compute_binomial_ci
from helpers.results import TESTED_ESTIMATE_COLUMNS

__all__ = [
    "BlandAltmanResult",
    "DiagnosticAccuracyResult",
    "RocResult",
    "compute_bland_altman",
    "compute_cohen_kappa",
    "compute_cross_table",
    "compute_descriptives",
    "compute_diagnostic_accuracy",
    "compute_fdr",
    "compute_fisher_or",
    "compute_geometric_mean_ratio",
    "compute_icc",
    "compute_mann_whitney",
    "compute_marker_changes",
    "compute_mixed_model",
    "compute_paired_change",
    "compute_roc",
    "compute_spearman_bootstrap",
]

ESTIMATE_COLUMNS = list(TESTED_ESTIMATE_COLUMNS)

# Above these sizes the exact rank distributions are replaced by their normal approximation when
# choosing the order statistics of a Hodges–Lehmann CI (exact enumeration becomes slow).
_EXACT_SIGNED_RANK_MAX_N = 500
_EXACT_RANK_SUM_MAX_MN = 40_000
# Relative slack when comparing cumulative probabilities with alpha/2 (floating-point sums).
_PROB_TOL = 1e-9

METHOD_PAIRED = "Wilcoxon signed-rank; Hodges–Lehmann shift, exact CI"
METHOD_GMR = "Paired t-test on log scale; ratio of geometric means"
METHOD_MIXED = "Linear mixed model (random intercept), REML; ratio vs baseline"
METHOD_MIXED_DIFF = "Linear mixed model (random intercept), REML; difference vs baseline"
METHOD_MANN_WHITNEY = "Mann–Whitney U; Hodges–Lehmann shift, exact CI"
METHOD_FISHER = "Conditional MLE odds ratio, exact CI; Fisher exact test"
METHOD_KAPPA = "Cohen's kappa, asymptotic CI (Fleiss, Cohen & Everitt 1969 SE)"
METHOD_BA = "Bland–Altman bias and 95% limits of agreement, approximate CIs"
METHOD_CP = "Clopper–Pearson exact"
METHOD_ROC = "Empirical AUC (Mann–Whitney), DeLong CI; p: Mann–Whitney U"


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


def _require_positive(values: np.ndarray, name: str) -> None:
    if (values <= 0).any():
        raise ValueError(
            f"{name} has non-positive values, which have no logarithm: handle values below the "
            "LLOQ first (e.g. impute LLOQ/2 or analyse on the raw scale with log=False)"
        )


def _z(ci_level: float) -> float:
    return float(sps.norm.ppf(0.5 + ci_level / 2))


# --------------------------------------------------------------------------------------------
# exact null distributions and Hodges–Lehmann intervals
# --------------------------------------------------------------------------------------------


def _signed_rank_cdf(n: int) -> np.ndarray:
    """Exact null CDF of the Wilcoxon signed-rank statistic T+ for n untied non-zero values.

    Probability generating function prod_{i=1..n} (1 + x^i) / 2 expanded by dynamic programming
    (index = value of T+).
    """
    size = n * (n + 1) // 2 + 1
    prob = np.zeros(size)
    prob[0] = 1.0
    for i in range(1, n + 1):
        shifted = np.zeros(size)
        shifted[i:] = prob[: size - i]
        prob = 0.5 * (prob + shifted)
    return np.cumsum(prob)


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


def _walsh_averages(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2)


def _has_ties(values: np.ndarray) -> bool:
    return np.unique(values).size < values.size


def _signed_rank_pvalue(d: np.ndarray) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value with an explicit choice of the null distribution."""
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return math.nan, "all differences are zero: signed-rank test undefined"
    tied = _has_ties(np.abs(nonzero)) or nonzero.size < d.size
    if not tied and d.size <= 50:
        return float(sps.wilcoxon(d, method="exact").pvalue), "p exact"
    if tied and d.size <= 13:
        # every sign assignment enumerated (2^13 < 9999): exact conditional on ties and zeros
        res = sps.wilcoxon(d, method=sps.PermutationMethod(n_resamples=9999))
        return float(res.pvalue), "p exact permutation (ties or zero differences)"
    res = sps.wilcoxon(d, method="asymptotic")
    return float(res.pvalue), "p normal approximation" + (", tie-corrected" if tied else "")


# --------------------------------------------------------------------------------------------
# 1. paired change: Wilcoxon signed-rank + Hodges–Lehmann
# --------------------------------------------------------------------------------------------


def compute_paired_change(
    before,
    after,
    parameter: str,
    ci_level: float = 0.95,
    log: bool = False,
) -> pd.DataFrame:
    """Paired change: Wilcoxon signed-rank test and Hodges–Lehmann shift with exact CI.

    The differences are ``after - before`` (``log(after) - log(before)`` when ``log=True``). The
    estimate is the Hodges–Lehmann pseudo-median, i.e. the median of the M = N(N+1)/2 Walsh
    averages (d_i + d_j)/2, i <= j. Its distribution-free CI is (W_(C), W_(M+1-C)) where C is the
    largest integer with P(T+ <= C-1) <= alpha/2 under the exact null distribution of the
    signed-rank statistic (Hollander, Wolfe & Chicken 2014, *Nonparametric Statistical Methods*,
    3rd ed., §3.2–3.3). The achieved confidence (>= nominal) is given in ``note``; with tied
    differences it is approximate. With fewer than six pairs no exact 95% CI exists and the limits
    are -inf/inf (0/inf for a ratio).
    The p-value is two-sided (scipy ``wilcoxon``, zeros discarded): exact when there are no ties or
    zero differences and N <= 50, exhaustive permutation with ties/zeros and N <= 13, otherwise the
    tie-corrected normal approximation; ``note`` says which.

    Parameters
    ----------
    before, after : array-like of float
        Paired values, one per patient, in the same order. NaN marks a missing value; incomplete
        pairs are dropped.
    parameter : str
        Label of the estimate, e.g. ``"Granzyme B, M3 vs baseline"``.
    ci_level : float
        Confidence level.
    log : bool
        Analyse log values; the estimate and limits are then back-transformed to a ratio
        (after/before). Values must be > 0.

    Returns
    -------
    pandas.DataFrame
        One row, estimate-table columns: ``n`` = number of non-zero differences (those the signed
        rank test uses), ``N`` = complete pairs, ``estimate`` = shift (or ratio) with CI,
        ``p_value``, ``note``.

    Raises
    ------
    ValueError
        Empty input / no complete pair, unequal lengths, non-positive values with ``log=True``.
    """
    ci_level = validate_ci_level(ci_level)
    x, y = _complete_pairs(before, after, "before", "after")
    if log:
        _require_positive(np.concatenate([x, y]), "before/after")
        d = np.log(y) - np.log(x)
    else:
        d = y - x
    walsh = _walsh_averages(d)
    estimate = float(np.median(walsh))
    n = d.size
    cdf = _signed_rank_cdf(n) if n <= _EXACT_SIGNED_RANK_MAX_N else None
    null_sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    lower, upper, ci_note = _hodges_lehmann_ci(walsh, cdf, n * (n + 1) / 4, null_sd, ci_level)
    if _has_ties(d):
        ci_note = "; ".join(s for s in (ci_note, "tied differences: CI approximate") if s)
    p_value, p_note = _signed_rank_pvalue(d)
    method = METHOD_PAIRED
    if log:
        estimate, lower, upper = math.exp(estimate), math.exp(lower), math.exp(upper)
        method += "; log scale, back-transformed to a ratio"
    note = "; ".join(s for s in (ci_note, p_note) if s)
    return _table(
        [
            _row(
                parameter,
                n,
                estimate,
                (lower, upper),
                ci_level,
                method,
                n=int(np.count_nonzero(d)),
                p_value=p_value,
                note=note,
            )
        ]
    )


# --------------------------------------------------------------------------------------------
# 2. geometric mean ratio
# --------------------------------------------------------------------------------------------


def compute_geometric_mean_ratio(
    before, after, parameter: str, ci_level: float = 0.95
) -> pd.DataFrame:
    """Ratio of geometric means (after/before) from a paired t-test on log values.

    With d_i = log(after_i) - log(before_i): estimate exp(mean d), CI exp(mean d ± t_{N-1} s/√N),
    two-sided p from the one-sample t-test of mean d = 0 (scipy ``ttest_1samp``); back-transformed
    differences of log means are ratios of geometric means (Bland & Altman 1996, BMJ Statistics
    Notes, "The use of transformation when comparing two means").

    Parameters
    ----------
    before, after : array-like of float
        Paired positive values (NaN = missing; incomplete pairs dropped).
    parameter : str
        Label of the estimate.
    ci_level : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (``n`` NA, ``N`` complete pairs). With one pair, or identical log
        ratios, the t-test is undefined: the CI is NaN (one pair) or degenerate and ``p_value``
        is NaN, explained in ``note``.

    Raises
    ------
    ValueError
        Non-positive values (handle values below the LLOQ first), no complete pair.
    """
    ci_level = validate_ci_level(ci_level)
    x, y = _complete_pairs(before, after, "before", "after")
    _require_positive(np.concatenate([x, y]), "before/after")
    d = np.log(y) - np.log(x)
    mean = float(d.mean())
    if d.size < 2:
        ci, p_value, note = (math.nan, math.nan), math.nan, "a CI needs at least 2 complete pairs"
    elif np.allclose(d, d[0], rtol=1e-12, atol=1e-12):  # rounding noise of log()
        ci, p_value, note = (mean, mean), math.nan, "all log ratios identical: t-test undefined"
    else:
        res = sps.ttest_1samp(d, 0.0)
        ci_res = res.confidence_interval(confidence_level=ci_level)
        ci, p_value, note = (ci_res.low, ci_res.high), float(res.pvalue), ""
    return _table(
        [
            _row(
                parameter,
                d.size,
                math.exp(mean),
                (math.exp(ci[0]), math.exp(ci[1])),
                ci_level,
                METHOD_GMR,
                p_value=p_value,
                note=note,
            )
        ]
    )


# --------------------------------------------------------------------------------------------
# 3. linear mixed model
# --------------------------------------------------------------------------------------------


def _visit_order(visits: pd.Series, reference: str) -> list:
    if isinstance(visits.dtype, pd.CategoricalDtype):
        levels = [v for v in visits.cat.categories if (visits == v).any()]
    else:
        levels = sorted(visits.unique(), key=str)
    return [reference, *[v for v in levels if v != reference]]


def compute_mixed_model(
    df: pd.DataFrame,
    value_col: str = "AVAL",
    visit_col: str = "AVISIT",
    subject_col: str = "USUBJID",
    reference: str = "BASELINE",
    log: bool = True,
    ci_level: float = 0.95,
    parameter: str | None = None,
) -> pd.DataFrame:
    """Change over visits from a linear mixed model with a random intercept per subject.

    Model: y_ij = mu + beta_visit(j) + b_i + e_ij, b_i ~ N(0, tau^2), e_ij ~ N(0, sigma^2), fitted
    by REML with statsmodels ``MixedLM`` (Laird & Ware 1982, Biometrics 38:963). Visit is a fixed
    effect with ``reference`` as the reference level; every available observation is used, so
    subjects missing later visits stay in the model (valid under missing-at-random). Visits are
    ordered by the categories of a categorical ``visit_col``, otherwise alphabetically. With
    ``log=True`` y = log(value) and each beta is back-transformed to a ratio of geometric means
    vs the reference visit. CIs and p-values are Wald (normal) as reported by statsmodels, which
    is somewhat anti-conservative with 10–40 subjects.

    Convergence warnings from statsmodels are caught explicitly and written to ``note`` (other
    warnings are passed on).

    Parameters
    ----------
    df : pandas.DataFrame
        Long data, one row per subject and visit (e.g. ``adbm`` filtered to one PARAMCD).
    value_col, visit_col, subject_col : str
        Column names. Rows with a missing value are dropped.
    reference : str
        Reference visit.
    log : bool
        Analyse log values (values must be > 0).
    ci_level : float
        Confidence level.
    parameter : str, optional
        Prefix of the ``parameter`` label (default ``value_col``).

    Returns
    -------
    pandas.DataFrame
        One row per non-reference visit, columns ``visit`` + estimate-table columns: ``estimate``
        ratio (or difference when ``log=False``) vs reference, ``n`` subjects observed at that
        visit, ``N`` subjects in the model, ``p_value``, ``note``.

    Raises
    ------
    ValueError
        Missing columns, fewer than 2 subjects, only one visit, reference visit absent, duplicate
        subject × visit rows, non-positive values with ``log=True``.
    """
    ci_level = validate_ci_level(ci_level)
    missing = [c for c in (value_col, visit_col, subject_col) if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {missing}: pass value_col/visit_col/subject_col")
    data = df[[subject_col, visit_col, value_col]].dropna()
    if data.empty:
        raise ValueError("no observation with a value: the data frame is empty after dropping NaN")
    if data.duplicated([subject_col, visit_col]).any():
        raise ValueError(
            "several rows per subject and visit: filter to one parameter (and stimulation) first"
        )
    y = data[value_col].to_numpy(dtype=float)
    if log:
        _require_positive(y, value_col)
        y = np.log(y)
    visits = data[visit_col]
    if not (visits == reference).any():
        raise ValueError(f"reference visit {reference!r} has no observation; pass reference=...")
    order = _visit_order(visits, reference)
    n_subjects = data[subject_col].nunique()
    if n_subjects < 2 or len(order) < 2:
        raise ValueError(
            f"a mixed model needs at least 2 subjects and 2 visits; got {n_subjects} subject(s) "
            f"and {len(order)} visit(s)"
        )
    exog = np.column_stack(
        [np.ones(len(data))] + [(visits == v).to_numpy(dtype=float) for v in order[1:]]
    )
    model = MixedLM(y, exog, groups=data[subject_col].to_numpy(), exog_re=np.ones((len(data), 1)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(reml=True)
    notes = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            notes.append(f"statsmodels: {str(w.message).strip()}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not result.converged:
        notes.append("optimiser did not converge")
    note = "; ".join(dict.fromkeys(notes))
    ci = np.asarray(result.conf_int(alpha=1 - ci_level))
    transform = np.exp if log else (lambda v: v)
    label = parameter or value_col
    rows = []
    for k, visit in enumerate(order[1:], start=1):
        row = _row(
            f"{label}, {visit} vs {reference}",
            n_subjects,
            transform(result.fe_params[k]),
            (transform(ci[k, 0]), transform(ci[k, 1])),
            ci_level,
            METHOD_MIXED if log else METHOD_MIXED_DIFF,
            n=int(data.loc[visits == visit, subject_col].nunique()),
            p_value=result.pvalues[k],
            note=note,
        )
        rows.append({"visit": visit, **row})
    return _table(rows, extra_columns=["visit"])


# --------------------------------------------------------------------------------------------
# 4. multiplicity and marker × visit tables
# --------------------------------------------------------------------------------------------


def compute_fdr(p_values, method: str = "fdr_bh") -> np.ndarray:
    """Multiplicity-adjusted p-values (default Benjamini–Hochberg false discovery rate).

    Wraps statsmodels ``multipletests`` (Benjamini & Hochberg 1995, JRSS-B 57:289). NaN p-values
    are kept as NaN and do not count as tests.

    Parameters
    ----------
    p_values : array-like of float
        Raw p-values in [0, 1] (NaN allowed).
    method : str
        Any ``multipletests`` method, e.g. ``"fdr_bh"``, ``"holm"``, ``"bonferroni"``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape and order as the input.
    """
    p = _as_float_array(p_values, "p_values")
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("p_values must lie in [0, 1] (NaN for a missing p-value)")
    adjusted = np.full(p.shape, np.nan)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method=method)[1]
    return adjusted


def compute_marker_changes(
    long_df: pd.DataFrame,
    markers: Sequence[str] | None = None,
    visit_pairs: Sequence[tuple[str, str]] | None = None,
    *,
    reference: str = "BASELINE",
    param_col: str = "PARAMCD",
    value_col: str = "AVAL",
    visit_col: str = "AVISIT",
    subject_col: str = "USUBJID",
    log: bool | Mapping[str, bool] = False,
    ci_level: float = 0.95,
    fdr_method: str = "fdr_bh",
) -> pd.DataFrame:
    """Paired change of several markers between visit pairs, with FDR-adjusted p-values.

    Applies :func:`compute_paired_change` (Wilcoxon signed-rank, Hodges–Lehmann shift with exact
    CI) to each marker and each (reference visit, later visit) pair, matching patients on
    ``subject_col``, then adds ``p_adj``: Benjamini–Hochberg (or ``fdr_method``) across all
    marker × visit tests of the call (Benjamini & Hochberg 1995).

    Parameters
    ----------
    long_df : pandas.DataFrame
        Long biomarker data (``adbm``-like): one row per subject, marker and visit. For NK flow
        markers filter to one stimulation (or fold it into ``param_col``) first.
    markers : sequence of str, optional
        Values of ``param_col`` to analyse (default: all, in sorted order).
    visit_pairs : sequence of (str, str), optional
        (earlier, later) visits; default ``(reference, v)`` for every other visit present.
    reference : str
        Reference visit used by the default ``visit_pairs``.
    param_col, value_col, visit_col, subject_col : str
        Column names. A ``PARAM`` column, when present, gives readable parameter labels.
    log : bool or mapping marker -> bool
        Analyse on the log scale (estimate = ratio) for all or for selected markers.
    ci_level : float
        Confidence level.
    fdr_method : str
        ``multipletests`` method for ``p_adj``.

    Returns
    -------
    pandas.DataFrame
        One row per marker × visit pair: ``param_col`` (the marker), ``visit`` (later visit),
        ``reference_visit`` + estimate-table columns + ``p_adj``. A marker/visit without any
        complete pair gives a row with N = 0, NaN estimates and a note.

    Raises
    ------
    ValueError
        Missing columns, unknown markers, several rows per subject × marker × visit.
    """
    ci_level = validate_ci_level(ci_level)
    needed = [param_col, value_col, visit_col, subject_col]
    missing = [c for c in needed if c not in long_df.columns]
    if missing:
        raise ValueError(f"long_df lacks column(s) {missing}: pass the *_col arguments")
    if long_df.empty:
        raise ValueError("long_df is empty")
    if long_df.duplicated([param_col, subject_col, visit_col]).any():
        raise ValueError(
            f"several rows per {param_col} × {subject_col} × {visit_col}: filter to one "
            "stimulation/statistic per marker (or fold it into the marker code) first"
        )
    available = sorted(long_df[param_col].dropna().unique(), key=str)
    markers = available if markers is None else list(markers)
    unknown = sorted(set(markers) - set(available), key=str)
    if unknown:
        raise ValueError(f"markers {unknown} not found in column {param_col!r}")
    if visit_pairs is None:
        others = [v for v in _visit_order(long_df[visit_col].dropna(), reference) if v != reference]
        visit_pairs = [(reference, v) for v in others]
    wide = long_df.pivot(index=[param_col, subject_col], columns=visit_col, values=value_col)
    labels = (
        long_df.drop_duplicates(param_col).set_index(param_col)["PARAM"].astype(str).to_dict()
        if "PARAM" in long_df.columns
        else {}
    )
    rows = []
    for marker in markers:
        use_log = bool(log.get(marker, False)) if isinstance(log, Mapping) else bool(log)
        block = wide.loc[marker]
        for earlier, later in visit_pairs:
            label = f"{labels.get(marker, marker)}, {later} vs {earlier}"
            key = {param_col: marker, "visit": later, "reference_visit": earlier}
            rows.append(
                {**key, **_marker_change_row(block, earlier, later, label, ci_level, use_log)}
            )
    out = _table(rows, extra_columns=[param_col, "visit", "reference_visit"])
    out["p_adj"] = compute_fdr(out["p_value"].to_numpy(), method=fdr_method)
    return out


def _marker_change_row(
    block: pd.DataFrame, earlier: str, later: str, label: str, ci_level: float, log: bool
) -> dict:
    if earlier not in block.columns or later not in block.columns:
        complete = 0
    else:
        complete = int(block[[earlier, later]].notna().all(axis=1).sum())
    if complete == 0:
        return _row(
            label,
            0,
            math.nan,
            (math.nan, math.nan),
            ci_level,
            METHOD_PAIRED,
            note=f"no patient with both {earlier} and {later}",
        )
    try:
        table = compute_paired_change(block[earlier], block[later], label, ci_level, log=log)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from exc
    return table.iloc[0].to_dict()


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


# --------------------------------------------------------------------------------------------
# 7. Mann–Whitney + two-sample Hodges–Lehmann
# --------------------------------------------------------------------------------------------


def _mann_whitney_pvalue(x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    pooled = np.concatenate([x, y])
    if not _has_ties(pooled):
        return float(sps.mannwhitneyu(x, y, method="exact").pvalue), "p exact"
    if math.comb(pooled.size, x.size) <= 20_000:
        res = sps.mannwhitneyu(x, y, method=sps.PermutationMethod(n_resamples=np.inf))
        return float(res.pvalue), "p exact permutation (ties)"
    res = sps.mannwhitneyu(x, y, method="asymptotic")
    return float(res.pvalue), "p normal approximation, tie-corrected with continuity correction"


def compute_mann_whitney(x, y, parameter: str, ci_level: float = 0.95) -> pd.DataFrame:
    """Two independent groups: Mann–Whitney U test and Hodges–Lehmann shift with exact CI.

    The estimate is the median of the m·n differences x_i - y_j (x minus y). The CI is
    (D_(C), D_(mn+1-C)) with C the largest integer such that P(U <= C-1) <= alpha/2 under the exact
    null distribution of U (Hollander, Wolfe & Chicken 2014, §4.3; Bauer 1972, JASA 67:687);
    achieved confidence in ``note``. With ties the interval is approximate. The two-sided p-value
    (scipy ``mannwhitneyu``) is exact without ties, an exhaustive permutation p with ties when
    C(m+n, m) <= 20000, otherwise the tie-corrected normal approximation.

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
    diffs = np.sort(np.subtract.outer(a, b).ravel())
    m, n = a.size, b.size
    cdf = _rank_sum_cdf(m, n) if m * n <= _EXACT_RANK_SUM_MAX_MN else None
    null_sd = math.sqrt(m * n * (m + n + 1) / 12)
    lower, upper, ci_note = _hodges_lehmann_ci(diffs, cdf, m * n / 2, null_sd, ci_level)
    if _has_ties(np.concatenate([a, b])):
        ci_note = "; ".join(s for s in (ci_note, "ties: CI approximate") if s)
    p_value, p_note = _mann_whitney_pvalue(a, b)
    return _table(
        [
            _row(
                parameter,
                m + n,
                float(np.median(diffs)),
                (lower, upper),
                ci_level,
                METHOD_MANN_WHITNEY,
                n=m,
                p_value=p_value,
                note="; ".join(s for s in (ci_note, p_note) if s),
            )
        ]
    )


# --------------------------------------------------------------------------------------------
# 8. agreement: kappa, ICC, Bland–Altman
# --------------------------------------------------------------------------------------------


def compute_cohen_kappa(
    a,
    b,
    parameter: str = "Cohen's kappa",
    ci_level: float = 0.95,
    categories: Sequence | None = None,
    weights: str | None = None,
) -> pd.DataFrame:
    """Cohen's kappa between two raters with an asymptotic CI.

    kappa = (p_o - p_e) / (1 - p_e). The CI is kappa ± z·SE with the large-sample SE of Fleiss,
    Cohen & Everitt (1969, Psychol Bull 72:323); the p-value tests kappa = 0 with the SE under the
    null (Fleiss, Levin & Paik 2003, *Statistical Methods for Rates and Proportions*, 3rd ed.,
    ch. 18). Computed by statsmodels ``cohens_kappa``; ``weights="linear"`` or ``"quadratic"``
    gives weighted kappa for ordinal categories (order from ``categories``).

    Parameters
    ----------
    a, b : array-like
        Category of each item from rater A and rater B (pairs with a missing value dropped).
    parameter : str
        Label of the estimate.
    ci_level : float
        Confidence level.
    categories : sequence, optional
        All categories in order (default: sorted union of observed values). Needed for weighted
        kappa on ordinal scales such as IF scores ``["0", "1+", "2+", "3+"]``.
    weights : {None, "linear", "quadratic"}
        Unweighted (default) or weighted kappa.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row: ``n`` = items with agreement, ``N`` = items rated by both. When
        both raters use a single category kappa is undefined (NaN with a note).
    """
    ci_level = validate_ci_level(ci_level)
    if weights not in (None, "linear", "quadratic"):
        raise ValueError("weights must be None, 'linear' or 'quadratic'")
    sa, sb = pd.Series(list(a), dtype=object), pd.Series(list(b), dtype=object)
    if len(sa) != len(sb):
        raise ValueError(f"a and b must have the same length, got {len(sa)} and {len(sb)}")
    keep = sa.notna() & sb.notna()
    sa, sb = sa[keep], sb[keep]
    if sa.empty:
        raise ValueError("no item rated by both raters: a and b are empty or all missing")
    levels = list(categories) if categories is not None else sorted(set(sa) | set(sb), key=str)
    unknown = (set(sa) | set(sb)) - set(levels)
    if unknown:
        raise ValueError(f"values {sorted(unknown, key=str)} are not in categories")
    counts = pd.crosstab(
        pd.Categorical(sa, categories=levels), pd.Categorical(sb, categories=levels), dropna=False
    ).to_numpy()
    agree = int(np.trace(counts))
    method = METHOD_KAPPA if weights is None else f"{weights.capitalize()}-weighted " + METHOD_KAPPA
    row_margins, col_margins = counts.sum(axis=1) / sa.size, counts.sum(axis=0) / sa.size
    if np.isclose(row_margins @ col_margins, 1.0):
        return _table(
            [
                _row(
                    parameter,
                    sa.size,
                    math.nan,
                    (math.nan, math.nan),
                    ci_level,
                    method,
                    n=agree,
                    note="both raters used a single category: kappa undefined",
                )
            ]
        )
    res = _sm_cohens_kappa(counts, wt=weights) if weights else _sm_cohens_kappa(counts)
    half = _z(ci_level) * res["std_kappa"]
    return _table(
        [
            _row(
                parameter,
                sa.size,
                res["kappa"],
                (res["kappa"] - half, res["kappa"] + half),
                ci_level,
                method,
                n=agree,
                p_value=res["pvalue_two_sided"],
            )
        ]
    )


_ICC_TYPES = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")


@dataclass(frozen=True)
class _AnovaMeanSquares:
    n: int  # targets
    k: int  # raters
    bms: float  # between targets
    wms: float  # within targets
    jms: float  # between judges (raters)
    ems: float  # residual


def _anova_mean_squares(ratings: np.ndarray) -> _AnovaMeanSquares:
    """Two-way ANOVA mean squares, n targets × k raters (Shrout & Fleiss 1979, Table 1)."""
    n, k = ratings.shape
    grand = ratings.mean()
    ss_targets = k * ((ratings.mean(axis=1) - grand) ** 2).sum()
    ss_raters = n * ((ratings.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((ratings - grand) ** 2).sum()
    ss_within = ss_total - ss_targets
    ss_error = ss_within - ss_raters
    return _AnovaMeanSquares(
        n=n,
        k=k,
        bms=ss_targets / (n - 1),
        wms=ss_within / (n * (k - 1)),
        jms=ss_raters / (k - 1),
        ems=ss_error / ((n - 1) * (k - 1)),
    )


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, inf when the denominator is (numerically) zero."""
    return (
        math.inf if denominator <= 1e-12 * max(abs(numerator), 1e-300) else numerator / denominator
    )


def _icc_single(
    ms: _AnovaMeanSquares, model: int, ci_level: float
) -> tuple[float, float, float, float]:
    """Single-rater ICC(model,1), its F-based CI and the p-value of H0: ICC = 0.

    Shrout & Fleiss (1979) equations for ICC(1,1), ICC(2,1) (Satterthwaite df for the CI) and
    ICC(3,1); identical to McGraw & Wong (1996) ICC(1), ICC(A,1), ICC(C,1).
    """
    n, k, bms, wms, jms, ems = ms.n, ms.k, ms.bms, ms.wms, ms.jms, ms.ems
    q = 0.5 + ci_level / 2
    if model == 1:
        icc = (bms - wms) / (bms + (k - 1) * wms)
        f0, df2 = _ratio(bms, wms), n * (k - 1)
    else:
        f0, df2 = _ratio(bms, ems), (n - 1) * (k - 1)
    p_value = float(sps.f.sf(f0, n - 1, df2))
    if not np.isfinite(f0):
        # no residual variation (e.g. readers agree exactly): point estimate only
        if model == 2:
            icc = bms / (bms + k * jms / n)
        return (1.0 if model != 2 else icc), math.nan, math.nan, p_value
    if model in (1, 3):
        if model == 3:
            icc = (bms - ems) / (bms + (k - 1) * ems)
        f_lower = f0 / sps.f.ppf(q, n - 1, df2)
        f_upper = f0 * sps.f.ppf(q, df2, n - 1)
        return icc, (f_lower - 1) / (f_lower + k - 1), (f_upper - 1) / (f_upper + k - 1), p_value
    icc = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    fj = jms / ems
    nu = (
        (k - 1)
        * (n - 1)
        * (k * icc * fj + n * (1 + (k - 1) * icc) - k * icc) ** 2
        / ((n - 1) * k**2 * icc**2 * fj**2 + (n * (1 + (k - 1) * icc) - k * icc) ** 2)
    )
    f_star = sps.f.ppf(q, n - 1, nu)
    f_star2 = sps.f.ppf(q, nu, n - 1)
    spread = k * jms + (k * n - k - n) * ems
    lower = n * (bms - f_star * ems) / (f_star * spread + n * bms)
    upper = n * (f_star2 * bms - ems) / (spread + n * f_star2 * bms)
    return icc, lower, upper, p_value


def _icc_from_matrix(ratings: np.ndarray, icc_type: str, ci_level: float) -> tuple[float, ...]:
    model = int(icc_type[4])
    icc, lower, upper, p_value = _icc_single(_anova_mean_squares(ratings), model, ci_level)
    if icc_type.endswith("k)"):
        # average-measure ICC = Spearman–Brown step-up of the single-measure ICC (and its limits)
        k = ratings.shape[1]
        icc, lower, upper = (k * r / (1 + (k - 1) * r) for r in (icc, lower, upper))
    return icc, lower, upper, p_value


def compute_icc(
    df: pd.DataFrame,
    targets: str,
    raters: str,
    ratings: str,
    icc_type: str = "ICC(2,1)",
    ci_level: float = 0.95,
    parameter: str | None = None,
) -> pd.DataFrame:
    """Intraclass correlation coefficient with its F-based CI.

    ANOVA estimators of Shrout & Fleiss (1979, Psychol Bull 86:420): ICC(1,1) one-way random
    (each target rated by different raters), ICC(2,1) two-way random, absolute agreement,
    ICC(3,1) two-way mixed, consistency; ``"ICC(m,k)"`` gives the reliability of the mean of the
    k raters. CIs from the F distribution (Satterthwaite approximation for ICC(2,·)), as in
    Shrout & Fleiss (1979) and McGraw & Wong (1996, Psychol Methods 1:30); p-value is the F test of
    ICC = 0.

    Parameters
    ----------
    df : pandas.DataFrame
        Long data: one row per target × rater.
    targets, raters, ratings : str
        Column names of the rated unit (e.g. patient or cell), the rater (reader) and the numeric
        rating.
    icc_type : str
        One of ``"ICC(1,1)"``, ``"ICC(2,1)"``, ``"ICC(3,1)"``, ``"ICC(1,k)"``, ``"ICC(2,k)"``,
        ``"ICC(3,k)"``.
    ci_level : float
        Confidence level.
    parameter : str, optional
        Label (default ``icc_type``).

    Returns
    -------
    pandas.DataFrame
        One estimate-table row: ``N`` = targets rated by every rater (targets with a missing
        rating are dropped and counted in ``note``), ``n`` NA.

    Raises
    ------
    ValueError
        Unknown type, missing columns, duplicate target × rater rows, fewer than 2 complete
        targets or 2 raters.
    """
    ci_level = validate_ci_level(ci_level)
    if icc_type not in _ICC_TYPES:
        raise ValueError(f"icc_type must be one of {_ICC_TYPES}, got {icc_type!r}")
    missing = [c for c in (targets, raters, ratings) if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks column(s) {missing}")
    if df.duplicated([targets, raters]).any():
        raise ValueError("several ratings per target × rater: one rating per pair is required")
    wide = df.pivot(index=targets, columns=raters, values=ratings).astype(float)
    complete = wide.dropna()
    if complete.shape[0] < 2 or complete.shape[1] < 2:
        raise ValueError(
            f"ICC needs at least 2 targets rated by every rater and 2 raters; got "
            f"{complete.shape[0]} complete target(s) and {wide.shape[1]} rater(s)"
        )
    dropped = wide.shape[0] - complete.shape[0]
    ratings_matrix = complete.to_numpy()
    if np.ptp(ratings_matrix) == 0:
        raise ValueError("all ratings are identical: the ICC is undefined")
    icc, lower, upper, p_value = _icc_from_matrix(ratings_matrix, icc_type, ci_level)
    note = f"{complete.shape[1]} raters"
    if math.isnan(lower):
        note += "; no residual variation (perfect agreement): F-based CI undefined"
    if dropped:
        note += f"; {dropped} target(s) with a missing rating dropped"
    return _table(
        [
            _row(
                parameter or icc_type,
                complete.shape[0],
                icc,
                (lower, upper),
                ci_level,
                f"{icc_type}, Shrout & Fleiss ANOVA estimator, F-based CI",
                p_value=p_value,
                note=note,
            )
        ]
    )


@dataclass(frozen=True)
class BlandAltmanResult:
    """Bland–Altman analysis.

    Attributes
    ----------
    table : pandas.DataFrame
        Estimate table with three rows: bias, lower and upper limit of agreement.
    mean : numpy.ndarray
        (a + b) / 2 per complete pair (x axis of the plot).
    difference : numpy.ndarray
        a - b per complete pair (y axis of the plot).
    """

    table: pd.DataFrame
    mean: np.ndarray
    difference: np.ndarray


def compute_bland_altman(
    a, b, parameter: str = "A − B", ci_level: float = 0.95
) -> BlandAltmanResult:
    """Bland–Altman bias and 95% limits of agreement, with CIs.

    d = a - b. Bias = mean(d), CI mean(d) ± t_{N-1} s/√N. Limits of agreement mean(d) ± 1.96 s;
    their CI is limit ± t_{N-1}·SE with SE = s·√(1/N + 1.96²/(2(N-1))) (Bland & Altman 1986,
    Lancet i:307, who use the approximation √(3s²/N); Bland & Altman 1999, Stat Methods Med Res
    8:135).

    Parameters
    ----------
    a, b : array-like of float
        Paired measurements by two methods or readers (incomplete pairs dropped); at least 2 pairs.
    parameter : str
        Label prefix, e.g. ``"HER2/CEP17 ratio, reader R1 − R2"``.
    ci_level : float
        Level of the CIs of the bias and of the limits (the limits themselves are always 95%).

    Returns
    -------
    BlandAltmanResult
        ``table`` (rows bias / lower / upper limit), ``mean`` and ``difference`` arrays.
    """
    ci_level = validate_ci_level(ci_level)
    x, y = _complete_pairs(a, b, "a", "b")
    if x.size < 2:
        raise ValueError("Bland–Altman analysis needs at least 2 complete pairs")
    d = x - y
    n = d.size
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    t = float(sps.t.ppf(0.5 + ci_level / 2, n - 1))
    z = float(sps.norm.ppf(0.975))
    se_bias = sd / math.sqrt(n)
    se_limit = sd * math.sqrt(1 / n + z**2 / (2 * (n - 1)))
    rows = [
        _row(
            f"{parameter}: bias (mean difference)",
            n,
            bias,
            (bias - t * se_bias, bias + t * se_bias),
            ci_level,
            METHOD_BA,
        ),
    ]
    for label, limit in (("lower", bias - z * sd), ("upper", bias + z * sd)):
        rows.append(
            _row(
                f"{parameter}: {label} 95% limit of agreement",
                n,
                limit,
                (limit - t * se_limit, limit + t * se_limit),
                ci_level,
                METHOD_BA,
            )
        )
    return BlandAltmanResult(table=_table(rows), mean=(x + y) / 2, difference=d)


# --------------------------------------------------------------------------------------------
# 9. diagnostic accuracy and ROC
# --------------------------------------------------------------------------------------------


def _check_bool(values: pd.Series, name: str) -> np.ndarray:
    is_bool = values.map(lambda v: isinstance(v, bool | np.bool_) or v in (0, 1))
    if not is_bool.all():
        raise TypeError(f"{name} must be boolean (True/False or 1/0; None/NaN for missing)")
    return values.astype(bool).to_numpy()


def _as_bool_pairs(truth, test, name_t: str, name_s: str) -> tuple[np.ndarray, np.ndarray]:
    st, ss = pd.Series(list(truth), dtype=object), pd.Series(list(test), dtype=object)
    if len(st) != len(ss):
        raise ValueError(
            f"{name_t} and {name_s} must have the same length, got {len(st)} and {len(ss)}"
        )
    keep = st.notna() & ss.notna()
    if not keep.any():
        raise ValueError(f"no complete pair of {name_t} and {name_s}: inputs empty or all missing")
    return _check_bool(st[keep], name_t), _check_bool(ss[keep], name_s)


def compute_cross_table(
    truth, test, truth_name: str = "truth", test_name: str = "test"
) -> pd.DataFrame:
    """2×2 cross table of two boolean classifications (pairs with a missing value dropped).

    Returns
    -------
    pandas.DataFrame
        Counts with index ``[f"{truth_name}+", f"{truth_name}-"]`` and columns
        ``[f"{test_name}+", f"{test_name}-"]`` (positive first, as in ``[[TP, FN], [FP, TN]]``).
    """
    t, s = _as_bool_pairs(truth, test, truth_name, test_name)
    counts = np.array(
        [[np.sum(t & s), np.sum(t & ~s)], [np.sum(~t & s), np.sum(~t & ~s)]], dtype=int
    )
    return pd.DataFrame(
        counts,
        index=[f"{truth_name}+", f"{truth_name}-"],
        columns=[f"{test_name}+", f"{test_name}-"],
    )


@dataclass(frozen=True)
class DiagnosticAccuracyResult:
    """Sensitivity, specificity, PPV, NPV (``table``) and the 2×2 ``cross_table`` they come from."""

    table: pd.DataFrame
    cross_table: pd.DataFrame


def _clopper_pearson_row(parameter: str, k: int, n: int, ci_level: float) -> dict:
    if n == 0:
        return _row(
            parameter,
            0,
            math.nan,
            (math.nan, math.nan),
            ci_level,
            METHOD_CP,
            n=0,
            note="denominator is zero",
        )
    ci = compute_binomial_ci(k, n, ci_level=ci_level, method="clopper-pearson")
    return _row(parameter, n, k / n, ci, ci_level, METHOD_CP, n=k)


def compute_diagnostic_accuracy(
    truth, test, ci_level: float = 0.95, parameter_prefix: str = ""
) -> DiagnosticAccuracyResult:
    """Sensitivity, specificity, PPV and NPV with Clopper–Pearson exact CIs.

    Proportions from the 2×2 table of the index ``test`` against the reference ``truth``; exact
    binomial CIs (Clopper & Pearson 1934, Biometrika 26:404) by ``rates.compute_binomial_ci``.
    PPV and NPV are those of the sample (they depend on its prevalence).

    Parameters
    ----------
    truth, test : array-like of bool
        Reference standard and index test per patient or cell (pairs with a missing value dropped).
    ci_level : float
        Confidence level.
    parameter_prefix : str
        Prepended to the parameter labels, e.g. ``"HER2 FISH vs IF: "``.

    Returns
    -------
    DiagnosticAccuracyResult
        ``table``: estimate table with rows sensitivity, specificity, PPV, NPV (``n`` numerator,
        ``N`` denominator); ``cross_table``: see :func:`compute_cross_table`.
    """
    ci_level = validate_ci_level(ci_level)
    cross = compute_cross_table(truth, test)
    (tp, fn), (fp, tn) = cross.to_numpy()
    rows = [
        _clopper_pearson_row(f"{parameter_prefix}sensitivity", tp, tp + fn, ci_level),
        _clopper_pearson_row(f"{parameter_prefix}specificity", tn, tn + fp, ci_level),
        _clopper_pearson_row(f"{parameter_prefix}PPV", tp, tp + fp, ci_level),
        _clopper_pearson_row(f"{parameter_prefix}NPV", tn, tn + fn, ci_level),
    ]
    return DiagnosticAccuracyResult(table=_table(rows), cross_table=cross)


@dataclass(frozen=True)
class RocResult:
    """ROC ``curve`` (DataFrame fpr, tpr, threshold) and ``table`` (AUC estimate row)."""

    curve: pd.DataFrame
    table: pd.DataFrame


def _roc_curve(truth: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    thresholds = np.unique(score)[::-1]
    positives, negatives = truth.sum(), (~truth).sum()
    tpr = [(score[truth] >= t).sum() / positives for t in thresholds]
    fpr = [(score[~truth] >= t).sum() / negatives for t in thresholds]
    return pd.DataFrame(
        {
            "fpr": [0.0, *fpr],
            "tpr": [0.0, *tpr],
            "threshold": [math.inf, *thresholds.astype(float)],
        }
    )


def _delong_auc(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """Empirical AUC and its DeLong variance by the midrank algorithm of Sun & Xu (2014).

    Structural components V10_i = (Tz_i - Tx_i)/n and V01_j = 1 - (Tz_j - Ty_j)/m, where Tz, Tx,
    Ty are midranks in the pooled sample, the positives and the negatives.
    """
    m, n = pos.size, neg.size
    tz = sps.rankdata(np.concatenate([pos, neg]))
    tx, ty = sps.rankdata(pos), sps.rankdata(neg)
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1 - (tz[m:] - ty) / m
    s10 = v10.var(ddof=1) if m > 1 else 0.0
    s01 = v01.var(ddof=1) if n > 1 else 0.0
    return float(auc), float(s10 / m + s01 / n)


def compute_roc(truth, score, ci_level: float = 0.95, parameter: str = "AUC") -> RocResult:
    """Empirical ROC curve and AUC with DeLong CI.

    Higher scores indicate the positive class. AUC = P(score_pos > score_neg) + ½P(tie)
    (Mann–Whitney form; Hanley & McNeil 1982, Radiology 143:29). Its variance is DeLong's
    nonparametric estimate (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837) computed with
    the midrank algorithm of Sun & Xu (2014, IEEE Signal Process Lett 21:1389); CI AUC ± z·SE,
    truncated to [0, 1]. The p-value is the two-sided Mann–Whitney U test of AUC = 0.5 (see
    :func:`compute_mann_whitney` for the null distribution used).

    Parameters
    ----------
    truth : array-like of bool
        True class.
    score : array-like of float
        Marker value (pairs with a missing value dropped).
    ci_level : float
        Confidence level.
    parameter : str
        Label of the AUC row.

    Returns
    -------
    RocResult
        ``curve``: DataFrame ``fpr``, ``tpr``, ``threshold`` (positive when score >= threshold,
        starting at (0, 0) with threshold inf); ``table``: one estimate row (``n`` positives,
        ``N`` total). A zero DeLong variance (e.g. perfect separation) gives a degenerate CI,
        flagged in ``note``.
    """
    ci_level = validate_ci_level(ci_level)
    t_series = pd.Series(list(truth), dtype=object)
    s = _as_float_array(score, "score")
    if len(t_series) != s.size:
        raise ValueError(
            f"truth and score must have the same length, got {len(t_series)} and {s.size}"
        )
    keep = t_series.notna().to_numpy() & ~np.isnan(s)
    if not keep.any():
        raise ValueError("no complete pair of truth and score: inputs empty or all missing")
    t = _check_bool(t_series[keep], "truth")
    s = s[keep]
    pos, neg = s[t], s[~t]
    if pos.size == 0 or neg.size == 0:
        raise ValueError(
            f"ROC analysis needs both classes; got {pos.size} positive and {neg.size} negative"
        )
    auc, var = _delong_auc(pos, neg)
    half = _z(ci_level) * math.sqrt(var)
    lower, upper = max(auc - half, 0.0), min(auc + half, 1.0)
    notes = []
    if var == 0:
        notes.append("DeLong variance is zero (e.g. perfect separation): CI degenerate")
    elif auc - half < 0 or auc + half > 1:
        notes.append("CI truncated to [0, 1]")
    p_value, p_note = _mann_whitney_pvalue(pos, neg)
    notes.append(p_note)
    table = _table(
        [
            _row(
                parameter,
                s.size,
                auc,
                (lower, upper),
                ci_level,
                METHOD_ROC,
                n=pos.size,
                p_value=p_value,
                note="; ".join(notes),
            )
        ]
    )
    return RocResult(curve=_roc_curve(t, s), table=table)


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
