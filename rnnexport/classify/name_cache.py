"""A run-wide cache of log-probs by name, for inputs whose names repeat across chunks (a column of surnames
drawn from a few thousand): a chunk's distinct names that an earlier chunk computed are not computed again.

It pays only where names repeat: after a chunk that found fewer than ``MIN_HIT_RATE`` of its names cached (once
the cache holds something), the run stops using it. Names that fit one sort key word (runtimes/distinct.py:
10 letters of a 57-letter alphabet, most surnames) are cached; longer ones are always computed. The values are
exactly what the model gives the name in any chunk (prefix-shared results do not depend on a name's neighbours:
tests/test_classify.py holds every chunking to the same bytes), so a cached name prints as a computed one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..runtimes.distinct import whole_name_keys
from ..text.encode import RaggedNames

MAX_ENTRIES = 1 << 18  # 262,144 names: 19 MB of float32 log-probs for 18 labels
MIN_HIT_RATE = 0.1


class LogProbCache:
    """Sorted uint64 name keys and their float32 [n, labels] log-probs; safe to use from several threads (a
    lookup reads one consistent snapshot; an update replaces it)."""

    def __init__(self, n_letters: int, n_labels: int, max_entries: int = MAX_ENTRIES):
        self.n_letters, self.max_entries = n_letters, max_entries
        self._snapshot = (np.zeros(0, dtype=np.uint64), np.zeros((0, n_labels), dtype=np.float32))
        self._lock = threading.Lock()
        self.enabled = True
        self.lookups = self.hits = 0

    def lookup(self, names: RaggedNames) -> CacheLookup:
        """What the cache holds of distinct ``names``."""
        keys, fits = whole_name_keys(names, self.n_letters)
        cached_keys, values = self._snapshot
        if not len(cached_keys):
            return CacheLookup(keys, fits, np.zeros(len(keys), dtype=bool), values, 0)
        position = np.minimum(np.searchsorted(cached_keys, keys), len(cached_keys) - 1)
        hit = fits & (cached_keys[position] == keys)
        return CacheLookup(keys, fits, hit, values[position[hit]], len(cached_keys))

    def update(self, found: CacheLookup, log_probs: np.ndarray) -> None:
        """Count a chunk's lookup and add what it computed: ``log_probs`` float32 [D, labels] of all its distinct
        names. The cache turns itself off after a chunk that found under MIN_HIT_RATE of its names in a cache
        that was not empty, and stops growing at ``max_entries``."""
        with self._lock:
            looked_up, hits = int(found.fits.sum()), int(found.hit.sum())
            self.lookups, self.hits = self.lookups + looked_up, self.hits + hits
            if found.against and hits < MIN_HIT_RATE * looked_up:
                self.enabled = False
            cached_keys, values = self._snapshot
            if not self.enabled or len(cached_keys) >= self.max_entries:
                return
            add = found.fits & ~found.hit
            add[add] = ~np.isin(found.keys[add], cached_keys)  # another chunk may have added some meanwhile
            merged_keys = np.concatenate((cached_keys, found.keys[add]))
            order = np.argsort(merged_keys, kind="stable")
            self._snapshot = merged_keys[order], np.concatenate((values, log_probs[add]))[order]


@dataclass(frozen=True)
class CacheLookup:
    """A lookup of distinct names: their ``keys`` (uint64 [D]), which ``fits`` a key (bool [D]), which were a
    ``hit`` (bool [D]) and their cached log-probs (``values``, float32 [hits, labels], in order); ``against``:
    how many names the cache held."""

    keys: np.ndarray
    fits: np.ndarray
    hit: np.ndarray
    values: np.ndarray
    against: int
