"""`rnnexport bench` (``make bench``): classify's throughput and baselines (runs that are compared interleaved,
medians of wall and CPU time with the load average: runs.py), issue 21's targets, its peak memory as rows grow
and on issue 20's input shapes (shapes.py), and the Dask engine beside the local one; each figure ``report``-ed
as it is measured, all of them in results.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def run_bench(model_dir: Path, workdir: Path, rows: int, memory: bool, with_dask: bool,
              report: Callable[[str], None]) -> Path:  # fmt: skip
    """Every measurement on ``rows`` names sampled from the data set (or generated ones), ``report``-ed line by
    line; WORKDIR/results.json written last, and its path returned."""
    from ..verification.verify import dataset_names
    from .classify import memory_scaling, run_classify_bench
    from .shapes import shapes, targets

    names, _ = dataset_names()
    results = run_classify_bench(model_dir, workdir, names, rows, report)
    results["targets"] = targets(results, report)
    if memory:
        report("peak memory of classify --runtime onnx (streaming):")
        results["memory"] = memory_scaling(model_dir, workdir, names, report)
        results["shapes"] = shapes(model_dir, workdir, report)
    if with_dask:
        results["dask"] = _bench_dask(model_dir, workdir, report)
    path = workdir / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def _bench_dask(model_dir: Path, workdir: Path, report: Callable[[str], None]) -> list[dict]:
    try:
        from .dask import DASK_BENCH_ROWS, bench_dask
    except ImportError:
        report("dask engine: skipped (pip install 'rnnexport[dask]')")
        return []
    report(f"local engine vs dask on {DASK_BENCH_ROWS:,} rows:")
    measured = bench_dask(DASK_BENCH_ROWS, model_dir, workdir)
    for entry in measured:
        report(f"  {entry}")
    return measured
