"""How a run ends when it does not finish. SIGTERM and SIGHUP raise Terminated in the main thread, as SIGINT
raises KeyboardInterrupt, so that every atomic write unwinds: its partial is removed and an existing output is
left untouched. The exit status of a signal is 128 + its number (130, 143, 129), as shells expect; what an
interrupted run leaves, and a file-system error, are each described in one line."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from ..errors import RnnExportError, first_line
from .atomic import COMMITTED
from .outputs import FILE_SYSTEM_ERRORS, file_system_error

CLEANED_UP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """A SIGTERM or SIGHUP, raised where the main thread is (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated in the main thread for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in CLEANED_UP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back during the block (a commit of a few renames, which our handlers must
    not cut into: the message would claim nothing was written), then handled as they would have been. A Python
    handler runs in the main thread whichever thread the signal reached, so recording it there defers it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    deferred = (signal.SIGINT, *CLEANED_UP_SIGNALS)
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in deferred}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            _deliver(received[0], previous[received[0]])


def _deliver(signum: int, handler) -> None:
    """Act on a signal held back as its handler would have: call it, or let the default action happen."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)


def outputs_left() -> str:
    """What an interrupted run leaves: no partial output, and which outputs were already complete."""
    if not COMMITTED:
        return "no partial output was left"
    return f"no partial output was left, but {', '.join(map(str, COMMITTED))} had already been written in full"


def interruption(error: BaseException) -> tuple[str, int] | None:
    """The line and exit status of a SIGINT, SIGTERM or SIGHUP (KeyboardInterrupt or Terminated), else None."""
    if isinstance(error, KeyboardInterrupt):
        return f"interrupted (SIGINT); {outputs_left()}", 128 + signal.SIGINT
    if isinstance(error, Terminated):
        return f"terminated ({error}); {outputs_left()}", 128 + error.signum
    return None


def file_system_failure(error: BaseException) -> str | None:
    """The line for an OSError naming a file, or a full disk without a name (a write to a full disk behind
    stdout); None for any other error."""
    if not isinstance(error, OSError) or (error.filename is None and error.errno not in FILE_SYSTEM_ERRORS):
        return None
    where = error.filename if error.filename is not None else "the output"
    translated = file_system_error(error, where)
    if isinstance(translated, RnnExportError):
        return str(translated)
    return f"{where}: {error.strerror or first_line(error)}"
