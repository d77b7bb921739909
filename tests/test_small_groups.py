"""Groups of 0, 1 and 2 patients in every comparison the notebooks make (issue 12).

Each comparison is fed a group of size 0, 1 and 2 (with ties in the values and in the times) next
to a larger group, without running a notebook. Pinned for every one of them:

- no exception;
- size 0 and 1: a row without numbers whose note names the group and its size
  ("not estimable: 1 responder");
- size 2: an exact or permutation method defined there, named in ``method`` (Mann–Whitney with
  exact conditional permutation p, Fisher's exact test), or a documented minimum with its
  message (Kaplan–Meier and the log-rank test: 3 patients per group; the Cox model: 3 patients);
- Kaplan–Meier curves and medians are not drawn below the documented minimum.

Comparisons: response association (continuous by response: 02 FISH/CTC/ctDNA, 03 early change,
04 inhibition; flags by response: 02 CTC conversion and ctDNA decrease, 03 early fall; 01
characteristics by amplified-CTC status), landmark groups (02 ctDNA, 03 early change and median
split, 04 rpS6 inhibition), Kaplan–Meier by group (tables, log-rank, figures), cohort splits (02
cohorts by the number of amplified CTCs, 01 detection by HER2 IHC, the CSR populations).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from helpers import plots
from helpers.endpoints import efficacy, stats, survival
from helpers.endpoints.efficacy.biomarkers import MIN_GROUP_SIZE
from helpers.everolimus_nk import mtor, nk
from helpers.everolimus_nk import populations as nk_populations
from helpers.her2_ctc import protocol, screening
from helpers.reporting import tables

SIZES = (0, 1, 2)
KM_MIN = survival.KM_MIN_PATIENTS
LOGRANK_MIN = survival.LOGRANK_MIN_PATIENTS
COX_MIN = survival.COX_MIN_PATIENTS


def _patients(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _no_numbers(row: pd.Series) -> None:
    for col in ("estimate", "ci_lower", "ci_upper", "p_value"):
        if col in row.index:
            assert pd.isna(row[col]), (col, row.to_dict())


def test_documented_minimums():
    assert MIN_GROUP_SIZE == 2
    assert screening.MIN_GROUP_SIZE == 2
    assert (KM_MIN, LOGRANK_MIN, COX_MIN) == (3, 3, 3)
    assert plots.KM_MIN_PATIENTS == KM_MIN


# --------------------------------------------------------------------------------------------
# Response association: a continuous value by response (Mann–Whitney, Hodges–Lehmann shift)
# --------------------------------------------------------------------------------------------

#: Five patients of the other group, with ties among themselves and with the small group.
OTHER_VALUES = [1.0, 2.0, 2.0, 3.0, 3.0]
SMALL_VALUES = [2.0, 2.0]


def _by_response(k: int, small: str) -> pd.DataFrame:
    flags = ("Y", "N") if small == "responder" else ("N", "Y")
    return pd.DataFrame(
        {
            "RSPFL": [flags[0]] * k + [flags[1]] * len(OTHER_VALUES),
            "X": SMALL_VALUES[:k] + OTHER_VALUES,
        }
    )


@pytest.mark.parametrize("small", ["responder", "non-responder"])
@pytest.mark.parametrize("k", SIZES)
def test_response_association(k, small):
    row = efficacy.compute_response_association(_by_response(k, small), {"X": "X"}).iloc[0]
    assert row["method"] == stats.METHOD_MANN_WHITNEY
    assert row["N"] == k + len(OTHER_VALUES)
    if k < MIN_GROUP_SIZE:
        _no_numbers(row)
        assert row["note"] == f"not estimable: {_patients(k, small)} with a value"
    else:  # exact Hodges–Lehmann CI (unbounded at this size) and the exact permutation p
        assert math.isfinite(row["p_value"])
        assert row["ci_lower"] == -math.inf
        assert row["ci_upper"] == math.inf
        assert row["note"].startswith("fewer than 3 patients in a group")
        assert "p exact conditional permutation (ties)" in row["note"]


@pytest.mark.parametrize("k", SIZES)
def test_inhibition_by_response_04(k):
    # notebook 04: % rpS6 inhibition at M3 by response, through mtor.derive_inhibition_response
    ids = [f"P{i}" for i in range(k + 5)]
    inhib = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVISIT": "M3",
            "BASE": 1.0,
            "AVAL": 0.5,
            "INHIB_PCT": [50.0] * k + OTHER_VALUES,
        }
    )
    bor = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVALC": ["PR"] * k + ["SD"] * 5,
            "RSPFL": ["Y"] * k + ["N"] * 5,
            "RESPONSE": ["Responder (CR/PR)"] * k + ["Non-responder"] * 5,
        }
    )
    response = mtor.derive_inhibition_response(inhib, bor, "M3")
    row = efficacy.compute_response_association(response, {"INHIB_PCT": "inhibition"}).iloc[0]
    if k < 2:
        _no_numbers(row)
        assert row["note"] == f"not estimable: {_patients(k, 'responder')} with a value"
    else:
        assert row["method"] == stats.METHOD_MANN_WHITNEY
        assert math.isfinite(row["p_value"])


# --------------------------------------------------------------------------------------------
# Response association: a Y/N flag by response (Fisher's exact test)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("small_col", "word"), [("RSPFL", "responder"), ("CONVFL", "patient with CONVFL = Y")]
)
@pytest.mark.parametrize("k", SIZES)
def test_flag_association(k, small_col, word):
    other = "CONVFL" if small_col == "RSPFL" else "RSPFL"
    data = pd.DataFrame(
        {small_col: ["Y"] * k + ["N"] * 5, other: [*["Y", "N"][:k], "Y", "N", "N", "Y", "N"]}
    )
    row = efficacy.compute_flag_association(data, "CONVFL", "RSPFL", "OR").iloc[0]
    assert row["method"] == stats.METHOD_FISHER
    if k < 2:
        _no_numbers(row)
        if word == "responder":
            assert row["note"] == f"not estimable: {_patients(k, 'responder')}"
        else:
            assert (
                row["note"] == f"not estimable: {k} patient{'' if k == 1 else 's'} with CONVFL = Y"
            )
    else:  # conditional MLE with exact CI and Fisher's exact p
        assert math.isfinite(row["p_value"])
        assert row["note"].startswith("table [[a, b], [c, d]] = ")


# --------------------------------------------------------------------------------------------
# Notebook 03: the early change of a marker by response (Mann–Whitney and Fisher rows)
# --------------------------------------------------------------------------------------------


def _early(k: int) -> nk.EarlyBiomarkerTable:
    """NK count at baseline and M3 of 5 non-responders and ``k`` responders (ties)."""
    ids = [f"P{i}" for i in range(k + 5)]
    base = [100.0] * (k + 5)
    post = [*[50.0, 50.0][:k], 40.0, 50.0, 50.0, 100.0, 100.0]
    adbm = pd.DataFrame(
        {
            "USUBJID": ids * 2,
            "PARAMCD": "NKCNT",
            "AVISIT": ["BASELINE"] * len(ids) + ["M3"] * len(ids),
            "AVAL": base + post,
            "LODFL": "N",
        }
    )
    bor = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVALC": ["PR"] * k + ["SD"] * 5,
            "RSPFL": ["Y"] * k + ["N"] * 5,
            "RESPONSE": ["Responder (CR/PR)"] * k + ["Non-responder"] * 5,
        }
    )
    return nk.derive_early_biomarker_table(adbm, bor, ["NKCNT"], fall_pct=30.0)


@pytest.mark.parametrize("k", SIZES)
def test_early_change_by_response_03(k):
    out = nk.compute_early_response_association(_early(k)).set_index("analysis")
    mw, fisher = out.loc["Mann–Whitney"], out.loc["Fisher"]
    if k < 2:
        _no_numbers(mw)
        _no_numbers(fisher)
        assert mw["note"] == f"not estimable: {_patients(k, 'responder')} with a value"
        assert fisher["note"] == f"not estimable: {_patients(k, 'responder')}"
    else:
        assert mw["method"] == stats.METHOD_MANN_WHITNEY
        assert "p exact" in mw["note"]
        assert fisher["method"] == stats.METHOD_FISHER
        assert math.isfinite(fisher["p_value"])


def test_early_change_without_any_pair_03():
    early = _early(0)
    early.data[["NKCNT_CHG", "NKCNT_FALL"]] = None
    out = nk.compute_early_response_association(early).set_index("analysis")
    assert out.loc["Fisher", "note"] == "not estimable: 0 patients with a pair"


# --------------------------------------------------------------------------------------------
# Notebook 01: patient characteristics by amplified-CTC status (Fisher and Mann–Whitney)
# --------------------------------------------------------------------------------------------


def _screened(k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``k`` FISH-evaluable patients with ≥1 amplified CTC and 5 without (ties everywhere)."""
    n = k + 5
    ids = [f"S{i}" for i in range(n)]
    patients = pd.DataFrame(
        {
            "USUBJID": ids,
            "CTCCNT": [*[5.0, 5.0][:k], 1.0, 5.0, 5.0, 8.0, 8.0],
            "CTCPOS1": "Y",
            "FISHSTAT": "done",
            "FISHFRSN": None,
            "NCELLEVL": 3,
            "HER2AMPFL": ["Y"] * k + ["N"] * 5,
        }
    )
    adsl = pd.DataFrame(
        {
            "USUBJID": ids,
            "AGE": [*[60.0, 60.0][:k], 50.0, 60.0, 60.0, 70.0, 70.0],
            "HRSTAT": ["positive", "negative"][:k] + ["positive", "negative"] * 2 + ["positive"],
            "HER2IHC": [*["2+", "1+"][:k], "0", "2+", "1+", "2+", "0"],
            "VISCFL": [*["Y", "N"][:k], "Y", "N", "Y", "N", "N"],
            "PRIORLN": [*[1.0, 1.0][:k], 0.0, 1.0, 1.0, 2.0, 2.0],
        }
    )
    return patients, adsl


@pytest.mark.parametrize("k", SIZES)
def test_characteristics_by_amplified_status_01(k):
    patients, adsl = _screened(k)
    out = screening.compute_characteristic_associations(adsl, patients)
    assert len(out) == 6
    for _, row in out.iterrows():
        if k < 2:
            _no_numbers(row)
            group = "with ≥1 amplified CTC" + (
                " and a value" if row["effect_measure"] != "odds ratio" else ""
            )
            assert row["note"].startswith("not estimable: "), row["note"]
            assert f"{k} patient{'' if k == 1 else 's'} {group}" in row["note"]
        elif row["effect_measure"] == "odds ratio":
            assert row["method"] == stats.METHOD_FISHER
            assert math.isfinite(row["p_value"])
        else:
            assert row["method"] == stats.METHOD_MANN_WHITNEY
            assert "p exact" in row["note"]


def test_characteristic_level_of_one_is_not_estimable_01():
    patients, adsl = _screened(2)
    adsl["HRSTAT"] = ["negative"] + ["positive"] * 6  # one HR-negative patient
    out = screening.compute_characteristic_associations(adsl, patients).set_index("characteristic")
    row = out.loc["HR status"]
    _no_numbers(row)
    assert row["note"] == "not estimable: 1 patient with HRSTAT = negative"


# --------------------------------------------------------------------------------------------
# Kaplan–Meier by group: tables, log-rank test, figures
# --------------------------------------------------------------------------------------------


def _tte(k: int, categorical: bool = True) -> pd.DataFrame:
    """Group A of ``k`` patients (tied event times) and group B of 5 (ties, censoring)."""
    a = pd.DataFrame({"AVAL": [4.0, 4.0][:k], "CNSR": [0, 0][:k], "G": "A"})
    b = pd.DataFrame({"AVAL": [2.0, 4.0, 4.0, 8.0, 9.0], "CNSR": [0, 0, 1, 0, 1], "G": "B"})
    out = pd.concat([a, b], ignore_index=True)
    out.insert(0, "USUBJID", [f"P{i}" for i in range(len(out))])
    if categorical:
        out["G"] = pd.Categorical(out["G"], categories=["A", "B"])
    return out


@pytest.mark.parametrize("k", SIZES)
def test_km_table_by_group(k):
    out = survival.summarise_km(_tte(k), "PFS", (6,), group="G")
    a = out[out["group"].eq("A")]
    assert len(a) == 2  # median and the 6-month rate, also for a group of 0
    assert a["estimate"].isna().all()
    why = f"not estimable: {_patients(k, 'patient')} (Kaplan–Meier needs at least {KM_MIN})"
    assert (a["note"] == why).all()
    assert (a["N"] == k).all()
    assert out.loc[out["group"].eq("B"), "estimate"].notna().any()


@pytest.mark.parametrize("k", SIZES)
def test_logrank_by_group(k):
    row = survival.compute_logrank(_tte(k), "G").iloc[0]
    _no_numbers(row)
    assert row["N"] == k + 5
    assert row["note"] == (
        f"not estimable: {_patients(k, 'patient')} in group A (the log-rank test needs at least "
        f"{LOGRANK_MIN} patients per group, as a Kaplan–Meier curve)"
    )


def test_logrank_absent_text_group_is_one_group():
    # a text column cannot know a level without patients: one group is left
    row = survival.compute_logrank(_tte(0, categorical=False), "G").iloc[0]
    _no_numbers(row)
    assert row["note"].startswith("not estimable: 1 group (B)")


def test_logrank_at_the_minimum_is_computed():
    data = pd.concat([_tte(2), _tte(1).iloc[:1].assign(USUBJID="P9")], ignore_index=True)
    row = survival.compute_logrank(data, "G").iloc[0]  # A: 3 patients, B: 5
    assert row["method"] == "Log-rank test, chi-square with 1 df"
    assert math.isfinite(row["p_value"])


@pytest.mark.parametrize("k", SIZES)
def test_km_figure_by_group_not_drawn_below_the_minimum(k):
    fig = plots.plot_km(_tte(k), group="G", ci=False)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    label_a = next(t for t in legend if t.startswith("A "))
    assert label_a == f"A (n = {k}): not drawn, fewer than {KM_MIN} patients"
    assert any(t.startswith("B (n = 5): median") for t in legend)
    # only B has a median line: A's curve and median are not drawn
    drawn = [ln for ln in fig.axes[0].lines if len(ln.get_xdata())]
    assert drawn
    plt.close(fig)


@pytest.mark.parametrize("k", SIZES)
def test_km_figure_every_group_below_the_minimum_says_so(k):
    data = _tte(k).query("G == 'A'").assign(G=lambda d: d["G"].astype(str))
    fig = plots.plot_km(data, group="G")
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("Not drawn") for t in texts), texts
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Landmark groups
# --------------------------------------------------------------------------------------------


def _landmark_tte(k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PFS of ``k`` patients with an early decrease and 5 without, all at risk at 1 month."""
    tte = _tte(k, categorical=False).assign(PARAMCD="PFS", AVAL=lambda d: d["AVAL"] + 1.0)
    groups = pd.DataFrame(
        {
            "USUBJID": tte["USUBJID"],
            "CTDNAGRP": np.where(tte["G"].eq("A"), "early decrease", "no early decrease"),
            "EARLYDEC": np.where(tte["G"].eq("A"), "Y", "N"),
        }
    )
    return tte.drop(columns="G"), groups


@pytest.mark.parametrize("k", SIZES)
def test_landmark_logrank_02(k):
    adtte, groups = _landmark_tte(k)
    lm = efficacy.derive_biomarker_landmark(adtte, groups, 1.0)
    assert len(lm.data) == k + 5
    row = efficacy.compute_landmark_logrank(lm, "CTDNAGRP").iloc[0]
    _no_numbers(row)
    if k == 0:
        assert row["note"] == (
            "not estimable: 1 group(s) at the landmark (['no early decrease']), 0 patients in any "
            "other group"
        )
    else:
        assert row["note"].startswith(
            f"not estimable: {_patients(k, 'patient')} in group early decrease (the log-rank "
            f"test needs at least {LOGRANK_MIN} patients per group"
        )
    km = survival.summarise_km(lm.data, "PFS from landmark", (6,), group="CTDNAGRP")
    small = km[km["group"].eq("early decrease")]
    assert len(small) == (2 if k else 0)  # a text level without patients has no row
    assert small["estimate"].isna().all()
    assert small["note"].str.startswith(f"not estimable: {_patients(k, 'patient')}").all()


@pytest.mark.parametrize("k", SIZES)
def test_landmark_cox_of_the_early_change_03(k):
    # the Cox model per marker runs on the patients at risk with a pair: here k of them
    early = _early(k)
    keep = early.data["RSPFL"].eq("Y")
    early.data.loc[~keep, ["NKCNT_CHG", "NKCNT_FALL", "NKCNT_DEC"]] = np.nan
    adtte = pd.DataFrame(
        {
            "USUBJID": early.data["USUBJID"],
            "PARAMCD": "PFS",
            "AVAL": 10.0,
            "CNSR": 0,
        }
    )
    landmark = nk.derive_early_landmark(early, adtte, 3.0, primary="NKCNT")
    row = nk.compute_early_pfs_association(early, landmark).iloc[0]
    _no_numbers(row)
    assert row["N"] == k
    assert row["note"] == (
        f"not estimable: {_patients(k, 'patient')} (the Cox model needs at least {COX_MIN})"
    )
    split = nk.derive_median_split(landmark.data, "NKCNT_CHG", name="Δ")
    test = survival.compute_logrank(split.astype({"GROUP": str}), "GROUP").iloc[0]
    _no_numbers(test)
    assert test["note"].startswith("not estimable: ")
    fig = plots.plot_km(split, group="GROUP", ci=False)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert any(t.startswith("Not drawn") for t in texts)
    plt.close(fig)


@pytest.mark.parametrize("k", SIZES)
def test_landmark_inhibition_groups_04(k):
    adtte = _tte(k, categorical=False).assign(PARAMCD="PFS", AVAL=lambda d: d["AVAL"] + 4.0)
    inhib = pd.DataFrame(
        {
            "USUBJID": adtte["USUBJID"],
            "AVISIT": "M3",
            "BASE": 1.0,
            "AVAL": 0.5,
            "INHIB_PCT": [80.0] * k + [10.0, 20.0, 20.0, 30.0, 30.0],
        }
    )
    lm = mtor.derive_inhibition_landmark(adtte.drop(columns="G"), inhib, "M3", 3.0, 50.0)
    out = mtor.compute_inhibition_pfs(lm, "M3")
    cox, test = out.iloc[0], out.iloc[1]
    # the Cox model is on the continuous inhibition of every patient (5 + k >= its minimum)
    assert cox["N"] == k + 5
    if k == 0:  # all five below 50 %: the events separate them completely
        assert cox["note"].startswith("not estimable: HR not estimable for ['INHIB10']")
    else:
        assert math.isfinite(cox["estimate"])
    _no_numbers(test)
    if k == 0:
        assert test["note"].startswith("not estimable: 1 group (< 50 %)")
    else:
        assert test["note"].startswith(
            f"not estimable: {_patients(k, 'patient')} in group ≥ 50 % (the log-rank test"
        )


@pytest.mark.parametrize("k", SIZES)
def test_landmark_cox_below_the_minimum_04(k):
    adtte = _tte(k, categorical=False).query("G == 'A'")
    adtte = adtte.assign(PARAMCD="PFS", AVAL=lambda d: d["AVAL"] + 4.0).drop(columns="G")
    inhib = pd.DataFrame(
        {"USUBJID": adtte["USUBJID"], "AVISIT": "M3", "BASE": 1.0, "AVAL": 0.2, "INHIB_PCT": 80.0}
    )
    if k == 0:  # no patient at all: derive_inhibition_landmark needs the PFS rows
        adtte = pd.DataFrame({"USUBJID": ["X"], "PARAMCD": "PFS", "AVAL": [1.0], "CNSR": [0]})
    lm = mtor.derive_inhibition_landmark(adtte, inhib, "M3", 3.0, 50.0)
    cox = mtor.compute_inhibition_pfs(lm, "M3").iloc[0]
    _no_numbers(cox)
    assert cox["note"] == (
        f"not estimable: {_patients(k, 'patient')} (the Cox model needs at least {COX_MIN})"
    )


# --------------------------------------------------------------------------------------------
# Cohort splits
# --------------------------------------------------------------------------------------------


def _cohorts(k: int):
    """Four patients with 1–2 amplified CTCs and ``k`` with ≥3 (ties in NAMP and in PFS)."""
    ids = [f"P{i}" for i in range(4 + k)]
    adctc = pd.DataFrame({"USUBJID": ids, "NAMP": [1, 1, 2, 2, *[3, 3][:k]], "CTCCNT": 5.0})
    cohorts = protocol.derive_treatment_cohorts(adctc, ids, (1, 3))
    bor = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVALC": ["PR", "SD", "SD", "PD", *["PR", "PR"][:k]],
            "RSPFL": ["Y", "N", "N", "N", *["Y", "Y"][:k]],
        }
    )
    pfs = pd.DataFrame(
        {
            "USUBJID": ids,
            "AVAL": [3.0, 4.0, 4.0, 6.0, *[4.0, 4.0][:k]],
            "CNSR": [0, 0, 1, 0, 0, 0][: 4 + k],
        }
    )
    return cohorts, bor, pfs


@pytest.mark.parametrize("k", SIZES)
def test_efficacy_by_ctc_cohort_02(k):
    cohorts, bor, pfs = _cohorts(k)
    out = protocol.summarise_cohort_efficacy(bor, pfs, cohorts, (6,))
    small = out[out["cohort"].eq("≥3 amplified CTCs")]
    if k == 0:
        assert len(small) == 1
        _no_numbers(small.iloc[0])
        assert small["note"].tolist() == ["not estimable: 0 patients in this cohort"]
        return
    km = small[small["method"].eq(survival.KM_METHOD)]
    assert len(km) == 2
    assert km["estimate"].isna().all()
    assert (
        km["note"]
        == f"not estimable: {_patients(k, 'patient')} (Kaplan–Meier needs at least {KM_MIN})"
    ).all()
    # proportions: Clopper–Pearson is exact from one patient; n/N shows the size
    rates_ = small[small["method"].eq("Clopper–Pearson exact")]
    assert len(rates_) == 2
    assert (rates_["N"] == k).all()
    assert rates_["ci_lower"].notna().all()


@pytest.mark.parametrize("k", SIZES)
def test_km_figure_by_ctc_cohort_02(k):
    cohorts, _, pfs = _cohorts(k)
    data = protocol.derive_cohort_tte(pfs, cohorts)
    fig = plots.plot_km(data, group="COHORT", ci=False)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    if k:
        assert f"≥3 amplified CTCs (n = {k}): not drawn, fewer than {KM_MIN} patients" in legend
    plt.close(fig)


@pytest.mark.parametrize("k", SIZES)
def test_detection_by_her2_ihc_01(k):
    patients, adsl = _screened(2)
    adsl["HER2IHC"] = ["3+"] * k + ["2+"] * (len(adsl) - k)
    out = screening.summarise_detection_by_group(patients, adsl, "HER2IHC", "fish_evaluable")
    level = out[out["group"].eq("3+")]
    if k == 0:
        assert level.empty  # the table lists the levels present in the data
        return
    row = level.iloc[0]
    assert row["N"] == k
    assert row["method"] == "Clopper–Pearson exact"
    assert 0 <= row["ci_lower"] <= row["estimate"] <= row["ci_upper"] <= 1


@pytest.mark.parametrize("k", SIZES)
def test_nested_populations_03(k):
    # biomarker-evaluable population of size k among 5 treated
    ids = [f"E{i}" for i in range(5)]
    adsl = pd.DataFrame(
        {"USUBJID": ids, "TRTFL": "Y", "AGE": [50.0, 60.0, 60.0, 70.0, 70.0], "ECOG": "0"}
    )
    adbm = pd.DataFrame(
        {
            "USUBJID": ids[:k] * 2,
            "PARAMCD": "GZMB",
            "AVISIT": ["BASELINE"] * k + ["M3"] * k,
            "AVAL": [10.0] * (2 * k),
        }
    )
    members = nk_populations.derive_analysis_populations(adsl, adbm, "M3")
    assert int(members["BMEVAL"].sum()) == k
    table = tables.summarise_analysis_populations(members, nk_populations.POPULATIONS)
    assert table.iloc[:, -1].astype(str).str.len().gt(0).all()
    variables = [{"column": "AGE", "label": "Age", "kind": "continuous"}]
    baseline = tables.summarise_baseline(members, nk_populations.POPULATIONS, variables)
    assert f"Biomarker-evaluable (N = {k})" in baseline.columns
