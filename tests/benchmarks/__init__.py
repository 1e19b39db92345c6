"""Benchmarks: `python -m tests.benchmarks` (see docs/guides/performance.md)."""
