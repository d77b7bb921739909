"""Adverse-event figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from helpers.plots.style import (
    PALETTE,
    _check_frame,
    _new_axes,
    _numeric,
    _percent,
    _require_columns,
    _styled,
)

# --------------------------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------------------------


@_styled
def plot_ae_bars(
    ae_table: pd.DataFrame,
    *,
    subject_col: str = "USUBJID",
    term_col: str = "AEDECOD",
    grade_col: str = "AETOXGR",
    n_patients: int | None = None,
    top: int = 15,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Patients with each adverse event (preferred term) by worst grade, for the top terms.

    Each patient counts once per term, at the worst CTCAE grade; bars stack grade 1–2 and
    grade ≥3 and are sorted by the number of patients (most frequent on top). With
    ``n_patients`` (safety population size) the bar ends also show the percentage.

    Parameters
    ----------
    ae_table : DataFrame
        One row per adverse event (ADAE: USUBJID, AEDECOD, AETOXGR); filter to
        treatment-emergent or related events before calling.

    Returns
    -------
    Figure
        Two bar containers (grade 1–2, grade ≥3) with one bar per term shown.
    """
    func = "plot_ae_bars"
    _check_frame(ae_table, func, "ae_table")
    cols = {"subject_col": subject_col, "term_col": term_col, "grade_col": grade_col}
    _require_columns(ae_table, func, cols)
    grade = _numeric(ae_table[grade_col].to_numpy(), func, grade_col)
    if not grade.isin([1, 2, 3, 4, 5]).all():
        raise ValueError(f"{func}: {grade_col} must be CTCAE grades 1–5 on every row")
    if not isinstance(top, int) or top < 1:
        raise ValueError(f"{func}: top must be a positive integer, got {top!r}")
    worst = (
        pd.DataFrame(
            {
                "s": ae_table[subject_col].to_numpy(),
                "t": ae_table[term_col].astype(str),
                "g": grade.to_numpy(),
            }
        )
        .groupby(["t", "s"])["g"]
        .max()
        .reset_index()
    )
    counts = (
        pd.DataFrame(
            {
                "low": worst[worst["g"] <= 2].groupby("t").size(),
                "high": worst[worst["g"] >= 3].groupby("t").size(),
            }
        )
        .fillna(0)
        .astype(int)
    )
    counts["total"] = counts["low"] + counts["high"]
    counts = (
        counts.reset_index(names="term")
        .sort_values(["total", "high", "term"], ascending=[False, False, True])
        .head(top)
    )
    if n_patients is not None and n_patients < counts["total"].max():
        raise ValueError(f"{func}: n_patients ({n_patients}) is below a term's patient count")

    fig, ax = _new_axes(ax, figsize or (7.0, 0.3 * len(counts) + 1.4), func)
    y = np.arange(len(counts))
    ax.barh(y, counts["low"], color=PALETTE["sky_blue"], height=0.7, label="Grade 1–2")
    ax.barh(
        y,
        counts["high"],
        left=counts["low"],
        color=PALETTE["vermillion"],
        height=0.7,
        label="Grade ≥3",
    )
    for yi, total in zip(y, counts["total"], strict=True):
        text = f"{total}" + (f" ({_percent(total, n_patients)}%)" if n_patients else "")
        ax.text(total, yi, " " + text, va="center", ha="left", fontsize=8)
    ax.set_yticks(y, counts["term"])
    ax.set_ylim(len(counts) - 0.5, -0.6)
    ax.set_xlim(0, counts["total"].max() * 1.18 + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("Patients (n)" + (f", N = {n_patients}" if n_patients else ""))
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return fig
