"""Time-dependent covariates in a Cox model (counting-process data), without look-ahead.

A biomarker measured during follow-up may enter a Cox model only from the time it is known: the
follow-up of each patient is cut into intervals (start, stop] on which the covariate is constant,
the value changing at each sample time (Andersen & Gill 1982; Therneau & Grambsch 2000, ch. 3).
This avoids both the guarantee-time bias of comparing patients by a value measured later and the
loss of patients in a landmark analysis.

References
----------
Andersen PK, Gill RD. Cox's regression model for counting processes. Ann Stat 1982;10:1100-1120.
Therneau TM, Grambsch PM. Modeling Survival Data: Extending the Cox Model. Springer, 2000.
Heinze G, Schemper M. A solution to the problem of monotone likelihood in Cox regression.
Biometrics 2001;57:114-119.
Davidson-Pilon C. lifelines: survival analysis in Python. JOSS 2019;4:1317 (CoxTimeVaryingFitter).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from lifelines import CoxTimeVaryingFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from scipy import stats as sps

from helpers.checks import validate_ci_level, validate_frame
from helpers.results import TESTED_ESTIMATE_COLUMNS

__all__ = ["METHOD_TD_COX", "compute_time_varying_cox", "derive_time_varying_data"]

METHOD_TD_COX = (
    "Cox model with a time-dependent covariate (counting process, Efron ties, Wald CI; "
    "lifelines CoxTimeVaryingFitter)"
)


def derive_time_varying_data(
    tte: pd.DataFrame, changes: pd.DataFrame, initial: float | None = 0.0
) -> pd.DataFrame:
    """Counting-process rows (start, stop] per patient with the covariate known at each time.

    Method: each patient's follow-up (0, AVAL] is split at the times of ``changes`` strictly
    inside it; on each interval the covariate is the last value measured at or before its start
    (last value carried forward), ``initial`` before the first measurement (None: the patient
    enters the risk set only at the first measurement — delayed entry). Values measured at or
    after the end of follow-up are ignored (they cannot influence a hazard that has already been
    counted). The event flag is on the last interval only.

    Parameters
    ----------
    tte : pandas.DataFrame
        ``USUBJID, AVAL`` (time, e.g. months), ``CNSR`` (1 censored, 0 event).
    changes : pandas.DataFrame
        ``USUBJID, TIME`` (same unit and origin as AVAL), ``VALUE``.
    initial : float or None
        Covariate value from time 0 to the first measurement.

    Returns
    -------
    pandas.DataFrame
        ``USUBJID, START, STOP, EVENT, VALUE``, sorted.
    """
    validate_frame(tte, "tte", ["USUBJID", "AVAL", "CNSR"])
    validate_frame(changes, "changes", ["USUBJID", "TIME", "VALUE"])
    if tte["USUBJID"].duplicated().any():
        raise ValueError("tte must have one row per USUBJID (filter to one PARAMCD)")
    columns = ["USUBJID", "START", "STOP", "EVENT", "VALUE"]
    follow = pd.DataFrame(
        {
            "USUBJID": tte["USUBJID"].to_numpy(),
            "END": pd.to_numeric(tte["AVAL"], errors="coerce").to_numpy(dtype=float),
            "CNSR": tte["CNSR"].to_numpy(),
            "ORDER": np.arange(len(tte)),
        }
    )
    follow = follow[follow["END"] > 0]
    if follow.empty:
        return pd.DataFrame(columns=columns)
    points = (
        changes[["USUBJID", "TIME", "VALUE"]]
        .dropna(subset=["TIME", "VALUE"])
        .astype({"TIME": float, "VALUE": float})
        .merge(follow[["USUBJID", "END"]], on="USUBJID")
    )
    points = points[points["TIME"] < points["END"]]  # measured after follow-up: ignored
    # cut points: 0, every distinct measurement time strictly inside (0, END), and END
    inner = points.loc[points["TIME"] > 0, ["USUBJID", "TIME"]].drop_duplicates()
    cuts = pd.concat(
        [
            follow[["USUBJID"]].assign(TIME=0.0),
            inner,
            follow[["USUBJID", "END"]].rename(columns={"END": "TIME"}),
        ],
        ignore_index=True,
    ).merge(follow[["USUBJID", "ORDER"]], on="USUBJID")
    cuts = cuts.sort_values(["ORDER", "TIME"], kind="stable", ignore_index=True)
    stop = cuts.groupby("ORDER", sort=False)["TIME"].shift(-1)
    intervals = cuts.assign(START=cuts["TIME"], STOP=stop).dropna(subset=["STOP"])
    # covariate on (START, STOP]: the last value measured at or before START (LOCF)
    known = points.sort_values("TIME", kind="stable")[["USUBJID", "TIME", "VALUE"]]
    intervals = pd.merge_asof(
        intervals.sort_values("START", kind="stable"),
        known.rename(columns={"TIME": "AT"}),
        left_on="START",
        right_on="AT",
        by="USUBJID",
        direction="backward",
    )
    intervals["VALUE"] = intervals["VALUE"].fillna(np.nan if initial is None else initial)
    intervals = intervals.dropna(subset=["VALUE"]).sort_values(["ORDER", "START"], kind="stable")
    last = intervals.merge(follow[["ORDER", "END", "CNSR"]], on="ORDER", how="left")
    event = (last["STOP"].to_numpy() == last["END"].to_numpy()) & (
        pd.to_numeric(last["CNSR"]).to_numpy() == 0
    )
    return pd.DataFrame(
        {
            "USUBJID": last["USUBJID"].to_numpy(),
            "START": last["START"].to_numpy(dtype=float),
            "STOP": last["STOP"].to_numpy(dtype=float),
            "EVENT": event.astype(int),
            "VALUE": last["VALUE"].to_numpy(dtype=float),
        },
        columns=columns,
    )


#: Largest |log HR| whose exp() is a float (log of the largest double, ≈ 709.8).
_MAX_LOG = math.log(np.finfo(float).max)


def _diverged(beta: float, se: float, z: float, messages: list[str]) -> str:
    """Why a Cox fit has no finite estimate ('' when it has one)."""
    if any("complete separation" in m or "failed to converge" in m for m in messages):
        return (
            "monotone likelihood (complete separation): the partial likelihood has no finite "
            "maximum, the hazard ratio diverges"
        )
    if not (math.isfinite(beta) and math.isfinite(se) and se > 0):
        return f"degenerate fit (log HR {beta!r}, SE {se!r})"
    if abs(beta) + z * se > _MAX_LOG:
        return f"log HR {beta:.3g} ± {z * se:.3g} overflows: the hazard ratio diverges"
    return ""


def compute_time_varying_cox(
    data: pd.DataFrame, parameter: str, ci_level: float = 0.95
) -> pd.DataFrame:
    """Hazard ratio per unit of a time-dependent covariate (output of
    :func:`derive_time_varying_data`).

    Method: partial likelihood of the counting-process Cox model (Efron ties), Wald CI
    exp(β ± z·SE) and Wald p (lifelines ``CoxTimeVaryingFitter``; Andersen & Gill 1982). Fewer
    than 2 events or no variation of the covariate: a "not estimable" row.

    Returns
    -------
    pandas.DataFrame
        One estimate-table row: ``n`` events, ``N`` patients, HR, CI, ``p_value``, ``note``.
    """
    ci_level = validate_ci_level(ci_level)
    validate_frame(data, "data", ["USUBJID", "START", "STOP", "EVENT", "VALUE"])
    n_events = int(data["EVENT"].sum())
    n_pat = int(data["USUBJID"].nunique())
    row = {
        "parameter": parameter,
        "n": n_events,
        "N": n_pat,
        "estimate": math.nan,
        "ci_lower": math.nan,
        "ci_upper": math.nan,
        "ci_level": ci_level,
        "method": METHOD_TD_COX,
        "p_value": math.nan,
        "note": "",
    }
    if n_events < 2 or data["VALUE"].nunique() < 2:
        distinct = data["VALUE"].nunique()
        row["note"] = f"not estimable: {n_events} event(s), {distinct} covariate value(s)"
    else:
        fitter = CoxTimeVaryingFitter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                fitter.fit(
                    data, id_col="USUBJID", start_col="START", stop_col="STOP", event_col="EVENT"
                )
            beta = float(fitter.params_["VALUE"])
            se = float(fitter.standard_errors_["VALUE"])
            z = sps.norm.ppf(0.5 + ci_level / 2)
            messages = [str(w.message).split("\n")[0] for w in caught]
            diverged = _diverged(beta, se, z, messages)
            if diverged:
                row["note"] = f"not estimable: {diverged}"
            else:
                row.update(
                    estimate=math.exp(beta),
                    ci_lower=math.exp(beta - z * se),
                    ci_upper=math.exp(beta + z * se),
                    p_value=float(2 * sps.norm.sf(abs(beta / se))),
                    note="; ".join(messages),
                )
        except ConvergenceError as err:
            row["note"] = f"not estimable: {str(err).splitlines()[0]}"
    out = pd.DataFrame([row], columns=list(TESTED_ESTIMATE_COLUMNS))
    out["n"] = out["n"].astype("Int64")
    out["N"] = out["N"].astype("Int64")
    return out
