"""Makefile logic for JupyterLab and conda users, checked with `make -n` (nothing is executed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def _dry_run(*targets: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONDA")}
    out = subprocess.run(
        ["make", "-n", "-B", *targets],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_activated_conda_env_is_used_instead_of_a_second_venv():
    text = _dry_run("setup", CONDA_PREFIX="/opt/envs/mbc-trials", CONDA_DEFAULT_ENV="mbc-trials")
    assert "/opt/envs/mbc-trials/bin/python -m pip install" in text
    assert ".venv/bin/python -m pip" not in text
    assert 'if [ -n "/opt/envs/mbc-trials" ]' in text  # no venv is created


def test_conda_base_or_no_conda_builds_venv_and_registers_the_kernel():
    for env in ({}, {"CONDA_PREFIX": "/opt/conda", "CONDA_DEFAULT_ENV": "base"}):
        text = _dry_run("setup", **env)
        assert ".venv/bin/python -m pip install" in text
        assert "ipykernel install --user --name mbc-trials" in text


def test_lab_allows_root_only_for_root():
    text = _dry_run("lab")
    assert ("--allow-root" in text) == (os.geteuid() == 0)


def test_pre_commit_hooks_are_not_tied_to_venv_paths():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [h["entry"] for repo in config["repos"] for h in repo["hooks"]]
    assert not any(".venv" in e for e in entries)
    assert os.access(ROOT / ".ci" / "tool", os.X_OK)
