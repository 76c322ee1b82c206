"""Batch classification of a CSV of names: streamed in chunks, bucketed by length, written atomically.

The hot path never builds a Python string per row. A chunk is raw UTF-8 records (csvio.reader, read with the
csv module's meaning by csvio.records); the name field is located with numpy (RecordChunk.field) and mapped
to letter indices with a byte table (text.encode_byte_fields), and the output is the input bytes with each
record's prediction fields inserted before its line end (prediction_fields, insert_before_line_ends). Only the
rare field that needs folding (a byte >= 128, a quote, a digit, a leading space) goes through Python text.
The per-chunk steps (prepare_chunk, chunk_log_probs, chunk_output) are the Dask engine's too.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, RnnExportError
from ..io.atomic import atomic_file, check_not_input
from ..io.columns import choose_column
from ..io.csv.chunks import FieldColumn, RecordChunk
from ..io.csv.dialect import Utf8Check
from ..io.csv.reader import CsvInput, opened_csv, wider_than_header
from ..io.csv.records import DEFAULT_CHUNK_ROWS
from ..io.formats import input_format, output_format
from ..runtimes.base import Runtime
from ..runtimes.prefix import DEFAULT_BLOCK_SIZE, build_schedule, run_schedule
from ..runtimes.registry import TORCH_RUNTIMES, open_reference, open_runtime, runtime_name
from ..runtimes.torch_runtimes import use_one_intra_op_thread
from ..text.encode import RaggedNames, encode_byte_fields, encode_ragged, folded_strings
from ..verification.parity import ParityCheck, Tolerance
from .csv_output import (
    check_no_clash,
    check_top_k,
    insert_before_line_ends,
    output_header,
    prediction_fields,
    prediction_names,
    top_k_columns,
)

DEFAULT_BATCH_SIZE = 512  # measured best for the ONNX Scan on 2 cores (fits in L2)
PREFIX_MAX_LENGTH = 64  # letters; longer names skip prefix sharing (the data set's longest has 19)
PREDICT_BATCH_SIZE = 4096  # names per model call of ``predict`` (a handful of names: one call)
PREDICT_TOP_K = 3  # labels ``predict`` shows by default
DEFAULT_BLOCKSIZE = "16MB"  # the dask engine's most bytes per partition
ENGINES = ("local", "dask")


@dataclass(frozen=True)
class ClassifyOptions:
    """``encoding`` None: a BOM's, else UTF-8; ``delimiter`` None: an Excel ``sep=X`` line, else detected from the
    header line; ``header`` False: no header line (the name is column 1 unless ``column`` gives a number)."""

    column: str | None = None
    top_k: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    encoding: str | None = None
    strict: bool = False
    delimiter: str | None = None
    header: bool = True
    prefix_sharing: bool = True  # each distinct name once, each distinct prefix once (rnnexport/prefix.py)
    block_size: int = DEFAULT_BLOCK_SIZE  # sorted distinct names per trie
    input_format: str | None = None  # 'csv', 'parquet'; None: by the file (formats.input_format)
    output_format: str | None = None  # 'csv', 'parquet'; None: by the file name (formats.output_format)


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
    delimiter: str | None = ","  # None: Parquet input
    output_format: str = "csv"

    @property
    def names_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def add(self, records: int, rows: int, blank: int, skipped: int, lost: int = 0) -> None:
        self.records += records
        self.rows += rows
        self.blank += blank
        self.skipped += skipped
        self.lost += lost


def check_counts(summary: ClassifySummary) -> None:
    """The invariant: one output row per input record (blank lines aside); RnnExportError otherwise."""
    if summary.rows != summary.records:
        raise RnnExportError(
            f"internal error: {summary.records} records were read but {summary.rows} rows written; nothing was "
            "written, please report this with the input file"
        )


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


def predict_chunk_log_probs(runtime: Runtime, encoded: RaggedNames, batch_size: int, prefix_sharing: bool = True,
                            block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:  # fmt: skip
    """float32 [B, L] log-probs of a chunk (NaN: no letter): prefix-shared where the runtime has an engine
    and ``prefix_sharing`` is set (each distinct name once, each distinct prefix once), else per name in length
    batches of ``batch_size``. Names over PREFIX_MAX_LENGTH letters always go per name: a trie level per letter
    costs time and memory in proportion to the longest name, and such names share little."""
    engine = runtime.prefix_engine() if prefix_sharing else None
    n_labels = len(runtime.labels)
    if engine is None:
        return predict_log_probs(runtime, encoded, n_labels, batch_size)
    long = encoded.lengths > PREFIX_MAX_LENGTH
    if not long.any():
        return run_schedule(build_schedule(encoded, block_size), engine.block_log_probs, n_labels,
                            runtime.parallel_calls)  # fmt: skip
    result = np.empty((len(encoded.lengths), n_labels), dtype=np.float32)
    short_rows, long_rows = np.flatnonzero(~long), np.flatnonzero(long)
    schedule = build_schedule(encoded.select(short_rows), block_size)
    result[short_rows] = run_schedule(schedule, engine.block_log_probs, n_labels, runtime.parallel_calls)
    result[long_rows] = predict_log_probs(runtime, encoded.select(long_rows), n_labels, batch_size)
    return result


# --- one chunk of records: the steps both engines run ---------------------------------------------------------------


@dataclass(frozen=True)
class ChunkLayout:
    """What classifying any chunk needs (small and picklable: Dask ships it to workers).

    ``column``: the name field's 0-based position; ``width``: the header's field count (None: no header, so no
    padding and no field-count check); ``line_end``: given to a last record that has none; ``alphabet``: the
    model's, which names are folded and encoded to. For Parquet input, ``delimiter`` is the output CSV's.
    """

    source: str
    delimiter: str
    column: int
    width: int | None
    line_end: bytes
    labels: tuple[str, ...]
    top_k: int
    strict: bool
    batch_size: int
    alphabet: str
    prefix_sharing: bool = True
    block_size: int = DEFAULT_BLOCK_SIZE
    input_format: str = "csv"
    output_format: str = "csv"
    columns: tuple[str, ...] = ()  # CSV input, Parquet output: the input columns written (as text)
    schema: Any = None  # Parquet output, or Parquet input: the output's pyarrow.Schema


def chunk_layout(csv_input: CsvInput, labels: list[str], alphabet: str, options: ClassifyOptions,
                 output_format: str = "csv") -> ChunkLayout:  # fmt: skip
    """The layout of an opened CSV input; InputError for an unusable --column or a clashing column (and, for
    Parquet output, for duplicate column names)."""
    column = choose_column(csv_input.columns, options.column, csv_input.source, csv_input.header is not None)
    if csv_input.header is not None:
        check_no_clash(csv_input.columns, labels, options.top_k)
    width = len(csv_input.columns) if csv_input.header is not None else None
    layout = ChunkLayout(csv_input.source, csv_input.delimiter, column, width, csv_input.line_end, tuple(labels),
                         options.top_k, options.strict, options.batch_size, alphabet, options.prefix_sharing,
                         options.block_size, output_format=output_format)  # fmt: skip
    if output_format == "parquet":
        from .arrow_stages import with_table_columns

        layout = with_table_columns(layout, csv_input)
    return layout


def column_title(csv_input: CsvInput, layout: ChunkLayout) -> str:
    """The name column as the summary shows it: its header name, or its number without a header."""
    return csv_input.columns[layout.column] if layout.width is not None else f"column {layout.column + 1}"


def output_header_bytes(csv_input: CsvInput, layout: ChunkLayout) -> bytes:
    """What the output starts with: UTF-8's byte-order mark when the input had one (UTF-8's or UTF-16's: Excel
    reads a UTF-8 file's letters right only with it), then the header record (none without a header): the
    input's, then the prediction columns."""
    bom = codecs.BOM_UTF8 if csv_input.bom else b""
    if csv_input.header is None:
        return bom
    fields, line_end = csv_input.header
    names = prediction_names(list(layout.labels), layout.top_k)
    return bom + output_header(fields, names, layout.delimiter, line_end or layout.line_end)


class NameCounts:
    """What the summary counts in a prepared chunk's ``encoded`` names (a mixin of PreparedChunk and
    parquetio.chunks.PreparedBatch)."""

    encoded: RaggedNames

    @property
    def skipped(self) -> int:
        """Names with no letter: no prediction."""
        return int((self.encoded.lengths == 0).sum())

    @property
    def lost(self) -> int:
        """Names classified after losing characters in folding (a skipped name is counted as skipped only)."""
        return int(np.count_nonzero((self.encoded.lost > 0) & (self.encoded.lengths > 0)))


@dataclass
class PreparedChunk(NameCounts):
    """A chunk checked and encoded: ``rows`` (int64) are its data records (blank lines aside), ``encoded`` their
    names, ``padding`` the empty fields each lacks against the header (None without a header)."""

    chunk: RecordChunk
    rows: np.ndarray
    encoded: RaggedNames
    padding: np.ndarray | None

    @property
    def records(self) -> int:
        return len(self.rows)

    @property
    def blank(self) -> int:
        return len(self.chunk.starts) - len(self.rows)


def prepare_chunk(chunk: RecordChunk, layout: ChunkLayout, utf8_check: Utf8Check | None) -> PreparedChunk:
    """Check a chunk (valid UTF-8, no record wider than the header, with --strict a letter in every name) and
    encode its names. Raises the InputError of the earliest line at fault, so that any chunking of a file
    (the local engine's, Dask's partitions) reports the same error."""
    rows = np.flatnonzero(~chunk.blank)
    field = chunk.field(layout.column)
    problems = [utf8_check.first_error(chunk.data.tobytes(), int(chunk.first_line)) if utf8_check else None]
    counts = field.counts[rows]
    if layout.width is not None or layout.columns:
        problems.append(_too_many_fields(chunk, rows, counts, layout))
    encoded = encode_field(field, rows, len(chunk.data), layout.alphabet)
    if layout.strict:
        problems.append(_no_letter(chunk, rows, encoded, field, layout.source))
    found = [problem for problem in problems if problem is not None]
    if found:
        raise min(found, key=lambda problem: problem[0])[1]
    padding = layout.width - counts if layout.width is not None else None
    return PreparedChunk(chunk, rows, encoded, padding)


def _too_many_fields(chunk, rows, counts, layout) -> tuple[int, InputError] | None:
    """The first record wider than the header (or, headerless into Parquet, than the first record)."""
    limit = layout.width if layout.width is not None else len(layout.columns)
    wide = np.flatnonzero(counts > limit)
    if not len(wide):
        return None
    line = int(chunk.lines[int(rows[wide[0]])])
    if layout.width is None:
        fields = f"{layout.source}: line {line} has {int(counts[wide[0]])} fields"
        return line, InputError(f"{fields}, the first record has {limit}; a Parquet table has one width: add a "
                                "header line, or write CSV")  # fmt: skip
    return line, wider_than_header(layout.source, line, int(counts[wide[0]]), limit, layout.delimiter)


def _no_letter(chunk, rows, encoded, field, source) -> tuple[int, InputError] | None:
    empty = np.flatnonzero(encoded.lengths == 0)
    if not len(empty):
        return None
    row = int(rows[empty[0]])
    line = int(chunk.lines[row])
    name = field.value(row).decode("utf-8", "replace")
    return line, InputError(
        f"{source}: line {line}: name {name!r} has no letter of the alphabet; drop --strict to leave such rows "
        "without a prediction"
    )


def encode_field(field: FieldColumn, rows: np.ndarray, chunk_size: int, alphabet: str) -> RaggedNames:
    """The names (field values at ``rows``) encoded: alphabet-only values from their bytes, the rest (and the
    values unquoted into a copy after the chunk's bytes) through their decoded text."""
    starts, stops = field.starts[rows], field.stops[rows]
    moved = starts >= chunk_size  # encode_byte_fields needs sorted spans: moved ones become empty, then replaced
    if moved.any():
        floor = np.maximum.accumulate(np.where(moved, 0, stops))
        starts, stops = np.where(moved, floor, starts), np.where(moved, floor, stops)
    encoded, special = encode_byte_fields(field.data, starts, stops, alphabet)
    special = np.union1d(special, np.flatnonzero(moved))
    if len(special):
        texts = [field.value(int(rows[i])).decode("utf-8", "replace") for i in special]
        encoded = encoded.replace_rows(special, encode_ragged(texts, alphabet))
    return encoded


def chunk_log_probs(prepared: PreparedChunk, runtime: Runtime, layout: ChunkLayout, reference: Runtime | None = None,
                    check: ParityCheck | None = None) -> np.ndarray:  # fmt: skip
    """float32 [rows, labels] log-probs of a prepared chunk's names (NaN rows: no letter, no prediction); with a
    ``reference`` (eager float64, always per name), the comparison goes into ``check``."""
    log_probs = predict_chunk_log_probs(runtime, prepared.encoded, layout.batch_size, layout.prefix_sharing,
                                        layout.block_size)  # fmt: skip
    if reference is not None:
        encoded = prepared.encoded
        reference_log_probs = predict_log_probs(reference, encoded, len(reference.labels), layout.batch_size)
        check.add(reference_log_probs, log_probs, lambda row: encoded.text(row, layout.alphabet))
    return log_probs


def chunk_output(prepared: PreparedChunk, log_probs: np.ndarray, layout: ChunkLayout) -> tuple[np.ndarray, int]:
    """The chunk's output bytes (uint8) and its data rows: every record byte for byte, the prediction fields
    inserted before each data record's line end; blank lines copied as they are. A last record without a line
    end gets ``layout.line_end`` after its fields."""
    chunk = prepared.chunk
    fields, lengths = prediction_fields(log_probs, list(layout.labels), layout.top_k, prepared.padding,
                                        layout.delimiter)  # fmt: skip
    record_lengths = np.zeros(len(chunk.starts), dtype=np.int64)
    record_lengths[prepared.rows] = lengths
    if len(chunk.starts) and chunk.ends[-1] == chunk.content_ends[-1] and not chunk.blank[-1]:
        fields = np.concatenate((fields, np.frombuffer(layout.line_end, dtype=np.uint8)))
        record_lengths[-1] += len(layout.line_end)
    return insert_before_line_ends(chunk, fields, record_lengths), len(lengths)


def chunk_piece(prepared, log_probs: np.ndarray, layout: ChunkLayout) -> tuple[Any, int]:
    """A classified chunk as its output takes it, and the rows it holds: CSV bytes (uint8 array or bytes) or a
    pyarrow.Table. ``prepared``: a PreparedChunk (CSV input) or a parquetio.chunks.PreparedBatch (Parquet)."""
    if layout.input_format == "csv" and layout.output_format == "csv":
        return chunk_output(prepared, log_probs, layout)
    from .arrow_stages import arrow_piece

    return arrow_piece(prepared, log_probs, layout)


# --- inputs and outputs of either format ------------------------------------------------------------------------------


@dataclass
class OpenedInput:
    """An input ready to classify: ``reader`` (a CsvInput or a parquetio ParquetInput) and its ``layout``;
    ``header``: the output's CSV header (b'' for Parquet output); ``column`` and ``delimiter``: for the summary
    (``delimiter`` None for Parquet input)."""

    reader: Any
    layout: ChunkLayout
    header: bytes
    column: str
    delimiter: str | None

    def chunks(self) -> Iterator:
        return self.reader.chunks()

    def prepare(self, chunk):
        """Check and encode one chunk (InputError for the earliest fault in it)."""
        if self.layout.input_format == "csv":
            return prepare_chunk(chunk, self.layout, self.reader.utf8_check)
        from .arrow_stages import prepare_batch

        return prepare_batch(chunk, self.layout)


@contextlib.contextmanager
def opened_input(path: str, labels: list[str], alphabet: str, options: ClassifyOptions,
                 output_path: str) -> Iterator[OpenedInput]:  # fmt: skip
    """Open ``path`` (CSV or Parquet, see formats.input_format) for classifying into ``output_path``.

    Raises InputError for an unreadable file, an unusable encoding, delimiter, header or column, a clash with
    the prediction columns, or options that do not apply to the input's format."""
    in_format = input_format(path, options.input_format)
    out_format = output_format(output_path, options.output_format)
    if in_format == "parquet":
        from .arrow_stages import opened_parquet_input

        with opened_parquet_input(path, labels, alphabet, options, out_format) as opened:
            yield opened
        return
    settings = {"encoding": options.encoding, "delimiter": options.delimiter, "has_header": options.header,
                "chunk_rows": options.chunk_rows}  # fmt: skip
    with opened_csv(path, **settings) as csv_input:
        layout = chunk_layout(csv_input, labels, alphabet, options, out_format)
        header = output_header_bytes(csv_input, layout) if out_format == "csv" else b""
        yield OpenedInput(csv_input, layout, header, column_title(csv_input, layout), csv_input.delimiter)


@contextlib.contextmanager
def output_sink(path: str, layout: ChunkLayout, header: bytes) -> Iterator[Callable[[Any], None]]:
    """Yield ``write(piece)`` for chunk_piece's pieces, in order; the file appears at ``path`` only when the
    block completes (atomic.atomic_file). CSV: ``header`` then the pieces' bytes; Parquet: one row group per
    piece, then the footer."""
    with atomic_file(path, binary=True) as handle:
        if layout.output_format == "csv":
            handle.write(header)
            yield lambda piece: handle.write(memoryview(piece))
            return
        from ..io.parquet.writer import parquet_writer

        with parquet_writer(handle, layout.schema, path) as write:
            yield write


# --- the local engine -------------------------------------------------------------------------------------------------


def _finish(in_flight, write, layout: ChunkLayout, summary: ClassifySummary, on_rows) -> None:
    """Wait for a chunk's predictions and write it."""
    if in_flight is None:
        return
    prepared, submitted = in_flight
    piece, rows = chunk_piece(prepared, submitted.result(), layout)
    write(piece)
    summary.add(0, rows, 0, prepared.skipped, prepared.lost)
    if on_rows is not None:
        on_rows(rows)


def classify_local(
    input_path: str,
    output_path: str,
    runtime: Runtime,
    options: ClassifyOptions,
    reference: Runtime | None = None,
    on_rows: Callable[[int], None] | None = None,
    tolerance: Tolerance | None = None,
) -> ClassifySummary:
    """Classify every data record of ``input_path`` (CSV or Parquet; '-' for stdin: CSV) into ``output_path``
    (CSV or Parquet; '-' for stdout). With a ``reference`` runtime (eager float64), every row is also compared
    with it by the parity rule (``tolerance``, default parity.Tolerance()) into ``summary.check``.

    Raises InputError (unreadable file, encoding, delimiter, header, column, a malformed record: the earliest
    line at fault), RnnExportError if the output's row count differed from the input's; the output appears
    only when complete.
    """
    started = time.perf_counter()
    with opened_input(input_path, runtime.labels, runtime.alphabet, options, output_path) as opened:
        check = ParityCheck(tolerance or Tolerance(), runtime.labels) if reference is not None else None
        return _classify_stream(opened, output_path, runtime, reference, check, on_rows, started)


def _classify_stream(opened: OpenedInput, output_path, runtime, reference, check, on_rows, started
                     ) -> ClassifySummary:  # fmt: skip
    layout = opened.layout
    summary = ClassifySummary(runtime=runtime.name, column=opened.column, check=check,
                              delimiter=opened.delimiter, output_format=layout.output_format)  # fmt: skip
    # The model of chunk i runs (GIL released) while this thread reads chunk i+1 and writes chunk i-1.
    with output_sink(output_path, layout, opened.header) as write, ThreadPoolExecutor(1) as model_thread:
        in_flight = None
        for chunk in opened.chunks():
            prepared = opened.prepare(chunk)
            summary.add(prepared.records, 0, prepared.blank, 0)
            submitted = model_thread.submit(chunk_log_probs, prepared, runtime, layout, reference,
                                            summary.check)  # fmt: skip
            _finish(in_flight, write, layout, summary, on_rows)
            in_flight = (prepared, submitted)
        _finish(in_flight, write, layout, summary, on_rows)
        check_counts(summary)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class DaskOptions:
    """How the dask engine runs (see dask_engine.classify_dask)."""

    scheduler: str | None = None
    blocksize: str | int = DEFAULT_BLOCKSIZE
    workers: int | None = None


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
    check: Tolerance | None = None  # also run eager PyTorch on every row and hold the runtime to this rule
    verify_hash: bool = True
    device: str = "cpu"
    engine: str = "local"
    dask: DaskOptions = DaskOptions()


def classify_file(request: ClassifyRequest, on_rows: Callable[[int], None] | None = None) -> ClassifySummary:
    """Classify ``request.input_path`` into ``request.output_path`` with the local or the dask engine.

    Raises InputError (bad CSV, columns, --top-k beyond the model's labels), ArtifactError/CheckpointError
    (model), RnnExportError (dask missing or unreachable); the output appears only when complete.
    """
    check_not_input(request.input_path, request.output_path)  # before anything is read or loaded
    if request.engine == "dask":
        return _classify_with_dask(request, on_rows)
    threads = request.threads or os.cpu_count() or 1
    name = runtime_name(request.runtime, request.onnx_graph)
    if name in TORCH_RUNTIMES or request.check is not None:
        use_one_intra_op_thread()  # torch runtimes run 1-thread calls side by side
    runtime = open_runtime(name, request.model_dir, request.verify_hash, threads, request.device)
    check_top_k(request.options.top_k, runtime.labels)
    reference = open_reference(request.model_dir, request.verify_hash, threads) if request.check else None
    return classify_local(request.input_path, request.output_path, runtime, request.options, reference, on_rows,
                          request.check)  # fmt: skip


def _classify_with_dask(request: ClassifyRequest, on_rows) -> ClassifySummary:
    try:
        from .dask_engine import classify_dask
    except ImportError:
        raise RnnExportError("--engine dask needs Dask: pip install 'rnnexport[dask]'") from None
    return classify_dask(
        request.input_path, request.output_path, request.options, model_dir=request.model_dir,
        runtime=request.runtime, verify_hash=request.verify_hash, scheduler=request.dask.scheduler,
        blocksize=request.dask.blocksize, workers=request.dask.workers, on_rows=on_rows,
    )  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    """One name of ``predict``: as given, as folded for the model, and its top-k (label, probability) pairs,
    best first (None when it folds to no letter)."""

    name: str
    folded: str
    top: list[tuple[str, float]] | None


def predict_top_k(names: list[str], model_dir: Path, runtime: str = "onnx", top_k: int | None = None
                  ) -> list[Prediction]:  # fmt: skip
    """Each name's folded form and top-k labels (None: 3, or every label of a model with fewer), ranked as
    classify's label/probability columns.

    Raises InputError when ``top_k`` exceeds the model's labels; ArtifactError/CheckpointError for the model.
    """
    model = open_runtime(runtime, model_dir)
    top_k = min(PREDICT_TOP_K, len(model.labels)) if top_k is None else top_k
    check_top_k(top_k, model.labels)
    encoded = encode_ragged(list(names), model.alphabet)
    log_probs = predict_log_probs(model, encoded, len(model.labels), PREDICT_BATCH_SIZE)
    columns = list(top_k_columns(log_probs, model.labels, top_k).values())
    folded = folded_strings(encoded.padded(), model.alphabet)
    predictions = []
    for i, name in enumerate(names):
        pairs = [
            (labels[i], float(probabilities[i]))
            for labels, probabilities in zip(columns[0::2], columns[1::2], strict=True)
        ]
        predictions.append(Prediction(name, folded[i], pairs if columns[0][i] else None))
    return predictions
