"""Arrow columns for ``classify``: names out of an Arrow string column, a CSV chunk's fields as Arrow strings,
the prediction columns, and Arrow tables as CSV text (pyarrow's CSV writer)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ...classify.csv_output import prediction_names, top_k
from ...errors import InputError
from ...text.encode import RaggedNames, encode_byte_fields, encode_ragged, ragged_positions
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


def encode_arrow_names(array: pa.Array | pa.ChunkedArray, alphabet: str) -> RaggedNames:
    """Fold and encode an Arrow text column straight from its UTF-8 buffer (text.encode_byte_fields); only
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


def prediction_fields(labels: list[str], k: int) -> list[pa.Field]:
    """The CSV writer's prediction columns (csvio.writer.prediction_names: language, probability, language_2,
    ...) typed: language string, probability float64; null where a name has no letter."""
    names = prediction_names(labels, k)
    return [pa.field(name, pa.string() if rank % 2 == 0 else pa.float64()) for rank, name in enumerate(names)]


def prediction_arrays(log_probs: np.ndarray, labels: list[str], k: int) -> list[pa.Array]:
    """The columns of prediction_fields for float32 [B, L] log-probs (NaN rows: no prediction, nulls)."""
    order, chosen, valid = top_k(log_probs, k)
    missing = ~valid
    label_dictionary = pa.array(labels, pa.string())
    arrays = []
    for rank in range(k):
        indices = pa.array(order[:, rank].astype(np.int32), mask=missing)
        arrays.append(pa.DictionaryArray.from_arrays(indices, label_dictionary).dictionary_decode())
        arrays.append(pa.array(np.exp(chosen[:, rank].astype(np.float64)), mask=missing))
    return arrays


def with_predictions(table: pa.Table | pa.RecordBatch, log_probs: np.ndarray, labels: list[str], k: int,
                     schema: pa.Schema) -> pa.Table:  # fmt: skip
    """``table``'s columns, then the prediction columns, as ``schema`` (the output's: same names and order)."""
    columns = list(table.columns) + prediction_arrays(log_probs, labels, k)
    return pa.Table.from_arrays(columns, schema=schema)


def output_schema(schema: pa.Schema, labels: list[str], k: int) -> pa.Schema:
    """The input's schema (its metadata kept) with the prediction columns appended."""
    result = schema
    for field in prediction_fields(labels, k):
        result = result.append(field)
    return result


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
