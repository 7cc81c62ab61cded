"""Helpers that tests of several folders stand on (and the benchmarks under bench/, for free ports)."""
