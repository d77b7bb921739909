"""Western blot QC: limit of detection from the background, calibrator dilution linearity.

- :func:`compute_band_lod`: limit of detection per membrane and band from the local background
  volumes exported with each band (``background``): LOD = k × SD of the background volumes of
  the membrane's lanes (ICH Q2(R1) §6.2, "based on the standard deviation of the blank", k = 3.3;
  the band volumes are already background-subtracted, so the blank's mean is 0 on their scale).
  A band at or below its LOD is undetectable (:func:`helpers.everolimus_nk.western.derive_western`).
- :func:`summarise_calibrator_linearity`: when a membrane carries a dilution series of the
  calibrator (``calibrator_load`` = fraction of the standard load), the slope of log volume on
  log load per band (1 = proportional response) with its CI and R², the usual check that
  densitometry is inside its linear range (Taylor et al. 2013).

References
----------
ICH Q2(R1). Validation of analytical procedures: text and methodology, 2005.
Taylor SC et al. A defined methodology for reliable quantification of Western blot data.
Mol Biotechnol 2013;55:217-226.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers.checks import validate_ci_level, validate_frame

__all__ = ["LOD_SD_MULTIPLIER", "compute_band_lod", "summarise_calibrator_linearity"]

#: k of LOD = k x SD of the blank (ICH Q2(R1) section 6.2).
LOD_SD_MULTIPLIER = 3.3

_BANDS = ("p_rpS6", "total_rpS6", "loading_control")


def compute_band_lod(wb: pd.DataFrame, k: float = LOD_SD_MULTIPLIER) -> pd.DataFrame:
    """Limit of detection per membrane and band from the exported background volumes.

    Method: LOD = ``k`` × SD (n − 1) of the ``background`` volumes of the band over the
    membrane's lanes (ICH Q2(R1)); membranes with fewer than 3 background values get NaN (and a
    note), so that no LOD is drawn from one or two lanes.

    Returns
    -------
    pandas.DataFrame
        ``MEMBRANE, BAND, n, background_mean, background_sd, LOD, note``; empty when the export
        has no ``background`` column.
    """
    cols = ["MEMBRANE", "BAND", "n", "background_mean", "background_sd", "LOD", "note"]
    validate_frame(wb, "wb", ["membrane_id", "band"])
    if "background" not in wb.columns:
        return pd.DataFrame(columns=cols)
    if not (isinstance(k, (int, float)) and k > 0):
        raise ValueError(f"k must be a positive multiplier, got {k!r}")
    bg = wb.assign(background=pd.to_numeric(wb["background"], errors="coerce"))
    rows = []
    for (membrane, band), g in bg.dropna(subset=["background"]).groupby(["membrane_id", "band"]):
        v = g["background"].to_numpy(float)
        sd = float(np.std(v, ddof=1)) if len(v) >= 3 else math.nan
        rows.append(
            {
                "MEMBRANE": membrane,
                "BAND": band,
                "n": len(v),
                "background_mean": float(v.mean()),
                "background_sd": sd,
                "LOD": k * sd,
                "note": "" if len(v) >= 3 else "fewer than 3 background values: no LOD",
            }
        )
    return pd.DataFrame(rows, columns=cols)


def summarise_calibrator_linearity(wb: pd.DataFrame, ci_level: float = 0.95) -> pd.DataFrame:
    """Linearity of the calibrator dilution series per membrane and band.

    Method: on membranes whose calibrator lanes span ≥ 3 distinct loads (``calibrator_load``),
    least-squares regression of log(volume) on log(load) for each band (unsaturated, volume >
    0): slope with t-based CI (1 = volume proportional to load), R². A slope CI excluding 1
    or R² < 0.98 suggests saturation or a non-linear range (Taylor et al. 2013).

    Returns
    -------
    pandas.DataFrame
        ``MEMBRANE, BAND, n_points, loads, slope, slope_ci_lower, slope_ci_upper, r_squared,
        linear`` (Y/N); empty when no membrane has a dilution series.
    """
    ci_level = validate_ci_level(ci_level)
    cols = [
        *("MEMBRANE", "BAND", "n_points", "loads", "slope"),
        *("slope_ci_lower", "slope_ci_upper", "r_squared", "linear"),
    ]
    validate_frame(wb, "wb", ["membrane_id", "lane_type", "band", "intensity", "saturated"])
    if "calibrator_load" not in wb.columns:
        return pd.DataFrame(columns=cols)
    cal = wb[wb["lane_type"].eq("calibrator")].assign(
        load=pd.to_numeric(wb["calibrator_load"], errors="coerce"),
        intensity=pd.to_numeric(wb["intensity"], errors="coerce"),
    )
    cal = cal[(cal["load"] > 0) & (cal["intensity"] > 0) & cal["saturated"].ne("Y")]
    rows = []
    for (membrane, band), g in cal.groupby(["membrane_id", "band"]):
        if g["load"].nunique() < 3:
            continue
        x, y = np.log(g["load"].to_numpy(float)), np.log(g["intensity"].to_numpy(float))
        fit = sps.linregress(x, y)
        t = sps.t.ppf(0.5 + ci_level / 2, len(x) - 2)
        lo, hi = fit.slope - t * fit.stderr, fit.slope + t * fit.stderr
        r2 = fit.rvalue**2
        rows.append(
            {
                "MEMBRANE": membrane,
                "BAND": band,
                "n_points": len(x),
                "loads": ", ".join(f"{v:g}" for v in sorted(g["load"].unique())),
                "slope": fit.slope,
                "slope_ci_lower": lo,
                "slope_ci_upper": hi,
                "r_squared": r2,
                "linear": "Y" if (lo - 1e-9 <= 1 <= hi + 1e-9 and r2 >= 0.98) else "N",
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    rank = out["BAND"].map({b: i for i, b in enumerate(_BANDS)})
    return (
        out.assign(_r=rank)
        .sort_values(["MEMBRANE", "_r"])
        .drop(columns="_r")
        .reset_index(drop=True)
    )
