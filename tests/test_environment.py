"""pyproject.toml is the one source of dependencies; the lock and environment.yml follow it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(r) for r in reqs]


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = Version(version.strip())
    return pins


def test_every_pyproject_dependency_is_pinned_in_constraints_within_its_range():
    pins = _pins()
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{req.name} is in pyproject.toml but not pinned in constraints.txt"
        assert pins[name] in req.specifier, f"{req.name}=={pins[name]} violates {req.specifier}"


def test_pandas_is_pinned_below_3_for_lifelines():
    assert _pins()["pandas"] < Version("3")


def test_environment_yml_installs_the_package_with_the_same_constraints_and_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip_section == ["-c constraints.txt", "-e .[dev]"], (
        "environment.yml must install the package from pyproject.toml with constraints.txt; "
        "list dependencies in pyproject.toml only"
    )
    requires = _pyproject()["project"]["requires-python"]
    assert Version("3.11") in SpecifierSet(requires)


def test_installed_versions_match_constraints():
    from importlib import metadata

    pins = _pins()
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        assert Version(metadata.version(req.name)) == pins[name], (
            f"installed {req.name} differs from constraints.txt: run `make setup`"
        )
