"""`rnnexport bench` (``make bench``): classify's throughput and baselines (runs that are compared interleaved,
medians of wall and CPU time with the load average: runs.py), issue 21's targets, its peak memory as rows grow
and on issue 20's input shapes (shapes.py), and the Dask engine beside the local one; each figure ``report``-ed
as it is measured, all of them in results.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

# `rnnexport bench --help` and `rnnexport bench-train --help` (cli/bench.py), and their options' help by name.
BENCH_HELP = """Measure classify end to end against the seed loop, torch.nn.RNN and the GEMM ceiling.

\b
Prints each figure as it is measured and writes WORKDIR/results.json. Takes a few minutes.
Example:
  rnnexport bench --rows 1000000
"""
BENCH_TRAIN_HELP = """The default and sgd recipes under 10-fold cross-validation beside the seed recipe on fold 0.

\b
Checks the model-quality targets (accuracy, balanced accuracy, ECE, lower/UPPER case, time) on the default recipe and
writes bench/train.json. Takes as long as its 20 folds one after the other (each prints its time). Example:
  rnnexport bench-train
"""
OPTION_HELP = {
    "rows": "Names in the generated CSV (sampled from the data set with a fixed seed).",
    "workdir": "Where the generated CSVs and results.json go.",
    "memory": "Also compare peak RSS at 1M and 5M rows, and time and peak RSS on issue 20's input shapes.",
    "with_dask": "Also time the dask engine on 2M rows (needs rnnexport[dask]).",
    "names_dir": "Names folder [default: data/names, else $RNNEXPORT_NAMES_DIR].",
}


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
