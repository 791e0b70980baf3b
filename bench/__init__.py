"""Benchmarks: programs that print figures (medians and ratios); not tests."""
