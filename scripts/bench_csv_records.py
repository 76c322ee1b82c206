"""Micro benchmark of the CSV record engine: the same 1M-row file unquoted and fully quoted (csv.QUOTE_ALL).

Times reading every chunk and extracting the name field (unquoted values), from memory, best of --repeat runs.
Usage: .venv/bin/python scripts/bench_csv_records.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time

from rnnexport.io.csv.records import RecordReader

NAMES = ["Smith", "Nowak", "O'Brien", "Müller", "Dubois", "Rossi", "García", "Kowalski", "Tanaka", "Ivanov"]


def sample_csv(rows: int, quoting: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=quoting, lineterminator="\r\n")
    writer.writerow(["id", "name", "city"])
    writer.writerows([row, rng.choice(NAMES), "Cork"] for row in range(rows))
    return buffer.getvalue().encode("utf-8")


def read_seconds(data: bytes) -> tuple[float, int]:
    """Seconds to read all records and their name field, and the number of records."""
    started = time.perf_counter()
    records = 0
    for chunk in RecordReader(io.BytesIO(data), "bench.csv").chunks():
        chunk.field(1)
        records += len(chunk.starts)
    return time.perf_counter() - started, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for label, quoting in (("unquoted", csv.QUOTE_MINIMAL), ("fully quoted", csv.QUOTE_ALL)):
        data = sample_csv(args.rows, quoting)
        seconds, records = min(read_seconds(data) for _ in range(args.repeat))
        results[label] = seconds
        print(f"{label:>13}: {len(data) / 1e6:6.1f} MB, {records:,} records in {seconds:.3f} s "
              f"({records / seconds / 1e6:.2f} M records/s, {len(data) / seconds / 1e6:.0f} MB/s)")  # fmt: skip
    print(f"fully quoted / unquoted: {results['fully quoted'] / results['unquoted']:.2f}x")


if __name__ == "__main__":
    main()
