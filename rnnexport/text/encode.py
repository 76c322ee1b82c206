"""Folding Unicode names to the model's alphabet (NFKC, anyascii transliteration) and encoding them as indices."""

from __future__ import annotations

import string
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.metadata import version
from types import MappingProxyType

import numpy as np
from anyascii import anyascii

from ..errors import FoldVersionWarning, InputError, RnnExportError

ALPHABET = string.ascii_letters + " .,;'"  # the default alphabet (57 symbols); a model may have another
N_LETTERS = len(ALPHABET)
MAX_CODE_POINT = 0x10FFFF
PRINTABLE_ASCII = frozenset(map(chr, range(0x20, 0x7F)))  # what an alphabet may hold: the fold's output is ASCII
_ASCII_LETTERS = frozenset(string.ascii_letters)
# A bytes.translate table value for bytes that text folding handles (>= 128: parts of non-ASCII characters;
# a quote: the field may be quoted), and for ASCII outside the alphabet.
DROPPED_BYTE = 255


def check_alphabet(alphabet: str) -> str:
    """The alphabet, if it is usable: non-empty, printable ASCII (what the fold produces), each symbol once.

    Raises InputError naming the problem.
    """
    if not alphabet:
        raise InputError("the alphabet is empty; give at least one symbol, e.g. --alphabet abcdefghijklmnopqrstuvwxyz")
    outside = sorted({c for c in alphabet if c not in PRINTABLE_ASCII})
    if outside:
        raise InputError(
            f"the alphabet holds {', '.join(map(repr, outside))}: only printable ASCII (space to ~) can come out "
            "of the fold; drop those symbols"
        )
    repeated = sorted({c for c in alphabet if alphabet.count(c) > 1})
    if repeated:
        raise InputError(f"the alphabet repeats {', '.join(map(repr, repeated))}; list each symbol once")
    return alphabet


@dataclass(frozen=True)
class Codec:
    """One alphabet's lookup tables (built once per alphabet by :func:`codec`).

    ``translation``: a str.translate table from each ASCII character to its alphabet symbol or None
    (dropped); ``ascii_index``: int64 [128], the alphabet index of each ASCII code or -1; ``byte_to_letter``:
    a bytes.translate table (256 bytes) of the same with DROPPED_BYTE for bytes >= 128, dropped bytes and
    the quote; ``space_index``: the index of " " or -1.
    """

    alphabet: str
    translation: dict[int, str | None]
    ascii_index: np.ndarray
    byte_to_letter: bytes
    space_index: int

    @cached_property
    def letter_index(self) -> dict[str, int]:
        return {letter: i for i, letter in enumerate(self.alphabet)}


def _alphabet_symbol(character: str, alphabet: str) -> str | None:
    """An ASCII character as a symbol of the alphabet: itself, else a letter's other case, else None."""
    if character in alphabet:
        return character
    if character in _ASCII_LETTERS and character.swapcase() in alphabet:
        return character.swapcase()
    return None


@cache
def codec(alphabet: str = ALPHABET) -> Codec:
    """The lookup tables of an alphabet (checked with :func:`check_alphabet`); cached per alphabet."""
    check_alphabet(alphabet)
    translation = {code: _alphabet_symbol(chr(code), alphabet) for code in range(128)}
    ascii_index = np.array([-1 if s is None else alphabet.index(s) for s in translation.values()], dtype=np.int64)
    byte_to_letter = bytearray(DROPPED_BYTE if index < 0 else index for index in ascii_index) + bytes(
        [DROPPED_BYTE] * 128
    )
    byte_to_letter[ord('"')] = DROPPED_BYTE
    space_index = alphabet.index(" ") if " " in alphabet else -1
    return Codec(alphabet, translation, ascii_index, bytes(byte_to_letter), space_index)


def has_prediction(folded: str) -> bool:
    """A folded name is classified unless it is empty or only spaces (a blank name)."""
    return bool(folded.strip(" "))


def fold_identity() -> dict[str, str]:
    """What the fold depends on, for the checkpoint and artifacts: transliteration library and its version,
    the normalisation, and the Unicode version of Python's unicodedata (NFKC and categories)."""
    return {
        "library": "anyascii",
        "version": version("anyascii"),
        "normalization": "NFKC",
        "unicode_version": unicodedata.unidata_version,
    }


def _describe_fold(identity: dict) -> str:
    return (f"{identity.get('normalization')} + {identity.get('library')} {identity.get('version')} "
            f"(Unicode {identity.get('unicode_version')})")  # fmt: skip


def check_fold(recorded: object, source: str, error: type[RnnExportError]) -> None:
    """Check the fold a model records (``fold_identity()`` at training) against the installed one.

    Another library or normalisation, or no record (a model of the older NFD fold), changes what the model
    sees: raises ``error``. Only another library version or Unicode version: ASCII names fold the same, a
    few non-ASCII ones may not, so it warns (FoldVersionWarning) and goes on.
    """
    installed = fold_identity()
    if not isinstance(recorded, dict) or any(
        recorded.get(key) != installed[key] for key in ("library", "normalization")
    ):
        described = _describe_fold(recorded) if isinstance(recorded, dict) else "no fold record (the older NFD fold)"
        raise error(
            f"{source} was folded with {described}, this rnnexport folds with {_describe_fold(installed)}; "
            "retrain it with this rnnexport (`rnnexport train`, then `rnnexport export`)"
        )
    if any(recorded.get(key) != installed[key] for key in ("version", "unicode_version")):
        warnings.warn(
            f"the model was folded with {_describe_fold(recorded)}, this install folds with "
            f"{_describe_fold(installed)}: non-ASCII names may be classified differently; retrain and re-export "
            "it with this install to match",
            FoldVersionWarning,
            stacklevel=2,
        )


def _transliterate(character: str) -> str:
    """anyascii's Latin spelling of one character; a character that is no letter or mark (a symbol, digit,
    emoji, unassigned) keeps no letter: anyascii spells those as words (``😀`` -> ``:grinning:``, ``£`` -> ``GBP``)."""
    spelled = anyascii(character)
    if unicodedata.category(character)[0] in "LM":
        return spelled
    return "".join(c for c in spelled if c not in _ASCII_LETTERS)


@cache
def _spelling(code_point: int) -> str:
    """One code point's ASCII spelling before the alphabet is applied: NFKC, then :func:`_transliterate` each
    resulting character. Lone surrogates (U+D800..U+DFFF) are not characters: "". Cached per code point."""
    if 0xD800 <= code_point <= 0xDFFF:
        return ""
    return "".join(map(_transliterate, unicodedata.normalize("NFKC", chr(code_point))))


def fold_code_point(code_point: int, alphabet: str = ALPHABET) -> str:
    """One code point folded: NFKC, transliterate each resulting character, then keep alphabet symbols
    (0 or more). A letter outside the alphabet whose other case is in it becomes that case (a lowercase-only
    alphabet folds ``Ł`` to ``l``); every other character outside the alphabet is dropped.

    Folding a name is folding each of its code points (:func:`fold`), so a table of this function is the fold.
    """
    return _spelling(code_point).translate(codec(alphabet).translation)


def fold(name: str, alphabet: str = ALPHABET) -> str:
    """A name in the alphabet: the concatenation of :func:`fold_code_point` over its code points, in order."""
    if name.isascii():  # ASCII folds to itself, or its other case, or nothing
        return name.translate(codec(alphabet).translation)
    return "".join([fold_code_point(ord(c), alphabet) for c in name])


@cache
def _spelling_table() -> Mapping[int, str]:
    """Every code point with a non-empty :func:`_spelling`, built once (about 2 s) without filling its cache."""
    table = {}
    for code_point in range(MAX_CODE_POINT + 1):
        spelled = _spelling.__wrapped__(code_point)
        if spelled:
            table[code_point] = spelled
    return table


@cache
def fold_table(alphabet: str = ALPHABET) -> Mapping[int, str]:
    """Every code point 0..U+10FFFF (surrogates excluded) that folds to a non-empty string, with that string.

    Read-only and built once per process and alphabet; ~114,000 entries for the default alphabet.
    """
    translation = codec(alphabet).translation
    folded = {code_point: spelled.translate(translation) for code_point, spelled in _spelling_table().items()}
    return MappingProxyType({code_point: value for code_point, value in folded.items() if value})


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
    character is not lost): ``(lost > 0).sum()`` names lost characters in folding.
    """

    letters: np.ndarray
    lengths: np.ndarray
    lost: np.ndarray
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

    def text(self, row: int, alphabet: str) -> str:
        """Name ``row`` as the model saw it: its letters of ``alphabet`` (the folded name)."""
        start = int(self.starts[row])
        return "".join(alphabet[i] for i in self.letters[start : start + int(self.lengths[row])])

    def select(self, rows: np.ndarray) -> RaggedNames:
        """The names at ``rows``, in that order, laid end to end."""
        lengths = self.lengths[rows]
        letters = self.letters[ragged_positions(self.starts[rows], lengths)].astype(np.int64, copy=False)
        return RaggedNames(letters=letters, lengths=lengths, lost=self.lost[rows])

    def replace_rows(self, rows: np.ndarray, others: RaggedNames) -> RaggedNames:
        """These names with those at ``rows`` replaced by ``others`` (one per row, in order)."""
        starts, lengths, lost = self.starts.copy(), self.lengths.copy(), self.lost.copy()
        starts[rows] = len(self.letters) + others.starts
        lengths[rows] = others.lengths
        lost[rows] = others.lost
        letters = np.concatenate((self.letters, others.letters.astype(self.letters.dtype)))
        return RaggedNames(letters=letters, lengths=lengths, lost=lost, explicit_starts=starts)

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
        return _ragged_from_letters(letters, counts, raw_lengths, tables.space_index, kept)
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
