"""Reading CSV: the one reader of both engines. Opens the input, settles its encoding (BOM or --encoding), its
delimiter (--delimiter, an Excel ``sep=X`` line, or the header line) and its header, then streams its records
as UTF-8 byte chunks (records.RecordReader) checked for valid UTF-8."""

from __future__ import annotations

import codecs
import contextlib
import io
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ...errors import InputError, OptionError
from ...errors import first_line as first_message_line
from ..formats import PARQUET_MAGIC, parquet_pipe_error
from .chunks import RecordChunk
from .dialect import (
    DELIMITERS,
    Utf8Check,
    check_delimiter,
    choose_encoding,
    detect_bom,
    detect_delimiter,
    loosely_decoded,
    sep_hint,
    truncated_message,
    undecodable_message,
)
from .exact import record_fields
from .records import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_ROWS, READ_BLOCK, RecordReader, StreamPosition
from .scan import count_line_ends

DELIMITER_NAMES = {"\\t": "\t", "tab": "\t"}  # how a tab may be typed on a command line


def delimiter_option(value: str | None) -> str | None:
    """--delimiter as the character itself (``\\t`` and ``tab`` mean a tab); OptionError unless , ; tab |."""
    if value is None:
        return None
    delimiter = DELIMITER_NAMES.get(value.lower(), value)
    try:
        check_delimiter(delimiter)
    except InputError as error:
        raise OptionError(f"--{error}") from None
    return delimiter


def open_input(path: str, has_header: bool = True) -> tuple[BinaryIO, str]:
    """The raw bytes of a file (checked: exists, not a folder, not empty when it must hold a header) or of stdin
    ('-'), and its name."""
    if path == "-":
        return sys.stdin.buffer, "stdin"
    file_path = Path(path)
    if file_path.is_dir():
        raise InputError(f"{path} is a directory; give a CSV or Parquet file (a folder of parts: classify each one)")
    if not file_path.exists():
        raise InputError(f"{path} not found")
    if has_header and file_path.is_file() and file_path.stat().st_size == 0:  # a FIFO has no size to check
        raise InputError(f"{path} is empty (0 bytes): a CSV needs at least a header row")
    return open(file_path, "rb"), str(path)


class Prefixed(io.RawIOBase):
    """A stream that first replays ``head`` (bytes already read to peek at the input), then reads ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            taken, self.head = (self.head, b"") if size < 0 else (self.head[:size], self.head[size:])
            return taken
        return self.rest.read(size)


class Utf8Transcoder:
    """Bytes in any text encoding -> UTF-8 bytes (the record reader's input). An undecodable byte, input that ends
    in the middle of a character, and a lone surrogate (which some codecs make: utf-7, unicode_escape) that no
    UTF-8 can hold are each an InputError naming its physical line (LF, CR LF and a lone CR each end one).
    ``origin``: how the encoding was chosen, for the message (dialect.undecodable_message). A BOM is the caller's
    business (see dialect.choose_encoding): this decodes what it is given."""

    def __init__(self, raw: BinaryIO, encoding: str, source: str, first_line: int = 1, origin: str = "option"):
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.raw, self.encoding, self.source, self.origin = raw, encoding, source, origin
        self.lines_done = first_line - 1
        self.last_was_cr = False  # a CR LF may be split between two reads

    def read(self, size: int) -> bytes:
        block = self.raw.read(size)
        try:
            text = self.decoder.decode(block, final=not block)
        except UnicodeDecodeError as error:
            before = loosely_decoded(block[: error.start], self.encoding)
            line = self._count_lines(before if before is not None else block[: error.start].decode("latin-1")) + 1
            if not block:  # the input's end, in the middle of a character
                raise InputError(truncated_message(self.source, line, self.encoding, self.origin)) from None
            raise InputError(undecodable_message(self.source, line, self.encoding, False, self.origin)) from None
        except UnicodeError as error:  # a codec that cannot say where (punycode, 'undefined')
            raise InputError(f"{self.source} cannot be read as {self.encoding} ({first_message_line(error)}); pass "
                             "--encoding with the encoding the file was saved in") from None  # fmt: skip
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as error:
            line = self._count_lines(text[: error.start]) + 1
            raise InputError(f"{self.source}: line {line} decodes with {self.encoding} to a lone surrogate "
                             f"U+{ord(text[error.start]):04X}, which no UTF-8 text can hold: the file is not "
                             f"{self.encoding}, or that line holds a broken character") from None  # fmt: skip
        self.lines_done = self._count_lines(text)
        if text:
            self.last_was_cr = text.endswith("\r")
        return data

    def _count_lines(self, text: str) -> int:
        """Lines ended before the end of ``text`` (which follows what was decoded so far)."""
        joined = self.last_was_cr and text.startswith("\n")  # that LF ends a line already counted at its CR
        return self.lines_done + count_line_ends(text.encode("utf-8", "surrogatepass")) - joined


@dataclass
class CsvInput:
    """An opened CSV: its dialect, its header and a record reader positioned at its first data record.

    ``header``: the header record as (its fields' bytes, its line end), or None (--no-header); ``columns``: its
    fields as text; ``line_end``: the file's first line end (LF if it has none), given to a last record that
    lacks one; ``transcoded``: whether the records are UTF-8 made from another encoding (if not, each chunk's
    ``offset`` is its offset in the raw file).
    """

    source: str
    encoding: str
    delimiter: str
    header: tuple[bytes, bytes] | None
    columns: list[str]
    line_end: bytes
    transcoded: bool
    reader: RecordReader
    utf8_check: Utf8Check | None
    bom: bool = False  # the input starts with a byte-order mark (UTF-8 or UTF-16) of its encoding
    _stream: Iterator[RecordChunk] | None = None
    _peeked: deque[RecordChunk] = field(default_factory=deque)

    def chunks(self) -> Iterator[RecordChunk]:
        """The data records, in input order (see records.RecordReader); chunks read ahead by first_record come
        first."""
        while self._peeked:
            yield self._peeked.popleft()
        yield from self._chunk_stream()

    def first_record(self) -> tuple[RecordChunk, int] | None:
        """The chunk holding the first record that is not a blank line, and the record's index in it (None: there
        is none), whatever the chunk size: the chunks up to it are read ahead and held (blank lines before
        it only), none is taken from chunks()."""
        index = 0
        while True:
            if index == len(self._peeked):
                chunk = next(self._chunk_stream(), None)
                if chunk is None:
                    return None
                self._peeked.append(chunk)
            records = np.flatnonzero(~self._peeked[index].blank)
            if len(records):
                return self._peeked[index], int(records[0])
            index += 1

    def _chunk_stream(self) -> Iterator[RecordChunk]:
        if self._stream is None:
            self._stream = self.reader.chunks()
        return self._stream


def read_csv_input(raw: BinaryIO, source: str, encoding: str | None = None, delimiter: str | None = None,
                   has_header: bool = True, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> CsvInput:  # fmt: skip
    """Settle the dialect of ``raw`` and read its header (unless ``has_header`` is False).

    ``encoding``: --encoding (None: a BOM's, else UTF-8); ``delimiter``: --delimiter (None: a ``sep=X`` first
    line, else detected from the header line). Raises InputError for an unusable encoding, delimiter or header.
    """
    head = raw.read(READ_BLOCK)
    if head.startswith(PARQUET_MAGIC) and encoding is None:  # a Parquet file (or a FIFO, <(cmd)) of a file
        raise parquet_pipe_error(source)
    chosen, skip = choose_encoding(head, encoding, source)
    # a mark the chosen codec reads itself (--encoding utf-16 on a file with one) is a mark all the same; any
    # other mark was refused by choose_encoding
    bom = detect_bom(head)[0] is not None
    if chosen == "utf-8-sig":  # the BOM is skipped below; the bytes are plain UTF-8
        chosen, skip = "utf-8", len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    transcoded = chosen != "utf-8"
    stream: BinaryIO = Prefixed(head[skip:], raw)
    if transcoded:
        origin = "option" if encoding is not None else "bom"
        stream = Utf8Transcoder(stream, chosen, source, origin=origin)
    first_line, stream = _peek_line(stream)
    hint = sep_hint(first_line)
    if hint is None:
        stream = Prefixed(first_line, stream)  # the sep= line alone is not replayed: it is not a record
    chosen_delimiter = delimiter or hint or (detect_delimiter(first_line) if has_header else ",")
    sep_length = len(first_line) if hint is not None else 0
    start = StreamPosition(line=2 if hint is not None else 1, offset=skip + sep_length)
    reader = RecordReader(stream, source, chosen_delimiter, chunk_rows, chunk_bytes, start=start)
    utf8_check = None if transcoded else Utf8Check(source)
    header, columns = None, []
    if has_header:
        header = _read_header(reader, utf8_check, source)
        columns = [field.decode("utf-8", "replace") for field in record_fields(header[0], chosen_delimiter)]
    return CsvInput(source, chosen, chosen_delimiter, header, columns, _line_end(first_line), transcoded, reader,
                    utf8_check, bom=bom)  # fmt: skip


def _peek_line(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first physical line (line end included) and a stream that replays what was read after it."""
    read = b""
    while True:
        block = stream.read(READ_BLOCK)
        read += block
        ends = [index for index in (read.find(b"\n"), read.find(b"\r")) if index >= 0]
        if ends or not block:
            break
    if not ends:
        return read, Prefixed(b"", stream)
    stop = min(ends) + 1
    if read[stop - 1 : stop + 1] == b"\r\n":
        stop += 1
    return read[:stop], Prefixed(read[stop:], stream)


def _line_end(line: bytes) -> bytes:
    """The line end ``line`` finishes with (LF when it has none: a file of one line)."""
    for ending in (b"\r\n", b"\n", b"\r"):
        if line.endswith(ending):
            return ending
    return b"\n"


def _read_header(reader: RecordReader, utf8_check: Utf8Check | None, source: str) -> tuple[bytes, bytes]:
    """The first record, which names the columns, as (fields, line end); InputError when missing or blank."""
    chunk = reader.take(1, 1)
    if chunk is None or chunk.blank[0]:
        raise InputError(f"{source} has no header row; the first line must name the columns")
    record = chunk.record(0)
    if utf8_check is not None:
        utf8_check.check(record, int(chunk.first_line))
    content = int(chunk.content_ends[0])
    return record[:content], record[content:]


def wider_than_header(source: str, line: int, count: int, width: int, delimiter: str) -> InputError:
    """The error for a record on physical ``line`` with ``count`` fields, more than the header's ``width``
    (``delimiter``: the separator, one of , ; tab |)."""
    return InputError(f"{source}: line {line} has {count} fields, the header has {width}; quote fields that "
                      f"contain a {DELIMITERS[delimiter]} (or pass --delimiter)")  # fmt: skip


@contextlib.contextmanager
def opened_csv(path: str, **settings) -> Iterator[CsvInput]:
    """:func:`read_csv_input` on a file or stdin ('-'), closed afterwards (stdin is left open)."""
    raw, source = open_input(path, settings.get("has_header", True))
    try:
        yield read_csv_input(raw, source, **settings)
    finally:
        if path != "-":
            raw.close()
