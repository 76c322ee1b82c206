"""Plausible generated names for benchmarks: a seeded character n-gram model of a list of names (numpy only).

``ngram_names(names, count)`` gives ``count`` distinct names that read like the given ones (each letter drawn
given the ``order - 1`` before it) with close to their length distribution: the all-distinct workload
(W2) that dedup cannot help and only prefix sharing can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text.alphabet import ALPHABET
from ..text.encode import encode_ragged, pad_time_major

MAX_LENGTH = 40  # longer draws are dropped (the data set's longest name has 19 letters)


@dataclass(frozen=True)
class NgramModel:
    """Transitions sorted by context; within a context, ``cumulative`` rises to context rank + 1."""

    order: int
    contexts: np.ndarray  # int64 [C], sorted context ids (base n_letters + 2: letters, end, start)
    cumulative: np.ndarray  # float64 [E]
    next_symbol: np.ndarray  # int64 [E]


def fit_ngram(names: list[str], order: int = 3) -> NgramModel:
    """Count each (previous ``order - 1`` symbols -> next symbol) of the folded names; ``order`` >= 1."""
    encoded = encode_ragged(names)
    encoded = encoded.select(np.flatnonzero(encoded.lengths > 0))
    end, start = len(ALPHABET), len(ALPHABET) + 1
    # [B, order - 1 + T + 1]: start padding, the letters, then the end symbol (padding past it is never read).
    letters = pad_time_major(encoded.letters, encoded.lengths).T
    rows = np.full((len(encoded.lengths), order - 1 + letters.shape[1] + 1), end, dtype=np.int64)
    rows[:, : order - 1] = start
    rows[:, order - 1 : order - 1 + letters.shape[1]] = np.where(np.arange(letters.shape[1]) < encoded.lengths[:, None],
                                                                 letters, end)  # fmt: skip
    context, next_symbol = [], []
    for position in range(order - 1, rows.shape[1]):
        used = encoded.lengths >= position - order + 1  # up to and including each name's end symbol
        context.append(_context_ids(rows[used, position - order + 1 : position], start + 1))
        next_symbol.append(rows[used, position])
    pairs, counts = np.unique(np.concatenate(context) * (start + 1) + np.concatenate(next_symbol), return_counts=True)
    contexts, context_rank = np.unique(pairs // (start + 1), return_inverse=True)
    totals = np.bincount(context_rank, weights=counts)
    cumulative = (
        context_rank
        + (np.cumsum(counts) - np.cumsum(totals)[context_rank] + totals[context_rank]) / totals[context_rank]
    )
    return NgramModel(order, contexts, cumulative, pairs % (start + 1))


def _context_ids(symbols: np.ndarray, base: int) -> np.ndarray:
    """int64 [B]: the ``order - 1`` symbols of each row as one number (0 for order 1)."""
    ids = np.zeros(len(symbols), dtype=np.int64)
    for column in range(symbols.shape[1]):
        ids = ids * base + symbols[:, column]
    return ids


def sample_ngram(model: NgramModel, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` draws (duplicates and all); draws longer than MAX_LENGTH are dropped."""
    end, start = len(ALPHABET), len(ALPHABET) + 1
    history = np.full((count, model.order - 1), start, dtype=np.int64)
    drawn = np.full((count, MAX_LENGTH + 1), end, dtype=np.int64)
    active = np.arange(count)
    for position in range(MAX_LENGTH + 1):
        context_rank = np.searchsorted(model.contexts, _context_ids(history[active], start + 1))
        chosen = np.searchsorted(model.cumulative, context_rank + rng.random(len(active)), side="right")
        symbols = model.next_symbol[np.minimum(chosen, len(model.next_symbol) - 1)]
        drawn[active, position] = symbols
        history[active] = np.column_stack((history[active, 1:], symbols[:, None]))[:, -(model.order - 1) :] if (
            model.order > 1) else history[active]  # fmt: skip
        active = active[symbols != end]
    kept = drawn[(drawn == end).any(axis=1)]  # the rest ran past MAX_LENGTH letters
    lengths = (kept == end).argmax(axis=1)
    characters = np.frombuffer((ALPHABET + "\n").encode("ascii"), dtype=np.uint8)[kept]
    # Each name and the newline that ends it, laid end to end, split once.
    text = characters[np.arange(kept.shape[1]) <= lengths[:, None]].tobytes().decode("ascii")
    return text.split("\n")[:-1]


def ngram_names(names: list[str], count: int, seed: int = 0, order: int = 3) -> list[str]:
    """``count`` distinct names drawn from an n-gram model of ``names``, length distribution matched to theirs.

    Each length gets its share of ``count`` (from the folded names' length histogram); a length whose model
    cannot give that many distinct names in a few rounds of draws leaves its shortfall to the others.
    Raises ValueError if even that cannot reach ``count`` (too few plausible names for so large a count).
    """
    rng = np.random.default_rng(seed)
    model = fit_ngram(names, order)
    lengths = encode_ragged(names).lengths
    share = np.bincount(lengths[lengths > 0], minlength=MAX_LENGTH + 1)[: MAX_LENGTH + 1] / (lengths > 0).sum()
    quota = np.round(share * count).astype(np.int64)
    by_length: list[dict[str, None]] = [{} for _ in range(MAX_LENGTH + 1)]  # insertion-ordered sets
    filled = 0
    for _ in range(8):  # until the quotas are met, or a round of draws adds almost nothing to them
        for name in sample_ngram(model, count, rng):
            if len(by_length[len(name)]) < 2 * quota[len(name)]:
                by_length[len(name)][name] = None
        was_filled, filled = filled, sum(min(len(found), need) for found, need in zip(by_length, quota, strict=True))
        if filled >= count or (filled - was_filled < count // 1000 and sum(map(len, by_length)) >= count):
            break
    chosen = [name for found, need in zip(by_length, quota, strict=True) for name in list(found)[:need]]
    spare = [name for found, need in zip(by_length, quota, strict=True) for name in list(found)[need:]]
    missing = count - len(chosen)
    if missing > len(spare):
        raise ValueError(f"the n-gram model gave only {len(chosen) + len(spare)} distinct names; ask for fewer")
    extra = [spare[i] for i in np.sort(rng.choice(len(spare), size=max(missing, 0), replace=False))]
    result = (chosen + extra)[:count]
    return [result[i] for i in rng.permutation(len(result))]
