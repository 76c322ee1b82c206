"""The local engine: a plan's input streamed chunk by chunk through the stages in this process, several chunks at
once so that every core stays busy whatever the input's shape.

This thread reads the records (and checks their UTF-8, in input order) and writes the classified pieces in
order. Each chunk's other stages (check and encode, dedup and the prefix schedule, the model, the output bytes)
run on one of ``CHUNK_WORKERS`` chunk threads, whose model blocks run on the runtime's block threads (ONNX
Runtime and numpy release the GIL): while one chunk is in the model, another is parsed or formatted. Names that
repeat across chunks are computed once (name_cache.py) while that pays.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..verification.parity import ParityCheck
from .csv_stages import utf8_problem
from .inputs import opened_input
from .layout import OpenedInput
from .log_probs import ChunkPredictions
from .name_cache import LogProbCache
from .plan import ClassifyPlan
from .sink import output_sink
from .stages import chunk_log_probs, chunk_piece, prepare, reference_log_probs
from .summary import ClassifySummary, check_counts

CHUNK_WORKERS = 2  # chunks in the stages at once (one more is read ahead), at most --threads; more add memory


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


@dataclass
class _Classified:
    """A chunk through the stages: its prepared form (counts), its output ``piece`` and rows, and with --check
    its predictions and the reference's log-probs (compared in input order)."""

    prepared: Any
    piece: Any
    rows: int
    predictions: ChunkPredictions | None = None
    reference: np.ndarray | None = None


def _classify_stream(opened: OpenedInput, plan: ClassifyPlan, check: ParityCheck | None, on_rows, started: float
                     ) -> ClassifySummary:  # fmt: skip
    layout, runtime = opened.layout, plan.runtime
    summary = ClassifySummary(runtime=runtime.name, column=opened.column, check=check,
                              delimiter=opened.delimiter, output_format=layout.output_format)  # fmt: skip
    cache = LogProbCache(len(plan.alphabet), len(plan.labels)) if layout.prefix_sharing else None
    workers = max(1, min(CHUNK_WORKERS, runtime.parallel_calls))  # --threads 1: one chunk at a time

    def classify(chunk, found_utf8) -> _Classified:
        prepared = prepare(chunk, layout, None, found_utf8)
        predictions = chunk_log_probs(prepared, runtime, layout, cache, blocks)
        reference = reference_log_probs(prepared, plan.reference, layout) if check is not None else None
        piece, rows = chunk_piece(prepared, predictions, layout)
        return _Classified(prepared, piece, rows, predictions if check is not None else None, reference)

    def finish(submitted: Future) -> None:
        """Write the oldest chunk (raising its error, if it had one) and count it."""
        done = submitted.result()
        write(done.piece)
        prepared = done.prepared
        summary.add_chunk(prepared, done.rows)
        if check is not None:
            encoded = prepared.encoded
            check.add(done.reference, done.predictions.rows(), lambda row: encoded.text(row, layout.alphabet))
        if on_rows is not None:
            on_rows(done.rows)

    with (output_sink(plan.output_path, layout, opened.header) as write,
          ThreadPoolExecutor(max(runtime.parallel_calls, 1), "rnnexport-blocks") as blocks,
          ThreadPoolExecutor(workers, "rnnexport-chunks") as chunk_threads):  # fmt: skip
        pending: deque[Future] = deque()
        read_error: list[InputError] = []
        try:
            for chunk in _until_error(opened.chunks(), read_error):
                found = utf8_problem(chunk, opened.utf8_check) if layout.input_format == "csv" else None
                pending.append(chunk_threads.submit(classify, chunk, found))
                while len(pending) > workers or (pending and pending[0].done()):
                    finish(pending.popleft())
            while pending:  # a fault of an earlier chunk comes before a read error, as it does in the input
                finish(pending.popleft())
        except BaseException:
            for submitted in pending:  # an error or an interrupt: start no chunk still waiting
                submitted.cancel()
            raise
        if read_error:
            raise read_error[0]
        check_counts(summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _until_error(chunks: Iterator, error: list[InputError]) -> Iterator:
    """``chunks`` until the reader fails; its InputError is put in ``error`` (raised once earlier chunks are
    written, whose own faults come first)."""
    try:
        yield from chunks
    except InputError as raised:
        error.append(raised)
