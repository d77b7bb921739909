"""Biomarker glue: paired values and changes, trajectories, associations with response and PFS,
correlations, landmark analyses."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import stats, survival
from helpers.endpoints.efficacy._common import _ESTIMATE_COLUMNS, _nan_row

# --------------------------------------------------------------------------------------------
# Generic: biomarker pairs and trajectories
# --------------------------------------------------------------------------------------------


def _bm_rows(adbm: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL", "LODFL"])
    rows = adbm[adbm["PARAMCD"].eq(paramcd)]
    if "STIM" in rows.columns and rows["STIM"].nunique(dropna=True) > 1:
        raise ValueError(f"{paramcd} has several STIM levels; filter adbm to one stimulation first")
    if rows.duplicated(["USUBJID", "AVISIT"]).any():
        raise ValueError(f"adbm has several {paramcd} rows per patient and visit")
    # No row of the parameter (its optional table was not supplied, or no sample was taken):
    # empty, so that the analyses downstream report "not available" instead of stopping.
    return rows


def derive_paired_values(
    adbm: pd.DataFrame,
    paramcd: str,
    baseline_visit: str,
    visit: str,
    subjects: Sequence[str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Wide table of one biomarker at two visits, one row per patient, for paired analyses.

    Method: ADBM rows of ``paramcd`` at ``baseline_visit`` and ``visit`` pivoted per patient;
    patients with only one of the two visits are kept with NaN (the paired helpers drop
    incomplete pairs and report N); no row at all when the parameter or a visit has no value
    (the paired helpers then report "not estimable"). ``AVAL`` is used as derived (below-LoD
    values are LoD/2, flagged in ``LODFL``).

    Parameters
    ----------
    adbm : DataFrame
        ``USUBJID, PARAMCD, AVISIT, AVAL, LODFL``.
    paramcd : str
        Biomarker parameter, e.g. ``"CTCCNT"``.
    baseline_visit, visit : str
        The two visits, e.g. ``"C1D1"`` and ``"C2D1"``.
    subjects : sequence of str, optional
        Restrict to these patients (e.g. the treated population); all rows are kept otherwise.

    Returns
    -------
    DataFrame
        ``USUBJID, BASE_VAL, POST_VAL, BASE_LOD, POST_LOD`` (LOD: Y/N, None when missing),
        ``COMPLETE`` (bool).
    """
    rows = _bm_rows(adbm, paramcd)
    if subjects is not None:
        rows = rows[rows["USUBJID"].isin(list(subjects))]
    base = rows[rows["AVISIT"].eq(baseline_visit)].set_index("USUBJID")
    post = rows[rows["AVISIT"].eq(visit)].set_index("USUBJID")
    ids = sorted(set(base.index) | set(post.index))
    out = pd.DataFrame({"USUBJID": ids})
    out["BASE_VAL"] = out["USUBJID"].map(base["AVAL"]).astype(float)
    out["POST_VAL"] = out["USUBJID"].map(post["AVAL"]).astype(float)
    out["BASE_LOD"] = out["USUBJID"].map(base["LODFL"])
    out["POST_LOD"] = out["USUBJID"].map(post["LODFL"])
    out["COMPLETE"] = out["BASE_VAL"].notna() & out["POST_VAL"].notna()
    return out


def derive_trajectory_data(
    adbm: pd.DataFrame,
    paramcd: str,
    bor_table: pd.DataFrame | None = None,
    offset: float = 0.0,
) -> pd.DataFrame:
    """Rows of one biomarker ready for :func:`helpers.plots.plot_paired_trajectories`.

    Method: ADBM rows of ``paramcd`` with ``PLOTVAL = AVAL + offset`` (e.g. ``offset = 1`` to
    draw counts with zeros on a log axis as log(x + 1)); with ``bor_table`` the patients are
    restricted to it and its ``RESPONSE`` group is merged on (patients of the population without
    a response row get "Non-responder" through :func:`derive_bor_table`).

    Returns
    -------
    DataFrame
        The ADBM rows plus ``PLOTVAL`` and, with ``bor_table``, ``RESPONSE``.
    """
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or offset < 0:
        raise ValueError(f"offset must be a number >= 0 (e.g. 1 for log(x + 1)), got {offset!r}")
    rows = _bm_rows(adbm, paramcd).copy()
    if bor_table is not None:
        validate_frame(bor_table, "bor_table", ["USUBJID", "RESPONSE"])
        rows = rows[rows["USUBJID"].isin(bor_table["USUBJID"])]
        rows["RESPONSE"] = rows["USUBJID"].map(bor_table.set_index("USUBJID")["RESPONSE"])
    rows["PLOTVAL"] = rows["AVAL"].astype(float) + float(offset)
    sort = [c for c in ("USUBJID", "AVISITN") if c in rows.columns]
    return rows.sort_values(sort, kind="mergesort").reset_index(drop=True)


def derive_lod_lines(adbm: pd.DataFrame, paramcd: str, unit: str = "") -> dict[float, str]:
    """Limits of detection of one biomarker, as ``{value: label}`` reference lines for plots.

    Method: the derivation stores below-LoD results as ``AVAL = LoD/2`` with ``LODFL = "Y"``,
    so each distinct LoD is ``2 × AVAL`` of those rows (rounded to 6 decimals).

    Returns
    -------
    dict of float to str
        ``{LoD: "LoD <value><unit>"}``; empty when no value is below the LoD.
    """
    rows = _bm_rows(adbm, paramcd)
    lods = sorted({round(2.0 * float(v), 6) for v in rows.loc[rows["LODFL"].eq("Y"), "AVAL"]})
    return {lod: f"LoD {lod:g}{unit}" for lod in lods}


# --------------------------------------------------------------------------------------------
# Generic: associations with response and PFS
# --------------------------------------------------------------------------------------------


#: Smallest group compared between responders and non-responders (below: "not estimable").
MIN_GROUP_SIZE = 2


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _too_small_groups_note(n_resp: int, n_non: int) -> str:
    """``"not estimable: 1 responder"`` naming each group below :data:`MIN_GROUP_SIZE`."""
    parts = [
        _plural(k, word)
        for k, word in ((n_resp, "responder"), (n_non, "non-responder"))
        if k < MIN_GROUP_SIZE
    ]
    return "not estimable: " + ", ".join(parts) + " with a value"


def compute_response_association(
    data: pd.DataFrame,
    variables: Mapping[str, str],
    response_col: str = "RSPFL",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Each variable compared between responders and non-responders (Mann–Whitney, HL shift).

    Method: :func:`helpers.endpoints.stats.compute_mann_whitney` with x = responders (``response_col
    ==
    "Y"``), y = non-responders: two-sided Mann–Whitney U p-value and Hodges–Lehmann shift
    (responders − non-responders) with its distribution-free exact CI (Hollander, Wolfe &
    Chicken 2014, §4.3). Patients with a missing value are dropped per variable. When a group
    has fewer than :data:`MIN_GROUP_SIZE` (2) patients with a value the row is NaN with the note
    "not estimable: 1 responder" (a shift against a single patient is that patient's value, not
    a group comparison), rather than an error, so that a tiny trial still gets its table; with
    fewer than 3 patients in a group the note warns that the CI is unbounded or uninformative.

    Parameters
    ----------
    data : DataFrame
        One row per patient, ``response_col`` (Y/N) and the variables.
    variables : mapping of str to str
        ``{column: label}``, e.g. ``{"MEANRAT": "Mean HER2/CEP17 ratio"}``.
    response_col : str
        Column holding Y (responder) / N.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Estimate table, one row per variable: ``variable, parameter, n (responders), N, estimate,
        ci_lower, ci_upper, ci_level, method, p_value, note``.
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(data, "data", [response_col, *variables])
    if not data[response_col].isin(["Y", "N"]).all():
        raise ValueError(f"{response_col} must be 'Y' or 'N' on every row")
    rows = []
    for col, label in variables.items():
        values = pd.to_numeric(data[col], errors="coerce")
        resp = values[data[response_col].eq("Y")].dropna()
        non = values[data[response_col].eq("N")].dropna()
        parameter = f"{label}: responders − non-responders (HL shift)"
        if min(resp.size, non.size) < MIN_GROUP_SIZE:
            note = _too_small_groups_note(resp.size, non.size)
            rows.append(
                _nan_row(
                    parameter, int(resp.size + non.size), ci_level, stats.METHOD_MANN_WHITNEY, note
                )
            )
            continue
        row = stats.compute_mann_whitney(resp, non, parameter, ci_level).iloc[0].to_dict()
        if min(resp.size, non.size) < 3:
            row["note"] = "; ".join(
                s for s in ("fewer than 3 patients in a group", row["note"]) if s
            )
        rows.append(row)
    out = pd.DataFrame(rows, columns=_ESTIMATE_COLUMNS)
    out.insert(0, "variable", list(variables))
    return out


def compute_pfs_association(
    adtte: pd.DataFrame,
    data: pd.DataFrame,
    covariates: Mapping[str, str],
    paramcd: str = "PFS",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Univariable Cox hazard ratio of a time-to-event parameter per unit of each covariate.

    Method: for each covariate separately, :func:`helpers.endpoints.survival.compute_cox` (Efron
    ties,
    Wald CI and p, Grambsch–Therneau PH test) on the patients with the parameter and a
    non-missing covariate. A fit that is impossible (no event, constant covariate, monotone
    likelihood) gives a NaN row whose note says why, instead of an error. With few events the
    HR is imprecise; the note says "fewer than 10 events per covariate".

    Parameters
    ----------
    adtte : DataFrame
        ``USUBJID, PARAMCD, AVAL, CNSR``.
    data : DataFrame
        One row per ``USUBJID`` with the covariates (numeric, in the unit the HR refers to).
    covariates : mapping of str to str
        ``{column: label}``, the label should carry the unit, e.g. "per 1-unit HER2/CEP17 ratio".
    paramcd : str
        Time-to-event parameter.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Estimate table, one row per covariate: ``variable, parameter, n (events), N, estimate
        (HR), ci_lower, ci_upper, ci_level, method, p_value, ph_test_p, note``.

    References
    ----------
    Cox DR. J R Stat Soc B 1972;34:187-220.
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    validate_frame(data, "data", ["USUBJID", *covariates])
    if data["USUBJID"].duplicated().any():
        raise ValueError("data must have one row per USUBJID")
    tte = adtte[adtte["PARAMCD"].eq(paramcd)][["USUBJID", "AVAL", "CNSR"]]
    covs = data[["USUBJID", *covariates]].astype({"USUBJID": object})  # empty: float64 ids
    merged = tte.astype({"USUBJID": object}).merge(covs, on="USUBJID", how="inner")
    method = "Cox proportional hazards (Efron ties), Wald CI and p"
    rows = []
    for col, label in covariates.items():
        sub = merged[["AVAL", "CNSR", col]].dropna()
        sub = sub.assign(**{col: pd.to_numeric(sub[col]).astype(float)})
        parameter = f"{paramcd} HR {label}"
        try:
            row = survival.compute_cox(sub, [col], ci_level=ci_level).iloc[0].to_dict()
        except ValueError as err:
            rows.append(
                {
                    **_nan_row(parameter, len(sub), ci_level, method, f"not estimable: {err}"),
                    "ph_test_p": math.nan,
                }
            )
            continue
        row["parameter"] = parameter
        rows.append(row)
    out = pd.DataFrame(rows, columns=[*_ESTIMATE_COLUMNS, "ph_test_p"])
    out.insert(0, "variable", list(covariates))
    return out


# --------------------------------------------------------------------------------------------
# Generic: change tables, flag association, correlations
# --------------------------------------------------------------------------------------------


def derive_change_table(
    paired: pd.DataFrame, bor_table: pd.DataFrame | None = None, offset: float = 0.0
) -> pd.DataFrame:
    """Per-patient change between two visits, with the response group when given.

    Method: from :func:`derive_paired_values`, ``CHG = POST_VAL − BASE_VAL`` and the log2 fold
    change ``LOG2FC = log2((POST_VAL + offset) / (BASE_VAL + offset))`` (``offset = 1`` for
    counts with zeros, i.e. log2 of (x + 1); ``offset = 0`` needs positive values, NaN
    otherwise). With ``bor_table`` only its patients are kept and ``RSPFL``/``RESPONSE`` are
    merged on.

    Returns
    -------
    DataFrame
        The ``paired`` columns plus ``CHG, LOG2FC`` (and ``RSPFL, RESPONSE``).
    """
    validate_frame(paired, "paired", ["USUBJID", "BASE_VAL", "POST_VAL"])
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or offset < 0:
        raise ValueError(f"offset must be a number >= 0 (e.g. 1 for counts), got {offset!r}")
    out = paired.copy()
    out["CHG"] = out["POST_VAL"] - out["BASE_VAL"]
    base, post = out["BASE_VAL"] + offset, out["POST_VAL"] + offset
    valid = (base > 0) & (post > 0)
    out["LOG2FC"] = np.log2(post.where(valid) / base.where(valid))
    if bor_table is not None:
        validate_frame(bor_table, "bor_table", ["USUBJID", "RSPFL", "RESPONSE"])
        out = out[out["USUBJID"].isin(bor_table["USUBJID"])]
        out = out.merge(bor_table[["USUBJID", "RSPFL", "RESPONSE"]], on="USUBJID", how="left")
    return out.reset_index(drop=True)


#: Words for the groups of a Y/N flag in "not estimable" notes (others: "patient with X = Y").
_FLAG_GROUPS = {("RSPFL", "Y"): "responder", ("RSPFL", "N"): "non-responder"}


def _flag_group(k: int, col: str, flag: str) -> str:
    word = _FLAG_GROUPS.get((col, flag))
    if word is not None:
        return _plural(k, word)
    return f"{k} patient{'' if k == 1 else 's'} with {col} = {flag}"


def compute_flag_association(
    data: pd.DataFrame,
    exposure_col: str,
    outcome_col: str,
    parameter: str,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Odds ratio between two Y/N flags (e.g. early CTC conversion and response), Fisher exact.

    Method: patients with both flags non-missing; :func:`helpers.endpoints.stats.compute_fisher_or`
    (conditional MLE odds ratio, exact Cornfield CI, Fisher exact two-sided p; Agresti 2013,
    ch. 3). A zero cell gives an estimate of 0 or ∞ with a CI reaching 0 or ∞, the honest
    answer with a handful of patients. When a group of either flag (Y or N) has fewer than
    :data:`MIN_GROUP_SIZE` (2) patients the row has no numbers and the note names it, e.g.
    "not estimable: 1 responder" (with a margin of one the table always has a zero cell, so the
    odds ratio is that patient's own category, 0 or ∞, and Fisher's p cannot be small).

    Returns
    -------
    DataFrame
        One estimate-table row (``n`` = exposed with outcome, ``N`` = patients analysed, ``note``
        = the 2×2 table, or why there is no estimate).
    """
    validate_frame(data, "data", [exposure_col, outcome_col])
    sub = data[[exposure_col, outcome_col]].dropna()
    for col in (exposure_col, outcome_col):
        if not sub[col].isin(["Y", "N"]).all():
            raise ValueError(f"{col} must hold 'Y'/'N' (missing values are dropped)")
    if sub.empty:
        why = f"not estimable: no patient with both {exposure_col} and {outcome_col}"
        return pd.DataFrame(
            [_nan_row(parameter, 0, validate_ci_level(ci_level), stats.METHOD_FISHER, why)],
            columns=_ESTIMATE_COLUMNS,
        )
    small = [
        _flag_group(k, col, flag)
        for col in (outcome_col, exposure_col)
        for flag in ("Y", "N")
        if (k := int(sub[col].eq(flag).sum())) < MIN_GROUP_SIZE
    ]
    if small:
        why = "not estimable: " + ", ".join(small)
        return pd.DataFrame(
            [_nan_row(parameter, len(sub), validate_ci_level(ci_level), stats.METHOD_FISHER, why)],
            columns=_ESTIMATE_COLUMNS,
        )
    return stats.compute_fisher_or(
        parameter=parameter,
        exposure=sub[exposure_col].eq("Y").to_numpy(),
        outcome=sub[outcome_col].eq("Y").to_numpy(),
        ci_level=ci_level,
    )


def compute_correlations(
    data: pd.DataFrame,
    x_cols: Mapping[str, str],
    y_col: str,
    y_label: str,
    n_boot: int = 2000,
    seed: int = 20261121,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Spearman correlation of each ``x_cols`` variable with ``y_col``, bootstrap CI.

    Method: :func:`helpers.endpoints.stats.compute_spearman_bootstrap` (rho and p from scipy
    ``spearmanr``; percentile CI from ``n_boot`` paired resamples with ``seed``); fewer than 3
    complete pairs give a NaN row with a note.

    Returns
    -------
    DataFrame
        Estimate table, one row per x variable, preceded by ``variable``.
    """
    validate_frame(data, "data", [y_col, *x_cols])
    rows = []
    for col, label in x_cols.items():
        parameter = f"Spearman ρ, {label} vs {y_label}"
        pairs = data[[col, y_col]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(pairs) < 3:
            note = f"not estimable: {len(pairs)} complete pair(s)"
            rows.append(_nan_row(parameter, len(pairs), ci_level, "Spearman", note))
            continue
        res = stats.compute_spearman_bootstrap(
            pairs[col], pairs[y_col], parameter, n_boot=n_boot, seed=seed, ci_level=ci_level
        )
        rows.append(res.iloc[0].to_dict())
    out = pd.DataFrame(rows, columns=_ESTIMATE_COLUMNS)
    out.insert(0, "variable", list(x_cols))
    return out


def derive_biomarker_landmark(
    adtte: pd.DataFrame,
    groups: pd.DataFrame,
    landmark_months: float,
    group_col: str = "CTDNAGRP",
    flag_col: str = "EARLYDEC",
    paramcd: str = "PFS",
) -> survival.LandmarkResult:
    """Landmark dataset for a biomarker change known at ``landmark_months``.

    Method: :func:`helpers.endpoints.survival.derive_landmark` (Anderson, Cain & Gelber 1983) on the
    ``paramcd`` rows of patients whose biomarker group is evaluable (``flag_col`` Y/N); patients
    with a non-evaluable change are added to ``excluded`` with that reason, so every patient is
    accounted for.

    Returns
    -------
    helpers.endpoints.survival.LandmarkResult
        ``data`` with ``group_col`` and ``flag_col`` merged on; ``excluded`` with reasons.
    """
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    validate_frame(groups, "groups", ["USUBJID", group_col, flag_col])
    tte = adtte[adtte["PARAMCD"].eq(paramcd)]
    tte = tte[tte["USUBJID"].isin(groups["USUBJID"])]
    evaluable = groups[groups[flag_col].isin(["Y", "N"])]
    res = survival.derive_landmark(
        tte[tte["USUBJID"].isin(evaluable["USUBJID"])],
        landmark_months,
        covariate=evaluable[["USUBJID", group_col, flag_col]],
    )
    not_eval = tte[~tte["USUBJID"].isin(evaluable["USUBJID"])][["USUBJID", "AVAL", "CNSR"]]
    reasons = not_eval["USUBJID"].map(groups.set_index("USUBJID")[group_col])
    extra = not_eval.assign(reason=reasons.to_numpy())
    excluded = pd.concat([res.excluded, extra], ignore_index=True)
    return survival.LandmarkResult(res.data, excluded, res.landmark_months)


def compute_landmark_logrank(landmark: survival.LandmarkResult, group_col: str) -> pd.DataFrame:
    """Log-rank test between the biomarker groups of a landmark dataset, or a NaN row.

    Method: :func:`helpers.endpoints.survival.compute_logrank` on ``landmark.data``; when fewer than
    two
    groups remain at the landmark (a small trial often has one group empty), a row with NaN
    p-value and the note "not estimable: 1 group(s) at the landmark (['a']), 0 patients in any
    other group" is returned instead of an error, so the table keeps its place; groups smaller
    than :data:`helpers.endpoints.survival.LOGRANK_MIN_PATIENTS` are not estimable either.

    Returns
    -------
    DataFrame
        One row: ``parameter, n (events), N, estimate (NaN), ci_lower, ci_upper, ci_level,
        method, p_value, note``.
    """
    if not isinstance(landmark, survival.LandmarkResult):
        raise TypeError("landmark must be a LandmarkResult (see derive_biomarker_landmark)")
    data = landmark.data
    validate_frame(data, "landmark.data", [group_col, "AVAL", "CNSR"])
    levels = data[group_col].dropna().unique()
    if len(levels) >= 2:
        return survival.compute_logrank(data, group_col)
    method = "Log-rank test, chi-square with 1 df"
    note = (
        f"not estimable: {len(levels)} group(s) at the landmark ({list(levels)}), 0 patients in "
        "any other group"
    )
    row = _nan_row(f"Log-rank test by {group_col}", len(data), math.nan, method, note)
    row["n"] = int((data["CNSR"] == 0).sum())
    return pd.DataFrame([row], columns=_ESTIMATE_COLUMNS)
