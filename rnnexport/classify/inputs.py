"""An input opened for classifying, CSV or Parquet (io.formats.input_format): its reader and its layout (the name
column by the one rule, checked against the prediction columns), and the header the output starts with.
Parquet's side is arrow_inputs.py, imported only when Arrow is involved (CSV to CSV never imports pyarrow)."""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import Iterator

from ..io.columns import choose_column
from ..io.csv.reader import CsvInput, opened_csv
from ..io.formats import input_format, output_format
from .csv_output import output_header
from .layout import ChunkLayout, OpenedInput
from .options import ClassifyOptions
from .predictions import check_no_clash, prediction_names


def chunk_layout(csv_input: CsvInput, labels: list[str], alphabet: str, options: ClassifyOptions,
                 output_format: str = "csv") -> ChunkLayout:  # fmt: skip
    """The layout of an opened CSV input; InputError for an unusable --column or a clashing column (and, for
    Parquet output, for duplicate column names)."""
    column = choose_column(csv_input.columns, options.column, csv_input.source, csv_input.header is not None,
                           no_header_option="--no-header")  # fmt: skip
    if csv_input.header is not None:
        check_no_clash(csv_input.columns, labels, options.top_k, options.answers)
    width = len(csv_input.columns) if csv_input.header is not None else None
    layout = ChunkLayout(csv_input.source, csv_input.delimiter, column, width, csv_input.line_end, tuple(labels),
                         options.top_k, options.strict, options.batch_size, alphabet, options.prefix_sharing,
                         options.block_size, output_format=output_format, answers=options.answers)  # fmt: skip
    if output_format == "parquet":
        from .arrow_inputs import with_table_columns

        layout = with_table_columns(layout, csv_input)
    return layout


def column_title(csv_input: CsvInput, layout: ChunkLayout) -> str:
    """The name column as the summary shows it: its header name, or its number without a header."""
    return csv_input.columns[layout.column] if layout.width is not None else f"column {layout.column + 1}"


def output_header_bytes(csv_input: CsvInput, layout: ChunkLayout) -> bytes:
    """What the output starts with: UTF-8's byte-order mark when the input had one (UTF-8's or UTF-16's: Excel
    reads a UTF-8 file's letters right only with it), then the header record (none without a header): the
    input's, then the prediction columns."""
    bom = codecs.BOM_UTF8 if csv_input.bom else b""
    if csv_input.header is None:
        return bom
    fields, line_end = csv_input.header
    names = prediction_names(list(layout.labels), layout.top_k, layout.answers)
    return bom + output_header(fields, names, layout.delimiter, line_end or layout.line_end)


@contextlib.contextmanager
def opened_input(path: str, labels: list[str], alphabet: str, options: ClassifyOptions,
                 output_path: str) -> Iterator[OpenedInput]:  # fmt: skip
    """Open ``path`` (CSV or Parquet, see io.formats.input_format) for classifying into ``output_path``.

    Raises InputError for an unreadable file, an unusable encoding, delimiter, header or column, a clash with
    the prediction columns, or options that do not apply to the input's format."""
    in_format = input_format(path, options.input_format)
    out_format = output_format(output_path, options.output_format)
    if in_format == "parquet":
        from .arrow_inputs import opened_parquet_input

        with opened_parquet_input(path, labels, alphabet, options, out_format) as opened:
            yield opened
        return
    settings = {"encoding": options.encoding, "delimiter": options.delimiter, "has_header": options.header,
                "chunk_rows": options.chunk_rows}  # fmt: skip
    with opened_csv(path, **settings) as csv_input:
        layout = chunk_layout(csv_input, labels, alphabet, options, out_format)
        header = output_header_bytes(csv_input, layout) if out_format == "csv" else b""
        yield OpenedInput(
            csv_input, layout, header, column_title(csv_input, layout), csv_input.delimiter, csv_input.utf8_check
        )
