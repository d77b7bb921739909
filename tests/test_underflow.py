"""Numerical range (issue 17): p-values that underflow to 0 (or a subnormal such as 1e-320) in
large samples are reported as "p < 1e-300" and drawn clipped at that floor, never a crash.

One test per p-value-consuming figure and table, on small synthetic inputs with p = 0 / 1e-320
(a x100 cohort is not run here). The floor follows common practice (R's ``format.pval`` prints
"< eps"; here the bound is 1e-300, just above the smallest normal double, 2.2e-308).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers import plots, results
from helpers.endpoints import stats
from helpers.everolimus_nk import mtor, nk
from helpers.her2_ctc import screening
from helpers.reporting import report

UNDERFLOW = (0.0, 1e-320)


@pytest.fixture
def close_figs():
    figs: list[Figure] = []
    yield figs
    for fig in figs:
        fig.clf()


# --------------------------------------------------------------------------------------------
# the two base helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", UNDERFLOW)
def test_format_p_value_underflow_reads_below_the_floor(p):
    assert results.format_p_value(p) == "< 1e-300"
    assert results.format_p_value(p, prefix="p") == "p < 1e-300"


def test_format_p_value_ordinary_values_and_missing():
    assert results.format_p_value(0.032) == "0.032"
    assert results.format_p_value(4.1e-5, prefix="p") == "p = 4.1e-05"
    assert results.format_p_value(1e-300) == "1.0e-300"  # at the floor: still a number
    assert results.format_p_value(np.nan) == "NE"


def test_clip_p_values_raises_underflow_to_floor_keeps_nan_and_rejects_out_of_range():
    clipped = results.clip_p_values([0.0, 1e-320, 0.5, np.nan])
    assert clipped[:3].tolist() == [1e-300, 1e-300, 0.5]
    assert np.isnan(clipped[3])
    assert np.isfinite(-np.log10(clipped[:3])).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        results.clip_p_values([0.2, 1.5])


# --------------------------------------------------------------------------------------------
# tables: estimate rows, FDR, results summary, report index
# --------------------------------------------------------------------------------------------


def test_mann_whitney_underflowing_p_is_zero_with_a_note_saying_below_floor():
    # Two completely separated groups of 3000: the normal tail probability underflows to 0.
    x, y = np.arange(3000.0) + 1e6, np.arange(3000.0)
    row = stats.compute_mann_whitney(x, y, "x").iloc[0]
    assert row["p_value"] < results.P_FLOOR
    assert "p < 1e-300 (floating-point underflow)" in row["note"]
    assert row["method"] == stats.METHOD_MANN_WHITNEY_LARGE


def test_paired_change_underflowing_p_has_the_note():
    d = np.arange(1.0, 4001.0)  # every difference positive: z about 55, p underflows
    row = stats.compute_paired_change(np.zeros(d.size), d, "x").iloc[0]
    assert row["p_value"] < results.P_FLOOR
    assert "underflow" in row["note"]


def test_fdr_of_underflowed_p_values_stays_in_range():
    adj = stats.compute_fdr(np.array([0.0, 1e-320, 0.04, 0.5]))
    assert ((adj >= 0) & (adj <= 1)).all()
    assert adj[0] == 0.0


def test_results_summary_and_report_html_print_below_floor():
    table = pd.DataFrame(
        {
            "parameter": ["shift"],
            "n": [10],
            "N": [20],
            "estimate": [1.0],
            "ci_lower": [0.5],
            "ci_upper": [1.5],
            "ci_level": [0.95],
            "method": ["Mann–Whitney U"],
            "p_value": [0.0],
            "p_adj": [1e-320],
        }
    )
    summary = results.summarise_results({"Outcome": table})
    assert summary["p_value"].iat[0] == 0.0  # the number is kept; the text says what it means
    html = report.summary_html(summary)
    # the report's formatting layer prints every p below 0.001 as "<0.001" (CSR rounding rule),
    # underflowed ones included: never "0" or "0.000"
    assert html.count("&lt;0.001") == 2
    assert ">0.000<" not in html
    assert ">0<" not in html


# --------------------------------------------------------------------------------------------
# figures and figure labels
# --------------------------------------------------------------------------------------------


def _changes(p: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parameter": ["NK count", "NKG2D", "CD57+"],
            "AVISIT": ["M3"] * 3,
            "estimate": [-1.2, 0.3, 0.05],
            "p_value": [p, 0.04, 0.9],
            "p_adj": [p, 0.06, 0.9],
        }
    )


@pytest.mark.parametrize("p", UNDERFLOW)
def test_volcano_draws_underflowed_p_clipped_at_300(close_figs, p):
    fig = plots.plot_volcano(_changes(p), p_col="p_adj", p_label="adjusted p")
    close_figs.append(fig)
    ax = fig.axes[0]
    offsets = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert np.isfinite(offsets).all()
    assert offsets[:, 1].max() == pytest.approx(300.0)
    assert ax.get_ylim()[1] == pytest.approx(300 * 1.12)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("< 1e-300" in t for t in legend)


def test_volcano_still_rejects_p_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.plot_volcano(_changes(1.5))


@pytest.mark.parametrize("p", UNDERFLOW)
def test_change_heatmap_stars_underflowed_p(close_figs, p):
    fig = plots.plot_change_heatmap(_changes(p))
    close_figs.append(fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[0].endswith("*")


@pytest.mark.parametrize("p", UNDERFLOW)
def test_odds_ratio_forest_label_says_below_floor(p):
    assoc = pd.DataFrame(
        {
            "characteristic": ["A"],
            "comparison": ["x vs y"],
            "effect_measure": ["odds ratio"],
            "estimate": [2.0],
            "ci_lower": [1.5],
            "ci_upper": [3.0],
            "p_adj": [p],
        }
    )
    rows = screening.derive_odds_ratio_rows(assoc)
    assert rows["label"].iat[0] == "A x vs y\n(BH-adjusted p < 1e-300)"


@pytest.mark.parametrize("p", UNDERFLOW)
def test_nk_significant_changes_sentence_says_below_floor(p):
    changes = pd.DataFrame(
        {
            "label": ["NK count · M3"],
            "estimate": [0.7],
            "ci_lower": [0.6],
            "ci_upper": [0.8],
            "ci_level": [0.95],
            "p_adj": [p],
        }
    )
    text = nk.summarise_significant_changes(changes, alpha=0.05)
    assert "adjusted p < 1e-300" in text


@pytest.mark.parametrize("p", UNDERFLOW)
def test_inhibition_correlation_panel_title_says_below_floor(close_figs, p):
    n = 8
    inhib = pd.DataFrame(
        {
            "USUBJID": [f"P{i + 1}" for i in range(n)],
            "AVISIT": "M3",
            "BASE": 1.0,
            "AVAL": np.linspace(0.2, 0.9, n),
            "NLANES": 1,
            "INHIB_PCT": 100 * (1 - np.linspace(0.2, 0.9, n)),
            "REASON": None,
        }
    )
    adbm = pd.DataFrame(
        [
            (f"P{i + 1}", "GZMB", visit, 100.0 * factor)
            for i in range(n)
            for visit, factor in (("BASELINE", 1.0), ("M3", 0.5 + 0.1 * i))
        ],
        columns=["USUBJID", "PARAMCD", "AVISIT", "AVAL"],
    ).assign(LODFL="N")
    data = mtor.derive_correlation_data(inhib, adbm, "M3", ["GZMB"])
    corr = mtor.compute_inhibition_correlations(data, "M3", n_boot=200, seed=2)
    fig = mtor.plot_inhibition_correlations(data, corr.assign(p_adj=p), "M3")
    close_figs.append(fig)
    assert "BH p < 1e-300" in fig.axes[0].get_title(loc="left")


def test_forest_log_axis_draws_ratio_of_zero_at_the_left_edge(close_figs):
    est = pd.DataFrame(
        {
            "parameter": ["OR, empty cell", "OR"],
            "estimate": [0.0, 2.0],
            "ci_lower": [0.0, 1.2],
            "ci_upper": [3.0, 3.5],
            "ci_level": [0.95, 0.95],
        }
    )
    fig = plots.plot_forest(est, xlabel="Odds ratio")
    close_figs.append(fig)
    ax = fig.axes[0]
    left = ax.get_xlim()[0]
    assert 0 < left < 1.0
    clipped = [ln for ln in ax.lines if ln.get_gid() == "clipped_at_zero"]
    assert clipped[0].get_xdata()[0] >= left
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts[0].startswith("0.00 (0.00")  # the text column keeps the true values


def test_format_estimates_prints_p_columns_with_the_floor_and_blank_when_missing():
    table = pd.DataFrame(
        {
            "parameter": ["a", "b", "c"],
            "estimate": [1.0, 2.0, 3.0],
            "ci_lower": [0.5, 1.0, 2.0],
            "ci_upper": [1.5, 3.0, 4.0],
            "p_value": [0.0, 0.0432, np.nan],
            "p_adj": [1e-320, 0.05, np.nan],
        }
    )
    out = results.format_estimates(table)
    assert out["p_value"].tolist() == ["< 1e-300", "0.043", ""]
    assert out["p_adj"].tolist() == ["< 1e-300", "0.05", ""]
