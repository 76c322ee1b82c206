"""Batch classification of CSV and Parquet files: a request checked once into a plan, the per-chunk stages
(check and encode, log-probs, output pieces), and two engines over them, local and Dask."""
