"""Estimands (ICH E9(R1)): a structured definition, its table and its Markdown rendering.

An estimand states precisely what a trial estimates: the **population**, the **variable**
(endpoint) measured on each patient, how each **intercurrent event** is handled (one of the five
strategies of ICH E9(R1): treatment policy, hypothetical, composite variable, while on treatment,
principal stratum), the **population-level summary measure**, and, separately, how **missing
data** are handled in the estimator. Defining estimands as data (not prose) lets one definition
feed the notebook table and the documentation, so the two cannot drift apart.

References
----------
ICH E9(R1) addendum on estimands and sensitivity analysis in clinical trials, 2019 (EMA/CHMP/ICH/
436221/2017), sections A.3.1-A.3.3.
Kahan BC et al. The estimands framework: a primer on the ICH E9(R1) addendum. BMJ 2024;384:e076316.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "ESTIMAND_TABLE_COLUMNS",
    "STRATEGIES",
    "Estimand",
    "IntercurrentEvent",
    "derive_estimand_table",
    "summarise_estimands_markdown",
]

#: The five intercurrent-event strategies of ICH E9(R1), section A.3.2.
STRATEGIES: tuple[str, ...] = (
    "treatment policy",
    "hypothetical",
    "composite variable",
    "while on treatment",
    "principal stratum",
)

#: Columns of :func:`derive_estimand_table`.
ESTIMAND_TABLE_COLUMNS = (
    "estimand",
    "role",
    "population",
    "variable",
    "intercurrent events (strategy)",
    "summary measure",
    "missing data",
    "sensitivity",
)


@dataclass(frozen=True)
class IntercurrentEvent:
    """One intercurrent event and the strategy that handles it.

    Attributes
    ----------
    event : str
        The event in words ("everolimus stopped before the sample").
    strategy : str
        One of :data:`STRATEGIES`.
    handling : str
        What the strategy means for the data ("samples after the last dose + 7 days excluded").
    """

    event: str
    strategy: str
    handling: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy {self.strategy!r} of intercurrent event {self.event!r} is not an ICH "
                f"E9(R1) strategy; use one of {list(STRATEGIES)}"
            )
        if not self.event.strip():
            raise ValueError("an intercurrent event needs a description")

    def describe(self) -> str:
        """``"<event>: <strategy> (<handling>)"``."""
        text = f"{self.event}: {self.strategy}"
        return f"{text} ({self.handling})" if self.handling else text


@dataclass(frozen=True)
class Estimand:
    """One estimand, its attributes as in ICH E9(R1) A.3.1, plus missing data and sensitivity.

    Attributes
    ----------
    name : str
        Short name ("Granzyme B at month 3").
    role : str
        "primary", "secondary" or "exploratory".
    population, variable, summary_measure, missing_data : str
        The attributes, in words.
    intercurrent_events : tuple of IntercurrentEvent
        Each event with its strategy.
    sensitivity : str
        Sensitivity analyses of the estimator (or of the strategy), in words.
    """

    name: str
    role: str
    population: str
    variable: str
    intercurrent_events: tuple[IntercurrentEvent, ...]
    summary_measure: str
    missing_data: str
    sensitivity: str = ""

    def __post_init__(self) -> None:
        if self.role not in ("primary", "secondary", "exploratory"):
            raise ValueError(
                f"role of estimand {self.name!r} must be primary, secondary or exploratory, "
                f"got {self.role!r}"
            )
        for attr in ("name", "population", "variable", "summary_measure", "missing_data"):
            if not str(getattr(self, attr)).strip():
                raise ValueError(f"estimand {self.name!r}: attribute {attr!r} is empty")
        if not all(isinstance(e, IntercurrentEvent) for e in self.intercurrent_events):
            raise TypeError("intercurrent_events must be a tuple of IntercurrentEvent")


def _check(estimands: Sequence[Estimand]) -> list[Estimand]:
    items = list(estimands)
    if not items:
        raise ValueError("no estimand given: pass at least one Estimand")
    if not all(isinstance(e, Estimand) for e in items):
        raise TypeError("estimands must be Estimand instances")
    names = [e.name for e in items]
    if len(set(names)) != len(names):
        raise ValueError(f"estimand names must be unique, got {names}")
    return items


def derive_estimand_table(estimands: Sequence[Estimand]) -> pd.DataFrame:
    """One row per estimand with its ICH E9(R1) attributes (the table shown atop a notebook).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ESTIMAND_TABLE_COLUMNS`; intercurrent events joined by "; ".
    """
    rows = [
        {
            "estimand": e.name,
            "role": e.role,
            "population": e.population,
            "variable": e.variable,
            "intercurrent events (strategy)": "; ".join(
                ie.describe() for ie in e.intercurrent_events
            )
            or "none",
            "summary measure": e.summary_measure,
            "missing data": e.missing_data,
            "sensitivity": e.sensitivity or "none",
        }
        for e in _check(estimands)
    ]
    return pd.DataFrame(rows, columns=list(ESTIMAND_TABLE_COLUMNS))


def summarise_estimands_markdown(
    estimands: Sequence[Estimand], title: str, preamble: str = ""
) -> str:
    """Markdown rendering of the estimands: one section per estimand, a list of attributes.

    The same definitions as :func:`derive_estimand_table`, laid out for reading (documentation);
    a test can compare a committed document with this output.

    Returns
    -------
    str
        Markdown text ending with a newline.
    """
    lines = [f"# {title}", ""]
    if preamble:
        lines += [preamble.strip(), ""]
    for e in _check(estimands):
        lines += [
            f"## {e.name} ({e.role})",
            "",
            f"- **Population:** {e.population}",
            f"- **Variable:** {e.variable}",
            "- **Intercurrent events:**",
        ]
        events = e.intercurrent_events or ()
        if events:
            lines += [f"  - {ie.describe()}" for ie in events]
        else:
            lines += ["  - none"]
        lines += [
            f"- **Summary measure:** {e.summary_measure}",
            f"- **Missing data:** {e.missing_data}",
            f"- **Sensitivity:** {e.sensitivity or 'none'}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
