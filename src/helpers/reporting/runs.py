"""Records of a pipeline run (one per notebook), produced by the runner and read by the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class NotebookRun:
    """Outcome of one notebook in a pipeline run."""

    name: str
    status: str = "pending"  # pending | ok | failed | skipped
    seconds: float = 0.0
    error: str = ""
    output: Path | None = None
    html: Path | None = None


@dataclass
class PipelineResult:
    """Outcome of a whole pipeline run."""

    runs: dict[str, NotebookRun] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.runs.values())
