"""Everolimus / NK trial glue: granzyme B primary endpoint, NK marker changes, early biomarker.

Trial-specific assembly of the tested general helpers (:mod:`helpers.endpoints.stats`,
:mod:`helpers.endpoints.survival`, :mod:`helpers.endpoints.safety`, :mod:`helpers.endpoints.rates`)
for notebook
``03_nk_function_changes``. The study aims to validate an early biomarker of everolimus's effect on
NK cells: plasma granzyme B (GzmB) at month 3 is the primary endpoint; NK phenotype and function by
flow cytometry at months 3 and 9 are secondary; the early-biomarker question asks whether the
month-3 change predicts response (RECIST 1.1) and progression-free survival (landmark analysis).

Conventions
-----------
- Visits ``BASELINE``, ``M3``, ``M9`` (months from treatment start,
  :data:`helpers.everolimus_nk.flow.VISIT_NUMBERS`).
- GzmB below the LLOQ is already imputed as LLOQ/2 in ``adbm`` (``LODFL = "Y"``; Hornung & Reed
  1990); values are > 0 and analysed on the log scale.
- NK markers follow the catalogue :data:`helpers.everolimus_nk.flow.NK_MARKERS`: counts and
fluorescence
  intensities on the log scale (ratio to baseline), percentages untransformed (difference in
  percentage points); the K562-specific net responses (stimulated − unstimulated) are differences
  that can be ≤ 0 and are never log-transformed.

Every estimating function returns the shared estimate table (``docs/architecture.md``).

References
----------
Bland JM, Altman DG. The use of transformation when comparing two means. BMJ 1996;312:1153.
Hornung RW, Reed LD. Estimation of average concentration in the presence of nondetectable values.
Appl Occup Environ Hyg 1990;5:46-51.
Laird NM, Ware JH. Random-effects models for longitudinal data. Biometrics 1982;38:963-974.
Benjamini Y, Hochberg Y. Controlling the false discovery rate. J R Stat Soc B 1995;57:289-300.
Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
1983;1:710-719.
Alter G, Malenfant JM, Altfeld M. CD107a as a functional marker for the identification of natural
killer cell activity. J Immunol Methods 2004;294:15-22.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import results
from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import efficacy, rates, safety, stats, survival
from helpers.everolimus_nk import flow
from helpers.results import TESTED_ESTIMATE_COLUMNS, format_p_value, not_supplied_note

__all__ = [
    "EARLY_MARKERS",
    "NK_MARKER_ORDER",
    "SHORT_LABELS",
    "STATUS_BELOW_LLOQ",
    "STATUS_DIED",
    "STATUS_MEASURED",
    "STATUS_MISSING",
    "STATUS_NOT_DUE",
    "STATUS_OFF_TREATMENT",
    "EarlyBiomarkerTable",
    "compute_early_pfs_association",
    "compute_early_response_association",
    "compute_gzmb_change",
    "compute_nk_changes",
    "derive_early_biomarker_table",
    "derive_early_landmark",
    "derive_marker_log_scale",
    "derive_median_split",
    "derive_visit_status",
    "summarise_intercurrent_events",
    "summarise_marker_by_visit",
    "summarise_significant_changes",
    "summarise_visit_availability",
]

#: NK markers in display order: counts and subsets, receptors, then function (unstimulated,
#: K562-stimulated, K562-specific net) so that related read-outs sit next to each other.
NK_MARKER_ORDER: tuple[str, ...] = (
    "NKCNT",
    "NKPCT",
    "CD56BR",
    "CD56DIM",
    "CD57",
    "NKG2A",
    "KIR",
    "NKG2D",
    "NKP46",
    "CD107AU",
    "CD107AK",
    "CD107ANET",
    "IFNGU",
    "IFNGK",
    "IFNGNET",
)

#: Short marker names for figure labels (the full PARAM text stays in the tables).
SHORT_LABELS: Mapping[str, str] = {
    "GZMB": "Granzyme B",
    "NKCNT": "NK count",
    "NKPCT": "NK % of CD3−",
    "CD56BR": "CD56bright %",
    "CD56DIM": "CD56dim %",
    "CD57": "CD57+ %",
    "NKG2A": "NKG2A+ %",
    "KIR": "KIR+ %",
    "NKG2D": "NKG2D MFI",
    "NKP46": "NKp46 MFI",
    "CD107AU": "CD107a unstim.",
    "CD107AK": "CD107a K562",
    "CD107ANET": "CD107a K562 net",
    "IFNGU": "IFN-γ unstim.",
    "IFNGK": "IFN-γ K562",
    "IFNGNET": "IFN-γ K562 net",
}

#: Default markers of the early-biomarker analysis: GzmB and three NK read-outs.
EARLY_MARKERS: tuple[str, ...] = ("GZMB", "NKCNT", "CD107AK", "IFNGK")

_VISITS = tuple(flow.VISIT_NUMBERS)
_REFERENCE = "BASELINE"
_SCALE_RATIO = "ratio to baseline (log scale)"
_SCALE_DIFF = "difference (percentage points)"
_ESTIMATE_COLUMNS = list(TESTED_ESTIMATE_COLUMNS)

STATUS_MEASURED = "measured (≥ LLOQ)"
STATUS_BELOW_LLOQ = "measured, below LLOQ (LLOQ/2 imputed)"
STATUS_NOT_DUE = "not due by the data cut-off"
STATUS_DIED = "died before the visit"
STATUS_OFF_TREATMENT = "treatment stopped before the visit"
STATUS_MISSING = "sample missing while on treatment"
_STATUS_ORDER = (
    STATUS_MEASURED,
    STATUS_BELOW_LLOQ,
    STATUS_NOT_DUE,
    STATUS_DIED,
    STATUS_OFF_TREATMENT,
    STATUS_MISSING,
)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _param_rows(adbm: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    rows = adbm[adbm["PARAMCD"] == paramcd]
    if rows.empty:
        raise ValueError(
            f"adbm has no row with PARAMCD {paramcd!r}; available: "
            f"{sorted(adbm['PARAMCD'].dropna().unique())[:20]}"
        )
    if rows.duplicated(["USUBJID", "AVISIT"]).any():
        raise ValueError(
            f"several {paramcd} rows per USUBJID and AVISIT: filter to one stimulation first"
        )
    return rows


def _short(paramcd: str) -> str:
    return SHORT_LABELS.get(paramcd, paramcd)


# --------------------------------------------------------------------------------------------
# granzyme B primary endpoint
# --------------------------------------------------------------------------------------------


def _ordered_visits(rows: pd.DataFrame) -> pd.DataFrame:
    order = [v for v in _VISITS if (rows["AVISIT"] == v).any()]
    order += sorted(set(rows["AVISIT"].astype(str)) - set(order))
    return rows.assign(AVISIT=pd.Categorical(rows["AVISIT"].astype(str), categories=order))


def compute_gzmb_change(
    adbm: pd.DataFrame,
    visits: Sequence[str] = ("M3", "M9"),
    primary_visit: str = "M3",
    reference: str = _REFERENCE,
    paramcd: str = "GZMB",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Change of plasma granzyme B from baseline: primary GMR, Hodges–Lehmann, mixed model.

    Method, for each follow-up visit:

    1. **Primary estimate** (at ``primary_visit``): ratio of geometric means follow-up/baseline
       from a paired t-test on log values, exp(mean d ± t·s/√N) with d = log(after/before)
       (:func:`helpers.endpoints.stats.compute_geometric_mean_ratio`; Bland & Altman 1996). Patients
       with
       both samples only.
    2. Supportive, distribution-free: Wilcoxon signed-rank test and Hodges–Lehmann median ratio
       with exact CI (:func:`helpers.endpoints.stats.compute_paired_change`, ``log=True``).
    3. Supportive, all data: linear mixed model on log GzmB with visit as fixed effect and a
       random intercept per patient, REML (:func:`helpers.endpoints.stats.compute_mixed_model`;
       Laird &
       Ware 1982). Every available measurement is used, so patients missing a follow-up sample
       still contribute (valid if missing at random).

    Values below the LLOQ enter as LLOQ/2 (imputed in ``adbm``).

    Parameters
    ----------
    adbm : pandas.DataFrame
        Long biomarker data (``USUBJID, PARAMCD, AVISIT, AVAL``).
    visits : sequence of str
        Follow-up visits compared with ``reference``.
    primary_visit : str
        Visit whose geometric-mean ratio is the primary estimate (must be in ``visits``).
    reference : str
        Baseline visit.
    paramcd : str
        Granzyme B PARAMCD.
    ci_level : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        Columns ``visit, role ("primary" / "supportive"), parameter, n, N, estimate, ci_lower,
        ci_upper, ci_level, method, p_value, note``; per visit the GMR row, the Hodges–Lehmann
        row, then the mixed-model rows. All estimates are ratios follow-up/baseline. Without any
        ``paramcd`` row (table ``granzyme_b`` not supplied): the GMR and Hodges–Lehmann rows of
        each visit without numbers, noted "not available: table granzyme_b not supplied".
    """
    ci_level = validate_ci_level(ci_level)
    if primary_visit not in visits:
        raise ValueError(f"primary_visit {primary_visit!r} must be one of visits {list(visits)}")
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    absent = flow.supplied_table_missing(adbm, paramcd)
    rows = adbm.iloc[:0] if absent else _param_rows(adbm, paramcd)
    label = _short(paramcd)
    pieces = []
    for visit in visits:
        pairs = efficacy.derive_paired_values(adbm, paramcd, reference, visit)
        before, after = pairs["BASE_VAL"], pairs["POST_VAL"]
        primary = visit == primary_visit
        gmr_label = f"{label} {visit}/{reference}: ratio of geometric means"
        gmr = stats.compute_geometric_mean_ratio(
            before, after, gmr_label + (" (primary estimate)" if primary else ""), ci_level
        )
        hl = stats.compute_paired_change(
            before,
            after,
            f"{label} {visit}/{reference}: Hodges–Lehmann median ratio",
            ci_level,
            True,
        )
        pieces.append(gmr.assign(visit=visit, role="primary" if primary else "supportive"))
        pieces.append(hl.assign(visit=visit, role="supportive"))
    if absent:  # the GMR and Hodges–Lehmann rows say why there is no number; no mixed model
        out = pd.concat(pieces, ignore_index=True)
        out = results.mark_not_supplied(out, absent)
        return out[["visit", "role", *_ESTIMATE_COLUMNS]]
    mixed = stats.compute_mixed_model(
        _ordered_visits(rows),
        reference=reference,
        log=True,
        ci_level=ci_level,
        parameter=f"{label} (all measurements)",
    )
    mixed = mixed[mixed["visit"].isin(list(visits))].assign(role="supportive")
    mixed["visit"] = mixed["visit"].astype(str)
    out = pd.concat([*pieces, mixed], ignore_index=True)
    # per visit: GMR, Hodges–Lehmann, mixed model (the order of the method list above)
    method_rank = [0, 1] * len(visits) + [2] * len(mixed)
    visit_rank = out["visit"].map({v: i for i, v in enumerate(visits)}).to_numpy()
    out = out.iloc[np.lexsort([method_rank, visit_rank])]
    return out[["visit", "role", *_ESTIMATE_COLUMNS]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# availability of samples per visit
# --------------------------------------------------------------------------------------------


def derive_visit_status(
    adbm: pd.DataFrame,
    adsl: pd.DataFrame,
    cutoff_date: object,
    paramcd: str = "GZMB",
    visits: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per treated patient and visit: measured, below LLOQ, or why the sample is missing.

    Method: a visit's nominal date is treatment start + months × 30.4375 days. A missing sample
    is attributed, in this order, to: nominal date after the data cut-off ("not due"); death on
    or before the nominal date; end of treatment (``TRTEDT``) before the nominal date (the
    end-of-treatment reason ``EOTSTT`` is given in ``EOTSTT``); otherwise "sample missing while
    on treatment". These are descriptive attributions from dates, not data-manager reasons.

    Parameters
    ----------
    adbm : pandas.DataFrame
        ``USUBJID, PARAMCD, AVISIT, AVAL`` and ``LODFL`` (Y = below LLOQ, imputed).
    adsl : pandas.DataFrame
        ``USUBJID, TRTFL, TRTSDT, TRTEDT, EOTSTT, DTHDT``.
    cutoff_date : date-like
        Data cut-off.
    paramcd : str
        Marker whose samples are counted.
    visits : mapping visit -> months, optional
        Default :data:`helpers.everolimus_nk.flow.VISIT_NUMBERS`.

    Returns
    -------
    pandas.DataFrame
        ``USUBJID, AVISIT, STATUS, EOTSTT``, one row per treated patient × visit. When
        ``adbm`` holds no row of a marker from an optional table (GZMB: ``granzyme_b``), that
        table was not supplied and every STATUS reads "not available: table granzyme_b not
        supplied".
    """
    validate_frame(adsl, "adsl", ["USUBJID", "TRTFL", "TRTSDT", "TRTEDT", "EOTSTT", "DTHDT"])
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    absent = flow.supplied_table_missing(adbm, paramcd)
    rows = adbm.iloc[:0] if absent else _param_rows(adbm, paramcd)
    visits = dict(flow.VISIT_NUMBERS if visits is None else visits)
    try:
        cutoff = pd.Timestamp(cutoff_date)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cutoff_date must be an ISO date, got {cutoff_date!r}") from err
    treated = adsl[adsl["TRTFL"] == "Y"].copy()
    if treated.empty:
        raise ValueError("adsl has no treated patient (TRTFL = 'Y')")
    for col in ("TRTSDT", "TRTEDT", "DTHDT"):
        treated[col] = pd.to_datetime(treated[col])
    have = rows[rows["AVAL"].notna()]
    lod = have["LODFL"] if "LODFL" in have.columns else pd.Series("N", index=have.index)
    found = pd.Series(lod.to_numpy(), index=pd.MultiIndex.from_frame(have[["USUBJID", "AVISIT"]]))
    # one row per patient x visit, built and classified on whole columns (no per-patient loop)
    pats = treated.sort_values("USUBJID")
    grid = pats.loc[pats.index.repeat(len(visits))].reset_index(drop=True)
    grid["AVISIT"] = list(visits) * len(pats)
    months = grid["AVISIT"].map(visits).astype(float)
    nominal = grid["TRTSDT"] + pd.to_timedelta(months * survival.DAYS_PER_MONTH, unit="D")
    flag = found.reindex(pd.MultiIndex.from_frame(grid[["USUBJID", "AVISIT"]])).to_numpy()
    measured = ~pd.isna(flag)
    status = np.select(
        [
            measured & (flag == "Y"),
            measured,
            nominal > cutoff,
            grid["DTHDT"].notna() & (grid["DTHDT"] <= nominal),
            grid["TRTEDT"].notna() & (grid["TRTEDT"] < nominal),
        ],
        [STATUS_BELOW_LLOQ, STATUS_MEASURED, STATUS_NOT_DUE, STATUS_DIED, STATUS_OFF_TREATMENT],
        default=STATUS_MISSING,
    )
    if absent:  # no sample was lost: the optional table was not supplied
        status = np.full(len(grid), not_supplied_note(absent), dtype=object)
    out = grid.assign(STATUS=status)[["USUBJID", "AVISIT", "STATUS", "EOTSTT"]]
    return out.astype({"STATUS": object})


def summarise_visit_availability(status: pd.DataFrame) -> pd.DataFrame:
    """Count patients per visit by sample status (output of :func:`derive_visit_status`).

    Returns
    -------
    pandas.DataFrame
        One row per status (fixed order: measured, below LLOQ — both always present — then the
        missing reasons; "treatment stopped before the visit" is split by end-of-treatment
        reason), one column
        per visit (patient counts), and a last row ``"Treated patients (N)"``.
    """
    validate_frame(status, "status", ["USUBJID", "AVISIT", "STATUS", "EOTSTT"])
    if status.empty:
        raise ValueError("status is empty: derive_visit_status returned no patient")
    label = status["STATUS"].where(
        status["STATUS"] != STATUS_OFF_TREATMENT,
        STATUS_OFF_TREATMENT + " (" + status["EOTSTT"].astype(str) + ")",
    )
    order = {s: i for i, s in enumerate(_STATUS_ORDER)}
    visits = list(pd.unique(status["AVISIT"]))
    counts = pd.crosstab(label, status["AVISIT"]).reindex(columns=visits, fill_value=0)
    # measured and below-LLOQ rows are always shown, so the LLOQ handling is visible
    shown = [s for s in (STATUS_MEASURED, STATUS_BELOW_LLOQ) if s not in counts.index]
    counts = pd.concat([counts, pd.DataFrame(0, index=shown, columns=visits)])
    rank = [order.get(s, order.get(s.split(" (")[0], len(order))) for s in counts.index]
    counts = counts.iloc[np.lexsort([counts.index.to_numpy(), rank])]
    total = status.groupby("AVISIT")["USUBJID"].nunique().reindex(visits)
    counts.loc["Treated patients (N)"] = total.to_numpy()
    counts.index.name = "status"
    counts.columns.name = None
    return counts.reset_index()


def summarise_marker_by_visit(
    samples: pd.DataFrame,
    adbm: pd.DataFrame,
    paramcd: str = "GZMB",
    visits: Sequence[str] = _VISITS,
) -> pd.DataFrame:
    """Descriptive statistics of one marker per visit, one row per visit (also without a sample).

    Method: :func:`helpers.endpoints.stats.compute_descriptives` of ``AVAL`` by ``AVISIT`` on the
    ``paramcd`` rows of ``samples`` (e.g. the samples meeting the estimand); a visit without a
    sample has n = 0 and no statistic. When ``adbm`` (every sample) holds no row of a marker from
    an optional table, that table was not supplied: every row's ``note`` then reads "not
    available: table granzyme_b not supplied".

    Returns
    -------
    pandas.DataFrame
        ``AVISIT, n, n_missing, mean, sd, median, q1, q3, min, max, geo_mean`` in the order of
        ``visits`` (plus ``note`` when the table was not supplied).
    """
    validate_frame(samples, "samples", ["PARAMCD", "AVISIT", "AVAL"])
    rows = samples[samples["PARAMCD"].eq(paramcd)]
    counts = ["n", "n_missing"]
    columns = [*counts, "mean", "sd", "median", "q1", "q3", "min", "max", "geo_mean"]
    found = (
        stats.compute_descriptives(rows, "AVAL", by="AVISIT").set_index("AVISIT")
        if len(rows)
        else pd.DataFrame(columns=columns, dtype=float)
    )
    order = list(visits) + sorted(set(found.index.astype(str)) - set(visits))
    out = found.reindex(order)[columns]
    out[counts] = out[counts].fillna(0).astype("int64")
    out = out.astype({c: float for c in columns[2:]}).rename_axis("AVISIT").reset_index()
    absent = flow.supplied_table_missing(adbm, paramcd)
    return out.assign(note=not_supplied_note(absent)) if absent else out


# --------------------------------------------------------------------------------------------
# NK flow markers: changes, FDR, sentence
# --------------------------------------------------------------------------------------------


def derive_marker_log_scale(
    catalogue: pd.DataFrame = flow.NK_MARKERS, extra: Mapping[str, bool] | None = None
) -> dict[str, bool]:
    """Analysis scale per marker: True = log scale (ratio), False = difference.

    Taken from the catalogue's ``log_scale`` (counts and intensities on the log scale,
    percentages untransformed); the K562-specific net responses
    (:data:`helpers.everolimus_nk.flow.NK_NET_RESPONSES`) are differences that can be ≤ 0 and are
    never
    log-transformed. ``extra`` adds or overrides markers (default: ``{"GZMB": True}``).
    """
    validate_frame(catalogue, "catalogue", ["PARAMCD", "log_scale"])
    scale = {
        str(k): bool(v) for k, v in zip(catalogue["PARAMCD"], catalogue["log_scale"], strict=True)
    }
    scale.update(dict.fromkeys(flow.NK_NET_RESPONSES, False))
    scale.update({"GZMB": True} if extra is None else dict(extra))
    return scale


def compute_nk_changes(
    adbm: pd.DataFrame,
    markers: Sequence[str] | None = None,
    visits: Sequence[str] = ("M3", "M9"),
    reference: str = _REFERENCE,
    ci_level: float = 0.95,
    fdr_method: str = "fdr_bh",
    catalogue: pd.DataFrame = flow.NK_MARKERS,
) -> pd.DataFrame:
    """Change of each NK flow marker from baseline, with Benjamini–Hochberg FDR.

    Method: per marker and visit, Wilcoxon signed-rank test and Hodges–Lehmann estimate with
    exact CI on complete baseline/visit pairs
    (:func:`helpers.endpoints.stats.compute_marker_changes`). The
    scale is chosen per marker from the catalogue (:func:`derive_marker_log_scale`): counts and
    median fluorescence intensities on the log scale (estimate = median ratio to baseline),
    percentages and K562-specific net responses untransformed (estimate = median shift in
    percentage points). ``p_adj`` is Benjamini–Hochberg across all marker × visit tests of the
    call (Benjamini & Hochberg 1995).

    For display on one colour scale, ``relative_change_pct`` expresses every estimate relative
    to baseline: 100 × (ratio − 1) for log-scale markers, and 100 × shift / median baseline value
    of the paired patients for percentage markers (a descriptive rescaling; tests and CIs stay on
    the analysis scale).

    Parameters
    ----------
    adbm : pandas.DataFrame
        Long biomarker data with the NK PARAMCDs (``USUBJID, PARAMCD, PARAM, AVISIT, AVAL``).
    markers : sequence of str, optional
        PARAMCDs to analyse; default the markers of :data:`NK_MARKER_ORDER` present in ``adbm``.
    visits : sequence of str
        Follow-up visits compared with ``reference``.
    reference : str
        Baseline visit.
    ci_level : float
        Confidence level.
    fdr_method : str
        ``statsmodels`` multiple-testing method for ``p_adj``.
    catalogue : pandas.DataFrame
        Marker catalogue with ``PARAMCD`` and ``log_scale``.

    Returns
    -------
    pandas.DataFrame
        ``PARAMCD, visit, reference_visit, short_label, label ("<short> · <visit>"), scale`` +
        estimate-table columns + ``p_adj``, ``baseline_median``, ``relative_change_pct``; rows in
        marker order, then visit. Without any of the NK markers in ``adbm`` (table ``nk_flow``
        not supplied): one row without numbers whose note says "not available: table nk_flow not
        supplied".
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(adbm, "adbm", ["USUBJID", "PARAMCD", "AVISIT", "AVAL"])
    if markers is None:
        present = set(adbm["PARAMCD"].dropna())
        markers = [m for m in NK_MARKER_ORDER if m in present]
    markers = list(markers)
    # the optional nk_flow table was not supplied: none of the markers has a value
    if not markers or not adbm["PARAMCD"].isin(markers).any():
        return _nk_not_available(ci_level)
    log = derive_marker_log_scale(catalogue)
    unknown = [m for m in markers if m not in log]
    if unknown:
        raise ValueError(f"markers {unknown} have no analysis scale in the catalogue")
    sub = adbm[adbm["PARAMCD"].isin(markers)]
    changes = stats.compute_marker_changes(
        sub,
        markers,
        visit_pairs=[(reference, v) for v in visits],
        log={m: log[m] for m in markers},
        ci_level=ci_level,
        fdr_method=fdr_method,
    )
    medians = {
        (m, v): _paired_baseline_median(sub, m, v, reference) for m in markers for v in visits
    }
    changes["short_label"] = changes["PARAMCD"].map(_short)
    changes["label"] = changes["short_label"] + " · " + changes["visit"].astype(str)
    is_log = changes["PARAMCD"].map(log).astype(bool)
    changes["scale"] = np.where(is_log, _SCALE_RATIO, _SCALE_DIFF)
    changes["baseline_median"] = [
        medians[(m, v)] for m, v in zip(changes["PARAMCD"], changes["visit"], strict=True)
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(
            is_log,
            100 * (changes["estimate"] - 1),
            100 * changes["estimate"] / changes["baseline_median"].where(lambda s: s > 0),
        )
    changes["relative_change_pct"] = relative.astype(float)
    front = ["PARAMCD", "visit", "reference_visit", "short_label", "label", "scale"]
    rest = [c for c in changes.columns if c not in front]
    return changes[front + rest]


def _nk_not_available(ci_level: float) -> pd.DataFrame:
    """The NK change table with one row saying that no flow data were supplied."""
    row = {
        "PARAMCD": "",
        "visit": "",
        "reference_visit": "",
        "short_label": "NK markers",
        "label": "NK flow markers",
        "scale": "",
        "parameter": "NK flow-cytometry markers, change from baseline",
        "n": pd.NA,
        "N": 0,
        "estimate": math.nan,
        "ci_lower": math.nan,
        "ci_upper": math.nan,
        "ci_level": ci_level,
        "method": stats.METHOD_PAIRED,
        "p_value": math.nan,
        "note": "not available: table nk_flow not supplied (no NK marker in adbm)",
        "p_adj": math.nan,
        "baseline_median": math.nan,
        "relative_change_pct": math.nan,
    }
    return pd.DataFrame([row]).astype({"n": "Int64", "N": "Int64"})


def _paired_baseline_median(adbm: pd.DataFrame, m: str, visit: str, reference: str) -> float:
    if not ((adbm["PARAMCD"] == m) & (adbm["AVISIT"] == visit)).any():
        return math.nan
    pairs = efficacy.derive_paired_values(adbm, m, reference, visit)
    complete = pairs.loc[pairs["COMPLETE"], "BASE_VAL"]
    return float(np.median(complete)) if len(complete) else math.nan


def _format_effect(row: pd.Series) -> str:
    ci = f"{row['ci_level']:.0%} CI {row['ci_lower']:.2f} to {row['ci_upper']:.2f}"
    if row.get("scale") == _SCALE_DIFF:
        return f"shift {row['estimate']:+.2f} percentage points ({ci})"
    return f"ratio {row['estimate']:.2f} ({ci})"


def summarise_significant_changes(
    changes: pd.DataFrame, alpha: float = 0.05, label_col: str = "label", p_col: str = "p_adj"
) -> str:
    """One sentence naming the marker × visit changes with adjusted p below ``alpha``.

    Generated from the numbers of :func:`compute_nk_changes` so that notebook text never
    hard-codes results. Effects are quoted on their analysis scale (ratio or shift in
    percentage points) with their CI and adjusted p.

    Returns
    -------
    str
        E.g. ``"After Benjamini–Hochberg adjustment across 30 marker × visit comparisons, 2 had
        adjusted p < 0.05: NK count · M3 (ratio 0.85 (95% CI 0.78 to 0.93), adjusted p = 0.004);
        …"`` or a sentence saying that none did.
    """
    validate_frame(
        changes, "changes", [label_col, p_col, "estimate", "ci_lower", "ci_upper", "ci_level"]
    )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    tested = changes[changes[p_col].notna()]
    if tested.empty:
        return "No marker × visit comparison could be tested (no complete baseline/visit pair)."
    hits = tested[tested[p_col] < alpha].sort_values(p_col)
    head = f"After Benjamini–Hochberg adjustment across {len(tested)} marker × visit comparisons, "
    if hits.empty:
        smallest = tested.sort_values(p_col).iloc[0]
        return (
            head + f"none had adjusted p < {alpha:g} (smallest: {smallest[label_col]}, adjusted "
            f"{format_p_value(smallest[p_col], 3, 'p')}). With small paired samples this is "
            "absence of evidence, not evidence of no change."
        )
    items = "; ".join(
        f"{r[label_col]} ({_format_effect(r)}, {format_p_value(r[p_col], 3, 'adjusted p')})"
        for _, r in hits.iterrows()
    )
    return (
        head + f"{len(hits)} had adjusted p < {alpha:g}: {items}. The other "
        f"{len(tested) - len(hits)} did not reach the threshold."
    )


# --------------------------------------------------------------------------------------------
# early biomarker: per-patient change table, response, landmark PFS
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlyBiomarkerTable:
    """Result of :func:`derive_early_biomarker_table`: per-patient early changes and settings.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per patient of the response population: ``USUBJID, AVALC, RSPFL, RESPONSE`` and
        per marker M: ``M_BASE``, ``M_POST`` (values), ``M_CHG`` (log2 ratio for log-scale
        markers, percentage-point difference otherwise), ``M_PCHG`` (relative change, %),
        ``M_FALL`` (Y = fall ≥ ``fall_pct`` %, N, None when the pair is incomplete) and
        ``M_DEC`` (the Cox covariate: −log2 ratio, or −difference / ``pp_unit``).
    markers : tuple of str
        Markers in the table.
    log_scale : dict
        Scale per marker (True = log2 ratio).
    visit : str
        Early visit.
    fall_pct : float
        Relative fall defining ``M_FALL``.
    pp_unit : float
        Percentage-point step of ``M_DEC`` for percentage markers.
    """

    data: pd.DataFrame
    markers: tuple[str, ...]
    log_scale: Mapping[str, bool]
    visit: str
    fall_pct: float
    pp_unit: float

    def unit(self, marker: str) -> str:
        """Unit of ``M_CHG`` in words."""
        return "log2 ratio to baseline" if self.log_scale[marker] else "percentage points"

    def decrease(self, marker: str) -> str:
        """What one unit of ``M_DEC`` is, in words."""
        if self.log_scale[marker]:
            return "2-fold decrease"
        return f"{self.pp_unit:g} percentage-point decrease"


def _marker_columns(
    adbm: pd.DataFrame, m: str, log: bool, visit: str, reference: str, fall_pct: float, unit: float
) -> pd.DataFrame:
    paired = efficacy.derive_paired_values(adbm, m, reference, visit)
    if log and ((paired[["BASE_VAL", "POST_VAL"]] <= 0).any()).any():
        raise ValueError(f"{m} has values ≤ 0: a log2 ratio is undefined")
    change = efficacy.derive_change_table(paired)
    chg = change["LOG2FC"] if log else change["CHG"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = (100 * change["CHG"] / change["BASE_VAL"]).where(change["BASE_VAL"] > 0)
    fall = np.where(pchg.isna(), None, np.where(pchg <= -fall_pct, "Y", "N"))
    out = pd.DataFrame(
        {
            f"{m}_BASE": change["BASE_VAL"],
            f"{m}_POST": change["POST_VAL"],
            f"{m}_CHG": chg,
            f"{m}_PCHG": pchg,
            f"{m}_FALL": fall,
            f"{m}_DEC": -chg / (1.0 if log else unit),
        }
    )
    return out.set_index(change["USUBJID"])


def derive_early_biomarker_table(
    adbm: pd.DataFrame,
    bor_table: pd.DataFrame,
    markers: Sequence[str] = EARLY_MARKERS,
    visit: str = "M3",
    reference: str = _REFERENCE,
    fall_pct: float = 30.0,
    pp_unit: float = 10.0,
    log_scale: Mapping[str, bool] | None = None,
) -> EarlyBiomarkerTable:
    """Per-patient early change of each marker joined to the best overall response.

    Method: per marker, baseline and ``visit`` values (:func:`helpers.endpoints.efficacy.
    derive_paired_values`; GzmB below the LLOQ as LLOQ/2) and their change
    (:func:`helpers.endpoints.efficacy.derive_change_table`): for log-scale markers the log2 ratio
    (−1 = halved), for percentage markers the difference in percentage points; a "fall" is a
    relative change ≤ −``fall_pct`` %. Patients of ``bor_table`` without a sample pair keep
    NaN/None (they are counted, not dropped).

    Parameters
    ----------
    adbm : pandas.DataFrame
        Long biomarker data (``USUBJID, PARAMCD, AVISIT, AVAL, LODFL``).
    bor_table : pandas.DataFrame
        :func:`helpers.endpoints.efficacy.derive_bor_table` (``USUBJID, AVALC, RSPFL, RESPONSE``).
    markers : sequence of str
        PARAMCDs (default GzmB, NK count, CD107a K562, IFN-γ K562).
    visit, reference : str
        Early and baseline visits.
    fall_pct : float
        Relative fall (%) defining ``M_FALL``, strictly between 0 and 100.
    pp_unit : float
        Percentage points per unit of ``M_DEC`` for percentage markers (> 0).
    log_scale : mapping, optional
        Scale per marker; default :func:`derive_marker_log_scale`.

    Returns
    -------
    EarlyBiomarkerTable
    """
    validate_frame(bor_table, "bor_table", ["USUBJID", "AVALC", "RSPFL", "RESPONSE"])
    if bor_table["USUBJID"].duplicated().any():
        raise ValueError("bor_table must have one row per USUBJID")
    if not 0 < fall_pct < 100:
        raise ValueError(f"fall_pct must be a percentage between 0 and 100, got {fall_pct}")
    if not pp_unit > 0:
        raise ValueError(f"pp_unit must be > 0, got {pp_unit}")
    markers = tuple(markers)
    if not markers:
        raise ValueError("markers is empty: name at least one PARAMCD")
    scale = derive_marker_log_scale() if log_scale is None else dict(log_scale)
    missing = [m for m in markers if m not in scale]
    if missing:
        raise ValueError(f"no analysis scale for {missing}: pass log_scale={{marker: bool}}")
    parts = [
        _marker_columns(adbm, m, scale[m], visit, reference, fall_pct, pp_unit) for m in markers
    ]
    data = bor_table[["USUBJID", "AVALC", "RSPFL", "RESPONSE"]].join(
        pd.concat(parts, axis=1), on="USUBJID"
    )
    return EarlyBiomarkerTable(
        data=data.sort_values("USUBJID", ignore_index=True),
        markers=markers,
        log_scale={m: scale[m] for m in markers},
        visit=visit,
        fall_pct=float(fall_pct),
        pp_unit=float(pp_unit),
    )


def compute_early_response_association(
    early: EarlyBiomarkerTable, ci_level: float = 0.95
) -> pd.DataFrame:
    """Association of each marker's early change with objective response (RECIST 1.1).

    Method, per marker: (1) Mann–Whitney U test and two-sample Hodges–Lehmann shift of the
    change, responders − non-responders, with exact CI
    (:func:`helpers.endpoints.efficacy.compute_response_association`); (2) conditional
    maximum-likelihood
    odds ratio of response for a fall ≥ ``fall_pct`` % vs not, exact CI and Fisher's exact test
    (:func:`helpers.endpoints.efficacy.compute_flag_association`). Patients without the pair are
    left out
    of that marker's rows (N says how many remain). Exploratory: with few responders the CIs are
    wide, and the exact methods keep them honest.

    Returns
    -------
    pandas.DataFrame
        ``PARAMCD, analysis ("Mann–Whitney" / "Fisher")`` + estimate-table columns + ``note``.
    """
    ci_level = validate_ci_level(ci_level)
    data = early.data
    variables = {
        f"{m}_CHG": f"{_short(m)} {early.visit} change ({early.unit(m)})" for m in early.markers
    }
    mw = efficacy.compute_response_association(data, variables, "RSPFL", ci_level)
    rows = []
    for m, (_, mw_row) in zip(early.markers, mw.iterrows(), strict=True):
        rows.append({"PARAMCD": m, "analysis": "Mann–Whitney", **mw_row.drop("variable")})
        label = (
            f"{_short(m)}: odds ratio of response, {early.visit} fall ≥ {early.fall_pct:g} % vs not"
        )
        if data[f"{m}_FALL"].notna().any():
            fisher = efficacy.compute_flag_association(data, f"{m}_FALL", "RSPFL", label, ci_level)
            row = fisher.iloc[0].to_dict()
        else:
            row = _nan_row(
                label, 0, 0, ci_level, stats.METHOD_FISHER, "not estimable: 0 patients with a pair"
            )
        rows.append({"PARAMCD": m, "analysis": "Fisher", **row})
    return _finish_table(rows, ["PARAMCD", "analysis"])


def derive_early_landmark(
    early: EarlyBiomarkerTable,
    adtte: pd.DataFrame,
    landmark_months: float = 3.0,
    paramcd: str = "PFS",
    primary: str = "GZMB",
) -> survival.LandmarkResult:
    """Landmark dataset of PFS for the early changes (patients of the early table).

    Method: :func:`helpers.endpoints.survival.derive_landmark` (Anderson, Cain & Gelber 1983):
    patients
    with progression, death or censoring at or before ``landmark_months`` are excluded and
    listed; the others have their time reset to start at the landmark, so a change measured by
    the landmark is not credited with survival time before it was known. At-risk patients
    without a ``primary`` marker pair stay in ``data`` (they serve the other markers' models)
    and are also listed in ``excluded`` with the reason "no <visit> <marker> pair".

    Parameters
    ----------
    early : EarlyBiomarkerTable
        Output of :func:`derive_early_biomarker_table`.
    adtte : pandas.DataFrame
        ``USUBJID, PARAMCD, AVAL, CNSR``.
    landmark_months : float
        Landmark (months since treatment start); the nominal month-3 visit.
    paramcd : str
        Time-to-event parameter.
    primary : str
        Marker whose missing pairs are listed.

    Returns
    -------
    helpers.endpoints.survival.LandmarkResult
        ``data`` (``USUBJID, PARAMCD, AVAL`` since landmark, ``CNSR`` + early-table columns),
        ``excluded`` (``USUBJID, AVAL, CNSR, reason``), ``landmark_months``.
    """
    validate_frame(adtte, "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    if primary not in early.markers:
        raise ValueError(f"primary marker {primary!r} is not in the early table {early.markers}")
    tte = adtte[adtte["PARAMCD"].eq(paramcd) & adtte["USUBJID"].isin(early.data["USUBJID"])]
    if tte.empty:
        raise ValueError(f"adtte has no {paramcd} row for the patients of the early table")
    result = survival.derive_landmark(
        tte[["USUBJID", "PARAMCD", "AVAL", "CNSR"]], landmark_months, covariate=early.data
    )
    no_pair = result.data[result.data[f"{primary}_CHG"].isna()]
    extra = no_pair[["USUBJID", "AVAL", "CNSR"]].assign(
        AVAL=no_pair["AVAL"] + landmark_months,
        reason=f"at risk at the landmark but no {early.visit} {_short(primary)} pair",
    )
    excluded = pd.concat([result.excluded, extra], ignore_index=True)
    return survival.LandmarkResult(result.data, excluded, result.landmark_months)


def compute_early_pfs_association(
    early: EarlyBiomarkerTable, landmark: survival.LandmarkResult, ci_level: float = 0.95
) -> pd.DataFrame:
    """PFS from the landmark: univariable Cox hazard ratio per early fall of each marker.

    Method: one Cox proportional-hazards model per marker (Efron ties, Wald CI and p,
    Grambsch–Therneau PH test; :func:`helpers.endpoints.efficacy.compute_pfs_association`) on the
    landmark
    dataset of :func:`derive_early_landmark`. The covariate is the fall ``M_DEC`` so that HR > 1
    means a larger early fall goes with earlier progression: per 2-fold decrease for log-scale
    markers, per ``pp_unit`` percentage-point decrease for percentage markers. A model that
    cannot be fitted gives a NaN row whose note says why.

    Returns
    -------
    pandas.DataFrame
        ``PARAMCD``, ``label`` (short, for forest plots) + estimate-table columns (``n`` events,
        ``N`` patients) + ``ph_test_p``, ``note``.
    """
    ci_level = validate_ci_level(ci_level)
    months = f"{landmark.landmark_months:g}"
    covariates = {
        f"{m}_DEC": f"per {early.decrease(m)} of {_short(m)} at {early.visit}, from the "
        f"{months}-month landmark"
        for m in early.markers
    }
    out = efficacy.compute_pfs_association(
        landmark.data, landmark.data, covariates, paramcd="PFS", ci_level=ci_level
    )
    out["method"] = out["method"] + f"; landmark at {months} months, time reset"
    out.insert(0, "PARAMCD", list(early.markers))
    out.insert(1, "label", [f"{_short(m)}, per {early.decrease(m)}" for m in early.markers])
    return out.drop(columns="variable")


def _nan_row(parameter: str, n: int, N: int, ci_level: float, method: str, note: str) -> dict:
    return {
        "parameter": parameter,
        "n": n,
        "N": N,
        "estimate": math.nan,
        "ci_lower": math.nan,
        "ci_upper": math.nan,
        "ci_level": ci_level,
        "method": method,
        "p_value": math.nan,
        "note": note,
    }


def _finish_table(rows: list[dict], extra: Sequence[str]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=[*extra, *_ESTIMATE_COLUMNS])
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    return out


def derive_median_split(
    df: pd.DataFrame, column: str, name: str = "change", group_col: str = "GROUP"
) -> pd.DataFrame:
    """Split patients at the median of ``column`` (for an illustrative KM plot / log-rank test).

    Method: patients with ``column`` ≤ sample median form the first group, the others the
    second; rows with a missing value are dropped. Labels state the median so the split is
    traceable and stay short for legends and risk tables (e.g. ``"change ≤ −0.52"``). A median
    split loses information compared with the continuous Cox model: use it to visualise, not to
    answer the question.

    Returns
    -------
    pandas.DataFrame
        The non-missing rows of ``df`` with ``group_col`` added (ordered categorical, ≤ first);
        empty (with the column) when no value is present.
    """
    validate_frame(df, "df", [column])
    data = df[df[column].notna()].copy()
    if data.empty:  # nothing to split: no group (plots and tests then say "not estimable")
        data[group_col] = pd.Categorical([], categories=[f"{name} ≤ median", f"{name} > median"])
        return data
    median = float(np.median(data[column]))
    text = f"{median:.2f}".replace("-", "−")
    low, high = f"{name} ≤ {text}", f"{name} > {text}"
    labels = np.where(data[column] <= median, low, high)
    data[group_col] = pd.Categorical(labels, categories=[low, high], ordered=True)
    return data


# --------------------------------------------------------------------------------------------
# intercurrent diseases (adverse events related to everolimus, infections)
# --------------------------------------------------------------------------------------------

_INTERCURRENT = (
    # (label, AEREL filter, safety subset, minimum grade)
    ("≥1 everolimus-related TEAE", True, None, 1),
    ("≥1 everolimus-related grade ≥3 TEAE", True, None, 3),
    ("≥1 everolimus-related serious TEAE", True, "serious", 1),
    ("≥1 infection (any causality)", False, "infection", 1),
    ("≥1 grade ≥3 infection (any causality)", False, "infection", 3),
    ("≥1 everolimus-related infection", True, "infection", 1),
)


def summarise_intercurrent_events(
    adae: pd.DataFrame, adsl: pd.DataFrame, ci_level: float = 0.95
) -> pd.DataFrame:
    """Patients with adverse events related to everolimus and with infections, with exact CIs.

    Method: treatment-emergent AEs of the safety population, one count per patient at the worst
    grade (:func:`helpers.endpoints.safety.summarise_worst_grade`, on AEs pre-selected by
    relatedness
    ``AEREL`` where the row requires it, and the ``serious``/``infection`` subsets);
    proportions over the whole safety population with Clopper–Pearson exact CIs
    (:func:`helpers.endpoints.rates.compute_proportion`; Clopper & Pearson 1934).

    Returns
    -------
    pandas.DataFrame
        Estimate table, one row per category: ``parameter, n, N, estimate (proportion),
        ci_lower, ci_upper, ci_level, method``.
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(adae, "adae", ["USUBJID", "AEREL"])
    rows = []
    for label, related, subset, min_grade in _INTERCURRENT:
        events = adae[adae["AEREL"] == "Y"] if related else adae
        worst = safety.summarise_worst_grade(events, adsl, subset=subset)
        total = int(worst["N"].iloc[0])
        n = int(worst.loc[worst["worst_grade"] >= min_grade, "n"].sum())
        parameter = f"Patients with {label}, safety population (N={total})"
        rows.append(rates.compute_proportion(n, total, parameter, ci_level))
    return pd.concat(rows, ignore_index=True)
