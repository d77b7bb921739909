"""Benchmark: the pipeline on the demo, ×10 and ×100 cohorts, and against the naive notebook loop.

``make bench`` (or ``python -m helpers.pipeline.bench``) builds a throw-away workspace per cohort
size under ``bench/`` (git-ignored): a copy of ``notebooks/`` and ``params.yaml`` plus a freshly
simulated raw data set (``python -m helpers.simulate --scale N``; simulation is not timed). In each
workspace it measures, in the same run and on the same data:

* **runner**: ``python -m helpers.pipeline`` (one process, papermill API, independent notebooks in
  parallel, HTML rendered in-process, plus ``reports/index.html``): wall-clock time, the time of
  each notebook (papermill metadata), and the peak resident memory of the whole process tree
  (runner + kernels, sampled every 0.2 s with psutil, a dependency of ipykernel);
* **naive baseline** (only for ``--naive-scales``, default ×1 and ×10): what most repositories
  do: for each notebook in sequence one ``papermill`` CLI process then one ``jupyter nbconvert
  --to html`` process.

It prints the times, peak memory and the 1-minute load average before/after each run (the machine
may be shared: compare ratios measured in the same run), the ×100/×10 time ratio (1 for constant,
10 for linear cost), and writes ``bench/results.json``. Targets (issue 17, 2 cores): ×100 completes
without failure in <= 90 s with <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import config
from helpers.config import NOTEBOOK_DAG
from helpers.pipeline.kernels import KERNEL

TARGET_RATIO = 2.5  # naive / runner
TARGET_X100_SECONDS = 90.0
TARGET_X100_MB = 2048.0


def _bin(name: str) -> str:
    """Console script installed next to this interpreter (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def prepare_workspace(root: Path, workspace: Path, scale: int, seed: int) -> Path:
    """Copy notebooks and parameters into ``workspace`` and simulate a cohort of ``scale``."""
    if workspace.exists():
        shutil.rmtree(workspace)
    (workspace / "reports").mkdir(parents=True)
    shutil.copytree(root / "notebooks", workspace / "notebooks")
    shutil.copy(root / config.PARAMS_FILE, workspace / config.PARAMS_FILE)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.data.simulate",
            "--out",
            str(workspace / "data" / "raw"),
            "--seed",
            str(seed),
            "--scale",
            str(scale),
        ],
        check=True,
        capture_output=True,
    )
    return workspace


def _timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, config.ROOT_ENV_VAR: str(cwd)}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def time_runner(workspace: Path) -> float:
    """Wall-clock seconds of the project's pipeline runner on ``workspace``."""
    return _timed([sys.executable, "-m", "helpers.pipeline"], workspace)


def _tree_rss(proc) -> int:
    """Resident bytes of a process and all its descendants (0 for those already gone)."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def measure_runner(workspace: Path, interval: float = 0.2) -> dict:
    """Run the pipeline on ``workspace``: wall seconds, peak tree memory (MB), per-notebook s."""
    import psutil

    from helpers.pipeline.runner import previous_durations

    env = {**os.environ, config.ROOT_ENV_VAR: str(workspace)}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers.pipeline"],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = 0
    watched = psutil.Process(proc.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            try:
                peak = max(peak, _tree_rss(watched))
            except psutil.NoSuchProcess:
                return
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    return {
        "runner_s": round(seconds, 2),
        "ok": proc.returncode == 0,
        "peak_mb": round(peak / 2**20, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "notebooks_s": {
            k: round(v, 2)
            for k, v in previous_durations(workspace / "reports", list(NOTEBOOK_DAG)).items()
        },
        "log_tail": "" if proc.returncode == 0 else output[-2000:],
    }


def time_naive(workspace: Path) -> float:
    """Wall-clock seconds of one papermill + one nbconvert process per notebook, in sequence."""
    out = workspace / "naive"
    out.mkdir(exist_ok=True)
    total = 0.0
    for name in NOTEBOOK_DAG:
        executed = out / f"{name}.ipynb"
        total += _timed(
            [
                _bin("papermill"),
                f"notebooks/{name}.ipynb",
                str(executed),
                "-k",
                KERNEL,
                "--cwd",
                str(workspace),
                "--no-progress-bar",
            ],
            workspace,
        )
        total += _timed(
            [_bin("jupyter"), "nbconvert", "--to", "html", "--no-input", str(executed)], workspace
        )
    return total


def _print_table(results: list[dict]) -> None:
    names = list(NOTEBOOK_DAG)
    short = [n.split("_")[0] for n in names]
    head = f"{'cohort':>7} {'runner s':>9} {'peak MB':>8} {'load':>11} {'naive s':>8} {'ratio':>6} "
    print(head + " ".join(f"{s + ' s':>7}" for s in short))
    for r in results:
        naive = f"{r['naive_s']:8.1f} {r['ratio']:6.2f}" if "naive_s" in r else f"{'-':>8} {'-':>6}"
        load = f"{r['load_before']:.1f}->{r['load_after']:.1f}"
        per = " ".join(f"{r['notebooks_s'].get(n, float('nan')):7.1f}" for n in names)
        status = "" if r["ok"] else "  FAILED"
        print(
            f"{'x' + str(r['scale']):>7} {r['runner_s']:9.1f} {r['peak_mb']:8.0f} {load:>11} "
            f"{naive} {per}{status}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.pipeline.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument(
        "--naive-scales",
        type=int,
        nargs="*",
        default=[1, 10],
        help="scales also timed with the naive papermill + nbconvert loop (default 1 10)",
    )
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--out", type=Path, default=None, help="workspace folder (default bench/)")
    parser.add_argument(
        "--skip-cytometry", action="store_true", help="skip the FCS gating benchmark"
    )
    args = parser.parse_args(argv)
    root = config.repo_root()
    bench_dir = args.out or root / "bench"
    results = []
    for scale in args.scales:
        workspace = prepare_workspace(root, bench_dir / f"scale_{scale}", scale, args.seed)
        row = {"scale": scale, "cores": os.cpu_count(), **measure_runner(workspace)}
        if scale in args.naive_scales and row["ok"]:
            row["naive_s"] = round(time_naive(workspace), 2)
            row["ratio"] = round(row["naive_s"] / row["runner_s"], 2)
        results.append(row)
        print(
            f"x{scale}: runner {row['runner_s']:.1f} s, peak {row['peak_mb']:.0f} MB, load "
            f"{row['load_before']:.1f}->{row['load_after']:.1f}" + ("" if row["ok"] else " FAILED"),
            flush=True,
        )
    _print_table(results)
    bench_dir.mkdir(exist_ok=True)
    (bench_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    by_scale = {r["scale"]: r for r in results}
    verdicts = []
    if 10 in by_scale and 100 in by_scale:
        growth = by_scale[100]["runner_s"] / by_scale[10]["runner_s"]
        per_nb = {
            n: by_scale[100]["notebooks_s"][n] / by_scale[10]["notebooks_s"][n]
            for n in by_scale[100]["notebooks_s"]
            if by_scale[10]["notebooks_s"].get(n)
        }
        print(
            f"x100 / x10 runner time: {growth:.2f} (10 = linear); per notebook: "
            + ", ".join(f"{n.split('_')[0]} {v:.1f}" for n, v in per_nb.items())
        )
    if 100 in by_scale:
        big = by_scale[100]
        met = (
            big["ok"]
            and big["runner_s"] <= TARGET_X100_SECONDS
            and big["peak_mb"] <= TARGET_X100_MB
        )
        verdicts.append(
            f"x100 {'meets' if met else 'MISSES'} the target (no failure, <= "
            f"{TARGET_X100_SECONDS:g} s, <= {TARGET_X100_MB / 1024:g} GB)"
        )
    ratios = [r["ratio"] for r in results if "ratio" in r]
    if ratios:
        worst = min(ratios)
        verdict = "meets" if worst >= TARGET_RATIO else "MISSES"
        verdicts.append(
            f"worst naive/runner ratio {worst:.2f} {verdict} the {TARGET_RATIO}x target"
        )
    print("; ".join(verdicts) + f". Details: {bench_dir / 'results.json'}")
    for r in results:
        if not r["ok"]:
            print(f"x{r['scale']} failed:\n{r['log_tail']}")
    if not args.skip_cytometry:  # FCS gating: events/s/core, Dask vs serial, worker memory
        from helpers.pipeline import bench_cytometry

        bench_cytometry.main(["--out", str(bench_dir / "cytometry"), "--seed", str(args.seed)])
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
