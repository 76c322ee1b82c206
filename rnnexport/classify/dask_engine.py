"""The Dask engine: a plan's input cut into partitions of whole local-engine chunks, each classified on a worker
by the same stages as the local engine, the pieces written in order by the driver into the same output.

The driver reads a CSV once with the local engine's record reader, cutting it into partitions of about
``block_bytes`` at chunk ends (a Parquet file: into row ranges of whole chunks); each worker reads its part (UTF-8
CSV and Parquet at the input's path; transcoded CSV is sent) and runs the per-chunk stages on its cached runtime;
the driver writes the pieces in order. The output is the local engine's (byte for byte for CSV, row for row and
row group for row group for Parquet), and so are the errors.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator

import dask

from ..errors import InputError
from ..io.atomic import check_output_file
from .dask_cluster import dask_client, ordered_results
from .dask_partitions import ParquetPartition, Partition, PartitionResult, classify_partition, input_partitions
from .dask_workers import PLUGIN_PREFIX, ModelPlugin, ModelRef, release_model
from .inputs import opened_input
from .layout import ChunkLayout
from .plan import ClassifyPlan
from .sink import output_sink
from .summary import ClassifySummary, check_counts


def run_dask(plan: ClassifyPlan, on_rows: Callable[[int], None] | None = None) -> ClassifySummary:
    """Classify ``plan.input_path`` into ``plan.output_path`` on Dask (``plan.dask``: a LocalCluster of
    ``workers`` processes, one thread each, when ``scheduler`` is None; an address joins an existing cluster,
    whose workers need rnnexport installed and read access to the input, not to the model; "threads" or "sync"
    run Dask's in-process schedulers). Raises what the local engine raises, and RnnExportError for a cluster
    that cannot be reached or whose workers keep dying."""
    started = time.perf_counter()
    cluster = plan.dask
    with opened_input(plan.input_path, plan.labels, plan.alphabet, plan.options, plan.output_path) as opened:
        check_output_file(plan.output_path)  # before any cluster starts
        summary = ClassifySummary(runtime=plan.runtime_name, column=opened.column, delimiter=opened.delimiter,
                                  output_format=opened.layout.output_format)  # fmt: skip
        # Unique per run, so that a run finishing on a shared cluster never unregisters another run's model.
        plugin = ModelPlugin(cluster.files, f"{PLUGIN_PREFIX}{plan.runtime_name}-{cluster.digest[:16]}-"
                                            f"{uuid.uuid4().hex[:8]}")  # fmt: skip
        with dask_client(cluster.scheduler, cluster.workers) as client:
            local_dir = None if client is not None else str(cluster.model_dir.resolve())
            ref = ModelRef(plan.runtime_name, plugin.name, plan.verify_hash, local_dir)
            tasks = (part if isinstance(part, InputError) else _delayed(part, opened.layout, ref)
                     for part in input_partitions(opened, plan.input_path, cluster.block_bytes,
                                                  plan.options.chunk_rows))  # fmt: skip
            threads = (sum(client.nthreads().values()) if client is not None
                       else cluster.workers or os.cpu_count() or 1)  # fmt: skip
            if client is not None:
                client.register_plugin(plugin, name=plugin.name)
            try:
                # closing(): on failure, cancel the partitions still in flight while the client is still open.
                with contextlib.closing(ordered_results(tasks, client, max(threads, 1), cluster.scheduler)) as results:
                    write_results(results, plan.output_path, opened.layout, opened.header, summary, on_rows)
            finally:
                release_model(client, plugin.name)
    summary.seconds = time.perf_counter() - started
    return summary


def write_results(results: Iterator[PartitionResult], path: str, layout: ChunkLayout, header: bytes,
                  summary: ClassifySummary, on_rows: Callable[[int], None] | None) -> None:  # fmt: skip
    """Count and write partitions in order, into the local engine's output (sink.output_sink)."""
    with output_sink(path, layout, header) as write:
        for result in results:
            _count(result, summary, on_rows)
            for piece in result.pieces:
                write(piece)
        check_counts(summary)


def _count(result: PartitionResult, summary: ClassifySummary, on_rows) -> None:
    counts = result.counts
    summary.add_counts(counts)
    if on_rows is not None:
        on_rows(counts.rows)


def _delayed(partition: Partition | ParquetPartition, layout: ChunkLayout, ref: ModelRef):
    return dask.delayed(classify_partition, pure=False)(partition, layout, ref)
