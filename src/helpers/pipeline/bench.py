"""Benchmark: the pipeline runner against the naive notebook loop, on the demo and ×10 cohorts.

``make bench`` (or ``python -m helpers.bench``) builds a throw-away workspace per cohort size under
``bench/`` (git-ignored): a copy of ``notebooks/`` and ``params.yaml`` plus a freshly simulated raw
data set. In each workspace it times, in the same run and on the same data:

* **runner**: ``python -m helpers.pipeline`` (one process, papermill API, independent notebooks in
  parallel, HTML rendered in-process, plus ``reports/index.html``);
* **naive baseline**: what most repositories do: for each notebook in sequence one ``papermill``
  CLI process then one ``jupyter nbconvert --to html`` process.

It prints both wall-clock times and their ratio, and writes ``bench/results.json``. Wall-clock times
vary with machine load, so compare the ratio, which is measured under the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from helpers import config
from helpers.config import NOTEBOOK_DAG
from helpers.pipeline.kernels import KERNEL

TARGET_RATIO = 2.5


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--out", type=Path, default=None, help="workspace folder (default bench/)")
    parser.add_argument(
        "--skip-cytometry", action="store_true", help="skip the FCS gating benchmark"
    )
    args = parser.parse_args(argv)
    root = config.repo_root()
    bench_dir = args.out or root / "bench"
    results = []
    print(f"{'cohort':>8} {'runner s':>9} {'naive s':>8} {'ratio':>6}")
    for scale in args.scales:
        workspace = prepare_workspace(root, bench_dir / f"scale_{scale}", scale, args.seed)
        runner = time_runner(workspace)
        naive = time_naive(workspace)
        ratio = naive / runner
        results.append(
            {
                "scale": scale,
                "runner_s": round(runner, 2),
                "naive_s": round(naive, 2),
                "ratio": round(ratio, 2),
                "cores": os.cpu_count(),
            }
        )
        print(f"{'x' + str(scale):>8} {runner:9.1f} {naive:8.1f} {ratio:6.2f}")
    bench_dir.mkdir(exist_ok=True)
    (bench_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    worst = min(r["ratio"] for r in results)
    verdict = "meets" if worst >= TARGET_RATIO else "MISSES"
    print(
        f"Worst ratio {worst:.2f}: {verdict} the {TARGET_RATIO}x target. "
        f"Details: {bench_dir / 'results.json'}"
    )
    if not args.skip_cytometry:  # FCS gating: events/s/core, Dask vs serial, worker memory
        from helpers.pipeline import bench_cytometry

        bench_cytometry.main(["--out", str(bench_dir / "cytometry"), "--seed", str(args.seed)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
