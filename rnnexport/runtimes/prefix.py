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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..text.encode import RaggedNames

# Sorted names per trie. Measured on a 200k-row chunk of 200k distinct n-gram names (W2), ONNX engine, 2 threads,
# best of 3: the model calls took 0.183/0.174/0.181/0.216 s at 1024/2048/4096/8192 (levels of up to ~6k rows
# at 8192 leave the caches); W1's 17k distinct names ran alike at every size from 512 up.
DEFAULT_BLOCK_SIZE = 2048
MIN_ROWS = 4  # torch/MKL multiply 1-3 rows with kernels that round otherwise than batches do
KEY_WORDS = 6  # uint64 words of a sort key; longer names take the (rare) Python path


@dataclass(frozen=True)
class DistinctNames:
    """A chunk's distinct names, sorted, with the LCP of each against the previous one.

    names: the distinct names, ascending by letter index (a name sorts before the names it is a prefix of);
    lcp: int64 [D], letters name i shares with name i-1 (0 where a group starts);
    group_starts: int64 [G], where each group starts (a block never spans two groups);
    inverse: int64 [B], each input row's position in ``names``, -1 for a row with no letter.
    """

    names: RaggedNames
    lcp: np.ndarray
    group_starts: np.ndarray
    inverse: np.ndarray


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


# ---------------------------------------------------------------- dedup and sort


def distinct_names(encoded: RaggedNames) -> DistinctNames:
    """Deduplicate and sort a chunk's names; exact (sort keys pack whole names, nothing is hashed).

    Names of up to one key word of letters (10 for 57 letters) are deduplicated and sorted on that one uint64;
    longer ones (few in real data) by all their words, then merged in; names longer than ``KEY_WORDS`` words
    (rarer still) are sorted in Python and form a group of their own.
    """
    valid = np.flatnonzero(encoded.lengths > 0)
    bits = max(int(encoded.letters.max(initial=0)) + 1, 1).bit_length()  # letter + 1; 0 is "past the end"
    per_word = 64 // bits
    lengths = encoded.lengths[valid]
    short, medium = valid[lengths <= per_word], valid[(lengths > per_word) & (lengths <= KEY_WORDS * per_word)]
    long = valid[lengths > KEY_WORDS * per_word]
    # return_index would make np.unique sort stably (~4x slower); any row of a key holds that same name.
    short_keys, short_rank = np.unique(_first_words(encoded, short, bits), return_inverse=True)
    short_first = np.empty(len(short_keys), dtype=np.int64)
    short_first[short_rank] = np.arange(len(short))
    medium_rank, medium_first, medium_lcp = _sorted_by_keys(encoded, medium, bits)
    medium_keys = _first_words(encoded, medium[medium_first], bits)
    # Merge: a name equal to another's first word of letters is its prefix, so it goes first ("right").
    medium_position = np.searchsorted(short_keys, medium_keys, side="right") + np.arange(len(medium_keys))
    is_medium = np.zeros(len(short_keys) + len(medium_keys), dtype=bool)
    is_medium[medium_position] = True
    short_position = np.flatnonzero(~is_medium)
    merged_rows = np.empty(len(is_medium), dtype=np.int64)
    merged_rows[short_position], merged_rows[medium_position] = short[short_first], medium[medium_first]
    merged_keys = np.empty(len(is_medium), dtype=np.uint64)
    merged_keys[short_position], merged_keys[medium_position] = short_keys, medium_keys
    long_rank, long_first, long_lcp = _sorted_in_python(encoded, long)
    inverse = np.full(len(encoded.lengths), -1, dtype=np.int64)
    inverse[short], inverse[medium] = short_position[short_rank], medium_position[medium_rank]
    inverse[long] = long_rank + len(merged_rows)
    lcp = _merged_lcp(merged_keys, encoded.lengths[merged_rows], is_medium, medium_lcp, bits, per_word)
    return DistinctNames(
        names=encoded.select(np.concatenate((merged_rows, long[long_first]))),
        lcp=np.concatenate((lcp, long_lcp)),
        group_starts=np.array([0, len(merged_rows)], dtype=np.int64)[: 1 + bool(len(long))],
        inverse=inverse,
    )


def _padded_letters(encoded: RaggedNames, rows: np.ndarray, width: int) -> np.ndarray:
    """uint8/uint16 [len(rows), width]: letter + 1 for the first ``width`` letters, 0 past each name's end."""
    lengths = encoded.lengths[rows]
    positions = encoded.starts[rows][:, None] + np.arange(width)
    inside = np.arange(width) < lengths[:, None]
    dtype = np.uint8 if int(encoded.letters.max(initial=0)) < 255 else np.uint16
    letters = encoded.letters[np.minimum(positions, max(len(encoded.letters) - 1, 0))] if len(rows) else positions
    return np.where(inside, letters + 1, 0).astype(dtype)


def _first_words(encoded: RaggedNames, rows: np.ndarray, bits: int) -> np.ndarray:
    """uint64 [len(rows)]: the first key word of each name (see :func:`_sort_keys`), one letter slot at a time."""
    per_word = 64 // bits
    starts, lengths = encoded.starts[rows], encoded.lengths[rows]
    last = max(len(encoded.letters) - 1, 0)
    keys = np.zeros(len(rows), dtype=np.uint64)
    for slot in range(per_word):
        letters = encoded.letters[np.minimum(starts + slot, last)].astype(np.uint64) + np.uint64(1)
        letters[lengths <= slot] = 0
        keys |= letters << np.uint64(bits * (per_word - 1 - slot))
    return keys


def _sort_keys(padded: np.ndarray, bits: int) -> np.ndarray:
    """uint64 [n, words]: ``64 // bits`` letters per word, first letter highest, so keys sort like the names."""
    per_word = 64 // bits
    words = -(-padded.shape[1] // per_word)
    keys = np.zeros((len(padded), words), dtype=np.uint64)
    for position in range(padded.shape[1]):
        word, slot = divmod(position, per_word)
        keys[:, word] |= padded[:, position].astype(np.uint64) << np.uint64(bits * (per_word - 1 - slot))
    return keys


def _sorted_by_keys(encoded: RaggedNames, rows: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``rows``: each one's distinct rank, the position (in rows) of each distinct name, and their LCPs."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    padded = _padded_letters(encoded, rows, int(encoded.lengths[rows].max()))
    keys = _sort_keys(padded, bits)
    order = np.lexsort(keys.T[::-1])  # lexsort's last key is the primary one
    sorted_keys = keys[order]
    starts_new = np.concatenate(([True], (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)))
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.cumsum(starts_new) - 1
    first = order[starts_new]
    distinct_padded = padded[first]
    lcp = np.zeros(len(first), dtype=np.int64)
    # Distinct names differ somewhere within the width (a prefix has 0 where the longer name has a letter).
    lcp[1:] = (distinct_padded[1:] != distinct_padded[:-1]).argmax(axis=1)
    return rank, first, lcp


def _sorted_in_python(encoded: RaggedNames, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_sorted_by_keys` for the few names too long for a sort key, with Python's bytes order."""
    texts = [encoded.letters[start : start + n].astype(">u4").tobytes() for start, n in
             zip(encoded.starts[rows].tolist(), encoded.lengths[rows].tolist(), strict=True)]  # fmt: skip
    distinct = sorted(set(texts))
    position = {text: i for i, text in enumerate(distinct)}
    rank = np.array([position[text] for text in texts], dtype=np.int64)
    first = np.zeros(len(distinct), dtype=np.int64)
    first[rank[::-1]] = np.arange(len(rows))[::-1]  # the first row holding each distinct name
    lcp = [_common_prefix_length(a, b) for a, b in itertools.pairwise(distinct)]
    return rank, first, np.array([0, *lcp][: len(distinct)], dtype=np.int64)


def _common_prefix_length(first: bytes, second: bytes) -> int:
    """Letters two names (as big-endian uint32 bytes) share from their start."""
    shortest = min(len(first), len(second)) // 4
    differ = np.flatnonzero(np.frombuffer(first, ">u4")[:shortest] != np.frombuffer(second, ">u4")[:shortest])
    return int(differ[0]) if len(differ) else shortest


def _merged_lcp(
    keys: np.ndarray, lengths: np.ndarray, is_medium: np.ndarray, medium_lcp: np.ndarray, bits: int, per_word: int
) -> np.ndarray:
    """LCP of each sorted distinct name with the previous one, from their first key words.

    Equal first words mean both names hold a whole word of letters; two such longer names are neighbours
    in the medium group too, whose exact LCP counts from there.
    """
    differing = keys[1:] ^ keys[:-1]
    for shift in (1, 2, 4, 8, 16, 32):  # smear the highest differing bit down: x + 1 becomes a power of two
        differing |= differing >> np.uint64(shift)
    bit_length = np.log2(differing.astype(np.float64) + 1).astype(np.int64)  # exact for powers of two
    lcp = np.zeros(len(keys), dtype=np.int64)
    lcp[1:] = (bits * per_word - bit_length) // bits
    both_medium = np.flatnonzero((lcp[1:] == per_word) & is_medium[1:] & is_medium[:-1]) + 1
    medium_index = np.cumsum(is_medium) - 1
    lcp[both_medium] = medium_lcp[medium_index[both_medium]]
    lcp[1:] = np.minimum(lcp[1:], np.minimum(lengths[1:], lengths[:-1]))
    return lcp


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
    key = (block * (int(lengths.max(initial=0)) + 1) + depth) * n_names + name
    order = np.argsort(key)
    key, name, depth = key[order], name[order], depth[order]
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
    distinct = distinct_names(encoded)
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
    distinct_log_probs = np.empty((len(schedule.distinct.lcp), n_labels), dtype=np.float32)

    def run(block: TrieBlock) -> None:
        distinct_log_probs[block.first : block.first + block.n_names] = block_log_probs(block)

    if parallel_calls > 1 and len(schedule.blocks) > 1:
        with ThreadPoolExecutor(parallel_calls) as pool:
            list(pool.map(run, schedule.blocks))
    else:
        for block in schedule.blocks:
            run(block)
    return scatter_rows(distinct_log_probs, schedule.distinct.inverse)
