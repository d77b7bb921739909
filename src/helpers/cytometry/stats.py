"""Gated statistics in the FlowJo table-export long shape, and concordance with a FlowJo export.

One row per (file, population, statistic, marker): ``count`` (events), ``freq_of_parent`` (% of
the parent population), ``count_per_ul`` (events / acquired volume, when the file or the sample
sheet gives a volume) and ``median_fi`` (median of the compensated, untransformed intensity of a
marker, FlowJo's "Median" statistic). Population paths are gate names joined by "/" without the
root, as FlowJo writes them.

References
----------
FlowJo v10 documentation, "Statistics": Freq. of Parent, Count, Median (computed on the
compensated linear scale).
Spidlen J et al. FCS 3.1. Cytometry A 2010;77:97-100 ($VOL, nanolitres).
Lin LI. A concordance correlation coefficient to evaluate reproducibility. Biometrics
1989;45:255-268. Bland JM, Altman DG. Lancet 1986;i:307-310.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.checks import validate_frame
from helpers.cytometry.gating import GatingResult

__all__ = [
    "STATISTICS_COLUMNS",
    "compute_concordance",
    "derive_concordance_pairs",
    "derive_volume_ul",
    "rename_population",
    "summarise_gated_statistics",
]

STATISTICS_COLUMNS = ["file", "population", "parent", "statistic", "marker", "value"]


def rename_population(path: str, names: Mapping[str, str] | None) -> str:
    """Map each gate id of a "/"-path through ``names`` (ids not in it keep their name)."""
    if not names or not path:
        return path
    return "/".join(names.get(part, part) for part in path.split("/"))


def derive_volume_ul(keywords: Mapping[str, str]) -> float | None:
    """Acquired volume in µL from the FCS 3.1 ``$VOL`` keyword (nanolitres); None when absent."""
    text = keywords.get("vol")
    if text is None or not str(text).strip():
        return None
    try:
        value = float(text) / 1000.0
    except ValueError:
        return None
    return value if value > 0 else None


def summarise_gated_statistics(
    result: GatingResult,
    population_names: Mapping[str, str] | None = None,
    volume_ul: float | None = None,
    mfi_markers: Sequence[str] | None = None,
    min_parent_events: int = 0,
    mfi_populations: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long-format statistics of one gated file (the FlowJo table-export shape).

    Method: counts are mask sums; % of parent = 100 × count / parent count; count per µL =
    count / ``volume_ul``; median FI = ``numpy.median`` of the compensated linear intensities
    of the population (FlowJo's Median). A percentage whose parent holds fewer than
    ``min_parent_events`` events, and a median of an empty population, are NaN (not estimable),
    never a number from a handful of events.

    Parameters
    ----------
    result : GatingResult
        :func:`helpers.cytometry.gating.gate_events` output.
    population_names : mapping, optional
        Gate id -> population name (e.g. "CD3neg" -> "CD3-").
    volume_ul : float, optional
        Acquired volume (µL); ``count_per_ul`` rows only when given.
    mfi_markers : sequence of str, optional
        Markers ($PnS, else $PnN) with a ``median_fi`` row per population; default every channel
        with a stain name.
    min_parent_events : int, default 0
        Minimum parent events for a percentage.
    mfi_populations : sequence of str, optional
        Populations (names after ``population_names``) with median rows; default all.

    Returns
    -------
    pandas.DataFrame
        :data:`STATISTICS_COLUMNS`: file, population, parent, statistic (count, freq_of_parent,
        count_per_ul, median_fi), marker ("" except median_fi), value (float).
    """
    labels = [s if s else n for s, n in zip(result.pns, result.pnn, strict=True)]
    if mfi_markers is None:
        mfi_markers = [s for s in result.pns if s]
    missing = [m for m in mfi_markers if m not in labels]
    if missing:
        raise ValueError(f"{result.sample_id}: markers {missing} are not channels ({labels})")
    marker_idx = [(m, labels.index(m)) for m in mfi_markers]
    rows = []
    for path, mask in result.masks.items():
        if path == "":
            continue
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        n = int(mask.sum())
        n_parent = int(result.masks[parent].sum())
        pop = rename_population(path, population_names)
        par = rename_population(parent, population_names)
        pct = 100.0 * n / n_parent if n_parent > 0 and n_parent >= min_parent_events else np.nan
        rows.append((pop, par, "count", "", float(n)))
        rows.append((pop, par, "freq_of_parent", "", pct))
        if volume_ul:
            rows.append((pop, par, "count_per_ul", "", n / volume_ul))
        if marker_idx and (mfi_populations is None or pop in mfi_populations):
            sub = result.compensated[np.ix_(mask, [i for _, i in marker_idx])]
            med = np.median(sub, axis=0) if n else np.full(len(marker_idx), np.nan)
            rows.extend(
                (pop, par, "median_fi", m, float(v))
                for (m, _), v in zip(marker_idx, med, strict=True)
            )
    out = pd.DataFrame(rows, columns=STATISTICS_COLUMNS[1:])
    out.insert(0, "file", result.sample_id)
    return out


def derive_concordance_pairs(
    fcs: pd.DataFrame,
    flowjo: pd.DataFrame,
    keys: Sequence[str] = ("subject_id", "visit", "stimulation"),
) -> pd.DataFrame:
    """FCS-gated and FlowJo-exported values side by side (outer join; unmatched rows kept).

    Returns
    -------
    pandas.DataFrame
        ``keys``, population, statistic, marker, value_fcs, value_flowjo (floats), source
        ("both", "fcs only", "flowjo only").
    """
    cols = [*keys, "population", "statistic", "marker", "value"]
    validate_frame(fcs, "fcs statistics", cols)
    validate_frame(flowjo, "FlowJo export", cols)
    text = [*keys, "population", "statistic", "marker"]

    def norm(df):
        out = df[cols].copy()
        for c in text:
            out[c] = out[c].fillna("").astype(str).str.strip()
        out["population"] = out["population"].str.strip("/")
        out["value"] = pd.to_numeric(out["value"], errors="coerce")
        return out

    both = norm(fcs).merge(
        norm(flowjo), on=text, how="outer", suffixes=("_fcs", "_flowjo"), indicator="source"
    )
    labels = {"both": "both", "left_only": "fcs only", "right_only": "flowjo only"}
    both["source"] = both["source"].astype(str).map(labels)
    return both.sort_values(text, ignore_index=True)


def compute_concordance(
    fcs: pd.DataFrame,
    flowjo: pd.DataFrame,
    keys: Sequence[str] = ("subject_id", "visit", "stimulation"),
) -> pd.DataFrame:
    """Agreement of FCS-gated and FlowJo-exported statistics, per population and statistic.

    Method: rows are paired on ``keys`` + population, statistic, marker
    (:func:`derive_concordance_pairs`). For each (population, statistic, marker) with paired
    values: the mean difference FCS − FlowJo with Bland–Altman 95 % limits of agreement (mean ±
    1.96 SD of the differences; Bland & Altman 1986), the largest absolute difference, and Lin's
    concordance correlation coefficient (Lin 1989; NaN with fewer than 3 pairs or no variance).
    Rows of one source without a partner are counted (``n_fcs_only``, ``n_flowjo_only``), never
    dropped silently.

    Parameters
    ----------
    fcs, flowjo : pandas.DataFrame
        Long tables with ``keys``, population, statistic, marker, value (text or numbers).
    keys : sequence of str
        Columns identifying a tube.

    Returns
    -------
    pandas.DataFrame
        population, statistic, marker, n_pairs, n_fcs_only, n_flowjo_only, mean_fcs,
        mean_flowjo, mean_difference, loa_lower, loa_upper, max_abs_difference, ccc, method,
        note (a caveat for raw event counts).
    """
    stat_key = ["population", "statistic", "marker"]
    both = derive_concordance_pairs(fcs, flowjo, keys)
    rows = []
    for key, grp in both.groupby(stat_key, sort=True):
        paired = grp[grp["source"] == "both"].dropna(subset=["value_fcs", "value_flowjo"])
        x, y = paired["value_fcs"].to_numpy(float), paired["value_flowjo"].to_numpy(float)
        d = x - y
        n = len(d)
        sd = d.std(ddof=1) if n > 1 else np.nan
        rows.append(
            {
                **dict(zip(stat_key, key, strict=True)),
                "n_pairs": n,
                "n_fcs_only": int((grp["source"] == "fcs only").sum()),
                "n_flowjo_only": int((grp["source"] == "flowjo only").sum()),
                "mean_fcs": x.mean() if n else np.nan,
                "mean_flowjo": y.mean() if n else np.nan,
                "mean_difference": d.mean() if n else np.nan,
                "loa_lower": d.mean() - 1.96 * sd if n > 1 else np.nan,
                "loa_upper": d.mean() + 1.96 * sd if n > 1 else np.nan,
                "max_abs_difference": np.abs(d).max() if n else np.nan,
                "ccc": _lin_ccc(x, y),
                "method": "Bland–Altman limits of agreement; Lin's CCC",
                "note": _COUNT_NOTE if key[1] == "count" else "",
            }
        )
    return pd.DataFrame(rows)


_COUNT_NOTE = (
    "event counts scale with the events acquired/exported per tube: compare % of parent and "
    "count per µL"
)


def _lin_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (population moments, Lin 1989)."""
    if len(x) < 3:
        return np.nan
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    denom = x.var() + y.var() + (x.mean() - y.mean()) ** 2
    return float(2 * sxy / denom) if denom > 0 else np.nan
