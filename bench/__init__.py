"""Benchmarks of the alert path and of paging (`python -m bench`; figures in docs/PERFORMANCE.md).
Loopback only."""
