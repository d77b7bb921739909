"""Estimands (ICH E9(R1)): structured definitions, their table, and docs/estimands.md in sync."""

from pathlib import Path

import pytest

from helpers import config
from helpers.endpoints import estimands
from helpers.everolimus_nk import estimands as trial_estimands

DOC = Path(__file__).resolve().parents[1] / "docs" / "estimands.md"


def _defaults():
    params = config.load_params()
    shared = params["shared"]
    nb = params["notebooks"]["03_nk_function_changes"]
    landmark = trial_estimands.resolve_landmark_months(
        nb["landmark_months"], shared["visit_target_days"], shared["visit_window_days"]
    )
    return trial_estimands.derive_trial_estimands(
        primary_visit=nb["primary_visit"],
        on_treatment_gap_days=shared["on_treatment_gap_days"],
        visit_target_days=shared["visit_target_days"],
        visit_window_days=shared["visit_window_days"],
        landmark_months=landmark,
        primary_nk_endpoints=nb["primary_nk_endpoints"],
        ci_level=shared["ci_level"],
        km_landmarks=nb["km_landmarks"],
        orr_truncation_day=nb["registry_horizon_days"],
    )


def test_docs_estimands_md_is_the_rendering_of_the_definitions():
    expected = trial_estimands.summarise_trial_estimands_doc(_defaults())
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/estimands.md is out of date: regenerate it with "
        "trial_estimands.summarise_trial_estimands_doc (see tests/test_estimands.py::_defaults)"
    )


def test_table_and_document_carry_the_same_estimands():
    ests = _defaults()
    table = estimands.derive_estimand_table(ests)
    text = DOC.read_text(encoding="utf-8")
    assert list(table.columns) == list(estimands.ESTIMAND_TABLE_COLUMNS)
    assert table["role"].iloc[0] == "primary"
    for _, row in table.iterrows():
        assert f"## {row['estimand']} ({row['role']})" in text
        assert f"- **Population:** {row['population']}" in text
        assert f"- **Summary measure:** {row['summary measure']}" in text
    names = " ".join(table["estimand"])
    for word in ("Granzyme B", "NK", "rpS6", "response", "Progression-free", "Overall survival"):
        assert word in names


def test_estimand_text_follows_the_parameters():
    shared = config.load_params()["shared"]
    primary = _defaults()[0]
    gap = shared["on_treatment_gap_days"]
    assert f"more than {gap:g} days after the last dose" in primary.intercurrent_events[0].handling
    width = shared["visit_window_days"]["M3"]
    assert f"± {width:g}" in primary.variable


def test_unknown_strategy_and_role_are_rejected():
    with pytest.raises(ValueError, match="ICH"):
        estimands.IntercurrentEvent("x", "ignore it")
    with pytest.raises(ValueError, match="role"):
        estimands.Estimand("x", "main", "p", "v", (), "s", "m")
    e = estimands.Estimand("x", "primary", "p", "v", (), "s", "m")
    with pytest.raises(ValueError, match="unique"):
        estimands.derive_estimand_table([e, e])


def test_landmark_default_is_the_end_of_the_m3_window():
    months = trial_estimands.resolve_landmark_months(
        None, {"BASELINE": 0, "M3": 91}, {"BASELINE": 28, "M3": 14}
    )
    assert months == pytest.approx(3.45)
    assert months * 30.4375 >= 105
    assert trial_estimands.resolve_landmark_months(3.0, {}, {}) == 3.0
