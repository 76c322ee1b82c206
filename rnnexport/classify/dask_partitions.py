"""The Dask engine's partitions: a CSV's data records cut into byte ranges of whole local-engine chunks (found
in one pass of the one record reader), a Parquet file into row ranges of whole chunks; and a partition classified
on a worker by the local engine's per-chunk stages."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.csv.dialect import Utf8Check
from ..io.csv.reader import CsvInput
from ..io.csv.records import RecordReader, StreamPosition
from .dask_workers import ModelRef, worker_runtime
from .layout import ChunkLayout, OpenedInput
from .stages import chunk_log_probs, chunk_piece, prepare
from .summary import ClassifySummary


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
    """Rows ``start .. stop - 1`` of a Parquet file, whole local-engine chunks of ``chunk_rows`` (workers read
    them at ``path``)."""

    path: str
    start: int
    stop: int
    chunk_rows: int


def parquet_partitions(parquet_input, path: str, blocksize: int, chunk_rows: int) -> Iterator[ParquetPartition]:
    """The rows cut into partitions of whole chunks (whatever the row groups), about ``blocksize`` uncompressed
    bytes each."""
    rows = parquet_input.num_rows
    per_partition = max(int(blocksize / parquet_input.row_bytes()) // chunk_rows, 1) * chunk_rows
    for start in range(0, rows, per_partition):
        yield ParquetPartition(path, start, min(start + per_partition, rows), chunk_rows)


@dataclass(frozen=True)
class PartitionResult:
    """A classified partition: its output pieces in order (stages.chunk_piece's: CSV bytes, or pyarrow
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
        counts.add_chunk(prepared, rows)
    if pieces and all(isinstance(piece, bytes) for piece in pieces):
        pieces = [b"".join(pieces)]
    return PartitionResult(pieces, counts)


def _prepared_chunks(partition: Partition | ParquetPartition, layout: ChunkLayout) -> Iterator:
    """The partition's chunks, checked and encoded, as the local engine cuts them."""
    if isinstance(partition, ParquetPartition):
        from ..io.parquet.reader import opened_parquet

        with opened_parquet(partition.path, partition.chunk_rows) as parquet_input:
            for chunk in parquet_input.chunks(partition.start, partition.stop):
                yield prepare(chunk, layout, None)
        return
    reader = RecordReader(io.BytesIO(partition.records()), layout.source, layout.delimiter, partition.chunk_rows,
                          start=partition.start, ends_input=False)  # fmt: skip
    utf8_check = Utf8Check(layout.source, partition.seen_multibyte) if partition.data is None else None
    for chunk in reader.chunks():
        yield prepare(chunk, layout, utf8_check)


def input_partitions(opened: OpenedInput, input_path: str, size: int, chunk_rows: int) -> Iterator:
    """The opened input's partitions of about ``size`` bytes (:func:`partitions` or :func:`parquet_partitions`)."""
    if opened.layout.input_format == "parquet":
        return parquet_partitions(opened.reader, input_path, size, chunk_rows)
    return partitions(opened.reader, input_path, size, chunk_rows)
