"""Batch classification of a CSV of names: streamed in chunks, bucketed by length, written atomically."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .csvio import atomic_output, open_input
from .errors import InputError
from .runtimes import Runtime
from .text import RaggedNames, encode_ragged

DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_BATCH_SIZE = 4096


@dataclass(frozen=True)
class ClassifyOptions:
    column: str | None = None
    top_k: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    encoding: str = "utf-8"
    strict: bool = False


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


def top_k_columns(log_probs: np.ndarray, labels: list[str], top_k: int) -> dict[str, np.ndarray]:
    """language, probability, language_2, probability_2, ...; empty for rows without a prediction."""
    valid = ~np.isnan(log_probs[:, 0])
    order = np.argsort(-np.nan_to_num(log_probs, nan=0.0), axis=1, kind="stable")[:, :top_k]
    label_array = np.array(labels, dtype=object)
    columns = {}
    for rank in range(top_k):
        suffix = "" if rank == 0 else f"_{rank + 1}"
        chosen = order[:, rank]
        languages = np.where(valid, label_array[chosen], "")
        probabilities = np.where(valid, np.exp(log_probs[np.arange(len(chosen)), chosen].astype(np.float64)), np.nan)
        columns[f"language{suffix}"] = languages
        columns[f"probability{suffix}"] = probabilities
    return columns


def compare_with_reference(log_probs: np.ndarray, reference: np.ndarray, check: CheckResult) -> None:
    valid = ~np.isnan(log_probs[:, 0])
    if valid.any():
        check.max_abs_diff = max(check.max_abs_diff, float(np.abs(log_probs[valid] - reference[valid]).max()))
        check.top1_disagreements += int((log_probs[valid].argmax(1) != reference[valid].argmax(1)).sum())
        check.compared += int(valid.sum())


def read_chunks(input_path: str, options: ClassifyOptions) -> tuple[Iterator[pd.DataFrame], str]:
    handle, source = open_input(input_path, options.encoding)
    try:
        reader = pd.read_csv(
            handle, dtype=str, keep_default_na=False, na_filter=False, chunksize=options.chunk_rows,
            skip_blank_lines=False,
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        raise InputError(f"{source} has no header row; the first line must name the columns") from None
    except pd.errors.ParserError as error:
        raise InputError(f"{source} is not a well-formed CSV: {str(error).strip()}") from None
    return _parsed(reader, source), source


def _parsed(reader, source: str) -> Iterator[pd.DataFrame]:
    try:
        yield from reader
    except pd.errors.ParserError as error:
        raise InputError(f"{source} is not a well-formed CSV: {str(error).strip()}") from None


def classify_frame(
    frame: pd.DataFrame, column: str, runtime: Runtime, options: ClassifyOptions, reference: Runtime | None,
    summary: ClassifySummary,
) -> pd.DataFrame:  # fmt: skip
    """The chunk with prediction columns appended; updates the summary's counts."""
    encoded = encode_ragged(frame[column])
    skipped = np.flatnonzero(encoded.lengths == 0)
    if len(skipped) and summary.first_skipped_row is None:
        summary.first_skipped_row = summary.rows + int(skipped[0]) + 1
        if options.strict:
            raise InputError(
                f"data row {summary.first_skipped_row}: name {frame[column].iloc[skipped[0]]!r} has no letter "
                "of the alphabet; drop --strict to leave such rows without a prediction"
            )
    log_probs = predict_log_probs(runtime, encoded, len(runtime.labels), options.batch_size)
    if reference is not None:
        reference_log_probs = predict_log_probs(reference, encoded, len(reference.labels), options.batch_size)
        compare_with_reference(log_probs, reference_log_probs, summary.check)
    summary.rows += len(frame)
    summary.skipped += len(skipped)
    predictions = pd.DataFrame(top_k_columns(log_probs, runtime.labels, options.top_k), index=frame.index)
    clashing = [name for name in predictions.columns if name in frame.columns]
    if clashing:
        raise InputError(f"input already has column(s) {', '.join(clashing)}; rename them before classifying")
    return pd.concat([frame, predictions], axis=1)


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
    summary = ClassifySummary(runtime=runtime.name, check=CheckResult() if reference is not None else None)
    chunks, source = read_chunks(input_path, options)
    with atomic_output(output_path) as handle:
        for index, frame in enumerate(chunks):
            if index == 0:
                summary.column = choose_column(list(frame.columns), options.column, source)
            labelled = classify_frame(frame, summary.column, runtime, options, reference, summary)
            labelled.to_csv(handle, header=index == 0, index=False, na_rep="")
            if on_rows is not None:
                on_rows(len(frame))
    summary.seconds = time.perf_counter() - started
    return summary
