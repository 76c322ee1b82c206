"""The local engine: a plan's input streamed chunk by chunk through the stages in this process, the model of
chunk i running (GIL released) while the next chunk is read and checked and the previous one written."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..verification.parity import ParityCheck
from .inputs import opened_input
from .layout import ChunkLayout, OpenedInput
from .plan import ClassifyPlan
from .sink import output_sink
from .stages import chunk_log_probs, chunk_piece, prepare
from .summary import ClassifySummary, check_counts


def run_local(plan: ClassifyPlan, on_rows: Callable[[int], None] | None = None) -> ClassifySummary:
    """Classify every data record of ``plan.input_path`` (CSV or Parquet; '-' for stdin: CSV) into
    ``plan.output_path`` (CSV or Parquet; '-' for stdout) with ``plan.runtime``. With ``plan.reference``
    (eager float64), every row is also held to the parity rule (``plan.tolerance``) into ``summary.check``.

    Raises InputError (unreadable file, encoding, delimiter, header, column, a malformed record: the earliest
    line at fault), RnnExportError if the output's row count differed from the input's; the output appears
    only when complete.
    """
    started = time.perf_counter()
    with opened_input(plan.input_path, plan.labels, plan.alphabet, plan.options, plan.output_path) as opened:
        check = ParityCheck(plan.tolerance, plan.labels) if plan.reference is not None else None
        return _classify_stream(opened, plan, check, on_rows, started)


def _classify_stream(opened: OpenedInput, plan: ClassifyPlan, check: ParityCheck | None, on_rows, started: float
                     ) -> ClassifySummary:  # fmt: skip
    layout = opened.layout
    summary = ClassifySummary(runtime=plan.runtime.name, column=opened.column, check=check,
                              delimiter=opened.delimiter, output_format=layout.output_format)  # fmt: skip
    # The model of chunk i runs (GIL released) while this thread reads chunk i+1 and writes chunk i-1.
    with output_sink(plan.output_path, layout, opened.header) as write, ThreadPoolExecutor(1) as model_thread:
        in_flight = None
        for chunk in opened.chunks():
            prepared = prepare(chunk, layout, opened.utf8_check)
            summary.add(prepared.records, 0, prepared.blank, 0)
            submitted = model_thread.submit(chunk_log_probs, prepared, plan.runtime, layout, plan.reference,
                                            summary.check)  # fmt: skip
            _finish(in_flight, write, layout, summary, on_rows)
            in_flight = (prepared, submitted)
        _finish(in_flight, write, layout, summary, on_rows)
        check_counts(summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _finish(in_flight, write, layout: ChunkLayout, summary: ClassifySummary, on_rows) -> None:
    """Wait for a chunk's predictions and write it."""
    if in_flight is None:
        return
    prepared, submitted = in_flight
    piece, rows = chunk_piece(prepared, submitted.result(), layout)
    write(piece)
    summary.add(0, rows, 0, prepared.skipped, prepared.lost, prepared.guessed)
    if on_rows is not None:
        on_rows(rows)
