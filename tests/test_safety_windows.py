"""AE windows and AESI counts.

References: registry wording of the HER2-CTC/T-DM1 trial (NCT01975142) "Toxicity of the treatment
from first intake until disease progression"; ICH E3 §12.2 (patients counted once per term at the
worst grade); Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (0/17: upper limit
1 - 0.025^(1/17)). Expected flags are hand-derived.
"""

from __future__ import annotations

import pandas as pd
import pytest

from helpers.endpoints import safety_windows as sw

D = pd.Timestamp


def _data():
    adsl = pd.DataFrame(
        {"USUBJID": ["a", "b", "c"], "TRTSDT": [D("2024-01-01")] * 3, "SAFFL": ["Y", "Y", "Y"]}
    )
    adae = pd.DataFrame(
        {
            "USUBJID": ["a", "a", "b", "c"],
            "AESEQ": [1, 2, 1, 1],
            "AEDECOD": ["Thrombocytopenia", "Nausea", "Platelet count decreased", "Fatigue"],
            "AETOXGR": [3, 1, 2, 1],
            "ASTDT": [D("2024-02-01"), D("2024-06-01"), D("2024-03-01"), D("2024-03-01")],
            "TRTEMFL": ["Y", "Y", "Y", "Y"],
        }
    )
    progression = pd.Series({"a": D("2024-05-01")})  # b and c never progress
    return adsl, adae, progression


def test_registry_window_drops_aes_after_progression_only():
    adsl, adae, progression = _data()
    out = sw.derive_window_to_progression(adae, adsl, progression)
    assert out["TRTEMFL"].tolist() == ["Y", "N", "Y", "Y"]  # a's nausea follows progression
    assert out["TRTEMFL_PRIMARY"].tolist() == ["Y"] * 4


def test_aesi_groups_count_patients_once_at_worst_grade_and_keep_empty_groups():
    adsl, adae, _ = _data()
    groups = {"Thrombocytopenia": ["thrombocytopenia", "Platelet count decreased"], "LVEF": ["X"]}
    out = sw.summarise_aesi(adae, adsl, groups).set_index("parameter")
    assert out.loc["AESI: Thrombocytopenia, any grade", "n"] == 2
    assert out.loc["AESI: Thrombocytopenia, grade ≥3", "n"] == 1
    assert out.loc["AESI: LVEF, any grade", "n"] == 0
    assert out.loc["AESI: LVEF, any grade", "terms"] == "none observed"
    assert out.loc["AESI: LVEF, any grade", "ci_upper"] == pytest.approx(1 - 0.025 ** (1 / 3))
