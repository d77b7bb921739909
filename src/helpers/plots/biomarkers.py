"""Biomarker figures: paired trajectories, change heatmaps, volcano plots, distributions and scatter
plots with fits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator

from helpers.plots.style import (
    _REF_LINE,
    _STYLE,
    PALETTE,
    NothingToPlot,
    _check_frame,
    _fmt,
    _group_colours,
    _new_axes,
    _numeric,
    _ordered_levels,
    _plain_log_axis,
    _ref_hline,
    _require_columns,
    _single_param,
    _styled,
)
from helpers.results import P_FLOOR, clip_p_values

# --------------------------------------------------------------------------------------------
# Biomarkers: paired trajectories, heatmap, volcano
# --------------------------------------------------------------------------------------------


def _box(ax: Axes, values: Sequence[np.ndarray], positions: Sequence[float]) -> None:
    ax.boxplot(
        values,
        positions=positions,
        widths=0.45,
        showfliers=False,
        manage_ticks=False,
        medianprops={"color": "black", "linewidth": 1.6},
        boxprops={"color": "black", "linewidth": 0.9},
        whiskerprops={"color": "black", "linewidth": 0.9},
        capprops={"color": "black", "linewidth": 0.9},
        zorder=2,
    )


#: Above this many patients the trajectory lines are one LineCollection (not a Line2D each),
#: with opacity 45/N (at least 0.03) and smaller points, so that thousands of patients read as
#: a density and draw in a fraction of a second.
_MAX_LINE_ARTISTS = 500


def _trajectory_collection(
    ax: Axes, data: pd.DataFrame, colours: Mapping[Any, str] | None, n_subjects: int
) -> None:
    """All patients' visit-to-visit segments as one collection (vectorised, no per-patient loop)."""
    rows = data.sort_values(["subject", "x"], kind="stable")
    x, y = rows["x"].to_numpy(float), rows["value"].to_numpy(float)
    same = rows["subject"].to_numpy()[1:] == rows["subject"].to_numpy()[:-1]
    segments = np.stack([np.c_[x[:-1], y[:-1]], np.c_[x[1:], y[1:]]], axis=1)[same]
    groups = rows["group"].to_numpy()[:-1][same]
    colour = [colours[g] for g in groups] if colours else "#9A9A9A"
    alpha = max(0.03, min(0.45, 45 / n_subjects))
    lines = mpl.collections.LineCollection(
        segments, colors=colour, alpha=alpha, linewidths=0.6, zorder=1, gid="trajectories"
    )
    ax.add_collection(lines, autolim=True)
    ax.autoscale_view()


@_styled
def plot_paired_trajectories(
    df: pd.DataFrame,
    *,
    value_col: str = "AVAL",
    visit_col: str = "AVISIT",
    subject_col: str = "USUBJID",
    visit_order: Sequence[str] | None = None,
    group_col: str | None = None,
    log: bool = False,
    ylabel: str | None = None,
    xlabel: str = "Visit",
    group_label: str | None = None,
    jitter: float = 0.08,
    seed: int = 0,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 4.5),
) -> Figure:
    """Per-patient trajectories across visits, with a box plot and jittered points per visit.

    Grey lines join each patient's available visits (coloured by ``group_col`` if given, e.g.
    responders), boxes show median and quartiles (whiskers 1.5 IQR, outliers not drawn because
    every point is shown), and the number of non-missing values is printed under each visit
    label. Jitter is reproducible (``seed``). Missing values are not drawn; visits not in
    ``visit_order`` are not drawn. Above 500 patients the lines are one collection with
    opacity 45/N and the points smaller (``_MAX_LINE_ARTISTS``), so large cohorts read as a
    density and draw fast.

    Parameters
    ----------
    df : DataFrame
        ADBM-like long data for one parameter: one row per patient and visit.
    visit_order : sequence of str, optional
        Visits in display order; by default ordered by ``AVISITN`` when present, else as found.
    group_col : str, optional
        Column constant within patient (e.g. responder status) colouring lines and points.
    log : bool
        Log y axis (values must be > 0), for concentrations and counts.
    ylabel : str, optional
        Axis label with the unit, e.g. "Granzyme B (pg/mL)"; defaults to ``value_col``.

    Returns
    -------
    Figure
        x tick labels read ``"<visit>\\n(n = k)"``.
    """
    func = "plot_paired_trajectories"
    _check_frame(df, func, "df")
    cols = {
        "value_col": value_col,
        "visit_col": visit_col,
        "subject_col": subject_col,
        "group_col": group_col,
    }
    _require_columns(df, func, cols)
    _single_param(df, func)
    if df.duplicated([subject_col, visit_col]).any():
        raise ValueError(f"{func}: several rows per {subject_col} and {visit_col}; aggregate first")
    order = list(visit_order) if visit_order is not None else _default_visit_order(df, visit_col)
    data = pd.DataFrame(
        {
            "subject": df[subject_col].astype(str).to_numpy(),
            "visit": df[visit_col].astype(str).to_numpy(),
            "value": _numeric(df[value_col].to_numpy(), func, value_col).to_numpy(),
            "group": df[group_col].to_numpy() if group_col else "all",
        }
    )
    if group_col and (data.groupby("subject")["group"].nunique() > 1).any():
        raise ValueError(f"{func}: {group_col} must be constant within each patient")
    data = data[data["visit"].isin(order) & data["value"].notna()]
    if log and (data["value"] <= 0).any():
        raise ValueError(f"{func}: log=True needs values > 0; use log=False or impute below-LoD")
    if data.empty:
        raise ValueError(f"{func}: no non-missing {value_col} at the visits {order}")
    rng = np.random.default_rng(seed)
    data["x"] = data["visit"].map({v: i for i, v in enumerate(order)}) + rng.uniform(
        -jitter, jitter, len(data)
    )
    levels = _ordered_levels(data["group"], None, func)
    colours = _group_colours(levels, func) if group_col else {"all": "#444444"}

    fig, ax = _new_axes(ax, figsize, func)
    n_subjects = data["subject"].nunique()
    if n_subjects > _MAX_LINE_ARTISTS:
        _trajectory_collection(ax, data, colours if group_col else None, n_subjects)
    else:
        for _, rows in data.sort_values("x").groupby("subject"):
            colour = colours[rows["group"].iloc[0]] if group_col else "#9A9A9A"
            ax.plot(rows["x"], rows["value"], color=colour, alpha=0.45, linewidth=0.8, zorder=1)
    positions = [i for i, v in enumerate(order) if (data["visit"] == v).any()]
    _box(
        ax, [data.loc[data["visit"] == order[i], "value"].to_numpy() for i in positions], positions
    )
    for level in levels:
        rows = data[data["group"] == level]
        ax.scatter(
            rows["x"],
            rows["value"],
            s=16 if n_subjects <= _MAX_LINE_ARTISTS else 4,
            color=colours[level],
            edgecolors="white",
            linewidths=0.4 if n_subjects <= _MAX_LINE_ARTISTS else 0,
            zorder=3,
            label=str(level),
        )
    counts = data.groupby("visit")["value"].size()
    ax.set_xticks(range(len(order)), [f"{v}\n(n = {int(counts.get(v, 0))})" for v in order])
    ax.set_xlim(-0.5, len(order) - 0.5)
    if log:
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or value_col)
    if group_col:
        # Outside the axes: spaghetti lines cover every corner of the data area.
        ax.legend(
            title=group_label or group_col,
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
            markerscale=1.5,
        )
    if title:
        ax.set_title(title)
    return fig


def _default_visit_order(df: pd.DataFrame, visit_col: str) -> list[str]:
    if "AVISITN" in df.columns:
        pairs = df[[visit_col, "AVISITN"]].drop_duplicates().sort_values("AVISITN")
        return pairs[visit_col].astype(str).drop_duplicates().tolist()
    return pd.unique(df[visit_col].dropna().astype(str)).tolist()


@_styled
def plot_change_heatmap(
    changes: pd.DataFrame,
    *,
    marker_col: str = "parameter",
    visit_col: str = "AVISIT",
    value_col: str = "estimate",
    p_adj_col: str = "p_adj",
    marker_order: Sequence[str] | None = None,
    visit_order: Sequence[str] | None = None,
    value_label: str = "log2 ratio to baseline",
    value_format: str = "{:.2f}",
    alpha: float = 0.05,
    xlabel: str = "Visit",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Heatmap of changes (marker × visit) on a diverging scale centred at 0, with stars.

    Colours use the diverging ColorBrewer RdBu map (colour-blind safe) with limits ±max|value|
    so that 0 is white; each cell prints its value, followed by "*" when ``p_adj_col`` <
    ``alpha``. Missing cells are light grey and read "–".

    Parameters
    ----------
    changes : DataFrame
        One row per marker and visit, e.g. the estimate table of paired changes with the
        marker in ``marker_col`` and the effect (log2 ratio to baseline) in ``value_col``.
    marker_order, visit_order : sequence of str, optional
        Row and column order; by default the order of first appearance.

    Returns
    -------
    Figure
        The heatmap axes (plus a colour bar). Cell texts are the axes' texts.
    """
    func = "plot_change_heatmap"
    _check_frame(changes, func, "changes")
    cols = {
        "marker_col": marker_col,
        "visit_col": visit_col,
        "value_col": value_col,
        "p_adj_col": p_adj_col,
    }
    _require_columns(changes, func, cols)
    if changes.duplicated([marker_col, visit_col]).any():
        raise ValueError(f"{func}: one row per {marker_col} and {visit_col} expected")
    data = changes[[marker_col, visit_col]].astype(str)
    data["value"] = _numeric(changes[value_col].to_numpy(), func, value_col).to_numpy()
    data["p"] = _numeric(changes[p_adj_col].to_numpy(), func, p_adj_col).to_numpy()
    if not np.isfinite(data["value"]).any():  # e.g. nk_flow not supplied: nothing estimated
        raise NothingToPlot(f"{func}: no finite {value_col}")
    rows = list(marker_order) if marker_order else pd.unique(data[marker_col]).tolist()
    cols_ = list(visit_order) if visit_order else pd.unique(data[visit_col]).tolist()
    values = data.pivot(index=marker_col, columns=visit_col, values="value").reindex(
        rows, columns=cols_
    )
    pvals = data.pivot(index=marker_col, columns=visit_col, values="p").reindex(rows, columns=cols_)
    limit = float(np.nanmax(np.abs(values.to_numpy()), initial=0.0)) or 1.0

    size = figsize or (1.2 * len(cols_) + 3.8, 0.36 * len(rows) + 1.6)
    fig, ax = _new_axes(ax, size, func)
    ax.set_facecolor("#E6E6E6")
    image = ax.imshow(values.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), value in np.ndenumerate(values.to_numpy()):
        star = "*" if pvals.iat[i, j] < alpha else ""
        text = "–" if np.isnan(value) else _fmt(value, value_format) + star
        colour = "white" if abs(value) > 0.6 * limit else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(cols_)), cols_)
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(f"{xlabel}\n* adjusted p < {alpha:g}")
    fig.colorbar(image, ax=ax, label=value_label, shrink=0.9)
    if title:
        ax.set_title(title)
    return fig


@_styled
def plot_volcano(
    changes: pd.DataFrame,
    *,
    effect_col: str = "estimate",
    p_col: str = "p_value",
    label_col: str = "parameter",
    threshold: float = 0.05,
    xlabel: str = "Change from baseline (log2 ratio)",
    p_label: str = "p",
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 4.8),
) -> Figure:
    """Volcano plot: effect size against −log10(p), labelling the markers below ``threshold``.

    Markers with ``p_col`` < ``threshold`` are drawn in vermillion and labelled; the others in
    grey. A dashed line marks −log10(threshold), a dotted line no effect (0). Use the adjusted
    p-value column for ``p_col`` (and ``p_label="adjusted p"``) to show FDR-controlled calls.
    Labels are placed greedily to avoid overlapping each other and the markers. p-values below
    :data:`helpers.results.P_FLOOR` (1e-300, including p = 0 from floating-point underflow in
    large samples) are drawn at −log10 = 300 with an open triangle and their own legend entry.

    Parameters
    ----------
    changes : DataFrame
        One row per marker: ``effect_col`` (e.g. log2 ratio), ``p_col`` in [0, 1] and
        ``label_col`` (marker name). Rows with a missing effect or p-value are not drawn.

    Returns
    -------
    Figure
        One scatter collection per class (significant, not significant).
    """
    func = "plot_volcano"
    _check_frame(changes, func, "changes")
    _require_columns(
        changes, func, {"effect_col": effect_col, "p_col": p_col, "label_col": label_col}
    )
    if not 0 < threshold < 1:
        raise ValueError(f"{func}: threshold must be between 0 and 1, got {threshold}")
    effect = _numeric(changes[effect_col].to_numpy(), func, effect_col).to_numpy()
    p = _numeric(changes[p_col].to_numpy(), func, p_col).to_numpy()
    if not (np.isfinite(effect) & np.isfinite(p)).any():
        notes = changes["note"].dropna().astype(str) if "note" in changes.columns else []
        notes = list(dict.fromkeys(n for n in notes if n))
        reason = "no change has an estimate and a p-value" + (
            f" ({'; '.join(notes[:3])}{'; …' if len(notes) > 3 else ''})." if notes else "."
        )
        raise NothingToPlot(f"{func}: no row with both {effect_col} and {p_col}", reason)
    keep = np.isfinite(effect) & np.isfinite(p)
    if ((p[keep] < 0) | (p[keep] > 1)).any():
        raise ValueError(f"{func}: {p_col} must lie in [0, 1]")
    labels = changes[label_col].astype(str).to_numpy()[keep]
    clipped = p[keep] < P_FLOOR  # underflow (p = 0 in floating point): drawn at the floor
    effect, logp = effect[keep], -np.log10(clip_p_values(p[keep]))
    hit = logp > -np.log10(threshold)

    fig, ax = _new_axes(ax, figsize, func)
    ax.scatter(
        effect[~hit], logp[~hit], s=22, color=PALETTE["grey"], label=f"{p_label} ≥ {threshold:g}"
    )
    ax.scatter(
        effect[hit],
        logp[hit],
        s=26,
        color=PALETTE["vermillion"],
        label=f"{p_label} < {threshold:g}",
        zorder=3,
    )
    if clipped.any():
        ax.scatter(
            effect[clipped],
            logp[clipped],
            s=46,
            marker="^",
            facecolors="none",
            edgecolors="black",
            linewidths=0.8,
            label=f"{p_label} < {P_FLOOR:.0e} (drawn at {-np.log10(P_FLOOR):.0f})",
            zorder=4,
        )
    ax.axhline(-np.log10(threshold), **_REF_LINE)
    ax.axvline(0, color="#BBBBBB", linestyle=":", linewidth=0.9)
    span = float(np.nanmax(np.abs(effect), initial=0.0)) or 1.0
    ax.set_xlim(-1.3 * span, 1.3 * span)
    ax.set_ylim(0, max(float(np.nanmax(logp, initial=0.0)), -np.log10(threshold)) * 1.12)
    _place_labels(ax, effect, logp, np.where(hit, labels, ""), avoid_y=[-np.log10(threshold)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(rf"$-\log_{{10}}$({p_label})")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)
    if title:
        ax.set_title(title)
    return fig


def _place_labels(
    ax: Axes,
    xs: np.ndarray,
    ys: np.ndarray,
    labels: np.ndarray,
    fontsize: float = 7.5,
    avoid_y: Sequence[float] = (),
) -> None:
    """Greedy label placement: try offsets at growing distances, keep the first free of overlaps.

    Labels point away from x = 0 and are placed from the highest point down. Candidates lie on
    rings of growing distance around the point (outer side first); a label that fits nowhere
    takes the nearest free-of-frame offset. A label set off from its point gets a thin leader
    line, so that every label names exactly one point. Good enough for the tens of markers of a
    biomarker panel. Horizontal reference lines at ``avoid_y`` are kept free of text too.
    """
    fig = ax.get_figure(root=True)
    fig.draw_without_rendering()  # final axes position, so pixel distances are meaningful
    scale = fig.dpi / 72
    pix = ax.transData.transform(np.column_stack([xs, ys]))
    frame = ax.get_window_extent()
    taken = [(px - 4 * scale, py - 4 * scale, px + 4 * scale, py + 4 * scale) for px, py in pix]
    for y in avoid_y:  # reference lines (e.g. the significance threshold) are not written over
        line_y = ax.transData.transform((0.0, y))[1]
        taken.append((frame.x0, line_y - 1.5 * scale, frame.x1, line_y + 1.5 * scale))
    offsets = [(5, 2), (5, -11), (-5, 2), (-5, -11)]
    for r in (14, 24, 36, 50):
        offsets += [(r, -4), (r, r * 0.6), (r, -r * 0.8), (-r, -4), (-r, r * 0.6), (-r, -r * 0.8)]
        offsets += [(5, r), (5, -r - 8), (-5, r), (-5, -r - 8)]
    for i in np.argsort(-ys, kind="stable"):
        if not labels[i]:
            continue
        side = 1 if xs[i] >= 0 else -1
        w, h = 0.6 * fontsize * len(labels[i]) * scale, 1.2 * fontsize * scale
        candidates = []
        for dx, dy in offsets:
            sx = side * dx
            x0 = pix[i, 0] + sx * scale - (w if sx < 0 else 0)
            y0 = pix[i, 1] + dy * scale
            candidates.append((sx, dy, (x0, y0, x0 + w, y0 + h)))
        sx, dy, box = next((c for c in candidates if _box_free(c[2], taken, frame)), candidates[0])
        taken.append(box)
        far = abs(sx) > 6 or abs(dy) > 12
        ax.annotate(
            labels[i],
            (xs[i], ys[i]),
            xytext=(sx, dy),
            textcoords="offset points",
            ha="left" if sx > 0 else "right",
            va="bottom",
            fontsize=fontsize,
            arrowprops=(
                {
                    "arrowstyle": "-",
                    "color": "#888888",
                    "linewidth": 0.6,
                    "shrinkA": 0,
                    "shrinkB": 3,
                }
                if far
                else None
            ),
        )


def _box_free(box: tuple[float, ...], taken: Sequence[tuple[float, ...]], frame: Any) -> bool:
    x0, y0, x1, y1 = box
    inside = frame.x0 <= x0 and x1 <= frame.x1 and frame.y0 <= y0 and y1 <= frame.y1
    return inside and all(x1 < a0 or a1 < x0 or y1 < b0 or b1 < y0 for a0, b0, a1, b1 in taken)


#: Box plots draw every value as a point up to this many per group; above, the box still uses
#: every value but the points are a seeded random sample of this size (the tick label says so).
_MAX_POINTS_PER_GROUP = 2000


@_styled
def plot_distribution(
    df: pd.DataFrame,
    value_col: str,
    group_col: str | None = None,
    *,
    kind: str = "box",
    order: Sequence[Any] | None = None,
    log: bool = False,
    value_label: str | None = None,
    group_label: str | None = None,
    bins: int | str = "auto",
    seed: int = 0,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (5.5, 4.2),
) -> Figure:
    """Distribution of a measurement, overall or by group.

    ``kind="box"``: box plot (median, quartiles, whiskers 1.5 IQR, no outliers) with every
    value as a jittered point and n under each group label (above 2,000 values in a group, a
    seeded random sample of 2,000 points, stated under the label; the box uses every value).
    ``kind="hist"``: step histograms,
    one per group, with n in the legend. Missing values are not drawn.

    Parameters
    ----------
    df : DataFrame
        One row per observation; ``value_col`` numeric, ``group_col`` optional.
    order : sequence, optional
        Group order; by default categorical order or sorted.
    log : bool
        Log value axis (values must be > 0), e.g. CTC counts.
    value_label : str, optional
        Label of the value axis with its unit; defaults to ``value_col``.
    """
    func = "plot_distribution"
    _check_frame(df, func, "df")
    _require_columns(df, func, {"value_col": value_col, "group_col": group_col})
    if kind not in ("box", "hist"):
        raise ValueError(f"{func}: kind must be 'box' or 'hist', got {kind!r}")
    data = pd.DataFrame(
        {
            "value": _numeric(df[value_col].to_numpy(), func, value_col).to_numpy(),
            "group": df[group_col].to_numpy() if group_col else "All",
        }
    ).dropna()
    if data.empty:
        raise ValueError(f"{func}: {value_col} has no non-missing value")
    if log and (data["value"] <= 0).any():
        raise ValueError(f"{func}: log=True needs values > 0")
    levels = _ordered_levels(data["group"], order, func)
    colours = _group_colours(levels, func) if group_col else {"All": PALETTE["blue"]}
    values = [data.loc[data["group"] == g, "value"].to_numpy() for g in levels]
    value_label = value_label or value_col

    fig, ax = _new_axes(ax, figsize, func)
    if kind == "box":
        _box(ax, values, list(range(len(levels))))
        rng = np.random.default_rng(seed)
        for i, (level, v) in enumerate(zip(levels, values, strict=True)):
            many = v.size > _MAX_POINTS_PER_GROUP  # box from all values, points from a sample
            shown = rng.choice(v, _MAX_POINTS_PER_GROUP, replace=False) if many else v
            ax.scatter(
                i + rng.uniform(-0.12, 0.12, shown.size),
                shown,
                s=4 if many else 16,
                color=colours[level],
                alpha=0.4 if many else 0.75,
                edgecolors="none",
                zorder=3,
            )
        ax.set_xticks(
            range(len(levels)),
            [
                f"{g}\n(n = {v.size}"
                + (f"; {_MAX_POINTS_PER_GROUP:,} shown)" if v.size > _MAX_POINTS_PER_GROUP else ")")
                for g, v in zip(levels, values, strict=True)
            ],
        )
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_xlabel(group_label or (group_col or ""))
        ax.set_ylabel(value_label)
        if log:
            ax.set_yscale("log")
            _plain_log_axis(ax.yaxis)
    else:
        edges = np.histogram_bin_edges(np.log10(data["value"]) if log else data["value"], bins)
        edges = 10**edges if log else edges
        for level, v in zip(levels, values, strict=True):
            ax.hist(
                v,
                bins=edges,
                histtype="step",
                linewidth=1.6,
                color=colours[level],
                label=f"{level} (n = {v.size})",
            )
        if log:
            ax.set_xscale("log")
            _plain_log_axis(ax.xaxis)
        ax.set_xlabel(value_label)
        ax.set_ylabel("Patients (n)")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return fig


@_styled
def plot_scatter_with_fit(
    x: Sequence[float] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    label: str | None = None,
    fit: str | None = "linear",
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (5.2, 4.4),
) -> Figure:
    """Scatter plot with a descriptive trend line, for correlation analyses.

    ``fit="linear"``: least-squares line (on the log scale of a log axis); ``"lowess"``:
    LOWESS smoother (statsmodels, frac 2/3); None: points only. The line is descriptive only:
    the statistic (e.g. "Spearman ρ = 0.45 (95% CI 0.12–0.69)") is computed elsewhere and
    passed as ``label``, shown in the legend. Pairs with a missing value are dropped.

    Parameters
    ----------
    x, y : array-like
        Paired values of the same length.
    xlabel, ylabel : str, optional
        Axis labels with units; default to the Series names.
    logx, logy : bool
        Log axes (values must be > 0); the linear fit is then made on the log scale.

    References
    ----------
    Cleveland WS. J Am Stat Assoc 1979;74:829-836 (LOWESS).
    """
    func = "plot_scatter_with_fit"
    xs = _numeric(x, func, "x").to_numpy()
    ys = _numeric(y, func, "y").to_numpy()
    if xs.shape != ys.shape:
        raise ValueError(f"{func}: x and y must have the same length ({xs.size} vs {ys.size})")
    if fit not in (None, "linear", "lowess"):
        raise ValueError(f"{func}: fit must be 'linear', 'lowess' or None, got {fit!r}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size == 0:
        raise ValueError(f"{func}: no complete (x, y) pair to plot")
    if (logx and (xs <= 0).any()) or (logy and (ys <= 0).any()):
        raise ValueError(f"{func}: log axes need values > 0")

    fig, ax = _new_axes(ax, figsize, func)
    ax.scatter(
        xs,
        ys,
        s=20,
        color=PALETTE["blue"],
        alpha=0.8,
        edgecolors="none",
        zorder=3,
        label=label if fit is None else None,
    )
    if fit is not None and np.unique(xs).size >= 3:
        tx = np.log10(xs) if logx else xs
        ty = np.log10(ys) if logy else ys
        gx, gy = _trend(tx, ty, fit)
        ax.plot(
            10**gx if logx else gx,
            10**gy if logy else gy,
            color=PALETTE["vermillion"],
            linewidth=1.6,
            zorder=4,
            label=label,
        )
    if logx:
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
    if logy:
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis)
    ax.set_xlabel(xlabel or getattr(x, "name", None) or "x")
    ax.set_ylabel(ylabel or getattr(y, "name", None) or "y")
    if label:
        ax.legend(loc="best")
    if title:
        ax.set_title(title)
    return fig


def _trend(x: np.ndarray, y: np.ndarray, fit: str) -> tuple[np.ndarray, np.ndarray]:
    if fit == "linear":
        slope, intercept = np.polyfit(x, y, 1)
        grid = np.linspace(x.min(), x.max(), 50)
        return grid, intercept + slope * grid
    from statsmodels.nonparametric.smoothers_lowess import lowess  # heavy import, only if used

    smoothed = lowess(y, x, frac=2 / 3, return_sorted=True)
    return smoothed[:, 0], smoothed[:, 1]


def _offset_ticks(ax: Axes, offset: float, top: float) -> None:
    """Ticks of a shifted axis placed at original values 0, 1, 2, 5, 10, … and labelled so."""
    originals = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    shown = [v for v in originals if v + offset <= max(top, 1.0 + offset) * 1.05]
    ax.yaxis.set_major_locator(FixedLocator([v + offset for v in shown]))
    ax.yaxis.set_major_formatter(mpl.ticker.FixedFormatter([f"{v:g}" for v in shown]))
    ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())


@_styled
def plot_paired_trajectories_lod(
    df: pd.DataFrame,
    *,
    lod_col: str = "LODFL",
    lod_label: str = "Below LoD (drawn at LoD/2)",
    value_col: str = "AVAL",
    visit_col: str = "AVISIT",
    visit_order: Sequence[str] | None = None,
    jitter: float = 0.08,
    seed: int = 0,
    ref_lines: Mapping[float, str] | None = None,
    value_offset: float = 0.0,
    **kwargs: Any,
) -> Figure:
    """:func:`plot_paired_trajectories` with values below the limit of detection marked.

    Points whose ``lod_col`` is ``"Y"`` (values imputed, e.g. at LoD/2) are overdrawn with an
    open black diamond at the same jittered position, and the legend gains ``lod_label``; the
    imputation rule itself belongs to the derivation and should be stated in the caption.
    ``ref_lines`` (``{y: label}``) adds dashed labelled reference lines, e.g. a clinical
    cut-off. ``value_offset`` > 0 says the values were shifted (e.g. count + 1 to show zeros on
    a log axis): the tick labels then show the original scale (tick at 1 reads 0). Other keyword
    arguments go to :func:`plot_paired_trajectories`.

    Returns
    -------
    Figure
        The trajectory figure; the overlay is a scatter collection with gid ``"below_lod"``.
    """
    func = "plot_paired_trajectories_lod"
    _check_frame(df, func, "df")
    _require_columns(df, func, {"lod_col": lod_col, "value_col": value_col, "visit_col": visit_col})
    with mpl.rc_context(dict(_STYLE)):
        fig = plot_paired_trajectories(
            df, value_col=value_col, visit_col=visit_col, visit_order=visit_order,
            jitter=jitter, seed=seed, **kwargs,
        )  # fmt: skip
        order = list(visit_order) if visit_order is not None else _default_visit_order(
            df, visit_col
        )  # fmt: skip
        # Same row filter and random stream as plot_paired_trajectories: identical jitter.
        values = _numeric(df[value_col].to_numpy(), func, value_col)
        keep = (df[visit_col].astype(str).isin(order) & values.notna()).to_numpy()
        shown = df.loc[keep]
        x = shown[visit_col].astype(str).map({v: i for i, v in enumerate(order)}).to_numpy()
        x = x + np.random.default_rng(seed).uniform(-jitter, jitter, len(shown))
        below = shown[lod_col].eq("Y").to_numpy()
        ax = fig.axes[0]
        for y, label in (ref_lines or {}).items():
            _ref_hline(ax, float(y), label)
        if value_offset:
            _offset_ticks(ax, float(value_offset), float(np.nanmax(values.to_numpy())))
        subjects = shown[kwargs.get("subject_col", "USUBJID")].nunique()
        many = subjects > _MAX_LINE_ARTISTS  # large cohort: small markers, fixed legend corner
        if below.any():
            overlay = ax.scatter(
                x[below], values.to_numpy()[keep][below], marker="D", s=8 if many else 30,
                facecolors="white", edgecolors="black", linewidths=0.5 if many else 0.9,
                zorder=4, gid="below_lod", label=lod_label,
            )  # fmt: skip
            legend = ax.get_legend()
            if legend is not None:  # grouped: keep the group legend outside, add the LoD entry
                handles, labels = ax.get_legend_handles_labels()
                ax.legend(handles, labels, title=legend.get_title().get_text(),
                          loc="upper left", bbox_to_anchor=(1.01, 1), markerscale=1.5)  # fmt: skip
            else:  # "best" scans every point: a fixed corner for large cohorts
                ax.legend(handles=[overlay], loc="upper right" if many else "best")
    return fig
