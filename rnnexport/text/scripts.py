"""Scripts whose Latin spelling the fold can only guess, by the Unicode Script property of each code point
(docs/fold.md, "Scripts whose Latin spelling is a guess"): Han, Hangul, the abjads, every script with a virama."""

from __future__ import annotations

import functools

import numpy as np

# Han: one character, several readings: anyascii reads Mandarin, so Japanese 田中 (Tanaka) folds to "TianZhong".
HAN = ("Hani",)
# Hangul: spelled by one rule (김 -> "Gim", 이 -> "I", 박 -> "Bag") while Korean surnames are written Kim, Lee, Park
# in Latin letters: several romanisations are in use, and the rule's is rarely the name's own.
HANGUL = ("Hang",)
# Abjads: short vowels are not written, so محمد (Muhammad) folds to "mhmd" and כהן (Cohen) to "khhn".
ABJADS = ("Arab", "Hebr", "Syrc", "Samr")
# Abugidas with a virama: a consonant carries a vowel unless a virama follows, which a per-code-point fold cannot
# see, so शर्मा (Sharma) folds to "srma". Every script that has a character of canonical combining class 9
# (Virama) in Python's Unicode database (14.0.0 on Python 3.11; tests/test_text.py derives the list again).
VIRAMA_SCRIPTS = (
    "Ahom", "Bali", "Batk", "Beng", "Bhks", "Brah", "Cakm", "Deva", "Diak", "Dogr", "Gong", "Gonm", "Gran", "Gujr",
    "Guru", "Hano", "Java", "Khar", "Khmr", "Khoj", "Knda", "Kthi", "Lana", "Laoo", "Mlym", "Modi", "Mtei", "Mymr",
    "Nand", "Newa", "Orya", "Rjng", "Saur", "Shrd", "Sidd", "Sind", "Sinh", "Soyo", "Sund", "Sylo", "Takr", "Taml",
    "Telu", "Tfng", "Tglg", "Thai", "Tibt", "Tirh", "Zanb",
)  # fmt: skip
# ISO 15924 codes; a name's script id is 1 + its index here (0: none of them).
GUESSED_SCRIPTS = HAN + HANGUL + ABJADS + VIRAMA_SCRIPTS


@functools.cache
def _script_id(code_point: int) -> int:
    from fontTools.unicodedata import script  # the Unicode Script property (Scripts.txt); only for non-ASCII

    code = script(chr(code_point))
    return GUESSED_SCRIPTS.index(code) + 1 if code in GUESSED_SCRIPTS else 0


def guessed_script_ids(code_points: np.ndarray) -> np.ndarray:
    """uint8 per code point (int [N]): 1 + the index in GUESSED_SCRIPTS of its script, 0 for any other script
    (ASCII, Latin, Cyrillic, Greek, Kana, ...; Common and Inherited characters)."""
    distinct, inverse = np.unique(code_points, return_inverse=True)
    ids = np.fromiter((_script_id(point) if point >= 128 else 0 for point in distinct.tolist()), dtype=np.uint8,
                      count=len(distinct))  # fmt: skip
    return ids[inverse.reshape(-1)]


def script_name(script_id: int) -> str:
    """The English name of a GUESSED_SCRIPTS id (1-based): 1 -> 'Han', 2 -> 'Hangul'."""
    from fontTools.unicodedata import script_name as name_of

    return name_of(GUESSED_SCRIPTS[script_id - 1])


def describe_scripts(counts: dict[str, int]) -> str:
    """'Han 2, Arabic 1' from {script name: names}, most names first."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
