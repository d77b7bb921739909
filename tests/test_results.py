"""Results summary assembly and display formatting."""

import numpy as np
import pandas as pd
import pytest

from helpers.endpoints.rates import compute_proportion
from helpers.results import format_estimates, summarise_results


def test_summarise_results_stacks_tables_under_their_outcome_in_order():
    orr = compute_proportion(5, 17, "ORR, treated")
    dcr = compute_proportion(9, 17, "DCR, treated")
    summary = summarise_results({"Tumour response rate": orr, "Disease control rate": [dcr]})
    assert list(summary["outcome"]) == ["Tumour response rate", "Disease control rate"]
    assert summary.loc[0, "n"] == 5
    assert summary["p_value"].isna().all()


def test_summarise_results_rejects_tables_without_estimate_columns():
    with pytest.raises(ValueError, match="estimate-table columns"):
        summarise_results({"x": pd.DataFrame({"a": [1]})})


def test_format_estimates_percent_and_unbounded_limits():
    table = pd.DataFrame(
        {"estimate": [0.25, 1.5], "ci_lower": [0.1, 0.5], "ci_upper": [0.5, np.inf]}
    )
    out = format_estimates(table, percent=pd.Series([True, False]), digits=1)
    assert out["estimate (CI)"].tolist() == ["25.0 % (10.0 to 50.0)", "1.5 (0.5 to ∞)"]
