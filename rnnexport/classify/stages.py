"""The per-chunk stages both engines run, whatever the formats: a chunk checked and encoded (csv_stages,
arrow_stages), its log-probs (log_probs: a ChunkPredictions), its output piece (CSV bytes or an Arrow table).

The local engine runs them on a stream of chunks, several chunks at once; the Dask engine runs them on each
partition's chunks, which are the local engine's chunks, so that every model batch, every output byte and every
error is the same.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np

from ..io.csv.dialect import Utf8Check
from ..runtimes.base import Runtime
from .csv_stages import chunk_output, prepare_chunk
from .layout import ChunkLayout
from .log_probs import ChunkPredictions, chunk_predictions, predict_log_probs
from .name_cache import LogProbCache


def prepare(chunk, layout: ChunkLayout, utf8_check: Utf8Check | None, utf8_problem=None):
    """Check and encode one chunk (InputError for the earliest fault in it): a CSV RecordChunk into a
    PreparedChunk, a Parquet ArrowChunk into a PreparedBatch. ``utf8_problem``: what ``utf8_check`` found in the
    chunk when the caller ran it already (csv_stages.utf8_problem), in input order."""
    if layout.input_format == "csv":
        return prepare_chunk(chunk, layout, utf8_check, utf8_problem)
    from .arrow_stages import prepare_batch

    return prepare_batch(chunk, layout)


def chunk_log_probs(prepared, runtime: Runtime, layout: ChunkLayout, cache: LogProbCache | None = None,
                    pool: Executor | None = None) -> ChunkPredictions:  # fmt: skip
    """The log-probs of a prepared chunk's names (log_probs.chunk_predictions; rows with no letter get none)."""
    return chunk_predictions(runtime, prepared.encoded, layout.batch_size, layout.prefix_sharing, layout.block_size,
                             cache, pool)  # fmt: skip


def reference_log_probs(prepared, reference: Runtime, layout: ChunkLayout) -> np.ndarray:
    """With --check: float64 [rows, L] of the reference (eager float64, always per name) on the chunk's names."""
    return predict_log_probs(reference, prepared.encoded, len(reference.labels), layout.batch_size)


def chunk_piece(prepared, predictions: ChunkPredictions, layout: ChunkLayout) -> tuple[Any, int]:
    """A classified chunk as its output takes it, and the rows it holds: CSV bytes (uint8 array or bytes) or a
    pyarrow.Table. ``prepared``: a PreparedChunk (CSV input) or an arrow_stages.PreparedBatch (Parquet)."""
    if layout.input_format == "csv" and layout.output_format == "csv":
        return chunk_output(prepared, predictions, layout)
    from .arrow_stages import arrow_piece

    return arrow_piece(prepared, predictions.rows(), layout)
