"""What a command shows besides its result, and how it ends: lines on stderr, the library's warnings as one
``Warning:`` line each, the one progress bar (on a terminal only); a typed library error as one ``Error:`` line
(user_errors), and what no command handles: a signal (io.interrupts), a file-system error naming its path, or a
bug: one line that says so, exit 1, and the traceback with ``--debug`` or ``RNNEXPORT_DEBUG=1``."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings

import click

from ..errors import OptionError, RnnExportError, RnnExportWarning, first_line
from ..io.atomic import COMMITTED
from ..io.interrupts import file_system_failure, interruption, signals_raise

DEBUG_ENV = "RNNEXPORT_DEBUG"


def echo_err(message: str, quiet: bool = False) -> None:
    if not quiet:
        click.echo(message, err=True)


def show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    """The library's warnings as one ``Warning: ...`` line on stderr; other warnings as Python shows them."""
    if issubclass(category, RnnExportWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _default(message, category, filename, lineno, file, line)


@contextlib.contextmanager
def progress_bar(quiet: bool, description: str, unit: str, total: int | None = None):
    """The one progress bar: a tqdm bar on stderr when it is a terminal, else None (no \\r updates in logs); a
    count of ``total`` steps, or of rows (scaled: 1.2M) without one."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(desc=description, unit=unit, unit_scale=total is None, total=total, file=sys.stderr,
              dynamic_ncols=True, mininterval=0.5) as bar:  # fmt: skip
        yield bar


@contextlib.contextmanager
def steps_bar(quiet: bool, description: str):
    """Yield ``on_step(done, total, note)`` for a library call's progress: the progress bar (on a terminal only),
    opened at the first step (after what was printed before), ``note`` beside it; a new total or a step back
    starts it again (the default recipe trains a calibration sibling first; export writes, then verifies)."""
    with contextlib.ExitStack() as stack:
        bars = []

        def on_step(done: int, total: int, note: str = "") -> None:
            if not bars:
                bars.append(stack.enter_context(progress_bar(quiet, description, "step", total)))
            if bars[0] is not None:
                if total != bars[0].total or done < bars[0].n:
                    bars[0].reset(total=total)
                bars[0].set_postfix_str(note, refresh=False)
                bars[0].update(done - bars[0].n)

        yield on_step


@contextlib.contextmanager
def user_errors():
    """Turn the library's typed errors into ``Error: <what>, <how to fix>`` and exit 1; an option's value it
    refuses (OptionError) is a usage error, exit 2, like one click refuses."""
    try:
        yield
    except OptionError as error:
        raise click.UsageError(str(error), click.get_current_context(silent=True)) from None
    except RnnExportError as error:
        raise click.ClickException(str(error)) from None


def debug_wanted(flag: bool) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _fail(message: str, code: int = 1) -> click.exceptions.Exit:
    click.echo(f"Error: {message}", err=True)
    return click.exceptions.Exit(code)


def ended_by(error: BaseException, debug: bool) -> click.exceptions.Exit:
    """The exit (after printing one line) for an exception no command handled; re-raises it with ``debug``."""
    interrupted = interruption(error)
    if interrupted is not None:
        return _fail(*interrupted)
    if isinstance(error, BrokenPipeError):  # `rnnexport classify big.csv | head`: stop quietly, like any filter
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return click.exceptions.Exit(128 + signal.SIGPIPE)
    if debug:
        raise error
    failure = file_system_failure(error)
    if failure is not None:
        return _fail(failure)
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
