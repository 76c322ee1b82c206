"""Reading and writing CSV safely: streaming decode with line numbers, and output that appears only when complete."""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import sys
import tempfile
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
