"""Where classified pieces go: one output, CSV or Parquet, that appears at its path only once complete
(io.atomic.atomic_file), whichever engine produced the pieces."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..io.atomic import atomic_file
from .layout import ChunkLayout


@contextlib.contextmanager
def output_sink(path: str, layout: ChunkLayout, header: bytes) -> Iterator[Callable[[Any], None]]:
    """Yield ``write(piece)`` for chunk_piece's pieces, in order; the file appears at ``path`` only when the
    block completes (io.atomic.atomic_file). CSV: ``header`` then the pieces' bytes; Parquet: one row group per
    piece, then the footer."""
    with atomic_file(path, binary=True) as handle:
        if layout.output_format == "csv":
            handle.write(header)
            yield lambda piece: handle.write(memoryview(piece))
            return
        from ..io.parquet.writer import parquet_writer

        with parquet_writer(handle, layout.schema, path) as write:
            yield write
