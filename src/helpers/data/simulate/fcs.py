"""Synthetic FCS 3.1 files of the everolimus-NK demo cohort, their GatingML 2.0 and sample sheet.

Each sample of the simulated FlowJo export (``nk_flow``) of the first ``n_patients`` patients gets
two tubes (unstimulated, K562-stimulated) of list-mode events over the NK panel of
:data:`helpers.everolimus_nk.fcs.NK_PANEL`. The true population fractions of a file are the
values of that sample's export rows (K562 tubes share the unstimulated tube's phenotype), so the
FCS gating and the export agree up to sampling error, and the manifest records them.

Generative model (per event): population labels are drawn down the gate tree (lymphocytes →
single cells → CD3− viable → NK → CD56bright/dim, CD57+ of CD56dim, NKG2A+, KIR+, CD107a+, IFN-γ+
of NK) with the file's true probabilities; each population's scatter and marker intensities are
truncated normals (Logicle scale for fluorescence) whose supports lie strictly on one side of
each gate, so a gate recovers the labels exactly and the only error is binomial sampling. NKG2D
and NKp46 on NK cells are log-normal with the true median. Acquired intensities are the true
(compensated) ones times the spillover matrix written in ``$SPILLOVER``; ``$VOL`` (nL) of the
unstimulated tube makes NK count / volume equal the true NK count per µL. Events arrive in time
order at a constant rate, except in ``anomaly_files`` (a partial clog: the rate drops to 10 %
for 15 s) and a few saturated (``$PnR``) scatter events in every file. The demo files hold
``events_per_file`` events while the simulated export's NK event ``count`` assumes 100,000
acquired events: counts differ by design, percentages and counts per µL agree.

References
----------
Spidlen J et al. FCS 3.1. Cytometry A 2010;77:97-100. Spidlen J et al. Gating-ML 2.0. Cytometry
A 2015;87:683-687. Parks DR et al. Cytometry A 2006;69:541-551 (Logicle).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from helpers.everolimus_nk.fcs import (
    NK_GATE_NAMES,
    NK_PANEL,
    SAMPLE_SHEET_COLUMNS,
    SCATTER_CHANNELS,
    TIME_CHANNEL,
)

__all__ = [
    "FcsModel",
    "FcsSample",
    "build_demo_gating_strategy",
    "iter_fcs_samples",
    "simulate_sample_sheet",
]

_PNR = 262144.0
_LOGICLE = {"param_t": _PNR, "param_w": 0.5, "param_m": 4.5, "param_a": 0.0}
_GATE = 0.40  # Logicle threshold of every single-marker +/- gate
_NEG = (0.22, 0.05, 0.05, 0.33)  # mean, sd, low, high (Logicle units)
_POS = (0.64, 0.06, 0.46, 0.92)

#: Spillover (fraction of fluorochrome i seen in detector j), a typical 4-laser NK panel.
_SPILL = {
    ("CD57", "NKG2A"): 0.14,
    ("NKG2A", "CD56"): 0.04,
    ("NKG2A", "NKp46"): 0.10,
    ("NKp46", "CD56"): 0.06,
    ("KIR", "IFNg"): 0.12,
    ("KIR", "CD16"): 0.05,
    ("IFNg", "CD16"): 0.09,
    ("NKG2D", "CD3"): 0.08,
    ("CD3", "Viability"): 0.05,
    ("Viability", "CD107a"): 0.04,
    ("CD56", "CD16"): 0.03,
}


@dataclass(frozen=True)
class FcsModel:
    """Size and acquisition features of the demo FCS files."""

    n_patients: int = 6
    events_per_file: int = 20_000
    acquisition_seconds: float = 120.0
    timestep: float = 0.01
    anomaly_files: int = 1
    saturated_fraction: float = 0.003
    missing_files: int = 1  # sheet rows whose file "was lost" (QC lists them)


@dataclass(frozen=True)
class FcsSample:
    """One simulated file: name, events (acquired, uncompensated), keywords and truth."""

    file: str
    events: np.ndarray
    keywords: dict[str, str]
    truth: dict[str, Any]


def _detectors() -> list[str]:
    return [det for _, det in NK_PANEL]


def _markers() -> list[str]:
    return [m for m, _ in NK_PANEL]


def spillover_matrix() -> np.ndarray:
    """The demo spillover matrix (rows: fluorochromes, columns: detectors, panel order)."""
    markers = _markers()
    s = np.eye(len(markers))
    for (src, dst), v in _SPILL.items():
        s[markers.index(src), markers.index(dst)] = v
    return s


def _spill_keyword() -> str:
    s = spillover_matrix()
    return ",".join([str(len(s)), *_detectors(), *(f"{v:g}" for v in s.ravel())])


def build_demo_gating_strategy() -> Any:
    """The demo NK gating strategy as a FlowKit ``GatingStrategy`` (written as GatingML 2.0).

    Lymphocytes (polygon, FSC-A × SSC-A) → Single_Cells (polygon, FSC-A × FSC-H) → CD3neg
    (rectangle: CD3 and viability dye negative) → NK (polygon, CD16 × CD56, CD56+) → CD56bright /
    CD56dim (CD56 above / below 0.68) → CD57pos (of CD56dim); NKG2Apos, KIRpos, CD107apos, IFNgpos
    of NK. Fluorescence gates use the file's spillover ("FCS") and Logicle(T=262144, W=0.5,
    M=4.5, A=0); gate ids map to FlowJo names via ``NK_GATE_NAMES``.
    """
    import flowkit as fk

    det = dict(NK_PANEL)
    gs = fk.GatingStrategy()
    gs.add_transform("logicle", fk.transforms.LogicleTransform(**_LOGICLE))

    def fl(marker, lo=None, hi=None):
        return fk.Dimension(det[marker], "FCS", "logicle", lo, hi)

    def sc(name):
        return fk.Dimension(name, "uncompensated")

    fsc_a, fsc_h, ssc_a = SCATTER_CHANNELS
    root = ("root",)
    lym = (*root, "Lymphocytes")
    sing = (*lym, "Single_Cells")
    cd3 = (*sing, "CD3neg")
    nk = (*cd3, "NK")
    lym_poly = [
        (36e3, 1.5e3),
        (89e3, 1.5e3),
        (91e3, 30e3),
        (80e3, 33e3),
        (40e3, 33e3),
        (34e3, 16e3),
    ]
    gs.add_gate(fk.gates.PolygonGate("Lymphocytes", [sc(fsc_a), sc(ssc_a)], lym_poly), root)
    singlets = [(30e3, 21e3), (100e3, 70e3), (100e3, 100e3), (30e3, 30e3)]
    gs.add_gate(fk.gates.PolygonGate("Single_Cells", [sc(fsc_a), sc(fsc_h)], singlets), lym)
    gs.add_gate(
        fk.gates.RectangleGate("CD3neg", [fl("CD3", None, 0.38), fl("Viability", None, 0.38)]),
        sing,
    )
    nk_poly = [(0.0, 0.42), (1.0, 0.42), (1.0, 0.98), (0.0, 0.98)]
    gs.add_gate(fk.gates.PolygonGate("NK", [fl("CD16"), fl("CD56")], nk_poly), cd3)
    gs.add_gate(fk.gates.RectangleGate("CD56bright", [fl("CD56", 0.68, None)]), nk)
    gs.add_gate(fk.gates.RectangleGate("CD56dim", [fl("CD56", None, 0.68)]), nk)
    gs.add_gate(fk.gates.RectangleGate("CD57pos", [fl("CD57", _GATE, None)]), (*nk, "CD56dim"))
    for marker, gate_id in (
        ("NKG2A", "NKG2Apos"),
        ("KIR", "KIRpos"),
        ("CD107a", "CD107apos"),
        ("IFNg", "IFNgpos"),
    ):
        gs.add_gate(fk.gates.RectangleGate(gate_id, [fl(marker, _GATE, None)]), nk)
    return gs


def _tn(rng: np.random.Generator, n: int, mean: float, sd: float, lo: float, hi: float):
    """Truncated normal by inverse CDF: mean + sd · Φ⁻¹(U(Φ(a), Φ(b)))."""
    a, b = special.ndtr((lo - mean) / sd), special.ndtr((hi - mean) / sd)
    return np.clip(mean + sd * special.ndtri(rng.uniform(a, b, n)), lo, hi)


def _level(rng, positive: np.ndarray, pos=_POS, neg=_NEG) -> np.ndarray:
    out = _tn(rng, len(positive), *neg)
    k = int(positive.sum())
    if k:
        out[positive] = _tn(rng, k, *pos)
    return out


def _sample_truth(rows: pd.DataFrame) -> dict[str, float]:
    """True probabilities of one (subject, visit) from its export rows (FlowJo names)."""
    stat = rows.assign(value=rows["value"].astype(float))
    key = {
        (r.population, r.statistic, r.marker if isinstance(r.marker, str) else "", r.stimulation): (
            r.value
        )
        for r in stat.itertuples()
    }
    names = NK_GATE_NAMES
    lym, sing, cd3 = names["Lymphocytes"], names["Single_Cells"], names["CD3neg"]
    p_lym, p_sing, p_cd3 = f"{lym}", f"{lym}/{sing}", f"{lym}/{sing}/{cd3}"
    nk = f"{p_cd3}/{names['NK']}"

    def get(pop, stim="none", statistic="freq_of_parent", marker=""):
        return key.get((pop, statistic, marker, stim), np.nan)

    return {
        "lymphocytes": get(p_lym),
        "singlets": get(p_sing),
        "cd3neg": get(p_cd3),
        "nk": get(nk),
        "cd56bright": get(f"{nk}/{names['CD56bright']}"),
        "cd57": get(f"{nk}/{names['CD56dim']}/{names['CD57pos']}"),
        "nkg2a": get(f"{nk}/{names['NKG2Apos']}"),
        "kir": get(f"{nk}/{names['KIRpos']}"),
        "cd107a_none": get(f"{nk}/{names['CD107apos']}"),
        "ifng_none": get(f"{nk}/{names['IFNgpos']}"),
        "cd107a_k562": get(f"{nk}/{names['CD107apos']}", "K562"),
        "ifng_k562": get(f"{nk}/{names['IFNgpos']}", "K562"),
        "nkg2d_mfi": get(nk, statistic="median_fi", marker="NKG2D"),
        "nkp46_mfi": get(nk, statistic="median_fi", marker="NKp46"),
        "nk_per_ul": get(nk, statistic="count_per_ul"),
    }


def _arrival_times(rng, n: int, m: FcsModel, anomaly: bool) -> np.ndarray:
    """Sorted arrival times (s): constant rate, or a 15 s partial clog at 10 % of the rate."""
    total = m.acquisition_seconds
    if not anomaly:
        return np.sort(rng.uniform(0.0, total, n))
    start, stop = 0.35 * total, 0.35 * total + 15.0
    weight_clog = 0.1 * (stop - start)
    weight_rest = total - (stop - start)
    in_clog = rng.random(n) < weight_clog / (weight_clog + weight_rest)
    t = rng.uniform(0.0, weight_rest, n)
    t = np.where(t >= start, t + (stop - start), t)
    t[in_clog] = rng.uniform(start, stop, int(in_clog.sum()))
    return np.sort(t)


def _events(rng, p: dict[str, float], stim: str, n: int, m: FcsModel, anomaly: bool):
    """Acquired event matrix (n, channels) and the true labels' counts."""
    b = lambda prob, size: rng.random(size) < prob / 100.0  # noqa: E731
    lym = b(p["lymphocytes"], n)
    sing = lym & b(p["singlets"], n)
    cd3neg = sing & b(p["cd3neg"], n)
    nk = cd3neg & b(p["nk"], n)
    bright = nk & b(p["cd56bright"], n)
    dim = nk & ~bright
    cd57 = dim & b(p["cd57"], n)
    func = {
        "NKG2A": nk & b(p["nkg2a"], n),
        "KIR": nk & b(p["kir"], n),
        "CD107a": nk & b(p[f"cd107a_{stim.lower()}"], n),
        "IFNg": nk & b(p[f"ifng_{stim.lower()}"], n),
    }
    # scatter (linear): lymphocytes inside the lymphocyte polygon, the rest outside it
    fsc = np.empty(n)
    ssc = np.empty(n)
    nl = int(lym.sum())
    fsc[lym] = _tn(rng, nl, 60e3, 7e3, 42e3, 85e3)
    ssc[lym] = _tn(rng, nl, 14e3, 3.5e3, 4e3, 28e3)
    other = np.flatnonzero(~lym)
    kind = rng.choice(3, size=len(other), p=[0.35, 0.45, 0.20])  # monocytes, granulocytes, debris
    clusters = (  # FSC (mean, sd, low, high), SSC (mean, sd, low, high): all outside the gate
        ((120e3, 12e3, 95e3, 170e3), (55e3, 8e3, 35e3, 90e3)),
        ((140e3, 15e3, 95e3, 200e3), (150e3, 25e3, 90e3, 230e3)),
        ((15e3, 7e3, 2e3, 30e3), (12e3, 6e3, 1e3, 30e3)),
    )
    for k, (f_par, s_par) in enumerate(clusters):
        sel = other[kind == k]
        fsc[sel] = _tn(rng, len(sel), *f_par)
        ssc[sel] = _tn(rng, len(sel), *s_par)
    ratio = np.where(sing | ~lym, rng.uniform(0.78, 0.95, n), rng.uniform(0.45, 0.62, n))
    fsc_h = fsc * ratio
    n_sat = round(m.saturated_fraction * n)
    sat = rng.choice(other, size=min(n_sat, len(other)), replace=False)
    fsc[sat] = _PNR - 1
    # fluorescence on the Logicle scale, then back to linear
    dead = sing & ~cd3neg & (rng.random(n) < 0.2)
    t_cell = sing & ~cd3neg & ~dead
    lvl = {
        "CD3": _level(rng, t_cell | (~lym & (rng.random(n) < 0.3))),
        "Viability": _level(rng, dead),
        "CD56": _level(rng, np.zeros(n, dtype=bool)),
        "CD16": _level(rng, ~lym & (rng.random(n) < 0.5)),
        "CD57": _level(rng, cd57 | (t_cell & (rng.random(n) < 0.2))),
    }
    lvl["CD56"][dim] = _tn(rng, int(dim.sum()), 0.55, 0.04, 0.45, 0.65)
    lvl["CD56"][bright] = _tn(rng, int(bright.sum()), 0.76, 0.03, 0.70, 0.86)
    lvl["CD16"][dim] = _tn(rng, int(dim.sum()), 0.66, 0.06, 0.35, 0.92)
    lvl["CD16"][bright] = _tn(rng, int(bright.sum()), 0.30, 0.06, 0.10, 0.50)
    for marker, positive in func.items():
        lvl[marker] = _level(rng, positive)
    linear = {k: _inverse_logicle(v) for k, v in lvl.items()}
    for marker, key in (("NKG2D", "nkg2d_mfi"), ("NKp46", "nkp46_mfi")):
        values = _inverse_logicle(_tn(rng, n, *_NEG))
        values[nk] = p[key] * np.exp(rng.normal(0.0, 0.35, int(nk.sum())))
        linear[marker] = values
    true = np.column_stack([linear[mk] for mk in _markers()])
    acquired = true @ spillover_matrix()
    time = _arrival_times(rng, n, m, anomaly) / m.timestep
    order = rng.permutation(n)  # event order independent of population
    events = np.column_stack([fsc, fsc_h, ssc, acquired])[order]
    events = np.column_stack([events, time])
    counts = {
        "events": n,
        "Lymphocytes": int(lym.sum()),
        "Single_Cells": int(sing.sum()),
        "CD3neg": int(cd3neg.sum()),
        "NK": int(nk.sum()),
        "CD56bright": int(bright.sum()),
        "CD56dim": int(dim.sum()),
        "CD57pos": int(cd57.sum()),
        **{f"{k}pos": int(v.sum()) for k, v in func.items()},
        "saturated": len(sat),
    }
    return events, counts


def _inverse_logicle(values: np.ndarray) -> np.ndarray:
    import flowkit as fk

    xf = fk.transforms.LogicleTransform(**_LOGICLE)
    return np.asarray(xf.inverse(values.reshape(-1, 1))).ravel()


def simulate_sample_sheet(nk_flow: pd.DataFrame, m: FcsModel) -> pd.DataFrame:
    """Sample sheet of the demo FCS files: two tubes per sample of the first patients.

    Columns: :data:`helpers.everolimus_nk.fcs.SAMPLE_SHEET_COLUMNS` (file, subject_id, visit,
    condition, acquisition_date, panel).
    """
    samples = nk_flow[["subject_id", "visit", "sample_date"]].drop_duplicates()
    keep = sorted(samples["subject_id"].unique())[: m.n_patients]
    samples = samples[samples["subject_id"].isin(keep)].sort_values(["subject_id", "sample_date"])
    rows = [
        {
            "file": f"{s.subject_id}_{s.visit}_{cond}.fcs",
            "subject_id": s.subject_id,
            "visit": s.visit,
            "condition": cond,
            "acquisition_date": s.sample_date,
            "panel": "NK-11c",
        }
        for s in samples.itertuples()
        for cond in ("none", "K562")
    ]
    return pd.DataFrame(rows, columns=list(SAMPLE_SHEET_COLUMNS))


def iter_fcs_samples(
    nk_flow: pd.DataFrame, sheet: pd.DataFrame, rng: np.random.Generator, m: FcsModel
) -> Iterator[FcsSample]:
    """Yield one simulated file at a time (so that the writer never holds them all).

    The last ``m.missing_files`` sheet rows get no file; the first ``m.anomaly_files`` files
    carry a flow-rate anomaly. ``truth`` holds the subject/visit/condition, the true percentages
    of parent (FlowJo population names), true NK medians and count per µL, and the realised label
    counts.
    """
    rows = sheet.iloc[: len(sheet) - m.missing_files] if m.missing_files else sheet
    for i, s in enumerate(rows.itertuples()):
        export = nk_flow[(nk_flow["subject_id"] == s.subject_id) & (nk_flow["visit"] == s.visit)]
        p = _sample_truth(export)
        anomaly = i < m.anomaly_files
        events, counts = _events(rng, p, s.condition, m.events_per_file, m, anomaly)
        keywords = {
            "SPILLOVER": _spill_keyword(),
            "TIMESTEP": f"{m.timestep:g}",
            "DATE": pd.Timestamp(s.acquisition_date).strftime("%d-%b-%Y").upper(),
            "CYT": "Demo 4-laser analyser",
            "SRC": f"{s.subject_id} {s.visit} {s.condition}",
        }
        volume_ul = None
        if s.condition == "none" and np.isfinite(p["nk_per_ul"]) and p["nk_per_ul"] > 0:
            expected_nk = m.events_per_file * p["lymphocytes"] * p["singlets"] * p["cd3neg"]
            expected_nk *= p["nk"] / 1e8
            volume_ul = expected_nk / p["nk_per_ul"]
            keywords["VOL"] = f"{volume_ul * 1000.0:.3f}"  # $VOL is in nanolitres (FCS 3.1)
        stim = s.condition.lower()
        truth = {
            "subject_id": s.subject_id,
            "visit": s.visit,
            "condition": s.condition,
            "flow_rate_anomaly": anomaly,
            "volume_ul": volume_ul,
            "percent_of_parent": {
                "Lymphocytes": p["lymphocytes"],
                "Single_Cells": p["singlets"],
                "CD3neg": p["cd3neg"],
                "NK": p["nk"],
                "CD56bright": p["cd56bright"],
                "CD56dim": 100.0 - p["cd56bright"],
                "CD57pos": p["cd57"],
                "NKG2Apos": p["nkg2a"],
                "KIRpos": p["kir"],
                "CD107apos": p[f"cd107a_{stim}"],
                "IFNgpos": p[f"ifng_{stim}"],
            },
            "nk_median_fi": {"NKG2D": p["nkg2d_mfi"], "NKp46": p["nkp46_mfi"]},
            "nk_count_per_ul": p["nk_per_ul"] if volume_ul else None,
            "realised_counts": counts,
        }
        yield FcsSample(s.file, events, keywords, {k: v for k, v in truth.items() if v is not None})


def fcs_channels() -> tuple[list[str], list[str]]:
    """($PnN, $PnS) of the demo files, in column order."""
    return (
        [*SCATTER_CHANNELS, *_detectors(), TIME_CHANNEL],
        ["", "", "", *_markers(), ""],
    )


def model_parameters(m: FcsModel) -> dict[str, Any]:
    """The FCS model for the manifest (sizes, spillover, gate levels)."""
    return {
        **asdict(m),
        "spillover": {f"{a}->{b}": v for (a, b), v in _SPILL.items()},
        "logicle": _LOGICLE,
        "gate_level_logicle": _GATE,
    }


#: Folder of the FCS files, sheet and gating strategy inside the everolimus-NK raw folder.
FCS_FOLDER = "fcs"
SHEET_NAME = "sample_sheet.csv"
GATING_NAME = "nk_gating.xml"


def write_fcs_cohort(
    nk_flow: pd.DataFrame, trial_dir: Any, seed: int, m: FcsModel | None = None
) -> dict[str, Any]:
    """Write the demo FCS files, ``sample_sheet.csv`` and ``nk_gating.xml`` to ``<trial>/fcs``.

    Files are generated and written one at a time (stream ``[seed, 16]``, independent of the
    table streams). Returns the manifest section: the model, the file list and each file's truth.
    """
    from pathlib import Path

    from helpers import io
    from helpers.cytometry import fcs_io

    m = m or FcsModel()
    folder = Path(trial_dir) / FCS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 16])
    sheet = simulate_sample_sheet(nk_flow, m)
    io.write_csv_tables({SHEET_NAME.removesuffix(".csv"): sheet}, folder)
    fcs_io.write_gatingml(build_demo_gating_strategy(), folder / GATING_NAME)
    pnn, pns = fcs_channels()
    truths = {}
    for sample in iter_fcs_samples(nk_flow, sheet, rng, m):
        fcs_io.write_fcs(folder / sample.file, sample.events, pnn, pns, sample.keywords)
        truths[sample.file] = sample.truth
    return {
        "folder": f"{Path(trial_dir).name}/{FCS_FOLDER}",
        "sample_sheet": SHEET_NAME,
        "gating_strategy": GATING_NAME,
        "population_names": NK_GATE_NAMES,
        "model": model_parameters(m),
        "files": truths,
    }
