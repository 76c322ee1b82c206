"""How a command ends when something it does not handle happens: signals, file-system and internal errors.

SIGINT, SIGTERM and SIGHUP unwind the command like an exception, so every atomic write removes its partial and
leaves an existing output untouched; the exit status is 128 + the signal (130, 143, 129), as shells expect.
An OSError naming a file is one ``Error:`` line. Anything else is a bug: one line that says so, exit 1, and the
traceback with ``--debug`` or ``RNNEXPORT_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

import click

from ..errors import RnnExportError, first_line
from ..io.atomic import COMMITTED, FILE_SYSTEM_ERRORS, file_system_error

DEBUG_ENV = "RNNEXPORT_DEBUG"
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


def debug_wanted(flag: bool) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _fail(message: str, code: int = 1) -> click.exceptions.Exit:
    click.echo(f"Error: {message}", err=True)
    return click.exceptions.Exit(code)


def _outputs_left() -> str:
    """What an interrupted command leaves: no partial output, and which outputs were already complete."""
    if not COMMITTED:
        return "no partial output was left"
    return f"no partial output was left, but {', '.join(map(str, COMMITTED))} had already been written in full"


def ended_by(error: BaseException, debug: bool) -> click.exceptions.Exit:
    """The exit (after printing one line) for an exception no command handled; re-raises it with ``debug``."""
    if isinstance(error, KeyboardInterrupt):
        return _fail(f"interrupted (SIGINT); {_outputs_left()}", 128 + signal.SIGINT)
    if isinstance(error, Terminated):
        return _fail(f"terminated ({error}); {_outputs_left()}", 128 + error.signum)
    if isinstance(error, BrokenPipeError):  # `rnnexport classify big.csv | head`: stop quietly, like any filter
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return click.exceptions.Exit(128 + signal.SIGPIPE)
    if debug:
        raise error
    # an OSError naming a file, or a full disk without a name (click.echo to a full disk behind stdout)
    if isinstance(error, OSError) and (error.filename is not None or error.errno in FILE_SYSTEM_ERRORS):
        where = error.filename if error.filename is not None else "the output"
        translated = file_system_error(error, where)
        if isinstance(translated, RnnExportError):
            return _fail(str(translated))
        return _fail(f"{where}: {error.strerror or first_line(error)}")
    return _fail(f"internal error: {type(error).__name__}: {first_line(error)}; rerun with --debug for the traceback")


class GuardedGroup(click.Group):
    """A click group whose commands end cleanly on signals and on errors they do not handle."""

    def invoke(self, ctx: click.Context):
        debug = debug_wanted(bool(ctx.params.get("debug")))
        COMMITTED.clear()  # this command's outputs only (tests run many commands in one process)
        try:
            with signals_raise():
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BaseException as error:  # the one place that turns the unexpected into one line
            raise ended_by(error, debug) from None
