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
from ..text.scripts import script_name


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


# Letters a name may have (after folding) to be classified. The model runs a longer name letter by letter, about
# 3-5 us a letter whatever the runtime (an 8 MB name took 47 s and 299 MB): such a field is not a name, and it
# is left without a prediction like a name with no letter, and counted apart (the summary says how many).
MAX_NAME_LETTERS = 1_000_000


class NameCounts:
    """What the summary counts in a prepared chunk's ``encoded`` names (a mixin of PreparedChunk and
    arrow_stages.PreparedBatch)."""

    encoded: RaggedNames

    @property
    def skipped(self) -> int:
        """Names with no letter: no prediction."""
        return int((self.encoded.lengths == 0).sum())

    @property
    def too_long(self) -> int:
        """Names of more than MAX_NAME_LETTERS letters: no prediction."""
        return int((self.encoded.lengths > MAX_NAME_LETTERS).sum())

    @property
    def lost(self) -> int:
        """Names classified after losing characters in folding (a name without a prediction is not counted)."""
        lengths = self.encoded.lengths
        return int(np.count_nonzero((self.encoded.lost > 0) & (lengths > 0) & (lengths <= MAX_NAME_LETTERS)))

    @property
    def guessed(self) -> dict[str, int]:
        """Names classified although written in a script whose Latin spelling the fold can only guess, per
        script (text.scripts): {'Han': 2, ...}."""
        if self.encoded.guessed is None:
            return {}
        ids = np.bincount(self.encoded.guessed[self.encoded.lengths > 0])
        return {script_name(i): int(ids[i]) for i in np.flatnonzero(ids) if i}


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
