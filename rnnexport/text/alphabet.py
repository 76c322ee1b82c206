"""The model's alphabet: the symbols names are folded to, checked, and the lookup tables built once per alphabet."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from ..errors import InputError

ALPHABET = string.ascii_letters + " .,;'"  # the default alphabet (57 symbols); a model may have another
N_LETTERS = len(ALPHABET)
PRINTABLE_ASCII = frozenset(map(chr, range(0x20, 0x7F)))  # what an alphabet may hold: the fold's output is ASCII
ASCII_LETTERS = frozenset(string.ascii_letters)
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
    if character in ASCII_LETTERS and character.swapcase() in alphabet:
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
