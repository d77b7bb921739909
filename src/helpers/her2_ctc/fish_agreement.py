"""HER2 FISH on CTCs: agreement between the two readers (kappa, ICC, discordance) and between FISH
and immunofluorescence (sensitivity, specificity, AUC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import stats
from helpers.her2_ctc import ctc
from helpers.her2_ctc.screening import (
    _ADCELL_COLUMNS,
    _CLUSTER_NOTE,
    _frame,
    _not_estimable,
    _proportion,
)

#: Ordered HER2 immunofluorescence scores.
IF_SCORES: tuple[str, ...] = ("0", "1+", "2+", "3+")


# --------------------------------------------------------------------------------------------
# reproducibility between readers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderAgreement:
    """Reproducibility of CTC FISH between two readers.

    Attributes
    ----------
    table : pandas.DataFrame
        Estimate table (rows: cell kappa, cell discordance, ICC(2,1) of the ratio, Bland–Altman
        bias and limits on log2 ratio, patient kappa, patient discordance).
    pairs : pandas.DataFrame
        Cells evaluable by both readers (see :class:`helpers.her2_ctc.ctc.ReaderPairs`), plus
        LOG2_R1,
        LOG2_R2.
    dropped : pandas.DataFrame
        Double-read cells not evaluable by at least one reader, with the reason.
    patient_calls : pandas.DataFrame
        USUBJID, AMP_R1, AMP_R2 (Y/N: >= 1 amplified CTC among the double-read cells).
    bland_altman : helpers.endpoints.stats.BlandAltmanResult
        Bland–Altman result on log2 ratio (no points and "not estimable" rows with fewer than 2
        pairs).
    """

    table: pd.DataFrame
    pairs: pd.DataFrame
    dropped: pd.DataFrame
    patient_calls: pd.DataFrame
    bland_altman: stats.BlandAltmanResult


def _discordance_row(a: pd.Series, b: pd.Series, parameter: str, ci_level: float, note: str):
    return _proportion(int((a != b).sum()), len(a), parameter, ci_level, note)


def _kappa_row(a: pd.Series, b: pd.Series, parameter: str, ci_level: float, note: str) -> dict:
    if a.empty:
        return _not_estimable(parameter, 0, stats.METHOD_KAPPA, ci_level, "no pair")
    row = stats.compute_cohen_kappa(a, b, parameter, ci_level, categories=["N", "Y"]).iloc[0]
    return row.to_dict() | {"note": "; ".join(s for s in (row["note"], note) if s)}


def _icc_row(pairs: pd.DataFrame, ci_level: float) -> dict:
    parameter = "ICC(2,1), HER2/CEP17 ratio per CTC, R1 vs R2"
    method = "ICC(2,1), Shrout & Fleiss ANOVA estimator, F-based CI"
    ratios = pairs[["RATIO_R1", "RATIO_R2"]].to_numpy(dtype=float)
    if len(pairs) < 2 or np.ptp(ratios) == 0:
        return _not_estimable(
            parameter, len(pairs), method, ci_level, "fewer than 2 pairs or no variation"
        )
    long = pd.DataFrame(
        {
            "CELL": np.tile(pairs["USUBJID"] + "/" + pairs["CELLID"], 2),
            "READER": np.repeat(["R1", "R2"], len(pairs)),
            "RATIO": ratios.T.ravel(),
        }
    )
    row = stats.compute_icc(long, "CELL", "READER", "RATIO", "ICC(2,1)", ci_level, parameter)
    out = row.iloc[0].to_dict()
    return out | {"note": "; ".join(s for s in (out["note"], _CLUSTER_NOTE) if s)}


def _patient_calls(pairs: pd.DataFrame) -> pd.DataFrame:
    # a patient is amplified when any of its CTCs is: grouped any() on booleans, no lambda
    amp = pairs[["AMPFL_R1", "AMPFL_R2"]].eq("Y").groupby(pairs["USUBJID"], sort=True).any()
    return (
        amp.replace({True: "Y", False: "N"})
        .astype(object)
        .set_axis(["AMP_R1", "AMP_R2"], axis=1)
        .rename_axis("USUBJID")
        .reset_index()
    )


def _no_bland_altman(parameter: str, n_pairs: int, reader_b: str, ci_level: float):
    """An empty Bland–Altman result whose rows say why (fewer than 2 double-read CTCs)."""
    why = (
        f"no CTC read by both readers (no {reader_b} reading)"
        if n_pairs == 0
        else f"{n_pairs} CTC read by both readers; Bland–Altman needs at least 2"
    )
    rows = [
        _not_estimable(f"{parameter}: {what}", n_pairs, stats.agreement.METHOD_BA, ci_level, why)
        for what in ("bias", "lower limit of agreement", "upper limit of agreement")
    ]
    return stats.BlandAltmanResult(pd.DataFrame(rows), np.array([]), np.array([]))


def compute_reader_agreement(
    cells: pd.DataFrame, ci_level: float = 0.95, reader_a: str = "R1", reader_b: str = "R2"
) -> ReaderAgreement:
    """Inter-reader reproducibility of CTC FISH, per cell and per patient.

    Method, on cells scoreable by both readers (:func:`helpers.her2_ctc.ctc.derive_reader_pairs`):

    * amplified call per CTC: Cohen's kappa with asymptotic CI (Fleiss, Cohen & Everitt 1969) and
      the proportion of discordant calls with Clopper–Pearson CI;
    * HER2/CEP17 ratio per CTC: ICC(2,1) (two-way random, absolute agreement; Shrout & Fleiss
      1979) with F-based CI;
    * Bland–Altman on the **log2 ratio** (reader A minus B): the ratio is a quotient of counts whose
      spread grows with its level, so the difference is taken on the log scale; a bias of b means
      reader A reads ratios 2^b times those of reader B (Bland & Altman 1986, 1999);
    * per patient: HER2-amplified status (>= 1 amplified CTC) from each reader **on the cells both
      read**, compared by Cohen's kappa and proportion discordant.

    Cell-level CIs treat CTCs as independent (noted in the table).

    Parameters
    ----------
    cells : pandas.DataFrame
        ``adcell`` (or :attr:`ScreeningCalls.cells`).
    ci_level : float, default 0.95
        Two-sided confidence level.
    reader_a, reader_b : str, default "R1", "R2"
        The two readers.

    Returns
    -------
    ReaderAgreement
        ``table`` (estimate table with a leading ``level`` column "CTC"/"patient"), ``pairs``,
        ``dropped``, ``patient_calls``, ``bland_altman``.

    References
    ----------
    Cohen J. Educ Psychol Meas 1960;20:37-46. Shrout PE, Fleiss JL. Psychol Bull 1979;86:420-428.
    Bland JM, Altman DG. Lancet 1986;1:307-310; Stat Methods Med Res 1999;8:135-160.
    """
    validate_frame(cells, "cells", (*_ADCELL_COLUMNS, "RATIO"))
    ci_level = validate_ci_level(ci_level)
    reader_pairs = ctc.derive_reader_pairs(cells, reader_a, reader_b)
    pairs = reader_pairs.pairs.copy()
    pairs["LOG2_R1"] = np.log2(pairs["RATIO_R1"].astype(float))
    pairs["LOG2_R2"] = np.log2(pairs["RATIO_R2"].astype(float))
    pat = (
        _patient_calls(pairs)
        if len(pairs)
        else pd.DataFrame(columns=["USUBJID", "AMP_R1", "AMP_R2"])
    )
    vs = f"{reader_a} vs {reader_b}"
    cell_rows = [
        _kappa_row(
            pairs["AMPFL_R1"], pairs["AMPFL_R2"], f"Cohen's kappa, amplified call per CTC, {vs}",
            ci_level, _CLUSTER_NOTE,
        ),
        _discordance_row(
            pairs["AMPFL_R1"], pairs["AMPFL_R2"], f"Discordant amplified call per CTC, {vs}",
            ci_level, _CLUSTER_NOTE,
        ),
        _icc_row(pairs, ci_level),
    ]  # fmt: skip
    ba = _no_bland_altman(
        f"log2 HER2/CEP17 ratio, {reader_a} − {reader_b}", len(pairs), reader_b, ci_level
    )
    if len(pairs) >= 2:
        ba = stats.compute_bland_altman(
            pairs["LOG2_R1"], pairs["LOG2_R2"], f"log2 HER2/CEP17 ratio, {reader_a} − {reader_b}",
            ci_level,
        )  # fmt: skip
        cell_rows += [r | {"note": _CLUSTER_NOTE} for r in ba.table.to_dict("records")]
    patient_rows = [
        _kappa_row(
            pat["AMP_R1"], pat["AMP_R2"],
            f"Cohen's kappa, patient HER2-amplified status on double-read CTCs, {vs}", ci_level, "",
        ),
        _discordance_row(
            pat["AMP_R1"], pat["AMP_R2"],
            f"Discordant patient HER2-amplified status on double-read CTCs, {vs}", ci_level, "",
        ),
    ]  # fmt: skip
    table = _frame(
        [{"level": "CTC"} | r for r in cell_rows]
        + [{"level": "patient"} | r for r in patient_rows],
        ("level",),
    )
    return ReaderAgreement(table, pairs, reader_pairs.dropped, pat, ba)


def summarise_reader_agreement_sentence(agreement: ReaderAgreement) -> str:
    """One sentence giving the size of the reproducibility sample and the cells set aside."""
    if not isinstance(agreement, ReaderAgreement):
        raise TypeError("agreement must be the ReaderAgreement of compute_reader_agreement")
    n_pairs, n_pat = len(agreement.pairs), len(agreement.patient_calls)
    return (
        f"{n_pairs} CTCs from {n_pat} patients were scoreable by both readers; "
        f"{len(agreement.dropped)} double-read CTCs not scoreable by at least one reader were "
        "set aside."
    )


# --------------------------------------------------------------------------------------------
# FISH vs immunofluorescence
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FishIfAgreement:
    """HER2 immunofluorescence (IF) against the FISH amplified call, per CTC.

    Attributes
    ----------
    cross_table : pandas.DataFrame
        IF score (rows 0, 1+, 2+, 3+, Total) by FISH call (columns "FISH amplified",
        "FISH not amplified", "Total").
    table : pandas.DataFrame
        Estimate table: sensitivity, specificity, PPV, NPV of IF >= ``positive_score``, Cohen's
        kappa, AUC of IF intensity.
    roc : helpers.endpoints.stats.RocResult
        ROC curve and AUC row (empty curve and a "not estimable" row when only one FISH class,
        or no IF result, is present).
    cells : pandas.DataFrame
        The CTCs analysed: USUBJID, CELLID, AMPFL, IFSCORE, IFINT, IFPOS (Y/N), FISHCALL
        ("FISH amplified" / "FISH not amplified", for figure labels).
    positive_score : str
        Lowest IF score counted as IF-positive.
    """

    cross_table: pd.DataFrame
    table: pd.DataFrame
    roc: stats.RocResult
    cells: pd.DataFrame
    positive_score: str


def _if_cells(cells: pd.DataFrame, reader: str, positive_score: str) -> pd.DataFrame:
    own = cells[(cells["READER"] == reader) & cells["EVALFL"].eq("Y") & cells["IFSCORE"].notna()]
    out = own[["USUBJID", "CELLID", "AMPFL", "IFSCORE", "IFINT"]].reset_index(drop=True)
    unknown = sorted(set(out["IFSCORE"].astype(str)) - set(IF_SCORES))
    if unknown:
        raise ValueError(f"IFSCORE must be one of {list(IF_SCORES)}, found {unknown}")
    rank = out["IFSCORE"].astype(str).map({s: i for i, s in enumerate(IF_SCORES)})
    out["IFPOS"] = np.where(rank >= IF_SCORES.index(positive_score), "Y", "N")
    out["FISHCALL"] = out["AMPFL"].map({"Y": "FISH amplified", "N": "FISH not amplified"})
    return out


def _if_cross_table(data: pd.DataFrame) -> pd.DataFrame:
    if data.empty:  # no IF result: every count is 0
        calls = ["FISH amplified", "FISH not amplified", "Total"]
        rows = pd.Index([*(f"IF {s}" for s in IF_SCORES), "Total"], name="IF score")
        return pd.DataFrame(0, index=rows, columns=pd.Index(calls, name="FISH call"))
    table = pd.crosstab(
        pd.Categorical(data["IFSCORE"].astype(str), categories=list(IF_SCORES)),
        pd.Categorical(data["FISHCALL"], categories=["FISH amplified", "FISH not amplified"]),
        dropna=False,
    )
    table.index = pd.Index([f"IF {s}" for s in IF_SCORES], name="IF score")
    table.columns = pd.Index(list(table.columns), name="FISH call")
    table["Total"] = table.sum(axis=1)
    table.loc["Total"] = table.sum(axis=0)
    return table.astype(int)


def compute_fish_if_agreement(
    cells: pd.DataFrame, positive_score: str = "2+", reader: str = "R1", ci_level: float = 0.95
) -> FishIfAgreement:
    """Agreement of HER2 immunofluorescence with the FISH amplified call on the same CTCs.

    Method, on CTCs scoreable by FISH (``reader``) with an IF result: cross table IF score by FISH
    call; sensitivity, specificity, PPV and NPV of IF >= ``positive_score`` against FISH as the
    reference, with Clopper–Pearson CIs
    (:func:`helpers.endpoints.stats.compute_diagnostic_accuracy`);
    Cohen's kappa between the two binary calls; empirical ROC curve and AUC of the continuous IF
    intensity for FISH amplification with DeLong CI (:func:`helpers.endpoints.stats.compute_roc`).
    CTCs are
    treated as independent (clustered within patients: CIs may be too narrow). PPV and NPV depend
    on the share of amplified CTCs in this sample.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``adcell`` (or :attr:`ScreeningCalls.cells`) with IFSCORE, IFINT.
    positive_score : {"1+", "2+", "3+"}, default "2+"
        Lowest IF score read as IF-positive.
    reader : str, default "R1"
        FISH reader used as reference.
    ci_level : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    FishIfAgreement

    References
    ----------
    Clopper & Pearson 1934; Cohen 1960; DeLong ER et al. Biometrics 1988;44:837-845.
    """
    validate_frame(cells, "cells", (*_ADCELL_COLUMNS, "IFSCORE", "IFINT"))
    if positive_score not in IF_SCORES[1:]:
        raise ValueError(
            f"positive_score must be one of {list(IF_SCORES[1:])}, got {positive_score!r}"
        )
    ci_level = validate_ci_level(ci_level)
    data = _if_cells(cells, reader, positive_score)
    auc_parameter = "AUC of HER2 IF intensity for FISH amplification (per CTC)"
    empty_roc = pd.DataFrame({"fpr": [], "tpr": [], "threshold": []})
    if data.empty:
        why = f"table ctc_if not supplied (no CTC scoreable by {reader} has an IF result)"
        row = _not_estimable(auc_parameter, 0, stats.METHOD_ROC, ci_level, why)
        row["note"] = f"not available: {why}"
        roc = stats.RocResult(empty_roc, _frame([row]))
        return FishIfAgreement(_if_cross_table(data), _frame([row]), roc, data, positive_score)
    truth = data["AMPFL"].eq("Y")
    test = data["IFPOS"].eq("Y")
    label = f"IF ≥{positive_score} vs FISH amplified (per CTC): "
    accuracy = stats.compute_diagnostic_accuracy(truth, test, ci_level, parameter_prefix=label)
    rows = [r | {"note": _CLUSTER_NOTE} for r in accuracy.table.to_dict("records")]
    rows.append(
        _kappa_row(data["IFPOS"], data["AMPFL"], f"{label}Cohen's kappa", ci_level, _CLUSTER_NOTE)
    )
    if truth.all() or not truth.any():
        row = _not_estimable(auc_parameter, len(data), stats.METHOD_ROC, ci_level, "one FISH class")
        rows.append(row)
        roc = stats.RocResult(empty_roc, _frame([row]))
    else:
        roc = stats.compute_roc(truth, data["IFINT"], ci_level, auc_parameter)
        auc = roc.table.iloc[0].to_dict()
        rows.append(auc | {"note": "; ".join(s for s in (auc["note"], _CLUSTER_NOTE) if s)})
    return FishIfAgreement(_if_cross_table(data), _frame(rows), roc, data, positive_score)


# --------------------------------------------------------------------------------------------
# Clustered CTC-level statistics and the patient-level FISH vs IF table
# --------------------------------------------------------------------------------------------


def compute_clustered_agreement(
    cells: pd.DataFrame,
    positive_score: str = "2+",
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    reader_a: str = "R1",
    reader_b: str = "R2",
) -> pd.DataFrame:
    """CTC-level agreement and accuracy with CIs that respect the clustering of CTCs in patients.

    Method, with patient-cluster bootstrap percentile CIs
    (:func:`helpers.endpoints.stats.compute_cluster_bootstrap_sums` for the statistics of counts
    and sums, :func:`~helpers.endpoints.stats.compute_cluster_bootstrap` for the AUC; the same
    resamples for the same ``seed``):

    * reader ``reader_a`` vs ``reader_b`` on CTCs scoreable by both: Cohen's kappa of the amplified
      call, proportions of specific positive and negative agreement (Cicchetti & Feinstein 1990),
      ICC(2,1) of the **log2** HER2/CEP17 ratio (Shrout & Fleiss 1979; the log makes the ratio's
      spread independent of its level), also with its F-based CI for comparison;
    * IF ≥ ``positive_score`` vs the FISH amplified call (``reader_a``): sensitivity, specificity,
      AUC of the IF intensity.

    Returns
    -------
    DataFrame
        Estimate table, one row per statistic.

    References
    ----------
    Cicchetti DV, Feinstein AR. J Clin Epidemiol 1990;43:551–558. Davison AC, Hinkley DV 1997,
    §3.8. Shrout PE, Fleiss JL. Psychol Bull 1979;86:420–428.
    """
    ci_level = validate_ci_level(ci_level)
    pairs = ctc.derive_reader_pairs(cells, reader_a, reader_b).pairs
    rows = []
    boot = {"n_boot": n_boot, "seed": seed, "ci_level": ci_level}
    who = f"{reader_a} vs {reader_b} (per CTC)"
    if len(pairs) >= 2:
        amp_a = pairs[f"AMPFL_{reader_a}"].eq("Y").to_numpy()
        amp_b = pairs[f"AMPFL_{reader_b}"].eq("Y").to_numpy()
        log2 = np.log2(pairs[[f"RATIO_{reader_a}", f"RATIO_{reader_b}"]].to_numpy(dtype=float))
        ids = pairs["USUBJID"]
        for name, make in (
            ("Cohen's kappa, amplified call", stats.kappa_statistic),
            ("positive agreement, amplified call", stats.positive_agreement_statistic),
            ("negative agreement, amplified call", stats.negative_agreement_statistic),
        ):
            rows.append(
                stats.compute_cluster_bootstrap_sums(
                    ids, make(amp_a, amp_b), f"{name}, {who}", **boot
                )
            )
        rows.append(
            stats.compute_cluster_bootstrap_sums(
                ids, stats.icc_statistic(log2), f"ICC(2,1), log2 ratio, {who}", **boot
            )
        )
        long = pd.DataFrame(
            {
                "CELL": np.tile((pairs["USUBJID"] + "/" + pairs["CELLID"]).to_numpy(), 2),
                "READER": np.repeat([reader_a, reader_b], len(pairs)),
                "LOG2": log2.T.ravel(),
            }
        )
        rows.append(
            stats.compute_icc(
                long, "CELL", "READER", "LOG2", "ICC(2,1)", ci_level,
                f"ICC(2,1), log2 ratio, {who}, F-based CI (CTCs as independent)",
            )
        )  # fmt: skip
    data = _if_cells(cells, reader_a, positive_score)
    if len(data) >= 2:
        truth = data["AMPFL"].eq("Y").to_numpy()
        test = data["IFPOS"].eq("Y").to_numpy()
        intensity = data["IFINT"].to_numpy(dtype=float)
        ids = data["USUBJID"]
        label = f"IF ≥{positive_score} vs FISH amplified (per CTC)"

        sensitivity = stats.proportion_statistic(test, truth)
        specificity = stats.proportion_statistic(~test, ~truth)
        rows.append(
            stats.compute_cluster_bootstrap_sums(ids, sensitivity, f"{label}: sensitivity", **boot)
        )
        rows.append(
            stats.compute_cluster_bootstrap_sums(ids, specificity, f"{label}: specificity", **boot)
        )
        rows.append(
            stats.compute_cluster_bootstrap(
                ids,
                stats.auc_statistic(truth, intensity),
                "AUC of HER2 IF intensity for FISH amplification (per CTC)",
                **boot,
            )
        )
    if not rows:
        return _frame([_not_estimable("CTC-level agreement", 0, "", ci_level, "no data")])
    return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class PatientFishIf:
    """Patient-level FISH vs IF: per-patient calls, the 2×2 table and accuracy rows."""

    patients: pd.DataFrame
    cross_table: pd.DataFrame
    table: pd.DataFrame


def compute_patient_fish_if(
    cells: pd.DataFrame, positive_score: str = "2+", reader: str = "R1", ci_level: float = 0.95
) -> PatientFishIf:
    """FISH vs IF per patient: ≥1 FISH-amplified CTC against ≥1 IF-positive CTC.

    Method: among the CTCs with both a FISH reading (``reader``, scoreable) and an IF result, a
    patient is FISH-positive with ≥1 amplified CTC and IF-positive with ≥1 CTC scored ≥
    ``positive_score`` (the eligibility question asked of each test). Sensitivity, specificity,
    PPV, NPV with Clopper–Pearson CIs and Cohen's kappa, patients being independent.

    Returns
    -------
    PatientFishIf
        ``patients`` (USUBJID, NCTC, FISHPOS, IFPOS), ``cross_table`` (2×2 with totals) and
        ``table`` (estimate rows).
    """
    ci_level = validate_ci_level(ci_level)
    data = _if_cells(cells, reader, positive_score)
    grouped = data.groupby("USUBJID", sort=True)
    patients = pd.DataFrame(
        {
            "NCTC": grouped.size(),
            "FISHPOS": grouped["AMPFL"].agg(lambda s: "Y" if s.eq("Y").any() else "N"),
            "IFPOS": grouped["IFPOS"].agg(lambda s: "Y" if s.eq("Y").any() else "N"),
        }
    ).reset_index()
    if patients.empty:  # no IF result (ctc_if not supplied): every count is 0
        cross = pd.DataFrame(0, index=range(2), columns=range(2))
    else:
        cross = pd.crosstab(
            pd.Categorical(patients["IFPOS"], categories=["Y", "N"]),
            pd.Categorical(patients["FISHPOS"], categories=["Y", "N"]),
            dropna=False,
        )
    cross.index = pd.Index(["IF positive", "IF negative"], name="IF (≥1 CTC)")
    cross.columns = pd.Index(["FISH amplified", "FISH not amplified"], name="FISH (≥1 CTC)")
    cross["Total"] = cross.sum(axis=1)
    cross.loc["Total"] = cross.sum(axis=0)
    label = f"IF ≥{positive_score} vs FISH amplified (per patient): "
    if patients.empty:
        row = _not_estimable(label, 0, "", ci_level, "no patient with both tests")
        row["note"] = "not available: table ctc_if not supplied (no patient with an IF result)"
        table = _frame([row])
    else:
        truth, test = patients["FISHPOS"].eq("Y"), patients["IFPOS"].eq("Y")
        rows = stats.compute_diagnostic_accuracy(
            truth, test, ci_level, parameter_prefix=label
        ).table.to_dict("records")
        rows.append(
            _kappa_row(
                patients["IFPOS"], patients["FISHPOS"], f"{label}Cohen's kappa", ci_level, ""
            )
        )
        table = _frame(rows)
    return PatientFishIf(patients, cross.astype(int), table)
