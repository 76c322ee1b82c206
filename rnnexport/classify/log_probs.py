"""Names to log-probs through a runtime: per name in batches of one length, or prefix-shared (each distinct name
and each distinct prefix once, runtimes/prefix.py; with a run-wide cache, each distinct name of the run once:
name_cache.py); batches and blocks may run on several threads."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..runtimes.base import Runtime
from ..runtimes.distinct import distinct_names, subset
from ..runtimes.prefix import (
    DEFAULT_BLOCK_SIZE,
    build_schedule,
    distinct_schedule,
    run_blocks,
    run_schedule,
    scatter_rows,
)
from ..text.encode import RaggedNames
from .layout import MAX_NAME_LETTERS
from .name_cache import LogProbCache

PREFIX_MAX_LENGTH = 64  # letters; longer names skip prefix sharing (the data set's longest has 19)


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


@dataclass(frozen=True)
class ChunkPredictions:
    """A chunk's log-probs: float32 [D, L] of its distinct names with ``inverse`` (int64 [B], each row's name,
    -1 for a row with no letter), or float32 [B, L] per row (``inverse`` None; NaN rows: no prediction)."""

    log_probs: np.ndarray
    inverse: np.ndarray | None = None

    def rows(self) -> np.ndarray:
        """float32 [B, L] per row (NaN: no prediction)."""
        return self.log_probs if self.inverse is None else scatter_rows(self.log_probs, self.inverse)


def chunk_predictions(runtime: Runtime, encoded: RaggedNames, batch_size: int, prefix_sharing: bool = True,
                      block_size: int = DEFAULT_BLOCK_SIZE, cache: LogProbCache | None = None,
                      pool: Executor | None = None) -> ChunkPredictions:  # fmt: skip
    """A chunk's log-probs: prefix-shared where the runtime has an engine and ``prefix_sharing`` is set (each
    distinct name once, each distinct prefix once; with a ``cache``, names an earlier chunk computed are taken
    from it), else per name in length batches of ``batch_size``. Names over PREFIX_MAX_LENGTH letters always
    go per name: a trie level per letter costs time and memory in proportion to the longest name, and such
    names share little; names over layout.MAX_NAME_LETTERS get no prediction. Blocks and batches run on ``pool``
    when given (else on a pool of ``runtime.parallel_calls`` threads)."""
    too_long = encoded.lengths > MAX_NAME_LETTERS
    if too_long.any():  # left without a prediction, like a name with no letter
        encoded = RaggedNames(encoded.letters, np.where(too_long, 0, encoded.lengths), encoded.lost, encoded.starts)
    engine = runtime.prefix_engine() if prefix_sharing else None
    n_labels = len(runtime.labels)
    if engine is None:
        return ChunkPredictions(predict_log_probs(runtime, encoded, n_labels, batch_size))
    long = encoded.lengths > PREFIX_MAX_LENGTH
    if long.any():
        return ChunkPredictions(_with_long_names(runtime, engine, encoded, long, batch_size, block_size))
    distinct = distinct_names(encoded)
    found = cache.lookup(distinct.names) if cache is not None and cache.enabled else None
    if found is None or not found.hit.any():
        log_probs = _run_blocks(distinct_schedule(distinct, block_size), engine, n_labels, runtime, pool)
    else:
        log_probs = np.empty((len(distinct.lcp), n_labels), dtype=np.float32)
        log_probs[found.hit] = found.values
        missing = ~found.hit
        if missing.any():
            schedule = distinct_schedule(subset(distinct, missing), block_size)
            log_probs[missing] = _run_blocks(schedule, engine, n_labels, runtime, pool)
    if found is not None:
        cache.update(found, log_probs)
    return ChunkPredictions(log_probs, distinct.inverse)


def _run_blocks(schedule, engine, n_labels: int, runtime: Runtime, pool: Executor | None) -> np.ndarray:
    if pool is not None or runtime.parallel_calls <= 1:
        return run_blocks(schedule, engine.block_log_probs, n_labels, pool)
    with ThreadPoolExecutor(runtime.parallel_calls) as own_pool:
        return run_blocks(schedule, engine.block_log_probs, n_labels, own_pool)


def _with_long_names(runtime: Runtime, engine, encoded: RaggedNames, long: np.ndarray, batch_size: int,
                     block_size: int) -> np.ndarray:  # fmt: skip
    n_labels = len(runtime.labels)
    result = np.empty((len(encoded.lengths), n_labels), dtype=np.float32)
    short_rows, long_rows = np.flatnonzero(~long), np.flatnonzero(long)
    schedule = build_schedule(encoded.select(short_rows), block_size)
    result[short_rows] = run_schedule(schedule, engine.block_log_probs, n_labels, runtime.parallel_calls)
    result[long_rows] = predict_log_probs(runtime, encoded.select(long_rows), n_labels, batch_size)
    return result


def predict_chunk_log_probs(runtime: Runtime, encoded: RaggedNames, batch_size: int, prefix_sharing: bool = True,
                            block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:  # fmt: skip
    """float32 [B, L] log-probs of a chunk (NaN: no letter): :func:`chunk_predictions`, per row."""
    return chunk_predictions(runtime, encoded, batch_size, prefix_sharing, block_size).rows()
