"""Tests for helpers.endpoints.efficacy on small hand-built ADaM-like datasets.

Expected values are worked out by hand from the rows written in this file (dates → months with the
ADaM day-1 rule, (days + 1) / 30.4375), or computed by an independent route (scipy tests, a
brute-force partial likelihood, direct enumeration of the Simon sample space); the test names say
which.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps

from helpers.endpoints import efficacy, simon
from helpers.endpoints.survival import DAYS_PER_MONTH
from helpers.her2_ctc import tdm1

T = pd.Timestamp


def _adsl() -> pd.DataFrame:
    # P1..P5 treated and evaluable; P6 treated, not evaluable; P7 screened only.
    return pd.DataFrame(
        {
            "USUBJID": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
            "TRTSDT": [T("2024-01-01")] * 5 + [T("2024-02-01"), pd.NaT],
            "TRTEDT": [
                T("2024-04-01"),
                pd.NaT,
                T("2024-01-22"),
                T("2024-03-01"),
                T("2024-01-01"),
                T("2024-03-01"),
                pd.NaT,
            ],
            "EOTSTT": [
                "progression",
                "ongoing",
                "toxicity",
                "progression",
                "death",
                "withdrawal",
                None,
            ],
            "DTHDT": [pd.NaT, pd.NaT, pd.NaT, T("2024-06-01"), T("2024-01-20"), pd.NaT, pd.NaT],
            "LSTALVDT": [
                T("2024-09-01"),
                T("2024-10-01"),
                T("2024-08-01"),
                T("2024-06-01"),
                T("2024-01-20"),
                T("2024-05-01"),
                pd.NaT,
            ],
            "TRTFL": ["Y"] * 6 + ["N"],
            "SAFFL": ["Y"] * 6 + ["N"],
            "EFFFL": ["Y"] * 5 + ["N", "N"],
        }
    )


def _ovr(subject, rows):
    return [
        {"USUBJID": subject, "PARAMCD": "OVR", "AVALC": r, "ADT": T(d), "AVISIT": v, "PCHGBL": p}
        for r, d, v, p in rows
    ]


def _adrs() -> pd.DataFrame:
    rows = []
    # P1: PR at W06, PR at W12 (confirmed), SD at W18, PD at W24.
    rows += _ovr(
        "P1",
        [
            ("PR", "2024-02-12", "W06", -40.0),
            ("PR", "2024-03-25", "W12", -50.0),
            ("SD", "2024-05-06", "W18", -20.0),
            ("PD", "2024-06-17", "W24", 10.0),
        ],
    )
    # P2: SD, SD, then CR unconfirmed is still counted as SD duration; never PD.
    rows += _ovr("P2", [("SD", "2024-02-12", "W06", -10.0), ("SD", "2024-03-25", "W12", -15.0)])
    # P3: PD at the first scan.
    rows += _ovr("P3", [("PD", "2024-02-12", "W06", 30.0)])
    # P4: SD, then PD, then a PR after progression (ignored for onset and SD duration).
    rows += _ovr(
        "P4",
        [
            ("SD", "2024-02-12", "W06", -5.0),
            ("PD", "2024-03-25", "W12", 25.0),
            ("PR", "2024-05-06", "W18", -35.0),
        ],
    )
    # P5: no tumour assessment at all (no BOR row): must come back as MISSING.
    bor = [("P1", "PR", "2024-02-12", -50.0), ("P2", "SD", "2024-02-12", -15.0),
           ("P3", "PD", "2024-02-12", 30.0), ("P4", "SD", "2024-02-12", -5.0),
           ("P6", "NE", pd.NaT, np.nan)]  # fmt: skip
    for code in ("BOR", "CBOR"):
        rows += [
            {"USUBJID": s, "PARAMCD": code, "AVALC": a, "ADT": T(d) if pd.notna(d) else pd.NaT,
             "AVISIT": None, "BESTPCHG": b}
            for s, a, d, b in bor
        ]  # fmt: skip
    df = pd.DataFrame(rows)
    start = T("2024-01-01")
    days = (df["ADT"] - start).dt.days
    df["ADY"] = (days + 1).astype("Int64")
    return df


def _adtte() -> pd.DataFrame:
    def m(d0, d1):
        return ((T(d1) - T(d0)).days + 1) / DAYS_PER_MONTH

    rows = [
        ("P1", "PFS", m("2024-01-01", "2024-06-17"), 0, "Disease progression", None),
        (
            "P2",
            "PFS",
            m("2024-01-01", "2024-03-25"),
            1,
            None,
            "Censored at last adequate assessment",
        ),
        ("P3", "PFS", m("2024-01-01", "2024-02-12"), 0, "Disease progression", None),
        ("P4", "PFS", m("2024-01-01", "2024-03-25"), 0, "Disease progression", None),
        (
            "P5",
            "PFS",
            m("2024-01-01", "2024-01-20"),
            0,
            "Death without documented progression",
            None,
        ),
        (
            "P6",
            "PFS",
            m("2024-02-01", "2024-05-01"),
            1,
            None,
            "No post-baseline assessment: censored at day 1",
        ),
    ]
    return pd.DataFrame(
        rows, columns=["USUBJID", "PARAMCD", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC"]
    )


# --------------------------------------------------------------------------------------------
# derive_bor_table
# --------------------------------------------------------------------------------------------


def test_bor_table_hand_worked_codes_missing_patient_and_flags():
    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    assert bor["USUBJID"].tolist() == ["P1", "P2", "P3", "P4", "P5"]
    assert bor["AVALC"].tolist() == ["PR", "SD", "PD", "SD", "MISSING"]
    assert bor["RSPFL"].tolist() == ["Y", "N", "N", "N", "N"]
    assert bor["DCRFL"].tolist() == ["Y", "Y", "N", "Y", "N"]
    assert bor["RESPONSE"].iloc[0] == "Responder (CR/PR)"
    assert math.isnan(bor.loc[4, "BESTPCHG"])
    assert bor.loc[0, "BESTPCHG"] == -50.0


def test_bor_table_response_onset_and_sd_duration_by_hand():
    bor = efficacy.derive_bor_table(_adrs(), _adsl()).set_index("USUBJID")
    # P1 first PR 2024-02-12; last disease-control scan before PD 2024-05-06 = 126 days.
    assert bor.loc["P1", "RSPDT"] == T("2024-02-12")
    assert bor.loc["P1", "SDDUR"] == 126
    # P2 last SD 2024-03-25 = 84 days; not a responder, no onset.
    assert bor.loc["P2", "SDDUR"] == 84
    assert pd.isna(bor.loc["P2", "RSPDT"])
    # P4: the PR after PD is ignored, so SD duration stops at the W06 SD (42 days).
    assert bor.loc["P4", "SDDUR"] == 42
    assert pd.isna(bor.loc["P4", "RSPDT"])
    assert math.isnan(bor.loc["P3", "SDDUR"])


def test_bor_table_treated_population_includes_ne_patient():
    bor = efficacy.derive_bor_table(_adrs(), _adsl(), population_flag="TRTFL", paramcd="BOR")
    assert len(bor) == 6
    assert bor.set_index("USUBJID").loc["P6", "AVALC"] == "NE"


def test_bor_table_feeds_rates_without_reshaping():
    from helpers.endpoints import rates

    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    table = rates.summarise_response_rates(bor, sd_duration_col="SDDUR", cbr_min_weeks=12)
    # ORR 1/5, DCR 3/5, CBR: P1 (PR) + P2 (SD 84 days >= 12 weeks) = 2/5, counted by hand.
    assert table["n"].tolist() == [1, 3, 2]
    assert (table["N"] == 5).all()


def test_bor_table_empty_population_raises():
    adsl = _adsl().assign(EFFFL="N")
    with pytest.raises(ValueError, match="population is empty"):
        efficacy.derive_bor_table(_adrs(), adsl)


def test_bor_table_bad_paramcd_and_duplicates_raise():
    with pytest.raises(ValueError, match="paramcd"):
        efficacy.derive_bor_table(_adrs(), _adsl(), paramcd="OVR")
    adrs = _adrs()
    dup = pd.concat([adrs, adrs[adrs["PARAMCD"].eq("CBOR")].head(1)])
    with pytest.raises(ValueError, match="several CBOR"):
        efficacy.derive_bor_table(dup, _adsl())
    with pytest.raises(TypeError):
        efficacy.derive_bor_table(_adrs(), "adsl")
    with pytest.raises(ValueError, match="lacks column"):
        efficacy.derive_bor_table(_adrs().drop(columns="BESTPCHG"), _adsl())


def test_bor_table_no_tumour_data_gives_all_missing():
    adrs = _adrs().iloc[0:0]
    bor = efficacy.derive_bor_table(adrs, _adsl())
    assert (bor["AVALC"] == "MISSING").all()


# --------------------------------------------------------------------------------------------
# swimmer, spider, event reasons, EOT, TEAE
# --------------------------------------------------------------------------------------------


def test_swimmer_months_by_hand_day1_rule():
    swim = efficacy.derive_swimmer_data(_adsl(), _adrs(), _adtte()).set_index("subject")
    assert list(swim.index) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    # P1: 2024-01-01 → 2024-04-01 = 91 days, + 1 → 92 / 30.4375.
    assert swim.loc["P1", "end"] == pytest.approx(92 / DAYS_PER_MONTH)
    assert swim.loc["P1", "response_onset"] == pytest.approx(43 / DAYS_PER_MONTH)
    assert swim.loc["P1", "progression"] == pytest.approx(169 / DAYS_PER_MONTH)
    assert not swim.loc["P1", "ongoing"]
    # P2 ongoing, no cutoff: bar ends at last known alive 2024-10-01 (274 days + 1).
    assert swim.loc["P2", "ongoing"]
    assert swim.loc["P2", "end"] == pytest.approx(275 / DAYS_PER_MONTH)
    # P5 died on day 20 without progression: death marker, no progression marker.
    assert swim.loc["P5", "death"] == pytest.approx(20 / DAYS_PER_MONTH)
    assert math.isnan(swim.loc["P5", "progression"])
    assert swim.loc["P5", "bor"] == "MISSING"
    assert swim.loc["P6", "bor"] == "NE"


def test_swimmer_cutoff_ends_ongoing_bars_and_plots():
    from helpers import plots

    swim = efficacy.derive_swimmer_data(_adsl(), _adrs(), _adtte(), cutoff_date="2024-06-30")
    p2 = swim.set_index("subject").loc["P2"]
    assert p2["end"] == pytest.approx(182 / DAYS_PER_MONTH)
    fig = plots.plot_swimmer(swim)
    assert len(fig.axes[0].patches) >= 6
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_swimmer_invalid_cutoff_raises():
    with pytest.raises((ValueError, TypeError)):
        efficacy.derive_swimmer_data(_adsl(), _adrs(), _adtte(), cutoff_date="not a date")


def test_spider_data_merges_bor_and_keeps_measured_rows():
    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    spider = efficacy.derive_spider_data(_adrs(), bor)
    assert set(spider["USUBJID"]) == {"P1", "P2", "P3", "P4"}
    assert (spider.loc[spider["USUBJID"].eq("P1"), "BOR"] == "PR").all()
    assert len(spider) == 4 + 2 + 1 + 3


def test_event_reasons_counts_by_hand():
    table = efficacy.summarise_event_reasons(_adtte(), "PFS")
    assert table["status"].tolist()[:2] == ["Event", "Event"]
    first = table.iloc[0]
    assert (first["reason"], first["n"], first["N"]) == ("Disease progression", 3, 6)
    assert first["percentage"] == pytest.approx(50.0)
    assert table["n"].sum() == 6
    with pytest.raises(ValueError, match="no 'OS' rows"):
        efficacy.summarise_event_reasons(_adtte(), "OS")


def test_eot_reasons_clopper_pearson_matches_scipy_beta_2_of_6():
    table = efficacy.summarise_eot_reasons(_adsl())
    row = table.set_index("category").loc["progression"]
    assert (row["n"], row["N"]) == (2, 6)
    # Clopper–Pearson via beta quantiles (independent route): Beta(0.025; 2, 5), Beta(0.975; 3, 4)
    assert row["ci_lower"] == pytest.approx(sps.beta.ppf(0.025, 2, 5))
    assert row["ci_upper"] == pytest.approx(sps.beta.ppf(0.975, 3, 4))
    assert table["n"].sum() == 6


def test_teae_keeps_emergent_safety_rows_only():
    adae = pd.DataFrame(
        {"USUBJID": ["P1", "P1", "P7"], "TRTEMFL": ["Y", "N", "Y"], "AETOXGR": [1, 2, 3]}
    )
    out = efficacy.derive_teae(adae, _adsl())
    assert out["AETOXGR"].tolist() == [1]


# --------------------------------------------------------------------------------------------
# biomarker pairs and trajectories
# --------------------------------------------------------------------------------------------


def _adbm() -> pd.DataFrame:
    rows = [
        ("P1", "C1D1", 1, 12.0, "N"), ("P1", "C2D1", 2, 1.5, "Y"),
        ("P2", "C1D1", 1, 6.0, "N"), ("P2", "C2D1", 2, 8.0, "N"),
        ("P3", "C1D1", 1, 1.5, "Y"),
        ("P4", "C2D1", 2, 4.0, "N"),
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=["USUBJID", "AVISIT", "AVISITN", "AVAL", "LODFL"])
    df["PARAMCD"] = "CTDNATF"
    return df


def test_paired_values_pivot_by_hand():
    wide = efficacy.derive_paired_values(_adbm(), "CTDNATF", "C1D1", "C2D1")
    wide = wide.set_index("USUBJID")
    assert wide.loc["P1", ["BASE_VAL", "POST_VAL"]].tolist() == [12.0, 1.5]
    assert wide.loc["P1", "POST_LOD"] == "Y"
    assert wide["COMPLETE"].tolist() == [True, True, False, False]
    sub = efficacy.derive_paired_values(_adbm(), "CTDNATF", "C1D1", "C2D1", subjects=["P2"])
    assert sub["USUBJID"].tolist() == ["P2"]


def test_paired_values_absent_visit_or_param_gives_no_complete_pair():
    # a visit nobody reached, or a parameter whose optional table was not supplied
    later = efficacy.derive_paired_values(_adbm(), "CTDNATF", "C1D1", "C4D1")
    assert not later["COMPLETE"].any()
    absent = efficacy.derive_paired_values(_adbm(), "CTCCNT", "C1D1", "C2D1")
    assert absent.empty
    assert "COMPLETE" in absent.columns


def test_trajectory_data_offset_and_response_group():
    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    traj = efficacy.derive_trajectory_data(_adbm(), "CTDNATF", bor, offset=1)
    assert traj["PLOTVAL"].tolist() == pytest.approx((traj["AVAL"] + 1).tolist())
    assert traj.loc[traj["USUBJID"].eq("P1"), "RESPONSE"].unique().tolist() == ["Responder (CR/PR)"]
    with pytest.raises(ValueError, match="offset"):
        efficacy.derive_trajectory_data(_adbm(), "CTDNATF", offset=-1)


# --------------------------------------------------------------------------------------------
# associations
# --------------------------------------------------------------------------------------------


def test_response_association_matches_scipy_mannwhitney_and_pairwise_median():
    data = pd.DataFrame(
        {
            "RSPFL": ["Y", "Y", "Y", "N", "N", "N", "N"],
            "X": [5.0, 7.0, 9.0, 1.0, 2.0, 4.0, 6.0],
        }
    )
    out = efficacy.compute_response_association(data, {"X": "X value"})
    row = out.iloc[0]
    resp, non = np.array([5.0, 7, 9]), np.array([1.0, 2, 4, 6])
    # independent route: scipy exact Mann–Whitney and the median of all pairwise differences
    assert row["p_value"] == pytest.approx(sps.mannwhitneyu(resp, non, method="exact").pvalue)
    assert row["estimate"] == pytest.approx(np.median(np.subtract.outer(resp, non)))
    assert (row["n"], row["N"]) == (3, 7)
    assert "responders − non-responders" in row["parameter"]


def test_response_association_empty_group_gives_nan_row_with_note():
    data = pd.DataFrame({"RSPFL": ["N", "N", "N"], "X": [1.0, 2.0, 3.0]})
    row = efficacy.compute_response_association(data, {"X": "X"}).iloc[0]
    assert math.isnan(row["estimate"])
    assert "0 responder" in row["note"]


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (["Y", "N", "N", "N"], "not estimable: 1 responder with a value"),
        (["N", "N", "N", "N"], "not estimable: 0 responders with a value"),
        (["Y", "Y", "Y", "N"], "not estimable: 1 non-responder with a value"),
        (["Y", "Y", "Y", "Y"], "not estimable: 0 non-responders with a value"),
    ],
)
def test_response_association_with_a_group_below_two_is_not_estimable(flags, why):
    # issue 12: a shift against one patient is that patient's value, not a group comparison
    data = pd.DataFrame({"RSPFL": flags, "X": [5.0, 5.0, 2.0, 3.0]})
    row = efficacy.compute_response_association(data, {"X": "X"}).iloc[0]
    assert np.isnan(row["estimate"])
    assert np.isnan(row["p_value"])
    assert row["note"] == why
    assert row["N"] == 4


def test_flag_association_without_any_patient_is_not_estimable():
    data = pd.DataFrame({"USUBJID": [], "CONVFL": [], "RSPFL": []})
    row = efficacy.compute_flag_association(data, "CONVFL", "RSPFL", "OR").iloc[0]
    assert np.isnan(row["estimate"])
    assert row["note"] == "not estimable: no patient with both CONVFL and RSPFL"


def test_response_association_small_group_note_and_bad_flag():
    # (a group of two is compared; see the test below for a group of one)
    data = pd.DataFrame({"RSPFL": ["Y", "Y", "N", "N", "N"], "X": [5.0, 4.0, 1.0, 2.0, 3.0]})
    row = efficacy.compute_response_association(data, {"X": "X"}).iloc[0]
    assert "fewer than 3" in row["note"]
    with pytest.raises(ValueError, match="'Y' or 'N'"):
        efficacy.compute_response_association(data.assign(RSPFL="yes"), {"X": "X"})


def _cox_partial_loglik(beta, time, event, x):
    # Breslow = Efron without tied event times: sum over events of x_i b - log sum_{risk} e^{x b}
    ll = 0.0
    for i in np.flatnonzero(event):
        risk = time >= time[i]
        ll += beta * x[i] - np.log(np.exp(beta * x[risk]).sum())
    return ll


def test_pfs_association_matches_brute_force_partial_likelihood():
    time = np.array([1.0, 2.5, 3.0, 4.2, 5.1, 6.3, 7.7, 9.0, 10.4, 12.0])
    event = np.array([1, 1, 0, 1, 1, 0, 1, 1, 0, 1])
    x = np.array([2.8, 0.5, 1.2, 2.2, 0.7, 1.8, 0.2, 1.5, 0.9, 0.4])
    ids = [f"P{i}" for i in range(10)]
    adtte = pd.DataFrame({"USUBJID": ids, "PARAMCD": "PFS", "AVAL": time, "CNSR": 1 - event})
    data = pd.DataFrame({"USUBJID": ids, "X": x})
    row = efficacy.compute_pfs_association(adtte, data, {"X": "per unit X"}).iloc[0]
    res = optimize.minimize_scalar(lambda b: -_cox_partial_loglik(b, time, event, x))
    assert math.log(row["estimate"]) == pytest.approx(res.x, abs=1e-4)
    assert (row["n"], row["N"]) == (7, 10)


def test_pfs_association_constant_covariate_gives_nan_row():
    adtte = _adtte()
    data = pd.DataFrame({"USUBJID": adtte["USUBJID"], "C": 1.0})
    row = efficacy.compute_pfs_association(adtte, data, {"C": "constant"}).iloc[0]
    assert math.isnan(row["estimate"])
    assert "not estimable" in row["note"]


def test_summarise_in_words_formats_percent_and_nan():
    table = pd.DataFrame(
        {"parameter": ["ORR", "X"], "n": [3, pd.NA], "N": [17, 5], "estimate": [3 / 17, np.nan],
         "ci_lower": [0.038, np.nan], "ci_upper": [0.434, np.nan], "ci_level": [0.95, 0.95]}
    )  # fmt: skip
    text = efficacy.summarise_in_words(table)
    assert "ORR: 17.6 % (95% CI 3.8 to 43.4; n/N = 3/17)." in text
    assert "X: not estimable (N = 5)." in text


# --------------------------------------------------------------------------------------------
# change tables, flag association, correlations
# --------------------------------------------------------------------------------------------


def test_change_table_log2_fold_change_by_hand_with_offset():
    wide = efficacy.derive_paired_values(_adbm(), "CTDNATF", "C1D1", "C2D1")
    out = efficacy.derive_change_table(wide, offset=1).set_index("USUBJID")
    # P1: (1.5 + 1) / (12 + 1) → log2(2.5/13); P2: log2(9/7)
    assert out.loc["P1", "LOG2FC"] == pytest.approx(math.log2(2.5 / 13))
    assert out.loc["P2", "CHG"] == 2.0
    assert math.isnan(out.loc["P3", "LOG2FC"])
    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    merged = efficacy.derive_change_table(wide, bor)
    assert merged.set_index("USUBJID").loc["P1", "RSPFL"] == "Y"


def test_flag_association_p_matches_scipy_fisher_exact():
    data = pd.DataFrame({"E": [*list("YYYYNNNNNN"), None], "O": [*list("YYYNYNNNNN"), "Y"]})
    row = efficacy.compute_flag_association(data, "E", "O", "OR").iloc[0]
    # table [[3, 1], [1, 5]] counted by hand; the row with a missing flag is dropped
    assert row["p_value"] == pytest.approx(sps.fisher_exact([[3, 1], [1, 5]]).pvalue)
    assert (row["n"], row["N"]) == (3, 10)
    with pytest.raises(ValueError, match="'Y'/'N'"):
        efficacy.compute_flag_association(data.assign(E="yes"), "E", "O", "OR")


def test_correlations_rho_matches_scipy_spearman_and_nan_when_too_few_pairs():
    data = pd.DataFrame(
        {
            "A": [1.0, 2, 3, 4, 5, 6],
            "B": [2.0, 1, 4, 3, 6, 5],
            "C": [1.0, np.nan, np.nan, np.nan, np.nan, 2],
        }
    )
    out = efficacy.compute_correlations(data, {"A": "A", "C": "C"}, "B", "B", n_boot=200, seed=1)
    assert out.loc[0, "estimate"] == pytest.approx(sps.spearmanr(data["A"], data["B"])[0])
    assert math.isnan(out.loc[1, "estimate"])
    assert "2 complete pair" in out.loc[1, "note"]


# --------------------------------------------------------------------------------------------
# Simon bookkeeping
# --------------------------------------------------------------------------------------------


def test_simon_design_optimal_matches_simon_1989_table1_0_9_2_17():
    # Simon (1989) Table 1, p0 = 0.05, p1 = 0.25, alpha = 0.05, beta = 0.20: optimal 0/9, 2/17.
    d = efficacy.derive_simon_design(0.05, 0.25, 0.05, 0.80, "optimal")
    assert (d.r1, d.n1, d.r, d.n) == (0, 9, 2, 17)


def test_simon_design_protocol_boundaries_and_partial_raise():
    d = efficacy.derive_simon_design(0.05, 0.25, 0.05, 0.80, r1=0, n1=9, r=2, n=17)
    assert d.criterion.startswith("protocol")
    # attained power by direct enumeration (independent of helpers.endpoints.simon)
    p = 0.25
    power = sum(sps.binom.pmf(x1, 9, p) * sps.binom.sf(2 - x1, 8, p) for x1 in range(1, 10))
    assert d.power_attained == pytest.approx(power)
    with pytest.raises(ValueError, match="all four"):
        efficacy.derive_simon_design(0.05, 0.25, 0.05, 0.80, r1=0, n1=9)
    table = efficacy.summarise_simon_design(d)
    assert "0/9" in table["value"].tolist()


def _stage_adsl(n: int) -> pd.DataFrame:
    # treatment starts: one per week, with a tie between the 2nd and 3rd patient.
    dates = [T("2024-01-01") + pd.Timedelta(weeks=i) for i in range(n)]
    dates[2] = dates[1]
    return pd.DataFrame(
        {"USUBJID": [f"S{n - i:02d}" for i in range(n)], "TRTSDT": dates, "EFFFL": "Y"}
    )


def test_simon_stages_by_treatment_start_ties_by_id():
    stages = efficacy.derive_simon_stages(_stage_adsl(5), n1=2)
    # S04 and S03 start the same day: S03 goes first by USUBJID.
    assert stages["USUBJID"].tolist() == ["S05", "S03", "S04", "S02", "S01"]
    assert stages["STAGE"].tolist() == [1, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="n1"):
        efficacy.derive_simon_stages(_stage_adsl(5), n1=0)


def test_simon_counts_by_hand_and_stage1_only():
    stages = efficacy.derive_simon_stages(_stage_adsl(5), n1=2)
    bor = pd.DataFrame({"USUBJID": ["S01", "S02", "S03", "S04", "S05"], "RSPFL": list("YNYNN")})
    counts = efficacy.derive_simon_counts(bor, stages)
    assert counts == efficacy.SimonCounts(1, 2, 2, 5)
    only1 = efficacy.derive_simon_counts(bor, efficacy.derive_simon_stages(_stage_adsl(5), n1=9))
    assert only1 == efficacy.SimonCounts(2, 5, None, None)
    with pytest.raises(ValueError, match="without a best-response"):
        efficacy.derive_simon_counts(bor.iloc[:3], stages)


DESIGN = simon.SimonDesign.from_boundaries(0, 9, 2, 17, 0.05, 0.25, alpha=0.05, power=0.8)


def test_simon_inference_continued_trial_equals_simon_module():
    out = efficacy.compute_simon_inference(DESIGN, efficacy.SimonCounts(1, 9, 4, 17))
    ref = simon.compute_two_stage_inference(DESIGN, 1, 9, 4, 17)
    assert out["estimate"].tolist() == pytest.approx(ref["estimate"].tolist())
    # naive row: Clopper–Pearson 4/17 via beta quantiles (independent route)
    assert out.loc[0, "ci_lower"] == pytest.approx(sps.beta.ppf(0.025, 4, 14))
    assert (out["note"] == "").all()


def test_simon_inference_futility_stop_then_more_treated_closed_form_0_of_9():
    out = efficacy.compute_simon_inference(DESIGN, efficacy.SimonCounts(0, 9, 1, 12))
    # 0/9 at stage 1: exact upper limit 1 − 0.025^(1/9) (closed form of Clopper–Pearson at x = 0)
    adjusted = out[out["parameter"].str.contains("median-unbiased")].iloc[0]
    assert adjusted["ci_upper"] == pytest.approx(1 - 0.025 ** (1 / 9))
    pooled = out.iloc[-1]
    assert (pooled["n"], pooled["N"]) == (1, 12)
    assert "after the stage-1 futility stop" in pooled["note"]


def test_simon_inference_interim_stage1_only_p_matches_binomial_tail():
    out = efficacy.compute_simon_inference(DESIGN, efficacy.SimonCounts(2, 9, None, None))
    # P(X >= 2 | n = 9, p0 = 0.05) by direct summation
    tail = sum(math.comb(9, k) * 0.05**k * 0.95 ** (9 - k) for k in range(2, 10))
    assert out.loc[0, "p_value"] == pytest.approx(tail)
    assert "stage 1 passed" in out.loc[0, "note"]
    with pytest.raises(TypeError):
        efficacy.compute_simon_inference(DESIGN, (2, 9, None, None))


# --------------------------------------------------------------------------------------------
# FISH, CTC conversion, ctDNA
# --------------------------------------------------------------------------------------------


def test_fish_efficacy_scales_by_hand():
    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    adctc = pd.DataFrame(
        {"USUBJID": ["P1", "P2", "P3", "P4", "P5"], "MEANRAT": [4.0, 2.2, 3.0, 2.5, np.nan],
         "MAXRAT": [6.0, 3.0, 2.0, 4.0, np.nan],
         "NAMP": [8, 1, 0, 2, 0], "PCTAMP": [80.0, 10.0, 0.0, 25.0, np.nan],
         "NCELLEVL": [10, 10, 5, 8, 0], "CTCCNT": [12, 10, 5, 9, 0]}
    )  # fmt: skip
    # P1: amplified ratios 3.0 and 5.0 plus a non-amplified 1.0 -> mean among amplified 4.0
    adcell = pd.DataFrame(
        {"USUBJID": ["P1", "P1", "P1", "P2"], "READER": ["R1", "R1", "R1", "R1"],
         "EVALFL": ["Y", "Y", "Y", "Y"], "AMPFL": ["Y", "Y", "N", "Y"],
         "RATIO": [3.0, 5.0, 1.0, 2.5]}
    )  # fmt: skip
    out = tdm1.derive_fish_efficacy(bor, adctc, _adtte(), adcell).set_index("USUBJID")
    assert out.loc["P1", "MEANRATAMP"] == 4.0
    assert out.loc["P1", "MAXRATAMP"] == 5.0
    assert math.isnan(out.loc["P3", "MEANRATAMP"])  # no amplified CTC
    assert out.loc["P1", "LOG2NAMP"] == 3.0
    assert math.isnan(out.loc["P3", "LOG2NAMP"])
    assert out.loc["P4", "PCTAMP10"] == 2.5
    assert out.loc["P2", "CNSR"] == 1.0


def test_ctc_conversion_flags_and_rates_by_hand():
    change = pd.DataFrame(
        {"USUBJID": list("ABCDEF"), "BASE_VAL": [12, 5, 8, 2, 0, 9],
         "POST_VAL": [1, 6, 4, 7, 0, np.nan]}
    )  # fmt: skip
    flags = tdm1.derive_ctc_conversion(change).set_index("USUBJID")
    assert flags["CONVFL"].tolist() == ["Y", "N", "Y", None, None, None]
    assert flags["RISEFL"].tolist() == [None, None, None, "Y", "N", None]
    table = tdm1.compute_ctc_conversion(flags.reset_index())
    assert (table.loc[0, "n"], table.loc[0, "N"]) == (2, 3)
    assert table.loc[0, "ci_upper"] == pytest.approx(sps.beta.ppf(0.975, 3, 1))
    assert (table.loc[1, "n"], table.loc[1, "N"]) == (1, 2)


def test_ctc_conversion_no_high_baseline_gives_nan_row():
    change = pd.DataFrame({"USUBJID": ["A"], "BASE_VAL": [1.0], "POST_VAL": [0.0]})
    table = tdm1.compute_ctc_conversion(tdm1.derive_ctc_conversion(change))
    assert math.isnan(table.loc[0, "estimate"])
    assert table.loc[0, "N"] == 0


def test_ctdna_early_change_lod_rules_by_hand():
    change = pd.DataFrame(
        {"USUBJID": list("ABCDE"), "BASE_VAL": [10.0, 10.0, 1.5, 10.0, 8.0],
         "POST_VAL": [1.5, 6.0, 1.5, np.nan, 4.0], "BASE_LOD": ["N", "N", "Y", "N", "N"],
         "POST_LOD": ["Y", "N", "Y", None, "N"]}
    )  # fmt: skip
    out = tdm1.derive_ctdna_early_change(change, decrease_pct=50).set_index("USUBJID")
    assert out["EARLYDEC"].tolist() == ["Y", "N", None, None, "Y"]  # E: 4 <= 0.5 × 8
    assert out.loc["C", "CTDNAGRP"] == "Not evaluable (baseline < LoD)"
    assert out.loc["D", "CTDNAGRP"] == "Not evaluable (sample missing)"
    with pytest.raises(ValueError, match="between 0 and 100"):
        tdm1.derive_ctdna_early_change(change, decrease_pct=100)


def test_biomarker_landmark_accounts_for_every_patient():
    groups = pd.DataFrame(
        {"USUBJID": ["P1", "P2", "P3", "P4", "P5"],
         "CTDNAGRP": ["dec", "no", "Not evaluable (baseline < LoD)", "dec", "no"],
         "EARLYDEC": ["Y", "N", None, "Y", "N"]}
    )  # fmt: skip
    res = efficacy.derive_biomarker_landmark(_adtte(), groups, landmark_months=1.0)
    # P5 died at day 20 (< 1 month): excluded as event before landmark; P3 not evaluable.
    assert sorted(res.data["USUBJID"]) == ["P1", "P2", "P4"]
    reasons = res.excluded.set_index("USUBJID")["reason"]
    assert reasons["P5"] == "event before landmark"
    assert reasons["P3"] == "Not evaluable (baseline < LoD)"
    assert res.data.set_index("USUBJID").loc["P1", "AVAL"] == pytest.approx(
        169 / DAYS_PER_MONTH - 1.0
    )


# --------------------------------------------------------------------------------------------
# plots appended to helpers.plots for notebook 02 (tested here, next to their inputs)
# --------------------------------------------------------------------------------------------


def test_plot_lod_overlay_sits_exactly_on_the_jittered_points():
    import matplotlib.pyplot as plt

    from helpers import plots

    bor = efficacy.derive_bor_table(_adrs(), _adsl())
    traj = efficacy.derive_trajectory_data(_adbm(), "CTDNATF", bor)
    fig = plots.plot_paired_trajectories_lod(
        traj, value_col="PLOTVAL", group_col="RESPONSE", log=True, seed=3
    )
    ax = fig.axes[0]
    overlay = next(c for c in ax.collections if c.get_gid() == "below_lod")
    points = np.vstack([c.get_offsets() for c in ax.collections if c.get_gid() != "below_lod"])
    # each LoD marker coincides with one drawn point (same jitter stream)
    for xy in overlay.get_offsets():
        assert np.isclose(points, xy).all(axis=1).any()
    assert len(overlay.get_offsets()) == int(traj["LODFL"].eq("Y").sum())
    assert "Below LoD" in [t.get_text() for t in ax.get_legend().get_texts()][-1]
    plt.close(fig)


def test_plot_operating_characteristics_reads_alpha_at_p0():
    import matplotlib.pyplot as plt

    from helpers import plots

    oc = simon.compute_operating_characteristics(DESIGN, np.linspace(0, 0.5, 51))
    fig = plots.plot_operating_characteristics(oc, p0=0.05, p1=0.25)
    line = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "prob_reject_h0")
    x, y = line.get_data()
    assert y[np.isclose(x, 0.05)][0] == pytest.approx(DESIGN.alpha_attained)
    plt.close(fig)


def test_derive_tte_population_and_missing_patients():
    adsl = _adsl()
    adtte = _adtte()[_adtte()["USUBJID"].ne("P2")]
    pfs = efficacy.derive_tte(adtte, adsl, "PFS", "EFFFL")
    assert pfs["USUBJID"].tolist() == ["P1", "P3", "P4", "P5"]
    assert pfs.attrs["missing"] == ["P2"]
    with pytest.raises(ValueError, match="no 'OS' row"):
        efficacy.derive_tte(adtte, adsl, "OS")


def test_populations_counted_by_hand():
    table = efficacy.summarise_populations(_adsl(), {"TRTFL": "Treated", "EFFFL": "Evaluable"})
    assert table["n"].tolist() == [6, 5]


def test_ctdna_log2fc_eval_blanks_non_evaluable_patients():
    change = pd.DataFrame(
        {"USUBJID": ["A", "B"], "BASE_VAL": [10.0, 1.5], "POST_VAL": [5.0, 1.5],
         "BASE_LOD": ["N", "Y"], "POST_LOD": ["N", "Y"]}
    )  # fmt: skip
    out = tdm1.derive_ctdna_early_change(efficacy.derive_change_table(change))
    assert out["LOG2FC_EVAL"].iloc[0] == pytest.approx(-1.0)
    assert math.isnan(out["LOG2FC_EVAL"].iloc[1])


def test_lod_lines_are_twice_the_imputed_value():
    assert efficacy.derive_lod_lines(_adbm(), "CTDNATF", " %") == {3.0: "LoD 3 %"}
    none = _adbm().assign(LODFL="N")
    assert efficacy.derive_lod_lines(none, "CTDNATF") == {}


def test_short_labels_format_and_nan():
    table = pd.DataFrame(
        {"variable": ["A", "B"], "estimate": [0.25, np.nan], "ci_lower": [-0.3, np.nan],
         "ci_upper": [0.7, np.nan], "ci_level": [0.95, 0.95]}
    )  # fmt: skip
    labels = efficacy.summarise_short_labels(table, "ρ")
    assert labels == {"A": "ρ = 0.25 (95% CI −0.30 to 0.70)", "B": "ρ not estimable"}


def test_plot_offset_ticks_read_original_counts():
    import matplotlib.pyplot as plt

    from helpers import plots

    traj = efficacy.derive_trajectory_data(_adbm(), "CTDNATF", offset=1)
    fig = plots.plot_paired_trajectories_lod(
        traj, value_col="PLOTVAL", log=True, value_offset=1, ref_lines={6: "5 CTC"}
    )
    ax = fig.axes[0]
    ticks = dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], strict=True))
    assert ticks[1.0] == "0"
    assert ticks[11.0] == "10"
    assert any(ln.get_gid() == "ref_+6" for ln in ax.lines)
    plt.close(fig)


def test_landmark_logrank_one_group_gives_nan_row_two_groups_match_survival():
    from helpers.endpoints import survival

    groups = pd.DataFrame(
        {"USUBJID": ["P1", "P2", "P4", "P3"], "G": ["a", "a", "a", "b"], "F": list("YYYN")}
    )
    res = efficacy.derive_biomarker_landmark(_adtte(), groups, 1.0, "G", "F")
    two = efficacy.compute_landmark_logrank(res, "G").iloc[0]
    direct = survival.compute_logrank(res.data, "G").iloc[0]
    # two groups: the log-rank helper's row, here its minimum group size (issue 12)
    assert two["note"] == direct["note"]
    assert math.isnan(two["p_value"])
    assert "1 patient in group b (the log-rank test needs at least 3" in two["note"]
    one = efficacy.derive_biomarker_landmark(_adtte(), groups.iloc[:3], 1.0, "G", "F")
    row = efficacy.compute_landmark_logrank(one, "G").iloc[0]
    assert math.isnan(row["p_value"])
    assert "1 group" in row["note"]
