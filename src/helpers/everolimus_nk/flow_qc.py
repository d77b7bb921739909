"""NK flow cytometry: minimum-event QC per gate, and the multiplicity families of the NK analysis.

- :func:`summarise_gate_events`: events behind each analysed percentage, from the exported NK
  event count and the gate frequencies (events(gate) = events(parent) × % of parent / 100, down
  the gate path), flagged when below a minimum; a percentage estimated from few events is
  imprecise (binomial SD √(p(1 − p)/n)), hence the usual rule of a minimum event count per
  reported gate (Maecker et al. 2012; Cossarizza et al. 2019, guideline on minimum events).
- :func:`derive_nk_families`: the FDR family of the NK analysis without redundant tests —
  CD56dim % = 100 − CD56bright % (a test of one is a test of the other) and the K562-specific net
  responses (K562 − unstimulated) are determined by the two tests already made — with the
  pre-specified primary functional endpoints in their own family, reported first.

References
----------
Maecker HT, McCoy JP, Nussenblatt R. Standardizing immunophenotyping for the Human Immunology
Project. Nat Rev Immunol 2012;12:191-200.
Cossarizza A et al. Guidelines for the use of flow cytometry and cell sorting in immunological
studies (2nd ed.). Eur J Immunol 2019;49:1457-1973.
Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.checks import validate_frame
from helpers.endpoints import stats
from helpers.everolimus_nk import flow

__all__ = [
    "FAMILY_EXPLORATORY",
    "FAMILY_PRIMARY",
    "FAMILY_REDUNDANT",
    "REDUNDANT_MARKERS",
    "apply_nk_families",
    "select_gate_qc_pass",
    "summarise_gate_events",
]

FAMILY_PRIMARY = "primary (pre-specified)"
FAMILY_EXPLORATORY = "exploratory"
FAMILY_REDUNDANT = "redundant: not tested separately"

#: Markers whose test repeats another test: marker -> why.
REDUNDANT_MARKERS: Mapping[str, str] = {
    "CD56DIM": "CD56dim % = 100 − CD56bright %: same test as CD56BR",
    "CD107ANET": "K562 − unstimulated: determined by CD107AK and CD107AU",
    "IFNGNET": "K562 − unstimulated: determined by IFNGK and IFNGU",
}


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _steps_below_nk(gates: pd.Series, nk: str) -> pd.DataFrame:
    """``step_of`` (position in ``gates``), ``population``: the gates from below the NK gate down
    to the parent of each gate, in order (none when the parent is the NK gate or upstream)."""
    rows = []
    for row, gate in enumerate(gates):
        parent = _parent(gate)
        if gate == nk or parent == nk:
            continue
        parts = parent[len(nk) + 1 :].split("/")
        rows += [(row, "/".join([nk, *parts[: k + 1]])) for k in range(len(parts))]
    return pd.DataFrame(rows, columns=["step_of", "population"])


def summarise_gate_events(
    nk_flow: pd.DataFrame | None, min_events: int, catalogue: pd.DataFrame = flow.NK_MARKERS
) -> pd.DataFrame:
    """Events behind every analysed percentage of the flow export, flagged below ``min_events``.

    Method: per sample (subject, visit) and tube (stimulation), the NK gate's event count
    (statistic ``count`` at :data:`helpers.everolimus_nk.flow.NK_GATE_PREFIX`; the unstimulated
    tube's count when the tube has none, noted) is propagated down the gate path with the
    exported frequencies (% of parent). A catalogue percentage whose denominator (the parent
    gate) holds fewer than ``min_events`` events is flagged.

    Parameters
    ----------
    nk_flow : pandas.DataFrame or None
        Raw FlowJo-like export (``subject_id, visit, stimulation, population, statistic,
        marker, value``); None when the optional table was not supplied (no rows returned).
    min_events : int
        Minimum events in the parent gate of a reported percentage.
    catalogue : pandas.DataFrame
        Marker catalogue (``PARAMCD, population, statistic, stimulation``).

    Returns
    -------
    pandas.DataFrame
        One row per subject × visit × catalogue percentage: ``USUBJID, AVISIT, PARAMCD, gate,
        parent_events, gate_events, QCFL`` (Y = below the minimum or unknown), ``note``.
    """
    need = ["subject_id", "visit", "stimulation", "population", "statistic", "value"]
    if nk_flow is None:  # the optional nk_flow table was not supplied: no gate to check
        nk_flow = pd.DataFrame(columns=need)
    validate_frame(nk_flow, "nk_flow", need)
    if isinstance(min_events, bool) or not isinstance(min_events, (int, np.integer)):
        raise TypeError(f"min_events must be an integer, got {min_events!r}")
    if min_events < 0:
        raise ValueError(f"min_events must be >= 0, got {min_events}")
    df = nk_flow.assign(
        population=nk_flow["population"].astype(str).str.strip().str.strip("/"),
        stimulation=nk_flow["stimulation"].astype(str).str.strip(),
        value=pd.to_numeric(nk_flow["value"], errors="coerce"),
    )
    nk = flow.NK_GATE_PREFIX
    keys = ["subject_id", "visit", "stimulation"]
    counts = df[df["statistic"].eq("count") & df["population"].eq(nk)]
    nk_events = counts.groupby(keys, sort=False)["value"].first()
    freq = df[df["statistic"].eq("freq_of_parent")]
    freq_map = freq.groupby([*keys, "population"], sort=False)["value"].first()
    pct = catalogue[catalogue["statistic"].eq("freq_of_parent")].reset_index(drop=True)
    columns = ["USUBJID", "AVISIT", "PARAMCD", "gate", "parent_events", "gate_events", "QCFL"]
    samples = df[["subject_id", "visit"]].drop_duplicates()
    if samples.empty or pct.empty:
        return pd.DataFrame(columns=[*columns, "note"])
    grid = samples.merge(
        pct[["PARAMCD", "population", "stimulation"]].rename_axis("step_of").reset_index(),
        how="cross",
    )

    def lookup(series: pd.Series, frame: pd.DataFrame) -> np.ndarray:
        index = pd.MultiIndex.from_frame(frame)
        return (
            series.reindex(index).to_numpy(dtype=float)
            if len(series)
            else np.full(len(frame), np.nan)
        )

    base = lookup(nk_events, grid[keys])
    fallback = lookup(nk_events, grid[keys[:2]].assign(stimulation="none"))
    use_fallback = np.isnan(base) & ~np.isnan(fallback)
    base = np.where(use_fallback, fallback, base)
    # the gates between the NK gate and the parent of each reported gate, walked down in order
    steps = _steps_below_nk(pct["population"], nk)
    chain = grid[[*keys, "step_of"]].reset_index(names="cell").merge(steps, on="step_of")
    factor = lookup(freq_map, chain[[*keys, "population"]]) / 100
    f = pd.Series(factor, index=chain["cell"])
    product = f.fillna(1.0).groupby(level=0).prod()
    product[f.isna().groupby(level=0).any()] = np.nan
    product = product.reindex(grid.index, fill_value=1.0).to_numpy(dtype=float)
    gate = grid["population"].to_numpy()
    is_nk = gate == nk
    events = np.where(is_nk, np.nan, base * product)  # NK % of CD3−: parent upstream of the count
    gate_events = events * lookup(freq_map, grid[[*keys, "population"]]) / 100
    low = np.isnan(events) | (events < min_events)
    note = np.where(use_fallback, "NK events of the unstimulated tube", "")
    note = np.where(np.isnan(events) & (note == ""), "no exported count for this tube", note)
    note = np.where(is_nk, "parent gate upstream of the exported NK count", note)
    return pd.DataFrame(
        {
            "USUBJID": grid["subject_id"].to_numpy(),
            "AVISIT": grid["visit"].to_numpy(),
            "PARAMCD": grid["PARAMCD"].to_numpy(),
            "gate": gate,
            "parent_events": events,
            "gate_events": gate_events,
            "QCFL": np.where(low & ~is_nk, "Y", "N"),
            "note": note,
        }
    )


def select_gate_qc_pass(adbm: pd.DataFrame, gate_events: pd.DataFrame) -> pd.DataFrame:
    """``adbm`` without the flow values whose gate failed the minimum-event QC (``QCFL = Y``).

    Net responses (K562 − unstimulated) are removed when either of their two percentages failed.
    """
    validate_frame(adbm, "adbm", ["USUBJID", "AVISIT", "PARAMCD"])
    bad = gate_events.loc[gate_events["QCFL"].eq("Y"), ["USUBJID", "AVISIT", "PARAMCD"]]
    extra = [
        bad[bad["PARAMCD"].isin(parts[:2])].assign(PARAMCD=net)
        for net, parts in flow.NK_NET_RESPONSES.items()
    ]
    bad = pd.concat([bad, *extra], ignore_index=True).drop_duplicates()
    key = pd.MultiIndex.from_frame(adbm[["USUBJID", "AVISIT", "PARAMCD"]])
    drop = key.isin(pd.MultiIndex.from_frame(bad))
    return adbm.loc[~drop].reset_index(drop=True)


def apply_nk_families(
    changes: pd.DataFrame,
    primary: Sequence[str],
    redundant: Mapping[str, str] = REDUNDANT_MARKERS,
    fdr_method: str = "fdr_bh",
) -> pd.DataFrame:
    """Multiplicity families of the NK marker changes (output of ``nk.compute_nk_changes``).

    Method: ``family`` = primary (the pre-specified functional endpoints), redundant (markers
    whose test repeats others: ``p_value`` and ``p_adj`` blanked, the estimate kept for
    description), or exploratory (the rest). ``p_adj`` is recomputed within each family
    (Benjamini–Hochberg by default, across the family's markers × visits). Primary rows first.
    Without any analysed marker (the "not available" row when nk_flow was not supplied) the
    table is returned with an empty ``family``.

    Returns
    -------
    pandas.DataFrame
        ``changes`` with ``family`` and family-wise ``p_adj``; note says why a row is redundant.
    """
    validate_frame(changes, "changes", ["PARAMCD", "p_value"])
    unknown = sorted(set(primary) - set(changes["PARAMCD"]))
    analysed = changes["PARAMCD"].fillna("").ne("")
    if not analysed.any():  # nk_flow not supplied: the "not available" row goes through as is
        return changes.assign(family="", p_adj=np.nan)
    if unknown:
        raise ValueError(f"primary NK endpoint(s) {unknown} not among the analysed markers")
    clash = sorted(set(primary) & set(redundant))
    if clash:
        raise ValueError(f"{clash} cannot be both primary and redundant")
    out = changes.copy()
    out["family"] = np.where(
        out["PARAMCD"].isin(list(primary)),
        FAMILY_PRIMARY,
        np.where(out["PARAMCD"].isin(list(redundant)), FAMILY_REDUNDANT, FAMILY_EXPLORATORY),
    )
    red = out["family"].eq(FAMILY_REDUNDANT)
    if "note" not in out:
        out["note"] = ""
    out["note"] = out["note"].fillna("").astype(str)
    reason = out.loc[red, "PARAMCD"].map(redundant)
    kept = out.loc[red, "note"]  # a "not estimable: …" note still says why there is no number
    out.loc[red, "note"] = reason.where(
        ~kept.str.startswith("not estimable"), kept + "; redundant: " + reason
    )
    out.loc[red, "p_value"] = np.nan
    out["p_adj"] = np.nan
    for fam in (FAMILY_PRIMARY, FAMILY_EXPLORATORY):
        sel = out["family"].eq(fam)
        if sel.any():
            out.loc[sel, "p_adj"] = stats.compute_fdr(
                out.loc[sel, "p_value"].to_numpy(), fdr_method
            )
    order = out["family"].map({FAMILY_PRIMARY: 0, FAMILY_EXPLORATORY: 1, FAMILY_REDUNDANT: 2})
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
