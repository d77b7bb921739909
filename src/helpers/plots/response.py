"""Tumour-response figures: waterfall, swimmer and spider plots (RECIST 1.1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from helpers.plots.style import (
    _MONTH_LOCATOR,
    BOR_COLOURS,
    BOR_LABELS,
    PALETTE,
    _bor_legend_handles,
    _check_bor_codes,
    _check_frame,
    _group_colours,
    _new_axes,
    _note_below,
    _numeric,
    _ordered_levels,
    _ref_hline,
    _require_columns,
    _styled,
)

# Swimmer plots: a row per patient up to a page-high figure; beyond it rows get thinner and,
# once too thin for a readable identifier, the identifiers are dropped.
_SWIM_ROW_IN = 0.24
_SWIM_MAX_HEIGHT_IN = 11.0
_SWIM_MAX_LABELLED = 60
#: Above this many patients bars and arrows are drawn as one collection each, not one patch per
#: patient (same picture; 4,000 patches take ~10 s to add and draw, a collection ~0.1 s).
_SWIM_MAX_PATCHES = 1000


@_styled
def plot_waterfall(
    bor: pd.DataFrame,
    *,
    pchg_col: str = "BESTPCHG",
    response_col: str = "AVALC",
    subject_col: str = "USUBJID",
    clip: float = 100.0,
    ylabel: str = "Best change in sum of target lesions (%)",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.5, 4.2),
) -> Figure:
    """Waterfall plot of the best percentage change in the sum of target lesions.

    One bar per patient, sorted from largest increase to largest decrease and coloured by best
    overall response (:data:`BOR_COLOURS`). Dashed lines mark the RECIST 1.1 thresholds
    (+20 % progression, −30 % partial response). Bars above ``clip`` are cut at ``clip`` and
    topped with a triangle and the true value. A change of exactly 0 % (frequent with ties in
    small cohorts) is drawn as a thick line on the zero axis in the response colour, so that
    every patient counted is seen. Patients without a measurable change (missing
    ``pchg_col``) are listed in a note under the plot rather than silently dropped.

    Returns
    -------
    Figure
        The bars are the axes' patches (one per plotted patient); reference lines have gids
        ``"ref_+20"`` and ``"ref_-30"``.

    References
    ----------
    Eisenhauer EA et al. Eur J Cancer 2009;45:228-247 (RECIST 1.1 thresholds).
    """
    func = "plot_waterfall"
    _check_frame(bor, func, "bor")
    cols = {"pchg_col": pchg_col, "response_col": response_col, "subject_col": subject_col}
    _require_columns(bor, func, cols)
    if bor[subject_col].duplicated().any():
        raise ValueError(f"{func}: one row per patient expected; filter to PARAMCD BOR or CBOR")
    data = pd.DataFrame(
        {
            "subject": bor[subject_col].to_numpy(),
            "pchg": _numeric(bor[pchg_col].to_numpy(), func, pchg_col),
            "bor": bor[response_col].astype("string").to_numpy(),
        }
    )
    _check_bor_codes(data["bor"], func, response_col)
    if (data["pchg"] < -100).any():
        raise ValueError(f"{func}: {pchg_col} below −100 % is impossible; check the derivation")
    shown = data.dropna(subset=["pchg"]).sort_values(["pchg", "subject"], ascending=[False, True])
    not_shown = data.loc[data["pchg"].isna(), "subject"].astype(str).tolist()

    fig, ax = _new_axes(ax, figsize, func)
    x = np.arange(len(shown))
    heights = shown["pchg"].clip(upper=clip).to_numpy()
    colours = [BOR_COLOURS[b] for b in shown["bor"]]
    ax.bar(x, heights, width=0.8, color=colours, zorder=2)
    ax.axhline(0, color="black", linewidth=0.8, zorder=3)
    # a bar of exactly 0 % has no height: a short thick stroke in its colour shows the patient
    zero = heights == 0
    if zero.any():
        ax.hlines(
            np.zeros(zero.sum()), x[zero] - 0.4, x[zero] + 0.4,
            colors=np.asarray(colours, dtype=object)[zero], linewidth=3.5, zorder=4, gid="zero_bar",
        )  # fmt: skip
    _ref_hline(ax, 20, "+20 %")
    _ref_hline(ax, -30, "−30 %")

    handles: list[Any] = _bor_legend_handles(shown["bor"])
    over = shown["pchg"].to_numpy() > clip
    if over.any():
        ax.plot(x[over], np.full(over.sum(), clip + 5), "^", color="black", markersize=5)
        for xi, value in zip(x[over], shown["pchg"].to_numpy()[over], strict=True):
            ax.text(
                xi, clip + 10, f"{value:+.0f}", ha="center", va="bottom", fontsize=7, rotation=90
            )
        handles.append(
            Line2D([], [], marker="^", color="black", linestyle="none", label=f"> +{clip:g} %")
        )
    ax.legend(handles=handles, loc="upper right", ncols=1)

    top = max(30.0, float(np.nanmax(heights, initial=0.0)) + (35 if over.any() else 10))
    ax.set_ylim(-105, top)
    ax.set_xlim(-0.8, max(len(shown), 1) - 0.2)
    ax.set_xticks([])
    ax.spines["bottom"].set_visible(False)
    ax.set_xlabel(f"Patients with a measurable change (n = {len(shown)})")
    ax.set_ylabel(ylabel)
    if not_shown:
        _note_below(
            ax,
            f"Not shown, no measurable change from baseline (n = {len(not_shown)}): "
            + ", ".join(not_shown),
        )
    if title:
        ax.set_title(title)
    return fig


_SWIM_EVENTS = (
    ("response_onset", "Response onset", {"marker": "^", "color": "black", "markersize": 6}),
    ("progression", "Progression", {"marker": "X", "color": "black", "markersize": 7}),
    ("death", "Death", {"marker": "s", "color": "#444444", "markersize": 5.5}),
)


def _swim_input(swim: pd.DataFrame) -> pd.DataFrame:
    func = "plot_swimmer"
    _check_frame(swim, func, "swim")
    _require_columns(swim, func, {c: c for c in ("subject", "start", "end", "ongoing")})
    if swim["subject"].duplicated().any():
        raise ValueError(f"{func}: one row per patient expected in column 'subject'")
    data = pd.DataFrame({"subject": swim["subject"].astype(str).to_numpy()})
    for col in ("start", "end", *(e[0] for e in _SWIM_EVENTS)):
        present = col in swim.columns
        values = swim[col].to_numpy() if present else np.full(len(swim), np.nan)
        data[col] = _numeric(values, func, col).to_numpy()
    if data[["start", "end"]].isna().any().any() or (data["end"] < data["start"]).any():
        raise ValueError(f"{func}: start and end must be present with end >= start (months)")
    if (data[["start", "end"]] < 0).any().any():
        raise ValueError(f"{func}: start and end are months since treatment start, so >= 0")
    ongoing = swim["ongoing"].map(lambda v: {"Y": True, "N": False}.get(v, v))
    if not ongoing.isin([True, False]).all():
        raise ValueError(f"{func}: ongoing must be boolean (True/False or 'Y'/'N')")
    data["ongoing"] = ongoing.astype(bool).to_numpy()
    data["bor"] = swim["bor"].astype("string").to_numpy() if "bor" in swim.columns else pd.NA
    if "bor" in swim.columns:
        _check_bor_codes(data["bor"], func, "bor")
    data["duration"] = data["end"] - data["start"]
    return data.sort_values(["duration", "subject"], ascending=[False, True]).reset_index(drop=True)


def _swim_collections(ax: Axes, data: pd.DataFrame, y: np.ndarray, colours, arrow_len: float):
    """Large cohorts: all bars as one PolyCollection, ongoing arrows as one scatter."""
    x0, x1 = data["start"].to_numpy(float), data["end"].to_numpy(float)
    lo, hi = y - 0.31, y + 0.31
    boxes = np.stack([np.c_[x0, lo], np.c_[x1, lo], np.c_[x1, hi], np.c_[x0, hi]], axis=1)
    ax.add_collection(
        PolyCollection(
            boxes, facecolors=colours, edgecolors="none", antialiaseds=False, zorder=2, gid="bars"
        )
    )
    ongoing = data["ongoing"].to_numpy()
    if ongoing.any():
        ax.scatter(
            x1[ongoing] + arrow_len / 2,
            y[ongoing],
            marker=">",
            s=6,
            color="black",
            zorder=4,
            linewidths=0,
            gid="ongoing_arrow",
        )


@_styled
def plot_swimmer(
    swim: pd.DataFrame,
    *,
    xlabel: str = "Months since treatment start",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Swimmer plot: one horizontal bar per patient for the time on treatment.

    Bars run from ``start`` to ``end`` (months since treatment start), sorted by duration
    (longest on top) and coloured by best overall response when a ``bor`` column is given.
    Each patient gets a 0.24-inch row up to an 11-inch-high figure, thinner rows beyond; patient
    identifiers label the rows for up to 60 patients (beyond, they could not be read). Above
    1,000 patients the bars are one collection and the ongoing arrows one scatter of triangles
    (same picture, drawn in constant time per patient instead of one patch each).
    Markers: response onset (triangle), progression (X), death (square); an arrow at the bar
    end marks treatment ongoing at the data cut-off. Events after the end of treatment (e.g.
    death during follow-up) are drawn beyond the bar.

    Parameters
    ----------
    swim : DataFrame
        Columns ``subject``, ``start``, ``end``, ``ongoing`` (bool or Y/N); optional ``bor``
        (RECIST code), ``response_onset``, ``progression``, ``death`` (months, NaN = none).

    Returns
    -------
    Figure
        One bar (axes patch) per patient, in the sorted order from the top.
    """
    data = _swim_input(swim)
    n = len(data)
    row_in = min(_SWIM_ROW_IN, (_SWIM_MAX_HEIGHT_IN - 1.4) / n)
    fig, ax = _new_axes(ax, figsize or (7.0, max(3.0, row_in * n + 1.4)), "plot_swimmer")
    y = np.arange(n)
    has_bor = data["bor"].notna().all()
    colours = [BOR_COLOURS[b] for b in data["bor"]] if has_bor else PALETTE["blue"]
    x_max = float(np.nanmax(data[["end", *(e[0] for e in _SWIM_EVENTS)]].to_numpy())) or 1.0
    arrow_len = 0.04 * x_max
    handles: list[Any] = _bor_legend_handles(data["bor"]) if has_bor else []
    if n > _SWIM_MAX_PATCHES:
        _swim_collections(ax, data, y, colours, arrow_len)
    else:
        ax.barh(y, data["duration"], left=data["start"], height=0.62, color=colours, zorder=2)
    for yi in y[data["ongoing"].to_numpy()] if n <= _SWIM_MAX_PATCHES else []:
        end = data.at[yi, "end"]
        ax.add_patch(
            FancyArrowPatch(
                (end, yi),
                (end + arrow_len, yi),
                arrowstyle="-|>",
                mutation_scale=9,
                color="black",
                linewidth=1,
                zorder=4,
                gid="ongoing_arrow",
            )
        )
    if data["ongoing"].any():
        handles.append(
            Line2D(
                [], [], marker=r"$\rightarrow$", color="black", linestyle="none", label="Ongoing"
            )
        )
    for col, label, style in _SWIM_EVENTS:
        mask = data[col].notna().to_numpy()
        if mask.any():
            ax.plot(
                data.loc[mask, col],
                y[mask],
                linestyle="none",
                markeredgecolor="white",
                markeredgewidth=0.6,
                zorder=5,
                label=label,
                **style,
            )
            handles.append(
                Line2D([], [], linestyle="none", markeredgecolor="white", label=label, **style)
            )

    if n <= _SWIM_MAX_LABELLED:
        ax.set_yticks(y, data["subject"], fontsize=8 if n <= 30 else 6.5)
    else:  # identifiers would overlap: the plot shows the distribution, the table the patients
        ax.set_yticks([])
        ax.set_ylabel(f"Patients (n = {n}), longest on treatment at the top")
    ax.set_ylim(n - 0.4, -0.6)
    ax.set_xlim(0, x_max + 2.5 * arrow_len)
    ax.xaxis.set_major_locator(_MONTH_LOCATOR())
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel)
    # beside the plot, never over the bars of the longest-treated patients
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if title:
        ax.set_title(title)
    return fig


def _spider_input(
    ovr: pd.DataFrame, time_col: str, pchg_col: str, subject_col: str, colour_col: str | None
) -> pd.DataFrame:
    func = "plot_spider"
    _check_frame(ovr, func, "ovr")
    cols = {
        "time_col": time_col,
        "pchg_col": pchg_col,
        "subject_col": subject_col,
        "colour_col": colour_col,
    }
    _require_columns(ovr, func, cols)
    ady = _numeric(ovr[time_col].to_numpy(), func, time_col)
    data = pd.DataFrame(
        {
            "subject": ovr[subject_col].astype(str).to_numpy(),
            # ADaM study days skip day 0 (day 1 = first dose): days since start = ADY − 1.
            "weeks": (ady.where(ady < 1, ady - 1) / 7).to_numpy(),
            "pchg": _numeric(ovr[pchg_col].to_numpy(), func, pchg_col).to_numpy(),
            "colour": ovr[colour_col].astype(str).to_numpy() if colour_col else "all",
        }
    )
    if colour_col and (data.groupby("subject")["colour"].nunique() > 1).any():
        raise ValueError(
            f"{func}: {colour_col} must be constant within each patient (e.g. the patient's BOR "
            "merged onto every time point)"
        )
    # Baseline rows are replaced by the common origin (0 weeks, 0 %).
    data = data[(data["weeks"] > 0) & data["pchg"].notna()]
    if data.empty:
        raise ValueError(f"{func}: no post-baseline time point with a {pchg_col} value to plot")
    return data.sort_values(["subject", "weeks"])


#: Above this many patients the spider lines are one LineCollection (opacity 40/N, no markers):
#: thousands of Line2D artists take seconds each to add and draw and hide each other anyway.
_SPIDER_MAX_LINES = 500


def _spider_collection(ax: Axes, data: pd.DataFrame, colours: dict) -> None:
    """All patients' lines, each starting at (0, 0), as one collection (no per-patient loop)."""
    data = data.sort_values(["subject", "weeks"], kind="stable")
    x, y = data["weeks"].to_numpy(float), data["pchg"].to_numpy(float)
    subject = data["subject"].to_numpy()
    first = np.r_[True, subject[1:] != subject[:-1]]
    prev_x = np.where(first, 0.0, np.r_[0.0, x[:-1]])  # the first segment starts at the origin
    prev_y = np.where(first, 0.0, np.r_[0.0, y[:-1]])
    segments = np.stack([np.c_[prev_x, prev_y], np.c_[x, y]], axis=1)
    n = int(first.sum())
    ax.add_collection(
        LineCollection(
            segments,
            colors=[colours[c] for c in data["colour"]],
            linewidths=0.6,
            alpha=max(0.03, min(0.9, 40 / n)),
            zorder=3,
            gid="spider",
        ),
        autolim=True,
    )


@_styled
def plot_spider(
    ovr: pd.DataFrame,
    *,
    time_col: str = "ADY",
    pchg_col: str = "PCHGBL",
    subject_col: str = "USUBJID",
    colour_col: str | None = "BOR",
    xlabel: str = "Weeks since treatment start",
    ylabel: str = "Change in sum of target lesions from baseline (%)",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.0, 4.5),
) -> Figure:
    """Spider plot: percentage change in the target-lesion sum over time, one line per patient.

    Each line starts at (0 weeks, 0 %) and joins the post-baseline assessments (``time_col`` in
    ADaM study days, plotted in weeks since the first dose). Lines are coloured by
    ``colour_col`` (RECIST codes get :data:`BOR_COLOURS`; other categories the Okabe–Ito
    palette). Dashed lines mark +20 % and −30 % (RECIST 1.1).

    Parameters
    ----------
    ovr : DataFrame
        ADRS time-point rows (``PARAMCD == "OVR"``) with ``time_col`` (ADaM study day),
        ``pchg_col`` (% change of the target sum from baseline; baseline rows and missing values
        are not drawn) and ``colour_col`` constant within patient (e.g. BOR merged on).
    colour_col : str or None
        None draws every line in one colour, without a legend.

    Returns
    -------
    Figure
        One line (gid ``"spider:<subject>"``) per patient with at least one post-baseline value;
        above 500 patients one LineCollection (gid ``"spider"``, opacity 40/N) instead.
    """
    data = _spider_input(ovr, time_col, pchg_col, subject_col, colour_col)
    levels = _ordered_levels(data["colour"], None, "plot_spider")
    colours = _group_colours(levels, "plot_spider") if colour_col else {"all": PALETTE["blue"]}

    fig, ax = _new_axes(ax, figsize, "plot_spider")
    if data["subject"].nunique() > _SPIDER_MAX_LINES:
        _spider_collection(ax, data, colours)
    for subject, rows in (
        data.groupby("subject", sort=True) if data["subject"].nunique() <= _SPIDER_MAX_LINES else []
    ):
        ax.plot(
            np.r_[0.0, rows["weeks"].to_numpy()],
            np.r_[0.0, rows["pchg"].to_numpy()],
            color=colours[rows["colour"].iloc[0]],
            marker="o",
            markersize=3,
            linewidth=1.2,
            alpha=0.9,
            zorder=3,
            gid=f"spider:{subject}",
        )
    ax.axhline(0, color="black", linewidth=0.6, zorder=2)
    _ref_hline(ax, 20, "+20 %")
    _ref_hline(ax, -30, "−30 %")
    if colour_col:
        handles = [
            Line2D([], [], color=colours[v], marker="o", markersize=3, label=BOR_LABELS.get(v, v))
            for v in levels
        ]
        # beside the plot: the upper left corner is where the first assessments cluster
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xlim(0, data["weeks"].max() * 1.03)
    ax.set_ylim(min(-100.0, data["pchg"].min()) - 5, max(40.0, data["pchg"].max() + 10))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig
