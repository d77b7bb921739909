"""Reused kernels: a notebook run after another in the same kernel sees a fresh kernel's state."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import matplotlib as mpl
import nbformat
import pandas as pd
import pytest

from helpers.pipeline import kernel_state, kernels
from helpers.pipeline import runner as pipeline

LEAKY = """
import os, sys, warnings, random
import matplotlib as mpl, numpy as np, pandas as pd
leaked = 1
mpl.rcParams["lines.linewidth"] = 9.0
pd.set_option("display.max_rows", 3)
warnings.simplefilter("error")
os.environ["LEAKED_VAR"] = "1"
sys.path.insert(0, "/leaked/path")
os.makedirs("sub", exist_ok=True)
os.chdir("sub")
np.random.seed(1)
"""

PROBE = """
import json, os, sys, warnings
import matplotlib as mpl, numpy as np, pandas as pd
state = {
    "leaked": "leaked" in globals(),
    "linewidth": mpl.rcParams["lines.linewidth"],
    "max_rows": pd.get_option("display.max_rows"),
    "error_filter": ("error", None, Warning, None, 0) in warnings.filters,
    "env": "LEAKED_VAR" in os.environ,
    "path": "/leaked/path" in sys.path,
    "cwd_is_root": os.path.basename(os.getcwd()) != "sub",
    "rng_reseeded": bool(np.random.get_state()[1][0] != np.random.RandomState(1).get_state()[1][0]),
}
open(out, "w").write(json.dumps(state))
"""

OUT = 'out = "probe.json"'  # the parameters cell of every test notebook


@pytest.fixture
def leaky_repo(tmp_path: Path, write_notebook) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "data" / "raw").mkdir(parents=True)
    write_notebook(tmp_path / "notebooks" / "root.ipynb", OUT, "x = 1")
    write_notebook(tmp_path / "notebooks" / "leaky.ipynb", OUT, LEAKY)
    write_notebook(tmp_path / "notebooks" / "probe.ipynb", OUT, PROBE)
    return tmp_path


DAG = {"root": (), "leaky": ("root",), "probe": ("leaky",)}


def _run(repo: Path, fresh: bool) -> dict:
    params = {"shared": {"raw_dir": "data/raw"}, "notebooks": {n: {} for n in DAG}}
    result = pipeline.run_pipeline(
        repo, params, list(DAG), jobs=1, log=lambda _: None, dag=DAG, fresh_kernels=fresh
    )
    assert result.ok, {n: r.error for n, r in result.runs.items()}
    return json.loads((repo / "probe.json").read_text())


def test_reused_kernel_shows_the_next_notebook_nothing_of_the_previous_one(leaky_repo):
    reused = _run(leaky_repo, fresh=False)
    assert reused == {
        "leaked": False,
        "linewidth": mpl.rc_params()["lines.linewidth"],
        "max_rows": 60,
        "error_filter": False,
        "env": False,
        "path": False,
        "cwd_is_root": True,
        "rng_reseeded": True,
    }
    executed = nbformat.read(leaky_repo / "reports" / "probe.ipynb", as_version=4)
    counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
    assert counts == [1, 2]  # numbered from 1, as in a fresh kernel


def test_fresh_kernels_mode_gives_the_same_probe_as_a_reused_kernel(leaky_repo):
    assert _run(leaky_repo, fresh=True) == _run(leaky_repo, fresh=False)


def test_pool_replaces_a_kernel_that_died(tmp_path: Path):
    with kernels.KernelPool(1, tmp_path, warm_modules=()) as pool:
        km = pool.acquire()
        kernels.shutdown_kernel(km)
        pool.release(km)
        replacement = pool.acquire()
        assert replacement is not km
        assert kernels.is_alive(replacement)
        kernels.run_code(replacement, "x = 1")
        pool.release(replacement)


def test_pool_reports_a_kernel_that_cannot_be_prepared(tmp_path: Path):
    pool = kernels.KernelPool(1, tmp_path, warm_modules=("no_such_module_xyz",))
    with pool, pytest.raises(kernels.KernelError, match="no_such_module_xyz"):
        pool.acquire()


def test_run_code_raises_kernel_error_with_the_exception(tmp_path: Path):
    km = kernels.start_kernel(tmp_path)
    try:
        with pytest.raises(kernels.KernelError, match="ZeroDivisionError"):
            kernels.run_code(km, "1 / 0")
    finally:
        kernels.shutdown_kernel(km)


def test_pool_needs_at_least_one_kernel(tmp_path: Path):
    with pytest.raises(ValueError, match="at least one"):
        kernels.KernelPool(0, tmp_path)


@pytest.fixture
def saved_process_state():
    """kernel_state mutates this process: snapshot it and put everything back afterwards."""
    cwd, path, env = os.getcwd(), list(sys.path), dict(os.environ)
    filters, rc = list(warnings.filters), mpl.rcParams.copy()
    yield
    os.chdir(cwd)
    sys.path[:] = path
    os.environ.clear()
    os.environ.update(env)
    warnings.filters[:] = filters
    mpl.rcParams.update(rc)
    kernel_state._SNAPSHOT = None


def test_restore_without_snapshot_raises(saved_process_state):
    kernel_state._SNAPSHOT = None
    with pytest.raises(RuntimeError, match="snapshot"):
        kernel_state.restore()


def test_restore_undoes_cwd_path_env_warnings_and_library_options(saved_process_state, tmp_path):
    kernel_state.prepare(["json"])
    os.chdir(tmp_path)
    sys.path.insert(0, "/leaked")
    os.environ["KERNEL_STATE_LEAK"] = "1"
    warnings.simplefilter("error")
    mpl.rcParams["lines.linewidth"] = 9.0
    pd.set_option("display.max_rows", 3)
    kernel_state.reset()  # plain Python: no IPython shell, so only restore() applies
    assert os.getcwd() != str(tmp_path)
    assert "/leaked" not in sys.path
    assert "KERNEL_STATE_LEAK" not in os.environ
    assert ("error", None, Warning, None, 0) not in warnings.filters
    assert mpl.rcParams["lines.linewidth"] == mpl.rc_params()["lines.linewidth"]
    assert pd.get_option("display.max_rows") == 60
