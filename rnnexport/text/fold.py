"""Folding Unicode names to the model's alphabet: NFKC, then anyascii transliteration per character, then only
the alphabet's symbols; the fold's identity, which travels with every model."""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from anyascii import anyascii

from ..errors import FoldVersionWarning, RnnExportError
from .alphabet import ALPHABET, ASCII_LETTERS, codec

MAX_CODE_POINT = 0x10FFFF


def has_prediction(folded: str) -> bool:
    """A folded name is classified unless it is empty or only spaces (a blank name)."""
    return bool(folded.strip(" "))


def fold_identity() -> dict[str, str]:
    """What the fold depends on, for the checkpoint and artifacts: transliteration library and its version,
    the normalisation, and the Unicode version of Python's unicodedata (NFKC and categories)."""
    return {
        "library": "anyascii",
        "version": _anyascii_version(),
        "normalization": "NFKC",
        "unicode_version": unicodedata.unidata_version,
    }


def _anyascii_version() -> str:
    """The installed anyascii's version: its ``__version__`` (importlib.metadata, 20 ms of a classify's start, only
    where a release lacks one)."""
    import anyascii

    found = getattr(anyascii, "__version__", None)
    if isinstance(found, str):
        return found
    from importlib.metadata import version

    return version("anyascii")


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
    return "".join(c for c in spelled if c not in ASCII_LETTERS)


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
