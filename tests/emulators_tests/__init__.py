"""Tests of the loopback emulators in tests/emulators."""
