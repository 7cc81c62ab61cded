"""Benchmarks of the alert path (`python -m bench`; figures in docs/PERFORMANCE.md). Loopback only."""
