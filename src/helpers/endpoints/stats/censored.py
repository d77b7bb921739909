"""Censored-normal (Tobit) likelihood and mixed-model standard errors by (X'V^-1X)^-1.

- :func:`compute_censored_normal_fit`: maximum likelihood for a normal linear model with left-,
  right- or interval-censored responses (Tobin 1958), the model of R's
  ``survreg(Surv(...), dist = "gaussian")``; fitted with statsmodels'
  ``GenericLikelihoodModel`` (BFGS, numerical observed-information standard errors).
- :func:`compute_censored_gmr`: the ratio of geometric means of paired positive values when some
  values are below a limit of quantification: the paired log ratio is exact, right-censored
  (baseline < LLOQ), left-censored (follow-up < LLOQ) or unknown (both), and its mean comes from
  the censored-normal likelihood.
- :func:`compute_conventional_fe_cov`: covariance of the fixed effects of a random-intercept
  linear mixed model as (Σ X_i' V_i^-1 X_i)^-1 with V_i = σ² I + τ² J, the formula of lme4, nlme
  and SAS PROC MIXED (Laird & Ware 1982).

References
----------
Tobin J. Estimation of relationships for limited dependent variables. Econometrica 1958;26:24-36.
Therneau TM. survival: A Package for Survival Analysis in R (``survreg``).
Lubin JH et al. Epidemiologic evaluation of measurement data in the presence of detection limits.
Environ Health Perspect 2004;112:1691-1696.
Laird NM, Ware JH. Random-effects models for longitudinal data. Biometrics 1982;38:963-974.
Bates D et al. Fitting linear mixed-effects models using lme4. J Stat Softw 2015;67(1).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.base.model import GenericLikelihoodModel
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from helpers.checks import validate_ci_level
from helpers.endpoints.stats._common import _row, _table

__all__ = [
    "METHOD_TOBIT_GMR",
    "CensoredNormalFit",
    "compute_censored_gmr",
    "compute_censored_normal_fit",
    "compute_conventional_fe_cov",
]

METHOD_TOBIT_GMR = (
    "censored-normal (Tobit) likelihood on the paired log ratio (values < LLOQ censored), Wald CI"
)


@dataclass(frozen=True)
class CensoredNormalFit:
    """Result of :func:`compute_censored_normal_fit`.

    Attributes
    ----------
    params : numpy.ndarray
        Regression coefficients, then log(scale) (as ``survreg`` reports them).
    bse : numpy.ndarray
        Standard errors (inverse observed information), same order.
    loglik : float
        Maximised log-likelihood.
    n_exact, n_left, n_right, n_interval : int
        Observations by censoring type.
    converged : bool
        Optimiser status.
    """

    params: np.ndarray
    bse: np.ndarray
    loglik: float
    n_exact: int
    n_left: int
    n_right: int
    n_interval: int
    converged: bool

    @property
    def scale(self) -> float:
        """Residual standard deviation σ."""
        return float(math.exp(self.params[-1]))


class _CensoredNormal(GenericLikelihoodModel):
    """Normal linear model with bounds [lower, upper] per observation (equal = exact)."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray, exog: np.ndarray) -> None:
        endog = np.where(np.isfinite(lower), lower, upper)
        super().__init__(endog, exog, extra_params_names=["log(scale)"])
        self.lower, self.upper = lower, upper
        self.exact = lower == upper

    def loglikeobs(self, params: np.ndarray) -> np.ndarray:
        beta, sigma = params[:-1], np.exp(params[-1])
        mu = self.exog @ beta
        zl = (self.lower - mu) / sigma
        zu = (self.upper - mu) / sigma
        out = np.empty(len(mu))
        ex = self.exact
        out[ex] = sps.norm.logpdf(zl[ex]) - params[-1]
        cen = ~ex
        with np.errstate(divide="ignore"):
            # log(Φ(zu) − Φ(zl)), computed on the tail where it is accurate
            upper_tail = zl[cen] > 0
            p = np.where(
                upper_tail,
                sps.norm.sf(zl[cen]) - sps.norm.sf(zu[cen]),
                sps.norm.cdf(zu[cen]) - sps.norm.cdf(zl[cen]),
            )
            out[cen] = np.log(np.maximum(p, 1e-300))
        return out


def compute_censored_normal_fit(
    lower: np.ndarray | pd.Series, upper: np.ndarray | pd.Series, exog: np.ndarray | None = None
) -> CensoredNormalFit:
    """Maximum-likelihood normal linear model with censored responses (Tobit / ``survreg``).

    Each response is known to lie in [lower, upper]: equal bounds = observed exactly, lower =
    −inf = left-censored at ``upper``, upper = +inf = right-censored at ``lower``, finite and
    different = interval-censored; (−inf, +inf) carries no information. Log-likelihood: Σ over
    exact log φ((y−μ)/σ)/σ + Σ over censored log[Φ((u−μ)/σ) − Φ((l−μ)/σ)], μ = Xβ, maximised over
    (β, log σ) by BFGS from the least-squares start on the interval midpoints (statsmodels
    ``GenericLikelihoodModel``); standard errors from the numerical observed information, as
    ``survreg`` reports them (Wald).

    Parameters
    ----------
    lower, upper : array-like
        Bounds per observation.
    exog : numpy.ndarray, optional
        Design matrix (default: intercept only).

    Returns
    -------
    CensoredNormalFit

    Raises
    ------
    ValueError
        Bounds of different length, lower > upper, NaN bounds, or fewer than 2 exact values.
    """
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    if lo.shape != hi.shape or lo.ndim != 1:
        raise ValueError("lower and upper must be 1-d arrays of the same length")
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("lower/upper contain NaN: use -inf/+inf for open bounds")
    if (lo > hi).any():
        raise ValueError("lower must be <= upper for every observation")
    X = np.ones((len(lo), 1)) if exog is None else np.asarray(exog, dtype=float)
    if X.ndim != 2 or X.shape[0] != len(lo):
        raise ValueError("exog must be a 2-d array with one row per observation")
    exact = lo == hi
    if exact.sum() < 2:
        raise ValueError("at least 2 exactly observed values are needed to fit a scale")
    mid = np.where(exact, lo, np.where(np.isfinite(lo), lo, hi))
    mid = np.where(np.isfinite(lo) & np.isfinite(hi), (lo + hi) / 2, mid)
    beta0, *_ = np.linalg.lstsq(X[exact], mid[exact], rcond=None)
    sd0 = float(np.std(mid[exact] - X[exact] @ beta0)) or 1.0
    model = _CensoredNormal(lo, hi, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, HessianInversionWarning))
        res = model.fit(
            start_params=np.r_[beta0, math.log(sd0)],
            method="bfgs",
            maxiter=2000,
            gtol=1e-8,
            disp=False,
        )
    left = ~np.isfinite(lo) & np.isfinite(hi)
    right = np.isfinite(lo) & ~np.isfinite(hi)
    return CensoredNormalFit(
        params=np.asarray(res.params, dtype=float),
        bse=np.asarray(res.bse, dtype=float),
        loglik=float(res.llf),
        n_exact=int(exact.sum()),
        n_left=int(left.sum()),
        n_right=int(right.sum()),
        n_interval=int((~exact & ~left & ~right).sum()),
        converged=bool(res.mle_retvals.get("converged", True)),
    )


def compute_censored_gmr(
    before: np.ndarray | pd.Series,
    after: np.ndarray | pd.Series,
    before_censored: np.ndarray | pd.Series,
    after_censored: np.ndarray | pd.Series,
    lloq_before: np.ndarray | pd.Series,
    lloq_after: np.ndarray | pd.Series,
    parameter: str,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Ratio of geometric means after/before with values below the LLOQ treated as censored.

    Method: d = log(after) − log(before) per patient. Both quantified: d exact. Baseline below
    its LLOQ: d > log(after) − log(LLOQ) (right-censored). Follow-up below: d < log(LLOQ) −
    log(before) (left-censored). Both below: d unknown (no information, counted in N but not in
    the likelihood). The mean of d and its standard error come from
    :func:`compute_censored_normal_fit` (censored-normal likelihood, Lubin et al. 2004); GMR =
    exp(mean), Wald CI exp(mean ± z·SE), Wald p for mean = 0.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (``parameter, n`` = pairs with a censored value, ``N`` pairs,
        estimate, CI, ``method``, ``p_value``, ``note``); a "not estimable" row when fewer than
        2 pairs are quantified at both visits.
    """
    ci_level = validate_ci_level(ci_level)
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    cb = np.asarray(before_censored, dtype=bool)
    ca = np.asarray(after_censored, dtype=bool)
    lb = np.asarray(lloq_before, dtype=float)
    la = np.asarray(lloq_after, dtype=float)
    n = len(b)
    if not all(len(x) == n for x in (a, cb, ca, lb, la)):
        raise ValueError("before, after, censoring flags and LLOQs must have the same length")
    if ((~cb & ~(b > 0)) | (~ca & ~(a > 0))).any():
        raise ValueError("quantified values must be > 0 (log scale)")
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.log(a) - np.log(b)
        lower = np.where(~cb & ~ca, exact, np.where(cb & ~ca, np.log(a) - np.log(lb), -np.inf))
        upper = np.where(~cb & ~ca, exact, np.where(ca & ~cb, np.log(la) - np.log(b), np.inf))
    n_cens = int((cb | ca).sum())
    method = METHOD_TOBIT_GMR
    if int((~cb & ~ca).sum()) < 2:
        row = _row(parameter, n, math.nan, (math.nan, math.nan), ci_level, method, n=n_cens)
        row["note"] = "not estimable: fewer than 2 pairs quantified at both visits"
        return _table([row])
    fit = compute_censored_normal_fit(lower, upper)
    mean, se = float(fit.params[0]), float(fit.bse[0])
    z = sps.norm.ppf(0.5 + ci_level / 2)
    p = float(2 * sps.norm.sf(abs(mean / se))) if se > 0 else math.nan
    note = f"{n_cens} pair(s) with a value below the LLOQ treated as censored"
    if not fit.converged:
        note += "; optimiser did not converge"
    row = _row(
        parameter,
        n,
        math.exp(mean),
        (math.exp(mean - z * se), math.exp(mean + z * se)),
        ci_level,
        method,
        n=n_cens,
        p_value=p,
        note=note,
    )
    return _table([row])


def compute_conventional_fe_cov(
    exog: np.ndarray, groups: np.ndarray, tau2: float, sigma2: float
) -> np.ndarray:
    """Fixed-effect covariance (Σ_i X_i' V_i⁻¹ X_i)⁻¹ of a random-intercept linear mixed model.

    V_i = σ² I + τ² 11' for the n_i rows of group i; its inverse in closed form is
    (I − τ²/(σ² + n_i τ²) 11') / σ². This is the covariance lme4, nlme and SAS PROC MIXED report
    (evaluated at the REML variance estimates); statsmodels' ``MixedLM`` reports the inverse of
    the full observed information instead, slightly wider at small n.

    Parameters
    ----------
    exog : numpy.ndarray
        Fixed-effects design (n × p).
    groups : numpy.ndarray
        Group label per row.
    tau2, sigma2 : float
        Random-intercept and residual variances.

    Returns
    -------
    numpy.ndarray
        p × p covariance matrix.
    """
    X = np.asarray(exog, dtype=float)
    g = np.asarray(groups)
    if X.ndim != 2 or len(g) != X.shape[0]:
        raise ValueError("exog must be n x p and groups of length n")
    if not (sigma2 > 0 and tau2 >= 0):
        raise ValueError(f"variances must be sigma2 > 0 and tau2 >= 0, got {sigma2}, {tau2}")
    info = np.zeros((X.shape[1], X.shape[1]))
    for label in pd.unique(g):
        Xi = X[g == label]
        s = Xi.sum(axis=0)
        shrink = tau2 / (sigma2 + len(Xi) * tau2)
        info += (Xi.T @ Xi - shrink * np.outer(s, s)) / sigma2
    return np.linalg.inv(info)
