"""Writing Parquet: one row group per classified chunk into a file handle that io.atomic.atomic_file commits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..outputs import output_errors


@contextlib.contextmanager
def parquet_writer(handle: BinaryIO, schema: pa.Schema, path: str) -> Iterator[Callable[[pa.Table], None]]:
    """Yield ``write(table)``: each table becomes one row group of ``schema``; the footer is written when the
    block completes (on failure the caller's atomic file is discarded). A full disk or a read-only folder is an
    OutputError naming ``path``."""
    with output_errors(path):
        writer = pq.ParquetWriter(handle, schema)
    try:
        yield lambda table: _write(writer, table, path)
    except BaseException:
        with contextlib.suppress(Exception):  # the partial file is discarded: only release the writer
            writer.close()
        raise
    with output_errors(path):
        writer.close()


def _write(writer: pq.ParquetWriter, table: pa.Table, path: str) -> None:
    with output_errors(path):
        writer.write_table(table, row_group_size=max(table.num_rows, 1))
