"""Shared figure style: Okabe–Ito palette, BOR colours, rc settings and the small drawing helpers
every figure family uses."""

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
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

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
        "SD": PALETTE["bluish_green"],  # orange was too close to the vermillion of PD
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


#: What an empty figure says (a clinician reads it in the report gallery).
NOT_DRAWN_NO_DATA = (
    "Not drawn: no data for this figure (no patient with a value, or the optional table it "
    "needs was not supplied)."
)


class NothingToPlot(ValueError):
    """Raised inside a plot function whose data are empty; :func:`_styled` turns it into a
    figure that says so (a small trial, an optional table not supplied), so a notebook goes on.

    ``reason``, when given, is what the figure says after "Not drawn: " (for a reader: why there
    is nothing, e.g. the estimate tables' own "not estimable" notes); otherwise
    :data:`NOT_DRAWN_NO_DATA`.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def _styled(func: _F) -> _F:
    """Run a plot function inside the trial style without touching global rcParams.

    Empty input (:class:`NothingToPlot`) gives a figure with one axes labelled ``"not_drawn"``
    that states "Not drawn: no data" instead of an error.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(dict(_STYLE)):
            try:
                return func(*args, **kwargs)
            except NothingToPlot as empty:
                reason = f"Not drawn: {empty.reason}" if empty.reason else NOT_DRAWN_NO_DATA
                return _not_drawn_figure(reason)

    return wrapper  # type: ignore[return-value]


def _not_drawn_figure(message: str) -> Figure:
    fig = Figure(figsize=(7.0, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_label("not_drawn")
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10.5)
    return fig


def _check_frame(df: object, func: str, arg: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{func}: {arg} must be a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise NothingToPlot(f"{func}: {arg} is empty; there is nothing to plot")
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


# --------------------------------------------------------------------------------------------
# Estimates: forest
# --------------------------------------------------------------------------------------------


def _log_ticks(lo: float, hi: float) -> list[float]:
    candidates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    ticks = [t for t in candidates if lo <= t <= hi]
    return ticks if len(ticks) >= 2 else [lo, hi]


# --------------------------------------------------------------------------------------------
# Agreement, accuracy, distributions, correlations
# --------------------------------------------------------------------------------------------


def _finite_scalar(value: object, func: str, name: str) -> float:
    if not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise ValueError(f"{func}: {name} must be a finite number, got {value!r}")
    return float(value)


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
