"""Agreement and diagnostic-accuracy figures: Bland–Altman, ROC, FISH signal scatter."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from helpers.plots.style import (
    _REF_LINE,
    PALETTE,
    NothingToPlot,
    _check_frame,
    _finite_scalar,
    _fmt,
    _new_axes,
    _numeric,
    _require_columns,
    _styled,
)


@_styled
def plot_bland_altman(
    mean: Sequence[float] | np.ndarray | pd.Series,
    diff: Sequence[float] | np.ndarray | pd.Series,
    bias: float,
    loa_lower: float,
    loa_upper: float,
    *,
    xlabel: str = "Mean of the two measurements",
    ylabel: str = "Difference between measurements",
    value_format: str = "{:.2f}",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 4.5),
) -> Figure:
    """Bland–Altman plot: difference against mean, with bias and 95 % limits of agreement.

    The bias and limits are computed elsewhere (``helpers.endpoints.stats``) and passed in, so the
    figure
    shows exactly the reported numbers. Semi-transparent points reveal ties (e.g. FISH counts).

    Parameters
    ----------
    mean, diff : array-like
        Per-pair mean and difference of the two measurements (same length).
    bias, loa_lower, loa_upper : float
        Mean difference and limits of agreement (bias ± 1.96 SD), drawn as lines.

    Returns
    -------
    Figure
        Lines with gids ``"bias"``, ``"loa_lower"``, ``"loa_upper"``.

    References
    ----------
    Bland JM, Altman DG. Lancet 1986;1:307-310.
    """
    func = "plot_bland_altman"
    x = _numeric(mean, func, "mean").to_numpy()
    y = _numeric(diff, func, "diff").to_numpy()
    if x.shape != y.shape:
        raise ValueError(f"{func}: mean and diff must be of the same length")
    if x.size == 0:
        raise NothingToPlot(f"{func}: no pair read by both readers")
    bias = _finite_scalar(bias, func, "bias")
    lo = _finite_scalar(loa_lower, func, "loa_lower")
    hi = _finite_scalar(loa_upper, func, "loa_upper")
    if not lo <= bias <= hi:
        raise ValueError(f"{func}: expected loa_lower <= bias <= loa_upper")

    fig, ax = _new_axes(ax, figsize, func)
    ax.scatter(x, y, s=18, color=PALETTE["blue"], alpha=0.55, edgecolors="none", zorder=3)
    ax.axhline(0, color="#BBBBBB", linestyle=":", linewidth=0.9)
    ax.axhline(bias, color="black", linewidth=1.1, gid="bias")
    ax.axhline(lo, **_REF_LINE, gid="loa_lower")
    ax.axhline(hi, **_REF_LINE, gid="loa_upper")
    trans = mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for value, name in ((hi, "Upper LoA"), (bias, "Bias"), (lo, "Lower LoA")):
        ax.text(
            1.01,
            value,
            f"{name}\n{_fmt(value, value_format)}",
            transform=trans,
            ha="left",
            va="center",
            fontsize=8,
        )
    span = max(np.nanmax(np.abs(y - bias), initial=0.0), hi - bias, bias - lo) * 1.15
    ax.set_ylim(bias - span, bias + span)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig


@_styled
def plot_roc(
    roc_points: pd.DataFrame,
    auc: float,
    ci: tuple[float, float] | None = None,
    *,
    fpr_col: str = "fpr",
    tpr_col: str = "tpr",
    ci_level: float = 0.95,
    label: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (4.8, 4.6),
) -> Figure:
    """Empirical ROC curve with the chance diagonal and the AUC (and CI) in the legend.

    Points are joined in order of increasing false-positive rate; (0, 0) and (1, 1) are added
    when missing, as every empirical ROC curve passes through them.

    Parameters
    ----------
    roc_points : DataFrame
        Operating points with ``fpr_col`` (1 − specificity) and ``tpr_col`` (sensitivity).
    auc : float
        Area under the curve computed elsewhere (``helpers.endpoints.stats``).
    ci : (float, float), optional
        Its confidence limits at ``ci_level``; shown in the legend with the AUC.

    References
    ----------
    Hanley JA, McNeil BJ. Radiology 1982;143:29-36.
    """
    func = "plot_roc"
    _check_frame(roc_points, func, "roc_points")
    _require_columns(roc_points, func, {"fpr_col": fpr_col, "tpr_col": tpr_col})
    fpr = _numeric(roc_points[fpr_col].to_numpy(), func, fpr_col)
    tpr = _numeric(roc_points[tpr_col].to_numpy(), func, tpr_col)
    pts = pd.DataFrame({"fpr": fpr, "tpr": tpr}).dropna()
    if not pts.apply(lambda s: s.between(0, 1)).all().all():
        raise ValueError(f"{func}: {fpr_col} and {tpr_col} must lie in [0, 1]")
    auc = _finite_scalar(auc, func, "auc")
    ends = pd.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})
    pts = pd.concat([ends.iloc[[0]], pts, ends.iloc[[1]]]).drop_duplicates()
    pts = pts.sort_values(["fpr", "tpr"])

    text = f"AUC {auc:.2f}"
    if ci is not None:
        lo, hi = (_finite_scalar(v, func, "ci") for v in ci)
        text += f" ({100 * ci_level:g}% CI {lo:.2f}–{hi:.2f})"
    fig, ax = _new_axes(ax, figsize, func)
    ax.plot([0, 1], [0, 1], color="#BBBBBB", linestyle=":", linewidth=1, label="Chance")
    ax.plot(
        pts["fpr"],
        pts["tpr"],
        color=PALETTE["blue"],
        linewidth=1.8,
        label=f"{label}: {text}" if label else text,
        zorder=3,
    )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity (false-positive rate)")
    ax.set_ylabel("Sensitivity (true-positive rate)")
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# HER2 FISH on single cells
# --------------------------------------------------------------------------------------------


@_styled
def plot_fish_signals(
    cells: pd.DataFrame,
    ratio_threshold: float = 2.2,
    *,
    her2_col: str = "HER2SIG",
    cep17_col: str = "CEP17SIG",
    call_col: str = "AMPFL",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (7.2, 4.6),
) -> Figure:
    """HER2 against CEP17 signal counts per cell, with the amplification cut-off.

    Signal counts are small integers, so cells sharing a (CEP17, HER2) pair are drawn as one
    bubble whose area is proportional to the number of cells, coloured by the call in
    ``call_col`` (``"Y"`` amplified, ``"N"`` not; other values, e.g. not scoreable, are not
    drawn). The dashed line is HER2 = ``ratio_threshold`` x CEP17 (cells on or above it are
    amplified); dotted lines mark 4 and 6 HER2 signals, the copy-number cut-offs of the ASCO/CAP
    2018 ISH groups.

    Parameters
    ----------
    cells : DataFrame
        One row per cell reading (e.g. ``adcell`` of one reader).
    ratio_threshold : float
        HER2/CEP17 ratio cut-off drawn as the dashed line.

    Returns
    -------
    Figure
        Bubbles are scatter collections with gids ``"amplified"`` / ``"not_amplified"``; the
        cut-off line has gid ``"ratio_threshold"``.

    References
    ----------
    Wolff AC et al. J Clin Oncol 2018;36:2105-2122.
    """
    func = "plot_fish_signals"
    _check_frame(cells, func, "cells")
    _require_columns(
        cells, func, {"her2_col": her2_col, "cep17_col": cep17_col, "call_col": call_col}
    )
    threshold = _finite_scalar(ratio_threshold, func, "ratio_threshold")
    data = pd.DataFrame(
        {
            "cep17": _numeric(cells[cep17_col].to_numpy(), func, cep17_col).to_numpy(),
            "her2": _numeric(cells[her2_col].to_numpy(), func, her2_col).to_numpy(),
            "call": cells[call_col].to_numpy(),
        }
    )
    data = data[data["call"].isin(["Y", "N"])].dropna()
    if data.empty:
        raise ValueError(f"{func}: no cell with a 'Y'/'N' call in {call_col!r} to plot")
    counts = data.groupby(["call", "cep17", "her2"]).size().rename("n").reset_index()
    scale = 420.0 / counts["n"].max()

    fig, ax = _new_axes(ax, figsize, func)
    styles = (
        ("Y", "amplified", "Amplified", PALETTE["vermillion"]),
        ("N", "not_amplified", "Not amplified", PALETTE["blue"]),
    )
    for code, gid, label, colour in styles:
        sub = counts[counts["call"] == code]
        n_cells = int(sub["n"].sum())
        ax.scatter(
            sub["cep17"], sub["her2"], s=12 + scale * sub["n"], color=colour, alpha=0.6,
            edgecolors="white", linewidths=0.5, gid=gid, label=f"{label} (n = {n_cells})",
            zorder=3,
        )  # fmt: skip
    x_max = max(float(data["cep17"].max()), 1.0) + 0.6
    ax.plot(
        [0, x_max], [0, threshold * x_max], **_REF_LINE, gid="ratio_threshold",
        label=f"HER2/CEP17 = {threshold:g}",
    )  # fmt: skip
    for level in (4, 6):
        ax.axhline(level, color="#BBBBBB", linestyle=":", linewidth=0.9, zorder=1)
        ax.text(
            x_max, level, f" HER2 {level}", va="center", ha="left", fontsize=7.5, color="#777777"
        )
    ax.set_xlim(0.4, x_max)
    ax.set_ylim(0, max(float(data["her2"].max()), threshold * x_max * 0.5) + 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("CEP17 signals per cell")
    ax.set_ylabel("HER2 signals per cell")
    legend = ax.legend(
        loc="upper left", bbox_to_anchor=(1.04, 1.0), title="Bubble area ∝\nnumber of cells"
    )
    for handle in legend.legend_handles:
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([40])
    # size key: what a bubble's area means, in cells (markersize is a diameter in points)
    top = int(counts["n"].max())
    keys = sorted({1, max(1, round(top / 2)), top})
    sizes = [
        Line2D([], [], linestyle="none", marker="o", color="#999999", alpha=0.6,
               markersize=float(np.sqrt(12 + scale * k)), label=f"{k} cell{'s' if k > 1 else ''}")
        for k in keys
    ]  # fmt: skip
    ax.add_artist(legend)
    ax.legend(
        handles=sizes, loc="upper left", bbox_to_anchor=(1.04, 0.42), title="Size key",
        labelspacing=1.2, borderpad=0.8,
    )  # fmt: skip
    if title:
        ax.set_title(title)
    return fig
