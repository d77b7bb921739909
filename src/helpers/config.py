"""Paths and pipeline parameters: their one home.

Paths in ``params.yaml`` are relative to the repository root, so the same notebook runs from
JupyterLab (working directory ``notebooks/``) and from the pipeline (working directory = root).
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
#: notebook -> trial folders whose data it analyses (its pages are labelled per trial).
NOTEBOOK_TRIALS: dict[str, tuple[str, ...]] = {
    "00_data_preparation": TRIALS,
    "01_screening_rate": ("her2_ctc_tdm1",),
    "02_tdm1_response": ("her2_ctc_tdm1",),
    "03_nk_function_changes": ("everolimus_nk",),
    "04_mtor_status": ("everolimus_nk",),
}

#: notebook -> optional tables (of its trial, :data:`NOTEBOOK_TRIALS`) it cannot do without. The
#: runner skips a notebook whose trial folder or such a table is not supplied, and says so.
NOTEBOOK_REQUIRED_TABLES: dict[str, tuple[str, ...]] = {"04_mtor_status": ("western_blot",)}


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


@dataclass(frozen=True)
class Override:
    """One parameter set on the command line or in a ``--params-file``.

    ``section`` is ``shared`` or a notebook name; ``default`` the value in ``params.yaml``.
    """

    section: str
    key: str
    value: Any
    default: Any


def _sections(params: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        "shared": params["shared"],
        **{n: s if s is not None else {} for n, s in params["notebooks"].items()},
    }


def resolve_override_key(params: Mapping[str, Any], key: str) -> tuple[str, str]:
    """Section and key that an override ``key`` addresses.

    ``section.key`` (``02_tdm1_response.simon_p1``, ``shared.ci_level``) names it; a bare key
    goes to the one section that holds it.

    Raises
    ------
    ValueError
        Unknown section or key (with the closest valid names, :func:`difflib.get_close_matches`),
        or a bare key held by several sections (naming them and the qualified forms to use).
    """
    sections = _sections(params)
    every = sorted(
        {k for s in sections.values() for k in s}
        | {f"{n}.{k}" for n, s in sections.items() for k in s}
    )
    section, dot, name = key.rpartition(".")
    if dot:
        if section not in sections:
            close = difflib.get_close_matches(section, list(sections), n=3)
            raise ValueError(
                f"Unknown parameter section {section!r} in {key!r}; "
                + (f"did you mean {close}? " if close else "")
                + f"Sections: {sorted(sections)}."
            )
        if name not in sections[section]:
            holders = [n for n, s in sections.items() if name in s]
            close = difflib.get_close_matches(key, every, n=3) or difflib.get_close_matches(
                name, list(sections[section]), n=3
            )
            raise ValueError(
                f"Unknown parameter {key!r}: {section} has no key {name!r}"
                + (f" (it is in {holders})" if holders else "")
                + (f"; closest valid names: {close}" if close else "")
                + f". Valid keys are listed in {PARAMS_FILE}."
            )
        return section, name
    holders = [n for n, s in sections.items() if key in s]
    if not holders:
        close = difflib.get_close_matches(key, every, n=3)
        raise ValueError(
            f"Unknown parameter {key!r}"
            + (f"; closest valid names: {close}" if close else "")
            + f". Valid keys are listed in {PARAMS_FILE}."
        )
    if len(holders) > 1:
        raise ValueError(
            f"Parameter {key!r} is ambiguous: it is in sections {holders}. Qualify it, e.g. "
            + " or ".join(f"--set {h}.{key}=…" for h in holders)
            + "."
        )
    return holders[0], key


def apply_overrides(
    params: Mapping[str, Any], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Override]]:
    """Apply ``key: value`` overrides (keys as in :func:`resolve_override_key`), later wins.

    Returns
    -------
    params : dict
        A copy of ``params`` with each value set in the section that holds its key, so that a
        notebook-specific key (``simon_p1``) reaches its notebook instead of being shadowed.
    applied : list of Override
        What was changed, in order (one entry per key: the last value wins).
    """
    out = copy.deepcopy(dict(params))
    out["notebooks"] = {n: dict(s or {}) for n, s in out["notebooks"].items()}
    sections = _sections(out)
    applied: dict[tuple[str, str], Override] = {}
    for raw_key, value in overrides.items():
        section, key = resolve_override_key(out, raw_key)
        default = applied[(section, key)].default if (section, key) in applied else None
        if (section, key) not in applied:
            default = sections[section][key]
        sections[section][key] = value
        applied[(section, key)] = Override(section, key, value, default)
    return out, list(applied.values())
