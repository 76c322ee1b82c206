"""The dask engine's benchmark: the local engine, Dask's threaded scheduler and a LocalCluster on one file."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import dask

from ..classify.dask_cluster import dask_client
from ..classify.options import ClassifyOptions
from ..classify.pipeline import classify_dask, classify_local
from ..classify.plan import block_bytes
from ..classify.summary import ClassifySummary
from ..runtimes.registry import open_runtime
from ..verification.verify import default_names
from .classify import sample_names_csv

DASK_BENCH_ROWS = 2_000_000


def bench_names(rows: int, path: Path) -> str:
    """Write ``rows`` names drawn from the data set (or generated ones) to ``path``; return their source."""
    names, source = default_names()
    sample_names_csv(names, rows, path)
    return source


def _bench_row(engine: str, summary: ClassifySummary, **details) -> dict:
    return {
        "engine": engine, "rows": summary.rows, "seconds": round(summary.seconds, 3),
        "rows_per_second": round(summary.names_per_second, 1), **details,
    }  # fmt: skip


def bench_dask(rows: int, model_dir: Path, workdir: Path, blocksize: str | int | None = None) -> list[dict]:
    """rows/s of the local engine, Dask's threaded scheduler and a LocalCluster on the same generated CSV (onnx).

    ``blocksize`` None gives about four partitions per core, so that Dask has work to spread
    (the CLI's 16MB default would give a 2,000,000-row file only two partitions).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    input_path = workdir / "bench_names.csv"
    source = bench_names(rows, input_path)
    cores = os.cpu_count() or 1
    size = input_path.stat().st_size
    blocksize = blocksize or max(64 * 1024, size // (4 * cores) + 1)
    common = {"names": source, "input_bytes": size}
    options = ClassifyOptions()
    runtime = open_runtime("onnx", model_dir, threads=cores)
    local = classify_local(str(input_path), str(workdir / "local.csv"), runtime, options)
    results = [_bench_row("local", local, threads=cores, **common)]
    partitions = math.ceil(size / block_bytes(blocksize))
    dask_details = {"workers": cores, "blocksize": block_bytes(blocksize), "partitions": partitions, **common}
    with dask.config.set(scheduler="threads"):
        threaded = classify_dask(
            str(input_path), str(workdir / "dask_threads.csv"), options, model_dir=model_dir, scheduler="threads",
            blocksize=blocksize, workers=cores,
        )  # fmt: skip
    results.append(_bench_row("dask-threads", threaded, **dask_details))
    started = time.perf_counter()
    with dask_client(None, cores) as client:
        startup = time.perf_counter() - started
        clustered = classify_dask(
            str(input_path), str(workdir / "dask_cluster.csv"), options, model_dir=model_dir,
            scheduler=client.scheduler.address, blocksize=blocksize,
        )  # fmt: skip
    results.append(_bench_row("dask-localcluster", clustered, cluster_start_seconds=round(startup, 3), **dask_details))
    return results
