"""Shared argument checks: wrong kind -> TypeError, wrong value -> ValueError, saying the fix."""

import pandas as pd
import pytest

from helpers.checks import validate_ci_level, validate_frame, validate_unique


def test_ci_level_accepts_fractions_and_rejects_percent_bool_and_text():
    assert validate_ci_level(0.9) == 0.9
    with pytest.raises(ValueError, match=r"between 0 and 1 \(e.g. 0.95\)"):
        validate_ci_level(95)
    with pytest.raises(TypeError, match=r"number such as 0\.95"):
        validate_ci_level(True)
    with pytest.raises(TypeError, match=r"number such as 0\.95"):
        validate_ci_level("95%")


def test_frame_check_names_missing_columns_and_points_to_the_dictionary():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['AVAL'\].*data_dictionary"):
        validate_frame(pd.DataFrame({"USUBJID": ["a"]}), "adtte", ["USUBJID", "AVAL"])
    with pytest.raises(TypeError, match="adtte must be a pandas DataFrame"):
        validate_frame([1, 2], "adtte", ["AVAL"])


def test_unique_check_shows_duplicated_keys():
    df = pd.DataFrame({"USUBJID": ["a", "a", "b"], "VISIT": [1, 1, 1]})
    with pytest.raises(ValueError, match=r"duplicated key .*'USUBJID': 'a'"):
        validate_unique(df, ["USUBJID", "VISIT"], "adbm")
    validate_unique(df.drop_duplicates(), ["USUBJID", "VISIT"], "adbm")
