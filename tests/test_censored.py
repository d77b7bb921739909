"""Censored-normal (Tobit) likelihood and lme4-style mixed-model standard errors.

References quoted:
- R survival ``survreg(Surv(durable, durable > 0, type = "left") ~ ..., data = tobin,
  dist = "gaussian")`` on Tobin's (1958) data, as printed in the README of the R package
  ``outreg`` (intercept-only model: −2.227 [2.060], log(scale) 1.783 [0.309], AIC 62.984;
  ``~ age + quant``: 15.145 [16.079], −0.129 [0.219], −0.046 [0.058], log(scale) 1.718 [0.310],
  AIC 65.880).
- lme4 ``lmer(Reaction ~ Days + (1 | Subject), sleepstudy)`` (REML): fixed effects 251.4051
  (SE 9.7467) and 10.4673 (SE 0.8042); variances Subject 1378.2, residual 960.5 (lme4
  documentation / Bates et al. 2015). The sleepstudy data (Belenky et al. 2003, shipped with lme4)
  are in ``tests/fixtures/reference/sleepstudy.csv``.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from helpers.endpoints import stats

FIXTURES = Path(__file__).parent / "fixtures" / "reference"

# survival::tobin (Tobin 1958): durable goods purchase, age, liquidity ratio (x 1000)
DURABLE = [0, 0.7, 0, 0, 0, 0, 0, 3.7, 0, 3, 10.4, 0, 0, 0, 1.5, 0, 0, 3.5, 6.1, 0]
AGE = [57.7, 50.9, 48.5, 41.7, 47.7, 59.8, 44.3, 45.1, 51.7, 50, 46.8, 58, 58.9, 40, 34.1, 39.9,
       33.4, 48.1, 46.6, 53.1]  # fmt: skip
QUANT = [236, 283, 207, 220, 238, 216, 284, 221, 275, 269, 207, 249, 246, 277, 231, 219, 240,
         266, 214, 251]  # fmt: skip


def _tobin_bounds():
    y = np.asarray(DURABLE, dtype=float)
    return np.where(y > 0, y, -np.inf), y


def test_tobit_intercept_only_matches_survreg():
    lo, hi = _tobin_bounds()
    fit = stats.compute_censored_normal_fit(lo, hi)
    np.testing.assert_allclose(fit.params, [-2.227, 1.783], atol=6e-4)
    np.testing.assert_allclose(fit.bse, [2.060, 0.309], atol=6e-4)
    assert -2 * fit.loglik + 2 * 2 == pytest.approx(62.984, abs=1e-3)
    assert (fit.n_exact, fit.n_left, fit.n_right) == (7, 13, 0)


def test_tobit_regression_matches_survreg():
    lo, hi = _tobin_bounds()
    X = np.column_stack([np.ones(20), AGE, QUANT])
    fit = stats.compute_censored_normal_fit(lo, hi, X)
    np.testing.assert_allclose(fit.params, [15.145, -0.129, -0.046, 1.718], atol=6e-4)
    np.testing.assert_allclose(fit.bse, [16.079, 0.219, 0.058, 0.310], atol=6e-4)
    assert -2 * fit.loglik + 2 * 4 == pytest.approx(65.880, abs=1e-3)


def test_tobit_without_censoring_is_the_normal_mle():
    y = np.array([1.0, 2.5, 0.3, 4.2, 2.2, 3.1])
    fit = stats.compute_censored_normal_fit(y, y)
    assert fit.params[0] == pytest.approx(y.mean(), abs=1e-5)
    assert fit.scale == pytest.approx(y.std(ddof=0), rel=1e-4)


def test_censored_gmr_uses_censoring_and_reports_count():
    rng = np.random.default_rng(1)
    before = np.exp(rng.normal(3, 0.5, 20))
    after = before * np.exp(rng.normal(-0.3, 0.4, 20))
    cb = np.zeros(20, bool)
    cb[0] = True
    out = stats.compute_censored_gmr(
        before, after, cb, np.zeros(20, bool), np.full(20, 15.0), np.full(20, 15.0), "x"
    )
    row = out.iloc[0]
    assert row["N"] == 20
    assert row["n"] == 1
    assert row["ci_lower"] < row["estimate"] < row["ci_upper"]
    assert "1 pair" in row["note"]


def test_censored_gmr_not_estimable_row():
    both_below = [True, True]
    out = stats.compute_censored_gmr([1, 2], [1, 2], both_below, [False] * 2, [5, 5], [5, 5], "x")
    assert np.isnan(out["estimate"].iloc[0])
    assert out["note"].iloc[0].startswith("not estimable")


def test_bad_bounds_raise():
    with pytest.raises(ValueError, match="lower must be <= upper"):
        stats.compute_censored_normal_fit([2.0, 1.0, 1.0], [1.0, 1.0, 1.0])


def _sleepstudy():
    d = pd.read_csv(FIXTURES / "sleepstudy.csv")
    return d, np.column_stack([np.ones(len(d)), d["Days"]])


def test_conventional_fe_se_reproduce_lme4_sleepstudy():
    d, X = _sleepstudy()
    fit = MixedLM(d["Reaction"], X, groups=d["Subject"], exog_re=np.ones((len(d), 1))).fit(
        reml=True
    )
    tau2 = float(np.asarray(fit.cov_re)[0, 0])
    assert tau2 == pytest.approx(1378.2, abs=0.1)
    assert fit.scale == pytest.approx(960.5, abs=0.1)
    np.testing.assert_allclose(fit.fe_params, [251.4051, 10.4673], atol=1e-4)
    cov = stats.compute_conventional_fe_cov(X, d["Subject"].to_numpy(), tau2, fit.scale)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [9.7467, 0.8042], atol=1e-4)


def test_compute_mixed_model_ci_uses_conventional_se():
    d, _ = _sleepstudy()
    long = d[d["Days"].isin([0, 9])].rename(
        columns={"Reaction": "AVAL", "Subject": "USUBJID", "Days": "AVISIT"}
    )
    long = long[~((long["AVISIT"] == 9) & long["USUBJID"].isin([308, 309, 310]))]  # unbalanced
    long["AVISIT"] = long["AVISIT"].map({0: "BASELINE", 9: "D9"})
    out = stats.compute_mixed_model(long, log=False, reference="BASELINE")
    y = long["AVAL"].to_numpy()
    X = np.column_stack([np.ones(len(long)), (long["AVISIT"] == "D9").to_numpy(float)])
    fit = MixedLM(y, X, groups=long["USUBJID"], exog_re=np.ones((len(long), 1))).fit(reml=True)
    cov = stats.compute_conventional_fe_cov(
        X, long["USUBJID"].to_numpy(), float(np.asarray(fit.cov_re)[0, 0]), fit.scale
    )
    se = np.sqrt(cov[1, 1])
    half = (out["ci_upper"].iloc[0] - out["ci_lower"].iloc[0]) / 2
    assert half == pytest.approx(1.959964 * se, rel=1e-6)
    assert se <= fit.bse_fe[1] * (1 + 1e-9)  # statsmodels' own SE is not narrower
