"""Raw validated tables → ADaM-like analysis datasets, one function per trial.

Each ``derive_<trial>`` takes the tables returned by :func:`helpers.data.validation.validate_trial`
and a :class:`DerivationParams`, applies the data cut-off
(:func:`helpers.data.validation.derive_qc_exclusions`) and returns a :class:`DerivedTrial`: the
datasets of docs/data_dictionary.md and the QC table listing every record left out or flagged.

Conventions (CDISC ADaM Implementation Guide v1.3): ``USUBJID`` = raw ``subject_id``; flags are
``"Y"``/``"N"``; ``ADY`` = ADT − TRTSDT + 1 on or after treatment start and ADT − TRTSDT before
it (there is no day 0); rows are sorted by the dataset keys so that the parquet files are
byte-identical across runs.

Decisions documented here (and in docs/data_dictionary.md):

* **Populations** (adsl): SCRNFL every patient in ``patients``; CTCEVLFL (HER2-CTC) CellSearch
  ``done``; TRTFL ``date_treatment_start`` filled (on or before the cut-off); SAFFL ≥ 1 cycle
  with a dose > 0 in ``exposure``; EFFFL treated with measurable disease at baseline, i.e.
  ≥ 1 target lesion at the BASELINE visit (RECIST 1.1 §3.1: measurable disease is the entry
  criterion for response assessment). Patients whose tumour data are investigator time-point
  responses only cannot be checked for measurable disease and are EFFFL = TRTFL (the
  eligibility criteria require measurable disease).
* **Treatment-emergent AE**: onset on or after the first dose and no later than
  :data:`TEAE_WINDOW_DAYS` days after the last dose (or ongoing treatment).
* **Values below the limit of quantification** (granzyme B ELISA, ctDNA tumour fraction):
  AVAL = limit / 2 with LODFL = ``"Y"`` (the usual LLOQ/2 substitution, Hornung & Reed 1990);
  analyses can re-impute or censor using LODFL.
* **Best % change of the target sum** (BESTPCHG on BOR/CBOR rows): minimum PCHGBL over the
  post-baseline assessments with all targets measured, up to and including the first PD.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import numbers
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.schemas import source_file_name
from helpers.data.validation import EXCLUDING_RULES, concat_qc, derive_qc_exclusions, derive_qc_rows
from helpers.endpoints import pfs_sensitivity, recist, survival
from helpers.everolimus_nk import flow, western, western_qc
from helpers.her2_ctc import ctc

__all__ = [
    "ADBM_COLUMNS",
    "ADSL_COLUMNS",
    "ASSESSMENT_INTERVAL_DAYS",
    "DERIVATIONS",
    "TEAE_WINDOW_DAYS",
    "DerivationParams",
    "DerivedTrial",
    "derive_everolimus_nk",
    "derive_her2_ctc_tdm1",
    "derive_manifest",
    "derive_source_files",
    "summarise_populations",
    "summarise_records",
]

#: Scheduled interval between tumour assessments (days): T-DM1 every 6 weeks, everolimus 12.
ASSESSMENT_INTERVAL_DAYS = {"her2_ctc_tdm1": 42, "everolimus_nk": 84}
#: An AE starting up to this many days after the last dose is treatment-emergent.
TEAE_WINDOW_DAYS = 30

ADSL_COLUMNS = [
    "STUDYID",
    "USUBJID",
    "SITEID",
    "SEX",
    "AGE",
    "ECOG",
    "HRSTAT",
    "HER2IHC",
    "HER2ISH",
    "VISCFL",
    "METSITES",
    "NMETS",
    "PRIORLN",
    "INCLDT",
    "TRTSDT",
    "TRTEDT",
    "EOTSTT",
    "DTHDT",
    "DTHCAUS",
    "LSTALVDT",
    "SCRNFL",
    "CTCEVLFL",
    "TRTFL",
    "NTRTRSN",
    "SAFFL",
    "EFFFL",
]
ADRS_COLUMNS = [
    "USUBJID",
    "PARAMCD",
    "PARAM",
    "AVALC",
    "AVISIT",
    "AVISITN",
    "ADT",
    "ADY",
    "SUMDIAM",
    "PCHGBL",
    "BESTPCHG",
    "SRCDOM",
]
ADAE_COLUMNS = [
    "USUBJID",
    "AESEQ",
    "AEDECOD",
    "AEBODSYS",
    "AETOXGR",
    "ASTDT",
    "AENDT",
    "AESER",
    "AEREL",
    "AEACN",
    "TRTEMFL",
    "INFFL",
]
ADEX_COLUMNS = ["USUBJID", "CYCLE", "ASTDT", "DOSE", "DOSEU", "DOSELVL", "ACTION"]
ADBM_COLUMNS = list(flow.ADBM_FLOW_COLUMNS)

_PARAM_OVR = "Overall time-point response (RECIST 1.1)"
_PARAM_BOR = "Best overall response, unconfirmed (RECIST 1.1)"
_PARAM_CBOR = "Best overall response, confirmed (RECIST 1.1)"
_INFECTION_SOC = "Infections and infestations"
_EOT_VISITN = 99


# --------------------------------------------------------------------------------------------
# Parameters and result
# --------------------------------------------------------------------------------------------


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class DerivationParams:
    """Settings of the derivations (notebook parameters of 00_data_preparation).

    Attributes
    ----------
    cutoff_date : str or date
        Data cut-off (ISO date); stored as an ISO string.
    ratio_threshold : float, default 2.2
        HER2/CEP17 ratio at or above which a CTC is amplified (trial cut-off, Jacot 2019).
    min_her2_signals : int, default 1
        Minimum HER2 signals for a CTC reading to be evaluable.
    confirmation_days : int, default 28
        Minimum days between a CR/PR and its confirmation (RECIST 1.1 §4.6).
    sd_min_days : int, default 42
        Minimum days from treatment start for a best response of SD (6 weeks = first scan).
    sd_window_days : int, default 0
        Visit-window tolerance of ``sd_min_days`` (SD counts from day sd_min_days − window).
    ne_between_confirmation : {"allow", "disallow"}, default "allow"
        Whether one NE between a response and its confirmation is accepted.
    assessment_interval_days : int or None, default None
        Scheduled tumour-assessment interval for the PFS missed-assessment rule; ``None`` uses
        the trial schedule (:data:`ASSESSMENT_INTERVAL_DAYS`: 42 T-DM1, 84 everolimus).
    """

    cutoff_date: str | dt.date
    ratio_threshold: float = 2.2
    min_her2_signals: int = 1
    confirmation_days: int = 28
    sd_min_days: int = 42
    sd_window_days: int = 0
    ne_between_confirmation: str = "allow"
    assessment_interval_days: int | None = None

    def __post_init__(self) -> None:
        try:
            cutoff = pd.Timestamp(self.cutoff_date)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"cutoff_date must be an ISO date such as '2026-06-30', got {self.cutoff_date!r}."
            ) from err
        if pd.isna(cutoff):
            raise ValueError("cutoff_date is missing: give the data cut-off as an ISO date.")
        object.__setattr__(self, "cutoff_date", cutoff.strftime("%Y-%m-%d"))
        if isinstance(self.ratio_threshold, bool) or not isinstance(
            self.ratio_threshold, numbers.Real
        ):
            raise TypeError(f"ratio_threshold must be a number, got {self.ratio_threshold!r}.")
        if not self.ratio_threshold > 0:
            raise ValueError(f"ratio_threshold must be > 0, got {self.ratio_threshold}.")
        _check_int(self.min_her2_signals, "min_her2_signals", 0)
        _check_int(self.confirmation_days, "confirmation_days", 0)
        _check_int(self.sd_min_days, "sd_min_days", 0)
        _check_int(self.sd_window_days, "sd_window_days", 0)
        if self.ne_between_confirmation not in ("allow", "disallow"):
            raise ValueError(
                "ne_between_confirmation must be 'allow' or 'disallow', got "
                f"{self.ne_between_confirmation!r}."
            )
        if self.assessment_interval_days is not None:
            _check_int(self.assessment_interval_days, "assessment_interval_days", 1)

    def interval_days(self, trial: str) -> int:
        """Assessment interval for ``trial`` (the explicit value, else the trial schedule)."""
        if self.assessment_interval_days is not None:
            return int(self.assessment_interval_days)
        return ASSESSMENT_INTERVAL_DAYS[trial]


@dataclass(frozen=True)
class DerivedTrial:
    """Analysis datasets of one trial and its QC table.

    Attributes
    ----------
    trial : str
        Trial name (folder name).
    datasets : dict of str to pandas.DataFrame
        ``adsl, adrs, adtte, adae, adex, adbm`` and ``adctc, adcell`` (HER2-CTC) or ``adwb``
        (everolimus-NK, when ``western_blot`` was provided).
    qc : pandas.DataFrame
        TRIAL, FILE, ROW, USUBJID, RECORD, RULE, REASON (see
        :data:`helpers.data.validation.QC_RULES`).
    """

    trial: str
    datasets: dict[str, pd.DataFrame]
    qc: pd.DataFrame


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _study_day(adt: pd.Series, start: pd.Series) -> pd.Series:
    days = (pd.to_datetime(adt) - pd.to_datetime(start)).dt.days
    return days.where(days < 0, days + 1).astype("Int64")


def _finish(df: pd.DataFrame, columns: list[str], keys: list[str]) -> pd.DataFrame:
    """Select columns, sort by keys (stable) and drop index and attrs (stable parquet bytes)."""
    out = df.loc[:, columns].sort_values(keys, kind="mergesort", na_position="last")
    out = out.reset_index(drop=True)
    out.attrs = {}
    return out


def _yn(mask: pd.Series) -> pd.Series:
    return pd.Series(np.where(mask.fillna(False).astype(bool), "Y", "N"), index=mask.index)


def _file(tables: Mapping[str, pd.DataFrame], name: str) -> str:
    return source_file_name(tables[name], name) if name in tables else f"{name}.csv"


# --------------------------------------------------------------------------------------------
# adsl
# --------------------------------------------------------------------------------------------


def _has_measurable_disease(t: Mapping[str, pd.DataFrame], subjects: pd.Series) -> pd.Series:
    if "tumour_lesions" not in t:
        return pd.Series(True, index=subjects.index)
    les = t["tumour_lesions"]
    base_target = les["visit"].eq("BASELINE") & les["lesion_category"].eq("target")
    # subjects with investigator responses only: measurable disease not checkable (see module)
    no_lesion_data = ~subjects.isin(les["subject_id"])
    return subjects.isin(les.loc[base_target, "subject_id"]) | no_lesion_data


def _derive_adsl(t: Mapping[str, pd.DataFrame], trial: str) -> pd.DataFrame:
    p = t["patients"]
    sid = p["subject_id"]
    eot = t["end_of_treatment"].set_index("subject_id")
    srv = t["survival"].set_index("subject_id")
    dosed = set(t["exposure"].loc[t["exposure"]["dose"] > 0, "subject_id"])
    treated = p["date_treatment_start"].notna()
    adsl = pd.DataFrame(
        {
            "STUDYID": trial,
            "USUBJID": sid,
            "SITEID": p["site_id"],
            "SEX": p["sex"],
            "AGE": p["age"],
            "ECOG": p["ecog"],
            "HRSTAT": p["hr_status"],
            "HER2IHC": p["her2_ihc"],
            "HER2ISH": p["her2_ish"],
            "VISCFL": p["visceral_disease"],
            "METSITES": p["metastatic_sites"].str.replace(" ", "", regex=False),
            "NMETS": p["metastatic_sites"].str.split(";").str.len().astype("Int64"),
            "PRIORLN": p["prior_lines_metastatic"],
            "INCLDT": p["date_inclusion"],
            "TRTSDT": p["date_treatment_start"],
            # a treatment start after the cut-off was blanked: no end of treatment either
            "TRTEDT": sid.map(eot["date_last_dose"]).where(treated),
            "EOTSTT": sid.map(eot["eot_reason"]).where(treated),
            "DTHDT": sid.map(srv["date_death"]),
            "DTHCAUS": sid.map(srv["death_cause"]),
            "LSTALVDT": sid.map(srv["date_last_alive"]),
            "SCRNFL": "Y",
            "TRTFL": _yn(treated),
            "SAFFL": _yn(treated & sid.isin(dosed)),
            "EFFFL": _yn(treated & _has_measurable_disease(t, sid)),
        }
    )
    for col in ("TRTEDT", "DTHDT", "LSTALVDT"):
        adsl[col] = pd.to_datetime(adsl[col]).astype("datetime64[ns]")
    if "reason_not_treated" in p.columns and p["reason_not_treated"].notna().any():  # optional
        adsl["NTRTRSN"] = p["reason_not_treated"].where(~treated)
    if trial == "her2_ctc_tdm1":
        scr = t["ctc_screening"].set_index("subject_id")["cellsearch_status"]
        adsl["CTCEVLFL"] = _yn(sid.map(scr).eq("done"))
    columns = [c for c in ADSL_COLUMNS if c in adsl.columns]
    return _finish(adsl, columns, ["USUBJID"])


# --------------------------------------------------------------------------------------------
# adrs
# --------------------------------------------------------------------------------------------


def _visit_number(visit: pd.Series) -> pd.Series:
    """W06 → 6, BASELINE → 0, unscheduled (UNSn) → NA: weeks from treatment start."""
    weeks = visit.astype(str).str.extract(r"^W([0-9]+)$")[0]
    num = pd.to_numeric(weeks, errors="coerce").astype("Int64")
    return num.mask(visit.eq("BASELINE"), 0)


def _ovr_rows(t: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    if "tumour_lesions" in t and len(t["tumour_lesions"]):
        tp = recist.derive_timepoint_response(t["tumour_lesions"])
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": tp["subject_id"],
                    "AVALC": tp["overall_response"],
                    "AVISIT": tp["visit"],
                    "ADT": tp["assessment_date"],
                    "SUMDIAM": tp["target_sum_mm"],
                    "PCHGBL": tp["pchg_baseline"],
                    "SRCDOM": "tumour_lesions",
                }
            )
        )
    if "timepoint_responses" in t and len(t["timepoint_responses"]):
        inv = t["timepoint_responses"]
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": inv["subject_id"],
                    "AVALC": inv["response"],
                    "AVISIT": inv["visit"],
                    "ADT": inv["assessment_date"],
                    "SUMDIAM": np.nan,
                    "PCHGBL": np.nan,
                    "SRCDOM": "timepoint_responses",
                }
            )
        )
    columns = ["USUBJID", "AVALC", "AVISIT", "ADT", "SUMDIAM", "PCHGBL", "SRCDOM"]
    if not parts:
        return pd.DataFrame(columns=columns)
    ovr = pd.concat(parts, ignore_index=True)
    ovr["ADT"] = pd.to_datetime(ovr["ADT"]).astype("datetime64[ns]")
    return ovr.assign(PARAMCD="OVR", PARAM=_PARAM_OVR)


def _best_pchg(ovr: pd.DataFrame) -> pd.Series:
    """Minimum PCHGBL up to and including the first PD, per USUBJID."""
    ovr = ovr.sort_values(["USUBJID", "ADT"], kind="mergesort")
    pd_date = ovr[ovr["AVALC"].eq("PD")].groupby("USUBJID")["ADT"].min()
    limit = ovr["USUBJID"].map(pd_date)
    usable = ovr["PCHGBL"].notna() & (limit.isna() | (ovr["ADT"] <= limit))
    return ovr[usable].groupby("USUBJID")["PCHGBL"].min()


def _assessments(ovr: pd.DataFrame, t: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """OVR rows plus one BASELINE row per patient with baseline lesions.

    The BASELINE rows let :func:`helpers.endpoints.recist.derive_best_overall_response` tell a
    patient
    assessed at baseline only (BOR NE) from one without any tumour data (BOR MISSING).
    """
    timepoints = pd.DataFrame(
        {
            "subject_id": ovr["USUBJID"],
            "visit": ovr["AVISIT"],
            "assessment_date": ovr["ADT"],
            "overall_response": ovr["AVALC"],
        }
    )
    if "tumour_lesions" not in t:
        return timepoints
    les = t["tumour_lesions"]
    base = les[les["visit"].eq("BASELINE")].groupby("subject_id", as_index=False)
    base = base["assessment_date"].min().assign(visit="BASELINE", overall_response="NE")
    return pd.concat([base[timepoints.columns], timepoints], ignore_index=True)


def _bor_rows(
    timepoints: pd.DataFrame, adsl: pd.DataFrame, params: DerivationParams, confirmed: bool
) -> pd.DataFrame:
    treated = adsl[adsl["TRTFL"].eq("Y")]
    start = pd.Series(treated["TRTSDT"].to_numpy(), index=treated["USUBJID"].to_numpy())
    bor = recist.derive_best_overall_response(
        timepoints,
        start,
        subjects=list(start.index),
        confirmed=confirmed,
        confirmation_days=params.confirmation_days,
        sd_min_days=params.sd_min_days,
        sd_window_days=params.sd_window_days,
        ne_between_confirmation=params.ne_between_confirmation,
    )
    return pd.DataFrame(
        {
            "USUBJID": bor["subject_id"],
            "PARAMCD": "CBOR" if confirmed else "BOR",
            "PARAM": _PARAM_CBOR if confirmed else _PARAM_BOR,
            "AVALC": bor["bor"],
            "ADT": pd.to_datetime(bor["bor_date"]).astype("datetime64[ns]"),
            "SRCDOM": "ADRS",
        }
    )


def _derive_adrs(
    t: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, params: DerivationParams, trial: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ovr = _ovr_rows(t)
    timepoints = _assessments(ovr, t)
    bor = pd.concat(
        [_bor_rows(timepoints, adsl, params, confirmed=c) for c in (False, True)],
        ignore_index=True,
    )
    bor["BESTPCHG"] = bor["USUBJID"].map(_best_pchg(ovr)) if len(ovr) else np.nan
    adrs = pd.concat([ovr, bor], ignore_index=True)
    adrs["ADT"] = pd.to_datetime(adrs["ADT"]).astype("datetime64[ns]")
    start = adrs["USUBJID"].map(adsl.set_index("USUBJID")["TRTSDT"])
    adrs["ADY"] = _study_day(adrs["ADT"], start)
    adrs["AVISITN"] = _visit_number(adrs["AVISIT"]) if len(adrs) else pd.Series(dtype="Int64")
    for col in ("SUMDIAM", "PCHGBL", "BESTPCHG"):
        adrs[col] = pd.to_numeric(adrs.get(col), errors="coerce").astype(float)
    order = {"OVR": 0, "BOR": 1, "CBOR": 2}
    adrs["_ord"] = adrs["PARAMCD"].map(order)
    adrs = _finish(adrs, [*ADRS_COLUMNS, "_ord"], ["USUBJID", "_ord", "ADT"])
    adrs = adrs.drop(columns="_ord")

    treated = adsl.loc[adsl["TRTFL"].eq("Y"), "USUBJID"]
    none = treated[~treated.isin(ovr["USUBJID"])]
    source = "tumour_lesions" if "tumour_lesions" in t else "timepoint_responses"
    qc = derive_qc_rows(
        trial,
        _file(t, source),
        [None] * len(none),
        none,
        ["post-baseline tumour assessment"] * len(none),
        "no_post_baseline_assessment",
        "treated patient without any post-baseline tumour assessment: BOR is NE or MISSING",
    )
    return adrs, qc


# --------------------------------------------------------------------------------------------
# adtte, adae, adex
# --------------------------------------------------------------------------------------------


def _derive_adtte(
    t: Mapping[str, pd.DataFrame],
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    params: DerivationParams,
    trial: str,
) -> pd.DataFrame:
    treated = adsl[adsl["TRTFL"].eq("Y")]
    srv = t["survival"].set_index("subject_id")
    subjects = pd.DataFrame(
        {
            "USUBJID": treated["USUBJID"],
            "TRTSDT": treated["TRTSDT"],
            "PDDT": treated["USUBJID"].map(srv["date_progression"]),
            "PDTYPE": treated["USUBJID"].map(srv["progression_type"]),
            "DTHDT": treated["DTHDT"],
            "LSTALVDT": treated["LSTALVDT"],
        }
    ).reset_index(drop=True)
    ovr = adrs.loc[adrs["PARAMCD"].eq("OVR"), ["USUBJID", "ADT", "AVALC"]]
    rules = dataclasses.replace(
        survival.PFS_RULES_FDA, assessment_interval_days=params.interval_days(trial)
    )
    new_therapy = srv.get("date_new_anticancer_therapy")  # optional column of the contract
    if new_therapy is not None and new_therapy.notna().any():
        subjects["NACTDT"] = treated["USUBJID"].map(new_therapy).to_numpy()
    else:  # no date recorded: the FDA rule cannot fire, so it is not claimed
        rules = pfs_sensitivity.without_new_therapy_rule(rules)
    pfs = survival.derive_pfs(subjects, ovr, params.cutoff_date, rules=rules)
    os_ = survival.derive_os(subjects, params.cutoff_date)
    sens = pfs_sensitivity.derive_pfs_sensitivity(subjects, ovr, params.cutoff_date, rules)
    adtte = pd.concat([pfs, os_, sens], ignore_index=True)
    return _finish(adtte, list(adtte.columns), ["USUBJID", "PARAMCD"])


def _progression_qc(
    t: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, adrs: pd.DataFrame, trial: str
) -> pd.DataFrame:
    """QC (kept): survival-table progression date vs the first RECIST PD of the treated."""
    treated = adsl.loc[adsl["TRTFL"].eq("Y"), "USUBJID"]
    srv = t["survival"].set_index("subject_id")
    subjects = pd.DataFrame(
        {
            "USUBJID": treated,
            "PDDT": treated.map(srv["date_progression"]),
            "PDTYPE": treated.map(srv["progression_type"]),
        }
    )
    ovr = adrs.loc[adrs["PARAMCD"].eq("OVR"), ["USUBJID", "ADT", "AVALC"]]
    found = pfs_sensitivity.compute_progression_reconciliation(subjects, ovr)
    record = [
        f"date_progression={'' if pd.isna(d) else d.date()}; first RECIST PD="
        f"{'' if pd.isna(f) else f.date()}"
        for d, f in zip(found["PDDT"], found["FIRSTPDDT"], strict=True)
    ]
    return derive_qc_rows(
        trial,
        _file(t, "survival"),
        [None] * len(found),
        found["USUBJID"],
        record,
        "progression_date_mismatch",
        found["ISSUE"],
    )


def _derive_adae(t: Mapping[str, pd.DataFrame], adsl: pd.DataFrame) -> pd.DataFrame:
    ae = t["adverse_events"]
    info = adsl.set_index("USUBJID")
    start = ae["subject_id"].map(info["TRTSDT"])
    end = ae["subject_id"].map(info["TRTEDT"])
    window_end = end + pd.Timedelta(days=TEAE_WINDOW_DAYS)
    emergent = start.notna() & (ae["date_start"] >= start)
    emergent &= window_end.isna() | (ae["date_start"] <= window_end)
    adae = pd.DataFrame(
        {
            "USUBJID": ae["subject_id"],
            "AESEQ": ae["ae_id"],
            "AEDECOD": ae["ae_term"],
            "AEBODSYS": ae["soc"],
            "AETOXGR": ae["grade"],
            "ASTDT": ae["date_start"],
            "AENDT": ae["date_end"],
            "AESER": ae["serious"],
            "AEREL": ae["related"],
            "AEACN": ae["action_taken"],
            "TRTEMFL": _yn(emergent),
            "INFFL": _yn(ae["soc"].str.strip().str.casefold().eq(_INFECTION_SOC.casefold())),
        }
    )
    return _finish(adae, ADAE_COLUMNS, ["USUBJID", "AESEQ"])


def _derive_adex(t: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    ex = t["exposure"]
    adex = pd.DataFrame(
        {
            "USUBJID": ex["subject_id"],
            "CYCLE": ex["cycle"],
            "ASTDT": ex["date_start"],
            "DOSE": ex["dose"],
            "DOSEU": ex["dose_unit"],
            "DOSELVL": ex["dose_level"],
            "ACTION": ex["action"],
        }
    )
    return _finish(adex, ADEX_COLUMNS, ["USUBJID", "CYCLE"])


# --------------------------------------------------------------------------------------------
# adbm
# --------------------------------------------------------------------------------------------


def _empty_adbm() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ADBM_COLUMNS})


def _cycle_visit_number(visit: pd.Series) -> pd.Series:
    """C1D1 → 1, C4D1 → 4 (cycle number; day ignored), EOT → 99."""
    cycle = pd.to_numeric(visit.str.extract(r"^C([0-9]+)D")[0], errors="coerce")
    return cycle.mask(visit.eq("EOT"), _EOT_VISITN).astype("int64")


def _lod_imputed(value: pd.Series, below: pd.Series, limit: pd.Series) -> pd.Series:
    return value.where(~below.eq("Y"), limit / 2.0).astype(float)


def _bm_frame(**columns: object) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    df["ADT"] = pd.to_datetime(df["ADT"]).astype("datetime64[ns]")
    return df


def _gzmb(t: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    g = t["granzyme_b"]
    df = _bm_frame(
        USUBJID=g["subject_id"],
        PARAMCD="GZMB",
        PARAM="Plasma granzyme B (ELISA, pg/mL)",
        AVALU="pg/mL",
        STIM=None,
        AVISIT=g["visit"],
        AVISITN=g["visit"].map(flow.VISIT_NUMBERS).astype("int64"),
        ADT=g["sample_date"],
        AVAL=_lod_imputed(g["gzmb_pg_ml"], g["below_lloq"], g["lloq_pg_ml"]),
        LODFL=g["below_lloq"],
    )
    return flow.derive_biomarker_change(df, "BASELINE", by=["USUBJID", "PARAMCD"])


def _ctc_counts(t: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    f = t["ctc_followup"]
    df = _bm_frame(
        USUBJID=f["subject_id"],
        PARAMCD="CTCCNT",
        PARAM="CTC count (CellSearch, per 7.5 mL)",
        AVALU="CTC/7.5 mL",
        STIM=None,
        AVISIT=f["visit"],
        AVISITN=_cycle_visit_number(f["visit"]),
        ADT=f["sample_date"],
        AVAL=f["ctc_count"].astype(float),
        LODFL="N",
    )
    return flow.derive_biomarker_change(df, "C1D1", by=["USUBJID", "PARAMCD"])


def _ctdna(t: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    c = t["ctdna"]
    df = _bm_frame(
        USUBJID=c["subject_id"],
        PARAMCD="CTDNATF",
        PARAM="ctDNA tumour fraction (%)",
        AVALU="%",
        STIM=None,
        AVISIT=c["visit"],
        AVISITN=_cycle_visit_number(c["visit"]),
        ADT=c["sample_date"],
        AVAL=_lod_imputed(c["tumour_fraction_pct"], c["below_lod"], c["lod_pct"]),
        LODFL=c["below_lod"],
    )
    return flow.derive_biomarker_change(df, "C1D1", by=["USUBJID", "PARAMCD"])


def _stack_adbm(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p[ADBM_COLUMNS] for p in parts if len(p)]
    adbm = pd.concat(parts, ignore_index=True) if parts else _empty_adbm()
    adbm["AVISITN"] = pd.to_numeric(adbm["AVISITN"]).astype("int64")
    adbm["ADT"] = pd.to_datetime(adbm["ADT"]).astype("datetime64[ns]")
    for col in ("AVAL", "BASE", "CHG", "PCHG"):
        adbm[col] = pd.to_numeric(adbm[col]).astype(float)
    adbm["STIM"] = adbm["STIM"].astype(object).where(adbm["STIM"].notna(), None)
    return _finish(adbm, ADBM_COLUMNS, ["USUBJID", "PARAMCD", "STIM", "AVISITN"])


def _missing_gzmb_visits(
    t: Mapping[str, pd.DataFrame], adsl: pd.DataFrame, trial: str
) -> pd.DataFrame:
    treated = adsl.loc[adsl["TRTFL"].eq("Y"), "USUBJID"]
    g = t["granzyme_b"]
    have = set(zip(g["subject_id"], g["visit"], strict=True))
    missing = [(s, v) for s in treated for v in ("BASELINE", "M3") if (s, v) not in have]
    return derive_qc_rows(
        trial,
        _file(t, "granzyme_b"),
        [None] * len(missing),
        [s for s, _ in missing],
        [f"visit={v}" for _, v in missing],
        "missing_visit",
        [
            f"no granzyme B sample at {v} (needed for the primary endpoint): patient not in "
            "the change-from-baseline analysis"
            for _, v in missing
        ],
    )


def _flow_markers(t: Mapping[str, pd.DataFrame], trial: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    nk = t["nk_flow"]
    # carry the spreadsheet row through helpers.everolimus_nk.flow so unmapped rows can be traced
    result = flow.derive_flow_markers(nk.assign(_ROW=nk.index))
    un = result.unmapped
    record = (
        "visit="
        + un["visit"].astype(str)
        + "; stimulation="
        + un["stimulation"].astype(str)
        + "; population="
        + un["population"].astype(str)
        + "; statistic="
        + un["statistic"].astype(str)
    )
    qc = derive_qc_rows(
        trial,
        _file(t, "nk_flow"),
        un["_ROW"],
        un["subject_id"],
        record,
        "flow_unmapped",
        un["REASON"],
    )
    return result.markers, qc


# --------------------------------------------------------------------------------------------
# trial-specific pieces
# --------------------------------------------------------------------------------------------


def _ctc_datasets(
    t: Mapping[str, pd.DataFrame], params: DerivationParams, trial: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    fish = t["ctc_fish"]
    adcell = ctc.derive_cell_calls(
        fish,
        t.get("ctc_if"),
        ratio_threshold=params.ratio_threshold,
        min_her2_signals=params.min_her2_signals,
    )
    adctc = ctc.derive_patient_ctc_summary(t["ctc_screening"], adcell, reader="R1")
    bad = adcell[adcell["EVALFL"].eq("N")]
    row_of = {
        key: row
        for key, row in zip(
            zip(fish["subject_id"], fish["cell_id"], fish["reader_id"], strict=True),
            fish.index,
            strict=True,
        )
    }
    keys = list(zip(bad["USUBJID"], bad["CELLID"], bad["READER"], strict=True))
    qc = derive_qc_rows(
        trial,
        _file(t, "ctc_fish"),
        [row_of.get(k) for k in keys],
        bad["USUBJID"],
        [f"cell_id={c}; reader_id={r}" for _, c, r in keys],
        "cell_not_evaluable",
        bad["NEVALRSN"].fillna("not evaluable"),
    )
    adcell = _finish(adcell, list(adcell.columns), ["USUBJID", "CELLID", "READER"])
    adctc = _finish(adctc, list(adctc.columns), ["USUBJID"])
    return adctc, adcell, qc


def _western(t: Mapping[str, pd.DataFrame], trial: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    wb = t["western_blot"]
    # a band at or below its membrane's LOD (3.3 x SD of the exported background) is undetectable
    result = western.derive_western(wb, lod=western_qc.compute_band_lod(wb))
    first_row = pd.Series(wb.index, index=wb.index).groupby([wb["membrane_id"], wb["lane"]]).min()
    ex = result.exclusions
    rows = [
        first_row.get((m, int(ln))) if pd.notna(ln) else None
        for m, ln in zip(ex["MEMBRANE"], ex["LANE"], strict=True)
    ]
    record = [
        f"membrane_id={m}" + (f"; lane={int(ln)}" if pd.notna(ln) else "")
        for m, ln in zip(ex["MEMBRANE"], ex["LANE"], strict=True)
    ]
    qc = derive_qc_rows(
        trial, _file(t, "western_blot"), rows, ex["USUBJID"], record, ex["RULE"], ex["REASON"]
    )
    adwb = _finish(result.lanes, list(result.lanes.columns), ["MEMBRANE", "LANE"])
    return adwb, qc


def _common(
    t: Mapping[str, pd.DataFrame], params: DerivationParams, trial: str
) -> tuple[dict[str, pd.DataFrame], list[pd.DataFrame]]:
    adsl = _derive_adsl(t, trial)
    adrs, qc_rs = _derive_adrs(t, adsl, params, trial)
    datasets = {
        "adsl": adsl,
        "adrs": adrs,
        "adtte": _derive_adtte(t, adsl, adrs, params, trial),
        "adae": _derive_adae(t, adsl),
        "adex": _derive_adex(t),
    }
    return datasets, [qc_rs, _progression_qc(t, adsl, adrs, trial)]


def _check_inputs(tables: object, params: object) -> None:
    if not isinstance(tables, Mapping):
        raise TypeError("tables must be the dict returned by validation.validate_trial.")
    if not isinstance(params, DerivationParams):
        raise TypeError("params must be a DerivationParams(cutoff_date=...).")


# --------------------------------------------------------------------------------------------
# Public
# --------------------------------------------------------------------------------------------


def derive_her2_ctc_tdm1(
    tables: Mapping[str, pd.DataFrame], params: DerivationParams
) -> DerivedTrial:
    """Analysis datasets of the HER2-CTC / T-DM1 trial.

    Method: cut-off and exclusions (:func:`helpers.data.validation.derive_qc_exclusions`); adsl with
    population flags (module docstring); adrs = RECIST 1.1 time-point responses from lesions
    (:func:`helpers.endpoints.recist.derive_timepoint_response`) or investigator responses, plus BOR
    (unconfirmed) and CBOR (confirmed) rows of every treated patient
    (:func:`helpers.endpoints.recist.derive_best_overall_response`); adtte = PFS under the FDA 2018
    rules
    with the 6-weekly schedule and OS (:mod:`helpers.endpoints.survival`); adae, adex; adcell/adctc
    = per-CTC
    HER2 FISH calls and per-patient summary (:mod:`helpers.her2_ctc.ctc`, reader R1); adbm = CTC
    counts
    during treatment (CTCCNT) and ctDNA tumour fraction (CTDNATF, below-LoD imputed LoD/2,
    LODFL), change from C1D1.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Output of :func:`helpers.data.validation.validate_trial` for ``her2_ctc_tdm1``.
    params : DerivationParams
        Cut-off and derivation settings.

    Returns
    -------
    DerivedTrial
        datasets ``adsl, adrs, adtte, adae, adex, adbm, adctc, adcell`` (columns in
        docs/data_dictionary.md) and the QC table.

    References
    ----------
    Eisenhauer EA et al. Eur J Cancer 2009;45:228-247 (RECIST 1.1). FDA, Clinical Trial
    Endpoints for the Approval of Cancer Drugs and Biologics, 2018. Wolff AC et al. J Clin
    Oncol 2018;36:2105-2122. CDISC ADaM IG v1.3.
    """
    _check_inputs(tables, params)
    trial = "her2_ctc_tdm1"
    cut = derive_qc_exclusions(tables, trial, params.cutoff_date)
    t = cut.tables
    datasets, qc_parts = _common(t, params, trial)
    adctc, adcell, qc_cells = _ctc_datasets(t, params, trial)
    bm = [_ctc_counts(t) if "ctc_followup" in t else None, _ctdna(t) if "ctdna" in t else None]
    datasets.update(adbm=_stack_adbm([b for b in bm if b is not None]), adctc=adctc, adcell=adcell)
    qc = concat_qc([cut.qc, *qc_parts, qc_cells])
    return DerivedTrial(trial, dict(sorted(datasets.items())), qc)


def derive_everolimus_nk(
    tables: Mapping[str, pd.DataFrame], params: DerivationParams
) -> DerivedTrial:
    """Analysis datasets of the everolimus / NK trial.

    Method: cut-off and exclusions (:func:`helpers.data.validation.derive_qc_exclusions`); adsl,
    adrs, adtte (PFS with the 12-weekly schedule, OS), adae (INFFL for infections), adex as for
    :func:`derive_her2_ctc_tdm1`; adbm = plasma granzyme B (GZMB; below LLOQ imputed LLOQ/2,
    LODFL = Y; change from BASELINE) and the NK flow-cytometry markers
    (:func:`helpers.everolimus_nk.flow.derive_flow_markers`; unmapped export rows go to QC); adwb =
    rpS6
    phosphorylation per lane (:func:`helpers.everolimus_nk.western.derive_western`; non-evaluable
    lanes are
    kept with EVALFL = N and listed in QC). Treated patients without a BASELINE or M3 granzyme B
    sample are listed in QC (``missing_visit``). The tables ``granzyme_b``, ``nk_flow`` and
    ``western_blot`` are optional: an absent one contributes no row (no GZMB row, no flow marker,
    no adwb).

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Output of :func:`helpers.data.validation.validate_trial` for ``everolimus_nk``.
    params : DerivationParams
        Cut-off and derivation settings (CTC settings are unused here).

    Returns
    -------
    DerivedTrial
        datasets ``adsl, adrs, adtte, adae, adex, adbm`` and ``adwb`` (when western_blot was
        provided) and the QC table.

    References
    ----------
    Eisenhauer EA et al. Eur J Cancer 2009;45:228-247. Hornung RW, Reed LD. Estimation of
    average concentration in the presence of nondetectable values. Appl Occup Environ Hyg
    1990;5:46-51. CDISC ADaM IG v1.3.
    """
    _check_inputs(tables, params)
    trial = "everolimus_nk"
    cut = derive_qc_exclusions(tables, trial, params.cutoff_date)
    t = cut.tables
    datasets, qc_parts = _common(t, params, trial)
    bm_parts = []
    if "granzyme_b" in t:  # optional: without it adbm holds no GZMB row
        bm_parts.append(_gzmb(t))
        qc_parts.append(_missing_gzmb_visits(t, datasets["adsl"], trial))
    if "nk_flow" in t:
        markers, qc_flow = _flow_markers(t, trial)
        bm_parts.append(markers)
        qc_parts.append(qc_flow)
    datasets["adbm"] = _stack_adbm(bm_parts)
    if "western_blot" in t:
        datasets["adwb"], qc_wb = _western(t, trial)
        qc_parts.append(qc_wb)
    qc = concat_qc([cut.qc, *qc_parts])
    return DerivedTrial(trial, dict(sorted(datasets.items())), qc)


#: The derivation of each trial.
DERIVATIONS: dict[str, Callable[[Mapping[str, pd.DataFrame], DerivationParams], DerivedTrial]] = {
    "her2_ctc_tdm1": derive_her2_ctc_tdm1,
    "everolimus_nk": derive_everolimus_nk,
}

# --------------------------------------------------------------------------------------------
# Provenance and overview (used by notebooks/00_data_preparation.ipynb)
# --------------------------------------------------------------------------------------------

_PACKAGES = ("helpers", "numpy", "pandas", "pandera", "pyarrow", "scipy", "lifelines")
_POPULATIONS = {
    "SCRNFL": "screened / enrolled (patients table)",
    "CTCEVLFL": "CellSearch done (CTC evaluable)",
    "TRTFL": "treated (first dose given)",
    "SAFFL": "safety set (>= 1 dose in exposure)",
    "EFFFL": "efficacy-evaluable (treated, measurable disease)",
}
#: Raw table → (analysis dataset, PARAMCD filter or None) receiving its records.
SOURCE_DATASET: dict[str, tuple[str, str | None]] = {
    "patients": ("adsl", None),
    "exposure": ("adex", None),
    "end_of_treatment": ("adsl", None),
    "tumour_lesions": ("adrs", "OVR"),
    "timepoint_responses": ("adrs", "OVR"),
    "survival": ("adtte", None),
    "adverse_events": ("adae", None),
    "ctc_screening": ("adctc", None),
    "ctc_fish": ("adcell", None),
    "ctc_if": ("adcell", None),
    "ctc_followup": ("adbm", "CTCCNT"),
    "ctdna": ("adbm", "CTDNATF"),
    "granzyme_b": ("adbm", "GZMB"),
    "nk_flow": ("adbm", None),
    "western_blot": ("adwb", None),
}


def derive_source_files(raw: Mapping[str, Mapping[str, pd.DataFrame]]) -> dict[str, Path]:
    """Raw files behind loaded tables: ``"<trial>/<file>" → path`` (from ``attrs["source"]``)."""
    files = {}
    for trial, tables in raw.items():
        for name, df in tables.items():
            source = df.attrs.get("source")
            if not source:
                raise ValueError(
                    f"{trial}/{name} has no attrs['source']; load it with io.load_raw_trial."
                )
            files[f"{trial}/{Path(source).name}"] = Path(source)
    return dict(sorted(files.items()))


def derive_manifest(
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    params: DerivationParams,
    synthetic: bool,
) -> dict:
    """Provenance record of a data-preparation run, free of timestamps (stable bytes).

    Parameters
    ----------
    inputs, outputs : mapping of str to str
        File name (relative) → SHA-256 of the raw inputs and of the written datasets.
    params : DerivationParams
        Derivation settings.
    synthetic : bool
        Whether the raw data are the simulated demo cohort.

    Returns
    -------
    dict
        ``inputs``, ``outputs``, ``parameters``, ``synthetic``, ``versions`` (Python and the
        packages that shape the datasets).
    """
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "inputs": dict(sorted(inputs.items())),
        "outputs": dict(sorted(outputs.items())),
        "parameters": dataclasses.asdict(params),
        "synthetic": bool(synthetic),
        "versions": versions,
    }


def summarise_populations(derived: Mapping[str, DerivedTrial]) -> pd.DataFrame:
    """Patients per population flag and trial.

    Returns
    -------
    pandas.DataFrame
        TRIAL, FLAG, POPULATION (words), N (patients with flag Y), N_SCREENED (adsl rows).
    """
    rows = []
    for trial, result in derived.items():
        adsl = result.datasets["adsl"]
        for flag, label in _POPULATIONS.items():
            if flag in adsl.columns:
                n = int(adsl[flag].eq("Y").sum())
                rows.append(
                    {
                        "TRIAL": trial,
                        "FLAG": flag,
                        "POPULATION": label,
                        "N": n,
                        "N_SCREENED": len(adsl),
                    }
                )
    return pd.DataFrame(rows, columns=["TRIAL", "FLAG", "POPULATION", "N", "N_SCREENED"])


def summarise_records(
    raw: Mapping[str, Mapping[str, pd.DataFrame]], derived: Mapping[str, DerivedTrial]
) -> pd.DataFrame:
    """Records per raw table, how many the QC table excludes, and the receiving dataset.

    Returns
    -------
    pandas.DataFrame
        TRIAL, TABLE, RAW_ROWS, EXCLUDED (QC lines of an excluding rule), DATASET,
        DATASET_ROWS (rows of that dataset, restricted to the table's PARAMCD when it feeds a
        long dataset).
    """
    rows = []
    for trial, tables in raw.items():
        result = derived[trial]
        qc = result.qc[result.qc["RULE"].isin(EXCLUDING_RULES)]
        for name, df in tables.items():
            dataset, paramcd = SOURCE_DATASET[name]
            out = result.datasets.get(dataset)
            if out is not None and paramcd is not None:
                out = out[out["PARAMCD"].eq(paramcd)]
            rows.append(
                {
                    "TRIAL": trial,
                    "TABLE": name,
                    "RAW_ROWS": len(df),
                    "EXCLUDED": int(qc["FILE"].eq(source_file_name(df, name)).sum()),
                    "DATASET": dataset,
                    "DATASET_ROWS": None if out is None else len(out),
                }
            )
    out = pd.DataFrame(
        rows, columns=["TRIAL", "TABLE", "RAW_ROWS", "EXCLUDED", "DATASET", "DATASET_ROWS"]
    )
    return out.astype({"DATASET_ROWS": "Int64"})
