"""Names as letter indices of the alphabet: folded and encoded without a Python loop per character, ragged
(RaggedNames) or padded time-major (EncodedNames), and straight from UTF-8 bytes where a name needs no folding."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .alphabet import ALPHABET, DROPPED_BYTE, codec
from .fold import MAX_CODE_POINT, fold_code_point
from .scripts import guessed_script_ids


@dataclass(frozen=True)
class EncodedNames:
    """Names as padded, time-major letter indices.

    indices: int64 [T, B], padding holds 0; lengths: int64 [B], 0 for a name that folds to nothing.
    """

    indices: np.ndarray
    lengths: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """bool [B]: names with at least one letter (the only ones that get a prediction)."""
        return self.lengths > 0


def _letters_of_code_points(code_points: np.ndarray, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """The folded letters of code points (int64 [N], <= U+10FFFF), laid end to end, and how many each gave
    (int8 [N], >= 0).

    Each distinct non-ASCII code point is folded once (:func:`fold_code_point`) into tables indexed by code
    point. Most give 0 or 1 letter, so every code point's first letter is gathered at once and the few
    later letters (``ß`` -> ``ss``) are inserted after it.
    """
    present = np.zeros(MAX_CODE_POINT + 1, dtype=bool)
    present[code_points] = True
    present[:128] = False
    unique = np.flatnonzero(present)
    tables = codec(alphabet)
    spellings = [[tables.letter_index[c] for c in fold_code_point(int(cp), alphabet)] for cp in unique]
    counts_by_code_point = np.zeros(MAX_CODE_POINT + 1, dtype=np.int8)  # anyascii spells a character in < 128
    counts_by_code_point[:128] = tables.ascii_index >= 0
    counts_by_code_point[unique] = [len(spelling) for spelling in spellings]
    first_by_code_point = np.full(MAX_CODE_POINT + 1, -1, dtype=np.int8)  # an alphabet has < 128 symbols
    first_by_code_point[:128] = tables.ascii_index
    first_by_code_point[unique] = [spelling[0] if spelling else -1 for spelling in spellings]
    counts = counts_by_code_point[code_points]
    kept = code_points[counts > 0]
    letters = first_by_code_point[kept].astype(np.int64)
    multi = np.flatnonzero(counts_by_code_point[kept] > 1)
    if len(multi):
        letters = _insert_later_letters(letters, multi, np.searchsorted(unique, kept[multi]), spellings)
    return letters, counts


def _insert_later_letters(
    letters: np.ndarray, multi: np.ndarray, rows: np.ndarray, spellings: list[list[int]]
) -> np.ndarray:
    """First letters with, after each one at ``multi``, the rest of its spelling (``spellings[rows[i]][1:]``)."""
    later_counts = np.array([len(spelling) - 1 if spelling else 0 for spelling in spellings], dtype=np.int64)
    later_table = np.array([i for spelling in spellings for i in spelling[1:]], dtype=np.int64)
    repeats = later_counts[rows]
    later = later_table[ragged_positions((np.cumsum(later_counts) - later_counts)[rows], repeats)]
    return np.insert(letters, np.repeat(multi + 1, repeats), later)  # equal positions keep their order


def _as_strings(names: Iterable[object]) -> list[str]:
    """Names as str; None, NaN and other non-strings become '' (no prediction)."""
    if isinstance(names, list) and all(type(name) is str for name in names):
        return names
    return [name if isinstance(name, str) else "" for name in names]


@dataclass(frozen=True)
class RaggedNames:
    """Folded names as letter indices without padding: name i is ``letters[starts[i] : starts[i] + lengths[i]]``.

    ``starts`` defaults to the names laid end to end; :meth:`replace_rows` instead points the replaced names
    at letters appended after the others, so that the others need no copy. ``lost`` (int64 [B]) counts each
    name's code points that folded to nothing (emoji, digits, punctuation outside the alphabet; a transliterated
    character is not lost): ``(lost > 0).sum()`` names lost characters in folding. ``guessed`` (uint8 [B], or
    None when no name has one) is the id of a script whose Latin spelling the fold can only guess
    (text.scripts.GUESSED_SCRIPTS, 1-based; 0: none) that the name is written in.
    """

    letters: np.ndarray
    lengths: np.ndarray
    lost: np.ndarray
    explicit_starts: np.ndarray | None = None
    guessed: np.ndarray | None = None

    @cached_property
    def starts(self) -> np.ndarray:
        """int64 [B]: where each name begins in ``letters`` (computed once: batches gather from it)."""
        if self.explicit_starts is not None:
            return self.explicit_starts
        return np.cumsum(self.lengths) - self.lengths

    def gather_equal_length(self, rows: np.ndarray, length: int) -> np.ndarray:
        """int64 [length, len(rows)] time-major indices of rows that all have this length (>= 1)."""
        positions = self.starts[rows][None, :] + np.arange(length)[:, None]
        return self.letters[positions].astype(np.int64, copy=False)

    def text(self, row: int, alphabet: str) -> str:
        """Name ``row`` as the model saw it: its letters of ``alphabet`` (the folded name)."""
        start = int(self.starts[row])
        return "".join(alphabet[i] for i in self.letters[start : start + int(self.lengths[row])])

    def select(self, rows: np.ndarray) -> RaggedNames:
        """The names at ``rows``, in that order, laid end to end."""
        lengths = self.lengths[rows]
        letters = self.letters[ragged_positions(self.starts[rows], lengths)].astype(np.int64, copy=False)
        guessed = None if self.guessed is None else self.guessed[rows]
        return RaggedNames(letters=letters, lengths=lengths, lost=self.lost[rows], guessed=guessed)

    def replace_rows(self, rows: np.ndarray, others: RaggedNames) -> RaggedNames:
        """These names with those at ``rows`` replaced by ``others`` (one per row, in order)."""
        starts, lengths, lost = self.starts.copy(), self.lengths.copy(), self.lost.copy()
        starts[rows] = len(self.letters) + others.starts
        lengths[rows] = others.lengths
        lost[rows] = others.lost
        letters = np.concatenate((self.letters, others.letters.astype(self.letters.dtype)))
        guessed = self.guessed
        if others.guessed is not None:
            guessed = np.zeros(len(lengths), dtype=np.uint8) if guessed is None else guessed.copy()
            guessed[rows] = others.guessed
        return RaggedNames(letters=letters, lengths=lengths, lost=lost, explicit_starts=starts, guessed=guessed)

    def padded(self) -> EncodedNames:
        """All names padded to the longest (fine for small batches; use buckets for large ones)."""
        laid_out = self.select(np.arange(len(self.lengths))) if self.explicit_starts is not None else self
        return EncodedNames(indices=pad_time_major(laid_out.letters, laid_out.lengths), lengths=self.lengths)


def encode_ragged(names: Sequence[object] | Iterable[object], alphabet: str = ALPHABET) -> RaggedNames:
    """Fold and encode names into indices of ``alphabet`` without a Python loop per character.

    Accepts a list, a numpy array or a pandas Series; missing, blank (only spaces once folded) and
    letterless names encode to length 0: they get no prediction.
    """
    tables = codec(alphabet)
    strings = _as_strings(names)
    raw_lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    joined = "".join(strings)
    if joined.isascii():  # O(1) in CPython; one byte per character is much cheaper than UTF-32
        letter_index = tables.ascii_index[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)]
        kept = letter_index >= 0  # an ASCII character folds to itself or to nothing
        letters, counts = letter_index[kept], kept
    else:
        code_points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        letters, counts = _letters_of_code_points(code_points, alphabet)
        kept = (counts > 0) | combining_marks(code_points)  # a mark on a kept letter loses nothing (NFD text)
        encoded = _ragged_from_letters(letters, counts, raw_lengths, tables.space_index, kept)
        return replace(encoded, guessed=_guessed_per_name(code_points, raw_lengths))
    return _ragged_from_letters(letters, counts, raw_lengths, tables.space_index)


def encode_byte_fields(
    data: np.ndarray, starts: np.ndarray, stops: np.ndarray, alphabet: str = ALPHABET
) -> tuple[RaggedNames, np.ndarray]:
    """Fold and encode names that are byte ranges [starts, stops) of UTF-8 ``data``, without building strings.

    A field made only of ASCII bytes that fold to one symbol (``alphabet``'s, or a letter's other case)
    has its bytes mapped through a table. The rest are few: a field with another byte (>= 128, a quote, a digit, ...)
    or starting with a space (it may be blank). Returns the encoding and those rows (int64, sorted): the
    caller replaces them with :func:`encode_ragged` of their decoded, unquoted text.
    """
    lengths = stops - starts
    field_bytes = data[_span_mask(starts, stops, len(data))]  # the fields laid end to end
    tables = codec(alphabet)
    letters = np.frombuffer(field_bytes.tobytes().translate(tables.byte_to_letter), dtype=np.uint8)
    field_starts = np.cumsum(lengths) - lengths
    with_dropped = np.searchsorted(field_starts + lengths, np.flatnonzero(letters == DROPPED_BYTE), side="right")
    nonempty = np.flatnonzero(lengths > 0)
    may_be_blank = nonempty[letters[field_starts[nonempty]] == tables.space_index]
    special = np.union1d(with_dropped, may_be_blank)
    return RaggedNames(letters=letters, lengths=lengths, lost=np.zeros(len(lengths), dtype=np.int64)), special


def _span_mask(starts: np.ndarray, stops: np.ndarray, size: int) -> np.ndarray:
    """bool [size]: True inside the sorted, disjoint spans [starts, stops)."""
    gaps = starts - np.concatenate(([0], stops[:-1]))
    runs = np.column_stack((gaps, stops - starts)).ravel()
    inside = np.repeat(np.tile(np.array([False, True]), len(starts)), runs)
    return np.concatenate((inside, np.zeros(size - len(inside), dtype=bool)))


def ragged_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges [starts[i], starts[i] + lengths[i]) as one index array, without a Python loop."""
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return offsets + np.arange(int(lengths.sum()))


def combining_marks(code_points: np.ndarray) -> np.ndarray:
    """bool per code point: a combining mark (unicodedata.combining > 0), e.g. the caron of a decomposed (NFD)
    'ř'. It folds to nothing, but its letter carries the name: it is not a lost character."""
    distinct, inverse = np.unique(code_points, return_inverse=True)
    marks = np.fromiter((unicodedata.combining(chr(point)) > 0 for point in distinct.tolist()), dtype=bool,
                        count=len(distinct))  # fmt: skip
    return marks[inverse.reshape(-1)]


def _guessed_per_name(code_points: np.ndarray, raw_lengths: np.ndarray) -> np.ndarray | None:
    """uint8 [B]: the id of a guessed script (text.scripts) among each name's code points (the last one, if
    several), 0 for none; None when no name has one."""
    ids = guessed_script_ids(code_points)
    positions = np.flatnonzero(ids)
    if not len(positions):
        return None
    guessed = np.zeros(len(raw_lengths), dtype=np.uint8)
    guessed[np.searchsorted(np.cumsum(raw_lengths), positions, side="right")] = ids[positions]
    return guessed


def _ragged_from_letters(
    letters: np.ndarray, counts: np.ndarray, raw_lengths: np.ndarray, space_index: int, kept: np.ndarray | None = None
) -> RaggedNames:
    """Names from their folded letters laid end to end, how many letters each code point gave (int64 or bool,
    over all names' code points) and how many code points each name has; ``space_index`` is -1 without one.
    ``kept`` (bool per code point, default: gave a letter) marks the code points that are not lost."""
    ends = np.cumsum(raw_lengths)
    lengths = _per_name_counts(counts, ends, raw_lengths)
    if kept is None:
        kept = counts if counts.dtype == bool else counts > 0
    lost = raw_lengths - _per_name_counts(kept, ends, raw_lengths)
    # A blank name (only spaces once folded) gets no prediction, like one that folds to nothing.
    blank = (_per_name_counts(letters != space_index, np.cumsum(lengths), lengths) == 0) & (lengths > 0)
    if blank.any():
        letters = letters[np.repeat(~blank, lengths)]
        lengths[blank] = 0
    return RaggedNames(letters=letters, lengths=lengths, lost=lost)


def _per_name_counts(counts: np.ndarray, ends: np.ndarray, raw_lengths: np.ndarray) -> np.ndarray:
    """Per-name sums of ``counts`` (bool or int, over all names' items concatenated; name i ends at ends[i])."""
    before = np.concatenate(([0], np.cumsum(counts)))
    return before[ends] - before[ends - raw_lengths]


def encode_names(names: Sequence[object] | Iterable[object], alphabet: str = ALPHABET) -> EncodedNames:
    """Fold, encode and pad names to int64 [T, B] indices of ``alphabet`` plus lengths."""
    return encode_ragged(names, alphabet).padded()


def pad_time_major(letters: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated letter indices -> int64 [T, B] with zeros after each name's end (T >= 1)."""
    max_length = max(int(lengths.max(initial=0)), 1)
    # Row-major fill of a [B, T] mask visits letters in the concatenation order.
    mask = np.arange(max_length) < lengths[:, None]
    padded = np.zeros((len(lengths), max_length), dtype=np.int64)
    padded[mask] = letters
    return np.ascontiguousarray(padded.T)


def folded_strings(encoded: EncodedNames, alphabet: str = ALPHABET) -> list[str]:
    """The folded names back as strings of ``alphabet`` (for display)."""
    letters = np.array(list(alphabet))
    return ["".join(letters[encoded.indices[:n, i]]) for i, n in enumerate(encoded.lengths)]
