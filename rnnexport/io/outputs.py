"""What an output path is, and whether a command may write it: the one home for the checks every command makes on
its output before any work (a folder, a missing folder, a file the user may not write, a file the command also
reads), and for the rule that decides how a file is written (replaced whole, or written in place).

How a file is written is decided by what it *is*, after resolving links, never by its name: a regular file, or
none, is replaced atomically (io.atomic); a FIFO, a character or block device or a socket (``/dev/null``, a
pipe behind ``/dev/stdout``, ``>(cmd)``) is written in place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError, OutputError

STDIO = "-"  # standard input as an input, standard output as an output
# A name that can only be a folder: it ends with '/' (or '/.', '/..'), as cp and the shell read it.
FOLDER_ENDINGS = ("/", "/.", "/..")
# Errors of the file system rather than of our code: one line naming the path, never a traceback.
FILE_SYSTEM_ERRORS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some of your quota or write elsewhere",
    errno.EFBIG: "write to a file system that allows larger files",
    errno.EROFS: "write elsewhere",
    errno.EACCES: "check the folder's permissions or write elsewhere",
    errno.EPERM: "check the folder's permissions or write elsewhere",
}
SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # of them, those met only by writing


def check_output_file(path: str | Path, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse, before any work, an output ``path`` that cannot become the file the command writes: a folder, a
    name ending in '/' (cp's "Not a directory"), a missing folder, an existing file the user may not write
    (as the shell's ``>`` would), or the same file as one of ``inputs`` ('-': standard input; the output '-' is
    standard output). Raises InputError, or OutputError for a file the user may not write."""
    text = str(path)
    if text != STDIO:
        _check_file_name(text)
        check_output_parent(replaced_path(Path(text)))
        check_writable(text)
    check_not_inputs(text, inputs)


def _check_file_name(text: str) -> None:
    if os.path.isdir(text):
        raise InputError(f"output {text} is a directory; give a file name")
    if text.endswith(FOLDER_ENDINGS) or text in (".", ".."):
        raise InputError(f"output {text} is not a directory: a name ending in '/' must be an existing folder; "
                         "give a file name without the '/'")  # fmt: skip


def check_output_parent(target: Path) -> None:
    """InputError when the folder ``target`` would be created in does not exist."""
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")


def check_writable(text: str) -> None:
    """OutputError when an existing ``text`` (links followed) is a file this user may not write, where the
    shell's ``> text`` would be refused too: a read-only file, another user's file behind a link, a read-only
    file system (access(2) with the effective ids: root may write any file, as in the shell)."""
    if not os.path.exists(text) or os.access(text, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return  # a new file: its folder decides when it is created
    with contextlib.suppress(OSError):
        if os.statvfs(text).f_flag & os.ST_RDONLY:
            raise file_system_error(OSError(errno.EROFS, os.strerror(errno.EROFS)), text)
    raise OutputError(f"cannot write {text}: {os.strerror(errno.EACCES)}; it is not writable for you (the shell's "
                      "> would be refused too): change its permissions or write elsewhere")  # fmt: skip


def file_system_error(error: OSError, path: str | Path, errnos=FILE_SYSTEM_ERRORS) -> OSError | OutputError:
    """An OutputError naming ``path`` for a full disk, a read-only or forbidden folder (those of ``errnos``);
    else ``error`` itself."""
    if error.errno not in errnos:
        return error
    return OutputError(f"cannot write {path}: {os.strerror(error.errno)}; {FILE_SYSTEM_ERRORS[error.errno]}")


@contextlib.contextmanager
def output_errors(path: str | Path, errnos=FILE_SYSTEM_ERRORS) -> Iterator[None]:
    """Turn a full disk, a read-only or a forbidden folder (those of ``errnos``) met while writing ``path`` into
    an OutputError."""
    try:
        yield
    except OSError as error:
        translated = file_system_error(error, path, errnos)
        if translated is error:
            raise
        raise translated from None


def file_identity(path: str | Path) -> tuple[int, int, int] | None:
    """(device, inode, mode) of ``path`` (links followed) or of an open descriptor, or None when missing."""
    try:
        status = os.fstat(path) if isinstance(path, int) else os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino, status.st_mode


def _stdio(path: str | Path, stream) -> int | str | Path | None:
    """``path``, or for '-' the descriptor of ``stream`` (None when it has none)."""
    if str(path) != STDIO:
        return path
    with contextlib.suppress(AttributeError, OSError, ValueError):
        return stream.fileno()
    return None


def check_not_inputs(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """InputError when the output is the same file as an input (same path, ./name, a symlink, a hard link,
    ``/dev/stdin`` or ``/proc/self/fd/0`` for standard input, standard output redirected into an input):
    writing it would destroy what is being read. Terminals, /dev/null and sockets never clash: reading and
    writing them is not the same data."""
    written_at = _stdio(output, sys.stdout)
    written = None if written_at is None else file_identity(written_at)
    if written is None or stat.S_ISCHR(written[2]) or stat.S_ISSOCK(written[2]):
        return
    for source in inputs:
        read_at = _stdio(source, sys.stdin)
        read = None if read_at is None else file_identity(read_at)
        if read is not None and read[:2] == written[:2]:
            shown = "standard output" if str(output) == STDIO else str(output)
            named = "standard input, which this command reads" if str(source) == STDIO else f"the input file {source}"
            raise InputError(f"output {shown} is {named}; write to another file")


def files_read(path: str | Path | None) -> list[Path]:
    """The files a command reads at ``path``: the file itself, or a folder's files (a folder of label files);
    none for None."""
    if path is None:
        return []
    path = Path(path)
    if not path.is_dir():
        return [path]
    with contextlib.suppress(OSError):
        return [entry for entry in path.iterdir() if entry.is_file()]
    return []


def replaced_path(path: Path) -> Path:
    """The file an atomic write replaces: a symlink's final target (so the link itself is kept), else ``path``."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def writes_in_place(path: str | Path) -> bool:
    """True for a target that must not be replaced but written in place: one that exists and is not a regular
    file (a FIFO, a device, a socket), links followed; or a regular file that no path names any more (a deleted
    file behind /proc/self/fd/N). A regular file, or none, is replaced atomically, wherever it lives
    (/dev/shm is an ordinary file system)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(status.st_mode):
        return True
    named = file_identity(os.path.realpath(path))
    return named is None or named[:2] != (status.st_dev, status.st_ino)
