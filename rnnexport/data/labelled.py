"""The names data set: fetching it, validating the folder, reading labelled pairs and the fixed held-out split."""

from __future__ import annotations

import io
import os
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, OptionError
from ..io.atomic import atomic_folder
from ..text.alphabet import ALPHABET
from ..text.fold import fold, has_prediction

DATA_URL = "https://download.pytorch.org/tutorial/data.zip"
NAMES_DIR_ENV = "RNNEXPORT_NAMES_DIR"
DEFAULT_NAMES_DIR = Path("data/names")
# The tutorial data set's labels: what `rnnexport data` fetches and checks. Training takes any labels.
EXPECTED_LABELS = (
    "Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish",
    "Italian", "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese",
)  # fmt: skip


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


@dataclass(frozen=True)
class Split:
    """The fixed split of docs/model.md: pairs whose crc32 is 0 mod 10 are held out."""

    train: list[Pair]
    held_out: list[Pair]


def label_files(names_dir: Path) -> list[Path]:
    """The label files of a names folder, sorted: regular files named ``<label>.txt`` (``.txt`` in any case),
    hidden files (``.name``) aside. The file's stem is its label."""
    return sorted(path for path in names_dir.iterdir()
                  if path.suffix.lower() == ".txt" and not path.name.startswith(".") and path.is_file())  # fmt: skip


def labelled_files(folder: Path) -> dict[str, Path]:
    """Each label of a names folder and its file; DataError when two files give one label (Greek.txt and
    Greek.TXT, or a label padded with spaces)."""
    files: dict[str, Path] = {}
    for path in label_files(folder):
        label = path.stem.strip()
        if label in files:
            raise DataError(f"{files[label]} and {path} both hold label {label!r}; merge them or rename one")
        files[label] = path
    return files


def validate_names_dir(names_dir: Path, expected_labels: tuple[str, ...] = EXPECTED_LABELS) -> list[str]:
    """Check a folder holds one non-empty UTF-8 ``<Label>.txt`` per expected label; return the labels."""
    if not names_dir.is_dir():
        raise DataError(f"names folder {names_dir} does not exist; run `rnnexport data --from DIR` first")
    present = labelled_files(names_dir)
    missing = [label for label in expected_labels if label not in present]
    if missing:
        raise DataError(
            f"names folder {names_dir} is missing {len(missing)} of {len(expected_labels)} files: "
            + ", ".join(f"{label}.txt" for label in missing)
        )
    for label in expected_labels:
        _check_text_file(present[label])
    return list(expected_labels)


def _check_text_file(path: Path) -> None:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty; each label file must list names, one a line")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"{path} is not UTF-8 (line {line}); convert it (e.g. iconv -t utf-8)") from None


def resolve_source(source: str | Path | None) -> Path | None:
    """The folder ``rnnexport data`` copies from: an explicit one, else $RNNEXPORT_NAMES_DIR, else None
    (download). Reading the data set goes through :func:`find_names_dir`."""
    if source:
        return Path(source)
    return env_names_dir()


def env_names_dir() -> Path | None:
    """$RNNEXPORT_NAMES_DIR as a path, or None when unset or empty."""
    env = os.environ.get(NAMES_DIR_ENV)
    return Path(env) if env else None


def fetch_names(
    dest: Path = DEFAULT_NAMES_DIR, source: str | Path | None = None, url: str = DATA_URL, refresh: bool = False
) -> Path:
    """Put the 18 label files into ``dest`` (copied from a folder or downloaded) and validate them.

    Without a source, a valid data set already in ``dest`` is kept (no download) unless ``refresh``.
    """
    folder = resolve_source(source)
    if folder is None and not refresh and _is_valid_names_dir(dest):
        return dest
    if folder is not None:
        validate_names_dir(folder)
        _replace_dir(dest, lambda staging: _copy_label_files(folder, staging))
    else:
        _replace_dir(dest, lambda staging: _extract_zip(_download(url), staging))
    validate_names_dir(dest)
    return dest


def _is_valid_names_dir(folder: Path) -> bool:
    try:
        validate_names_dir(folder)
    except DataError:
        return False
    return True


def _copy_label_files(folder: Path, staging: Path) -> None:
    files = labelled_files(folder)
    for label in EXPECTED_LABELS:
        shutil.copyfile(files[label], staging / f"{label}.txt")


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(f"cannot download {url} ({reason}); offline, pass --from DIR or set {NAMES_DIR_ENV}") from None


def _extract_zip(archive: bytes, staging: Path) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            for member in zipped.namelist():
                path = Path(member)
                if path.parent.name == "names" and path.suffix == ".txt":
                    (staging / path.name).write_bytes(zipped.read(member))
    except zipfile.BadZipFile:
        raise DataError("the downloaded data.zip is corrupt; retry, or pass --from DIR") from None


def _replace_dir(dest: Path, fill) -> None:
    """Fill a staging folder, then swap it in, so a failed fetch never leaves a half-filled ``dest``."""
    with atomic_folder(dest) as staging:
        fill(staging)
        validate_names_dir(staging)


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
        _check_text_file(files[label])
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


def fold_of(pair: Pair, n_folds: int = 10) -> int:
    """docs/model.md's rule: a pair's cross-validation fold is crc32 of ``label<TAB>name`` (UTF-8) mod n_folds."""
    return zlib.crc32(f"{pair.label}\t{pair.name}".encode()) % n_folds


def read_labelled(
    path: Path, alphabet: str = ALPHABET, name_column: str | None = None, label_column: str | None = None
) -> LabelledData:
    """Labelled names from a folder of ``<label>.txt`` files, or a table with a name and a label column
    (default: the columns called 'name' and 'label', any case): CSV (any delimiter classify detects) or
    Parquet, read as classify reads its input (tables.read_text_table).

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


def is_held_out(pair: Pair) -> bool:
    """The fixed split: fold 0 of 10."""
    return fold_of(pair) == 0


def label_ids(pairs: list[Pair], labels: list[str]) -> list[int]:
    """Each pair's label as its index in ``labels`` (the model's output order)."""
    index = {label: i for i, label in enumerate(labels)}
    return [index[pair.label] for pair in pairs]


def split_pairs(pairs: list[Pair]) -> Split:
    """Split pairs into training and held-out lists, keeping their order."""
    held_out = [pair for pair in pairs if is_held_out(pair)]
    train = [pair for pair in pairs if not is_held_out(pair)]
    return Split(train=train, held_out=held_out)


def find_names_dir(explicit: str | Path | None = None) -> Path:
    """THE names-folder finder (train, evaluate, verify, bench, scripts and tests all call it): explicit,
    else data/names if fetched, else $RNNEXPORT_NAMES_DIR. DataError when none applies."""
    if explicit:
        return Path(explicit)
    if DEFAULT_NAMES_DIR.is_dir():
        return DEFAULT_NAMES_DIR
    if env_names_dir() is not None:
        return env_names_dir()
    raise DataError(f"no names data: run `rnnexport data --from DIR` (or set {NAMES_DIR_ENV})")


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
            _check_text_file(file)
        names = [line for file in files.values() for line in file.read_text("utf-8").splitlines()]
        return names, f"{path} ({len(files)} label files)"

    table = read_text_table(path)
    position = choose_column(table.columns, column, table.source, option="--name-column")
    names = [name or "" for name in table.texts(position, text_only=True)]
    return names, f"{table.source} (column {table.columns[position]!r})"
