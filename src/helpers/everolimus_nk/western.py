"""rpS6 phosphorylation by western blot: densitometry normalisation, lane flags, inhibition.

mTORC1 activity under everolimus is read out as phosphorylation of ribosomal protein S6
(Ser235/236). Each sample lane gives three background-subtracted band volumes: phospho-rpS6,
total rpS6 and a loading control (β-actin). The analysis follows the recommendations of Taylor et
al. (2013): the phospho signal is normalised to the *total target protein in the same lane*
(RATIO = p-rpS6 / total rpS6), which corrects for unequal loading without relying on a
housekeeping protein; the loading control is kept only as a check. Membranes are made comparable
by dividing by the ratio of a calibrator lysate run on every membrane (NRATIO = RATIO / CALRATIO,
Degasperi et al. 2014).

Decisions (documented assumptions):

* **Saturation.** A saturated p-rpS6 or total-rpS6 band underestimates its volume, so the
  ratio is biased in an unknown direction: the lane is not evaluable (SATFL = "Y"). A saturated
  loading control does not enter the ratio; it only disables the loading check (LOADFL None).
* **Undetectable phospho signal.** p-rpS6 <= ``undetectable_threshold`` with a detectable total
  rpS6 is a valid result ("below detection", UNDETFL = "Y"): RATIO and NRATIO are set to 0,
  because complete loss of S6 phosphorylation is the expected pharmacological effect of
  everolimus and discarding these lanes would bias inhibition towards zero. Inhibition computed
  from such a lane is 100 % (an upper bound).
* **Undetectable total rpS6** leaves the ratio undefined: the lane is not evaluable.
* **Loading check.** LOADFL = "Y" when the lane's loading control deviates from the membrane
  median (over lanes with an unsaturated loading control) by more than ``loading_cv_max`` in
  relative terms, i.e. |LOADCTL / median - 1| > 0.5 by default (outside 50-150 % of the
  median). The default tolerance is a laboratory convention assumed here, not a published
  cut-off. Flagged lanes stay evaluable because the ratio to total rpS6 already corrects for
  loading.

References
----------
Taylor SC, Berkelman T, Yadav G, Hammond M. A defined methodology for reliable quantification of
Western blot data. Mol Biotechnol 2013;55:217-226.
Degasperi A, Birtwistle MR, Volinsky N, Rauch J, Kolch W, Kholodenko BN. Evaluating strategies
to normalise biological replicates of Western blot data. PLoS One 2014;9:e87293.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.checks import validate_frame

__all__ = [
    "ADWB_COLUMNS",
    "EXCLUSION_COLUMNS",
    "INHIBITION_COLUMNS",
    "LOADING_CV_MAX_DEFAULT",
    "WB_BANDS",
    "WesternResult",
    "compute_rps6_inhibition",
    "derive_western",
]

#: Maximum relative deviation of a lane's loading control from the membrane median.
LOADING_CV_MAX_DEFAULT: float = 0.5
#: Band codes of the raw ``western_blot`` table.
WB_BANDS: tuple[str, ...] = ("p_rpS6", "total_rpS6", "loading_control")

_RAW_COLUMNS = (
    "membrane_id",
    "lane",
    "lane_type",
    "subject_id",
    "visit",
    "band",
    "intensity",
    "saturated",
)
#: Optional raw columns carried to ``adwb`` when present: the blood-draw date of the lane's
#: sample (ADT) and the hours since the last everolimus dose (HRSLDOSE).
_OPTIONAL_RAW = {"sample_date": "ADT", "hours_since_last_dose": "HRSLDOSE"}
#: Optional raw columns used for QC (``western_qc``): per-band local background volume and the
#: load of a calibrator lane relative to the standard load (a dilution series).
_QC_RAW = ("calibrator_load",)
_LANE_TYPES = ("sample", "calibrator")
_BAND_NAMES = {"p_rpS6": "PRPS6", "total_rpS6": "TRPS6", "loading_control": "LOADCTL"}
ADWB_COLUMNS = [
    "USUBJID",
    "AVISIT",
    "MEMBRANE",
    "LANE",
    "PRPS6",
    "TRPS6",
    "LOADCTL",
    "RATIO",
    "CALRATIO",
    "NRATIO",
    "SATFL",
    "UNDETFL",
    "LOADFL",
    "EVALFL",
]
EXCLUSION_COLUMNS = ["USUBJID", "AVISIT", "MEMBRANE", "LANE", "RULE", "REASON"]
INHIBITION_COLUMNS = ["USUBJID", "AVISIT", "BASE", "AVAL", "NLANES", "INHIB_PCT", "REASON"]


@dataclass(frozen=True)
class WesternResult:
    """Result of :func:`derive_western`.

    Attributes
    ----------
    lanes : pandas.DataFrame
        ``adwb``: one row per sample lane (columns :data:`ADWB_COLUMNS`).
    exclusions : pandas.DataFrame
        One row per non-evaluable lane (sample or calibrator) per rule, and one row (LANE NA)
        per membrane without a usable calibrator: USUBJID, AVISIT, MEMBRANE, LANE, RULE, REASON.
    """

    lanes: pd.DataFrame
    exclusions: pd.DataFrame


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_number(value: object, name: str, minimum: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    too_small = value <= minimum if strict else value < minimum
    if not math.isfinite(value) or too_small:
        bound = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {bound} {minimum}, got {value}")
    return float(value)


def _check_raw(wb: pd.DataFrame) -> pd.DataFrame:
    validate_frame(wb, "wb", _RAW_COLUMNS)
    bad_band = sorted(set(wb["band"].astype(str)) - set(WB_BANDS))
    if bad_band:
        raise ValueError(f"band must be one of {list(WB_BANDS)}, found {bad_band}")
    bad_type = sorted(set(wb["lane_type"].astype(str)) - set(_LANE_TYPES))
    if bad_type:
        raise ValueError(f"lane_type must be one of {list(_LANE_TYPES)}, found {bad_type}")
    bad_sat = sorted(set(wb["saturated"].astype(str)) - {"Y", "N"})
    if bad_sat:
        raise ValueError(f"saturated must be 'Y' or 'N' in every row, found {bad_sat}")
    intensity = pd.to_numeric(wb["intensity"], errors="coerce")
    if intensity.isna().any() or (intensity < 0).any():
        raise ValueError("intensity must be a non-missing number >= 0 in every row")
    dup = wb.duplicated(subset=["membrane_id", "lane", "band"], keep=False)
    if dup.any():
        ex = wb.loc[dup, ["membrane_id", "lane", "band"]].head(3).to_dict("records")
        raise ValueError(f"duplicated membrane_id + lane + band, e.g. {ex}; keep one row per band")
    return wb.assign(intensity=intensity.astype(float))


# --------------------------------------------------------------------------------------------
# lane table
# --------------------------------------------------------------------------------------------


def _lane_table(wb: pd.DataFrame) -> pd.DataFrame:
    """One row per membrane + lane with the three band volumes and saturation flags."""
    extra = [c for c in (*_OPTIONAL_RAW, *_QC_RAW) if c in wb.columns]
    ident = wb[["membrane_id", "lane", "lane_type", "subject_id", "visit", *extra]].copy()
    for col in ("subject_id", "visit", *extra):
        ident[col] = ident[col].astype(object).where(ident[col].notna(), None)
    per_lane = ident.groupby(["membrane_id", "lane"], sort=True).nunique(dropna=False)
    if (per_lane > 1).any(axis=None):
        bad = per_lane[(per_lane > 1).any(axis=1)].index.tolist()[:3]
        raise ValueError(
            f"lane_type, subject_id and visit must be identical on every band of a lane; "
            f"inconsistent lanes (membrane, lane): {bad}"
        )
    lanes = ident.drop_duplicates(["membrane_id", "lane"]).set_index(["membrane_id", "lane"])
    sample = lanes["lane_type"].eq("sample")
    if (sample & (lanes["subject_id"].isna() | lanes["visit"].isna())).any():
        raise ValueError(
            "sample lanes need subject_id and visit; fill them or mark the lane as a calibrator"
        )
    values = wb.pivot(index=["membrane_id", "lane"], columns="band", values="intensity")
    sat = wb.pivot(index=["membrane_id", "lane"], columns="band", values="saturated")
    values = values.reindex(columns=list(WB_BANDS)).rename(columns=_BAND_NAMES)
    sat = sat.reindex(columns=list(WB_BANDS)).eq("Y")
    sat.columns = [f"SAT_{_BAND_NAMES[b]}" for b in WB_BANDS]
    return lanes.join(values).join(sat).sort_index()


def _lane_ratio(lanes: pd.DataFrame, thr_p, thr_t) -> pd.Series:
    """p-rpS6 / total rpS6; 0 when p-rpS6 is undetectable; NaN when total is undetectable."""
    total = lanes["TRPS6"].where(lanes["TRPS6"] > thr_t)
    ratio = lanes["PRPS6"] / total
    return ratio.mask((lanes["PRPS6"] <= thr_p) & total.notna(), 0.0)


def _no_calibrator_rules(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "RULE": "no_usable_calibrator",
            "REASON": "membrane without a usable calibrator: cannot normalise",
        },
        index=index,
    )


def _thresholds(lanes: pd.DataFrame, floor: float, lod: pd.DataFrame | None):
    """Undetectable thresholds of the p-rpS6 and total-rpS6 bands per lane (Series)."""
    membrane = lanes.index.get_level_values("membrane_id")
    out = []
    for band in ("p_rpS6", "total_rpS6"):
        thr = pd.Series(floor, index=lanes.index, dtype=float)
        if lod is not None:
            validate_frame(lod, "lod", ["MEMBRANE", "BAND", "LOD"])
            per = lod[lod["BAND"].eq(band)].set_index("MEMBRANE")["LOD"]
            values = pd.Series(membrane.map(per), index=lanes.index, dtype=float)
            thr = np.maximum(thr, values.fillna(floor))
        out.append(thr)
    return out[0], out[1]


def _lane_rules(lanes: pd.DataFrame, threshold) -> pd.DataFrame:
    """Long table (lane index, RULE, REASON) of the lane-level reasons for non-evaluability."""
    missing = lanes["PRPS6"].isna() | lanes["TRPS6"].isna()
    saturated = lanes["SAT_PRPS6"] | lanes["SAT_TRPS6"]
    rules = [
        ("missing_band", missing, "p_rpS6 or total_rpS6 band missing"),
        ("saturated", saturated, "saturated p_rpS6/total_rpS6 band: ratio unreliable"),
        (
            "total_undetectable",
            lanes["TRPS6"] <= threshold,
            "total rpS6 undetectable: ratio undefined",
        ),
    ]
    pieces = [
        pd.DataFrame({"RULE": rule, "REASON": text}, index=lanes.index[mask.to_numpy()])
        for rule, mask, text in rules
        if mask.any()
    ]
    if not pieces:
        return pd.DataFrame({"RULE": [], "REASON": []}, index=lanes.index[:0])
    return pd.concat(pieces)


def _loading_flag(lanes: pd.DataFrame, tolerance: float) -> pd.Series:
    usable = lanes["LOADCTL"].where(~lanes["SAT_LOADCTL"])
    median = usable.groupby(level="membrane_id").transform("median")
    deviates = (usable / median - 1.0).abs() > tolerance
    flag = pd.Series(np.where(deviates, "Y", "N"), index=lanes.index, dtype=object)
    return flag.where(usable.notna() & (median > 0), None)


def _calibrators(lanes: pd.DataFrame, evaluable: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Calibrator ratio per membrane and the membranes without a usable one."""
    membranes = lanes.index.get_level_values("membrane_id").unique()
    is_cal = lanes["lane_type"].eq("calibrator")
    if "calibrator_load" in lanes.columns:  # a dilution series: normalise on full-load lanes
        load = pd.to_numeric(lanes["calibrator_load"], errors="coerce")
        is_cal = is_cal & (load.isna() | load.eq(1.0))
    cal_ratio = (
        lanes.loc[is_cal & evaluable, "RATIO"].groupby(level="membrane_id").agg(_geometric_mean)
    )
    cal_ratio = cal_ratio.reindex(membranes)
    n_cal = is_cal.groupby(level="membrane_id").sum().reindex(membranes, fill_value=0)
    reasons = {}
    for membrane in membranes:
        if n_cal[membrane] == 0:
            reasons[membrane] = "no calibrator lane on the membrane"
        elif pd.isna(cal_ratio[membrane]):
            reasons[membrane] = "no evaluable calibrator lane on the membrane"
        elif cal_ratio[membrane] <= 0:
            reasons[membrane] = "calibrator p-rpS6 undetectable: cannot normalise"
    bad = pd.DataFrame({"MEMBRANE": list(reasons), "REASON": list(reasons.values())})
    return cal_ratio.where(cal_ratio > 0), bad


def _exclusion_rows(lanes: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    info = lanes.loc[rules.index, ["subject_id", "visit", "lane_type"]]
    prefix = np.where(info["lane_type"].eq("calibrator"), "calibrator lane: ", "")
    return pd.DataFrame(
        {
            "USUBJID": info["subject_id"].to_numpy(),
            "AVISIT": info["visit"].to_numpy(),
            "MEMBRANE": rules.index.get_level_values("membrane_id"),
            "LANE": rules.index.get_level_values("lane"),
            "RULE": rules["RULE"].to_numpy(),
            "REASON": prefix + rules["REASON"].astype(str).to_numpy(),
        }
    )


def derive_western(
    wb: pd.DataFrame,
    loading_cv_max: float = LOADING_CV_MAX_DEFAULT,
    undetectable_threshold: float = 0.0,
    lod: pd.DataFrame | None = None,
) -> WesternResult:
    """Normalise rpS6 phosphorylation per lane and flag non-evaluable lanes (``adwb``).

    Method: per lane RATIO = p-rpS6 / total rpS6 (Taylor et al. 2013, normalisation to total
    target protein); CALRATIO = geometric mean RATIO of the evaluable full-load calibrator lanes
    of the membrane; NRATIO = RATIO / CALRATIO (inter-membrane normalisation to a common
    calibrator, Degasperi et al. 2014). A sample lane is evaluable (EVALFL = "Y") when both
    ratio bands are present and unsaturated, total rpS6 is above ``undetectable_threshold`` (or
    the membrane's LOD) and its membrane has a usable calibrator (CALRATIO > 0). p-rpS6 at or
    below the threshold gives RATIO = NRATIO = 0
    with UNDETFL = "Y" (valid "below detection" result). See the module docstring for the
    rationale of each rule and of the loading check.

    Parameters
    ----------
    wb : pandas.DataFrame
        Raw ``western_blot`` (membrane_id, lane, lane_type, subject_id, visit, band, intensity,
        saturated).
    loading_cv_max : float, default 0.5
        Tolerated relative deviation of the loading control from the membrane median; larger
        deviations set LOADFL = "Y" (a flag, not an exclusion).
    undetectable_threshold : float, default 0.0
        Background-subtracted volume at or below which a band counts as undetectable.
    lod : pandas.DataFrame, optional
        Limit of detection per membrane and band (``MEMBRANE, BAND, LOD``;
        :func:`helpers.everolimus_nk.western_qc.compute_band_lod`); where given, a band at or
        below its membrane's LOD (or ``undetectable_threshold`` if higher) is undetectable.

    Returns
    -------
    WesternResult
        ``lanes`` (one row per sample lane, sorted by MEMBRANE, LANE): USUBJID, AVISIT,
        MEMBRANE, LANE, PRPS6, TRPS6, LOADCTL, RATIO (also shown for non-evaluable lanes when
        computable), CALRATIO, NRATIO (NaN unless evaluable), SATFL, UNDETFL (None if the
        p-rpS6 band is missing), LOADFL (None when the loading control is missing/saturated),
        EVALFL; then ADT (sample date) and HRSLDOSE (hours since the last dose), NaT/NaN when
        the raw table lacks ``sample_date`` / ``hours_since_last_dose``. ``exclusions``:
        USUBJID, AVISIT, MEMBRANE, LANE, RULE, REASON.

    References
    ----------
    Taylor SC et al. Mol Biotechnol 2013;55:217-226.
    Degasperi A et al. PLoS One 2014;9:e87293.
    """
    tolerance = _check_number(loading_cv_max, "loading_cv_max", 0.0, strict=True)
    threshold = _check_number(undetectable_threshold, "undetectable_threshold", 0.0, strict=False)
    lanes = _lane_table(_check_raw(wb))

    thr_p, thr_t = _thresholds(lanes, threshold, lod)
    undetected = lanes["PRPS6"] <= thr_p
    lanes = lanes.assign(RATIO=_lane_ratio(lanes, thr_p, thr_t))
    rules = _lane_rules(lanes, thr_t)
    lane_ok = ~lanes.index.isin(rules.index.unique())
    cal_ratio, bad_membranes = _calibrators(lanes, pd.Series(lane_ok, index=lanes.index))

    membrane = lanes.index.get_level_values("membrane_id")
    sample = lanes["lane_type"].eq("sample").to_numpy()
    no_cal = membrane.isin(bad_membranes["MEMBRANE"]) & sample
    rules = pd.concat([rules, _no_calibrator_rules(lanes.index[no_cal])])
    evaluable = lane_ok & ~no_cal & sample

    calratio = cal_ratio.reindex(membrane).to_numpy()
    out = lanes.assign(
        CALRATIO=calratio,
        NRATIO=np.where(evaluable, lanes["RATIO"].to_numpy() / calratio, np.nan),
        SATFL=np.where(lanes["SAT_PRPS6"] | lanes["SAT_TRPS6"], "Y", "N"),
        UNDETFL=pd.Series(np.where(undetected, "Y", "N"), index=lanes.index, dtype=object).where(
            lanes["PRPS6"].notna(), None
        ),
        LOADFL=_loading_flag(lanes, tolerance),
        EVALFL=np.where(evaluable, "Y", "N"),
    )
    out = out.reset_index().rename(
        columns={
            "membrane_id": "MEMBRANE",
            "lane": "LANE",
            "subject_id": "USUBJID",
            "visit": "AVISIT",
            **_OPTIONAL_RAW,
        }
    )
    for col in _OPTIONAL_RAW.values():  # always present: NaT/NaN when the export lacks them
        if col not in out.columns:
            out[col] = np.nan
    adwb = out.loc[sample, [*ADWB_COLUMNS, *_OPTIONAL_RAW.values()]].reset_index(drop=True)
    adwb["ADT"] = pd.to_datetime(adwb["ADT"])
    adwb["HRSLDOSE"] = pd.to_numeric(adwb["HRSLDOSE"]).astype(float)
    return WesternResult(adwb, _exclusions(lanes, rules, bad_membranes))


def _exclusions(lanes: pd.DataFrame, rules: pd.DataFrame, bad: pd.DataFrame) -> pd.DataFrame:
    lane_rows = _exclusion_rows(lanes, rules)
    membrane_rows = pd.DataFrame(
        {
            "USUBJID": None,
            "AVISIT": None,
            "MEMBRANE": bad["MEMBRANE"],
            "LANE": pd.NA,
            "RULE": "no_usable_calibrator",
            "REASON": bad["REASON"],
        }
    )
    pieces = [p for p in (membrane_rows, lane_rows) if not p.empty]
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EXCLUSION_COLUMNS})
    out = pd.concat(pieces, ignore_index=True)
    out["LANE"] = out["LANE"].astype("Int64")
    return out.sort_values(["MEMBRANE", "LANE", "RULE"], na_position="first", ignore_index=True)[
        EXCLUSION_COLUMNS
    ]


# --------------------------------------------------------------------------------------------
# inhibition
# --------------------------------------------------------------------------------------------


def compute_rps6_inhibition(
    adwb: pd.DataFrame,
    baseline_visit: str = "BASELINE",
    visits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Percent inhibition of rpS6 phosphorylation from baseline, per patient and visit.

    Method: per patient and visit, AVAL = geometric mean NRATIO of the evaluable lanes
    (replicate lanes, possibly on different membranes, are averaged on the log scale after
    calibrator normalisation, the scale on which ratios are analysed; a replicate with
    undetectable p-rpS6, NRATIO 0, makes AVAL 0, i.e. 100 % inhibition, an upper bound); BASE = the
    same at ``baseline_visit``; INHIB_PCT = 100 × (1 − AVAL / BASE). Positive values mean less
    phosphorylation than at baseline (mTORC1 inhibition), negative values an increase. When
    inhibition cannot be computed the row is kept with INHIB_PCT NaN and REASON saying why.

    Parameters
    ----------
    adwb : pandas.DataFrame
        From :func:`derive_western` (USUBJID, AVISIT, NRATIO, EVALFL).
    baseline_visit : str, default "BASELINE"
    visits : sequence of str, optional
        Post-baseline visits expected for every patient (e.g. ``("M3", "M9")``): a row is
        returned for each patient × visit even without a lane. Default: the post-baseline
        visits with at least one lane for that patient.

    Returns
    -------
    pandas.DataFrame
        USUBJID, AVISIT, BASE, AVAL, NLANES (evaluable lanes averaged into AVAL), INHIB_PCT,
        REASON (None when INHIB_PCT is computed).

    References
    ----------
    Taylor SC et al. Mol Biotechnol 2013;55:217-226.
    """
    validate_frame(adwb, "adwb", ("USUBJID", "AVISIT", "NRATIO", "EVALFL"))
    if visits is not None and (isinstance(visits, str) or baseline_visit in visits):
        raise ValueError(f"visits must be a list of post-baseline visits, got {visits!r}")
    ok = adwb[adwb["EVALFL"] == "Y"]
    means = ok.groupby(["USUBJID", "AVISIT"])["NRATIO"].agg(mean=_geometric_mean, size="size")
    grid = _visit_grid(adwb, baseline_visit, visits)
    if grid.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in INHIBITION_COLUMNS})

    at_base = means.reset_index()
    base = at_base.loc[at_base["AVISIT"] == baseline_visit].set_index("USUBJID")["mean"]
    grid["BASE"] = grid["USUBJID"].map(base)
    idx = pd.MultiIndex.from_frame(grid[["USUBJID", "AVISIT"]])
    grid["AVAL"] = means["mean"].reindex(idx).to_numpy()
    grid["NLANES"] = means["size"].reindex(idx).fillna(0).astype("int64").to_numpy()
    grid["BASE"] = grid["BASE"].astype(float)
    usable = grid["BASE"] > 0
    grid["INHIB_PCT"] = np.where(
        usable & grid["AVAL"].notna(), 100.0 * (1.0 - grid["AVAL"] / grid["BASE"]), np.nan
    )
    grid["REASON"] = [
        _inhibition_reason(b, a) for b, a in zip(grid["BASE"], grid["AVAL"], strict=True)
    ]
    return grid[INHIBITION_COLUMNS]


def _geometric_mean(values: pd.Series) -> float:
    """Geometric mean of replicate ratios; 0 when a replicate is undetectable (ratio 0)."""
    v = values.to_numpy(dtype=float)
    if len(v) == 0:
        return math.nan
    if (v <= 0).any():
        return 0.0
    return float(np.exp(np.mean(np.log(v))))


def _visit_grid(adwb: pd.DataFrame, baseline_visit: str, visits) -> pd.DataFrame:
    if visits is None:
        pairs = adwb.loc[adwb["AVISIT"] != baseline_visit, ["USUBJID", "AVISIT"]]
        return pairs.drop_duplicates().sort_values(["USUBJID", "AVISIT"], ignore_index=True)
    patients = sorted(adwb["USUBJID"].dropna().unique())
    return pd.DataFrame([(p, v) for p in patients for v in visits], columns=["USUBJID", "AVISIT"])


def _inhibition_reason(base: float, aval: float) -> str | None:
    reasons = []
    if np.isnan(base):
        reasons.append("no evaluable baseline lane")
    elif base <= 0:
        reasons.append("baseline p-rpS6 undetectable: inhibition undefined")
    if np.isnan(aval):
        reasons.append("no evaluable lane at this visit")
    return "; ".join(reasons) or None
