"""NK-cell flow cytometry: FlowJo long table export -> analysis markers (rows of ``adbm``).

A FlowJo table export gives one value per sample (subject, visit, stimulation tube), gate path
(``population``), statistic and, for fluorescence intensities, marker. The analysis markers are
defined by a catalogue (:data:`NK_MARKERS`) that maps each (population, statistic, marker,
stimulation) to a CDISC-like PARAMCD. Export rows that match no catalogue entry are returned in a
separate frame so the data preparation can list them in the QC table instead of losing them.

The specific (target-induced) NK response is derived as stimulated minus unstimulated
(K562 - none), in percentage points, for CD107a degranulation and IFN-γ production, as in
Alter G, Malenfant JM, Altfeld M. CD107a as a functional marker for the identification of
natural killer cell activity. J Immunol Methods 2004;294:15-22.

References
----------
Alter G et al. J Immunol Methods 2004;294:15-22 (CD107a degranulation assay, unstimulated
background subtracted).
Cossarizza A et al. Guidelines for the use of flow cytometry and cell sorting in immunological
studies (second edition). Eur J Immunol 2019;49:1457-1973 (NK-cell subsets and gating).
CDISC Analysis Data Model Implementation Guide v1.3 (BASE, CHG, PCHG, ABLFL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers import results
from helpers.checks import validate_frame, validate_unique

__all__ = [
    "ADBM_FLOW_COLUMNS",
    "BIOMARKER_TABLES",
    "NK_GATE_PREFIX",
    "NK_MARKERS",
    "NK_NET_RESPONSES",
    "VISIT_NUMBERS",
    "FlowResult",
    "derive_availability_notes",
    "derive_biomarker_change",
    "derive_flow_markers",
    "supplied_table_missing",
]

#: FlowJo gate path of the NK population (CD3− CD56+ lymphocytes).
NK_GATE_PREFIX = "Lymphocytes/Single Cells/CD3-/NK"

#: Analysis visit number (months from treatment start) of each everolimus-NK visit.
VISIT_NUMBERS: dict[str, int] = {"BASELINE": 0, "M3": 3, "M9": 9}

#: Biomarker (ADBM PARAMCD) read from an optional raw table of its own -> that table. (The NK flow
#: markers come from the optional ``nk_flow``: see ``nk.compute_nk_changes``.)
BIOMARKER_TABLES: dict[str, str] = {"GZMB": "granzyme_b"}

_CATALOGUE_KEY = ["population", "statistic", "marker", "stimulation"]
_CATALOGUE_COLUMNS = ["PARAMCD", "PARAM", *_CATALOGUE_KEY, "AVALU", "log_scale"]


def _entry(paramcd, param, gate, statistic, avalu, log_scale, marker="", stimulation="none"):
    population = NK_GATE_PREFIX if gate == "" else f"{NK_GATE_PREFIX}/{gate}"
    return (paramcd, param, population, statistic, marker, stimulation, avalu, log_scale)


#: Catalogue of the NK analysis markers (one row per PARAMCD). Columns: PARAMCD, PARAM (label
#: with unit), population (FlowJo gate path), statistic, marker (median_fi only, else ""),
#: stimulation (``none``/``K562``), AVALU, log_scale (analyse on the log scale: counts and
#: intensities are right-skewed; percentages are analysed untransformed).
NK_MARKERS: pd.DataFrame = pd.DataFrame(
    [
        _entry("NKCNT", "NK cells (cells/µL)", "", "count_per_ul", "cells/µL", True),
        _entry("NKPCT", "NK cells (% of CD3− lymphocytes)", "", "freq_of_parent", "%", False),
        _entry("CD56BR", "CD56bright NK (% of NK)", "CD56bright", "freq_of_parent", "%", False),
        _entry("CD56DIM", "CD56dim NK (% of NK)", "CD56dim", "freq_of_parent", "%", False),
        _entry("CD57", "CD57+ NK (% of CD56dim)", "CD56dim/CD57+", "freq_of_parent", "%", False),
        _entry("NKG2A", "NKG2A+ NK (% of NK)", "NKG2A+", "freq_of_parent", "%", False),
        _entry("KIR", "KIR+ NK, CD158a/b/e (% of NK)", "KIR+", "freq_of_parent", "%", False),
        _entry("NKG2D", "NKG2D on NK (median FI, a.u.)", "", "median_fi", "a.u.", True, "NKG2D"),
        _entry("NKP46", "NKp46 on NK (median FI, a.u.)", "", "median_fi", "a.u.", True, "NKp46"),
        _entry(
            "CD107AU",
            "CD107a+ NK, unstimulated (% of NK)",
            "CD107a+",
            "freq_of_parent",
            "%",
            False,
        ),
        _entry(
            "CD107AK",
            "CD107a+ NK, K562 (% of NK)",
            "CD107a+",
            "freq_of_parent",
            "%",
            False,
            stimulation="K562",
        ),
        _entry("IFNGU", "IFN-γ+ NK, unstimulated (% of NK)", "IFNg+", "freq_of_parent", "%", False),
        _entry(
            "IFNGK",
            "IFN-γ+ NK, K562 (% of NK)",
            "IFNg+",
            "freq_of_parent",
            "%",
            False,
            stimulation="K562",
        ),
    ],
    columns=_CATALOGUE_COLUMNS,
)

#: Specific responses derived as stimulated − unstimulated: PARAMCD -> (stimulated PARAMCD,
#: unstimulated PARAMCD, PARAM).
NK_NET_RESPONSES: dict[str, tuple[str, str, str]] = {
    "CD107ANET": (
        "CD107AK",
        "CD107AU",
        "CD107a+ NK, K562-specific (K562 − unstimulated, percentage points)",
    ),
    "IFNGNET": (
        "IFNGK",
        "IFNGU",
        "IFN-γ+ NK, K562-specific (K562 − unstimulated, percentage points)",
    ),
}
_NET_STIM = "K562-none"
_NET_UNIT = "percentage points"

_RAW_COLUMNS = ("subject_id", "visit", "sample_date", "stimulation", "population", "statistic")
ADBM_FLOW_COLUMNS = [
    "USUBJID",
    "PARAMCD",
    "PARAM",
    "AVALU",
    "STIM",
    "AVISIT",
    "AVISITN",
    "ADT",
    "AVAL",
    "BASE",
    "CHG",
    "PCHG",
    "ABLFL",
    "LODFL",
]


@dataclass(frozen=True)
class FlowResult:
    """Result of :func:`derive_flow_markers`.

    Attributes
    ----------
    markers : pandas.DataFrame
        ``adbm`` rows of the NK flow markers (columns in :data:`ADBM_FLOW_COLUMNS`).
    unmapped : pandas.DataFrame
        Export rows not used, with their raw columns plus REASON.
    """

    markers: pd.DataFrame
    unmapped: pd.DataFrame


def _normalise_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Matching keys as trimmed strings; an empty marker is "" whether NaN or blank."""
    marker = frame["marker"] if "marker" in frame.columns else pd.Series("", index=frame.index)
    return pd.DataFrame(
        {
            "population": frame["population"].astype(str).str.strip().str.strip("/"),
            "statistic": frame["statistic"].astype(str).str.strip(),
            "marker": marker.fillna("").astype(str).str.strip(),
            "stimulation": frame["stimulation"].astype(str).str.strip(),
        },
        index=frame.index,
    )


def _check_catalogue(catalogue: pd.DataFrame) -> pd.DataFrame:
    validate_frame(catalogue, "catalogue", _CATALOGUE_COLUMNS)
    validate_unique(catalogue, ["PARAMCD"], "catalogue")
    cat = catalogue.copy()
    cat[_CATALOGUE_KEY] = _normalise_keys(cat)
    validate_unique(cat, _CATALOGUE_KEY, "catalogue")
    return cat


def _net_responses(markers: pd.DataFrame) -> pd.DataFrame:
    """Stimulated − unstimulated rows for every visit where both tubes were measured."""
    key = ["USUBJID", "AVISIT", "AVISITN"]
    pieces = []
    for paramcd, (stim_cd, unstim_cd, label) in NK_NET_RESPONSES.items():
        stim = markers.loc[markers["PARAMCD"] == stim_cd, [*key, "ADT", "AVAL"]]
        unstim = markers.loc[markers["PARAMCD"] == unstim_cd, [*key, "AVAL"]]
        both = stim.merge(unstim, on=key, suffixes=("_S", "_U"))
        if both.empty:
            continue
        pieces.append(
            both.assign(
                PARAMCD=paramcd,
                PARAM=label,
                AVALU=_NET_UNIT,
                STIM=_NET_STIM,
                AVAL=both["AVAL_S"] - both["AVAL_U"],
            ).drop(columns=["AVAL_S", "AVAL_U"])
        )
    return pd.concat(pieces, ignore_index=True) if pieces else markers.iloc[0:0]


def derive_flow_markers(nk_flow: pd.DataFrame, catalogue: pd.DataFrame = NK_MARKERS) -> FlowResult:
    """Map a FlowJo long export to NK analysis markers with change from baseline.

    Method: each export row is matched on (population, statistic, marker, stimulation) to the
    marker catalogue (gate paths compared after trimming spaces and leading/trailing "/"; an
    empty marker matches ""). The specific K562 responses CD107ANET and IFNGNET are derived as
    stimulated − unstimulated on the same subject and visit (Alter et al. 2004), then BASE,
    CHG, PCHG and ABLFL are added by :func:`derive_biomarker_change` (baseline visit BASELINE).
    Rows with no catalogue entry or an unknown visit are returned in ``unmapped``, never
    dropped silently; a missing value is kept as AVAL NaN.

    Parameters
    ----------
    nk_flow : pandas.DataFrame
        Raw ``nk_flow`` (subject_id, visit, sample_date, stimulation, population, statistic,
        marker [optional], value).
    catalogue : pandas.DataFrame, default :data:`NK_MARKERS`
        Marker catalogue with the columns of :data:`NK_MARKERS`.

    Returns
    -------
    FlowResult
        ``markers``: USUBJID, PARAMCD, PARAM, AVALU, STIM, AVISIT, AVISITN, ADT, AVAL, BASE,
        CHG, PCHG, ABLFL, LODFL ("N": flow statistics have no limit of detection), sorted by
        USUBJID, PARAMCD, AVISITN. ``unmapped``: the unused export rows plus REASON.

    References
    ----------
    Alter G et al. J Immunol Methods 2004;294:15-22.
    CDISC ADaM Implementation Guide v1.3.
    """
    validate_frame(nk_flow, "nk_flow", (*_RAW_COLUMNS, "value"))
    cat = _check_catalogue(catalogue)
    keys = _normalise_keys(nk_flow)
    raw_key = pd.concat([nk_flow[["subject_id", "visit"]].astype(str), keys], axis=1)
    validate_unique(raw_key, list(raw_key.columns), "nk_flow")

    # a left merge on unique catalogue keys keeps the export's row order and row count
    matched = keys.reset_index(drop=True).merge(cat, on=_CATALOGUE_KEY, how="left")
    matched.index = nk_flow.index
    visit = nk_flow["visit"].astype(str).str.strip()
    reason = pd.Series(np.full(len(nk_flow), None, dtype=object), index=nk_flow.index)
    reason[matched["PARAMCD"].isna()] = "no catalogue entry for population/statistic/marker/stim"
    reason[~visit.isin(list(VISIT_NUMBERS))] = f"visit not in {list(VISIT_NUMBERS)}"
    use = reason.isna()

    markers = pd.DataFrame(
        {
            "USUBJID": nk_flow["subject_id"].astype(str),
            "PARAMCD": matched["PARAMCD"],
            "PARAM": matched["PARAM"],
            "AVALU": matched["AVALU"],
            "STIM": keys["stimulation"],
            "AVISIT": visit,
            "AVISITN": visit.map(VISIT_NUMBERS),
            "ADT": pd.to_datetime(nk_flow["sample_date"]),
            "AVAL": pd.to_numeric(nk_flow["value"], errors="coerce").astype(float),
        }
    )[use]
    markers["AVISITN"] = markers["AVISITN"].astype("int64")
    markers = pd.concat([markers, _net_responses(markers)], ignore_index=True)
    markers = derive_biomarker_change(markers, baseline_visit="BASELINE").assign(LODFL="N")
    markers = markers.sort_values(["USUBJID", "PARAMCD", "AVISITN", "STIM"], ignore_index=True)

    unmapped = nk_flow.loc[~use].assign(REASON=reason[~use])
    return FlowResult(markers[ADBM_FLOW_COLUMNS], unmapped.reset_index(drop=True))


def derive_biomarker_change(
    df: pd.DataFrame, baseline_visit: str = "BASELINE", by: list[str] | None = None
) -> pd.DataFrame:
    """Add baseline, change and percent change from baseline to a long biomarker frame.

    Method (CDISC ADaM conventions): within each series (``by``; default USUBJID, PARAMCD and
    STIM when that column exists) the record at ``baseline_visit`` is the baseline (ABLFL "Y",
    other records "N"); BASE = its AVAL on every record of the series, CHG = AVAL − BASE and
    PCHG = 100 × CHG / BASE on post-baseline records. CHG and PCHG are left missing on the
    baseline record itself, and PCHG is missing when BASE <= 0 (a percentage of a zero or
    negative baseline, e.g. of a net stimulated − unstimulated response, is not interpretable).
    A series without a baseline record keeps its rows with BASE, CHG, PCHG missing.

    Parameters
    ----------
    df : pandas.DataFrame
        Long frame with at least USUBJID, PARAMCD, AVISIT, AVAL (and the ``by`` columns).
    baseline_visit : str, default "BASELINE"
        AVISIT value of the baseline record (e.g. "C1D1" in the HER2-CTC trial).
    by : list of str, optional
        Columns identifying a series; default ["USUBJID", "PARAMCD"] (+ "STIM" if present).

    Returns
    -------
    pandas.DataFrame
        A copy of ``df`` (same rows, order and index) with BASE, CHG, PCHG (float) and ABLFL
        ("Y"/"N") added or overwritten.

    References
    ----------
    CDISC Analysis Data Model Implementation Guide v1.3, section 3.3.4 (BASE, CHG, PCHG, ABLFL).
    """
    if by is None:
        by = ["USUBJID", "PARAMCD"] + (["STIM"] if "STIM" in getattr(df, "columns", []) else [])
    if not isinstance(by, list) or not by:
        raise TypeError(f"by must be a non-empty list of column names, got {by!r}")
    validate_frame(df, "df", ("AVISIT", "AVAL", *by))
    is_base = df["AVISIT"].astype(str).eq(baseline_visit).to_numpy()
    baseline = df.loc[is_base, [*by, "AVAL"]]
    validate_unique(baseline, by, f"baseline records (AVISIT == {baseline_visit!r})")

    # merge on a positional key so the caller's index and row order survive
    left = df[by].reset_index(drop=True)
    base = left.merge(baseline.rename(columns={"AVAL": "BASE"}), on=by, how="left")["BASE"]
    aval = pd.to_numeric(df["AVAL"], errors="coerce").to_numpy(dtype=float)
    base = base.to_numpy(dtype=float)
    chg = np.where(is_base, np.nan, aval - base)
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = np.where(base > 0, 100.0 * chg / base, np.nan)
    return df.assign(BASE=base, CHG=chg, PCHG=pchg, ABLFL=np.where(is_base, "Y", "N"))


# --------------------------------------------------------------------------------------------
# Optional tables: say "not available" when a biomarker's table was not supplied
# --------------------------------------------------------------------------------------------


def supplied_table_missing(data: pd.DataFrame, paramcd: str) -> str | None:
    """The optional raw table behind ``paramcd`` when ``data`` holds none of its rows, else None.

    ``data`` is long biomarker data with ``PARAMCD`` (``adbm`` or its timed samples). A marker
    from an optional table (:data:`BIOMARKER_TABLES`, e.g. GZMB from ``granzyme_b``) without any
    row means that table was not supplied; the analyses of that marker then say so instead of
    stopping. Other markers give None (their helpers keep refusing an unknown PARAMCD).
    """
    validate_frame(data, "data", ["PARAMCD"])
    if paramcd in BIOMARKER_TABLES and not data["PARAMCD"].eq(paramcd).any():
        return BIOMARKER_TABLES[paramcd]
    return None


def derive_availability_notes(
    estimates: pd.DataFrame, data: pd.DataFrame, paramcd: str = "GZMB"
) -> pd.DataFrame:
    """The estimate rows of ``paramcd``, with the reason when its optional table is absent.

    Method: when :func:`supplied_table_missing` finds the table behind ``paramcd`` absent from
    ``data``, the rows of that marker (those whose ``PARAMCD`` column equals it when
    ``estimates`` has one, else every row) lose their numbers and their ``note`` reads "not
    available: table granzyme_b not supplied" (:func:`helpers.results.mark_not_supplied`).
    Otherwise ``estimates`` is returned unchanged.
    """
    table = supplied_table_missing(data, paramcd)
    if table is None:
        return estimates
    rows = estimates["PARAMCD"].eq(paramcd) if "PARAMCD" in estimates.columns else None
    return results.mark_not_supplied(estimates, table, rows)
