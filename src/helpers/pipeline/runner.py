"""Run the analysis notebooks in dependency order and build the report.

Usage (from the repository root; ``make report`` does this for you)::

    python -m helpers.pipeline  # every notebook, parameters from params.yaml
    python -m helpers.pipeline --only 02_tdm1_response  # one notebook; prerequisites must exist
    python -m helpers.pipeline --set cutoff_date=2026-03-31 --set ci_level=0.9
    python -m helpers.pipeline --set 02_tdm1_response.simon_p1=0.30  # or simon_p1=0.30
    python -m helpers.pipeline --params-file my_overrides.yaml
    python -m helpers.pipeline --set simon_p1=0.30 --show-params  # what each notebook gets

Notebooks run through papermill's Python API (kernel ``python3``, working directory = repository
root) in one process; those that do not depend on each other run in parallel, at most one per core.
Each worker keeps one kernel and resets it between notebooks (:mod:`helpers.pipeline.kernels`);
``--fresh-kernels`` starts a new kernel for every notebook instead (slower, same outputs).
A failing cell stops that branch: the partial executed notebook is kept in ``reports/`` and the run
exits non-zero after printing notebook, cell and error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml

from helpers import config
from helpers.config import NOTEBOOK_DAG
from helpers.reporting import runs
from helpers.reporting.runs import NOT_SUPPLIED, NotebookRun, PipelineResult


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` pairs; values are YAML scalars, dates stay ISO strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}.")
        value = yaml.safe_load(raw)
        # YAML turns 2026-03-31 into a date; parameters carry ISO strings.
        out[key.strip()] = value.isoformat() if isinstance(value, dt.date) else value
    return out


def select_notebooks(only: list[str] | None, dag: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Notebooks to run, in a valid order; ``only`` runs just those (prerequisites not re-run)."""
    if not only:
        return list(dag)
    unknown = sorted(set(only) - set(dag))
    if unknown:
        raise ValueError(f"Unknown notebook(s) {unknown}; choose from {sorted(dag)}.")
    return [name for name in dag if name in only]


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell (papermill ignores anything else)."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def _warm_imports() -> None:
    """Import the HTML exporter while data preparation runs (about 0.5 s off the first render)."""
    from nbconvert import HTMLExporter  # noqa: F401


def execute_notebook(
    name: str,
    root: Path,
    reports: Path,
    params: dict[str, Any],
    pool: Any = None,
) -> NotebookRun:
    """Execute one notebook with papermill; the executed copy goes to ``reports``.

    With a :class:`helpers.pipeline.kernels.KernelPool` the notebook runs on one of its kernels
    (reset
    afterwards); without, on a new kernel of its own, stopped afterwards. A failing cell still
    writes the executed notebook, up to and including that cell.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from helpers.pipeline import kernels

    source = root / "notebooks" / f"{name}.ipynb"
    run = NotebookRun(name, output=reports / f"{name}.ipynb", html=reports / f"{name}.html")
    injected = {k: v for k, v in params.items() if k in declared_parameters(source)}
    run.parameters = injected
    start = time.perf_counter()
    try:
        with pool.kernel() if pool else kernels.fresh_kernel(root) as km:
            papermill.execute_notebook(
                str(source),
                str(run.output),
                parameters=injected,
                kernel_name=kernels.KERNEL,
                cwd=str(root),
                progress_bar=False,
                log_output=False,
                # Written once at the end or at the failing cell: saving after every cell
                # re-serialised each notebook ~150 times, 2.7 s of CPU per run.
                request_save_on_cell_execute=False,
                engine_name=kernels.ENGINE,
                km=km,
            )
        run.status = "ok"
    except PapermillExecutionError as exc:
        run.status = "failed"
        run.error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # one branch's failure (e.g. kernel died) must not kill the others
        run.status = "failed"
        run.error = f"{type(exc).__name__}: {exc}"
    run.seconds = time.perf_counter() - start
    return run


def render_html(
    run: NotebookRun, synthetic: bool, outputs: Mapping[str, Path] | None = None
) -> None:
    """Write the code-free HTML of an executed notebook (``run.html``); ``None`` if none exists.

    With ``outputs`` (figure and table folders), also prepare what the index needs of a notebook
    that ran well (figure copies, workbook, RTF), while the other notebooks still run.
    """
    from helpers.reporting import report

    if run.output is None or not run.output.is_file():
        run.html = None
        return
    run.html.write_text(report.render_notebook_html(run.output, synthetic), encoding="utf-8")
    if outputs and run.status == "ok":
        report.prepare_notebook_outputs(
            run.name, outputs["figures_dir"], outputs["tables_dir"], run.html.parent, synthetic
        )


def run_pipeline(
    root: Path,
    params: dict[str, Any],
    notebooks: list[str],
    jobs: int,
    log: Callable[[str], None] = print,
    dag: Mapping[str, tuple[str, ...]] = NOTEBOOK_DAG,
    fresh_kernels: bool = False,
    reports_dir: Path | None = None,
) -> PipelineResult:
    """Run ``notebooks`` respecting ``dag``; independent ones in parallel (``jobs`` at a time).

    Each of the ``jobs`` workers reuses one kernel, reset between notebooks; with
    ``fresh_kernels`` every notebook gets a new kernel. Ready notebooks start longest first (by
    the previous run's times). Executed notebooks and their HTML go to ``reports_dir`` (default
    ``<root>/reports``).
    """
    from helpers.reporting import report

    reports = Path(reports_dir) if reports_dir else root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    raw_dir = config.resolve_path(params["shared"]["raw_dir"], root)
    synthetic = {n: report.is_synthetic_notebook(raw_dir, n) for n in notebooks}
    # where the notebooks write figures and tables (the run record hashes them)
    default_dirs = {"figures_dir": "figures", "tables_dir": "reports/tables"}
    shared = params["shared"]
    outputs = {k: config.resolve_path(shared.get(k, v), root) for k, v in default_dirs.items()}
    run_id = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = PipelineResult({n: NotebookRun(n) for n in notebooks})
    start = time.perf_counter()
    notebooks = _skip_unsupplied(root, params, notebooks, result, log)
    pool, pooled = _kernel_pool(root, notebooks, dag, jobs, fresh_kernels)
    threading.Thread(target=_warm_imports, daemon=True).start()
    expected = previous_durations(reports, notebooks)
    pending = sorted(notebooks, key=lambda n: -expected.get(n, float("inf")))
    futures: dict[Future[NotebookRun], str] = {}
    renders: dict[Future[None], str] = {}
    # HTML is rendered on a thread of its own so that dependants start as soon as a notebook's
    # kernel is done (rendering a long QC listing takes seconds on a large cohort).
    renderer = ThreadPoolExecutor(max_workers=1)
    with pool or nullcontext(), ThreadPoolExecutor(max_workers=jobs) as workers, renderer:
        while pending or futures:
            for name in list(pending):
                state = _readiness(name, dag, result)
                if state == "blocked":
                    pending.remove(name)
                    result.runs[name].status = "skipped"
                    log(f"  skip  {name} (a prerequisite failed)")
                elif state == "ready" and len(futures) < jobs:
                    pending.remove(name)
                    log(f"  start {name}")
                    nb_params = config.notebook_params(params, name)
                    nb_pool = pool if name in pooled else None
                    fut = workers.submit(execute_notebook, name, root, reports, nb_params, nb_pool)
                    futures[fut] = name
            if not futures:
                break
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in done:
                run = result.runs[futures.pop(fut)] = fut.result()
                # the sidecar of the run's figures and tables (parameters, run, file hashes)
                runs.record_run(run, run.parameters, *outputs.values(), reports, run_id)
                renders[renderer.submit(render_html, run, synthetic[run.name], outputs)] = run.name
                _log_outcome(run, log)
        _collect_renders(renders, result, log)
    result.seconds = time.perf_counter() - start
    return result


def unsupplied_inputs(raw_dir: Path, notebooks: list[str]) -> dict[str, str]:
    """Notebooks whose trial folder, or an optional table they cannot do without
    (:data:`helpers.config.NOTEBOOK_TRIALS`, :data:`helpers.config.NOTEBOOK_REQUIRED_TABLES`), is
    absent from ``raw_dir``: name -> reason. Notebooks that read both trials are never skipped."""
    from helpers import io

    out = {}
    for name in notebooks:
        trials = config.NOTEBOOK_TRIALS.get(name, ())
        if len(trials) != 1:
            continue
        trial, tables = trials[0], config.NOTEBOOK_REQUIRED_TABLES.get(name, ())
        if not (Path(raw_dir) / trial).is_dir():
            out[name] = f"trial {trial} not supplied (no folder {trial}/ in the raw data)"
            continue
        missing = [t for t in tables if not io.table_supplied(Path(raw_dir), trial, t)]
        if missing:
            out[name] = f"not available: table {', '.join(missing)} not supplied ({trial})"
    return out


def _skip_unsupplied(
    root: Path,
    params: dict[str, Any],
    notebooks: list[str],
    result: PipelineResult,
    log: Callable[[str], None],
) -> list[str]:
    """Mark the notebooks without their input "not supplied", write their results summary (one
    row saying why) and return the others."""
    import pandas as pd

    from helpers import io, results

    shared = params["shared"]
    if "raw_dir" not in shared:
        return notebooks
    skipped = unsupplied_inputs(config.resolve_path(shared["raw_dir"], root), notebooks)
    tables = config.resolve_path(shared.get("tables_dir", "reports/tables"), root)
    for name, reason in skipped.items():
        result.runs[name].status = NOT_SUPPLIED
        result.runs[name].error = reason
        log(f"  skip  {name}: {reason}")
        row = {"outcome": f"{name}: not run", "parameter": "every outcome", "note": reason}
        summary = pd.DataFrame([row], columns=list(results.SUMMARY_COLUMNS))
        io.save_table(summary, name, "results_summary", tables)
    return [name for name in notebooks if name not in skipped]


def _kernel_pool(
    root: Path,
    notebooks: list[str],
    dag: Mapping[str, tuple[str, ...]],
    jobs: int,
    fresh_kernels: bool,
) -> tuple[Any, list[str]]:
    """The pool of reused kernels (``None`` with fresh kernels) and the notebooks that use it.

    Notebooks without prerequisites start at once in a kernel of their own; the pool's kernels
    warm up meanwhile for the notebooks that wait on them.
    """
    from helpers.pipeline import kernels

    pooled = [name for name in notebooks if dag[name]]
    if fresh_kernels or not pooled:
        return None, []
    return kernels.KernelPool(min(jobs, len(pooled)), root), pooled


def _readiness(name: str, dag: Mapping[str, tuple[str, ...]], result: PipelineResult) -> str:
    """``"ready"``, ``"blocked"`` (a prerequisite failed or was skipped) or ``"waiting"``."""
    states = [result.runs[d].status for d in dag[name] if d in result.runs]
    if any(s in {"failed", "skipped"} for s in states):
        return "blocked"
    return "ready" if all(s == "ok" for s in states) else "waiting"


def _log_outcome(run: NotebookRun, log: Callable[[str], None]) -> None:
    if run.status == "ok":
        log(f"  done  {run.name} in {run.seconds:.1f} s")
    else:
        log(f"  FAIL  {run.name}: {run.error}")
        if run.output is not None and run.output.is_file():
            log(f"        partial notebook kept for inspection: {run.output}")
        else:
            log("        no executed notebook was written (the kernel stopped before a cell ended)")


def _collect_renders(
    renders: Mapping[Future[None], str], result: PipelineResult, log: Callable[[str], None]
) -> None:
    """Wait for the HTML renderings; a failed one is reported, the notebook's status stands."""
    for fut, name in renders.items():
        error = fut.exception()
        if error is not None:
            result.runs[name].html = None
            log(f"  HTML  {name} could not be rendered: {type(error).__name__}: {error}")


def previous_durations(reports: Path, notebooks: list[str]) -> dict[str, float]:
    """Seconds each notebook took in the last run (papermill metadata of ``reports/<name>.ipynb``).

    Notebooks never run, or whose executed copy cannot be read, are left out.
    """
    import json

    out = {}
    for name in notebooks:
        path = reports / f"{name}.ipynb"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]["papermill"]
            out[name] = float(meta["duration"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def default_jobs() -> int:
    """One notebook per core: kernels are CPU-bound, more would only contend."""
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.pipeline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--params", type=Path, default=None, help="parameters YAML (default params.yaml)"
    )
    parser.add_argument(
        "--params-file",
        type=Path,
        action="append",
        default=[],
        help="YAML mapping of overrides: key: value, section.key: value or section: {key: value}"
        " (applied after --params; repeatable)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter: --set cutoff_date=2026-03-31, --set simon_p1=0.3 (a key in"
        " one section) or --set 02_tdm1_response.simon_p1=0.3 (repeatable)",
    )
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="notebooks run at once")
    parser.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="start a new kernel for every notebook instead of resetting one kernel per worker",
    )
    parser.add_argument("--no-index", action="store_true", help="skip reports/index.html")
    parser.add_argument(
        "--show-params",
        action="store_true",
        help="print each notebook's effective parameters (overrides marked) and exit",
    )
    return parser


def _params_file_overrides(path: Path) -> dict[str, Any]:
    """A ``--params-file`` as ``key: value`` overrides.

    The file is a YAML mapping of ``key: value`` (bare or ``section.key``), of sections
    (``02_tdm1_response: {simon_p1: 0.3}``, ``shared: {...}``), or shaped like params.yaml
    (``shared:`` and ``notebooks:``). Values keep their YAML types; dates become ISO text.
    """
    try:
        extra = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"--params-file {path}: cannot be read as YAML ({err}).") from None
    if not isinstance(extra, dict):
        raise ValueError(f"{path} must be a YAML mapping of parameter: value.")
    flat: dict[str, Any] = {}
    for key, value in extra.items():
        key = str(key)
        if key == "notebooks" and isinstance(value, dict):
            for nb, section in value.items():
                flat.update({f"{nb}.{k}": v for k, v in (section or {}).items()})
        elif isinstance(value, dict) and (key == "shared" or key in NOTEBOOK_DAG):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in flat.items()}


def load_run_params(
    args: argparse.Namespace, root: Path
) -> tuple[dict[str, Any], list[config.Override]]:
    """params.yaml, then --params-file mappings, then --set pairs (later wins).

    Each key goes to the section that holds it (:func:`helpers.config.apply_overrides`): a
    notebook-specific key reaches its notebook; unknown, misspelt or ambiguous keys are errors.
    Returns the parameters and the list of what was overridden.
    """
    params = config.load_params(args.params or root / config.PARAMS_FILE)
    overrides: dict[str, Any] = {}
    for path in args.params_file:
        overrides.update(_params_file_overrides(path))
    overrides.update(parse_overrides(args.overrides))
    return config.apply_overrides(params, overrides)


def effective_parameters(root: Path, params: dict[str, Any], notebook: str) -> dict[str, Any]:
    """What the notebook receives: shared + its section, restricted to its parameters cell."""
    declared = declared_parameters(root / "notebooks" / f"{notebook}.ipynb")
    return {k: v for k, v in config.notebook_params(params, notebook).items() if k in declared}


def format_parameters(
    root: Path, params: dict[str, Any], notebooks: list[str], applied: list[config.Override]
) -> str:
    """Text listing, per notebook, the effective parameters; overridden ones are marked."""
    lines = []
    for name in notebooks:
        changed = {o.key: o for o in applied if o.section in ("shared", name)}
        lines.append(f"{name}:")
        for key, value in effective_parameters(root, params, name).items():
            mark = (
                f"   (overridden; params.yaml: {changed[key].default!r})" if key in changed else ""
            )
            lines.append(f"  {key} = {value!r}{mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = config.repo_root()
    try:
        params, applied = load_run_params(args, root)
        notebooks = select_notebooks(args.only, NOTEBOOK_DAG)
    except ValueError as err:
        parser.error(str(err))  # exits with status 2 and the message, before anything runs
    if args.show_params:
        print(format_parameters(root, params, notebooks, applied))
        return 0
    started = dt.datetime.now(dt.UTC)
    print(f"Running {len(notebooks)} notebook(s), {args.jobs} at a time, in {root}")
    for o in applied:
        print(f"  parameter {o.section}.{o.key} = {o.value!r} (params.yaml: {o.default!r})")
    result = run_pipeline(
        root, params, notebooks, max(1, args.jobs), fresh_kernels=args.fresh_kernels
    )
    if not args.no_index:
        from helpers.reporting import report

        index = report.write_index(root, params, result, started, overrides=applied)
        print(f"Report: {index}")
    print(
        f"Finished in {result.seconds:.1f} s: "
        + ", ".join(f"{n} {r.status}" for n, r in result.runs.items())
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
