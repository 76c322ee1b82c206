"""Parquet in and out of ``classify`` (pyarrow): row groups streamed in chunks, Arrow tables built without a
Python loop per row."""
