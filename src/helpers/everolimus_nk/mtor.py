"""mTOR activation status (rpS6 phosphorylation) in the everolimus / NK trial: analysis glue.

Notebook ``04_mtor_status`` answers the registry outcome "mTOR activation status, rpS6
phosphorylation rate by western blot, at 3 and 9 months" and relates it to NK biology and to
clinical outcome. Densitometry normalisation and per-patient inhibition live in
:mod:`helpers.everolimus_nk.western`; statistics in :mod:`helpers.endpoints.stats`,
:mod:`helpers.endpoints.rates`,
:mod:`helpers.endpoints.survival` and the generic block of :mod:`helpers.endpoints.efficacy`. This
module only
assembles them for the trial; its figures are composed from :mod:`helpers.plots` functions.

Decisions (documented assumptions):

* **Primary summary.** Inhibition at a visit = 100 × (1 − GMR), GMR the ratio of geometric
  means (visit / BASELINE) of the calibrator-normalised p-rpS6/total-rpS6 ratio (paired t-test on
  the log scale; the CI limits are transformed the same way and swap ends). The Hodges–Lehmann
  median % inhibition (one-sample Wilcoxon) is a secondary, distribution-free summary.
* **Undetectable p-rpS6** (NRATIO = 0, :mod:`helpers.everolimus_nk.western`) cannot enter a
log-scale analysis.
  For the GMR such a patient-visit value is replaced by a *floor* = ``floor_fraction`` × the
  smallest detected NRATIO of the data set (default one half, the analogue of the LoD/2
  substitution of Hornung & Reed 1990); the sensitivity analysis varies the fraction and
  excludes these values. Rank-based analyses (median inhibition, Spearman, Mann–Whitney, Cox on
  % inhibition) keep the patient at 100 % inhibition, an upper bound.
* **Marker changes** for the correlations use the definitions of notebook 03
  (:func:`helpers.endpoints.efficacy.derive_change_table` on the scale of
  :func:`helpers.everolimus_nk.nk.derive_marker_log_scale`): log2 ratio visit/BASELINE for granzyme
  B, counts
  and intensities; difference in percentage points for percentages.
* **Floor bias.** In simulation (true inhibition 60 %, n = 25, one undetectable value) the
  floor at one half biases the GMR inhibition upwards by about 1 point and widens its CI
  (coverage ≈ 98 %); excluding the value biases it downwards by a similar amount.
* **Responders**: confirmed best overall response CR or PR in the table of
  :func:`helpers.endpoints.efficacy.derive_bor_table` (``RSPFL``); every other category, including a
  missing assessment, is a non-responder.

References
----------
Hornung RW, Reed LD. Estimation of average concentration in the presence of nondetectable
values. Appl Occup Environ Hyg 1990;5:46-51.
Bland JM, Altman DG. Transformations, means, and confidence intervals. BMJ 1996;312:1079.
Hollander M, Wolfe DA, Chicken E. Nonparametric Statistical Methods, 3rd ed. Wiley 2014.
Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol
1983;1:710-719.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from helpers import plots, results
from helpers.checks import validate_ci_level, validate_frame
from helpers.endpoints import efficacy, rates, stats, survival
from helpers.everolimus_nk import flow, nk

__all__ = [
    "CORRELATION_MARKERS",
    "compute_floor_sensitivity",
    "compute_inhibition_correlations",
    "compute_inhibition_gmr",
    "compute_inhibition_median",
    "compute_inhibition_pfs",
    "compute_inhibition_proportion",
    "derive_band_flags",
    "derive_correlation_data",
    "derive_inhibition_landmark",
    "derive_inhibition_response",
    "derive_rps6_trajectories",
    "derive_undetectable_floor",
    "plot_inhibition_correlations",
    "plot_inhibition_distribution",
    "plot_membrane_normalisation",
    "select_western_qc",
    "summarise_estimates_text",
    "summarise_inhibition",
    "summarise_inhibition_availability",
    "summarise_inhibition_sentence",
    "summarise_lane_qc",
    "summarise_membrane_sentence",
    "summarise_membranes",
]

#: Markers correlated with rpS6 inhibition (PARAMCDs of ``adbm``): granzyme B and NK count,
#: degranulation and IFN-γ against K562, NKG2D expression.
CORRELATION_MARKERS: tuple[str, ...] = ("GZMB", "NKCNT", "CD107AK", "IFNGK", "NKG2D")

_BASELINE = "BASELINE"
_INHIB_LABEL = "rpS6 phosphorylation inhibition"
_METHOD_GMR = (
    "Paired t-test on log NRATIO; inhibition = 100 × (1 − ratio of geometric means), CI transformed"
)
_METHOD_HL = "One-sample Wilcoxon signed-rank (H0: no inhibition); Hodges–Lehmann median, exact CI"
_INHIBITION_COLUMNS = ("USUBJID", "AVISIT", "BASE", "AVAL", "INHIB_PCT")


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _visit_rows(inhib: pd.DataFrame, visit: str) -> pd.DataFrame:
    validate_frame(inhib, "inhib", _INHIBITION_COLUMNS)
    if not isinstance(visit, str) or visit == _BASELINE:
        raise ValueError(f"visit must be a post-baseline visit such as 'M3', got {visit!r}")
    return inhib[inhib["AVISIT"] == visit]


def _empty_row(parameter: str, ci_level: float, method: str, note: str) -> pd.DataFrame:
    row = results.empty_estimate_row(parameter, 0, ci_level, method, note)
    return pd.DataFrame([row]).astype({"n": "Int64", "N": "Int64"})


# --------------------------------------------------------------------------------------------
# densitometry QC
# --------------------------------------------------------------------------------------------


def select_western_qc(qc: pd.DataFrame) -> pd.DataFrame:
    """Rows of the QC exclusion table (00_data_preparation) that concern the western blot.

    Parameters
    ----------
    qc : pandas.DataFrame
        ``qc_exclusions`` (TRIAL, FILE, ROW, USUBJID, RECORD, RULE, REASON).

    Returns
    -------
    pandas.DataFrame
        The rows whose FILE is the ``western_blot`` export (.csv or .xlsx), same columns,
        index reset.
    """
    validate_frame(qc, "qc", ("FILE", "RECORD", "RULE", "REASON"))
    stem = qc["FILE"].astype(str).str.rsplit(".", n=1).str[0]
    return qc[stem.eq("western_blot")].reset_index(drop=True)


def summarise_lane_qc(adwb: pd.DataFrame) -> pd.DataFrame:
    """Lane counts per visit: evaluable, saturated, undetectable p-rpS6, loading-control flags.

    Parameters
    ----------
    adwb : pandas.DataFrame
        Sample lanes from :func:`helpers.everolimus_nk.western.derive_western` (AVISIT, SATFL,
        UNDETFL,
        LOADFL, EVALFL).

    Returns
    -------
    pandas.DataFrame
        One row per visit (BASELINE, M3, M9 order) plus ``Total``: AVISIT, LANES, EVALUABLE,
        SATURATED (excluded), UNDETECTABLE (kept, NRATIO 0), LOADING_FLAG (kept),
        LOADING_NOT_CHECKED (loading control saturated or missing), NOT_EVALUABLE.
    """
    validate_frame(adwb, "adwb", ("AVISIT", "SATFL", "UNDETFL", "LOADFL", "EVALFL"))
    flags = pd.DataFrame(
        {
            "AVISIT": adwb["AVISIT"].astype(str),
            "LANES": 1,
            "EVALUABLE": adwb["EVALFL"].eq("Y"),
            "SATURATED": adwb["SATFL"].eq("Y"),
            "UNDETECTABLE": adwb["UNDETFL"].eq("Y") & adwb["EVALFL"].eq("Y"),
            "LOADING_FLAG": adwb["LOADFL"].eq("Y"),
            "LOADING_NOT_CHECKED": adwb["LOADFL"].isna(),
            "NOT_EVALUABLE": adwb["EVALFL"].ne("Y"),
        }
    )
    counts = flags.groupby("AVISIT").sum().astype("int64")
    order = sorted(counts.index, key=lambda v: (flow.VISIT_NUMBERS.get(v, 99), v))
    counts = counts.loc[order]
    counts.loc["Total"] = counts.sum()
    return counts.reset_index()


def _flag_rows(adwb: pd.DataFrame, mask: pd.Series, flag: str, rule: str, kept: str):
    rows = adwb.loc[mask, ["MEMBRANE", "LANE", "USUBJID", "AVISIT"]]
    return rows.assign(FLAG=flag, RULE_APPLIED=rule, IN_ANALYSIS=kept)


def derive_band_flags(adwb: pd.DataFrame, floor: float | None = None) -> pd.DataFrame:
    """Every flagged sample lane with the rule applied to it (nothing is dropped silently).

    Method: the lane flags of :func:`helpers.everolimus_nk.western.derive_western` are listed with
    the
    handling rule: saturated p-rpS6/total band → lane not evaluable (ratio biased in an unknown
    direction); undetectable p-rpS6 with detectable total → kept as NRATIO 0, i.e. 100 %
    inhibition (an upper bound), and the ``floor`` in log-scale analyses; loading control
    outside the tolerated range of the membrane median → flag only, kept (the ratio to total
    rpS6 already corrects for loading); loading control saturated/missing → no loading check,
    kept; other non-evaluable lanes (total rpS6 undetectable, missing band, membrane without a
    usable calibrator) → excluded.

    Parameters
    ----------
    adwb : pandas.DataFrame
        Sample lanes (MEMBRANE, LANE, USUBJID, AVISIT, PRPS6, TRPS6, CALRATIO, SATFL, UNDETFL,
        LOADFL, EVALFL).
    floor : float, optional
        NRATIO substituted for undetectable values in log-scale analyses (quoted in the rule).

    Returns
    -------
    pandas.DataFrame
        MEMBRANE, LANE, USUBJID, AVISIT, FLAG, RULE_APPLIED, IN_ANALYSIS ("Y"/"N"), one row per
        lane and flag, sorted by MEMBRANE, LANE. Empty (same columns) when no lane is flagged.
    """
    cols = ("MEMBRANE", "LANE", "USUBJID", "AVISIT", "PRPS6", "TRPS6", "CALRATIO")
    validate_frame(adwb, "adwb", (*cols, "SATFL", "UNDETFL", "LOADFL", "EVALFL"))
    floor_text = f"{floor:.3g}" if floor is not None else "a stated floor"
    evaluable = adwb["EVALFL"].eq("Y")
    saturated = adwb["SATFL"].eq("Y")
    other = ~evaluable & ~saturated
    missing_band = adwb["PRPS6"].isna() | adwb["TRPS6"].isna()
    no_total = ~missing_band & (adwb["TRPS6"] <= 0)
    no_cal = ~missing_band & ~no_total & adwb["CALRATIO"].isna()
    pieces = [
        _flag_rows(
            adwb,
            saturated,
            "saturated p-rpS6 or total rpS6 band",
            "not evaluable: excluded (ratio biased in an unknown direction)",
            "N",
        ),
        _flag_rows(
            adwb,
            adwb["UNDETFL"].eq("Y") & evaluable,
            "p-rpS6 undetectable, total rpS6 detected",
            "kept: NRATIO 0 = 100 % inhibition (upper bound); log-scale analyses use floor "
            f"NRATIO {floor_text} (sensitivity analysis varies it)",
            "Y",
        ),
        _flag_rows(
            adwb,
            adwb["LOADFL"].eq("Y"),
            "loading control outside tolerance of membrane median",
            "flag only: kept (p-rpS6/total rpS6 ratio corrects for loading)",
            np.where(evaluable[adwb["LOADFL"].eq("Y")], "Y", "N"),
        ),
        _flag_rows(
            adwb,
            adwb["LOADFL"].isna(),
            "loading control saturated or missing",
            "no loading check possible: kept if otherwise evaluable",
            np.where(evaluable[adwb["LOADFL"].isna()], "Y", "N"),
        ),
        _flag_rows(adwb, other & missing_band, "band missing", "not evaluable: excluded", "N"),
        _flag_rows(
            adwb, other & no_total, "total rpS6 undetectable", "ratio undefined: excluded", "N"
        ),
        _flag_rows(
            adwb,
            other & no_cal,
            "no usable calibrator on membrane",
            "cannot normalise: excluded",
            "N",
        ),
    ]
    out = pd.concat(pieces, ignore_index=True)
    return out.sort_values(["MEMBRANE", "LANE"], kind="stable", ignore_index=True)


def summarise_membranes(adwb: pd.DataFrame) -> pd.DataFrame:
    """Per membrane: calibrator ratio and geometric means of raw and normalised ratios.

    Method: over evaluable sample lanes with detectable p-rpS6 (log undefined at 0), the
    geometric mean of RATIO (p-rpS6/total rpS6) and of NRATIO (RATIO / membrane calibrator
    ratio, Degasperi et al. 2014). A membrane effect shows as spread of the raw geometric means
    that shrinks after normalisation.

    Parameters
    ----------
    adwb : pandas.DataFrame
        Sample lanes (MEMBRANE, RATIO, CALRATIO, NRATIO, EVALFL).

    Returns
    -------
    pandas.DataFrame
        MEMBRANE, NLANES, CALRATIO, GM_RATIO, GM_NRATIO, sorted by MEMBRANE.

    References
    ----------
    Degasperi A et al. PLoS One 2014;9:e87293.
    """
    validate_frame(adwb, "adwb", ("MEMBRANE", "RATIO", "CALRATIO", "NRATIO", "EVALFL"))
    use = adwb[adwb["EVALFL"].eq("Y") & (adwb["NRATIO"] > 0)]
    logs = use.assign(LR=np.log(use["RATIO"]), LN=np.log(use["NRATIO"]))
    grouped = logs.groupby("MEMBRANE")
    out = pd.DataFrame(
        {
            "NLANES": grouped.size(),
            "CALRATIO": grouped["CALRATIO"].first(),
            "GM_RATIO": np.exp(grouped["LR"].mean()),
            "GM_NRATIO": np.exp(grouped["LN"].mean()),
        }
    )
    return out.reset_index().sort_values("MEMBRANE", ignore_index=True)


def _pearson(x: pd.Series, y: pd.Series) -> float:
    # a constant series has no correlation (NaN), without numpy's divide warning
    if x.std(ddof=0) == 0 or y.std(ddof=0) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def summarise_membrane_sentence(membranes: pd.DataFrame) -> str:
    """One sentence on how membrane means track their calibrator, before and after normalisation.

    Method: across membranes (from :func:`summarise_membranes`), the Pearson correlation of the
    log membrane geometric mean with the log calibrator ratio, for the raw ratio (GM_RATIO) and
    the normalised ratio (GM_NRATIO), and the standard deviation (ddof 1) of the log means. A
    membrane effect makes the raw means track the calibrator (positive correlation); division by
    the calibrator removes that tracking. Residual spread comes from the different patients on
    each membrane and from the noise of the calibrator lane itself.

    Returns
    -------
    str
    """
    validate_frame(membranes, "membranes", ("CALRATIO", "GM_RATIO", "GM_NRATIO"))
    if len(membranes) < 3:
        return f"{len(membranes)} membrane(s): too few to assess a membrane effect."
    logs = np.log(membranes[["CALRATIO", "GM_RATIO", "GM_NRATIO"]].astype(float))
    r_raw, r_norm = (_pearson(logs[c], logs["CALRATIO"]) for c in ("GM_RATIO", "GM_NRATIO"))
    sd_raw, sd_norm = (float(logs[c].std(ddof=1)) for c in ("GM_RATIO", "GM_NRATIO"))
    return (
        f"Across {len(membranes)} membranes, the correlation of the membrane geometric mean with "
        f"the calibrator ratio (log scale) is {_fmt(r_raw)} for the raw ratio and {_fmt(r_norm)} "
        f"after normalisation; the SD of the log membrane means is {sd_raw:.2f} raw and "
        f"{sd_norm:.2f} normalised."
    )


def _strip(ax, values: list[np.ndarray], colour: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i, v in enumerate(values):
        ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, s=14, color=colour, alpha=0.7, lw=0)
        if v.size:
            gm = float(np.exp(np.log(v).mean()))
            ax.plot([i - 0.3, i + 0.3], [gm, gm], color="black", lw=1.6, zorder=4)


#: Above this many membranes the membrane figure draws one point per membrane (its geometric
#: mean) ordered by calibrator ratio instead of a strip of lanes per membrane: a strip per
#: membrane is unreadable (and slow to draw) beyond a few dozen.
MAX_MEMBRANE_STRIPS = 40


def plot_membrane_normalisation(adwb: pd.DataFrame, seed: int = 0) -> Figure:
    """Raw vs calibrator-normalised p-rpS6/total ratio per membrane (two panels, log scale).

    Left: RATIO per evaluable lane with detectable p-rpS6 (points), membrane geometric mean
    (bar) and the membrane's calibrator ratio (open diamond: the same lysate on every
    membrane, so its spread *is* the membrane effect). Right: NRATIO = RATIO / calibrator, with
    the calibrator level 1 as a dashed line. Undetectable lanes (ratio 0) are not drawable on a
    log axis and are listed in the flag table instead.

    Above :data:`MAX_MEMBRANE_STRIPS` (40) membranes, one point per membrane (its geometric mean,
    :func:`summarise_membranes`) and its calibrator, ordered by calibrator ratio; the x label
    states the rule. Same message, fixed size and drawing time.

    Returns
    -------
    matplotlib.figure.Figure
    """
    validate_frame(adwb, "adwb", ("MEMBRANE", "RATIO", "CALRATIO", "NRATIO", "EVALFL"))
    use = adwb[adwb["EVALFL"].eq("Y") & (adwb["NRATIO"] > 0)]
    if use.empty:
        raise ValueError("plot_membrane_normalisation: no evaluable lane with detectable p-rpS6")
    if use["MEMBRANE"].nunique() > MAX_MEMBRANE_STRIPS:
        return _plot_membrane_means(summarise_membranes(adwb))
    membranes = sorted(use["MEMBRANE"].unique())
    by = [use[use["MEMBRANE"] == m] for m in membranes]
    with plots.style_context():
        fig = Figure(figsize=(max(7.0, 0.75 * len(membranes) + 2.5), 4.0), layout="constrained")
        left, right = fig.subplots(1, 2, sharey=True)
        _strip(left, [b["RATIO"].to_numpy() for b in by], plots.PALETTE["blue"], seed)
        left.scatter(
            range(len(membranes)),
            [b["CALRATIO"].iloc[0] for b in by],
            marker="D",
            s=36,
            facecolors="white",
            edgecolors=plots.PALETTE["vermillion"],
            linewidths=1.4,
            zorder=5,
        )
        _strip(right, [b["NRATIO"].to_numpy() for b in by], plots.PALETTE["bluish_green"], seed)
        right.axhline(1.0, color="#555555", linestyle="--", linewidth=0.9)
        for ax, title in ((left, "Raw p-rpS6 / total rpS6"), (right, "Normalised to calibrator")):
            _log_axis(ax)
            ax.set_xticks(range(len(membranes)), membranes, rotation=45, ha="right")
            ax.set_xlabel("Membrane")
            ax.set_title(title)
        left.set_ylabel("Ratio (log scale)")
        handles = [
            Line2D([], [], marker="o", ls="", color=plots.PALETTE["blue"], label="Sample lane"),
            Line2D([], [], color="black", lw=1.6, label="Membrane geometric mean"),
            Line2D(
                [],
                [],
                marker="D",
                ls="",
                mfc="white",
                mec=plots.PALETTE["vermillion"],
                label="Calibrator lane",
            ),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
    return fig


def _log_axis(ax) -> None:
    ax.set_yscale("log")
    # ticks at 1, 2, 5 x 10^k written as plain numbers, as in helpers.plots
    ax.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())


def _plot_membrane_means(membranes: pd.DataFrame) -> Figure:
    """Many membranes: one point per membrane (geometric mean), ordered by calibrator ratio."""
    data = membranes.sort_values(["CALRATIO", "MEMBRANE"], ignore_index=True)
    x = np.arange(len(data))
    with plots.style_context():
        fig = Figure(figsize=(10.0, 4.0), layout="constrained")
        left, right = fig.subplots(1, 2, sharey=True)
        left.scatter(x, data["GM_RATIO"], s=8, color=plots.PALETTE["blue"], alpha=0.7, lw=0)
        left.scatter(
            x,
            data["CALRATIO"],
            marker="D",
            s=8,
            facecolors="none",
            edgecolors=plots.PALETTE["vermillion"],
            linewidths=0.6,
            zorder=5,
        )
        right.scatter(
            x, data["GM_NRATIO"], s=8, color=plots.PALETTE["bluish_green"], alpha=0.7, lw=0
        )
        right.axhline(1.0, color="#555555", linestyle="--", linewidth=0.9)
        label = (
            f"{len(data)} membranes, ordered by calibrator ratio\n(> {MAX_MEMBRANE_STRIPS} "
            "membranes: one point per membrane = geometric mean of its lanes)"
        )
        for ax, title in ((left, "Raw p-rpS6 / total rpS6"), (right, "Normalised to calibrator")):
            _log_axis(ax)
            ax.set_xticks([])
            ax.set_xlabel(label, fontsize=8)
            ax.set_title(title)
        left.set_ylabel("Ratio (log scale)")
        mean = Line2D([], [], marker="o", ls="", color=plots.PALETTE["blue"], label="Membrane mean")
        cal = Line2D([], [], marker="D", ls="", mfc="white", mec=plots.PALETTE["vermillion"])
        cal.set_label("Calibrator lane")
        fig.legend(handles=[mean, cal], loc="outside lower center", ncols=2)
    return fig


# --------------------------------------------------------------------------------------------
# inhibition at M3 / M9
# --------------------------------------------------------------------------------------------


def derive_undetectable_floor(adwb: pd.DataFrame, fraction: float = 0.5) -> float:
    """NRATIO substituted for undetectable p-rpS6 in log-scale analyses.

    Method: ``fraction`` × the smallest positive NRATIO among evaluable lanes (default one half,
    by analogy with the LoD/2 substitution of Hornung & Reed 1990; the blot has no formal limit
    of detection, so the lowest detected signal stands in for it).

    Parameters
    ----------
    adwb : pandas.DataFrame
        Sample lanes (NRATIO, EVALFL).
    fraction : float, default 0.5
        Multiplier (> 0, at most 1) of the smallest detected NRATIO.

    Returns
    -------
    float

    References
    ----------
    Hornung RW, Reed LD. Appl Occup Environ Hyg 1990;5:46-51.
    """
    validate_frame(adwb, "adwb", ("NRATIO", "EVALFL"))
    fraction = _positive(fraction, "fraction")
    if fraction > 1:
        raise ValueError(f"fraction must be <= 1 (a floor below the lowest signal), got {fraction}")
    detected = adwb.loc[adwb["EVALFL"].eq("Y") & (adwb["NRATIO"] > 0), "NRATIO"]
    if detected.empty:
        raise ValueError(
            "no evaluable lane with detectable p-rpS6: a floor cannot be derived; the log-scale "
            "summary is not estimable, use the rank-based median inhibition"
        )
    return fraction * float(detected.min())


def _floored(values: pd.Series, floor: float | None) -> pd.Series:
    """Zero (undetectable) values -> floor; with floor None they become NaN (excluded)."""
    return values.mask(values == 0, np.nan if floor is None else floor)


def compute_inhibition_gmr(
    inhib: pd.DataFrame,
    visit: str,
    floor: float | None,
    ci_level: float = 0.95,
    label: str | None = None,
) -> pd.DataFrame:
    """Inhibition of rpS6 phosphorylation at ``visit`` from the ratio of geometric means.

    Method: :func:`helpers.endpoints.stats.compute_geometric_mean_ratio` on the per-patient mean
    NRATIO at
    BASELINE and at ``visit`` (paired t-test on log values; Bland & Altman 1996), then
    inhibition = 100 × (1 − GMR) with limits 100 × (1 − upper), 100 × (1 − lower). Undetectable
    values (NRATIO 0) are replaced by ``floor``; ``floor=None`` excludes those patients instead.

    Parameters
    ----------
    inhib : pandas.DataFrame
        Output of :func:`helpers.everolimus_nk.western.compute_rps6_inhibition` (USUBJID, AVISIT,
        BASE, AVAL,
        INHIB_PCT).
    visit : str
        Post-baseline visit, e.g. ``"M3"``.
    floor : float or None
        Substitute for undetectable values (see :func:`derive_undetectable_floor`).
    ci_level : float, default 0.95
    label : str, optional
        Parameter label (default names the visit and the floor handling).

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (``n`` NA: a ratio has no numerator; ``N`` = complete pairs,
        ``p_value`` of the paired t-test, ``note`` saying how many undetectable values were
        floored or excluded). Fewer than 2 complete pairs (none, or one patient's own ratio):
        no numbers, ``note`` "not estimable: …".
    """
    ci_level = validate_ci_level(ci_level)
    if floor is not None:
        floor = _positive(floor, "floor")
    rows = _visit_rows(inhib, visit)
    zero = (rows["BASE"] == 0) | (rows["AVAL"] == 0)
    handling = "excluded" if floor is None else f"set to floor {floor:.3g}"
    label = label or f"{_INHIB_LABEL} at {visit} vs baseline (%), from GMR"
    note = f"{int(zero.sum())} undetectable value(s) {handling}"
    before, after = _floored(rows["BASE"], floor), _floored(rows["AVAL"], floor)
    if not (before.notna() & after.notna()).any():
        reason = f"not estimable: no complete pair at {visit}; {note}"
        return _empty_row(label, ci_level, _METHOD_GMR, reason)
    gmr = stats.compute_geometric_mean_ratio(before, after, label, ci_level).iloc[0]
    if pd.isna(gmr["estimate"]):  # fewer than 2 pairs: the GMR row says why, no number
        out = _empty_row(label, ci_level, _METHOD_GMR, f"{gmr['note']} at {visit}; {note}")
        return out.assign(N=int(gmr["N"])).astype({"N": "Int64"})
    out = pd.DataFrame(
        [
            {
                "parameter": label,
                "n": pd.NA,
                "N": int(gmr["N"]),
                "estimate": 100.0 * (1.0 - gmr["estimate"]),
                "ci_lower": 100.0 * (1.0 - gmr["ci_upper"]),
                "ci_upper": 100.0 * (1.0 - gmr["ci_lower"]),
                "ci_level": ci_level,
                "method": _METHOD_GMR,
                "p_value": gmr["p_value"],
                "note": "; ".join(
                    s for s in (f"GMR {gmr['estimate']:.3f}", note, gmr["note"]) if s
                ),
            }
        ]
    )
    return out.astype({"n": "Int64", "N": "Int64"})


def compute_inhibition_median(
    inhib: pd.DataFrame, visit: str, ci_level: float = 0.95
) -> pd.DataFrame:
    """Hodges–Lehmann median % inhibition at ``visit`` with its exact Wilcoxon CI.

    Method: :func:`helpers.endpoints.stats.compute_paired_change` with ``before`` = 0 and ``after``
    =
    INHIB_PCT, i.e. the one-sample Wilcoxon signed-rank test of no inhibition and the
    Hodges–Lehmann pseudo-median (median of Walsh averages) with its distribution-free CI
    (Hollander, Wolfe & Chicken 2014, §3.2). Undetectable p-rpS6 counts as 100 % (upper bound).

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (``n`` = non-zero values, ``N`` = patients with a computed
        inhibition, ``p_value``, ``note``); N = 0 gives a NaN row.
    """
    ci_level = validate_ci_level(ci_level)
    values = _visit_rows(inhib, visit)["INHIB_PCT"].dropna().to_numpy(float)
    label = f"{_INHIB_LABEL} at {visit} vs baseline (%), Hodges–Lehmann median"
    if values.size == 0:
        why = f"not estimable: no computable inhibition at {visit}"
        return _empty_row(label, ci_level, _METHOD_HL, why)
    out = stats.compute_paired_change(np.zeros(values.size), values, label, ci_level)
    if out["method"].iat[0] != stats.METHOD_PAIRED:  # large sample: keep the approximation named
        return out.assign(method="One-sample " + out["method"] + " (H0: no inhibition)")
    return out.assign(method=_METHOD_HL)


def compute_inhibition_proportion(
    inhib: pd.DataFrame, visit: str, threshold_pct: float = 50.0, ci_level: float = 0.95
) -> pd.DataFrame:
    """Proportion of patients with ≥ ``threshold_pct`` % inhibition at ``visit``, exact CI.

    Method: n/N with the Clopper–Pearson interval
    (:func:`helpers.endpoints.rates.compute_proportion`);
    N = patients with a computed inhibition (undetectable p-rpS6 = 100 %, counts as ≥ threshold).

    Returns
    -------
    pandas.DataFrame
        One estimate-table row (estimate and limits are proportions 0–1); N = 0 gives a NaN row.
    """
    ci_level = validate_ci_level(ci_level)
    threshold_pct = _positive(threshold_pct, "threshold_pct")
    values = _visit_rows(inhib, visit)["INHIB_PCT"].dropna()
    label = f"Patients with ≥ {threshold_pct:g} % rpS6 phosphorylation inhibition at {visit}"
    if values.empty:
        why = f"not estimable: no computable inhibition at {visit}"
        return _empty_row(label, ci_level, "Clopper–Pearson exact", why)
    n = int((values >= threshold_pct).sum())
    return rates.compute_proportion(n, int(values.size), label, ci_level).assign(note="")


def summarise_inhibition(
    inhib: pd.DataFrame,
    floor: float,
    visits: Sequence[str] = ("M3", "M9"),
    threshold_pct: float = 50.0,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """mTOR activation status per visit: primary GMR inhibition, HL median, ≥ threshold rate.

    Method: per visit :func:`compute_inhibition_gmr` (primary), :func:`compute_inhibition_median`
    and :func:`compute_inhibition_proportion`.

    Returns
    -------
    pandas.DataFrame
        Columns ``visit, analysis`` ("primary"/"secondary") + estimate-table columns + ``note``,
        three rows per visit.
    """
    parts = []
    for visit in visits:
        for analysis, table in (
            ("primary", compute_inhibition_gmr(inhib, visit, floor, ci_level)),
            ("secondary", compute_inhibition_median(inhib, visit, ci_level)),
            ("secondary", compute_inhibition_proportion(inhib, visit, threshold_pct, ci_level)),
        ):
            parts.append(table.assign(visit=visit, analysis=analysis))
    out = pd.concat(parts, ignore_index=True)
    return out[["visit", "analysis", *[c for c in out.columns if c not in ("visit", "analysis")]]]


def compute_floor_sensitivity(
    inhib: pd.DataFrame,
    adwb: pd.DataFrame,
    fractions: Sequence[float] = (1.0, 0.5, 0.1),
    visits: Sequence[str] = ("M3", "M9"),
    ci_level: float = 0.95,
    primary_fraction: float | None = 0.5,
) -> pd.DataFrame:
    """Sensitivity of the GMR inhibition to the handling of undetectable p-rpS6.

    Method: :func:`compute_inhibition_gmr` with floor = fraction × smallest detected NRATIO for
    each ``fraction`` (1 = least extreme, small fractions = near-complete inhibition), and with
    undetectable values excluded (biased towards less inhibition: the most inhibited patients
    are dropped).

    Parameters
    ----------
    inhib, adwb : pandas.DataFrame
        Per-patient inhibition (:func:`helpers.everolimus_nk.western.compute_rps6_inhibition`) and
        lanes.
    fractions : sequence of float
        Floor fractions, each in (0, 1].
    visits : sequence of str
    ci_level : float
    primary_fraction : float, optional
        The fraction of the primary analysis; its rows are labelled "(primary)".

    Returns
    -------
    pandas.DataFrame
        Columns ``visit, handling`` + estimate-table columns + ``note``; per visit one row per
        fraction then one "excluded" row.
    """
    if isinstance(fractions, str) or not len(fractions):
        raise ValueError("fractions must be a non-empty list of numbers in (0, 1], e.g. [1, 0.5]")
    rows = []
    for visit in visits:
        for fraction in fractions:
            floor = derive_undetectable_floor(adwb, fraction)
            handling = f"floor = {fraction:g} × lowest detected"
            primary = " (primary)" if fraction == primary_fraction else ""
            label = f"{visit}: undetectable = {fraction:g} × lowest detected ratio{primary}"
            table = compute_inhibition_gmr(inhib, visit, floor, ci_level, label=label)
            rows.append(table.assign(visit=visit, handling=handling))
        label = f"{visit}: undetectable values excluded"
        table = compute_inhibition_gmr(inhib, visit, None, ci_level, label=label)
        rows.append(table.assign(visit=visit, handling="excluded"))
    out = pd.concat(rows, ignore_index=True)
    return out[["visit", "handling", *[c for c in out.columns if c not in ("visit", "handling")]]]


def summarise_inhibition_availability(inhib: pd.DataFrame) -> pd.DataFrame:
    """Per visit: patients, inhibition computed, undetectable (100 %), and why others are missing.

    Returns
    -------
    pandas.DataFrame
        AVISIT, PATIENTS, COMPUTED, UNDETECTABLE_100PCT, NOT_COMPUTED, REASONS (each distinct
        REASON of :func:`helpers.everolimus_nk.western.compute_rps6_inhibition` with its count, " |
        "-joined).
    """
    validate_frame(inhib, "inhib", (*_INHIBITION_COLUMNS, "REASON"))
    rows = []
    for visit, block in inhib.groupby("AVISIT", sort=True):
        reasons = block["REASON"].dropna().value_counts().sort_index()
        rows.append(
            {
                "AVISIT": visit,
                "PATIENTS": block["USUBJID"].nunique(),
                "COMPUTED": int(block["INHIB_PCT"].notna().sum()),
                "UNDETECTABLE_100PCT": int(
                    ((block["AVAL"] == 0) & block["INHIB_PCT"].notna()).sum()
                ),
                "NOT_COMPUTED": int(block["INHIB_PCT"].isna().sum()),
                "REASONS": " | ".join(f"{r} (n = {k})" for r, k in reasons.items()) or "none",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "AVISIT",
            "PATIENTS",
            "COMPUTED",
            "UNDETECTABLE_100PCT",
            "NOT_COMPUTED",
            "REASONS",
        ],
    )


def derive_rps6_trajectories(inhib: pd.DataFrame, floor: float) -> pd.DataFrame:
    """Long per-patient NRATIO by visit (BASELINE + later visits) for trajectory plots.

    Method: BASE of :func:`helpers.everolimus_nk.western.compute_rps6_inhibition` gives the BASELINE
    row,
    AVAL the later rows; undetectable values (0) are set to ``floor`` so that they can be drawn
    on a log axis (FLOORFL = "Y").

    Returns
    -------
    pandas.DataFrame
        USUBJID, AVISIT, AVISITN, AVAL (NRATIO, floored), FLOORFL; rows with a value only.
    """
    validate_frame(inhib, "inhib", _INHIBITION_COLUMNS)
    floor = _positive(floor, "floor")
    base = inhib.drop_duplicates("USUBJID")[["USUBJID", "BASE"]].rename(columns={"BASE": "AVAL"})
    long = pd.concat(
        [base.assign(AVISIT=_BASELINE), inhib[["USUBJID", "AVISIT", "AVAL"]]], ignore_index=True
    ).dropna(subset=["AVAL"])
    long["AVISITN"] = long["AVISIT"].map(flow.VISIT_NUMBERS).astype("Int64")
    long["FLOORFL"] = np.where(long["AVAL"] == 0, "Y", "N")
    long["AVAL"] = long["AVAL"].mask(long["AVAL"] == 0, floor)
    long = long.sort_values(["USUBJID", "AVISITN"], ignore_index=True)
    return long[["USUBJID", "AVISIT", "AVISITN", "AVAL", "FLOORFL"]]


def plot_inhibition_distribution(
    inhib: pd.DataFrame,
    threshold_pct: float = 50.0,
    visits: Sequence[str] = ("M3", "M9"),
    seed: int = 0,
) -> Figure:
    """Box plot with every patient's % inhibition per visit and the threshold line.

    Drawn by :func:`helpers.plots.plot_distribution`; dashed lines mark 0 % (no inhibition) and
    ``threshold_pct``. Undetectable p-rpS6 appears at 100 % (an upper bound).
    """
    validate_frame(inhib, "inhib", _INHIBITION_COLUMNS)
    threshold_pct = _positive(threshold_pct, "threshold_pct")
    data = inhib[inhib["AVISIT"].isin(list(visits))]
    fig = plots.plot_distribution(
        data,
        "INHIB_PCT",
        "AVISIT",
        order=list(visits),
        value_label="rpS6 phosphorylation inhibition vs baseline (%)",
        group_label="Visit",
        seed=seed,
    )
    ax = fig.axes[0]
    with plots.style_context():
        for y, text in ((0.0, "0 %"), (threshold_pct, f"{threshold_pct:g} %")):
            ax.axhline(y, color="#555555", linestyle="--", linewidth=0.9, zorder=1)
            ax.annotate(
                text,
                (1.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="#555555",
            )
    return fig


# --------------------------------------------------------------------------------------------
# relation to NK biology
# --------------------------------------------------------------------------------------------


def _change_label(visit: str, log: bool) -> str:
    if log:
        return f"log2 ratio {visit}/baseline"
    return f"change {visit} − baseline (percentage points)"


def derive_correlation_data(
    inhib: pd.DataFrame,
    adbm: pd.DataFrame,
    visit: str = "M3",
    markers: Sequence[str] = CORRELATION_MARKERS,
) -> pd.DataFrame:
    """Per patient: % rpS6 inhibition at ``visit`` and each marker's change from baseline.

    Method: marker pairs from :func:`helpers.endpoints.efficacy.derive_paired_values` and changes
    from
    :func:`helpers.endpoints.efficacy.derive_change_table` on the scale of
    :func:`helpers.everolimus_nk.nk.derive_marker_log_scale` (the definitions of notebook 03): log2
    ratio
    visit/baseline for granzyme B (below LLOQ at LLOQ/2), counts and intensities; difference in
    percentage points for percentages. Undetectable p-rpS6 keeps INHIB_PCT = 100 (top rank).

    Returns
    -------
    pandas.DataFrame
        USUBJID, INHIB_PCT and ``<PARAMCD>_CHG`` per marker (NaN where a value is missing), one
        row per patient of ``inhib`` at ``visit``; ``attrs["log_scale"]`` = scale per marker.
    """
    if isinstance(markers, str) or not len(markers):
        raise ValueError("markers must be a non-empty list of PARAMCDs, e.g. ['GZMB', 'NKCNT']")
    scale = nk.derive_marker_log_scale()
    unknown = [m for m in markers if m not in scale]
    if unknown:
        raise ValueError(f"markers {unknown} have no analysis scale; use adbm PARAMCDs")
    data = _visit_rows(inhib, visit)[["USUBJID", "INHIB_PCT"]].reset_index(drop=True)
    for marker in markers:
        change = efficacy.derive_change_table(
            efficacy.derive_paired_values(adbm, marker, _BASELINE, visit)
        )
        column = change["LOG2FC"] if scale[marker] else change["CHG"]
        values = pd.Series(column.to_numpy(float), index=change["USUBJID"])
        data[f"{marker}_CHG"] = data["USUBJID"].map(values).astype(float)
    data.attrs["log_scale"] = {m: scale[m] for m in markers}
    return data


def compute_inhibition_correlations(
    data: pd.DataFrame,
    visit: str = "M3",
    n_boot: int = 2000,
    seed: int = 20261121,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Spearman correlation of % rpS6 inhibition with each marker's change, BH-adjusted.

    Method: :func:`helpers.endpoints.efficacy.compute_correlations` (per marker
    :func:`helpers.endpoints.stats.compute_spearman_bootstrap`: rho and t-approximation p-value,
    percentile
    CI from ``n_boot`` paired resamples seeded by ``seed``; < 3 pairs give a NaN row) and
    ``p_adj`` = Benjamini–Hochberg across the markers (:func:`helpers.endpoints.stats.compute_fdr`).

    Parameters
    ----------
    data : pandas.DataFrame
        From :func:`derive_correlation_data`.
    visit : str, default "M3"
        Used in the labels.
    n_boot, seed, ci_level
        Bootstrap resamples, seed and confidence level.

    Returns
    -------
    pandas.DataFrame
        PARAMCD + estimate-table columns (``N`` = complete pairs) + ``note`` + ``p_adj``, one row
        per marker in the column order of ``data``.

    References
    ----------
    Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall 1993.
    Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.
    """
    validate_frame(data, "data", ("USUBJID", "INHIB_PCT"))
    scale = data.attrs.get("log_scale")
    if not scale:
        raise ValueError("data must come from derive_correlation_data (attrs['log_scale'])")
    labels = {
        f"{m}_CHG": f"{nk.SHORT_LABELS.get(m, m)} ({_change_label(visit, log)})"
        for m, log in scale.items()
    }
    out = efficacy.compute_correlations(
        data, labels, "INHIB_PCT", f"{_INHIB_LABEL} at {visit} (%)", n_boot, seed, ci_level
    )
    out.insert(0, "PARAMCD", list(scale))
    out = out.drop(columns="variable")
    out["p_adj"] = stats.compute_fdr(out["p_value"].to_numpy(float))
    return out


def _fmt(value: float, digits: int = 2) -> str:
    return "NE" if pd.isna(value) else f"{value:.{digits}f}".replace("-", "−")


def plot_inhibition_correlations(
    data: pd.DataFrame, correlations: pd.DataFrame, visit: str = "M3", ncols: int = 3
) -> Figure:
    """Scatter plots of % rpS6 inhibition vs each marker's change, with a linear trend line.

    One panel per row of ``correlations`` (:func:`compute_inhibition_correlations`), drawn by
    :func:`helpers.plots.plot_scatter_with_fit`; the panel title gives Spearman rho with its CI,
    N and the BH-adjusted p; a dotted line marks no change. The least-squares line is
    descriptive only.

    Returns
    -------
    matplotlib.figure.Figure
    """
    validate_frame(data, "data", ("INHIB_PCT",))
    cols = ("PARAMCD", "estimate", "ci_lower", "ci_upper", "N", "p_adj")
    validate_frame(correlations, "correlations", cols)
    if correlations.empty:
        raise ValueError("correlations is empty: nothing to plot")
    scale = data.attrs.get("log_scale", {})
    markers = list(correlations["PARAMCD"])
    ncols = max(1, min(int(ncols), len(markers)))
    nrows = math.ceil(len(markers) / ncols)
    with plots.style_context():
        fig = Figure(figsize=(4.1 * ncols, 3.7 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (_, row) in zip(axes, correlations.iterrows(), strict=False):
        marker = row["PARAMCD"]
        pairs = data[["INHIB_PCT", f"{marker}_CHG"]].dropna()
        title = nk.SHORT_LABELS.get(marker, marker)
        if pairs.empty:
            ax.set_axis_off()
            ax.set_title(f"{title}: no complete pair")
            continue
        plots.plot_scatter_with_fit(
            pairs["INHIB_PCT"],
            pairs[f"{marker}_CHG"],
            xlabel=f"rpS6 inhibition at {visit} (%)",
            ylabel=_change_label(visit, scale.get(marker, False)),
            ax=ax,
        )
        with plots.style_context():
            ax.axhline(0.0, color="#555555", linestyle=":", linewidth=0.8, zorder=1)
            ax.set_title(
                f"{title}\nρ = {_fmt(row['estimate'])} ({_fmt(row['ci_lower'])} to "
                f"{_fmt(row['ci_upper'])}), N = {int(row['N'])}, "
                f"{results.format_p_value(row['p_adj'], prefix='BH p')}",
                fontsize=9,
            )
    for ax in axes[len(markers) :]:
        fig.delaxes(ax)
    return fig


# --------------------------------------------------------------------------------------------
# relation to clinical outcome
# --------------------------------------------------------------------------------------------


def derive_inhibition_landmark(
    adtte: pd.DataFrame,
    inhib: pd.DataFrame,
    visit: str = "M3",
    landmark_months: float = 3.0,
    threshold_pct: float = 50.0,
    paramcd: str = "PFS",
) -> survival.LandmarkResult:
    """Landmark data set relating % inhibition at ``visit`` to PFS after the landmark.

    Method: :func:`helpers.endpoints.survival.derive_landmark` (patients event-free and followed
    beyond
    ``landmark_months``, time reset to the landmark; Anderson, Cain & Gelber 1983) with the
    visit's inhibition as covariate; at-risk patients without a computed inhibition are moved
    to ``excluded`` with that reason, so every patient is accounted for.

    Returns
    -------
    helpers.endpoints.survival.LandmarkResult
        ``data``: USUBJID, PARAMCD, AVAL (months since the landmark), CNSR, LANDMARK,
        INHIB_PCT, INHIB10 (= INHIB_PCT / 10: the Cox unit), INHIBGRP ("≥ t %" / "< t %").
        ``excluded``: USUBJID, AVAL (months since treatment start), CNSR, reason.
    """
    validate_frame(adtte, "adtte", ("USUBJID", "PARAMCD", "AVAL", "CNSR"))
    threshold_pct = _positive(threshold_pct, "threshold_pct")
    x = _visit_rows(inhib, visit)[["USUBJID", "INHIB_PCT"]]
    tte = adtte.loc[adtte["PARAMCD"] == paramcd, ["USUBJID", "PARAMCD", "AVAL", "CNSR"]]
    if tte.empty:
        raise ValueError(f"adtte has no {paramcd} rows; check paramcd")
    lm = survival.derive_landmark(tte, landmark_months, covariate=x)
    missing = lm.data["INHIB_PCT"].isna()
    no_x = lm.data.loc[missing, ["USUBJID", "AVAL", "CNSR"]].assign(
        AVAL=lambda d: d["AVAL"] + lm.landmark_months,
        reason=f"no rpS6 inhibition computed at {visit}",
    )
    data = lm.data.loc[~missing].reset_index(drop=True)
    data["INHIB10"] = data["INHIB_PCT"] / 10.0
    above = data["INHIB_PCT"] >= threshold_pct
    data["INHIBGRP"] = np.where(above, f"≥ {threshold_pct:g} %", f"< {threshold_pct:g} %")
    excluded = pd.concat([lm.excluded, no_x], ignore_index=True)
    return survival.LandmarkResult(data, excluded, lm.landmark_months)


def compute_inhibition_pfs(
    landmark: survival.LandmarkResult, visit: str = "M3", ci_level: float = 0.95
) -> pd.DataFrame:
    """PFS hazard ratio per 10 % more rpS6 inhibition (landmark Cox) and log-rank by group.

    Method: primary — Cox proportional hazards on INHIB10 in the landmark data
    (:func:`helpers.endpoints.efficacy.compute_pfs_association`: Efron ties, Wald CI, NaN row with
    the
    reason when the model cannot be fitted), using the continuous inhibition; descriptive
    companion — log-rank test by INHIBGRP (:func:`helpers.endpoints.survival.compute_logrank`).

    Parameters
    ----------
    landmark : helpers.endpoints.survival.LandmarkResult
        From :func:`derive_inhibition_landmark`.
    visit : str, default "M3"
        Used in the labels.
    ci_level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        Two rows, estimate-table columns + ``note``: the HR (``n`` events, ``N`` patients) and
        the log-rank test (estimate NaN: a test, not an estimate).
    """
    if not isinstance(landmark, survival.LandmarkResult):
        raise TypeError("landmark must come from derive_inhibition_landmark")
    data = landmark.data
    validate_frame(
        data, "landmark.data", ("USUBJID", "PARAMCD", "AVAL", "CNSR", "INHIB10", "INHIBGRP")
    )
    label = (
        f"per 10 % more {_INHIB_LABEL} at {visit} (landmark {landmark.landmark_months:g} months)"
    )
    paramcd = str(data["PARAMCD"].iloc[0]) if len(data) else "PFS"
    cox = efficacy.compute_pfs_association(
        data, data[["USUBJID", "INHIB10"]], {"INHIB10": label}, paramcd, ci_level
    )
    cox["method"] = cox["method"].astype(str) + "; landmark analysis"
    test = (
        f"Log-rank: {_INHIB_LABEL} at {visit} by group ({', '.join(sorted(set(data['INHIBGRP'])))})"
    )
    try:
        lr = survival.compute_logrank(data, "INHIBGRP").assign(parameter=test)
    except ValueError as err:
        lr = _empty_row(test, ci_level, "Log-rank test", f"not estimable: {err}")
    cols = ["parameter", "n", "N", "estimate", "ci_lower", "ci_upper", "ci_level", "method"]
    out = pd.concat([cox, lr], ignore_index=True)[[*cols, "p_value", "note"]]
    return out.astype({"n": "Int64", "N": "Int64"})


def derive_inhibition_response(
    inhib: pd.DataFrame, bor: pd.DataFrame, visit: str = "M3"
) -> pd.DataFrame:
    """Per patient: % inhibition at ``visit`` and best overall response.

    Method: ``bor`` is the best-response table of
    :func:`helpers.endpoints.efficacy.derive_bor_table`
    (confirmed BOR by RECIST 1.1 of the analysis population, MISSING kept); a responder has CR or
    PR (``RSPFL`` = "Y"). Patients need both a computed inhibition and a row in ``bor``; compare
    the groups with :func:`helpers.endpoints.efficacy.compute_response_association`.

    Returns
    -------
    pandas.DataFrame
        USUBJID, INHIB_PCT, BOR (AVALC), RSPFL, RESPONSE ("Responder (CR/PR)" /
        "Non-responder"), sorted by USUBJID.
    """
    validate_frame(bor, "bor", ("USUBJID", "AVALC", "RSPFL", "RESPONSE"))
    x = _visit_rows(inhib, visit)[["USUBJID", "INHIB_PCT"]].dropna()
    cols = ["USUBJID", "AVALC", "RSPFL", "RESPONSE"]
    out = x.merge(bor[cols], on="USUBJID", how="inner").rename(columns={"AVALC": "BOR"})
    return out.sort_values("USUBJID", ignore_index=True)


# --------------------------------------------------------------------------------------------
# interpretation sentence
# --------------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return "NE" if pd.isna(value) else f"{value:.0f} %"


def summarise_inhibition_sentence(summary: pd.DataFrame, threshold_pct: float = 50.0) -> str:
    """One generated sentence per visit from :func:`summarise_inhibition` (no hard-coded numbers).

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarise_inhibition` (three rows per visit: GMR, HL, proportion).
    threshold_pct : float, default 50.0
        The threshold used for the proportion row (quoted in the sentence).

    Returns
    -------
    str
        E.g. "M3: rpS6 phosphorylation reduced by 62 % (95 % CI 55 % to 68 %; ratio of geometric
        means, N = 27); Hodges–Lehmann median 59 % (53 % to 64 %); 20 of 27 patients (74 %,
        54 % to 89 %) had ≥ 50 % inhibition."
    """
    validate_frame(summary, "summary", ("visit", "analysis", "parameter", "n", "N", "estimate"))
    sentences = []
    for visit, rows in summary.groupby("visit", sort=False):
        if len(rows) != 3:
            raise ValueError("summary must hold the three rows per visit of summarise_inhibition")
        gmr, hl, prop = (rows.iloc[i] for i in range(3))
        level = f"{100 * gmr['ci_level']:.0f} % CI"
        sentences.append(
            f"{visit}: rpS6 phosphorylation reduced by {_pct(gmr['estimate'])} "
            f"({level} {_pct(gmr['ci_lower'])} to {_pct(gmr['ci_upper'])}; ratio of geometric "
            f"means, N = {gmr['N']}); Hodges–Lehmann median {_pct(hl['estimate'])} "
            f"({_pct(hl['ci_lower'])} to {_pct(hl['ci_upper'])}); {prop['n']} of {prop['N']} "
            f"patients ({_pct(100 * prop['estimate'])}, {_pct(100 * prop['ci_lower'])} to "
            f"{_pct(100 * prop['ci_upper'])}) had ≥ {threshold_pct:g} % inhibition."
        )
    return " ".join(sentences)


def summarise_estimates_text(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Display view of an estimate table: "estimate (CI)" text, proportions as percentages.

    Method: :func:`helpers.results.format_estimates` with ``percent`` true on the rows whose
    method is Clopper–Pearson (proportions); other estimates (% inhibition, rho, HR, HL shift)
    are printed as they are.

    Returns
    -------
    pandas.DataFrame
        The identifying columns present (``visit, analysis, handling, PARAMCD, outcome``),
        ``parameter, n, N, estimate (CI), method`` and ``p_value``/``p_adj``/``note`` if
        present.
    """
    validate_frame(table, "table", ("parameter", "N", "estimate", "ci_lower", "ci_upper", "method"))
    percent = table["method"].astype(str).str.startswith("Clopper")
    text = results.format_estimates(table, percent=percent, digits=digits)
    first = [c for c in ("outcome", "visit", "analysis", "handling", "PARAMCD") if c in text]
    last = [c for c in ("p_value", "p_adj", "note") if c in text]
    middle = [c for c in ("parameter", "n", "N", "estimate (CI)", "method") if c in text]
    return text[[*first, *middle, *last]]
