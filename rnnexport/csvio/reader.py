"""Reading CSV: records streamed as bytes with line-numbered errors, fields located without a loop per row."""

from __future__ import annotations

import codecs
import contextlib
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputError

READ_BLOCK = 4 << 20


def undecodable_line(source: str, line: int, encoding: str) -> InputError:
    return InputError(
        f"{source}: line {line} is not valid {encoding}; pass --encoding latin-1 (or the file's real encoding)"
    )


class Utf8Transcoder:
    """Bytes in any encoding -> UTF-8 bytes (the record reader's input); an undecodable byte is an
    InputError naming its line. A leading BOM is dropped."""

    def __init__(self, raw: BinaryIO, encoding: str, source: str):
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.raw, self.encoding, self.source = raw, encoding, source
        self.lines_done = 0
        self.first_block = True

    def read(self, size: int) -> bytes:
        block = self.raw.read(size)
        try:
            text = self.decoder.decode(block, final=not block)
        except UnicodeDecodeError as error:
            raise undecodable_line(self.source, self.lines_done + block[: error.start].count(b"\n") + 1,
                                   self.encoding) from None  # fmt: skip
        if self.first_block:
            text, self.first_block = text.removeprefix("\ufeff"), False
        self.lines_done += text.count("\n")
        return text.encode("utf-8", "surrogatepass")


def open_input(path: str) -> tuple[BinaryIO, str]:
    """The raw bytes of a file (checked: exists, not a folder, not empty) or of stdin ('-'), and its name."""
    if path == "-":
        return sys.stdin.buffer, "stdin"
    file_path = Path(path)
    if file_path.is_dir():
        raise InputError(f"{path} is a directory; give a CSV file")
    if not file_path.exists():
        raise InputError(f"{path} not found")
    if file_path.is_file() and file_path.stat().st_size == 0:  # a FIFO or <(cmd) has no size to check
        raise InputError(f"{path} is empty (0 bytes): a CSV needs at least a header row")
    return open(file_path, "rb"), str(path)


def codec_name(encoding: str) -> str:
    """The codec's canonical name ('utf-8' for 'UTF8'); an unknown encoding is an InputError."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}; try --encoding utf-8 or latin-1") from None


def is_utf8(encoding: str) -> bool:
    return codec_name(encoding) in ("utf-8", "utf-8-sig")


@dataclass
class RecordChunk:
    """Complete CSV records as UTF-8 bytes, each ended by one b'\\n' (a CR before it is removed).

    ends: int64 positions of those newlines; first_row: the data row number (1-based) of the first record;
    has_quotes: whether any byte is a double quote (without one, every comma separates fields).
    """

    data: np.ndarray  # uint8
    ends: np.ndarray
    first_row: int
    has_quotes: bool

    @cached_property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], self.ends[:-1] + 1)) if len(self.ends) else self.ends

    def record(self, row: int) -> str:
        """One record's text (for messages and for the few records that need the csv module)."""
        return self.data[self.starts[row] : self.ends[row]].tobytes().decode("utf-8", "surrogateescape")


class RecordReader:
    """Splits a CSV byte stream into chunks of complete records, ``chunk_rows`` at a time, without a
    Python loop per record: record ends are the newlines outside double quotes (quote parity).

    Raw UTF-8 is read as is and checked chunk by chunk (an invalid byte is an error naming its line);
    any other encoding comes through ``Utf8Transcoder``. Keeping each record's bytes lets classify write
    the input columns back byte for byte instead of parsing and re-serialising them.
    """

    def __init__(self, raw: BinaryIO, source: str, chunk_rows: int, encoding: str = "utf-8"):
        self.checks_utf8 = is_utf8(encoding)
        self.stream = raw if self.checks_utf8 else Utf8Transcoder(raw, encoding, source)
        self.source, self.chunk_rows = source, chunk_rows
        self.pending = b""  # the start of a record not yet ended
        self.complete: list[bytes] = []  # whole records not yet handed out, in pieces
        self.complete_ends = np.zeros(0, dtype=np.int64)
        self.finished = False
        self.at_start = True
        self.lines_before = 0  # physical lines before ``complete`` (for error messages)
        self.rows_before = 0  # data rows before ``complete``

    def header(self) -> str:
        """The first record (the header row) as text; an InputError if there is none."""
        while not len(self.complete_ends) and not self.finished:
            self._fill()
        if not len(self.complete_ends):
            raise InputError(f"{self.source} has no header row; the first line must name the columns")
        chunk = self._take(1)
        self.rows_before = 0
        header = chunk.record(0)
        if not header.strip():
            raise InputError(f"{self.source} has no header row; the first line must name the columns")
        return header

    def chunks(self) -> Iterator[RecordChunk]:
        """Chunks of about ``chunk_rows`` data records, in file order."""
        while True:
            while len(self.complete_ends) < self.chunk_rows and not self.finished:
                self._fill()
            if not len(self.complete_ends):
                return
            yield self._take(min(self.chunk_rows, len(self.complete_ends)))

    def _take(self, rows: int) -> RecordChunk:
        complete = b"".join(self.complete)
        cut = int(self.complete_ends[rows - 1]) + 1
        data, self.complete = complete[:cut], [complete[cut:]]
        ends, self.complete_ends = self.complete_ends[:rows], self.complete_ends[rows:] - cut
        if self.checks_utf8:
            self._check_utf8(data)
        has_quotes = b'"' in data
        self.lines_before += data.count(b"\n") if has_quotes else rows  # only quoted fields hold newlines
        chunk = RecordChunk(np.frombuffer(data, dtype=np.uint8), ends, self.rows_before + 1, has_quotes)
        if b"\r" in data:
            chunk = _without_record_end_cr(chunk)
        self.rows_before += rows
        return chunk

    def _check_utf8(self, data: bytes) -> None:
        if data.isascii():
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = self.lines_before + data.count(b"\n", 0, error.start) + 1
            raise undecodable_line(self.source, line, "utf-8") from None

    def _fill(self) -> None:
        block = self.stream.read(READ_BLOCK)
        self.finished = not block
        data = self.pending + block
        if self.at_start and self.checks_utf8:  # a UTF-8 BOM is dropped (it may span reads)
            if len(data) < len(codecs.BOM_UTF8) and codecs.BOM_UTF8.startswith(data) and not self.finished:
                self.pending = data
                return
            data, self.at_start = data.removeprefix(codecs.BOM_UTF8), False
        if self.finished and data and not data.endswith(b"\n"):
            data += b"\n"  # the last record may lack its newline
        ends = record_ends(data)
        cut = int(ends[-1]) + 1 if len(ends) else 0
        self.pending = data[cut:]
        if self.finished and self.pending:  # an unclosed quote runs to the end of the file: one record
            ends, cut, self.pending = np.append(ends, len(data) - 1), len(data), b""
        self.complete_ends = np.concatenate((self.complete_ends, ends + sum(map(len, self.complete))))
        self.complete.append(data[:cut])


def record_ends(data: bytes) -> np.ndarray:
    """Positions of the newlines that end records: those after an even number of double quotes.

    ``data`` starts at a record start; an escaped quote ("") counts twice, so it never flips the parity.
    """
    array = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(array == ord("\n"))
    if b'"' in data:
        quotes = np.flatnonzero(array == ord('"'))
        newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return newlines


def field_spans(chunk: RecordChunk, position: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where field ``position`` starts and stops in each record, and how many fields each record has.

    Separators are the commas outside double quotes. A quoted field keeps its quotes (the caller unquotes
    the few that have them); a record without that field gets an empty span at its end.
    """
    data, ends = chunk.data, chunk.ends
    commas = np.flatnonzero(data == ord(","))
    if chunk.has_quotes:
        quotes = np.flatnonzero(data == ord('"'))
        commas = commas[np.searchsorted(quotes, commas) % 2 == 0]
    commas_before_end = np.searchsorted(commas, ends)
    first_comma = np.concatenate(([0], commas_before_end[:-1]))
    counts = commas_before_end - first_comma + 1
    lookup = np.append(commas, 0)  # a sentinel, so that clipped indices stay in range
    last = len(commas)
    if position == 0:
        starts = chunk.starts
    else:
        starts = np.where(counts > position, lookup[np.minimum(first_comma + position - 1, last)] + 1, ends)
    stops = np.where(counts > position + 1, lookup[np.minimum(first_comma + position, last)], ends)
    return starts, stops, counts


def _without_record_end_cr(chunk: RecordChunk) -> RecordChunk:
    """CRLF line ends become LF (a CR inside a quoted field stays)."""
    data, ends = chunk.data, chunk.ends
    has_cr = np.zeros(len(ends), dtype=bool)
    nonempty = ends > 0
    has_cr[nonempty] = data[ends[nonempty] - 1] == ord("\r")
    if not has_cr.any():
        return chunk
    kept = np.ones(len(data), dtype=bool)
    kept[ends[has_cr] - 1] = False
    return RecordChunk(data[kept], ends - np.cumsum(has_cr), chunk.first_row, chunk.has_quotes)


class ChunkNames:
    """The name field of every record of a chunk: byte spans, plus text (decoded, unquoted) for the few that
    need it. A record with more fields than the header is an InputError naming its row."""

    def __init__(self, chunk: RecordChunk, columns: list[str], column: str, source: str):
        self.chunk = chunk
        self.starts, self.stops, counts = field_spans(chunk, columns.index(column))
        width = len(columns)
        too_long = np.flatnonzero(counts > width)
        if len(too_long):
            row = int(too_long[0])
            raise InputError(
                f"{source}: data row {chunk.first_row + row} has {counts[row]} fields, the header has {width}; "
                "quote fields that contain commas"
            )
        self.padding = width - counts  # a record short of fields gets empty ones

    def texts(self, rows: np.ndarray) -> list[str]:
        """The fields at ``rows`` as text: decoded, and unquoted by the csv module when quoted."""
        data = self.chunk.data
        fields = [data[self.starts[row] : self.stops[row]].tobytes().decode("utf-8", "surrogatepass") for row in rows]
        return [next(csv.reader([field]), [""])[0] if field.startswith('"') else field for field in fields]


def read_header(path: str, encoding: str) -> tuple[str, str]:
    """The header record of a CSV file (checked as ``classify`` checks it) and the source's name."""
    raw, source = open_input(path)
    with contextlib.closing(raw):
        return RecordReader(raw, source, 1, encoding).header(), source
