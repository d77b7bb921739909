"""Warm, reused Jupyter kernels for the pipeline runner.

Starting a ``python3`` kernel takes about 0.55 s and importing the scientific stack in it about
1.6 s: with a fresh kernel per notebook that is a sixth of the CPU of a full run on 2 cores. The
runner therefore keeps one kernel per worker (:class:`KernelPool`):

- the pooled kernels start and import the analysis libraries (:data:`WARM_MODULES`) while data
  preparation, which needs none of them, runs in a kernel of its own on the other core;
- between two notebooks a kernel is reset by :func:`helpers.pipeline.kernel_state.reset` (namespace,
output
  cache, execution counter, working directory, ``sys.path``, environment, warning filters,
  matplotlib and pandas options, global random generators);
- a kernel that died, or whose reset failed, is replaced by a new one.

Notebooks still run through papermill's Python API: :class:`ReusedKernelEngine` is a papermill
engine that executes on the kernel it is given and closes its client afterwards (papermill's own
engine would leave the client's sockets open when the kernel is not its own).

``python -m helpers.pipeline --fresh-kernels`` gives every notebook a new kernel instead
(:func:`fresh_kernel`); ``tests/test_pipeline_run.py`` checks that both modes write identical
datasets, tables and figures. Every kernel is started and stopped here, never by nbclient: its
shutdown interrupts the kernel first, which ipykernel reports as an error on the terminal.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

KERNEL = "python3"
# ERROR: silence the loopback-TCP warning on each start; history in memory, as nbclient does, so
# that concurrent kernels do not contend for one SQLite file.
KERNEL_ARGS = ("--IPKernelApp.log_level=ERROR", "--HistoryManager.hist_file=:memory:")
ENGINE = "reused-kernel"

#: Imported by every pooled kernel when it starts: the union of what the analysis notebooks
#: import (lifelines is imported lazily by helpers.endpoints.survival).
WARM_MODULES = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "matplotlib.figure",
    "IPython.display",
    "lifelines",
    "helpers.endpoints.efficacy",
    "helpers.everolimus_nk.mtor",
    "helpers.everolimus_nk.nk",
    "helpers.plots",
    "helpers.her2_ctc.screening",
    "helpers.reporting.tables",  # the formatting layer (great_tables) every display goes through
    "rtflite",  # RTF of the CSR tables (pulls in polars: ~0.5 s)
)
STATE_MODULE = (
    '__import__("helpers.pipeline.kernel_state", fromlist=["_"])'  # binds no name in the kernel
)
TIMEOUT = 120  # s, for start-up, warm-up and reset; analysis cells have no time limit


class KernelError(RuntimeError):
    """A pooled kernel could not be started, prepared or reset."""


class ReusedKernelEngine(NBClientEngine):
    """papermill engine that runs a notebook on the kernel manager passed as ``km``."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        **kwargs: Any,
    ) -> Any:
        # Same argument handling as papermill's NBClientEngine, which hides the client it makes.
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            kwargs,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = PapermillNotebookClient(nb_man, **final_kwargs)
        try:
            return client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()


papermill_engines.register(ENGINE, ReusedKernelEngine)


async def _run_code(km: AsyncKernelManager, code: str) -> None:
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=TIMEOUT)
        reply = await kc.execute_interactive(
            code, silent=True, store_history=False, timeout=TIMEOUT, output_hook=lambda _: None
        )
    finally:
        kc.stop_channels()
    content = reply["content"]
    if content["status"] != "ok":
        raise KernelError(f"{content.get('ename')}: {content.get('evalue')}")


#: Run ``code`` silently in ``km``'s kernel (no history, no counter); raise if it fails.
run_code = run_sync(_run_code)


def is_alive(km: AsyncKernelManager) -> bool:
    """True while the kernel process runs."""
    return bool(run_sync(km.is_alive)())


async def _stop_kernels(kms: Sequence[AsyncKernelManager]) -> None:
    async def stop(km: AsyncKernelManager) -> None:
        # Killed outright: the state is not needed any more. jupyter_client's own shutdown
        # interrupts the kernel first, which ipykernel logs as an error on the terminal, and its
        # graceful variant takes about a second.
        if await km.is_alive():
            await km.signal_kernel(_KILL)
            await km.finish_shutdown(pollinterval=0.01)
        await km.cleanup_resources()

    await asyncio.gather(*(stop(km) for km in kms))


_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL
#: Stop kernels at once and remove their connection files.
shutdown_kernels = run_sync(_stop_kernels)


def shutdown_kernel(km: AsyncKernelManager) -> None:
    """Stop one kernel at once (see :func:`shutdown_kernels`)."""
    shutdown_kernels([km])


def start_kernel(cwd: Path, warm_modules: Sequence[str] = ()) -> AsyncKernelManager:
    """Start a ``python3`` kernel in ``cwd``, snapshot its state and import ``warm_modules``.

    The manager is asynchronous, like the ones nbclient makes itself: with a blocking client,
    nbclient would wait forever for the output of a cell whose kernel died.
    """
    km = AsyncKernelManager(kernel_name=KERNEL)
    run_sync(km.start_kernel)(cwd=str(cwd), extra_arguments=list(KERNEL_ARGS))
    try:
        run_code(km, f"{STATE_MODULE}.prepare({list(warm_modules)!r})")
    except Exception:
        shutdown_kernel(km)
        raise
    return km


@contextmanager
def fresh_kernel(cwd: Path) -> Iterator[AsyncKernelManager]:
    """A new kernel for one notebook, stopped afterwards (``with fresh_kernel(cwd) as km:``)."""
    km = start_kernel(cwd)
    try:
        yield km
    finally:
        shutdown_kernel(km)


class KernelPool:
    """``size`` kernels handed out one notebook at a time, reset when handed back.

    Use as a context manager; every kernel is shut down on exit.
    """

    def __init__(self, size: int, cwd: Path, warm_modules: Sequence[str] = WARM_MODULES):
        if size < 1:
            raise ValueError(f"A kernel pool needs at least one kernel, got {size}.")
        self.size = size
        self.cwd = Path(cwd)
        self.warm_modules = tuple(warm_modules)
        self._idle: queue.Queue[AsyncKernelManager | Exception] = queue.Queue()
        self._all: list[AsyncKernelManager] = []
        self._starters: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> KernelPool:
        # One after the other: started together they would take CPU from the notebook that runs
        # meanwhile (data preparation) on a 2-core machine; the first is ready soonest this way.
        self._start(self.warm_modules, count=self.size)
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _start(self, warm_modules: Sequence[str], count: int = 1) -> None:
        starter = threading.Thread(target=self._add, args=(warm_modules, count), daemon=True)
        with self._lock:
            self._starters.append(starter)
        starter.start()

    def _add(self, warm_modules: Sequence[str], count: int = 1) -> None:
        for _ in range(count):
            try:
                km = start_kernel(self.cwd, warm_modules)
            except Exception as exc:  # handed to the waiting worker, which raises it
                self._idle.put(exc)
                continue
            with self._lock:
                self._all.append(km)
            self._idle.put(km)

    def acquire(self) -> AsyncKernelManager:
        """Wait for an idle kernel and return it (use at most ``size`` workers)."""
        item = self._idle.get()
        if isinstance(item, Exception):
            raise KernelError(f"A kernel could not be started: {item}") from item
        return item

    def release(self, km: AsyncKernelManager) -> None:
        """Reset ``km`` for the next notebook; replace it if it died or cannot be reset."""
        try:
            if not is_alive(km):
                raise KernelError("the kernel died")
            run_code(km, f"{STATE_MODULE}.reset()")
        except Exception:
            self._discard(km)
            self._start(self.warm_modules)
            return
        self._idle.put(km)

    @contextmanager
    def kernel(self) -> Iterator[AsyncKernelManager]:
        """``with pool.kernel() as km:`` acquire, use, release."""
        km = self.acquire()
        try:
            yield km
        finally:
            self.release(km)

    def _discard(self, km: AsyncKernelManager) -> None:
        with self._lock:
            if km in self._all:
                self._all.remove(km)
        shutdown_kernel(km)

    def shutdown(self) -> None:
        """Shut every kernel down, including any still starting (idempotent)."""
        for starter in list(self._starters):
            starter.join(TIMEOUT)
        with self._lock:
            kernels, self._all = self._all, []
        shutdown_kernels(kernels)
