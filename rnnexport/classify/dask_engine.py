"""The Dask engine: CSV partitions classified on a cluster, one model runtime per worker process, ordered output."""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
from dask.utils import parse_bytes
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, get_worker
from distributed.comm.addressing import parse_address, parse_host_port

from ..errors import ArtifactError, InputError, OptionError, RnnExportError
from ..io.atomic import atomic_write_bytes, check_output_file
from ..io.csv.dialect import Utf8Check
from ..io.csv.reader import CsvInput
from ..io.csv.records import RecordReader, StreamPosition
from ..model.manifest import MANIFEST_NAME, checked_artifact, read_manifest
from ..runtimes.base import Runtime
from ..runtimes.onnx_runtimes import PREFIX_ARTIFACTS
from ..runtimes.registry import RUNTIME_ARTIFACTS, RUNTIMES, TORCH_RUNTIMES, open_runtime
from ..runtimes.torch_runtimes import use_one_intra_op_thread
from .csv_output import check_top_k
from .stages import (
    DEFAULT_BLOCKSIZE,
    ChunkLayout,
    ClassifyOptions,
    ClassifySummary,
    OpenedInput,
    check_counts,
    chunk_log_probs,
    chunk_piece,
    opened_input,
    output_sink,
    prepare_chunk,
)

IN_PROCESS_SCHEDULERS = ("threads", "synchronous", "sync")
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


def model_files(model_dir: Path, runtime: str, verify_hash: bool) -> tuple[dict[str, bytes], str]:
    """The runtime's artifact, the files its prefix sharing reads (runtimes.PREFIX_ARTIFACTS, when present) and
    manifest.json, as bytes, each checked against the manifest here, on the driver; and the artifact's digest."""
    if runtime not in RUNTIME_ARTIFACTS:
        raise InputError(f"unknown runtime {runtime!r} for --engine dask; choose one of {', '.join(RUNTIMES)}")
    artifact = RUNTIME_ARTIFACTS[runtime]
    companions = [name for name in PREFIX_ARTIFACTS.get(runtime, ()) if (Path(model_dir) / name).is_file()]
    files = {name: _checked_bytes(Path(model_dir), name, verify_hash) for name in (artifact, *companions)}
    manifest = Path(model_dir) / MANIFEST_NAME
    if manifest.is_file():
        files[MANIFEST_NAME] = manifest.read_bytes()
    return files, hashlib.sha256(files[artifact]).hexdigest()


def _checked_bytes(model_dir: Path, name: str, verify_hash: bool) -> bytes:
    path = checked_artifact(model_dir, name, verify_hash)
    data = path.read_bytes()
    if verify_hash and hashlib.sha256(data).hexdigest() != read_manifest(model_dir)["artifacts"][name]["sha256"]:
        # The file changed between the check and the read (a re-export in progress): ship nothing half-new.
        raise ArtifactError(f"{path} changed while it was read; run again once the export has finished")
    return data


def model_vocabulary(model_dir: Path, runtime: str, verify_hash: bool) -> tuple[list[str], str]:
    """Labels and alphabet from manifest.json, else from the runtime itself (only without a usable manifest)."""
    with contextlib.suppress(ArtifactError, KeyError, TypeError):
        manifest = read_manifest(model_dir)
        labels, alphabet = manifest["labels"], manifest["alphabet"]
        if isinstance(labels, list) and labels and isinstance(alphabet, str) and alphabet:
            return labels, alphabet
    model = open_runtime(runtime, model_dir, verify_hash)
    return model.labels, model.alphabet


# --- input: byte ranges found by the one reader -------------------------------------------------------------------


def block_bytes(blocksize: str | int) -> int:
    """--blocksize as bytes ('16MB', '64MiB' or a number)."""
    try:
        size = parse_bytes(blocksize)
    except (ValueError, TypeError, OverflowError):
        raise OptionError(f"--blocksize {blocksize!r} is not a size; try 16MB or 64MiB") from None
    if size < 1:
        raise OptionError(f"--blocksize {blocksize!r} must be at least 1 byte")
    return int(size)


@dataclass(frozen=True)
class Partition:
    """Complete records of the input: ``length`` bytes at raw ``start.offset`` of ``path`` (UTF-8 input: workers
    read them there), or ``data`` itself (transcoded input, whose offsets are not the file's). It starts where a
    chunk of the local engine starts and holds whole chunks of ``chunk_rows``, so that every model batch, and so
    every byte of output, is the local engine's. ``seen_multibyte``: the input before it held non-ASCII UTF-8
    (for the mixed-encodings message)."""

    path: str
    start: StreamPosition
    length: int
    data: bytes | None
    seen_multibyte: bool
    chunk_rows: int

    def records(self) -> bytes:
        if self.data is not None:
            return self.data
        with open(self.path, "rb") as handle:
            handle.seek(self.start.offset)
            return handle.read(self.length)


def partitions(
    csv_input: CsvInput, input_path: str, blocksize: int, chunk_rows: int
) -> Iterator[Partition | InputError]:
    """The data records cut into partitions of whole local-engine chunks, about ``blocksize`` bytes each, in one
    pass of the local engine's record reader; an error of that pass (an unclosed quote, an undecodable byte in
    a transcoded file) comes last, in its place in the input, as an InputError object."""
    seen_multibyte = bool(csv_input.utf8_check and csv_input.utf8_check.seen_multibyte)
    chunks: list = []
    try:
        for chunk in csv_input.chunks():
            chunks.append(chunk)
            if sum(len(taken.data) for taken in chunks) >= blocksize:
                yield _partition(chunks, csv_input, input_path, seen_multibyte, chunk_rows)
                seen_multibyte = seen_multibyte or any(taken.data.max(initial=0) >= 0x80 for taken in chunks)
                chunks = []
        if chunks:
            yield _partition(chunks, csv_input, input_path, seen_multibyte, chunk_rows)
    except InputError as error:
        if chunks:
            yield _partition(chunks, csv_input, input_path, seen_multibyte, chunk_rows)
        yield error


def _partition(chunks: list, csv_input: CsvInput, input_path: str, seen_multibyte: bool, chunk_rows: int) -> Partition:
    first = chunks[0]
    start = StreamPosition(int(first.first_line), int(first.offset), int(first.first_record))
    length = sum(len(chunk.data) for chunk in chunks)
    data = b"".join(chunk.data.tobytes() for chunk in chunks) if csv_input.transcoded else None
    return Partition(input_path, start, length, data, seen_multibyte, chunk_rows)


@dataclass(frozen=True)
class ParquetPartition:
    """Consecutive whole row groups of a Parquet file (workers read them at ``path``)."""

    path: str
    row_groups: tuple[int, ...]
    chunk_rows: int


def parquet_partitions(parquet_input, path: str, blocksize: int, chunk_rows: int) -> Iterator[ParquetPartition]:
    """Row groups gathered into partitions of about ``blocksize`` compressed bytes (a row group is never split:
    its chunks are the local engine's)."""
    groups: list[int] = []
    size = 0
    for group in range(parquet_input.num_row_groups):
        groups.append(group)
        size += parquet_input.row_group_bytes(group)
        if size >= blocksize:
            yield ParquetPartition(path, tuple(groups), chunk_rows)
            groups, size = [], 0
    if groups:
        yield ParquetPartition(path, tuple(groups), chunk_rows)


@dataclass(frozen=True)
class PartitionResult:
    """A classified partition: its output pieces in order (classify.chunk_piece's: CSV bytes, or pyarrow
    Tables), and its counts."""

    pieces: list
    counts: ClassifySummary


def classify_partition(partition: Partition | ParquetPartition, layout: ChunkLayout, ref: ModelRef) -> PartitionResult:
    """One partition through the local engine's per-chunk steps, on this worker's cached runtime."""
    runtime = worker_runtime(ref)
    pieces, counts = [], ClassifySummary()
    for prepared in _prepared_chunks(partition, layout):
        piece, rows = chunk_piece(prepared, chunk_log_probs(prepared, runtime, layout), layout)
        pieces.append(piece.tobytes() if isinstance(piece, np.ndarray) else piece)
        counts.add(prepared.records, rows, prepared.blank, prepared.skipped, prepared.lost)
    if pieces and all(isinstance(piece, bytes) for piece in pieces):
        pieces = [b"".join(pieces)]
    return PartitionResult(pieces, counts)


def _prepared_chunks(partition: Partition | ParquetPartition, layout: ChunkLayout) -> Iterator:
    """The partition's chunks, checked and encoded, as the local engine cuts them."""
    if isinstance(partition, ParquetPartition):
        from ..io.parquet.reader import opened_parquet
        from .arrow_stages import prepare_batch

        with opened_parquet(partition.path, partition.chunk_rows) as parquet_input:
            for chunk in parquet_input.chunks(partition.row_groups):
                yield prepare_batch(chunk, layout)
        return
    reader = RecordReader(io.BytesIO(partition.records()), layout.source, layout.delimiter, partition.chunk_rows,
                          start=partition.start, ends_input=False)  # fmt: skip
    utf8_check = Utf8Check(layout.source, partition.seen_multibyte) if partition.data is None else None
    for chunk in reader.chunks():
        yield prepare_chunk(chunk, layout, utf8_check)


# --- cluster and ordered results --------------------------------------------------------------------------------


NETWORK_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler(scheduler: str | None) -> None:
    """OptionError unless --scheduler is absent, threads/sync, or an address with a host and a port (1-65535)."""
    if scheduler is None or scheduler in IN_PROCESS_SCHEDULERS:
        return
    try:
        protocol, location = parse_address(scheduler)
        _, port = parse_host_port(location)
        valid = protocol in NETWORK_PROTOCOLS and 0 < int(port) < 65536
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise OptionError(
            f"--scheduler {scheduler!r} is not 'threads', 'sync' or a scheduler's address such as "
            "tcp://10.0.0.5:8786 (or 10.0.0.5:8786)"
        )


def check_input_file(path: str) -> None:
    """InputError unless ``path`` is a regular file: every worker reads its part of it at that path (a pipe, a
    FIFO or stdin cannot be read twice, nor by others)."""
    if Path(path).exists() and not Path(path).is_file() and not Path(path).is_dir():
        raise InputError(f"{path} is not a regular file; --engine dask reads it at its path from every worker: "
                         "save it to a file, or use --engine local")  # fmt: skip


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
        silence_logs=logging.CRITICAL,  # a failed task is reported once, as our Error: line
    )  # fmt: skip
    with cluster, Client(cluster) as client:
        yield client


def ordered_results(tasks: Iterator, client: Client | None, threads: int, scheduler: str | None) -> Iterator:
    """Task results in input order, with at most 2 x ``threads`` tasks computed ahead of the writer. A task may
    be an InputError object (found while cutting partitions): it is raised in its place."""
    try:
        yield from _ordered(tasks, client, threads, scheduler)
    except KilledWorker as error:
        # Dask already retried on other workers: a partition that kills every worker it meets (memory?) is fatal.
        raise RnnExportError(
            f"Dask workers kept dying on a partition ({error}); give workers more memory or use a smaller --blocksize"
        ) from None


def _ordered(tasks: Iterator, client: Client | None, threads: int, scheduler: str | None) -> Iterator:
    slots = 2 * threads
    if client is None:
        local = "sync" if scheduler in ("sync", "synchronous") else "threads"
        while batch := list(itertools.islice(tasks, slots)):
            ready = [task for task in batch if not isinstance(task, InputError)]
            yield from dask.compute(*ready, scheduler=local, num_workers=threads)
            for task in batch[len(ready) :]:
                raise task
        return
    pending: deque = deque()
    try:
        for task in tasks:
            pending.append(task if isinstance(task, InputError) else client.compute(task))
            while len(pending) >= slots:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        if pending:
            with contextlib.suppress(Exception):  # best effort: the cluster may be gone already
                client.cancel([future for future in pending if not isinstance(future, InputError)])


def _result(future):
    if isinstance(future, InputError):
        raise future
    result = future.result()
    future.release()  # the cluster may forget it once it is on the driver
    return result


# --- output -------------------------------------------------------------------------------------------------------


def write_results(results: Iterator[PartitionResult], path: str, layout: ChunkLayout, header: bytes,
                  summary: ClassifySummary, on_rows: Callable[[int], None] | None) -> None:  # fmt: skip
    """Count and write partitions in order, into the local engine's output (classify.output_sink)."""
    with output_sink(path, layout, header) as write:
        for result in results:
            _count(result, summary, on_rows)
            for piece in result.pieces:
                write(piece)
        check_counts(summary)


def _count(result: PartitionResult, summary: ClassifySummary, on_rows) -> None:
    counts = result.counts
    summary.add(counts.records, counts.rows, counts.blank, counts.skipped, counts.lost)
    if on_rows is not None:
        on_rows(counts.rows)


# --- the engine ---------------------------------------------------------------------------------------------------


def classify_dask(
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
    on_rows: Callable[[int], None] | None = None,
) -> ClassifySummary:
    """Classify ``input_path`` into ``output_path`` on Dask: the same output as classify_local (byte for byte for
    CSV, row for row and row group for row group for Parquet), the same errors.

    The driver reads a CSV once with the local engine's record reader, cutting it into partitions of about
    ``blocksize`` bytes at chunk ends (a Parquet file: into runs of whole row groups); each worker reads its
    part (UTF-8 CSV and Parquet at ``input_path``; transcoded CSV is sent) and runs the local engine's per-chunk
    steps; the driver writes the pieces in order. ``scheduler``: None starts a LocalCluster of ``workers``
    processes (one thread each); an address joins an existing cluster (workers need rnnexport installed and read
    access to ``input_path``, not to the model); "threads" or "sync" run Dask's in-process schedulers.
    """
    started = time.perf_counter()
    check_scheduler(scheduler)
    check_input_file(input_path)
    files, digest = model_files(Path(model_dir), runtime, verify_hash)
    labels, alphabet = model_vocabulary(Path(model_dir), runtime, verify_hash)
    size = block_bytes(blocksize)
    check_top_k(options.top_k, labels)
    with opened_input(input_path, labels, alphabet, options, output_path) as opened:
        check_output_file(output_path)  # before any cluster starts
        summary = ClassifySummary(runtime=runtime, column=opened.column, delimiter=opened.delimiter,
                                  output_format=opened.layout.output_format)  # fmt: skip
        # Unique per run, so that a run finishing on a shared cluster never unregisters another run's model.
        plugin = ModelPlugin(files, f"{PLUGIN_PREFIX}{runtime}-{digest[:16]}-{uuid.uuid4().hex[:8]}")
        with dask_client(scheduler, workers) as client:
            local_dir = None if client is not None else str(Path(model_dir).resolve())
            ref = ModelRef(runtime, plugin.name, verify_hash, local_dir)
            tasks = (part if isinstance(part, InputError) else _delayed(part, opened.layout, ref)
                     for part in _partitions(opened, input_path, size, options.chunk_rows))  # fmt: skip
            threads = sum(client.nthreads().values()) if client is not None else workers or os.cpu_count() or 1
            if client is not None:
                client.register_plugin(plugin, name=plugin.name)
            try:
                # closing(): on failure, cancel the partitions still in flight while the client is still open.
                with contextlib.closing(ordered_results(tasks, client, max(threads, 1), scheduler)) as results:
                    write_results(results, output_path, opened.layout, opened.header, summary, on_rows)
            finally:
                release_model(client, plugin.name)
    summary.seconds = time.perf_counter() - started
    return summary


def _partitions(opened: OpenedInput, input_path: str, size: int, chunk_rows: int) -> Iterator:
    if opened.layout.input_format == "parquet":
        return parquet_partitions(opened.reader, input_path, size, chunk_rows)
    return partitions(opened.reader, input_path, size, chunk_rows)


def _delayed(partition: Partition | ParquetPartition, layout: ChunkLayout, ref: ModelRef):
    return dask.delayed(classify_partition, pure=False)(partition, layout, ref)


def release_model(client: Client | None, plugin_name: str) -> None:
    """Forget this run's runtimes: in this process, or on the workers (which also delete the model files)."""
    if client is None:
        forget_runtimes(plugin_name)
        return
    with contextlib.suppress(Exception):  # best effort: the cluster may be shutting down
        client.unregister_worker_plugin(plugin_name)
