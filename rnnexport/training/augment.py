"""Training-time augmentation of letter indices: whole names lower- or UPPER-cased, and random letter noise.

The data set is written in Title Case, users' files often are not: a model that saw each name lower-cased with
probability ``lower`` and upper-cased with probability ``upper`` reads every case alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """Probabilities: ``lower``/``upper`` per name (exclusive), ``substitute`` per letter after the first."""

    lower: float = 0.0
    upper: float = 0.0
    substitute: float = 0.0

    def __post_init__(self):
        probabilities = (self.lower, self.upper, self.lower + self.upper, self.substitute)
        if not all(0 <= p <= 1 for p in probabilities):
            raise ValueError(
                f"--case-lower, --case-upper and --letter-substitution are probabilities (0 to 1) and --case-lower "
                f"plus --case-upper is at most 1; got {self.lower}, {self.upper} and {self.substitute}"
            )

    @property
    def active(self) -> bool:
        return bool(self.lower or self.upper or self.substitute)


def case_maps(alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """int64 [len(alphabet)] each: symbol index -> index of its lower / upper case (itself when not in alphabet)."""
    position = {symbol: i for i, symbol in enumerate(alphabet)}
    lower = [position.get(symbol.lower(), i) for i, symbol in enumerate(alphabet)]
    upper = [position.get(symbol.upper(), i) for i, symbol in enumerate(alphabet)]
    return np.asarray(lower, dtype=np.int64), np.asarray(upper, dtype=np.int64)


def lowercase_letters(alphabet: str) -> np.ndarray:
    """int64 indices of the alphabet's lower-case letters: what a substituted letter is drawn from."""
    return np.asarray([i for i, symbol in enumerate(alphabet) if symbol.islower()], dtype=np.int64)


def augment_indices(
    indices: np.ndarray, augmentation: Augmentation, alphabet: str, rng: np.random.Generator
) -> np.ndarray:
    """A changed copy of int64 [T, B] time-major letter indices (padding may change too: it is masked anyway)."""
    out = indices
    if augmentation.substitute:
        letters = lowercase_letters(alphabet)
        noisy = rng.random(out.shape) < augmentation.substitute
        noisy[0] = False  # the first letter (often a capital) carries the most signal
        out = np.where(noisy, letters[rng.integers(len(letters), size=out.shape)], out)
    if augmentation.lower or augmentation.upper:
        lower, upper = case_maps(alphabet)
        draw = rng.random(out.shape[1])
        to_lower = draw < augmentation.lower
        to_upper = (draw >= augmentation.lower) & (draw < augmentation.lower + augmentation.upper)
        out = np.where(to_lower[None, :], lower[out], np.where(to_upper[None, :], upper[out], out))
    return out


def augmenter(augmentation: Augmentation, alphabet: str, seed: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """``indices [T, B] -> indices [T, B]`` with its own random stream (batch order does not depend on it), or
    None when nothing is augmented."""
    if not augmentation.active:
        return None
    rng = np.random.default_rng([seed, 1])
    return lambda indices: augment_indices(indices, augmentation, alphabet, rng)
