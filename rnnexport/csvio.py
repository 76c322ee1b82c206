"""Reading and writing CSV safely: streaming decode with line numbers, and output that appears only when complete."""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from .errors import InputError

READ_BLOCK = 1 << 20


class DecodingReader(io.TextIOBase):
    """A text stream over bytes that reports the line of the first undecodable byte.

    pandas reads it in blocks; an invalid byte becomes an InputError naming the line and the fix.
    """

    def __init__(self, raw: BinaryIO, encoding: str, source: str):
        try:
            self.decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}; try --encoding utf-8 or latin-1") from None
        self.raw, self.source_encoding, self.source = raw, encoding, source
        self.lines_done = 0
        self.first_block = True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.raw is not sys.stdin.buffer:
            self.raw.close()
        super().close()

    def read(self, size: int = -1) -> str:
        block = self.raw.read(READ_BLOCK if size is None or size < 0 else max(size, 1))
        try:
            text = self.decoder.decode(block, final=not block)
        except UnicodeDecodeError as error:
            line = self.lines_done + block[: error.start].count(b"\n") + 1
            raise InputError(
                f"{self.source}: line {line} is not valid {self.source_encoding}; pass --encoding latin-1 "
                "(or the file's real encoding)"
            ) from None
        if self.first_block:
            text, self.first_block = text.removeprefix("\ufeff"), False
        self.lines_done += text.count("\n")
        return text


def open_input(path: str, encoding: str) -> tuple[TextIO, str]:
    """A decoding reader over a file (checked) or stdin ('-')."""
    if path == "-":
        return DecodingReader(sys.stdin.buffer, encoding, "stdin"), "stdin"
    file_path = Path(path)
    if file_path.is_dir():
        raise InputError(f"{path} is a directory; give a CSV file")
    if not file_path.exists():
        raise InputError(f"{path} not found")
    if file_path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes): a CSV needs at least a header row")
    return DecodingReader(open(file_path, "rb"), encoding, str(path)), str(path)


@contextlib.contextmanager
def atomic_output(path: str):
    """Yield a text handle; the file appears at ``path`` only if the block completes ('-' is stdout)."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output {path} is a directory; give a file name")
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")
    descriptor, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, target)
    except BaseException:  # includes KeyboardInterrupt: never leave a half-written file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


class RecordReader:
    """Splits a decoded CSV stream into raw records (quote-aware), ``chunk_rows`` at a time.

    Keeping each record's raw text lets the classifier write input columns back byte for byte
    instead of re-serialising them, which was the single largest cost of a CSV -> CSV run.
    """

    def __init__(self, stream: TextIO, source: str, chunk_rows: int):
        self.stream, self.source, self.chunk_rows = stream, source, chunk_rows
        self.pending = ""
        self.buffered: list[str] = []
        self.finished = False

    def header(self) -> str:
        """The first record (the header row); an InputError if there is none."""
        while not self.buffered and not self.finished:
            self._fill()
        if not self.buffered or not self.buffered[0].strip():
            raise InputError(f"{self.source} has no header row; the first line must name the columns")
        return self.buffered.pop(0)

    def chunks(self) -> Iterator[list[str]]:
        """Lists of about ``chunk_rows`` data records, in file order."""
        while True:
            while len(self.buffered) < self.chunk_rows and not self.finished:
                self._fill()
            if not self.buffered:
                return
            chunk, self.buffered = self.buffered[: self.chunk_rows], self.buffered[self.chunk_rows :]
            yield chunk

    def _fill(self) -> None:
        block = self.stream.read(READ_BLOCK)
        self.finished = not block
        text = self.pending + block
        records, self.pending = split_records(text, self.finished)
        if self.finished and records and records[-1] == "":
            records.pop()  # the file's final newline ends the last record; it starts no new one
        if "\r" in text:  # CRLF line ends
            records = [record[:-1] if record.endswith("\r") else record for record in records]
        self.buffered.extend(records)


def split_records(text: str, at_end: bool) -> tuple[list[str], str]:
    """Complete records of ``text`` and the unfinished rest; a newline inside double quotes stays in its field."""
    lines = text.split("\n")
    tail = "" if at_end else lines.pop()
    if '"' not in text:
        return lines, tail
    # A line with an odd number of quotes opens a quoted field; the next such line closes it.
    odd = [i for i, line in enumerate(lines) if '"' in line and line.count('"') % 2]
    records, start = [], 0
    for opening, closing in zip(odd[::2], [*odd[1::2], None], strict=False):
        records.extend(lines[start:opening])
        if closing is None:
            rest = "\n".join([*lines[opening:], tail]) if not at_end else "\n".join(lines[opening:])
            return ([*records, rest], "") if at_end else (records, rest)
        records.append("\n".join(lines[opening : closing + 1]))
        start = closing + 1
    records.extend(lines[start:])
    return records, tail
