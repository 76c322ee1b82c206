"""Which format a file of names is in: CSV or Parquet, by --input-format/--output-format, else by its extension
(an input also by Parquet's magic bytes). Standard input and output are CSV unless told otherwise."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import InputError

FORMATS = ("csv", "parquet")
FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet"}
AUTO = "auto"
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
PARQUET_MAGIC = b"PAR1"  # the first and last 4 bytes of every Parquet file (Apache Parquet format specification)


def parquet_pipe_error(source: str) -> InputError:
    """The error for Parquet met on a pipe, a FIFO or stdin (the CSV reader sees its magic; the Parquet reader
    sees a path that is not a regular file)."""
    return InputError(f"{source} is Parquet coming through a pipe; Parquet keeps its index at its end, so give the "
                      "file's path (classify FILE.parquet)")  # fmt: skip


def input_format(path: str, requested: str | None = None) -> str:
    """'csv' or 'parquet': ``requested`` unless None/'auto'; else a .parquet/.parq/.pq name or a regular file
    starting with PAR1 is Parquet; anything else (stdin, a FIFO) is CSV."""
    if requested not in (None, AUTO):
        return _checked(requested)
    if path != "-" and (Path(path).suffix.lower() in PARQUET_SUFFIXES or _starts_like_parquet(Path(path))):
        return "parquet"
    return "csv"


def output_format(path: str, requested: str | None = None) -> str:
    """'csv' or 'parquet': ``requested`` unless None/'auto'; else Parquet for a .parquet/.parq/.pq name."""
    if requested not in (None, AUTO):
        return _checked(requested)
    return "parquet" if path != "-" and Path(path).suffix.lower() in PARQUET_SUFFIXES else "csv"


def _checked(requested: str) -> str:
    if requested not in FORMATS:
        raise InputError(f"unknown format {requested!r}; choose {', '.join(FORMATS)} or {AUTO}")
    return requested


def _starts_like_parquet(path: Path) -> bool:
    """A regular file (never a FIFO: peeking would consume it) whose first bytes are Parquet's magic."""
    with contextlib.suppress(OSError):
        if path.is_file():
            with open(path, "rb") as handle:
                return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    return False
