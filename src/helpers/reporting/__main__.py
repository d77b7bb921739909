"""``python -m helpers.reporting``: rebuild ``reports/index.html`` without running any notebook.

Use it after re-running a notebook in JupyterLab: the index then marks that notebook STALE (its
figures or tables no longer match its last pipeline run) and names the command that rebuilds it.
"""

from __future__ import annotations

import datetime as dt
import sys

from helpers import config
from helpers.reporting import report
from helpers.reporting.runs import PipelineResult


def main() -> int:
    root = config.repo_root()
    params = config.load_params(root / config.PARAMS_FILE)
    path = report.write_index(root, params, PipelineResult(), dt.datetime.now(dt.UTC))
    print(f"Report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
