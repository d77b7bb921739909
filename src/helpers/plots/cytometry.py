"""Flow cytometry figures: the gating strategy drawn on one sample, QC across samples, concordance.

- :func:`plot_gating_strategy`: one bivariate density panel per gating step (parent events, log
  colour scale), with the gate(s) of that step drawn and labelled with % of parent; sibling gates
  on the same channels share a panel (e.g. CD56bright / CD56dim). One-dimensional gates are drawn
  against a companion channel (default SSC-A), as cytometrists display them.
- :func:`plot_fcs_qc_overview`: per file, events acquired (against the minimum), key population
  percentages, and the QC flags (flow-rate anomaly, margin events, events below minimum).
- :func:`plot_fcs_concordance`: FCS-gated against FlowJo-exported values with the identity line.

References
----------
Cossarizza A et al. Guidelines for the use of flow cytometry and cell sorting in immunological
studies (second edition). Eur J Immunol 2019;49:1457-1973 (display of gating strategies).
Parks DR et al. Cytometry A 2006;69:541-551 (Logicle display).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from helpers.cytometry.gating import (
    GatingPlan,
    GatingResult,
    derive_gate_dimensions,
    derive_gate_values,
)
from helpers.cytometry.stats import rename_population
from helpers.plots.style import PALETTE, _check_frame, _require_columns, _styled

__all__ = ["plot_fcs_concordance", "plot_fcs_qc_overview", "plot_gating_strategy"]

_GATE_COLOURS = (PALETTE["vermillion"], PALETTE["blue"], PALETTE["bluish_green"], PALETTE["orange"])


def _label(dim, result: GatingResult) -> str:
    dim_id, _, xform = dim
    pnn = list(result.pnn)
    stain = result.pns[pnn.index(dim_id)] if dim_id in pnn else ""
    text = f"{stain} ({dim_id})" if stain else dim_id
    return f"{text}, {xform}" if xform else text


def _panels(plan: GatingPlan, companion) -> list[tuple[str, list, list]]:
    """(parent, [x dim, y dim], [steps]) per panel; siblings on the same dimensions share one."""
    panels: dict[tuple, tuple[str, list, list]] = {}
    for step in plan.steps:
        if step.refs:
            continue
        dims = derive_gate_dimensions(step)
        if len(dims) == 1:
            dims = [dims[0], companion]
        key = (step.parent, tuple(dims[:2]))
        panels.setdefault(key, (step.parent, list(dims[:2]), []))[2].append(step)
    return list(panels.values())


def _draw_gate(ax, step, dims_drawn, colour, xlim, ylim) -> tuple[float, float]:
    """Draw one gate; returns a point (data units) where to put its label."""
    import flowkit as fk

    gate = step.gate
    if isinstance(gate, fk.gates.PolygonGate):
        verts = np.asarray(gate.vertices, dtype=float)
        ax.add_patch(Polygon(verts, closed=True, fill=False, edgecolor=colour, linewidth=1.4))
        top = min(float(verts[:, 1].max()), ylim[1])
        return float(np.clip(verts[:, 0].mean(), *xlim)), top
    if isinstance(gate, fk.gates.RectangleGate):
        lims = [(d.min, d.max) for d in gate.dimensions]
        if len(lims) == 1:
            lims.append((None, None))
        (x0, x1), (y0, y1) = lims[0], lims[1]
        x0 = xlim[0] if x0 is None else x0
        x1 = xlim[1] if x1 is None else x1
        y0 = ylim[0] if y0 is None else y0
        y1 = ylim[1] if y1 is None else y1
        ax.add_patch(
            Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.4)
        )
        return (x0 + x1) / 2, y1
    return float(np.mean(xlim)), float(ylim[1])


@_styled
def plot_gating_strategy(
    result: GatingResult,
    plan: GatingPlan,
    population_names: Mapping[str, str] | None = None,
    companion: tuple[str, str | None, str | None] = ("SSC-A", None, None),
    bins: int = 128,
    ncols: int = 4,
    title: str | None = None,
) -> Figure:
    """The gating strategy on one sample: density of each step's parent events with its gates.

    Parameters
    ----------
    result : GatingResult
        One gated file (:func:`helpers.cytometry.gate_events`).
    plan : GatingPlan
        The compiled strategy (gate geometry, transforms).
    population_names : mapping, optional
        Gate id -> display name.
    companion : (dimension id, compensation ref, transform ref)
        Y axis of one-dimensional gates.
    bins : int
        Bins per axis of the 2-D histogram (log colour scale).
    ncols : int
        Panels per row.

    Returns
    -------
    Figure
        One axes per panel, in hierarchy order; each gate patch labelled "name  xx.x %".
    """
    panels = _panels(plan, companion)
    if not panels:
        raise ValueError("plot_gating_strategy: the plan has no drawable gate")
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.3 * min(ncols, len(panels)), 3.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, min(ncols, len(panels)), squeeze=False).ravel()
    for ax, (parent, dims, steps) in zip(axes, panels, strict=False):
        mask = result.masks[parent]
        x = derive_gate_values(result, plan, dims[0], mask)
        y = derive_gate_values(result, plan, dims[1], mask)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        xlim = _limits(x, dims[0])
        ylim = _limits(y, dims[1])
        if x.size:
            h, xe, ye = np.histogram2d(x, y, bins=bins, range=[xlim, ylim])
            h = np.ma.masked_equal(h, 0)
            ax.pcolormesh(xe, ye, h.T, cmap="viridis", norm=LogNorm(vmin=1), rasterized=True)
        n_parent = int(mask.sum())
        for i, step in enumerate(steps):
            colour = _GATE_COLOURS[i % len(_GATE_COLOURS)]
            lx, ly = _draw_gate(ax, step, dims, colour, xlim, ylim)
            pct = 100.0 * result.count(step.path) / n_parent if n_parent else float("nan")
            name = rename_population(step.gate_id, population_names)
            ax.text(
                lx,
                ly - i * 0.08 * (ylim[1] - ylim[0]),
                f"{name}  {pct:.1f} %",
                color=colour,
                fontsize=8,
                ha="center",
                va="bottom",
                fontweight="bold",
                clip_on=False,
            )
        ax.set_xlim(xlim)
        ax.set_ylim(ylim[0], ylim[1] + 0.06 * (ylim[1] - ylim[0]))
        ax.set_xlabel(_label(dims[0], result), fontsize=8)
        ax.set_ylabel(_label(dims[1], result), fontsize=8)
        parent_name = rename_population(parent, population_names).rsplit("/", 1)[-1] or "All events"
        ax.set_title(f"{parent_name} ({n_parent:,} events)", fontsize=9)
        ax.tick_params(labelsize=7)
        for axis, dim in ((ax.xaxis, dims[0]), (ax.yaxis, dims[1])):
            axis.set_major_locator(MaxNLocator(5))
            if dim[2] is None:  # untransformed (scatter) channels in thousands
                axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1000:g}k"))
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title or f"Gating strategy: {result.sample_id}", fontsize=10)
    return fig


def _limits(values: np.ndarray, dim) -> tuple[float, float]:
    """Axis range: [0, 1] for Logicle-like transforms, robust percentiles otherwise."""
    if dim[2] is not None:
        lo = min(0.0, float(np.nanpercentile(values, 0.1))) if values.size else 0.0
        return lo, max(1.0, float(np.nanpercentile(values, 99.9))) if values.size else 1.0
    if not values.size:
        return 0.0, 1.0
    hi = float(np.nanpercentile(values, 99.5)) * 1.1
    return 0.0, hi if hi > 0 else 1.0


@_styled
def plot_fcs_qc_overview(
    files: pd.DataFrame,
    min_events: int,
    key_populations: Mapping[str, str],
    title: str | None = None,
) -> Figure:
    """QC overview across files: events, key population percentages, QC flags.

    Parameters
    ----------
    files : pandas.DataFrame
        One row per file: ``file``, ``n_events``, one column per key population (% of parent),
        and boolean flag columns ``flow_rate_flag``, ``margin_flag``, ``events_flag``.
    min_events : int
        Minimum events per file (dashed line).
    key_populations : mapping
        Column of ``files`` -> legend label.

    Returns
    -------
    Figure
        Top: events per file (bars, vermillion when any flag); middle: % of parent of the key
        populations; bottom: flags per file.
    """
    func = "plot_fcs_qc_overview"
    df = _check_frame(files, func, "files")
    flags = {
        "flow_rate_flag": "Flow-rate anomaly",
        "margin_flag": "Margin events",
        "events_flag": "Events below minimum",
    }
    _require_columns(
        df,
        func,
        {"file": None, "n_events": None, **dict.fromkeys(flags), **dict.fromkeys(key_populations)},
    )
    if df.empty:
        raise ValueError(f"{func}: no file to show")
    x = np.arange(len(df))
    fig = Figure(figsize=(max(7.0, 0.28 * len(df) + 2.5), 7.0), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, height_ratios=[3, 3, 1.4])
    any_flag = df[list(flags)].any(axis=1).to_numpy()
    colours = np.where(any_flag, PALETTE["vermillion"], PALETTE["blue"])
    ax1.bar(x, df["n_events"].to_numpy(float), color=colours, width=0.75)
    ax1.axhline(min_events, color="#555555", linestyle="--", linewidth=0.9)
    ax1.text(
        -0.5,
        min_events,
        f"minimum {min_events:,}",
        ha="left",
        va="bottom",
        fontsize=8,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
    ax1.set_ylabel("Events acquired")
    palette = [
        PALETTE[k]
        for k in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "black")
    ]
    for i, (col, label) in enumerate(key_populations.items()):
        ax2.plot(
            x,
            df[col].to_numpy(float),
            marker="o",
            markersize=4,
            linewidth=0.8,
            color=palette[i % len(palette)],
            label=label,
        )
    ax2.set_ylabel("% of parent")
    ax2.legend(
        fontsize=7, ncols=min(3, len(key_populations)), loc="upper left", bbox_to_anchor=(0, 1.18)
    )
    for j, col in enumerate(flags):
        hit = df[col].to_numpy(bool)
        ax3.scatter(x[hit], np.full(hit.sum(), j), marker="s", color=PALETTE["vermillion"], s=30)
        ax3.scatter(x[~hit], np.full((~hit).sum(), j), marker="s", color="#DDDDDD", s=30)
    ax3.set_yticks(range(len(flags)), list(flags.values()), fontsize=7)
    ax3.set_ylim(-0.7, len(flags) - 0.3)
    ax3.set_xticks(x, df["file"].str.replace(".fcs", "", regex=False), rotation=90, fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


@_styled
def plot_fcs_concordance(pairs: pd.DataFrame, title: str | None = None) -> Figure:
    """FCS gating against the FlowJo export: one point per tube and population, identity line.

    Parameters
    ----------
    pairs : pandas.DataFrame
        :func:`helpers.cytometry.derive_concordance_pairs` rows of one statistic (e.g.
        freq_of_parent): population, value_fcs, value_flowjo.

    Returns
    -------
    Figure
        Scatter coloured by population (last path element) with the line y = x.
    """
    func = "plot_fcs_concordance"
    df = _check_frame(pairs, func, "pairs")
    _require_columns(df, func, {"population": None, "value_fcs": None, "value_flowjo": None})
    df = df.dropna(subset=["value_fcs", "value_flowjo"])
    if df.empty:
        raise ValueError(f"{func}: no paired values")
    fig = Figure(figsize=(6.2, 5.0), layout="constrained")
    ax = fig.subplots()
    pops = sorted(df["population"].unique())
    palette = [
        PALETTE[k]
        for k in (
            "blue",
            "orange",
            "bluish_green",
            "vermillion",
            "reddish_purple",
            "sky_blue",
            "black",
            "yellow",
            "grey",
        )
    ]
    markers = ("o", "s", "^", "D", "v")
    for i, pop in enumerate(pops):
        sub = df[df["population"] == pop]
        ax.scatter(
            sub["value_flowjo"],
            sub["value_fcs"],
            s=18,
            alpha=0.8,
            color=palette[i % len(palette)],
            marker=markers[i % len(markers)],
            label=pop.rsplit("/", 1)[-1],
        )
    lim = [0.0, float(max(df["value_fcs"].max(), df["value_flowjo"].max())) * 1.05]
    ax.plot(lim, lim, color="#555555", linestyle="--", linewidth=0.9)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("FlowJo export")
    ax.set_ylabel("FCS gating (FlowKit)")
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    if title:
        ax.set_title(title)
    return fig
