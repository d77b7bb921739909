"""HER2 FISH on circulating tumour cells (CTCs): per-cell calls, patient summary, screening flow.

The HER2-CTC/T-DM1 trial screens patients with HER2-negative metastatic breast cancer for
HER2-amplified CTCs (CellSearch enrichment, then HER2/CEP17 FISH on each CTC). A patient with at
least one amplified CTC is eligible for T-DM1.

Conventions used here (assumptions of this analysis, stated so they can be changed in one place):

* A CTC is **amplified** when its HER2/CEP17 ratio is ``>= ISH_THRESHOLD_DEFAULT`` (2.2), the
  cut-off of the trial (Jacot W et al., Breast Cancer Res 2019;21:121; NCT01975142). The
  ASCO/CAP 2018 group-1 ratio 2.0 scores >= 20 tumour nuclei in tissue, not single cells; it is
  used here only as a sensitivity analysis (:data:`SENSITIVITY_RATIO_THRESHOLD`).
* A CTC is **evaluable** when it shows at least ``MIN_HER2_SIGNALS_DEFAULT`` (1) HER2 signal and
  at least one CEP17 signal; a nucleus with no HER2 signal is read as a failed hybridisation of
  that cell rather than as a HER2 ratio of 0, so it is left out of every denominator.
* ``ISHGRP`` applies the five ASCO/CAP 2018 ISH groups to each cell for reference only; it always
  uses the guideline's ratio cut-off 2.0 whatever ``ratio_threshold`` is.

Flags are ``"Y"``/``"N"`` strings with ``None`` for not applicable / not evaluable (object dtype,
so ``df.FLAG == "Y"`` is a plain boolean mask).

References
----------
Wolff AC, Hammond MEH, Allison KH, et al. Human epidermal growth factor receptor 2 testing in
breast cancer: American Society of Clinical Oncology/College of American Pathologists clinical
practice guideline focused update. J Clin Oncol 2018;36:2105-2122.
Schulz KF, Altman DG, Moher D. CONSORT 2010 statement. BMJ 2010;340:c332 (flow diagram).
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import validate_frame, validate_unique

__all__ = [
    "ADCELL_COLUMNS",
    "ADCTC_COLUMNS",
    "ASCO_CAP_RATIO_CUTOFF",
    "ISH_THRESHOLD_DEFAULT",
    "MIN_HER2_SIGNALS_DEFAULT",
    "SENSITIVITY_RATIO_THRESHOLD",
    "ReaderPairs",
    "derive_cell_calls",
    "derive_patient_ctc_summary",
    "derive_reader_pairs",
    "derive_screening_flow",
]

#: HER2/CEP17 ratio at or above which a single CTC is called amplified (trial cut-off, Jacot 2019).
ISH_THRESHOLD_DEFAULT: float = 2.2
#: Cut-off of the sensitivity analysis (ASCO/CAP 2018 group-1 ratio, defined for tissue).
SENSITIVITY_RATIO_THRESHOLD: float = 2.0
#: Minimum number of HER2 signals for a CTC to be scoreable.
MIN_HER2_SIGNALS_DEFAULT: int = 1
#: Ratio cut-off of the ASCO/CAP 2018 ISH groups (fixed by the guideline, not a parameter).
ASCO_CAP_RATIO_CUTOFF: float = 2.0

_FISH_COLUMNS = ("subject_id", "cell_id", "reader_id", "her2_signals", "cep17_signals")
_IF_COLUMNS = ("subject_id", "cell_id", "if_score", "if_intensity")
_SCREENING_COLUMNS = (
    "subject_id",
    "cellsearch_status",
    "ctc_count",
    "fish_status",
    "fish_failure_reason",
)
_CELL_COLUMNS = ("USUBJID", "CELLID", "READER", "RATIO", "EVALFL", "AMPFL")
_ADCTC_FLOW_COLUMNS = ("USUBJID", "CTCCNT", "FISHSTAT", "FISHFRSN", "NCELLEVL", "HER2AMPFL")
_FISH_STATUSES = ("done", "technical_failure", "not_done")
_CELLSEARCH_STATUSES = ("done", "failed")

ADCELL_COLUMNS = [
    "USUBJID",
    "CELLID",
    "READER",
    "HER2SIG",
    "CEP17SIG",
    "RATIO",
    "EVALFL",
    "NEVALRSN",
    "AMPFL",
    "ISHGRP",
    "IFSCORE",
    "IFINT",
]
ADCTC_COLUMNS = [
    "USUBJID",
    "CTCCNT",
    "CTCPOS1",
    "CTCPOS5",
    "FISHSTAT",
    "FISHFRSN",
    "NCELLR1",
    "NCELLEVL",
    "NAMP",
    "PCTAMP",
    "MEANRAT",
    "MAXRAT",
    "HER2AMPFL",
    "HETEROFL",
]


@dataclass(frozen=True)
class ReaderPairs:
    """Cells read by both readers.

    Attributes
    ----------
    pairs : pandas.DataFrame
        Cells evaluable by both readers: USUBJID, CELLID, RATIO_R1, RATIO_R2, AMPFL_R1, AMPFL_R2.
    dropped : pandas.DataFrame
        Cells read by both readers but not evaluable by at least one of them: USUBJID, CELLID,
        EVALFL_R1, EVALFL_R2, REASON.
    """

    pairs: pd.DataFrame
    dropped: pd.DataFrame

    @property
    def n_dropped(self) -> int:
        """Number of double-read cells left out because a reader could not score them."""
        return len(self.dropped)


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _require_codes(values: pd.Series, allowed: tuple[str, ...], name: str) -> None:
    bad = sorted(set(values.dropna().astype(str)) - set(allowed))
    if bad or values.isna().any():
        raise ValueError(f"{name} must be one of {list(allowed)} (no missing), found {bad or 'NA'}")


def _check_threshold(ratio_threshold: object) -> float:
    if isinstance(ratio_threshold, bool) or not isinstance(ratio_threshold, numbers.Real):
        raise TypeError(f"ratio_threshold must be a number such as 2.0, got {ratio_threshold!r}")
    if not math.isfinite(ratio_threshold) or ratio_threshold <= 0:
        raise ValueError(f"ratio_threshold must be a finite number > 0, got {ratio_threshold}")
    return float(ratio_threshold)


def _check_min_signals(min_her2_signals: object) -> int:
    if isinstance(min_her2_signals, bool) or not isinstance(min_her2_signals, numbers.Integral):
        raise TypeError(f"min_her2_signals must be an integer such as 1, got {min_her2_signals!r}")
    if min_her2_signals < 0:
        raise ValueError(f"min_her2_signals must be >= 0, got {min_her2_signals}")
    return int(min_her2_signals)


def _signal_counts(values: pd.Series, name: str) -> pd.Series:
    counts = pd.to_numeric(values, errors="coerce")
    if counts.isna().any():
        raise ValueError(f"{name} must be a non-missing integer count in every row")
    if (counts < 0).any() or (counts != np.floor(counts)).any():
        raise ValueError(f"{name} must contain integer counts >= 0")
    return counts.astype("int64")


# --------------------------------------------------------------------------------------------
# per-cell calls
# --------------------------------------------------------------------------------------------


def _asco_cap_group(ratio: pd.Series, her2: pd.Series) -> pd.Series:
    """ASCO/CAP 2018 ISH group 1-5 from ratio and HER2 copy number (Wolff 2018, Fig. 2)."""
    high = ratio >= ASCO_CAP_RATIO_CUTOFF
    conditions = [
        high & (her2 >= 4),
        high & (her2 < 4),
        ~high & (her2 >= 6),
        ~high & (her2 >= 4) & (her2 < 6),
        ~high & (her2 < 4),
    ]
    group = np.select(conditions, [1, 2, 3, 4, 5], default=0)
    out = pd.Series(group, index=ratio.index, dtype="Int64")
    return out.mask(ratio.isna() | (out == 0))


def _evaluability(
    her2: pd.Series, cep17: pd.Series, min_her2_signals: int
) -> tuple[pd.Series, pd.Series]:
    plural = "" if min_her2_signals == 1 else "s"
    few_her2 = her2 < min_her2_signals
    no_cep17 = cep17 < 1
    reason = pd.Series(np.full(len(her2), None, dtype=object), index=her2.index)
    reason[few_her2] = f"fewer than {min_her2_signals} HER2 signal{plural}: not scoreable"
    # CEP17 = 0 violates the data contract (hybridisation failure belongs in ctc_screening);
    # keep the cell visible as not evaluable rather than dividing by zero.
    reason[no_cep17] = "no CEP17 signal: HER2/CEP17 ratio undefined"
    evaluable = ~(few_her2 | no_cep17)
    return evaluable, reason


def _merge_if(cells: pd.DataFrame, if_: pd.DataFrame | None) -> pd.DataFrame:
    if if_ is None:
        return cells.assign(IFSCORE=None, IFINT=np.nan)
    validate_frame(if_, "if_", _IF_COLUMNS)
    validate_unique(if_, ["subject_id", "cell_id"], "ctc_if")
    immuno = pd.DataFrame(
        {
            "USUBJID": if_["subject_id"].astype(str),
            "CELLID": if_["cell_id"].astype(str),
            "IFSCORE": if_["if_score"].astype(object).where(if_["if_score"].notna(), None),
            "IFINT": pd.to_numeric(if_["if_intensity"], errors="coerce").astype(float),
        }
    )
    # the IF score is stored as text: "0" must not become the integer 0 on a CSV round trip
    immuno["IFSCORE"] = immuno["IFSCORE"].map(lambda v: None if v is None else str(v))
    merged = cells.merge(immuno, on=["USUBJID", "CELLID"], how="left", validate="many_to_one")
    merged["IFSCORE"] = merged["IFSCORE"].astype(object).where(merged["IFSCORE"].notna(), None)
    return merged


def derive_cell_calls(
    fish: pd.DataFrame,
    if_: pd.DataFrame | None = None,
    ratio_threshold: float = ISH_THRESHOLD_DEFAULT,
    min_her2_signals: int = MIN_HER2_SIGNALS_DEFAULT,
) -> pd.DataFrame:
    """Call each CTC reading HER2-amplified or not from its FISH signal counts (``adcell``).

    Method: RATIO = HER2 signals / CEP17 signals per nucleus. A reading is evaluable when it has
    ``>= min_her2_signals`` HER2 signals and >= 1 CEP17 signal; an evaluable cell is amplified
    when RATIO ``>= ratio_threshold`` (inclusive: the trial's "ratio >= 2.2"). The
    ASCO/CAP 2018 group is assigned per evaluable cell for reference, always with the guideline's
    ratio cut-off 2.0 and HER2 copy-number cut-offs 4 and 6.

    Parameters
    ----------
    fish : pandas.DataFrame
        Raw ``ctc_fish`` (subject_id, cell_id, reader_id, her2_signals, cep17_signals).
    if_ : pandas.DataFrame, optional
        Raw ``ctc_if`` (subject_id, cell_id, if_score, if_intensity), merged by subject + cell
        onto every reading of that cell. IF rows without a FISH reading are not returned.
    ratio_threshold : float, default 2.2
        HER2/CEP17 ratio at or above which a cell is amplified (trial cut-off, Jacot 2019).
    min_her2_signals : int, default 1
        Minimum HER2 signals for a cell to be scoreable.

    Returns
    -------
    pandas.DataFrame
        One row per cell per reader, sorted by USUBJID, CELLID, READER: USUBJID, CELLID, READER,
        HER2SIG, CEP17SIG, RATIO, EVALFL (Y/N), NEVALRSN (reason when EVALFL = N), AMPFL (Y/N,
        None when not evaluable), ISHGRP (Int64 1-5, NA when not evaluable), IFSCORE, IFINT.

    References
    ----------
    Jacot W et al. Breast Cancer Res 2019;21:121 (trial cut-off 2.2). Wolff AC et al. J Clin
    Oncol 2018;36:2105-2122 (ASCO/CAP 2018 HER2 testing update, ISH groups).
    """
    validate_frame(fish, "fish", _FISH_COLUMNS)
    threshold = _check_threshold(ratio_threshold)
    min_signals = _check_min_signals(min_her2_signals)
    validate_unique(fish, ["subject_id", "cell_id", "reader_id"], "ctc_fish")

    her2 = _signal_counts(fish["her2_signals"], "her2_signals")
    cep17 = _signal_counts(fish["cep17_signals"], "cep17_signals")
    ratio = (her2 / cep17.where(cep17 > 0)).astype(float)
    evaluable, reason = _evaluability(her2, cep17, min_signals)
    amplified = np.where(ratio >= threshold, "Y", "N")

    cells = pd.DataFrame(
        {
            "USUBJID": fish["subject_id"].astype(str),
            "CELLID": fish["cell_id"].astype(str),
            "READER": fish["reader_id"].astype(str),
            "HER2SIG": her2,
            "CEP17SIG": cep17,
            "RATIO": ratio,
            "EVALFL": np.where(evaluable, "Y", "N").astype(object),
            "NEVALRSN": reason,
            "AMPFL": pd.Series(amplified, index=fish.index, dtype=object).where(evaluable, None),
            "ISHGRP": _asco_cap_group(ratio, her2).mask(~evaluable),
        }
    )
    cells = _merge_if(cells, if_)
    return cells[ADCELL_COLUMNS].sort_values(["USUBJID", "CELLID", "READER"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# per-patient summary
# --------------------------------------------------------------------------------------------


def _screening_part(screening: pd.DataFrame) -> pd.DataFrame:
    _require_codes(screening["cellsearch_status"], _CELLSEARCH_STATUSES, "cellsearch_status")
    _require_codes(screening["fish_status"], _FISH_STATUSES, "fish_status")
    done = screening["cellsearch_status"].astype(str).eq("done")
    count = pd.to_numeric(screening["ctc_count"], errors="coerce")
    if (done & count.isna()).any():
        ids = screening.loc[done & count.isna(), "subject_id"].tolist()[:5]
        raise ValueError(
            f"ctc_count is missing although cellsearch_status is 'done' for {ids}; "
            "enter the count or code cellsearch_status = 'failed'"
        )
    if (count < 0).any() or (count.dropna() % 1 != 0).any():
        raise ValueError("ctc_count must be a whole number of CTCs >= 0")
    # a count recorded for a failed CellSearch run is not a valid measurement
    count = count.where(done).astype("Int64").reset_index(drop=True)
    failed_fish = screening["fish_status"].astype(str).eq("technical_failure")
    reason = screening["fish_failure_reason"].astype(object)
    reason = reason.where(failed_fish & reason.notna(), None)
    reason = reason.mask(failed_fish & reason.isna(), "not recorded")
    return pd.DataFrame(
        {
            "USUBJID": screening["subject_id"].astype(str).to_numpy(),
            "CTCCNT": count,
            "CTCPOS1": _yn(count >= 1),
            "CTCPOS5": _yn(count >= 5),
            "FISHSTAT": screening["fish_status"].astype(str).to_numpy(),
            "FISHFRSN": reason.to_numpy(),
        }
    )


def _yn(mask: pd.Series) -> pd.Series:
    """Nullable boolean -> "Y"/"N"/None."""
    return (
        mask.map({True: "Y", False: "N"}, na_action="ignore")
        .astype(object)
        .where(mask.notna(), None)
    )


def _cell_part(cells: pd.DataFrame, reader: str) -> pd.DataFrame:
    own = cells[cells["READER"] == reader]
    evaluable = own[own["EVALFL"] == "Y"]
    evaluable = evaluable.assign(_AMP=evaluable["AMPFL"].eq("Y").astype("int64"))
    read = own.groupby("USUBJID").size().rename("NCELLR1")
    stats = evaluable.groupby("USUBJID").agg(
        NCELLEVL=("RATIO", "size"),
        NAMP=("_AMP", "sum"),  # grouped sum, not a Python lambda per patient
        MEANRAT=("RATIO", "mean"),
        MAXRAT=("RATIO", "max"),
    )
    return pd.concat([read, stats], axis=1)


def derive_patient_ctc_summary(
    screening: pd.DataFrame, cells: pd.DataFrame, reader: str = "R1"
) -> pd.DataFrame:
    """Summarise CellSearch and FISH results per screened patient (``adctc``).

    Method: CTC positivity from the CellSearch count (>= 1 and >= 5 CTC per 7.5 mL; the >= 5
    cut-off is the prognostic threshold of Cristofanilli et al., N Engl J Med 2004;351:781-791).
    FISH summaries use the readings of ``reader`` only (the primary reading). A patient is
    HER2-amplified when at least one evaluable CTC is amplified; FISH is informative only when
    ``fish_status == "done"`` and at least one CTC is evaluable, otherwise HER2AMPFL is None.
    Heterogeneity (both amplified and non-amplified evaluable CTCs) needs >= 2 evaluable CTCs.

    Parameters
    ----------
    screening : pandas.DataFrame
        Raw ``ctc_screening`` (subject_id, cellsearch_status, ctc_count, fish_status,
        fish_failure_reason).
    cells : pandas.DataFrame
        ``adcell`` from :func:`derive_cell_calls`. Every subject must be in ``screening``.
    reader : str, default "R1"
        Reader whose readings are summarised (NCELLR1 counts this reader's cells).

    Returns
    -------
    pandas.DataFrame
        One row per screened patient, in ``screening`` order: USUBJID, CTCCNT (Int64, NA when
        CellSearch failed), CTCPOS1, CTCPOS5 (Y/N/None), FISHSTAT, FISHFRSN (failure reason,
        "not recorded" if a failure has no reason), NCELLR1, NCELLEVL, NAMP (int), PCTAMP
        (% amplified among evaluable CTCs), MEANRAT, MAXRAT (NaN without evaluable CTCs),
        HER2AMPFL (Y/N/None), HETEROFL (Y/N/None).

    References
    ----------
    Wolff AC et al. J Clin Oncol 2018;36:2105-2122.
    """
    validate_frame(screening, "screening", _SCREENING_COLUMNS)
    validate_frame(cells, "cells", _CELL_COLUMNS)
    if not isinstance(reader, str) or not reader:
        raise TypeError(f"reader must be a reader id such as 'R1', got {reader!r}")
    validate_unique(screening, ["subject_id"], "ctc_screening")
    unknown = sorted(set(cells["USUBJID"]) - set(screening["subject_id"].astype(str)))
    if unknown:
        raise ValueError(
            f"cells contain subjects absent from screening: {unknown[:5]}; "
            "add them to ctc_screening or remove their FISH readings"
        )
    if len(cells) and not (cells["READER"] == reader).any():
        raise ValueError(
            f"no cell read by reader {reader!r}; readers present: "
            f"{sorted(cells['READER'].unique())}"
        )

    out = _screening_part(screening).join(_cell_part(cells, reader), on="USUBJID")
    for col in ("NCELLR1", "NCELLEVL", "NAMP"):
        out[col] = pd.to_numeric(out[col]).fillna(0).astype("int64")
    out["PCTAMP"] = 100.0 * out["NAMP"] / out["NCELLEVL"].where(out["NCELLEVL"] > 0)
    informative = out["FISHSTAT"].eq("done") & (out["NCELLEVL"] > 0)
    out["HER2AMPFL"] = _yn((out["NAMP"] > 0).astype("boolean").where(informative))
    mixed = (out["NAMP"] > 0) & (out["NAMP"] < out["NCELLEVL"])
    out["HETEROFL"] = _yn(mixed.astype("boolean").where(informative & (out["NCELLEVL"] >= 2)))
    return out[ADCTC_COLUMNS]


# --------------------------------------------------------------------------------------------
# reproducibility pairs
# --------------------------------------------------------------------------------------------


def derive_reader_pairs(
    cells: pd.DataFrame, reader_a: str = "R1", reader_b: str = "R2"
) -> ReaderPairs:
    """Pair the readings of cells read by two readers (FISH reproducibility).

    Method: inner join of the two readers' readings on USUBJID + CELLID; pairs in which either
    reading is not evaluable are set aside (with the reason) rather than silently removed, so
    the reproducibility analysis can report how many double-read cells it could not use.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``adcell`` from :func:`derive_cell_calls`.
    reader_a, reader_b : str, default "R1", "R2"
        The two readers; output columns are suffixed ``_R1``/``_R2`` in that order.

    Returns
    -------
    ReaderPairs
        ``pairs``: USUBJID, CELLID, RATIO_R1, RATIO_R2, AMPFL_R1, AMPFL_R2 (both evaluable);
        ``dropped``: USUBJID, CELLID, EVALFL_R1, EVALFL_R2, REASON.
    """
    validate_frame(cells, "cells", _CELL_COLUMNS)
    if reader_a == reader_b:
        raise ValueError(f"reader_a and reader_b must differ, both are {reader_a!r}")
    cols = ["USUBJID", "CELLID", "RATIO", "AMPFL", "EVALFL"]
    first = cells.loc[cells["READER"] == reader_a, cols]
    second = cells.loc[cells["READER"] == reader_b, cols]
    both = first.merge(second, on=["USUBJID", "CELLID"], suffixes=("_R1", "_R2"))
    both = both.sort_values(["USUBJID", "CELLID"], ignore_index=True)
    ok = both["EVALFL_R1"].eq("Y") & both["EVALFL_R2"].eq("Y")

    pairs = both.loc[ok, ["USUBJID", "CELLID", "RATIO_R1", "RATIO_R2", "AMPFL_R1", "AMPFL_R2"]]
    dropped = both.loc[~ok, ["USUBJID", "CELLID", "EVALFL_R1", "EVALFL_R2"]].copy()
    dropped["REASON"] = [
        _pair_reason(a, b, reader_a, reader_b)
        for a, b in zip(dropped["EVALFL_R1"], dropped["EVALFL_R2"], strict=True)
    ]
    return ReaderPairs(pairs.reset_index(drop=True), dropped.reset_index(drop=True))


def _pair_reason(eval_a: str, eval_b: str, reader_a: str, reader_b: str) -> str:
    if eval_a != "Y" and eval_b != "Y":
        return f"not evaluable by {reader_a} nor {reader_b}"
    return f"not evaluable by {reader_a if eval_a != 'Y' else reader_b}"


# --------------------------------------------------------------------------------------------
# screening flow (CONSORT-style)
# --------------------------------------------------------------------------------------------


def _treatment_table(treated: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(treated, pd.Series):
        treated = pd.DataFrame({"USUBJID": treated.index.astype(str), "TRTFL": treated.to_numpy()})
    validate_frame(treated, "treated", ("USUBJID", "TRTFL"))
    validate_unique(treated, ["USUBJID"], "treated")
    flag = treated["TRTFL"].map({True: "Y", False: "N", "Y": "Y", "N": "N"})
    if flag.isna().any():
        bad = sorted(set(treated.loc[flag.isna(), "TRTFL"].astype(str)))
        raise ValueError(f"TRTFL must be 'Y'/'N' (or boolean) for every patient, found {bad}")
    reason = (
        treated["NTRTRSN"] if "NTRTRSN" in treated.columns else pd.Series(None, index=flag.index)
    )
    return pd.DataFrame(
        {"TRTFL": flag.to_numpy(), "NTRTRSN": reason.to_numpy()},
        index=treated["USUBJID"].astype(str),
    )


def _fish_exclusion_reason(row: pd.Series) -> str:
    if row["FISHSTAT"] == "technical_failure":
        reason = row["FISHFRSN"] if isinstance(row["FISHFRSN"], str) else "not recorded"
        return f"FISH technical failure: {reason}"
    if row["FISHSTAT"] == "not_done":
        return "FISH not done"
    return "FISH done, no evaluable CTC"


def _step(name: str, kept: pd.DataFrame, parent: str | None, reasons: list[str], gate: bool):
    counts = Counter(reasons)
    return {
        "step": name,
        "n": len(kept),
        "excluded_n": len(reasons),
        "excluded_reasons": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "from_step": parent,
        "gate": gate,
    }


def derive_screening_flow(adctc: pd.DataFrame, treated: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Count patients at each node of the CTC screening flow (CONSORT-style diagram).

    Method: successive gates, each applied to the patients kept by the previous gate::

        screened -> CTC count evaluable (CellSearch done) -> >= 1 CTC -> FISH evaluable
                 -> >= 1 HER2-amplified CTC -> treated

    ">= 5 CTC" is an *informative* node (prognostic threshold), not a gate: it is counted from the
    ">= 1 CTC" node, and the FISH node again starts from ">= 1 CTC". For every row with a
    ``from_step``, ``n == n(from_step) - excluded_n``. Exclusion reasons come from the data:
    CellSearch failure, no CTC, FISH technical failure by recorded reason, FISH not done, no
    evaluable CTC, no amplified CTC, and for amplified untreated patients the ``NTRTRSN`` column
    of ``treated`` when given. Patients treated without an amplified CTC are not in the flow (a
    protocol deviation to report separately).

    Parameters
    ----------
    adctc : pandas.DataFrame
        From :func:`derive_patient_ctc_summary` (USUBJID, CTCCNT, FISHSTAT, FISHFRSN, NCELLEVL,
        HER2AMPFL).
    treated : pandas.DataFrame or pandas.Series
        DataFrame with USUBJID, TRTFL (Y/N) and optionally NTRTRSN (reason not treated), or a
        Series of TRTFL indexed by USUBJID. Screened patients absent from it count as untreated.

    Returns
    -------
    pandas.DataFrame
        One row per node: step, n, excluded_n, excluded_reasons (dict reason -> n, largest
        first), from_step (node the exclusions are counted from; None for the first), gate (bool).

    References
    ----------
    Schulz KF, Altman DG, Moher D. CONSORT 2010 statement. BMJ 2010;340:c332.
    """
    validate_frame(adctc, "adctc", _ADCTC_FLOW_COLUMNS)
    validate_unique(adctc, ["USUBJID"], "adctc")
    trt = _treatment_table(treated)
    df = adctc.set_index(adctc["USUBJID"].astype(str))

    cs_ok = df[df["CTCCNT"].notna()]
    ctc1 = cs_ok[cs_ok["CTCCNT"] >= 1]
    ctc5 = ctc1[ctc1["CTCCNT"] >= 5]
    fish_ok = ctc1[ctc1["FISHSTAT"].eq("done") & (ctc1["NCELLEVL"] > 0)]
    fish_out = ctc1.drop(index=fish_ok.index)
    amp = fish_ok[fish_ok["HER2AMPFL"] == "Y"]
    trt_amp = trt.reindex(amp.index)
    is_treated = trt_amp["TRTFL"].eq("Y")
    untreated_reasons = [
        f"not treated: {r}" if isinstance(r, str) and r else "not treated (reason not recorded)"
        for r in trt_amp.loc[~is_treated, "NTRTRSN"]
    ]

    rows = [
        _step("Screened", df, None, [], True),
        _step(
            "CTC count evaluable (CellSearch done)",
            cs_ok,
            "Screened",
            ["CellSearch failed"] * (len(df) - len(cs_ok)),
            True,
        ),
        _step(
            ">=1 CTC",
            ctc1,
            "CTC count evaluable (CellSearch done)",
            ["no CTC detected"] * (len(cs_ok) - len(ctc1)),
            True,
        ),
        _step(
            ">=5 CTC (informative)", ctc5, ">=1 CTC", ["1-4 CTC"] * (len(ctc1) - len(ctc5)), False
        ),
        _step(
            "FISH evaluable",
            fish_ok,
            ">=1 CTC",
            [_fish_exclusion_reason(r) for _, r in fish_out.iterrows()],
            True,
        ),
        _step(
            ">=1 HER2-amplified CTC",
            amp,
            "FISH evaluable",
            ["no amplified CTC"] * (len(fish_ok) - len(amp)),
            True,
        ),
        _step(
            "Treated", amp[is_treated.to_numpy()], ">=1 HER2-amplified CTC", untreated_reasons, True
        ),
    ]
    return pd.DataFrame(rows)
