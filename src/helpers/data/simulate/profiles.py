"""Edge-case cohorts ("profiles"): the shapes of real small phase II data, built from the demo.

``python -m helpers.simulate --profile NAME`` writes one of them instead of the demo cohort. Each
profile is a transformation of the demo simulator's tables, so the raw-data contract
(``docs/data_dictionary.md``) holds by construction:

1. simulate the demo cohort at a larger scale (a pool of patients to choose from);
2. edit values where a profile needs it (ties, FISH ratios on integer-signal boundaries,
   censoring every patient), *before* classifying, so that the classification sees the final data;
3. classify every treated patient with the project's own validation and derivation
   (:mod:`helpers.data.validation`, :mod:`helpers.data.derive`: confirmed best overall response,
   PFS/OS events, time on treatment) at the default parameters of ``params.yaml``;
4. keep the patients the profile asks for (e.g. 9 efficacy-evaluable non-responders: a Simon
   stage-1 stop) with all their records; drop optional tables, second readings or samples.

The manifest records what the profile is (``profile``, ``description``, ``covers``) and its known
truth (``truth``: exact counts such as the number of confirmed responders, which the pipeline must
reproduce), and keeps ``"synthetic": true`` so that every figure is stamped SYNTHETIC DATA.
"""

from __future__ import annotations

import io as _stringio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.simulate.cohort import simulate_demo_cohort
from helpers.data.simulate.models import (
    CUTOFF_DATE,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    TRIAL_EVEROLIMUS,
    TRIAL_HER2,
)

Tables = dict[str, dict[str, pd.DataFrame]]

#: (HER2 signals, CEP17 signals) whose ratio sits on the cut-offs: 2.0 exactly (2/1, 4/2, 6/3),
#: between 2.0 and 2.2 (13/6 = 2.17, 17/8 = 2.125), 2.2 exactly (11/5) and above (9/4 = 2.25).
FISH_BOUNDARY_CELLS: tuple[tuple[int, int], ...] = ((2, 1), (4, 2), (6, 3), (13, 6), (17, 8))
FISH_ABOVE_CELLS: tuple[tuple[int, int], ...] = ((11, 5), (9, 4))
#: Months 9 sample of the everolimus trial is drawn around day 270 of treatment.
_M9_DAY = 270
#: Pool of patients to choose from: the demo simulated at this scale.
_POOL_SCALE = 3
_UNTREATED_SCREENED = 24
_OPTIONAL = {
    TRIAL_HER2: ("ctc_if", "ctc_followup", "ctdna"),
    TRIAL_EVEROLIMUS: ("granzyme_b", "nk_flow", "western_blot"),
}


@dataclass(frozen=True)
class TrialSpec:
    """Which treated patients of one trial a profile keeps, and how it edits them.

    Attributes
    ----------
    responders, non_responders : int
        Efficacy-evaluable treated patients kept with / without a confirmed CR or PR.
    events : {"any", "all", "none"}
        ``all``: keep only patients with both a PFS and an OS event; ``none``: remove every
        progression and death (all censored); ``any``: as simulated.
    off_before_m9 : bool
        Keep only patients whose last dose is before month 9; drop every M9 sample.
    keep_m3 : int or None
        Keep the M3/M9 biomarker samples of this many patients only (None: all).
    drop_tables : tuple of str
        Optional tables left out.
    drop_second_reader : bool
        Remove the R2 FISH readings.
    fish_boundaries : bool
        Put FISH ratios on the integer-signal boundaries (HER2-CTC).
    ties : bool
        Round every continuous measurement up to two significant digits (ties everywhere).
    """

    responders: int
    non_responders: int
    events: str = "any"
    off_before_m9: bool = False
    keep_m3: int | None = None
    drop_tables: tuple[str, ...] = ()
    drop_second_reader: bool = False
    fish_boundaries: bool = False
    ties: bool = False


@dataclass(frozen=True)
class Profile:
    """An edge-case cohort: a description, what it covers, and one spec per supplied trial."""

    description: str
    covers: tuple[str, ...]
    trials: dict[str, TrialSpec] = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "one_responder": Profile(
        "Real-sized single-arm phase II: 10 efficacy-evaluable treated with exactly one confirmed "
        "responder (HER2-CTC); 10 everolimus patients with two responders, most M3/M9 samples "
        "missing; ties in every continuous variable; FISH ratios on the integer-signal "
        "boundaries.",
        (
            "one responder (group of 1)",
            "two responders (group of 2, everolimus)",
            "ties in every continuous variable",
            "FISH ratios 2/1, 4/2, 6/3, 11/5, 13/6, 17/8, 9/4",
            "most M3/M9 biomarker samples missing",
        ),
        {
            TRIAL_HER2: TrialSpec(1, 9, fish_boundaries=True, ties=True),
            TRIAL_EVEROLIMUS: TrialSpec(2, 8, keep_m3=3, ties=True),
        },
    ),
    "stage1_stop": Profile(
        "Simon stage-1 stop: 9 efficacy-evaluable treated, no responder, every patient progressed "
        "and died, no IF data, no CTC follow-up or ctDNA, no second reader; everolimus: "
        "8 patients, no responder, every patient progressed and died, all off treatment before "
        "M9, no NK flow or western blot.",
        (
            "no responder (group of 0)",
            "stage-1 stop (trial closed early)",
            "every patient with an event",
            "tables absent: ctc_if, ctc_followup, ctdna, nk_flow, western_blot",
            "no second-reader readings, no IF data",
            "everyone off treatment before M9",
        ),
        {
            TRIAL_HER2: TrialSpec(
                0,
                9,
                events="all",
                drop_tables=("ctc_if", "ctc_followup", "ctdna"),
                drop_second_reader=True,
            ),
            TRIAL_EVEROLIMUS: TrialSpec(
                0, 8, events="all", off_before_m9=True, drop_tables=("nk_flow", "western_blot")
            ),
        },
    ),
    "all_responding": Profile(
        "Every treated patient responds: 4 HER2-CTC patients, none with a PFS or OS event (all "
        "censored: withdrawn before progression where needed), and 2 everolimus patients, both "
        "with a PFS and OS event (too few for a Kaplan–Meier curve).",
        (
            "all responding (non-responder group of 0)",
            "every patient with an event",
            "all censored (no event)",
        ),
        {
            TRIAL_HER2: TrialSpec(4, 0, events="none"),
            TRIAL_EVEROLIMUS: TrialSpec(2, 0, events="all"),
        },
    ),
    "her2_only": Profile(
        "Only the HER2-CTC trial supplied: 6 treated, 2 confirmed responders, no IF data.",
        (
            "only one of the two trials supplied",
            "two responders (group of 2)",
            "table absent: ctc_if",
        ),
        {TRIAL_HER2: TrialSpec(2, 4, drop_tables=("ctc_if",))},
    ),
    "everolimus_only": Profile(
        "Only the everolimus-NK trial supplied: 8 patients, one responder, no PFS or OS event (all "
        "censored), M3/M9 samples of two patients only, no granzyme B (the primary endpoint and "
        "the granzyme B correlations say not available).",
        (
            "only one of the two trials supplied",
            "one responder (group of 1)",
            "all censored (no event)",
            "most M3/M9 biomarker samples missing",
            "table absent: granzyme_b",
        ),
        {TRIAL_EVEROLIMUS: TrialSpec(1, 7, events="none", keep_m3=2, drop_tables=("granzyme_b",))},
    ),
}


# --------------------------------------------------------------------------------------------
# Edits
# --------------------------------------------------------------------------------------------
def _ceil_2sig(values: pd.Series) -> pd.Series:
    """Round positive values up to two significant digits (keeps lower limits and ranges)."""
    x = pd.to_numeric(values, errors="coerce").astype(float)
    pos = x > 0
    digits = np.floor(np.log10(x.where(pos, 1.0)))
    step = 10.0 ** (digits - 1)
    out = x.where(~pos, np.ceil(x / step) * step)
    return out.round(6)


_TIE_COLUMNS: dict[str, dict[str, str]] = {
    TRIAL_HER2: {
        "ctc_if": "if_intensity",
        "tumour_lesions": "diameter_mm",
        "ctdna": "tumour_fraction_pct",
    },
    TRIAL_EVEROLIMUS: {
        "tumour_lesions": "diameter_mm",
        "granzyme_b": "gzmb_pg_ml",
        "nk_flow": "value",
        "western_blot": "intensity",
    },
}


def _with_ties(tables: dict[str, pd.DataFrame], trial: str) -> None:
    for table, col in _TIE_COLUMNS[trial].items():
        if table in tables:
            df = tables[table]
            rounded = _ceil_2sig(df[col])
            if table == "nk_flow":
                rounded = rounded.where(df["statistic"].ne("freq_of_parent"), rounded.clip(0, 100))
            tables[table] = df.assign(**{col: rounded.astype(object).where(df[col].notna())})


def _fish_boundaries(tables: dict[str, pd.DataFrame], untreated: list[str]) -> dict[str, Any]:
    """Put FISH ratios on the boundaries in two untreated patients with enough R1 cells."""
    fish = tables["ctc_fish"].copy()
    r1 = fish[fish["reader_id"].eq("R1")]
    counts = r1.groupby("subject_id").size()
    candidates = [s for s in untreated if counts.get(s, 0) >= len(FISH_BOUNDARY_CELLS)]
    if len(candidates) < 2:
        raise RuntimeError("The pool has too few untreated patients with FISH on >= 5 CTCs.")
    cells: list[dict[str, Any]] = []
    for subject, pairs in zip(candidates[:2], (FISH_BOUNDARY_CELLS, FISH_ABOVE_CELLS), strict=True):
        rows = r1.index[r1["subject_id"].eq(subject)]
        # every other R1 cell of the patient is clearly not amplified (2 HER2 / 2 CEP17)
        fish.loc[rows, ["her2_signals", "cep17_signals"]] = (2, 2)
        for idx, (her2, cep17) in zip(rows, pairs, strict=False):
            fish.loc[idx, ["her2_signals", "cep17_signals"]] = (her2, cep17)
            cells.append(
                {
                    "subject_id": subject,
                    "cell_id": fish.loc[idx, "cell_id"],
                    "her2_signals": her2,
                    "cep17_signals": cep17,
                    "amplified_at_2_0": her2 / cep17 >= 2.0,
                    "amplified_at_2_2": her2 / cep17 >= 2.2,
                }
            )
    edited = set(candidates[:2])
    fish = fish[~(fish["subject_id"].isin(edited) & fish["reader_id"].eq("R2"))]
    tables["ctc_fish"] = fish.reset_index(drop=True)
    return {
        "cells": cells,
        "patient_amplified_at_2_0": {s: True for s in candidates[:2]},
        "patient_amplified_at_2_2": {candidates[0]: False, candidates[1]: True},
    }


def _censor(tables: dict[str, pd.DataFrame], first_pd: pd.Series) -> None:
    """Censor the patients of ``first_pd`` (subject -> date of the first PD assessment, NaT if
    none) consistently: they withdrew before progressing. Tumour assessments from the first PD
    on are removed, progression and death erased, the last contact set to the last assessment
    kept, and the end-of-treatment reason set to withdrawal."""
    subjects = set(first_pd.index)
    les = tables["tumour_lesions"]
    dates = pd.to_datetime(les["assessment_date"])
    cut = les["subject_id"].map(first_pd)
    drop = les["subject_id"].isin(subjects) & cut.notna() & (dates >= cut)
    tables["tumour_lesions"] = les[~drop].reset_index(drop=True)
    last_scan = (
        tables["tumour_lesions"].groupby("subject_id")["assessment_date"].max().reindex(subjects)
    )
    srv = tables["survival"].copy()
    rows = srv["subject_id"].isin(subjects)
    for col in ("date_progression", "progression_type", "date_death", "death_cause"):
        srv.loc[rows, col] = None
    start = tables["patients"].set_index("subject_id")["date_treatment_start"]
    last = srv.loc[rows, "subject_id"].map(last_scan).fillna(srv.loc[rows, "subject_id"].map(start))
    srv.loc[rows, "date_last_alive"] = np.minimum(srv.loc[rows, "date_last_alive"], last)
    tables["survival"] = srv
    eot = tables["end_of_treatment"].copy()
    rows = eot["subject_id"].isin(subjects) & eot["eot_reason"].isin(["progression", "death"])
    eot.loc[rows, "eot_reason"] = "withdrawal"
    tables["end_of_treatment"] = eot


def _keep_samples(tables: dict[str, pd.DataFrame], keep: set[str], visits: tuple[str, ...]) -> None:
    """Drop the samples of ``visits`` except those of the ``keep`` patients."""
    for name in ("granzyme_b", "nk_flow", "western_blot"):
        if name in tables:
            df = tables[name]
            drop = df["visit"].isin(visits) & ~df["subject_id"].isin(keep)
            tables[name] = df[~drop].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Classification with the project's own derivation
# --------------------------------------------------------------------------------------------
def _as_raw_text(df: pd.DataFrame) -> pd.DataFrame:
    """The table as :func:`helpers.io.load_raw_table` would read it back from a CSV file."""
    text = pd.read_csv(
        _stringio.StringIO(df.to_csv(index=False)),
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )
    text.index = pd.RangeIndex(2, len(text) + 2, name="row")
    return text


def _classify(tables: dict[str, pd.DataFrame], trial: str) -> pd.DataFrame:
    """One row per treated patient: RSP, EFF, PFSEV, OSEV, TRTSDT, TRTEDT (at params defaults)."""
    from helpers.data import derive, validation

    typed = validation.validate_trial({n: _as_raw_text(df) for n, df in tables.items()}, trial)
    ds = derive.DERIVATIONS[trial](typed, derive.DerivationParams(cutoff_date=CUTOFF_DATE)).datasets
    adsl = ds["adsl"].set_index("USUBJID")
    treated = adsl[adsl["TRTFL"].eq("Y")]
    adrs = ds["adrs"]
    cbor = adrs[adrs["PARAMCD"].eq("CBOR")].set_index("USUBJID")["AVALC"]
    first_pd = adrs[adrs["PARAMCD"].eq("OVR") & adrs["AVALC"].eq("PD")].groupby("USUBJID")["ADT"]
    tte = ds["adtte"].pivot(index="USUBJID", columns="PARAMCD", values="CNSR")
    return pd.DataFrame(
        {
            "RSP": treated.index.map(cbor).isin(["CR", "PR"]),
            "EFF": treated["EFFFL"].eq("Y").to_numpy(),
            "PFSEV": treated.index.map(tte["PFS"]).to_numpy() == 0,
            "OSEV": treated.index.map(tte["OS"]).to_numpy() == 0,
            "TRTSDT": treated["TRTSDT"].to_numpy(),
            "TRTEDT": treated["TRTEDT"].to_numpy(),
            "FIRSTPD": treated.index.map(first_pd.min()).to_numpy(),
        },
        index=treated.index,
    ).sort_values(["TRTSDT"], kind="stable")


def _select(cls: pd.DataFrame, spec: TrialSpec) -> list[str]:
    pool = cls[cls["EFF"]]
    if spec.events == "all":
        pool = pool[pool["PFSEV"] & pool["OSEV"]]
    elif spec.events == "none":  # the naturally censored first, then those censored by edit
        pool = pool.assign(_ev=pool["PFSEV"] | pool["OSEV"])
        pool = pool.sort_values(["_ev", "TRTSDT"], kind="stable")
    if spec.off_before_m9:
        days = (pool["TRTEDT"] - pool["TRTSDT"]).dt.days
        pool = pool[days.notna() & (days < _M9_DAY - 30)]
    rsp = list(pool.index[pool["RSP"]][: spec.responders])
    non = list(pool.index[~pool["RSP"]][: spec.non_responders])
    if len(rsp) < spec.responders or len(non) < spec.non_responders:
        raise RuntimeError(
            f"The simulated pool has too few patients for {spec}: {len(rsp)} responders, "
            f"{len(non)} non-responders."
        )
    # in order of treatment start, so that the Simon stages follow the accrual order
    return [s for s in cls.index if s in set(rsp) | set(non)]


def _subset(tables: dict[str, pd.DataFrame], subjects: set[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in tables.items():
        if name == "western_blot":
            keep = df["lane_type"].eq("calibrator") | df["subject_id"].isin(subjects)
            df = df[keep]
            # membranes without any sample lane left are dropped with their calibrators
            used = df.loc[df["lane_type"].eq("sample"), "membrane_id"].unique()
            df = df[df["membrane_id"].isin(used)]
        else:
            df = df[df["subject_id"].isin(subjects)]
        out[name] = df.reset_index(drop=True)
    return out


def _build_trial(
    tables: dict[str, pd.DataFrame], trial: str, spec: TrialSpec
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    tables = dict(tables)
    truth: dict[str, Any] = {}
    patients = tables["patients"]
    untreated = list(patients.loc[patients["date_treatment_start"].isna(), "subject_id"])
    if spec.ties:
        _with_ties(tables, trial)
    if spec.fish_boundaries:
        screen = tables["ctc_screening"].set_index("subject_id")["fish_status"]
        done = [s for s in untreated if screen.get(s) == "done"]
        truth["fish_boundaries"] = _fish_boundaries(tables, done)
    cls = _classify(tables, trial)
    chosen = _select(cls, spec)
    keep = set(chosen)
    if trial == TRIAL_HER2:
        keep |= set(untreated[:_UNTREATED_SCREENED])
        keep |= {c["subject_id"] for c in truth.get("fish_boundaries", {}).get("cells", [])}
    tables = _subset(tables, keep)
    if spec.events == "none":
        _censor(tables, cls.loc[chosen, "FIRSTPD"])
    if spec.off_before_m9:
        _keep_samples(tables, set(), ("M9",))
    if spec.keep_m3 is not None:
        _keep_samples(tables, set(chosen[: spec.keep_m3]), ("M3", "M9"))
    for name in spec.drop_tables:
        tables.pop(name, None)
    if spec.drop_second_reader and "ctc_fish" in tables:
        fish = tables["ctc_fish"]
        tables["ctc_fish"] = fish[fish["reader_id"].ne("R2")].reset_index(drop=True)
    # the truth is the derivation on the final tables; it must be what the profile asked for
    kept = _classify(tables, trial).loc[chosen]
    if int(kept["RSP"].sum()) != spec.responders or (
        spec.events == "none" and (kept["PFSEV"] | kept["OSEV"]).any()
    ):
        raise RuntimeError(f"profile edit broke its spec {spec}")
    truth.update(
        {
            "n_treated": len(chosen),
            "n_efficacy_evaluable": int(kept["EFF"].sum()),
            "n_confirmed_responders": int(kept["RSP"].sum()),
            "n_pfs_events": int(kept["PFSEV"].sum()),
            "n_os_events": int(kept["OSEV"].sum()),
            "tables_absent": sorted(set(_OPTIONAL[trial]) - set(tables)),
        }
    )
    if trial == TRIAL_HER2:
        truth["n_screened"] = len(tables["patients"])
        truth["second_reader_readings"] = int(tables["ctc_fish"]["reader_id"].eq("R2").sum())
    else:
        gzmb = tables.get("granzyme_b", pd.DataFrame({"visit": []}))
        truth["n_samples_by_visit"] = {
            v: int(gzmb["visit"].eq(v).sum()) for v in ("BASELINE", "M3", "M9")
        }
    return tables, truth


def simulate_profile(name: str, seed: int = DEFAULT_SEED) -> tuple[Tables, dict[str, Any]]:
    """Build the edge-case cohort ``name`` (one of :data:`PROFILES`) and its manifest.

    Parameters
    ----------
    name : str
        Profile name.
    seed : int
        Seed of the demo simulation the profile is cut from.

    Returns
    -------
    tables_by_trial : dict
        ``{trial: {table: DataFrame}}`` for the trials the profile supplies.
    manifest : dict
        ``synthetic`` (True), ``generator``, ``generator_version``, ``seed``, ``profile``,
        ``description``, ``covers``, ``cutoff_date``, ``cohort`` (rows per table) and
        ``truth`` (per trial: exact counts the pipeline must reproduce, e.g.
        ``n_confirmed_responders``, and the FISH boundary cells with their expected calls).
    """
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}; choose from {sorted(PROFILES)}.")
    profile = PROFILES[name]
    pool, _ = simulate_demo_cohort(seed, _POOL_SCALE)
    tables: Tables = {}
    truth: dict[str, Any] = {}
    for trial, spec in profile.trials.items():
        tables[trial], truth[trial] = _build_trial(pool[trial], trial, spec)
    manifest = {
        "synthetic": True,
        "generator": "helpers.data.simulate.profiles",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "profile": name,
        "description": profile.description,
        "covers": list(profile.covers),
        "cutoff_date": CUTOFF_DATE,
        "trials_supplied": sorted(tables),
        "cohort": {t: {n: len(df) for n, df in tabs.items()} for t, tabs in tables.items()},
        "truth": truth,
    }
    return tables, manifest
