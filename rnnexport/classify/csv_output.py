"""Writing classified CSV: prediction fields (top-k labels and probabilities, as bytes, without a Python loop per
row) spliced into the input records before their line ends, and the output's header record."""

from __future__ import annotations

import numpy as np

from ..io.csv.chunks import RecordChunk
from ..text.encode import ragged_positions
from .predictions import top_k

_THREE_DIGITS = np.array([list(f"{number:03d}".encode()) for number in range(1000)], dtype=np.uint8)


PROBABILITY_DECIMALS = 6  # classify's CSV writes probabilities as 0.123456


def probability_digits(probabilities: np.ndarray) -> np.ndarray:
    """uint8 [B, 8]: each probability in [0, 1] as the ASCII of '0.123456' (NaN rows hold zeros' digits)."""
    millionths = np.rint(np.nan_to_num(probabilities) * 1e6).astype(np.int32)
    thousandths = millionths // 1000
    digits = np.empty((len(millionths), 8), dtype=np.uint8)
    digits[:, 0] = ord("0") + thousandths // 1000
    digits[:, 1] = ord(".")
    digits[:, 2:5] = _THREE_DIGITS[thousandths % 1000]
    digits[:, 5:8] = _THREE_DIGITS[millionths - thousandths * 1000]
    return digits


def prediction_fields(
    log_probs: np.ndarray,
    labels: list[str],
    k: int,
    padding: np.ndarray | None = None,
    delimiter: str = ",",
    answered: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What each output row inserts before its input record's line end, as UTF-8 bytes, without a Python loop
    per row.

    Row i gets ``padding[i]`` delimiters (a record short of fields), then ``<d>language<d>probability`` for each
    of the top k (two delimiters when the row has no prediction). A row not ``answered`` (bool [B]: abstained,
    answers/rule.py) keeps its probabilities but its first language is left empty. Returns the rows' bytes
    concatenated and their lengths (int64 [B]).
    """
    order, chosen, valid = top_k(log_probs, k)
    if k == 1 and (padding is None or not padding.any()) and answered is None:
        return _single_prediction_fields(order[:, 0], chosen[:, 0], valid, labels, delimiter)
    rows = len(valid)
    labels_table, label_lengths = _right_aligned(
        [f"{delimiter}{csv_field(label, delimiter)}{delimiter}" for label in labels] + [delimiter * 2]
    )  # fmt: skip  (last: no prediction)
    pieces = []  # (bytes [B, width] right-aligned, used length [B])
    if padding is not None and padding.any():
        pieces.append((np.full((rows, int(padding.max())), ord(delimiter), dtype=np.uint8), padding))
    for rank in range(k):
        shown = valid if answered is None or rank else valid & answered
        label = np.where(shown, order[:, rank], len(labels))
        pieces.append((labels_table[label], label_lengths[label]))
        pieces.append((probability_digits(np.exp(chosen[:, rank].astype(np.float64))), np.where(valid, 8, 0)))
    matrix = np.hstack([piece for piece, _ in pieces])
    used = np.hstack([np.arange(piece.shape[1] - 1, -1, -1) < lengths[:, None] for piece, lengths in pieces])
    return matrix[used], sum(lengths for _, lengths in pieces)


def shared_prediction_fields(log_probs: np.ndarray, inverse: np.ndarray, labels: list[str], k: int,
                             delimiter: str = ",") -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`prediction_fields` (no padding) of rows that share names: ``log_probs`` float32 [D, L] of the distinct
    names, ``inverse`` int64 [B] each row's name (-1: no prediction). Each name's fields are formatted once and
    copied to its rows: the same bytes, faster when names repeat (fewer than about half as many as rows)."""
    no_prediction = np.full((1, log_probs.shape[1]), np.nan, dtype=log_probs.dtype)
    fields, lengths = prediction_fields(np.concatenate((log_probs, no_prediction)), labels, k, None, delimiter)
    offsets = np.cumsum(lengths) - lengths
    chosen = np.where(inverse < 0, len(log_probs), inverse)
    row_lengths = lengths[chosen]
    return fields[ragged_positions(offsets[chosen], row_lengths)], row_lengths


def _single_prediction_fields(
    label: np.ndarray, log_prob: np.ndarray, valid: np.ndarray, labels: list[str], delimiter: str
) -> tuple[np.ndarray, np.ndarray]:
    """prediction_fields for the top 1 and no padding: one right-aligned row each, so one mask."""
    labels_table, label_lengths = _right_aligned([f"{delimiter}{csv_field(name, delimiter)}{delimiter}"
                                                  for name in labels])  # fmt: skip
    width = labels_table.shape[1] + 8
    matrix = np.empty((len(label), width), dtype=np.uint8)
    matrix[:, : width - 8] = labels_table[label]
    matrix[:, width - 8 :] = probability_digits(np.exp(log_prob.astype(np.float64)))
    lengths = label_lengths[label] + 8
    if not valid.all():
        matrix[~valid, -2:] = ord(delimiter)  # no prediction: two delimiters
        lengths[~valid] = 2
    used = np.arange(width - 1, -1, -1) < lengths[:, None]
    return matrix[used], lengths


def csv_field(text: str, delimiter: str) -> str:
    """``text`` as one CSV field: quoted (quotes doubled) when it holds the delimiter, a quote, CR or LF, as
    Python's csv module writes it with QUOTE_MINIMAL; else as it is."""
    if any(c in text for c in (delimiter, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


def _right_aligned(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 of each text right-aligned in a row of a uint8 matrix, and each one's length."""
    encoded = [text.encode("utf-8") for text in texts]
    width = max(map(len, encoded))
    table = np.zeros((len(encoded), width), dtype=np.uint8)
    for row, value in enumerate(encoded):
        table[row, width - len(value) :] = np.frombuffer(value, dtype=np.uint8)
    return table, np.array([len(value) for value in encoded], dtype=np.int64)


def insert_before_line_ends(chunk: RecordChunk, fields: np.ndarray, field_lengths: np.ndarray) -> np.ndarray:
    """The chunk's bytes with record i's ``fields`` (``field_lengths[i]`` bytes, in record order) inserted where
    its fields stop: each record's own bytes and line end stay as they are (uint8 array)."""
    content = chunk.content_ends - chunk.starts
    line_end = chunk.ends - chunk.content_ends
    segments = np.column_stack((content, field_lengths, line_end)).ravel()
    is_field = np.repeat(np.tile([False, True, False], len(content)), segments)
    output = np.empty(len(is_field), dtype=np.uint8)
    output[~is_field] = chunk.data
    output[is_field] = fields
    return output


def output_header(header: bytes, names: list[str], delimiter: str, line_end: bytes) -> bytes:
    """The output's header record: the input's header fields as written, then the prediction columns."""
    return delimiter.encode().join([header, *(name.encode("utf-8") for name in names)]) + line_end
