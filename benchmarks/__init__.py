"""Synthetic workbooks and the benchmark table (``python -m benchmarks.run``)."""
