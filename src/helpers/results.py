"""Results summary tables: estimate-table rows from many helpers, in one shape.

Every estimating helper returns the estimate-table columns (see docs/architecture.md). A notebook
ends with :func:`summarise_results`, which stacks them under the registry outcome they answer, and
:func:`format_estimates` for a human-readable view ("31.6 % (18.1–47.9)").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: The estimate-table contract (docs/architecture.md): columns every estimate carries.
ESTIMATE_COLUMNS = (
    "parameter",
    "n",
    "N",
    "estimate",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "method",
)
#: The same plus a test's p-value and a free-text note, for helpers that test or qualify.
TESTED_ESTIMATE_COLUMNS = (*ESTIMATE_COLUMNS, "p_value", "note")
SUMMARY_COLUMNS = ("outcome", *ESTIMATE_COLUMNS, "p_value", "p_adj")


def summarise_results(tables: Mapping[str, pd.DataFrame | list[pd.DataFrame]]) -> pd.DataFrame:
    """Stack estimate tables under the outcome they answer.

    Parameters
    ----------
    tables
        ``{outcome label: estimate table or list of tables}``; the outcome label should be the
        registry outcome measure's wording so the summary maps one-to-one onto the registry.

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome, parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method,
        p_value, p_adj`` (missing optional columns are NA), in the order given.
    """
    frames = []
    for outcome, value in tables.items():
        parts = value if isinstance(value, list) else [value]
        for part in parts:
            missing = {"parameter", "estimate", "ci_lower", "ci_upper", "method"} - set(
                part.columns
            )
            if missing:
                raise ValueError(
                    f"Table for {outcome!r} lacks estimate-table columns {sorted(missing)}; "
                    "pass the output of a helpers compute_/summarise_ function."
                )
            frame = part.reindex(columns=list(SUMMARY_COLUMNS[1:])).copy()
            frame.insert(0, "outcome", outcome)
            frames.append(frame)
    # Built from records: concatenating frames whose optional columns are all NA is deprecated
    # in pandas and would warn in every notebook.
    records = [row for frame in frames for row in frame.to_dict("records")]
    return pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))


def format_estimates(
    table: pd.DataFrame, percent: bool | pd.Series = False, digits: int = 2
) -> pd.DataFrame:
    """Add a text column ``estimate (CI)`` for display; proportions as percentages if ``percent``.

    ``percent`` may be a boolean Series aligned with ``table`` (e.g. true for rate rows only).
    Infinite limits (unbounded exact intervals in tiny samples) print as "∞".
    """
    pct = pd.Series(percent, index=table.index) if np.isscalar(percent) else percent
    scale = np.where(pct, 100.0, 1.0)
    suffix = np.where(pct, " %", "")

    def fmt(value: float) -> str:
        if pd.isna(value):
            return "NE"
        if np.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}f}"

    text = [
        f"{fmt(est * s)}{suf} ({fmt(lo * s)} to {fmt(hi * s)})"
        for est, lo, hi, s, suf in zip(
            table["estimate"], table["ci_lower"], table["ci_upper"], scale, suffix, strict=True
        )
    ]
    return table.assign(**{"estimate (CI)": text})
