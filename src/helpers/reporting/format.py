"""The one formatting layer: every table a person reads (notebook pages, index, RTF/XLSX/DOCX).

One rule set, applied everywhere:

- counts as integers ("4", never "4.0"); "n (%)" cells with the percentage to 1 decimal;
- percentages to 1 decimal; other estimates to 2 decimals (1 from 10, 0 from 100); a confidence
  interval has the decimals of its estimate; p-values to 3 decimals, "<0.001" below;
- "—" for a missing value, "NE" (not estimable) for a missing estimate or limit, "∞" for an
  unbounded exact limit;
- no index column, no truncation (every row and the whole text of every cell);
- the method goes to a footnote (one method: "Method: …"; several: letters a, b, … in the table,
  each letter explained under it); the CI level goes into the column header.

HTML is rendered by great_tables (https://posit-dev.github.io/great-tables/); the RTF, XLSX and
DOCX writers in :mod:`helpers.reporting.export` take the same :class:`FormattedTable`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NA_TEXT = "—"
NE_TEXT = "NE"
P_FLOOR = 0.001
#: Column names read as p-values.
P_COLUMNS = ("p_value", "p_adj", "p", "ph_test_p", "p_interaction", "p_trend")
#: Methods whose estimate is a proportion (shown as a percentage).
PROPORTION_METHODS = ("clopper", "wilson", "jeffreys", "binomial", "proportion", "agresti")
_ESTIMATE = ("estimate", "ci_lower", "ci_upper")


@dataclass
class FormattedTable:
    """A table ready to be read: text cells, a title and footnotes.

    Attributes
    ----------
    table : pandas.DataFrame
        Text cells only (``str``), no index; column names are the headers.
    title : str
        Table title ("" for none).
    footnotes : list of str
        Footnotes in order (method, abbreviations, population notes).
    group : str or None
        Column whose values head groups of rows (e.g. the variable of a Table 1), or ``None``.
    stub : str or None
        Column of row labels (e.g. the statistic under a variable), or ``None``.
    """

    table: pd.DataFrame
    title: str = ""
    footnotes: list[str] = field(default_factory=list)
    group: str | None = None
    stub: str | None = None

    def flat(self) -> pd.DataFrame:
        """The table with group headings as rows of their own (for RTF, DOCX, listings)."""
        if self.group is None:
            return self.table.reset_index(drop=True)
        rows: list[dict[str, str]] = []
        body = [c for c in self.table.columns if c != self.group]
        for name, part in self.table.groupby(self.group, sort=False):
            heading = dict.fromkeys(body, "")
            heading[body[0]] = str(name)
            rows.append(heading)
            for rec in part[body].to_dict("records"):
                first = str(rec[body[0]])
                rows.append({**rec, body[0]: f"    {first}" if first else first})
        return pd.DataFrame(rows, columns=body)


# ----------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_count(value: Any) -> str:
    """An integer count ("4", not "4.0"); "—" when missing."""
    return NA_TEXT if _missing(value) else str(round(float(value)))


def format_count_pct(n: Any, total: Any, digits: int = 1) -> str:
    """ "n (x.x%)"; "0" when n is 0; "n" alone when the denominator is 0 or missing."""
    if _missing(n):
        return NA_TEXT
    n = int(n)
    if n == 0:
        return "0"
    if _missing(total) or int(total) == 0:
        return str(n)
    return f"{n} ({100.0 * n / int(total):.{digits}f}%)"


def _count_with_pct(n: Any, pct: Any) -> str:
    """ "n (x.x%)" from a count and its percentage (already × 100)."""
    if _missing(n):
        return NA_TEXT
    if int(n) == 0 or _missing(pct):
        return str(int(n))
    return f"{int(n)} ({float(pct):.1f}%)"


def format_p(p: Any) -> str:
    """p-value to 3 decimals; "<0.001" below 0.001; "—" when missing."""
    if _missing(p):
        return NA_TEXT
    p = float(p)
    if p < P_FLOOR:
        return "<0.001"
    return f"{min(p, 1.0):.3f}"


def decimals_for(value: Any, percent: bool = False) -> int:
    """Decimals of an estimate: 1 for percentages, else 2 (1 from 10, 0 from 100)."""
    if percent:
        return 1
    if _missing(value) or not np.isfinite(float(value)):
        return 2
    size = abs(float(value))
    return 0 if size >= 100 else 1 if size >= 10 else 2


def format_number(value: Any, digits: int, missing: str = NA_TEXT) -> str:
    """Fixed decimals, typographic minus, "∞" for infinite values, ``missing`` for NaN/None."""
    if _missing(value):
        return missing
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def format_estimate_ci(est: Any, lower: Any, upper: Any, percent: bool = False) -> str:
    """ "31.6% (18.1 to 47.9)": the interval carries the decimals of its estimate; "NE" if none."""
    if _missing(est):
        return NE_TEXT
    scale = 100.0 if percent else 1.0
    digits = decimals_for(float(est) * scale, percent)
    unit = "%" if percent else ""
    text = format_number(float(est) * scale, digits) + unit
    if _missing(lower) and _missing(upper):
        return text
    lo, hi = (
        NE_TEXT if _missing(v) else format_number(float(v) * scale, digits) for v in (lower, upper)
    )
    return f"{text} ({lo} to {hi})"


def is_proportion(method: Any, parameter: Any = "", estimate: Any = None) -> bool:
    """True for an estimate read as a percentage: exact/score binomial methods, or a rate,
    proportion or survival parameter whose estimate lies in [0, 1] (a Kaplan–Meier landmark rate;
    never a median)."""
    text = str(method).lower()
    if any(word in text for word in PROPORTION_METHODS):
        return True
    words = str(parameter).lower()
    in_unit = not _missing(estimate) and 0.0 <= float(estimate) <= 1.0
    rate_words = ("rate", "proportion", "probability", "survival", "free at", "orr", "dcr", "cbr")
    return in_unit and "median" not in words and any(w in words for w in rate_words)


def format_date(value: Any) -> str:
    """ISO date (YYYY-MM-DD); "—" when missing."""
    return NA_TEXT if _missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


# ----------------------------------------------------------------------------------------------
# Columns and tables
# ----------------------------------------------------------------------------------------------


def _is_p_column(name: str) -> bool:
    return name in P_COLUMNS or name.startswith("p_") or name.endswith("_p")


def _is_pct_column(name: str) -> bool:
    low = name.lower()
    return "pct" in low or "%" in low or "percent" in low


def format_column(values: pd.Series) -> pd.Series:
    """Text cells of one column by the rule set (counts, percentages, p-values, dates, numbers)."""
    name = str(values.name)
    if pd.api.types.is_bool_dtype(values):
        return values.map(lambda v: NA_TEXT if _missing(v) else ("Yes" if v else "No"))
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.map(format_date)
    if not pd.api.types.is_numeric_dtype(values):
        return values.map(lambda v: NA_TEXT if _missing(v) else _text(v))
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    if _is_p_column(name):
        return numbers.map(format_p)
    finite = numbers[np.isfinite(numbers)]
    if len(finite) and (finite == finite.round()).all() and not _is_pct_column(name):
        return numbers.map(lambda v: format_number(v, 0))
    if _is_pct_column(name):
        return numbers.map(lambda v: format_number(v, 1))
    digits = decimals_for(float(finite.abs().median())) if len(finite) else 2
    return numbers.map(lambda v: format_number(v, digits))


def _text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return format_column(pd.Series([value]))[0]
    if isinstance(value, pd.Timestamp):
        return format_date(value)
    return str(value)


def _method_notes(methods: pd.Series) -> tuple[pd.Series | None, list[str]]:
    """Method column -> (letters column or None, footnotes)."""
    present = [str(m) for m in methods.dropna().unique() if str(m).strip()]
    if not present:
        return None, []
    if len(present) == 1:
        return None, [f"Method: {present[0]}."]
    letters = dict(zip(present, string.ascii_lowercase, strict=False))
    column = methods.map(lambda m: letters.get(str(m), "") if not _missing(m) else "")
    return column, [f"{letters[m]}: {m}." for m in present]


def format_table(
    table: pd.DataFrame,
    title: str = "",
    footnotes: Sequence[str] = (),
    percent: bool | pd.Series | None = None,
    group: str | None = None,
    stub: str | None = None,
    labels: dict[str, str] | None = None,
) -> FormattedTable:
    """Any results table -> :class:`FormattedTable` by the rule set of this module.

    Parameters
    ----------
    table : pandas.DataFrame
        An estimate table (``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method``,
        optional ``p_value, p_adj, note``), a count table, a cross table (its index becomes
        columns) or a listing.
    title, footnotes
        Printed above / below the table.
    percent : bool or boolean Series, optional
        Estimates shown as percentages; default: :func:`is_proportion` per row.
    group, stub
        Columns heading groups of rows / labelling rows (e.g. ``outcome`` of a results summary).
    labels : dict, optional
        ``{column: header}`` renames applied last.

    Returns
    -------
    FormattedTable
        Text cells; estimate tables get one column ``Estimate (95% CI)`` (level from
        ``ci_level``), the method moves to the footnotes and empty optional columns are dropped.
    """
    df = table.copy()
    # a named index (cross tables, value counts) is a column of labels; a bare one is row numbers
    named = any(name is not None for name in df.index.names)
    df = df.reset_index(drop=not named)
    if isinstance(df.columns, pd.MultiIndex):
        df.columns = [" / ".join(str(p) for p in col if str(p)) for col in df.columns]
    df.columns = [str(c) for c in df.columns]
    notes = list(footnotes)
    out = pd.DataFrame(index=df.index)
    is_estimate = set(_ESTIMATE) <= set(df.columns)
    if is_estimate:
        pct = (
            pd.Series(
                [
                    is_proportion(m, p, e)
                    for m, p, e in zip(
                        df.get("method", pd.Series("", index=df.index)),
                        df.get("parameter", pd.Series("", index=df.index)),
                        df["estimate"],
                        strict=True,
                    )
                ],
                index=df.index,
            )
            if percent is None
            else pd.Series(percent, index=df.index)
            if np.isscalar(percent)
            else percent.reindex(df.index).fillna(False)
        )
        levels = df["ci_level"].dropna().unique() if "ci_level" in df.columns else []
        head = f"Estimate ({float(levels[0]):.0%} CI)" if len(levels) == 1 else "Estimate (CI)"
        if len(levels) > 1:
            notes.append("CI levels: " + ", ".join(f"{float(v):.0%}" for v in levels) + ".")
        text = [
            format_estimate_ci(e, lo, hi, bool(p))
            for e, lo, hi, p in zip(
                df["estimate"], df["ci_lower"], df["ci_upper"], pct, strict=True
            )
        ]
    # count/percentage pairs (n_any + pct_any) become one "n (%)" cell, as in AE tables (AET02)
    pairs = {
        col: f"pct_{col[2:]}"
        for col in df.columns
        if col.startswith("n_") and f"pct_{col[2:]}" in df.columns
    }
    for col in df.columns:
        if col in pairs.values():
            continue
        if col in pairs:
            pct = pd.to_numeric(df[pairs[col]], errors="coerce")
            out[f"{col[2:].replace('_', ' ')}, n (%)"] = [
                _count_with_pct(n, p) for n, p in zip(df[col], pct, strict=True)
            ]
            continue
        if is_estimate and col in (*_ESTIMATE, "ci_level", "estimate (CI)"):
            if col == "estimate":
                out[head] = text
            continue
        if col == "method":
            letters, method_notes = _method_notes(df[col])
            notes.extend(method_notes)
            if letters is not None:
                out["Method"] = letters
            continue
        column = format_column(df[col])
        if col in ("note", "p_adj", "p_value") and column.str.strip().isin([NA_TEXT, ""]).all():
            continue  # optional columns with nothing to say only clutter the view
        out[col] = column
    out = out.rename(columns={"p_value": "p", "p_adj": "p (adjusted)", **(labels or {})})
    return FormattedTable(out.reset_index(drop=True), title, notes, group, stub)


def _table_id(ft: FormattedTable) -> str:
    """Stable HTML id (great_tables draws a random one: pages would differ between runs)."""
    digest = hashlib.sha1(
        (ft.title + "|".join(ft.table.columns) + str(len(ft.table))).encode()
    ).hexdigest()
    return "t" + digest[:10]


def to_gt(ft: FormattedTable) -> Any:
    """great_tables ``GT`` of a formatted table (title, row groups, footnotes)."""
    import great_tables as gt

    table = gt.GT(ft.table, rowname_col=ft.stub, groupname_col=ft.group, id=_table_id(ft))
    if ft.title:
        table = table.tab_header(title=ft.title)
    for note in ft.footnotes:
        table = table.tab_source_note(note)
    dates = [
        c
        for c in ft.table.columns
        if c not in (ft.group, ft.stub)
        and ft.table[c].astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}|—").all()
    ]
    if dates:  # a date never breaks over two lines
        table = table.tab_style(gt.style.css("white-space: nowrap"), gt.loc.body(columns=dates))
    return table.tab_options(
        table_font_size="13px",
        data_row_padding="2px",
        column_labels_font_weight="bold",
        row_group_font_weight="bold",
        table_width="auto",
    ).opt_align_table_header(align="left")


def to_html(ft: FormattedTable) -> str:
    """HTML fragment of a formatted table (its styles scoped to its id), for the index pages."""
    return to_gt(ft).as_raw_html()


#: A notebook page shows at most this many rows of a table (a Table 1 fits; a phase III listing
#: does not): the rest is in the saved CSV and the notebook's workbook, and the table says so.
SHOW_MAX_ROWS = 100


def show(
    table: pd.DataFrame | FormattedTable,
    title: str = "",
    max_rows: int = SHOW_MAX_ROWS,
    **kwargs: Any,
) -> Any:
    """What a notebook displays: ``display(fmt.show(table))`` renders the rule-set table (HTML).

    Accepts a raw table (formatted with :func:`format_table` and ``kwargs``) or a
    :class:`FormattedTable`. At most ``max_rows`` rows are rendered (:data:`SHOW_MAX_ROWS`); a
    longer table shows its first rows and a source note with the total, so that a page of a
    phase III cohort stays readable and small.
    """
    ft = table if isinstance(table, FormattedTable) else format_table(table, title, **kwargs)
    if len(ft.table) > max_rows:
        note = (
            f"First {max_rows} of {len(ft.table):,} rows shown; the complete table is saved as "
            "CSV and in this notebook's Excel workbook."
        )
        ft = dataclasses.replace(ft, table=ft.table.head(max_rows), footnotes=[*ft.footnotes, note])
    return to_gt(ft)


def key_value_table(values: Any, key: str = "parameter", value: str = "value") -> pd.DataFrame:
    """A mapping or dataclass as a two-column table (lists joined with ", "): readable, not a repr.

    Returns
    -------
    pandas.DataFrame
        Columns ``key`` and ``value`` (text), one row per entry, in the given order.
    """

    if dataclasses.is_dataclass(values) and not isinstance(values, type):
        values = dataclasses.asdict(values)
    if not isinstance(values, dict):
        raise TypeError(f"expected a mapping or a dataclass instance, got {type(values).__name__}.")

    def words(v: Any) -> str:
        if isinstance(v, list | tuple | set):
            return ", ".join(str(x) for x in v)
        return NA_TEXT if _missing(v) else str(v)

    return pd.DataFrame([(str(k), words(v)) for k, v in values.items()], columns=[key, value])


def table_link(path: Any, base: Any, what: str, n: int) -> str:
    """Markdown link to a saved table, relative to the page folder ``base`` (e.g. ``reports/``).

    For long tables that a page should not print in full: "[All 386 QC records (CSV)](…)".
    """
    import os
    from pathlib import Path

    rel = Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()
    return f"[All {n} {what} (CSV)]({rel}), also a sheet of this notebook's Excel workbook."
