"""What a classify run reports: records in, rows out, blank lines, skipped names, names that lost characters in
folding or are in a script whose spelling the fold can only guess, the wall time since the command started (and a
rate only where it means something); and the invariant that every input record became one output row."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RnnExportError
from ..io.csv.dialect import DELIMITERS
from ..io.formats import FORMAT_NAMES
from ..text.scripts import describe_scripts
from ..verification.parity import ParityCheck, failure_line
from .layout import MAX_NAME_LETTERS, NameCounts


@dataclass
class ClassifySummary:
    """``records``: data records read (blank lines aside); ``rows``: output rows written with predictions (always
    equal: see check_counts); ``blank``: blank lines copied through; ``skipped``: rows whose name has no letter;
    ``lost``: rows classified although their name lost characters in folding (RaggedNames.lost > 0: emoji,
    digits, ...); a name left with no letter counts as skipped only; ``guessed``: rows classified although their
    name is in a script whose Latin spelling the fold can only guess, per script name (text.scripts);
    ``seconds``: wall seconds the engine took, from opening the input to the output's last byte (start-up, the
    imports and the model's loading before it are not counted: see describe)."""

    rows: int = 0
    skipped: int = 0
    lost: int = 0
    seconds: float = 0.0
    runtime: str = ""
    column: str = ""
    check: ParityCheck | None = None  # with --check: the runtime against eager float64 on every row
    records: int = 0
    blank: int = 0
    too_long: int = 0  # rows whose name has more than layout.MAX_NAME_LETTERS letters: no prediction
    delimiter: str | None = ","  # None: Parquet input
    output_format: str = "csv"
    guessed: dict[str, int] = field(default_factory=dict)

    @property
    def names_per_second(self) -> float:
        """Rows per second of the engine's own time (benchmarks; 0.0 for no time)."""
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def rate_to_show(self) -> float | None:
        """names_per_second, or None when the engine ran under RATE_MIN_SECONDS: then the figure would measure
        fixed costs and the clock's grain, not the rate ("50 names/s" for 11 names)."""
        return self.names_per_second if self.seconds >= RATE_MIN_SECONDS else None

    def describe(self, engine: str, wall_seconds: float | None = None) -> str:
        """The one line ``classify`` prints on stderr: counts, time, runtime, ``engine``, column and formats.

        ``wall_seconds``: since the command started (default: since this process started, seconds_since_start);
        the engine's own time and its rate follow it when it ran long enough to mean something.
        """
        copied = "copied" if self.output_format == "csv" else "not written (Parquet has no blank rows)"
        blank = f", {self.blank} blank lines {copied}" if self.blank else ""
        lost = f", {self.lost} {'name' if self.lost == 1 else 'names'} lost characters in folding" if self.lost else ""
        if self.too_long:
            lost += (f", {self.too_long} {'name' if self.too_long == 1 else 'names'} over {MAX_NAME_LETTERS:,} letters "
                     "left without a prediction")  # fmt: skip
        source = f"CSV ({DELIMITERS[self.delimiter]})" if self.delimiter else "Parquet"
        return (f"{self.records} records in, {self.rows} rows out ({self.skipped} skipped: no letter{blank}{lost}"
                f"{self.guessed_note()}) in {self.timing(wall_seconds)}, runtime {self.runtime}, engine {engine}, "
                f"column {self.column!r}, {source} -> {FORMAT_NAMES[self.output_format]}")  # fmt: skip

    def guessed_note(self) -> str:
        """', 3 names in scripts whose Latin spelling is a guess (Han 2, Arabic 1: docs/fold.md)', or '' for none."""
        count = sum(self.guessed.values())
        if not count:
            return ""
        return (f", {count} {'name' if count == 1 else 'names'} in scripts whose Latin spelling is a guess "
                f"({describe_scripts(self.guessed)}: docs/fold.md)")  # fmt: skip

    def timing(self, wall_seconds: float | None = None) -> str:
        """'7.21 s since the command started (0.22 s classifying)', with ': 350,000 names/s' after a long enough
        run; the engine's time alone where the process's start cannot be read."""
        wall = seconds_since_start() if wall_seconds is None else wall_seconds
        rate = self.rate_to_show
        engine = f"{self.seconds:.2f} s classifying" + ("" if rate is None else f": {rate:,.0f} names/s")
        if wall is None:
            return f"{engine} (start-up not measured here)"
        return f"{wall:.2f} s since the command started ({engine})"

    def check_verdict(self) -> tuple[str, bool]:
        """With --check: the line that reports it, and whether every row kept the parity rule."""
        report = self.check.report()
        verdict = "ok; " if report["passed"] else "MISMATCH; "
        line = f"check against eager PyTorch (float64) over {report['names']} names: {verdict}"
        return line + failure_line(self.runtime, report), report["passed"]

    def add(self, records: int, rows: int, blank: int, skipped: int, lost: int = 0, too_long: int = 0,
            guessed: dict[str, int] | None = None) -> None:  # fmt: skip
        self.records += records
        self.rows += rows
        self.blank += blank
        self.skipped += skipped
        self.lost += lost
        self.too_long += too_long
        for script, count in (guessed or {}).items():
            self.guessed[script] = self.guessed.get(script, 0) + count

    def add_chunk(self, prepared: NameCounts, rows: int) -> None:
        """Count a classified chunk (a PreparedChunk or PreparedBatch) that gave ``rows`` output rows."""
        self.add(prepared.records, rows, prepared.blank, prepared.skipped, prepared.lost, prepared.too_long,
                 prepared.guessed)  # fmt: skip

    def add_counts(self, counts: ClassifySummary) -> None:
        """Count another summary's records and rows (a Dask partition's)."""
        self.add(counts.records, counts.rows, counts.blank, counts.skipped, counts.lost, counts.too_long,
                 counts.guessed)  # fmt: skip


# A rate is printed only for an engine time of at least this many seconds (see rate_to_show).
RATE_MIN_SECONDS = 1.0


def seconds_since_start() -> float | None:
    """Wall seconds since this process started: the command's whole time, the interpreter's start-up and the
    imports included (Linux: /proc; elsewhere psutil when installed), or None where neither can say."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22, starttime, in clock ticks
        return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return max(time.time() - psutil.Process().create_time(), 0.0)


def check_counts(summary: ClassifySummary) -> None:
    """The invariant: one output row per input record (blank lines aside); RnnExportError otherwise."""
    if summary.rows != summary.records:
        raise RnnExportError(
            f"internal error: {summary.records} records were read but {summary.rows} rows written; nothing was "
            "written, please report this with the input file"
        )
