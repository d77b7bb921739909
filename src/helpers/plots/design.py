"""Trial-design figures: Simon two-stage operating characteristics."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from helpers.plots.style import PALETTE, _check_frame, _new_axes, _require_columns, _styled

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
        Output of :func:`helpers.endpoints.simon.compute_operating_characteristics`: ``p``,
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
