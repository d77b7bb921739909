"""Tests of helpers.everolimus_nk.nk (everolimus / NK trial glue).

Reference values are computed by independent routes named in each test: hand arithmetic on
symmetric designs (where the Hodges–Lehmann estimate is the centre of symmetry), scipy's own
tests (mannwhitneyu, fisher_exact, beta quantiles for Clopper–Pearson) and a direct lifelines fit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import stats as sps

from helpers.everolimus_nk import nk

IDS = [f"EV-001-{i:04d}" for i in range(1, 7)]


def _long(paramcd: str, values: dict[str, list[float]], lodfl: dict | None = None) -> pd.DataFrame:
    """adbm-like rows: ``values`` maps visit -> one value per patient (NaN = no row)."""
    rows = []
    for visit, vals in values.items():
        for sid, v in zip(IDS, vals, strict=False):
            if not np.isnan(v):
                flag = (lodfl or {}).get((sid, visit), "N")
                rows.append(
                    {
                        "USUBJID": sid,
                        "PARAMCD": paramcd,
                        "PARAM": f"{paramcd} label",
                        "AVISIT": visit,
                        "AVISITN": {"BASELINE": 0, "M3": 3, "M9": 9}[visit],
                        "AVAL": float(v),
                        "LODFL": flag,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def gzmb() -> pd.DataFrame:
    return _long(
        "GZMB",
        {
            "BASELINE": [100, 200, 50, 80, 120, 60],
            "M3": [50, 100, 50, 40, np.nan, np.nan],
            "M9": [60, 150, 40, np.nan, 100, np.nan],
        },
        lodfl={("EV-001-0003", "M9"): "Y"},
    )


@pytest.fixture
def nk_markers() -> pd.DataFrame:
    base_cnt = np.array([100.0, 150, 200, 120, 180, 90])
    ratio = 0.5 * 2.0 ** np.array([-0.5, -0.3, -0.1, 0.1, 0.3, 0.5])
    base_pct = np.array([5.0, 6, 7, 8, 9, 10])
    shift = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    net_base = np.array([-1.0, 2, 3, 4, 5, 6])
    return pd.concat(
        [
            _long("NKCNT", {"BASELINE": base_cnt, "M3": base_cnt * ratio}),
            _long("CD56BR", {"BASELINE": base_pct, "M3": base_pct + shift}),
            _long("CD107ANET", {"BASELINE": net_base, "M3": net_base - shift}),
        ],
        ignore_index=True,
    )


# ------------------------------------------------------------------------------------------
# paired values and granzyme B
# ------------------------------------------------------------------------------------------


def test_gzmb_change_unknown_paramcd_raises(gzmb):
    with pytest.raises(ValueError, match="no row with PARAMCD"):
        nk.compute_gzmb_change(gzmb, paramcd="NOPE")


def test_gzmb_primary_gmr_matches_hand_computed_geometric_mean_ratio(gzmb):
    # Hand: ratios 0.5, 0.5, 1, 0.5 -> GMR = (0.125)^(1/4) = 0.594604; t CI on log ratios.
    out = nk.compute_gzmb_change(gzmb)
    primary = out[out["role"] == "primary"]
    assert len(primary) == 1
    assert primary["visit"].iloc[0] == "M3"
    assert primary["estimate"].iloc[0] == pytest.approx(0.125**0.25, rel=1e-9)
    d = np.log([0.5, 0.5, 1.0, 0.5])
    half = sps.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert primary["ci_lower"].iloc[0] == pytest.approx(math.exp(d.mean() - half), rel=1e-9)
    assert primary["ci_upper"].iloc[0] == pytest.approx(math.exp(d.mean() + half), rel=1e-9)
    assert "primary estimate" in primary["parameter"].iloc[0]


def test_gzmb_change_has_hodges_lehmann_and_mixed_model_rows_using_all_patients(gzmb):
    out = nk.compute_gzmb_change(gzmb)
    assert set(out["visit"]) == {"M3", "M9"}
    mixed = out[out["method"].str.startswith("Linear mixed model")]
    assert list(mixed["visit"]) == ["M3", "M9"]
    # every patient with any measurement is in the model, not only complete pairs
    assert (mixed["N"] == 6).all()
    assert list(mixed["n"]) == [4, 4]
    assert list(out["visit"]) == ["M3", "M3", "M3", "M9", "M9", "M9"]
    assert out["method"].str.split().str[0].tolist()[:3] == ["Paired", "Wilcoxon", "Linear"]
    hl = out[out["method"].str.startswith("Wilcoxon")]
    assert list(hl["N"]) == [4, 4]
    assert (out["estimate"] > 0).all()


def test_gzmb_change_primary_visit_must_be_analysed(gzmb):
    with pytest.raises(ValueError, match="primary_visit"):
        nk.compute_gzmb_change(gzmb, visits=("M9",), primary_visit="M3")


def test_gzmb_change_rejects_bad_ci_level(gzmb):
    with pytest.raises(ValueError, match="ci_level"):
        nk.compute_gzmb_change(gzmb, ci_level=95)
    with pytest.raises(TypeError, match="ci_level"):
        nk.compute_gzmb_change(gzmb, ci_level="95%")


# ------------------------------------------------------------------------------------------
# visit availability
# ------------------------------------------------------------------------------------------


@pytest.fixture
def adsl() -> pd.DataFrame:
    start = pd.Timestamp("2025-01-01")
    return pd.DataFrame(
        {
            "USUBJID": IDS,
            "TRTFL": ["Y"] * 6,
            "SAFFL": ["Y"] * 6,
            "TRTSDT": [start] * 5 + [pd.Timestamp("2026-01-01")],
            "TRTEDT": [pd.NaT, pd.NaT, pd.NaT, pd.Timestamp("2025-05-01"), pd.NaT, pd.NaT],
            "EOTSTT": ["ongoing", "ongoing", "ongoing", "progression", "ongoing", "ongoing"],
            "DTHDT": [pd.NaT, pd.NaT, pd.NaT, pd.NaT, pd.NaT, pd.NaT],
        }
    )


def test_visit_status_attributes_each_missing_sample_to_a_reason(gzmb, adsl):
    adsl = adsl.copy()
    adsl.loc[4, "DTHDT"] = pd.Timestamp("2025-03-01")  # died before M3 (nominal ~2025-04-01)
    status = nk.derive_visit_status(gzmb, adsl, "2026-06-30").set_index(["USUBJID", "AVISIT"])
    s = status["STATUS"]
    assert s[("EV-001-0001", "M3")] == nk.STATUS_MEASURED
    assert s[("EV-001-0003", "M9")] == nk.STATUS_BELOW_LLOQ
    assert s[("EV-001-0004", "M9")] == nk.STATUS_OFF_TREATMENT  # stopped 2025-05-01
    assert s[("EV-001-0005", "M3")] == nk.STATUS_DIED
    # started 2026-01-01: M9 nominal date is after the cut-off, M3 (~2026-04-01) is not
    assert s[("EV-001-0006", "M9")] == nk.STATUS_NOT_DUE
    assert s[("EV-001-0006", "M3")] == nk.STATUS_MISSING


def test_visit_availability_always_shows_below_lloq_row_even_when_zero(gzmb, adsl):
    status = nk.derive_visit_status(gzmb.assign(LODFL="N"), adsl, "2026-06-30")
    table = nk.summarise_visit_availability(status).set_index("status")
    assert table.loc[nk.STATUS_BELOW_LLOQ].tolist() == [0, 0, 0]


def test_visit_availability_counts_add_up_to_treated_patients(gzmb, adsl):
    table = nk.summarise_visit_availability(nk.derive_visit_status(gzmb, adsl, "2026-06-30"))
    body = table[table["status"] != "Treated patients (N)"]
    total = table[table["status"] == "Treated patients (N)"]
    for visit in ("BASELINE", "M3", "M9"):
        assert body[visit].sum() == total[visit].iloc[0] == 6
    assert list(table["status"].iloc[:2]) == [nk.STATUS_MEASURED, nk.STATUS_BELOW_LLOQ]
    assert f"{nk.STATUS_OFF_TREATMENT} (progression)" in set(table["status"])


def test_visit_status_needs_treated_patients(gzmb, adsl):
    with pytest.raises(ValueError, match="no treated patient"):
        nk.derive_visit_status(gzmb, adsl.assign(TRTFL="N"), "2026-06-30")


# ------------------------------------------------------------------------------------------
# NK marker changes
# ------------------------------------------------------------------------------------------


def test_marker_log_scale_follows_catalogue_and_never_logs_net_responses():
    scale = nk.derive_marker_log_scale()
    assert scale["NKCNT"]
    assert scale["NKG2D"]
    assert scale["GZMB"]
    assert not scale["CD56BR"]
    assert not scale["CD107ANET"]
    assert not scale["IFNGNET"]


def test_nk_changes_hodges_lehmann_equals_centre_of_symmetric_changes(nk_markers):
    # Symmetric log ratios around log(0.5) and shifts around 1.75: the Hodges–Lehmann estimate
    # of a symmetric sample is its centre of symmetry (hand computation).
    out = nk.compute_nk_changes(nk_markers, visits=("M3",)).set_index("PARAMCD")
    assert out.loc["NKCNT", "estimate"] == pytest.approx(0.5, rel=1e-9)
    assert out.loc["NKCNT", "relative_change_pct"] == pytest.approx(-50.0, rel=1e-9)
    assert out.loc["NKCNT", "scale"].startswith("ratio")
    assert out.loc["CD56BR", "estimate"] == pytest.approx(1.75)
    # 100 × 1.75 / median baseline (5..10 -> 7.5)
    assert out.loc["CD56BR", "relative_change_pct"] == pytest.approx(100 * 1.75 / 7.5)
    assert out.loc["CD107ANET", "estimate"] == pytest.approx(-1.75)
    assert out.loc["CD107ANET", "scale"].startswith("difference")
    assert list(out.index) == ["NKCNT", "CD56BR", "CD107ANET"]  # display order
    assert out.loc["NKCNT", "label"] == "NK count · M3"


def test_nk_changes_p_adj_matches_hand_benjamini_hochberg(nk_markers):
    out = nk.compute_nk_changes(nk_markers, visits=("M3",))
    p = out["p_value"].to_numpy()
    order = np.argsort(p)
    m = p.size
    raw = p[order] * m / np.arange(1, m + 1)
    bh = np.minimum.accumulate(raw[::-1])[::-1].clip(max=1)
    expected = np.empty(m)
    expected[order] = bh
    np.testing.assert_allclose(out["p_adj"].to_numpy(), expected, rtol=1e-12)


def test_nk_changes_visit_without_pairs_gives_nan_row(nk_markers):
    out = nk.compute_nk_changes(nk_markers, markers=["NKCNT"], visits=("M3", "M9"))
    m9 = out[out["visit"] == "M9"].iloc[0]
    assert m9["N"] == 0
    assert np.isnan(m9["estimate"])
    assert np.isnan(m9["relative_change_pct"])


def test_nk_changes_marker_without_scale_raises(nk_markers):
    with pytest.raises(ValueError, match="no analysis scale"):
        nk.compute_nk_changes(nk_markers.assign(PARAMCD="XYZ"), markers=["XYZ"])


def test_significant_changes_sentence_when_nothing_could_be_tested():
    changes = pd.DataFrame(
        {
            "label": ["A · M9"],
            "estimate": [np.nan],
            "ci_lower": [np.nan],
            "ci_upper": [np.nan],
            "ci_level": [0.95],
            "p_adj": [np.nan],
        }
    )
    assert "could be tested" in nk.summarise_significant_changes(changes)


def test_nk_changes_without_markers_say_the_table_was_not_supplied():
    out = nk.compute_nk_changes(_long("GZMB", {"BASELINE": [1.0], "M3": [2.0]}))
    assert len(out) == 1
    assert np.isnan(out["estimate"].iloc[0])
    assert out["note"].iloc[0].startswith("not available: table nk_flow not supplied")
    # the primary endpoints named explicitly but absent (profile stage1_stop): the same row
    named = nk.compute_nk_changes(
        _long("GZMB", {"BASELINE": [1.0], "M3": [2.0]}), markers=["CD107AK", "IFNGK"]
    )
    assert named["note"].tolist() == out["note"].tolist()


def test_significant_changes_sentence_lists_only_markers_below_alpha():
    changes = pd.DataFrame(
        {
            "label": ["NK count · M3", "KIR+ % · M3"],
            "scale": ["ratio to baseline (log scale)", "difference (percentage points)"],
            "estimate": [0.7, 0.1],
            "ci_lower": [0.6, -1.0],
            "ci_upper": [0.8, 1.2],
            "ci_level": [0.95, 0.95],
            "p_adj": [0.001, 0.6],
        }
    )
    text = nk.summarise_significant_changes(changes, alpha=0.05)
    assert "NK count · M3" in text
    assert "KIR+" not in text
    assert "1 had adjusted p < 0.05" in text
    assert "ratio 0.70" in text


def test_significant_changes_sentence_when_none_reaches_alpha():
    changes = pd.DataFrame(
        {
            "label": ["A · M3"],
            "estimate": [1.0],
            "ci_lower": [0.5],
            "ci_upper": [2.0],
            "ci_level": [0.95],
            "p_adj": [0.4],
        }
    )
    text = nk.summarise_significant_changes(changes)
    assert "none had adjusted p < 0.05" in text
    assert "A · M3" in text


# ------------------------------------------------------------------------------------------
# early biomarker
# ------------------------------------------------------------------------------------------


def _bor(codes: list[str]) -> pd.DataFrame:
    rsp = ["Y" if c in ("CR", "PR") else "N" for c in codes]
    return pd.DataFrame(
        {
            "USUBJID": IDS[: len(codes)],
            "AVALC": codes,
            "RSPFL": rsp,
            "RESPONSE": ["Responder (CR/PR)" if r == "Y" else "Non-responder" for r in rsp],
        }
    )


def test_early_table_log2_ratio_percentage_points_fall_and_cox_covariate():
    adbm = pd.concat(
        [
            _long("GZMB", {"BASELINE": [100.0, 80.0, 40.0], "M3": [50.0, np.nan, 36.0]}),
            _long("CD107AK", {"BASELINE": [20.0, 0.0, 10.0], "M3": [15.0, 3.0, 12.0]}),
        ],
        ignore_index=True,
    )
    early = nk.derive_early_biomarker_table(
        adbm, _bor(["PR", "SD", "PD"]), ["GZMB", "CD107AK"], fall_pct=30, pp_unit=10
    )
    d = early.data.set_index("USUBJID")
    assert d.loc[IDS[0], "GZMB_CHG"] == pytest.approx(-1.0)  # halved = −1 log2 unit
    assert d.loc[IDS[0], "GZMB_DEC"] == pytest.approx(1.0)  # one 2-fold decrease
    assert d.loc[IDS[0], "GZMB_PCHG"] == pytest.approx(-50.0)
    assert d.loc[IDS[0], "GZMB_FALL"] == "Y"
    assert d.loc[IDS[2], "GZMB_FALL"] == "N"  # −10 % is not a fall ≥ 30 %
    assert np.isnan(d.loc[IDS[1], "GZMB_CHG"])
    assert d.loc[IDS[1], "GZMB_FALL"] is None
    assert d.loc[IDS[0], "CD107AK_CHG"] == pytest.approx(-5.0)
    assert d.loc[IDS[0], "CD107AK_DEC"] == pytest.approx(0.5)  # 5 pp = half of a 10-pp unit
    assert np.isnan(d.loc[IDS[1], "CD107AK_PCHG"])  # baseline 0: no relative change
    assert early.log_scale == {"GZMB": True, "CD107AK": False}
    assert early.decrease("CD107AK") == "10 percentage-point decrease"


def test_early_table_rejects_duplicate_patients_in_bor(gzmb):
    bor = pd.concat([_bor(["PR"]), _bor(["SD"])], ignore_index=True)
    with pytest.raises(ValueError, match="one row per USUBJID"):
        nk.derive_early_biomarker_table(gzmb, bor, ["GZMB"])


def test_early_table_refuses_log_of_zero():
    adbm = _long("NKCNT", {"BASELINE": [0.0], "M3": [5.0]})
    with pytest.raises(ValueError, match="log2 ratio is undefined"):
        nk.derive_early_biomarker_table(adbm, _bor(["PR"]), ["NKCNT"])


def test_early_table_rejects_fall_pct_outside_0_100(gzmb):
    with pytest.raises(ValueError, match="fall_pct"):
        nk.derive_early_biomarker_table(gzmb, _bor(["PR"]), ["GZMB"], fall_pct=0)


@pytest.fixture
def early() -> nk.EarlyBiomarkerTable:
    gz = _long(
        "GZMB",
        {
            "BASELINE": [100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
            "M3": [25.0, 100 * 2**-1.5, 100 * 2**-0.2, 100 * 2**0.1, 100 * 2**0.4, np.nan],
        },
    )
    return nk.derive_early_biomarker_table(
        gz, _bor(["PR", "CR", "SD", "PD", "SD", "PR"]), ["GZMB"], fall_pct=50
    )


@pytest.fixture
def adtte() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": IDS,
            "PARAMCD": "PFS",
            "AVAL": [12.0, 2.0, 9.0, 5.0, 3.0, 8.0],
            "CNSR": [1, 0, 0, 0, 1, 0],
        }
    )


def test_early_landmark_excludes_and_counts_patients_before_landmark(early, adtte):
    lm = nk.derive_early_landmark(early, adtte, landmark_months=3.0)
    reasons = dict(zip(lm.excluded["USUBJID"], lm.excluded["reason"], strict=True))
    assert reasons[IDS[1]] == "event before landmark"
    assert reasons[IDS[4]] == "censored before landmark"
    assert reasons[IDS[5]] == "at risk at the landmark but no M3 Granzyme B pair"
    assert list(lm.data["USUBJID"]) == [IDS[0], IDS[2], IDS[3], IDS[5]]
    np.testing.assert_allclose(lm.data["AVAL"], [9.0, 6.0, 2.0, 5.0])
    # the excluded listing gives time since treatment start, not since the landmark
    assert lm.excluded.set_index("USUBJID").loc[IDS[5], "AVAL"] == pytest.approx(8.0)


def test_early_landmark_primary_marker_must_be_in_table(early, adtte):
    with pytest.raises(ValueError, match="primary marker"):
        nk.derive_early_landmark(early, adtte, primary="NKCNT")


def test_early_response_association_mann_whitney_matches_scipy_and_brute_force_hl(early):
    out = nk.compute_early_response_association(early)
    mw = out[out["analysis"] == "Mann–Whitney"].iloc[0]
    resp, non = np.array([-2.0, -1.5]), np.array([-0.2, 0.1, 0.4])
    # scipy exact Mann–Whitney p and brute-force median of all pairwise differences
    assert mw["p_value"] == pytest.approx(sps.mannwhitneyu(resp, non, method="exact").pvalue)
    assert mw["estimate"] == pytest.approx(np.median(np.subtract.outer(resp, non)))
    assert (mw["n"], mw["N"]) == (2, 5)


def test_early_response_association_fisher_matches_scipy_fisher_exact(early):
    out = nk.compute_early_response_association(early)
    fi = out[out["analysis"] == "Fisher"].iloc[0]
    # fall >= 50 %: patients 1, 2 (both responders); no fall: 3 non-responders
    table = [[2, 0], [0, 3]]
    assert fi["p_value"] == pytest.approx(sps.fisher_exact(table).pvalue)
    assert fi["estimate"] == math.inf
    assert "[[2, 0], [0, 3]]" in fi["note"]
    assert "fall ≥ 50 %" in fi["parameter"]


def test_early_response_association_without_responders_gives_nan_row(early):
    data = early.data.assign(RSPFL="N")
    out = nk.compute_early_response_association(dataclasses.replace(early, data=data))
    mw = out[out["analysis"] == "Mann–Whitney"].iloc[0]
    assert np.isnan(mw["estimate"])
    assert mw["note"] == "not estimable: 0 responders with a value"


@pytest.fixture
def cox_early() -> tuple[nk.EarlyBiomarkerTable, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 30
    ids = [f"EV-002-{i:04d}" for i in range(n)]
    chg = rng.normal(-0.5, 1.0, n)
    base_cd = rng.uniform(20, 40, n)
    adbm = pd.concat(
        [
            pd.DataFrame(
                {"USUBJID": ids, "PARAMCD": "GZMB", "AVISIT": v, "AVAL": val, "LODFL": "N"}
            )
            for v, val in (("BASELINE", np.full(n, 100.0)), ("M3", 100 * 2.0**chg))
        ]
        + [
            pd.DataFrame(
                {"USUBJID": ids, "PARAMCD": "CD107AK", "AVISIT": v, "AVAL": val, "LODFL": "N"}
            )
            for v, val in (("BASELINE", base_cd), ("M3", base_cd + 8 * chg))
        ],
        ignore_index=True,
    )
    bor = pd.DataFrame({"USUBJID": ids, "AVALC": "SD", "RSPFL": "N", "RESPONSE": "Non-responder"})
    early = nk.derive_early_biomarker_table(adbm, bor, ["GZMB", "CD107AK"])
    adtte = pd.DataFrame(
        {
            "USUBJID": ids,
            "PARAMCD": "PFS",
            "AVAL": 3.0 + rng.exponential(6.0 * np.exp(0.4 * chg)),
            "CNSR": (rng.uniform(size=n) < 0.25).astype(int),
        }
    )
    return early, adtte


def test_early_pfs_hr_per_twofold_decrease_is_inverse_of_direct_lifelines_fit(cox_early):
    early, adtte = cox_early
    lm = nk.derive_early_landmark(early, adtte, landmark_months=3.0)
    out = nk.compute_early_pfs_association(early, lm).set_index("PARAMCD")
    data = pd.DataFrame({"T": lm.data["AVAL"], "E": 1 - lm.data["CNSR"], "X": lm.data["GZMB_CHG"]})
    beta = float(CoxPHFitter().fit(data, "T", "E").params_["X"])  # per doubling (+1 log2)
    assert out.loc["GZMB", "estimate"] == pytest.approx(math.exp(-beta), rel=1e-5)
    # CD107AK change = 8 × log2 ratio (pp): per 10-pp decrease = exp(−beta × 10 / 8)
    assert out.loc["CD107AK", "estimate"] == pytest.approx(math.exp(-beta * 10 / 8), rel=1e-4)
    assert "2-fold decrease" in out.loc["GZMB", "parameter"]
    assert "10 percentage-point decrease" in out.loc["CD107AK", "parameter"]
    assert "landmark at 3 months" in out.loc["GZMB", "method"]
    assert out.loc["GZMB", "label"] == "Granzyme B, per 2-fold decrease"
    assert out.loc["GZMB", "N"] == 30


def test_early_pfs_all_censored_gives_nan_row_with_reason(cox_early):
    early, adtte = cox_early
    lm = nk.derive_early_landmark(early, adtte.assign(CNSR=1), landmark_months=3.0)
    out = nk.compute_early_pfs_association(early, lm)
    assert np.isnan(out["estimate"]).all()
    assert out["note"].str.contains("at least one event").all()


def test_median_split_puts_the_median_in_the_low_group():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan, 4.0, 5.0]})
    out = nk.derive_median_split(df, "x", name="GzmB change")
    assert len(out) == 5
    assert list(out["GROUP"].cat.codes) == [0, 0, 0, 1, 1]
    assert out["GROUP"].cat.categories[0] == "GzmB change ≤ 3.00"


def test_median_split_without_values_is_empty_not_an_error():
    out = nk.derive_median_split(pd.DataFrame({"x": [np.nan]}), "x")
    assert out.empty
    assert "GROUP" in out.columns


# ------------------------------------------------------------------------------------------
# intercurrent diseases
# ------------------------------------------------------------------------------------------


def test_intercurrent_events_counts_patients_and_clopper_pearson_matches_scipy_beta():
    adsl = pd.DataFrame({"USUBJID": IDS[:4], "SAFFL": ["Y"] * 4})
    adae = pd.DataFrame(
        {
            "USUBJID": [IDS[0], IDS[0], IDS[1], IDS[2]],
            "AESEQ": [1, 2, 1, 1],
            "AEDECOD": ["Stomatitis", "Pneumonia", "Pneumonia", "Rash"],
            "AEBODSYS": [
                "GI",
                "Infections and infestations",
                "Infections and infestations",
                "Skin",
            ],
            "AETOXGR": [2, 3, 1, 1],
            "AESER": ["N", "Y", "N", "N"],
            "AEREL": ["Y", "Y", "N", "N"],
            "AEACN": ["none"] * 4,
            "TRTEMFL": ["Y", "Y", "Y", "Y"],
            "INFFL": ["N", "Y", "Y", "N"],
        }
    )
    out = nk.summarise_intercurrent_events(adae, adsl).set_index("parameter")
    n = {k.split(", safety")[0].removeprefix("Patients with "): v for k, v in out["n"].items()}
    assert n == {
        "≥1 everolimus-related TEAE": 1,
        "≥1 everolimus-related grade ≥3 TEAE": 1,
        "≥1 everolimus-related serious TEAE": 1,
        "≥1 infection (any causality)": 2,
        "≥1 grade ≥3 infection (any causality)": 1,
        "≥1 everolimus-related infection": 1,
    }
    assert (out["N"] == 4).all()
    row = out.iloc[0]
    # Clopper–Pearson 1/4 from beta quantiles (scipy), independent of helpers.endpoints.rates
    assert row["ci_lower"] == pytest.approx(sps.beta.ppf(0.025, 1, 4))
    assert row["ci_upper"] == pytest.approx(sps.beta.ppf(0.975, 2, 3))


def test_intercurrent_events_without_any_ae_gives_zero_counts():
    adsl = pd.DataFrame({"USUBJID": IDS[:3], "SAFFL": ["Y"] * 3})
    adae = pd.DataFrame(
        columns=["USUBJID", "AESEQ", "AETOXGR", "AESER", "AEREL", "TRTEMFL", "INFFL"]
    )
    out = nk.summarise_intercurrent_events(adae, adsl)
    assert (out["n"] == 0).all()
    assert (out["ci_lower"] == 0).all()
