"""Paths and pipeline parameters: their one home.

Paths in ``params.yaml`` are relative to the repository root, so the same notebook runs from
JupyterLab (working directory ``notebooks/``) and from the pipeline (working directory = root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = "params.yaml"
TRIALS = ("her2_ctc_tdm1", "everolimus_nk")
ROOT_ENV_VAR = "TRIALS_REPO_ROOT"

#: notebook -> notebooks whose outputs it reads (00 writes data/processed; analyses read it).
NOTEBOOK_DAG: dict[str, tuple[str, ...]] = {
    "00_data_preparation": (),
    "01_screening_rate": ("00_data_preparation",),
    "02_tdm1_response": ("00_data_preparation",),
    "03_nk_function_changes": ("00_data_preparation",),
    "04_mtor_status": ("00_data_preparation",),
}

#: notebook -> (trial whose export it analyses, optional tables it cannot do without). The runner
#: skips a notebook whose trial folder or such a table is not supplied, and says so.
NOTEBOOK_INPUTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "00_data_preparation": (None, ()),
    "01_screening_rate": ("her2_ctc_tdm1", ()),
    "02_tdm1_response": ("her2_ctc_tdm1", ()),
    "03_nk_function_changes": ("everolimus_nk", ()),
    "04_mtor_status": ("everolimus_nk", ("western_blot",)),
}


def repo_root(start: Path | None = None) -> Path:
    """Return the repository root: the nearest ancestor holding ``params.yaml``.

    The environment variable ``TRIALS_REPO_ROOT`` wins when set (used by the benchmark, which runs
    the pipeline against a scaled copy of the data).
    """
    env = os.environ.get(ROOT_ENV_VAR)
    if env:
        return Path(env).resolve()
    for base in (start or Path.cwd(), Path(__file__).resolve()):
        for candidate in (base, *base.parents):
            if (candidate / PARAMS_FILE).is_file():
                return candidate
    raise FileNotFoundError(
        f"Cannot find {PARAMS_FILE} above {start or Path.cwd()}; run from inside the repository "
        f"or set {ROOT_ENV_VAR}."
    )


def resolve_path(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """Resolve a parameter path: absolute paths are kept, relative ones hang off the repo root."""
    p = Path(path)
    return p if p.is_absolute() else (root or repo_root()) / p


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read ``params.yaml``; returns ``{"shared": {...}, "notebooks": {name: {...}}}``."""
    path = path or repo_root() / PARAMS_FILE
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params.get("shared"), dict) or not isinstance(params.get("notebooks"), dict):
        raise ValueError(f"{path} must have top-level mappings 'shared' and 'notebooks'.")
    return params


def notebook_params(
    params: dict[str, Any], notebook: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge shared, per-notebook and command-line parameters (later wins)."""
    if notebook not in params["notebooks"]:
        raise KeyError(f"Notebook {notebook!r} has no section in {PARAMS_FILE}.")
    merged = {**params["shared"], **(params["notebooks"][notebook] or {})}
    merged.update(overrides or {})
    return merged
