"""Inputs where Arrow is involved: a Parquet file opened for classifying (its layout: the name column checked to
hold text, the output schema), and a CSV input's layout for Parquet output (its fields as text columns)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import pyarrow as pa

from ..errors import InputError
from ..io.columns import choose_column
from ..io.csv.reader import CsvInput
from ..io.parquet.arrow import check_name_type, csv_text, unique_columns
from ..io.parquet.reader import opened_parquet
from .arrow_output import output_schema
from .layout import ChunkLayout, OpenedInput
from .options import ClassifyOptions
from .predictions import check_no_clash

CSV_ONLY_OPTIONS = {"encoding": "--encoding", "header": "--no-header"}


def with_table_columns(layout: ChunkLayout, csv_input: CsvInput) -> ChunkLayout:
    """A CSV input's layout for Parquet output: its columns (the header's, unique; without a header
    column_1 .. column_N, N the first record's field count) become text columns, then the predictions."""
    if csv_input.header is not None:
        unique_columns(csv_input.columns, csv_input.source)
        names = tuple(csv_input.columns)
    else:
        names = tuple(f"column_{i + 1}" for i in range(max(_first_record_width(csv_input), layout.column + 1)))
    schema = output_schema(pa.schema([pa.field(name, pa.string()) for name in names]), list(layout.labels),
                           layout.top_k, layout.answers)  # fmt: skip
    return dataclasses.replace(layout, columns=names, schema=schema)


def _first_record_width(csv_input: CsvInput) -> int:
    """The field count of the first record that is not a blank line (1 when there is none), whatever the chunk
    size: leading blank lines once took it from a chunk of blank lines only."""
    found = csv_input.first_record()
    if found is None:
        return 1
    chunk, record = found
    return int(chunk.field(0).counts[record])


@contextlib.contextmanager
def opened_parquet_input(path: str, labels: list[str], alphabet: str, options: ClassifyOptions,
                         output_format: str) -> Iterator[OpenedInput]:  # fmt: skip
    """A Parquet file opened for classifying into ``output_format``. InputError for CSV-only options, a name
    column that is not text, a clash with the prediction columns, or a column CSV output cannot hold."""
    defaults = ClassifyOptions()
    given = [flag for option, flag in CSV_ONLY_OPTIONS.items() if getattr(options, option) != getattr(defaults, option)]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise InputError(f"{' and '.join(given)} {verb} to CSV input only; this input is Parquet")
    with opened_parquet(path, options.chunk_rows) as parquet_input:
        layout = parquet_layout(parquet_input, labels, alphabet, options, output_format)
        header = csv_text(layout.schema.empty_table(), layout.delimiter, header=True) if output_format == "csv" else b""
        yield OpenedInput(parquet_input, layout, header, parquet_input.columns[layout.column], None, None)


def parquet_layout(parquet_input, labels: list[str], alphabet: str, options: ClassifyOptions,
                   output_format: str) -> ChunkLayout:  # fmt: skip
    """The layout of an opened Parquet input: the name column by classify's rule, checked to hold text."""
    source, columns = parquet_input.source, parquet_input.columns
    column = choose_column(columns, options.column, source)
    check_name_type(parquet_input.schema.field(column), source)
    check_no_clash(columns, labels, options.top_k, options.answers)
    if output_format == "parquet":
        unique_columns(columns, source)
    return ChunkLayout(source, options.delimiter or ",", column, None, b"\n", tuple(labels), options.top_k,
                       options.strict, options.batch_size, alphabet, options.prefix_sharing, options.block_size,
                       input_format="parquet", output_format=output_format, answers=options.answers,
                       schema=output_schema(parquet_input.schema, labels, options.top_k, options.answers))  # fmt: skip
