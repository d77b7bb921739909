"""Power statement for a ratio of geometric means (paired design, log scale).

The smallest ratio of geometric means detectable with a given number of pairs: on the log scale
the paired t-test has effect size δ/σ_d (σ_d = SD of the paired log differences); solving the
noncentral-t power equation for δ at the given α and power (statsmodels ``TTestPower``, the
calculation of R ``power.t.test(type = "paired")``) gives detectable GMRs exp(−δ) (decrease) and
exp(δ) (increase). Reported with the enrolled and the evaluable numbers, it lets a reader judge
whether a non-significant primary result is informative.

References
----------
Julious SA. Sample sizes for clinical trials with normal data. Stat Med 2004;23:1921-1986.
Chow SC, Shao J, Wang H. Sample Size Calculations in Clinical Research, 2nd ed. 2008, ch. 3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
from statsmodels.stats.power import TTestPower

__all__ = ["compute_detectable_gmr", "compute_detectable_gmr_not_estimable"]


def compute_detectable_gmr(
    n_pairs: Mapping[str, int], sd_log: float, alpha: float = 0.05, power: float = 0.80
) -> pd.DataFrame:
    """Detectable ratio of geometric means for each number of pairs (two-sided paired t-test).

    Parameters
    ----------
    n_pairs : mapping label -> int
        E.g. ``{"enrolled": 36, "evaluable (primary analysis)": 20}``.
    sd_log : float
        SD of the paired differences of natural-log values (> 0).
    alpha, power : float
        Two-sided significance level and power.

    Returns
    -------
    pandas.DataFrame
        ``population, pairs, sd_log, alpha, power, effect_size, detectable_gmr_decrease,
        detectable_gmr_increase, note`` (fewer than 2 pairs: NaN and a note).
    """
    if not (sd_log > 0 and math.isfinite(sd_log)):
        raise ValueError(f"sd_log must be a positive number, got {sd_log!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")
    rows = []
    for label, n in n_pairs.items():
        n = int(n)
        if n < 2:
            es, note = math.nan, f"not estimable: {n} pair(s)"
        else:
            es = float(
                TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")
            )
            note = ""
        delta = es * sd_log
        rows.append(
            {
                "population": label,
                "pairs": n,
                "sd_log": sd_log,
                "alpha": alpha,
                "power": power,
                "effect_size": es,
                "detectable_gmr_decrease": math.exp(-delta),
                "detectable_gmr_increase": math.exp(delta),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def compute_detectable_gmr_not_estimable(
    n_pairs: Mapping[str, int], reason: str, alpha: float = 0.05, power: float = 0.80
) -> pd.DataFrame:
    """The table of :func:`compute_detectable_gmr` when σ_d is not defined (e.g. fewer than 2
    pairs to estimate it from, or all paired differences equal).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`compute_detectable_gmr`, one row per population with its pairs,
        NaN numbers and ``note`` = "not estimable: <reason>".
    """
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")
    return pd.DataFrame(
        [
            {
                "population": label,
                "pairs": int(n),
                "sd_log": math.nan,
                "alpha": alpha,
                "power": power,
                "effect_size": math.nan,
                "detectable_gmr_decrease": math.nan,
                "detectable_gmr_increase": math.nan,
                "note": f"not estimable: {reason}",
            }
            for label, n in n_pairs.items()
        ]
    )
