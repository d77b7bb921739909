"""Time-to-event figures: Kaplan–Meier curves with numbers at risk, forest plots of hazard or odds
ratios."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullFormatter, PercentFormatter

from helpers import results
from helpers.endpoints.survival import KM_MIN_PATIENTS, compute_km_median
from helpers.plots.style import (
    _MONTH_LOCATOR,
    _REF_LINE,
    PALETTE,
    _check_frame,
    _fmt,
    _group_colours,
    _log_ticks,
    _numeric,
    _ordered_levels,
    _require_columns,
    _single_param,
    _styled,
)

# --------------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------------


def _km_input(adtte: pd.DataFrame, group: str | None, time_col: str, cnsr_col: str) -> pd.DataFrame:
    func = "plot_km"
    _check_frame(adtte, func, "adtte")
    _require_columns(adtte, func, {"time_col": time_col, "cnsr_col": cnsr_col, "group": group})
    _single_param(adtte, func)
    data = pd.DataFrame(
        {
            "time": _numeric(adtte[time_col].to_numpy(), func, time_col),
            "cnsr": _numeric(adtte[cnsr_col].to_numpy(), func, cnsr_col),
            "group": adtte[group].to_numpy() if group else "All patients",
        }
    )
    if data["time"].isna().any() or (data["time"] < 0).any():
        raise ValueError(f"{func}: {time_col} must be non-missing and >= 0 for every row")
    if not data["cnsr"].isin([0, 1]).all():
        raise ValueError(f"{func}: {cnsr_col} must be 0 (event) or 1 (censored) for every row")
    if data["group"].isna().any():
        raise ValueError(f"{func}: {group} is missing for some rows; drop or label them first")
    if group and isinstance(adtte[group].dtype, pd.CategoricalDtype):
        data["group"] = pd.Categorical(data["group"], categories=adtte[group].cat.categories)
    return data


def _message_figure(message: str, figsize: tuple[float, float], title: str | None) -> Figure:
    """A figure that says why there is nothing to draw (saved like any other figure)."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.set_label("not_drawn")
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10.5)
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=10.5)
    return fig


def _km_ticks(t_max: float) -> np.ndarray:
    t_max = t_max if t_max > 0 else 1.0
    ticks = _MONTH_LOCATOR().tick_values(0, t_max)
    ticks = ticks[ticks >= 0]
    return ticks[: int(np.searchsorted(ticks, t_max, side="left")) + 1]


def _fmt_sizes(sizes: pd.Series) -> str:
    if len(sizes) == 1:
        n = int(sizes.iloc[0])
        return f"{n} patient{'' if n == 1 else 's'}"
    return ", ".join(f"{level}: n = {int(n)}" for level, n in sizes.items())


def _n_at_risk(times: np.ndarray, ticks: np.ndarray) -> list[int]:
    # R survival convention (summary.survfit n.risk): at risk at t = time >= t.
    return [int((times >= t).sum()) for t in ticks]


def _km_median(kmf: KaplanMeierFitter) -> tuple[float, float, float]:
    # The tables' rule (R survival), not lifelines' first-time-below-0.5, so figure == table.
    return compute_km_median(kmf.durations, kmf.event_observed, ci_level=1 - kmf.alpha)


def _median_text(kmf: KaplanMeierFitter, ci: bool, unit: str) -> str:
    med, lo, hi = _km_median(kmf)
    text = f"median {_fmt(med) if np.isfinite(med) else 'not reached'}"
    text += f" {unit}" if np.isfinite(med) else ""
    if ci:
        pct = f"{round(100 * (1 - kmf.alpha))}%"
        text += f" ({pct} CI {_fmt(lo) if np.isfinite(lo) else 'NR'}–"
        text += f"{_fmt(hi) if np.isfinite(hi) else 'NR'})"
    return text


def _draw_km_curve(
    ax: Axes, kmf: KaplanMeierFitter, data: pd.DataFrame, colour: str, label: str, ci: bool
) -> None:
    sf = kmf.survival_function_.iloc[:, 0]
    ax.step(sf.index, sf.to_numpy(), where="post", color=colour, label=label, zorder=3)
    if ci:
        bounds = kmf.confidence_interval_survival_function_
        ax.fill_between(
            bounds.index,
            bounds.iloc[:, 0],
            bounds.iloc[:, 1],
            step="post",
            color=colour,
            alpha=0.15,
            linewidth=0,
            zorder=2,
        )
    censored = data.loc[data["cnsr"] == 1, "time"].to_numpy()
    if censored.size:
        ax.plot(
            censored,
            kmf.survival_function_at_times(censored).to_numpy(),
            linestyle="none",
            marker="|",
            markersize=7,
            markeredgewidth=1.1,
            color=colour,
            zorder=4,
        )


def _draw_km_median(ax: Axes, kmf: KaplanMeierFitter, colour: str, index: int) -> None:
    med = _km_median(kmf)[0]
    if not np.isfinite(med):
        return
    ax.plot([0, med], [0.5, 0.5], color=colour, linestyle="--", linewidth=0.9, zorder=2.5)
    ax.plot([med, med], [0, 0.5], color=colour, linestyle="--", linewidth=0.9, zorder=2.5)
    ax.annotate(
        _fmt(med),
        xy=(med, 0.03 + 0.07 * index),
        xytext=(3, 0),
        textcoords="offset points",
        ha="left",
        va="bottom",
        fontsize=8,
        color=colour,
        fontweight="bold",
        bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
        zorder=6,
    )


def _draw_km_landmarks(
    ax: Axes, fits: Sequence[tuple[str, KaplanMeierFitter, str]], landmarks: Iterable[float]
) -> None:
    for t in landmarks:
        ax.axvline(t, color="#BBBBBB", linestyle=":", linewidth=0.9, zorder=1)
        for _, kmf, colour in fits:
            if kmf is None:
                continue
            s = float(kmf.survival_function_at_times([t]).iloc[0])
            ax.plot([t], [s], marker="o", markersize=3.5, color=colour, zorder=5)
            ax.annotate(
                f"{100 * s:.0f}%",
                xy=(t, s),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=8,
                color=colour,
            )


def _draw_risk_table(
    ax_risk: Axes,
    data: pd.DataFrame,
    fits: Sequence[tuple[str, KaplanMeierFitter, str]],
    ticks: np.ndarray,
    xlim: tuple[float, float],
) -> None:
    ax_risk.set_label("risk_table")
    for row, (level, _, colour) in enumerate(fits):
        times = data.loc[data["group"] == level, "time"].to_numpy()
        for t, count in zip(ticks, _n_at_risk(times, ticks), strict=True):
            ax_risk.text(t, row, str(count), ha="center", va="center", fontsize=8.5, color=colour)
    ax_risk.set_ylim(len(fits) - 0.5, -0.5)
    ax_risk.set_yticks(range(len(fits)), [str(level) for level, _, _ in fits])
    for tick_label, (_, _, colour) in zip(ax_risk.get_yticklabels(), fits, strict=True):
        tick_label.set_color(colour)
    # Same column of the layout grid, limits and ticks as the curves: the counts sit under the
    # x tick labels. Not sharex, which would also share (and blank) the tick formatter.
    ax_risk.set_xticks(ticks)
    ax_risk.set_xlim(xlim)
    ax_risk.tick_params(axis="x", length=0, labelbottom=False)
    ax_risk.tick_params(axis="y", length=0, pad=14)
    for spine in ax_risk.spines.values():
        spine.set_visible(False)
    ax_risk.set_title("Number at risk", fontsize=8.5, loc="left", fontweight="bold")


@_styled
def plot_km(
    adtte: pd.DataFrame,
    *,
    group: str | None = None,
    time_col: str = "AVAL",
    cnsr_col: str = "CNSR",
    xlabel: str = "Months since treatment start",
    ylabel: str = "Progression-free survival",
    landmarks: Iterable[float] = (),
    show_median: bool = True,
    risk_table: bool = True,
    ci: bool = True,
    ci_level: float = 0.95,
    time_unit: str = "months",
    title: str | None = None,
    figsize: tuple[float, float] = (7.0, 5.2),
    min_group_size: int = KM_MIN_PATIENTS,
) -> Figure:
    """Kaplan–Meier curves with censor ticks, CI bands, medians and a number-at-risk table.

    Method: product-limit estimator per group (lifelines ``KaplanMeierFitter``), pointwise
    confidence band on the log(−log) scale (lifelines' default, "exponential Greenwood", as in
    R ``survival`` ``conf.type = "log-log"``). The median is the smallest time with S(t) <= 0.5
    (when S(t) = 0.5 exactly on an interval, R ``survfit`` reports the interval's midpoint
    instead) and its CI is read from the band (Brookmeyer–Crowley). Number at risk at a tick
    t counts patients with time >= t, as R ``summary.survfit``. Layout follows KMunicate
    (Morris 2019).

    Parameters
    ----------
    adtte : DataFrame
        One row per patient for a single parameter (filter ``PARAMCD`` first).
    group : str, optional
        Column defining the curves; category order is kept for categoricals, RECIST codes
        run best first (CR, PR, SD, ...), anything else is sorted.
    landmarks : iterable of float
        Times (``time_unit``) at which to mark S(t) with a dotted line and its value in %.
    show_median, risk_table, ci : bool
        Draw dashed median lines (median in the legend, value next to the line), the at-risk
        table under the x axis (aligned with the x ticks), and the confidence bands.
    min_group_size : int, default :data:`helpers.endpoints.survival.KM_MIN_PATIENTS` (3)
        A group with fewer patients gets no curve, median or landmark rate (its legend entry
        says "not drawn"; its numbers at risk stay in the table): a "curve" of one or two
        patients is their own times, and the tables report it as not estimable. Every category
        of a categorical ``group`` is listed, a category without a patient as "(n = 0): not
        drawn". With no patient at all, or no group large enough, the figure says so in words.

    Returns
    -------
    Figure
        Main axes first; the risk table is the axes labelled ``"risk_table"`` (its texts are
        the counts, one row per group, one column per x tick).

    References
    ----------
    Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481. Brookmeyer R, Crowley J. Biometrics
    1982;38:29-41. Morris TP et al. BMJ Open 2019;9:e030215.
    """
    if not 0 < ci_level < 1:
        raise ValueError(f"plot_km: ci_level must be between 0 and 1 (e.g. 0.95), got {ci_level}")
    landmarks = [float(t) for t in landmarks]
    if isinstance(adtte, pd.DataFrame) and adtte.empty:
        return _message_figure(
            "Not drawn: no patient in this analysis.", (figsize[0], figsize[1] * 0.4), title
        )
    data = _km_input(adtte, group, time_col, cnsr_col)
    sizes = data.groupby("group", observed=True).size()
    if (sizes < min_group_size).all():
        return _message_figure(
            f"Not drawn: {_fmt_sizes(sizes)}; a Kaplan–Meier curve needs at least "
            f"{min_group_size} patients per group.",
            (figsize[0], figsize[1] * 0.4),
            title,
        )
    levels = _ordered_levels(data["group"], None, "plot_km")
    if isinstance(data["group"].dtype, pd.CategoricalDtype):  # a category of 0: "n = 0" entry
        levels = list(data["group"].cat.categories)
    colours = {levels[0]: PALETTE["blue"]} if group is None else _group_colours(levels, "plot_km")

    fig = Figure(figsize=figsize, layout="constrained")
    if risk_table:
        grid = fig.add_gridspec(2, 1, height_ratios=[5.0, 0.55 + 0.3 * len(levels)])
        ax = fig.add_subplot(grid[0])
        ax_risk = fig.add_subplot(grid[1])
    else:
        ax = fig.add_subplot()

    fits = []
    for index, level in enumerate(levels):
        sub = data[data["group"] == level]
        if len(sub) < min_group_size:
            label = f"{level} (n = {len(sub)}): not drawn, fewer than {min_group_size} patients"
            ax.plot([], [], color=colours[level], linestyle=":", label=label)
            fits.append((level, None, colours[level]))
            continue
        kmf = KaplanMeierFitter(alpha=1 - ci_level).fit(
            sub["time"], event_observed=1 - sub["cnsr"], label=str(level)
        )
        label = f"{level} (n = {len(sub)})"
        if show_median:
            label += f": {_median_text(kmf, ci, time_unit)}"
        _draw_km_curve(ax, kmf, sub, colours[level], label, ci)
        if show_median:
            _draw_km_median(ax, kmf, colours[level], index)
        fits.append((level, kmf, colours[level]))
    _draw_km_landmarks(ax, fits, landmarks)

    ticks = _km_ticks(max(data["time"].max(), *landmarks, 0.0))
    ax.set_xticks(ticks)
    ax.set_xlim(0, ticks[-1] * 1.02)
    ax.set_ylim(0, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (%)")
    censor_handle = Line2D([], [], color="#555555", marker="|", linestyle="none", markersize=7)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        [*handles, censor_handle],
        [*labels, "Censored"],
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        borderaxespad=0.3,
    )
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=10.5)
    if risk_table:
        _draw_risk_table(ax_risk, data, fits, ticks, ax.get_xlim())
    return fig


@_styled
def plot_forest(
    est: pd.DataFrame,
    *,
    label_col: str = "parameter",
    estimate_col: str = "estimate",
    lower_col: str = "ci_lower",
    upper_col: str = "ci_upper",
    ref: float | None = 1.0,
    log: bool = True,
    xlabel: str = "Hazard ratio",
    value_format: str = "{:.2f}",
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Forest plot of estimates with confidence intervals, one row per estimate-table row.

    Points mark ``estimate_col``; whiskers span ``lower_col``–``upper_col``. A right-hand
    column prints "estimate (lower–upper)". ``ref`` draws a dashed no-effect line (1 for hazard
    and odds ratios, 0 for differences, None for rates). ``log=True`` uses a log axis, the
    natural scale of ratios; use ``log=False`` for rates or differences. On a log axis a ratio
    or lower limit of 0 (e.g. an odds ratio with an empty cell) is drawn at the left edge, an
    estimate of 0 as a left-pointing triangle; the text column prints the true values, and
    "not available" (the note says an input table was not supplied) or "not estimable" for a
    row without an estimate.

    Parameters
    ----------
    est : DataFrame
        Estimate table (``docs/architecture.md``); rows are drawn top to bottom in input order.
        The CI level in the header comes from ``ci_level`` when it is a single value.
    value_format : str
        Format of the printed numbers, e.g. ``"{:.0%}"`` for rates.

    Returns
    -------
    Figure
        Two axes: the plot and the text column (label ``"forest_text"``). Rows keep the input
        order from the top. When no row has a finite estimate or limit (every row not
        estimable), one axes labelled ``"not_drawn"`` lists each row with its ``note``.
    """
    func = "plot_forest"
    _check_frame(est, func, "est")
    cols = {
        "label_col": label_col,
        "estimate_col": estimate_col,
        "lower_col": lower_col,
        "upper_col": upper_col,
    }
    _require_columns(est, func, cols)
    point = _numeric(est[estimate_col].to_numpy(), func, estimate_col).to_numpy()
    lower = _numeric(est[lower_col].to_numpy(), func, lower_col).to_numpy()
    upper = _numeric(est[upper_col].to_numpy(), func, upper_col).to_numpy()
    finite = np.concatenate([v[np.isfinite(v)] for v in (point, lower, upper)])
    if finite.size == 0:
        notes = est["note"].fillna("").astype(str) if "note" in est.columns else ""
        lines = [
            f"{label}: {note or 'not estimable'}"
            for label, note in zip(
                est[label_col].astype(str), notes if len(notes) else [""] * len(est), strict=True
            )
        ]
        return _message_figure(
            "Not drawn: no row has an estimate.\n" + "\n".join(lines),
            figsize or (7.0, 0.3 * len(est) + 1.3),
            title,
        )
    if (finite < 0).any() and log:
        raise ValueError(f"{func}: log=True needs estimates and limits >= 0; use log=False")
    if log and not (finite > 0).any():
        raise ValueError(f"{func}: log=True needs at least one positive value; use log=False")
    if ((lower > point) | (upper < point)).any():
        raise ValueError(f"{func}: every row needs {lower_col} <= {estimate_col} <= {upper_col}")
    shown = (point, lower, upper)  # the text column prints the values, not the drawn ones
    if log:  # ratios of zero (e.g. an odds ratio with an empty cell) are drawn at the left edge
        finite = finite[finite > 0]
        edge = min(finite.min(), ref if ref else np.inf) / 1.25
        zero_point = point == 0
        point, lower = np.where(zero_point, edge, point), np.where(lower == 0, edge, lower)

    n = len(est)
    fig = Figure(figsize=figsize or (7.0, 0.38 * n + 1.3), layout="constrained")
    ax, ax_text = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3.0, 1.3]})
    y = np.arange(n)
    ax.hlines(y, lower, upper, color="black", linewidth=1.2, zorder=3)
    ax.plot(point, y, "s", color=PALETTE["blue"], markersize=6, zorder=4)
    if log and zero_point.any():
        ax.plot(point[zero_point], y[zero_point], "<", color=PALETTE["blue"], markersize=7,
                zorder=5, gid="clipped_at_zero")  # fmt: skip
    if ref is not None:
        ax.axvline(ref, **_REF_LINE, zorder=1)
        finite = np.append(finite, ref)
    if log:
        ax.set_xscale("log")
        lo, hi = min(finite.min() / 1.25, edge), finite.max() * 1.25
        ax.xaxis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
        ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        pad = 0.06 * (finite.max() - finite.min() or 1.0)
        lo, hi = finite.min() - pad, finite.max() + pad
    ax.set_xlim(lo, hi)
    ax.set_yticks(y, est[label_col].astype(str).to_numpy())
    ax.set_ylim(n - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel)

    levels = est["ci_level"].dropna().unique() if "ci_level" in est.columns else [0.95]
    header = f"Estimate ({100 * float(levels[0]):g}% CI)" if len(levels) == 1 else "Estimate (CI)"
    ax_text.set_label("forest_text")
    ax_text.axis("off")
    ax_text.set_xlim(0, 1)
    notes = est["note"].fillna("").astype(str).to_numpy() if "note" in est.columns else [""] * n
    for yi, p, lo_i, hi_i, note in zip(y, *shown, notes, strict=True):
        text = f"{_fmt(p, value_format)} ({_fmt(lo_i, value_format)}–{_fmt(hi_i, value_format)})"
        if not np.isfinite(p):  # say why there is no estimate instead of "NE (NE–NE)"
            text = (
                results.NOT_AVAILABLE if note.startswith(results.NOT_AVAILABLE) else "not estimable"
            )
        ax_text.text(0.02, yi, text, ha="left", va="center", fontsize=8.5)
    ax_text.set_title(header, fontsize=8.5, loc="left")
    if title:
        ax.set_title(title)
    return fig
