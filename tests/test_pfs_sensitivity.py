"""PFS sensitivity rule sets and the progression-date reconciliation.

Reference: FDA Guidance for Industry, Clinical Trial Endpoints for the Approval of Cancer Drugs and
Biologics (2018), PFS censoring table (primary: documented progression, censoring after >= 2
missed assessments; sensitivity: clinical progression as an event, no missed-visit censoring).
Expected dates are hand-computed from the toy schedule (assessments every 42 days).
"""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.endpoints import pfs_sensitivity as ps
from helpers.endpoints import survival

D = pd.Timestamp


def _subjects():
    return pd.DataFrame(
        {
            "USUBJID": ["clin", "gap"],
            "TRTSDT": [D("2024-01-01"), D("2024-01-01")],
            # clin: clinical progression on day 61 after one SD scan;
            # gap: RECIST PD on day 300, last adequate scan day 43 (> 2 x 42 + 7 days later)
            "PDDT": [D("2024-03-01"), D("2024-10-26")],
            "PDTYPE": ["clinical", "radiological"],
            "DTHDT": [pd.NaT, pd.NaT],
            "LSTALVDT": [D("2025-01-01"), D("2025-01-01")],
        }
    )


def _assessments():
    return pd.DataFrame(
        {
            "USUBJID": ["clin", "gap", "gap"],
            "ADT": [D("2024-02-12"), D("2024-02-12"), D("2024-10-26")],
            "AVALC": ["SD", "SD", "PD"],
        }
    )


def test_sensitivity_rows_differ_from_fda_exactly_where_their_rule_differs():
    fda = survival.derive_pfs(_subjects(), _assessments(), "2025-06-30").set_index("USUBJID")
    assert fda.loc["clin", "CNSR"] == 1  # clinical progression is not an FDA event
    assert fda.loc["gap", "CNSR"] == 1  # event after >= 2 missed assessments: censored
    sens = ps.derive_pfs_sensitivity(_subjects(), _assessments(), "2025-06-30")
    sens = sens.set_index(["PARAMCD", "USUBJID"])
    assert sens.loc[("PFSCLIN", "clin"), "CNSR"] == 0
    assert sens.loc[("PFSCLIN", "clin"), "ADT"] == D("2024-03-01")
    assert sens.loc[("PFSCLIN", "gap"), "CNSR"] == 1  # keeps the missed-assessment rule
    assert sens.loc[("PFSNOMV", "gap"), "CNSR"] == 0
    assert sens.loc[("PFSNOMV", "gap"), "ADT"] == D("2024-10-26")
    assert sens.loc[("PFSNOMV", "clin"), "CNSR"] == 1  # clinical progression still no event
    assert sens.loc[("PFSANY", "clin"), "CNSR"] == 0
    assert sens.loc[("PFSANY", "gap"), "CNSR"] == 0


def test_reconciliation_lists_progression_without_recist_pd_and_date_shifts():
    subjects = pd.DataFrame(
        {
            "USUBJID": ["ok", "shift", "nopd", "norec"],
            "PDDT": [D("2024-05-01"), D("2024-05-10"), D("2024-05-01"), pd.NaT],
            "PDTYPE": ["radiological", "radiological", "radiological", None],
        }
    )
    assessments = pd.DataFrame(
        {
            "USUBJID": ["ok", "shift", "nopd", "norec"],
            "ADT": [D("2024-05-01"), D("2024-05-01"), D("2024-05-01"), D("2024-05-01")],
            "AVALC": ["PD", "PD", "SD", "PD"],
        }
    )
    out = ps.compute_progression_reconciliation(subjects, assessments).set_index("USUBJID")
    assert list(out.index) == ["shift", "nopd", "norec"]
    assert out.loc["shift", "DIFFDAYS"] == 9
    assert "without any RECIST PD" in out.loc["nopd", "ISSUE"]
    assert "without a radiological progression date" in out.loc["norec", "ISSUE"]
    assert ps.compute_progression_reconciliation(subjects, assessments, 9).shape[0] == 2


def test_without_new_therapy_rule_drops_the_claim():
    rules = ps.without_new_therapy_rule(survival.PFS_RULES_FDA)
    assert not rules.censor_at_new_anticancer_therapy
    assert "new anticancer therapy starts first" not in rules.description
    assert "not applied" in rules.description
    assert rules.name == "PFS_RULES_FDA_NO_NACT"
    sens = ps.derive_pfs_sensitivity(_subjects(), _assessments(), "2025-06-30", rules)
    assert set(sens["RULE"]) == {
        "PFS_RULES_SIMPLE",
        "PFS_RULES_FDA_CLINICAL_NO_NACT",
        "PFS_RULES_FDA_NO_MISSED_NO_NACT",
    }
    with pytest.raises(TypeError):
        ps.without_new_therapy_rule("FDA")


def test_summarise_pfs_sensitivity_counts_patients_that_differ_from_primary():
    subjects, assessments = _subjects(), _assessments()
    primary = survival.derive_pfs(subjects, assessments, "2025-06-30")
    sens = ps.derive_pfs_sensitivity(subjects, assessments, "2025-06-30")
    adtte = pd.concat([primary, sens], ignore_index=True)
    out = ps.summarise_pfs_sensitivity(adtte, subjects["USUBJID"], [6])
    notes = out.groupby("PARAMCD")["note"].first()
    assert notes["PFS"].endswith("0 patient(s) differ from the primary derivation")
    assert notes["PFSANY"].endswith("2 patient(s) differ from the primary derivation")
    assert notes["PFSCLIN"].endswith("1 patient(s) differ from the primary derivation")
    assert notes["PFSNOMV"].endswith("1 patient(s) differ from the primary derivation")
