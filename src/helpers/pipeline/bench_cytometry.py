"""Benchmark of the FCS path: events per second per core, Dask against a serial loop, memory.

``python -m helpers.pipeline.bench_cytometry`` (also run by ``make bench``) writes a throw-away FCS
set under ``bench/cytometry/`` (git-ignored): ``--distinct`` simulated files of ``--events``
events each (demo NK panel, with spillover), copied to ``--files`` files. On the same files, in the
same run, it times the whole per-file path (read → compensate → transform → gate → statistics →
QC), ``--repeats`` times each, and reports the median wall time:

* **serial**: a plain loop in this process (``gate_fcs_files(..., scheduler="serial")``);
* **dask**: a ``LocalCluster`` of ``--workers`` single-threaded worker processes, started and
  warmed (two files per worker, as the serial loop is warmed) before the clock starts (start-up
  reported separately), a few files per task
  (``helpers.cytometry.batch.derive_files_per_task``).

Both run single-threaded (``OMP/OPENBLAS/MKL_NUM_THREADS=1``, as Dask's nanny sets for its workers;
the module re-runs itself with them when they are not set). It prints events/s/core (wall clock:
serial = 1 core; Dask = events / (wall × workers)), the same
per CPU-second of the serial loop (less sensitive to other load on a shared machine), the
Dask/serial speed ratio, and each worker's peak resident memory; and writes
``bench/cytometry.json``. Targets (issue 16): >= 1e6 events/s/core, ratio >= 1.8 on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from helpers import config, cytometry
from helpers.data.simulate import fcs as sim_fcs
from helpers.everolimus_nk import fcs as nk_fcs

#: Thread pools limited to one thread in the benchmark process (as Dask's nanny does for workers).
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TARGET_EVENTS_PER_S_PER_CORE = 1e6
TARGET_RATIO = 1.8


def prepare_files(folder: Path, n_files: int, n_distinct: int, events: int, seed: int) -> list[str]:
    """Simulate ``n_distinct`` files of ``events`` events and copy them to ``n_files`` files."""
    from helpers.data import simulate

    if folder.exists():
        shutil.rmtree(folder)
    tables, _ = simulate.simulate_demo_cohort(seed=seed)
    model = sim_fcs.FcsModel(n_patients=2, events_per_file=events, missing_files=0)
    section = sim_fcs.write_fcs_cohort(tables["everolimus_nk"]["nk_flow"], folder, seed, model)
    sources = sorted(section["files"])[:n_distinct]
    fcs_dir = folder / sim_fcs.FCS_FOLDER
    names = []
    for i in range(n_files):
        name = f"bench_{i:03d}.fcs"
        shutil.copy(fcs_dir / sources[i % len(sources)], fcs_dir / name)
        names.append(name)
    for extra in section["files"]:
        (fcs_dir / extra).unlink()
    return names


def _worker_peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(
    folder: Path, names: list[str], workers: int, repeats: int = 3
) -> dict[str, float | int | list[float] | str]:
    """Time serial and Dask gating of the same files; see the module docstring."""
    from distributed import Client, LocalCluster

    fcs_dir = folder / sim_fcs.FCS_FOLDER
    plan = cytometry.compile_gating_plan(
        cytometry.load_gating_strategy(fcs_dir / sim_fcs.GATING_NAME)
    )
    settings = nk_fcs.derive_nk_gating_settings(1_000, 20)
    # warm-up: imports, page cache
    cytometry.gate_fcs_files(fcs_dir, names[:2], plan, settings, "serial")

    walls, cpu0 = [], time.process_time()
    for _ in range(repeats):
        wall0 = time.perf_counter()
        serial = cytometry.gate_fcs_files(fcs_dir, names, plan, settings, "serial")
        walls.append(time.perf_counter() - wall0)
    serial_wall = statistics.median(walls)
    serial_cpu = (time.process_time() - cpu0) / repeats
    n_events = int(serial.files["n_events"].sum())

    import dask

    t0 = time.perf_counter()
    with dask.config.set(cytometry.batch.LOCAL_WORKER_CONFIG):  # as gate_fcs_files starts them
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    try:
        # warm the workers outside the clock, as the serial loop was warmed: imports, and a file
        # each (first-use costs of FlowKit/flowutils and numpy in a fresh process)
        warm = names[: 2 * workers]
        cytometry.gate_fcs_files(
            fcs_dir, warm, plan, settings, cluster.scheduler_address, files_per_task=1
        )
        startup = time.perf_counter() - t0
        with Client(cluster) as client:
            cpu_before = client.run(time.process_time)
        dask_walls = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            dask = cytometry.gate_fcs_files(
                fcs_dir, names, plan, settings, cluster.scheduler_address
            )
            dask_walls.append(time.perf_counter() - t0)
        dask_wall = statistics.median(dask_walls)
        with Client(cluster) as client:
            peaks = sorted(client.run(_worker_peak_rss_mb).values())
            cpu_after = client.run(time.process_time)
        worker_cpu = sum(cpu_after[w] - cpu_before[w] for w in cpu_after) / repeats
    finally:
        cluster.close()
    same = dask.statistics.equals(serial.statistics)
    return {
        "files": len(names),
        "repeats": repeats,
        "serial_walls_s": [round(w, 3) for w in walls],
        "dask_walls_s": [round(w, 3) for w in dask_walls],
        "events": n_events,
        "events_per_file": int(serial.files["n_events"].iloc[0]),
        "workers": workers,
        "cores": os.cpu_count() or 1,
        "serial_wall_s": round(serial_wall, 3),
        "serial_cpu_s": round(serial_cpu, 3),
        "serial_events_per_s_per_core_wall": round(n_events / serial_wall),
        "serial_events_per_cpu_s": round(n_events / serial_cpu),
        "dask_wall_s": round(dask_wall, 3),
        "dask_events_per_s_per_core_wall": round(n_events / (dask_wall * workers)),
        "dask_worker_cpu_s": round(worker_cpu, 3),
        "dask_events_per_worker_cpu_s": round(n_events / worker_cpu),
        "dask_cluster_startup_s": round(startup, 2),
        "dask_vs_serial_ratio": round(serial_wall / dask_wall, 2),
        "dask_vs_serial_ratio_with_startup": round(serial_wall / (dask_wall + startup), 2),
        "worker_peak_rss_mb": [round(p, 1) for p in peaks],
        "event_matrix_mb_per_file": round(
            int(serial.files["n_events"].iloc[0]) * 15 * 8 / 2**20, 1
        ),
        "dask_equals_serial": bool(same),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.pipeline.bench_cytometry", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--files", type=int, default=96, help="a lab batch: patients x visits x tubes"
    )
    parser.add_argument("--distinct", type=int, default=4)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode (median)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--out", type=Path, default=None, help="folder (default bench/cytometry)")
    args = parser.parse_args(argv)
    if any(os.environ.get(v) != "1" for v in _ONE_THREAD):
        # the serial loop must use one core, as each Dask worker does (its nanny sets these):
        # OpenBLAS threads would otherwise give the "serial" product a second core
        env = {**os.environ, **dict.fromkeys(_ONE_THREAD, "1")}
        cmd = [sys.executable, "-m", "helpers.pipeline.bench_cytometry", *(argv or sys.argv[1:])]
        return subprocess.run(cmd, env=env, check=False).returncode
    folder = args.out or config.repo_root() / "bench" / "cytometry"
    names = prepare_files(folder, args.files, args.distinct, args.events, args.seed)
    result = run(folder, names, args.workers, args.repeats)
    shutil.rmtree(folder / sim_fcs.FCS_FOLDER)  # hundreds of MB: keep only the numbers
    out = folder.parent / "cytometry.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    per_core = max(
        result["serial_events_per_s_per_core_wall"], result["dask_events_per_s_per_core_wall"]
    )
    print(
        f"FCS gating, {result['files']} files x {result['events_per_file']:,} events, median of "
        f"{result['repeats']} runs "
        f"({result['workers']} workers, {result['cores']} cores, "
        f"load average {result['load_average_1min']}):\n"
        f"  serial  {result['serial_wall_s']:7.2f} s  "
        f"{result['serial_events_per_s_per_core_wall']:>12,} events/s/core (wall)  "
        f"{result['serial_events_per_cpu_s']:>12,} events/CPU-s\n"
        f"  dask    {result['dask_wall_s']:7.2f} s  "
        f"{result['dask_events_per_s_per_core_wall']:>12,} events/s/core (wall)  "
        f"{result['dask_events_per_worker_cpu_s']:>12,} events/worker-CPU-s  "
        f"cluster start-up and warm-up {result['dask_cluster_startup_s']} s (not timed)\n"
        f"  dask / serial speed ratio {result['dask_vs_serial_ratio']} "
        f"({result['dask_vs_serial_ratio_with_startup']} with start-up); "
        f"worker peak RSS {result['worker_peak_rss_mb']} MB; "
        f"results identical: {result['dask_equals_serial']}"
    )
    meets = [
        per_core >= TARGET_EVENTS_PER_S_PER_CORE,
        result["dask_vs_serial_ratio"] >= TARGET_RATIO,
    ]
    print(
        f"Targets: >= {TARGET_EVENTS_PER_S_PER_CORE:.0e} events/s/core "
        f"{'met' if meets[0] else 'MISSED'}; ratio >= {TARGET_RATIO} "
        f"{'met' if meets[1] else 'MISSED'}. Details: {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
