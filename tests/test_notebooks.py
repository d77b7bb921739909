"""Notebook hygiene: no outputs, one `parameters` cell, defaults agree with params.yaml."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from helpers import config
from helpers.config import NOTEBOOK_DAG
from helpers.pipeline.runner import declared_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _param_cells(nb) -> list:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def _defaults(nb) -> dict:
    tree = ast.parse(_param_cells(nb)[0].source)
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }


def test_every_pipeline_notebook_exists():
    names = {p.stem for p in NOTEBOOKS}
    assert set(NOTEBOOK_DAG) <= names, f"missing notebooks: {set(NOTEBOOK_DAG) - names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_or_execution_counts(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count)
    ]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; run nbstripout"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_exactly_one_parameters_cell_and_python3_kernel(path):
    nb = nbformat.read(path, as_version=4)
    assert len(_param_cells(nb)) == 1, "papermill silently ignores injected values without it"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_parameter_defaults_agree_with_params_yaml(path):
    nb = nbformat.read(path, as_version=4)
    defaults = _defaults(nb)
    expected = config.notebook_params(config.load_params(), path.stem)
    for key, value in defaults.items():
        assert key in expected, f"{path.name}: parameter {key!r} is not in params.yaml"
        assert value == expected[key], (
            f"{path.name}: {key}={value!r} but params.yaml says {expected[key]!r}"
        )
    nb_specific = config.load_params()["notebooks"][path.stem] or {}
    assert set(nb_specific) <= set(defaults), f"{path.name}: params.yaml keys the notebook lacks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter_the_cell_assigns(path):
    # papermill's parser silently skips some lines (e.g. a comment containing "="): such a
    # parameter looks configurable in params.yaml but would never be injected.
    nb = nbformat.read(path, as_version=4)
    assert set(_defaults(nb)) == declared_parameters(path)
