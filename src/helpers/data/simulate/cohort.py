"""Synthetic demo cohort for both trials: ``python -m helpers.simulate``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.simulate.everolimus_nk import compute_everolimus_truths, simulate_everolimus_nk
from helpers.data.simulate.fcs import FcsModel, write_fcs_cohort
from helpers.data.simulate.her2_ctc import compute_her2_truths, simulate_her2_ctc_tdm1
from helpers.data.simulate.models import (
    CTC_MODEL,
    CUTOFF_DATE,
    DEFAULT_SEED,
    EVEROLIMUS,
    EVEROLIMUS_COURSE,
    EVEROLIMUS_PATIENTS,
    FLOW_MODEL,
    GENERATOR_VERSION,
    GZMB_MODEL,
    HER2_COURSE,
    HER2_PATIENTS,
    STUDY_CALENDAR,
    T_DM1,
    TRIAL_EVEROLIMUS,
    TRIAL_HER2,
    WB_MODEL,
)


# --------------------------------------------------------------------------------------------
# Cohort and CLI
# --------------------------------------------------------------------------------------------
def _records_after_cutoff(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    out = {}
    for name, df in tables.items():
        date_cols = [c for c in df.columns if c.startswith("date_") or c.endswith("_date")]
        late = np.zeros(len(df), dtype=bool)
        for c in date_cols:
            late |= df[c].fillna("").astype(str).to_numpy() > CUTOFF_DATE
        if late.any():
            out[name] = int(late.sum())
    return out


def simulate_demo_cohort(
    seed: int = DEFAULT_SEED, scale: float = 1
) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, Any]]:
    """Simulate both trials and build the manifest.

    Each trial gets an independent stream spawned from ``numpy.random.SeedSequence(seed)``, so the
    output is identical for identical ``(seed, scale)``. The truths do not depend on ``seed``.

    Parameters
    ----------
    seed : int
        Non-negative seed (the pipeline default is ``shared.seed`` of params.yaml).
    scale : float
        Cohort size multiplier (1 = registry sizes: 17 T-DM1-treated, 36 everolimus patients).

    Returns
    -------
    tables_by_trial : dict
        ``{"her2_ctc_tdm1": {table: DataFrame}, "everolimus_nk": {table: DataFrame}}``.
    manifest : dict
        ``synthetic`` (True), ``generator``, ``generator_version``, ``seed``, ``scale``,
        ``study_calendar``, ``cohort`` (sizes, rows per table, records after the cut-off),
        ``true_parameters`` (per trial: name -> value, definition, method) and
        ``generative_models`` (every model parameter).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    her2_ss, evero_ss = np.random.SeedSequence(int(seed)).spawn(2)
    tables = {
        TRIAL_HER2: simulate_her2_ctc_tdm1(np.random.default_rng(her2_ss), scale),
        TRIAL_EVEROLIMUS: simulate_everolimus_nk(np.random.default_rng(evero_ss), scale),
    }
    her2, evero = tables[TRIAL_HER2], tables[TRIAL_EVEROLIMUS]
    cohort = {
        TRIAL_HER2: {
            "n_screened": len(her2["patients"]),
            "n_treated": int(her2["patients"]["date_treatment_start"].notna().sum()),
        },
        TRIAL_EVEROLIMUS: {"n_enrolled": len(evero["patients"])},
    }
    for trial, tabs in tables.items():
        cohort[trial]["rows"] = {name: len(df) for name, df in tabs.items()}
        cohort[trial]["records_after_cutoff"] = _records_after_cutoff(tabs)
    manifest = {
        "synthetic": True,
        "generator": "helpers.data.simulate",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "scale": scale,
        "cutoff_date": CUTOFF_DATE,
        "study_calendar": STUDY_CALENDAR,
        "cohort": cohort,
        "true_parameters": {
            TRIAL_HER2: compute_her2_truths(),
            TRIAL_EVEROLIMUS: compute_everolimus_truths(),
        },
        "generative_models": _model_parameters(),
    }
    return tables, manifest


def _model_parameters() -> dict[str, Any]:
    models = {
        "her2_patients": HER2_PATIENTS,
        "ctc_screening": CTC_MODEL,
        "her2_course": HER2_COURSE,
        "t_dm1": T_DM1,
        "everolimus_patients": EVEROLIMUS_PATIENTS,
        "everolimus_course": EVEROLIMUS_COURSE,
        "everolimus": EVEROLIMUS,
        "granzyme_b": GZMB_MODEL,
        "nk_flow": FLOW_MODEL,
        "western_blot": WB_MODEL,
    }
    return {name: asdict(model) for name, model in models.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m helpers.simulate [--out data/raw] [--seed N] [--scale K] [--profile P]``."""
    from helpers import config, io  # local: keeps the generator importable without the repo
    from helpers.data.simulate import profiles  # local: profiles build on this module

    parser = argparse.ArgumentParser(
        prog="python -m helpers.simulate",
        description="Write the synthetic demo cohort (both trials) and data/raw/manifest.json.",
    )
    parser.add_argument("--out", default="data/raw", help="raw-data folder (default data/raw)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--scale", type=float, default=1.0, help="cohort size multiplier")
    parser.add_argument(
        "--fcs-patients",
        type=int,
        default=FcsModel.n_patients,
        help="everolimus patients with demo FCS files (0 = none; default %(default)s)",
    )
    parser.add_argument(
        "--profile",
        default="demo",
        choices=["demo", *profiles.PROFILES],
        help="edge-case cohort instead of the demo (see helpers.data.simulate.profiles)",
    )
    args = parser.parse_args(argv)
    scale = int(args.scale) if float(args.scale).is_integer() else args.scale
    out = config.resolve_path(args.out)
    if args.profile == "demo":
        tables, manifest = simulate_demo_cohort(args.seed, scale)
    else:
        tables, manifest = profiles.simulate_profile(args.profile, args.seed)
        stale = [
            t for t in (TRIAL_HER2, TRIAL_EVEROLIMUS) if t not in tables and (out / t).exists()
        ]
        if stale:
            parser.error(
                f"profile {args.profile} supplies no {stale[0]} data but {out / stale[0]} exists: "
                "remove it or write to another --out."
            )
    if args.fcs_patients > 0 and args.profile == "demo":  # FCS files + GatingML + sample sheet
        manifest["fcs"] = write_fcs_cohort(
            tables[TRIAL_EVEROLIMUS]["nk_flow"],
            Path(out) / TRIAL_EVEROLIMUS,
            args.seed,
            FcsModel(n_patients=args.fcs_patients),
        )
    io.write_raw_cohort(tables, manifest, Path(out))  # file hashes label each trial folder
    if args.profile != "demo":
        print(f"Profile {args.profile} written to {out}: {manifest['description']}")
        return 0
    n = manifest["cohort"]
    print(
        f"Synthetic cohort written to {out}: HER2-CTC {n[TRIAL_HER2]['n_screened']} screened / "
        f"{n[TRIAL_HER2]['n_treated']} treated; everolimus-NK {n[TRIAL_EVEROLIMUS]['n_enrolled']}"
        " enrolled."
    )
    return 0
