"""Simon two-stage glue: design from parameters, stage membership, counts per stage and
design-adjusted inference."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import rates, simon
from helpers.endpoints.efficacy._common import _ESTIMATE_COLUMNS, _population

# --------------------------------------------------------------------------------------------
# HER2-CTC / T-DM1: Simon two-stage bookkeeping
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimonCounts:
    """Observed counts of a Simon two-stage trial (cumulative totals include stage 1).

    ``responses_total``/``n_total`` are None when no stage-2 patient has been treated.
    """

    responses_stage1: int
    n_stage1: int
    responses_total: int | None
    n_total: int | None


def derive_simon_design(
    p0: float,
    p1: float,
    alpha: float,
    power: float,
    criterion: str = "optimal",
    r1: int | None = None,
    n1: int | None = None,
    r: int | None = None,
    n: int | None = None,
) -> simon.SimonDesign:
    """The Simon design of the analysis: searched from (p0, p1, alpha, power) or as written.

    Method: with all of ``r1, n1, r, n`` given (boundaries copied from a protocol), the design
    is :meth:`helpers.endpoints.simon.SimonDesign.from_boundaries` with its exact characteristics at
    p0
    and p1; with none given, :func:`helpers.endpoints.simon.compute_simon_design` (exact search,
    Simon
    1989) for ``criterion``. For p0 = 0.05, p1 = 0.25, one-sided alpha = 0.05, power = 0.80
    the optimal design is r1/n1 = 0/9, r/n = 2/17 (Simon 1989, Table 1).

    Returns
    -------
    helpers.endpoints.simon.SimonDesign

    Raises
    ------
    ValueError
        Only some of the four boundaries given.
    """
    given = [v is not None for v in (r1, n1, r, n)]
    if all(given):
        return simon.SimonDesign.from_boundaries(
            r1, n1, r, n, p0, p1, alpha=alpha, power=power, criterion="protocol (user-specified)"
        )
    if any(given):
        raise ValueError(
            "give all four protocol boundaries r1, n1, r, n (stop if <= r1 of n1; reject H0 if "
            "> r of n) or none of them to search the design from p0, p1, alpha and power"
        )
    return simon.compute_simon_design(p0, p1, alpha=alpha, power=power, criterion=criterion)


def summarise_simon_design(design: simon.SimonDesign) -> pd.DataFrame:
    """The design's parameters and exact characteristics as a two-column table for display.

    Returns
    -------
    DataFrame
        ``item, value`` rows: criterion, p0, p1, nominal and attained alpha and power, r1/n1,
        r/n, probability of early termination and expected sample size under p0.
    """
    if not isinstance(design, simon.SimonDesign):
        raise TypeError(
            "design must be a helpers.endpoints.simon.SimonDesign (see derive_simon_design)"
        )
    items = [
        ("Criterion", design.criterion),
        ("p0 (uninteresting response rate)", f"{design.p0:g}"),
        ("p1 (target response rate)", f"{design.p1:g}"),
        ("Nominal one-sided alpha / attained", f"{design.alpha} / {design.alpha_attained:.4f}"),
        ("Nominal power / attained", f"{design.power} / {design.power_attained:.4f}"),
        ("Stage 1: stop for futility if responses <= r1 of n1", f"{design.r1}/{design.n1}"),
        ("Final: reject H0 if responses > r of n", f"{design.r}/{design.n}"),
        ("Probability of early termination under p0", f"{design.pet_p0:.4f}"),
        ("Expected sample size under p0", f"{design.en_p0:.2f}"),
    ]
    return pd.DataFrame(items, columns=["item", "value"])


def derive_simon_stages(
    adsl: pd.DataFrame, n1: int, population_flag: str = "EFFFL"
) -> pd.DataFrame:
    """Assign the evaluable patients to Simon stage 1 or 2 in order of treatment start.

    Method: the first ``n1`` patients of the population by treatment start date (``TRTSDT``;
    ties broken by ``USUBJID``, which is in accrual order within a site) form stage 1, the
    others stage 2: the order of accrual decides, not the outcome.

    Returns
    -------
    DataFrame
        ``USUBJID, TRTSDT, ORDER`` (1 = first treated), ``STAGE`` (1 or 2), in ``ORDER``.
    """
    if isinstance(n1, bool) or not isinstance(n1, numbers.Integral) or n1 < 1:
        raise ValueError(f"n1 must be a positive integer (stage-1 sample size), got {n1!r}")
    pop = _population(adsl, population_flag)
    if pop["TRTSDT"].isna().any():
        raise ValueError(f"patients with {population_flag} = 'Y' must have a TRTSDT")
    out = pop[["USUBJID", "TRTSDT"]].sort_values(["TRTSDT", "USUBJID"], kind="mergesort")
    out = out.reset_index(drop=True)
    out["ORDER"] = np.arange(1, len(out) + 1)
    out["STAGE"] = np.where(out["ORDER"] <= n1, 1, 2)
    return out


def derive_simon_counts(bor_table: pd.DataFrame, stages: pd.DataFrame) -> SimonCounts:
    """Responses and evaluable patients per stage (stage 1 and cumulative).

    Method: responders (``RSPFL = "Y"``, confirmed CR/PR when ``bor_table`` was built from CBOR)
    counted among the stage-1 patients and among all staged patients; every staged patient
    counts in N (MISSING/NE are non-responders).

    Returns
    -------
    SimonCounts
    """
    validate_frame(bor_table, "bor_table", ["USUBJID", "RSPFL"])
    validate_frame(stages, "stages", ["USUBJID", "STAGE"])
    absent = sorted(set(stages["USUBJID"]) - set(bor_table["USUBJID"]))
    if absent:
        raise ValueError(f"staged patients without a best-response row: {absent[:5]}")
    resp = stages["USUBJID"].map(bor_table.set_index("USUBJID")["RSPFL"]).eq("Y")
    stage1 = stages["STAGE"].eq(1)
    x1, m1 = int(resp[stage1].sum()), int(stage1.sum())
    if m1 == len(stages):
        return SimonCounts(x1, m1, None, None)
    return SimonCounts(x1, m1, int(resp.sum()), len(stages))


def compute_simon_inference(
    design: simon.SimonDesign,
    counts: SimonCounts,
    ci_level: float = 0.95,
    label: str = "ORR (confirmed)",
) -> pd.DataFrame:
    """Naive and design-adjusted response-rate estimates whatever the course of the trial.

    Method: :func:`helpers.endpoints.simon.compute_two_stage_inference` (observed proportion with
    Clopper–Pearson CI and exact binomial p; UMVUE; median-unbiased estimate with the
    stage-wise exact CI and p, Koyama & Chen 2008) when the observed outcome lies in the
    design's sample space. Two deviations are handled explicitly, with a ``note``:

    * futility stop at stage 1 but more patients treated: the design-adjusted rows use the
      stage-1 data only (as the design prescribes) and a descriptive row gives the pooled
      proportion of all treated patients (Clopper–Pearson);
    * stage 1 passed but no stage-2 patient yet: only the stage-1 proportion (Clopper–Pearson,
      exact binomial p vs p0) is given, as an interim description.

    Returns
    -------
    DataFrame
        Estimate table ``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method,
        p_value, note``.

    References
    ----------
    Koyama T, Chen H. Stat Med 2008;27:3145-3154. Jung SH, Kim KM. Stat Med 2004;23:881-896.
    """
    if not isinstance(counts, SimonCounts):
        raise TypeError("counts must be a SimonCounts (see derive_simon_counts)")
    ci_level = validate_ci_level(ci_level)
    x1, m1 = counts.responses_stage1, counts.n_stage1
    x, m = counts.responses_total, counts.n_total
    stopped = x1 <= design.r1
    if stopped:
        table = simon.compute_two_stage_inference(design, x1, m1, ci_level=ci_level, label=label)
        table["note"] = "trial stopped for futility at stage 1"
        if m is not None and m > m1:
            pooled = rates.compute_proportion(
                x, m, f"{label}: all treated incl. after the futility stop (descriptive)", ci_level
            )
            pooled["p_value"] = math.nan
            pooled["note"] = f"{m - m1} patient(s) treated after the stage-1 futility stop"
            table = pd.concat([table, pooled], ignore_index=True)
        return table[_ESTIMATE_COLUMNS]
    if m is None:
        table = rates.compute_proportion(x1, m1, f"{label}: stage 1 only (interim)", ci_level)
        table["p_value"] = float(sps.binom.sf(x1 - 1, m1, design.p0))
        table["note"] = "stage 1 passed; no stage-2 patient yet: design-adjusted inference n/a"
        return table[_ESTIMATE_COLUMNS]
    table = simon.compute_two_stage_inference(design, x1, m1, x, m, ci_level=ci_level, label=label)
    table["note"] = "" if m == design.n else f"attained N = {m} vs planned n = {design.n}"
    return table[_ESTIMATE_COLUMNS]
