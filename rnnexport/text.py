"""Folding Unicode names to the model's 57-symbol alphabet and encoding them as index arrays (numpy only)."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

ALPHABET = string.ascii_letters + " .,;'"
N_LETTERS = len(ALPHABET)
ALPHABET_SET = frozenset(ALPHABET)
SPACE_INDEX = ALPHABET.index(" ")

# Code point -> alphabet index for ASCII; -1 means "dropped by folding".
_ASCII_INDEX = np.full(128, -1, dtype=np.int64)
_ASCII_INDEX[[ord(c) for c in ALPHABET]] = np.arange(N_LETTERS)
# A bytes.translate table (~10x faster than numpy indexing): a byte of UTF-8 text -> its alphabet index, or
# DROPPED_BYTE for the rest (bytes >= 128 are parts of non-ASCII characters, which text folding handles).
DROPPED_BYTE = 255
_BYTE_TO_LETTER = bytes(index if 0 <= index < N_LETTERS else DROPPED_BYTE for index in _ASCII_INDEX) + bytes(
    [DROPPED_BYTE] * 128
)


def has_prediction(folded: str) -> bool:
    """A folded name is classified unless it is empty or only spaces (a blank name)."""
    return bool(folded.strip(" "))


def fold(name: str) -> str:
    """NFD-normalise, drop combining marks (Mn), then drop everything outside the alphabet."""
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(c for c in decomposed if c in ALPHABET_SET and unicodedata.category(c) != "Mn")


def fold_code_point(code_point: int) -> str:
    """Fold one code point; folding a string is folding each of its code points (no code point folds to two)."""
    if 0xD800 <= code_point <= 0xDFFF:  # lone surrogates are not characters
        return ""
    return fold(chr(code_point))


def fold_table(max_code_point: int = 0xFFFF) -> dict[int, str]:
    """Every code point up to ``max_code_point`` that folds to a non-empty string, with that string."""
    table = {}
    for code_point in range(max_code_point + 1):
        folded = fold_code_point(code_point)
        if folded:
            table[code_point] = folded
    return table


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


def _index_of_code_points(code_points: np.ndarray) -> np.ndarray:
    """Alphabet index (or -1) for each code point, folding non-ASCII ones through unicodedata once each."""
    index = np.full(code_points.shape, -1, dtype=np.int64)
    is_ascii = code_points < 128
    index[is_ascii] = _ASCII_INDEX[code_points[is_ascii]]
    if not is_ascii.all():
        others = code_points[~is_ascii]
        unique, inverse = np.unique(others, return_inverse=True)
        folded = [fold_code_point(int(cp)) for cp in unique]
        unique_index = np.array([ALPHABET.index(f) if f else -1 for f in folded], dtype=np.int64)
        index[~is_ascii] = unique_index[inverse]
    return index


def _as_strings(names: Iterable[object]) -> list[str]:
    """Names as str; None, NaN and other non-strings become '' (no prediction)."""
    if isinstance(names, list) and all(type(name) is str for name in names):
        return names
    return [name if isinstance(name, str) else "" for name in names]


@dataclass(frozen=True)
class RaggedNames:
    """Folded names as letter indices without padding: name i is ``letters[starts[i] : starts[i] + lengths[i]]``.

    ``starts`` defaults to the names laid end to end; :meth:`replace_rows` instead points the replaced names
    at letters appended after the others, so that the others need no copy.
    """

    letters: np.ndarray
    lengths: np.ndarray
    explicit_starts: np.ndarray | None = None

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

    def select(self, rows: np.ndarray) -> RaggedNames:
        """The names at ``rows``, in that order, laid end to end."""
        lengths = self.lengths[rows]
        letters = self.letters[ragged_positions(self.starts[rows], lengths)].astype(np.int64, copy=False)
        return RaggedNames(letters=letters, lengths=lengths)

    def replace_rows(self, rows: np.ndarray, others: RaggedNames) -> RaggedNames:
        """These names with those at ``rows`` replaced by ``others`` (one per row, in order)."""
        starts, lengths = self.starts.copy(), self.lengths.copy()
        starts[rows] = len(self.letters) + others.starts
        lengths[rows] = others.lengths
        letters = np.concatenate((self.letters, others.letters.astype(self.letters.dtype)))
        return RaggedNames(letters=letters, lengths=lengths, explicit_starts=starts)

    def padded(self) -> EncodedNames:
        """All names padded to the longest (fine for small batches; use buckets for large ones)."""
        laid_out = self.select(np.arange(len(self.lengths))) if self.explicit_starts is not None else self
        return EncodedNames(indices=pad_time_major(laid_out.letters, laid_out.lengths), lengths=self.lengths)


def encode_ragged(names: Sequence[object] | Iterable[object]) -> RaggedNames:
    """Fold and encode names without a Python loop per character.

    Accepts a list, a numpy array or a pandas Series; missing, blank (only spaces once folded) and
    letterless names encode to length 0: they get no prediction.
    """
    strings = _as_strings(names)
    raw_lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    joined = "".join(strings)
    if joined.isascii():  # O(1) in CPython; one byte per character is much cheaper than UTF-32
        letter_index = _ASCII_INDEX[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)]
    else:
        code_points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        letter_index = _index_of_code_points(code_points.astype(np.int64))
    return _ragged_from_letter_index(letter_index, raw_lengths)


def encode_byte_fields(data: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[RaggedNames, np.ndarray]:
    """Fold and encode names that are byte ranges [starts, stops) of UTF-8 ``data``, without building strings.

    A field made only of alphabet bytes folds to itself, so its letters are its bytes mapped through a
    table. The rest are few: a field with a byte outside the alphabet (>= 128, a quote, a digit, ...)
    or starting with a space (it may be blank). Returns the encoding and those rows (int64, sorted): the
    caller replaces them with :func:`encode_ragged` of their decoded, unquoted text.
    """
    lengths = stops - starts
    field_bytes = data[_span_mask(starts, stops, len(data))]  # the fields laid end to end
    letters = np.frombuffer(field_bytes.tobytes().translate(_BYTE_TO_LETTER), dtype=np.uint8)
    field_starts = np.cumsum(lengths) - lengths
    with_dropped = np.searchsorted(field_starts + lengths, np.flatnonzero(letters == DROPPED_BYTE), side="right")
    nonempty = np.flatnonzero(lengths > 0)
    may_be_blank = nonempty[letters[field_starts[nonempty]] == SPACE_INDEX]
    special = np.union1d(with_dropped, may_be_blank)
    return RaggedNames(letters=letters, lengths=lengths), special


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


def _ragged_from_letter_index(letter_index: np.ndarray, raw_lengths: np.ndarray) -> RaggedNames:
    """Names from the alphabet index of each of their characters (-1: dropped) and their raw lengths."""
    kept = letter_index >= 0
    ends = np.cumsum(raw_lengths)
    lengths = _per_name_counts(kept, ends, raw_lengths)
    # A blank name (only spaces once folded) gets no prediction, like one that folds to nothing.
    blank = (_per_name_counts(kept & (letter_index != SPACE_INDEX), ends, raw_lengths) == 0) & (lengths > 0)
    if blank.any():
        kept &= ~np.repeat(blank, raw_lengths)
        lengths[blank] = 0
    return RaggedNames(letters=letter_index[kept], lengths=lengths)


def _per_name_counts(flags: np.ndarray, ends: np.ndarray, raw_lengths: np.ndarray) -> np.ndarray:
    """How many flagged code points each name has (flags run over all names' code points, concatenated)."""
    before = np.concatenate(([0], np.cumsum(flags)))
    return before[ends] - before[ends - raw_lengths]


def encode_names(names: Sequence[object] | Iterable[object]) -> EncodedNames:
    """Fold, encode and pad names to int64 [T, B] indices plus lengths."""
    return encode_ragged(names).padded()


def pad_time_major(letters: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated letter indices -> int64 [T, B] with zeros after each name's end (T >= 1)."""
    max_length = max(int(lengths.max(initial=0)), 1)
    # Row-major fill of a [B, T] mask visits letters in the concatenation order.
    mask = np.arange(max_length) < lengths[:, None]
    padded = np.zeros((len(lengths), max_length), dtype=np.int64)
    padded[mask] = letters
    return np.ascontiguousarray(padded.T)


def folded_strings(encoded: EncodedNames) -> list[str]:
    """The folded names back as strings (for display)."""
    letters = np.array(list(ALPHABET))
    return ["".join(letters[encoded.indices[:n, i]]) for i, n in enumerate(encoded.lengths)]
