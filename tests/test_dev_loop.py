"""The everyday `make test` stays fast and quiet; CI keeps measuring coverage (`make coverage`).

Read from the Makefile's text (running make here would re-install the environment).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, flags=re.MULTILINE)
    assert match, f"no {target} target in the Makefile"
    return match.group(1)


def test_make_test_runs_without_coverage_instrumentation_and_ci_measures_it():
    assert "pytest" in _recipe("test")
    assert "--cov" not in _recipe("test")
    assert "--cov=helpers" in _recipe("coverage")
    assert "make coverage" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_kernel_socket_warnings_are_filtered_precisely():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "ignore:unclosed <socket.socket fd=:ResourceWarning" in text
    assert "ignore::ResourceWarning" not in text  # not every resource warning
