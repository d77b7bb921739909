"""The package layout is the architecture: layers import downwards only, no cycles, no huge modules.

Layers, bottom to top (a module may import its own layer and any layer below it):

0. base: ``config``, ``io``, ``checks``, ``results``, ``watermark``
1. ``endpoints``, ``cytometry``: generic clinical-trial / flow-cytometry tools; they know neither
   trial
2. ``plots``: figure families (generic)
3. ``her2_ctc``, ``everolimus_nk``: each trial's analysis glue (they never import each other)
4. ``data``: contract, validation, derivation, simulator
5. ``reporting``
6. ``pipeline``

``docs/architecture.md`` shows the same map; the test below also checks that it names every room.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "helpers"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
MAX_LINES = 1200

LAYER = {
    "config": 0,
    "io": 0,
    "checks": 0,
    "results": 0,
    "watermark": 0,
    "endpoints": 1,
    "cytometry": 1,
    "plots": 2,
    "her2_ctc": 3,
    "everolimus_nk": 3,
    "data": 4,
    "simulate": 4,  # the command-line shortcut to helpers.data.simulate
    "reporting": 5,
    "pipeline": 6,
}
TRIALS = {"her2_ctc", "everolimus_nk"}


def _room(module: str) -> str:
    """First component after ``helpers`` (``helpers.endpoints.stats.paired`` -> ``endpoints``)."""
    return module.split(".")[1]


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every ``helpers...`` module imported anywhere in the file (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("helpers.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "helpers":
                found |= {f"helpers.{a.name}" for a in node.names}
            elif node.module.startswith("helpers."):
                found.add(node.module)
    return found


MODULES = _modules()


def test_every_room_has_a_layer():
    rooms = {_room(m) for m in MODULES if m != "helpers"}
    assert rooms <= set(LAYER), f"rooms without a layer: {sorted(rooms - set(LAYER))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "helpers"))
def test_imports_point_down(module):
    room = _room(module)
    for target in _imports(MODULES[module]):
        other = _room(target)
        assert LAYER[other] <= LAYER[room], f"{module} imports {target}: {other} is above {room}"
        if room in TRIALS and other in TRIALS:
            assert other == room, f"{module} (trial {room}) imports the other trial: {target}"


def test_no_import_cycles_between_modules():
    graph = {m: {t for t in _imports(p) if t in MODULES} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if nxt.startswith(node + "."):
                continue  # a package re-exporting its own submodules
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_the_size_a_reader_holds(module):
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines (> {MAX_LINES}): split it by what it does"


def test_architecture_doc_names_every_room():
    text = DOC.read_text(encoding="utf-8")
    rooms = {m for m in MODULES if m.count(".") == 1}
    missing = [m for m in sorted(rooms) if f"`{m.removeprefix('helpers.')}" not in text]
    assert not missing, f"docs/architecture.md does not name: {missing}"
