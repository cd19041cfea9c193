"""Reproducible benchmarks (`python -m bench.run [--quick]`). Not tests: they report numbers."""
