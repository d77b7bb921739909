"""Binomial proportions with confidence intervals, and tumour-response rates (ORR, DCR, CBR).

Every public function returns the shared estimate table (see ``docs/architecture.md``): one row
per estimate with ``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method``.

References
----------
Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the
binomial. Biometrika 1934;26:404-413.
Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc
1927;22:209-212.
Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of seven
methods. Stat Med 1998;17:857-872.
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247.
"""

from __future__ import annotations

import math
import numbers

import pandas as pd
from scipy import stats

from helpers.checks import validate_ci_level
from helpers.results import ESTIMATE_COLUMNS

__all__ = [
    "BOR_CATEGORIES",
    "compute_binomial_ci",
    "compute_proportion",
    "summarise_best_response",
    "summarise_response_rates",
]

#: Best-overall-response categories, best first; "MISSING" = no tumour assessment at all.
BOR_CATEGORIES: tuple[str, ...] = ("CR", "PR", "SD", "NON_CR_NON_PD", "PD", "NE", "MISSING")

_BOR_LABELS = {
    "CR": "complete response",
    "PR": "partial response",
    "SD": "stable disease",
    "NON_CR_NON_PD": "non-CR/non-PD",
    "PD": "progressive disease",
    "NE": "not evaluable",
    "MISSING": "no tumour assessment",
}

_METHOD_NAMES = {"clopper-pearson": "Clopper–Pearson exact", "wilson": "Wilson score"}

_ESTIMATE_COLUMNS = list(ESTIMATE_COLUMNS)


def _check_count(value: object, name: str) -> int:
    # bool is an int subclass in Python; a True/False count is almost certainly a bug upstream
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer count, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_method(method: str) -> str:
    if method not in _METHOD_NAMES:
        raise ValueError(f"method must be one of {sorted(_METHOD_NAMES)}, got {method!r}")
    return method


def _clopper_pearson(n: int, N: int, alpha: float) -> tuple[float, float]:
    # Exact limits are beta quantiles (Clopper & Pearson 1934); the beta distribution is
    # degenerate at 0/N and N/N, where the limits are 0 and 1 by definition.
    lower = 0.0 if n == 0 else float(stats.beta.ppf(alpha / 2, n, N - n + 1))
    upper = 1.0 if n == N else float(stats.beta.ppf(1 - alpha / 2, n + 1, N - n))
    return lower, upper


def _wilson(n: int, N: int, alpha: float) -> tuple[float, float]:
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = n / N
    denom = 1 + z**2 / N
    centre = (p + z**2 / (2 * N)) / denom
    half = z * math.sqrt(p * (1 - p) / N + z**2 / (4 * N**2)) / denom
    # At 0/N and N/N the limits are exactly 0 and 1; floating point would leave ~1e-17 residue.
    lower = 0.0 if n == 0 else max(0.0, centre - half)
    upper = 1.0 if n == N else min(1.0, centre + half)
    return lower, upper


def compute_binomial_ci(
    n: int, N: int, ci_level: float = 0.95, method: str = "clopper-pearson"
) -> tuple[float, float]:
    """Two-sided confidence interval for a binomial proportion ``n / N``.

    Parameters
    ----------
    n : int
        Number of patients with the event (0 <= n <= N).
    N : int
        Number of patients in the denominator (> 0).
    ci_level : float, default 0.95
        Two-sided confidence level.
    method : {"clopper-pearson", "wilson"}
        ``"clopper-pearson"``: exact interval from beta quantiles,
        ``[Beta(a/2; n, N-n+1), Beta(1-a/2; n+1, N-n)]`` with lower limit 0 when n = 0 and upper
        limit 1 when n = N (Clopper & Pearson 1934). Guaranteed coverage >= ci_level; the usual
        choice for single-arm phase II response rates.
        ``"wilson"``: score interval (Wilson 1927; method 3 of Newcombe 1998), closer to nominal
        coverage on average but not guaranteed.

    Returns
    -------
    tuple of float
        ``(ci_lower, ci_upper)`` on the proportion scale (0–1).

    Raises
    ------
    ValueError
        If N = 0 (no patients in the denominator), n > N, or arguments are out of range.
    """
    n = _check_count(n, "n")
    N = _check_count(N, "N")
    if N == 0:
        raise ValueError(
            "no patients in denominator (N = 0): a proportion needs at least one patient; "
            "check the analysis population filter"
        )
    if n > N:
        raise ValueError(f"n ({n}) cannot exceed N ({N}): n counts patients among the N analysed")
    alpha = 1 - validate_ci_level(ci_level)
    if _check_method(method) == "clopper-pearson":
        return _clopper_pearson(n, N, alpha)
    return _wilson(n, N, alpha)


def compute_proportion(
    n: int,
    N: int,
    parameter: str,
    ci_level: float = 0.95,
    method: str = "clopper-pearson",
) -> pd.DataFrame:
    """Proportion ``n / N`` with its confidence interval, as a one-row estimate table.

    Parameters
    ----------
    n, N : int
        Numerator and denominator (see :func:`compute_binomial_ci`).
    parameter : str
        What is estimated, in words a clinician reads (e.g. ``"ORR (CR+PR), treated (N=17)"``).
    ci_level : float, default 0.95
        Two-sided confidence level.
    method : {"clopper-pearson", "wilson"}
        Interval method (see :func:`compute_binomial_ci`).

    Returns
    -------
    pandas.DataFrame
        One row with columns ``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method``;
        ``estimate`` and the limits are proportions (0–1); ``method`` is
        ``"Clopper–Pearson exact"`` or ``"Wilson score"``.

    References
    ----------
    Clopper & Pearson, Biometrika 1934; Wilson, JASA 1927; Newcombe, Stat Med 1998;17:857.
    """
    if not isinstance(parameter, str) or not parameter.strip():
        raise TypeError("parameter must be a non-empty string describing the estimate")
    lower, upper = compute_binomial_ci(n, N, ci_level=ci_level, method=method)
    row = {
        "parameter": parameter,
        "n": int(n),
        "N": int(N),
        "estimate": int(n) / int(N),
        "ci_lower": lower,
        "ci_upper": upper,
        "ci_level": float(ci_level),
        "method": _METHOD_NAMES[method],
    }
    return pd.DataFrame([row], columns=_ESTIMATE_COLUMNS)


def _bor_values(bor: pd.DataFrame, response_col: str) -> pd.Series:
    if not isinstance(bor, pd.DataFrame):
        raise TypeError(f"bor must be a pandas DataFrame, got {type(bor).__name__}")
    if response_col not in bor.columns:
        raise ValueError(
            f"column {response_col!r} not in bor (columns: {list(bor.columns)}); "
            "pass response_col= the column holding the best overall response"
        )
    if "subject_id" in bor.columns and bor["subject_id"].duplicated().any():
        dups = bor.loc[bor["subject_id"].duplicated(), "subject_id"].unique()[:5]
        raise ValueError(f"bor must have one row per patient; duplicated subject_id: {list(dups)}")
    values = bor[response_col]
    if values.isna().any():
        raise ValueError(
            f"{int(values.isna().sum())} missing value(s) in {response_col!r}: code patients "
            "without any tumour assessment as 'MISSING' (they stay in the denominator)"
        )
    invalid = sorted(set(values.astype(str)) - set(BOR_CATEGORIES))
    if invalid:
        raise ValueError(
            f"invalid best-response codes in {response_col!r}: {invalid}; "
            f"allowed codes are {list(BOR_CATEGORIES)}"
        )
    return values.astype(str)


def summarise_response_rates(
    bor: pd.DataFrame,
    response_col: str = "AVALC",
    sd_duration_col: str | None = None,
    population_label: str = "treated",
    ci_level: float = 0.95,
    method: str = "clopper-pearson",
    cbr_min_weeks: float = 24,
) -> pd.DataFrame:
    """Objective response, disease control and clinical benefit rates with CIs.

    Denominator: every row of ``bor`` (one row per patient of the analysis population).
    Patients whose best response is NE or MISSING stay in the denominator and count as
    non-responders (intention-to-treat convention; RECIST 1.1 §4.3, Eisenhauer et al. 2009).

    Parameters
    ----------
    bor : pandas.DataFrame
        One row per patient, best overall response codes in ``response_col``
        (CR, PR, SD, NON_CR_NON_PD, PD, NE, MISSING).
    response_col : str, default "AVALC"
        Column holding the best overall response.
    sd_duration_col : str or None
        Column with the duration of stable disease in days (e.g. ``sd_duration_days`` from
        :func:`helpers.endpoints.recist.derive_best_overall_response`); None skips the CBR row.
    population_label : str, default "treated"
        Name of the analysis population, written into ``parameter``.
    ci_level : float, default 0.95
        Two-sided confidence level.
    method : {"clopper-pearson", "wilson"}
        Interval method (see :func:`compute_binomial_ci`).
    cbr_min_weeks : float, default 24
        Minimum SD duration for clinical benefit, in weeks.

    Returns
    -------
    pandas.DataFrame
        Estimate table, rows ORR, DCR (and CBR): ``parameter, n, N, estimate, ci_lower,
        ci_upper, ci_level, method``; e.g. ``parameter = "ORR (CR+PR), treated (N=17)"``.

    Raises
    ------
    ValueError
        If ``bor`` is empty (no patients in denominator), has duplicated patients, missing or
        unknown response codes, or ``sd_duration_col`` is absent.

    Notes
    -----
    - ORR: best overall response CR or PR.
    - DCR: CR, PR, SD or NON_CR_NON_PD (the non-target-only analogue of SD).
    - CBR: CR or PR, or SD / NON_CR_NON_PD lasting at least ``cbr_min_weeks`` weeks, i.e.
      ``sd_duration_col >= 7 * cbr_min_weeks`` days (a missing duration does not qualify).
      Only reported when ``sd_duration_col`` is given.
    """
    values = _bor_values(bor, response_col)
    if isinstance(cbr_min_weeks, bool) or not isinstance(cbr_min_weeks, numbers.Real):
        raise TypeError(f"cbr_min_weeks must be a number of weeks, got {cbr_min_weeks!r}")
    if cbr_min_weeks < 0:
        raise ValueError(f"cbr_min_weeks must be >= 0, got {cbr_min_weeks}")
    N = len(values)
    suffix = f", {population_label} (N={N})"
    responders = values.isin(["CR", "PR"])
    stable = values.isin(["SD", "NON_CR_NON_PD"])
    rows = [
        compute_proportion(int(responders.sum()), N, "ORR (CR+PR)" + suffix, ci_level, method),
        compute_proportion(
            int((responders | stable).sum()),
            N,
            "DCR (CR+PR+SD+NON-CR/NON-PD)" + suffix,
            ci_level,
            method,
        ),
    ]
    if sd_duration_col is not None:
        if sd_duration_col not in bor.columns:
            raise ValueError(
                f"sd_duration_col {sd_duration_col!r} not in bor (columns: {list(bor.columns)})"
            )
        duration = pd.to_numeric(bor[sd_duration_col], errors="raise").to_numpy(dtype=float)
        # NaN >= x is False, so a missing duration never counts as durable SD
        durable = stable.to_numpy() & (duration >= 7 * float(cbr_min_weeks))
        n_cbr = int(responders.sum() + durable.sum())
        weeks = f"{cbr_min_weeks:g}"
        rows.append(
            compute_proportion(
                n_cbr, N, f"CBR (CR+PR or SD ≥{weeks} weeks)" + suffix, ci_level, method
            )
        )
    return pd.concat(rows, ignore_index=True)


def summarise_best_response(
    bor: pd.DataFrame, response_col: str = "AVALC", ci_level: float = 0.95
) -> pd.DataFrame:
    """Distribution of best overall response, one row per category with exact CIs.

    Categories in fixed order CR, PR, SD, NON_CR_NON_PD, PD, NE, MISSING (categories with no
    patient are kept with n = 0). The denominator is every row of ``bor``.

    Parameters
    ----------
    bor : pandas.DataFrame
        One row per patient with best-response codes in ``response_col``.
    response_col : str, default "AVALC"
        Column holding the best overall response.
    ci_level : float, default 0.95
        Two-sided confidence level of the Clopper–Pearson exact interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter, category, n, N, estimate, percentage, ci_lower, ci_upper,
        ci_level, method``; ``estimate`` and limits are proportions, ``percentage`` is
        ``100 * estimate``.

    References
    ----------
    Clopper & Pearson, Biometrika 1934; Eisenhauer et al., Eur J Cancer 2009 (RECIST 1.1).
    """
    values = _bor_values(bor, response_col)
    N = len(values)
    counts = values.value_counts()
    tables = []
    for category in BOR_CATEGORIES:
        n = int(counts.get(category, 0))
        label = f"Best overall response {category} ({_BOR_LABELS[category]}), N={N}"
        table = compute_proportion(n, N, label, ci_level, "clopper-pearson")
        table.insert(1, "category", category)
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    out.insert(out.columns.get_loc("estimate") + 1, "percentage", 100 * out["estimate"])
    return out
