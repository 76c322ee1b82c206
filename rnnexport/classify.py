"""Batch classification of a CSV of names: streamed in chunks, bucketed by length, written atomically.

The hot path never builds a Python string per row. A chunk is raw UTF-8 bytes (csvio.RecordReader); the
name field is located with numpy (csvio.field_spans) and mapped to letter indices with a byte table
(text.encode_byte_fields), and the output is the input bytes with each record's prediction fields
spliced in (prediction_fields, append_to_records). Only the rare field that needs folding or unquoting
(a byte >= 128, a quote, a digit, a leading space) goes through Python text.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .atomic import atomic_file
from .csvio.reader import ChunkNames, RecordReader, open_input
from .csvio.writer import check_no_clash, check_top_k, output_bytes, prediction_names, top_k_columns
from .errors import InputError, RnnExportError
from .prefix import DEFAULT_BLOCK_SIZE, build_schedule, run_schedule
from .runtimes import TORCH_RUNTIMES, Runtime, open_reference, open_runtime, runtime_name, use_one_intra_op_thread
from .text import RaggedNames, encode_byte_fields, encode_ragged

if TYPE_CHECKING:  # pandas costs ~0.3 s to import; the local engine's hot path does not need it
    import pandas as pd

DEFAULT_CHUNK_ROWS = 200_000
DEFAULT_BATCH_SIZE = 512  # measured best for the ONNX Scan on 2 cores (fits in L2)
PREDICT_BATCH_SIZE = 4096  # names per model call of ``predict`` (a handful of names: one call)
DEFAULT_BLOCKSIZE = "16MB"  # the dask engine's most bytes per partition
ENGINES = ("local", "dask")


@dataclass(frozen=True)
class ClassifyOptions:
    column: str | None = None
    top_k: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    encoding: str = "utf-8"
    strict: bool = False
    prefix_sharing: bool = True  # each distinct name once, each distinct prefix once (rnnexport/prefix.py)
    block_size: int = DEFAULT_BLOCK_SIZE  # sorted distinct names per trie


@dataclass
class CheckResult:
    """How far the runtime's log-probs were from eager PyTorch on the same rows."""

    max_abs_diff: float = 0.0
    top1_disagreements: int = 0
    compared: int = 0


@dataclass
class ClassifySummary:
    rows: int = 0
    skipped: int = 0
    seconds: float = 0.0
    runtime: str = ""
    column: str = ""
    check: CheckResult | None = None
    first_skipped_row: int | None = field(default=None, repr=False)

    @property
    def names_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def choose_column(columns: list[str], requested: str | None, source: str) -> str:
    """--column, else a column called 'name' (any case), else the only column."""
    listed = ", ".join(columns)
    if requested is not None:
        if requested not in columns:
            raise InputError(f"{source}: column {requested!r} not found; columns are: {listed}")
        return requested
    named = [column for column in columns if column.strip().lower() == "name"]
    if named:
        return named[0]
    if len(columns) == 1:
        return columns[0]
    raise InputError(f"{source}: no column called 'name'; columns are: {listed}; use --column <one of them>")


def length_batches(lengths: np.ndarray, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """(length, rows) batches of names that all have that length (>= 1), at most ``batch_size`` each."""
    valid = np.flatnonzero(lengths > 0)
    ordered = valid[np.argsort(lengths[valid], kind="stable")]
    boundaries = np.flatnonzero(np.diff(lengths[ordered])) + 1
    for group in np.split(ordered, boundaries):
        if len(group):
            for start in range(0, len(group), batch_size):
                yield int(lengths[group[0]]), group[start : start + batch_size]


def predict_log_probs(runtime: Runtime, encoded: RaggedNames, n_labels: int, batch_size: int) -> np.ndarray:
    """float32 [B, n_labels] log-probs; rows with no letter stay NaN. Batches may run on several threads."""
    result = np.full((len(encoded.lengths), n_labels), np.nan, dtype=np.float32)
    batches = list(length_batches(encoded.lengths, batch_size))

    def run(batch: tuple[int, np.ndarray]) -> None:
        length, rows = batch
        indices = encoded.gather_equal_length(rows, length)
        result[rows] = runtime.log_probs(indices, np.full(len(rows), length, dtype=np.int64))

    if runtime.parallel_calls > 1 and len(batches) > 1:
        with ThreadPoolExecutor(runtime.parallel_calls) as pool:
            list(pool.map(run, batches))
    else:
        for batch in batches:
            run(batch)
    return result


def predict_chunk_log_probs(runtime: Runtime, encoded: RaggedNames, options: ClassifyOptions) -> np.ndarray:
    """float32 [B, L] log-probs of a chunk (NaN: no letter): prefix-shared where the runtime has an engine
    and ``options.prefix_sharing`` is set, else per name in length batches."""
    engine = runtime.prefix_engine() if options.prefix_sharing else None
    if engine is None:
        return predict_log_probs(runtime, encoded, len(runtime.labels), options.batch_size)
    schedule = build_schedule(encoded, options.block_size)
    return run_schedule(schedule, engine.block_log_probs, len(runtime.labels), runtime.parallel_calls)


def no_letter_error(row: int, name: str) -> InputError:
    """--strict's error for data row ``row`` (1-based) whose name has no letter."""
    return InputError(
        f"data row {row}: name {name!r} has no letter of the alphabet; drop --strict to leave such rows "
        "without a prediction"
    )


def compare_with_reference(log_probs: np.ndarray, reference: np.ndarray, check: CheckResult) -> None:
    valid = ~np.isnan(log_probs[:, 0])
    if valid.any():
        check.max_abs_diff = max(check.max_abs_diff, float(np.abs(log_probs[valid] - reference[valid]).max()))
        check.top1_disagreements += int((log_probs[valid].argmax(1) != reference[valid].argmax(1)).sum())
        check.compared += int(valid.sum())


def predict_encoded(
    encoded: RaggedNames, name_text: Callable[[int], str], runtime: Runtime, options: ClassifyOptions,
    reference: Runtime | None, summary: ClassifySummary,
) -> np.ndarray:  # fmt: skip
    """Log-probs [B, L] for one chunk of encoded names (NaN rows: no prediction); updates the summary's counts.

    ``name_text(row)`` gives a row's name as written, for the --strict error.
    """
    skipped = np.flatnonzero(encoded.lengths == 0)
    if len(skipped) and summary.first_skipped_row is None:
        summary.first_skipped_row = summary.rows + int(skipped[0]) + 1
        if options.strict:
            raise no_letter_error(summary.first_skipped_row, name_text(int(skipped[0])))
    log_probs = predict_chunk_log_probs(runtime, encoded, options)
    if reference is not None:
        reference_log_probs = predict_log_probs(reference, encoded, len(reference.labels), options.batch_size)
        compare_with_reference(log_probs, reference_log_probs, summary.check)
    summary.rows += len(encoded.lengths)
    summary.skipped += len(skipped)
    return log_probs


def predict_names(
    names, runtime: Runtime, options: ClassifyOptions, reference: Runtime | None, summary: ClassifySummary
) -> np.ndarray:
    """:func:`predict_encoded` for names given as strings (None/NaN: no prediction)."""
    return predict_encoded(encode_ragged(names), lambda row: names[row], runtime, options, reference, summary)


def classify_frame(
    frame: pd.DataFrame, column: str, runtime: Runtime, options: ClassifyOptions, reference: Runtime | None,
    summary: ClassifySummary,
) -> pd.DataFrame:  # fmt: skip
    """A parsed chunk with prediction columns appended (probabilities as floats, NaN when skipped)."""
    import pandas as pd

    check_no_clash(list(frame.columns), runtime.labels, options.top_k)
    names = frame[column].to_numpy(dtype=object)
    log_probs = predict_names(names, runtime, options, reference, summary)
    predictions = pd.DataFrame(top_k_columns(log_probs, runtime.labels, options.top_k), index=frame.index)
    return pd.concat([frame, predictions], axis=1)


def encode_chunk_names(names: ChunkNames) -> RaggedNames:
    """The chunk's names encoded: alphabet-only fields from their bytes, the rest through their text."""
    encoded, special = encode_byte_fields(names.chunk.data, names.starts, names.stops)
    if len(special):
        encoded = encoded.replace_rows(special, encode_ragged(names.texts(special)))
    return encoded


def _predict_chunk(names: ChunkNames, runtime, options, reference, summary) -> np.ndarray:
    encoded = encode_chunk_names(names)
    return predict_encoded(encoded, lambda row: names.texts([row])[0], runtime, options, reference, summary)


def _finish(in_flight, output, labels: list[str], top_k: int, on_rows) -> None:
    """Wait for a chunk's predictions and write it."""
    if in_flight is None:
        return
    names, submitted = in_flight
    output.write(memoryview(output_bytes(names.chunk, names.padding, submitted.result(), labels, top_k)))
    if on_rows is not None:
        on_rows(len(names.starts))


def classify_csv(
    input_path: str,
    output_path: str,
    runtime: Runtime,
    options: ClassifyOptions,
    reference: Runtime | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ClassifySummary:
    """Classify every row of ``input_path`` into ``output_path`` ('-' for stdin/stdout)."""
    started = time.perf_counter()
    raw, source = open_input(input_path)
    try:
        reader = RecordReader(raw, source, options.chunk_rows, options.encoding)
        return _classify_stream(reader, output_path, runtime, options, reference, on_rows, started)
    finally:
        if input_path != "-":
            raw.close()


def _classify_stream(reader, output_path, runtime, options, reference, on_rows, started) -> ClassifySummary:
    summary = ClassifySummary(runtime=runtime.name, check=CheckResult() if reference is not None else None)
    header = reader.header()
    columns = next(csv.reader([header]))
    summary.column = choose_column(columns, options.column, reader.source)
    check_no_clash(columns, runtime.labels, options.top_k)
    # The model of chunk i runs (GIL released) while this thread parses chunk i+1 and writes chunk i-1.
    with atomic_file(output_path, binary=True) as output, ThreadPoolExecutor(1) as model_thread:
        output.write((",".join([header, *prediction_names(runtime.labels, options.top_k)]) + "\n").encode("utf-8"))
        in_flight = None
        for chunk in reader.chunks():
            names = ChunkNames(chunk, columns, summary.column, reader.source)
            submitted = model_thread.submit(_predict_chunk, names, runtime, options, reference, summary)
            _finish(in_flight, output, runtime.labels, options.top_k, on_rows)
            in_flight = (names, submitted)
        _finish(in_flight, output, runtime.labels, options.top_k, on_rows)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class DaskOptions:
    """How the dask engine runs (see dask_engine.classify_csv_dask)."""

    scheduler: str | None = None
    blocksize: str | int = DEFAULT_BLOCKSIZE
    workers: int | None = None
    output_format: str = "csv"


@dataclass(frozen=True)
class ClassifyRequest:
    """Everything ``rnnexport classify`` takes: where, which runtime, and how."""

    input_path: str
    output_path: str
    model_dir: Path
    options: ClassifyOptions = ClassifyOptions()
    runtime: str = "onnx"  # a key of runtimes.RUNTIME_ARTIFACTS (or 'onnx' with onnx_graph 'cell')
    onnx_graph: str = "sequence"
    threads: int | None = None  # model threads; None: every core
    check: bool = False  # also run eager PyTorch on every row
    verify_hash: bool = True
    device: str = "cpu"
    engine: str = "local"
    dask: DaskOptions = DaskOptions()


def classify_file(request: ClassifyRequest, on_rows: Callable[[int], None] | None = None) -> ClassifySummary:
    """Classify ``request.input_path`` into ``request.output_path`` with the local or the dask engine.

    Raises InputError (bad CSV, columns, --top-k beyond the model's labels), ArtifactError/CheckpointError
    (model), RnnExportError (dask missing or unreachable); the output appears only when complete.
    """
    if request.engine == "dask":
        return _classify_with_dask(request, on_rows)
    threads = request.threads or os.cpu_count() or 1
    name = runtime_name(request.runtime, request.onnx_graph)
    if name in TORCH_RUNTIMES or request.check:
        use_one_intra_op_thread()  # torch runtimes run 1-thread calls side by side
    runtime = open_runtime(name, request.model_dir, request.verify_hash, threads, request.device)
    check_top_k(request.options.top_k, runtime.labels)
    reference = open_reference(request.model_dir, request.verify_hash, threads) if request.check else None
    return classify_csv(request.input_path, request.output_path, runtime, request.options, reference, on_rows)


def _classify_with_dask(request: ClassifyRequest, on_rows) -> ClassifySummary:
    try:
        from .dask_engine import classify_csv_dask
    except ImportError:
        raise RnnExportError("--engine dask needs Dask: pip install 'rnnexport[dask]'") from None
    return classify_csv_dask(
        request.input_path, request.output_path, request.options, model_dir=request.model_dir,
        runtime=request.runtime, verify_hash=request.verify_hash, scheduler=request.dask.scheduler,
        blocksize=request.dask.blocksize, workers=request.dask.workers, output_format=request.dask.output_format,
        on_rows=on_rows,
    )  # fmt: skip


def predict_top_k(
    names: list[str], model_dir: Path, runtime: str = "onnx", top_k: int = 3
) -> list[list[tuple[str, float]] | None]:
    """The top-k (language, probability) pairs of each name, best first; None for a name with no letter.

    Ranked as classify's language/probability columns. Raises InputError when ``top_k`` exceeds the labels.
    """
    model = open_runtime(runtime, model_dir)
    check_top_k(top_k, model.labels)
    log_probs = predict_log_probs(model, encode_ragged(list(names)), len(model.labels), PREDICT_BATCH_SIZE)
    columns = list(top_k_columns(log_probs, model.labels, top_k).values())
    ranked = []
    for i in range(len(names)):
        pairs = [
            (languages[i], float(probabilities[i]))
            for languages, probabilities in zip(columns[0::2], columns[1::2], strict=True)
        ]
        ranked.append(pairs if columns[0][i] else None)
    return ranked
