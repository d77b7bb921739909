"""Paired (within-patient) change: Wilcoxon signed-rank with Hodges–Lehmann shift, ratio of
geometric means, linear mixed models, marker changes with FDR control."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from helpers.checks import validate_ci_level
from helpers.endpoints.stats._common import (
    MIN_PAIRS,
    _as_float_array,
    _complete_pairs,
    _has_ties,
    _hodges_lehmann_ci,
    _hodges_lehmann_large,
    _not_estimable_row,
    _pairs_text,
    _row,
    _table,
    _WalshAverages,
)
from helpers.endpoints.stats.censored import compute_conventional_fe_cov

# Above these sizes the exact rank distributions are replaced by their normal approximation when
# choosing the order statistics of a Hodges–Lehmann CI (exact enumeration becomes slow).
_EXACT_SIGNED_RANK_MAX_N = 500
#: Above this many pairs the signed-rank p-value is the normal approximation even without ties
#: (R's ``wilcox.test``: exact for fewer than 50 values; here <= 50, unchanged for small samples).
_EXACT_SIGNED_RANK_P_MAX_N = 50

METHOD_PAIRED = "Wilcoxon signed-rank; Hodges–Lehmann shift, exact CI"
METHOD_GMR = "Paired t-test on log scale; ratio of geometric means"
METHOD_MIXED = "Linear mixed model (random intercept), REML; ratio vs baseline"
METHOD_MIXED_DIFF = "Linear mixed model (random intercept), REML; difference vs baseline"


def _require_positive(values: np.ndarray, name: str) -> None:
    if (values <= 0).any():
        raise ValueError(
            f"{name} has non-positive values, which have no logarithm: handle values below the "
            "LLOQ first (e.g. impute LLOQ/2 or analyse on the raw scale with log=False)"
        )


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


def _walsh_averages(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2)


def _signed_rank_pvalue(d: np.ndarray) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value with an explicit choice of the null distribution."""
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return math.nan, "all differences are zero: signed-rank test undefined"
    tied = _has_ties(np.abs(nonzero)) or nonzero.size < d.size
    if not tied and d.size <= _EXACT_SIGNED_RANK_P_MAX_N:
        return float(sps.wilcoxon(d, method="exact").pvalue), "p exact"
    if tied and d.size <= 13:
        # every sign assignment enumerated (2^13 < 9999): exact conditional on ties and zeros
        res = sps.wilcoxon(d, method=sps.PermutationMethod(n_resamples=9999))
        return float(res.pvalue), "p exact permutation (ties or zero differences)"
    res = sps.wilcoxon(d, method="asymptotic")
    return float(res.pvalue), "p normal approximation" + (", tie-corrected" if tied else "")


def _paired_method(n: int) -> str:
    """Method label saying which null distributions were used for ``n`` pairs."""
    if n <= _EXACT_SIGNED_RANK_P_MAX_N:
        return METHOD_PAIRED
    ci = "exact CI" if n <= _EXACT_SIGNED_RANK_MAX_N else "asymptotic CI"
    return (
        f"Wilcoxon signed-rank, normal approximation (N > {_EXACT_SIGNED_RANK_P_MAX_N}); "
        f"Hodges–Lehmann shift, {ci}"
    )


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

    Size switches (as R's ``wilcox.test``, exact below 50 values): above 50 pairs the p-value is
    the normal approximation and ``method`` says so; above 500 pairs the CI order statistic C
    comes from the normal approximation of T+ (C = round(N(N+1)/4 - z·sd)) and the three order
    statistics of the N(N+1)/2 Walsh averages are found by selection on the value without
    building them (O(N) memory, O(N log N) per step).

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

    With fewer than :data:`MIN_PAIRS` (2) complete pairs the row has no numbers and the note
    "not estimable: 1 complete pair" (never one patient's own change).

    Raises
    ------
    ValueError
        Unequal lengths, non-positive values with ``log=True``.
    """
    ci_level = validate_ci_level(ci_level)
    x, y = _complete_pairs(before, after, "before", "after", allow_empty=True)
    if x.size < MIN_PAIRS:
        method = METHOD_PAIRED + ("; log scale, back-transformed to a ratio" if log else "")
        row = _not_estimable_row(parameter, x.size, ci_level, method, _pairs_text(x.size))
        return _table([row | {"n": x.size}])
    if log:
        _require_positive(np.concatenate([x, y]), "before/after")
        d = np.log(y) - np.log(x)
    else:
        d = y - x
    n = d.size
    null_sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    if n <= _EXACT_SIGNED_RANK_MAX_N:
        walsh = _walsh_averages(d)
        estimate = float(np.median(walsh))
        cdf = _signed_rank_cdf(n)
        lower, upper, ci_note = _hodges_lehmann_ci(walsh, cdf, n * (n + 1) / 4, null_sd, ci_level)
    else:
        estimate, lower, upper, ci_note = _hodges_lehmann_large(
            _WalshAverages(d), n * (n + 1) / 4, null_sd, ci_level
        )
    if _has_ties(d):
        ci_note = "; ".join(s for s in (ci_note, "tied differences: CI approximate") if s)
    p_value, p_note = _signed_rank_pvalue(d)
    method = _paired_method(n)
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
        One estimate-table row (``n`` NA, ``N`` complete pairs). With fewer than
        :data:`MIN_PAIRS` (2) complete pairs: no numbers, note "not estimable: 1 complete pair".
        With identical log ratios the t-test is undefined: degenerate CI, ``p_value`` NaN,
        explained in ``note``.

    Raises
    ------
    ValueError
        Non-positive values (handle values below the LLOQ first).
    """
    ci_level = validate_ci_level(ci_level)
    x, y = _complete_pairs(before, after, "before", "after", allow_empty=True)
    if x.size < MIN_PAIRS:
        row = _not_estimable_row(parameter, x.size, ci_level, METHOD_GMR, _pairs_text(x.size))
        return _table([row])
    _require_positive(np.concatenate([x, y]), "before/after")
    d = np.log(y) - np.log(x)
    mean = float(d.mean())
    if np.allclose(d, d[0], rtol=1e-12, atol=1e-12):  # rounding noise of log()
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
    vs the reference visit. CIs and p-values are Wald (normal) with the fixed-effect covariance
    (X'V^-1X)^-1 at the REML variances, as lme4, nlme and SAS report it
    (:func:`helpers.endpoints.stats.censored.compute_conventional_fe_cov`); Wald intervals are
    somewhat anti-conservative with 10–40 subjects.

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
    # lme4/nlme/SAS fixed-effect covariance (X'V^-1X)^-1 at the REML variances; statsmodels'
    # bse_fe (inverse full information) is slightly wider on unbalanced data
    tau2 = float(np.asarray(result.cov_re)[0, 0])
    cov = compute_conventional_fe_cov(exog, data[subject_col].to_numpy(), tau2, result.scale)
    fe = np.asarray(result.fe_params, dtype=float)
    se = np.sqrt(np.diag(cov))
    z = sps.norm.ppf(0.5 + ci_level / 2)
    ci = np.column_stack([fe - z * se, fe + z * se])
    pvalues = 2 * sps.norm.sf(np.abs(fe / se))
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
            p_value=pvalues[k],
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
            note=f"not estimable: no patient with both {earlier} and {later}",
        )
    try:
        table = compute_paired_change(block[earlier], block[later], label, ci_level, log=log)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from exc
    return table.iloc[0].to_dict()
