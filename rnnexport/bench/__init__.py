"""Benchmarks behind `make bench` and `make bench-train`: classify (throughput, memory, baselines), train, dask."""
