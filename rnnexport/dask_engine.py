"""The Dask engine: CSV partitions classified on a cluster, one model runtime per worker process, ordered output."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import math
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.utils import parse_bytes
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, get_worker
from distributed.comm.addressing import parse_address, parse_host_port

from .atomic import atomic_file, atomic_folder, atomic_write_bytes, check_output_file, check_output_folder
from .classify import (
    DEFAULT_BLOCKSIZE,
    ClassifyOptions,
    ClassifySummary,
    choose_column,
    classify_csv,
    classify_frame,
    no_letter_error,
)
from .csvio.reader import codec_name, read_header
from .csvio.writer import check_no_clash, check_top_k, formatted_columns, prediction_names
from .errors import ArtifactError, InputError, RnnExportError
from .export.manifest import (
    MANIFEST_NAME,
    checked_artifact,
    read_manifest,
)
from .runtimes import RUNTIME_ARTIFACTS, RUNTIMES, TORCH_RUNTIMES, Runtime, open_runtime, use_one_intra_op_thread

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
                atomic_write_bytes(target, data)
        return folder

    def teardown(self, worker) -> None:
        folder = Path(worker.local_directory) / self.name
        forget_runtimes(self.name)
        shutil.rmtree(folder, ignore_errors=True)


# plugin name -> (model folder, runtime). The name is unique per run and carries the artifact's digest.
_RUNTIMES: dict[str, tuple[Path, Runtime]] = {}
_CACHE_LOCK = threading.Lock()


def model_folder(ref: ModelRef) -> Path:
    """Where this process loads the model from: its worker's plugin folder, or the driver's model folder."""
    if ref.local_dir is not None:
        return Path(ref.local_dir)
    worker = get_worker()
    plugin = worker.plugins.get(ref.plugin_name)
    if plugin is None:
        raise RuntimeError(f"worker {worker.address} lacks the {ref.plugin_name} plugin that carries the model")
    return plugin.folder(worker)


def worker_runtime(ref: ModelRef) -> Runtime:
    """This process's runtime for ``ref``, created on first use and kept (one session per worker process)."""
    with _CACHE_LOCK:  # held while loading, so that concurrent first tasks load the model once
        if ref.plugin_name not in _RUNTIMES:
            folder = model_folder(ref)
            # One thread per session: the cluster's parallelism comes from worker processes (or scheduler threads).
            if ref.runtime in TORCH_RUNTIMES:
                use_one_intra_op_thread()
            _RUNTIMES[ref.plugin_name] = folder, open_runtime(ref.runtime, folder, ref.verify_hash, threads=1)
        return _RUNTIMES[ref.plugin_name][1]


def forget_runtimes(plugin_name: str) -> None:
    """Drop this process's runtime of one run (in-process schedulers share the driver's cache)."""
    with _CACHE_LOCK:
        _RUNTIMES.pop(plugin_name, None)


def classify_partition(frame: pd.DataFrame, column: str, ref: ModelRef, options: ClassifyOptions) -> pd.DataFrame:
    """One partition through the local engine's classify_frame, on this worker's cached runtime."""
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas turns a block's first row with one field too many into an index instead of failing; the local
        # engine reads that row mid-file and fails, so the partition must fail too.
        raise pd.errors.ParserError(f"a row has more fields than the header's {len(frame.columns)}")
    return classify_frame(frame, column, worker_runtime(ref), options, None, ClassifySummary())


def model_files(model_dir: Path, runtime: str, verify_hash: bool) -> tuple[dict[str, bytes], str]:
    """The artifact (checked against the manifest here, on the driver) and manifest.json, as bytes."""
    if runtime not in RUNTIME_ARTIFACTS:
        raise InputError(f"unknown runtime {runtime!r} for --engine dask; choose one of {', '.join(RUNTIMES)}")
    artifact = RUNTIME_ARTIFACTS[runtime]
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


class LabelsOnly(Runtime):
    """A runtime without a model (uniform log-probs): the output schema, and replays of the local engine's checks."""

    name = "labels-only"

    def __init__(self, labels: list[str]):
        self.labels = labels

    def log_probs(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return np.full((indices.shape[1], len(self.labels)), -np.log(len(self.labels)), dtype=np.float32)


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
    name = codec_name(encoding)
    return "utf-8-sig" if name == "utf-8" else encoding


def block_bytes(blocksize: str | int) -> int:
    """--blocksize as bytes ('16MB', '64MiB' or a number)."""
    try:
        size = parse_bytes(blocksize)
    except (ValueError, TypeError):
        raise InputError(f"--blocksize {blocksize!r} is not a size; try 16MB or 64MiB") from None
    if size < 1:
        raise InputError(f"--blocksize {blocksize!r} must be at least 1 byte")
    return int(size)


def partition_bytes(input_path: str, blocksize: str | int) -> int:
    """The block size to give Dask so that no partition holds more than ``blocksize`` bytes.

    Dask's read_csv makes floor(size / blocksize) partitions, so 16MB would leave a 30 MB file in one piece.
    """
    limit = block_bytes(blocksize)
    size = os.path.getsize(input_path)
    return max(1, size // max(1, math.ceil(size / limit)))


def header_columns(input_path: str, options: ClassifyOptions) -> tuple[str, list[str], str]:
    """The header record as written, its columns and the source name, read as the local engine reads them."""
    header, source = read_header(input_path, options.encoding)
    return header, next(csv.reader([header])), source


def read_partitions(input_path: str, options: ClassifyOptions, blocksize: str | int) -> dd.DataFrame:
    """The CSV as a Dask frame of string columns (the file is checked first, see header_columns)."""
    return dd.read_csv(
        input_path, blocksize=partition_bytes(input_path, blocksize), dtype=str, keep_default_na=False,
        na_filter=False, skip_blank_lines=False, encoding=dask_encoding(options.encoding),
    )  # fmt: skip


def local_engine_error(input_path: str, options: ClassifyOptions, labels: list[str]) -> InputError | None:
    """The local engine's own error for this file (exact row and line numbers), or None if it accepts the file.

    Replays classify_csv without a model into a scratch folder: only run once a partition has already failed.
    """
    with tempfile.TemporaryDirectory(prefix="rnnexport-replay-") as scratch:
        try:
            classify_csv(input_path, str(Path(scratch) / "replay.csv"), LabelsOnly(labels), options)
        except InputError as error:
            return error
    return None


def parse_failure(
    input_path: str, options: ClassifyOptions, labels: list[str], source: str, partition: int, error: Exception
) -> InputError:
    """What to tell the user when Dask could not parse (or decode) a partition."""
    local_error = local_engine_error(input_path, options, labels)
    if local_error is not None:
        return local_error
    # The local engine accepts the file: a quoted field spans a block boundary (Dask splits blocks at newlines).
    return InputError(
        f"{source} is not a well-formed CSV for --engine dask: partition {partition + 1}: {str(error).strip()}; "
        "if a quoted field spans lines, use a larger --blocksize or --engine local"
    )


# --- cluster and ordered results --------------------------------------------------------------------------------


def check_reachable(address: str) -> None:
    """Fail at once when a TCP scheduler refuses connections (a Client would retry until its timeout)."""
    try:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location)
    except ValueError:
        return  # not host:port: let the Client judge it
    if protocol != "tcp":
        return
    try:
        with socket.create_connection((host, port), timeout=10):
            pass
    except OSError as error:
        raise RnnExportError(
            f"cannot reach the Dask scheduler at {address}: {error.strerror or error}; is `dask scheduler` running "
            "there? (leave out --scheduler to start a local cluster)"
        ) from None


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Client | None]:
    """A Client on a fresh LocalCluster (closed after), on an existing scheduler, or None for in-process."""
    if scheduler in IN_PROCESS_SCHEDULERS:
        yield None
        return
    if scheduler:
        check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise RnnExportError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0",
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
    except KilledWorker as error:
        # Dask already retried on other workers: a partition that kills every worker it meets (memory?) is fatal.
        raise RnnExportError(
            f"Dask workers kept dying on partition {done + 1} ({error}); give workers more memory or use a smaller "
            "--blocksize"
        ) from None


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
            with contextlib.suppress(Exception):  # best effort: the cluster may be gone already
                client.cancel(list(pending))


# --- output -------------------------------------------------------------------------------------------------------


def check_output(path: str, output_format: str) -> None:
    """Refuse an unusable output path before any cluster starts (the writers check again when they open it)."""
    if output_format == "parquet":
        check_output_folder(path)
    else:
        check_output_file(path)


REPORT_META = pd.DataFrame(
    {
        "rows": pd.Series([], dtype="int64"),
        "skipped": pd.Series([], dtype="int64"),
        "first_skipped": pd.Series([], dtype="int64"),
        "first_skipped_name": pd.Series([], dtype=object),
        "text": pd.Series([], dtype=object),
    }
)


def csv_text(frame: pd.DataFrame, predictions: list[str]) -> str:
    """A classified partition as the local engine writes it: probabilities as 0.123456, '' when skipped."""
    text = frame.copy(deep=False)
    for name, values in formatted_columns({name: frame[name].to_numpy() for name in predictions}).items():
        text[name] = values
    return text.to_csv(header=False, index=False, lineterminator="\n")


def partition_report(frame: pd.DataFrame, column: str, predictions: list[str], with_text: bool) -> pd.DataFrame:
    """One row about a classified partition: counts, its first skipped row, and (for CSV output) its text.

    Workers make the CSV text, so that the driver only appends strings: serialising on the driver was half
    the run time of a LocalCluster.
    """
    skipped = np.flatnonzero(frame[predictions[0]].to_numpy(dtype=object, na_value="") == "")
    first = int(skipped[0]) if len(skipped) else -1
    name = frame[column].iloc[first] if first >= 0 else ""
    return pd.DataFrame(
        {
            "rows": [len(frame)], "skipped": [len(skipped)], "first_skipped": [first],
            "first_skipped_name": [name if isinstance(name, str) else ""],
            "text": [csv_text(frame, predictions) if with_text else ""],
        }
    )  # fmt: skip


def count_partition(report: pd.DataFrame, options: ClassifyOptions, summary: ClassifySummary) -> None:
    """Add a partition's report to the summary; --strict fails here, where the row's global number is known."""
    first = int(report["first_skipped"].iloc[0])
    if first >= 0 and summary.first_skipped_row is None:
        summary.first_skipped_row = summary.rows + first + 1
        if options.strict:
            raise no_letter_error(summary.first_skipped_row, report["first_skipped_name"].iloc[0])
    summary.rows += int(report["rows"].iloc[0])
    summary.skipped += int(report["skipped"].iloc[0])


@dataclass(frozen=True)
class OutputLayout:
    path: str
    format: str
    header: str  # the input's header record, as written there
    column: str
    predictions: list[str]


def partitions_to_compute(classified: dd.DataFrame, layout: OutputLayout) -> list:
    """One delayed object per partition: its report with CSV text, or (parquet) the classified frame itself."""
    if layout.format == "parquet":
        return classified.to_delayed()
    reports = classified.map_partitions(partition_report, layout.column, layout.predictions, True, meta=REPORT_META)
    return reports.to_delayed()


def write_results(
    results: Iterator[pd.DataFrame], layout: OutputLayout, options: ClassifyOptions, summary: ClassifySummary,
    on_rows: Callable[[int], None] | None,
) -> None:  # fmt: skip
    """Count and write partitions in order: one CSV, or a folder of numbered parquet parts."""
    if layout.format == "csv":
        with atomic_file(layout.path) as handle:
            handle.write(",".join([layout.header, *layout.predictions]) + "\n")
            for report in results:
                count_partition(report, options, summary)
                handle.write(report["text"].iloc[0])
                if on_rows is not None:
                    on_rows(int(report["rows"].iloc[0]))
        return
    check_output_folder(layout.path)
    with atomic_folder(layout.path) as folder:
        for index, frame in enumerate(results):
            count_partition(partition_report(frame, layout.column, layout.predictions, False), options, summary)
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
    blocksize: str | int = DEFAULT_BLOCKSIZE,
    workers: int | None = None,
    output_format: str = "csv",
    on_rows: Callable[[int], None] | None = None,
) -> ClassifySummary:
    """Classify ``input_path`` into ``output_path`` on Dask; same rows, order and columns as classify_csv.

    ``scheduler``: None starts a LocalCluster of ``workers`` processes (one thread each); an address joins an
    existing cluster (workers need rnnexport installed and read access to ``input_path``, not to the model);
    "threads" or "sync" run Dask's in-process schedulers. ``blocksize``: the most bytes per partition.
    """
    started = time.perf_counter()
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {output_format!r}; choose csv or parquet")
    files, digest = model_files(Path(model_dir), runtime, verify_hash)
    labels = model_labels(Path(model_dir), runtime, verify_hash)
    layout, source = checked_layout(input_path, output_path, output_format, options, labels)
    summary = ClassifySummary(runtime=runtime, column=layout.column, lost=None)
    try:
        frame = read_partitions(input_path, options, blocksize)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:  # Dask parses a sample of the file here
        raise parse_failure(input_path, options, labels, source, 0, error) from None
    # Unique per run, so that a run finishing on a shared cluster never unregisters another run's model.
    plugin = ModelPlugin(files, f"{PLUGIN_PREFIX}{runtime}-{digest[:16]}-{uuid.uuid4().hex[:8]}")
    with dask_client(scheduler, workers) as client:
        ref = ModelRef(
            runtime, plugin.name, verify_hash, None if client is not None else str(Path(model_dir).resolve())
        )
        parts = partitions_to_compute(classified_partitions(frame, ref, layout, options, labels), layout)
        threads = sum(client.nthreads().values()) if client is not None else workers or os.cpu_count() or 1
        if client is not None:
            client.register_plugin(plugin, name=plugin.name)
        try:
            # closing(): on failure, cancel the partitions still in flight while the client is still open.
            with contextlib.closing(ordered_results(parts, client, max(threads, 1), scheduler)) as results:
                write_results(results, layout, options, summary, on_rows)
        except PartitionParseError as error:
            raise parse_failure(input_path, options, labels, source, error.partition, error.cause) from None
        finally:
            release_model(client, plugin.name)
    summary.seconds = time.perf_counter() - started
    return summary


def checked_layout(
    input_path: str, output_path: str, output_format: str, options: ClassifyOptions, labels: list[str]
) -> tuple[OutputLayout, str]:
    """The local engine's checks, in its order and words, before it reads a row; then the output's layout."""
    header, columns, source = header_columns(input_path, options)
    column = choose_column(columns, options.column, source)
    check_top_k(options.top_k, labels)
    check_no_clash(columns, labels, options.top_k)
    check_output(output_path, output_format)
    return OutputLayout(output_path, output_format, header, column, prediction_names(labels, options.top_k)), source


def classified_partitions(
    frame: dd.DataFrame, ref: ModelRef, layout: OutputLayout, options: ClassifyOptions, labels: list[str]
) -> dd.DataFrame:
    """``frame`` through classify_partition; the schema comes from classify_frame itself, on no rows."""
    # Workers never fail on a skipped row: the driver does, where it knows the row's global number.
    worker_options = replace(options, strict=False)
    meta = classify_frame(frame._meta, layout.column, LabelsOnly(labels), worker_options, None, ClassifySummary())
    return frame.map_partitions(classify_partition, layout.column, ref, worker_options, meta=meta)


def release_model(client: Client | None, plugin_name: str) -> None:
    """Forget this run's runtimes: in this process, or on the workers (which also delete the model files)."""
    if client is None:
        forget_runtimes(plugin_name)
        return
    with contextlib.suppress(Exception):  # best effort: the cluster may be shutting down
        client.unregister_worker_plugin(plugin_name)
