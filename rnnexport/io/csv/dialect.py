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


# Every byte-order mark Python's codecs module knows, longest first: UTF-32-LE's starts with UTF-16-LE's.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))  # fmt: skip
# ASCII letters in a 16- or 32-bit encoding written without its mark: which bytes of each 4 are NUL.
_WIDE = {"utf-32-le": (1, 2, 3), "utf-32-be": (0, 1, 2), "utf-16-le": (1, 3), "utf-16-be": (0, 2)}
_PROBE = "name,x\r\nab-c;d\n"  # what a codec must decode alike whole and byte by byte


def detect_bom(head: bytes) -> tuple[str | None, int]:
    """The encoding a leading byte-order mark names (utf-8, utf-16-le/-be, utf-32-le/-be) and the mark's length,
    or (None, 0)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return None, 0


def text_encoding(name: str) -> str:
    """--encoding's codec, by its canonical name; OptionError for an unknown codec, one that is not a text
    encoding (hex), or one that cannot decode a file in pieces as it decodes it whole (punycode)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise OptionError(f"unknown --encoding {name!r}; pass the encoding the file was saved in") from None
    if not info._is_text_encoding:
        raise OptionError(f"--encoding {name!r} is not a text encoding; pass the encoding the file was saved in")
    if not _streams(info.name):
        raise OptionError(f"--encoding {name!r} cannot decode a file piece by piece as it decodes it whole; "
                          "re-save the file as UTF-8")  # fmt: skip
    return info.name


def _streams(encoding: str) -> bool:
    """Whether ``encoding``'s incremental decoder, fed one byte at a time, reads a probe as the whole decoder does
    (True when the codec cannot write the probe: nothing to compare)."""
    try:
        data = _PROBE.encode(encoding)
        whole = data.decode(encoding)
    except (UnicodeError, ValueError):
        return True
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        pieces = "".join(decoder.decode(data[i : i + 1]) for i in range(len(data))) + decoder.decode(b"", final=True)
    except (UnicodeError, ValueError):
        return False
    return pieces == whole


def choose_encoding(head: bytes, requested: str | None, source: str = "the input") -> tuple[str, int]:
    """(encoding to decode with, leading bytes to skip): ``requested`` (--encoding) wins, else a BOM, else UTF-8.

    A BOM is skipped when the chosen codec reads it as U+FEFF, left to the codec when it reads it as a mark
    (utf-16, utf-32, utf-8-sig); InputError when ``requested`` reads it as anything else (latin-1 on a UTF-16
    file: every letter would be wrong), or when ``head`` is 16- or 32-bit text without its mark that the chosen
    codec reads otherwise (a NUL byte beside every letter). ``head``: the first bytes of the input (64 suffice).
    """
    bom_encoding, bom_length = detect_bom(head)
    encoding = text_encoding(requested) if requested is not None else bom_encoding or "utf-8"
    if bom_encoding is None:
        _check_not_wide(head, encoding, source)
        return encoding, 0
    try:
        mark = head[:bom_length].decode(encoding)
    except UnicodeError:
        mark = None
    if mark not in ("\ufeff", ""):
        raise InputError(f"{source} starts with the byte-order mark of {bom_encoding}, which --encoding {requested} "
                         "does not read as one: drop --encoding (the mark names the encoding)")  # fmt: skip
    return encoding, bom_length if mark == "\ufeff" else 0


def wide_encoding(head: bytes) -> str | None:
    """The 16- or 32-bit encoding (utf-16-le, utf-16-be, utf-32-le, utf-32-be) of ``head`` when its first bytes
    read as ASCII text in it, written without a mark: NUL bytes where that encoding puts them for ASCII (at least
    3 in 4 of them) and almost nowhere else; else None."""
    sample = head[: len(head[:64]) // 4 * 4]
    if len(sample) < 8:
        return None
    zeros = [sample[offset::4].count(0) / len(sample[offset::4]) for offset in range(4)]
    for encoding, offsets in _WIDE.items():
        others = [zeros[offset] for offset in range(4) if offset not in offsets]
        if min(zeros[offset] for offset in offsets) >= 0.75 and max(others) <= 0.1:
            return encoding
    return None


def loosely_decoded(data: bytes, encoding: str) -> str | None:
    """``data`` decoded with undecodable bytes replaced, where the codec can replace (idna cannot); else None."""
    for errors in ("replace", "strict"):
        try:
            return data.decode(encoding, errors)
        except (UnicodeError, ValueError):
            continue
    return None


def _check_not_wide(head: bytes, encoding: str, source: str) -> None:
    """InputError when ``head`` is 16- or 32-bit text without a mark that ``encoding`` reads otherwise."""
    wide = wide_encoding(head)
    if wide is None:
        return
    sample = head[: len(head[:64]) // 4 * 4]
    if loosely_decoded(sample, encoding) != sample.decode(wide, "replace"):
        raise InputError(f"{source} is {wide.upper()} text without a byte-order mark (a NUL byte beside each "
                         f"letter of its first line), which {encoding} reads as other letters: pass --encoding "
                         f"{wide}")  # fmt: skip


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


def undecodable_message(source: str, line: int, encoding: str, mixed: bool, origin: str = "default") -> str:
    """The message for an undecodable byte on ``line``; ``mixed``: earlier lines held multi-byte UTF-8; ``origin``:
    how ``encoding`` was chosen ('default': UTF-8 for want of a mark, 'bom', or 'option': --encoding). It names no
    encoding to try: one that reads any byte (latin-1) gives wrong letters for a file that is not in it."""
    if mixed:
        return (f"{source}: line {line} is not valid UTF-8 but earlier lines hold UTF-8 letters: the file mixes "
                "encodings; re-save it in one encoding (UTF-8)")  # fmt: skip
    if origin == "bom":
        return (f"{source}: line {line} is not valid {encoding} although the file starts with its byte-order mark: "
                "the file is damaged; save it again from where it came from")  # fmt: skip
    return f"{source}: line {line} is not valid {encoding}; pass --encoding with the encoding the file was saved in"


def truncated_message(source: str, line: int, encoding: str, origin: str = "default") -> str:
    """The message for input that ends in the middle of a character (``origin`` as for undecodable_message)."""
    cause = "was cut short (copy or save it again whole)"
    if origin == "default":
        cause += ", or is not UTF-8 (then pass --encoding with the encoding it was saved in)"
    return f"{source}: line {line} ends the file in the middle of a {encoding} character: the file {cause}"


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
            if error.reason == "unexpected end of data":  # records are whole: only the input's end cuts one
                return line, InputError(truncated_message(self.source, line, "utf-8"))
            return line, InputError(undecodable_message(self.source, line, "utf-8", mixed))
        self.seen_multibyte = True
        return None
