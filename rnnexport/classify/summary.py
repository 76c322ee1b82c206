"""What a classify run reports: records in, rows out, blank lines, skipped names, names that lost characters in
folding, speed; and the invariant that every input record became one output row."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RnnExportError
from ..io.csv.dialect import DELIMITERS
from ..io.formats import FORMAT_NAMES
from ..verification.parity import ParityCheck, failure_line
from .layout import MAX_NAME_LETTERS, NameCounts


@dataclass
class ClassifySummary:
    """``records``: data records read (blank lines aside); ``rows``: output rows written with predictions (always
    equal: see check_counts); ``blank``: blank lines copied through; ``skipped``: rows whose name has no letter;
    ``lost``: rows classified although their name lost characters in folding (RaggedNames.lost > 0: emoji,
    digits, ...); a name left with no letter counts as skipped only."""

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

    @property
    def names_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def describe(self, engine: str) -> str:
        """The one line ``classify`` prints on stderr: counts, speed, runtime, ``engine``, column and formats."""
        copied = "copied" if self.output_format == "csv" else "not written (Parquet has no blank rows)"
        blank = f", {self.blank} blank lines {copied}" if self.blank else ""
        lost = f", {self.lost} {'name' if self.lost == 1 else 'names'} lost characters in folding" if self.lost else ""
        if self.too_long:
            lost += (f", {self.too_long} {'name' if self.too_long == 1 else 'names'} over {MAX_NAME_LETTERS:,} letters "
                     "left without a prediction")  # fmt: skip
        source = f"CSV ({DELIMITERS[self.delimiter]})" if self.delimiter else "Parquet"
        return (f"{self.records} records in, {self.rows} rows out ({self.skipped} skipped: no letter{blank}{lost}) in "
                f"{self.seconds:.2f} s, {self.names_per_second:,.0f} names/s, runtime {self.runtime}, engine {engine}, "
                f"column {self.column!r}, {source} -> {FORMAT_NAMES[self.output_format]}")  # fmt: skip

    def check_verdict(self) -> tuple[str, bool]:
        """With --check: the line that reports it, and whether every row kept the parity rule."""
        report = self.check.report()
        verdict = "ok; " if report["passed"] else "MISMATCH; "
        line = f"check against eager PyTorch (float64) over {report['names']} names: {verdict}"
        return line + failure_line(self.runtime, report), report["passed"]

    def add(self, records: int, rows: int, blank: int, skipped: int, lost: int = 0, too_long: int = 0) -> None:
        self.records += records
        self.rows += rows
        self.blank += blank
        self.skipped += skipped
        self.lost += lost
        self.too_long += too_long

    def add_chunk(self, prepared: NameCounts, rows: int) -> None:
        """Count a classified chunk (a PreparedChunk or PreparedBatch) that gave ``rows`` output rows."""
        self.add(prepared.records, rows, prepared.blank, prepared.skipped, prepared.lost, prepared.too_long)

    def add_counts(self, counts: ClassifySummary) -> None:
        """Count another summary's records and rows (a Dask partition's)."""
        self.add(counts.records, counts.rows, counts.blank, counts.skipped, counts.lost, counts.too_long)


def check_counts(summary: ClassifySummary) -> None:
    """The invariant: one output row per input record (blank lines aside); RnnExportError otherwise."""
    if summary.rows != summary.records:
        raise RnnExportError(
            f"internal error: {summary.records} records were read but {summary.rows} rows written; nothing was "
            "written, please report this with the input file"
        )
