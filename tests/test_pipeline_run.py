"""The whole pipeline on the demo cohort: reused kernels write exactly what fresh kernels write."""

from __future__ import annotations

from pathlib import Path

from helpers import config
from helpers.pipeline import runner as pipeline


def _run(raw_dir: Path, out: Path, fresh: bool) -> dict[str, bytes]:
    params = config.load_params()
    params["shared"].update(
        raw_dir=str(raw_dir),
        processed_dir=str(out / "processed"),
        figures_dir=str(out / "figures"),
        tables_dir=str(out / "tables"),
    )
    result = pipeline.run_pipeline(
        config.repo_root(),
        params,
        list(pipeline.NOTEBOOK_DAG),
        jobs=2,
        log=lambda _: None,
        fresh_kernels=fresh,
        reports_dir=out / "reports",
    )
    assert result.ok, {name: run.error for name, run in result.runs.items() if run.error}
    return {
        str(path.relative_to(out)): path.read_bytes()
        for sub in ("processed", "figures", "tables")
        for path in sorted((out / sub).rglob("*"))
        if path.is_file()
    }


def test_reused_kernels_write_byte_identical_outputs_to_fresh_kernels(demo_raw_dir, tmp_path):
    reused = _run(demo_raw_dir, tmp_path / "reused", fresh=False)
    fresh = _run(demo_raw_dir, tmp_path / "fresh", fresh=True)
    assert len(reused) > 100  # datasets, tables, and PNG + SVG + caption of every figure
    assert sorted(reused) == sorted(fresh)
    differing = [name for name in reused if reused[name] != fresh[name]]
    assert differing == []
