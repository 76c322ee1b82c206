"""The chunk stages of CSV input, without a Python string per row: a chunk of raw UTF-8 records checked (valid
UTF-8, no record wider than the header, with --strict a letter in every name) and its name field encoded from
its bytes (text.encode.encode_byte_fields); then its output, the input bytes with each record's prediction fields
inserted before its line end (csv_output). Only the rare field that needs folding (a byte >= 128, a quote, a
digit, a leading space) goes through Python text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..answers.rule import decide
from ..errors import InputError
from ..io.csv.chunks import FieldColumn, RecordChunk
from ..io.csv.dialect import Utf8Check
from ..io.csv.reader import wider_than_header
from ..text.encode import RaggedNames, encode_byte_fields, encode_ragged
from .answer_columns import csv_answer_fields, join_rows
from .csv_output import insert_before_line_ends, prediction_fields, shared_prediction_fields
from .layout import ChunkLayout, NameCounts
from .log_probs import ChunkPredictions


@dataclass
class PreparedChunk(NameCounts):
    """A chunk checked and encoded: ``rows`` (int64) are its data records (blank lines aside), ``encoded`` their
    names, ``padding`` the empty fields each lacks against the header (None without a header)."""

    chunk: RecordChunk
    rows: np.ndarray
    encoded: RaggedNames
    padding: np.ndarray | None

    @property
    def records(self) -> int:
        return len(self.rows)

    @property
    def blank(self) -> int:
        return len(self.chunk.starts) - len(self.rows)


def utf8_problem(chunk: RecordChunk, utf8_check: Utf8Check | None) -> tuple[int, InputError] | None:
    """The chunk's first invalid UTF-8 byte, with its line (None: valid, or no check). Chunks are checked in
    input order (the message says whether earlier lines held multi-byte UTF-8)."""
    return utf8_check.first_error(chunk.data.tobytes(), int(chunk.first_line)) if utf8_check else None


def prepare_chunk(chunk: RecordChunk, layout: ChunkLayout, utf8_check: Utf8Check | None,
                  utf8_found: tuple[int, InputError] | None = None) -> PreparedChunk:  # fmt: skip
    """Check a chunk (valid UTF-8, no record wider than the header, with --strict a letter in every name) and
    encode its names. Raises the InputError of the earliest line at fault, so that any chunking of a file
    (the local engine's, Dask's partitions) reports the same error. ``utf8_found``: :func:`utf8_problem`'s
    answer, when the caller checked the chunk already (then ``utf8_check`` is None)."""
    rows = np.flatnonzero(~chunk.blank)
    field = chunk.field(layout.column)
    problems = [utf8_problem(chunk, utf8_check) if utf8_check else utf8_found]
    counts = field.counts[rows]
    if layout.width is not None or layout.columns:
        problems.append(_too_many_fields(chunk, rows, counts, layout))
    encoded = encode_field(field, rows, len(chunk.data), layout.alphabet)
    if layout.strict:
        problems.append(_no_letter(chunk, rows, encoded, field, layout.source))
    found = [problem for problem in problems if problem is not None]
    if found:
        raise min(found, key=lambda problem: problem[0])[1]
    padding = layout.width - counts if layout.width is not None else None
    return PreparedChunk(chunk, rows, encoded, padding)


def _too_many_fields(chunk, rows, counts, layout) -> tuple[int, InputError] | None:
    """The first record wider than the header (or, headerless into Parquet, than the first record)."""
    limit = layout.width if layout.width is not None else len(layout.columns)
    wide = np.flatnonzero(counts > limit)
    if not len(wide):
        return None
    line = int(chunk.lines[int(rows[wide[0]])])
    if layout.width is None:
        fields = f"{layout.source}: line {line} has {int(counts[wide[0]])} fields"
        return line, InputError(f"{fields}, the first record has {limit}; a Parquet table has one width: add a "
                                "header line, or write CSV")  # fmt: skip
    return line, wider_than_header(layout.source, line, int(counts[wide[0]]), limit, layout.delimiter)


def _no_letter(chunk, rows, encoded, field, source) -> tuple[int, InputError] | None:
    empty = np.flatnonzero(encoded.lengths == 0)
    if not len(empty):
        return None
    row = int(rows[empty[0]])
    line = int(chunk.lines[row])
    name = field.value(row).decode("utf-8", "replace")
    return line, InputError(
        f"{source}: line {line}: name {name!r} has no letter of the alphabet; drop --strict to leave such rows "
        "without a prediction"
    )


def encode_field(field: FieldColumn, rows: np.ndarray, chunk_size: int, alphabet: str) -> RaggedNames:
    """The names (field values at ``rows``) encoded: alphabet-only values from their bytes, the rest (and the
    values unquoted into a copy after the chunk's bytes) through their decoded text."""
    starts, stops = field.starts[rows], field.stops[rows]
    moved = starts >= chunk_size  # encode_byte_fields needs sorted spans: moved ones become empty, then replaced
    if moved.any():
        floor = np.maximum.accumulate(np.where(moved, 0, stops))
        starts, stops = np.where(moved, floor, starts), np.where(moved, floor, stops)
    encoded, special = encode_byte_fields(field.data, starts, stops, alphabet)
    special = np.union1d(special, np.flatnonzero(moved))
    if len(special):
        texts = [field.value(int(rows[i])).decode("utf-8", "replace") for i in special]
        encoded = encoded.replace_rows(special, encode_ragged(texts, alphabet))
    return encoded


SHARED_FIELDS_BELOW = 0.5  # distinct names per row under which each name's fields are formatted once


def chunk_output(prepared: PreparedChunk, predictions: ChunkPredictions, layout: ChunkLayout) -> tuple[np.ndarray, int]:
    """The chunk's output bytes (uint8) and its data rows: every record byte for byte, the prediction fields
    inserted before each data record's line end; blank lines copied as they are. A last record without a line
    end gets ``layout.line_end`` after its fields."""
    chunk, labels, padding = prepared.chunk, list(layout.labels), prepared.padding
    rows = predictions.rows() if layout.answers is not None else None  # scattered once: decide and the fields
    answers = decide(rows, layout.answers) if rows is not None else None
    inverse = predictions.inverse
    if (answers is None and inverse is not None and len(predictions.log_probs) < SHARED_FIELDS_BELOW * len(inverse)
            and (padding is None or not padding.any())):  # fmt: skip
        fields, lengths = shared_prediction_fields(predictions.log_probs, inverse, labels, layout.top_k,
                                                   layout.delimiter)  # fmt: skip
    else:
        answered = None if answers is None else answers.answered
        fields, lengths = prediction_fields(predictions.rows() if rows is None else rows, labels, layout.top_k,
                                            padding, layout.delimiter, answered)  # fmt: skip
    if answers is not None:
        extra = csv_answer_fields(answers, labels, layout.answers, layout.delimiter)
        fields, lengths = join_rows((fields, lengths), extra)
    record_lengths = np.zeros(len(chunk.starts), dtype=np.int64)
    record_lengths[prepared.rows] = lengths
    if len(chunk.starts) and chunk.ends[-1] == chunk.content_ends[-1] and not chunk.blank[-1]:
        fields = np.concatenate((fields, np.frombuffer(layout.line_end, dtype=np.uint8)))
        record_lengths[-1] += len(layout.line_end)
    return insert_before_line_ends(chunk, fields, record_lengths), len(lengths)
