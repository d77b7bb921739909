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

from helpers.plots.agreement import plot_bland_altman, plot_fish_signals, plot_roc
from helpers.plots.biomarkers import (
    plot_change_heatmap,
    plot_distribution,
    plot_paired_trajectories,
    plot_paired_trajectories_lod,
    plot_scatter_with_fit,
    plot_volcano,
)
from helpers.plots.consort import plot_consort
from helpers.plots.cytometry import (
    plot_fcs_concordance,
    plot_fcs_qc_overview,
    plot_gating_strategy,
)
from helpers.plots.design import plot_operating_characteristics
from helpers.plots.response import plot_spider, plot_swimmer, plot_waterfall
from helpers.plots.safety import plot_ae_bars
from helpers.plots.style import BOR_COLOURS, BOR_LABELS, PALETTE, apply_style, style_context
from helpers.plots.survival import KM_MIN_PATIENTS, plot_forest, plot_km
from helpers.watermark import add_watermark, find_watermarks

__all__ = [
    "BOR_COLOURS",
    "BOR_LABELS",
    "KM_MIN_PATIENTS",
    "PALETTE",
    "add_watermark",
    "apply_style",
    "find_watermarks",
    "plot_ae_bars",
    "plot_bland_altman",
    "plot_change_heatmap",
    "plot_consort",
    "plot_distribution",
    "plot_fcs_concordance",
    "plot_fcs_qc_overview",
    "plot_fish_signals",
    "plot_forest",
    "plot_gating_strategy",
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
    "style_context",
]
