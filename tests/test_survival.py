"""Tests for helpers.endpoints.survival.

Reference data sets
-------------------
- AML (Miller 1981, "Survival Analysis", Wiley; R ``survival::aml``): maintained arm 9, 13, 13+,
  18, 23, 28+, 31, 34, 45+, 48, 161+; non-maintained arm 5, 5, 8, 8, 12, 16+, 23, 27, 30, 33, 43,
  45. Every KM number asserted below is recomputed in this file by hand (product-limit and
  Greenwood formulas written out independently of lifelines).
- Rossi recidivism data (Rossi, Berk & Lenihan 1980; lifelines.datasets.load_rossi), Cox model
  with fin, age, race, wexp, mar, paro, prio: published R coxph estimates (Fox J, "Cox
  Proportional-Hazards Regression for Survival Data", appendix to An R Companion to Applied
  Regression, 2002/2011): prio coef 0.0915, exp(coef) 1.096, se 0.0286. Also cross-checked against
  statsmodels PHReg (an independent implementation).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.endpoints.survival import (
    DAYS_PER_MONTH,
    PFS_RULES_FDA,
    PFS_RULES_SIMPLE,
    CensoringRules,
    LandmarkResult,
    compute_cox,
    compute_km_median,
    compute_logrank,
    compute_median_followup,
    derive_landmark,
    derive_os,
    derive_pfs,
    summarise_km,
)

AML_MAINTAINED = pd.DataFrame(
    {
        "AVAL": [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161],
        "CNSR": [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1],
    }
)
AML_NONMAINTAINED = pd.DataFrame(
    {
        "AVAL": [5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45],
        "CNSR": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    }
)
Z975 = stats.norm.ppf(0.975)


def _hand_km(times, cnsr):
    """Independent product-limit + Greenwood + log(-log) band, by the textbook formulas.

    Returns rows (t, S, lower, upper) at each distinct event time (Kalbfleisch & Prentice 2002,
    eq. 1.10 / Collett 2015 §2.2.3: var(log(-log S)) = sum d/(n(n-d)) / (log S)^2).
    """
    times, events = np.asarray(times, float), 1 - np.asarray(cnsr)
    s, greenwood, out = 1.0, 0.0, []
    for t in np.unique(times[events == 1]):
        n_risk = np.sum(times >= t)
        d = np.sum((times == t) & (events == 1))
        s *= 1 - d / n_risk
        if n_risk > d:
            greenwood += d / (n_risk * (n_risk - d))
            se = np.sqrt(greenwood) / abs(np.log(s))
            lo = np.exp(-np.exp(np.log(-np.log(s)) + Z975 * se))
            hi = np.exp(-np.exp(np.log(-np.log(s)) - Z975 * se))
        else:
            lo = hi = np.nan
        out.append((t, s, lo, hi))
    return out


def _row(table, statistic, time=None):
    sel = table["statistic"] == statistic
    if time is not None:
        sel &= table["time_months"] == time
    assert sel.sum() == 1
    return table[sel].iloc[0]


# ---------------------------------------------------------------- Kaplan–Meier


def test_hand_km_reproduces_textbook_aml_s12():
    # Guard for the hand routine itself: S(12) = 10/11 for the maintained arm (Miller 1981).
    rows = _hand_km(AML_MAINTAINED["AVAL"], AML_MAINTAINED["CNSR"])
    assert rows[0][0] == 9
    assert rows[0][1] == pytest.approx(10 / 11)


def test_km_s12_and_loglog_ci_match_hand_greenwood_aml_maintained():
    # S(12) = 0.9091, log-log 95% CI (0.5081, 0.9867): R survfit(conf.type="log-log") on
    # survival::aml, confirmed here by the hand Greenwood computation.
    t, s, lo, hi = _hand_km(AML_MAINTAINED["AVAL"], AML_MAINTAINED["CNSR"])[0]
    assert t == 9  # first event; S is constant on [9, 13) so S(12) = S(9)
    table = summarise_km(AML_MAINTAINED, "AML maintained", landmarks=(12,))
    row = _row(table, "survival", 12)
    assert row["estimate"] == pytest.approx(s, abs=1e-10)
    assert row["ci_lower"] == pytest.approx(lo, abs=1e-8)
    assert row["ci_upper"] == pytest.approx(hi, abs=1e-8)
    assert (round(row["estimate"], 4), round(row["ci_lower"], 4), round(row["ci_upper"], 4)) == (
        0.9091,
        0.5081,
        0.9867,
    )
    assert (row["n"], row["N"], row["method"]) == (7, 11, "Kaplan–Meier, log-log CI")


def test_km_median_31_ci_13_to_not_reached_matches_hand_loglog_band_aml_maintained():
    # Median 31 (Miller 1981; R print(survfit) median 31). With conf.type="log-log" the lower
    # limit is 13 (the hand band's lower limit first drops to <= 0.5 at t = 13: 0.447), not the
    # 18 printed by R's default conf.type="log"; the upper band never reaches 0.5 -> NA.
    hand = _hand_km(AML_MAINTAINED["AVAL"], AML_MAINTAINED["CNSR"])
    hand_lower = next(t for t, _, lo, _ in hand if lo <= 0.5)
    assert all(hi > 0.5 for *_, hi in hand if not np.isnan(hi))
    row = _row(summarise_km(AML_MAINTAINED, "AML maintained"), "median")
    assert row["estimate"] == 31
    assert row["ci_lower"] == hand_lower == 13
    assert np.isnan(row["ci_upper"])
    assert "upper CI limit not reached" in row["note"]


def test_km_median_ci_log_transform_would_give_18_hand_check_aml_maintained():
    # Documents why the brief's "18-NA" is R's default log CI: hand log-scale band
    # S*exp(-z*sqrt(greenwood)) first reaches 0.5 at t = 18. Our table uses log-log (13).
    times, cnsr = AML_MAINTAINED["AVAL"].to_numpy(), AML_MAINTAINED["CNSR"].to_numpy()
    s, gw, first = 1.0, 0.0, None
    for t in np.unique(times[cnsr == 0]):
        n, d = np.sum(times >= t), np.sum((times == t) & (cnsr == 0))
        s *= 1 - d / n
        gw += d / (n * (n - d))
        if first is None and s * np.exp(-Z975 * np.sqrt(gw)) <= 0.5:
            first = t
    assert first == 18
    assert _row(summarise_km(AML_MAINTAINED, "x"), "median")["ci_lower"] != 18


def test_km_nonmaintained_median_and_ci_match_hand_loglog_band_aml():
    hand = _hand_km(AML_NONMAINTAINED["AVAL"], AML_NONMAINTAINED["CNSR"])
    median = next(t for t, s, *_ in hand if s <= 0.5)
    lower = next(t for t, _, lo, _ in hand if lo <= 0.5)
    upper = next(t for t, _, _, hi in hand if hi <= 0.5)
    row = _row(summarise_km(AML_NONMAINTAINED, "AML non-maintained"), "median")
    assert (row["estimate"], row["ci_lower"], row["ci_upper"]) == (median, lower, upper)
    assert median == 23  # Miller 1981 / R print(survfit(...)): median 23


def test_km_grouped_rows_per_arm_aml():
    aml = pd.concat(
        [AML_MAINTAINED.assign(x="Maintained"), AML_NONMAINTAINED.assign(x="Nonmaintained")]
    )
    table = summarise_km(aml, "AML", landmarks=(12,), group="x")
    assert list(table["group"]) == ["Maintained"] * 2 + ["Nonmaintained"] * 2
    assert table["parameter"].iloc[0] == "AML [x=Maintained]: median (months)"
    assert list(table["N"]) == [11, 11, 12, 12]


def test_km_median_flat_at_half_uses_midpoint_equals_sample_median_numpy():
    # Without censoring the KM median with R's midpoint rule equals the sample median (numpy).
    data = pd.DataFrame({"AVAL": [1.0, 2.0, 3.0, 4.0], "CNSR": [0, 0, 0, 0]})
    row = _row(summarise_km(data, "x"), "median")
    assert row["estimate"] == np.median(data["AVAL"]) == 2.5


def test_km_all_censored_median_not_reached_and_s_equals_one():
    data = pd.DataFrame({"AVAL": [2.0, 5.0, 8.0], "CNSR": [1, 1, 1]})
    table = summarise_km(data, "PFS", landmarks=(3, 10))
    median = _row(table, "median")
    assert np.isnan(median["estimate"])
    assert np.isnan(median["ci_lower"])
    assert np.isnan(median["ci_upper"])
    assert "not reached" in median["parameter"]
    assert median["n"] == 0
    s3 = _row(table, "survival", 3)
    assert (s3["estimate"], s3["ci_lower"], s3["ci_upper"]) == (1.0, 1.0, 1.0)
    assert np.isnan(_row(table, "survival", 10)["estimate"])  # beyond follow-up


@pytest.mark.parametrize(
    ("aval", "cnsr", "why"),
    [
        ([], [], "not estimable: 0 patients (Kaplan–Meier needs at least 3)"),
        ([4.0], [0], "not estimable: 1 patient (Kaplan–Meier needs at least 3)"),
        ([4.0, 5.0], [1, 0], "not estimable: 2 patients (Kaplan–Meier needs at least 3)"),
    ],
)
def test_km_with_fewer_than_three_patients_is_not_estimable(aval, cnsr, why):
    # a "median" of one or two patients is their own time (issue 12)
    frame = pd.DataFrame({"AVAL": aval, "CNSR": cnsr})
    table = summarise_km(frame, "x", landmarks=(2, 6))
    assert len(table) == 3
    assert table["estimate"].isna().all()
    assert (table["note"] == why).all()
    assert table["N"].tolist() == [len(aval)] * 3


def test_km_group_of_one_is_not_estimable_the_others_are():
    frame = pd.DataFrame(
        {"AVAL": [1.0, 2.0, 3.0, 4.0], "CNSR": [0, 0, 1, 0], "G": ["a", "a", "a", "b"]}
    )
    table = summarise_km(frame, "x", landmarks=(2,), group="G")
    b = table[table["group"] == "b"]
    assert b["estimate"].isna().all()
    assert b["note"].str.startswith("not estimable: 1 patient").all()
    assert table.loc[table["group"] == "a", "estimate"].notna().all()


def test_km_three_patients_is_estimated():
    table = summarise_km(pd.DataFrame({"AVAL": [4.0, 5, 6], "CNSR": [0, 0, 0]}), "x", (2, 7))
    assert _row(table, "median")["estimate"] == 5.0
    assert _row(table, "survival", 2)["estimate"] == 1.0
    assert _row(table, "survival", 7)["estimate"] == 0.0


@pytest.mark.parametrize(
    ("frame", "kwargs"),
    [
        (pd.DataFrame({"AVAL": [1.0], "CNSR": [2]}), {}),
        (pd.DataFrame({"AVAL": [-1.0], "CNSR": [0]}), {}),
        (pd.DataFrame({"AVAL": [1.0], "CNSR": [0]}), {"ci_level": 95}),
        (pd.DataFrame({"AVAL": [1.0, 2], "CNSR": [0, 0], "PARAMCD": ["OS", "PFS"]}), {}),
    ],
)
def test_km_invalid_input_raises_value_error(frame, kwargs):
    with pytest.raises(ValueError, match=r"\S"):
        summarise_km(frame, "x", **kwargs)


# ---------------------------------------------------------------- reverse KM follow-up


def test_median_followup_reverse_km_hand_example():
    # Deaths at 1 and 7 act as censorings; censorings at 3, 5, 9, 11 are the "events":
    # G(3) = 4/5, G(5) = 4/5*3/4 = 0.6, G(9) = 0.6*1/2 = 0.3 -> median potential follow-up 9.
    data = pd.DataFrame({"AVAL": [1.0, 3, 5, 7, 9, 11], "CNSR": [0, 1, 1, 0, 1, 1]})
    row = compute_median_followup(data).iloc[0]
    assert row["estimate"] == 9
    assert (row["n"], row["N"]) == (4, 6)
    assert "Reverse Kaplan–Meier" in row["method"]


def test_median_followup_all_censored_equals_sample_median_numpy():
    data = pd.DataFrame({"AVAL": [2.0, 4, 6, 8, 10], "CNSR": [1, 1, 1, 1, 1]})
    assert compute_median_followup(data)["estimate"].iloc[0] == np.median(data["AVAL"])


def test_median_followup_aml_maintained_flat_half_midpoint_hand():
    # Reverse KM: 9/10 at 13, x5/6 at 28 = 0.75, x2/3 at 45 = 0.5 exactly, flat until 161
    # -> R midpoint rule (45 + 161) / 2 = 103.
    assert compute_median_followup(AML_MAINTAINED)["estimate"].iloc[0] == 103


# ---------------------------------------------------------------- log-rank


def _hand_logrank(df, group):
    """Two-sample log-rank chi-square from O - E and hypergeometric variance (Peto & Peto)."""
    g1 = df[group] == df[group].iloc[0]
    o_minus_e, var = 0.0, 0.0
    for t in np.unique(df.loc[df["CNSR"] == 0, "AVAL"]):
        at_risk = df["AVAL"] >= t
        n, n1 = at_risk.sum(), (at_risk & g1).sum()
        died = (df["AVAL"] == t) & (df["CNSR"] == 0)
        d, d1 = died.sum(), (died & g1).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o_minus_e**2 / var


def test_logrank_aml_matches_hand_computation_and_r_survdiff_3_4():
    # R survdiff(Surv(time, status) ~ x, aml): "Chisq= 3.4 on 1 degrees of freedom, p= 0.07".
    aml = pd.concat(
        [AML_MAINTAINED.assign(x="Maintained"), AML_NONMAINTAINED.assign(x="Nonmaintained")],
        ignore_index=True,
    )
    row = compute_logrank(aml, "x").iloc[0]
    chi2 = _hand_logrank(aml, "x")
    assert row["statistic"] == pytest.approx(chi2, rel=1e-10)
    assert row["p_value"] == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-10)
    assert round(row["statistic"], 1) == 3.4
    assert round(row["p_value"], 2) == 0.07
    assert (row["n"], row["N"], row["df"]) == (18, 23, 1)


def test_logrank_single_group_is_not_estimable():
    row = compute_logrank(AML_MAINTAINED.assign(x="a"), "x").iloc[0]
    assert np.isnan(row["p_value"])
    assert row["note"].startswith("not estimable: 1 group (a)")


# ---------------------------------------------------------------- Cox


def test_cox_prio_hr_matches_published_r_coxph_rossi_and_statsmodels():
    from lifelines.datasets import load_rossi
    from statsmodels.duration.hazard_regression import PHReg

    rossi = load_rossi()
    covs = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    table = compute_cox(rossi, covs, duration_col="week", event_col="arrest").set_index("covariate")
    # Fox (2002) R coxph: prio exp(coef) = 1.096, fin 0.684, age 0.944.
    assert round(table.loc["prio", "estimate"], 3) == 1.096
    assert round(table.loc["fin", "estimate"], 3) == 0.684
    assert round(table.loc["age", "estimate"], 3) == 0.944
    sm = PHReg(rossi["week"], rossi[covs], status=rossi["arrest"], ties="efron").fit()
    assert np.log(table.loc[covs, "estimate"]).to_numpy() == pytest.approx(sm.params, abs=1e-5)
    lo = np.exp(sm.params - Z975 * sm.bse)
    assert table.loc[covs, "ci_lower"].to_numpy() == pytest.approx(lo, rel=1e-4)
    assert table.loc[covs, "p_value"].to_numpy() == pytest.approx(sm.pvalues, rel=1e-3)
    assert (table["n"].iloc[0], table["N"].iloc[0]) == (114, 432)
    assert table["ph_test_p"].between(0, 1).all()


def test_cox_converges_to_r_coxph_lung_to_its_printed_digits():
    """R (survival 3.x), ``fit <- coxph(Surv(time, status) ~ age + sex, data = lung); fit``:

    ```
             coef exp(coef)  se(coef)      z       p
    age  0.017045  1.017191  0.009223  1.848 0.06459
    sex -0.513219  0.598566  0.167458 -3.065 0.00218
    Likelihood ratio test=14.12  on 2 df, p=0.000857
    n= 228, number of events= 165
    ```
    (the example printed in the survival package documentation, Therneau; lifelines ships the same
    NCCTG lung data). lifelines' default stopping gave sex coef -0.513217, 2e-6 off R's last digit;
    the fit must now agree to R's printed precision (half a unit of the last digit).
    """
    from lifelines.datasets import load_lung

    lung = load_lung()[["time", "status", "age", "sex"]].dropna()
    table = compute_cox(lung, ["age", "sex"], duration_col="time", event_col="status")
    table = table.set_index("covariate")
    coef = np.log(table["estimate"])
    assert coef["age"] == pytest.approx(0.017045, abs=5e-7)
    assert coef["sex"] == pytest.approx(-0.513219, abs=5e-7)
    assert table.loc["age", "estimate"] == pytest.approx(1.017191, abs=5e-7)
    assert table.loc["sex", "estimate"] == pytest.approx(0.598566, abs=5e-7)
    assert table.loc["age", "p_value"] == pytest.approx(0.06459, abs=5e-6)
    assert table.loc["sex", "p_value"] == pytest.approx(0.00218, abs=5e-6)
    assert (table["n"].iloc[0], table["N"].iloc[0]) == (165, 228)
    # se(coef) from the Wald CI: 0.009223 and 0.167458
    se = (np.log(table["ci_upper"]) - np.log(table["ci_lower"])) / (2 * Z975)
    assert se.to_numpy() == pytest.approx([0.009223, 0.167458], abs=5e-7)


def test_cox_ph_test_flags_crossing_hazards_simulation():
    # Group 1 has a high early hazard and no late hazard: PH clearly violated.
    rng = np.random.default_rng(1)
    n = 200
    grp = np.repeat([0, 1], n // 2)
    t0 = rng.exponential(10, n // 2)
    t1 = np.where(rng.random(n // 2) < 0.6, rng.uniform(0, 2, n // 2), rng.uniform(20, 40, n // 2))
    df = pd.DataFrame({"AVAL": np.r_[t0, t1], "CNSR": 0, "grp": grp})
    assert compute_cox(df, ["grp"])["ph_test_p"].iloc[0] < 0.001


def test_cox_no_events_raises_value_error():
    df = pd.DataFrame({"AVAL": [1.0, 2, 3], "CNSR": [1, 1, 1], "x": [0, 1, 0]})
    with pytest.raises(ValueError, match="at least one event"):
        compute_cox(df, ["x"])


def test_cox_complete_separation_raises_instead_of_infinite_hr():
    # All events in group x = 1: the partial likelihood has no finite maximum.
    df = pd.DataFrame({"AVAL": [1.0, 2, 3, 4], "CNSR": [0, 0, 1, 1], "x": [1, 1, 0, 0]})
    with pytest.raises(ValueError, match="complete separation"):
        compute_cox(df, ["x"])


def test_cox_constant_or_text_covariate_rejected():
    df = pd.DataFrame({"AVAL": [1.0, 2, 3], "CNSR": [0, 0, 1], "x": [1, 1, 1], "s": list("abc")})
    with pytest.raises(ValueError, match="constant"):
        compute_cox(df, ["x"])
    with pytest.raises(TypeError, match="dummy-code"):
        compute_cox(df, ["s"])


# ---------------------------------------------------------------- landmark


def test_landmark_keeps_at_risk_and_resets_time():
    adtte = pd.DataFrame(
        {"USUBJID": ["A", "B", "C", "D"], "AVAL": [2.0, 3.0, 3.0, 10.0], "CNSR": [0, 1, 0, 1]}
    )
    resp = pd.DataFrame({"USUBJID": ["D"], "RESP": ["PR"]})
    res = derive_landmark(adtte, 3.0, covariate=resp)
    assert isinstance(res, LandmarkResult)
    assert res.data["USUBJID"].tolist() == ["D"]
    assert res.data["AVAL"].iloc[0] == 7.0
    assert res.data["RESP"].iloc[0] == "PR"
    reasons = dict(zip(res.excluded["USUBJID"], res.excluded["reason"], strict=True))
    assert reasons == {
        "A": "event before landmark",
        "B": "censored before landmark",
        "C": "event before landmark",
    }


def test_landmark_non_positive_rejected():
    with pytest.raises(ValueError, match="positive"):
        derive_landmark(pd.DataFrame({"USUBJID": ["A"], "AVAL": [1.0], "CNSR": [0]}), 0)


# ---------------------------------------------------------------- PFS / OS derivation

START = pd.Timestamp("2020-01-01")
CUTOFF = "2021-06-30"


def _subject(sid, pd_day=None, death_day=None, alive_day=400, **extra):
    def day(d):
        return START + pd.Timedelta(days=d) if d is not None else pd.NaT

    return {
        "USUBJID": sid,
        "TRTSDT": START,
        "PDDT": day(pd_day),
        "DTHDT": day(death_day),
        "LSTALVDT": day(alive_day),
        **extra,
    }


def _assessments(sid, days, responses=None):
    responses = responses or ["SD"] * len(days)
    return pd.DataFrame(
        {
            "USUBJID": sid,
            "ADT": [START + pd.Timedelta(days=d) for d in days],
            "AVALC": responses,
        }
    )


def _pfs(subjects, assessments, rules=PFS_RULES_FDA, cutoff=CUTOFF):
    return derive_pfs(pd.DataFrame(subjects), assessments, cutoff, rules).set_index("USUBJID")


def test_pfs_no_post_baseline_assessment_censored_day1_fda():
    # FDA 2018: no post-baseline assessment and no death -> censored at treatment start (day 1).
    out = _pfs([_subject("P1")], _assessments("P1", [-7]))
    row = out.loc["P1"]
    assert (row["CNSR"], row["ADT"]) == (1, START)
    assert row["AVAL"] == pytest.approx(1 / DAYS_PER_MONTH)
    assert row["CNSDTDSC"] == "No post-baseline assessment: censored at day 1"
    assert row["RULE"] == "PFS_RULES_FDA"


def test_pfs_progression_after_two_missed_assessments_censored_at_last_adequate_fda():
    # Assessments every 42 days; last adequate on day 42; PD on day 160 > 42 + 2*42 + 7.
    ass = _assessments("P1", [42, 160], ["SD", "PD"])
    row = _pfs([_subject("P1", pd_day=160)], ass).loc["P1"]
    assert (row["CNSR"], row["ADT"]) == (1, START + pd.Timedelta(days=42))
    assert row["CNSDTDSC"] == (
        "Event after ≥2 missed assessments: censored at last adequate assessment"
    )
    assert row["AVAL"] == pytest.approx(43 / DAYS_PER_MONTH)
    simple = _pfs([_subject("P1", pd_day=160)], ass, PFS_RULES_SIMPLE).loc["P1"]
    assert (simple["CNSR"], simple["EVNTDESC"]) == (0, "Disease progression")


def test_pfs_progression_after_one_missed_assessment_is_event_fda():
    ass = _assessments("P1", [42, 126], ["SD", "PD"])  # day 84 visit missed, PD at day 126
    row = _pfs([_subject("P1", pd_day=126)], ass).loc["P1"]
    assert (row["CNSR"], row["EVNTDESC"]) == (0, "Disease progression")
    assert row["AVAL"] == pytest.approx(127 / DAYS_PER_MONTH)


def test_pfs_ne_assessment_is_not_adequate_fda():
    # The day-84 NE scan does not count: last adequate is day 42, PD at day 140 > 42 + 91.
    ass = _assessments("P1", [42, 84, 140], ["SD", "NE", "PD"])
    assert _pfs([_subject("P1", pd_day=140)], ass).loc["P1", "CNSR"] == 1


def test_pfs_death_without_progression_is_event():
    ass = _assessments("P1", [42, 84])
    row = _pfs([_subject("P1", death_day=100, alive_day=100)], ass).loc["P1"]
    assert (row["CNSR"], row["EVNTDESC"]) == (0, "Death without documented progression")
    assert row["ADT"] == START + pd.Timedelta(days=100)


def test_pfs_event_after_cutoff_censored_at_last_adequate_before_cutoff():
    ass = _assessments("P1", [42, 84, 126, 600], ["SD", "SD", "SD", "PD"])
    row = _pfs([_subject("P1", pd_day=600, alive_day=600)], ass).loc["P1"]
    assert (row["CNSR"], row["ADT"]) == (1, START + pd.Timedelta(days=126))
    assert row["CNSDTDSC"].startswith("Event after data cut-off")


def test_pfs_no_event_censored_at_last_adequate_assessment():
    row = _pfs([_subject("P1")], _assessments("P1", [42, 84])).loc["P1"]
    assert (row["CNSR"], row["ADT"]) == (1, START + pd.Timedelta(days=84))
    assert row["CNSDTDSC"].endswith("censored at last adequate assessment")


def test_pfs_new_anticancer_therapy_censors_fda_not_simple():
    subj = _subject("P1", pd_day=150, NACTDT=START + pd.Timedelta(days=100))
    ass = _assessments("P1", [42, 84, 150], ["SD", "SD", "PD"])
    row = _pfs([subj], ass).loc["P1"]
    assert (row["CNSR"], row["ADT"]) == (1, START + pd.Timedelta(days=84))
    assert row["CNSDTDSC"].startswith("New anticancer therapy")
    assert _pfs([subj], ass, PFS_RULES_SIMPLE).loc["P1", "CNSR"] == 0


def test_pfs_clinical_progression_not_event_under_fda_but_event_under_simple():
    subj = _subject("P1", pd_day=80, PDTYPE="clinical")
    ass = _assessments("P1", [42])
    assert _pfs([subj], ass).loc["P1", "CNSR"] == 1
    assert _pfs([subj], ass, PFS_RULES_SIMPLE).loc["P1", "CNSR"] == 0


def test_pfs_output_columns_and_param():
    out = derive_pfs(pd.DataFrame([_subject("P1")]), _assessments("P1", [42]), CUTOFF)
    assert list(out.columns) == [
        "USUBJID",
        "PARAMCD",
        "PARAM",
        "STARTDT",
        "ADT",
        "AVAL",
        "CNSR",
        "EVNTDESC",
        "CNSDTDSC",
        "RULE",
    ]
    assert out["PARAMCD"].iloc[0] == "PFS"


def test_pfs_rejects_bad_input():
    with pytest.raises(ValueError, match="one row per USUBJID"):
        derive_pfs(pd.DataFrame([_subject("P1"), _subject("P1")]), _assessments("P1", []), CUTOFF)
    with pytest.raises(ValueError, match="precedes TRTSDT"):
        derive_pfs(pd.DataFrame([_subject("P1", pd_day=-3)]), _assessments("P1", []), CUTOFF)
    with pytest.raises(TypeError, match="CensoringRules"):
        derive_pfs(pd.DataFrame([_subject("P1")]), _assessments("P1", []), CUTOFF, rules="FDA")


def test_censoring_rules_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PFS_RULES_FDA.window_days = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="both"):
        CensoringRules(name="x", description="x", max_missed_assessments=None)
    q12w = dataclasses.replace(PFS_RULES_FDA, name="PFS_Q12W", assessment_interval_days=84)
    assert q12w.missed_assessment_rule


def test_os_death_event_alive_censored_at_cutoff_or_last_alive():
    subjects = pd.DataFrame(
        [
            _subject("DEAD", death_day=200, alive_day=200),
            _subject("ALIVE", alive_day=600),  # known alive after the cut-off
            _subject("LOST", alive_day=300),
            _subject("LATE", death_day=600, alive_day=600),  # death after the cut-off
        ]
    )
    out = derive_os(subjects, CUTOFF).set_index("USUBJID")
    cutoff = pd.Timestamp(CUTOFF)
    assert (out.loc["DEAD", "CNSR"], out.loc["DEAD", "EVNTDESC"]) == (0, "Death from any cause")
    assert (out.loc["ALIVE", "CNSR"], out.loc["ALIVE", "ADT"]) == (1, cutoff)
    assert (out.loc["LOST", "CNSR"], out.loc["LOST", "ADT"]) == (1, START + pd.Timedelta(300, "D"))
    assert (out.loc["LATE", "CNSR"], out.loc["LATE", "ADT"]) == (1, cutoff)
    assert out.loc["DEAD", "AVAL"] == pytest.approx(201 / DAYS_PER_MONTH)
    assert set(out["PARAMCD"]) == {"OS"}


def test_compute_km_median_matches_summarise_km_median_row_r_midpoint_rule():
    # No censoring: R's flat-segment midpoint rule gives the ordinary sample median (2.5 here),
    # where lifelines' first-time-below-0.5 would give 2.
    df = pd.DataFrame({"AVAL": [1.0, 2.0, 3.0, 4.0], "CNSR": [0, 0, 0, 0]})
    est, lo, hi = compute_km_median(df["AVAL"], 1 - df["CNSR"])
    row = summarise_km(df, "PFS", landmarks=()).iloc[0]
    assert est == pytest.approx(2.5)
    assert (est, lo, hi) == pytest.approx(
        (row["estimate"], row["ci_lower"], row["ci_upper"]), nan_ok=True
    )


def test_km_log_log_ci_covers_true_survival_and_median_at_nominal_rate_in_simulation():
    # Exponential event times (median 6 months) with uniform censoring on (0, 30), n = 40;
    # true S(6) = 0.5 and true median = 6. 400 seeded replicates: the binomial SE of an observed
    # coverage near 0.95 is about 0.011, so [0.92, 0.985] is a three-SE band around nominal.
    rng = np.random.default_rng(20261121)
    hits_s6 = hits_median = 0
    reps, n, median = 400, 40, 6.0
    for _ in range(reps):
        event_time = rng.exponential(median / np.log(2), n)
        censor_time = rng.uniform(0, 30, n)
        df = pd.DataFrame(
            {
                "AVAL": np.minimum(event_time, censor_time),
                "CNSR": (censor_time < event_time).astype(int),
            }
        )
        table = summarise_km(df, "sim", landmarks=(6,))
        med, s6 = table.iloc[0], table.iloc[1]
        hits_s6 += s6["ci_lower"] <= 0.5 <= s6["ci_upper"]
        hits_median += med["ci_lower"] <= median <= med["ci_upper"]
    assert 0.92 <= hits_s6 / reps <= 0.985
    assert 0.92 <= hits_median / reps <= 0.985


# ---------------------------------------------------------------- small cohorts (issue 12)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_median_followup_below_three_patients_is_not_estimable(n):
    data = pd.DataFrame({"AVAL": [3.0, 5.0][:n], "CNSR": [1, 1][:n]})
    row = compute_median_followup(data).iloc[0]
    assert np.isnan(row["estimate"])
    plural = "" if n == 1 else "s"
    assert row["note"] == f"not estimable: {n} patient{plural} (Kaplan–Meier needs at least 3)"


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (pd.DataFrame({"AVAL": [], "CNSR": [], "x": []}), "not estimable: no patient"),
        (
            pd.DataFrame({"AVAL": [1.0, 2.0, 3.0] * 2, "CNSR": 1, "x": list("aaabbb")}),
            "not estimable: no event",
        ),
    ],
)
def test_logrank_without_patient_or_event_is_not_estimable(frame, why):
    row = compute_logrank(frame, "x").iloc[0]
    assert np.isnan(row["p_value"])
    assert row["note"] == why


def test_landmark_of_no_patient_is_empty_not_an_error():
    empty = pd.DataFrame({"USUBJID": [], "AVAL": [], "CNSR": []})
    res = derive_landmark(empty, 3.0, covariate=pd.DataFrame({"USUBJID": [], "G": []}))
    assert res.data.empty
    assert {"LANDMARK", "G"} <= set(res.data.columns)
    assert res.excluded.empty


def _pfs_loop(subj: pd.DataFrame, assess: pd.DataFrame, cutoff: str, rules) -> pd.DataFrame:
    """derive_pfs written patient by patient, straight from its docstring (oracle)."""
    cut = pd.Timestamp(cutoff)
    rows = []
    for r in subj.to_dict("records"):
        start, sid = r["TRTSDT"], r["USUBJID"]
        own = assess[assess["USUBJID"].eq(sid) & assess["AVALC"].notna()]
        adequate = own.loc[
            own["AVALC"].ne("NE") & (own["ADT"] > start) & (own["ADT"] <= cut), "ADT"
        ]
        pdt = r["PDDT"]
        if rules.progression_types is not None and "PDTYPE" in r:
            pdt = pdt if r["PDTYPE"] in rules.progression_types else pd.NaT
        dth = r["DTHDT"] if rules.death_is_event else pd.NaT
        seen = [(d, w) for d, w in ((pdt, "Disease progression"),
                (dth, "Death without documented progression")) if pd.notna(d)]  # fmt: skip
        before = [x for x in seen if x[0] <= cut]
        event, desc = min(before, key=lambda x: x[0]) if before else (pd.NaT, None)
        nact = r.get("NACTDT", pd.NaT) if rules.censor_at_new_anticancer_therapy else pd.NaT

        def last(limit, inclusive, adequate=adequate):
            kept = adequate[adequate <= limit] if inclusive else adequate[adequate < limit]
            return kept.max() if len(kept) else pd.NaT

        def censor(at, why, start=start):
            if pd.isna(at):
                day1 = "censored at day 1 (no post-baseline adequate assessment)"
                text = f"{why}: {day1}" if why else "No post-baseline assessment: censored at day 1"
                return (start, 1, None, text)
            return (at, 1, None, f"{why}: censored at last adequate assessment")

        if pd.notna(nact) and nact <= cut and (pd.isna(event) or nact < event):
            out = censor(last(nact, True), "New anticancer therapy before event")
        elif pd.notna(event):
            at = last(event, False)
            allowed = (rules.max_missed_assessments or 0) * (rules.assessment_interval_days or 0)
            gap = (event - (start if pd.isna(at) else at)).days
            if rules.missed_assessment_rule and gap > allowed + rules.window_days:
                k = rules.max_missed_assessments
                out = censor(at, f"Event after ≥{k} missed assessments")
            else:
                out = (event, 0, desc, None)
        else:
            at = last(cut, True)
            why = "Event after data cut-off" if seen else (
                None if pd.isna(at) else "No progression or death by data cut-off")  # fmt: skip
            out = censor(at, why)
        rows.append((sid, *out, ((out[0] - start).days + 1) / 30.4375))
    return pd.DataFrame(rows, columns=["USUBJID", "ADT", "CNSR", "EVNTDESC", "CNSDTDSC", "AVAL"])


def _random_pfs_cohort(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, n), "D")

    def maybe(p: float, hi: int) -> pd.Series:
        days = pd.Series(start + pd.to_timedelta(rng.integers(0, hi, n), "D"))
        return days.where(rng.random(n) < p)

    subj = pd.DataFrame(
        {
            "USUBJID": [f"S{i}" for i in range(n)],
            "TRTSDT": start,
            "PDDT": maybe(0.5, 400),
            "DTHDT": maybe(0.3, 500),
            "LSTALVDT": start + pd.to_timedelta(rng.integers(0, 600, n), "D"),
            "PDTYPE": rng.choice(["radiological", "clinical"], n),
            "NACTDT": maybe(0.2, 400),
        }
    )
    late = subj["DTHDT"].isna() | subj["PDDT"].isna() | (subj["DTHDT"] >= subj["PDDT"])
    subj["DTHDT"] = subj["DTHDT"].where(late)
    m = 5 * n
    assess = pd.DataFrame(
        {
            "USUBJID": rng.choice(subj["USUBJID"], m),
            "AVALC": rng.choice(["SD", "PR", "NE", "PD", None], m),
        }
    )
    assess["ADT"] = assess["USUBJID"].map(subj.set_index("USUBJID")["TRTSDT"]) + pd.to_timedelta(
        rng.integers(-10, 400, m), "D"
    )
    return subj, assess


@pytest.mark.parametrize("seed", range(12))
def test_derive_pfs_equals_the_patient_by_patient_definition(seed):
    # the vectorised derivation against a plain loop over patients, on random cohorts with ties,
    # NE and pre-baseline assessments, new therapy, clinical progression and every rule switch
    rng = np.random.default_rng(seed)
    subj, assess = _random_pfs_cohort(rng, int(rng.integers(1, 25)))
    switches = [
        PFS_RULES_FDA,
        PFS_RULES_SIMPLE,
        dataclasses.replace(
            PFS_RULES_FDA, assessment_interval_days=None, max_missed_assessments=None
        ),
        dataclasses.replace(PFS_RULES_FDA, progression_types=None, death_is_event=False),
    ]
    for drop in ([], ["PDTYPE", "NACTDT"]):
        for rules in switches:
            for cutoff in ("2024-06-30", "2025-06-30"):
                got = derive_pfs(subj.drop(columns=drop), assess, cutoff, rules)
                want = _pfs_loop(subj.drop(columns=drop), assess, cutoff, rules)
                cols = list(want.columns)
                pd.testing.assert_frame_equal(got[cols], want, check_dtype=False)
