"""Typed errors raised by the library; the CLI turns each into one line and a non-zero exit."""


class RnnExportError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class DataError(RnnExportError):
    """The names data set is missing, incomplete or unreadable."""


class CheckpointError(RnnExportError):
    """A checkpoint file is missing, corrupt or lacks a documented key."""


class ArtifactError(RnnExportError):
    """An exported artifact is missing, corrupt or does not match its manifest."""


class InputError(RnnExportError):
    """A user's input file (CSV) cannot be used as given."""


class OptionError(InputError, ValueError):
    """A command-line option's value the library refuses, as typed (``--blocksize abc``) or against the model
    (``--top-k`` beyond its labels); the CLI treats it like any bad option: a usage error, exit status 2."""


class OutputError(RnnExportError):
    """An output cannot be written: a full disk, a read-only or forbidden folder."""


class ModelInputError(RnnExportError, ValueError):
    """Indices or lengths given to a runtime break its contract (shapes, dtypes, 1 <= lengths <= T)."""


class TrainingError(RnnExportError):
    """Training cannot go on, e.g. the loss stopped being finite."""


class ParityError(RnnExportError):
    """One or more runtimes disagree with eager PyTorch beyond the tolerance."""

    def __init__(self, failures: list[str], report: dict | None = None):
        self.failures = failures
        self.report = report  # the full parity report, for printing
        super().__init__("parity failed for: " + "; ".join(failures))


class RnnExportWarning(UserWarning):
    """Base class of the library's warnings; the CLI prints each as one ``Warning: ...`` line."""


class FoldVersionWarning(RnnExportWarning):
    """A model was folded by another version of the fold library (or Unicode database) than the installed one:
    ASCII names are unaffected, non-ASCII names may fold, and so be classified, differently."""


class HeaderWarning(RnnExportWarning):
    """A file's only header cell looks like a name, not a column's title: the file may have no header line, and
    its first name is then not classified (rnnexport.io.columns.header_looks_like_a_name)."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (libraries' messages run to pages), or its type."""
    message = str(error).strip()
    return message.splitlines()[0][:200] if message else type(error).__name__
