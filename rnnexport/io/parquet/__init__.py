"""Parquet in and out (pyarrow): row groups streamed in chunks, Arrow text columns (checked, built from CSV
fields, written as CSV text), and row groups written into an atomic file."""
