"""The prediction columns as Arrow (language string, probability float64, nulls where a name has no letter) and
the output schema: the input's, then these."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .predictions import prediction_names, top_k


def prediction_fields(labels: list[str], k: int) -> list[pa.Field]:
    """The CSV writer's prediction columns (predictions.prediction_names: language, probability, language_2,
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
