"""The chunk stages where Arrow is involved: Parquet input (its batches' names encoded straight from Arrow's UTF-8
buffer, checked with --strict) and Arrow output pieces (Parquet rows, or Parquet rows as CSV text). Both engines
run these, as they run csv_stages for CSV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import InputError
from ..io.parquet.arrow import as_large_string, csv_fields_table, csv_text
from ..io.parquet.reader import ArrowChunk
from ..text.encode import RaggedNames, encode_byte_fields, encode_ragged
from .arrow_output import with_predictions
from .csv_stages import PreparedChunk
from .layout import ChunkLayout, NameCounts


@dataclass
class PreparedBatch(NameCounts):
    """A Parquet chunk checked and encoded: every row is a data row (there are no blank lines)."""

    chunk: ArrowChunk
    encoded: RaggedNames

    @property
    def records(self) -> int:
        return self.chunk.batch.num_rows

    blank = 0


def prepare_batch(chunk: ArrowChunk, layout: ChunkLayout) -> PreparedBatch:
    """Encode a Parquet chunk's names; with --strict, InputError naming the first row (1-based) without a
    letter."""
    names = chunk.batch.column(layout.column)
    encoded = encode_arrow_names(names, layout.alphabet)
    if layout.strict and (encoded.lengths == 0).any():
        row = int(np.flatnonzero(encoded.lengths == 0)[0])
        value = names[row].as_py()
        fault = "the name is null" if value is None else f"name {value!r} has no letter of the alphabet"
        raise InputError(
            f"{layout.source}: row {chunk.first_row + row + 1}: {fault}; drop --strict to leave such rows "
            "without a prediction"
        )
    return PreparedBatch(chunk, encoded)


def arrow_piece(prepared: PreparedChunk | PreparedBatch, log_probs: np.ndarray, layout: ChunkLayout):
    """(piece, rows): a pyarrow.Table of the chunk's input columns and its predictions (Parquet output), or that
    table as CSV bytes without a header (Parquet input, CSV output)."""
    labels = list(layout.labels)
    if isinstance(prepared, PreparedChunk):  # CSV in, Parquet out: the input's fields as text
        columns = csv_fields_table(prepared.chunk, prepared.rows, layout.columns)
    else:
        columns = prepared.chunk.batch
    table = with_predictions(columns, log_probs, labels, layout.top_k, layout.schema, layout.answers)
    if layout.output_format == "parquet":
        return table, table.num_rows
    return csv_text(table, layout.delimiter), table.num_rows


def encode_arrow_names(array: pa.Array | pa.ChunkedArray, alphabet: str) -> RaggedNames:
    """Fold and encode an Arrow text column straight from its UTF-8 buffer (text.encode.encode_byte_fields); only
    values that need folding go through Python strings. A null is a name with no letter."""
    strings = as_large_string(array)
    count = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64, count=strings.offset + count + 1)
    offsets = offsets[strings.offset :]
    data_buffer = strings.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    starts, stops = offsets[:-1].copy(), offsets[1:].copy()
    if strings.null_count:
        stops = np.where(strings.is_null().to_numpy(zero_copy_only=False), starts, stops)
    encoded, special = encode_byte_fields(data, starts, stops, alphabet)
    if len(special):
        texts = strings.take(pa.array(special)).to_pylist()
        encoded = encoded.replace_rows(special, encode_ragged(texts, alphabet))
    return encoded
