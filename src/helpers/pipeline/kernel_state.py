"""Return a reused Jupyter kernel to the state of a fresh one between two notebooks.

The pipeline runner keeps one kernel per worker and runs several notebooks in it one after the
other (starting a kernel and importing the scientific stack costs about 2 s of CPU per notebook).
It calls :func:`prepare` once in each new kernel and :func:`reset` between notebooks. ``reset``
empties the IPython namespace (as ``%reset -f``); :func:`restore` then puts back everything else
that a notebook could change and a later notebook would see. What survives on purpose is
``sys.modules``: imported libraries hold no analysis state.

- working directory, ``sys.path`` and environment variables (as at kernel start);
- warning filters (as at kernel start);
- matplotlib ``rcParams`` (to the values a fresh ``import matplotlib`` reads from its rc file);
- pandas display and compute options (to their defaults);
- the global NumPy and ``random`` generators (re-seeded from fresh entropy, as in a new process);
- the IPython execution counter (so the next notebook's cells are numbered from 1).

This module runs inside the kernel, imports only the standard library at import time, and keeps its
snapshot in a module attribute because the reset clears the user namespace. The runner calls it as
``__import__("helpers.pipeline.kernel_state", fromlist=["_"]).reset()`` so that no name is left
behind.
"""

from __future__ import annotations

import gc
import importlib
import os
import random
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KernelState:
    """What a fresh kernel looked like, captured by :func:`snapshot`."""

    cwd: str
    sys_path: tuple[str, ...]
    environ: dict[str, str] = field(repr=False)
    warning_filters: tuple[Any, ...] = field(repr=False)


_SNAPSHOT: KernelState | None = None


def snapshot() -> KernelState:
    """Record the kernel's start-up state; call once, before the first notebook runs."""
    global _SNAPSHOT
    _SNAPSHOT = KernelState(
        cwd=os.getcwd(),
        sys_path=tuple(sys.path),
        environ=dict(os.environ),
        warning_filters=tuple(warnings.filters),
    )
    return _SNAPSHOT


def prepare(modules: Iterable[str] = ()) -> KernelState:
    """Take the start-up snapshot, then import ``modules`` (the warm-up) without binding names."""
    state = snapshot()
    for module in modules:
        importlib.import_module(module)
    return state


def reset() -> None:
    """Empty the IPython namespace and output cache, free memory, then :func:`restore`."""
    shell = _shell()
    if shell is not None:
        shell.reset(new_session=False)
    gc.collect()  # the previous notebook's frames and figures go now, not at some later cell
    restore()


def restore(state: KernelState | None = None) -> None:
    """Put back what the previous notebook may have changed (see the module docstring).

    Raises
    ------
    RuntimeError
        If no snapshot was taken in this kernel.
    """
    state = state or _SNAPSHOT
    if state is None:
        raise RuntimeError("kernel_state.snapshot() was never called in this kernel.")
    os.chdir(state.cwd)
    sys.path[:] = state.sys_path
    os.environ.clear()
    os.environ.update(state.environ)
    warnings.resetwarnings()  # also invalidates the "already warned once" registries
    warnings.filters[:] = state.warning_filters
    random.seed()
    _restore_libraries()
    _reset_execution_count()


def _restore_libraries() -> None:
    # Only libraries the notebooks already imported can carry state; importing others would cost.
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].rc_file_defaults()
    if "pandas" in sys.modules:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some options are deprecated; resetting them warns
            sys.modules["pandas"].reset_option("all")


def _reset_execution_count() -> None:
    shell = _shell()
    if shell is not None:
        shell.execution_count = 1


def _shell() -> Any:
    """The running IPython shell, or ``None`` in plain Python (unit tests)."""
    if "IPython" not in sys.modules:
        return None
    return sys.modules["IPython"].get_ipython()
