"""Sample timing (on treatment, visit window, progression, landmark) and the granzyme B views.

The demo cohort (``demo_datasets``) holds off-treatment, post-progression and late month-3 samples
(simulate/everolimus_nk.py); these tests show each is flagged and kept out of the primary and
early-biomarker analyses, and listed.
"""

import numpy as np
import pandas as pd
import pytest

from helpers.endpoints import timevarying, timing
from helpers.everolimus_nk import samples

TRIAL = "everolimus_nk"
TARGETS = {"BASELINE": 0, "M3": 91, "M9": 274}
HALF = {"BASELINE": 28, "M3": 14, "M9": 21}


def _treatment():
    return pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C"],
            "TRTSDT": pd.to_datetime(["2024-01-01"] * 3),
            "TRTEDT": pd.to_datetime(["2024-03-20", None, "2024-06-30"]),
            "PDDT": pd.to_datetime([None, "2024-03-15", None]),
        }
    )


def _samples():
    return pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "B", "C", "C"],
            "AVISIT": ["BASELINE", "M3", "BASELINE", "M3", "BASELINE", "M3"],
            "ADT": pd.to_datetime(
                ["2024-01-01", "2024-04-01", "2023-12-28", "2024-04-02", "2024-01-02", "2024-04-25"]
            ),
        }
    )


def test_flags_on_a_hand_made_example():
    w = timing.derive_visit_windows(TARGETS, HALF)
    out = timing.derive_sample_timing(_samples(), _treatment(), w, gap_days=7)
    # A: baseline on the first-dose day is pre-dose; M3 12 days after the last dose -> off
    assert list(out["TRTPHASE"]) == [
        timing.PHASE_PRE,
        timing.PHASE_OFF,
        timing.PHASE_PRE,
        timing.PHASE_ON,
        timing.PHASE_ON,
        timing.PHASE_ON,
    ]
    assert out.loc[1, "DSLDOSE"] == 12
    assert list(out["PREPDFL"]) == ["Y", "Y", "Y", "N", "Y", "Y"]
    # C: baseline one day after the first dose; M3 on day 115 is outside 91 +/- 14
    assert list(out["WINDOWFL"]) == ["Y", "Y", "Y", "Y", "N", "N"]
    assert list(out["ANLFL"]) == ["Y", "N", "Y", "N", "N", "N"]
    assert "off treatment" in out.loc[1, "ANLRSN"]
    assert "progression" in out.loc[3, "ANLRSN"]
    assert "after the first dose" in out.loc[4, "ANLRSN"]
    assert "outside the M3 window" in out.loc[5, "ANLRSN"]


def test_gap_parameter_moves_the_on_treatment_boundary():
    w = timing.derive_visit_windows(TARGETS, HALF)
    assert timing.derive_sample_timing(_samples(), _treatment(), w, 12).loc[1, "ONTRTFL"] == "Y"
    assert timing.derive_sample_timing(_samples(), _treatment(), w, 11).loc[1, "ONTRTFL"] == "N"
    with pytest.raises(ValueError, match="gap_days"):
        timing.derive_sample_timing(_samples(), _treatment(), w, -1)


def test_landmark_lists_late_samples():
    w = timing.derive_visit_windows(TARGETS, HALF)
    out = timing.derive_sample_timing(_samples(), _treatment(), w, 7)
    lm = timing.derive_landmark_samples(out, 3.0)
    assert set(lm.excluded["AVISIT"]) == {"M3"}  # days 91-115 > 91.3
    assert len(lm.included) + len(lm.excluded) == len(out)
    assert lm.excluded["reason"].str.contains("after the 3.00-month landmark").all()
    end = timing.compute_window_landmark_months(w, "M3")
    assert timing.derive_landmark_samples(out, end).excluded["TRTDAY"].min() > 105


@pytest.fixture(scope="module")
def timed(demo_datasets):
    d = demo_datasets[TRIAL]
    dates = samples.derive_treatment_dates(d["adsl"], d["adtte"])
    w = samples.derive_trial_windows(TARGETS, HALF)
    return samples.derive_biomarker_timing(d["adbm"], dates, w, 7), dates, w


def test_demo_has_off_treatment_post_progression_and_late_samples(timed):
    t, _, _ = timed
    m3 = t[(t["PARAMCD"] == "GZMB") & (t["AVISIT"] == "M3")]
    assert (m3["TRTPHASE"] == timing.PHASE_OFF).sum() >= 3
    assert (m3["PREPDFL"] == "N").sum() >= 3
    assert (m3["WINDOWFL"] == "N").sum() >= 1
    assert (m3["TRTDAY"] > 3.0 * timing.DAYS_PER_MONTH).sum() >= 3


def test_primary_gzmb_view_excludes_them_and_policy_view_keeps_them(timed):
    t, _, _ = timed
    views = samples.compute_gzmb_estimand_views(t)
    assert views["role"].iloc[0] == "primary"
    primary = views.iloc[0]
    policy = views[(views["view"] == samples.VIEW_POLICY) & (views["lloq_handling"] == "LLOQ/2")]
    m3 = t[(t["PARAMCD"] == "GZMB") & (t["AVISIT"] == "M3")]
    assert primary["N"] == (m3["ANLFL"] == "Y").sum()
    assert policy["N"].iloc[0] == len(m3)
    assert primary["N"] < policy["N"].iloc[0]
    assert set(views["lloq_handling"]) == {"LLOQ/2", "LLOQ", "censored likelihood (Tobit)"}
    assert np.isfinite(views["estimate"]).all()


def test_early_samples_never_include_post_progression_or_late_samples(timed):
    t, _, w = timed
    lm_months = timing.compute_window_landmark_months(w, "M3")
    early = samples.derive_early_samples(t[t["PARAMCD"] == "GZMB"], lm_months)
    assert (early.included["PREPDFL"] == "Y").all()
    assert (early.included["ONTRTFL"] == "Y").sum() >= 1
    assert (early.included["TRTDAY"] <= lm_months * timing.DAYS_PER_MONTH).all()
    assert early.excluded["reason"].str.contains("progression").any()
    assert early.excluded["reason"].str.contains("off treatment").any()
    at3 = samples.derive_early_samples(t[t["PARAMCD"] == "GZMB"], 3.0)
    assert at3.excluded["reason"].str.contains("after the 3.00-month landmark").any()


def test_western_blot_lanes_have_dates_and_flags(demo_datasets, timed):
    _, dates, w = timed
    adwb = demo_datasets[TRIAL]["adwb"]
    assert adwb["ADT"].notna().all()
    tw = samples.derive_biomarker_timing(adwb, dates, w, 7)
    assert (tw["ANLFL"] == "N").any()
    summary = samples.summarise_sample_timing(tw, None)
    assert summary["samples"].sum() == len(tw)


def test_time_varying_rows_use_values_only_from_when_they_are_known():
    from helpers.endpoints import timevarying

    tte = pd.DataFrame({"USUBJID": ["a", "b"], "AVAL": [10.0, 5.0], "CNSR": [0, 1]})
    changes = pd.DataFrame(
        {"USUBJID": ["a", "a", "b"], "TIME": [3.0, 12.0, 6.0], "VALUE": [1.0, 2.0, 5.0]}
    )
    out = timevarying.derive_time_varying_data(tte, changes)
    assert out.values.tolist() == [
        ["a", 0.0, 3.0, 0, 0.0],
        ["a", 3.0, 10.0, 1, 1.0],  # the value at 12 (after the event) is never used
        ["b", 0.0, 5.0, 0, 0.0],  # b's sample at 6 follows its censoring
    ]


def test_time_varying_cox_with_constant_covariate_equals_ordinary_cox():
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    from helpers.endpoints import timevarying

    d = load_rossi()
    ids = range(len(d))
    tte = pd.DataFrame({"USUBJID": ids, "AVAL": d["week"], "CNSR": 1 - d["arrest"]})
    ch = pd.DataFrame({"USUBJID": ids, "TIME": 0.0, "VALUE": d["age"].astype(float)})
    row = timevarying.compute_time_varying_cox(
        timevarying.derive_time_varying_data(tte, ch), "age"
    ).iloc[0]
    ref = CoxPHFitter().fit(d[["week", "arrest", "age"]], "week", "arrest")
    assert row["estimate"] == pytest.approx(float(ref.hazard_ratios_["age"]), rel=1e-5)
    assert row["n"] == d["arrest"].sum()


def test_time_varying_pfs_on_demo(timed, demo_datasets):
    from helpers.everolimus_nk import nk

    t, _, _ = timed
    out = samples.compute_time_varying_pfs(
        t, demo_datasets[TRIAL]["adtte"], ["GZMB", "CD107AK"], nk.derive_marker_log_scale()
    )
    assert list(out["PARAMCD"]) == ["GZMB", "CD107AK"]
    assert np.isfinite(out["estimate"]).all()


def test_power_statement_on_demo(timed):
    t, _, _ = timed
    out = samples.compute_gzmb_power(t, n_enrolled=36)
    assert out["pairs"].iloc[0] == 36
    primary_pairs = out["pairs"].iloc[1]
    assert primary_pairs < out["pairs"].iloc[2]
    assert out["detectable_gmr_decrease"].iloc[1] < out["detectable_gmr_decrease"].iloc[0] < 1


def _one_pair_timed(n_pairs):
    ids = [f"P{i}" for i in range(n_pairs)]
    return pd.DataFrame(
        {
            "USUBJID": ids * 2,
            "PARAMCD": "GZMB",
            "AVISIT": ["BASELINE"] * n_pairs + ["M3"] * n_pairs,
            "AVAL": [100.0] * n_pairs + [50.0] * n_pairs,
            "LODFL": "N",
            "ANLFL": "Y",
        }
    )


def test_power_statement_with_one_pair_is_not_estimable():
    # profiles one_responder / everolimus_only: no SD from one pair, a row per population says so
    out = samples.compute_gzmb_power(_one_pair_timed(1), n_enrolled=3)
    assert out["pairs"].tolist() == [3, 1, 1]
    assert out["detectable_gmr_decrease"].isna().all()
    assert (
        out["note"] == "not estimable: 1 primary M3 pair(s), no SD of the paired log differences"
    ).all()


def test_power_statement_with_identical_log_differences_is_not_estimable():
    out = samples.compute_gzmb_power(_one_pair_timed(3), n_enrolled=3)
    assert out["detectable_gmr_increase"].isna().all()
    assert (
        out["note"] == "not estimable: SD of the 3 primary M3 paired log differences is 0.0"
    ).all()


def test_time_varying_cox_monotone_likelihood_is_not_estimable():
    # each event happens to the patient with the largest current value: the partial likelihood
    # rises without bound in beta (Heinze & Schemper 2001); was an OverflowError in profile
    # all_responding
    from helpers.endpoints import timevarying

    data = pd.DataFrame(
        {
            "USUBJID": list("ABCDE"),
            "START": 0.0,
            "STOP": [10.0, 20.0, 30.0, 40.0, 50.0],
            "EVENT": [1, 1, 1, 0, 0],
            "VALUE": [50.0, 40.0, 30.0, 20.0, 10.0],
        }
    )
    row = timevarying.compute_time_varying_cox(data, "x").iloc[0]
    assert row[["estimate", "ci_lower", "ci_upper", "p_value"]].isna().all()
    assert row["note"].startswith("not estimable: monotone likelihood (complete separation)")
    assert (row["n"], row["N"]) == (3, 5)
    assert row["method"] == timevarying.METHOD_TD_COX


def test_time_varying_cox_guards_overflow_and_degenerate_fits():
    from helpers.endpoints import timevarying

    # a fit lifelines did not flag, but exp(beta + z*SE) is beyond the largest double
    assert timevarying._diverged(700.0, 10.0, 1.96, []) == (
        "log HR 700 ± 19.6 overflows: the hazard ratio diverges"
    )
    assert timevarying._diverged(1.0, float("nan"), 1.96, []).startswith("degenerate fit")
    assert timevarying._diverged(0.5, 0.2, 1.96, []) == ""


def test_undated_samples_are_kept_at_their_visit_and_shown_as_unknown():
    w = timing.derive_visit_windows(TARGETS, HALF)
    s = _samples()
    s.loc[1, "ADT"] = pd.NaT
    out = timing.derive_sample_timing(s, _treatment(), w, 7)
    assert out.loc[1, "TRTPHASE"] == timing.PHASE_UNKNOWN
    assert out.loc[1, "ANLFL"] == "Y"
    assert out.loc[1, "ONTRTFL"] is None
    excl = timing.derive_sample_timing(s, _treatment(), w, 7, undated="exclude")
    assert excl.loc[1, "ANLFL"] == "N"
    assert "no sample date" in excl.loc[1, "ANLRSN"]
    no_dates = samples.derive_biomarker_timing(s.drop(columns="ADT"), _treatment(), w, 7)
    summary = samples.summarise_sample_timing(no_dates, None)
    assert summary["timing unknown (no date)"].sum() == len(s)


def test_true_m3_ratio_inside_the_primary_while_on_treatment_ci(timed, demo_manifest):
    truth = float(demo_manifest["true_parameters"][TRIAL]["gzmb_m3_ratio_geomean"]["value"])
    t, _, _ = timed
    primary = samples.compute_gzmb_estimand_views(t).iloc[0]
    assert primary["ci_lower"] <= truth <= primary["ci_upper"]


def _time_varying_loop(tte: pd.DataFrame, changes: pd.DataFrame, initial) -> pd.DataFrame:
    """The per-patient definition of derive_time_varying_data, written as a plain loop (oracle)."""
    rows = []
    for pid, end, cnsr in zip(tte["USUBJID"], tte["AVAL"], tte["CNSR"], strict=True):
        if not float(end) > 0:
            continue
        own = changes[changes["USUBJID"].eq(pid)].dropna(subset=["TIME", "VALUE"])
        own = own[own["TIME"] < end].sort_values("TIME", kind="stable")
        cuts = [0.0, *sorted({float(t) for t in own["TIME"] if t > 0}), float(end)]
        for k in range(len(cuts) - 1):
            known = own[own["TIME"] <= cuts[k]]
            value = known["VALUE"].iloc[-1] if len(known) else initial
            if value is None or np.isnan(value):
                continue
            rows.append((pid, cuts[k], cuts[k + 1], int(k == len(cuts) - 2 and cnsr == 0), value))
    return pd.DataFrame(rows, columns=["USUBJID", "START", "STOP", "EVENT", "VALUE"])


@pytest.mark.parametrize("seed", range(40))
def test_time_varying_rows_equal_the_per_patient_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    ids = [f"P{i}" for i in range(n)]
    tte = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVAL": rng.choice([0.0, np.nan, 1.0, 2.5, 6.0, 12.25], n),
            "CNSR": rng.integers(0, 2, n),
        }
    )
    m = int(rng.integers(0, 25))
    changes = pd.DataFrame(
        {
            "USUBJID": rng.choice([*ids, "not followed"], m),
            "TIME": rng.choice([-1.0, 0.0, 0.5, 1.0, 3.0, 6.0, np.nan, 12.25, 20.0], m),
            "VALUE": rng.choice([0.1, 1.0, np.nan, 5.0], m),
        }
    ).drop_duplicates(["USUBJID", "TIME"])
    for initial in (0.0, None):
        got = timevarying.derive_time_varying_data(tte, changes, initial)
        want = _time_varying_loop(tte, changes, initial)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
