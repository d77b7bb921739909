"""SYNTHETIC DATA watermark."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

_WATERMARK_GID = "synthetic_watermark"
#: Axes that are tables of numbers drawn as text (number at risk under a Kaplan–Meier plot, the
#: estimate column of a forest plot): a stamp over them would cover digits a reader must read.
TEXT_TABLE_AXES = ("risk_table", "forest_text")


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
    does not stamp twice. Colour-bar axes and text-table axes (:data:`TEXT_TABLE_AXES`: numbers at
    risk, forest-plot estimates) are skipped; the stamp on the plot above them marks the figure.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"add_watermark expects a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("add_watermark: text must be a non-empty string, e.g. 'SYNTHETIC DATA'")
    for ax in fig.axes:
        if ax.get_label() in ("<colorbar>", *TEXT_TABLE_AXES) or find_watermarks(ax):
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
