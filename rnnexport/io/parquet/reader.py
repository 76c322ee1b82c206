"""Reading Parquet: the schema, the name column, and the rows as record batches streamed row group by row group.

A chunk never spans two row groups, so that any set of whole row groups (a Dask partition) is cut into the
same chunks as the whole file, and every model batch, and so every output value, is the local engine's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
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

    def row_group_bytes(self, group: int) -> int:
        """The row group's data size (uncompressed bytes): what a Dask partition is sized by."""
        return max(int(self.file.metadata.row_group(group).total_byte_size), 1)

    def rows_before(self, group: int) -> int:
        """Rows in the row groups before ``group``."""
        return sum(self.file.metadata.row_group(earlier).num_rows for earlier in range(group))

    def chunks(self, row_groups: Iterable[int] | None = None) -> Iterator[ArrowChunk]:
        """Batches of at most ``chunk_rows`` rows, never across a row group, in file order (all row groups, or
        ``row_groups``: consecutive ones). InputError for a row group that cannot be read (truncated, corrupt)."""
        groups = list(range(self.num_row_groups) if row_groups is None else row_groups)
        first_row = self.rows_before(groups[0]) if groups else 0
        for group in groups:
            try:
                for batch in self.file.iter_batches(batch_size=self.chunk_rows, row_groups=[group]):
                    if batch.num_rows:
                        yield ArrowChunk(first_row, batch)
                        first_row += batch.num_rows
            except (pa.ArrowException, OSError) as error:
                raise InputError(f"{self.source}: cannot read row group {group + 1}: {one_line(error)}") from None


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
