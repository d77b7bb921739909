"""Session fixtures: the default demo cohort, simulated, validated and derived once per test run.

Truth tests compare the estimates the notebooks report with the simulator's true parameters
(``demo_manifest["true_parameters"][trial][name]["value"]``), through exactly the path notebook 00
takes: CSV files on disk → ``io.load_raw_trial`` → ``validation.validate_trials`` → ``derive``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from helpers import config, io
from helpers.data import derive, schemas, simulate, validation


@pytest.fixture(scope="session")
def demo_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo cohort (seed of params.yaml, scale 1) written as raw CSV files."""
    raw = tmp_path_factory.mktemp("demo") / "raw"
    seed = config.load_params()["shared"]["seed"]
    tables, manifest = simulate.simulate_demo_cohort(seed=seed, scale=1)
    io.write_raw_cohort(tables, manifest, raw)
    return raw


@pytest.fixture(scope="session")
def demo_manifest(demo_raw_dir: Path) -> dict:
    """The simulator's manifest, including ``true_parameters``."""
    return io.load_manifest(demo_raw_dir)


@pytest.fixture(scope="session")
def demo_datasets(demo_raw_dir: Path) -> dict[str, dict]:
    """``{trial: {dataset name: DataFrame}}`` as 00_data_preparation derives them by default."""
    raw = {t: io.load_raw_trial(demo_raw_dir, t, schemas.TRIAL_TABLES[t]) for t in config.TRIALS}
    validated = validation.validate_trials(raw)
    nb = config.notebook_params(config.load_params(), "00_data_preparation")
    fields = derive.DerivationParams.__dataclass_fields__
    params = derive.DerivationParams(**{k: v for k, v in nb.items() if k in fields})
    return {
        trial: {**result.datasets, "qc_exclusions": result.qc}
        for trial, result in (
            (t, derive.DERIVATIONS[t](tables, params)) for t, tables in validated.items()
        )
    }


def _write_notebook(path: Path, parameters: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture(scope="session")
def write_notebook() -> Callable[[Path, str, str], None]:
    """``write_notebook(path, parameters, body)``: markdown, ``parameters`` and body cells."""
    return _write_notebook
