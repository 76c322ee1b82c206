"""Prefix-shared evaluation: each distinct name once, each distinct prefix once, level by level (numpy only).

An RNN's state after a prefix depends only on that prefix, so a chunk's names need one step per distinct
prefix, not one per letter. A chunk is deduplicated, its distinct names sorted lexicographically (by
letter index) and cut into blocks of ``block_size`` names; each block is a trie built from the longest
common prefixes (LCP) of sorted neighbours, with no Python loop per name:

    a sorted name i with LCP l_i against name i-1 creates the nodes of depths l_i + 1 .. len(name i);
    the node of depth t holding name i's first t letters is the last node of depth t created by a name <= i.

Level t of a block holds its distinct prefixes of length t. An engine (eager torch in prefix_torch.py, ONNX
Runtime in prefix_onnx.py) runs a block level by level, one batched step per level:

    hidden_t = tanh(hidden_{t-1}[parent] @ W^T + input_table[letter])      (hidden_0: one zero row)

and reads each name's log_probs at its last node. Blocks are independent (cache-sized levels; they may run
on several threads). Names longer than what a sort key packs are rare; they get blocks of their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..text.encode import RaggedNames
from .distinct import DistinctNames, distinct_names

# Sorted names per trie. Measured on a 200k-row chunk of 200k distinct n-gram names (W2), ONNX engine, 2 threads,
# best of 3: the model calls took 0.183/0.174/0.181/0.216 s at 1024/2048/4096/8192 (levels of up to ~6k rows
# at 8192 leave the caches); W1's 17k distinct names ran alike at every size from 512 up.
DEFAULT_BLOCK_SIZE = 2048
MIN_ROWS = 4  # torch/MKL multiply 1-3 rows with kernels that round otherwise than batches do


@dataclass(frozen=True)
class TrieLevel:
    """The nodes of one depth t of a block's trie, in sorted order.

    n_nodes: how many distinct prefixes the level holds; a level of fewer than ``MIN_ROWS`` lists its last
    node again up to ``MIN_ROWS`` rows (a matrix product of fewer rows takes a kernel that rounds otherwise);
    parent: int64 [rows], each node's parent in level t-1 (level 1: 0, the zero state);
    letter: int64 [rows], the letter each node appends;
    end_node: int64 [ends], the nodes where a name ends; end_name: int64 [ends], that name in the block.
    """

    n_nodes: int
    parent: np.ndarray
    letter: np.ndarray
    end_node: np.ndarray
    end_name: np.ndarray


@dataclass(frozen=True)
class TrieBlock:
    """Names ``first .. first + n_names - 1`` of the sorted distinct names, as a trie of ``levels`` (depth 1..)."""

    first: int
    n_names: int
    levels: tuple[TrieLevel, ...]

    @property
    def n_nodes(self) -> int:
        """Distinct prefixes in the block: the steps it takes (padding rows aside)."""
        return sum(level.n_nodes for level in self.levels)


@dataclass(frozen=True)
class PrefixSchedule:
    """Everything an engine runs for a chunk: its distinct names and their blocks."""

    distinct: DistinctNames
    blocks: tuple[TrieBlock, ...]

    @property
    def n_nodes(self) -> int:
        """Steps the prefix-shared evaluation takes (distinct prefixes summed over blocks)."""
        return sum(block.n_nodes for block in self.blocks)


# ---------------------------------------------------------------- tries


def block_starts(distinct: DistinctNames, block_size: int) -> np.ndarray:
    """int64 [n_blocks]: the first name of each block (every ``block_size`` names, restarting at each group)."""
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    bounds = [*distinct.group_starts.tolist(), len(distinct.lcp)]
    starts = [np.arange(start, stop, block_size) for start, stop in itertools.pairwise(bounds)]
    return np.concatenate([np.zeros(0, dtype=np.int64), *starts]).astype(np.int64)


def _block_tries(names: RaggedNames, lcp: np.ndarray, starts: np.ndarray) -> tuple[TrieBlock, ...]:
    """Every block's trie from one sort of all nodes by (block, depth, name); parents from one searchsorted.

    Sorted name i creates the nodes of depths lcp_i + 1 .. len_i (lcp_i = 0 where a block starts); the parent
    of node (block, t, i) is the last node of (block, t - 1) created by a name <= i.
    """
    lengths, n_names = names.lengths, len(names.lengths)
    lcp = lcp.copy()
    lcp[starts] = 0  # a block shares nothing with the one before it
    created = lengths - lcp  # >= 1: a distinct sorted name is never a prefix of the one before it
    name = np.repeat(np.arange(n_names), created)
    depth = np.arange(len(name)) - np.repeat(np.cumsum(created) - created - lcp - 1, created)
    block = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n_names)))[name]
    level_key = block * (int(lengths.max(initial=0)) + 1) + depth
    # Nodes are made name by name, so a stable sort by (block, depth) orders them by (block, depth, name): a radix
    # sort when the level keys fit 16 bits (numpy's stable sort of uint16), about 1.3x the whole build.
    if int(level_key.max(initial=0)) < 1 << 16:
        order = np.argsort(level_key.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(level_key * n_names + name)
    key = level_key[order] * n_names + name[order]
    name, depth = name[order], depth[order]
    level_starts = np.flatnonzero(np.diff(key // n_names, prepend=-1))  # a level: one (block, depth)
    level_start = np.repeat(level_starts, np.diff(np.append(level_starts, len(key))))
    parent = np.searchsorted(key, key - n_names, side="right") - 1  # unused at depth 1
    parent = np.where(depth > 1, parent - level_start[np.maximum(parent, 0)], 0)
    nodes = _Nodes(parent=parent, letter=names.letters[names.starts[name] + depth - 1].astype(np.int64, copy=False),
                   is_end=depth == lengths[name], name=name)  # fmt: skip
    level_bounds = list(itertools.pairwise(np.append(level_starts, len(key)).tolist()))
    block_levels = np.append(np.flatnonzero(depth[level_starts] == 1), len(level_starts)).tolist()
    name_bounds = np.append(starts, n_names).tolist()
    return tuple(
        TrieBlock(first=first, n_names=stop - first,
                  levels=tuple(nodes.level(*bounds, first) for bounds in level_bounds[low:high]))
        for (first, stop), (low, high) in zip(itertools.pairwise(name_bounds), itertools.pairwise(block_levels),
                                              strict=True)
    )  # fmt: skip


@dataclass(frozen=True)
class _Nodes:
    """Every node of a chunk's tries, sorted by (block, depth, name); ``parent``: index in its parent's level."""

    parent: np.ndarray
    letter: np.ndarray
    is_end: np.ndarray
    name: np.ndarray

    def level(self, start: int, stop: int, first_name: int) -> TrieLevel:
        """Nodes ``start .. stop - 1`` as one level of the block whose first name is ``first_name``."""
        ends = np.flatnonzero(self.is_end[start:stop])
        # Products of under MIN_ROWS rows take other kernels, which round otherwise than batches: pad them.
        rows = slice(start, stop) if stop - start >= MIN_ROWS else np.minimum(np.arange(MIN_ROWS) + start, stop - 1)
        return TrieLevel(n_nodes=stop - start, parent=self.parent[rows], letter=self.letter[rows], end_node=ends,
                         end_name=self.name[start + ends] - first_name)  # fmt: skip


def build_schedule(encoded: RaggedNames, block_size: int = DEFAULT_BLOCK_SIZE) -> PrefixSchedule:
    """Dedup a chunk's names, sort them and build each block's trie levels (no Python loop per name).

    encoded: the chunk's names (rows of length 0 get no prediction); block_size: sorted names per trie.
    """
    return distinct_schedule(distinct_names(encoded), block_size)


def distinct_schedule(distinct: DistinctNames, block_size: int = DEFAULT_BLOCK_SIZE) -> PrefixSchedule:
    """The blocks' tries of names already deduplicated and sorted (distinct.distinct_names or distinct.subset)."""
    starts = block_starts(distinct, block_size)
    return PrefixSchedule(distinct=distinct, blocks=_block_tries(distinct.names, distinct.lcp, starts))


# ---------------------------------------------------------------- running


def scatter_rows(distinct_log_probs: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """float32 [B, L]: each row's distinct name's log_probs; NaN for rows with no letter (inverse -1), also when
    no row has one (``distinct_log_probs`` [0, L])."""
    if not len(distinct_log_probs):
        return np.full((len(inverse), distinct_log_probs.shape[1]), np.nan, dtype=np.float32)
    result = distinct_log_probs[np.maximum(inverse, 0)]
    result[inverse < 0] = np.nan
    return result


class LevelEngine:
    """Runs a :class:`TrieBlock` level by level with two backend calls (numpy float32 in and out):

    step(hidden [parents, H], parent int64 [nodes], letter int64 [nodes]) -> hidden_next [nodes, H]
        = tanh(hidden[parent] @ W^T + input_table[letter]); level 1 gets one zero row (h_0 = 0) and parents 0;
    head(hidden [batch, H]) -> log_probs [batch, n_labels].

    ``block_log_probs(block)`` -> float32 [block.n_names, n_labels], names in the block's sorted order.
    """

    def __init__(self, step: Callable, head: Callable, hidden_size: int):
        self.step, self.head, self.hidden_size = step, head, hidden_size
        self.zero_state = np.zeros((1, hidden_size), dtype=np.float32)

    def block_log_probs(self, block: TrieBlock) -> np.ndarray:
        hidden = self.zero_state
        # At least MIN_ROWS rows, so that the readout rounds like the reference's batches.
        ends = np.zeros((max(block.n_names, MIN_ROWS), self.hidden_size), dtype=np.float32)
        for level in block.levels:
            hidden = self.step(hidden, level.parent, level.letter)
            ends[level.end_name] = hidden[level.end_node]
        return self.head(ends)[: block.n_names]


def run_schedule(
    schedule: PrefixSchedule, block_log_probs: Callable[[TrieBlock], np.ndarray], n_labels: int, parallel_calls: int = 1
) -> np.ndarray:
    """float32 [B, n_labels] log_probs in input row order (NaN: no prediction).

    block_log_probs(block) -> float32 [block.n_names, n_labels] for the block's names in sorted order;
    with ``parallel_calls`` > 1, that many blocks run at once on threads (engines release the GIL).
    """
    if parallel_calls > 1 and len(schedule.blocks) > 1:
        with ThreadPoolExecutor(parallel_calls) as pool:
            distinct_log_probs = run_blocks(schedule, block_log_probs, n_labels, pool)
    else:
        distinct_log_probs = run_blocks(schedule, block_log_probs, n_labels)
    return scatter_rows(distinct_log_probs, schedule.distinct.inverse)


def run_blocks(schedule: PrefixSchedule, block_log_probs: Callable[[TrieBlock], np.ndarray], n_labels: int,
               pool: Executor | None = None) -> np.ndarray:  # fmt: skip
    """float32 [D, n_labels]: the log_probs of the schedule's distinct names, in their sorted order; the blocks
    run on ``pool``'s threads when given (engines release the GIL), else one after another."""
    distinct_log_probs = np.empty((len(schedule.distinct.lcp), n_labels), dtype=np.float32)

    def run(block: TrieBlock) -> None:
        distinct_log_probs[block.first : block.first + block.n_names] = block_log_probs(block)

    if pool is not None and len(schedule.blocks) > 1:
        list(pool.map(run, schedule.blocks))
    else:
        for block in schedule.blocks:
            run(block)
    return distinct_log_probs
