"""Labelled names: distinct (folded name, label) pairs read from a folder of ``<label>.txt`` files or from a table
with a name and a label column (CSV or Parquet, read as classify reads its input); and the names export and
verify check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, OptionError
from ..text.alphabet import ALPHABET
from ..text.fold import fold, has_prediction
from .fetch import check_text_file, labelled_files


@dataclass(frozen=True)
class Pair:
    """One distinct (folded name, label) example."""

    name: str
    label: str


@dataclass(frozen=True)
class LabelledData:
    """Training data read from a folder or a CSV/TSV: the labels (sorted) and the distinct folded pairs."""

    labels: list[str]
    pairs: list[Pair]
    source: str
    rows: int = 0  # the names read (blank lines aside)
    without_letter: int = 0  # of them, names that fold to nothing or only spaces in the alphabet: dropped

    @property
    def dropped_note(self) -> str | None:
        """What training says when names were dropped for want of a letter of the alphabet (else None)."""
        if not self.without_letter:
            return None
        return (f"{self.without_letter:,} of {self.rows:,} names have no letter of the alphabet and were dropped "
                f"({self.source})")  # fmt: skip


def folder_labels(folder: Path) -> list[str]:
    """The labels of a folder of ``<label>.txt`` files (sorted), after checking there are at least 2 and each
    is a non-empty UTF-8 file with a usable name. Raises DataError."""
    if not folder.is_dir():
        raise DataError(f"names folder {folder} does not exist; give a folder of <label>.txt files or a table")
    files = labelled_files(folder)
    if not files:
        raise DataError(f"{folder} holds no <label>.txt file; give a folder of <label>.txt files, one name per line")
    labels = sorted(files)
    _check_labels(labels, str(folder))
    for label in labels:
        check_text_file(files[label])
    return labels


def _check_labels(labels: list[str], source: str) -> None:
    if len(set(labels)) < 2:
        raise DataError(f"{source} has {len(set(labels))} label(s); training needs at least 2")
    for label in labels:
        if not label.strip() or not label.isprintable():
            raise DataError(
                f"label {label!r} of {source} is blank or holds a tab, line break or other control character; "
                "rename it (the C++ and Node.js consumers write labels into tab-separated lines)"
            )


def read_pairs(names_dir: Path, labels: list[str] | None = None, alphabet: str = ALPHABET) -> list[Pair]:
    """Distinct (folded name, label) pairs of a folder of ``<label>.txt`` files, in file order; names that fold
    to nothing are dropped. ``labels``: the files to read (default: every one, see :func:`folder_labels`)."""
    return _folder_data(names_dir, labels or folder_labels(names_dir), alphabet).pairs


def _folder_data(names_dir: Path, labels: list[str], alphabet: str) -> LabelledData:
    files = labelled_files(names_dir)
    rows = [(line, label) for label in labels for line in files[label].read_text("utf-8").splitlines()]
    return _distinct_pairs(rows, labels, alphabet, str(names_dir))


def _distinct_pairs(rows: list[tuple[str, str]], labels: list[str], alphabet: str, source: str) -> LabelledData:
    """(name, label) rows folded to ``alphabet``, each distinct pair once, in order. A name that folds to nothing
    or only spaces is dropped: it has no letter to learn from, and classify gives such a name no prediction."""
    seen: set[Pair] = set()
    pairs = []
    named = without_letter = 0
    for name, label in rows:
        if not name.strip():
            continue
        named += 1
        pair = Pair(fold(name, alphabet), label)
        if not has_prediction(pair.name):
            without_letter += 1
        elif pair not in seen:
            seen.add(pair)
            pairs.append(pair)
    return LabelledData(labels, pairs, source, named, without_letter)


def read_labelled(
    path: Path, alphabet: str = ALPHABET, name_column: str | None = None, label_column: str | None = None
) -> LabelledData:
    """Labelled names from a folder of ``<label>.txt`` files, or a table with a name and a label column
    (default: the columns called 'name' and 'label', any case): CSV (any delimiter classify detects) or
    Parquet, read as classify reads its input (io.tables.read_text_table).

    Names are folded to ``alphabet``; labels are the data's own, stripped and sorted (at least 2). Raises
    DataError for the data (a missing file, a row without a label, too few labels), InputError for the file.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_data(path, folder_labels(path), alphabet)
    if not path.is_file():
        raise DataError(f"{path} does not exist; give a folder of <label>.txt files, or a CSV, TSV or Parquet file")
    rows = _labelled_rows(path, name_column, label_column)
    labels = sorted({label for _, label in rows})
    _check_labels(labels, str(path))
    return _distinct_pairs(rows, labels, alphabet, str(path))


def _labelled_rows(path: Path, name_column: str | None, label_column: str | None) -> list[tuple[str, str]]:
    """(name, label) of each data row of a table; a row with neither is skipped, one without a label is an error."""
    from ..io.columns import choose_column
    from ..io.tables import read_text_table

    table = read_text_table(path)
    name_at = choose_column(table.columns, name_column, table.source, option="--name-column")
    label_at = choose_column(table.columns, label_column, table.source, wanted="label", option="--label-column")
    if name_at == label_at:
        raise DataError(f"{path}: the names and the labels are both column {table.columns[name_at]!r}; "
                        "pass --name-column and --label-column")  # fmt: skip
    rows = []
    for row, (name, label) in enumerate(zip(table.texts(name_at, text_only=True), table.texts(label_at), strict=True)):
        label = (label or "").strip()
        if not label and not name:
            continue
        if any(end in field for field in (name or "", label) for end in "\r\n"):
            raise DataError(f"{table.source}, {table.where(row)}: a quoted field runs over several lines (a stray "
                            "quote?); close the quote, or write a quote inside a field as \"\"")  # fmt: skip
        if not label:
            raise DataError(f"{table.source}, {table.where(row)}: no label; give every row a label")
        rows.append((name or "", label))
    return rows


def read_names(path: Path, column: str | None = None) -> tuple[list[str], str]:
    """The names of a CSV or Parquet file (``column``, else classify's rule: the column called 'name', any case,
    else the only one), or of a folder of ``<label>.txt`` files (every line), and a description of where they
    came from; a missing field reads as ''. Raises InputError when the file cannot be read or lacks ``column``,
    DataError for a folder without label files."""
    from ..io.columns import choose_column
    from ..io.tables import read_text_table

    if Path(path).is_dir():
        if column is not None:
            raise OptionError(f"{path} is a folder of <label>.txt files: it has no columns; drop --name-column")
        files = labelled_files(Path(path))
        if not files:
            raise DataError(f"{path} holds no <label>.txt file; give a CSV, a Parquet file or a names folder")
        for file in files.values():
            check_text_file(file)
        names = [line for file in files.values() for line in file.read_text("utf-8").splitlines()]
        return names, f"{path} ({len(files)} label files)"

    table = read_text_table(path)
    position = choose_column(table.columns, column, table.source, option="--name-column")
    names = [name or "" for name in table.texts(position, text_only=True)]
    return names, f"{table.source} (column {table.columns[position]!r})"
