"""Names to log-probs through a runtime: per name in batches of one length, or prefix-shared (each distinct name
and each distinct prefix once, runtimes/prefix.py); batches and blocks may run on several threads."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..runtimes.base import Runtime
from ..runtimes.prefix import DEFAULT_BLOCK_SIZE, build_schedule, run_schedule
from ..text.encode import RaggedNames

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
