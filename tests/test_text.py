import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.text import (
    ALPHABET,
    N_LETTERS,
    encode_names,
    encode_ragged,
    fold,
    fold_table,
    folded_strings,
    has_prediction,
)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Dvořák", "Dvorak"),
        ("Müller", "Muller"),
        ("O'Néill", "O'Neill"),
        ("Nguyễn", "Nguyen"),
        ("José", "Jose"),
        ("Šťastný", "Stastny"),
        ("😀😀", ""),
        ("12345", ""),
        ("Smith, Jr.", "Smith, Jr."),
        ("", ""),
        ("李", ""),
    ],
)
def test_fold_table_of_names(raw, folded):
    assert fold(raw) == folded


def test_alphabet_is_the_documented_57_symbols():
    assert N_LETTERS == 57
    assert ALPHABET.endswith(" .,;'")


def naive_encode(names):
    """The per-character reference: fold, then look each letter up."""
    folded = [fold(name) if isinstance(name, str) else "" for name in names]
    folded = [name if has_prediction(name) else "" for name in folded]
    lengths = np.array([len(f) for f in folded], dtype=np.int64)
    indices = np.zeros((max(int(lengths.max(initial=0)), 1), len(names)), dtype=np.int64)
    for b, name in enumerate(folded):
        for t, letter in enumerate(name):
            indices[t, b] = ALPHABET.index(letter)
    return indices, lengths


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=20))
def test_encoder_matches_naive_loop_on_random_unicode(names):
    encoded = encode_names(names)
    indices, lengths = naive_encode(names)
    np.testing.assert_array_equal(encoded.lengths, lengths)
    np.testing.assert_array_equal(encoded.indices, indices)


def test_encoder_accepts_series_with_missing_values():
    series = pd.Series(["Ab", None, float("nan"), "", "Dvořák", "  ", " \u0301 ", " A "])
    encoded = encode_names(series)
    assert encoded.lengths.tolist() == [2, 0, 0, 0, 6, 0, 0, 3]
    assert folded_strings(encoded) == ["Ab", "", "", "", "Dvorak", "", "", " A "]
    assert encoded.valid.tolist() == [True, False, False, False, True, False, False, True]


def test_ragged_select_and_equal_length_gather():
    ragged = encode_ragged(["ab", "xyz", "cd"])
    np.testing.assert_array_equal(ragged.select(np.array([2, 0])).letters, [2, 3, 0, 1])
    np.testing.assert_array_equal(ragged.gather_equal_length(np.array([0, 2]), 2), [[0, 2], [1, 3]])


def test_encoder_handles_a_million_names_in_arrays():
    names = pd.Series(["Smith", "Nguyễn", "O'Neill", None] * 250_000)
    encoded = encode_ragged(names)
    assert len(encoded.lengths) == 1_000_000
    assert encoded.letters.dtype == np.int64
    assert int(encoded.lengths.sum()) == 250_000 * (5 + 6 + 7)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_fold_is_per_code_point(text):
    """What lets the fold table (one entry per code point) reproduce Python's folding."""
    assert fold(text) == "".join(fold(ch) for ch in text)


def test_fold_table_covers_ascii_and_accents():
    table = fold_table(0x2FF)
    assert table[ord("a")] == "a"
    assert table[0xE9] == "e"
    assert 0x30 not in table  # digits fold to nothing
