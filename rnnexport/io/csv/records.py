"""CSV records and fields with exactly the meaning of Python's csv module (excel dialect, strict=False), found
with numpy where a stretch is provably well-formed and by an exact state machine elsewhere, streamed in chunks
bounded by rows and bytes.

The rules (CPython's ``_csv.c`` over ``io.StringIO(text, newline='')``): a record ends at LF, CR LF or a CR not
followed by LF, outside a quoted field; a quote opens a quoted field only as a field's first character; inside,
``""`` is one quote and any other byte (delimiter, CR, LF, NUL) is literal; after the closing quote, bytes up to
the next delimiter or line end are appended as they are (``"ab"cd`` reads ``abcd``; a later quote is literal);
a quote anywhere else is a literal character. A line end alone is a blank record (csv.reader yields ``[]``).
Two choices differ from csv.reader on purpose: a quoted field still open at the end of the input is an error
naming the line where it opened, and a Ctrl-Z (0x1A) as the very last byte is dropped (DOS end of file).

The fast path proves well-formedness by quote parity: numbering the quotes from a record start, every even one
must open a field (the byte before it is a delimiter, a line end or the record start) or be the second of a
``""``, and every odd one must be followed by a delimiter, a line end, the end of the input or a quote. Up to
the first quote that breaks the rule, record and field boundaries are the line ends and delimiters after an
even number of quotes. The record holding that quote goes to :func:`exact_record`; the fast path resumes after it.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

import numpy as np

from ...errors import InputError, OptionError
from ...text.encode import ragged_positions

QUOTE, CR, LF, CTRL_Z = 0x22, 0x0D, 0x0A, 0x1A
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
READ_BLOCK = 4 << 20
DEFAULT_CHUNK_ROWS = 200_000
DEFAULT_CHUNK_BYTES = 64 << 20


class UnclosedQuoteError(Exception):
    """A quoted field is still open at the end of the input; ``position`` is its opening quote's offset."""

    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


# --- the exact reader ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactRecord:
    """One record as csv.reader reads it: its fields (``[]`` for a blank line), where its fields stop
    (its line end starts there) and where the record ends (after its line end), as offsets into the data."""

    fields: list[bytes]
    content_end: int
    end: int


def exact_record(data: bytes, start: int, delimiter: int, final: bool) -> ExactRecord | None:
    """The record that starts at ``data[start]``, read byte-exactly as csv.reader reads it.

    Returns None when the record may continue past the end of ``data`` (only when ``final`` is False).
    Raises UnclosedQuoteError when ``final`` and a quoted field is still open at the end.
    Cost: Python work per field, not per byte (delimiters, line ends and quotes are found with bytes.find/re).
    """
    size = len(data)
    if start < size and data[start] in (CR, LF):  # a blank line: csv.reader yields []
        end = _line_end_stop(data, start, final)
        return None if end is None else ExactRecord([], start, end)
    stops = _field_stop_pattern(delimiter)
    fields, position = [], start
    while True:
        value = b""
        if position < size and data[position] == QUOTE:
            quoted = _quoted_value(data, position, final)
            if quoted is None:
                return None
            value, position = quoted
        match = stops.search(data, position)
        stop = match.start() if match else size
        fields.append(value + data[position:stop])
        if stop == size:
            return ExactRecord(fields, size, size) if final else None
        if data[stop] == delimiter:
            position = stop + 1
            continue
        end = _line_end_stop(data, stop, final)
        return None if end is None else ExactRecord(fields, stop, end)


def record_fields(record: bytes, delimiter: str = ",") -> list[bytes]:
    """The fields of one complete record (such as the header) as csv.reader reads them, as raw bytes."""
    try:
        parsed = exact_record(record, 0, ord(delimiter), final=True)
    except UnclosedQuoteError:
        raise InputError('a quoted field is never closed; close the quote (write a quote inside one as "")') from None
    return parsed.fields if record else []


_PATTERNS: dict[int, re.Pattern[bytes]] = {}


def _field_stop_pattern(delimiter: int) -> re.Pattern[bytes]:
    """Bytes that end an unquoted field: the delimiter, CR or LF."""
    if delimiter not in _PATTERNS:
        _PATTERNS[delimiter] = re.compile(b"[" + re.escape(bytes([delimiter])) + b"\r\n]")
    return _PATTERNS[delimiter]


def _line_end_stop(data: bytes, position: int, final: bool) -> int | None:
    """Where the line end at ``position`` (LF, CR LF or CR) stops; None if a CR is last and more data may follow."""
    if data[position] == LF:
        return position + 1
    if position + 1 < len(data):
        return position + 2 if data[position + 1] == LF else position + 1
    return position + 1 if final else None


def _quoted_value(data: bytes, opening: int, final: bool) -> tuple[bytes, int] | None:
    """The value of the quoted field opening at ``opening`` (``""`` made one quote) and the offset after its
    closing quote; None if the field may continue past ``data``."""
    pieces, position = [], opening + 1
    while True:
        closing = data.find(b'"', position)
        if closing < 0:
            if final:
                raise UnclosedQuoteError(opening)
            return None
        pieces.append(data[position:closing])
        if closing + 1 == len(data) and not final:
            return None  # the next byte decides: a quote would make it ""
        if closing + 1 < len(data) and data[closing + 1] == QUOTE:
            pieces.append(b'"')
            position = closing + 2
            continue
        return b"".join(pieces), closing + 1


# --- the fast path: record boundaries -------------------------------------------------------------------------------


def line_end_positions(array: np.ndarray, final: bool = True) -> np.ndarray:
    """int64 offsets of the bytes that end physical lines: every LF and every CR not followed by LF.

    A CR as the last byte counts only when ``final`` (otherwise an LF may follow in the next block).
    """
    newlines = array == LF
    if CR in array:
        is_cr = array == CR
        lone_cr = is_cr.copy()
        lone_cr[:-1] &= ~newlines[1:]
        if not final:
            lone_cr[-1] = False
        newlines |= lone_cr
    return np.flatnonzero(newlines)


def quote_parity(array: np.ndarray) -> np.ndarray:
    """uint8 [N]: 1 where an odd number of quotes lie at or before each byte (for a non-quote byte: before it)."""
    return np.bitwise_xor.accumulate((array == QUOTE).view(np.uint8))


class _QuoteProof:
    """Where the quote-parity reading of a block stops being provably csv.reader's reading.

    Quotes are numbered from the block start; after an exact record the numbering restarts from the next quote,
    so both parities are kept: ``faults[s]`` lists the quotes (by number) that break the rule when the quotes
    numbered with parity ``s`` are the opening ones, ``outside[s]`` the line ends outside quotes then.
    """

    def __init__(self, array: np.ndarray, delimiter: int, final: bool, line_ends: np.ndarray):
        self.array, self.final, self.size = array, final, len(array)
        self.quotes = np.flatnonzero(array == QUOTE)
        self.bounds = np.zeros(256, dtype=bool)  # bytes that may precede an opening or follow a closing quote
        self.bounds[[delimiter, CR, LF, QUOTE]] = True  # a quote: one half of ""
        self.faults: dict[int, np.ndarray] = {}
        self.parity = quote_parity(array)
        ends_parity = self.parity[line_ends]
        self.outside = (line_ends[ends_parity == 0], line_ends[ends_parity == 1])
        self.pairs = self.quotes[:-1][np.diff(self.quotes) == 1]  # quotes followed by a quote

    def _faults(self, parity: int) -> np.ndarray:
        """Numbers of the quotes that break the rule when those numbered with ``parity`` open fields (sorted)."""
        if parity not in self.faults:
            opening, closing = self.quotes[parity::2], self.quotes[1 - parity :: 2]
            may_open = self.bounds[self.array[opening - 1]] | (opening == 0)
            after = self.array[np.minimum(closing + 1, self.size - 1)]
            may_close = np.where(closing == self.size - 1, self.final, self.bounds[after])
            bad_open, bad_close = 2 * np.flatnonzero(~may_open) + parity, 2 * np.flatnonzero(~may_close) + 1 - parity
            self.faults[parity] = np.sort(np.concatenate((bad_open, bad_close)))
        return self.faults[parity]

    def next_fault(self, position: int) -> tuple[int, int]:
        """Offset of the first unprovable quote after a record start (or the block size), and the parity of the
        quote count (from the block start) outside quoted fields until then."""
        first = int(self.quotes.searchsorted(position))
        parity = first & 1
        faults = self._faults(parity)
        index = int(faults.searchsorted(first))
        fault = int(self.quotes[faults[index]]) if index < len(faults) else self.size
        return fault, parity


@dataclass
class RecordScan:
    """The complete records at the start of a block: exclusive ``ends``, ``content_ends`` (where the fields stop
    and the line end starts), ``exact`` (read by the exact reader), all int64/bool [R]; ``consumed`` bytes and
    the offsets (int64) of the physical line ends in them (``line_ends``) and of the quotes followed by a quote
    (``quote_pairs``: where a quoted field may hold a ""), and of the delimiters that separate fields of
    fast-path records (``separators``; exact records have none)."""

    ends: np.ndarray
    content_ends: np.ndarray
    exact: np.ndarray
    consumed: int
    line_ends: np.ndarray
    quote_pairs: np.ndarray
    separators: np.ndarray

    def split(self, rows: int) -> tuple[RecordScan, RecordScan]:
        """The first ``rows`` records and the rest (offsets from the rest's start)."""
        cut = int(self.ends[rows - 1])
        head_offsets, rest_offsets = zip(*(_split_offsets(getattr(self, name), cut) for name in OFFSET_ARRAYS),
                                         strict=True)  # fmt: skip
        head = RecordScan(self.ends[:rows], self.content_ends[:rows], self.exact[:rows], cut, *head_offsets)
        rest = RecordScan(self.ends[rows:] - cut, self.content_ends[rows:] - cut, self.exact[rows:],
                          self.consumed - cut, *rest_offsets)  # fmt: skip
        return head, rest


OFFSET_ARRAYS = ("line_ends", "quote_pairs", "separators")


def _split_offsets(offsets: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted offsets before ``cut``, and those after it counted from ``cut``."""
    index = np.searchsorted(offsets, cut)
    return offsets[:index], offsets[index:] - cut


def scan_records(data: bytes, delimiter: int, final: bool) -> RecordScan:
    """Split ``data`` (starting at a record start) into complete records.

    Records whose end may lie past ``data`` are left out unless ``final``; then all of ``data`` is consumed.
    Raises UnclosedQuoteError (offset into ``data``) when ``final`` and the last quoted field never closes.
    """
    array = np.frombuffer(data, dtype=np.uint8)
    line_ends = line_end_positions(array, final)
    proof = _QuoteProof(array, delimiter, final, line_ends) if b'"' in data else None
    delimiters = np.flatnonzero(array == delimiter)
    ends, content_ends, exact, separators = [], [], [], []
    position, size = 0, len(data)
    while position < size:
        fault, parity = proof.next_fault(position) if proof else (size, 0)
        outside = proof.outside[parity] if proof else line_ends
        fast = outside[outside.searchsorted(position) : outside.searchsorted(fault)]
        if len(fast):
            ends.append(fast + 1)
            content_ends.append(fast - _crlf(array, fast))
            exact.append(np.zeros(len(fast), dtype=bool))
            between = delimiters[delimiters.searchsorted(position) : delimiters.searchsorted(fast[-1])]
            separators.append(between[proof.parity[between] == parity] if proof else between)
            position = int(fast[-1]) + 1
        if position == size or (fault == size and not final):
            break
        record = exact_record(data, position, delimiter, final)
        if record is None:
            break
        ends.append(np.array([record.end]))
        content_ends.append(np.array([record.content_end]))
        exact.append(np.ones(1, dtype=bool))
        position = record.end
    none = np.zeros(0, dtype=np.int64)
    if not ends:
        return RecordScan(none, none, np.zeros(0, dtype=bool), 0, none, none, none)
    pairs = proof.pairs[: np.searchsorted(proof.pairs, position)] if proof else none
    line_ends = line_ends[: np.searchsorted(line_ends, position)]
    return RecordScan(np.concatenate(ends), np.concatenate(content_ends), np.concatenate(exact), position, line_ends,
                      pairs, np.concatenate([none, *separators]))  # fmt: skip


def _crlf(array: np.ndarray, line_ends: np.ndarray) -> np.ndarray:
    """int64 [R]: 1 where the line end at each offset is the LF of a CR LF, else 0."""
    before = array[np.maximum(line_ends - 1, 0)]
    return ((array[line_ends] == LF) & (before == CR) & (line_ends > 0)).astype(np.int64)


# --- chunks and fields ----------------------------------------------------------------------------------------------


@dataclass
class FieldColumn:
    """One field of every record of a chunk: value i is ``data[starts[i]:stops[i]]`` (unquoted, ``""`` made one
    quote; empty where the record lacks the field). ``data`` is the chunk's own bytes when no value needed
    unquoting (no copy), else a new uint8 array of the values end to end.

    counts: int64 [R], the number of fields csv.reader gives each record (0 for a blank line).
    """

    data: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    counts: np.ndarray

    def value(self, row: int) -> bytes:
        return self.data[self.starts[row] : self.stops[row]].tobytes()


@dataclass
class RecordChunk:
    """Complete records laid end to end, exactly as in the input (UTF-8 bytes after any transcoding).

    data: uint8 [N]; starts, content_ends: int64 [R] offsets of each record's start and of its line end (the
    record's fields are ``data[starts[i]:content_ends[i]]``, its line end runs to ``ends[i]``); exact: bool [R],
    records read by the exact reader; first_record: records before this chunk (blank ones included);
    first_line: the physical line (1-based) of ``data[0]``; line_ends: int64 offsets of the bytes that end
    physical lines (LF, the LF of CR LF, lone CR); quote_pairs: int64 offsets of the quotes followed by a
    quote; separators: int64 offsets of the delimiters that separate fields (outside quotes, in fast-path
    records); offset: input byte offset of ``data[0]``.
    """

    data: np.ndarray
    starts: np.ndarray
    content_ends: np.ndarray
    exact: np.ndarray
    delimiter: int
    first_record: int
    first_line: int
    line_ends: np.ndarray
    quote_pairs: np.ndarray
    separators: np.ndarray
    offset: int

    @cached_property
    def ends(self) -> np.ndarray:
        """int64 [R]: where each record ends (after its line end; the next record's start)."""
        return np.append(self.starts[1:], len(self.data))

    @property
    def blank(self) -> np.ndarray:
        """bool [R]: blank lines (only a line end), which csv.reader reads as [] and which are not data rows."""
        return self.content_ends == self.starts

    @cached_property
    def lines(self) -> np.ndarray:
        """int64 [R]: the physical line where each record starts (LF, CR LF and lone CR each end a line)."""
        return self.first_line + np.searchsorted(self.line_ends, self.starts)

    def record(self, row: int) -> bytes:
        """One record's bytes, line end included."""
        return self.data[self.starts[row] : self.ends[row]].tobytes()

    def field(self, position: int) -> FieldColumn:
        """Field ``position`` (0-based) of every record, as csv.reader reads it, and each record's field count."""
        starts, stops, counts = _field_spans(self._separator_index, self.starts, self.content_ends, position)
        counts[self.blank] = 0
        quoted = ~self.exact & (stops > starts) & (self.data[np.minimum(starts, len(self.data) - 1)] == QUOTE)
        if not quoted.any() and not self.exact.any():
            return FieldColumn(self.data, starts, stops, counts)
        starts, stops = np.where(quoted, starts + 1, starts), np.where(quoted, stops - 1, stops)  # the quotes off
        pairs = self.quote_pairs  # a proven quoted field holds a quote inside only as ""
        escaped = quoted & (np.searchsorted(pairs, starts) < np.searchsorted(pairs, stops))
        special = escaped | self.exact
        if not special.any():
            return FieldColumn(self.data, starts, stops, counts)
        values, lengths = _collapsed(self.data, starts[escaped], stops[escaped])
        exact_values = self._exact_values(position, counts)
        values = np.concatenate((self.data, values, np.frombuffer(b"".join(exact_values), dtype=np.uint8)))
        lengths = np.concatenate((lengths, [len(value) for value in exact_values])).astype(np.int64)
        order = np.concatenate((np.flatnonzero(escaped), np.flatnonzero(self.exact)))
        starts[order] = len(self.data) + np.cumsum(lengths) - lengths
        stops[order] = starts[order] + lengths
        return FieldColumn(values, starts, stops, counts)

    @cached_property
    def _separator_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per record, the index of its first separator and of the first one after it, and the separators with
        a sentinel: computed once per chunk, so that reading every field of a wide file stays linear."""
        before_end = np.searchsorted(self.separators, self.content_ends)
        first = np.concatenate(([0], before_end[:-1]))  # no delimiter lies in a line end
        return first, before_end, np.append(self.separators, 0)

    @cached_property
    def _exact_fields(self) -> list[list[bytes]]:
        """Each exact record's fields (parsed once per chunk, however many fields are asked for)."""
        return [record_fields(self.record(int(row)), chr(self.delimiter)) for row in np.flatnonzero(self.exact)]

    def _exact_values(self, position: int, counts: np.ndarray) -> list[bytes]:
        """Field ``position`` of each exact record (b'' when absent); sets their ``counts``."""
        counts[self.exact] = [len(fields) for fields in self._exact_fields]
        return [fields[position] if position < len(fields) else b"" for fields in self._exact_fields]


def _field_spans(
    separator_index: tuple[np.ndarray, np.ndarray, np.ndarray],
    starts: np.ndarray,
    content_ends: np.ndarray,
    position: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Span [start, stop) of field ``position`` in each record and its field count, from the separating
    delimiters (RecordChunk._separator_index); a record without that field gets an empty span at its line end."""
    first, before_end, lookup = separator_index
    counts = before_end - first + 1
    last = len(lookup) - 1  # the sentinel keeps clipped indices in range
    if position == 0:
        field_starts = starts.copy()
    else:
        chosen = lookup[np.minimum(first + position - 1, last)] + 1
        field_starts = np.where(counts > position, chosen, content_ends)
    stops = np.where(counts > position + 1, lookup[np.minimum(first + position, last)], content_ends)
    return field_starts, stops, counts


def _collapsed(data: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The insides of proven quoted fields with each "" made one quote, end to end, and their lengths (numpy over
    these spans' bytes only: each inside holds only pairs, so every second quote of the spans goes)."""
    lengths = stops - starts
    gathered = data[ragged_positions(starts, lengths)]
    keep = np.ones(len(gathered), dtype=bool)
    keep[np.flatnonzero(gathered == QUOTE)[1::2]] = False
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    offsets = np.cumsum(lengths) - lengths
    return gathered[keep], kept_before[offsets + lengths] - kept_before[offsets]


# --- streaming --------------------------------------------------------------------------------------------------------


@dataclass
class _Piece:
    """Scanned complete records of one block, not yet handed out."""

    data: np.ndarray
    scan: RecordScan
    first_line: int
    offset: int

    def split(self, rows: int) -> tuple[_Piece, _Piece | None]:
        """The first ``rows`` records, and the rest (None when none is left)."""
        if rows >= len(self.scan.ends):
            return self, None
        head, rest = self.scan.split(rows)
        cut = head.consumed
        return (_Piece(self.data[:cut], head, self.first_line, self.offset),
                _Piece(self.data[cut:], rest, self.first_line + len(head.line_ends), self.offset + cut))  # fmt: skip


def count_line_ends(data: bytes) -> int:
    """Physical lines ended in ``data`` (complete records): LF, CR LF and lone CR count once each."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


@dataclass(frozen=True)
class StreamPosition:
    """Where a record reader's stream begins in the whole input: the physical ``line`` (1-based), the byte
    ``offset`` and the number of records before it (a Dask partition starts mid-file)."""

    line: int = 1
    offset: int = 0
    record: int = 0


class RecordReader:
    """Streams a UTF-8 CSV byte stream as RecordChunks of at most ``chunk_rows`` records and, unless one record
    is larger, ``chunk_bytes`` bytes. Memory: about chunk_bytes + read_block + the largest record.

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
            budget = max_bytes - sum(len(taken.data) for taken in pieces)
            fits = int(np.searchsorted(piece.scan.ends, budget, side="right"))
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
        self.ready_bytes -= sum(len(piece.data) for piece in pieces)
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
            self.ready_bytes += scan.consumed
            self.lines_done += len(scan.line_ends)
            self.bytes_done += scan.consumed


# --- dialect and encoding ---------------------------------------------------------------------------------------------


def check_delimiter(delimiter: str) -> int:
    """The delimiter's byte; InputError unless it is one of , ; tab |."""
    if delimiter not in DELIMITERS:
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        raise InputError(f"delimiter {shown} is not supported; use one of , ; tab |")
    return ord(delimiter)


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def detect_bom(head: bytes) -> tuple[str | None, int]:
    """The encoding a leading byte-order mark names (utf-8, utf-16-le, utf-16-be) and the mark's length,
    or (None, 0)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return None, 0


def text_encoding(name: str) -> str:
    """--encoding's codec, by its canonical name; OptionError for an unknown codec or one that is not a text
    encoding (hex)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise OptionError(f"unknown --encoding {name!r}; try --encoding utf-8 or latin-1") from None
    if not info._is_text_encoding:
        raise OptionError(f"--encoding {name!r} is not a text encoding; try --encoding utf-8 or latin-1")
    return info.name


def choose_encoding(head: bytes, requested: str | None) -> tuple[str, int]:
    """(encoding to decode with, leading bytes to skip): ``requested`` (--encoding) wins, else a BOM, else UTF-8.

    A BOM is skipped when it names the chosen encoding; ``head`` is the first bytes of the input (4 suffice).
    """
    bom_encoding, bom_length = detect_bom(head)
    if requested is None:
        return bom_encoding or "utf-8", bom_length
    encoding = text_encoding(requested)
    return encoding, bom_length if bom_encoding == encoding else 0


_SEP_HINT = re.compile(rb"sep=(.)(\r\n|\r|\n)?", re.IGNORECASE | re.DOTALL)


def sep_hint(first_line: bytes) -> str | None:
    """The delimiter an Excel ``sep=X`` first line names (that line is not the header), or None.

    InputError when it names a delimiter other than , ; tab |.
    """
    match = _SEP_HINT.fullmatch(first_line)
    if match is None:
        return None
    delimiter = match.group(1).decode("latin-1")
    check_delimiter(delimiter)
    return delimiter


_QUOTED = re.compile(rb'"[^"]*"')


def detect_delimiter(header: bytes) -> str:
    """',' unless the header line (its quoted parts aside) holds no comma but ';', tab or '|'; then the most
    frequent of those. InputError when two of them are equally frequent."""
    unquoted = _QUOTED.sub(b"", header)
    if b"," in unquoted:
        return ","
    counts = {delimiter: unquoted.count(delimiter.encode()) for delimiter in (";", "\t", "|")}
    best = max(counts.values())
    if best == 0:
        return ","
    tied = [delimiter for delimiter, count in counts.items() if count == best]
    if len(tied) > 1:
        names = " and ".join(DELIMITERS[delimiter] for delimiter in tied)
        raise InputError(f"the header holds as many {names} characters; pass --delimiter")
    return tied[0]


def undecodable_message(source: str, line: int, encoding: str, mixed: bool) -> str:
    """The message for an undecodable byte on ``line``; ``mixed``: earlier lines held multi-byte UTF-8."""
    if mixed:
        return (f"{source}: line {line} is not valid UTF-8 but earlier lines hold UTF-8 letters: the file mixes "
                "encodings; re-save it in one encoding (UTF-8)")  # fmt: skip
    return f"{source}: line {line} is not valid {encoding}; pass --encoding latin-1 (or the file's real encoding)"


class Utf8Check:
    """Checks chunks of a UTF-8 input in order; an invalid byte is an InputError naming its physical line, and
    saying the file mixes encodings when earlier lines held valid multi-byte UTF-8."""

    def __init__(self, source: str, seen_multibyte: bool = False):
        self.source = source
        self.seen_multibyte = seen_multibyte  # earlier input (e.g. earlier Dask partitions) held non-ASCII

    def check(self, data: bytes, first_line: int) -> None:
        """``data``: complete records starting on physical line ``first_line``."""
        problem = self.first_error(data, first_line)
        if problem is not None:
            raise problem[1]

    def first_error(self, data: bytes, first_line: int) -> tuple[int, InputError] | None:
        """:meth:`check`'s error with its line, returned instead of raised (None when ``data`` is valid)."""
        if data.isascii():
            return None
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            line_start = max(data.rfind(b"\n", 0, error.start), data.rfind(b"\r", 0, error.start)) + 1
            mixed = self.seen_multibyte or not data[:line_start].isascii()
            line = first_line + count_line_ends(data[:line_start])
            return line, InputError(undecodable_message(self.source, line, "utf-8", mixed))
        self.seen_multibyte = True
        return None
