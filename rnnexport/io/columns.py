"""Which column of a table holds the names (or, in training data, the labels): the one rule that classify,
train, evaluate, export and verify share, for CSV and Parquet alike."""

from __future__ import annotations

from ..errors import InputError

LISTED_COLUMNS = 20  # an error names at most this many columns


def choose_column(columns: list[str], requested: str | None, source: str, has_header: bool = True,
                  wanted: str = "name", option: str = "--column") -> int:  # fmt: skip
    """The 0-based position of the column ``requested`` (a header name, or a 1-based number), else of the column
    called ``wanted``, else, for names, of the only column. A name matches exactly, else in any case or padding.
    ``option`` is the flag that picks the column, for the messages.

    InputError when nothing matches or two columns match equally (the fix names them by number).
    """
    if not has_header:
        return _column_number(requested or "1", None, source, option)
    listed = ", ".join(columns[:LISTED_COLUMNS]) + (f" and {len(columns) - LISTED_COLUMNS:,} more"
                                                    if len(columns) > LISTED_COLUMNS else "")  # fmt: skip
    if requested is not None:
        matches = _matching(columns, requested)
        if not matches and requested.isdigit():
            return _column_number(requested, len(columns), source, option)
        if not matches:
            raise InputError(f"{source}: column {requested!r} not found; columns are: {listed}")
        return _one_match(matches, columns, source, option)
    matches = _matching(columns, wanted)
    if matches:
        return _one_match(matches, columns, source, option)
    if len(columns) == 1 and wanted == "name":
        return 0
    raise InputError(f"{source}: no column called {wanted!r}; columns are: {listed}; use {option} <one of them>")


def _matching(columns: list[str], wanted: str) -> list[int]:
    """The positions of the columns called ``wanted`` exactly, else in any case or padding."""
    exact = [i for i, column in enumerate(columns) if column == wanted]
    key = wanted.strip().lower()
    return exact or [i for i, column in enumerate(columns) if column.strip().lower() == key]


def _one_match(matches: list[int], columns: list[str], source: str, option: str) -> int:
    if len(matches) == 1:
        return matches[0]
    named = " and ".join(f"{i + 1} ({columns[i]!r})" for i in matches)
    options = " or ".join(f"{option} {i + 1}" for i in matches)
    raise InputError(f"{source}: columns {named} both match; choose one by position: {options}")


def _column_number(requested: str, width: int | None, source: str, option: str) -> int:
    """A 1-based column number as a 0-based position."""
    if not requested.isdigit() or int(requested) < 1 or (width is not None and int(requested) > width):
        limit = f"1 to {width}" if width is not None else "1 or more"
        raise InputError(f"{source}: {option} {requested!r} is not a column number ({limit}) of this file")
    return int(requested) - 1
