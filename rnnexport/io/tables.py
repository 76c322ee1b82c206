"""Whole tables read into memory as text: training data (train, evaluate) and the names export and verify check.

They go through classify's readers, so a file classify reads is read the same way here: CSV through io/csv (a
UTF-8 or UTF-16 byte-order mark, an Excel ``sep=`` line, the delimiter detected from the header, RFC 4180 quoting,
blank lines skipped, an invalid byte or a record wider than the header refused with its line), Parquet through
pyarrow (by extension or magic bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import InputError
from .csv.reader import CsvInput, opened_csv, wider_than_header
from .formats import input_format
from .parquet.arrow import check_name_type, csv_fields_table
from .parquet.reader import opened_parquet


@dataclass(frozen=True)
class TextTable:
    """A table's ``columns`` (header names, in order) and its data ``table`` (Arrow; CSV fields as text, null
    where a record is shorter than the header). ``lines``: int64 [rows], each row's physical line in a CSV
    (None for Parquet, whose rows are counted from 1)."""

    source: str
    columns: list[str]
    table: pa.Table
    lines: np.ndarray | None

    def texts(self, position: int, text_only: bool = False) -> list[str | None]:
        """Column ``position`` as Python strings (None for a null). InputError when it cannot be text, or with
        ``text_only`` (names) when it holds numbers or other values that are not text (classify's rule,
        io.parquet.arrow.check_name_type)."""
        column = self.table.column(position)
        if text_only:
            check_name_type(pa.field(self.columns[position], column.type), self.source, "--name-column")
        try:
            return column.cast(pa.string()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputError(
                f"{self.source}: column {self.columns[position]!r} holds {column.type}, not text"
            ) from None

    def where(self, row: int) -> str:
        """Where data row ``row`` (0-based) is, in the words of the format: 'line N' (CSV) or 'row N'."""
        return f"line {int(self.lines[row])}" if self.lines is not None else f"row {row + 1}"


def read_text_table(path: str | Path) -> TextTable:
    """The whole table at ``path``: Parquet by extension or magic bytes, else CSV (its delimiter from a ``sep=``
    line, else detected from the header). Raises InputError as classify would for the file."""
    if input_format(str(path)) == "parquet":
        return _read_parquet(str(path))
    with opened_csv(str(path)) as csv_input:
        pieces = [_csv_piece(chunk, csv_input) for chunk in csv_input.chunks()]
    empty = pa.table({f"_{i}": pa.array([], pa.string()) for i in range(len(csv_input.columns))})
    table = pa.concat_tables([piece for piece, _ in pieces]) if pieces else empty
    lines = np.concatenate([lines for _, lines in pieces]) if pieces else np.zeros(0, np.int64)
    return TextTable(csv_input.source, csv_input.columns, table, lines)


def _csv_piece(chunk, csv_input: CsvInput) -> tuple[pa.Table, np.ndarray]:
    """A chunk's data records (blank lines dropped) as text columns, and their physical lines."""
    if csv_input.utf8_check is not None:
        csv_input.utf8_check.check(chunk.data.tobytes(), int(chunk.first_line))
    rows = np.flatnonzero(~chunk.blank)
    width = len(csv_input.columns)
    counts = chunk.field(0).counts[rows]
    wide = np.flatnonzero(counts > width)
    if len(wide):
        line = int(chunk.lines[int(rows[wide[0]])])
        raise wider_than_header(csv_input.source, line, int(counts[wide[0]]), width, csv_input.delimiter)
    names = tuple(f"_{i}" for i in range(width))  # the header's names may repeat; Arrow's are positional here
    return csv_fields_table(chunk, rows, names), np.asarray(chunk.lines[rows], dtype=np.int64)


def _read_parquet(path: str) -> TextTable:
    with opened_parquet(path, chunk_rows=1 << 16) as parquet_input:
        batches = [chunk.batch for chunk in parquet_input.chunks()]
        table = pa.Table.from_batches(batches, schema=parquet_input.schema)
        return TextTable(parquet_input.source, parquet_input.columns, table, None)
