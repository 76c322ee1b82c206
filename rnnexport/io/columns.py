"""Which column of a table holds the names (or, in training data, the labels): the one rule that classify,
train, evaluate, export and verify share, for CSV and Parquet alike."""

from __future__ import annotations

import re
import unicodedata
import warnings

from ..errors import HeaderWarning, InputError

LISTED_COLUMNS = 20  # an error names at most this many columns
# Words of a header cell that title a column of names (any word containing "name" does too: surname, nachname).
TITLE_WORDS = frozenset(("nom", "nombre", "apellido", "apellidos", "cognome", "sobrenome", "naam", "achternaam",
                         "family", "person", "people", "text", "word", "words", "value", "column", "field", "id",
                         "key"))  # fmt: skip
NAME_LIKE_LENGTH = 40  # a header cell longer than this is not taken for a name


def choose_column(columns: list[str], requested: str | None, source: str, has_header: bool = True,
                  wanted: str = "name", option: str = "--column",
                  no_header_option: str | None = None) -> int:  # fmt: skip
    """The 0-based position of the column ``requested`` (a header name, or a 1-based number), else of the column
    called ``wanted``, else, for names, of the only column. A name matches exactly, else in any case or padding.
    ``option`` is the flag that picks the column, for the messages; ``no_header_option`` the one that reads a
    file without a header line (CSV): given, the only column of a header that looks like a name is still taken
    (never guessed otherwise), with a HeaderWarning that says so and names that option.

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
        if no_header_option and header_looks_like_a_name(columns[0]):
            warnings.warn(f"{source}: its first line {columns[0]!r} is taken as the header, so it is not classified; "
                          f"it looks like a name, not a column's title: if the file has no header line, use "
                          f"{no_header_option}", HeaderWarning, stacklevel=2)  # fmt: skip
        return 0
    raise InputError(f"{source}: no column called {wanted!r}; columns are: {listed}; use {option} <one of them>")


def header_looks_like_a_name(cell: str) -> bool:
    """Whether a header cell reads like a name rather than a column's title: letters (any script), spaces, ' ’ -
    and . only, at most NAME_LIKE_LENGTH characters, starting with a capital or an uncased letter (田中), and no
    word that titles a column of names ('name' in any word: surname, last_name; nom, apellido, family, ...)."""
    text = cell.strip()
    if not text or len(text) > NAME_LIKE_LENGTH or not (text[0].isupper() or _uncased_letter(text[0])):
        return False
    if not all(char.isalpha() or unicodedata.category(char).startswith("M") or char in " '’-." for char in text):
        return False
    words = re.findall(r"[^\W\d_]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower())  # camelCase too
    return not any("name" in word or word in TITLE_WORDS for word in words)


def _uncased_letter(char: str) -> bool:
    return char.isalpha() and char.lower() == char.upper()


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
