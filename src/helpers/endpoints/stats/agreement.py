"""Agreement and diagnostic accuracy: Cohen's kappa, ICC, Bland–Altman, 2x2 cross tables,
sensitivity/specificity, ROC with DeLong CI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.inter_rater import cohens_kappa as _sm_cohens_kappa

from helpers.checks import validate_ci_level
from helpers.endpoints.rates import compute_binomial_ci
from helpers.endpoints.stats._common import (
    _as_float_array,
    _complete_pairs,
    _mann_whitney_pvalue,
    _row,
    _table,
    _z,
)

METHOD_KAPPA = "Cohen's kappa, asymptotic CI (Fleiss, Cohen & Everitt 1969 SE)"
METHOD_BA = "Bland–Altman bias and 95% limits of agreement, approximate CIs"
METHOD_CP = "Clopper–Pearson exact"
METHOD_ROC = "Empirical AUC (Mann–Whitney), DeLong CI; p: Mann–Whitney U"


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
    pos, neg = np.sort(score[truth]), np.sort(score[~truth])
    # counts of scores >= each threshold by binary search: O((T + N) log N), not T x N
    tpr = (pos.size - np.searchsorted(pos, thresholds, side="left")) / pos.size
    fpr = (neg.size - np.searchsorted(neg, thresholds, side="left")) / neg.size
    return pd.DataFrame(
        {
            "fpr": [0.0, *fpr.tolist()],
            "tpr": [0.0, *tpr.tolist()],
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
