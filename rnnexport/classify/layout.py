"""What every chunk stage needs to know about the input and the output (ChunkLayout), what a prepared chunk
counts for the summary (NameCounts), and an input opened for classifying (OpenedInput)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io.csv.dialect import Utf8Check
from ..runtimes.prefix import DEFAULT_BLOCK_SIZE
from ..text.encode import RaggedNames


@dataclass(frozen=True)
class ChunkLayout:
    """What classifying any chunk needs (small and picklable: Dask ships it to workers).

    ``column``: the name field's 0-based position; ``width``: the header's field count (None: no header, so no
    padding and no field-count check); ``line_end``: given to a last record that has none; ``alphabet``: the
    model's, which names are folded and encoded to. For Parquet input, ``delimiter`` is the output CSV's.
    """

    source: str
    delimiter: str
    column: int
    width: int | None
    line_end: bytes
    labels: tuple[str, ...]
    top_k: int
    strict: bool
    batch_size: int
    alphabet: str
    prefix_sharing: bool = True
    block_size: int = DEFAULT_BLOCK_SIZE
    input_format: str = "csv"
    output_format: str = "csv"
    columns: tuple[str, ...] = ()  # CSV input, Parquet output: the input columns written (as text)
    schema: Any = None  # Parquet output, or Parquet input: the output's pyarrow.Schema
    answers: Any = None  # an answers.rule.AnswerRule (abstention, prediction sets), thresholds filled in; or None


class NameCounts:
    """What the summary counts in a prepared chunk's ``encoded`` names (a mixin of PreparedChunk and
    arrow_stages.PreparedBatch)."""

    encoded: RaggedNames

    @property
    def skipped(self) -> int:
        """Names with no letter: no prediction."""
        return int((self.encoded.lengths == 0).sum())

    @property
    def lost(self) -> int:
        """Names classified after losing characters in folding (a skipped name is counted as skipped only)."""
        return int(np.count_nonzero((self.encoded.lost > 0) & (self.encoded.lengths > 0)))


@dataclass
class OpenedInput:
    """An input ready to classify: ``reader`` (an io.csv CsvInput or an io.parquet ParquetInput) and its
    ``layout``; ``header``: the output's CSV header (b'' for Parquet output); ``column`` and ``delimiter``: for the
    summary (``delimiter`` None for Parquet input); ``utf8_check``: a UTF-8 CSV input's check (else None)."""

    reader: Any
    layout: ChunkLayout
    header: bytes
    column: str
    delimiter: str | None
    utf8_check: Utf8Check | None

    def chunks(self) -> Iterator:
        return self.reader.chunks()
