"""CONSORT-style flow diagrams of screening and treatment."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from helpers.plots.style import _check_frame, _numeric, _require_columns, _styled

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
