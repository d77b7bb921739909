"""Whole-trial validation of the raw tables, and the QC exclusion table.

Two kinds of findings are kept apart:

* **Errors** break the data contract (docs/data_dictionary.md): a value of the wrong type, an
  unknown code, a duplicated key, a subject missing from ``patients``, dates in an impossible
  order… :func:`validate_trial` collects *every* error of every table (pandera lazy validation
  plus the cross-table rules below) and raises one :class:`DataValidationError` listing them
  all; nothing is written.
* **Data-quality findings** are legitimate data that an analysis must leave out: records after
  the data cut-off, investigator responses superseded by lesion measurements, non-evaluable
  CTC readings, … They never stop the run; each excluded record gets a line in the QC table
  (columns :data:`QC_COLUMNS`), so that no record disappears from the analysis datasets without
  a trace. :func:`derive_qc_exclusions` applies the cut-off; :mod:`helpers.data.derive` adds the
  findings of the derivations with :func:`derive_qc_rows`.

Reference: CDISC ADaM Implementation Guide v1.3 (traceability of analysis records); ICH E9
§5.2 / E3 §10.2 (listing of excluded patients and data).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from helpers.data.schemas import (
    FOLLOW_ON_NOTE,
    TRIAL_TABLES,
    DataValidationError,
    Problem,
    coerce_table,
    get_table_spec,
    normalise_text,
    raw_cell,
    source_file_name,
    validate_table,
)

__all__ = [
    "QC_COLUMNS",
    "QC_RULES",
    "REQUIRED_TABLES",
    "DataValidationError",
    "Problem",
    "QcResult",
    "concat_qc",
    "derive_qc_exclusions",
    "derive_qc_rows",
    "summarise_qc",
    "validate_trial",
    "validate_trials",
]

#: Tables that must be present; tumour data additionally need ``tumour_lesions`` or
#: ``timepoint_responses``. The others are optional: HER2-CTC ``ctc_if``, ``ctc_followup``,
#: ``ctdna``; everolimus ``granzyme_b``, ``nk_flow``, ``western_blot`` (the analyses that need
#: them say "not available: table X not supplied").
REQUIRED_TABLES: dict[str, tuple[str, ...]] = {
    "her2_ctc_tdm1": (
        "patients",
        "exposure",
        "end_of_treatment",
        "survival",
        "adverse_events",
        "ctc_screening",
        "ctc_fish",
    ),
    "everolimus_nk": (
        "patients",
        "exposure",
        "end_of_treatment",
        "survival",
        "adverse_events",
    ),
}
TUMOUR_TABLES = ("tumour_lesions", "timepoint_responses")

QC_COLUMNS = ["TRIAL", "FILE", "ROW", "USUBJID", "RECORD", "RULE", "REASON"]
#: QC rule codes and what they mean. Rules marked "(kept)" flag a record that stays in its
#: dataset with a flag; all others remove the record from the analysis datasets.
QC_RULES: dict[str, str] = {
    "included_after_cutoff": "patient included after the data cut-off: all records excluded",
    "after_cutoff": "record dated after the data cut-off: excluded",
    "value_after_cutoff": "date after the data cut-off: not known at the cut-off, ignored",
    "superseded_by_lesions": "investigator response replaced by the response derived from "
    "lesion measurements",
    "no_post_baseline_assessment": "(kept) treated patient without post-baseline tumour "
    "assessment: BOR not evaluable",
    "missing_visit": "(kept) required visit missing: patient not in the analysis of that visit",
    "progression_date_mismatch": "(kept) survival-table progression date disagrees with the "
    "first RECIST PD assessment (listed for query; PFS uses the recorded date)",
    "cell_not_evaluable": "(kept) CTC reading not evaluable (EVALFL = N): not in per-patient "
    "FISH summaries",
    "flow_unmapped": "flow-cytometry row not matching any analysis marker: excluded",
}
#: Rules whose records are removed from the analysis datasets (the others are kept, flagged).
EXCLUDING_RULES = frozenset(k for k, v in QC_RULES.items() if not v.startswith("(kept)"))

#: Date column compared with the cut-off, per table (tables absent here follow the patient).
CUTOFF_DATE_COLUMNS: dict[str, str] = {
    "exposure": "date_start",
    "tumour_lesions": "assessment_date",
    "timepoint_responses": "assessment_date",
    "adverse_events": "date_start",
    "ctc_followup": "sample_date",
    "ctdna": "sample_date",
    "granzyme_b": "sample_date",
    "nk_flow": "sample_date",
}
#: Dates that are blanked (or capped, date_last_alive) when after the cut-off.
CUTOFF_VALUE_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("date_treatment_start",),
    "end_of_treatment": ("date_last_dose",),
    "survival": ("date_progression", "date_death", "date_last_alive"),
    "adverse_events": ("date_end",),
}
SAMPLE_TABLES = ("ctc_screening", "ctc_followup", "ctdna", "granzyme_b", "nk_flow")


# --------------------------------------------------------------------------------------------
# Cross-table rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    trial: str
    files: Mapping[str, str]
    text: Mapping[str, pd.DataFrame]  # raw cells, stripped: quoted in messages
    typed: Mapping[str, pd.DataFrame]

    def flag(self, table: str, mask: pd.Series, column: str, rule: str) -> list[Problem]:
        """One problem per True row of ``mask``, quoting the raw cell."""
        rows = mask[mask.fillna(False).astype(bool)].index
        text = self.text[table]
        return [
            Problem(self.files[table], int(r), column, raw_cell(text, r, column), rule)
            for r in rows
        ]

    def patient(self, table: str, column: str) -> pd.Series:
        """``patients.<column>`` aligned to the rows of ``table`` (NaN for unknown subjects)."""
        patients = self.typed["patients"].drop_duplicates("subject_id")
        patients = patients.dropna(subset=["subject_id"]).set_index("subject_id")[column]
        return self.typed[table]["subject_id"].map(patients)


def _has(ctx: _Context, *tables: str) -> bool:
    return all(t in ctx.typed for t in tables)


def _rule_unknown_subjects(ctx: _Context) -> list[Problem]:
    known = set(ctx.typed["patients"]["subject_id"])
    out = []
    for table, df in ctx.typed.items():
        if table == "patients" or "subject_id" not in df.columns:
            continue
        unknown = df["subject_id"].notna() & ~df["subject_id"].isin(known)
        out += ctx.flag(table, unknown, "subject_id", "subject_id is not in patients")
    return out


def _rule_treated_only(ctx: _Context) -> list[Problem]:
    out = []
    for table in ("exposure", "end_of_treatment", "survival"):
        if _has(ctx, table):
            known = ctx.typed[table]["subject_id"].isin(ctx.typed["patients"]["subject_id"])
            untreated = known & ctx.patient(table, "date_treatment_start").isna()
            out += ctx.flag(
                table,
                untreated,
                "subject_id",
                f"{table} holds treated patients only, but date_treatment_start is empty in "
                "patients",
            )
    return out


def _rule_one_row_per_patient(ctx: _Context) -> list[Problem]:
    patients = ctx.typed["patients"]
    treated = patients["date_treatment_start"].notna()
    needs = [("end_of_treatment", treated), ("survival", treated)]
    if ctx.trial == "her2_ctc_tdm1":
        needs.append(("ctc_screening", pd.Series(True, index=patients.index)))
    out = []
    for table, who in needs:
        if _has(ctx, table):
            missing = who & ~patients["subject_id"].isin(ctx.typed[table]["subject_id"])
            kind = "treated" if table != "ctc_screening" else "screened"
            out += ctx.flag(
                "patients", missing, "subject_id", f"{kind} patient has no row in {table}"
            )
    return out


def _before(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a.notna() & b.notna() & (a < b)).astype(bool)


def _rule_patient_dates(ctx: _Context) -> list[Problem]:
    p = ctx.typed["patients"]
    return ctx.flag(
        "patients",
        _before(p["date_treatment_start"], p["date_inclusion"]),
        "date_treatment_start",
        "date_treatment_start must not be before date_inclusion",
    )


def _rule_tumour_dates(ctx: _Context) -> list[Problem]:
    out = []
    for table in TUMOUR_TABLES:
        if not _has(ctx, table):
            continue
        df = ctx.typed[table]
        start = ctx.patient(table, "date_treatment_start")
        post = df["visit"].ne("BASELINE")
        # A BASELINE scan may precede inclusion (standard-of-care imaging within the 4 weeks
        # before treatment, RECIST 1.1 §3.2) but never follow the first dose.
        out += ctx.flag(
            table,
            ~post & _before(start, df["assessment_date"]),
            "assessment_date",
            "BASELINE tumour assessment must not be after date_treatment_start",
        )
        out += ctx.flag(
            table,
            post & _before(df["assessment_date"], ctx.patient(table, "date_inclusion")),
            "assessment_date",
            "post-baseline tumour assessment must not be before date_inclusion",
        )
        out += ctx.flag(
            table,
            post & _before(df["assessment_date"], start),
            "assessment_date",
            "post-baseline tumour assessment must not be before date_treatment_start",
        )
        known = df["subject_id"].isin(ctx.typed["patients"]["subject_id"])
        out += ctx.flag(
            table,
            post & known & start.isna(),
            "visit",
            "post-baseline tumour assessment of a patient without date_treatment_start",
        )
    return out


def _rule_survival_dates(ctx: _Context) -> list[Problem]:
    s = ctx.typed["survival"]
    start = ctx.patient("survival", "date_treatment_start")
    checks = [
        (
            _before(s["date_death"], s["date_progression"]),
            "date_progression",
            "date_progression must not be after date_death",
        ),
        (
            _before(s["date_death"], s["date_last_alive"]),
            "date_last_alive",
            "date_last_alive must not be after date_death",
        ),
    ]
    checks += [
        (_before(s[c], start), c, f"{c} must not be before date_treatment_start")
        for c in ("date_progression", "date_death", "date_last_alive")
    ]
    return [p for mask, col, rule in checks for p in ctx.flag("survival", mask, col, rule)]


def _rule_treatment_dates(ctx: _Context) -> list[Problem]:
    out = []
    for table, column in (("exposure", "date_start"), ("end_of_treatment", "date_last_dose")):
        if _has(ctx, table):
            out += ctx.flag(
                table,
                _before(ctx.typed[table][column], ctx.patient(table, "date_treatment_start")),
                column,
                f"{column} must not be before date_treatment_start",
            )
    return out


def _rule_ae_dates(ctx: _Context) -> list[Problem]:
    ae = ctx.typed["adverse_events"]
    return ctx.flag(
        "adverse_events",
        _before(ae["date_start"], ctx.patient("adverse_events", "date_inclusion")),
        "date_start",
        "adverse event date_start must not be before date_inclusion",
    ) + ctx.flag(
        "adverse_events",
        _before(ae["date_end"], ae["date_start"]),
        "date_end",
        "date_end must not be before date_start",
    )


def _rule_sample_dates(ctx: _Context) -> list[Problem]:
    out = []
    for table in SAMPLE_TABLES:
        if _has(ctx, table):
            out += ctx.flag(
                table,
                _before(ctx.typed[table]["sample_date"], ctx.patient(table, "date_inclusion")),
                "sample_date",
                "sample_date must not be before date_inclusion",
            )
    return out


def _rule_lesions(ctx: _Context) -> list[Problem]:
    les = ctx.typed["tumour_lesions"]
    base = les[les["visit"].eq("BASELINE")]
    no_base = ~les["subject_id"].isin(base["subject_id"])
    out = ctx.flag(
        "tumour_lesions",
        no_base,
        "visit",
        "patient has lesion measurements but no BASELINE visit",
    )
    # RECIST 1.1: targets and non-targets are fixed at baseline; later ones must match.
    base_cat = base.set_index(["subject_id", "lesion_id"])["lesion_category"]
    key = pd.MultiIndex.from_frame(les[["subject_id", "lesion_id"]])
    at_base = pd.Series(base_cat.reindex(key).to_numpy(), index=les.index)
    follow = les["visit"].ne("BASELINE") & les["lesion_category"].ne("new") & ~no_base
    out += ctx.flag(
        "tumour_lesions",
        follow & at_base.ne(les["lesion_category"]),
        "lesion_category",
        "a post-baseline target/non_target lesion must be a baseline lesion of the same "
        "category (record new lesions as new)",
    )
    visit_date = les.groupby(["subject_id", "visit"])["assessment_date"].transform("min")
    clash = (
        pd.DataFrame({"s": les["subject_id"], "v": les["visit"], "d": visit_date})
        .drop_duplicates()
        .duplicated(["s", "d"], keep=False)
    )
    clashing = clash[clash].index
    if len(clashing):
        pairs = set(zip(les.loc[clashing, "subject_id"], les.loc[clashing, "visit"], strict=True))
        mask = pd.Series(
            [(s, v) in pairs for s, v in zip(les["subject_id"], les["visit"], strict=True)],
            index=les.index,
        )
        out += ctx.flag(
            "tumour_lesions",
            mask,
            "assessment_date",
            "two visits of one patient start on the same assessment_date",
        )
    return out


def _rule_timepoints(ctx: _Context) -> list[Problem]:
    tp = ctx.typed["timepoint_responses"]
    return ctx.flag(
        "timepoint_responses",
        tp.duplicated(["subject_id", "assessment_date"], keep=False),
        "assessment_date",
        "two assessments of one patient on the same assessment_date",
    )


def _rule_ctc(ctx: _Context) -> list[Problem]:
    scr, fish = ctx.typed["ctc_screening"], ctx.typed["ctc_fish"]
    done = set(scr.loc[scr["fish_status"].eq("done"), "subject_id"])
    out = ctx.flag(
        "ctc_fish",
        ~fish["subject_id"].isin(done),
        "subject_id",
        "FISH readings for a patient whose fish_status in ctc_screening is not done",
    )
    r1 = fish[fish["reader_id"].eq("R1")]
    out += ctx.flag(
        "ctc_screening",
        scr["fish_status"].eq("done") & ~scr["subject_id"].isin(r1["subject_id"]),
        "fish_status",
        "fish_status is done but ctc_fish has no R1 reading for this patient",
    )
    r1_cells = set(zip(r1["subject_id"], r1["cell_id"], strict=True))
    pairs = list(zip(fish["subject_id"], fish["cell_id"], strict=True))
    no_r1 = pd.Series([p not in r1_cells for p in pairs], index=fish.index)
    out += ctx.flag(
        "ctc_fish",
        fish["reader_id"].eq("R2") & no_r1,
        "cell_id",
        "R2 re-reading of a cell that has no R1 reading",
    )
    if _has(ctx, "ctc_if"):
        cif = ctx.typed["ctc_if"]
        cells = set(pairs)
        orphan = [p not in cells for p in zip(cif["subject_id"], cif["cell_id"], strict=True)]
        out += ctx.flag(
            "ctc_if",
            pd.Series(orphan, index=cif.index),
            "cell_id",
            "immunofluorescence for a cell that has no reading in ctc_fish",
        )
    return out


def _rule_western(ctx: _Context) -> list[Problem]:
    wb = ctx.typed["western_blot"]
    out = []
    for column in ("lane_type", "subject_id", "visit"):
        values = wb[column].astype(object).where(wb[column].notna(), "")  # empty counts as a value
        n = values.groupby([wb["membrane_id"], wb["lane"]]).transform("nunique")
        out += ctx.flag(
            "western_blot",
            n > 1,
            column,
            f"all bands of one membrane lane must have the same {column}",
        )
    return out


_RULES: tuple[tuple[tuple[str, ...], Callable[[_Context], list[Problem]]], ...] = (
    (("patients",), _rule_unknown_subjects),
    (("patients",), _rule_treated_only),
    (("patients",), _rule_one_row_per_patient),
    (("patients",), _rule_patient_dates),
    (("patients",), _rule_tumour_dates),
    (("patients", "survival"), _rule_survival_dates),
    (("patients",), _rule_treatment_dates),
    (("patients", "adverse_events"), _rule_ae_dates),
    (("patients",), _rule_sample_dates),
    (("tumour_lesions",), _rule_lesions),
    (("timepoint_responses",), _rule_timepoints),
    (("ctc_screening", "ctc_fish"), _rule_ctc),
    (("western_blot",), _rule_western),
)


def _missing_tables(tables: Mapping[str, pd.DataFrame], trial: str) -> list[Problem]:
    out = [
        Problem(
            f"{t}.csv",
            None,
            "",
            "",
            f"required table is missing: put {t}.csv or {t}.xlsx in the {trial} folder",
        )
        for t in REQUIRED_TABLES[trial]
        if t not in tables
    ]
    if not any(t in tables for t in TUMOUR_TABLES):
        out.append(
            Problem(
                "tumour_lesions.csv",
                None,
                "",
                "",
                "tumour data are missing: provide tumour_lesions or timepoint_responses",
            )
        )
    return out


def validate_trial(tables: Mapping[str, pd.DataFrame], trial: str) -> dict[str, pd.DataFrame]:
    """Validate every raw table of one trial and the rules that link them.

    Method: each table is validated against its pandera schema
    (:func:`helpers.data.schemas.validate_table`: types, codes, ranges, id pattern, unique key,
    conditional row rules); then the cross-table rules, checked on whatever parses (so one run
    reports everything):

    - required tables present (:data:`REQUIRED_TABLES`, plus tumour_lesions or
      timepoint_responses);
    - every ``subject_id`` in ``patients``; exposure, end_of_treatment and survival only for
      treated patients (``date_treatment_start`` filled), and every treated patient in
      end_of_treatment and survival (every screened patient in ctc_screening);
    - dates in order: treatment start ≥ inclusion; BASELINE tumour assessment ≤ treatment
      start (it may precede inclusion: standard-of-care imaging); post-baseline assessments ≥
      inclusion and ≥ treatment start; progression ≤ death; last known alive ≤ death;
      survival dates ≥ treatment start; exposure and last dose ≥ treatment start; AE start ≥
      inclusion; AE end ≥ AE start; blood samples ≥ inclusion (no sampling before consent);
    - RECIST bookkeeping: a BASELINE visit, lesion categories fixed at baseline, one date per
      visit; at most one investigator assessment per date;
    - FISH readings only when fish_status is done, an R1 reading for every R2 and IF cell;
      western-blot bands of one lane agree on lane type, subject and visit.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Raw tables as returned by :func:`helpers.io.load_raw_trial` (text, index = spreadsheet
        row number).
    trial : str
        ``her2_ctc_tdm1`` or ``everolimus_nk``.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables with analysis types (see :func:`helpers.data.schemas.validate_table`).

    Raises
    ------
    DataValidationError
        Listing every problem (file, row, column, value, rule).
    """
    if trial not in TRIAL_TABLES:
        raise ValueError(f"Unknown trial {trial!r}; use one of {sorted(TRIAL_TABLES)}.")
    unknown = sorted(set(tables) - set(TRIAL_TABLES[trial]))
    if unknown:
        raise ValueError(
            f"Tables {unknown} are not part of the {trial} export; expected names from "
            f"{list(TRIAL_TABLES[trial])}."
        )
    problems = _missing_tables(tables, trial)
    typed: dict[str, pd.DataFrame] = {}
    # every cell as stripped text once, shared by the schema check and the cross-table rules
    texts = {name: normalise_text(df) for name, df in tables.items()}
    broken: list[str] = []
    for name in TRIAL_TABLES[trial]:
        if name in tables:
            try:
                typed[name] = validate_table(tables[name], name, trial, texts[name])
            except DataValidationError as err:
                table_problems = _name_near_misses(_as_problems(err.problems))
                problems += table_problems
                if any(
                    p.row is None and p.rule.startswith(_MISSING_COLUMN) for p in table_problems
                ):
                    # Root cause first: a table without a required column would make every
                    # cross-table rule it takes part in fail on every row (e.g. a renamed
                    # subject_id: "not in patients" for every record of every other table).
                    broken.append(name)
                    continue
                # keep checking the cross-table rules on what does parse: one run, all problems
                typed[name] = coerce_table(tables[name], name, trial)
    problems += [
        Problem(
            source_file_name(tables[name], name),
            None,
            "",
            "",
            f"cross-table checks involving this table {FOLLOW_ON_NOTE}",
        )
        for name in broken
    ]
    ctx = _Context(
        trial,
        {name: source_file_name(df, name) for name, df in tables.items()},
        {name: text for name, text in texts.items() if name in typed},
        typed,
    )
    for needed, rule in _RULES:
        if all(t in typed for t in needed):
            problems += rule(ctx)
    if problems:
        raise DataValidationError(problems)
    return typed


def validate_trials(
    raw: Mapping[str, Mapping[str, pd.DataFrame]],
) -> dict[str, dict[str, pd.DataFrame]]:
    """Validate several trials at once and report the problems of all of them together.

    Parameters
    ----------
    raw : mapping of trial name to its raw tables
        E.g. ``{"her2_ctc_tdm1": io.load_raw_trial(...), "everolimus_nk": ...}``.

    Returns
    -------
    dict
        Trial name → typed tables (see :func:`validate_trial`).

    Raises
    ------
    DataValidationError
        Every problem of every trial; ``file`` is prefixed with the trial folder
        (``her2_ctc_tdm1/patients.csv``) because both trials have tables of the same name.
    """
    typed: dict[str, dict[str, pd.DataFrame]] = {}
    problems: list[pd.DataFrame] = []
    for trial, tables in raw.items():
        try:
            typed[trial] = validate_trial(tables, trial)
        except DataValidationError as err:
            problems.append(err.problems.assign(file=trial + "/" + err.problems["file"]))
    if problems:
        raise DataValidationError(pd.concat(problems, ignore_index=True))
    return typed


_MISSING_COLUMN = "required column is missing"


def _name_near_misses(problems: list[Problem]) -> list[Problem]:
    """Point a missing column to the unexpected column that is probably it (``Subject_ID``)."""
    unexpected = [p.column for p in problems if p.row is None and p.rule.startswith("unexpected")]
    out, renamed = [], set()
    for p in problems:
        if p.row is None and p.rule.startswith(_MISSING_COLUMN) and unexpected:
            folded = {u.strip().lower().replace(" ", "_"): u for u in unexpected}
            match = folded.get(p.column) or next(
                iter(difflib.get_close_matches(p.column, unexpected, n=1, cutoff=0.75)), None
            )
            if match:
                p = Problem(
                    p.file,
                    None,
                    p.column,
                    "",
                    f"{p.rule}; the file has a column '{match}': rename it to {p.column}",
                )
                renamed.add(match)
        out.append(p)
    # the unexpected column is the same cause, stated once in the missing column's message
    return [
        p
        for p in out
        if not (p.row is None and p.rule.startswith("unexpected") and p.column in renamed)
    ]


def _as_problems(frame: pd.DataFrame) -> list[Problem]:
    return [
        Problem(r.file, None if pd.isna(r.row) else int(r.row), r.column, r.value, r.rule)
        for r in frame.itertuples(index=False)
    ]


# --------------------------------------------------------------------------------------------
# QC exclusions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QcResult:
    """Tables as known at the data cut-off, and the QC lines of what was left out.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        Validated tables without the excluded records, with dates after the cut-off blanked
        (``date_last_alive`` capped at the cut-off).
    qc : pandas.DataFrame
        One row per excluded record or ignored value (:data:`QC_COLUMNS`).
    """

    tables: dict[str, pd.DataFrame]
    qc: pd.DataFrame


def _record_label(df: pd.DataFrame, table: str, trial: str) -> pd.Series:
    key = [k for k in get_table_spec(table, trial).key if k != "subject_id" and k in df.columns]
    if not key:
        return pd.Series(table, index=df.index, dtype=object)
    parts = [k + "=" + df[k].astype(object).where(df[k].notna(), "").astype(str) for k in key]
    label = parts[0]
    for part in parts[1:]:
        label = label + "; " + part
    return label.astype(object)


def derive_qc_rows(
    trial: str,
    file: str,
    rows: Iterable[object],
    usubjid: Iterable[object],
    record: Iterable[object],
    rule: Iterable[object] | str,
    reason: Iterable[object] | str,
) -> pd.DataFrame:
    """Build QC-table lines (TRIAL, FILE, ROW, USUBJID, RECORD, RULE, REASON).

    ``rows`` are spreadsheet row numbers (``None`` for a finding about a patient, e.g. a
    missing visit); ``rule`` (one code or one per row) is one of :data:`QC_RULES` or a rule
    code of a derivation module (e.g. the western-blot lane rules); ``reason`` is one text or
    one per row.
    """
    rows, usubjid, record = list(rows), list(usubjid), list(record)
    if not len(rows) == len(usubjid) == len(record):
        raise ValueError("rows, usubjid and record must have the same length.")
    reasons = [reason] * len(rows) if isinstance(reason, str) else list(reason)
    rules = [rule] * len(rows) if isinstance(rule, str) else list(rule)
    if not len(reasons) == len(rules) == len(rows):
        raise ValueError("rule and reason must each be one string or one value per row.")
    qc = pd.DataFrame(
        {
            "TRIAL": trial,
            "FILE": file,
            "ROW": pd.array([None if pd.isna(r) else int(r) for r in rows], dtype="Int64"),
            "USUBJID": pd.Series(usubjid, dtype=object),
            "RECORD": pd.Series(record, dtype=object),
            "RULE": pd.Series(rules, dtype=object),
            "REASON": pd.Series(reasons, dtype=object),
        },
        columns=QC_COLUMNS,
    )
    return qc


def _sort_qc(qc: pd.DataFrame) -> pd.DataFrame:
    if qc.empty:
        return pd.DataFrame(columns=QC_COLUMNS).astype({"ROW": "Int64"})
    out = qc.astype({"ROW": "Int64"}).sort_values(
        ["TRIAL", "FILE", "ROW", "USUBJID", "RULE", "RECORD"], na_position="first", kind="mergesort"
    )
    return out.reset_index(drop=True)


def concat_qc(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate QC pieces and sort them deterministically (TRIAL, FILE, ROW, USUBJID, RULE)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return _sort_qc(pd.DataFrame(columns=QC_COLUMNS))
    return _sort_qc(pd.concat(parts, ignore_index=True))


def _iso(d: pd.Timestamp) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def _exclude(
    tables: dict[str, pd.DataFrame],
    table: str,
    mask: pd.Series,
    trial: str,
    rule: str,
    reason: pd.Series | str,
) -> pd.DataFrame:
    df = tables[table]
    mask = mask.fillna(False).astype(bool)
    hit = df[mask]
    subjects = hit["subject_id"] if "subject_id" in hit.columns else [None] * len(hit)
    reasons = reason if isinstance(reason, str) else reason[mask]
    qc = derive_qc_rows(
        trial,
        source_file_name(df, table),
        hit.index,
        subjects,
        _record_label(hit, table, trial),
        rule,
        reasons,
    )
    kept = df[~mask]
    kept.attrs = dict(df.attrs)
    tables[table] = kept
    return qc


def _as_cutoff(cutoff_date: object) -> pd.Timestamp:
    try:
        cutoff = pd.Timestamp(cutoff_date)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"cutoff_date must be an ISO date such as '2026-06-30', got {cutoff_date!r}."
        ) from err
    if pd.isna(cutoff):
        raise ValueError("cutoff_date is missing; set it in params.yaml (ISO date).")
    return cutoff.normalize()


def _late_patients(tables, trial, cutoff) -> list[pd.DataFrame]:
    patients = tables["patients"]
    late = patients["date_inclusion"] > cutoff
    late_ids = set(patients.loc[late, "subject_id"])
    reason = f"date_inclusion after the data cut-off {_iso(cutoff)}"
    parts = [_exclude(tables, "patients", late, trial, "included_after_cutoff", reason)]
    for name in list(tables):
        df = tables[name]
        if name != "patients" and "subject_id" in df.columns:
            mask = df["subject_id"].isin(late_ids)
            parts.append(_exclude(tables, name, mask, trial, "included_after_cutoff", reason))
    return parts


def _late_records(tables, trial, cutoff) -> list[pd.DataFrame]:
    parts = []
    for name, column in CUTOFF_DATE_COLUMNS.items():
        if name in tables:
            dates = tables[name][column]
            mask = dates > cutoff
            reason = (
                f"{column} "
                + dates.dt.strftime("%Y-%m-%d").fillna("")
                + f" is after the data cut-off {_iso(cutoff)}"
            )
            parts.append(_exclude(tables, name, mask, trial, "after_cutoff", reason))
    return parts


def _late_values(tables, trial, cutoff) -> list[pd.DataFrame]:
    parts = []
    for name, columns in CUTOFF_VALUE_COLUMNS.items():
        if name not in tables:
            continue
        df = tables[name].copy()
        for column in columns:
            late = df[column] > cutoff
            if not late.any():
                continue
            action = "set to the cut-off" if column == "date_last_alive" else "ignored"
            reason = (
                f"{column} "
                + df.loc[late, column].dt.strftime("%Y-%m-%d")
                + f" is after the data cut-off {_iso(cutoff)}: {action}"
            )
            parts.append(
                derive_qc_rows(
                    trial,
                    source_file_name(tables[name], name),
                    df.index[late],
                    df.loc[late, "subject_id"],
                    [column] * int(late.sum()),
                    "value_after_cutoff",
                    reason,
                )
            )
            df[column] = df[column].mask(late, cutoff if column == "date_last_alive" else pd.NaT)
        df = _after_value_cut(df, name, tables[name])
        tables[name] = df
    return parts


def _after_value_cut(df: pd.DataFrame, name: str, original: pd.DataFrame) -> pd.DataFrame:
    """Keep companion columns consistent with blanked dates."""
    if name == "survival":
        df["progression_type"] = df["progression_type"].where(df["date_progression"].notna())
        df["death_cause"] = df["death_cause"].where(df["date_death"].notna())
    if name == "end_of_treatment":
        # last dose after the cut-off: at the cut-off the patient was still on treatment
        df["eot_reason"] = df["eot_reason"].mask(df["date_last_dose"].isna(), "ongoing")
    df.attrs = dict(original.attrs)
    return df


def _superseded(tables, trial) -> list[pd.DataFrame]:
    if "timepoint_responses" not in tables or "tumour_lesions" not in tables:
        return []
    tp = tables["timepoint_responses"]
    mask = tp["subject_id"].isin(tables["tumour_lesions"]["subject_id"])
    reason = "lesion measurements exist for this patient: RECIST response derived from them"
    return [_exclude(tables, "timepoint_responses", mask, trial, "superseded_by_lesions", reason)]


def derive_qc_exclusions(
    tables: Mapping[str, pd.DataFrame], trial: str, cutoff_date: object
) -> QcResult:
    """Apply the data cut-off and the "lesions win" rule, listing every record left out.

    Method, in order: (1) patients with ``date_inclusion`` after the cut-off are excluded with
    all their records (``included_after_cutoff``); (2) dated records after the cut-off are
    excluded (``after_cutoff``; date columns in :data:`CUTOFF_DATE_COLUMNS`; undated tables
    — ctc_screening, ctc_fish, ctc_if, western_blot — follow the patient); (3) dates of
    :data:`CUTOFF_VALUE_COLUMNS` after the cut-off are blanked, ``date_last_alive`` capped at
    the cut-off and a last dose after the cut-off turns the patient back to ``ongoing``
    (``value_after_cutoff``), so every dataset describes the trial as known at the cut-off;
    (4) investigator time-point responses of patients with lesion measurements are replaced by
    the lesion-derived responses (``superseded_by_lesions``). A record dated on the cut-off is
    kept.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Validated tables (output of :func:`validate_trial`).
    trial : str
        Trial name written in the TRIAL column.
    cutoff_date : date-like
        Data cut-off (ISO date string or date).

    Returns
    -------
    QcResult
        ``tables`` kept at the cut-off and ``qc`` lines (TRIAL, FILE, ROW, USUBJID, RECORD,
        RULE, REASON), sorted by TRIAL, FILE, ROW.
    """
    if trial not in TRIAL_TABLES:
        raise ValueError(f"Unknown trial {trial!r}; use one of {sorted(TRIAL_TABLES)}.")
    if "patients" not in tables:
        raise ValueError("tables must contain 'patients'; validate them with validate_trial.")
    cutoff = _as_cutoff(cutoff_date)
    work = {name: df.copy() for name, df in tables.items()}
    for name, df in tables.items():
        work[name].attrs = dict(df.attrs)
    parts = _late_patients(work, trial, cutoff)
    parts += _late_records(work, trial, cutoff)
    parts += _late_values(work, trial, cutoff)
    parts += _superseded(work, trial)
    return QcResult(work, concat_qc(parts))


def summarise_qc(qc: pd.DataFrame) -> pd.DataFrame:
    """Count QC lines by trial, rule and file, with the rule's meaning in words.

    Returns
    -------
    pandas.DataFrame
        TRIAL, RULE, MEANING (:data:`QC_RULES`; rule codes of :mod:`helpers.everolimus_nk.western`
        are
        described as western-blot lane rules), FILE, N (lines), sorted by TRIAL, RULE, FILE.
    """
    missing = [c for c in QC_COLUMNS if c not in qc.columns]
    if missing:
        raise ValueError(f"qc lacks columns {missing}; pass the QC table of a derivation.")
    counts = qc.groupby(["TRIAL", "RULE", "FILE"], sort=True).size().rename("N").reset_index()
    meaning = counts["RULE"].map(QC_RULES).fillna("western-blot lane rule (kept, EVALFL = N)")
    counts.insert(2, "MEANING", meaning)
    return counts.astype({"N": "int64"})


#: Above this many QC lines the notebook lists only the first :data:`QC_LISTING_PER_RULE` lines of
#: each trial, rule and file (the counts per rule and the saved CSV keep every line): a listing of
#: tens of thousands of lines is neither readable nor cheap to render.
QC_LISTING_MAX_ROWS = 1000
QC_LISTING_PER_RULE = 20


def select_qc_listing(qc: pd.DataFrame) -> pd.DataFrame:
    """The QC lines to list in a report: all of them, or the first 20 per trial, rule and file.

    Returns ``qc`` unchanged up to :data:`QC_LISTING_MAX_ROWS` lines; above, the first
    :data:`QC_LISTING_PER_RULE` lines of each (TRIAL, RULE, FILE) group in the original order.
    """
    missing = [c for c in QC_COLUMNS if c not in qc.columns]
    if missing:
        raise ValueError(f"qc lacks columns {missing}; pass the QC table of a derivation.")
    if len(qc) <= QC_LISTING_MAX_ROWS:
        return qc
    return qc.groupby(["TRIAL", "RULE", "FILE"], sort=False).head(QC_LISTING_PER_RULE)
