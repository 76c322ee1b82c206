"""Arrow text columns: a name column checked to hold text (and read as one large_string array), a CSV chunk's
fields as Arrow strings, unique column names, and Arrow tables written as CSV text (pyarrow's CSV writer)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...errors import InputError
from ...text.encode import ragged_positions
from ..csv.chunks import FieldColumn
from .reader import one_line


def check_name_type(field: pa.Field, source: str, option: str = "--column") -> None:
    """InputError unless the name column holds text: string, large_string, string_view, their dictionaries, or
    only nulls. ``option`` picks the names' column, for the message."""
    value_type = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type) or pa.types.is_null(value_type)
            or pa.types.is_string_view(value_type)):  # fmt: skip
        raise InputError(
            f"{source}: column {field.name!r} holds {field.type}, not text; choose the names' column with {option}"
        )


def as_large_string(array: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """A text column (any of check_name_type's types) as one large_string array."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array.cast(pa.large_string())


def csv_field_array(field: FieldColumn, rows: np.ndarray) -> pa.StringArray:
    """The values of one CSV field at ``rows`` as an Arrow string array (unquoted, as csv.reader gives them;
    empty where a record lacks the field). The bytes were checked as UTF-8 when the chunk was read."""
    starts, stops = field.starts[rows], field.stops[rows]
    lengths = (stops - starts).astype(np.int64)
    values = field.data[ragged_positions(starts, lengths)]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.StringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(values.tobytes()))


def csv_fields_table(chunk, rows: np.ndarray, names: tuple[str, ...]) -> pa.Table:
    """Fields 0 .. len(names)-1 of a CSV chunk's data records at ``rows`` as text columns called ``names``; a
    record without a field gets null there (csv.DictReader's restval)."""
    arrays = []
    for position in range(len(names)):
        field = chunk.field(position)
        array = csv_field_array(field, rows)
        present = field.counts[rows] > position
        if not present.all():
            array = pc.if_else(pa.array(present), array, pa.scalar(None, pa.string()))
        arrays.append(array)
    table = pa.Table.from_arrays(arrays, names=list(names))
    table.validate(full=True)
    return table


def csv_text(table: pa.Table, delimiter: str, header: bool = False) -> bytes:
    """``table`` as CSV by pyarrow's writer (LF line ends; strings quoted; nulls empty; numbers as pyarrow writes
    them). InputError for a column CSV cannot hold (a list, a struct, ...)."""
    sink = io.BytesIO()
    table = _without_views(table)
    try:
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header, delimiter=delimiter))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        culprit = next((f"column {field.name!r} ({field.type}) " for field in table.schema
                        if not _csv_can_hold(table.select([field.name]))), "these columns ")  # fmt: skip
        raise InputError(f"cannot write {culprit}as CSV ({one_line(error)}); write Parquet (-o out.parquet)") from None
    return sink.getvalue()


def _csv_can_hold(table: pa.Table) -> bool:
    try:
        pacsv.write_csv(table, io.BytesIO())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


_VIEW_CASTS = ((pa.types.is_string_view, pa.large_string()), (pa.types.is_binary_view, pa.large_binary()))


def _without_views(table: pa.Table) -> pa.Table:
    """string_view/binary_view columns as large_string/large_binary: pyarrow's CSV writer takes only those."""
    fields = [
        next((pa.field(field.name, target, field.nullable) for test, target in _VIEW_CASTS if test(field.type)), field)
        for field in table.schema
    ]
    return table if fields == list(table.schema) else table.cast(pa.schema(fields, table.schema.metadata))


def unique_columns(names: list[str], source: str) -> None:
    """InputError when two columns share a name: Parquet readers cannot tell them apart."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            raise InputError(
                f"{source}: columns {seen[name] + 1} and {position + 1} are both called {name!r}; Parquet needs unique "
                "column names: rename one, or write CSV"
            )
        seen[name] = position
