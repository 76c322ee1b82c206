"""rnnexport.augment: case changes and letter noise on letter indices."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnexport.text.alphabet import ALPHABET
from rnnexport.text.encode import encode_names
from rnnexport.training.augment import Augmentation, augment_indices, augmenter, case_maps

names_strategy = st.lists(st.text(alphabet=ALPHABET, min_size=3, max_size=3), min_size=1, max_size=8)


def decode(indices: np.ndarray) -> list[str]:
    return ["".join(ALPHABET[i] for i in column) for column in indices.T]


def test_case_maps_of_the_alphabet():
    lower, upper = case_maps(ALPHABET)
    assert ALPHABET[lower[ALPHABET.index("Q")]] == "q" and ALPHABET[upper[ALPHABET.index("q")]] == "Q"
    assert lower[ALPHABET.index("'")] == ALPHABET.index("'") == upper[ALPHABET.index("'")]


@settings(max_examples=50, deadline=None)
@given(names_strategy)
def test_always_lower_or_always_upper(names):
    indices = encode_names(names).indices
    rng = np.random.default_rng(0)
    assert decode(augment_indices(indices, Augmentation(lower=1.0), ALPHABET, rng)) == [n.lower() for n in names]
    assert decode(augment_indices(indices, Augmentation(upper=1.0), ALPHABET, rng)) == [n.upper() for n in names]


@settings(max_examples=50, deadline=None)
@given(names_strategy, st.integers(0, 1000))
def test_case_augmentation_changes_case_only(names, seed):
    indices = encode_names(names).indices
    changed = augment_indices(indices, Augmentation(0.3, 0.3), ALPHABET, np.random.default_rng(seed))
    assert [n.lower() for n in decode(changed)] == [n.lower() for n in names]


def test_substitution_keeps_the_first_letter_and_uses_lower_case_letters():
    indices = encode_names(["ABCDEFGH"] * 50).indices
    changed = augment_indices(indices, Augmentation(substitute=1.0), ALPHABET, np.random.default_rng(0))
    assert (changed[0] == indices[0]).all()
    assert all(ALPHABET[i].islower() for i in changed[1:].ravel())


def test_nothing_to_do_gives_no_augmenter():
    assert augmenter(Augmentation(), ALPHABET, seed=0) is None


@pytest.mark.parametrize("values", [(-0.1, 0, 0), (0.6, 0.6, 0), (0, 0, 1.5), (float("nan"), 0, 0)])
def test_bad_probabilities_are_refused(values):
    with pytest.raises(ValueError, match="are probabilities \\(0 to 1\\)"):
        Augmentation(*values)
