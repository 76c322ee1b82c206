"""The Dask engine: CSV partitions classified on a cluster, one model runtime per worker process, ordered output."""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.utils import parse_bytes
from distributed import Client, LocalCluster, WorkerPlugin, get_worker

from .classify import ClassifyOptions, ClassifySummary, choose_column, classify_csv, classify_frame, read_chunks
from .csvio import atomic_output, open_input
from .errors import ArtifactError, InputError, RnnExportError
from .manifest import (
    CHECKPOINT_FILE,
    MANIFEST_NAME,
    ONNX_SEQUENCE_FILE,
    TORCHSCRIPT_FILE,
    checked_artifact,
    read_manifest,
)
from .runtimes import Runtime, open_runtime

ARTIFACTS = {"onnx": ONNX_SEQUENCE_FILE, "torchscript": TORCHSCRIPT_FILE, "torch": CHECKPOINT_FILE}
IN_PROCESS_SCHEDULERS = ("threads", "synchronous", "sync")
OUTPUT_FORMATS = ("csv", "parquet")
PLUGIN_PREFIX = "rnnexport-model-"


# --- the model on the workers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """What a task needs to find its worker's runtime: a few strings, never the model or its session."""

    runtime: str
    plugin_name: str
    verify_hash: bool
    local_dir: str | None = None  # in-process schedulers load straight from the driver's model folder


class ModelPlugin(WorkerPlugin):
    """Carries the artifact's bytes to every worker (restarted ones too) and writes them to its local folder."""

    def __init__(self, files: dict[str, bytes], name: str):
        self.files = files
        self.name = name

    def setup(self, worker) -> None:
        self.folder(worker)

    def folder(self, worker) -> Path:
        """The worker-local model folder, written on first use (idempotent; each file appears whole)."""
        folder = Path(worker.local_directory) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, data in self.files.items():
            target = folder / file_name
            if not target.is_file() or target.stat().st_size != len(data):
                partial = folder / f".{file_name}.{os.getpid()}.partial"
                partial.write_bytes(data)
                partial.replace(target)
        return folder

    def teardown(self, worker) -> None:
        folder = Path(worker.local_directory) / self.name
        with _CACHE_LOCK:
            _RUNTIMES.pop(str(folder), None)
        shutil.rmtree(folder, ignore_errors=True)


_RUNTIMES: dict[str, Runtime] = {}
_CACHE_LOCK = threading.Lock()


def worker_runtime(ref: ModelRef) -> Runtime:
    """This process's runtime for ``ref``, created on first use and kept (one session per worker process)."""
    if ref.local_dir is not None:
        folder = Path(ref.local_dir)
    else:
        worker = get_worker()
        plugin = worker.plugins.get(ref.plugin_name)
        if plugin is None:
            raise RuntimeError(f"worker {worker.address} lacks the {ref.plugin_name} plugin that carries the model")
        folder = plugin.folder(worker)
    with _CACHE_LOCK:
        runtime = _RUNTIMES.get(str(folder))
        if runtime is None:
            # One thread per session: the cluster's parallelism comes from worker processes (or scheduler threads).
            runtime = open_runtime(ref.runtime, folder, ref.verify_hash, threads=1)
            _RUNTIMES[str(folder)] = runtime
    return runtime


def classify_partition(frame: pd.DataFrame, column: str, ref: ModelRef, options: ClassifyOptions) -> pd.DataFrame:
    """One partition through the local engine's classify_frame, on this worker's cached runtime."""
    return classify_frame(frame, column, worker_runtime(ref), options, None, ClassifySummary())


def model_files(model_dir: Path, runtime: str, verify_hash: bool) -> tuple[dict[str, bytes], str]:
    """The artifact (checked against the manifest here, on the driver) and manifest.json, as bytes."""
    if runtime not in ARTIFACTS:
        raise InputError(f"unknown runtime {runtime!r} for --engine dask; choose one of {', '.join(ARTIFACTS)}")
    artifact = ARTIFACTS[runtime]
    path = checked_artifact(model_dir, artifact, verify_hash)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if verify_hash and digest != read_manifest(model_dir)["artifacts"][artifact]["sha256"]:
        # The file changed between the check and the read (a re-export in progress): ship nothing half-new.
        raise ArtifactError(f"{path} changed while it was read; run again once the export has finished")
    files = {artifact: data}
    manifest = Path(model_dir) / MANIFEST_NAME
    if manifest.is_file():
        files[MANIFEST_NAME] = manifest.read_bytes()
    return files, digest


class _LabelsOnly(Runtime):
    """Enough of a runtime for classify_frame on an empty frame: the output schema (Dask's ``meta``)."""

    def __init__(self, labels: list[str]):
        self.labels = labels

    def log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        raise AssertionError("the schema runtime never runs the model")


def model_labels(model_dir: Path, runtime: str, verify_hash: bool) -> list[str]:
    """Labels from manifest.json, else from the runtime itself (only when there is no usable manifest)."""
    with contextlib.suppress(ArtifactError, KeyError, TypeError):
        labels = read_manifest(model_dir)["labels"]
        if isinstance(labels, list) and labels:
            return labels
    return open_runtime(runtime, model_dir, verify_hash).labels


# --- input --------------------------------------------------------------------------------------------------------


def dask_encoding(encoding: str) -> str:
    """The codec for Dask's reader: UTF-8 drops a BOM like the local engine's reader does."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}; try --encoding utf-8 or latin-1") from None
    return "utf-8-sig" if name == "utf-8" else encoding


def block_bytes(blocksize: str | int) -> int:
    try:
        size = parse_bytes(blocksize)
    except (ValueError, TypeError):
        raise InputError(f"--blocksize {blocksize!r} is not a size; try 16MB or 64MiB") from None
    if size < 1:
        raise InputError(f"--blocksize {blocksize!r} must be at least 1 byte")
    return int(size)


def read_partitions(input_path: str, options: ClassifyOptions, blocksize: str | int) -> tuple[dd.DataFrame, str]:
    """The CSV as a Dask frame of string columns, read with the local engine's parsing options."""
    handle, source = open_input(input_path, options.encoding)  # same checks and messages as the local engine
    handle.raw.close()
    try:
        frame = dd.read_csv(
            input_path, blocksize=block_bytes(blocksize), dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, encoding=dask_encoding(options.encoding),
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        raise InputError(f"{source} has no header row; the first line must name the columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise parse_failure(input_path, options, source, 0, error) from None
    return frame, source


def parse_failure(input_path: str, options: ClassifyOptions, source: str, partition: int, error: Exception):
    """The local engine's own error for the file (exact line numbers), found by re-reading it on the driver."""
    try:
        for _ in read_chunks(input_path, options)[0]:
            pass
    except InputError as local_error:
        return local_error
    # The local reader accepts the file: a quoted field spans a block boundary, which Dask cannot split.
    return InputError(
        f"{source}: partition {partition + 1} could not be parsed ({str(error).strip()}); a quoted field may "
        "span lines: use a larger --blocksize or --engine local"
    )


# --- cluster and ordered results --------------------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Client | None]:
    """A Client on a fresh LocalCluster (closed after), on an existing scheduler, or None for in-process."""
    if scheduler in IN_PROCESS_SCHEDULERS:
        yield None
        return
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise RnnExportError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    )  # fmt: skip
    with cluster, Client(cluster) as client:
        yield client


class PartitionParseError(Exception):
    """A partition's CSV could not be parsed or decoded on a worker."""

    def __init__(self, partition: int, cause: Exception):
        super().__init__(str(cause))
        self.partition, self.cause = partition, cause


def ordered_results(parts: list, client: Client | None, threads: int, scheduler: str | None) -> Iterator[pd.DataFrame]:
    """Partition results in input order, with at most 2 x ``threads`` partitions computed ahead of the writer."""
    done = 0
    try:
        for result in _ordered(parts, client, threads, scheduler):
            yield result
            done += 1
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise PartitionParseError(done, error) from None


def _ordered(parts: list, client: Client | None, threads: int, scheduler: str | None) -> Iterator[pd.DataFrame]:
    slots = 2 * threads
    if client is None:
        local = "sync" if scheduler in ("sync", "synchronous") else "threads"
        for start in range(0, len(parts), slots):
            yield from dask.compute(*parts[start : start + slots], scheduler=local, num_workers=threads)
        return
    pending: deque = deque()
    upcoming = iter(parts)
    try:
        for part in upcoming:
            pending.append(client.compute(part))
            if len(pending) >= slots:
                break
        while pending:
            future = pending.popleft()
            result = future.result()
            future.release()  # the cluster may forget it once it is on the driver
            for part in upcoming:
                pending.append(client.compute(part))
                break
            yield result
    finally:
        if pending:
            client.cancel(list(pending))


# --- output -------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_folder(path: str) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``path`` only if the block completes."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"output {path} is a file; parquet output is a folder of parts: give a folder name")
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
        previous = None
        if target.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            target.rename(previous / target.name)
        staging.rename(target)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException:  # includes KeyboardInterrupt: never leave half a folder of parts
        shutil.rmtree(staging, ignore_errors=True)
        raise


def count_partition(frame: pd.DataFrame, column: str, options: ClassifyOptions, summary: ClassifySummary) -> None:
    """Add a classified partition to the summary; --strict fails here so the row number is global."""
    skipped = np.flatnonzero(frame["language"].to_numpy(dtype=object, na_value="") == "")
    if len(skipped) and summary.first_skipped_row is None:
        summary.first_skipped_row = summary.rows + int(skipped[0]) + 1
        if options.strict:
            raise InputError(
                f"data row {summary.first_skipped_row}: name {frame[column].iloc[skipped[0]]!r} has no letter "
                "of the alphabet; drop --strict to leave such rows without a prediction"
            )
    summary.rows += len(frame)
    summary.skipped += len(skipped)


def write_results(
    results: Iterator[pd.DataFrame], output_path: str, output_format: str, column: str, options: ClassifyOptions,
    summary: ClassifySummary, on_rows: Callable[[int], None] | None,
) -> None:  # fmt: skip
    """Count and write partitions in order: one CSV, or a folder of numbered parquet parts."""
    if output_format == "csv":
        with atomic_output(output_path) as handle:
            for index, frame in enumerate(results):
                count_partition(frame, column, options, summary)
                frame.to_csv(handle, header=index == 0, index=False, na_rep="")
                if on_rows is not None:
                    on_rows(len(frame))
        return
    with atomic_folder(output_path) as folder:
        for index, frame in enumerate(results):
            count_partition(frame, column, options, summary)
            frame.to_parquet(folder / f"part.{index:05d}.parquet", index=False)
            if on_rows is not None:
                on_rows(len(frame))


# --- the engine ---------------------------------------------------------------------------------------------------


def classify_csv_dask(
    input_path: str,
    output_path: str,
    options: ClassifyOptions,
    *,
    model_dir: Path,
    runtime: str = "onnx",
    verify_hash: bool = True,
    scheduler: str | None = None,
    blocksize: str | int = "16MB",
    workers: int | None = None,
    output_format: str = "csv",
    on_rows: Callable[[int], None] | None = None,
) -> ClassifySummary:
    """Classify ``input_path`` into ``output_path`` on Dask; same rows, order and columns as classify_csv.

    ``scheduler``: None starts a LocalCluster of ``workers`` processes (one thread each); an address joins an
    existing cluster (workers need rnnexport installed and read access to ``input_path``, not to the model);
    "threads" or "sync" run Dask's in-process schedulers.
    """
    started = time.perf_counter()
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {output_format!r}; choose csv or parquet")
    files, digest = model_files(Path(model_dir), runtime, verify_hash)
    frame, source = read_partitions(input_path, options, blocksize)
    column = choose_column(list(frame.columns), options.column, source)
    summary = ClassifySummary(runtime=runtime, column=column)
    # Workers never fail on a skipped row: the driver does, where it knows the row's global number.
    worker_options = replace(options, strict=False)
    meta = classify_frame(
        frame._meta, column, _LabelsOnly(model_labels(Path(model_dir), runtime, verify_hash)), worker_options, None,
        ClassifySummary(),
    )  # fmt: skip
    plugin = ModelPlugin(files, PLUGIN_PREFIX + f"{runtime}-{digest[:16]}")
    with dask_client(scheduler, workers) as client:
        local_dir = None if client is not None else str(Path(model_dir).resolve())
        ref = ModelRef(runtime, plugin.name, verify_hash, local_dir)
        parts = frame.map_partitions(classify_partition, column, ref, worker_options, meta=meta).to_delayed()
        threads = sum(client.nthreads().values()) if client is not None else workers or os.cpu_count() or 1
        if client is not None:
            client.register_plugin(plugin, name=plugin.name)
        try:
            results = ordered_results(parts, client, max(threads, 1), scheduler)
            write_results(results, output_path, output_format, column, options, summary, on_rows)
        except PartitionParseError as error:
            raise parse_failure(input_path, options, source, error.partition, error.cause) from None
        finally:
            if client is not None:
                with contextlib.suppress(Exception):  # best effort: the cluster may be shutting down
                    client.unregister_worker_plugin(plugin.name)
    summary.seconds = time.perf_counter() - started
    return summary
