"""Gating many FCS files: serially, or a few files per task on a Dask cluster.

:func:`process_fcs_file` is the whole per-file path (read → compensate → transform → gate →
statistics → QC) and returns only small tables, so a worker holds one file's events at a time and
the client never holds events at all (files are streamed: only paths travel to the workers). A
Dask task gates a few files in turn (:func:`derive_files_per_task`: about two tasks per worker
thread, at most eight files), which keeps the scheduling cost small against the gating.
:func:`gate_fcs_files` runs it on every file of a sample sheet

- serially (``scheduler="serial"``), the reference for the benchmark;
- on a ``distributed.LocalCluster`` with one single-threaded worker process per core (default);
- or on an existing Dask scheduler given by address (``"tcp://host:8786"``), e.g. a
  ``dask_jobqueue.SLURMCluster`` started on an institute cluster (recipe: docs/cytometry.md).

Per-file progress goes to a callback (``progress(done, total, FileOutcome)``) as each file
finishes; results are returned in sheet order whatever the completion order, so output does not
depend on scheduling.

References
----------
Rocklin M. Dask: parallel computation with blocked algorithms and task scheduling. Proc. 14th
Python in Science Conf. 2015:126-132.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.cytometry import fcs_io, qc
from helpers.cytometry.gating import GatingPlan, gate_events
from helpers.cytometry.stats import derive_volume_ul, summarise_gated_statistics

__all__ = [
    "LOCAL_WORKER_CONFIG",
    "MAX_FILES_PER_TASK",
    "TASKS_PER_THREAD",
    "BatchResult",
    "FileOutcome",
    "GatingSettings",
    "derive_files_per_task",
    "format_progress",
    "gate_fcs_files",
    "process_fcs_file",
    "process_fcs_files",
]


@dataclass(frozen=True)
class GatingSettings:
    """What to compute per file (picklable; sent once to each worker with the plan)."""

    population_names: Mapping[str, str] | None = None
    mfi_markers: Sequence[str] | None = None
    mfi_populations: Sequence[str] | None = None
    min_events_file: int = 10_000
    min_events_gate: int = 100
    flow_rate_bin_seconds: float = 1.0
    flow_rate_k: float = 5.0
    max_margin_fraction: float = 0.01
    time_channel: str = "Time"


@dataclass(frozen=True)
class FileOutcome:
    """One file processed: statistics, QC rows, flow-rate bins, timing."""

    file: str
    n_events: int
    statistics: pd.DataFrame = field(repr=False)
    qc: pd.DataFrame = field(repr=False)
    flow_rate: pd.DataFrame = field(repr=False)
    seconds: float = 0.0
    worker: str = ""
    peak_rss_mb: float = 0.0


@dataclass(frozen=True)
class BatchResult:
    """All files: long statistics, QC table, flow-rate bins and per-file timing.

    Attributes
    ----------
    statistics : pandas.DataFrame
        :data:`helpers.cytometry.stats.STATISTICS_COLUMNS` for every gated file.
    qc : pandas.DataFrame
        :data:`helpers.cytometry.qc.QC_COLUMNS`, sheet mismatches first.
    flow_rate : pandas.DataFrame
        Flow-rate bins of every file.
    files : pandas.DataFrame
        file, n_events, seconds, worker, peak_rss_mb (one row per gated file).
    scheduler : str
        "serial", "local:<n> workers" or the scheduler address.
    """

    statistics: pd.DataFrame
    qc: pd.DataFrame
    flow_rate: pd.DataFrame
    files: pd.DataFrame
    scheduler: str


def process_fcs_file(path: str, plan: GatingPlan, settings: GatingSettings) -> FileOutcome:
    """Read, gate and summarise one FCS file (the unit of work of a Dask task).

    Method: :func:`helpers.cytometry.fcs_io.load_fcs` → :func:`helpers.cytometry.gating.gate_events`
    → :func:`helpers.cytometry.stats.summarise_gated_statistics` (count per µL from ``$VOL``) →
    QC (:mod:`helpers.cytometry.qc`: events per file and gate, flow rate, margin events).
    Percentages of a parent below ``min_events_gate`` events are NaN and flagged in QC.

    Returns
    -------
    FileOutcome
        Small tables only; the events are released when the function returns.
    """
    t0 = time.perf_counter()
    fcs = fcs_io.load_fcs(path)
    result = gate_events(fcs, plan)
    stats = summarise_gated_statistics(
        result,
        population_names=settings.population_names,
        volume_ul=derive_volume_ul(fcs.keywords),
        mfi_markers=settings.mfi_markers,
        min_parent_events=settings.min_events_gate,
        mfi_populations=settings.mfi_populations,
    )
    events_qc = qc.compute_event_qc(
        result, settings.min_events_file, settings.min_events_gate, settings.population_names
    )
    bins, rate_qc = qc.compute_flow_rate_bins(
        fcs, settings.flow_rate_bin_seconds, settings.flow_rate_k, settings.time_channel
    )
    margin_qc = qc.compute_margin_events(
        fcs, settings.max_margin_fraction, exclude=(settings.time_channel,)
    )
    table = pd.concat([events_qc, rate_qc, margin_qc], ignore_index=True)
    return FileOutcome(
        file=fcs.name,
        n_events=fcs.n_events,
        statistics=stats,
        qc=table,
        flow_rate=bins,
        seconds=time.perf_counter() - t0,
        worker=f"pid {os.getpid()}",
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


#: Dask settings of the local workers. The statistical profiler samples every thread each 10 ms
#: (GIL) and is not wanted for batch work. Dask's default ``MALLOC_TRIM_THRESHOLD_=65536`` makes
#: glibc give every freed event array back to the OS (and fixes its mmap threshold), so each file's
#: arrays are page-faulted anew: +40 % CPU per event measured here. Without it a worker keeps at
#: most one file's arrays in its heap, which the one-file-at-a-time design already bounds.
#: The event-loop tick (20 ms), system monitor (0.5 s) and nanny memory poll (0.1 s) wake the
#: scheduler, nannies and workers many times a second; on a 2-core machine where every core runs a
#: worker that is CPU taken from gating (measured: Dask/serial ratio 1.62-1.71 -> 1.82-1.85). At 1 s
#: the nanny still stops a worker that exceeds its memory limit.
LOCAL_WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
}


#: Tasks per worker thread when files are grouped into tasks (``files_per_task=None``): enough
#: tasks to balance the load, few enough that Dask's per-task cost (scheduler, result transfer)
#: stays small against the gating (measured on 2 cores: Dask/serial 1.69-1.74 with 4 tasks per
#: thread, 1.77-1.87 with 2).
TASKS_PER_THREAD = 2
#: At most this many files per task, so that progress stays per file in a large batch and a
#: failing file stops the batch early.
MAX_FILES_PER_TASK = 8


def derive_files_per_task(n_files: int, n_threads: int) -> int:
    """Files per Dask task: ``ceil(n_files / (TASKS_PER_THREAD × n_threads))`` in [1, 8].

    A task gates its files one after the other (one file's events in memory at a time), so the
    grouping changes the scheduling cost, not the memory per worker.
    """
    if n_files <= 0 or n_threads <= 0:
        return 1
    return min(MAX_FILES_PER_TASK, max(1, -(-n_files // (TASKS_PER_THREAD * n_threads))))


def process_fcs_files(
    paths: Sequence[str], plan: GatingPlan, settings: GatingSettings
) -> list[FileOutcome]:
    """:func:`process_fcs_file` on several files in turn (one Dask task; one file in memory)."""
    return [process_fcs_file(p, plan, settings) for p in paths]


def format_progress(done: int, total: int, outcome: FileOutcome) -> str:
    """One progress line: ``"[3/29] file.fcs: 20,000 events"`` (no timings: stable output)."""
    return f"[{done}/{total}] {outcome.file}: {outcome.n_events:,} events"


def _client(scheduler: str | None, n_workers: int | None) -> tuple[Any, Any, str]:
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None, scheduler
    n = int(n_workers or os.cpu_count() or 1)
    with dask.config.set(LOCAL_WORKER_CONFIG):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,  # shutdown chatter is not a result
        )
    return Client(cluster), cluster, f"local:{n} workers"


def gate_fcs_files(
    folder: Path,
    files: Sequence[str],
    plan: GatingPlan,
    settings: GatingSettings,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Callable[[int, int, FileOutcome], None] | None = None,
    files_per_task: int | None = None,
) -> BatchResult:
    """Gate every sample-sheet file of ``folder``; mismatches are listed in the QC table.

    Parameters
    ----------
    folder : path-like
        Folder of the FCS files.
    files : sequence of str
        File names from the sample sheet (their order is the output order).
    plan : GatingPlan
        Compiled gating strategy.
    settings : GatingSettings
        Names, markers and QC limits.
    scheduler : str, optional
        ``"serial"`` (plain loop in this process), a Dask scheduler address, or None (default:
        a ``LocalCluster`` of ``n_workers`` single-threaded processes).
    n_workers : int, optional
        Local worker processes (default: the number of cores).
    progress : callable, optional
        Called as ``progress(done, total, outcome)`` for each file, as its task finishes.
    files_per_task : int, optional
        Files gated in turn by one Dask task; default :func:`derive_files_per_task` of the
        cluster's worker threads (:data:`TASKS_PER_THREAD` tasks per thread, at most
        :data:`MAX_FILES_PER_TASK` files).

    Returns
    -------
    BatchResult

    Raises
    ------
    helpers.cytometry.fcs_io.FcsReadError
        A corrupt or truncated file (the message names it); the batch stops there.
    """
    if files_per_task is not None and (
        isinstance(files_per_task, bool)
        or not isinstance(files_per_task, int)
        or files_per_task < 1
    ):
        raise ValueError(f"files_per_task must be a positive integer, got {files_per_task!r}")
    found = [p.name for p in fcs_io.find_fcs_files(Path(folder))]
    mismatches = qc.compute_sheet_mismatches(files, found)
    todo = [f for f in files if f in set(found)]
    paths = [str(Path(folder) / f) for f in todo]
    outcomes: dict[str, FileOutcome] = {}
    if scheduler == "serial":
        label = "serial"
        for i, path in enumerate(paths, start=1):
            out = process_fcs_file(path, plan, settings)
            outcomes[out.file] = out
            if progress:
                progress(i, len(paths), out)
    else:
        from distributed import as_completed

        client, cluster, label = _client(scheduler, n_workers)
        try:
            client.run(_import_flowkit)  # once per worker, before the plan is unpickled there
            plan_f, settings_f = client.scatter([plan, settings], broadcast=True)
            threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
            size = files_per_task or derive_files_per_task(len(paths), threads)
            futures = [
                client.submit(
                    process_fcs_files,
                    paths[i : i + size],
                    plan_f,
                    settings_f,
                    key=f"gate-{Path(paths[i]).name}-{len(paths[i : i + size])}",
                )
                for i in range(0, len(paths), size)
            ]
            done = 0
            for fut in as_completed(futures):
                for out in fut.result():  # re-raises FcsReadError naming the file
                    outcomes[out.file] = out
                    done += 1
                    if progress:
                        progress(done, len(paths), out)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    ordered = [outcomes[f] for f in todo]
    return BatchResult(
        statistics=_concat([o.statistics for o in ordered]),
        qc=_concat([mismatches, *[o.qc for o in ordered]]),
        flow_rate=_concat([o.flow_rate for o in ordered]),
        files=pd.DataFrame(
            [(o.file, o.n_events, o.seconds, o.worker, o.peak_rss_mb) for o in ordered],
            columns=["file", "n_events", "seconds", "worker", "peak_rss_mb"],
        ),
        scheduler=label,
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    kept = [f for f in frames if not f.empty]
    if not kept:
        return frames[0].iloc[0:0] if frames else pd.DataFrame()
    return pd.concat(kept, ignore_index=True)


def _import_flowkit() -> None:
    import flowkit  # noqa: F401
