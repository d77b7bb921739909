"""Every registry outcome measure maps to tables/figures that its notebook really saves.

The mapping lives in README.md ("Outcome measures → outputs"). This test reads the registry texts
from ``../shared/seeds/`` (beside the repository, as in CI), takes each outcome's title (primary:
line 5; secondary: line 6, ``|``-separated, title = text before the first comma) and checks it is
in the mapping; then checks that every table/figure name in the mapping appears as a string
literal in the code of the notebook named in its row (notebooks pass literal names to
``io.save_table``/``io.save_figure``), so a renamed or dropped output fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAPPING = README[README.index("## Outcome measures → outputs") :]


def _rows() -> list[list[str]]:
    rows = []
    for line in MAPPING.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and not set(cells[0]) <= {"-"} and cells[1] != "Notebook":
            rows.append(cells)
    return rows


def _registry_titles() -> list[str]:
    titles = []
    for path in sorted(SEEDS.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        titles.append(lines[4].split(",")[0].strip())
        titles += [part.split(",")[0].strip() for part in lines[5].split("|")]
    return titles


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


@pytest.mark.skipif(not SEEDS.is_dir(), reason="registry texts not found beside the repository")
def test_every_registry_outcome_measure_is_in_the_readme_mapping():
    mapped = " ".join(_normalise(row[0]) for row in _rows())
    titles = _registry_titles()
    assert len(titles) == 17  # 10 HER2-CTC + 7 everolimus outcome measures
    missing = [t for t in titles if _normalise(t) not in mapped]
    assert not missing, f"registry outcomes without a mapped output: {missing}"


def _saved_names(notebook: str) -> set[str]:
    nb = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return set(re.findall(r'"([a-z0-9_]+)"', code))


@pytest.mark.parametrize("row", _rows(), ids=lambda r: r[0][:40])
def test_every_mapped_table_and_figure_is_saved_by_its_notebook(row):
    outcome, notebooks, tables, figures = row
    saved = set().union(*(_saved_names(n.strip()) for n in notebooks.split(",")))
    names = re.findall(r"`([a-z0-9_]+)`", tables + figures)
    assert names, f"{outcome}: no outputs listed"
    unknown = [n for n in names if n not in saved]
    assert not unknown, f"{outcome}: {unknown} are not saved by {notebooks}"
