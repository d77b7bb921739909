"""Records of a pipeline run (one per notebook), produced by the runner and read by the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Status of a notebook not run because its trial or an indispensable table was not supplied.
NOT_SUPPLIED = "not supplied"


@dataclass
class NotebookRun:
    """Outcome of one notebook in a pipeline run."""

    name: str
    status: str = "pending"  # pending | ok | failed | skipped | not supplied (input absent)
    seconds: float = 0.0
    error: str = ""
    output: Path | None = None
    html: Path | None = None
    # the values injected into the notebook
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """Outcome of a whole pipeline run."""

    runs: dict[str, NotebookRun] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", NOT_SUPPLIED) for r in self.runs.values())


#: Folder of ``reports/`` holding one run record per notebook.
RUNS_DIR = "runs"


def output_folders(notebook: str, figures_dir: Path, tables_dir: Path) -> dict[str, Path]:
    """The folders a notebook writes its figures and tables to."""
    return {"figures": Path(figures_dir) / notebook, "tables": Path(tables_dir) / notebook}


def record_run(
    run: NotebookRun,
    parameters: dict,
    figures_dir: Path,
    tables_dir: Path,
    reports: Path,
    run_id: str,
) -> Path:
    """Write ``reports/runs/<notebook>.json``: the sidecar of every figure and table of a run.

    It records the run (id, status, seconds, error), the parameters the notebook ran with and the
    SHA-256 of every file in its figure and table folders, so the index can tell whether the
    outputs on disk are still those of this run (see :func:`changed_outputs`).
    """
    from helpers import io

    record = {
        "notebook": run.name,
        "run_id": run_id,
        "status": run.status,
        "seconds": round(run.seconds, 1),
        "error": run.error,
        "parameters": parameters,
        "outputs": io.hash_outputs(output_folders(run.name, figures_dir, tables_dir)),
    }
    return io.write_json(record, Path(reports) / RUNS_DIR / f"{run.name}.json")


def load_run_record(reports: Path, notebook: str) -> dict | None:
    """The last run record of a notebook (``None`` if it never ran through the pipeline)."""
    from helpers import io

    return io.read_json(Path(reports) / RUNS_DIR / f"{notebook}.json")


def changed_outputs(record: dict, figures_dir: Path, tables_dir: Path) -> list[str]:
    """Outputs added, changed or removed since the run ``record`` was written (sorted)."""
    from helpers import io

    now = io.hash_outputs(output_folders(record["notebook"], figures_dir, tables_dir))
    then = record.get("outputs", {})
    return sorted(k for k in set(now) | set(then) if now.get(k) != then.get(k))
