"""Atomic writes: a file or folder appears at its path whole, or not at all (the one home for this mechanism).

Partials live next to their target as ``.NAME.<pid>.<random>.partial`` (folders set aside during a swap:
``.NAME.<pid>.<random>.old``), so a later write to the same target can tell a dead writer's leftover (its pid
is gone, e.g. after SIGKILL) from a live one's, and removes it. A new file's mode follows the umask; a replaced
file keeps its mode (and its owner, when we run as root). What a target is decides how it is written, never its
name (io.outputs.writes_in_place): one that is not a regular file (a FIFO, a device such as /dev/null, a pipe
behind /dev/stdout or /dev/fd/N from ``>(cmd)``) is written in place, never replaced; a regular file anywhere
(/dev/shm too) is replaced. A symlink is kept: the file it leads to is replaced. A set of files replaced as
one (a model folder) is io.generations'.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .outputs import check_output_file, output_errors, replaced_path, writes_in_place

PARTIAL_SUFFIX = ".partial"
# Every output this process has put in place, in order: a signal that arrives afterwards must not claim that
# nothing was written (io.interrupts says which outputs were already complete).
COMMITTED: list[Path] = []
ASIDE_SUFFIX = ".old"


def partial_name(target_name: str, suffix: str = PARTIAL_SUFFIX) -> str:
    """``.NAME.<pid>.<random><suffix>``: the writer's pid tells a later run whether it is still alive."""
    return f".{target_name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove the partials of ``target`` left by writers that are gone (killed); return what was removed."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]+({re.escape(PARTIAL_SUFFIX)}|\.old)$")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            match = pattern.match(entry.name)
            if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
                _remove_leftover(Path(entry.path), target)
                removed.append(Path(entry.path))
    return removed


def _remove_leftover(path: Path, target: Path) -> None:
    """Delete a dead writer's partial; a folder it set aside (killed mid-swap) goes back if ``target`` is gone."""
    if path.name.endswith(ASIDE_SUFFIX) and not target.exists() and (path / target.name).exists():
        (path / target.name).rename(target)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _create_partial(target: Path) -> tuple[int, Path]:
    """An empty partial next to ``target``: the target's mode (and owner, as root) if it exists, else 0666
    less the umask."""
    partial = target.parent / partial_name(target.name)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with contextlib.suppress(FileNotFoundError):
        existing = os.stat(target)
        os.fchmod(descriptor, stat.S_IMODE(existing.st_mode))
        if os.geteuid() == 0:
            os.fchown(descriptor, existing.st_uid, existing.st_gid)
    return descriptor, partial


def _open_mode(binary: bool) -> dict:
    return {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": ""}


class WholeWrites:
    """A binary stream whose ``write`` writes every byte or raises. A BufferedWriter on a pipe returns early,
    without an error, when the reader goes away in the middle of a large write (a short write): the rest was
    dropped and the command ended as if all of it had been read. Writing the rest meets EPIPE (BrokenPipeError),
    which the CLI turns into exit status 141. Other attributes are the stream's."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        with output_errors("standard output"):  # a full disk behind stdout: an OutputError, like a file's
            while view:
                written = self.stream.write(view)
                if not written:  # nothing taken and no error: the reader is gone
                    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
                view = view[written:]
        return total

    def flush(self) -> None:
        with output_errors("standard output"):
            self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


@contextlib.contextmanager
def atomic_file(path: str | Path, binary: bool = False) -> Iterator[IO]:
    """Yield a handle (UTF-8 text with newline='', or bytes); the file appears at ``path`` only if the block
    completes. '-' is stdout, streamed as written (like any Unix filter: on failure the exit status says so).
    A FIFO, device or socket is written in place (io.outputs.writes_in_place). Raises InputError when ``path``
    is a folder, ends with '/' or its folder is missing, OutputError for a file the user may not write, a full
    disk or a read-only or forbidden folder."""
    if str(path) == "-":
        stream = WholeWrites(sys.stdout.buffer) if binary else sys.stdout
        yield stream
        stream.flush()
        return
    check_output_file(path)
    target = Path(path)
    if writes_in_place(target):
        with output_errors(target), open(target, **_open_mode(binary)) as handle:
            yield handle
        return
    target = replaced_path(target)
    remove_stale_partials(target)
    with output_errors(target):
        descriptor, partial = _create_partial(target)
        try:
            with os.fdopen(descriptor, **_open_mode(binary)) as handle:
                yield handle
            os.replace(partial, target)
            COMMITTED.append(target)
        except BaseException:  # includes KeyboardInterrupt and SIGTERM: never leave a half-written file
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
    target = replaced_path(Path(path))
    with output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(target)
        descriptor, partial = _create_partial(target)
        os.close(descriptor)
        try:
            save(partial)
            os.replace(partial, target)
            COMMITTED.append(target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise


def _make_partial_folder(parent: Path, name: str, suffix: str = PARTIAL_SUFFIX) -> Path:
    """An empty folder ``parent/.NAME.<pid>.<random><suffix>`` whose mode follows the umask."""
    folder = parent / partial_name(name, suffix)
    folder.mkdir(mode=0o777)
    return folder


@contextlib.contextmanager
def staged_folder(parent: Path, name: str) -> Iterator[Path]:
    """An empty scratch folder inside ``parent`` (same file system, so its files can be renamed into place),
    removed with whatever is left in it when the block ends. ``name`` tags it (leftovers of a killed run
    tagged alike are removed)."""
    with output_errors(parent):
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(parent / name)
        staging = _make_partial_folder(parent, name)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        COMMITTED[:] = [path for path in COMMITTED if staging not in path.parents]  # scratch, not outputs


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder that replaces the folder ``path`` only if the block completes (on failure,
    parent folders it created are removed too)."""
    target = Path(path)
    with removing_created_folders(target.parent):
        with output_errors(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(target)
            staging = _make_partial_folder(target.parent, target.name)
        try:
            yield staging
            with output_errors(target):
                swap_in(staging, target)
        except BaseException:  # includes KeyboardInterrupt: never leave half a folder
            shutil.rmtree(staging, ignore_errors=True)
            raise


@contextlib.contextmanager
def removing_created_folders(folder: Path) -> Iterator[None]:
    """On any failure in the block, remove ``folder`` and its parents that did not exist before it (innermost
    first, each only if it is empty)."""
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        yield
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is set aside first and restored on failure."""
    _swap_in(staging, target)
    COMMITTED.append(target)


def _swap_in(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    aside = _make_partial_folder(target.parent, target.name, ASIDE_SUFFIX)
    target.rename(aside / target.name)
    try:
        staging.rename(target)
    except BaseException:
        (aside / target.name).rename(target)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
