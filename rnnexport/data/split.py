"""The fixed split of docs/model.md: a pair's fold is crc32 of ``label<TAB>name`` mod 10, fold 0 is held out;
cross-validation uses the same folds."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .labelled import Pair


@dataclass(frozen=True)
class Split:
    """The fixed split of docs/model.md: pairs whose crc32 is 0 mod 10 are held out."""

    train: list[Pair]
    held_out: list[Pair]


def fold_of(pair: Pair, n_folds: int = 10) -> int:
    """docs/model.md's rule: a pair's cross-validation fold is crc32 of ``label<TAB>name`` (UTF-8) mod n_folds."""
    return zlib.crc32(f"{pair.label}\t{pair.name}".encode()) % n_folds


def is_held_out(pair: Pair) -> bool:
    """The fixed split: fold 0 of 10."""
    return fold_of(pair) == 0


def label_ids(pairs: list[Pair], labels: list[str]) -> list[int]:
    """Each pair's label as its index in ``labels`` (the model's output order)."""
    index = {label: i for i, label in enumerate(labels)}
    return [index[pair.label] for pair in pairs]


def split_pairs(pairs: list[Pair]) -> Split:
    """Split pairs into training and held-out lists, keeping their order."""
    held_out = [pair for pair in pairs if is_held_out(pair)]
    train = [pair for pair in pairs if not is_held_out(pair)]
    return Split(train=train, held_out=held_out)
