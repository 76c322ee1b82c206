"""The per-chunk stages both engines run, whatever the formats: a chunk checked and encoded (csv_stages,
arrow_stages), its log-probs (log_probs), its output piece (CSV bytes or an Arrow table).

The local engine runs them on one stream of chunks; the Dask engine runs them on each partition's chunks, which
are the local engine's chunks, so that every model batch, every output byte and every error is the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..io.csv.dialect import Utf8Check
from ..runtimes.base import Runtime
from ..verification.parity import ParityCheck
from .csv_stages import PreparedChunk, chunk_output, prepare_chunk
from .layout import ChunkLayout
from .log_probs import predict_chunk_log_probs, predict_log_probs


def prepare(chunk, layout: ChunkLayout, utf8_check: Utf8Check | None):
    """Check and encode one chunk (InputError for the earliest fault in it): a CSV RecordChunk into a
    PreparedChunk, a Parquet ArrowChunk into a PreparedBatch."""
    if layout.input_format == "csv":
        return prepare_chunk(chunk, layout, utf8_check)
    from .arrow_stages import prepare_batch

    return prepare_batch(chunk, layout)


def chunk_log_probs(prepared: PreparedChunk, runtime: Runtime, layout: ChunkLayout, reference: Runtime | None = None,
                    check: ParityCheck | None = None) -> np.ndarray:  # fmt: skip
    """float32 [rows, labels] log-probs of a prepared chunk's names (NaN rows: no letter, no prediction); with a
    ``reference`` (eager float64, always per name), the comparison goes into ``check``."""
    log_probs = predict_chunk_log_probs(runtime, prepared.encoded, layout.batch_size, layout.prefix_sharing,
                                        layout.block_size)  # fmt: skip
    if reference is not None:
        encoded = prepared.encoded
        reference_log_probs = predict_log_probs(reference, encoded, len(reference.labels), layout.batch_size)
        check.add(reference_log_probs, log_probs, lambda row: encoded.text(row, layout.alphabet))
    return log_probs


def chunk_piece(prepared, log_probs: np.ndarray, layout: ChunkLayout) -> tuple[Any, int]:
    """A classified chunk as its output takes it, and the rows it holds: CSV bytes (uint8 array or bytes) or a
    pyarrow.Table. ``prepared``: a PreparedChunk (CSV input) or an arrow_stages.PreparedBatch (Parquet)."""
    if layout.input_format == "csv" and layout.output_format == "csv":
        return chunk_output(prepared, log_probs, layout)
    from .arrow_stages import arrow_piece

    return arrow_piece(prepared, log_probs, layout)
