"""Adverse-event and exposure tables over the safety population.

Counting conventions (ICH E3 §12.2; FDA Standard Safety Tables and Figures Integrated Guide,
2022): tables count *patients*, not events; a patient is counted once per preferred term and once
per system organ class (SOC), at the worst CTCAE grade reached. Only treatment-emergent AEs
(``TRTEMFL = "Y"``) of safety-population patients (``adsl.SAFFL = "Y"``) are counted; the
denominator N is the whole safety population, so patients without any AE count in N.

Proportions carry Clopper–Pearson exact CIs (Clopper & Pearson, Biometrika 1934;26:404–413),
computed with :func:`helpers.endpoints.rates.compute_binomial_ci`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from helpers.checks import validate_ci_level
from helpers.endpoints.rates import compute_binomial_ci
from helpers.endpoints.survival import DAYS_PER_MONTH

CP_METHOD = "Clopper–Pearson exact"
GRADES = (1, 2, 3, 4, 5)
ALL_TERMS = "All terms"
SUBSETS = {
    None: None,
    "related": "AEREL",
    "serious": "AESER",
    "infection": "INFFL",
}
_AE_BASE_COLUMNS = ["USUBJID", "AESEQ", "AETOXGR", "TRTEMFL"]


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing required column(s) {missing}; add them first.")


def _safety_population(adsl: pd.DataFrame) -> pd.Index:
    _require_columns(adsl, ["USUBJID", "SAFFL"], "adsl")
    if adsl["USUBJID"].duplicated().any():
        raise ValueError("adsl must have one row per USUBJID.")
    ids = pd.Index(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
    if ids.empty:
        raise ValueError("The safety population is empty (no adsl row with SAFFL = 'Y').")
    return ids


def _treatment_emergent(
    adae: pd.DataFrame, adsl: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, pd.Index]:
    """TEAEs of safety-population patients, with grades checked; and the safety population."""
    safety = _safety_population(adsl)
    _require_columns(adae, [*_AE_BASE_COLUMNS, *columns], "adae")
    unknown = sorted(set(adae["USUBJID"]) - set(adsl["USUBJID"]))
    if unknown:
        raise ValueError(f"adae has patients absent from adsl: {unknown[:5]}; fix the linkage.")
    grade = pd.to_numeric(adae["AETOXGR"], errors="coerce")
    if not grade.isin(GRADES).all():
        bad = adae.loc[~grade.isin(GRADES), "AESEQ"].tolist()
        raise ValueError(
            "AETOXGR must be a CTCAE grade 1-5 for every AE; "
            f"invalid or missing for AESEQ {bad[:5]}."
        )
    te = adae.assign(AETOXGR=grade.astype("Int64"))
    te = te[(te["TRTEMFL"] == "Y") & te["USUBJID"].isin(safety)]
    return te, safety


def _apply_subset(te: pd.DataFrame, subset: str | None) -> pd.DataFrame:
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {list(SUBSETS)}, got {subset!r}.")
    flag = SUBSETS[subset]
    return te if flag is None else te[te[flag] == "Y"]


def _subset_columns(subset: str | None) -> list[str]:
    flag = SUBSETS.get(subset)
    return [flag] if flag else []


def _proportion_row(label: str, n: int, total: int, ci_level: float) -> dict:
    lo, hi = compute_binomial_ci(n, total, ci_level=ci_level, method="clopper-pearson")
    return {
        "parameter": label,
        "n": int(n),
        "N": int(total),
        "estimate": n / total,
        "percentage": 100 * n / total,
        "ci_lower": lo,
        "ci_upper": hi,
        "ci_level": ci_level,
        "method": CP_METHOD,
    }


# --------------------------------------------------------------------------------------------
# AE overview
# --------------------------------------------------------------------------------------------

_OVERVIEW: tuple[tuple[str, Callable[[pd.DataFrame], pd.Series]], ...] = (
    ("Patients with ≥1 TEAE", lambda d: pd.Series(True, index=d.index)),
    ("Patients with ≥1 grade ≥3 TEAE", lambda d: d["AETOXGR"] >= 3),
    ("Patients with ≥1 treatment-related TEAE", lambda d: d["AEREL"] == "Y"),
    (
        "Patients with ≥1 treatment-related grade ≥3 TEAE",
        lambda d: (d["AEREL"] == "Y") & (d["AETOXGR"] >= 3),
    ),
    ("Patients with ≥1 serious TEAE", lambda d: d["AESER"] == "Y"),
    ("Patients with a TEAE leading to dose reduction", lambda d: d["AEACN"] == "dose_reduced"),
    (
        "Patients with a TEAE leading to dose interruption",
        lambda d: d["AEACN"] == "dose_interrupted",
    ),
    (
        "Patients with a TEAE leading to treatment discontinuation",
        lambda d: d["AEACN"] == "drug_withdrawn",
    ),
    ("Patients with a grade 5 (fatal) TEAE", lambda d: d["AETOXGR"] == 5),
)


def summarise_ae_overview(
    adae: pd.DataFrame, adsl: pd.DataFrame, ci_level: float = 0.95
) -> pd.DataFrame:
    """Overview of treatment-emergent adverse events: patients with ≥1 event of each kind.

    Method: patient counts over the safety population (N = patients with ``SAFFL = "Y"``), with
    Clopper–Pearson exact CIs. Rows: any TEAE; grade ≥3; treatment-related; related grade ≥3;
    serious; leading to dose reduction; to dose interruption; to discontinuation (``AEACN =
    "drug_withdrawn"``); grade 5.

    Parameters
    ----------
    adae : DataFrame
        ADaM ADAE: ``USUBJID, AESEQ, AETOXGR (1–5), AESER, AEREL, AEACN, TRTEMFL`` (Y/N flags).
    adsl : DataFrame
        ``USUBJID, SAFFL``.
    ci_level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Estimate table ``parameter, n, N, estimate (proportion), percentage, ci_lower, ci_upper,
        ci_level, method, population ("Safety")``. An empty ``adae`` gives zero counts.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404–413. ICH E3 (1995) §12.2.
    """
    validate_ci_level(ci_level)
    te, safety = _treatment_emergent(adae, adsl, ["AESER", "AEREL", "AEACN"])
    total = len(safety)
    rows = []
    for label, rule in _OVERVIEW:
        n = te.loc[rule(te).astype(bool), "USUBJID"].nunique() if len(te) else 0
        rows.append(_proportion_row(f"{label}, safety population (N={total})", n, total, ci_level))
    out = pd.DataFrame(rows)
    out["population"] = "Safety"
    return out


# --------------------------------------------------------------------------------------------
# By SOC and preferred term
# --------------------------------------------------------------------------------------------


def _grade_counts(worst: pd.Series, total: int) -> dict:
    """Counts of patients by worst grade, from one worst grade per patient."""
    counts = {"n_any": int(worst.size), "pct_any": 100 * worst.size / total}
    for g in GRADES:
        counts[f"n_grade_{g}"] = int((worst == g).sum())
    counts["n_grade_ge3"] = int((worst >= 3).sum())
    counts["pct_grade_ge3"] = 100 * counts["n_grade_ge3"] / total
    return counts


def _soc_block(soc: str, soc_te: pd.DataFrame, total: int) -> list[dict]:
    soc_worst = soc_te.groupby("USUBJID")["AETOXGR"].max()
    rows = [{"AEBODSYS": soc, "AEDECOD": ALL_TERMS, **_grade_counts(soc_worst, total)}]
    terms = [
        {
            "AEBODSYS": soc,
            "AEDECOD": term,
            **_grade_counts(g.groupby("USUBJID")["AETOXGR"].max(), total),
        }
        for term, g in soc_te.groupby("AEDECOD")
    ]
    terms.sort(key=lambda r: (-r["n_any"], r["AEDECOD"]))
    return rows + terms


def summarise_ae_by_soc_term(
    adae: pd.DataFrame, adsl: pd.DataFrame, subset: str | None = None
) -> pd.DataFrame:
    """Patients with ≥1 TEAE by system organ class and preferred term, by worst grade.

    Method: each patient is counted once per preferred term and once per SOC at the worst grade
    reached (a patient with the same term at grade 2 then grade 3 counts once, at grade 3; two
    terms in one SOC count once at SOC level). Percentages use the whole safety population N.

    Parameters
    ----------
    adae : DataFrame
        ``USUBJID, AESEQ, AEDECOD, AEBODSYS, AETOXGR, TRTEMFL`` and the subset flag.
    adsl : DataFrame
        ``USUBJID, SAFFL``.
    subset : {None, "related", "serious", "infection"}
        Restrict to AEs with ``AEREL``, ``AESER`` or ``INFFL`` equal to ``"Y"``.

    Returns
    -------
    DataFrame
        ``AEBODSYS, AEDECOD, n_any, pct_any, n_grade_1 … n_grade_5, n_grade_ge3, pct_grade_ge3,
        N``. Each SOC row (``AEDECOD = "All terms"``) precedes its terms; SOCs and terms are in
        descending patient frequency (ties alphabetical). ``attrs["N"]`` is the safety
        population size; an empty selection gives no rows (N still in ``attrs``).

    References
    ----------
    ICH E3 (1995) §12.2.2; FDA Standard Safety Tables and Figures Integrated Guide (2022).
    """
    te, safety = _treatment_emergent(adae, adsl, ["AEDECOD", "AEBODSYS", *_subset_columns(subset)])
    te = _apply_subset(te, subset)
    total = len(safety)
    blocks = [(soc, _soc_block(soc, g, total)) for soc, g in te.groupby("AEBODSYS")]
    blocks.sort(key=lambda b: (-b[1][0]["n_any"], b[0]))
    columns = [
        "AEBODSYS",
        "AEDECOD",
        "n_any",
        "pct_any",
        *[f"n_grade_{g}" for g in GRADES],
        "n_grade_ge3",
        "pct_grade_ge3",
    ]
    out = pd.DataFrame([row for _, block in blocks for row in block], columns=columns)
    out["N"] = total
    out.attrs["N"] = total
    out.attrs["subset"] = subset or "all"
    return out


def summarise_worst_grade(
    adae: pd.DataFrame, adsl: pd.DataFrame, by: str = "patient", subset: str | None = None
) -> pd.DataFrame:
    """Distribution of the worst TEAE grade per patient (grade 0 = no TEAE).

    Method: worst CTCAE grade per safety-population patient over the selected TEAEs; patients
    without any have grade 0. Percentages use the safety population N.

    Parameters
    ----------
    adae : DataFrame
        ``USUBJID, AESEQ, AETOXGR, TRTEMFL`` (+ subset flag).
    adsl : DataFrame
        ``USUBJID, SAFFL``.
    by : {"patient"}
        Unit of counting; only per-patient worst grade is defined.
    subset : {None, "related", "serious", "infection"}
        As in :func:`summarise_ae_by_soc_term`.

    Returns
    -------
    DataFrame
        Rows for grades 0–5: ``worst_grade, label, n, N, percentage``.
    """
    if by != "patient":
        raise ValueError(f"by must be 'patient' (worst grade per patient), got {by!r}.")
    te, safety = _treatment_emergent(adae, adsl, _subset_columns(subset))
    te = _apply_subset(te, subset)
    worst = te.groupby("USUBJID")["AETOXGR"].max().reindex(safety, fill_value=0).astype(int)
    total = len(safety)
    rows = [
        {
            "worst_grade": g,
            "label": "No TEAE" if g == 0 else f"Grade {g}",
            "n": int((worst == g).sum()),
            "N": total,
            "percentage": 100 * (worst == g).sum() / total,
        }
        for g in (0, *GRADES)
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureSummary:
    """Result of :func:`summarise_exposure`.

    Attributes
    ----------
    per_patient : DataFrame
        One row per safety-population patient (see :func:`summarise_exposure`).
    summary : DataFrame
        Estimate-table rows summarising ``per_patient``.
    """

    per_patient: pd.DataFrame
    summary: pd.DataFrame


def _median_ci(values: Sequence[float], ci_level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for a median from order statistics.

    Method: [x_(k), x_(n−k+1)] with k the largest integer such that P(Bin(n, ½) ≤ k − 1) ≤ α/2,
    so coverage is at least ``ci_level`` (Conover, Practical Nonparametric Statistics, 3rd ed.
    1999, §3.2). NaN limits when n is too small for the requested level (n ≤ 5 at 95 %).

    Returns
    -------
    tuple of float
        (lower, upper).
    """
    validate_ci_level(ci_level)
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    n = x.size
    alpha = 1 - ci_level
    k = int(np.sum(stats.binom.cdf(np.arange(n), n, 0.5) <= alpha / 2))  # cdf(k−1) ≤ α/2
    if k < 1:
        return float("nan"), float("nan")
    return float(x[k - 1]), float(x[n - k])


def _per_patient_exposure(
    adex: pd.DataFrame, safety: pd.Index, cycle_length_days: int, planned_dose: float | None
) -> pd.DataFrame:
    ex = adex.assign(ASTDT=pd.to_datetime(adex["ASTDT"]), DOSE=pd.to_numeric(adex["DOSE"]))
    ex = ex[ex["USUBJID"].isin(safety)]
    given = ex[ex["DOSE"] > 0]
    grouped = given.groupby("USUBJID")
    per = pd.DataFrame(
        {
            "cycles": grouped.size(),
            "first_dose": grouped["ASTDT"].min(),
            "last_cycle_start": grouped["ASTDT"].max(),
            "total_dose": grouped["DOSE"].sum(),
        }
    ).reindex(safety)
    per["cycles"] = per["cycles"].fillna(0).astype(int)
    per["duration_days"] = (per["last_cycle_start"] - per["first_dose"]).dt.days + cycle_length_days
    per["duration_months"] = per["duration_days"] / DAYS_PER_MONTH
    planned = planned_dose * per["duration_days"] / cycle_length_days if planned_dose else np.nan
    per["rdi_pct"] = 100 * per["total_dose"] / planned
    action = ex["ACTION"]
    reduced = (action == "reduced") | (pd.to_numeric(ex["DOSELVL"]) < 0)
    for col, flag in (
        ("any_reduction", reduced),
        ("any_interruption", action == "interrupted"),
        ("discontinued", action == "discontinued"),
    ):
        per[col] = flag.groupby(ex["USUBJID"]).any().reindex(safety, fill_value=False).astype(bool)
    return per.rename_axis("USUBJID").reset_index()


def _median_row(label: str, values: pd.Series, total: int, ci_level: float, note: str) -> dict:
    vals = values.dropna().astype(float)
    lo, hi = _median_ci(vals, ci_level) if len(vals) else (np.nan, np.nan)
    return {
        "parameter": label,
        "n": len(vals),
        "N": total,
        "estimate": float(vals.median()) if len(vals) else np.nan,
        "ci_lower": lo,
        "ci_upper": hi,
        "ci_level": ci_level,
        "method": "Median (range); distribution-free order-statistic CI",
        "min": float(vals.min()) if len(vals) else np.nan,
        "max": float(vals.max()) if len(vals) else np.nan,
        "note": note,
    }


def summarise_exposure(
    adex: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    cycle_length_days: int,
    planned_dose: float | None = None,
    ci_level: float = 0.95,
) -> ExposureSummary:
    """Treatment exposure: cycles, duration, relative dose intensity, reductions, interruptions.

    Method: per safety-population patient, cycles received = cycles with ``DOSE > 0``; duration =
    last dosed cycle start − first dose + ``cycle_length_days`` (the last cycle is assumed
    completed); relative dose intensity (RDI, %) = delivered dose / planned dose over that
    duration = 100 × Σ DOSE / (``planned_dose`` × duration / cycle length) (Hryniuk W, Bush H. J
    Clin Oncol 1984;2:1281–1288), only when ``planned_dose`` (per cycle, in ``DOSEU``) is given;
    a dose reduction is ``ACTION = "reduced"`` or ``DOSELVL < 0``. Continuous variables are
    summarised by median with a distribution-free CI and range; proportions by Clopper–Pearson.

    Parameters
    ----------
    adex : DataFrame
        ADaM ADEX: ``USUBJID, CYCLE, ASTDT, DOSE, DOSEU, DOSELVL, ACTION``.
    adsl : DataFrame
        ``USUBJID, SAFFL``.
    cycle_length_days : int
        Planned cycle length (21 for T-DM1 every 3 weeks, 28 for everolimus periods).
    planned_dose : float, optional
        Planned dose per cycle in the ``DOSE`` unit (e.g. 3.6 mg/kg for T-DM1, 10 mg/day for
        everolimus).
    ci_level : float
        Confidence level.

    Returns
    -------
    ExposureSummary
        ``per_patient``: ``USUBJID, cycles, first_dose, last_cycle_start, total_dose,
        duration_days, duration_months, rdi_pct, any_reduction, any_interruption,
        discontinued`` (safety patients without exposure records have 0 cycles and NaN
        durations). ``summary``: estimate-table rows ``parameter, n, N, estimate, ci_lower,
        ci_upper, ci_level, method, min, max, percentage, note``.
    """
    validate_ci_level(ci_level)
    if isinstance(cycle_length_days, bool) or not isinstance(cycle_length_days, int | np.integer):
        raise TypeError("cycle_length_days must be an integer number of days (e.g. 21).")
    if cycle_length_days <= 0:
        raise ValueError(f"cycle_length_days must be > 0, got {cycle_length_days}.")
    if planned_dose is not None and planned_dose <= 0:
        raise ValueError(f"planned_dose must be > 0 or None, got {planned_dose}.")
    safety = _safety_population(adsl)
    _require_columns(adex, ["USUBJID", "CYCLE", "ASTDT", "DOSE", "DOSELVL", "ACTION"], "adex")
    unknown = sorted(set(adex["USUBJID"]) - set(adsl["USUBJID"]))
    if unknown:
        raise ValueError(f"adex has patients absent from adsl: {unknown[:5]}; fix the linkage.")
    per = _per_patient_exposure(adex, safety, cycle_length_days, planned_dose)
    return ExposureSummary(per_patient=per, summary=_exposure_summary(per, planned_dose, ci_level))


def _exposure_summary(
    per: pd.DataFrame, planned_dose: float | None, ci_level: float
) -> pd.DataFrame:
    total = len(per)
    no_records = int((per["cycles"] == 0).sum())
    note = f"{no_records} patient(s) without dosed cycles" if no_records else ""
    rdi_note = "" if planned_dose else "planned_dose not given: RDI not computable"
    rows = [
        _median_row("Cycles received", per["cycles"], total, ci_level, note),
        _median_row("Duration of exposure (months)", per["duration_months"], total, ci_level, note),
        _median_row("Relative dose intensity (%)", per["rdi_pct"], total, ci_level, rdi_note),
    ]
    for label, col in (
        ("Patients with ≥1 dose reduction", "any_reduction"),
        ("Patients with ≥1 dose interruption", "any_interruption"),
        ("Patients with treatment discontinued (exposure record)", "discontinued"),
    ):
        rows.append({**_proportion_row(label, int(per[col].sum()), total, ci_level), "note": ""})
    return pd.DataFrame(rows)
