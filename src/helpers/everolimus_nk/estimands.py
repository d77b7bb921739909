"""Everolimus / NK trial: the estimands (ICH E9(R1)) of notebooks 03 and 04, built from parameters.

One structured definition (:func:`derive_trial_estimands`) feeds the table at the top of notebooks
03/04 and ``docs/estimands.md`` (:func:`summarise_trial_estimands_doc`); ``tests/test_estimands.py``
checks that the committed document equals the rendering with the defaults of ``params.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from helpers.endpoints.estimands import Estimand, IntercurrentEvent, summarise_estimands_markdown
from helpers.endpoints.timing import compute_window_landmark_months, derive_visit_windows

__all__ = [
    "DOC_TITLE",
    "derive_trial_estimands",
    "resolve_landmark_months",
    "summarise_trial_estimands_doc",
]

DOC_TITLE = "Estimands of the everolimus / NK trial (ICH E9(R1))"
_TREATED = "treated women with HR+/HER2− metastatic breast cancer (≥ 1 everolimus dose)"
_EFFICACY = "efficacy-evaluable population (treated, measurable disease at baseline)"


def resolve_landmark_months(
    landmark_months: float | None,
    visit_target_days: Mapping[str, float],
    visit_window_days: Mapping[str, float],
    visit: str = "M3",
) -> float:
    """The landmark in months: the parameter, or (None) the last allowed day of ``visit``'s window.

    A landmark at the end of the window (rounded up to 0.01 month) follows every allowed
    month-3 sample, so no allowed sample is drawn after outcome counting starts.
    """
    if landmark_months is not None:
        if isinstance(landmark_months, bool) or not float(landmark_months) > 0:
            raise ValueError(f"landmark_months must be > 0 or None, got {landmark_months!r}")
        return float(landmark_months)
    windows = derive_visit_windows(visit_target_days, visit_window_days)
    # rounded up to 0.01 month, so that the landmark still follows the window's last day
    return math.ceil(compute_window_landmark_months(windows, visit) * 100 - 1e-9) / 100


def derive_trial_estimands(
    primary_visit: str,
    on_treatment_gap_days: float,
    visit_target_days: Mapping[str, float],
    visit_window_days: Mapping[str, float],
    landmark_months: float,
    primary_nk_endpoints: Sequence[str],
    ci_level: float = 0.95,
    km_landmarks: Sequence[float] = (6, 12),
    orr_truncation_day: int | None = None,
) -> tuple[Estimand, ...]:
    """The trial's estimands, with every number taken from the parameters.

    Returns
    -------
    tuple of Estimand
        Granzyme B at ``primary_visit`` (primary), NK functions, rpS6 inhibition, ORR, PFS, OS.
    """
    target = visit_target_days[primary_visit]
    width = visit_window_days[primary_visit]
    window = f"day {target:g} ± {width:g} from the first dose"
    stop = IntercurrentEvent(
        "everolimus stopped before the sample",
        "while on treatment",
        f"samples drawn more than {on_treatment_gap_days:g} days after the last dose are not "
        "used; treatment-policy analysis (all samples) as sensitivity",
    )
    progression = IntercurrentEvent(
        "progression before the sample",
        "while on treatment",
        "samples on or after the progression date are not used (they measure a different "
        "disease state); included in the treatment-policy sensitivity analysis",
    )
    death = IntercurrentEvent(
        "death before the visit", "while on treatment", "no value: the patient does not contribute"
    )
    reduction = IntercurrentEvent(
        "dose reduction or interruption",
        "treatment policy",
        "samples kept whatever the dose; dose level at each sample is reported",
    )
    bio_ie = (stop, progression, death, reduction)
    missing_paired = (
        "patients without both a baseline and an on-treatment in-window sample do not contribute "
        "to the paired estimate (reasons tabulated); the mixed model uses every eligible sample "
        "(missing at random)"
    )
    landmark = f"{landmark_months:.2f} months"
    ci = f"{ci_level:.0%} CI"
    rates = "/".join(f"{m:g}" for m in km_landmarks)
    orr_window = (
        f"from assessments up to day {orr_truncation_day} (registry time frame; full follow-up "
        "as sensitivity)"
        if orr_truncation_day
        else "over the whole follow-up to the data cut-off"
    )
    nk_primary = ", ".join(primary_nk_endpoints) or "none pre-specified"
    return (
        Estimand(
            name=f"Granzyme B at {primary_visit}",
            role="primary",
            population=_TREATED,
            variable=(
                f"plasma granzyme B (ELISA, pg/mL) at {primary_visit} ({window}) and its ratio to "
                "the pre-dose baseline; values below the LLOQ at LLOQ/2"
            ),
            intercurrent_events=bio_ie,
            summary_measure=(
                f"geometric mean at {primary_visit}, and ratio of geometric means "
                f"{primary_visit}/baseline with {ci} (paired t on log values)"
            ),
            missing_data=missing_paired,
            sensitivity=(
                "treatment-policy view (all samples); values below the LLOQ at the LLOQ and by a "
                "censored-normal (Tobit) likelihood; mixed model on all visits"
            ),
        ),
        Estimand(
            name="NK-cell functions (flow cytometry) at M3 and M9",
            role="secondary",
            population=_TREATED,
            variable=(
                "NK count, subsets, receptors, CD107a and IFN-γ (K562-stimulated) per visit, "
                "change from baseline on the marker's analysis scale"
            ),
            intercurrent_events=bio_ie,
            summary_measure=(
                f"Hodges–Lehmann median change with exact CI; pre-specified primary functional "
                f"endpoint(s): {nk_primary}; the others exploratory, BH-FDR over non-redundant "
                "tests"
            ),
            missing_data=missing_paired,
            sensitivity="treatment-policy view (all samples)",
        ),
        Estimand(
            name="rpS6 phosphorylation inhibition at M3 and M9",
            role="secondary",
            population=_TREATED,
            variable=(
                "% inhibition of calibrator-normalised p-rpS6/total rpS6 vs baseline (western blot)"
            ),
            intercurrent_events=bio_ie,
            summary_measure=f"100 × (1 − ratio of geometric means) with {ci}",
            missing_data=(
                "non-evaluable lanes listed; undetectable p-rpS6 at a floor (sensitivity: other "
                "floors, exclusion)"
            ),
            sensitivity="treatment-policy view; floor of undetectable bands",
        ),
        Estimand(
            name="Objective response rate, 12 months",
            role="secondary",
            population=_EFFICACY,
            variable=(f"confirmed best overall response CR or PR (RECIST 1.1) {orr_window}"),
            intercurrent_events=(
                IntercurrentEvent(
                    "new anticancer therapy or treatment stop before response",
                    "composite variable",
                    "counted as non-response",
                ),
                IntercurrentEvent(
                    "death before a response", "composite variable", "counted as non-response"
                ),
            ),
            summary_measure=f"proportion with Clopper–Pearson exact {ci}",
            missing_data="no post-baseline assessment: non-responder (stays in the denominator)",
            sensitivity="none" if not orr_truncation_day else "full follow-up",
        ),
        Estimand(
            name="Progression-free survival",
            role="secondary",
            population=_TREATED,
            variable="time from first dose to RECIST 1.1 progression or death",
            intercurrent_events=(
                IntercurrentEvent(
                    "treatment discontinuation", "treatment policy", "follow-up continues"
                ),
                IntercurrentEvent(
                    "death without progression", "composite variable", "counted as an event"
                ),
            ),
            summary_measure=f"Kaplan–Meier median and {rates}-month rates with {ci}",
            missing_data="censored at the last adequate assessment (FDA 2018 rules)",
            sensitivity=(
                f"early-biomarker analyses from a {landmark} landmark, using only samples drawn "
                "by the landmark"
            ),
        ),
        Estimand(
            name="Overall survival",
            role="secondary",
            population=_TREATED,
            variable="time from first dose to death from any cause",
            intercurrent_events=(
                IntercurrentEvent(
                    "treatment discontinuation or subsequent therapy",
                    "treatment policy",
                    "follow-up continues",
                ),
            ),
            summary_measure=f"Kaplan–Meier median and {rates}-month rates with {ci}",
            missing_data="censored at the last date known alive",
            sensitivity="none",
        ),
    )


def summarise_trial_estimands_doc(estimands: Sequence[Estimand]) -> str:
    """Markdown of ``docs/estimands.md`` (the same definitions as the notebook table)."""
    preamble = (
        "Generated from `helpers.everolimus_nk.estimands.derive_trial_estimands` with the "
        "defaults of `params.yaml`; `tests/test_estimands.py` fails if this file and the "
        "definitions drift apart. Strategies follow ICH E9(R1) (treatment policy, hypothetical, "
        "composite variable, while on treatment, principal stratum)."
    )
    return summarise_estimands_markdown(estimands, DOC_TITLE, preamble)
