"""How a CSV file is written: its delimiter (given, an Excel ``sep=X`` line, or detected from the header), its
encoding (given, or a byte-order mark's, else UTF-8) and the check that UTF-8 input is valid, line by line."""

from __future__ import annotations

import codecs
import re

from ...errors import InputError, OptionError
from .scan import count_line_ends

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


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
