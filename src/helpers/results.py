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
#: ``note`` keeps the reason of a row without numbers ("not estimable: 1 responder").
SUMMARY_COLUMNS = ("outcome", *ESTIMATE_COLUMNS, "p_value", "p_adj", "note")
#: Smallest p-value reported or plotted as a number. Below it (down to 0, where a tail
#: probability underflows double precision, ~1e-308 normal / 5e-324 subnormal) p is reported as
#: "p < 1e-300" and drawn at this floor, so every figure and text has a finite -log10(p) <= 300.
P_FLOOR = 1e-300


def empty_estimate_row(
    parameter: str, N: object, ci_level: float, method: str, note: str, n: object = pd.NA
) -> dict:
    """An estimate-table row without numbers (estimate, CI and p missing) whose ``note`` says why,
    e.g. ``"not estimable: 1 complete pair"``; columns :data:`TESTED_ESTIMATE_COLUMNS`."""
    return {
        "parameter": parameter,
        "n": n,
        "N": N,
        "estimate": np.nan,
        "ci_lower": np.nan,
        "ci_upper": np.nan,
        "ci_level": ci_level,
        "method": method,
        "p_value": np.nan,
        "note": note,
    }


#: How every note of a row whose optional input table was not supplied begins.
NOT_AVAILABLE = "not available"


def not_supplied_note(table: str) -> str:
    """The note of a row whose optional input table was not supplied: "not available: table
    granzyme_b not supplied" (one wording for every notebook and helper)."""
    return f"{NOT_AVAILABLE}: table {table} not supplied"


def mark_not_supplied(
    estimates: pd.DataFrame, table: str, rows: pd.Series | None = None
) -> pd.DataFrame:
    """Estimate rows that rest on an optional table that was not supplied, saying so.

    Method: in the selected rows (all rows when ``rows`` is None, else where the boolean
    ``rows`` is true) the numbers (``estimate``, ``ci_lower``, ``ci_upper``, ``p_value``, those
    present) are cleared and ``note`` is set to :func:`not_supplied_note` (a copy is returned;
    other rows are unchanged).
    """
    out = estimates.copy()
    mask = pd.Series(True, index=out.index) if rows is None else rows.reindex(out.index)
    mask = mask.fillna(False).astype(bool)
    for col in ("estimate", "ci_lower", "ci_upper", "p_value"):
        if col in out.columns:
            out[col] = out[col].astype(float).where(~mask)
    note = out["note"].astype(object) if "note" in out.columns else pd.Series(None, out.index)
    out["note"] = note.where(~mask, not_supplied_note(table))
    return out


def clip_p_values(p: object) -> np.ndarray:
    """p-values as floats with underflow (p < ``P_FLOOR``, including 0) raised to ``P_FLOOR``.

    NaN stays NaN; values must otherwise lie in [0, 1] (a ``ValueError`` names the first bad one).
    Use it before taking logarithms for a figure; report the clipped ones with
    :func:`format_p_value`, which prints them as "< 1e-300".
    """
    arr = np.asarray(p, dtype=float)
    bad = ~np.isnan(arr) & ((arr < 0) | (arr > 1))
    if bad.any():
        raise ValueError(f"p-values must lie in [0, 1], got {arr[bad].flat[0]!r}")
    return np.where(np.isnan(arr), np.nan, np.maximum(arr, P_FLOOR))


def format_p_value(p: float, digits: int = 2, prefix: str = "") -> str:
    """A p-value as text: ``"0.032"``, ``"4.1e-05"``, or ``"< 1e-300"`` when it underflows.

    ``digits`` significant digits; values below 0.001 in scientific notation; below
    :data:`P_FLOOR` (including p = 0, a floating-point underflow) "< 1e-300". ``prefix`` (e.g.
    ``"p"``) is joined with " = " or " < ". NaN gives "NE" (not estimable).
    """
    if p is None or pd.isna(p):
        return f"{prefix} = NE" if prefix else "NE"
    value = float(p)
    if value < P_FLOOR:
        text, sign = f"{P_FLOOR:.0e}", "<"
    elif value < 1e-3:
        text, sign = f"{value:.{max(digits - 1, 0)}e}", "="
    else:
        text, sign = f"{value:.{digits}g}", "="
    if prefix:
        return f"{prefix} {sign} {text}"
    return text if sign == "=" else f"< {text}"


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
        p_value, p_adj, note`` (missing optional columns are NA), in the order given.
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
    Infinite limits (unbounded exact intervals in tiny samples) print as "∞". ``p_value`` and
    ``p_adj``, when present, become text by :func:`format_p_value` (2 significant digits,
    "< 1e-300" for an underflowed p, empty when missing).
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
    p_text = {
        col: ["" if pd.isna(v) else format_p_value(v) for v in table[col]]
        for col in ("p_value", "p_adj")
        if col in table.columns
    }
    return table.assign(**{"estimate (CI)": text}, **p_text)
