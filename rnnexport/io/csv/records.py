"""Streaming CSV records: a UTF-8 byte stream read in blocks and handed out as chunks of complete records
(chunks.RecordChunk), bounded by rows and bytes, each with its physical line and byte offset in the whole input.

A record means what Python's csv module makes of it (exact.py); a block's records are found by the numpy fast
path (scan.py) and, where it cannot prove them, by the exact reader.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ...errors import InputError
from .chunks import RecordChunk
from .dialect import check_delimiter
from .exact import UnclosedQuoteError
from .scan import OFFSET_ARRAYS, RecordScan, count_line_ends, scan_records

CTRL_Z = 0x1A
READ_BLOCK = 4 << 20
DEFAULT_CHUNK_ROWS = 200_000
DEFAULT_CHUNK_BYTES = 16 << 20
SEPARATOR_BYTES = 8  # what a chunk holds per field separator (its int64 offset), counted against chunk_bytes


@dataclass
class _Piece:
    """Scanned complete records of one block, not yet handed out."""

    data: np.ndarray
    scan: RecordScan
    first_line: int
    offset: int

    @property
    def weight(self) -> int:
        """What the piece counts against a chunk's bytes: its bytes and its separators' offsets."""
        return len(self.data) + SEPARATOR_BYTES * len(self.scan.separators)

    def weights(self) -> np.ndarray:
        """int64 [R]: the weight of the piece's records up to and including each one."""
        return self.scan.ends + SEPARATOR_BYTES * np.searchsorted(self.scan.separators, self.scan.ends)

    def split(self, rows: int) -> tuple[_Piece, _Piece | None]:
        """The first ``rows`` records, and the rest (None when none is left)."""
        if rows >= len(self.scan.ends):
            return self, None
        head, rest = self.scan.split(rows)
        cut = head.consumed
        return (_Piece(self.data[:cut], head, self.first_line, self.offset),
                _Piece(self.data[cut:], rest, self.first_line + len(head.line_ends), self.offset + cut))  # fmt: skip


@dataclass(frozen=True)
class StreamPosition:
    """Where a record reader's stream begins in the whole input: the physical ``line`` (1-based), the byte
    ``offset`` and the number of records before it (a Dask partition starts mid-file)."""

    line: int = 1
    offset: int = 0
    record: int = 0


class RecordReader:
    """Streams a UTF-8 CSV byte stream as RecordChunks of at most ``chunk_rows`` records and, unless one record
    is larger, ``chunk_bytes`` bytes, each field separator counted as the SEPARATOR_BYTES its offset takes (a
    file of a million empty columns per line makes chunks of a few lines). Memory: about chunk_bytes +
    read_block + the largest record.

    A record may span read blocks; a block whose records are all unfinished makes the next read as large as the
    bytes held, so a huge record costs linear time. Raises InputError for a quoted field never closed.
    """

    def __init__(self, stream: BinaryIO, source: str, delimiter: str = ",", chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES, read_block: int | None = None,
                 start: StreamPosition | None = None, ends_input: bool = True):  # fmt: skip
        self.stream, self.source, self.delimiter = stream, source, check_delimiter(delimiter)
        # ``ends_input``: the stream's end is the input's end, where a final Ctrl-Z is dropped (not so for a
        # Dask partition's records, already read up to there by the driver's reader)
        self.ends_input = ends_input
        self.chunk_rows, self.chunk_bytes, self.read_block = chunk_rows, chunk_bytes, read_block or READ_BLOCK
        self.pending = b""  # the start of a record not yet complete
        self.ready: deque[_Piece] = deque()
        self.ready_rows = self.ready_bytes = 0
        self.finished = False
        start = start or StreamPosition()
        # before ``pending``, and before the next chunk; ``start``: where the stream begins in a larger input
        self.lines_done, self.bytes_done, self.records_done = start.line - 1, start.offset, start.record

    def chunks(self) -> Iterator[RecordChunk]:
        """All remaining records, in input order."""
        while (chunk := self.take(self.chunk_rows, self.chunk_bytes)) is not None:
            yield chunk

    def take(self, max_rows: int, max_bytes: int) -> RecordChunk | None:
        """The next chunk: up to ``max_rows`` records within ``max_bytes`` (at least one record); None at the end."""
        while self.ready_rows < max_rows and self.ready_bytes < max_bytes and not self.finished:
            self._fill()
        pieces, rows = [], 0
        while self.ready and rows < max_rows:
            piece = self.ready.popleft()
            budget = max_bytes - sum(taken.weight for taken in pieces)
            fits = int(np.searchsorted(piece.weights(), budget, side="right"))
            count = min(max_rows - rows, max(fits, 0 if pieces else 1))
            if count == 0:
                self.ready.appendleft(piece)
                break
            head, rest = piece.split(count)
            pieces.append(head)
            rows += count
            if rest is not None:
                self.ready.appendleft(rest)
                break
        if not pieces:
            return None
        self.ready_rows -= rows
        self.ready_bytes -= sum(piece.weight for piece in pieces)
        return self._chunk(pieces, rows)

    def _chunk(self, pieces: list[_Piece], rows: int) -> RecordChunk:
        shifts = np.cumsum([0] + [len(piece.data) for piece in pieces[:-1]]).tolist()

        def joined(offsets: Callable[[RecordScan], np.ndarray]) -> np.ndarray:
            """The pieces' offsets, counted from the chunk's start."""
            return np.concatenate([offsets(piece.scan) + shift for piece, shift in zip(pieces, shifts, strict=True)])

        data = pieces[0].data if len(pieces) == 1 else np.concatenate([piece.data for piece in pieces])
        starts = joined(lambda scan: np.concatenate(([0], scan.ends[:-1])))
        offsets = [joined(lambda scan, name=name: getattr(scan, name)) for name in OFFSET_ARRAYS]
        chunk = RecordChunk(data, starts, joined(lambda scan: scan.content_ends),
                            np.concatenate([piece.scan.exact for piece in pieces]), self.delimiter, self.records_done,
                            pieces[0].first_line, *offsets, pieces[0].offset)  # fmt: skip
        self.records_done += rows
        return chunk

    def _fill(self) -> None:
        block = self.stream.read(max(self.read_block, len(self.pending)))
        self.finished = not block
        data = self.pending + block
        if self.finished and self.ends_input and data.endswith(bytes([CTRL_Z])):
            data = data[:-1]  # a DOS end-of-file mark
        try:
            scan = scan_records(data, self.delimiter, self.finished)
        except UnclosedQuoteError as error:
            line = self.lines_done + count_line_ends(data[: error.position]) + 1
            raise InputError(
                f"{self.source}: line {line}: a quoted field opens here and is never closed; close it with a quote "
                '(a quote inside a quoted field is written "")'
            ) from None
        self.pending = data[scan.consumed :]
        if scan.consumed:
            array = np.frombuffer(data, dtype=np.uint8)[: scan.consumed]
            self.ready.append(_Piece(array, scan, self.lines_done + 1, self.bytes_done))
            self.ready_rows += len(scan.ends)
            self.ready_bytes += self.ready[-1].weight
            self.lines_done += len(scan.line_ends)
            self.bytes_done += scan.consumed


# --- dialect and encoding ---------------------------------------------------------------------------------------------
