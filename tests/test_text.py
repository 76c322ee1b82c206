import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.errors import InputError
from rnnexport.text.alphabet import ALPHABET, N_LETTERS, check_alphabet
from rnnexport.text.encode import encode_byte_fields, encode_names, encode_ragged, folded_strings
from rnnexport.text.fold import fold, fold_code_point, fold_identity, fold_table, has_prediction
from rnnexport.text.scripts import GUESSED_SCRIPTS, VIRAMA_SCRIPTS, script_name


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
        ("Łukasz", "Lukasz"),
        ("Weiß", "Weiss"),
        ("Đặng", "Dang"),
        ("O’Brien", "O'Brien"),
        ("Søren", "Soren"),
        ("Ｍｕｌｌｅｒ", "Muller"),
        ("Иванов", "Ivanov"),
        ("Dvor\u030cák", "Dvorak"),  # decomposed (NFD) input folds as composed
        ("🎉Ng🎉", "Ng"),  # emoji, currency and other symbols keep no letters (anyascii spells them as words)
        ("£©°½", ""),
    ],
)
def test_fold_table_of_names(raw, folded):
    assert fold(raw) == folded


@pytest.mark.parametrize("name", ["李", "김", "Παπαδόπουλος", "王小明"])
def test_other_scripts_fold_to_latin_letters(name):
    folded = fold(name)
    assert folded.isascii() and folded.isalpha()
    assert has_prediction(folded)


def test_alphabet_is_the_documented_57_symbols():
    assert N_LETTERS == 57
    assert ALPHABET.endswith(" .,;'")


def naive_encode(names, alphabet=ALPHABET):
    """The per-character reference: fold, then look each letter up."""
    folded = [fold(name, alphabet) if isinstance(name, str) else "" for name in names]
    folded = [name if has_prediction(name) else "" for name in folded]
    lengths = np.array([len(f) for f in folded], dtype=np.int64)
    indices = np.zeros((max(int(lengths.max(initial=0)), 1), len(names)), dtype=np.int64)
    for b, name in enumerate(folded):
        for t, letter in enumerate(name):
            indices[t, b] = alphabet.index(letter)
    return indices, lengths


# Any code point (astral, lone surrogates, combining marks), plus ones that fold to several letters or none.
UNICODE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, exclude_categories=[]),
        st.sampled_from("ßẞ李김Ｍ\u0301\U0001f600\U00020000\ud800Œæ’½ﬁ \u3000"),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(UNICODE_TEXT, max_size=20))
def test_encoder_matches_naive_loop_on_random_unicode(names):
    encoded = encode_names(names)
    indices, lengths = naive_encode(names)
    np.testing.assert_array_equal(encoded.lengths, lengths)
    np.testing.assert_array_equal(encoded.indices, indices)
    # Lost: a code point that folds to nothing, unless it is a combining mark (it belongs to a letter).
    lost = [sum(not fold_code_point(ord(c)) and not unicodedata.combining(c) for c in name) for name in names]
    np.testing.assert_array_equal(encode_ragged(names).lost, lost)


def test_lost_counts_dropped_characters_not_transliterated_ones():
    assert encode_ragged(["Weiß", "😀Ng1", "李", "   ", None, "O’Brien"]).lost.tolist() == [0, 2, 0, 0, 0, 0]


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
@given(UNICODE_TEXT)
def test_fold_is_per_code_point(text):
    """What lets the fold table (one entry per code point) reproduce Python's folding."""
    assert fold(text) == "".join(fold_code_point(ord(ch)) for ch in text)


def test_ascii_folds_to_itself_or_nothing():
    for code_point in range(128):
        assert fold_code_point(code_point) == (chr(code_point) if chr(code_point) in ALPHABET else "")


@pytest.fixture(scope="module")
def table():
    return fold_table()


def test_fold_table_covers_every_plane_with_alphabet_values(table):
    assert table[ord("a")] == "a" and table[0xE9] == "e" and table[0xDF] == "ss" and table[0x1D400] == "A"
    assert 0x30 not in table and 0x1F600 not in table  # digits and emoji fold to nothing
    assert all(0 <= code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF for code_point in table)
    assert set("".join(table.values())) <= set(ALPHABET)
    assert all(table.values())
    assert any(len(value) > 1 for value in table.values())


def test_fold_table_agrees_with_fold_code_point_in_every_block(table):
    """A seeded sample of 16 code points from every 128-code-point block of every plane, plus each entry's
    neighbours, checked against the per-code-point fold."""
    rng = np.random.default_rng(12)
    blocks = rng.integers(0, 128, size=(0x110000 // 128, 16)) + np.arange(0, 0x110000, 128)[:, None]
    sample = {int(c) for c in blocks.ravel()} | {c + 1 for c in list(table)[::50]}
    for code_point in sample - set(range(0xD800, 0xE000)):
        assert table.get(code_point, "") == fold_code_point(code_point), hex(code_point)


def test_fold_identity_names_library_version_and_normalization():
    identity = fold_identity()
    assert identity["library"] == "anyascii" and identity["normalization"] == "NFKC"
    assert identity["version"].count(".") == 2
    assert identity["unicode_version"] == unicodedata.unidata_version


LOWERCASE = "abcdefghijklmnopqrstuvwxyz"
# Other alphabets a model may have: lowercase only, without a space, a few symbols, a quote and a digit.
ALPHABETS = [LOWERCASE, LOWERCASE + " '-", "ABC xyz", 'a"b,1', "."]


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("Łukasz", "lukasz"), ("Smith, Jr.", "smith jr"), ("Weiß", "weiss"), ("Иванов", "ivanov"), ("ＭＸ", "mx")],
)
def test_a_lowercase_alphabet_folds_letters_to_lowercase_and_drops_the_rest(raw, folded):
    assert fold(raw, LOWERCASE + " ") == folded


def test_a_letter_keeps_its_case_when_the_alphabet_has_it():
    assert fold("AbC", "ABCbc") == "AbC" and fold("abc", "ABC") == "ABC" and fold("a1-", "a") == "a"


@pytest.mark.parametrize(
    ("alphabet", "problem"),
    [("", "is empty"), ("abca", "repeats 'a'"), ("abé", "printable ASCII"), ("ab\t", "printable ASCII")],
)
def test_bad_alphabets_are_input_errors(alphabet, problem):
    with pytest.raises(InputError, match=problem):
        check_alphabet(alphabet)
    with pytest.raises(InputError, match=problem):
        encode_ragged(["x"], alphabet)


@settings(max_examples=150, deadline=None)
@given(st.lists(UNICODE_TEXT, max_size=12), st.sampled_from(ALPHABETS))
def test_encoder_and_byte_path_match_the_naive_loop_in_any_alphabet(names, alphabet):
    indices, lengths = naive_encode(names, alphabet)
    encoded = encode_names(names, alphabet)
    np.testing.assert_array_equal(encoded.lengths, lengths)
    np.testing.assert_array_equal(encoded.indices, indices)
    assert folded_strings(encoded, alphabet) == [
        fold(n, alphabet) if length else "" for n, length in zip(names, lengths, strict=True)
    ]
    data = "".join(names).encode("utf-8", "surrogatepass")
    stops = np.cumsum([len(name.encode("utf-8", "surrogatepass")) for name in names], dtype=np.int64)
    starts = stops - np.array([len(name.encode("utf-8", "surrogatepass")) for name in names], dtype=np.int64)
    from_bytes, special = encode_byte_fields(np.frombuffer(data, dtype=np.uint8), starts, stops, alphabet)
    if len(special):
        from_bytes = from_bytes.replace_rows(special, encode_ragged([names[row] for row in special], alphabet))
    np.testing.assert_array_equal(from_bytes.padded().indices, indices)
    np.testing.assert_array_equal(from_bytes.padded().lengths, lengths)


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_fold_table_of_another_alphabet_is_its_fold(alphabet):
    table = fold_table(alphabet)
    assert set("".join(table.values())) <= set(alphabet) and all(table.values())
    rng = np.random.default_rng(3)
    for code_point in {int(c) for c in rng.integers(0, 0x110000, size=3000)} | {0xDF, 0x141, 0x41, 0x61, 0x4E2D}:
        if not 0xD800 <= code_point <= 0xDFFF:
            assert table.get(code_point, "") == fold(chr(code_point), alphabet), hex(code_point)


def test_decomposed_names_fold_and_count_like_composed_ones():
    """macOS and some exports write NFD ('r' + combining caron): the same letters, and no 'lost' character."""
    names = ["Dvořák", "Łukasz Ñuñez", "Nguyễn", "Ångström", "Ann🙂"]
    composed, decomposed = encode_ragged(names), encode_ragged([unicodedata.normalize("NFD", n) for n in names])
    np.testing.assert_array_equal(decomposed.padded().indices, composed.padded().indices)
    np.testing.assert_array_equal(decomposed.lengths, composed.lengths)
    np.testing.assert_array_equal(decomposed.lost, composed.lost)
    assert composed.lost.tolist() == [0, 0, 0, 0, 1]  # only the emoji is lost


# --- scripts whose Latin spelling the fold can only guess (issue 23; docs/fold.md) ---


def test_virama_scripts_are_every_script_with_a_virama_in_pythons_unicode_database():
    from fontTools.unicodedata import script

    derived = {script(chr(cp)) for cp in range(0x110000) if unicodedata.combining(chr(cp)) == 9}
    assert derived == set(VIRAMA_SCRIPTS), (
        f"Unicode {unicodedata.unidata_version}: add {sorted(derived - set(VIRAMA_SCRIPTS))}, "
        f"drop {sorted(set(VIRAMA_SCRIPTS) - derived)} (text/scripts.py, docs/fold.md)"
    )


@pytest.mark.parametrize(
    ("name", "script", "folded"),
    [("田中", "Han", "TianZhong"), ("山田さくら", "Han", "ShanTiansakura"), ("محمد", "Arabic", "mhmd"),
     ("כהן", "Hebrew", "khhn"), ("शर्मा", "Devanagari", "srma"), ("สมชาย", "Thai", "smchay"),
     ("さくら", None, "sakura"), ("김", "Hangul", "Gim"), ("Иванов", None, "Ivanov"),
     ("Παπαδόπουλος", None, "Papadopoylos"), ("Dvořák", None, "Dvorak"), ("Smith", None, "Smith"), ("", None, "")],
)  # fmt: skip
def test_names_in_guessed_scripts_are_marked_with_their_script(name, script, folded):
    encoded = encode_ragged(["Smith", name])
    guessed = encoded.guessed if encoded.guessed is not None else np.zeros(2, dtype=np.uint8)
    assert guessed[0] == 0 and (script_name(int(guessed[1])) if guessed[1] else None) == script
    assert fold(name) == folded  # the documented examples (docs/fold.md)


@settings(max_examples=200, deadline=None)
@given(st.lists(UNICODE_TEXT, max_size=20), st.lists(st.integers(0, 19), max_size=5))
def test_guessed_scripts_follow_names_through_select_and_the_byte_path(names, rows):
    from fontTools.unicodedata import script

    def expected(name: str) -> str | None:
        scripts = [script(char) for char in name if script(char) in GUESSED_SCRIPTS]
        return script_name(GUESSED_SCRIPTS.index(scripts[-1]) + 1) if scripts else None

    def shown(encoded, row):
        return script_name(int(encoded.guessed[row])) if encoded.guessed is not None and encoded.guessed[row] else None

    encoded = encode_ragged(names)
    assert [shown(encoded, i) for i in range(len(names))] == [expected(name) for name in names]
    rows = [row for row in rows if row < len(names)]
    assert [shown(encoded.select(np.array(rows, dtype=np.int64)), i) for i in range(len(rows))] == [
        expected(names[row]) for row in rows
    ]
    ascii_part, _ = encode_byte_fields(np.frombuffer(b"Smith", dtype=np.uint8), np.array([0]), np.array([5]))
    replaced = ascii_part.replace_rows(np.array([0]), encode_ragged(names[:1] or ["x"]))
    assert shown(replaced, 0) == expected((names[:1] or ["x"])[0])
