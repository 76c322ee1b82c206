"""A set of files replaced in a folder as one (what ``train`` and ``export`` write into a model folder): a reader
that opens ``FOLDER/NAME`` at any instant sees every file of the old set or every file of the new one, whatever
interrupts the writer (an error, Ctrl-C, SIGTERM, SIGKILL, a power cut).

Layout of a folder F (docs/architecture.md, "The model folder")::

    F/.rnnexport               a symlink to the current generation: the one commit point
    F/.rnnexport-<16 hex>/     a generation: every file of the set, complete and flushed, never changed in use
    F/NAME -> .rnnexport/NAME  one symlink per file of the set, so that F/NAME reads as a plain file does

A new set is staged in ``F/.TAG.<pid>.<random>.partial``, flushed to disk and renamed to a generation; a link is
made for each of its names that has none (it leads nowhere until the commit: the name is still absent); then
``F/.rnnexport`` is replaced by a link to the new generation with one rename(2): the commit. After it, the links
of names the new set lacks (leading nowhere now) and the old generation are removed. Nothing in between changes
what any name reads. The next writer removes what an interrupted one left (writers take an flock on F first).

Files of F that are not links of the set (an earlier version's plain files, a folder copied with its links
followed) are adopted first when the new set names them or the caller drops them: hard-linked (else copied)
into a generation F/.rnnexport then leads to, then each replaced by its link, every step leaving every name's
content as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .atomic import COMMITTED, partial_name, removing_created_folders, staged_folder
from .interrupts import deferred_signals
from .outputs import SPACE_ERRORS, output_errors

POINTER = ".rnnexport"
GENERATION = re.compile(r"\.rnnexport-[0-9a-f]{16}")
PARTIAL = re.compile(r"\.\.rnnexport\.\d+\.[0-9a-f]+\.partial")  # io.atomic.partial_name(POINTER)


class FileOps:
    """The file-system steps of a swap. Each calls :meth:`before` first: a test interrupts the swap there (an
    exception, or SIGKILL) to check that every step leaves the old set or the new one."""

    def before(self, step: str, path: Path) -> None:
        """Called before each step that changes the folder."""

    def rename(self, source: Path, target: Path) -> None:
        self.before("rename", target)
        os.rename(source, target)

    def symlink(self, destination: str, path: Path) -> None:
        self.before("symlink", path)
        os.symlink(destination, path)

    def unlink(self, path: Path) -> None:
        self.before("unlink", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def rmtree(self, path: Path) -> None:
        self.before("rmtree", path)
        if os.path.islink(path) or not os.path.isdir(path):
            self.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def link(self, source: Path, target: Path) -> None:
        """``target`` becomes ``source``'s content: a hard link where the file system allows one, else a copy."""
        self.before("link", target)
        try:
            os.link(source, target)  # follows a symlink ``source`` (Linux: linkat with AT_SYMLINK_FOLLOW)
        except OSError:
            shutil.copy2(source, target)


@dataclass
class FileSwap:
    """A swap in progress: fill ``staging``; after the block, ``written`` names the folder's new set and
    ``removed`` the names the folder held before and no longer does."""

    folder: Path
    staging: Path
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _no_files(folder: Path) -> list[str]:
    return []


@contextlib.contextmanager
def swapped_files(folder: Path, tag: str, drop: Callable[[Path], Iterable[str]] = _no_files,
                  ops: FileOps | None = None) -> Iterator[FileSwap]:  # fmt: skip
    """Yield a FileSwap whose staging folder (inside ``folder``, created with its parents when missing) the
    block fills. When the block completes, the folder's set becomes the staged files, plus the files of its
    current set that are neither restaged nor named by ``drop(folder)`` (called once the folder is locked),
    all at once (this module's docstring). On a failure in the block the folder is left as it was (or not
    made). Raises InputError when a staged name is a folder in ``folder``; OutputError for a full disk or a
    read-only or forbidden folder."""
    folder = Path(folder)
    with removing_created_folders(folder), staged_folder(folder, tag) as staging:
        swap = FileSwap(folder, staging)
        with output_errors(folder, SPACE_ERRORS):  # a library writing into the staging folder (onnx.save_model)
            yield swap
        with output_errors(folder), locked(folder), deferred_signals():
            _commit(swap, drop, ops or FileOps())


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on ``folder`` for the block: one writer commits at a time (where the file system has
    no flock, such as some network file systems, writers are not serialised)."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _commit(swap: FileSwap, drop: Callable[[Path], Iterable[str]], ops: FileOps) -> None:
    folder, staging = swap.folder, swap.staging
    staged = sorted(path.name for path in staging.iterdir())
    for name in staged:
        if os.path.isdir(folder / name) and not os.path.islink(folder / name):
            raise InputError(f"{folder / name} is a folder where rnnexport writes a file; move it away")
    tidy(folder, ops)
    dropped = set(drop(folder)) - set(staged)
    current = current_generation(folder)
    before = {name for name in _names(current) if is_set_link(folder, name)}  # what the set's links show
    foreign = [name for name in [*staged, *sorted(dropped)] if os.path.lexists(folder / name) and not
               is_set_link(folder, name)]  # fmt: skip
    try:
        if foreign:  # adopt them: the same content, now through links
            adopted = {name: current / name for name in before} | {name: folder / name for name in foreign}
            current = _publish(folder, adopted, ops, relink=foreign)
            before |= set(foreign)
        for name in staged:
            keep_mode(staging / name, folder / name)
        carried = {name for name in before - set(staged) - dropped if is_set_link(folder, name)}
        files = {name: staging / name for name in staged} | {name: current / name for name in sorted(carried)}
        _publish(folder, files, ops, staging=staging)
    except BaseException:
        tidy(folder, FileOps())  # before the commit: as it was; after it: the new set, without leftovers
        raise
    swap.written, swap.removed = sorted(files), sorted(before - set(files))
    COMMITTED.extend(folder / name for name in swap.written)


def _publish(folder: Path, files: dict[str, Path], ops: FileOps, staging: Path | None = None,
             relink: Iterable[str] = ()) -> Path:  # fmt: skip
    """Make ``files`` (name -> its content's path) a generation, link its absent names, commit it, then
    replace the entries named in ``relink`` by their links and remove what the old generation leaves behind.
    ``staging``: a folder in ``folder`` already holding some of them, which becomes the generation."""
    old = current_generation(folder)
    building = staging or folder / partial_name(POINTER)
    if staging is None:
        ops.before("mkdir", building)
        building.mkdir()
    for name, source in files.items():
        if source.parent != building:
            ops.link(source, building / name)
    _flush(building, files)
    generation = folder / f"{POINTER}-{secrets.token_hex(8)}"
    ops.rename(building, generation)
    for name in files:
        if not os.path.lexists(folder / name):
            ops.symlink(f"{POINTER}/{name}", folder / name)
    _flush_folder(folder)
    _replace_link(folder, POINTER, generation.name, ops)  # the commit
    for name in relink:
        _replace_link(folder, name, f"{POINTER}/{name}", ops)
    for name in _names(old):
        if name not in files and is_set_link(folder, name):
            ops.unlink(folder / name)
    if old is not None:
        ops.rmtree(old)
    _flush_folder(folder)
    return generation


def _replace_link(folder: Path, name: str, destination: str, ops: FileOps) -> None:
    """``folder/name`` becomes a symlink to ``destination`` in one rename."""
    temporary = folder / partial_name(POINTER)
    ops.symlink(destination, temporary)
    ops.rename(temporary, folder / name)


def tidy(folder: Path, ops: FileOps) -> None:
    """Remove what interrupted writers left (call it holding the lock): generations other than the current one,
    links of the set that lead nowhere, partial links and folders, and a copy of the pointer that is not a link."""
    pointer = folder / POINTER
    if os.path.lexists(pointer) and not os.path.islink(pointer):
        ops.rmtree(pointer)  # a copy made with links followed: its plain files are adopted instead
    current = current_generation(folder)
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        # under the lock no other writer is committing: every partial of the pointer is a leftover
        if PARTIAL.fullmatch(name) or (GENERATION.fullmatch(name) and (current is None or name != current.name)):
            ops.rmtree(folder / name)
        elif is_set_link(folder, name) and not os.path.exists(folder / name):
            ops.unlink(folder / name)


def current_generation(folder: Path) -> Path | None:
    """The generation ``folder/.rnnexport`` leads to, or None."""
    try:
        destination = os.readlink(Path(folder) / POINTER)
    except OSError:
        return None
    generation = Path(folder) / destination
    return generation if GENERATION.fullmatch(destination) and generation.is_dir() else None


def is_set_link(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` is the link this module makes for a file of the set."""
    try:
        return os.readlink(Path(folder) / name) == f"{POINTER}/{name}"
    except OSError:
        return False


def _names(generation: Path | None) -> list[str]:
    return [] if generation is None else sorted(os.listdir(generation))


def keep_mode(staged: Path, target: Path) -> None:
    """Give ``staged`` the mode (and, as root, the owner) of the file it replaces, if there is one."""
    with contextlib.suppress(FileNotFoundError):
        existing = os.stat(target)
        os.chmod(staged, stat.S_IMODE(existing.st_mode))
        if os.geteuid() == 0:
            os.chown(staged, existing.st_uid, existing.st_gid)


def _flush(generation: Path, names: Iterable[str]) -> None:
    """Every file of a generation, and the generation's own entries, on disk before anything leads to them."""
    for name in names:
        descriptor = os.open(generation / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    _flush_folder(generation)


def _flush_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
