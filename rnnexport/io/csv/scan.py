"""The fast path of the CSV reader: record boundaries of a block found with numpy where quote parity proves them.

The fast path proves well-formedness by quote parity: numbering the quotes from a record start, every even one
must open a field (the byte before it is a delimiter, a line end or the record start) or be the second of a
``""``, and every odd one must be followed by a delimiter, a line end, the end of the input or a quote. Up to
the first quote that breaks the rule, record and field boundaries are the line ends and delimiters after an
even number of quotes. The record holding that quote goes to :func:`~.exact.exact_record`; the fast path resumes
after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exact import CR, LF, QUOTE, exact_record


def line_end_positions(array: np.ndarray, final: bool = True) -> np.ndarray:
    """int64 offsets of the bytes that end physical lines: every LF and every CR not followed by LF.

    A CR as the last byte counts only when ``final`` (otherwise an LF may follow in the next block).
    """
    newlines = array == LF
    if CR in array:
        is_cr = array == CR
        lone_cr = is_cr.copy()
        lone_cr[:-1] &= ~newlines[1:]
        if not final:
            lone_cr[-1] = False
        newlines |= lone_cr
    return np.flatnonzero(newlines)


def quote_parity(array: np.ndarray) -> np.ndarray:
    """uint8 [N]: 1 where an odd number of quotes lie at or before each byte (for a non-quote byte: before it)."""
    return np.bitwise_xor.accumulate((array == QUOTE).view(np.uint8))


class _QuoteProof:
    """Where the quote-parity reading of a block stops being provably csv.reader's reading.

    Quotes are numbered from the block start; after an exact record the numbering restarts from the next quote,
    so both parities are kept: ``faults[s]`` lists the quotes (by number) that break the rule when the quotes
    numbered with parity ``s`` are the opening ones, ``outside[s]`` the line ends outside quotes then.
    """

    def __init__(self, array: np.ndarray, delimiter: int, final: bool, line_ends: np.ndarray):
        self.array, self.final, self.size = array, final, len(array)
        self.quotes = np.flatnonzero(array == QUOTE)
        self.bounds = np.zeros(256, dtype=bool)  # bytes that may precede an opening or follow a closing quote
        self.bounds[[delimiter, CR, LF, QUOTE]] = True  # a quote: one half of ""
        self.faults: dict[int, np.ndarray] = {}
        self.parity = quote_parity(array)
        ends_parity = self.parity[line_ends]
        self.outside = (line_ends[ends_parity == 0], line_ends[ends_parity == 1])
        self.pairs = self.quotes[:-1][np.diff(self.quotes) == 1]  # quotes followed by a quote

    def _faults(self, parity: int) -> np.ndarray:
        """Numbers of the quotes that break the rule when those numbered with ``parity`` open fields (sorted)."""
        if parity not in self.faults:
            opening, closing = self.quotes[parity::2], self.quotes[1 - parity :: 2]
            may_open = self.bounds[self.array[opening - 1]] | (opening == 0)
            after = self.array[np.minimum(closing + 1, self.size - 1)]
            may_close = np.where(closing == self.size - 1, self.final, self.bounds[after])
            bad_open, bad_close = 2 * np.flatnonzero(~may_open) + parity, 2 * np.flatnonzero(~may_close) + 1 - parity
            self.faults[parity] = np.sort(np.concatenate((bad_open, bad_close)))
        return self.faults[parity]

    def next_fault(self, position: int) -> tuple[int, int]:
        """Offset of the first unprovable quote after a record start (or the block size), and the parity of the
        quote count (from the block start) outside quoted fields until then."""
        first = int(self.quotes.searchsorted(position))
        parity = first & 1
        faults = self._faults(parity)
        index = int(faults.searchsorted(first))
        fault = int(self.quotes[faults[index]]) if index < len(faults) else self.size
        return fault, parity


@dataclass
class RecordScan:
    """The complete records at the start of a block: exclusive ``ends``, ``content_ends`` (where the fields stop
    and the line end starts), ``exact`` (read by the exact reader), all int64/bool [R]; ``consumed`` bytes and
    the offsets (int64) of the physical line ends in them (``line_ends``) and of the quotes followed by a quote
    (``quote_pairs``: where a quoted field may hold a ""), and of the delimiters that separate fields of
    fast-path records (``separators``; exact records have none)."""

    ends: np.ndarray
    content_ends: np.ndarray
    exact: np.ndarray
    consumed: int
    line_ends: np.ndarray
    quote_pairs: np.ndarray
    separators: np.ndarray

    def split(self, rows: int) -> tuple[RecordScan, RecordScan]:
        """The first ``rows`` records and the rest (offsets from the rest's start)."""
        cut = int(self.ends[rows - 1])
        head_offsets, rest_offsets = zip(*(_split_offsets(getattr(self, name), cut) for name in OFFSET_ARRAYS),
                                         strict=True)  # fmt: skip
        head = RecordScan(self.ends[:rows], self.content_ends[:rows], self.exact[:rows], cut, *head_offsets)
        rest = RecordScan(self.ends[rows:] - cut, self.content_ends[rows:] - cut, self.exact[rows:],
                          self.consumed - cut, *rest_offsets)  # fmt: skip
        return head, rest


OFFSET_ARRAYS = ("line_ends", "quote_pairs", "separators")


def _split_offsets(offsets: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted offsets before ``cut``, and those after it counted from ``cut``."""
    index = np.searchsorted(offsets, cut)
    return offsets[:index], offsets[index:] - cut


def scan_records(data: bytes, delimiter: int, final: bool) -> RecordScan:
    """Split ``data`` (starting at a record start) into complete records.

    Records whose end may lie past ``data`` are left out unless ``final``; then all of ``data`` is consumed.
    Raises UnclosedQuoteError (offset into ``data``) when ``final`` and the last quoted field never closes.
    """
    array = np.frombuffer(data, dtype=np.uint8)
    line_ends = line_end_positions(array, final)
    proof = _QuoteProof(array, delimiter, final, line_ends) if b'"' in data else None
    delimiters = np.flatnonzero(array == delimiter)
    ends, content_ends, exact, separators = [], [], [], []
    position, size = 0, len(data)
    while position < size:
        fault, parity = proof.next_fault(position) if proof else (size, 0)
        outside = proof.outside[parity] if proof else line_ends
        fast = outside[outside.searchsorted(position) : outside.searchsorted(fault)]
        if len(fast):
            ends.append(fast + 1)
            content_ends.append(fast - _crlf(array, fast))
            exact.append(np.zeros(len(fast), dtype=bool))
            between = delimiters[delimiters.searchsorted(position) : delimiters.searchsorted(fast[-1])]
            separators.append(between[proof.parity[between] == parity] if proof else between)
            position = int(fast[-1]) + 1
        if position == size or (fault == size and not final):
            break
        record = exact_record(data, position, delimiter, final)
        if record is None:
            break
        ends.append(np.array([record.end]))
        content_ends.append(np.array([record.content_end]))
        exact.append(np.ones(1, dtype=bool))
        position = record.end
    none = np.zeros(0, dtype=np.int64)
    if not ends:
        return RecordScan(none, none, np.zeros(0, dtype=bool), 0, none, none, none)
    pairs = proof.pairs[: np.searchsorted(proof.pairs, position)] if proof else none
    line_ends = line_ends[: np.searchsorted(line_ends, position)]
    return RecordScan(np.concatenate(ends), np.concatenate(content_ends), np.concatenate(exact), position, line_ends,
                      pairs, np.concatenate([none, *separators]))  # fmt: skip


def _crlf(array: np.ndarray, line_ends: np.ndarray) -> np.ndarray:
    """int64 [R]: 1 where the line end at each offset is the LF of a CR LF, else 0."""
    before = array[np.maximum(line_ends - 1, 0)]
    return ((array[line_ends] == LF) & (before == CR) & (line_ends > 0)).astype(np.int64)


def count_line_ends(data: bytes) -> int:
    """Physical lines ended in ``data`` (complete records): LF, CR LF and lone CR count once each."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
