"""The names data set's folder: found (--data, data/names, $RNNEXPORT_NAMES_DIR), fetched (copied or downloaded
into a staging folder, then swapped in) and checked (one non-empty UTF-8 ``<Label>.txt`` per label)."""

from __future__ import annotations

import io
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..errors import DataError
from ..io.atomic import atomic_folder

# `rnnexport data --help` (cli/training.py), and its --from option's.
DATA_HELP = """Fetch the names data set (18 files, one per language) into data/names/.

\b
Example (offline):
  rnnexport data --from ~/Downloads/data/names
Without --from or $RNNEXPORT_NAMES_DIR it keeps a valid copy already in place, or downloads the
PyTorch tutorial's data.zip (always with --refresh).
"""
DATA_OPTIONS = {
    "source": "Copy the 18 label files from this folder instead of downloading (also: $RNNEXPORT_NAMES_DIR)."
}
DATA_URL = "https://download.pytorch.org/tutorial/data.zip"
NAMES_DIR_ENV = "RNNEXPORT_NAMES_DIR"
DEFAULT_NAMES_DIR = Path("data/names")
# The tutorial data set's labels: what `rnnexport data` fetches and checks. Training takes any labels.
EXPECTED_LABELS = (
    "Arabic", "Chinese", "Czech", "Dutch", "English", "French", "German", "Greek", "Irish",
    "Italian", "Japanese", "Korean", "Polish", "Portuguese", "Russian", "Scottish", "Spanish", "Vietnamese",
)  # fmt: skip


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


def validate_names_dir(names_dir: Path, expected_labels: tuple[str, ...] = EXPECTED_LABELS,
                       what: str = "names folder") -> list[str]:  # fmt: skip
    """Check a folder holds one non-empty UTF-8 ``<Label>.txt`` per expected label; return the labels. ``what``
    names the folder in the DataError (``--from``: where the user gave it)."""
    if not names_dir.is_dir():
        state = "is not a folder" if names_dir.exists() else "does not exist"
        raise DataError(f"{what} {names_dir} {state}; give the folder that holds {expected_labels[0]}.txt ... "
                        f"{expected_labels[-1]}.txt (data/names in {DATA_URL})")  # fmt: skip
    present = labelled_files(names_dir)
    missing = [label for label in expected_labels if label not in present]
    if missing:
        raise DataError(
            f"{what} {names_dir} is missing {len(missing)} of {len(expected_labels)} files: "
            + ", ".join(f"{label}.txt" for label in missing)
        )
    for label in expected_labels:
        check_text_file(present[label])
    return list(expected_labels)


def check_text_file(path: Path) -> None:
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
    if folder is not None:  # named as the user gave it: not "run `rnnexport data --from DIR`", the command just run
        validate_names_dir(folder, what="--from" if source else f"${NAMES_DIR_ENV}")
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
