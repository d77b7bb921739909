"""Tests for helpers.plots: every figure renders, returns a Figure and carries its key elements.

Figures are inspected through their artists (patches, lines, texts); reference numbers come from
published tables where a number is checked (quoted next to the test).
"""

from __future__ import annotations

import matplotlib
import matplotlib.image

matplotlib.use("Agg")  # before pyplot: tests never need a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from helpers import plots
from helpers.plots import BOR_COLOURS, PALETTE


@pytest.fixture
def close_figs():
    """Collect figures made by a test and close them afterwards."""
    made: list[Figure] = []
    yield made.append
    for fig in made:
        plt.close(fig)


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _renderer(fig: Figure):
    """Attach an Agg canvas and draw, so that text extents are final."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


# --------------------------------------------------------------------------------------------
# Example data
# --------------------------------------------------------------------------------------------

# Gehan (1965) 6-MP arm of the Freireich leukaemia trial, weeks in remission; "+" = censored.
# Reproduced in Kleinbaum DG, Klein M. Survival Analysis, 3rd ed. 2012, chapter 2.
GEHAN_6MP = [6, 6, 6, 7, 10, 13, 16, 22, 23]  # relapses
GEHAN_6MP_CENSORED = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
GEHAN_PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def gehan_adtte() -> pd.DataFrame:
    times = GEHAN_6MP + GEHAN_6MP_CENSORED + GEHAN_PLACEBO
    cnsr = [0] * len(GEHAN_6MP) + [1] * len(GEHAN_6MP_CENSORED) + [0] * len(GEHAN_PLACEBO)
    arm = ["6-MP"] * 21 + ["Placebo"] * 21
    return pd.DataFrame(
        {
            "USUBJID": [f"GE-001-{i:04d}" for i in range(42)],
            "PARAMCD": "PFS",
            "AVAL": times,
            "CNSR": cnsr,
            "ARM": arm,
        }
    )


def bor_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": [f"HC-001-{i:04d}" for i in range(8)],
            "AVALC": ["PD", "PD", "SD", "SD", "PR", "CR", "PR", "NE"],
            "BESTPCHG": [150.0, 35.0, 5.0, -12.0, -45.0, -100.0, -31.0, np.nan],
        }
    )


def swim_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject": ["A", "B", "C", "D"],
            "start": 0.0,
            "end": [3.0, 12.5, 7.0, 1.5],
            "ongoing": [False, True, "N", "Y"],
            "bor": ["PD", "PR", "SD", "NE"],
            "response_onset": [np.nan, 1.4, np.nan, np.nan],
            "progression": [3.0, np.nan, 7.0, np.nan],
            "death": [5.0, np.nan, np.nan, np.nan],
        }
    )


def ovr_frame() -> pd.DataFrame:
    rows = []
    for subject, bor, slope in (("S1", "PR", -8.0), ("S2", "PD", 6.0), ("S3", "SD", -1.0)):
        rows.append({"USUBJID": subject, "ADY": -3, "PCHGBL": np.nan, "BOR": bor})
        for week in (6, 12, 18):
            rows.append(
                {"USUBJID": subject, "ADY": 7 * week + 1, "PCHGBL": slope * week / 6, "BOR": bor}
            )
    return pd.DataFrame(rows)


def estimate_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parameter": ["Age >= 65", "ECOG 1 vs 0", "Visceral disease"],
            "n": [10, 12, 15],
            "N": 30,
            "estimate": [0.8, 1.6, 2.1],
            "ci_lower": [0.4, 0.8, 1.0],
            "ci_upper": [1.6, 3.3, 4.5],
            "ci_level": 0.95,
            "method": "Cox proportional hazards, Wald CI",
        }
    )


def consort_steps(k: int = 4) -> list[dict]:
    steps, n = [], 160
    for i in range(k):
        excluded = 0 if i == k - 1 else 10 + i
        reasons = {"no_ctc_detected": excluded - 3, "withdrawal": 3} if excluded else {}
        steps.append(
            {"step": f"Step {i + 1}", "n": n, "excluded_n": excluded, "excluded_reasons": reasons}
        )
        n -= excluded
    return steps


def paired_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(10):
        base = rng.lognormal(3, 0.4)
        for j, visit in enumerate(("BASELINE", "M3", "M9")):
            if visit == "M9" and i < 3:
                continue  # three patients without the month-9 sample
            rows.append(
                {
                    "USUBJID": f"EN-001-{i:04d}",
                    "AVISIT": visit,
                    "AVISITN": j,
                    "AVAL": base * np.exp(0.2 * j),
                    "RESP": "Responder" if i % 2 else "Non-responder",
                }
            )
    return pd.DataFrame(rows)


def changes_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "parameter": ["NK count", "NK count", "NKG2D", "NKG2D", "CD57+", "CD57+"],
            "AVISIT": ["M3", "M9"] * 3,
            "estimate": [-1.2, -0.4, 0.3, 0.9, 0.05, -0.6],
            "p_value": [0.001, 0.2, 0.04, 0.003, 0.9, 0.02],
            "p_adj": [0.006, 0.3, 0.06, 0.009, 0.9, 0.04],
        }
    )


def ae_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["P1", "P1", "P2", "P3", "P3", "P4", "P2", "P5"],
            "AEDECOD": [
                "Fatigue",
                "Fatigue",
                "Fatigue",
                "Nausea",
                "Fatigue",
                "Stomatitis",
                "Nausea",
                "Fatigue",
            ],
            "AETOXGR": [1, 3, 2, 1, 2, 3, 2, 1],
        }
    )


# --------------------------------------------------------------------------------------------
# Style, palette, watermark
# --------------------------------------------------------------------------------------------


def test_palette_matches_okabe_ito_2008_published_hex_values():
    # Okabe & Ito 2008, "Color Universal Design", RGB table (e.g. orange 230,159,0).
    published = {
        "black": (0, 0, 0),
        "orange": (230, 159, 0),
        "sky_blue": (86, 180, 233),
        "bluish_green": (0, 158, 115),
        "yellow": (240, 228, 66),
        "blue": (0, 114, 178),
        "vermillion": (213, 94, 0),
        "reddish_purple": (204, 121, 167),
    }
    for name, rgb in published.items():
        assert PALETTE[name].lower() == "#{:02x}{:02x}{:02x}".format(*rgb)


def test_bor_colours_cover_recist_codes_and_are_distinct():
    codes = ["CR", "PR", "SD", "NON_CR_NON_PD", "PD", "NE"]
    assert all(c in BOR_COLOURS for c in codes)
    assert len({BOR_COLOURS[c] for c in codes}) == len(codes)


def test_constants_are_read_only():
    with pytest.raises(TypeError):
        PALETTE["blue"] = "#123456"  # type: ignore[index]


def test_apply_style_is_idempotent_and_plots_do_not_touch_global_rcparams(close_figs):
    with matplotlib.rc_context():
        before = dict(matplotlib.rcParams)
        close_figs(plots.plot_waterfall(bor_frame()))
        assert dict(matplotlib.rcParams) == before
        plots.apply_style()
        once = dict(matplotlib.rcParams)
        plots.apply_style()
        assert dict(matplotlib.rcParams) == once
        assert matplotlib.rcParams["axes.spines.top"] is False


def test_watermark_on_every_axes_behind_data_and_idempotent(close_figs):
    fig = plots.plot_km(gehan_adtte(), group="ARM")
    close_figs(fig)
    size = tuple(fig.get_size_inches())
    assert plots.add_watermark(fig) is fig
    plots.add_watermark(fig)
    for ax in fig.axes:
        marks = plots.find_watermarks(ax)
        if ax.get_label() == "risk_table":
            assert marks == []  # the stamp would cover the numbers at risk
            continue
        assert len(marks) == 1
        assert marks[0].get_text() == "SYNTHETIC DATA"
        data_z = [line.get_zorder() for line in ax.lines]
        assert all(marks[0].get_zorder() < z for z in data_z)
    assert tuple(fig.get_size_inches()) == size


def test_watermark_skips_colorbar_and_custom_text(close_figs):
    fig = plots.plot_change_heatmap(changes_frame())
    close_figs(fig)
    plots.add_watermark(fig, text="DEMO")
    stamped = [
        ax for ax in fig.axes if any(t.get_text() == "DEMO" for t in plots.find_watermarks(ax))
    ]
    assert len(stamped) == 1
    assert stamped[0].get_label() != "<colorbar>"


def test_watermark_is_sized_at_draw_time_to_the_axes_the_layout_engine_leaves(close_figs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plots.plot_waterfall(bor_frame())
    close_figs(fig)
    plots.add_watermark(fig)
    (mark,) = plots.find_watermarks(fig.axes[0])
    before = mark.get_fontsize()
    fig.set_size_inches(4.5, 3.0)  # a much smaller axes after layout: the stamp must shrink
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    assert mark.get_fontsize() < before
    renderer = canvas.get_renderer()
    ax_box = fig.axes[0].get_window_extent(renderer)
    text_box = mark.get_window_extent(renderer)
    assert text_box.width <= ax_box.width
    assert text_box.height <= ax_box.height


def test_watermark_rejects_non_figure_and_empty_text(close_figs):
    with pytest.raises(TypeError, match="Figure"):
        plots.add_watermark("not a figure")  # type: ignore[arg-type]
    fig = plots.plot_waterfall(bor_frame())
    close_figs(fig)
    with pytest.raises(ValueError, match="non-empty"):
        plots.add_watermark(fig, text=" ")


# --------------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------------


def _risk_axes(fig: Figure):
    return next(ax for ax in fig.axes if ax.get_label() == "risk_table")


def test_km_at_risk_at_time_zero_equals_n_per_group(close_figs):
    fig = plots.plot_km(gehan_adtte(), group="ARM")
    close_figs(fig)
    risk = _risk_axes(fig)
    first_column = {
        round(t.get_position()[1]): int(t.get_text())
        for t in risk.texts
        if t.get_position()[0] == 0
    }
    assert first_column == {0: 21, 1: 21}
    assert [t.get_text() for t in risk.get_yticklabels()] == ["6-MP", "Placebo"]


def test_km_at_risk_matches_kleinbaum_klein_table_gehan_6mp():
    # Kleinbaum & Klein 2012, ch. 2, KM table for the 6-MP group: n at risk 21, 17, 15, 12,
    # 11, 7, 6 at the relapse times 6, 7, 10, 13, 16, 22, 23 weeks.
    times = np.array(GEHAN_6MP + GEHAN_6MP_CENSORED, dtype=float)
    ticks = np.array([6, 7, 10, 13, 16, 22, 23], dtype=float)
    assert plots.survival._n_at_risk(times, ticks) == [21, 17, 15, 12, 11, 7, 6]


def test_km_risk_table_counts_match_lifelines_event_table_at_every_tick(close_figs):
    # Independent route: lifelines' event table "at_risk" at the first event-table time >= tick.
    adtte = gehan_adtte()
    fig = plots.plot_km(adtte, group="ARM")
    close_figs(fig)
    risk = _risk_axes(fig)
    for row, arm in enumerate(["6-MP", "Placebo"]):
        sub = adtte[adtte["ARM"] == arm]
        table = KaplanMeierFitter().fit(sub["AVAL"], 1 - sub["CNSR"]).event_table
        for text in (t for t in risk.texts if round(t.get_position()[1]) == row):
            tick = text.get_position()[0]
            later = table[table.index >= tick]
            expected = int(later["at_risk"].iloc[0]) if len(later) else 0
            if tick == 0:
                expected = len(sub)
            assert int(text.get_text()) == expected


def test_km_median_matches_kleinbaum_klein_gehan_23_and_8_weeks(close_figs):
    # Kleinbaum & Klein 2012, ch. 2: KM median remission 23 weeks (6-MP), 8 weeks (placebo).
    fig = plots.plot_km(gehan_adtte(), group="ARM", time_unit="weeks", xlabel="Weeks")
    close_figs(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("6-MP (n = 21): median 23.0 weeks")
    assert labels[1].startswith("Placebo (n = 21): median 8.0 weeks")
    vertical = [
        ln
        for ln in fig.axes[0].lines
        if ln.get_linestyle() == "--" and len(set(ln.get_xdata())) == 1
    ]
    assert sorted(float(ln.get_xdata()[0]) for ln in vertical) == [8.0, 23.0]


def test_km_risk_table_is_aligned_with_ticks_and_below_the_x_label(close_figs):
    fig = plots.plot_km(gehan_adtte(), group="ARM", landmarks=(12,))
    close_figs(fig)
    renderer = _renderer(fig)
    main, risk = fig.axes[0], _risk_axes(fig)
    assert np.allclose(
        main.get_xticks(),
        sorted({t.get_position()[0] for t in risk.texts if t.get_text().isdigit()}),
    )
    assert np.allclose(main.get_position().x0, risk.get_position().x0)
    assert np.allclose(main.get_xlim(), risk.get_xlim())
    label_bottom = main.xaxis.label.get_window_extent(renderer).y0
    table_top = max(t.get_window_extent(renderer).y1 for t in [*risk.texts, risk.title])
    assert table_top < label_bottom


def test_km_all_censored_single_group_reads_not_reached(close_figs):
    adtte = pd.DataFrame({"AVAL": [1.0, 2.0, 5.0], "CNSR": [1, 1, 1]})
    fig = plots.plot_km(adtte)
    close_figs(fig)
    label = fig.axes[0].get_legend().get_texts()[0].get_text()
    assert "median not reached" in label
    assert "NR–NR" in label


def test_km_single_patient_and_options_off(close_figs):
    fig = plots.plot_km(
        pd.DataFrame({"AVAL": [4.0], "CNSR": [0]}), risk_table=False, ci=False, show_median=False
    )
    close_figs(fig)
    assert len(fig.axes) == 1
    assert isinstance(fig, Figure)


def test_km_landmark_marks_survival_value(close_figs):
    fig = plots.plot_km(
        gehan_adtte()[lambda d: d.ARM == "Placebo"], landmarks=(8,), time_unit="weeks"
    )
    close_figs(fig)
    # Placebo: 21 at risk, events by week 8 inclusive = 13, S(8) = 8/21 = 38 %.
    assert "38%" in _texts(fig)


def test_km_keeps_categorical_group_order(close_figs):
    adtte = gehan_adtte()
    adtte["ARM"] = pd.Categorical(adtte["ARM"], categories=["Placebo", "6-MP"])
    fig = plots.plot_km(adtte, group="ARM")
    close_figs(fig)
    assert [t.get_text() for t in _risk_axes(fig).get_yticklabels()] == ["Placebo", "6-MP"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"AVAL": [1.0], "CNSR": [0]}), {"time_col": "PFSM"}, "PFSM"),
        (pd.DataFrame({"AVAL": [1.0], "CNSR": [0]}), {"group": "ARM"}, "ARM"),
        (pd.DataFrame({"AVAL": [1.0], "CNSR": [2]}), {}, "0 \\(event\\) or 1"),
        (pd.DataFrame({"AVAL": [-1.0], "CNSR": [0]}), {}, ">= 0"),
        (pd.DataFrame({"AVAL": [1.0, 2], "CNSR": [0, 1], "PARAMCD": ["PFS", "OS"]}), {}, "PARAMCD"),
    ],
)
def test_km_invalid_inputs_raise_value_error(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_km(frame, **kwargs)


def test_km_group_below_the_minimum_is_listed_but_not_drawn(close_figs):
    # issue 12: no curve, median or landmark rate from one or two patients
    adtte = pd.DataFrame(
        {"AVAL": [1.0, 2, 3, 4, 5], "CNSR": [0, 0, 1, 0, 0], "G": ["a", "a", "a", "b", "b"]}
    )
    fig = plots.plot_km(adtte, group="G", landmarks=[2])
    close_figs(fig)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1] == "b (n = 2): not drawn, fewer than 3 patients"
    assert labels[0].startswith("a (n = 3): median")
    steps = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert len(steps) == 1  # only group a has a curve
    assert [t.get_text() for t in _risk_axes(fig).get_yticklabels()] == ["a", "b"]
    assert plots.KM_MIN_PATIENTS == 3


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"AVAL": [], "CNSR": []}), "Not drawn: no patient in this analysis."),
        (
            pd.DataFrame({"AVAL": [1.0, 2.0], "CNSR": [0, 1]}),
            "Not drawn: 2 patients; a Kaplan–Meier curve needs at least 3 patients per group.",
        ),
    ],
)
def test_km_without_a_drawable_group_says_why(frame, message, close_figs):
    fig = plots.plot_km(frame)
    close_figs(fig)
    (ax,) = fig.axes
    assert ax.get_label() == "not_drawn"
    assert ax.texts[0].get_text() == message


def test_forest_without_any_estimate_lists_the_reasons(close_figs):
    est = pd.DataFrame(
        {
            "parameter": ["HR per unit"],
            "estimate": [np.nan],
            "ci_lower": [np.nan],
            "ci_upper": [np.nan],
            "note": ["not estimable: no event"],
        }
    )
    fig = plots.plot_forest(est)
    close_figs(fig)
    (ax,) = fig.axes
    assert ax.get_label() == "not_drawn"
    assert "HR per unit: not estimable: no event" in ax.texts[0].get_text()


# --------------------------------------------------------------------------------------------
# Waterfall, swimmer, spider
# --------------------------------------------------------------------------------------------


def test_waterfall_one_bar_per_measured_patient_sorted_and_coloured(close_figs):
    fig = plots.plot_waterfall(bor_frame())
    close_figs(fig)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 7  # the NE patient has no measurable change
    heights = [b.get_height() for b in bars]
    assert heights == sorted(heights, reverse=True)
    assert heights[0] == 100.0  # +150 % clipped at +100 %
    expected = ["PD", "PD", "SD", "SD", "PR", "PR", "CR"]
    assert [to_hex(b.get_facecolor()) for b in bars] == [BOR_COLOURS[c].lower() for c in expected]


def test_waterfall_reference_lines_truncation_marker_and_note(close_figs):
    fig = plots.plot_waterfall(bor_frame())
    close_figs(fig)
    ax = fig.axes[0]
    refs = {ln.get_gid(): ln.get_ydata()[0] for ln in ax.lines if ln.get_gid()}
    assert refs == {"ref_+20": 20, "ref_-30": -30}
    assert "+150" in _texts(fig)
    assert any("HC-001-0007" in t and "n = 1" in t for t in _texts(fig))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["CR", "PR", "SD", "PD", "> +100 %"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (bor_frame(), {"pchg_col": "PCHG"}, "PCHG"),
        (bor_frame().drop(columns="AVALC"), {}, "AVALC"),
        (bor_frame().assign(AVALC="RESP"), {}, "RECIST codes"),
        (pd.concat([bor_frame(), bor_frame()]), {}, "one row per patient"),
        (bor_frame().assign(BESTPCHG=-120.0), {}, "impossible"),
    ],
)
def test_waterfall_invalid_inputs_raise_value_error(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_waterfall(frame, **kwargs)


def test_waterfall_draws_on_given_axes(close_figs):
    fig, axes = plt.subplots(1, 2)
    close_figs(fig)
    assert plots.plot_waterfall(bor_frame(), ax=axes[1]) is fig
    assert len(axes[1].patches) == 7
    assert len(axes[0].patches) == 0


def test_swimmer_bars_sorted_by_duration_with_markers_and_arrows(close_figs):
    fig = plots.plot_swimmer(swim_frame())
    close_figs(fig)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [b.get_width() for b in bars] == [12.5, 7.0, 3.0, 1.5]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["B", "C", "A", "D"]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 2  # B and D ongoing
    markers = {ln.get_label(): len(ln.get_xdata()) for ln in ax.lines}
    assert markers == {"Response onset": 1, "Progression": 2, "Death": 1}
    assert ax.get_xlim()[1] > 12.5


def test_swimmer_of_a_large_cohort_stays_page_high_without_unreadable_identifiers(close_figs):
    n = 360
    frame = pd.DataFrame(
        {
            "subject": [f"P{i:03d}" for i in range(n)],
            "start": 0.0,
            "end": np.linspace(0.5, 24.0, n),
            "ongoing": False,
        }
    )
    fig = plots.plot_swimmer(frame)
    close_figs(fig)
    ax = fig.axes[0]
    assert fig.get_size_inches()[1] == pytest.approx(11.0)
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == n
    assert ax.get_yticklabels() == []
    assert "n = 360" in ax.get_ylabel()


def test_swimmer_without_optional_columns(close_figs):
    fig = plots.plot_swimmer(swim_frame()[["subject", "start", "end", "ongoing"]])
    close_figs(fig)
    assert len(fig.axes[0].lines) == 0


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (swim_frame().drop(columns="end"), "'end'"),
        (swim_frame().assign(end=[3.0, 12.5, 7.0, -1.0]), "end >= start"),
        (swim_frame().assign(ongoing="maybe"), "boolean"),
        (swim_frame().assign(bor="GOOD"), "RECIST"),
    ],
)
def test_swimmer_invalid_inputs_raise_value_error(frame, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_swimmer(frame)


def test_spider_lines_start_at_origin_in_weeks_coloured_by_bor(close_figs):
    fig = plots.plot_spider(ovr_frame())
    close_figs(fig)
    lines = {ln.get_gid(): ln for ln in fig.axes[0].lines if str(ln.get_gid()).startswith("spid")}
    assert set(lines) == {"spider:S1", "spider:S2", "spider:S3"}
    s1 = lines["spider:S1"]
    # ADY 43 = day 42 after the first dose (ADaM has no day 0) = 6 weeks.
    assert list(s1.get_xdata()) == [0.0, 6.0, 12.0, 18.0]
    assert list(s1.get_ydata()) == [0.0, -8.0, -16.0, -24.0]
    assert to_hex(s1.get_color()) == BOR_COLOURS["PR"].lower()
    assert to_hex(lines["spider:S2"].get_color()) == BOR_COLOURS["PD"].lower()
    refs = {ln.get_gid() for ln in fig.axes[0].lines}
    assert {"ref_+20", "ref_-30"} <= refs


def test_spider_rejects_colour_varying_within_patient():
    ovr = ovr_frame()
    ovr.loc[1, "BOR"] = "CR"
    with pytest.raises(ValueError, match="constant within each patient"):
        plots.plot_spider(ovr)


def test_spider_missing_column_and_no_colour(close_figs):
    with pytest.raises(ValueError, match="PCHG"):
        plots.plot_spider(ovr_frame(), pchg_col="PCHG")
    fig = plots.plot_spider(ovr_frame().drop(columns="BOR"), colour_col=None)
    close_figs(fig)
    assert fig.axes[0].get_legend() is None


# --------------------------------------------------------------------------------------------
# Forest, CONSORT
# --------------------------------------------------------------------------------------------


def test_forest_rows_whiskers_and_annotation_column(close_figs):
    fig = plots.plot_forest(estimate_frame())
    close_figs(fig)
    ax, ax_text = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(estimate_frame()["parameter"])
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax_text.texts] == [
        "0.80 (0.40–1.60)",
        "1.60 (0.80–3.30)",
        "2.10 (1.00–4.50)",
    ]
    assert ax_text.get_title(loc="left") == "Estimate (95% CI)"
    ref = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert ref[0].get_xdata()[0] == 1.0


def test_forest_rates_on_linear_scale_without_reference(close_figs):
    est = estimate_frame().assign(
        estimate=[0.2, 0.5, 0.0], ci_lower=[0.1, 0.3, 0.0], ci_upper=[0.4, 0.7, 0.2]
    )
    fig = plots.plot_forest(est, log=False, ref=None, xlabel="Proportion")
    close_figs(fig)
    assert fig.axes[0].get_xscale() == "linear"
    assert not [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (estimate_frame().drop(columns="ci_upper"), {}, "ci_upper"),
        (estimate_frame().assign(ci_lower=-1.0), {}, "log=False"),
        (estimate_frame().assign(ci_lower=5.0), {"log": False}, "ci_lower <= estimate"),
    ],
)
def test_forest_invalid_inputs_raise_value_error(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_forest(frame, **kwargs)


@pytest.mark.parametrize("k", [3, 5, 8])
def test_consort_one_box_per_step_and_counts_from_data(k, close_figs):
    steps = consort_steps(k)
    fig = plots.plot_consort(steps)
    close_figs(fig)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if p.get_gid() == "consort_step"]
    side = [p for p in ax.patches if p.get_gid() == "consort_excluded"]
    assert len(boxes) == k
    assert len(side) == k - 1
    text = "\n".join(_texts(fig)).replace("\u00a0", " ")
    for step in steps:
        assert f"{step['step']}\n(n = {step['n']})" in text
        if step["excluded_n"]:
            assert f"Excluded (n = {step['excluded_n']})" in text
            assert f"No CTC detected (n = {step['excluded_n'] - 3})" in text


def test_consort_long_text_wraps_inside_its_box(close_figs):
    steps = consort_steps(3)
    steps[0]["step"] = "Patients screened for HER2-amplified circulating tumour cells " * 3
    steps[0]["excluded_reasons"] = {
        "a_very_long_reason_that_needs_wrapping_" * 3: 7,
        "withdrawal": 3,
    }
    fig = plots.plot_consort(steps)
    close_figs(fig)
    renderer = _renderer(fig)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    for text in (t for t in ax.texts if t.get_text()):  # arrows are empty annotations
        extent = text.get_window_extent(renderer)
        assert any(
            b.get_window_extent(renderer).x0 <= extent.x0 + 0.5
            and extent.x1 <= b.get_window_extent(renderer).x1 + 0.5
            for b in boxes
        )


def test_consort_arithmetic_checks():
    steps = consort_steps(3)
    steps[1]["n"] += 1
    with pytest.raises(ValueError, match="next step has n"):
        plots.plot_consort(steps)
    steps = consort_steps(3)
    steps[0]["excluded_reasons"] = {"withdrawal": 1}
    with pytest.raises(ValueError, match="reasons add up to 1"):
        plots.plot_consort(steps)


def test_consort_accepts_dataframe_and_unchecked_counts(close_figs):
    table = pd.DataFrame(consort_steps(3))
    table.loc[2, "n"] = 5
    fig = plots.plot_consort(table, check_arithmetic=False)
    close_figs(fig)
    assert len([p for p in fig.axes[0].patches if p.get_gid() == "consort_step"]) == 3


def test_consort_invalid_inputs():
    with pytest.raises(ValueError, match="'n'"):
        plots.plot_consort([{"step": "Screened"}])
    with pytest.raises(TypeError, match="list of dicts"):
        plots.plot_consort("Screened")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Biomarkers
# --------------------------------------------------------------------------------------------


def test_paired_trajectories_lines_boxes_and_n_per_visit(close_figs):
    fig = plots.plot_paired_trajectories(paired_frame(), ylabel="Granzyme B (pg/mL)", log=True)
    close_figs(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "BASELINE\n(n = 10)",
        "M3\n(n = 10)",
        "M9\n(n = 7)",
    ]
    spaghetti = [ln for ln in ax.lines if ln.get_alpha() == 0.45]
    assert len(spaghetti) == 10
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "Granzyme B (pg/mL)"


def test_paired_trajectories_group_colours_and_visit_order(close_figs):
    fig = plots.plot_paired_trajectories(
        paired_frame(), group_col="RESP", visit_order=("BASELINE", "M3")
    )
    close_figs(fig)
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Non-responder", "Responder"]


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (paired_frame(), {"value_col": "GZMB"}, "GZMB"),
        (pd.concat([paired_frame(), paired_frame()]), {}, "several rows"),
        (paired_frame().assign(AVAL=0.0), {"log": True}, "values > 0"),
        (paired_frame().assign(PARAMCD=lambda d: np.where(d.index % 2, "A", "B")), {}, "PARAMCD"),
    ],
)
def test_paired_trajectories_invalid_inputs(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_paired_trajectories(frame, **kwargs)


def test_change_heatmap_centred_diverging_scale_and_stars(close_figs):
    fig = plots.plot_change_heatmap(changes_frame())
    close_figs(fig)
    ax = next(a for a in fig.axes if a.get_label() != "<colorbar>")
    image = ax.images[0]
    assert image.norm.vmin == -image.norm.vmax == -1.2
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["−1.20*", "−0.40", "0.30", "0.90*", "0.05", "−0.60*"]
    assert len(fig.axes) == 2  # heatmap + colour bar


def test_change_heatmap_missing_cell_and_errors(close_figs):
    fig = plots.plot_change_heatmap(changes_frame().iloc[:-1])
    close_figs(fig)
    assert "–" in _texts(fig)
    with pytest.raises(ValueError, match="p_adj"):
        plots.plot_change_heatmap(changes_frame().drop(columns="p_adj"))
    with pytest.raises(ValueError, match="one row per"):
        plots.plot_change_heatmap(pd.concat([changes_frame(), changes_frame()]))


def test_volcano_labels_only_significant_markers(close_figs):
    fig = plots.plot_volcano(changes_frame().query("AVISIT == 'M3'"))
    close_figs(fig)
    ax = fig.axes[0]
    assert sorted(_texts(fig)) == ["NK count", "NKG2D"]  # p 0.001 and 0.04 < 0.05
    threshold = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert np.isclose(threshold[0].get_ydata()[0], -np.log10(0.05))


def test_volcano_invalid_inputs():
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        plots.plot_volcano(changes_frame().assign(p_value=-0.1))
    with pytest.raises(ValueError, match="effect"):
        plots.plot_volcano(changes_frame(), effect_col="effect")
    with pytest.raises(ValueError, match="threshold"):
        plots.plot_volcano(changes_frame(), threshold=5)


# --------------------------------------------------------------------------------------------
# Agreement, ROC, distribution, scatter
# --------------------------------------------------------------------------------------------


def test_bland_altman_lines_at_bias_and_limits(close_figs):
    mean = np.array([1.0, 2.0, 3.0, 4.0])
    diff = np.array([0.1, -0.2, 0.3, 0.0])
    fig = plots.plot_bland_altman(mean, diff, 0.05, -0.4, 0.5, ylabel="R2 − R1 (ratio)")
    close_figs(fig)
    gids = {ln.get_gid(): ln.get_ydata()[0] for ln in fig.axes[0].lines if ln.get_gid()}
    assert gids == {"bias": 0.05, "loa_lower": -0.4, "loa_upper": 0.5}
    assert "Bias\n0.05" in _texts(fig)
    assert "Lower LoA\n−0.40" in _texts(fig)


def test_bland_altman_invalid_inputs():
    with pytest.raises(ValueError, match="same length"):
        plots.plot_bland_altman([1, 2], [0.1], 0.0, -1, 1)
    with pytest.raises(ValueError, match="loa_lower <= bias"):
        plots.plot_bland_altman([1, 2], [0.1, 0.2], 2.0, -1, 1)


def test_roc_curve_endpoints_and_auc_label(close_figs):
    roc = pd.DataFrame({"fpr": [0.5, 0.1, 0.0], "tpr": [0.9, 0.6, 0.3]})
    fig = plots.plot_roc(roc, 0.8, (0.6, 0.95))
    close_figs(fig)
    ax = fig.axes[0]
    curve = ax.lines[1]
    assert list(curve.get_xdata()) == [0.0, 0.0, 0.1, 0.5, 1.0]
    assert list(curve.get_ydata()) == [0.0, 0.3, 0.6, 0.9, 1.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[1] == "AUC 0.80 (95% CI 0.60–0.95)"


def test_roc_rejects_rates_outside_unit_interval():
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        plots.plot_roc(pd.DataFrame({"fpr": [1.2], "tpr": [0.5]}), 0.5)
    with pytest.raises(ValueError, match="tpr"):
        plots.plot_roc(pd.DataFrame({"fpr": [0.2]}), 0.5)


def test_distribution_box_and_hist(close_figs):
    df = pd.DataFrame({"ctc": [1, 2, 5, 8, 30, 3, np.nan], "grp": list("AABBBAB")})
    fig = plots.plot_distribution(df, "ctc", "grp", log=True, value_label="CTC per 7.5 mL")
    close_figs(fig)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["A\n(n = 3)", "B\n(n = 3)"]
    fig = plots.plot_distribution(df, "ctc", kind="hist")
    close_figs(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["All (n = 6)"]


def test_distribution_invalid_inputs():
    df = pd.DataFrame({"ctc": [1, 2]})
    with pytest.raises(ValueError, match="kind"):
        plots.plot_distribution(df, "ctc", kind="violin")
    with pytest.raises(ValueError, match="grp"):
        plots.plot_distribution(df, "ctc", "grp")


@pytest.mark.parametrize("fit", ["linear", "lowess", None])
def test_scatter_with_fit_shows_passed_statistic(fit, close_figs):
    x = np.array([1.0, 2, 3, 4, 5, np.nan])
    y = np.array([1.2, 1.9, 3.5, 3.9, 5.2, 1.0])
    label = "Spearman ρ = 0.90 (95% CI 0.1–1.0)"
    fig = plots.plot_scatter_with_fit(
        x, y, xlabel="Ratio", ylabel="IF (a.u.)", label=label, fit=fit, logy=True
    )
    close_figs(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [label]
    assert len(ax.collections[0].get_offsets()) == 5  # the pair with a NaN is dropped
    assert len(ax.lines) == (0 if fit is None else 1)


def test_scatter_linear_fit_is_least_squares_line(close_figs):
    # y = 2x + 1 exactly: the drawn line must reproduce it.
    fig = plots.plot_scatter_with_fit([0, 1, 2, 3], [1, 3, 5, 7], xlabel="x", ylabel="y")
    close_figs(fig)
    line = fig.axes[0].lines[0]
    assert np.allclose(line.get_ydata(), 2 * np.asarray(line.get_xdata()) + 1)


def test_scatter_invalid_inputs():
    with pytest.raises(ValueError, match="same length"):
        plots.plot_scatter_with_fit([1, 2], [1])
    with pytest.raises(ValueError, match="fit"):
        plots.plot_scatter_with_fit([1, 2], [1, 2], fit="spline")


# --------------------------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------------------------


def test_ae_bars_count_each_patient_once_at_worst_grade(close_figs):
    fig = plots.plot_ae_bars(ae_frame(), n_patients=8)
    close_figs(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Fatigue", "Nausea", "Stomatitis"]
    low, high = ax.containers
    # Fatigue: P1 worst 3, P2 2, P3 2, P5 1 -> 3 patients grade 1-2, 1 patient grade >= 3.
    assert [b.get_width() for b in low] == [3, 2, 0]
    assert [b.get_width() for b in high] == [1, 0, 1]
    # 4/8 = 50 %; 1/8 = 12.5 % rounds half up to 13 %.
    assert [t.get_text().strip() for t in ax.texts] == ["4 (50%)", "2 (25%)", "1 (13%)"]


def test_ae_bars_top_terms_and_errors(close_figs):
    fig = plots.plot_ae_bars(ae_frame(), top=1)
    close_figs(fig)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Fatigue"]
    with pytest.raises(ValueError, match="grades 1–5"):
        plots.plot_ae_bars(ae_frame().assign(AETOXGR=6))
    with pytest.raises(ValueError, match="AETERM"):
        plots.plot_ae_bars(ae_frame(), term_col="AETERM")
    with pytest.raises(ValueError, match="n_patients"):
        plots.plot_ae_bars(ae_frame(), n_patients=2)


# --------------------------------------------------------------------------------------------
# Contract shared by every plot function
# --------------------------------------------------------------------------------------------

ALL_PLOTS = [
    lambda: plots.plot_km(gehan_adtte(), group="ARM"),
    lambda: plots.plot_waterfall(bor_frame()),
    lambda: plots.plot_swimmer(swim_frame()),
    lambda: plots.plot_spider(ovr_frame()),
    lambda: plots.plot_forest(estimate_frame()),
    lambda: plots.plot_consort(consort_steps(4)),
    lambda: plots.plot_paired_trajectories(paired_frame()),
    lambda: plots.plot_change_heatmap(changes_frame()),
    lambda: plots.plot_volcano(changes_frame()),
    lambda: plots.plot_bland_altman([1, 2, 3], [0.1, 0.0, -0.1], 0.0, -0.2, 0.2),
    lambda: plots.plot_roc(pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]}), 0.7),
    lambda: plots.plot_distribution(paired_frame(), "AVAL", "AVISIT"),
    lambda: plots.plot_scatter_with_fit([1, 2, 3, 4], [2, 1, 4, 3]),
    lambda: plots.plot_ae_bars(ae_frame()),
]


@pytest.mark.parametrize("make", ALL_PLOTS)
def test_every_plot_returns_unregistered_figure_and_prints_nothing(make, capsys, close_figs):
    open_before = plt.get_fignums()
    fig = make()
    close_figs(fig)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == open_before  # not registered with pyplot: never shown
    fig.savefig(__import__("io").BytesIO(), format="png", dpi=150)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "call",
    [
        lambda: plots.plot_waterfall(pd.DataFrame()),
        lambda: plots.plot_spider(pd.DataFrame()),
        lambda: plots.plot_forest(pd.DataFrame()),
        lambda: plots.plot_consort([]),
        lambda: plots.plot_change_heatmap(pd.DataFrame()),
        lambda: plots.plot_ae_bars(pd.DataFrame()),
    ],
)
def test_empty_inputs_give_a_figure_that_says_not_drawn(call, close_figs):
    # a small trial or an absent optional table must not stop a notebook
    fig = call()
    close_figs(fig)
    (ax,) = fig.axes
    assert ax.get_label() == "not_drawn"
    assert ax.texts[0].get_text().startswith("Not drawn: no data for this figure")


def test_non_dataframe_input_raises_type_error():
    with pytest.raises(TypeError, match="DataFrame"):
        plots.plot_waterfall([{"USUBJID": "A"}])  # type: ignore[arg-type]


def test_watermark_does_not_change_the_saved_tight_bounding_box(close_figs):
    import io

    fig = plots.plot_waterfall(bor_frame())
    close_figs(fig)
    sizes = []
    for _ in range(2):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
        sizes.append(matplotlib.image.imread(io.BytesIO(buffer.getvalue())).shape)
        plots.add_watermark(fig)
    assert sizes[0] == sizes[1]


def test_paired_trajectories_rejects_group_varying_within_patient():
    frame = paired_frame()
    frame.loc[0, "RESP"] = "Responder" if frame.loc[0, "RESP"] != "Responder" else "Other"
    with pytest.raises(ValueError, match="constant within each patient"):
        plots.plot_paired_trajectories(frame, group_col="RESP")


def test_forest_header_without_single_ci_level(close_figs):
    fig = plots.plot_forest(estimate_frame().assign(ci_level=[0.95, 0.9, 0.95]))
    close_figs(fig)
    assert fig.axes[1].get_title(loc="left") == "Estimate (CI)"


def test_km_all_times_zero_still_renders(close_figs):
    fig = plots.plot_km(pd.DataFrame({"AVAL": [0.0, 0.0], "CNSR": [1, 1]}))
    close_figs(fig)
    assert fig.axes[0].get_xlim()[1] > 0


def test_km_groups_of_recist_codes_run_best_response_first(close_figs):
    adtte = gehan_adtte().assign(BOR=lambda d: np.where(d.ARM == "6-MP", "SD", "PD"))
    adtte.loc[0, "BOR"] = "PR"
    fig = plots.plot_km(adtte, group="BOR")
    close_figs(fig)
    assert [t.get_text() for t in _risk_axes(fig).get_yticklabels()] == ["PR", "SD", "PD"]


def test_formatted_values_that_round_to_zero_carry_no_minus_sign():
    from helpers.plots.style import _fmt

    assert _fmt(-0.3, "{:.0f}") == "0"
    assert _fmt(-0.6, "{:.0f}") == "−1"
    assert _fmt(-0.004, "{:.2f}%") == "0.00%"


def test_watermark_leaves_the_forest_estimate_column_readable(close_figs):
    fig = plots.plot_forest(estimate_frame())
    close_figs(fig)
    plots.add_watermark(fig)
    stamped = {ax.get_label(): len(plots.find_watermarks(ax)) for ax in fig.axes}
    assert stamped["forest_text"] == 0  # the digits of "estimate (CI)" stay uncovered
    assert sum(stamped.values()) == 1  # the plot itself is stamped


def test_sd_and_pd_colours_are_far_apart_in_hue():
    import colorsys

    from matplotlib.colors import to_rgb

    hue = {c: colorsys.rgb_to_hsv(*to_rgb(BOR_COLOURS[c]))[0] * 360 for c in ("SD", "PD")}
    gap = abs(hue["SD"] - hue["PD"])
    assert min(gap, 360 - gap) > 60  # orange vs vermillion was ~15 degrees


def test_waterfall_bar_of_zero_change_is_still_visible(close_figs):
    bor = pd.DataFrame(
        {"USUBJID": ["A", "B", "C"], "BESTPCHG": [10.0, 0.0, -40.0], "AVALC": ["SD", "SD", "PR"]}
    )
    fig = plots.plot_waterfall(bor)
    close_figs(fig)
    (zero,) = [c for c in fig.axes[0].collections if c.get_gid() == "zero_bar"]
    assert len(zero.get_segments()) == 1


def test_swimmer_and_spider_legends_sit_beside_the_data(close_figs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for fig in (plots.plot_swimmer(swim_frame()), plots.plot_spider(ovr_frame())):
        close_figs(fig)
        FigureCanvasAgg(fig).draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # right of the plotting area


def test_volcano_without_any_estimable_change_gives_the_notes(close_figs):
    changes = pd.DataFrame(
        {
            "label": ["NK count · M3", "NK count · M9"],
            "relative_change_pct": [np.nan, np.nan],
            "p_adj": [np.nan, np.nan],
            "note": ["not estimable: 1 complete pair", "not estimable: no patient with M9"],
        }
    )
    fig = plots.plot_volcano(
        changes, effect_col="relative_change_pct", p_col="p_adj", label_col="label"
    )
    close_figs(fig)
    (ax,) = fig.axes
    assert ax.get_label() == "not_drawn"
    assert ax.texts[0].get_text() == (
        "Not drawn: no change has an estimate and a p-value (not estimable: 1 complete pair; "
        "not estimable: no patient with M9)."
    )
