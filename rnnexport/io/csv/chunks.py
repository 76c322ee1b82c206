"""Chunks of complete CSV records and their fields, as csv.reader reads them, located with numpy (no Python
string per row)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ...text.encode import ragged_positions
from .exact import QUOTE, record_fields


@dataclass
class FieldColumn:
    """One field of every record of a chunk: value i is ``data[starts[i]:stops[i]]`` (unquoted, ``""`` made one
    quote; empty where the record lacks the field). ``data`` is the chunk's own bytes when no value needed
    unquoting (no copy), else a new uint8 array of the values end to end.

    counts: int64 [R], the number of fields csv.reader gives each record (0 for a blank line).
    """

    data: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    counts: np.ndarray

    def value(self, row: int) -> bytes:
        return self.data[self.starts[row] : self.stops[row]].tobytes()


@dataclass
class RecordChunk:
    """Complete records laid end to end, exactly as in the input (UTF-8 bytes after any transcoding).

    data: uint8 [N]; starts, content_ends: int64 [R] offsets of each record's start and of its line end (the
    record's fields are ``data[starts[i]:content_ends[i]]``, its line end runs to ``ends[i]``); exact: bool [R],
    records read by the exact reader; first_record: records before this chunk (blank ones included);
    first_line: the physical line (1-based) of ``data[0]``; line_ends: int64 offsets of the bytes that end
    physical lines (LF, the LF of CR LF, lone CR); quote_pairs: int64 offsets of the quotes followed by a
    quote; separators: int64 offsets of the delimiters that separate fields (outside quotes, in fast-path
    records); offset: input byte offset of ``data[0]``.
    """

    data: np.ndarray
    starts: np.ndarray
    content_ends: np.ndarray
    exact: np.ndarray
    delimiter: int
    first_record: int
    first_line: int
    line_ends: np.ndarray
    quote_pairs: np.ndarray
    separators: np.ndarray
    offset: int

    @cached_property
    def ends(self) -> np.ndarray:
        """int64 [R]: where each record ends (after its line end; the next record's start)."""
        return np.append(self.starts[1:], len(self.data))

    @property
    def blank(self) -> np.ndarray:
        """bool [R]: blank lines (only a line end), which csv.reader reads as [] and which are not data rows."""
        return self.content_ends == self.starts

    @cached_property
    def lines(self) -> np.ndarray:
        """int64 [R]: the physical line where each record starts (LF, CR LF and lone CR each end a line)."""
        return self.first_line + np.searchsorted(self.line_ends, self.starts)

    def record(self, row: int) -> bytes:
        """One record's bytes, line end included."""
        return self.data[self.starts[row] : self.ends[row]].tobytes()

    def field(self, position: int) -> FieldColumn:
        """Field ``position`` (0-based) of every record, as csv.reader reads it, and each record's field count."""
        starts, stops, counts = _field_spans(self._separator_index, self.starts, self.content_ends, position)
        counts[self.blank] = 0
        quoted = ~self.exact & (stops > starts) & (self.data[np.minimum(starts, len(self.data) - 1)] == QUOTE)
        if not quoted.any() and not self.exact.any():
            return FieldColumn(self.data, starts, stops, counts)
        starts, stops = np.where(quoted, starts + 1, starts), np.where(quoted, stops - 1, stops)  # the quotes off
        pairs = self.quote_pairs  # a proven quoted field holds a quote inside only as ""
        escaped = quoted & (np.searchsorted(pairs, starts) < np.searchsorted(pairs, stops))
        special = escaped | self.exact
        if not special.any():
            return FieldColumn(self.data, starts, stops, counts)
        values, lengths = _collapsed(self.data, starts[escaped], stops[escaped])
        exact_values = self._exact_values(position, counts)
        values = np.concatenate((self.data, values, np.frombuffer(b"".join(exact_values), dtype=np.uint8)))
        lengths = np.concatenate((lengths, [len(value) for value in exact_values])).astype(np.int64)
        order = np.concatenate((np.flatnonzero(escaped), np.flatnonzero(self.exact)))
        starts[order] = len(self.data) + np.cumsum(lengths) - lengths
        stops[order] = starts[order] + lengths
        return FieldColumn(values, starts, stops, counts)

    @cached_property
    def _separator_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per record, the index of its first separator and of the first one after it, and the separators (at
        least one entry, so that clipped indices stay in range): computed once per chunk, so that reading every
        field of a wide file stays linear (and without a copy of the separators: they may be most of a chunk)."""
        before_end = np.searchsorted(self.separators, self.content_ends)
        first = np.concatenate(([0], before_end[:-1]))  # no delimiter lies in a line end
        return first, before_end, self.separators if len(self.separators) else np.zeros(1, dtype=np.int64)

    @cached_property
    def _exact_fields(self) -> list[list[bytes]]:
        """Each exact record's fields (parsed once per chunk, however many fields are asked for)."""
        return [record_fields(self.record(int(row)), chr(self.delimiter)) for row in np.flatnonzero(self.exact)]

    def _exact_values(self, position: int, counts: np.ndarray) -> list[bytes]:
        """Field ``position`` of each exact record (b'' when absent); sets their ``counts``."""
        counts[self.exact] = [len(fields) for fields in self._exact_fields]
        return [fields[position] if position < len(fields) else b"" for fields in self._exact_fields]


def _field_spans(
    separator_index: tuple[np.ndarray, np.ndarray, np.ndarray],
    starts: np.ndarray,
    content_ends: np.ndarray,
    position: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Span [start, stop) of field ``position`` in each record and its field count, from the separating
    delimiters (RecordChunk._separator_index); a record without that field gets an empty span at its line end."""
    first, before_end, lookup = separator_index
    counts = before_end - first + 1
    last = len(lookup) - 1  # clipped indices are read but not used
    if position == 0:
        field_starts = starts.copy()
    else:
        chosen = lookup[np.minimum(first + position - 1, last)] + 1
        field_starts = np.where(counts > position, chosen, content_ends)
    stops = np.where(counts > position + 1, lookup[np.minimum(first + position, last)], content_ends)
    return field_starts, stops, counts


def _collapsed(data: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The insides of proven quoted fields with each "" made one quote, end to end, and their lengths (numpy over
    these spans' bytes only: each inside holds only pairs, so every second quote of the spans goes)."""
    lengths = stops - starts
    gathered = data[ragged_positions(starts, lengths)]
    keep = np.ones(len(gathered), dtype=bool)
    keep[np.flatnonzero(gathered == QUOTE)[1::2]] = False
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    offsets = np.cumsum(lengths) - lengths
    return gathered[keep], kept_before[offsets + lengths] - kept_before[offsets]
