"""FCS path: reading, compensation, gating (vs FlowKit and vs hand counts), statistics, QC, Dask.

The small FCS set is written once per module by the demo simulator (2 patients, 5,000 events per
file): the CI runs the whole FCS path on it, including a two-worker Dask LocalCluster.
"""

from __future__ import annotations

import math
from pathlib import Path

import flowkit as fk
import numpy as np
import pandas as pd
import pytest

from helpers import cytometry as cy
from helpers import io
from helpers.data import schemas, simulate
from helpers.data.simulate import fcs as sim_fcs
from helpers.everolimus_nk import fcs as nk_fcs
from helpers.everolimus_nk import flow

SEED = 20261121
MODEL = sim_fcs.FcsModel(n_patients=2, events_per_file=5_000, missing_files=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Tables of the demo cohort + a small FCS set (2 patients) written to disk."""
    tables, _ = simulate.simulate_demo_cohort(seed=SEED)
    trial = tmp_path_factory.mktemp("raw") / "everolimus_nk"
    export = tables["everolimus_nk"]["nk_flow"]
    section = sim_fcs.write_fcs_cohort(export, trial, SEED, MODEL)
    folder = trial / sim_fcs.FCS_FOLDER
    sheet = nk_fcs.validate_sample_sheet(io.load_raw_table(folder / sim_fcs.SHEET_NAME))
    strategy = cy.load_gating_strategy(folder / sim_fcs.GATING_NAME)
    return {
        "folder": folder,
        "export": export,
        "truth": section["files"],
        "sheet": sheet,
        "strategy": strategy,
        "plan": cy.compile_gating_plan(strategy),
        "settings": nk_fcs.derive_nk_gating_settings(1_000, 20),
    }


@pytest.fixture(scope="module")
def serial(demo):
    return cy.gate_fcs_files(
        demo["folder"], list(demo["sheet"]["file"]), demo["plan"], demo["settings"], "serial"
    )


# ------------------------------------------------------------------------------------------
# gating equals FlowKit, compensation equals FlowKit
# ------------------------------------------------------------------------------------------
def test_fast_path_counts_equal_flowkit_gate_sample_for_every_gate(demo):
    files = sorted(demo["truth"])[:3]
    for name in files:
        path = demo["folder"] / name
        ours = cy.gate_events(cy.load_fcs(path), demo["plan"])
        ref = cy.gate_with_flowkit(str(path), demo["strategy"])
        assert len(ref) == len(demo["plan"].steps)
        for population, count in zip(ref["population"], ref["count"], strict=True):
            assert ours.count(population) == count, (name, population)


def test_compensation_equals_flowkit_matrix_apply(demo):
    path = demo["folder"] / sorted(demo["truth"])[0]
    fcs = cy.load_fcs(path)
    sample = fk.Sample(str(path), subsample=0)
    matrix = cy.derive_spillover_matrix(fcs)
    sample.apply_compensation(matrix)
    ours = cy.gate_events(fcs, demo["plan"]).compensated
    np.testing.assert_allclose(ours, sample.get_events(source="comp"), rtol=1e-9, atol=1e-6)
    # raw events equal FlowKit's own reading too
    np.testing.assert_array_equal(fcs.events, sample.get_events(source="raw"))


def test_supplied_matrix_replaces_the_spillover_keyword(demo):
    path = demo["folder"] / sorted(demo["truth"])[0]
    fcs = cy.load_fcs(path)
    keyword = cy.derive_spillover_matrix(fcs)
    identity = fk.Matrix(np.eye(len(keyword.detectors)), list(keyword.detectors))
    raw = cy.gate_events(fcs, demo["plan"], compensation=identity).compensated
    np.testing.assert_array_equal(raw, fcs.events)  # identity = no compensation


# ------------------------------------------------------------------------------------------
# truth of the simulator recovered; hand-computed counts
# ------------------------------------------------------------------------------------------
def test_gated_fractions_recover_the_simulator_truth_within_sampling_error(demo):
    parent_of = {
        "Lymphocytes": "events",
        "Single_Cells": "Lymphocytes",
        "CD3neg": "Single_Cells",
        "NK": "CD3neg",
        "CD56bright": "NK",
        "CD56dim": "NK",
        "CD57pos": "CD56dim",
        "NKG2Apos": "NK",
        "KIRpos": "NK",
        "CD107apos": "NK",
        "IFNgpos": "NK",
    }
    worst = 0.0
    for name, truth in demo["truth"].items():
        result = cy.gate_events(cy.load_fcs(demo["folder"] / name), demo["plan"])
        counts = {p.rsplit("/", 1)[-1]: result.count(p) for p in demo["plan"].populations}
        counts["events"] = result.n_events
        # the gates recover the simulated labels exactly ...
        for gate, n in truth["realised_counts"].items():
            if gate in counts:
                assert counts[gate] == n, (name, gate)
        # ... and the labels the true probabilities within binomial sampling error (|z| < 4.5)
        for gate, pct in truth["percent_of_parent"].items():
            n_parent = counts[parent_of[gate]]
            p = pct / 100.0
            se = math.sqrt(p * (1 - p) / n_parent)
            z = (counts[gate] / n_parent - p) / se if se > 0 else 0.0
            worst = max(worst, abs(z))
    assert worst < 4.5


def test_median_fi_and_count_per_ul_recover_the_truth(demo, serial):
    stats = serial.statistics
    nk = "Lymphocytes/Single Cells/CD3-/NK"
    for name, truth in demo["truth"].items():
        rows = stats[(stats["file"] == name) & (stats["population"] == nk)]
        for marker, true_median in truth["nk_median_fi"].items():
            got = rows.loc[(rows["statistic"] == "median_fi") & (rows["marker"] == marker), "value"]
            # log-normal SD 0.35, n >= 200 NK cells: the sample median is within ~10 %
            assert abs(math.log(got.iloc[0] / true_median)) < 0.15, (name, marker)
        if "nk_count_per_ul" in truth:
            got = rows.loc[rows["statistic"] == "count_per_ul", "value"].iloc[0]
            assert abs(math.log(got / truth["nk_count_per_ul"])) < 0.3, name
        else:  # K562 tube: no $VOL, no count per µL
            assert not (rows["statistic"] == "count_per_ul").any()


def _hand_strategy() -> fk.GatingStrategy:
    gs = fk.GatingStrategy()
    gs.add_transform("asinh", fk.transforms.AsinhTransform(param_t=10000, param_m=4, param_a=0))
    cells = fk.gates.RectangleGate("Cells", [fk.Dimension("FSC-A", "uncompensated", None, 40, 100)])
    gs.add_gate(cells, ("root",))
    # B+ on the compensated, arcsinh-transformed scale: asinh-scale 0.75 is about 990 linear
    bpos = fk.gates.RectangleGate("Bpos", [fk.Dimension("B-A", "FCS", "asinh", 0.75, None)])
    gs.add_gate(bpos, ("root", "Cells"))
    return gs


def test_hand_computed_counts_percentages_medians_and_count_per_ul(tmp_path):
    # true (compensated) A and B, spillover A -> B = 0.2: raw B = B + 0.2 A
    fsc = [10, 50, 60, 70, 80, 200, 55, 65]
    a = [0, 10000, 0, 10000, 200, 0, 300, 100]
    b = [0, 0, 5000, 6000, 0, 9000, 0, 4000]
    raw_b = [bi + 0.2 * ai for ai, bi in zip(a, b, strict=True)]
    events = np.column_stack([fsc, a, raw_b])
    cy.write_fcs(
        tmp_path / "hand.fcs",
        events,
        ["FSC-A", "A-A", "B-A"],
        ["", "CDa", "CDb"],
        {"SPILLOVER": "2,A-A,B-A,1,0.2,0,1", "VOL": "2000"},
    )
    fcs = cy.load_fcs(tmp_path / "hand.fcs")
    plan = cy.compile_gating_plan(_hand_strategy())
    result = cy.gate_events(fcs, plan)
    # Cells: FSC in [40, 100): events 2, 3, 4, 5, 7, 8 (1-based) -> 6
    assert result.count("Cells") == 6
    # Bpos among Cells, after compensation: events 3, 4, 8 (B = 5000, 6000, 4000) -> 3.
    # Event 2 (A = 10000, raw B = 2000) is B+ only without compensation.
    assert result.count("Cells/Bpos") == 3
    stats = cy.summarise_gated_statistics(result, volume_ul=cy.derive_volume_ul(fcs.keywords))
    got = stats.set_index(["population", "statistic", "marker"])["value"]
    assert got[("Cells/Bpos", "freq_of_parent", "")] == pytest.approx(50.0)  # 3 of 6
    assert got[("Cells/Bpos", "count_per_ul", "")] == pytest.approx(1.5)  # 3 / 2 µL
    assert got[("Cells/Bpos", "median_fi", "CDb")] == pytest.approx(5000.0)  # 4000, 5000, 6000
    # A of the 6 cells: 10000, 0, 10000, 200, 300, 100 -> median (200 + 300) / 2
    assert got[("Cells", "median_fi", "CDa")] == pytest.approx(250.0)
    ref = cy.gate_with_flowkit(str(tmp_path / "hand.fcs"), _hand_strategy())
    assert dict(zip(ref["population"], ref["count"], strict=True)) == {"Cells": 6, "Cells/Bpos": 3}


# ------------------------------------------------------------------------------------------
# errors and QC
# ------------------------------------------------------------------------------------------
def test_truncated_and_corrupt_fcs_raise_errors_naming_the_file(demo, tmp_path):
    good = (demo["folder"] / sorted(demo["truth"])[0]).read_bytes()
    truncated = tmp_path / "truncated.fcs"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(cy.FcsReadError, match=r"truncated\.fcs"):
        cy.load_fcs(truncated)
    garbage = tmp_path / "garbage.fcs"
    garbage.write_bytes(b"not an FCS file at all" * 10)
    with pytest.raises(cy.FcsReadError, match=r"garbage\.fcs"):
        cy.load_fcs(garbage)
    with pytest.raises(cy.FcsReadError, match=r"missing\.fcs"):
        cy.load_fcs(tmp_path / "missing.fcs")


def test_batch_stops_on_a_corrupt_file_with_its_name(demo, tmp_path):
    (tmp_path / "bad.fcs").write_bytes(b"\x00" * 100)
    with pytest.raises(cy.FcsReadError, match=r"bad\.fcs"):
        cy.gate_fcs_files(tmp_path, ["bad.fcs"], demo["plan"], demo["settings"], "serial")


def test_qc_lists_sheet_mismatches_flow_rate_anomaly_and_margin_events(demo, serial):
    qc = serial.qc
    missing = qc[qc["check"] == "file missing"]
    assert list(missing["file"]) == [demo["sheet"]["file"].iloc[-1]]  # the simulated lost file
    anomalous = {n for n, t in demo["truth"].items() if t["flow_rate_anomaly"]}
    rate = qc[qc["check"] == "flow-rate anomaly"]
    assert set(rate.loc[rate["flag"], "file"]) == anomalous
    margin = qc[qc["check"] == "margin events"]
    assert (margin["value"] > 0).all()
    assert not margin["flag"].any()
    assert qc.loc[qc["check"] == "events in file", "value"].eq(MODEL.events_per_file).all()
    extra = cy.compute_sheet_mismatches(["a.fcs", "b.fcs"], ["b.fcs", "c.fcs"])
    assert list(zip(extra["file"], extra["check"], strict=True)) == [
        ("a.fcs", "file missing"),
        ("c.fcs", "file not in sample sheet"),
    ]


def test_sample_sheet_problems_name_file_row_column_and_rule(demo):
    sheet = demo["sheet"].copy()
    sheet.loc[sheet.index[0], "condition"] = "PMA"
    sheet.attrs["source"] = "sample_sheet.csv"
    with pytest.raises(ValueError, match=r"sample_sheet.csv, row 2, column condition: 'PMA'"):
        nk_fcs.validate_sample_sheet(sheet)


# ------------------------------------------------------------------------------------------
# trial glue: nk_flow rows, concordance
# ------------------------------------------------------------------------------------------
def test_fcs_rows_have_the_nk_flow_shape_pass_the_contract_and_map_to_markers(demo, serial):
    rows = nk_fcs.derive_nk_flow_from_fcs(serial.statistics, demo["sheet"])
    assert list(rows.columns) == list(demo["export"].columns)
    typed = schemas.validate_table(rows, "nk_flow", "everolimus_nk")  # raises on any problem
    assert len(typed) == len(rows)
    markers = flow.derive_flow_markers(rows)
    assert set(markers.markers["PARAMCD"]) >= {"NKPCT", "CD56BR", "CD107AK", "IFNGK", "NKG2D"}
    unmapped = markers.unmapped
    parents = {"Lymphocytes", "Lymphocytes/Single Cells", "Lymphocytes/Single Cells/CD3-"}
    assert set(unmapped["population"]) <= {*parents, "Lymphocytes/Single Cells/CD3-/NK"}


def test_concordance_with_the_export_and_tubes_replaced(demo, serial):
    out = nk_fcs.summarise_nk_fcs(serial, demo["sheet"], demo["export"])
    pct = out.concordance[out.concordance["statistic"] == "freq_of_parent"]
    assert len(pct) == 11
    assert (pct["n_pairs"] > 0).all()
    assert (pct["mean_difference"].abs() < 2.0).all()  # same truth, 5,000 vs export events
    gated = out.fcs_rows[["subject_id", "visit", "stimulation"]].drop_duplicates()
    kept = out.nk_flow.merge(gated, on=["subject_id", "visit", "stimulation"])
    assert len(kept) == len(out.fcs_rows)  # gated tubes come only from FCS
    tube = ["subject_id", "visit", "stimulation"]
    other = demo["export"].merge(gated, on=tube, how="left", indicator=True)
    assert len(out.nk_flow) - len(kept) == int((other["_merge"] == "left_only").sum())


def test_concordance_statistics_on_hand_values():
    keys = {"subject_id": ["1", "2", "3", "4"], "visit": "M3", "stimulation": "none"}
    base = pd.DataFrame({**keys, "population": "P", "statistic": "freq_of_parent", "marker": ""})
    a = base.assign(value=[10.0, 20.0, 30.0, 40.0])
    same = cy.compute_concordance(a, a).iloc[0]
    assert same["ccc"] == pytest.approx(1.0)
    assert same["mean_difference"] == 0.0
    shifted = cy.compute_concordance(a.assign(value=a["value"] + 2), a).iloc[0]
    assert shifted["mean_difference"] == pytest.approx(2.0)
    assert shifted["loa_lower"] == pytest.approx(2.0)
    assert shifted["loa_upper"] == pytest.approx(2.0)
    # Lin 1989: CCC = 2 s_xy / (s_x² + s_y² + (mean_x − mean_y)²) = 2·125 / (125 + 125 + 4)
    assert shifted["ccc"] == pytest.approx(250 / 254)
    one_sided = cy.compute_concordance(a.iloc[:3], a).iloc[0]
    assert one_sided["n_pairs"] == 3
    assert one_sided["n_flowjo_only"] == 1


# ------------------------------------------------------------------------------------------
# Dask
# ------------------------------------------------------------------------------------------
def test_dask_local_cluster_gives_the_serial_result_with_per_file_progress(demo, serial):
    seen = []
    batch = cy.gate_fcs_files(
        demo["folder"],
        list(demo["sheet"]["file"]),
        demo["plan"],
        demo["settings"],
        scheduler=None,
        n_workers=2,
        progress=lambda done, total, out: seen.append((done, total, out.file)),
    )
    assert batch.scheduler == "local:2 workers"
    assert len(seen) == len(serial.files)
    assert seen[-1][0] == seen[-1][1] == len(serial.files)
    pd.testing.assert_frame_equal(batch.statistics, serial.statistics)
    pd.testing.assert_frame_equal(batch.qc, serial.qc)
    assert batch.files["worker"].nunique() >= 1


def test_simulated_fcs_files_are_deterministic(demo, tmp_path):
    section = sim_fcs.write_fcs_cohort(demo["export"], tmp_path, SEED, MODEL)
    for name in list(section["files"])[:2]:
        assert (tmp_path / "fcs" / name).read_bytes() == (demo["folder"] / name).read_bytes()
    assert (
        Path(tmp_path / "fcs" / sim_fcs.GATING_NAME).read_bytes()
        == (demo["folder"] / sim_fcs.GATING_NAME).read_bytes()
    )


def test_flowjo_workspace_is_read_and_gated_like_flowkit_does(demo, tmp_path):
    # a FlowJo 10 workspace of the demo strategy, written by FlowKit's own exporter
    files = sorted(demo["truth"])[:2]
    session = fk.Session(
        gating_strategy=demo["strategy"],
        fcs_samples=[str(demo["folder"] / f) for f in files],
    )
    wsp = tmp_path / "demo.wsp"
    with open(wsp, "wb") as fh:
        session.export_wsp(fh, "All Samples")
    strategy = cy.load_gating_strategy(wsp)
    plan = cy.compile_gating_plan(strategy)
    assert [s.gate_id for s in plan.steps] == [s.gate_id for s in demo["plan"].steps]
    for name in files:
        ours = cy.gate_events(cy.load_fcs(demo["folder"] / name), plan)
        ref = cy.gate_with_flowkit(str(demo["folder"] / name), strategy)
        for population, count in zip(ref["population"], ref["count"], strict=True):
            assert ours.count(population) == count, (name, population)
    with pytest.raises(cy.FcsReadError, match="no FlowJo group"):
        cy.load_gating_strategy(wsp, sample_group="Not a group")


def test_percentages_of_too_small_parents_are_not_estimable_and_flagged(demo):
    strict = nk_fcs.derive_nk_gating_settings(1_000, 400)  # NK parents hold ~250-600 events
    batch = cy.gate_fcs_files(
        demo["folder"], list(demo["sheet"]["file"])[:4], demo["plan"], strict, "serial"
    )
    pct = batch.statistics[batch.statistics["statistic"] == "freq_of_parent"]
    nk_children = pct[pct["parent"] == "Lymphocytes/Single Cells/CD3-/NK"]
    small = batch.qc[(batch.qc["check"] == "events in gate") & batch.qc["flag"]]
    assert not small.empty
    for file in small["file"].unique():
        parents = set(small.loc[small["file"] == file, "population"])
        rows = pct[(pct["file"] == file) & pct["parent"].isin(parents)]
        assert rows["value"].isna().all()
    rows = nk_fcs.derive_nk_flow_from_fcs(batch.statistics, demo["sheet"])
    assert rows["value"].notna().all()  # no empty value reaches the data contract
    assert len(nk_children) > 0


def test_written_fcs_tables_do_not_depend_on_scheduling(demo, serial):
    # timings, worker pids and memory never reach the written datasets (stable hashes)
    tables = nk_fcs.derive_fcs_output_tables(nk_fcs.summarise_nk_fcs(serial, demo["sheet"]))
    for name, table in tables.items():
        assert not {"seconds", "worker", "peak_rss_mb"} & set(table.columns), name
    empty = nk_fcs.derive_fcs_output_tables(None)
    assert set(empty) == set(nk_fcs.FCS_OUTPUT_TABLES)
    assert all(t.empty for t in empty.values())


def test_cytometry_figures(demo, serial):
    from matplotlib.figure import Figure

    from helpers import plots

    name = sorted(demo["truth"])[0]
    gated = cy.gate_events(cy.load_fcs(demo["folder"] / name), demo["plan"])
    fig = plots.plot_gating_strategy(gated, demo["plan"], nk_fcs.NK_GATE_NAMES)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    # 11 gates; CD56bright and CD56dim share one panel
    assert isinstance(fig, Figure)
    assert len(visible) == 10
    assert visible[0].get_title(loc="left").startswith("All events")
    out = nk_fcs.summarise_nk_fcs(serial, demo["sheet"], demo["export"])
    labels = {k: label for k, (_, label) in nk_fcs.QC_KEY_POPULATIONS.items()}
    fig = plots.plot_fcs_qc_overview(out.overview, 1_000, labels)
    assert len(fig.axes) == 3
    empty = plots.plot_fcs_qc_overview(out.overview.iloc[0:0], 1_000, labels)
    assert "Not drawn" in " ".join(t.get_text() for ax in empty.axes for t in ax.texts)
    fig = plots.plot_fcs_concordance(out.pairs[out.pairs["statistic"] == "freq_of_parent"])
    assert fig.axes[0].get_xlabel() == "FlowJo export"
    empty = plots.plot_fcs_concordance(out.pairs.iloc[0:0])
    assert "Not drawn" in " ".join(t.get_text() for ax in empty.axes for t in ax.texts)


def test_unreadable_gating_strategy_names_the_file(tmp_path):
    for name, text in (("broken.xml", "garbage"), ("other.xml", "<a/>")):
        (tmp_path / name).write_text(text)
        with pytest.raises(cy.FcsReadError, match=name.replace(".", r"\.")):
            cy.load_gating_strategy(tmp_path / name)


def test_fcs_folder_without_sheet_is_an_error_and_no_folder_means_no_fcs(demo, tmp_path):
    assert nk_fcs.gate_nk_fcs_folder(tmp_path / "absent", "nk_gating.xml", 1_000, 20) is None
    name = sorted(demo["truth"])[0]
    (tmp_path / name).write_bytes((demo["folder"] / name).read_bytes())
    with pytest.raises(ValueError, match="no sample_sheet"):
        nk_fcs.gate_nk_fcs_folder(tmp_path, "nk_gating.xml", 1_000, 20)


@pytest.mark.parametrize(
    ("n_files", "threads", "expected"),
    [(0, 2, 1), (5, 0, 1), (1, 2, 1), (8, 2, 2), (9, 2, 3), (24, 2, 6), (48, 2, 8), (999, 64, 8)],
)
def test_files_per_task_gives_about_two_tasks_per_worker_thread(n_files, threads, expected):
    assert cy.derive_files_per_task(n_files, threads) == expected


def test_files_per_task_is_checked(demo):
    with pytest.raises(ValueError, match="files_per_task"):
        cy.gate_fcs_files(
            demo["folder"],
            list(demo["sheet"]["file"]),
            demo["plan"],
            demo["settings"],
            n_workers=1,
            files_per_task=0.5,
        )
