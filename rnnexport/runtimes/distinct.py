"""A chunk's names deduplicated and sorted (numpy only), for prefix sharing (prefix.py) and the run-wide cache of
classify: sort keys pack ``64 // bits`` letters per uint64 word, so that names sort and compare as numbers.

Names of up to one key word of letters are deduplicated and sorted on that one uint64; longer ones by all their
words, then merged in; names longer than ``KEY_WORDS`` words (rare) are sorted in Python and form a group of their
own. :func:`subset` keeps some of the sorted names (those a cache did not hold) with their LCPs recomputed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..text.encode import RaggedNames

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


def subset(distinct: DistinctNames, keep: np.ndarray) -> DistinctNames:
    """The sorted names where ``keep`` (bool [D]) is set, still sorted, with their LCPs and groups; ``inverse``
    is left empty (the caller knows which rows the kept names serve).

    The LCP of two sorted names is the least LCP of the neighbours between them, so each kept name's LCP with
    the kept one before it is a minimum over a run of ``distinct.lcp`` (0 across a group start)."""
    kept = np.flatnonzero(keep)
    lcp = np.zeros(len(kept), dtype=np.int64)
    if len(kept) > 1:
        lcp[1:] = np.minimum.reduceat(distinct.lcp[: kept[-1] + 1], kept[:-1] + 1)
    group_starts = np.unique(np.searchsorted(kept, distinct.group_starts))
    group_starts = group_starts[group_starts < len(kept)]
    return DistinctNames(distinct.names.select(kept), lcp, group_starts, inverse=np.zeros(0, dtype=np.int64))


def whole_name_keys(names: RaggedNames, n_letters: int) -> tuple[np.ndarray, np.ndarray]:
    """uint64 [D] keys of names that fit one key word (``64 // bits`` letters, bits for ``n_letters`` + 1 symbols:
    10 letters of a 57-letter alphabet), equal exactly when the names are; and bool [D], which names fit."""
    bits = n_letters.bit_length()
    fits = (names.lengths <= 64 // bits) & (names.lengths > 0)
    return _first_words(names, np.arange(len(names.lengths)), bits), fits
