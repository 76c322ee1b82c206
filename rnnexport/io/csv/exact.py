"""CSV records read byte-exactly as Python's csv module reads them (excel dialect, strict=False): the reference
every faster path is held to, and the reader of the records the fast path cannot prove.

The rules (CPython's ``_csv.c`` over ``io.StringIO(text, newline='')``): a record ends at LF, CR LF or a CR not
followed by LF, outside a quoted field; a quote opens a quoted field only as a field's first character; inside,
``""`` is one quote and any other byte (delimiter, CR, LF, NUL) is literal; after the closing quote, bytes up to
the next delimiter or line end are appended as they are (``"ab"cd`` reads ``abcd``; a later quote is literal);
a quote anywhere else is a literal character. A line end alone is a blank record (csv.reader yields ``[]``).
Two choices differ from csv.reader on purpose: a quoted field still open at the end of the input is an error
naming the line where it opened, and a Ctrl-Z (0x1A) as the very last byte is dropped (DOS end of file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import InputError

QUOTE, CR, LF = 0x22, 0x0D, 0x0A


class UnclosedQuoteError(Exception):
    """A quoted field is still open at the end of the input; ``position`` is its opening quote's offset."""

    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


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
