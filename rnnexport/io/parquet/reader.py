"""Reading Parquet: the schema, the name column, and the rows as record batches of ``chunk_rows`` rows streamed
across row groups (a file of one-row row groups is read in large chunks, as a file of one row group is).

Chunks start every ``chunk_rows`` rows of the file, whatever its row groups, so that any run of whole chunks (a
Dask partition) is cut into the same chunks as the whole file, and every model batch, and so every output value
and every output row group, is the local engine's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import InputError
from ..formats import parquet_pipe_error


def one_line(error: Exception) -> str:
    """pyarrow's message on one line (it may hold several, and a trailing newline)."""
    return " ".join(str(error).split())


@dataclass
class ParquetInput:
    """An opened Parquet file: ``schema`` (Arrow, with its metadata), ``columns`` (its top-level names) and its
    row groups, read ``chunk_rows`` rows at a time."""

    source: str
    file: pq.ParquetFile
    chunk_rows: int

    @property
    def schema(self) -> pa.Schema:
        return self.file.schema_arrow

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def num_row_groups(self) -> int:
        return self.file.metadata.num_row_groups

    @property
    def num_rows(self) -> int:
        return self.file.metadata.num_rows

    def row_bytes(self) -> float:
        """The data's size per row (uncompressed bytes, at least 1): what a Dask partition is sized by."""
        return max(sum(self.file.metadata.row_group(group).total_byte_size for group in range(self.num_row_groups))
                   / max(self.num_rows, 1), 1.0)  # fmt: skip

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[ArrowChunk]:
        """Rows ``start .. stop - 1`` (all by default) in chunks of ``chunk_rows`` rows (the last may hold fewer),
        in file order, across row groups: a file of many small row groups is read in large chunks. A chunk
        starts every ``chunk_rows`` rows from ``start``, so any run of whole chunks (a Dask partition) is cut as
        the whole file is. InputError for a row group that cannot be read (truncated, corrupt)."""
        stop = self.num_rows if stop is None else min(stop, self.num_rows)
        groups, first_row = self._groups_between(start, stop)
        if not groups:
            return
        held: list[pa.RecordBatch] = []
        held_rows, position, chunk_start = 0, first_row, start
        for batch in self._batches(groups, first_row):
            low, high = max(start - position, 0), min(stop - position, batch.num_rows)
            position += batch.num_rows
            if high > low:
                held.append(batch.slice(low, high - low))
                held_rows += high - low
            while held_rows >= self.chunk_rows or (held_rows and position >= stop):
                taken, held, held_rows = _take(held, min(self.chunk_rows, held_rows))
                yield ArrowChunk(chunk_start, taken)
                chunk_start += taken.num_rows
            if position >= stop:
                return

    def _groups_between(self, start: int, stop: int) -> tuple[list[int], int]:
        """The row groups holding rows ``start .. stop - 1``, and the file's row where the first one starts."""
        groups, row, first_row = [], 0, 0
        for group in range(self.num_row_groups):
            rows = self.file.metadata.row_group(group).num_rows
            if row + rows > start and row < stop and rows:
                first_row = row if not groups else first_row
                groups.append(group)
            row += rows
        return groups, first_row

    def _batches(self, groups: list[int], first_row: int) -> Iterator[pa.RecordBatch]:
        """The row groups' rows as batches (which may span row groups); a read failure names its row group."""
        try:
            yield from self.file.iter_batches(batch_size=self.chunk_rows, row_groups=groups)
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{self.source}: cannot read row group {self._failing(groups) + 1}: "
                             f"{one_line(error)}") from None  # fmt: skip

    def _failing(self, groups: list[int]) -> int:
        """The first of ``groups`` that cannot be read alone (the last one if each can)."""
        for group in groups:
            try:
                self.file.read_row_group(group)
            except (pa.ArrowException, OSError):
                return group
        return groups[-1]


def _take(held: list[pa.RecordBatch], rows: int) -> tuple[pa.RecordBatch, list[pa.RecordBatch], int]:
    """The first ``rows`` rows of the held batches as one batch, and the batches left with their rows."""
    taken, rest, count = [], [], 0
    for batch in held:
        if count >= rows:
            rest.append(batch)
            continue
        need = rows - count
        taken.append(batch.slice(0, need))
        if batch.num_rows > need:
            rest.append(batch.slice(need))
        count += min(need, batch.num_rows)
    if len(taken) == 1:
        return taken[0], rest, sum(batch.num_rows for batch in rest)
    table = pa.Table.from_batches(taken).combine_chunks()
    return table.to_batches()[0], rest, sum(batch.num_rows for batch in rest)


@dataclass(frozen=True)
class ArrowChunk:
    """Rows of a Parquet file: ``batch``, whose first row is row ``first_row`` (0-based) of the file."""

    first_row: int
    batch: pa.RecordBatch


@contextlib.contextmanager
def opened_parquet(path: str, chunk_rows: int) -> Iterator[ParquetInput]:
    """A Parquet file opened for streaming (closed afterwards). InputError when ``path`` is stdin, missing, a
    folder, or not a readable Parquet file."""
    if path == "-":
        raise InputError("Parquet input must be a file: its index is at its end, so it cannot be read from stdin")
    file_path = Path(path)
    if file_path.is_dir():
        raise InputError(f"{path} is a directory; give one Parquet file (a folder of parts: classify each part)")
    if not file_path.exists():
        raise InputError(f"{path} not found")
    if not file_path.is_file():  # a FIFO, <(cmd), /dev/stdin: pyarrow would fail with 'lseek failed'
        raise parquet_pipe_error(path)
    try:
        parquet_file = pq.ParquetFile(file_path)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path} is not a readable Parquet file: {one_line(error)}") from None
    try:
        yield ParquetInput(str(path), parquet_file, chunk_rows)
    finally:
        parquet_file.close()
