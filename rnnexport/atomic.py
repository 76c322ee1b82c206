"""Atomic writes: a file or folder appears at its path whole, or not at all (the one home for this mechanism)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .errors import InputError

PARTIAL_SUFFIX = ".partial"


def check_output_file(path: str | Path) -> None:
    """InputError unless ``path`` can become a file: not a folder, and its folder exists."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output {path} is a directory; give a file name")
    check_output_parent(target)


def check_output_folder(path: str | Path) -> None:
    """InputError unless ``path`` can become a folder: not a file, and its parent exists."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"output {path} is a file; parquet output is a folder of parts: give a folder name")
    check_output_parent(target)


def check_output_parent(target: Path) -> None:
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")


@contextlib.contextmanager
def atomic_file(path: str | Path, binary: bool = False) -> Iterator[IO]:
    """Yield a handle (UTF-8 text with newline='', or bytes); the file appears at ``path`` only if the block
    completes. '-' is stdout. Raises InputError when ``path`` is a folder or its folder is missing."""
    if str(path) == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    target = Path(path)
    check_output_file(target)
    descriptor, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent)
    try:
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": ""}
        with os.fdopen(descriptor, **mode) as handle:
            yield handle
        os.replace(partial, target)
    except BaseException:  # includes KeyboardInterrupt: never leave a half-written file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (the folder must exist)."""
    with atomic_file(path, binary=True) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (the folder must exist)."""
    with atomic_file(path) as handle:
        handle.write(text)


def atomic_write_json(path: str | Path, content: dict) -> None:
    """``content`` as indented JSON plus a newline, written atomically."""
    atomic_write_text(path, json.dumps(content, indent=2) + "\n")


def atomic_save(path: str | Path, save: Callable[[Path], None]) -> None:
    """Let ``save(partial_path)`` write a file (e.g. torch.save), then move it to ``path``; nothing is left
    behind on failure. Creates the parent folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent)
    os.close(descriptor)
    try:
        save(Path(partial))
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


@contextlib.contextmanager
def staged_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """An empty scratch folder inside ``parent`` (same file system, so its files can be renamed into place),
    removed with whatever is left in it when the block ends."""
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder that replaces the folder ``path`` only if the block completes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent))
    try:
        yield staging
        swap_in(staging, target)
    except BaseException:  # includes KeyboardInterrupt: never leave half a folder
        shutil.rmtree(staging, ignore_errors=True)
        raise


def swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is set aside first and restored on failure."""
    if not target.exists():
        staging.rename(target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    target.rename(aside / target.name)
    try:
        staging.rename(target)
    except BaseException:
        (aside / target.name).rename(target)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
