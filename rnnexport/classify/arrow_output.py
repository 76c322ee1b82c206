"""The prediction columns as Arrow (language string, probability float64, nulls where a name has no letter; with
an answer rule, prediction_set string, set_size int32 and status string) and the output schema: the input's, then
these."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..answers.rule import STATUSES, decide
from .answer_columns import set_texts
from .predictions import prediction_names, top_k

ANSWER_TYPES = {"prediction_set": pa.string(), "set_size": pa.int32(), "status": pa.string()}


def prediction_fields(labels: list[str], k: int, answers=None) -> list[pa.Field]:
    """The CSV writer's prediction columns (predictions.prediction_names: language, probability, language_2,
    ..., then an answers.rule.AnswerRule's) typed: language string, probability float64; null where a name has no
    letter."""
    names = prediction_names(labels, k, answers)
    types = [pa.string() if rank % 2 == 0 else pa.float64() for rank in range(2 * k)]
    return [pa.field(name, types[i] if i < 2 * k else ANSWER_TYPES[name]) for i, name in enumerate(names)]


def prediction_arrays(log_probs: np.ndarray, labels: list[str], k: int, answers=None) -> list[pa.Array]:
    """The columns of prediction_fields for float32 [B, L] log-probs (NaN rows: no prediction, nulls; an abstained
    row: a null language, its probabilities kept)."""
    order, chosen, valid = top_k(log_probs, k)
    decided = decide(log_probs, answers) if answers is not None else None
    label_dictionary = pa.array(labels, pa.string())
    arrays = []
    for rank in range(k):
        shown = valid if decided is None or rank else decided.answered
        indices = pa.array(order[:, rank].astype(np.int32), mask=~shown)
        arrays.append(pa.DictionaryArray.from_arrays(indices, label_dictionary).dictionary_decode())
        arrays.append(pa.array(np.exp(chosen[:, rank].astype(np.float64)), mask=~valid))
    if decided is not None:
        arrays += answer_arrays(decided, labels, valid)
    return arrays


def answer_arrays(decided, labels: list[str], valid: np.ndarray) -> list[pa.Array]:
    """prediction_set and set_size (with a coverage; null where a name has no letter), then status."""
    arrays = []
    if decided.sets is not None:
        arrays.append(pa.array(set_texts(decided.sets, labels), pa.string(), mask=~valid))
        arrays.append(pa.array(decided.sets.sum(axis=1).astype(np.int32), mask=~valid))
    arrays.append(pa.array(np.array(STATUSES, dtype=object)[decided.status], pa.string()))
    return arrays


def with_predictions(table: pa.Table | pa.RecordBatch, log_probs: np.ndarray, labels: list[str], k: int,
                     schema: pa.Schema, answers=None) -> pa.Table:  # fmt: skip
    """``table``'s columns, then the prediction columns, as ``schema`` (the output's: same names and order)."""
    columns = list(table.columns) + prediction_arrays(log_probs, labels, k, answers)
    return pa.Table.from_arrays(columns, schema=schema)


def output_schema(schema: pa.Schema, labels: list[str], k: int, answers=None) -> pa.Schema:
    """The input's schema (its metadata kept) with the prediction columns appended."""
    result = schema
    for field in prediction_fields(labels, k, answers):
        result = result.append(field)
    return result
