"""Simon two-stage phase II designs: design search, operating characteristics, decisions and
design-adjusted inference for a single-arm trial with a binary endpoint (tumour response).

Convention (Simon 1989): ``n1`` patients are treated in stage 1; the trial stops for futility
if there are ``<= r1`` responses.  Otherwise ``n2 = n - n1`` further patients are treated and
H0 (response rate ``<= p0``) is rejected -- the drug is declared promising -- if the total
number of responses is ``> r``.

The HER2-CTC/T-DM1 registry record only says "adaptive design"; the analysis assumes
p0 = 0.05, p1 = 0.25, one-sided alpha = 0.05, power = 0.80, for which Simon's optimal design
is r1/n1 = 0/9, r/n = 2/17.  Everything here is parameterised.

References
----------
Simon R. Optimal two-stage designs for phase II clinical trials. Control Clin Trials
1989;10:1-10.
Jung SH, Kim KM. On the estimation of the binomial probability in multistage clinical trials.
Stat Med 2004;23:881-896.
Chang MN, Wieand HS, Chang VT. The bias of the sample proportion following a group sequential
phase II clinical trial. Stat Med 1989;8:563-570.
Koyama T, Chen H. Proper inference from Simon's two-stage designs. Stat Med 2008;27:3145-3154.
Jennison C, Turnbull BW. Group Sequential Methods with Applications to Clinical Trials.
Chapman & Hall/CRC 2000, chapter 8.
Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the
binomial. Biometrika 1934;26:404-413.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from helpers.endpoints.rates import compute_binomial_ci
from helpers.results import ESTIMATE_COLUMNS

__all__ = [
    "SimonDecision",
    "SimonDesign",
    "compute_operating_characteristics",
    "compute_simon_characteristics",
    "compute_simon_design",
    "compute_two_stage_inference",
    "derive_simon_decision",
]

_CRITERIA = ("optimal", "minimax")
# Floating-point slack on the alpha/power constraints and on expected-sample-size ties.
_TOL = 1e-12
_EN_TIE = 1e-9
# Largest total sample size the design search will ever consider.
_N_HARD_CAP = 1000

_ESTIMATE_COLUMNS = [*ESTIMATE_COLUMNS, "p_value"]


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _check_int(value: object, name: str, minimum: int = 0) -> int:
    # bool is an int subclass; a True/False count is almost certainly a bug upstream
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_open_unit(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value}")
    return float(value)


def _check_rates(p0: object, p1: object) -> tuple[float, float]:
    p0 = _check_open_unit(p0, "p0")
    p1 = _check_open_unit(p1, "p1")
    if p1 <= p0:
        raise ValueError(
            f"p1 (response rate of interest, {p1}) must be greater than p0 (uninteresting "
            f"response rate, {p0}); swap them if they were given in the wrong order"
        )
    return p0, p1


def _check_boundaries(r1: object, n1: object, r: object, n: object) -> tuple[int, int, int, int]:
    n1 = _check_int(n1, "n1", minimum=1)
    n = _check_int(n, "n", minimum=2)
    r1 = _check_int(r1, "r1", minimum=0)
    r = _check_int(r, "r", minimum=0)
    if n <= n1:
        raise ValueError(
            f"n (total, {n}) must exceed n1 (stage 1, {n1}): stage 2 needs >= 1 patient"
        )
    if r1 >= n1:
        raise ValueError(
            f"r1 ({r1}) must be < n1 ({n1}): with r1 >= n1 the trial would always stop at stage 1"
        )
    if not r1 <= r < n:
        raise ValueError(
            f"r ({r}) must satisfy r1 <= r < n ({r1} <= r < {n}); "
            "H0 is rejected when the total number of responses is > r"
        )
    return r1, n1, r, n


# --------------------------------------------------------------------------------------------
# design dataclass and closed-form characteristics
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimonDesign:
    """A Simon two-stage design and its exact characteristics.

    Stop for futility after stage 1 if responses ``<= r1`` out of ``n1``; reject H0 at the end
    if responses ``> r`` out of ``n``.  ``alpha`` and ``power`` are the nominal targets (None
    for a design transcribed from a protocol without them); ``alpha_attained`` and
    ``power_attained`` are the exact rejection probabilities at ``p0`` and ``p1``; ``pet_p0``
    is the probability of early termination and ``en_p0`` the expected sample size under p0.
    """

    p0: float
    p1: float
    alpha: float | None
    power: float | None
    criterion: str
    r1: int
    n1: int
    r: int
    n: int
    alpha_attained: float
    power_attained: float
    pet_p0: float
    en_p0: float

    def __post_init__(self) -> None:
        # catch hand-built designs with impossible boundaries; the constructors below also
        # compute the attained characteristics, so prefer them
        _check_boundaries(self.r1, self.n1, self.r, self.n)
        _check_rates(self.p0, self.p1)

    @property
    def n2(self) -> int:
        """Planned stage-2 sample size ``n - n1``."""
        return self.n - self.n1

    @classmethod
    def from_boundaries(
        cls,
        r1: int,
        n1: int,
        r: int,
        n: int,
        p0: float,
        p1: float,
        alpha: float | None = None,
        power: float | None = None,
        criterion: str = "user-specified",
    ) -> SimonDesign:
        """Build a design from boundaries written in a protocol; see
        :func:`compute_simon_characteristics`."""
        return compute_simon_characteristics(
            r1, n1, r, n, p0, p1, alpha=alpha, power=power, criterion=criterion
        )


def _reject_probability(r1: int, n1: int, r: int, n: int, p: np.ndarray) -> np.ndarray:
    """P(X1 > r1 and X1 + X2 > r) for each true rate in ``p`` (Simon 1989, eq. 1)."""
    x1 = np.arange(r1 + 1, n1 + 1)[:, None]
    # binom.sf(k) = P(X2 > k) and is 1 for k < 0, which covers x1 > r
    return (stats.binom.pmf(x1, n1, p[None, :]) * stats.binom.sf(r - x1, n - n1, p[None, :])).sum(
        axis=0
    )


def compute_simon_characteristics(
    r1: int,
    n1: int,
    r: int,
    n: int,
    p0: float,
    p1: float,
    alpha: float | None = None,
    power: float | None = None,
    criterion: str = "user-specified",
) -> SimonDesign:
    """Exact characteristics of a given Simon two-stage design (e.g. one written in a protocol).

    Parameters
    ----------
    r1, n1 : int
        Stop for futility after stage 1 if responses ``<= r1`` among ``n1`` (0 <= r1 < n1).
    r, n : int
        Reject H0 if total responses ``> r`` among ``n`` (r1 <= r < n, n > n1).
    p0, p1 : float
        Uninteresting and target response rates, 0 < p0 < p1 < 1.
    alpha, power : float, optional
        Nominal targets, stored for reference only (None if the protocol does not state them).
    criterion : str
        Label stored in the result (default ``"user-specified"``).

    Returns
    -------
    SimonDesign
        With exact ``alpha_attained = P(reject | p0)``, ``power_attained = P(reject | p1)``,
        ``pet_p0 = P(X1 <= r1 | p0)`` and ``en_p0 = n1 + (1 - pet_p0) (n - n1)``.

    References
    ----------
    Simon R. Control Clin Trials 1989;10:1-10, equations (1)-(3).
    """
    r1, n1, r, n = _check_boundaries(r1, n1, r, n)
    p0, p1 = _check_rates(p0, p1)
    if alpha is not None:
        alpha = _check_open_unit(alpha, "alpha")
    if power is not None:
        power = _check_open_unit(power, "power")
    if not isinstance(criterion, str):
        raise TypeError(f"criterion must be a string label, got {criterion!r}")
    reject = _reject_probability(r1, n1, r, n, np.array([p0, p1]))
    pet_p0 = float(stats.binom.cdf(r1, n1, p0))
    return SimonDesign(
        p0=p0,
        p1=p1,
        alpha=alpha,
        power=power,
        criterion=criterion,
        r1=r1,
        n1=n1,
        r=r,
        n=n,
        alpha_attained=float(reject[0]),
        power_attained=float(reject[1]),
        pet_p0=pet_p0,
        en_p0=n1 + (1.0 - pet_p0) * (n - n1),
    )


# --------------------------------------------------------------------------------------------
# design search
# --------------------------------------------------------------------------------------------
class _BinomialTables:
    """Lazily computed binomial pmf and survival arrays, P(X = k) and P(X > k), k = 0..m."""

    def __init__(self, p: float) -> None:
        self.p = p
        self._pmf: dict[int, np.ndarray] = {}
        self._sf: dict[int, np.ndarray] = {}

    def pmf(self, m: int) -> np.ndarray:
        if m not in self._pmf:
            self._pmf[m] = stats.binom.pmf(np.arange(m + 1), m, self.p)
        return self._pmf[m]

    def sf(self, m: int) -> np.ndarray:
        if m not in self._sf:
            self._sf[m] = stats.binom.sf(np.arange(m + 1), m, self.p)
        return self._sf[m]


def _single_stage_n(p0: float, p1: float, alpha: float, power: float) -> int:
    """Smallest n of the exact one-stage binomial test meeting alpha and power."""
    for n in range(1, _N_HARD_CAP + 1):
        # smallest critical value r with P(X > r | p0) <= alpha
        r = int(stats.binom.ppf(1.0 - alpha, n, p0))
        while stats.binom.sf(r, n, p0) > alpha + _TOL:
            r += 1
        if stats.binom.sf(r, n, p1) >= power - _TOL:
            return n
    raise ValueError(
        f"no single-stage design with n <= {_N_HARD_CAP} reaches alpha={alpha}, power={power} "
        f"for p0={p0}, p1={p1}; widen the gap between p0 and p1"
    )


def _stage1_ceiling(n1: int, p1: float, power: float) -> int:
    """Largest r1 with P(X1 > r1 | p1) >= power (power cannot exceed this); -1 if none."""
    sf1 = stats.binom.sf(np.arange(n1), n1, p1)
    ok = np.flatnonzero(sf1 >= power - _TOL)
    return int(ok[-1]) if ok.size else -1


def _best_for_n1(
    n: int,
    n1: int,
    r1_max: int,
    tables: tuple[_BinomialTables, _BinomialTables],
    alpha: float,
    power: float,
) -> tuple[int, int] | None:
    """Best (r1, r) for fixed (n, n1): largest feasible r1 (smallest EN0), then largest r."""
    n2 = n - n1
    x1 = np.arange(n1 + 1)[:, None]
    k = np.arange(n)[None, :] - x1  # r - x1 for r = 0..n-1
    rejects = []
    for table in tables:
        tail2 = np.where(k < 0, 1.0, table.sf(n2)[np.clip(k, 0, n2)])
        terms = table.pmf(n1)[:, None] * tail2
        # reverse cumulative sum over x1: row j holds the sum over x1 >= j
        tail = np.cumsum(terms[::-1], axis=0)[::-1]
        rejects.append(tail[1 : r1_max + 2])  # rows r1 = 0..r1_max: sum over x1 > r1
    r1_grid = np.arange(r1_max + 1)[:, None]
    r_grid = np.arange(n)[None, :]
    feasible = (rejects[0] <= alpha + _TOL) & (rejects[1] >= power - _TOL) & (r_grid >= r1_grid)
    rows = np.flatnonzero(feasible.any(axis=1))
    if rows.size == 0:
        return None
    r1 = int(rows[-1])
    # several r may be feasible for the same r1: take the largest (smallest attained alpha),
    # as clinfun::ph2simon does
    r = int(np.flatnonzero(feasible[r1])[-1])
    return r1, r


def _en0_upper_n(best_en0: float, ceilings: dict[int, int], p0: float) -> int:
    """Largest n that can still beat ``best_en0``.

    For any feasible design, power <= P(X1 > r1 | p1), so r1 <= ceiling(n1) and
    PET0 <= q(n1) = P(X1 <= ceiling(n1) | p0).  EN0 = n1 + (1 - PET0)(n - n1) < best_en0 then
    requires n1 < best_en0 and n < n1 + (best_en0 - n1) / (1 - q(n1)).
    """
    bound = 0
    for n1, r1_max in ceilings.items():
        if n1 >= best_en0 or r1_max < 0:
            continue
        q = float(stats.binom.cdf(r1_max, n1, p0))
        bound = max(bound, math.floor(n1 + (best_en0 - n1) / max(1.0 - q, 1e-300)))
    return bound


_Candidate = tuple[float, int, int, int, int]  # (EN0, n, n1, r1, r)


def _scan_total_n(
    n: int,
    best: _Candidate | None,
    tables: tuple[_BinomialTables, _BinomialTables],
    ceilings: dict[int, int],
    alpha: float,
    power: float,
) -> _Candidate | None:
    """Best design with total size n that beats ``best`` (None if there is none)."""
    for n1 in range(1, n):
        if n1 not in ceilings:
            ceilings[n1] = _stage1_ceiling(n1, tables[1].p, power)
        r1_max = ceilings[n1]
        if r1_max < 0:
            continue
        if best is not None:
            # EN0 >= n1 + (1 - max attainable PET0)(n - n1): skip n1 that cannot win
            pet_bound = tables[0].pmf(n1)[: r1_max + 1].sum()
            if n1 + (1.0 - pet_bound) * (n - n1) > best[0] + _EN_TIE:
                continue
        found = _best_for_n1(n, n1, r1_max, tables, alpha, power)
        if found is None:
            continue
        r1, r = found
        en0 = n1 + (1.0 - tables[0].pmf(n1)[: r1 + 1].sum()) * (n - n1)
        if best is None or en0 < best[0] - _EN_TIE:
            best = (en0, n, n1, r1, r)
    return best


def _search_designs(
    p0: float,
    p1: float,
    alpha: float,
    power: float,
    criterion: str,
    n_cap: int,
    n_ceiling: int,
) -> _Candidate | None:
    """Scan n = 2, 3, ...: minimax stops at the first feasible n; optimal stops at the
    branch-and-bound limit (at most ``n_ceiling``), or at ``n_cap`` if nothing is feasible."""
    tables = (_BinomialTables(p0), _BinomialTables(p1))
    ceilings: dict[int, int] = {}
    best: _Candidate | None = None
    n_limit, n = n_cap, 1
    while n < n_limit:
        n += 1
        best = _scan_total_n(n, best, tables, ceilings, alpha, power)
        if best is None:
            continue
        if criterion == "minimax":
            break
        # ceilings holds every n1 < n, hence every n1 < EN0 that the bound needs
        n_limit = min(n_ceiling, max(n, _en0_upper_n(best[0], ceilings, p0)))
    return best


def compute_simon_design(
    p0: float,
    p1: float,
    alpha: float = 0.05,
    power: float = 0.80,
    criterion: str = "optimal",
    n_max: int | None = None,
) -> SimonDesign:
    """Simon's optimal or minimax two-stage design by exact binomial search.

    Among all designs (r1, n1, r, n) with 0 <= r1 < n1 < n and r1 <= r < n whose exact type I
    error is ``<= alpha`` and exact power is ``>= power``, the *optimal* design minimises the
    expected sample size under p0 (EN0); the *minimax* design minimises n and, among those,
    EN0 (Simon 1989).  Ties in EN0 go to the smaller n, then the smaller n1; when several r
    are feasible for the same (r1, n1, n) the largest r (smallest attained alpha) is taken, as
    in ``clinfun::ph2simon``.

    The search runs over n = 2, 3, ... with a branch-and-bound rule: once a feasible design
    with EN0 = e is known, no design with n1 >= e, or with n above the bound derived from
    ``power <= P(X1 > r1 | p1)``, can do better, so the optimal design is exact (not limited by
    an arbitrary maximum n) unless ``n_max`` is given.

    Parameters
    ----------
    p0, p1 : float
        Uninteresting and target response rates, 0 < p0 < p1 < 1.
    alpha : float
        One-sided type I error bound (default 0.05).
    power : float
        Power bound at p1 (default 0.80, i.e. beta = 0.20).
    criterion : {"optimal", "minimax"}
    n_max : int, optional
        Restrict the search to n <= n_max (as ``nmax`` in clinfun; the optimum is then the best
        design with n <= n_max).  Default: look for a first feasible design up to 3 x the exact
        single-stage n + 20 (capped at 1000), then let the branch-and-bound limit end the search.

    Returns
    -------
    SimonDesign

    Raises
    ------
    ValueError
        Invalid arguments, or no feasible design with n <= n_max.

    References
    ----------
    Simon R. Optimal two-stage designs for phase II clinical trials. Control Clin Trials
    1989;10:1-10.
    """
    p0, p1 = _check_rates(p0, p1)
    alpha = _check_open_unit(alpha, "alpha")
    power = _check_open_unit(power, "power")
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    if n_max is None:
        n_cap = min(_N_HARD_CAP, 3 * _single_stage_n(p0, p1, alpha, power) + 20)
        n_ceiling = _N_HARD_CAP  # the branch-and-bound limit alone ends the optimal search
    else:
        n_cap = n_ceiling = _check_int(n_max, "n_max", minimum=2)
    best = _search_designs(p0, p1, alpha, power, criterion, n_cap, n_ceiling)
    if best is None:
        raise ValueError(
            f"no {criterion} design with n <= {n_cap} meets alpha={alpha}, power={power} for "
            f"p0={p0}, p1={p1}; pass a larger n_max"
        )
    _, n_opt, n1_opt, r1_opt, r_opt = best
    return compute_simon_characteristics(
        r1_opt, n1_opt, r_opt, n_opt, p0, p1, alpha=alpha, power=power, criterion=criterion
    )


# --------------------------------------------------------------------------------------------
# operating characteristics
# --------------------------------------------------------------------------------------------
def _check_design(design: object) -> SimonDesign:
    if not isinstance(design, SimonDesign):
        raise TypeError(
            "design must be a SimonDesign (from compute_simon_design or "
            f"SimonDesign.from_boundaries), got {type(design).__name__}"
        )
    return design


def compute_operating_characteristics(design: SimonDesign, p: object) -> pd.DataFrame:
    """Exact operating characteristics of a Simon design over a grid of true response rates.

    Parameters
    ----------
    design : SimonDesign
    p : float or array-like of float
        True response rates in [0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per rate, columns ``p``; ``prob_reject_h0`` = P(X1 > r1 and X1 + X2 > r)
        (type I error at p0, power at p1); ``pet`` = P(X1 <= r1), the probability of early
        termination; ``expected_n`` = n1 + (1 - pet) n2.

    References
    ----------
    Simon R. Control Clin Trials 1989;10:1-10, equations (1)-(3).
    """
    design = _check_design(design)
    try:
        rates = np.atleast_1d(np.asarray(p, dtype=float))
    except (TypeError, ValueError) as err:
        raise TypeError(f"p must be a number or an array of numbers in [0, 1], got {p!r}") from err
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError("p must be a non-empty scalar or 1-D array of response rates")
    if not np.all(np.isfinite(rates)) or np.any((rates < 0.0) | (rates > 1.0)):
        raise ValueError(f"every p must lie in [0, 1], got {rates.tolist()}")
    reject = _reject_probability(design.r1, design.n1, design.r, design.n, rates)
    pet = stats.binom.cdf(design.r1, design.n1, rates)
    return pd.DataFrame(
        {
            "p": rates,
            "prob_reject_h0": reject,
            "pet": pet,
            "expected_n": design.n1 + (1.0 - pet) * design.n2,
        }
    )


# --------------------------------------------------------------------------------------------
# decisions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimonDecision:
    """Decision of a Simon two-stage trial from the observed counts.

    ``stage1_decision`` is "stop for futility", "continue to stage 2" or
    "stage 1 incomplete (k of n1 evaluable)"; ``final_decision`` is "reject H0: promising",
    "do not reject H0" or "not reached (...)"; ``notes`` lists every deviation from the planned
    sample sizes and how it was handled; ``text`` is a sentence for the report.
    """

    stage1_decision: str
    final_decision: str
    text: str
    notes: tuple[str, ...]
    responses_stage1: int
    n_stage1: int
    responses_total: int | None
    n_total: int | None


def _check_counts(
    responses_stage1: object,
    n_stage1: object,
    responses_total: object,
    n_total: object,
    min_stage1: int,
) -> tuple[int, int, int | None, int | None]:
    x1 = _check_int(responses_stage1, "responses_stage1")
    m1 = _check_int(n_stage1, "n_stage1", minimum=min_stage1)
    if x1 > m1:
        raise ValueError(f"responses_stage1 ({x1}) cannot exceed n_stage1 ({m1})")
    if (responses_total is None) != (n_total is None):
        raise ValueError(
            "give both responses_total and n_total (cumulative, stages 1 + 2) or neither"
        )
    if n_total is None:
        return x1, m1, None, None
    x = _check_int(responses_total, "responses_total")
    m = _check_int(n_total, "n_total")
    if m < m1 or x < x1:
        raise ValueError(
            "responses_total and n_total are cumulative over both stages: they must be >= the "
            f"stage-1 values, got {x}/{m} total vs {x1}/{m1} at stage 1"
        )
    if x - x1 > m - m1:
        raise ValueError(
            f"stage 2 would have {x - x1} responses among {m - m1} patients; check the counts"
        )
    return x1, m1, x, m


def _stage1_decision(design: SimonDesign, x1: int, m1: int, notes: list[str]) -> tuple[str, str]:
    """Stage-1 label and the outcome the rule determines ('stop', 'continue' or 'open')."""
    r1, n1 = design.r1, design.n1
    if m1 < n1:
        remaining = n1 - m1
        if x1 > r1:
            notes.append(
                f"stage 1 incomplete ({m1} of {n1} evaluable) but already {x1} > r1 = {r1} "
                "responses: continuation to stage 2 is assured whatever the remaining "
                f"{remaining} show"
            )
            outcome = "continue"
        elif x1 + remaining <= r1:
            notes.append(
                f"stage 1 incomplete ({m1} of {n1} evaluable): even if all {remaining} remaining "
                f"patients respond there are at most {x1 + remaining} <= r1 = {r1} responses, so "
                "the futility stop is assured"
            )
            outcome = "stop"
        else:
            outcome = "open"
        return f"stage 1 incomplete ({m1} of {n1} evaluable)", outcome
    if m1 > n1:
        notes.append(
            f"stage-1 over-accrual: {m1} evaluable vs n1 = {n1} planned; the rule (stop if <= "
            f"r1 = {r1} responses) is applied to all {m1} patients"
        )
        if x1 > r1:
            notes.append(
                f"whether the first {n1} patients alone had > {r1} responses cannot be checked "
                "from counts; check the order of accrual"
            )
        else:
            notes.append(f"the first {n1} patients necessarily also had <= {r1} responses")
    if x1 <= r1:
        return "stop for futility", "stop"
    return "continue to stage 2", "continue"


def _final_decision(
    design: SimonDesign, outcome1: str, m1: int, x: int | None, m: int | None, notes: list[str]
) -> str:
    r, n = design.r, design.n
    if outcome1 == "stop":
        if m is not None and m > m1:
            notes.append(
                f"protocol deviation: {m - m1} patients were treated after the stage-1 futility "
                "stop; the design's decision (do not reject H0) stands and the extra patients "
                "should be reported descriptively"
            )
        return "do not reject H0"
    if outcome1 == "open":
        return f"not reached (stage 1 incomplete: {m1} of {design.n1} evaluable)"
    if m is None or x is None:
        return "not reached (stage 2 data not given)"
    if m < n:
        if x > r:
            notes.append(
                f"under-accrual: {m} of {n} evaluable, but {x} > r = {r} responses already, so "
                "the rejection of H0 cannot be undone by the remaining patients"
            )
            return "reject H0: promising"
        if x + (n - m) <= r:
            notes.append(
                f"under-accrual: {m} of {n} evaluable; even if all {n - m} remaining patients "
                f"respond there are at most {x + n - m} <= r = {r} responses"
            )
            return "do not reject H0"
        return f"not reached ({m} of {n} evaluable; {x} responses so far, > {r} needed)"
    if m > n:
        notes.append(
            f"over-accrual: {m} evaluable vs n = {n} planned; the final rule (reject H0 if > "
            f"r = {r} responses) is applied to all {m} patients and the design's type I error "
            "holds only for the planned n"
        )
        if x > r:
            notes.append(
                f"whether the first {n} patients alone had > {r} responses cannot be checked "
                "from counts; check the order of accrual"
            )
        else:
            notes.append(f"the first {n} patients necessarily also had <= {r} responses")
    return "reject H0: promising" if x > r else "do not reject H0"


def derive_simon_decision(
    design: SimonDesign,
    responses_stage1: int,
    n_stage1: int,
    responses_total: int | None = None,
    n_total: int | None = None,
) -> SimonDecision:
    """Apply the Simon decision rules to observed counts, stating any accrual deviation.

    Stage 1: stop for futility if ``responses_stage1 <= r1`` among ``n1``, else continue.
    Final: reject H0 (declare the drug promising) if ``responses_total > r`` among ``n``.
    Counts are cumulative (``responses_total``/``n_total`` include stage 1).

    Deviations are never silently ignored: with fewer evaluable patients than planned, a
    decision is given only when the rule already determines it (the remaining patients cannot
    change it), otherwise "not reached (...)"; with more patients than planned, the rule is
    applied to all of them and a note says so.  Every such case is listed in ``notes``.

    Parameters
    ----------
    design : SimonDesign
    responses_stage1, n_stage1 : int
        Responses and evaluable patients at the end of stage 1.
    responses_total, n_total : int, optional
        Cumulative responses and evaluable patients at the end of stage 2 (both or neither).

    Returns
    -------
    SimonDecision

    References
    ----------
    Simon R. Control Clin Trials 1989;10:1-10.
    """
    design = _check_design(design)
    x1, m1, x, m = _check_counts(responses_stage1, n_stage1, responses_total, n_total, 0)
    notes: list[str] = []
    stage1, outcome1 = _stage1_decision(design, x1, m1, notes)
    final = _final_decision(design, outcome1, m1, x, m, notes)
    text = (
        f"Stage 1: {x1}/{m1} responses (rule: stop if <= {design.r1} of {design.n1}) -> {stage1}. "
    )
    if x is not None:
        text += f"Cumulative: {x}/{m} responses (rule: reject H0 if > {design.r} of {design.n}). "
    text += f"Final decision: {final}."
    if notes:
        text += " Notes: " + "; ".join(notes) + "."
    return SimonDecision(
        stage1_decision=stage1,
        final_decision=final,
        text=text,
        notes=tuple(notes),
        responses_stage1=x1,
        n_stage1=m1,
        responses_total=x,
        n_total=m,
    )


# --------------------------------------------------------------------------------------------
# design-adjusted inference
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outcome:
    """Observed outcome in the stage-wise sample space of a design with sizes n1, n2."""

    stage: int
    responses: int
    n1: int
    n2: int
    r1: int


def _tail_ge(outcome: _Outcome, p: float) -> float:
    """P_p(outcome at least as extreme as observed) under the stage-wise ordering."""
    if outcome.stage == 1:
        return float(stats.binom.sf(outcome.responses - 1, outcome.n1, p))
    x1 = np.arange(outcome.r1 + 1, outcome.n1 + 1)
    terms = stats.binom.pmf(x1, outcome.n1, p) * stats.binom.sf(
        outcome.responses - x1 - 1, outcome.n2, p
    )
    return float(terms.sum())


def _tail_le(outcome: _Outcome, p: float) -> float:
    """P_p(outcome at most as extreme as observed) under the stage-wise ordering."""
    if outcome.stage == 1:
        return float(stats.binom.cdf(outcome.responses, outcome.n1, p))
    x1 = np.arange(outcome.r1 + 1, outcome.n1 + 1)
    terms = stats.binom.pmf(x1, outcome.n1, p) * stats.binom.cdf(
        outcome.responses - x1, outcome.n2, p
    )
    return float(stats.binom.cdf(outcome.r1, outcome.n1, p) + terms.sum())


def _solve_rate(func: Callable[[float], float], level: float) -> float:
    # the stage-wise tails are monotone in p (they are probabilities of increasing events)
    return float(optimize.brentq(lambda q: func(q) - level, 0.0, 1.0, xtol=1e-12, rtol=1e-12))


def _stagewise_inference(outcome: _Outcome, p0: float, ci_level: float) -> dict[str, float]:
    """Koyama-Chen p-value, exact CI and median-unbiased estimate."""
    half = (1.0 - ci_level) / 2.0
    # P_0(T >= t) = 1 only for the smallest outcome; P_1(T <= t) = 1 only for the largest
    is_min = _tail_ge(outcome, 0.0) > 0.5
    is_max = _tail_le(outcome, 1.0) > 0.5
    lower = 0.0 if is_min else _solve_rate(lambda q: _tail_ge(outcome, q), half)
    upper = 1.0 if is_max else _solve_rate(lambda q: -_tail_le(outcome, q), -half)
    median = 0.0 if is_min else _solve_rate(lambda q: _tail_ge(outcome, q), 0.5)
    return {
        "estimate": median,
        "ci_lower": lower,
        "ci_upper": upper,
        "p_value": _tail_ge(outcome, p0),
    }


def _umvue(outcome: _Outcome) -> float:
    """Jung & Kim (2004) UMVUE: E[X1/n1 | stopping stage, total responses]."""
    if outcome.stage == 1:
        return outcome.responses / outcome.n1
    s, n1, n2 = outcome.responses, outcome.n1, outcome.n2
    x1 = range(max(outcome.r1 + 1, s - n2), min(n1, s) + 1)
    # exact integer arithmetic: the binomial coefficients overflow floats for large n
    numerator = sum(math.comb(n1 - 1, k - 1) * math.comb(n2, s - k) for k in x1)
    denominator = sum(math.comb(n1, k) * math.comb(n2, s - k) for k in x1)
    return numerator / denominator


def _observed_outcome(
    design: SimonDesign, x1: int, m1: int, x: int | None, m: int | None
) -> _Outcome:
    if x1 <= design.r1:
        if m is not None and m > m1:
            raise ValueError(
                f"stage 1 ended with {x1} <= r1 = {design.r1} responses (futility stop) yet "
                f"{m - m1} more patients were treated: this outcome is outside the design's "
                "sample space, so no design-adjusted inference exists; analyse the pooled data "
                "with a plain binomial CI (helpers.endpoints.rates) and report the deviation, "
                "or pass only the stage-1 counts for inference as the design prescribes"
            )
        return _Outcome(stage=1, responses=x1, n1=m1, n2=design.n2, r1=design.r1)
    if m is None or x is None:
        raise ValueError(
            f"stage 1 had {x1} > r1 = {design.r1} responses, so the trial continues: pass "
            "responses_total and n_total once stage 2 is complete (for an interim look use a "
            "plain binomial CI on the stage-1 data, e.g. helpers.endpoints.rates)"
        )
    if m == m1:
        raise ValueError(
            "the trial continued to stage 2 but n_total equals n_stage1 (no stage-2 patient); "
            "pass the cumulative counts after stage 2"
        )
    return _Outcome(stage=2, responses=x, n1=m1, n2=m - m1, r1=design.r1)


def compute_two_stage_inference(
    design: SimonDesign,
    responses_stage1: int,
    n_stage1: int,
    responses_total: int | None = None,
    n_total: int | None = None,
    ci_level: float = 0.95,
    label: str = "Response rate",
) -> pd.DataFrame:
    """Naive and design-adjusted estimates of the response rate after a Simon two-stage trial.

    Rows (estimate-table shape):

    1. Observed proportion with Clopper–Pearson exact CI and exact one-sided binomial p-value
       for H1: p > p0.  Ignores the design: the proportion is biased downwards after a
       futility-stopping design and the p-value is not the design's.
    2. UMVUE of p (Chang, Wieand & Chang 1989; Jung & Kim 2004): x1/n1 after a stage-1 stop,
       otherwise E[X1/n1 | continued, total s], computed exactly.  Its CI is the stage-wise
       exact CI of row 3.
    3. Median-unbiased estimate (the p at which the stage-wise p-value equals 0.5), exact
       two-sided CI and one-sided p-value under the stage-wise ordering of the sample space
       (Koyama & Chen 2008; Jennison & Turnbull 2000, ch. 8): stage-1 stops rank below all
       stage-2 outcomes, and within a stage outcomes rank by responses.  The p-value is
       P_p0(outcome >= observed); the limits solve P_p(outcome >= observed) = (1 - ci_level)/2
       (lower) and P_p(outcome <= observed) = (1 - ci_level)/2 (upper) with Brent's method,
       so coverage is >= ci_level and, after a stage-1 stop, the CI equals Clopper–Pearson.
       (clinfun::twostage.inference uses P_p(outcome < observed) for the upper limit, which
       gives a shorter interval without guaranteed coverage.)  The lower limit is 0 for
       0 responses at stage 1 and the upper limit 1 when every patient responded.

    Deviation from the planned sizes: the adjusted rows are computed for the *attained*
    stage sizes (n_stage1 and n_total - n_stage1), keeping the planned r1, i.e. as if these
    sizes had been fixed in advance (independent of the data); the ``method`` column then says
    so.  A stage-1 futility stop followed by further treatment, or a continued trial without
    stage-2 data, has no design-adjusted inference and raises ValueError.

    Parameters
    ----------
    design : SimonDesign
    responses_stage1, n_stage1 : int
        Responses and evaluable patients at the end of stage 1.
    responses_total, n_total : int, optional
        Cumulative counts after stage 2; omit when the trial stopped at stage 1.
    ci_level : float
        Two-sided confidence level (default 0.95).  Note that the one-sided test at alpha
        = 0.05 is dual to the 90% two-sided interval, not to the 95% one.
    label : str
        Wording of the estimated quantity, e.g. "ORR (confirmed), treated".

    Returns
    -------
    pandas.DataFrame
        Three rows; columns ``parameter, n, N, estimate, ci_lower, ci_upper, ci_level, method,
        p_value`` (``p_value`` is NaN for the UMVUE row).

    References
    ----------
    Koyama T, Chen H. Stat Med 2008;27:3145-3154.  Jung SH, Kim KM. Stat Med 2004;23:881-896.
    Chang MN, Wieand HS, Chang VT. Stat Med 1989;8:563-570.  Clopper CJ, Pearson ES.
    Biometrika 1934;26:404-413.
    """
    design = _check_design(design)
    ci_level = _check_open_unit(ci_level, "ci_level")
    if not isinstance(label, str) or not label:
        raise TypeError(f"label must be a non-empty string, got {label!r}")
    x1, m1, x, m = _check_counts(responses_stage1, n_stage1, responses_total, n_total, 1)
    outcome = _observed_outcome(design, x1, m1, x, m)
    responses = outcome.responses
    evaluable = outcome.n1 if outcome.stage == 1 else outcome.n1 + outcome.n2

    size_note = ""
    planned_sizes = (outcome.n1 == design.n1) and (outcome.stage == 1 or outcome.n2 == design.n2)
    if not planned_sizes:
        attained = f"n1={outcome.n1}" + (f", n2={outcome.n2}" if outcome.stage == 2 else "")
        size_note = (
            f"; attained sizes ({attained}) differ from the planned (n1={design.n1}, "
            f"n2={design.n2}): "
            f"computed for the attained sizes with r1={design.r1}, assuming they were fixed "
            "independently of the data"
        )
    stagewise = _stagewise_inference(outcome, design.p0, ci_level)
    naive_low, naive_high = compute_binomial_ci(responses, evaluable, ci_level=ci_level)
    rows = [
        {
            "parameter": f"{label}: observed proportion (ignores the two-stage design)",
            "estimate": responses / evaluable,
            "ci_lower": naive_low,
            "ci_upper": naive_high,
            "method": "Clopper–Pearson exact CI; exact one-sided binomial test vs "
            f"p0={design.p0:g} (ignores the two-stage design)",
            "p_value": float(stats.binom.sf(responses - 1, evaluable, design.p0)),
        },
        {
            "parameter": f"{label}: UMVUE (design-adjusted)",
            "estimate": _umvue(outcome),
            "ci_lower": stagewise["ci_lower"],
            "ci_upper": stagewise["ci_upper"],
            "method": "UMVUE (Jung & Kim 2004); exact CI from the stage-wise ordering "
            f"(Koyama & Chen 2008){size_note}",
            "p_value": np.nan,
        },
        {
            "parameter": f"{label}: median-unbiased estimate (design-adjusted)",
            **stagewise,
            "method": "median-unbiased estimate, exact CI and one-sided p-value vs "
            f"p0={design.p0:g} from the stage-wise ordering (Koyama & Chen 2008){size_note}",
        },
    ]
    table = pd.DataFrame(rows)
    table["n"] = responses
    table["N"] = evaluable
    table["ci_level"] = ci_level
    return table[_ESTIMATE_COLUMNS]
