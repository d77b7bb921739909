"""The one formatting layer (helpers.reporting.format): one rule set for pages and exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.reporting import format as fmt


def test_count_percent_cells_follow_the_tern_layout():
    # pharmaverse tern count_occurrences / DMT01: "n (x.x%)", a bare 0 for zero
    assert fmt.format_count_pct(12, 171) == "12 (7.0%)"
    assert fmt.format_count_pct(0, 171) == "0"
    assert fmt.format_count_pct(3, 0) == "3"
    assert fmt.format_count_pct(None, 10) == fmt.NA_TEXT


@pytest.mark.parametrize(
    ("p", "text"), [(0.0004, "<0.001"), (0.001, "0.001"), (0.04567, "0.046"), (np.nan, "—")]
)
def test_p_values_three_decimals_and_floor(p, text):
    assert fmt.format_p(p) == text


def test_interval_carries_the_decimals_of_its_estimate():
    assert fmt.format_estimate_ci(0.3158, 0.1812, 0.4789, percent=True) == "31.6% (18.1 to 47.9)"
    assert fmt.format_estimate_ci(0.734, 0.51, 1.2) == "0.73 (0.51 to 1.20)"
    assert fmt.format_estimate_ci(15.24, 5.61, 27.1) == "15.2 (5.6 to 27.1)"
    assert fmt.format_estimate_ci(2.5, 1.0, np.inf) == "2.50 (1.00 to ∞)"
    assert fmt.format_estimate_ci(np.nan, np.nan, np.nan) == "NE"
    assert fmt.format_estimate_ci(1.5, np.nan, 2.0) == "1.50 (NE to 2.00)"


def _estimates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parameter": ["ORR, treated", "PFS 6-month survival", "HR per fall"],
            "n": [4.0, 17.0, np.nan],
            "N": [17.0, 17.0, 30.0],
            "estimate": [4 / 17, 0.2941, 1.734],
            "ci_lower": [0.068, 0.11, 0.9],
            "ci_upper": [0.499, 0.51, 3.3],
            "ci_level": [0.95, 0.95, 0.95],
            "method": ["Clopper–Pearson exact", "Kaplan–Meier, log-log CI", "Cox PH"],
            "p_value": [np.nan, np.nan, 0.00002],
        },
        index=[5, 6, 7],
    )


def test_estimate_table_one_ci_column_counts_as_integers_method_as_footnote():
    ft = fmt.format_table(_estimates(), title="Efficacy")
    t = ft.table
    assert list(t.columns) == ["parameter", "n", "N", "Estimate (95% CI)", "Method", "p"]
    assert list(t.index) == [0, 1, 2]  # no index carried over
    assert t["n"].tolist() == ["4", "17", "—"]  # never "4.0", never NaN
    assert t["Estimate (95% CI)"].tolist() == [
        "23.5% (6.8 to 49.9)",
        "29.4% (11.0 to 51.0)",  # a KM landmark rate is a percentage too
        "1.73 (0.90 to 3.30)",
    ]
    assert t["p"].tolist() == ["—", "—", "<0.001"]
    assert ft.footnotes == [
        "a: Clopper–Pearson exact.",
        "b: Kaplan–Meier, log-log CI.",
        "c: Cox PH.",
    ]
    assert t.map(lambda v: isinstance(v, str)).all().all()


def test_single_method_becomes_one_footnote_and_no_column():
    ft = fmt.format_table(_estimates().iloc[:1])
    assert "Method" not in ft.table.columns
    assert ft.footnotes == ["Method: Clopper–Pearson exact."]


def test_cross_table_index_becomes_a_column_and_nothing_is_truncated():
    cross = pd.DataFrame({"amplified": [4, 28]}, index=pd.Index(["IF 0", "IF 1+"], name="IF"))
    long = pd.DataFrame({"text": ["x" * 500]})
    assert fmt.format_table(cross).table.columns.tolist() == ["IF", "amplified"]
    assert fmt.format_table(long).table.iloc[0, 0] == "x" * 500


def test_html_through_great_tables_is_stable_and_shows_group_rows():
    summary = _estimates().assign(outcome=["Response", "Survival", "Survival"])
    ft = fmt.format_table(summary, title="Summary", group="outcome")
    first, second = fmt.to_html(ft), fmt.to_html(ft)
    assert first == second  # no random ids: pages do not change between identical runs
    assert "gt_group_heading" in first
    assert "Survival" in first
    assert "Method" in first
    assert "a: Clopper–Pearson exact." in first
    flat = ft.flat()
    assert flat.iloc[0, 0] == "Response"
    assert flat.iloc[1, 0].startswith("    ")


def test_key_value_table_reads_like_words_not_a_repr():
    table = fmt.key_value_table({"her2": ["adsl", "adae"], "cutoff": None})
    assert table.to_dict("records") == [
        {"parameter": "her2", "value": "adsl, adae"},
        {"parameter": "cutoff", "value": "—"},
    ]


def test_design_adjusted_response_rate_reads_as_a_percentage():
    row = pd.DataFrame(
        {
            "parameter": ["ORR (confirmed), EFFFL: UMVUE (design-adjusted)"],
            "N": [17],
            "estimate": [0.2412],
            "ci_lower": [0.07],
            "ci_upper": [0.5],
            "method": ["UMVUE (Jung 2004)"],
        }
    )
    assert fmt.format_table(row).table["Estimate (CI)"][0] == "24.1% (7.0 to 50.0)"


def test_count_and_percentage_columns_merge_into_n_pct_cells():
    ae = pd.DataFrame({"AEDECOD": ["Nausea"], "n_any": [9], "pct_any": [52.94], "N": [17]})
    t = fmt.format_table(ae).table
    assert list(t.columns) == ["AEDECOD", "any, n (%)", "N"]
    assert t.iloc[0, 1] == "9 (52.9%)"


def test_show_renders_at_most_max_rows_and_says_where_the_rest_is():
    listing = pd.DataFrame({"Patient": [f"P{i:05d}" for i in range(250)]})
    html = fmt.show(listing, "Listing", max_rows=100).as_raw_html()
    assert "P00099" in html
    assert "P00100" not in html
    assert "First 100 of 250 rows shown" in html
    small = fmt.show(listing.head(100), "Listing", max_rows=100).as_raw_html()
    assert "rows shown" not in small
