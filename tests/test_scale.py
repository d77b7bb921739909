"""Scale (issue 17): large inputs take the vectorised / aggregated paths, with the same results
as the small-sample paths where both apply. Small synthetic inputs only (no x100 run here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from helpers.endpoints import stats
from helpers.everolimus_nk import mtor


@pytest.fixture
def close_figs():
    figs: list[Figure] = []
    yield figs
    for fig in figs:
        fig.clf()


def _adwb(n_membranes: int, lanes: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for m in range(n_membranes):
        cal = float(np.exp(rng.normal(0, 0.4)))
        for lane in range(lanes):
            ratio = float(np.exp(rng.normal(-0.5, 0.3))) * cal
            rows.append((f"WB{m:03d}", lane, ratio, cal, ratio / cal, "Y"))
    return pd.DataFrame(rows, columns=["MEMBRANE", "LANE", "RATIO", "CALRATIO", "NRATIO", "EVALFL"])


def test_membrane_figure_strips_up_to_the_cap_then_one_point_per_membrane(close_figs):
    few = mtor.plot_membrane_normalisation(_adwb(mtor.MAX_MEMBRANE_STRIPS))
    many = mtor.plot_membrane_normalisation(_adwb(mtor.MAX_MEMBRANE_STRIPS + 1))
    close_figs += [few, many]
    assert len(few.axes[0].get_xticklabels()) == mtor.MAX_MEMBRANE_STRIPS  # one strip each
    left = many.axes[0]
    assert many.get_size_inches()[0] == pytest.approx(10.0)  # fixed size, not 0.75 in/membrane
    assert "one point per membrane" in left.get_xlabel()
    means = left.collections[0].get_offsets()
    assert len(means) == mtor.MAX_MEMBRANE_STRIPS + 1
    expected = mtor.summarise_membranes(_adwb(mtor.MAX_MEMBRANE_STRIPS + 1))
    assert sorted(means[:, 1]) == pytest.approx(sorted(expected["GM_RATIO"]))


def test_roc_curve_by_binary_search_equals_threshold_loop():
    rng = np.random.default_rng(4)
    truth = rng.random(500) < 0.3
    score = np.round(rng.normal(truth * 1.0, 1.0), 1)  # rounded: many tied thresholds
    curve = stats.compute_roc(truth, score).curve
    thresholds = np.unique(score)[::-1]
    tpr = [(score[truth] >= t).sum() / truth.sum() for t in thresholds]
    fpr = [(score[~truth] >= t).sum() / (~truth).sum() for t in thresholds]
    assert curve["tpr"].tolist() == [0.0, *tpr]
    assert curve["fpr"].tolist() == [0.0, *fpr]


def test_swimmer_above_1000_patients_draws_collections_with_every_patient(close_figs):
    from helpers import plots

    n = 1500
    frame = pd.DataFrame(
        {
            "subject": [f"P{i:04d}" for i in range(n)],
            "start": 0.0,
            "end": np.linspace(0.5, 24.0, n),
            "ongoing": np.arange(n) % 3 == 0,
            "bor": np.where(np.arange(n) % 2 == 0, "PR", "PD"),
        }
    )
    fig = plots.plot_swimmer(frame)
    close_figs.append(fig)
    ax = fig.axes[0]
    bars = [c for c in ax.collections if c.get_gid() == "bars"]
    arrows = [c for c in ax.collections if c.get_gid() == "ongoing_arrow"]
    assert len(bars[0].get_paths()) == n  # every patient is still drawn
    assert len(arrows[0].get_offsets()) == int(frame["ongoing"].sum())
    assert len(ax.patches) <= 1  # no patch per patient (at most the axes background)
    assert fig.get_size_inches()[1] == pytest.approx(11.0)


def test_trajectories_above_500_patients_are_one_line_collection_with_every_segment(close_figs):
    from helpers import plots

    n = 501
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "USUBJID": np.repeat([f"P{i:04d}" for i in range(n)], 3),
            "AVISIT": np.tile(["BASELINE", "M3", "M9"], n),
            "AVAL": rng.lognormal(3, 1, 3 * n),
            "PARAMCD": "GZMB",
            "RSP": np.repeat(np.where(np.arange(n) % 4 == 0, "Y", "N"), 3),
        }
    )
    frame.loc[5, "AVAL"] = np.nan  # a missing visit: that patient has one segment less
    fig = plots.plot_paired_trajectories(frame, group_col="RSP", log=True, visit_order=None)
    close_figs.append(fig)
    ax = fig.axes[0]
    lines = [c for c in ax.collections if c.get_gid() == "trajectories"]
    assert len(lines[0].get_segments()) == 2 * n - 1
    assert len(ax.lines) < n  # no Line2D per patient (only box-plot lines)
    assert lines[0].get_alpha() == pytest.approx(45 / n)


def test_spider_above_500_patients_is_one_collection_starting_at_the_origin(close_figs):
    from helpers import plots

    n = 501
    ovr = pd.DataFrame(
        {
            "USUBJID": np.repeat([f"P{i:04d}" for i in range(n)], 2),
            "ADY": np.tile([43, 85], n),
            "PCHGBL": np.tile([-10.0, -35.0], n),
            "BOR": "PR",
        }
    )
    fig = plots.plot_spider(ovr)
    close_figs.append(fig)
    ax = fig.axes[0]
    spider = next(c for c in ax.collections if c.get_gid() == "spider")
    segments = spider.get_segments()
    assert len(segments) == 2 * n
    assert (segments[0][0] == [0.0, 0.0]).all()  # each patient starts at (0 weeks, 0 %)
    assert not [ln for ln in ax.lines if str(ln.get_gid()).startswith("spider:")]


def test_box_distribution_samples_points_above_2000_per_group_but_box_uses_all(close_figs):
    from helpers import plots

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"v": rng.lognormal(0, 1, 5000), "g": np.where(np.arange(5000) < 4000, "A", "B")}
    )
    fig = plots.plot_distribution(frame, "v", "g", kind="box", log=True)
    close_figs.append(fig)
    ax = fig.axes[0]
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [2000, 1000]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["A\n(n = 4000; 2,000 shown)", "B\n(n = 1000)"]
    medians = [ln.get_ydata()[0] for ln in ax.lines if ln.get_linewidth() == 1.6]
    # the box median is that of every value, not of the sample
    assert medians[0] == pytest.approx(np.median(frame.loc[frame.g == "A", "v"]))


def test_bench_table_prints_every_scale_with_memory_load_and_per_notebook_times(capsys):
    from helpers.config import NOTEBOOK_DAG
    from helpers.pipeline import bench

    rows = [
        {
            "scale": s,
            "runner_s": t,
            "ok": True,
            "peak_mb": 300.0 * s**0.5,
            "load_before": 1.0,
            "load_after": 2.0,
            "notebooks_s": dict.fromkeys(NOTEBOOK_DAG, t / 5),
        }
        for s, t in ((1, 20.0), (10, 30.0), (100, 80.0))
    ]
    bench._print_table(rows)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert out[3].split()[:3] == ["x100", "80.0", "3000"]
    assert "1.0->2.0" in out[1]


def test_qc_listing_caps_at_20_lines_per_rule_above_1000_lines():
    from helpers.data import validation

    def qc(n_per_rule: int) -> pd.DataFrame:
        rows = [
            {c: f"{c}{i}" for c in validation.QC_COLUMNS}
            | {"RULE": rule, "TRIAL": "t", "FILE": "f"}
            for rule in ("A", "B")
            for i in range(n_per_rule)
        ]
        return pd.DataFrame(rows, columns=list(validation.QC_COLUMNS))

    small = qc(500)  # 1,000 lines: listed whole
    assert validation.select_qc_listing(small).equals(small)
    big = qc(501)
    listed = validation.select_qc_listing(big)
    assert listed["RULE"].value_counts().to_dict() == {"A": 20, "B": 20}
    assert listed.index.tolist() == [*range(20), *range(501, 521)]  # first lines, input order
