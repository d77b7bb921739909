"""Tests for helpers.everolimus_nk.mtor (notebook 04 glue) and helpers.plots.style_context.

Reference values are worked out by hand from the rows written in this file, or computed by an
independent route (numpy/scipy formulas, lifelines fitted directly, exhaustive enumeration); the
test names say which. Densitometry inputs go through
``helpers.everolimus_nk.western.derive_western`` so that
the lanes carry exactly the flags of the processed ``adwb``.
"""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from matplotlib.figure import Figure
from scipy import stats as sps

from helpers import plots
from helpers.endpoints import survival
from helpers.everolimus_nk import mtor, western

# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def _lane(membrane, lane, subject, visit, p, t, load=40000.0, sat=("N", "N", "N")):
    lane_type = "calibrator" if subject is None else "sample"
    bands = ("p_rpS6", "total_rpS6", "loading_control")
    return [
        {
            "membrane_id": membrane,
            "lane": lane,
            "lane_type": lane_type,
            "subject_id": subject,
            "visit": visit,
            "band": band,
            "intensity": value,
            "saturated": s,
        }
        for band, value, s in zip(bands, (p, t, load), sat, strict=True)
    ]


def _raw_wb() -> pd.DataFrame:
    rows = []
    # WB01: calibrator ratio 0.5; P1 baseline ratio 1.0 (NRATIO 2), M3 0.25 (NRATIO 0.5);
    # P2 baseline ratio 0.5 (NRATIO 1), M3 undetectable p-rpS6 (NRATIO 0)
    rows += _lane("WB01", 1, None, None, 10000, 20000)
    rows += _lane("WB01", 2, "P1", "BASELINE", 20000, 20000)
    rows += _lane("WB01", 3, "P1", "M3", 5000, 20000)
    rows += _lane("WB01", 4, "P2", "BASELINE", 10000, 20000)
    rows += _lane("WB01", 5, "P2", "M3", 0, 20000)
    # WB02: calibrator ratio 2.0 (membrane 4x brighter p-rpS6); P3 baseline ratio 4 (NRATIO 2),
    # P3 M3 saturated p-rpS6 (excluded), P4 baseline with loading control far off (flag only)
    rows += _lane("WB02", 1, None, None, 40000, 20000)
    rows += _lane("WB02", 2, "P3", "BASELINE", 80000, 20000)
    rows += _lane("WB02", 3, "P3", "M3", 60000, 20000, sat=("Y", "N", "N"))
    rows += _lane("WB02", 4, "P4", "BASELINE", 40000, 20000, load=5000.0)
    rows += _lane("WB02", 5, "P4", "M3", 20000, 20000)
    # WB03: calibrator with undetectable total rpS6 -> no usable calibrator for P5
    rows += _lane("WB03", 1, None, None, 10000, 0)
    rows += _lane("WB03", 2, "P5", "BASELINE", 10000, 20000)
    return pd.DataFrame(rows)


@pytest.fixture
def adwb() -> pd.DataFrame:
    return western.derive_western(_raw_wb()).lanes


def _inhib(base, aval, visit="M3") -> pd.DataFrame:
    base, aval = np.asarray(base, float), np.asarray(aval, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(base > 0, 100 * (1 - aval / base), np.nan)
    return pd.DataFrame(
        {
            "USUBJID": [f"P{i + 1}" for i in range(base.size)],
            "AVISIT": visit,
            "BASE": base,
            "AVAL": aval,
            "NLANES": 1,
            "INHIB_PCT": pct,
            "REASON": None,
        }
    )


@pytest.fixture
def close_figs():
    figs: list[Figure] = []
    yield figs
    for fig in figs:
        fig.clf()


# --------------------------------------------------------------------------------------------
# densitometry QC
# --------------------------------------------------------------------------------------------


def test_select_western_qc_keeps_csv_and_xlsx_western_rows_only():
    qc = pd.DataFrame(
        {
            "FILE": ["western_blot.csv", "nk_flow.csv", "western_blot.xlsx", "granzyme_b.csv"],
            "RECORD": ["a", "b", "c", "d"],
            "RULE": ["saturated"] * 4,
            "REASON": ["r"] * 4,
        }
    )
    out = mtor.select_western_qc(qc)
    assert out["RECORD"].tolist() == ["a", "c"]
    assert list(out.index) == [0, 1]


def test_select_western_qc_rejects_non_frame_and_missing_columns():
    with pytest.raises(TypeError, match="DataFrame"):
        mtor.select_western_qc([1, 2])
    with pytest.raises(ValueError, match="FILE"):
        mtor.select_western_qc(pd.DataFrame({"RULE": []}))


def test_summarise_lane_qc_counts_match_hand_tally_of_builder(adwb):
    out = mtor.summarise_lane_qc(adwb).set_index("AVISIT")
    # sample lanes: BASELINE P1 P2 P3 P4 P5 (P5: no calibrator), M3 P1 P2 P3(sat) P4
    assert out.index.tolist() == ["BASELINE", "M3", "Total"]
    assert out.loc["BASELINE", "LANES"] == 5
    assert out.loc["BASELINE", "EVALUABLE"] == 4
    assert out.loc["M3", "SATURATED"] == 1
    assert out.loc["M3", "UNDETECTABLE"] == 1
    assert out.loc["BASELINE", "LOADING_FLAG"] == 1
    assert out.loc["Total", "LANES"] == 9
    assert out.loc["Total", "NOT_EVALUABLE"] == 2


def test_derive_band_flags_lists_every_flag_with_its_rule(adwb):
    flags = mtor.derive_band_flags(adwb, floor=0.25)
    by = {(r.USUBJID, r.AVISIT): r for r in flags.itertuples()}
    assert by[("P3", "M3")].IN_ANALYSIS == "N"
    assert "saturated" in by[("P3", "M3")].FLAG
    assert by[("P2", "M3")].IN_ANALYSIS == "Y"
    assert "100 %" in by[("P2", "M3")].RULE_APPLIED
    assert "0.25" in by[("P2", "M3")].RULE_APPLIED
    assert "loading" in by[("P4", "BASELINE")].FLAG
    assert by[("P4", "BASELINE")].IN_ANALYSIS == "Y"
    assert "calibrator" in by[("P5", "BASELINE")].FLAG
    assert by[("P5", "BASELINE")].IN_ANALYSIS == "N"
    assert len(flags) == 4


def test_derive_band_flags_total_undetectable_and_empty_when_clean():
    rows = _lane("WB01", 1, None, None, 10000, 20000) + _lane("WB01", 2, "P1", "M3", 100, 0)
    flags = mtor.derive_band_flags(western.derive_western(pd.DataFrame(rows)).lanes)
    assert flags["FLAG"].tolist() == ["total rpS6 undetectable"]
    clean = _lane("WB01", 1, None, None, 10000, 20000) + _lane("WB01", 2, "P1", "M3", 100, 200)
    empty = mtor.derive_band_flags(western.derive_western(pd.DataFrame(clean)).lanes)
    assert empty.empty
    assert "RULE_APPLIED" in empty.columns


def test_summarise_membranes_geometric_means_match_hand_computation(adwb):
    out = mtor.summarise_membranes(adwb).set_index("MEMBRANE")
    # WB01 detectable evaluable lanes: ratios 1.0, 0.25, 0.5 -> GM = (0.125)^(1/3) = 0.5;
    # normalised by 0.5 -> GM 1.0
    assert out.loc["WB01", "NLANES"] == 3
    assert out.loc["WB01", "GM_RATIO"] == pytest.approx(0.5)
    assert out.loc["WB01", "GM_NRATIO"] == pytest.approx(1.0)
    # WB02 evaluable: ratios 4, 2, 1 -> GM 2; calibrator 2 -> GM NRATIO 1
    assert out.loc["WB02", "GM_RATIO"] == pytest.approx(2.0)
    assert out.loc["WB02", "CALRATIO"] == pytest.approx(2.0)
    assert out.loc["WB02", "GM_NRATIO"] == pytest.approx(1.0)
    assert "WB03" not in out.index  # no usable calibrator: nothing evaluable


def test_summarise_membrane_sentence_correlation_and_sd_by_hand():
    # raw means proportional to the calibrator (r = 1); normalised means constant except one
    membranes = pd.DataFrame(
        {
            "CALRATIO": [0.5, 1.0, 2.0],
            "GM_RATIO": [0.25, 0.5, 1.0],
            "GM_NRATIO": [0.5, 0.5, 0.5],
        }
    )
    text = mtor.summarise_membrane_sentence(membranes)
    assert "1.00 for the raw ratio" in text
    assert "NE after normalisation" in text  # constant normalised means: correlation undefined
    # SD of log(0.25), log(0.5), log(1) with ddof 1 = log 2 = 0.69
    assert f"{math.log(2):.2f} raw and 0.00 normalised" in text
    assert mtor.summarise_membrane_sentence(membranes.head(2)).startswith("2 membrane(s)")


def test_plot_membrane_normalisation_two_log_panels_with_calibrators(adwb, close_figs):
    fig = mtor.plot_membrane_normalisation(adwb)
    close_figs.append(fig)
    left, right = fig.axes
    assert left.get_yscale() == right.get_yscale() == "log"
    assert [t.get_text() for t in left.get_xticklabels()] == ["WB01", "WB02"]
    assert len(fig.legends[0].get_texts()) == 3
    assert not left.spines["top"].get_visible()  # house style applied


def test_plot_membrane_normalisation_without_evaluable_lane_raises():
    rows = _lane("WB01", 1, None, None, 10000, 0) + _lane("WB01", 2, "P1", "M3", 100, 200)
    lanes = western.derive_western(pd.DataFrame(rows)).lanes
    with pytest.raises(ValueError, match="no evaluable lane"):
        mtor.plot_membrane_normalisation(lanes)


# --------------------------------------------------------------------------------------------
# floor and inhibition summaries
# --------------------------------------------------------------------------------------------


def test_derive_undetectable_floor_is_fraction_of_lowest_detected_nratio(adwb):
    # detected evaluable NRATIOs: 2, 0.5, 1, 2, 1, 1 (P4 M3 = 1) -> lowest 0.5
    assert mtor.derive_undetectable_floor(adwb) == pytest.approx(0.25)
    assert mtor.derive_undetectable_floor(adwb, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("fraction", "error"), [(0, ValueError), (1.5, ValueError), ("a", TypeError)]
)
def test_derive_undetectable_floor_rejects_bad_fraction(adwb, fraction, error):
    with pytest.raises(error):
        mtor.derive_undetectable_floor(adwb, fraction)


def test_derive_undetectable_floor_without_detected_lane_raises():
    lanes = pd.DataFrame({"NRATIO": [0.0, np.nan], "EVALFL": ["Y", "N"]})
    with pytest.raises(ValueError, match="floor cannot be derived"):
        mtor.derive_undetectable_floor(lanes)


def test_compute_inhibition_gmr_matches_hand_t_interval_on_log_ratios():
    base, aval = [1.0, 2.0, 4.0, 1.5], [0.5, 1.0, 1.0, 0.9]
    out = mtor.compute_inhibition_gmr(_inhib(base, aval), "M3", floor=0.1).iloc[0]
    # independent route: mean and SD of log ratios, t quantile from scipy
    d = np.log(aval) - np.log(base)
    half = sps.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    assert out["estimate"] == pytest.approx(100 * (1 - math.exp(d.mean())))
    assert out["ci_lower"] == pytest.approx(100 * (1 - math.exp(d.mean() + half)))
    assert out["ci_upper"] == pytest.approx(100 * (1 - math.exp(d.mean() - half)))
    assert out["N"] == 4
    assert pd.isna(out["n"])  # a ratio has no numerator
    assert "0 undetectable value(s)" in out["note"]
    assert out["ci_lower"] < out["estimate"] < out["ci_upper"]


def test_compute_inhibition_gmr_floor_equals_manual_substitution_and_exclusion_drops_pair():
    inhib = _inhib([1.0, 2.0, 4.0, 1.5], [0.5, 0.0, 1.0, 0.9])
    floored = mtor.compute_inhibition_gmr(inhib, "M3", floor=0.2).iloc[0]
    manual = mtor.compute_inhibition_gmr(
        _inhib([1.0, 2.0, 4.0, 1.5], [0.5, 0.2, 1.0, 0.9]), "M3", 0.2
    )
    assert floored["estimate"] == pytest.approx(manual.iloc[0]["estimate"])
    assert "1 undetectable value(s) set to floor 0.2" in floored["note"]
    excluded = mtor.compute_inhibition_gmr(inhib, "M3", floor=None).iloc[0]
    assert excluded["N"] == 3
    assert "excluded" in excluded["note"]


def test_compute_inhibition_gmr_single_pair_nan_ci_and_no_pair_nan_row():
    # one patient's own inhibition is not an estimate (issue 12)
    one = mtor.compute_inhibition_gmr(_inhib([2.0], [1.0]), "M3", 0.1).iloc[0]
    assert math.isnan(one["estimate"])
    assert math.isnan(one["ci_lower"])
    assert "not estimable: 1 complete pair" in one["note"]
    none = mtor.compute_inhibition_gmr(_inhib([np.nan], [1.0]), "M3", 0.1).iloc[0]
    assert none["N"] == 0
    assert math.isnan(none["estimate"])
    assert none["note"].startswith("not estimable: no complete pair at M3")


def test_floor_sensitivity_with_one_patient_has_only_not_estimable_rows():
    # profile one_responder: every handling rests on one pair (or none), never one patient's ratio
    lanes = pd.DataFrame({"NRATIO": [2.0, 1.0], "EVALFL": "Y"})
    out = mtor.compute_floor_sensitivity(_inhib([2.0], [1.0]), lanes, [1.0, 0.5], ["M3", "M9"])
    assert out["estimate"].isna().all()
    assert out["note"].str.startswith("not estimable: ").all()
    assert out.loc[out["visit"].eq("M3"), "note"].str.contains("1 complete pair at M3").all()
    assert not out["note"].str.contains("GMR nan").any()


def test_compute_inhibition_gmr_rejects_baseline_visit_and_bad_floor():
    inhib = _inhib([1.0, 2.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="post-baseline"):
        mtor.compute_inhibition_gmr(inhib, "BASELINE", 0.1)
    with pytest.raises(ValueError, match="> 0"):
        mtor.compute_inhibition_gmr(inhib, "M3", -1.0)
    with pytest.raises(ValueError, match="ci_level"):
        mtor.compute_inhibition_gmr(inhib, "M3", 0.1, ci_level=95)


def test_compute_inhibition_gmr_ci_coverage_at_least_nominal_in_independent_simulation():
    # Independent generator (not helpers.data.simulate): log NRATIO with a random patient intercept
    # (SD 0.35, within-patient correlation 0.6), true GMR 0.4 = 60 % inhibition, n = 25; the
    # most inhibited M3 value is made undetectable (0) and floored at 0.5 x lowest detected, as
    # in the notebook. 400 replicates: coverage must not fall more than 3 binomial SEs below
    # 0.95 (the floored outlier widens the CI, so slight over-coverage, ~0.98, is expected).
    rng = np.random.default_rng(20261121)
    hits, estimates = 0, []
    for _ in range(400):
        intercept = rng.normal(0, 0.35 * math.sqrt(0.6), 25)
        base = np.exp(intercept + rng.normal(0, 0.35 * math.sqrt(0.4), 25))
        aval = np.exp(intercept + math.log(0.4) + rng.normal(0, 0.35 * math.sqrt(0.4), 25))
        aval[np.argmin(aval / base)] = 0.0
        floor = 0.5 * min(base.min(), aval[aval > 0].min())
        row = mtor.compute_inhibition_gmr(_inhib(base, aval), "M3", floor).iloc[0]
        hits += row["ci_lower"] <= 60.0 <= row["ci_upper"]
        estimates.append(row["estimate"])
    se = math.sqrt(0.95 * 0.05 / 400)
    assert hits / 400 >= 0.95 - 3 * se
    assert abs(np.mean(estimates) - 60.0) < 2.5  # the floor biases upwards by ~1-1.5 points


def test_compute_inhibition_median_n6_exact_ci_is_walsh_range_hollander_wolfe():
    # n = 6: P(T+ <= 0) = 1/64 <= 0.025 < P(T+ <= 1) = 2/64, so C = 1 and the exact 95 % CI is
    # (smallest, largest Walsh average) = (min, max) with achieved confidence 1 - 2/64
    # (Hollander, Wolfe & Chicken 2014, §3.2); symmetric data -> HL estimate = centre 35.
    pct = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    inhib = _inhib(np.ones(6), 1 - pct / 100)
    out = mtor.compute_inhibition_median(inhib, "M3").iloc[0]
    assert out["estimate"] == pytest.approx(35.0)
    assert (out["ci_lower"], out["ci_upper"]) == pytest.approx((10.0, 60.0))
    assert "0.9688" in out["note"]
    assert out["N"] == 6
    assert out["method"].startswith("One-sample Wilcoxon")


def test_compute_inhibition_median_keeps_undetectable_as_100_and_empty_is_nan():
    inhib = _inhib([1.0, 1.0, 1.0], [0.5, 0.0, 0.6])
    out = mtor.compute_inhibition_median(inhib, "M3").iloc[0]
    # Walsh averages of (50, 100, 40): 40, 45, 50, 70, 75, 100 -> median 60
    assert out["estimate"] == pytest.approx(60.0)
    empty = mtor.compute_inhibition_median(_inhib([np.nan], [0.5]), "M3").iloc[0]
    assert empty["N"] == 0
    assert math.isnan(empty["estimate"])
    assert empty["note"] == "not estimable: no computable inhibition at M3"
    share = mtor.compute_inhibition_proportion(_inhib([np.nan], [0.5]), "M3").iloc[0]
    assert share["note"] == "not estimable: no computable inhibition at M3"


def test_compute_inhibition_proportion_7_of_20_matches_scipy_beta_quantiles():
    pct = np.array([60.0] * 7 + [20.0] * 13)
    out = mtor.compute_inhibition_proportion(_inhib(np.ones(20), 1 - pct / 100), "M3").iloc[0]
    # Clopper–Pearson by the beta-quantile formula, computed independently with scipy
    assert (out["n"], out["N"]) == (7, 20)
    assert out["ci_lower"] == pytest.approx(sps.beta.ppf(0.025, 7, 14))
    assert out["ci_upper"] == pytest.approx(sps.beta.ppf(0.975, 8, 13))


def test_compute_inhibition_proportion_threshold_inclusive_all_and_none():
    inhib = _inhib([1.0, 1.0], [0.5, 0.0])  # 50 % and 100 %
    out = mtor.compute_inhibition_proportion(inhib, "M3", 50.0).iloc[0]
    assert (out["n"], out["N"], out["ci_upper"]) == (2, 2, 1.0)
    none = mtor.compute_inhibition_proportion(inhib, "M3", 101.0).iloc[0]
    assert (none["n"], none["ci_lower"]) == (0, 0.0)
    empty = mtor.compute_inhibition_proportion(_inhib([np.nan], [1.0]), "M3").iloc[0]
    assert empty["N"] == 0


def test_summarise_inhibition_three_rows_per_visit_primary_first_and_sentence():
    inhib = pd.concat(
        [
            _inhib([1.0, 2.0, 4.0, 1.5], [0.5, 1.0, 1.0, 0.9], "M3"),
            _inhib([1.0, 2.0, 4.0, 1.5], [0.6, 1.2, 2.0, 1.0], "M9"),
        ],
        ignore_index=True,
    )
    out = mtor.summarise_inhibition(inhib, floor=0.1)
    assert out["visit"].tolist() == ["M3"] * 3 + ["M9"] * 3
    assert out["analysis"].tolist() == ["primary", "secondary", "secondary"] * 2
    assert {"parameter", "estimate", "ci_lower", "ci_upper", "method"} <= set(out.columns)
    text = mtor.summarise_inhibition_sentence(out, 50.0)
    assert text.startswith("M3: rpS6 phosphorylation reduced by")
    assert f"{out.loc[0, 'estimate']:.0f} %" in text
    assert "≥ 50 % inhibition" in text


def test_compute_floor_sensitivity_rows_labels_and_exclusion():
    inhib = _inhib([1.0, 2.0, 4.0, 1.5], [0.5, 0.0, 1.0, 0.9])
    adwb = pd.DataFrame({"NRATIO": [0.5, 1.0, 0.0], "EVALFL": ["Y", "Y", "Y"]})
    out = mtor.compute_floor_sensitivity(inhib, adwb, (1.0, 0.5), ("M3",), 0.95, 0.5)
    assert out["handling"].tolist() == [
        "floor = 1 × lowest detected",
        "floor = 0.5 × lowest detected",
        "excluded",
    ]
    assert out["parameter"].str.endswith("(primary)").tolist() == [False, True, False]
    assert out["N"].tolist() == [4, 4, 3]
    # a lower floor means a deeper fall for the undetectable patient: more inhibition
    assert out.loc[1, "estimate"] > out.loc[0, "estimate"]
    with pytest.raises(ValueError, match="fractions"):
        mtor.compute_floor_sensitivity(inhib, adwb, ())


def test_summarise_inhibition_availability_counts_and_reasons(adwb):
    inhib = western.compute_rps6_inhibition(adwb, visits=("M3",))
    out = mtor.summarise_inhibition_availability(inhib).iloc[0]
    # P1 computed, P2 undetectable (100 %), P3 saturated M3, P4 computed, P5 no baseline
    assert (out["PATIENTS"], out["COMPUTED"], out["UNDETECTABLE_100PCT"]) == (5, 3, 1)
    assert out["NOT_COMPUTED"] == 2
    assert out["REASONS"] == (
        "no evaluable baseline lane; no evaluable lane at this visit (n = 1) | "
        "no evaluable lane at this visit (n = 1)"
    )


def test_derive_rps6_trajectories_adds_baseline_rows_and_floors_zero():
    inhib = _inhib([1.0, 2.0], [0.5, 0.0])
    out = mtor.derive_rps6_trajectories(inhib, floor=0.05)
    assert out["AVISIT"].tolist() == ["BASELINE", "M3", "BASELINE", "M3"]
    assert out["AVAL"].tolist() == [1.0, 0.5, 2.0, 0.05]
    assert out["FLOORFL"].tolist() == ["N", "N", "N", "Y"]
    assert out["AVISITN"].tolist() == [0, 3, 0, 3]


def test_plot_inhibition_distribution_has_zero_and_threshold_lines(close_figs):
    inhib = _inhib([1.0, 1.0, 1.0], [0.5, 0.2, 0.9])
    fig = mtor.plot_inhibition_distribution(inhib, 50.0, ("M3",))
    close_figs.append(fig)
    ys = sorted(line.get_ydata()[0] for line in fig.axes[0].lines if line.get_linestyle() == "--")
    assert ys == [0.0, 50.0]


# --------------------------------------------------------------------------------------------
# NK biology
# --------------------------------------------------------------------------------------------


def _adbm(n: int = 8) -> pd.DataFrame:
    rows = []
    for i in range(n):
        pid = f"P{i + 1}"
        for visit, factor in (("BASELINE", 1.0), ("M3", 0.5 + 0.1 * i)):
            rows.append((pid, "GZMB", visit, 100.0 * factor))
            rows.append((pid, "CD107AK", visit, 30.0 - (10.0 * (visit == "M3")) + i))
    df = pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    return df.assign(LODFL="N")


def test_derive_correlation_data_log2_ratio_and_percentage_point_change():
    inhib = _inhib(np.ones(8), np.linspace(0.2, 0.9, 8))
    data = mtor.derive_correlation_data(inhib, _adbm(), "M3", ["GZMB", "CD107AK"])
    # P1: GZMB 100 -> 50, log2 ratio -1; P8: 100 -> 120. CD107AK: 30 + i -> 20 + i, i.e. -10 pp
    assert data.loc[0, "GZMB_CHG"] == pytest.approx(math.log2(0.5))
    assert data.loc[7, "GZMB_CHG"] == pytest.approx(math.log2(1.2))
    assert data["CD107AK_CHG"].tolist() == pytest.approx([-10.0] * 8)
    assert data.attrs["log_scale"] == {"GZMB": True, "CD107AK": False}
    with pytest.raises(ValueError, match="markers"):
        mtor.derive_correlation_data(inhib, _adbm(), "M3", [])


def test_compute_inhibition_correlations_rho_and_bh_adjustment_by_hand():
    inhib = _inhib(np.ones(8), np.linspace(0.2, 0.9, 8))  # inhibition falls with patient index
    adbm = _adbm()
    noise = [3, 1, 4, 1, 5, 9, 2, 6]
    adbm.loc[(adbm.PARAMCD == "CD107AK") & (adbm.AVISIT == "M3"), "AVAL"] = noise
    data = mtor.derive_correlation_data(inhib, adbm, "M3", ["GZMB", "CD107AK"])
    out = mtor.compute_inhibition_correlations(data, "M3", n_boot=500, seed=1)
    assert out["PARAMCD"].tolist() == ["GZMB", "CD107AK"]
    # GZMB change rises with index while inhibition falls: Spearman rho = -1 exactly
    assert out.loc[0, "estimate"] == pytest.approx(-1.0)
    # Benjamini–Hochberg by hand: sorted p (p1 <= p2), adj2 = p2, adj1 = min(2 p1, p2)
    p = out["p_value"].to_numpy()
    lo, hi = np.argsort(p)
    assert out.loc[hi, "p_adj"] == pytest.approx(p[hi])
    assert out.loc[lo, "p_adj"] == pytest.approx(min(2 * p[lo], p[hi]))
    # independent rho of the second marker from scipy
    rho = sps.spearmanr(data["INHIB_PCT"], data["CD107AK_CHG"]).statistic
    assert out.loc[1, "estimate"] == pytest.approx(rho)
    assert out.loc[1, "ci_lower"] <= out.loc[1, "estimate"] <= out.loc[1, "ci_upper"]


def test_compute_inhibition_correlations_needs_derived_data_and_handles_two_pairs():
    with pytest.raises(ValueError, match="derive_correlation_data"):
        mtor.compute_inhibition_correlations(pd.DataFrame({"USUBJID": [], "INHIB_PCT": []}))
    inhib = _inhib(np.ones(2), [0.5, 0.6])
    data = mtor.derive_correlation_data(inhib, _adbm(2), "M3", ["GZMB"])
    out = mtor.compute_inhibition_correlations(data, "M3", n_boot=200)
    assert math.isnan(out.loc[0, "estimate"])
    assert "2 complete pair" in out.loc[0, "note"]


def test_plot_inhibition_correlations_one_panel_per_marker_titles_carry_rho(close_figs):
    inhib = _inhib(np.ones(8), np.linspace(0.2, 0.9, 8))
    data = mtor.derive_correlation_data(inhib, _adbm(), "M3", ["GZMB", "CD107AK"])
    out = mtor.compute_inhibition_correlations(data, "M3", n_boot=200, seed=2)
    fig = mtor.plot_inhibition_correlations(data, out, "M3", ncols=3)
    close_figs.append(fig)
    assert len(fig.axes) == 2  # unused grid cells are removed, not left blank
    assert fig.axes[0].get_title(loc="left").startswith("Granzyme B\nρ = −1.00")


# --------------------------------------------------------------------------------------------
# clinical outcome
# --------------------------------------------------------------------------------------------


def _adtte() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": [f"P{i}" for i in range(1, 9)],
            "PARAMCD": "PFS",
            "AVAL": [2.0, 5.0, 7.0, 9.0, 12.0, 14.0, 6.0, 20.0],
            "CNSR": [0, 0, 0, 1, 0, 0, 0, 1],
        }
    )


def test_derive_inhibition_landmark_excludes_early_events_and_missing_inhibition():
    inhib = _inhib(np.ones(8), [0.2, 0.4, 0.7, np.nan, 0.3, 0.5, 0.8, 0.6])
    lm = mtor.derive_inhibition_landmark(_adtte(), inhib, "M3", 3.0, 50.0)
    reasons = dict(zip(lm.excluded["USUBJID"], lm.excluded["reason"], strict=True))
    assert reasons == {
        "P1": "event before landmark",
        "P4": "no rpS6 inhibition computed at M3",
    }
    assert lm.excluded.set_index("USUBJID").loc["P4", "AVAL"] == pytest.approx(9.0)
    data = lm.data.set_index("USUBJID")
    assert data.loc["P2", "AVAL"] == pytest.approx(2.0)  # 5 - 3
    assert data.loc["P2", "INHIB10"] == pytest.approx(6.0)
    assert data.loc["P3", "INHIBGRP"] == "< 50 %"
    assert data.loc["P6", "INHIBGRP"] == "≥ 50 %"  # exactly 50 % counts as reached


def test_compute_inhibition_pfs_hr_per_10pct_equals_lifelines_exp_10_beta():
    inhib = _inhib(np.ones(8), [0.2, 0.4, 0.7, 0.35, 0.3, 0.5, 0.8, 0.6])
    lm = mtor.derive_inhibition_landmark(_adtte(), inhib, "M3", 3.0, 50.0)
    out = mtor.compute_inhibition_pfs(lm, "M3")
    # independent route: lifelines on % inhibition itself; HR per 10 % = exp(10 beta)
    cph = CoxPHFitter().fit(
        lm.data[["AVAL", "INHIB_PCT"]].assign(E=1 - lm.data["CNSR"]), "AVAL", "E"
    )
    beta = float(cph.params_["INHIB_PCT"])
    assert out.loc[0, "estimate"] == pytest.approx(math.exp(10 * beta), rel=1e-5)
    assert out.loc[0, "parameter"].startswith("PFS HR per 10 % more")
    assert out.loc[0, "n"] == int((lm.data["CNSR"] == 0).sum())
    assert out.loc[1, "method"].startswith("Log-rank")


def test_compute_inhibition_pfs_all_censored_gives_nan_rows_with_reason():
    adtte = _adtte().assign(CNSR=1)
    lm = mtor.derive_inhibition_landmark(adtte, _inhib(np.ones(8), np.linspace(0.2, 0.9, 8)))
    out = mtor.compute_inhibition_pfs(lm)
    assert math.isnan(out.loc[0, "estimate"])
    assert "not estimable" in out.loc[0, "note"]
    with pytest.raises(TypeError, match="derive_inhibition_landmark"):
        mtor.compute_inhibition_pfs(lm.data)


def test_derive_inhibition_response_joins_bor_and_keeps_missing_as_non_responder():
    inhib = _inhib([1.0, 1.0, 1.0, np.nan], [0.3, 0.6, 0.2, 0.5])
    bor = pd.DataFrame(
        {
            "USUBJID": ["P1", "P2", "P3", "P4"],
            "AVALC": ["PR", "PD", "MISSING", "SD"],
            "RSPFL": ["Y", "N", "N", "N"],
            "RESPONSE": ["Responder (CR/PR)", "Non-responder", "Non-responder", "Non-responder"],
        }
    )
    out = mtor.derive_inhibition_response(inhib, bor, "M3")
    assert out["USUBJID"].tolist() == ["P1", "P2", "P3"]  # P4: no inhibition
    assert out["BOR"].tolist() == ["PR", "PD", "MISSING"]
    assert out["INHIB_PCT"].tolist() == pytest.approx([70.0, 40.0, 80.0])


# --------------------------------------------------------------------------------------------
# display helper and plots.style_context
# --------------------------------------------------------------------------------------------


def test_summarise_estimates_text_percent_only_for_clopper_pearson_rows():
    table = pd.DataFrame(
        {
            "parameter": ["a", "b"],
            "n": [7, None],
            "N": [20, 20],
            "estimate": [0.35, 61.5],
            "ci_lower": [0.154, 54.0],
            "ci_upper": [0.592, 67.0],
            "ci_level": [0.95, 0.95],
            "method": ["Clopper–Pearson exact", "Paired t-test"],
            "p_value": [np.nan, 0.01],
        }
    )
    out = mtor.summarise_estimates_text(table)
    assert out["estimate (CI)"].tolist() == ["35.00 % (15.40 to 59.20)", "61.50 (54.00 to 67.00)"]
    assert list(out.columns) == ["parameter", "n", "N", "estimate (CI)", "method", "p_value"]


def test_style_context_styles_new_axes_and_leaves_global_rcparams_untouched():
    before = dict(mpl.rcParams)
    with plots.style_context():
        fig = Figure()
        ax = fig.subplots()
    assert not ax.spines["top"].get_visible()
    assert mpl.rcParams["axes.spines.top"] == before["axes.spines.top"]
    assert mpl.rcParams["font.size"] == before["font.size"]


def test_landmark_result_is_the_survival_dataclass():
    lm = mtor.derive_inhibition_landmark(_adtte(), _inhib(np.ones(8), np.linspace(0.2, 0.9, 8)))
    assert isinstance(lm, survival.LandmarkResult)
    assert lm.landmark_months == 3.0
