"""Quality control of FCS acquisitions: events, flow rate over time, margin events, sheet ↔ files.

Every check returns rows of one QC table (:data:`QC_COLUMNS`): file, check, population, value,
limit, flag, detail. Flagged rows say what is wrong; nothing is dropped silently.

- events per file and per gate against minimums (parameters);
- flow-rate anomalies: events are binned over acquisition time; a bin whose count departs from
  the median bin count by more than ``k`` robust SDs (1.4826 × MAD) is anomalous — the principle
  of flowAI's flow-rate check (Monaco et al. 2016) and flowClean (Fletez-Brant et al. 2016);
- margin / saturated events: events at or above the channel's top (``$PnR`` − 1) on any scatter
  or fluorescence channel;
- sample sheet ↔ files: sheet rows without a file and files without a sheet row.

References
----------
Monaco G et al. flowAI: automatic and interactive anomaly discerning tools for flow cytometry
data. Bioinformatics 2016;32:2473-2480.
Fletez-Brant K et al. flowClean: automated identification and removal of fluorescence anomalies
in flow cytometry data. Cytometry A 2016;89:461-471.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from helpers.cytometry.fcs_io import FcsEvents
from helpers.cytometry.gating import GatingResult

__all__ = [
    "QC_COLUMNS",
    "compute_event_qc",
    "compute_flow_rate_bins",
    "compute_margin_events",
    "compute_sheet_mismatches",
    "summarise_qc_flags",
]

QC_COLUMNS = ["file", "check", "population", "value", "limit", "flag", "detail"]


def _row(file, check, population, value, limit, flag, detail) -> dict:
    return dict(
        zip(QC_COLUMNS, (file, check, population, value, limit, bool(flag), detail), strict=True)
    )


def compute_event_qc(
    result: GatingResult,
    min_events_file: int,
    min_events_gate: int,
    population_names: Mapping[str, str] | None = None,
    gates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Events per file and per parent gate against minimums.

    A gate is checked when it is the parent of another gate (the denominator of a percentage):
    a rare positive population (e.g. 1 % IFN-γ+ NK without stimulation) is a result, not a QC
    problem, but a percentage of a parent with too few events is not estimable.

    Parameters
    ----------
    result : GatingResult
        A gated file.
    min_events_file : int
        Minimum events of a file.
    min_events_gate : int
        Minimum events of each checked gate.
    population_names : mapping, optional
        Gate id -> population name, for the ``population`` column.
    gates : sequence of str, optional
        Population paths (gate ids) to check; default every parent gate.

    Returns
    -------
    pandas.DataFrame
        :data:`QC_COLUMNS`; check "events in file" / "events in gate".
    """
    from helpers.cytometry.stats import rename_population

    rows = [
        _row(
            result.sample_id,
            "events in file",
            "",
            result.n_events,
            min_events_file,
            result.n_events < min_events_file,
            f"{result.n_events} events (minimum {min_events_file})",
        )
    ]
    if gates is None:
        parents = {p.rsplit("/", 1)[0] for p in result.masks if "/" in p}
        gates = [p for p in result.masks if p in parents]
    for path in gates:
        n = result.count(path)
        name = rename_population(path, population_names)
        rows.append(
            _row(
                result.sample_id,
                "events in gate",
                name,
                n,
                min_events_gate,
                n < min_events_gate,
                f"{n} events in {name} (minimum {min_events_gate}); below it, % of it is NaN",
            )
        )
    return pd.DataFrame(rows, columns=QC_COLUMNS)


def compute_flow_rate_bins(
    fcs: FcsEvents, bin_seconds: float = 1.0, k: float = 5.0, time_channel: str = "Time"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flow rate over acquisition time and its anomalous bins.

    Method: the time channel (seconds after FlowIO's ``$TIMESTEP`` scaling) is cut into bins of
    ``bin_seconds``; a bin is anomalous when ``|count − median| > k × 1.4826 × MAD`` of the bin
    counts (robust z-score; flowAI's flow-rate principle). The last, partial bin is not judged.

    Returns
    -------
    bins : pandas.DataFrame
        file, bin_start_s, events, rate_per_s, robust_z, anomalous.
    qc : pandas.DataFrame
        One :data:`QC_COLUMNS` row "flow-rate anomaly": the fraction of anomalous bins
        (flagged when any bin is anomalous), or a flagged row when the file has no time channel.
    """
    name = fcs.name
    if time_channel not in fcs.pnn:
        row = _row(name, "flow-rate anomaly", "", np.nan, 0, True, f"no {time_channel} channel")
        return pd.DataFrame(), pd.DataFrame([row], columns=QC_COLUMNS)
    t = fcs.events[:, fcs.pnn.index(time_channel)]
    if t.size == 0:
        row = _row(name, "flow-rate anomaly", "", np.nan, 0, True, "no events")
        return pd.DataFrame(), pd.DataFrame([row], columns=QC_COLUMNS)
    start = float(t.min())
    n_bins = max(int(np.floor((t.max() - start) / bin_seconds)), 1)
    edges = start + bin_seconds * np.arange(n_bins + 1)
    counts, _ = np.histogram(t, bins=edges)
    med = np.median(counts)
    mad = 1.4826 * np.median(np.abs(counts - med))
    z = (counts - med) / mad if mad > 0 else np.zeros(len(counts))
    anomalous = np.abs(z) > k
    bins = pd.DataFrame(
        {
            "file": name,
            "bin_start_s": edges[:-1] - start,
            "events": counts,
            "rate_per_s": counts / bin_seconds,
            "robust_z": z,
            "anomalous": anomalous,
        }
    )
    frac = float(anomalous.mean())
    detail = (
        f"{int(anomalous.sum())} of {len(counts)} bins of {bin_seconds:g} s outside "
        f"median ± {k:g} robust SD ({med:.0f} events/bin)"
    )
    row = _row(name, "flow-rate anomaly", "", frac, 0.0, anomalous.any(), detail)
    return bins, pd.DataFrame([row], columns=QC_COLUMNS)


def compute_margin_events(
    fcs: FcsEvents, max_fraction: float = 0.01, exclude: Iterable[str] = ("Time",)
) -> pd.DataFrame:
    """Saturated (margin) events: at or above ``$PnR`` − 1 on any channel but ``exclude``.

    Returns
    -------
    pandas.DataFrame
        One :data:`QC_COLUMNS` row "margin events" (value = fraction of events, flagged above
        ``max_fraction``; detail names the channels).
    """
    skip = set(exclude)
    top = np.array(
        [
            r - 1 if (n not in skip and np.isfinite(r)) else np.inf
            for n, r in zip(fcs.pnn, fcs.pnr, strict=True)
        ]
    )
    hit = fcs.events >= top
    per = {fcs.pnn[c]: int(k) for c, k in enumerate(hit.sum(axis=0)) if k}
    frac = float(hit.any(axis=1).mean()) if fcs.n_events else 0.0
    detail = ", ".join(f"{k}: {v}" for k, v in per.items()) or "none"
    return pd.DataFrame(
        [_row(fcs.name, "margin events", "", frac, max_fraction, frac > max_fraction, detail)],
        columns=QC_COLUMNS,
    )


def compute_sheet_mismatches(
    sheet_files: Iterable[str], found_files: Iterable[str]
) -> pd.DataFrame:
    """Sheet rows without a file and files without a sheet row (flagged QC rows).

    Returns
    -------
    pandas.DataFrame
        :data:`QC_COLUMNS`, check "file missing" (sheet row, no file) or "file not in sample
        sheet" (file, no row; it is not gated).
    """
    sheet, found = set(sheet_files), set(found_files)
    rows = [
        _row(
            f, "file missing", "", np.nan, np.nan, True, "listed in the sample sheet, no such file"
        )
        for f in sorted(sheet - found)
    ] + [
        _row(
            f,
            "file not in sample sheet",
            "",
            np.nan,
            np.nan,
            True,
            "not gated: add it to the sheet",
        )
        for f in sorted(found - sheet)
    ]
    return pd.DataFrame(rows, columns=QC_COLUMNS)


def summarise_qc_flags(qc: pd.DataFrame) -> pd.DataFrame:
    """Files checked and flagged per QC check.

    Returns
    -------
    pandas.DataFrame
        check, rows, flagged, files_flagged.
    """
    if qc.empty:
        return pd.DataFrame(columns=["check", "rows", "flagged", "files_flagged"])
    flagged = qc[qc["flag"]]
    out = qc.groupby("check", sort=True).size().rename("rows").to_frame()
    out["flagged"] = flagged.groupby("check").size().reindex(out.index, fill_value=0)
    out["files_flagged"] = (
        flagged.groupby("check")["file"].nunique().reindex(out.index, fill_value=0)
    )
    return out.reset_index()
