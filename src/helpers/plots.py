"""Every trial figure, in one colour-blind-safe style.

Each ``plot_`` function takes ADaM-like DataFrames (see ``docs/data_dictionary.md``) or estimate
tables (see ``docs/architecture.md``) and returns a :class:`matplotlib.figure.Figure`. Functions
never save, show or print: :func:`helpers.io.save_figure` writes the files (and calls
:func:`add_watermark` for synthetic data). Figures are built with the object-oriented API
(``matplotlib.figure.Figure``), not ``pyplot``, so they are not registered in pyplot's global
figure list: nothing is shown implicitly and long pipeline runs do not accumulate open figures.
In a notebook, display a figure with ``display(fig)`` or by ending the cell with ``fig``.

Style: Okabe–Ito palette (colour-blind safe), fixed colours per RECIST best overall response
(:data:`BOR_COLOURS`), no top/right spines, no grid, frameless legends, sizes chosen to be
readable at 150 dpi. Titles are short (the caption lives in the figure's JSON sidecar).
Functions apply the style through a temporary ``rc_context``; :func:`apply_style` sets it
globally for ad-hoc notebook figures.

References
----------
Okabe M, Ito K. Color Universal Design (CUD): how to make figures and presentations that are
friendly to colorblind people. 2008. https://jfly.uni-koeln.de/color/
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247.
Morris TP, Jarvis CI, Cragg W, et al. Proposals on Kaplan–Meier plots in medical research and a
survey of stakeholder views: KMunicate. BMJ Open 2019;9:e030215.
Schulz KF, Altman DG, Moher D. CONSORT 2010 statement. BMJ 2010;340:c332.
Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical
measurement. Lancet 1986;1:307-310.
"""

from __future__ import annotations

import functools
import math
import numbers
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
import pandas as pd
from cycler import cycler
from lifelines import KaplanMeierFitter
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter, PercentFormatter

from helpers.survival import compute_km_median

__all__ = [
    "BOR_COLOURS",
    "BOR_LABELS",
    "PALETTE",
    "add_watermark",
    "apply_style",
    "find_watermarks",
    "plot_ae_bars",
    "plot_bland_altman",
    "plot_change_heatmap",
    "plot_consort",
    "plot_distribution",
    "plot_fish_signals",
    "plot_forest",
    "plot_km",
    "plot_operating_characteristics",
    "plot_paired_trajectories",
    "plot_paired_trajectories_lod",
    "plot_roc",
    "plot_scatter_with_fit",
    "plot_spider",
    "plot_swimmer",
    "plot_volcano",
    "plot_waterfall",
]

#: Okabe–Ito colour-blind-safe palette (plus a neutral grey, used for "not evaluable"/context).
PALETTE: Mapping[str, str] = MappingProxyType(
    {
        "black": "#000000",
        "orange": "#E69F00",
        "sky_blue": "#56B4E9",
        "bluish_green": "#009E73",
        "yellow": "#F0E442",
        "blue": "#0072B2",
        "vermillion": "#D55E00",
        "reddish_purple": "#CC79A7",
        "grey": "#999999",
    }
)

#: Fixed colour per RECIST 1.1 best overall response, identical in every figure.
BOR_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "CR": PALETTE["blue"],
        "PR": PALETTE["sky_blue"],
        "SD": PALETTE["orange"],
        "NON_CR_NON_PD": PALETTE["reddish_purple"],
        "PD": PALETTE["vermillion"],
        "NE": PALETTE["grey"],
        "MISSING": "#DDDDDD",
    }
)

#: Legend text per best overall response code.
BOR_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "CR": "CR",
        "PR": "PR",
        "SD": "SD",
        "NON_CR_NON_PD": "Non-CR/non-PD",
        "PD": "PD",
        "NE": "NE",
        "MISSING": "No assessment",
    }
)

# Colour order for arbitrary groups: strongest contrasts first; black last (reserved for markers).
_GROUP_COLOURS: tuple[str, ...] = tuple(
    PALETTE[k]
    for k in (
        "blue",
        "orange",
        "bluish_green",
        "vermillion",
        "reddish_purple",
        "sky_blue",
        "yellow",
        "black",
    )
)

_STYLE: Mapping[str, Any] = MappingProxyType(
    {
        "font.family": "DejaVu Sans",
        "font.size": 9.5,
        "axes.titlesize": 10.5,
        "axes.titlelocation": "left",
        "axes.labelsize": 9.5,
        "xtick.labelsize": 8.5,
        "ytick.labelsize": 8.5,
        "legend.fontsize": 8.5,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": False,
        "axes.linewidth": 0.8,
        "axes.prop_cycle": cycler(color=list(_GROUP_COLOURS)),
        "lines.linewidth": 1.5,
        "patch.linewidth": 0.5,
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "image.cmap": "cividis",
        "svg.fonttype": "path",
        # A fixed salt makes SVG element ids (hence file bytes) reproducible between runs.
        "svg.hashsalt": "helpers.plots",
    }
)

# Month-friendly tick steps (1, 2, 3, 6, 12 ...) fall on the usual assessment landmarks.
_MONTH_LOCATOR = functools.partial(MaxNLocator, nbins=8, steps=[1, 2, 3, 6, 10])
_REF_LINE = MappingProxyType({"color": "#555555", "linestyle": "--", "linewidth": 0.9})
_WATERMARK_GID = "synthetic_watermark"
# Swimmer plots: a row per patient up to a page-high figure; beyond it rows get thinner and,
# once too thin for a readable identifier, the identifiers are dropped.
_SWIM_ROW_IN = 0.24
_SWIM_MAX_HEIGHT_IN = 11.0
_SWIM_MAX_LABELLED = 60

_F = TypeVar("_F", bound=Callable[..., Figure])


# --------------------------------------------------------------------------------------------
# Style and shared helpers
# --------------------------------------------------------------------------------------------


def apply_style() -> None:
    """Set the trial figure style globally (matplotlib ``rcParams``).

    Idempotent: calling it twice leaves the same state. The ``plot_`` functions do not need it
    (they apply the style locally); it is for ad-hoc figures drawn directly in notebooks.
    """
    mpl.rcParams.update(_STYLE)


def _styled(func: _F) -> _F:
    """Run a plot function inside the trial style without touching global rcParams."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(dict(_STYLE)):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _Watermark(Text):
    """Diagonal stamp that sizes itself to its axes each time it is drawn.

    Its angle and font size are set at draw time, after the layout engine has placed the axes, so
    no extra layout pass is needed before saving and the stamp fits whatever size the axes end up.
    """

    def draw(self, renderer: Any) -> None:
        if self.axes is not None:
            angle, size = _watermark_geometry(self.axes, len(self.get_text()))
            if (angle, size) != (self.get_rotation(), self.get_fontsize()):
                self.set_rotation(angle)
                self.set_fontsize(size)
        super().draw(renderer)


def _watermark_geometry(ax: Axes, n_chars: int) -> tuple[float, float]:
    """Angle (degrees) and font size (points) of a stamp kept inside ``ax`` once rotated."""
    width_in, height_in = ax.figure.get_size_inches()
    pos = ax.get_position()
    w, h = pos.width * width_in, pos.height * height_in
    angle = min(max(math.degrees(math.atan2(h, w)), 15.0), 45.0)
    rad = math.radians(angle)
    # Text length in inches (~0.6 em per glyph) kept inside the axes once rotated.
    length = min(0.7 * math.hypot(w, h), 0.9 * w / math.cos(rad), 0.8 * h / math.sin(rad))
    return angle, min(max(length * 72 / (0.6 * n_chars), 6.0), 60.0)


def add_watermark(fig: Figure, text: str = "SYNTHETIC DATA") -> Figure:
    """Stamp a light diagonal ``text`` across every axes of ``fig`` (mutates and returns it).

    The text is drawn above images (a heatmap would hide it otherwise) but below lines, bars and
    markers (``zorder`` 0.5), clipped to each axes and excluded from layout so it never changes
    the figure size. Its angle and size follow the axes' final shape at draw time. Calling it twice
    does not stamp twice. Colour-bar axes are skipped.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"add_watermark expects a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("add_watermark: text must be a non-empty string, e.g. 'SYNTHETIC DATA'")
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>" or find_watermarks(ax):
            continue
        angle, size = _watermark_geometry(ax, len(text))
        mark = _Watermark(
            0.5,
            0.5,
            text,
            transform=ax.transAxes,
            rotation=angle,
            rotation_mode="anchor",
            ha="center",
            va="center",
            fontsize=size,
            fontweight="bold",
            color="#888888",
            alpha=0.18,
            zorder=0.5,
            clip_on=True,
            in_layout=False,
            gid=_WATERMARK_GID,
        )
        ax.add_artist(mark)  # also clips it to the axes patch
    return fig


def find_watermarks(ax: Axes) -> list[Text]:
    """The watermark texts that :func:`add_watermark` put on ``ax`` (empty if none)."""
    return [a for a in ax.get_children() if isinstance(a, Text) and a.get_gid() == _WATERMARK_GID]


def _check_frame(df: object, func: str, arg: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{func}: {arg} must be a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise ValueError(f"{func}: {arg} is empty; there is nothing to plot")
    return df


def _require_columns(df: pd.DataFrame, func: str, columns: Mapping[str, str | None]) -> None:
    """``columns`` maps the argument name to the column it designates (None = not used)."""
    for arg, col in columns.items():
        if col is not None and col not in df.columns:
            raise ValueError(
                f"{func}: column {col!r} (argument {arg}) is missing from the input. "
                f"Available columns: {', '.join(map(str, df.columns))}. "
                f"Pass the right name with {arg}=..."
            )


def _numeric(values: Any, func: str, name: str) -> pd.Series:
    series = pd.Series(values)
    try:
        return pd.to_numeric(series, errors="raise").astype(float)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{func}: {name} must be numeric; fix non-numeric entries ({err})"
        ) from err


def _single_param(df: pd.DataFrame, func: str) -> None:
    """ADaM long data mixes parameters: refuse silently pooling them."""
    if "PARAMCD" in df.columns and df["PARAMCD"].nunique(dropna=True) > 1:
        found = ", ".join(map(str, sorted(df["PARAMCD"].dropna().unique())))
        raise ValueError(
            f"{func}: the input holds several PARAMCD values ({found}); "
            "filter it to one parameter first, e.g. df[df.PARAMCD == 'PFS']"
        )


def _new_axes(ax: Axes | None, figsize: tuple[float, float], func: str) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"{func}: ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.get_figure(root=True), ax


def _ordered_levels(values: pd.Series, order: Sequence[Any] | None, func: str) -> list[Any]:
    present = list(pd.unique(values.dropna()))
    if order is None:
        if isinstance(values.dtype, pd.CategoricalDtype):
            return [c for c in values.cat.categories if c in present]
        if all(str(v) in BOR_COLOURS for v in present):
            return [c for c in BOR_COLOURS if c in present]  # best response first
        return sorted(present, key=str)
    missing = [v for v in present if v not in list(order)]
    if missing:
        raise ValueError(
            f"{func}: values {missing} are not in the order you passed {list(order)}; add them"
        )
    return [v for v in order if v in present]


def _group_colours(levels: Sequence[Any], func: str) -> dict[Any, str]:
    if all(str(v) in BOR_COLOURS for v in levels):
        return {v: BOR_COLOURS[str(v)] for v in levels}
    if len(levels) > len(_GROUP_COLOURS):
        raise ValueError(
            f"{func}: {len(levels)} groups exceed the {len(_GROUP_COLOURS)} colours of the "
            "colour-blind-safe palette; merge groups or plot them in separate panels"
        )
    return dict(zip(levels, _GROUP_COLOURS, strict=False))


def _fmt(value: float, fmt: str = "{:.1f}") -> str:
    """Format with a real minus sign; non-finite values read 'NE' (not estimable)."""
    if value is None or not np.isfinite(value):
        return "NE"
    if fmt.format(abs(value)) == fmt.format(0.0):
        value = 0.0  # -0.3 with "{:.0f}" would read "−0": no sign on what rounds to zero
    return fmt.format(value).replace("-", "−")


def _percent(n: float, total: float) -> int:
    """Percentage rounded half up (52.5 → 53), as in clinical tables; Python rounds half even."""
    return math.floor(100 * n / total + 0.5)


def _plain_log_axis(axis: Any) -> None:
    """Log axis ticks at 1, 2, 5 × 10^k written as plain numbers (0.5, 10, 200), not 10^k."""
    axis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _ref_hline(ax: Axes, y: float, label: str) -> None:
    """Horizontal reference line, labelled just outside the right edge of the axes."""
    ax.axhline(y, **_REF_LINE, zorder=1.5, gid=f"ref_{y:+g}")
    trans = mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(1.01, y, label, transform=trans, ha="left", va="center", fontsize=8, color="#555555")


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


def _km_ticks(t_max: float) -> np.ndarray:
    t_max = t_max if t_max > 0 else 1.0
    ticks = _MONTH_LOCATOR().tick_values(0, t_max)
    ticks = ticks[ticks >= 0]
    return ticks[: int(np.searchsorted(ticks, t_max, side="left")) + 1]


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
    data = _km_input(adtte, group, time_col, cnsr_col)
    levels = _ordered_levels(data["group"], None, "plot_km")
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


# --------------------------------------------------------------------------------------------
# Tumour response: waterfall, swimmer, spider
# --------------------------------------------------------------------------------------------


def _check_bor_codes(values: pd.Series, func: str, col: str) -> None:
    unknown = sorted({str(v) for v in values.dropna()} - set(BOR_COLOURS))
    if unknown or values.isna().any():
        raise ValueError(
            f"{func}: {col} must hold RECIST codes {list(BOR_COLOURS)} on every row; "
            f"found {unknown or 'missing values'}"
        )


def _bor_legend_handles(codes: Iterable[str]) -> list[Patch]:
    present = set(codes)
    return [
        Patch(facecolor=BOR_COLOURS[c], label=BOR_LABELS[c]) for c in BOR_COLOURS if c in present
    ]


def _note_below(ax: Axes, text: str, width: int = 110) -> None:
    # x in axes fraction, y relative to the x label's box: the note always sits below the label.
    ax.annotate(
        textwrap.fill(text, width),
        xy=(0, 0),
        xycoords=("axes fraction", ax.xaxis.label),
        xytext=(0, -4),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=8,
        color="#333333",
    )


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
    topped with a triangle and the true value. Patients without a measurable change (missing
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
    ax.bar(x, heights, width=0.8, color=[BOR_COLOURS[b] for b in shown["bor"]], zorder=2)
    ax.axhline(0, color="black", linewidth=0.8, zorder=3)
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
    identifiers label the rows for up to 60 patients (beyond, they could not be read).
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
    ax.barh(y, data["duration"], left=data["start"], height=0.62, color=colours, zorder=2)

    x_max = float(np.nanmax(data[["end", *(e[0] for e in _SWIM_EVENTS)]].to_numpy())) or 1.0
    arrow_len = 0.04 * x_max
    handles: list[Any] = _bor_legend_handles(data["bor"]) if has_bor else []
    for yi in y[data["ongoing"].to_numpy()]:
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
    ax.legend(handles=handles, loc="lower right")
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
        One line (gid ``"spider:<subject>"``) per patient with at least one post-baseline value.
    """
    data = _spider_input(ovr, time_col, pchg_col, subject_col, colour_col)
    levels = _ordered_levels(data["colour"], None, "plot_spider")
    colours = _group_colours(levels, "plot_spider") if colour_col else {"all": PALETTE["blue"]}

    fig, ax = _new_axes(ax, figsize, "plot_spider")
    for subject, rows in data.groupby("subject", sort=True):
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
        ax.legend(handles=handles, loc="upper left", title=None)
    ax.set_xlim(0, data["weeks"].max() * 1.03)
    ax.set_ylim(min(-100.0, data["pchg"].min()) - 5, max(40.0, data["pchg"].max() + 10))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# Estimates: forest
# --------------------------------------------------------------------------------------------


def _log_ticks(lo: float, hi: float) -> list[float]:
    candidates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    ticks = [t for t in candidates if lo <= t <= hi]
    return ticks if len(ticks) >= 2 else [lo, hi]


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
    natural scale of ratios; use ``log=False`` for rates or differences.

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
        order from the top.
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
        raise ValueError(f"{func}: no finite estimate or confidence limit to plot")
    if log and (finite <= 0).any():
        raise ValueError(f"{func}: log=True needs positive estimates and limits; use log=False")
    if ((lower > point) | (upper < point)).any():
        raise ValueError(f"{func}: every row needs {lower_col} <= {estimate_col} <= {upper_col}")

    n = len(est)
    fig = Figure(figsize=figsize or (7.0, 0.38 * n + 1.3), layout="constrained")
    ax, ax_text = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3.0, 1.3]})
    y = np.arange(n)
    ax.hlines(y, lower, upper, color="black", linewidth=1.2, zorder=3)
    ax.plot(point, y, "s", color=PALETTE["blue"], markersize=6, zorder=4)
    if ref is not None:
        ax.axvline(ref, **_REF_LINE, zorder=1)
        finite = np.append(finite, ref)
    if log:
        ax.set_xscale("log")
        lo, hi = finite.min() / 1.25, finite.max() * 1.25
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
    for yi, p, lo_i, hi_i in zip(y, point, lower, upper, strict=True):
        text = f"{_fmt(p, value_format)} ({_fmt(lo_i, value_format)}–{_fmt(hi_i, value_format)})"
        ax_text.text(0.02, yi, text, ha="left", va="center", fontsize=8.5)
    ax_text.set_title(header, fontsize=8.5, loc="left")
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# CONSORT flow
# --------------------------------------------------------------------------------------------


def _consort_steps(steps: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    func = "plot_consort"
    if isinstance(steps, pd.DataFrame):
        table = steps.copy()
    elif isinstance(steps, Sequence) and all(isinstance(s, Mapping) for s in steps):
        table = pd.DataFrame(list(steps))
    else:
        raise TypeError(f"{func}: steps must be a list of dicts or a DataFrame")
    _check_frame(table, func, "steps")
    _require_columns(table, func, {"step": "step", "n": "n"})
    if "excluded_n" not in table.columns:
        table["excluded_n"] = 0
    if "excluded_reasons" not in table.columns:
        table["excluded_reasons"] = [{} for _ in range(len(table))]
    table["excluded_n"] = _numeric(table["excluded_n"].to_numpy(), func, "excluded_n").fillna(0)
    table["n"] = _numeric(table["n"].to_numpy(), func, "n")
    table["excluded_reasons"] = [
        r if isinstance(r, Mapping) else {} for r in table["excluded_reasons"]
    ]
    if table["n"].isna().any() or (table[["n", "excluded_n"]] < 0).any().any():
        raise ValueError(f"{func}: n and excluded_n must be non-negative counts on every step")
    return table.reset_index(drop=True)


def _check_consort_arithmetic(table: pd.DataFrame) -> None:
    for i, row in table.iterrows():
        reasons_total = sum(row["excluded_reasons"].values())
        if row["excluded_reasons"] and reasons_total != row["excluded_n"]:
            raise ValueError(
                f"plot_consort: step {row['step']!r}: reasons add up to {reasons_total} but "
                f"excluded_n is {row['excluded_n']:g}; fix the counts or pass "
                "check_arithmetic=False"
            )
        if i + 1 < len(table) and table.at[i + 1, "n"] != row["n"] - row["excluded_n"]:
            raise ValueError(
                f"plot_consort: step {row['step']!r} has n = {row['n']:g} minus "
                f"{row['excluded_n']:g} excluded, but the next step has n = "
                f"{table.at[i + 1, 'n']:g}; fix the counts or pass check_arithmetic=False"
            )


_ACRONYMS = MappingProxyType(
    {
        "ctc": "CTC",
        "ctcs": "CTCs",
        "fish": "FISH",
        "her2": "HER2",
        "cellsearch": "CellSearch",
        "if": "IF",
        "ihc": "IHC",
        "ish": "ISH",
        "ctdna": "ctDNA",
        "ecog": "ECOG",
        "nk": "NK",
        "ae": "AE",
        "recist": "RECIST",
        "lod": "LoD",
        "lloq": "LLOQ",
        "qc": "QC",
    }
)


def _humanise(reason: object) -> str:
    """Readable text from a snake_case code: ``no_ctc_detected`` → "No CTC detected"."""
    words = [_ACRONYMS.get(w.lower(), w) for w in str(reason).replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _count(n: float) -> str:
    # Non-breaking spaces: "(n = 12)" never splits across lines.
    return f"(n\u00a0=\u00a0{n:g})"


def _wrap(text: str, chars: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, chars, subsequent_indent=indent) or [""]


@_styled
def plot_consort(
    steps: Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    excluded_label: str = "Excluded",
    check_arithmetic: bool = True,
    width: float = 7.0,
    fontsize: float = 9.0,
) -> Figure:
    """CONSORT-style participant flow drawn from the counts passed in (never hard-coded).

    A vertical column of boxes (step name and n) joined by arrows; when ``excluded_n`` > 0 an
    arrow branches right, between this step and the next, to a box listing the exclusions with
    one line per reason. Reason codes are humanised (``no_ctc`` → "No ctc"), long text wraps,
    and the figure height grows with the content (``width`` in inches is fixed).

    Parameters
    ----------
    steps : list of dict or DataFrame
        Ordered top to bottom; keys/columns ``step`` (str), ``n`` (int), optional
        ``excluded_n`` (int, patients leaving after this step) and ``excluded_reasons``
        (dict reason -> n).
    check_arithmetic : bool
        Require next n = n − excluded_n and reasons summing to excluded_n (CONSORT numbers must
        add up); set False for non-nested steps.

    Returns
    -------
    Figure
        One axes; step boxes are patches with gid ``"consort_step"``, exclusion boxes gid
        ``"consort_excluded"``.

    References
    ----------
    Schulz KF, Altman DG, Moher D. CONSORT 2010 statement. BMJ 2010;340:c332.
    """
    table = _consort_steps(steps)
    if check_arithmetic:
        _check_consort_arithmetic(table)
    line_h = 1.3 * fontsize / 72
    pad = 0.09
    main_w, side_w = 0.44 * width, 0.44 * width
    main_x, side_x = 0.03 * width, 0.53 * width
    chars = int((main_w - 2 * pad) / (0.58 * fontsize / 72))

    main_lines = [[*_wrap(str(r["step"]), chars), _count(r["n"])] for _, r in table.iterrows()]
    side_lines = []
    for _, r in table.iterrows():
        if r["excluded_n"] <= 0:
            side_lines.append([])
            continue
        lines = [f"{excluded_label} {_count(r['excluded_n'])}"]
        for reason, count in r["excluded_reasons"].items():
            lines += _wrap(f"• {_humanise(reason)} {_count(count)}", chars, "   ")
        side_lines.append(lines)

    def box_h(lines: list[str]) -> float:
        return len(lines) * line_h + 2 * pad

    gaps = [max(0.45, box_h(s) + 0.25) if s else 0.45 for s in side_lines]
    if not side_lines[-1]:
        gaps[-1] = 0.0
    height = 0.15 + sum(box_h(m) for m in main_lines) + sum(gaps) + 0.1
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")

    y = 0.15
    centre = main_x + main_w / 2
    for i, (main, side) in enumerate(zip(main_lines, side_lines, strict=True)):
        h = box_h(main)
        _consort_box(ax, main_x, y, main_w, h, "\n".join(main), "consort_step", fontsize, "center")
        y += h
        if i + 1 < len(main_lines):
            ax.annotate(
                "",
                xy=(centre, y + gaps[i]),
                xytext=(centre, y),
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1},
            )
        elif side:
            ax.plot([centre, centre], [y, y + gaps[i] / 2], color="black", lw=1)
        if side:
            sh = box_h(side)
            mid = y + gaps[i] / 2
            _consort_box(
                ax,
                side_x,
                mid - sh / 2,
                side_w,
                sh,
                "\n".join(side),
                "consort_excluded",
                fontsize,
                "left",
            )
            ax.annotate(
                "",
                xy=(side_x, mid),
                xytext=(centre, mid),
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1},
            )
        y += gaps[i]
    return fig


def _consort_box(
    ax: Axes, x: float, y: float, w: float, h: float, text: str, gid: str, size: float, align: str
) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.06",
            facecolor="white" if gid == "consort_step" else "#F4F4F4",
            edgecolor="black",
            linewidth=1.0,
            gid=gid,
        )
    )
    tx = x + w / 2 if align == "center" else x + 0.09
    ax.text(tx, y + h / 2, text, ha=align, va="center", fontsize=size, linespacing=1.3)


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
    ``visit_order`` are not drawn.

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
    for _, rows in data.sort_values("x").groupby("subject"):
        line_colour = colours[rows["group"].iloc[0]] if group_col else "#9A9A9A"
        ax.plot(rows["x"], rows["value"], color=line_colour, alpha=0.45, linewidth=0.8, zorder=1)
    positions = [i for i, v in enumerate(order) if (data["visit"] == v).any()]
    _box(
        ax, [data.loc[data["visit"] == order[i], "value"].to_numpy() for i in positions], positions
    )
    for level in levels:
        rows = data[data["group"] == level]
        ax.scatter(
            rows["x"],
            rows["value"],
            s=16,
            color=colours[level],
            edgecolors="white",
            linewidths=0.4,
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
    Labels are placed greedily to avoid overlapping each other and the markers.

    Parameters
    ----------
    changes : DataFrame
        One row per marker: ``effect_col`` (e.g. log2 ratio), ``p_col`` in (0, 1] and
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
    keep = np.isfinite(effect) & np.isfinite(p)
    if ((p[keep] <= 0) | (p[keep] > 1)).any():
        raise ValueError(f"{func}: {p_col} must lie in (0, 1]")
    labels = changes[label_col].astype(str).to_numpy()[keep]
    effect, logp = effect[keep], -np.log10(p[keep])
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
    ax.axhline(-np.log10(threshold), **_REF_LINE)
    ax.axvline(0, color="#BBBBBB", linestyle=":", linewidth=0.9)
    span = float(np.nanmax(np.abs(effect), initial=0.0)) or 1.0
    ax.set_xlim(-1.3 * span, 1.3 * span)
    ax.set_ylim(0, max(float(np.nanmax(logp, initial=0.0)), -np.log10(threshold)) * 1.12)
    _place_labels(ax, effect, logp, np.where(hit, labels, ""))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(rf"$-\log_{{10}}$({p_label})")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)
    if title:
        ax.set_title(title)
    return fig


def _place_labels(
    ax: Axes, xs: np.ndarray, ys: np.ndarray, labels: np.ndarray, fontsize: float = 7.5
) -> None:
    """Greedy label placement: try a few offsets per point, keep the first free of overlaps.

    Labels point away from x = 0 and are placed from the highest point down; a label that fits
    nowhere takes the first offset. Good enough for the tens of markers of a biomarker panel.
    """
    fig = ax.get_figure(root=True)
    fig.draw_without_rendering()  # final axes position, so pixel distances are meaningful
    scale = fig.dpi / 72
    pix = ax.transData.transform(np.column_stack([xs, ys]))
    frame = ax.get_window_extent()
    taken = [(px - 4 * scale, py - 4 * scale, px + 4 * scale, py + 4 * scale) for px, py in pix]
    offsets = ((5, 2), (5, -11), (5, 10), (5, -19), (5, 18), (-5, 2), (-5, -11))
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
        ax.annotate(
            labels[i],
            (xs[i], ys[i]),
            xytext=(sx, dy),
            textcoords="offset points",
            ha="left" if sx > 0 else "right",
            va="bottom",
            fontsize=fontsize,
        )


def _box_free(box: tuple[float, ...], taken: Sequence[tuple[float, ...]], frame: Any) -> bool:
    x0, y0, x1, y1 = box
    inside = frame.x0 <= x0 and x1 <= frame.x1 and frame.y0 <= y0 and y1 <= frame.y1
    return inside and all(x1 < a0 or a1 < x0 or y1 < b0 or b1 < y0 for a0, b0, a1, b1 in taken)


# --------------------------------------------------------------------------------------------
# Agreement, accuracy, distributions, correlations
# --------------------------------------------------------------------------------------------


def _finite_scalar(value: object, func: str, name: str) -> float:
    if not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise ValueError(f"{func}: {name} must be a finite number, got {value!r}")
    return float(value)


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

    The bias and limits are computed elsewhere (``helpers.stats``) and passed in, so the figure
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
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"{func}: mean and diff must be non-empty and of the same length")
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
        Area under the curve computed elsewhere (``helpers.stats``).
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
    value as a jittered point and n under each group label. ``kind="hist"``: step histograms,
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
            ax.scatter(
                i + rng.uniform(-0.12, 0.12, v.size),
                v,
                s=16,
                color=colours[level],
                alpha=0.75,
                edgecolors="none",
                zorder=3,
            )
        ax.set_xticks(
            range(len(levels)),
            [f"{g}\n(n = {v.size})" for g, v in zip(levels, values, strict=True)],
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


# --------------------------------------------------------------------------------------------
# Composite figures
# --------------------------------------------------------------------------------------------


def style_context() -> Any:
    """Context manager applying the trial style locally, for multi-panel figures.

    Use it to create a ``Figure`` and its axes in the house style (spines, fonts, palette) before
    filling the panels with ``plot_*(..., ax=ax)``; global ``rcParams`` are left untouched::

        with plots.style_context():
            fig = Figure(figsize=(8, 3.5), layout="constrained")
            left, right = fig.subplots(1, 2)
        plots.plot_scatter_with_fit(x, y, ax=left)
    """
    return mpl.rc_context(dict(_STYLE))


# --------------------------------------------------------------------------------------------
# HER2 FISH on single cells
# --------------------------------------------------------------------------------------------


@_styled
def plot_fish_signals(
    cells: pd.DataFrame,
    ratio_threshold: float = 2.0,
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
    if title:
        ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------
# Simon two-stage design; trajectories with values below the limit of detection
# --------------------------------------------------------------------------------------------


@_styled
def plot_operating_characteristics(
    oc: pd.DataFrame,
    *,
    p0: float | None = None,
    p1: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.4, 4.2),
) -> Figure:
    """Operating characteristics of a two-stage design against the true response rate.

    Left axis: probability of declaring the drug promising (rejecting H0) and of early
    termination after stage 1; right axis: expected sample size. Dotted verticals mark ``p0``
    and ``p1`` when given (the reject curve reads the type I error at p0 and the power at p1).

    Parameters
    ----------
    oc : DataFrame
        Output of :func:`helpers.simon.compute_operating_characteristics`: ``p``,
        ``prob_reject_h0``, ``pet``, ``expected_n``.

    Returns
    -------
    Figure
        Lines with gids ``"prob_reject_h0"``, ``"pet"`` and ``"expected_n"`` (on a twin axis).
    """
    func = "plot_operating_characteristics"
    _check_frame(oc, func, "oc")
    _require_columns(oc, func, {c: c for c in ("p", "prob_reject_h0", "pet", "expected_n")})
    data = oc.sort_values("p")
    fig, ax = _new_axes(ax, figsize, func)
    ax.plot(data["p"], data["prob_reject_h0"], color=PALETTE["blue"], linewidth=1.8,
            gid="prob_reject_h0", label="P(declare promising)")  # fmt: skip
    ax.plot(data["p"], data["pet"], color=PALETTE["vermillion"], linewidth=1.8, gid="pet",
            label="P(stop after stage 1)")  # fmt: skip
    twin = ax.twinx()
    twin.plot(data["p"], data["expected_n"], color="#555555", linestyle="--", linewidth=1.2,
              gid="expected_n", label="Expected sample size")  # fmt: skip
    twin.set_ylabel("Expected sample size (patients)")
    twin.set_ylim(0, float(data["expected_n"].max()) * 1.1)
    twin.spines["right"].set_visible(True)
    for value, name in ((p0, "p0"), (p1, "p1")):
        if value is not None:
            ax.axvline(value, color="#999999", linestyle=":", linewidth=1)
            ax.text(value, 1.02, f" {name} = {value:g}", ha="left", va="bottom", fontsize=8,
                    transform=ax.get_xaxis_transform())  # fmt: skip
    ax.set_ylim(0, 1)
    ax.set_xlim(float(data["p"].min()), float(data["p"].max()))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("True response rate")
    ax.set_ylabel("Probability")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right")
    if title:
        ax.set_title(title, pad=14)
    return fig


def _offset_ticks(ax: Axes, offset: float, top: float) -> None:
    """Ticks of a shifted axis placed at original values 0, 1, 2, 5, 10, … and labelled so."""
    originals = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    shown = [v for v in originals if v + offset <= max(top, 1.0 + offset) * 1.05]
    ax.yaxis.set_major_locator(FixedLocator([v + offset for v in shown]))
    ax.yaxis.set_major_formatter(mpl.ticker.FixedFormatter([f"{v:g}" for v in shown]))
    ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())


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
        if below.any():
            overlay = ax.scatter(
                x[below], values.to_numpy()[keep][below], marker="D", s=30, facecolors="white",
                edgecolors="black", linewidths=0.9, zorder=4, gid="below_lod", label=lod_label,
            )  # fmt: skip
            legend = ax.get_legend()
            if legend is not None:  # grouped: keep the group legend outside, add the LoD entry
                handles, labels = ax.get_legend_handles_labels()
                ax.legend(handles, labels, title=legend.get_title().get_text(),
                          loc="upper left", bbox_to_anchor=(1.01, 1), markerscale=1.5)  # fmt: skip
            else:
                ax.legend(handles=[overlay], loc="best")
    return fig
